/* httpd.h — the HTTP front: libmicrohttpd under a route table, auth and limits.
 *
 * httpd owns everything a request goes through before an operation sees it
 * (ARCHITECTURE §6.3, §6.5): the socket and TLS, a small pool of HTTP threads
 * (never the runtime's loop), the route lookup (route.h), authentication
 * (Bearer token through the caller's callback; ten failures a minute from one
 * address: 429), the role check, the body cap (413), the media type (415),
 * the JSON limits (reqjson.h), connection time-outs for clients that never
 * finish a request, and the error body (apierr.h). A handler is called only
 * for a known route, by an authorized caller, with a well-formed body; what it
 * answers is its own business. No failure of a client's making is a 500.
 *
 * Ownership: the config's strings and table are borrowed for the server's
 * life; a handler fills struct httpd_resp with a malloc'd body that httpd
 * frees after sending. */
#ifndef WEFT_SERVER_HTTPD_H
#define WEFT_SERVER_HTTPD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/apierr.h"
#include "server/listen.h"
#include "server/route.h"

struct httpd;
struct MHD_Connection;

struct httpd_req {
  const char *method, *path;          /* path: raw, without the query */
  const struct route_match *match;    /* NULL for a fallback (non-API) request */
  const char *peer;                   /* the client's address */
  json_t *json;                       /* BODY_JSON routes: the body (borrowed), or NULL */
  const char *body;                   /* the raw body, NUL-terminated */
  size_t body_len;
  enum role role;                     /* the caller's role (ROLE_NONE if unauthenticated) */
  const char *user, *token_id;        /* the token's user and id, or NULL */
  struct MHD_Connection *conn;
};

struct httpd_resp {
  unsigned status;
  const char *ctype; /* default application/json */
  char *body;        /* malloc'd; httpd frees it */
  size_t len;
  const char *hname;  /* one extra header (static name), or NULL */
  char hvalue[96];    /* its value */
  /* a streamed answer (server-sent events) instead of body: read returns
   * bytes written, 0 for nothing now (after suspending the connection), -1
   * at the end; free is called once when the connection is done with it */
  long (*stream_read)(void *cls, char *buf, size_t max);
  void (*stream_free)(void *cls);
  void *stream_cls;
  /* static answers (the UI's files): a body httpd does not free (used when
   * body is NULL), and more headers as NULL-terminated static name, value
   * pairs; a Cache-Control among them replaces the default no-store */
  const char *static_body;
  const char *const *headers;
};

/* a request header, or NULL */
const char *httpd_header(const struct httpd_req *rq, const char *name);
/* every request header as {lower-case name: value} (the first 100; names
 * over 127 bytes cut), a new object */
json_t *httpd_headers(const struct httpd_req *rq);
/* a query parameter, percent- and '+'-decoded into out; NULL when absent
 * or when it does not decode (the caller answers 400) */
const char *httpd_query(const struct httpd_req *rq, const char *name, char *out, size_t outlen);
/* whether the query has parameter name (decodable or not) */
bool httpd_has_query(const struct httpd_req *rq, const char *name);
/* fill rs with v (stolen) as JSON */
void httpd_json(struct httpd_resp *rs, unsigned status, json_t *v);
/* fill rs with the error body of kind e */
void httpd_error(struct httpd_resp *rs, enum apierr e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

typedef void (*httpd_handler_fn)(void *ud, const struct httpd_req *rq, struct httpd_resp *rs);
/* 0 and the token's role, user and id; HTTPD_AUTH_UNAVAILABLE when the
 * token cannot be checked now (the store cannot be read: 503, not held
 * against the client); any other nonzero value for an unknown, expired or
 * revoked token (all answered 401 alike, and counted as failures) */
#define HTTPD_AUTH_UNAVAILABLE 2
typedef int (*httpd_auth_fn)(void *ud, const char *token, enum role *role, char *user, size_t ulen, char *token_id,
                             size_t tlen);

struct httpd_config {
  const struct listen_addr *addr;
  const char *tls_cert_pem, *tls_key_pem; /* both or neither */
  const struct route *routes;
  size_t nroutes;
  httpd_handler_fn handler;  /* routes of the table */
  httpd_handler_fn fallback; /* GET/HEAD outside /api/ that no route has (the UI); NULL: 404 */
  /* whether the fallback has a page at path (another method on it: 405 with
   * Allow: GET, HEAD, not 404); NULL: never */
  bool (*fallback_has)(const char *path);
  httpd_auth_fn auth;
  void *ud;
  unsigned threads;   /* HTTP threads; 0: 2 */
  unsigned timeout_s; /* an idle or unfinished connection is closed after this; 0: 30 */
  unsigned max_conns; /* 0: 4096 */
  int64_t (*now_ms)(void); /* the clock of the failure limiter; NULL: the wall clock */
  /* called once per answer, whoever gave it (a handler or the front's own
   * 401/403/404/405/413/...): op is the route's operation name, "fallback"
   * for the UI's pages, "none" for a path no route (nor page) has; NULL: not called */
  void (*on_answer)(void *ud, const char *op, unsigned status);
};

/* Starts serving. 0, or a WEFT_E* code with err filled. */
int httpd_start(const struct httpd_config *cfg, struct httpd **out, char *err, size_t errlen);
unsigned httpd_port(const struct httpd *h);
/* Stops accepting, finishes the requests in flight, frees everything. */
void httpd_stop(struct httpd *h);

#endif
