/* http.h — HTTP requests inside the runtime's libuv loop (libcurl multi-socket
 * API on uv_poll handles plus one uv_timer), and the `http` step on top of it.
 *
 * One struct http_client per loop: it owns a CURLM (connections are kept alive
 * and reused between requests to the same host), the poll handles of curl's
 * sockets and one timer. Requests never block the loop; each ends with exactly
 * one call of its done callback, unless it is cancelled first (then never).
 *
 * Rules every request follows (LANGUAGE.md §3 http): only http and https URLs
 * (also for redirects), redirects followed up to HTTP_MAX_REDIRECTS (by us,
 * not curl: the caller's headers are sent only to the first URL's origin,
 * scheme+host+port), header names are tokens and values hold no CR, LF or
 * NUL (else WEFT_EINVAL before anything is sent), response
 * bodies capped at max_body bytes (over: kind "output"), CURLOPT_NOSIGNAL.
 * Response header names are lower-cased; repeated headers are joined with
 * ", ". Timeouts are the caller's business (the step timeout arrives as a
 * kill: http_cancel()).
 *
 * The client's uv handles are unref'd: they never keep the loop running by
 * themselves (the caller keeps its own handles while it waits for requests).
 *
 * Ownership: http_client_free() cancels what is in flight (no callbacks) and
 * closes the handles; the loop must run once more (UV_RUN_NOWAIT) to free
 * them. Requests copy everything they are given. The response handed to the
 * done callback is borrowed for the call (take references to keep parts). */
#ifndef WEFT_EXEC_HTTP_H
#define WEFT_EXEC_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#define HTTP_MAX_REDIRECTS 10
#define HTTP_MAX_BODY ((size_t)10 << 20) /* 10 MiB (LANGUAGE.md) */

struct http_client;
struct http_call;

struct http_req {
  const char *method;       /* NULL: GET */
  const char *url;          /* full URL, query already in it */
  const json_t *headers;    /* object name -> string (other scalars as JSON); may be NULL */
  const char *body;         /* may be NULL */
  size_t body_len;
  size_t max_body;          /* 0: HTTP_MAX_BODY */
  const char *content_type; /* of the body unless headers give one; NULL:
                               application/octet-stream */
  bool no_follow;           /* true: a 3xx is the answer (follow_redirects: false) */
};

struct http_resp {
  bool transport_ok;        /* false: no HTTP answer (kind http_transport or output) */
  const char *kind;         /* when !transport_ok: "http_transport" or "output" */
  const char *message;      /* when !transport_ok: what went wrong */
  long status;
  json_t *headers;          /* object of lower-case names (borrowed) */
  const char *body;         /* NUL-terminated (borrowed) */
  size_t body_len;
  const char *content_type; /* may be NULL */
};

typedef void (*http_done_cb)(void *ud, const struct http_resp *r);

int http_client_new(uv_loop_t *loop, struct http_client **out);
void http_client_free(struct http_client *c);
/* Number of requests in flight. */
size_t http_client_active(const struct http_client *c);

/* Starts a request. Returns 0, or WEFT_EINVAL with *err (static text) when
 * the URL is not http(s), WEFT_ENOMEM. */
int http_request(struct http_client *c, const struct http_req *req, http_done_cb cb, void *ud,
                 struct http_call **out, const char **err);
/* Why a header cannot be sent (a static phrase: "its value contains a line
 * break (CR or LF)", ...), or NULL when it can. */
const char *http_header_problem(const char *name, const json_t *val);
/* Stops a request: its callback is never called. */
void http_cancel(struct http_call *call);

/* ---- the http step ------------------------------------------------------ */

/* What a finished step (or http tool) reports. */
struct http_outcome {
  bool ok;
  json_t *outputs;          /* {status, headers, body} or NULL (owned) */
  const char *kind;         /* !ok: http_status, http_transport, output, validation */
  char message[512];
  int status;               /* HTTP status, -1 when none */
};

/* Builds a request from the rendered `http:` body (method, url, headers,
 * query, json|body). *url_out and *body_out are malloc'd (caller frees);
 * returns 0 or WEFT_EINVAL with msg filled. */
int http_step_request(const json_t *body, struct http_req *req, char **url_out, char **body_out,
                      char *msg, size_t msg_len);
/* Judges a response against `expect` (default: any 2xx). Fills o (o->outputs owned). */
void http_step_outcome(const json_t *body, const struct http_resp *r, struct http_outcome *o);
/* The parsed body: JSON when the content type says so and it parses, else a
 * string (new reference). */
json_t *http_body_value(const struct http_resp *r);

/* Why no client can be made (libcurl cannot be loaded), or NULL. */
const char *http_unavailable(void);

#endif
