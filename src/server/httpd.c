/* httpd.c — libmicrohttpd glue: per-connection state, body accumulation,
 * and the fixed order every request goes through (httpd.h).
 *
 * libmicrohttpd calls the access handler several times per request: first
 * with the headers (we route, check the framing and the declared length,
 * authenticate and check the role: admit), then once per chunk of body (kept
 * only when admitted), then once more with no data: only then is a response
 * queued. Answering on the first call would make it close every connection
 * (ARCHITECTURE §3); it is done only to refuse a client that waits for
 * "100 Continue" (it then sends no body, and its connection is closed). The
 * URL is given to us undecoded (identity unescape callback): route.c decodes
 * each path segment itself, so "%2F" can never split a segment, and
 * httpd_query decodes query values. */
#include "server/httpd.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "server/authfail.h"
#include "server/mhd_dl.h"
#include "server/reqjson.h"
#include "server/reqparse.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/jsonfmt.h"
#include "util/wtime.h"

/* libmicrohttpd's memory pool per connection (headers, the read buffer, the
 * answer's write buffer; it zeroes and touches it for every request). Was
 * 64 KiB: a thousand live-event subscribers held 64 MB for it alone, and a
 * GET spent a fifth of its time zeroing it. Bodies are kept by us, not in it. */
#define HTTPD_CONN_MEMORY (16 * 1024)

struct httpd {
  struct httpd_config cfg;
  struct MHD_Daemon *d;
  struct authfail *fails;
  int fd;
  unsigned port;
};

struct conn_state {
  int rc; /* of route_find */
  struct route_match m;
  struct buf body;
  size_t max;
  bool too_large;
  bool ambiguous; /* several Content-Length headers, or one with Transfer-Encoding */
  /* decided from the head alone (admit): the refusal, sent once the body
   * has been read past; none of the body is kept */
  bool decided;
  struct httpd_resp early;
  /* the authenticated caller (admit), for the handler */
  bool authed;
  enum role role;
  char user[128], tid[64];
};

const char *httpd_header(const struct httpd_req *rq, const char *name)
{
  return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result header_it(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  (void)kind;
  char low[128];
  size_t i = 0;
  for (; key[i] && i + 1 < sizeof low; i++)
    low[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] + 32 : key[i]);
  low[i] = 0;
  if (!strcmp(low, "authorization") || !strcmp(low, "cookie"))
    return MHD_YES; /* credentials never reach a run's `.trigger.headers` */
  if (value && json_object_size(cls) < 100)
    json_object_set_new(cls, low, json_string(value));
  return MHD_YES;
}

json_t *httpd_headers(const struct httpd_req *rq)
{
  json_t *o = json_object();
  if (o)
    MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, header_it, o);
  return o;
}

bool httpd_has_query(const struct httpd_req *rq, const char *name)
{
  return rq->conn && MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name) != NULL;
}

const char *httpd_query(const struct httpd_req *rq, const char *name, char *out, size_t outlen)
{
  return reqparse_query(MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name), out, outlen);
}

void httpd_json(struct httpd_resp *rs, unsigned status, json_t *v)
{
  free(rs->body);
  rs->body = v ? wjson_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  json_decref(v);
  if (!rs->body) {
    httpd_error(rs, APIERR_INTERNAL, "the answer could not be encoded");
    return;
  }
  rs->status = status;
  rs->ctype = "application/json";
  rs->len = strlen(rs->body);
}

void httpd_error(struct httpd_resp *rs, enum apierr e, const char *fmt, ...)
{
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  free(rs->body);
  rs->body = apierr_body(e, msg);
  rs->status = apierr_status(e);
  rs->ctype = "application/json";
  rs->len = rs->body ? strlen(rs->body) : 0;
}

static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
  (void)cls, (void)c;
  return strlen(s);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
  (void)cls, (void)c, (void)toe;
  struct conn_state *st = *con_cls;
  if (st) {
    buf_free(&st->body);
    free(st->early.body);
    free(st);
  }
  *con_cls = NULL;
}

struct stream {
  long (*read)(void *cls, char *buf, size_t max);
  void (*free)(void *cls);
  void *cls;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
  (void)pos;
  struct stream *st = cls;
  long n = st->read(st->cls, buf, max);
  return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

static void stream_free(void *cls)
{
  struct stream *st = cls;
  if (st->free)
    st->free(st->cls);
  free(st);
}

static enum MHD_Result send_stream(struct MHD_Connection *c, struct httpd_resp *rs)
{
  struct stream *st = malloc(sizeof *st);
  if (!st) {
    if (rs->stream_free)
      rs->stream_free(rs->stream_cls);
    return MHD_NO;
  }
  *st = (struct stream){rs->stream_read, rs->stream_free, rs->stream_cls};
  struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free);
  if (!r) {
    stream_free(st);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", rs->ctype ? rs->ctype : "text/event-stream");
  MHD_add_response_header(r, "Cache-Control", "no-store");
  MHD_add_response_header(r, "X-Accel-Buffering", "no");
  enum MHD_Result ok = MHD_queue_response(c, rs->status ? rs->status : 200, r);
  MHD_destroy_response(r);
  return ok;
}

/* a static answer (uiserve.c): the body is not ours to free */
static enum MHD_Result send_static(struct MHD_Connection *c, struct httpd_resp *rs)
{
  struct MHD_Response *r =
      MHD_create_response_from_buffer(rs->len, (void *)(uintptr_t)rs->static_body, MHD_RESPMEM_PERSISTENT);
  if (!r)
    return MHD_NO;
  bool cache = false;
  for (const char *const *h = rs->headers; h && h[0] && h[1]; h += 2) {
    MHD_add_response_header(r, h[0], h[1]);
    cache |= !strcasecmp(h[0], "Cache-Control");
  }
  if (rs->status != 304)
    MHD_add_response_header(r, "Content-Type", rs->ctype ? rs->ctype : "application/octet-stream");
  if (!cache)
    MHD_add_response_header(r, "Cache-Control", "no-store");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  if (rs->hname)
    MHD_add_response_header(r, rs->hname, rs->hvalue);
  enum MHD_Result ok = MHD_queue_response(c, rs->status ? rs->status : 200, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result send_resp(struct MHD_Connection *c, struct httpd_resp *rs)
{
  if (rs->stream_read) {
    free(rs->body);
    return send_stream(c, rs);
  }
  if (!rs->body && rs->static_body)
    return send_static(c, rs);
  if (!rs->body) { /* out of memory building the answer */
    rs->body = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
    rs->status = 500;
    rs->ctype = "application/json";
    rs->len = rs->body ? strlen(rs->body) : 0;
  }
  struct MHD_Response *r = MHD_create_response_from_buffer(rs->len, rs->body ? rs->body : (char *)"",
                                                           rs->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  if (!r) {
    free(rs->body);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", rs->ctype ? rs->ctype : "application/json");
  MHD_add_response_header(r, "Cache-Control", "no-store");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  if (rs->hname)
    MHD_add_response_header(r, rs->hname, rs->hvalue);
  enum MHD_Result ok = MHD_queue_response(c, rs->status ? rs->status : 500, r);
  MHD_destroy_response(r);
  return ok;
}

static void peer_of(struct MHD_Connection *c, char *out, size_t len)
{
  snprintf(out, len, "unknown");
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!ci || !ci->client_addr)
    return;
  const struct sockaddr *sa = ci->client_addr;
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
  else if (sa->sa_family == AF_UNIX)
    snprintf(out, len, "unix");
}

static bool is_api(const char *path) { return !strncmp(path, "/api/", 5) || !strcmp(path, "/api"); }

/* authentication: 0 and rq's role/user filled, or the error already in rs */
static int authenticate(struct httpd *h, struct httpd_req *rq, struct httpd_resp *rs, char *user, size_t ulen,
                        char *tid, size_t tlen)
{
  int64_t now = h->cfg.now_ms ? h->cfg.now_ms() : wt_now_ms();
  int retry = 0;
  if (authfail_blocked(h->fails, rq->peer, now, &retry)) {
    httpd_error(rs, APIERR_TOO_MANY_REQUESTS, "too many failed authentications from %s; try again in %d s", rq->peer,
                retry);
    rs->hname = "Retry-After";
    snprintf(rs->hvalue, sizeof rs->hvalue, "%d", retry);
    return -1;
  }
  const char *tok = reqparse_bearer(httpd_header(rq, "Authorization"));
  enum role role = ROLE_NONE;
  int rc = tok && h->cfg.auth ? h->cfg.auth(h->cfg.ud, tok, &role, user, ulen, tid, tlen) : 1;
  if (rc == HTTPD_AUTH_UNAVAILABLE) { /* the server's trouble, not the client's failure */
    httpd_error(rs, APIERR_UNAVAILABLE, "the token cannot be checked now (the store cannot be read); try again");
    rs->hname = "Retry-After";
    snprintf(rs->hvalue, sizeof rs->hvalue, "1");
    return -1;
  }
  if (rc) {
    authfail_record(h->fails, rq->peer, now);
    httpd_error(rs, APIERR_UNAUTHORIZED,
                tok ? "the token is unknown, expired or revoked" : "send Authorization: Bearer TOKEN (weft token create)");
    rs->hname = "WWW-Authenticate";
    snprintf(rs->hvalue, sizeof rs->hvalue, "Bearer");
    return -1;
  }
  rq->role = role;
  rq->user = user;
  rq->token_id = tid;
  return 0;
}

static void request_of(struct MHD_Connection *c, const char *url, const char *method, char *peer, size_t plen,
                       struct httpd_req *rq)
{
  peer_of(c, peer, plen);
  *rq = (struct httpd_req){.method = method, .path = url, .peer = peer, .conn = c};
}

/* What the head alone decides, on the first call, before any body byte is
 * kept: framing, the path, deny by default, authentication and the role.
 * A refusal goes to st->early (st->decided); the body is then read past and
 * dropped, so a client without a token cannot make the server hold even the
 * 64 MiB of a workflow upload. A page outside /api/ is left to dispatch. */
static void admit(struct httpd *h, struct MHD_Connection *c, const char *url, const char *method,
                  struct conn_state *st)
{
  char peer[64];
  struct httpd_req rq;
  request_of(c, url, method, peer, sizeof peer, &rq);
  struct httpd_resp *rs = &st->early;
  const struct route *r = st->rc == 0 ? st->m.route : NULL;
  st->decided = true;
  if (st->ambiguous) {
    httpd_error(rs, APIERR_BAD_REQUEST, "the body's length is ambiguous: send one Content-Length, or "
                                        "Transfer-Encoding: chunked alone");
    rs->hname = "Connection"; /* what follows on this connection cannot be trusted */
    snprintf(rs->hvalue, sizeof rs->hvalue, "close");
    return;
  }
  if (st->rc == ROUTE_E_BADPATH) {
    httpd_error(rs, APIERR_BAD_REQUEST, "a path segment is not a valid id (empty, '.', '..', '/', control bytes or not UTF-8)");
    return;
  }
  if (!r && !is_api(url)) {
    if (h->cfg.fallback && (!strcmp(method, "GET") || !strcmp(method, "HEAD")))
      st->decided = false; /* the UI's page, in dispatch */
    else if (st->rc == ROUTE_E_METHOD)
      goto method;
    else if (h->cfg.fallback && h->cfg.fallback_has && h->cfg.fallback_has(url)) {
      snprintf(st->m.allow, sizeof st->m.allow, "GET, HEAD");
      goto method;
    } else
      httpd_error(rs, APIERR_NOT_FOUND, "no page at %.200s", url);
    return;
  }
  if (!r || (r->role != ROLE_NONE && r->role != ROLE_SIGNATURE)) {
    if (authenticate(h, &rq, rs, st->user, sizeof st->user, st->tid, sizeof st->tid))
      return;
    st->authed = true;
    st->role = rq.role;
  }
  if (!r) {
    if (st->rc == ROUTE_E_METHOD)
      goto method;
    httpd_error(rs, APIERR_FORBIDDEN, "no route %s %.200s (the API denies what it does not list)", method, url);
    return;
  }
  if (r->role != ROLE_NONE && r->role != ROLE_SIGNATURE && st->role < r->role) {
    httpd_error(rs, APIERR_FORBIDDEN, "%s needs the %s role; %s has %s", r->op, role_name(r->role), st->user,
                role_name(st->role));
    return;
  }
  st->decided = false;
  return;
method:
  httpd_error(rs, APIERR_METHOD_NOT_ALLOWED, "%s is not allowed on %.200s (allowed: %s)", method, url, st->m.allow);
  rs->hname = "Allow";
  snprintf(rs->hvalue, sizeof rs->hvalue, "%s", st->m.allow);
}

/* The last call, the body read: the refusal admit decided, or the body's
 * checks and the handler. */
static void dispatch(struct httpd *h, struct MHD_Connection *c, const char *url, const char *method,
                     struct conn_state *st, struct httpd_resp *rs)
{
  if (st->decided) {
    *rs = st->early;
    st->early.body = NULL; /* rs owns it now */
    return;
  }
  char peer[64];
  struct httpd_req rq;
  request_of(c, url, method, peer, sizeof peer, &rq);
  rq.body = st->body.p ? st->body.p : "";
  rq.body_len = st->body.len;
  const struct route *r = st->rc == 0 ? st->m.route : NULL;
  if (!r) { /* admit left only the UI's pages undecided */
    h->cfg.fallback(h->cfg.ud, &rq, rs);
    return;
  }
  if (st->authed) {
    rq.role = st->role;
    rq.user = st->user;
    rq.token_id = st->tid;
  }
  if (st->too_large) {
    httpd_error(rs, APIERR_TOO_LARGE, "the request body is over the %zu-byte limit of %s", st->max, r->op);
    return;
  }
  rq.match = &st->m;
  json_t *body = NULL;
  if (r->body == BODY_JSON && st->body.len) {
    if (!reqparse_json_media(httpd_header(&rq, "Content-Type"))) {
      httpd_error(rs, APIERR_UNSUPPORTED_MEDIA, "send the body as Content-Type: application/json");
      return;
    }
    char err[300];
    int e = reqjson_parse(st->body.p, st->body.len, st->max, &body, err, sizeof err);
    if (e) {
      httpd_error(rs, (enum apierr)e, "%s", err);
      return;
    }
    rq.json = body;
  }
  h->cfg.handler(h->cfg.ud, &rq, rs);
  json_decref(body);
  if (!rs->body && !rs->status && !rs->stream_read)
    httpd_error(rs, APIERR_INTERNAL, "the operation gave no answer");
}

/* counts the headers that say how long the body is */
struct framing {
  int content_length, transfer_encoding;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  (void)kind, (void)value;
  struct framing *f = cls;
  if (!strcasecmp(key, "Content-Length"))
    f->content_length++;
  else if (!strcasecmp(key, "Transfer-Encoding"))
    f->transfer_encoding++;
  return MHD_YES;
}

static enum MHD_Result answer(struct httpd *h, struct MHD_Connection *c, const char *url, const char *method,
                               struct conn_state *st)
{
  struct httpd_resp rs = {0};
  dispatch(h, c, url, method, st, &rs);
  if (h->cfg.on_answer) {
    /* a page the UI does not have either is a path no route has: "none" */
    const char *op = "none";
    if (st->rc == 0)
      op = st->m.route->op;
    else if (!is_api(url) && h->cfg.fallback && !st->decided && rs.status != 404)
      op = "fallback";
    h->cfg.on_answer(h->cfg.ud, op, rs.status ? rs.status : rs.stream_read ? 200u : 500u);
  }
  return send_resp(c, &rs);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
  (void)version;
  struct httpd *h = cls;
  struct conn_state *st = *con_cls;
  if (!st) {
    st = calloc(1, sizeof *st);
    if (!st)
      return MHD_NO;
    *con_cls = st;
    st->rc = route_find(h->cfg.routes, h->cfg.nroutes, method, url, &st->m);
    st->max = st->rc == 0 && st->m.route->max_body ? st->m.route->max_body : REQJSON_MAX_BODY;
    buf_init(&st->body, st->max);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (reqparse_declared_over(cl, st->max))
      st->too_large = true;
    /* a body whose length two headers could read differently is refused
     * (request smuggling behind a proxy that reads the other one) */
    struct framing f = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
    st->ambiguous = f.content_length > 1 || f.transfer_encoding > 1 || (f.content_length && f.transfer_encoding);
    admit(h, c, url, method, st);
    /* a client that waits for "100 Continue" before it sends its body gets
     * the refusal (or the 413 its declared length earns) instead, and never
     * sends what would be dropped; libmicrohttpd then closes the connection */
    const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expect");
    if (expect && !strcasecmp(expect, "100-continue") && (st->decided || (st->rc == 0 && st->too_large)))
      return answer(h, c, url, method, st);
    return MHD_YES;
  }
  if (*upload_size) {
    if (!st->decided && !st->too_large && buf_append(&st->body, upload, *upload_size))
      st->too_large = true;
    *upload_size = 0;
    return MHD_YES;
  }
  return answer(h, c, url, method, st);
}

int httpd_start(const struct httpd_config *cfg, struct httpd **out, char *err, size_t errlen)
{
  *out = NULL;
  const char *why;
  if (mhd_dl_load(&why)) {
    snprintf(err, errlen, "%s", why);
    return WEFT_EIO;
  }
  struct httpd *h = calloc(1, sizeof *h);
  if (!h)
    return WEFT_ENOMEM;
  h->cfg = *cfg;
  h->fd = -1;
  h->fails = authfail_new();
  if (!h->fails) {
    free(h);
    return WEFT_ENOMEM;
  }
  bool tls = cfg->tls_cert_pem && cfg->tls_key_pem;
  if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
    snprintf(err, errlen, "this libmicrohttpd has no TLS support");
    httpd_stop(h);
    return WEFT_EINVAL;
  }
  int rc = listen_open(cfg->addr, &h->fd, err, errlen);
  if (rc) {
    httpd_stop(h);
    return rc;
  }
  h->port = listen_bound_port(h->fd);
  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | (tls ? MHD_USE_TLS : 0);
  struct MHD_OptionItem opts[16];
  int k = 0;
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, h->fd, NULL};
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, cfg->threads ? cfg->threads : 2, NULL};
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s ? cfg->timeout_s : 30, NULL};
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, cfg->max_conns ? cfg->max_conns : 4096, NULL};
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTPD_CONN_MEMORY, NULL};
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL};
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)no_unescape, NULL};
  if (tls) {
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cfg->tls_cert_pem};
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)cfg->tls_key_pem};
  }
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
  h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
  if (!h->d) {
    snprintf(err, errlen, "cannot start the HTTP server on %s%s", cfg->addr->text,
             tls ? " (is the TLS certificate and key PEM, and do they match?)" : "");
    httpd_stop(h);
    return WEFT_EIO;
  }
  h->fd = -1; /* the daemon owns the socket now and closes it when stopped */
  *out = h;
  return 0;
}

unsigned httpd_port(const struct httpd *h) { return h->port; }

void httpd_stop(struct httpd *h)
{
  if (!h)
    return;
  if (h->d)
    MHD_stop_daemon(h->d);
  if (h->fd >= 0)
    close(h->fd);
  authfail_free(h->fails);
  free(h);
}
