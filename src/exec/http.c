/* http.c — libcurl's multi-socket API driven by the runtime's libuv loop
 * (see http.h), and the `http` step: building a request from the rendered
 * step body and judging the response (status, headers, body, expect).
 *
 * Plumbing: curl tells us which sockets to watch (socket_cb) and when to call
 * it back (timer_cb); we keep one uv_poll_t per socket and one uv_timer_t.
 * After every curl_multi_socket_action we drain curl_multi_info_read and end
 * the finished transfers, calling their callbacks outside any curl callback
 * (so a callback may start or cancel requests). */
#include "exec/http.h"

#include <ctype.h>
#define CURL_DISABLE_TYPECHECK /* calls go through curl_dl.h's table */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/curl_dl.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/term.h"

struct http_client {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  size_t active;
  struct http_call *calls; /* in flight */
  struct sock *socks;       /* poll handles of curl's sockets */
};

struct http_call {
  struct http_call *next, **prevp;
  struct http_client *c;
  CURL *easy;
  struct curl_slist *hdrs;
  char *body;              /* request body copy (NULL: none, e.g. after a 303) */
  size_t body_len;
  char *url;               /* of the current hop */
  char *method;            /* of the current hop */
  char *ctype;             /* Content-Type of the body unless headers give one */
  json_t *headers;         /* the caller's headers (copy); NULL: none */
  char origin[300];        /* scheme://host:port of the first URL */
  bool follow;             /* follow redirects ourselves (see next_hop) */
  int hops;                /* redirects followed so far */
  struct buf resp;
  json_t *rheaders;
  bool over_cap;
  char errmsg[256];        /* a redirect we refuse (http_transport) */
  http_done_cb cb;
  void *ud;
};

struct sock {
  struct sock *next;
  uv_poll_t poll;
  curl_socket_t fd;
  struct http_client *c;
};

static bool g_curl_init;

static void check_done(struct http_client *c);

static void on_sock_closed(uv_handle_t *h) { free(h->data); }

static void sock_close(struct sock *s)
{
  for (struct sock **pp = &s->c->socks; *pp; pp = &(*pp)->next)
    if (*pp == s) {
      *pp = s->next;
      break;
    }
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
  struct sock *s = h->data;
  struct http_client *c = s->c;
  int flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE)
    flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE)
    flags |= CURL_CSELECT_OUT;
  int running;
  curl_multi_socket_action(c->multi, s->fd, flags, &running);
  check_done(c);
}

static int socket_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
  struct http_client *c = userp;
  struct sock *s = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      sock_close(s);
      curl_multi_assign(c->multi, fd, NULL);
    }
    return 0;
  }
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s)
      return -1;
    s->fd = fd;
    s->c = c;
    if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    s->poll.data = s;
    uv_unref((uv_handle_t *)&s->poll); /* see http_client_new */
    s->next = c->socks;
    c->socks = s;
    curl_multi_assign(c->multi, fd, s);
  }
  int ev = 0;
  if (what & CURL_POLL_IN)
    ev |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    ev |= UV_WRITABLE;
  uv_poll_start(&s->poll, ev, on_poll);
  return 0;
}

static void on_timer(uv_timer_t *t)
{
  struct http_client *c = t->data;
  int running;
  curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(c);
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
  struct http_client *c = userp;
  if (timeout_ms < 0)
    uv_timer_stop(&c->timer);
  else
    uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

const char *http_unavailable(void)
{
  const char *why = NULL;
  return curl_dl_load(&why) == 0 ? NULL : why;
}

int http_client_new(uv_loop_t *loop, struct http_client **out)
{
  *out = NULL;
  const char *why = NULL;
  if (curl_dl_load(&why) != 0)
    return WEFT_ENOTFOUND; /* http_unavailable() says why */
  if (!g_curl_init) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      return WEFT_ENOMEM;
    g_curl_init = true;
  }
  struct http_client *c = calloc(1, sizeof *c);
  if (!c)
    return WEFT_ENOMEM;
  c->loop = loop;
  c->multi = curl_multi_init();
  if (!c->multi) {
    free(c);
    return WEFT_ENOMEM;
  }
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  /* our handles never keep the loop alive by themselves: a request in flight
   * belongs to an attempt, which the runtime waits for with its own handles;
   * an idle kept-alive connection must not stop the loop from ending */
  uv_unref((uv_handle_t *)&c->timer);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 64L);
  *out = c;
  return 0;
}

static void call_free(struct http_call *k)
{
  if (!k)
    return;
  if (k->prevp) {
    *k->prevp = k->next;
    if (k->next)
      k->next->prevp = k->prevp;
    k->c->active--;
  }
  if (k->easy) {
    curl_multi_remove_handle(k->c->multi, k->easy);
    curl_easy_cleanup(k->easy);
  }
  curl_slist_free_all(k->hdrs);
  free(k->body);
  free(k->url);
  free(k->method);
  free(k->ctype);
  json_decref(k->headers);
  buf_free(&k->resp);
  json_decref(k->rheaders);
  free(k);
}

static void on_client_timer_closed(uv_handle_t *h) { free(h->data); }

void http_client_free(struct http_client *c)
{
  if (!c)
    return;
  while (c->calls)
    call_free(c->calls);
  /* the multi handle removes its sockets through socket_cb on cleanup */
  curl_multi_cleanup(c->multi);
  while (c->socks)
    sock_close(c->socks);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_client_timer_closed);
}

size_t http_client_active(const struct http_client *c) { return c ? c->active : 0; }

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
  struct http_call *k = ud;
  size_t len = size * n;
  if (buf_append(&k->resp, p, len) != 0) {
    k->over_cap = true;
    return 0; /* aborts with CURLE_WRITE_ERROR */
  }
  return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
  struct http_call *k = ud;
  size_t len = size * n;
  if (len >= 5 && !strncmp(p, "HTTP/", 5)) {
    /* a new response (after a redirect or 100 Continue): start over */
    json_object_clear(k->rheaders);
    return len;
  }
  const char *colon = memchr(p, ':', len);
  if (!colon || colon == p || (size_t)(colon - p) > 256)
    return len;
  char name[257];
  size_t nl = (size_t)(colon - p);
  for (size_t i = 0; i < nl; i++)
    name[i] = (char)tolower((unsigned char)p[i]);
  name[nl] = '\0';
  const char *v = colon + 1, *end = p + len;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
    end--;
  json_t *old = json_object_get(k->rheaders, name);
  if (old && json_is_string(old)) {
    char *joined = NULL;
    if (asprintf(&joined, "%s, %.*s", json_string_value(old), (int)(end - v), v) >= 0) {
      json_object_set_new(k->rheaders, name, json_string(joined));
      free(joined);
    }
  } else {
    json_object_set_new(k->rheaders, name, json_stringn(v, (size_t)(end - v)));
  }
  return len;
}

static bool url_ok(const char *url)
{
  return !strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8);
}

/* The origin of an http(s) URL, "scheme://host:port" lower-cased with the
 * default port filled in (userinfo dropped). False when it does not parse. */
static bool url_origin(const char *url, char *out, size_t n)
{
  const char *sep = strstr(url, "://");
  if (!sep || sep == url || sep - url > 10)
    return false;
  char scheme[11];
  size_t sl = (size_t)(sep - url);
  for (size_t i = 0; i < sl; i++)
    scheme[i] = (char)tolower((unsigned char)url[i]);
  scheme[sl] = '\0';
  const char *a = sep + 3, *ae = a + strcspn(a, "/?#");
  for (const char *p = a; p < ae; p++)
    if (*p == '@')
      a = p + 1; /* userinfo */
  const char *hs = a, *he, *port = NULL;
  if (*hs == '[') {
    he = memchr(hs, ']', (size_t)(ae - hs));
    if (!he)
      return false;
    he++;
    if (he < ae && *he == ':')
      port = he + 1;
  } else {
    he = memchr(hs, ':', (size_t)(ae - hs));
    if (he)
      port = he + 1;
    else
      he = ae;
  }
  if (he == hs || (size_t)(he - hs) > 255)
    return false;
  char host[256];
  for (size_t i = 0; i < (size_t)(he - hs); i++)
    host[i] = (char)tolower((unsigned char)hs[i]);
  host[he - hs] = '\0';
  long pn = !strcmp(scheme, "https") ? 443 : 80;
  if (port && port < ae) {
    pn = 0;
    for (const char *p = port; p < ae; p++) {
      if (*p < '0' || *p > '9' || pn > 65535)
        return false;
      pn = pn * 10 + (*p - '0');
    }
  }
  return snprintf(out, n, "%s://%s:%ld", scheme, host, pn) < (int)n;
}

/* A header name is an RFC 9110 token; a value holds no CR, LF or NUL (they
 * would end the header line and let a value inject headers or a request). */
static bool header_name_ok(const char *s)
{
  if (!*s)
    return false;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p <= ' ' || *p >= 127 || strchr("\"(),/:;<=>?@[\\]{}", *p))
      return false;
  return true;
}

const char *http_header_problem(const char *name, const json_t *val)
{
  if (!header_name_ok(name))
    return strpbrk(name, "\r\n") ? "its name contains a line break (CR or LF)"
                                 : "its name is not a valid header name (letters, digits and "
                                   "!#$%&'*+-.^_`|~ only)";
  if (json_is_string(val)) {
    const char *s = json_string_value(val);
    if (strlen(s) != json_string_length(val))
      return "its value contains a NUL byte";
    if (strpbrk(s, "\r\n"))
      return "its value contains a line break (CR or LF)";
  }
  return NULL;
}

/* Creates and starts the easy handle of the current hop (k->url, k->method,
 * k->body). The caller's headers go only to the first URL's origin. */
static int call_start(struct http_call *k)
{
  struct http_client *c = k->c;
  CURL *e = k->easy = curl_easy_init();
  if (!e)
    return WEFT_ENOMEM;
  char origin[sizeof k->origin];
  bool same = url_origin(k->url, origin, sizeof origin) && !strcmp(origin, k->origin);
  curl_easy_setopt(e, CURLOPT_URL, k->url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* next_hop follows */
  curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, k);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, k);
  curl_easy_setopt(e, CURLOPT_PRIVATE, k);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "weft/" WEFT_VERSION);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  bool has_ct = false;
  if (k->headers && same) {
    const char *name;
    json_t *val;
    json_object_foreach(k->headers, name, val) {
      char *line = NULL;
      char *dump = json_is_string(val) ? NULL : json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
      const char *s = json_is_string(val) ? json_string_value(val) : (dump ? dump : "");
      int r = *s ? asprintf(&line, "%s: %s", name, s) : asprintf(&line, "%s;", name);
      free(dump);
      if (r < 0)
        return WEFT_ENOMEM;
      if (!strcasecmp(name, "content-type")) {
        has_ct = true;
        if (!k->body) { /* the body was dropped by a 303: so is its type */
          free(line);
          continue;
        }
      }
      struct curl_slist *nl = curl_slist_append(k->hdrs, line);
      free(line);
      if (!nl)
        return WEFT_ENOMEM;
      k->hdrs = nl;
    }
  }
  if (k->body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, k->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)k->body_len);
    if (!has_ct) {
      char *line = NULL;
      if (asprintf(&line, "Content-Type: %s",
                   k->ctype ? k->ctype : "application/octet-stream") < 0)
        return WEFT_ENOMEM;
      struct curl_slist *nl = curl_slist_append(k->hdrs, line);
      free(line);
      if (!nl)
        return WEFT_ENOMEM;
      k->hdrs = nl;
    }
  }
  const char *m = k->method;
  if (!strcmp(m, "HEAD"))
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  else if (strcmp(m, k->body ? "POST" : "GET") != 0)
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
  if (k->hdrs)
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, k->hdrs);
  if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
    return WEFT_ENOMEM;
  return 0;
}

int http_request(struct http_client *c, const struct http_req *req, http_done_cb cb, void *ud,
                 struct http_call **out, const char **err)
{
  *out = NULL;
  *err = NULL;
  if (!req->url || !url_ok(req->url)) {
    *err = "only http:// and https:// URLs are allowed";
    return WEFT_EINVAL;
  }
  if (req->headers) {
    const char *name;
    json_t *val;
    json_object_foreach((json_t *)req->headers, name, val) {
      if (!http_header_problem(name, val))
        continue;
      *err = "a header name or value contains CR, LF or NUL (or the name is not a token)";
      return WEFT_EINVAL;
    }
  }
  struct http_call *k = calloc(1, sizeof *k);
  if (!k)
    return WEFT_ENOMEM;
  k->c = c;
  k->cb = cb;
  k->ud = ud;
  k->follow = !req->no_follow;
  buf_init(&k->resp, req->max_body ? req->max_body : HTTP_MAX_BODY);
  k->rheaders = json_object();
  k->url = strdup(req->url);
  k->method = strdup(req->method ? req->method : "GET");
  if (!k->rheaders || !k->url || !k->method)
    goto oom;
  if (!url_origin(k->url, k->origin, sizeof k->origin))
    k->origin[0] = '\0'; /* curl will refuse the URL; no hop matches "" */
  if (req->headers && !(k->headers = json_deep_copy(req->headers)))
    goto oom;
  if (req->content_type && !(k->ctype = strdup(req->content_type)))
    goto oom;
  if (req->body) {
    k->body = malloc(req->body_len + 1);
    if (!k->body)
      goto oom;
    memcpy(k->body, req->body, req->body_len);
    k->body[req->body_len] = '\0';
    k->body_len = req->body_len;
  }
  if (call_start(k) != 0)
    goto oom;
  k->next = c->calls;
  if (c->calls)
    c->calls->prevp = &k->next;
  c->calls = k;
  k->prevp = &c->calls;
  c->active++;
  *out = k;
  return 0;
oom:
  call_free(k);
  return WEFT_ENOMEM;
}

/* After a finished hop: true when it was a redirect that we follow (the next
 * hop is started, the caller must not finish the call). A refused redirect
 * (too many, not http(s)) sets k->errmsg and returns false. Like curl: 303
 * turns any method but HEAD into GET, 301/302 turn POST into GET (dropping
 * the body); 307/308 keep both. Custom headers go only to the first URL's
 * origin (call_start). */
static bool next_hop(struct http_call *k)
{
  long st = 0;
  char *loc = NULL;
  curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &st);
  if (!k->follow || !(st == 301 || st == 302 || st == 303 || st == 307 || st == 308))
    return false;
  curl_easy_getinfo(k->easy, CURLINFO_REDIRECT_URL, &loc);
  if (!loc || !*loc)
    return false; /* a 3xx without Location: that is the answer */
  if (k->hops >= HTTP_MAX_REDIRECTS) {
    snprintf(k->errmsg, sizeof k->errmsg, "too many redirects (more than %d) for %.150s",
             HTTP_MAX_REDIRECTS, k->url);
    return false;
  }
  if (!url_ok(loc)) {
    snprintf(k->errmsg, sizeof k->errmsg,
             "redirect from %.100s to a URL that is not http:// or https://", k->url);
    return false;
  }
  char *nu = strdup(loc);
  if (!nu)
    return false;
  free(k->url);
  k->url = nu;
  k->hops++;
  bool to_get = (st == 303 && strcmp(k->method, "HEAD") != 0) ||
                ((st == 301 || st == 302) && !strcmp(k->method, "POST"));
  if (to_get) {
    char *g = strdup("GET");
    if (g) {
      free(k->method);
      k->method = g;
    }
    free(k->body);
    k->body = NULL;
    k->body_len = 0;
  }
  curl_multi_remove_handle(k->c->multi, k->easy);
  curl_easy_cleanup(k->easy);
  k->easy = NULL;
  curl_slist_free_all(k->hdrs);
  k->hdrs = NULL;
  size_t max = k->resp.max;
  buf_free(&k->resp);
  buf_init(&k->resp, max);
  json_object_clear(k->rheaders);
  if (call_start(k) != 0) {
    snprintf(k->errmsg, sizeof k->errmsg, "out of memory following a redirect");
    return false;
  }
  return true;
}

void http_cancel(struct http_call *call) { call_free(call); }

static void finish(struct http_call *k, CURLcode res)
{
  struct http_resp r = {.status = -1, .headers = k->rheaders};
  char msg[CURL_ERROR_SIZE + 128];
  if (res == CURLE_OK && k->errmsg[0]) {
    r.kind = "http_transport";
    snprintf(msg, sizeof msg, "%s", k->errmsg);
    r.message = msg;
  } else if (res == CURLE_OK) {
    r.transport_ok = true;
    curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &r.status);
    char *ct = NULL;
    curl_easy_getinfo(k->easy, CURLINFO_CONTENT_TYPE, &ct);
    r.content_type = ct;
    r.body = k->resp.p ? k->resp.p : "";
    r.body_len = k->resp.len;
  } else if (k->over_cap) {
    r.kind = "output";
    snprintf(msg, sizeof msg, "the response body is larger than %zu bytes", k->resp.max);
    r.message = msg;
  } else {
    r.kind = "http_transport";
    char *url = NULL;
    curl_easy_getinfo(k->easy, CURLINFO_EFFECTIVE_URL, &url);
    snprintf(msg, sizeof msg, "%s%s%s", curl_easy_strerror(res), url ? " for " : "",
             url ? url : "");
    r.message = msg;
  }
  http_done_cb cb = k->cb;
  void *ud = k->ud;
  /* the callback may free other calls or start new ones: detach first */
  json_incref(r.headers);
  struct buf body = k->resp;
  k->resp.p = NULL;
  k->resp.len = k->resp.cap = 0;
  if (r.transport_ok)
    r.body = body.p ? body.p : "";
  char *ct_copy = r.content_type ? strdup(r.content_type) : NULL;
  r.content_type = ct_copy;
  call_free(k);
  cb(ud, &r);
  free(ct_copy);
  buf_free(&body);
  json_decref(r.headers);
}

static void check_done(struct http_client *c)
{
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(c->multi, &left))) {
    if (m->msg != CURLMSG_DONE)
      continue;
    struct http_call *k = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&k);
    CURLcode res = m->data.result;
    if (k && !(res == CURLE_OK && next_hop(k)))
      finish(k, res);
  }
}

/* ---- the http step ------------------------------------------------------ */

static char *scalar_text(const json_t *v)
{
  if (json_is_string(v))
    return strdup(json_string_value(v));
  if (json_is_null(v))
    return strdup("");
  return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

int http_step_request(const json_t *body, struct http_req *req, char **url_out, char **body_out,
                      char *msg, size_t msg_len)
{
  memset(req, 0, sizeof *req);
  *url_out = NULL;
  *body_out = NULL;
  const json_t *url = json_object_get(body, "url");
  if (!json_is_string(url) || !*json_string_value(url)) {
    snprintf(msg, msg_len, "http.url must be a non-empty string");
    return WEFT_EINVAL;
  }
  const json_t *m = json_object_get(body, "method");
  req->method = json_is_string(m) ? json_string_value(m) : "GET";
  if (!header_name_ok(req->method)) {
    snprintf(msg, msg_len, "http.method is not a method name: %.60s", req->method);
    return WEFT_EINVAL;
  }
  const json_t *h = json_object_get(body, "headers");
  req->headers = json_is_object(h) ? h : NULL;
  if (req->headers) {
    const char *hn;
    json_t *hv;
    json_object_foreach((json_t *)req->headers, hn, hv) {
      const char *why = http_header_problem(hn, hv);
      if (why) {
        char *shown = term_escape(hn, strnlen(hn, 80));
        snprintf(msg, msg_len,
                 "http header \"%s\" cannot be sent: %s; nothing was sent (header names and "
                 "values cannot hold CR, LF or NUL: check the expression that makes it)",
                 shown ? shown : "?", why);
        free(shown);
        return WEFT_EINVAL;
      }
    }
  }
  const json_t *fr = json_object_get(body, "follow_redirects");
  req->no_follow = json_is_false(fr);
  struct buf u;
  buf_init(&u, 1 << 20);
  buf_puts(&u, json_string_value(url));
  const json_t *q = json_object_get(body, "query");
  if (json_is_object(q) && json_object_size(q)) {
    char sep = strchr(json_string_value(url), '?') ? '&' : '?';
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)q, k, v) {
      char *t = scalar_text(v);
      char *ek = curl_easy_escape(NULL, k, 0);
      char *ev = t ? curl_easy_escape(NULL, t, 0) : NULL;
      if (ek && ev)
        buf_printf(&u, "%c%s=%s", sep, ek, ev);
      sep = '&';
      curl_free(ek);
      curl_free(ev);
      free(t);
    }
  }
  *url_out = buf_take(&u);
  req->url = *url_out;
  const json_t *j = json_object_get(body, "json");
  const json_t *b = json_object_get(body, "body");
  if (j) {
    *body_out = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!*body_out)
      return WEFT_ENOMEM;
    req->body = *body_out;
    req->body_len = strlen(*body_out);
    req->content_type = "application/json";
  } else if (b && !json_is_null(b)) {
    *body_out = scalar_text(b);
    if (!*body_out)
      return WEFT_ENOMEM;
    req->body = *body_out;
    req->body_len = strlen(*body_out);
    req->content_type = "text/plain; charset=utf-8";
  }
  return 0;
}

static bool is_json_type(const char *ct)
{
  if (!ct)
    return false;
  size_t n = strcspn(ct, ";");
  for (size_t i = 0; i + 4 <= n; i++)
    if (!strncasecmp(ct + i, "json", 4))
      return true;
  return false;
}

json_t *http_body_value(const struct http_resp *r)
{
  if (is_json_type(r->content_type) && r->body_len) {
    json_t *v = json_loadb(r->body, r->body_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (v)
      return v;
  }
  return json_stringn_nocheck(r->body ? r->body : "", r->body_len);
}

static bool expected(const json_t *body, long status)
{
  const json_t *e = json_object_get(body, "expect");
  if (!e)
    return status >= 200 && status < 300;
  if (json_is_integer(e))
    return json_integer_value(e) == status;
  size_t i;
  json_t *x;
  json_array_foreach(e, i, x) if (json_is_integer(x) && json_integer_value(x) == status) return true;
  return false;
}

void http_step_outcome(const json_t *body, const struct http_resp *r, struct http_outcome *o)
{
  memset(o, 0, sizeof *o);
  o->status = -1;
  if (!r->transport_ok) {
    o->kind = r->kind;
    snprintf(o->message, sizeof o->message, "%s", r->message ? r->message : "request failed");
    return;
  }
  o->status = (int)r->status;
  o->outputs = json_object();
  json_object_set_new(o->outputs, "status", json_integer(r->status));
  json_object_set(o->outputs, "headers", r->headers);
  json_object_set_new(o->outputs, "body", http_body_value(r));
  if (expected(body, r->status)) {
    o->ok = true;
    return;
  }
  o->kind = "http_status";
  const json_t *url = json_object_get(body, "url");
  const json_t *m = json_object_get(body, "method");
  snprintf(o->message, sizeof o->message, "%s %.300s answered HTTP %ld (expected %s)",
           json_is_string(m) ? json_string_value(m) : "GET",
           json_is_string(url) ? json_string_value(url) : "?", r->status,
           json_object_get(body, "expect") ? "a status in expect" : "2xx");
}
