/* test_server_http.c — server: the HTTP front (httpd.c) on a real loopback
 * socket with a real libmicrohttpd, and its pure parts: route matching, the
 * request-body limits, listen addresses, tokens, the failure limiter.
 *
 * The client here writes raw HTTP bytes, so it can send what no polite
 * client would: traversals, broken JSON, oversized bodies, unfinished
 * requests. The handler echoes what httpd handed it, so each test sees
 * exactly which requests reached an operation. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/authfail.h"
#include "server/httpd.h"
#include "server/listen.h"
#include "server/reqjson.h"
#include "server/reqparse.h"
#include "server/route.h"
#include "util/token.h"
#include "util/err.h"

static const struct route table[] = {
    {"GET", "/healthz", ROLE_NONE, "healthz", BODY_JSON, 0},
    {"GET", "/api/v1/runs", ROLE_VIEWER, "list_runs", BODY_JSON, 0},
    {"GET", "/api/v1/runs/{id}", ROLE_VIEWER, "get_run", BODY_JSON, 0},
    {"POST", "/api/v1/runs/{id}/cancel", ROLE_OPERATOR, "cancel_run", BODY_JSON, 0},
    {"GET", "/api/v1/runs/{id}/logs/{step}", ROLE_VIEWER, "get_logs", BODY_JSON, 0},
    {"POST", "/api/v1/tokens", ROLE_ADMIN, "create_token", BODY_JSON, 0},
    {"DELETE", "/api/v1/tokens/{id}", ROLE_ADMIN, "revoke_token", BODY_JSON, 0},
    {"POST", "/api/v1/hooks/{name}", ROLE_SIGNATURE, "webhook", BODY_RAW, 0},
    {"POST", "/api/v1/workflows", ROLE_OPERATOR, "deploy", BODY_RAW, 4096},
};
#define NTABLE (sizeof table / sizeof *table)

static int handled; /* requests that reached the handler */
static int64_t fake_now = 1000000;

static int64_t now_ms(void) { return fake_now; }

static int auth(void *ud, const char *token, enum role *role, char *user, size_t ulen, char *tid, size_t tlen)
{
  (void)ud;
  static const struct {
    const char *tok, *user;
    enum role role;
  } toks[] = {{"viewer-token", "vera", ROLE_VIEWER}, {"operator-token", "otto", ROLE_OPERATOR},
              {"admin-token", "ada", ROLE_ADMIN}};
  if (!strcmp(token, "store-down-token"))
    return HTTPD_AUTH_UNAVAILABLE;
  for (size_t i = 0; i < 3; i++)
    if (!strcmp(token, toks[i].tok)) {
      *role = toks[i].role;
      snprintf(user, ulen, "%s", toks[i].user);
      snprintf(tid, tlen, "tok%zu", i);
      return 0;
    }
  return -1;
}

static void handler(void *ud, const struct httpd_req *rq, struct httpd_resp *rs)
{
  (void)ud;
  __atomic_add_fetch(&handled, 1, __ATOMIC_SEQ_CST);
  json_t *params = json_object();
  for (int i = 0; i < rq->match->nparams; i++)
    json_object_set_new(params, rq->match->params[i].name, json_string(rq->match->params[i].value));
  char q[64];
  const char *status = httpd_query(rq, "status", q, sizeof q);
  httpd_json(rs, 200,
             json_pack("{s:s,s:o,s:s?,s:O?,s:I,s:s?}", "op", rq->match->route->op, "params", params, "user", rq->user,
                       "body", rq->json, "raw_len", (json_int_t)rq->body_len, "status", status));
}

static struct httpd *srv;
static unsigned port;

static void start(void)
{
  static struct listen_addr a;
  char err[256];
  cr_assert_eq(listen_parse("127.0.0.1:0", &a, err, sizeof err), 0, "%s", err);
  struct httpd_config cfg = {.addr = &a, .routes = table, .nroutes = NTABLE, .handler = handler, .auth = auth,
                             .timeout_s = 1, .now_ms = now_ms};
  cr_assert_eq(httpd_start(&cfg, &srv, err, sizeof err), 0, "%s", err);
  port = httpd_port(srv);
  cr_assert_gt(port, 0);
  handled = 0;
}

static void stop(void) { httpd_stop(srv); }

static int connect_srv(void)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(connect(fd, (struct sockaddr *)&in, sizeof in), 0);
  return fd;
}

/* sends raw bytes, reads the whole answer (Connection: close); returns the status */
static int raw(const char *req, size_t len, char *resp, size_t rlen)
{
  int fd = connect_srv();
  size_t off = 0;
  while (off < len) {
    ssize_t k = write(fd, req + off, len - off);
    if (k <= 0)
      break;
    off += (size_t)k;
  }
  size_t got = 0;
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0)
      break;
    ssize_t k = read(fd, resp + got, rlen - 1 - got);
    if (k <= 0)
      break;
    got += (size_t)k;
  }
  resp[got] = 0;
  close(fd);
  int status = 0;
  sscanf(resp, "HTTP/1.%*d %d", &status);
  return status;
}

static char resp[1 << 16];

static int req(const char *method, const char *path, const char *token, const char *ctype, const char *body)
{
  char r[1 << 15];
  int n = snprintf(r, sizeof r, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", method, path);
  if (token)
    n += snprintf(r + n, sizeof r - (size_t)n, "Authorization: Bearer %s\r\n", token);
  if (ctype)
    n += snprintf(r + n, sizeof r - (size_t)n, "Content-Type: %s\r\n", ctype);
  size_t blen = body ? strlen(body) : 0;
  n += snprintf(r + n, sizeof r - (size_t)n, "Content-Length: %zu\r\n\r\n%s", blen, body ? body : "");
  return raw(r, (size_t)n, resp, sizeof resp);
}

static const char *body_of(const char *r)
{
  const char *b = strstr(r, "\r\n\r\n");
  return b ? b + 4 : "";
}

static void assert_error(int status, int want, const char *code)
{
  cr_assert_eq(status, want, "status %d, want %d:\n%s", status, want, resp);
  json_error_t je;
  json_t *v = json_loads(body_of(resp), 0, &je);
  cr_assert(v, "error body is not JSON: %s", resp);
  const char *c = json_string_value(json_object_get(json_object_get(v, "error"), "code"));
  cr_assert(c && !strcmp(c, code), "code %s, want %s", c ? c : "(none)", code);
  cr_assert(json_is_string(json_object_get(json_object_get(v, "error"), "message")));
  json_decref(v);
}

TestSuite(httpd, .init = start, .fini = stop);

Test(httpd, open_route_needs_no_token)
{
  cr_assert_eq(req("GET", "/healthz", NULL, NULL, NULL), 200, "%s", resp);
  cr_assert(strstr(resp, "\"op\":\"healthz\""));
}

Test(httpd, api_routes_deny_without_a_valid_token)
{
  assert_error(req("GET", "/api/v1/runs", NULL, NULL, NULL), 401, "unauthorized");
  cr_assert(strstr(resp, "WWW-Authenticate: Bearer"), "%s", resp);
  assert_error(req("GET", "/api/v1/runs", "not-a-token", NULL, NULL), 401, "unauthorized");
  cr_assert_eq(handled, 0);
  cr_assert_eq(req("GET", "/api/v1/runs?status=failed", "viewer-token", NULL, NULL), 200, "%s", resp);
  cr_assert(strstr(resp, "\"user\":\"vera\"") && strstr(resp, "\"status\":\"failed\""), "%s", resp);
}

Test(httpd, roles_are_checked_per_route)
{
  assert_error(req("POST", "/api/v1/runs/01ABC/cancel", "viewer-token", NULL, NULL), 403, "forbidden");
  cr_assert_eq(req("POST", "/api/v1/runs/01ABC/cancel", "operator-token", NULL, NULL), 200);
  assert_error(req("POST", "/api/v1/tokens", "operator-token", "application/json", "{}"), 403, "forbidden");
  cr_assert_eq(req("POST", "/api/v1/tokens", "admin-token", "application/json", "{\"user\":\"bo\"}"), 200);
  cr_assert(strstr(resp, "\"body\":{\"user\":\"bo\"}"), "%s", resp);
  cr_assert_eq(handled, 2);
}

Test(httpd, unknown_api_paths_are_denied_and_wrong_methods_are_405)
{
  assert_error(req("GET", "/api/v1/secrets", "admin-token", NULL, NULL), 403, "forbidden");
  assert_error(req("GET", "/api/v1/secrets", NULL, NULL, NULL), 401, "unauthorized");
  assert_error(req("DELETE", "/api/v1/runs/01ABC", "admin-token", NULL, NULL), 405, "method_not_allowed");
  cr_assert(strstr(resp, "Allow: GET"), "%s", resp);
  assert_error(req("GET", "/no/such/page", NULL, NULL, NULL), 404, "not_found");
  cr_assert_eq(handled, 0);
}

Test(httpd, traversal_and_bad_ids_never_reach_a_handler)
{
  const char *bad[] = {"/api/v1/runs/..",        "/api/v1/runs/%2e%2e",     "/api/v1/runs/..%2F..%2Fetc",
                       "/api/v1/runs/a%00b",     "/api/v1/runs/%ff%fe",     "/api/v1/runs/x%2",
                       "/api/v1/runs/a%5cb",     "/api/v1/runs/01ABC/logs/%2e"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_error(req("GET", bad[i], "admin-token", NULL, NULL), 400, "bad_request");
  cr_assert_eq(handled, 0);
  /* a decoded id that is fine reaches the handler decoded */
  cr_assert_eq(req("GET", "/api/v1/runs/01ABC/logs/train%20model", "viewer-token", NULL, NULL), 200);
  cr_assert(strstr(resp, "\"step\":\"train model\""), "%s", resp);
}

Test(httpd, bodies_are_checked_before_the_operation)
{
  const char *tok = "admin-token", *p = "/api/v1/tokens";
  assert_error(req("POST", p, tok, "text/plain", "{}"), 415, "unsupported_media_type");
  assert_error(req("POST", p, tok, "application/json", "{\"a\":"), 400, "bad_request");
  assert_error(req("POST", p, tok, "application/json", "{\"a\":1,\"a\":2}"), 400, "bad_request");
  assert_error(req("POST", p, tok, "application/json", "{\"a\":\"\\u0000\"}"), 400, "bad_request");
  assert_error(req("POST", p, tok, "application/json", "{\"a\":\"\xff\xfe\"}"), 400, "bad_request");
  char deep[200] = "";
  for (int i = 0; i < 65; i++)
    strcat(deep, "[");
  for (int i = 0; i < 65; i++)
    strcat(deep, "]");
  assert_error(req("POST", p, tok, "application/json", deep), 400, "bad_request");
  char ok[200];
  memset(ok, '[', 64);
  memset(ok + 64, ']', 64);
  ok[128] = 0;
  cr_assert_eq(req("POST", p, tok, "application/json; charset=utf-8", ok), 200, "%s", resp);
  cr_assert_eq(handled, 1);
}

Test(httpd, oversized_bodies_are_413_declared_or_not)
{
  char *big = malloc(5000);
  memset(big, 'x', 4999);
  big[4999] = 0;
  assert_error(req("POST", "/api/v1/workflows", "operator-token", "application/yaml", big), 413, "payload_too_large");
  /* chunked, with no length declared: counted as it arrives */
  char r[8192];
  int n = snprintf(r, sizeof r,
                   "POST /api/v1/workflows HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer "
                   "operator-token\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n",
                   4999, big);
  assert_error(raw(r, (size_t)n, resp, sizeof resp), 413, "payload_too_large");
  free(big);
  cr_assert_eq(req("POST", "/api/v1/workflows", "operator-token", "application/yaml", "name: x\n"), 200);
  cr_assert(strstr(resp, "\"raw_len\":8"), "%s", resp);
  cr_assert_eq(handled, 1);
}

Test(httpd, ten_failures_a_minute_block_the_address)
{
  for (int i = 0; i < 10; i++)
    assert_error(req("GET", "/api/v1/runs", "wrong", NULL, NULL), 401, "unauthorized");
  /* even a good token is refused while blocked */
  assert_error(req("GET", "/api/v1/runs", "viewer-token", NULL, NULL), 429, "too_many_requests");
  cr_assert(strstr(resp, "Retry-After: 60"), "%s", resp);
  fake_now += 61000;
  cr_assert_eq(req("GET", "/api/v1/runs", "viewer-token", NULL, NULL), 200);
}

Test(httpd, a_token_that_cannot_be_checked_is_503_and_not_a_failure)
{
  /* the store cannot be read: the server's trouble, never held against the
   * client (it used to be a 401, and ten of them a 429 for a minute) */
  for (int i = 0; i < 12; i++) {
    assert_error(req("GET", "/api/v1/runs", "store-down-token", NULL, NULL), 503, "unavailable");
    cr_assert(strstr(resp, "Retry-After: 1"), "%s", resp);
  }
  cr_assert_eq(req("GET", "/api/v1/runs", "viewer-token", NULL, NULL), 200, "%s", resp);
  cr_assert_eq(handled, 1);
}

Test(httpd, a_client_that_never_finishes_is_dropped_and_others_are_served)
{
  int slow = connect_srv();
  cr_assert_gt(write(slow, "GET /healthz HTTP/1.1\r\nHost:", 29), 0);
  int idle[200];
  for (int i = 0; i < 200; i++)
    idle[i] = connect_srv();
  cr_assert_eq(req("GET", "/healthz", NULL, NULL, NULL), 200);
  /* the server closes the unfinished request after its 1 s timeout (bounded wait) */
  struct pollfd p = {slow, POLLIN, 0};
  char b[256];
  int closed = 0;
  for (int i = 0; i < 100 && !closed; i++)
    if (poll(&p, 1, 100) > 0) {
      ssize_t k = read(slow, b, sizeof b);
      closed = k <= 0 || strstr(b, "HTTP/1.1");
    }
  cr_assert(closed, "the unfinished connection stayed open");
  close(slow);
  for (int i = 0; i < 200; i++)
    close(idle[i]);
}

Test(pure, route_matching_and_params)
{
  struct route_match m;
  cr_assert_eq(route_find(table, NTABLE, "GET", "/api/v1/runs/01ABC/logs/train", &m), 0);
  cr_assert_str_eq(m.route->op, "get_logs");
  cr_assert_str_eq(route_param(&m, "id"), "01ABC");
  cr_assert_str_eq(route_param(&m, "step"), "train");
  cr_assert_eq(route_find(table, NTABLE, "GET", "/api/v1/runs/", &m), ROUTE_E_NOPATH);
  cr_assert_eq(route_find(table, NTABLE, "GET", "/api/v1/runs//logs/x", &m), ROUTE_E_NOPATH);
  cr_assert_eq(route_find(table, NTABLE, "GET", "/api/v1/%72uns", &m), ROUTE_E_NOPATH);
  cr_assert_eq(route_find(table, NTABLE, "PUT", "/api/v1/tokens/t1", &m), ROUTE_E_METHOD);
  cr_assert_str_eq(m.allow, "DELETE");
  cr_assert_eq(route_find(table, NTABLE, "GET", "/api/v1/runs/%2E", &m), ROUTE_E_BADPATH);
  char longid[400] = "/api/v1/runs/";
  memset(longid + 13, 'a', 300);
  cr_assert_eq(route_find(table, NTABLE, "GET", longid, &m), ROUTE_E_BADPATH);
  cr_assert_eq(role_parse("operator"), ROLE_OPERATOR);
  cr_assert_eq(role_parse("root"), -1);
}

Test(pure, listen_addresses_and_the_loopback_rule)
{
  struct listen_addr a;
  char err[256];
  bool warn;
  cr_assert_eq(listen_parse("127.0.0.1:7700", &a, err, sizeof err), 0);
  cr_assert(a.loopback);
  cr_assert_eq(listen_parse("[::1]:7700", &a, err, sizeof err), 0);
  cr_assert(a.loopback);
  cr_assert_eq(listen_parse("localhost:80", &a, err, sizeof err), 0);
  cr_assert(a.loopback);
  cr_assert_eq(listen_parse("unix:/tmp/weft.sock", &a, err, sizeof err), 0);
  cr_assert(a.loopback);
  cr_assert_eq(listen_parse("0.0.0.0:7700", &a, err, sizeof err), 0);
  cr_assert_not(a.loopback);
  cr_assert_eq(listen_policy(&a, false, false, &warn, err, sizeof err), WEFT_EDENIED);
  cr_assert(strstr(err, "--tls-cert") && strstr(err, "--insecure-http"), "%s", err);
  cr_assert_eq(listen_policy(&a, true, false, &warn, err, sizeof err), 0);
  cr_assert_not(warn);
  cr_assert_eq(listen_policy(&a, false, true, &warn, err, sizeof err), 0);
  cr_assert(warn);
  cr_assert_eq(listen_parse("example.com:80", &a, err, sizeof err), WEFT_EINVAL);
  cr_assert(strstr(err, "no name lookups"), "%s", err);
  cr_assert_eq(listen_parse("127.0.0.1", &a, err, sizeof err), WEFT_EINVAL);
  cr_assert_eq(listen_parse("127.0.0.1:99999", &a, err, sizeof err), WEFT_EINVAL);
  cr_assert_eq(listen_parse("[::1:80", &a, err, sizeof err), WEFT_EINVAL);
  cr_assert_eq(listen_parse("unix:", &a, err, sizeof err), WEFT_EINVAL);
}

Test(pure, tokens_are_random_hashed_and_compared_in_constant_time)
{
  char a[TOKEN_LEN + 1], b[TOKEN_LEN + 1], ha[65], hb[65];
  cr_assert_eq(token_generate(a), 0);
  cr_assert_eq(token_generate(b), 0);
  cr_assert(token_well_formed(a));
  cr_assert_str_neq(a, b);
  cr_assert_eq(strlen(a), TOKEN_LEN);
  token_hash_hex(a, ha);
  token_hash_hex(a, hb);
  cr_assert(ct_equal(ha, hb, 64));
  token_hash_hex(b, hb);
  cr_assert_not(ct_equal(ha, hb, 64));
  cr_assert_not(token_well_formed("weft_short"));
  /* RFC 4231 test case 2 */
  char mac[65];
  hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, mac);
  cr_assert_str_eq(mac, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  /* a key longer than the block is hashed first (RFC 4231 test case 6) */
  unsigned char key[131];
  memset(key, 0xaa, sizeof key);
  hmac_sha256_hex(key, sizeof key, "Test Using Larger Than Block-Size Key - Hash Key First", 54, mac);
  cr_assert_str_eq(mac, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

Test(pure, the_failure_limiter_is_bounded_and_per_address)
{
  struct authfail *a = authfail_new();
  for (int i = 0; i < 9; i++)
    cr_assert_not(authfail_record(a, "10.0.0.1", 1000 + i));
  cr_assert_not(authfail_blocked(a, "10.0.0.1", 2000, NULL));
  cr_assert(authfail_record(a, "10.0.0.1", 2000));
  int retry;
  cr_assert(authfail_blocked(a, "10.0.0.1", 2001, &retry));
  cr_assert_eq(retry, 60);
  cr_assert_not(authfail_blocked(a, "10.0.0.2", 2001, NULL));
  cr_assert_not(authfail_blocked(a, "10.0.0.1", 62001, NULL));
  /* failures spread over more than a minute never block */
  for (int i = 0; i < 30; i++)
    authfail_record(a, "10.0.0.3", 100000 + (int64_t)i * 7000);
  cr_assert_not(authfail_blocked(a, "10.0.0.3", 100000 + 30 * 7000, NULL));
  /* a flood of addresses does not grow memory (the table is fixed) and evicts */
  char addr[32];
  for (int i = 0; i < 100000; i++) {
    snprintf(addr, sizeof addr, "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
    authfail_record(a, addr, 300000);
  }
  authfail_free(a);
}

Test(pure, reqjson_limits)
{
  json_t *v;
  char err[256];
  cr_assert_eq(reqjson_parse("", 0, 100, &v, err, sizeof err), 0);
  cr_assert(json_is_object(v));
  json_decref(v);
  cr_assert_eq(reqjson_parse("{\"a\":[1,2]}", 11, 100, &v, err, sizeof err), 0);
  cr_assert_eq(reqjson_depth(v, 100), 2);
  json_decref(v);
  cr_assert_eq(reqjson_parse("{\"a\":[1,2]}", 11, 5, &v, err, sizeof err), APIERR_TOO_LARGE);
  cr_assert_eq(reqjson_parse("{\"a\":1}x", 8, 100, &v, err, sizeof err), APIERR_BAD_REQUEST);
  cr_assert(strstr(err, "line 1"), "%s", err);
  /* NUL bytes are not blanks: a body of them is not an empty one */
  cr_assert_eq(reqjson_parse("\0", 1, 100, &v, err, sizeof err), APIERR_BAD_REQUEST);
  cr_assert_null(v);
  cr_assert_eq(reqjson_parse(" \0 ", 3, 100, &v, err, sizeof err), APIERR_BAD_REQUEST);
  cr_assert_eq(reqjson_parse(" \r\n\t", 4, 100, &v, err, sizeof err), 0);
  cr_assert(json_is_object(v));
  json_decref(v);
}

Test(pure, request_head_parsing)
{
  char out[8];
  cr_assert_str_eq(reqparse_query("a%2Fb+c", out, sizeof out), "a/b c");
  cr_assert_null(reqparse_query("%00", out, sizeof out));
  cr_assert_null(reqparse_query("%f", out, sizeof out));
  cr_assert_null(reqparse_query("%zz", out, sizeof out));
  cr_assert_null(reqparse_query("12345678", out, sizeof out)); /* does not fit */
  cr_assert_str_eq(reqparse_query("1234567", out, sizeof out), "1234567");
  cr_assert_null(reqparse_query(NULL, out, sizeof out));
  const char *h = "bearer \t tok";
  cr_assert_eq(reqparse_bearer(h), h + 9);
  cr_assert_null(reqparse_bearer("Bearer "));
  cr_assert_null(reqparse_bearer("Bearer \t "));
  cr_assert_null(reqparse_bearer("Basic abc"));
  cr_assert_null(reqparse_bearer("Bearertok"));
  cr_assert(reqparse_json_media("Application/JSON; charset=utf-8"));
  cr_assert(!reqparse_json_media("application/jsonx"));
  cr_assert(!reqparse_json_media("text/plain"));
  cr_assert(!reqparse_json_media(""));
  cr_assert(!reqparse_declared_over("1048576", 1048576));
  cr_assert(reqparse_declared_over("1048577", 1048576));
  cr_assert(reqparse_declared_over("-1", 1048576));
  cr_assert(reqparse_declared_over("99999999999999999999999", 1048576));
  cr_assert(!reqparse_declared_over(NULL, 10));
}

/* ---- server-sent events through the real front ------------------------ */

#include "server/sse.h"

static struct sse_hub *hub;

static long sse_read_cb(void *cls, char *buf, size_t max) { return (long)sse_sub_read(cls, buf, max); }
static void sse_free_cb(void *cls) { sse_sub_release(cls); }

static void sse_handler(void *ud, const struct httpd_req *rq, struct httpd_resp *rs)
{
  (void)ud;
  char run[64];
  const char *filter = httpd_query(rq, "run", run, sizeof run);
  struct sse_sub *s = sse_subscribe(hub, rq->conn, filter);
  if (!s) {
    httpd_error(rs, APIERR_UNAVAILABLE, "the server is stopping");
    return;
  }
  sse_sub_prime(s, ": hello\n\n", 9);
  rs->status = 200;
  rs->ctype = "text/event-stream";
  rs->stream_read = sse_read_cb;
  rs->stream_free = sse_free_cb;
  rs->stream_cls = s;
}

static const struct route sse_table[] = {
    {"GET", "/api/v1/events/stream", ROLE_VIEWER, "event_stream", BODY_JSON, 0},
};

static void sse_start(void)
{
  static struct listen_addr a;
  char err[256];
  hub = sse_hub_new(300);
  cr_assert(hub);
  cr_assert_eq(listen_parse("127.0.0.1:0", &a, err, sizeof err), 0);
  struct httpd_config cfg = {.addr = &a, .routes = sse_table, .nroutes = 1, .handler = sse_handler, .auth = auth,
                             .timeout_s = 30, .now_ms = now_ms};
  cr_assert_eq(httpd_start(&cfg, &srv, err, sizeof err), 0, "%s", err);
  port = httpd_port(srv);
}

static void sse_stop(void)
{
  sse_hub_close(hub);
  httpd_stop(srv);
  sse_hub_free(hub);
}

static int sse_connect(const char *query, int rcvbuf)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (rcvbuf)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  cr_assert_eq(connect(fd, (struct sockaddr *)&in, sizeof in), 0);
  char r[256];
  int n = snprintf(r, sizeof r, "GET /api/v1/events/stream%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer viewer-token\r\n\r\n",
                   query);
  cr_assert_eq(write(fd, r, (size_t)n), n);
  return fd;
}

/* reads until `want` appears in the stream or the stream ends; the text read
 * is appended to out (capped); returns 1 found, 0 ended or 10 s passed */
static int sse_until(int fd, const char *want, char *out, size_t outlen)
{
  size_t got = strlen(out);
  for (int i = 0; i < 1000; i++) {
    if (strstr(out, want))
      return 1;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10) <= 0)
      continue;
    char b[4096];
    ssize_t k = read(fd, b, sizeof b);
    if (k <= 0)
      return strstr(out, want) != NULL;
    size_t take = (size_t)k < outlen - 1 - got ? (size_t)k : outlen - 1 - got;
    memcpy(out + got, b, take);
    got += take;
    out[got] = 0;
  }
  return strstr(out, want) != NULL;
}

static void wait_subscribers(size_t n)
{
  for (int i = 0; i < 500 && sse_subscribers(hub) < n; i++)
    usleep(10000);
  cr_assert_eq(sse_subscribers(hub), n);
}

TestSuite(sse, .init = sse_start, .fini = sse_stop);

Test(sse, every_subscriber_gets_every_event_in_order)
{
  int fds[3];
  for (int i = 0; i < 3; i++)
    fds[i] = sse_connect("", 0);
  wait_subscribers(3);
  for (uint64_t id = 1; id <= 200; id++)
    sse_publish(hub, id, "step", "{\"run\":\"r1\",\"status\":\"succeeded\"}", "r1");
  static char out[1 << 16];
  for (int i = 0; i < 3; i++) {
    out[0] = 0;
    cr_assert(sse_until(fds[i], "id: 200\n", out, sizeof out), "client %d got: %.300s", i, out);
    cr_assert(strstr(out, "text/event-stream"));
    cr_assert(strstr(out, ": hello"));
    /* ids in order, none missing */
    const char *p = out;
    for (uint64_t id = 1; id <= 200; id++) {
      char want[32];
      snprintf(want, sizeof want, "id: %llu\nevent: step\n", (unsigned long long)id);
      const char *q = strstr(p, want);
      cr_assert(q, "client %d lacks event %llu after its predecessor", i, (unsigned long long)id);
      p = q + 1;
    }
    close(fds[i]);
  }
}

Test(sse, a_slow_subscriber_is_dropped_and_others_keep_up)
{
  int slow = sse_connect("", 4096); /* never reads */
  int fast = sse_connect("", 0);
  wait_subscribers(2);
  static char data[600];
  memset(data, 'x', sizeof data - 3);
  data[0] = '"';
  data[sizeof data - 3] = '"';
  data[sizeof data - 2] = 0;
  static char out[1 << 16];
  out[0] = 0;
  /* events of ~640 bytes until the slow one is dropped: past its 256 KiB
   * buffer and the kernel's socket buffers (loopback grows them to MiBs) */
  for (uint64_t id = 1; id <= 40000 && !sse_dropped_total(hub); id++) {
    sse_publish(hub, id, "log", data, NULL);
    if (id % 50 == 0) { /* the fast client reads as it goes; only the tail is kept */
      char want[32];
      snprintf(want, sizeof want, "id: %llu\n", (unsigned long long)id);
      cr_assert(sse_until(fast, want, out, sizeof out), "fast client stalled at %llu", (unsigned long long)id);
      out[0] = 0;
    }
  }
  cr_assert_eq(sse_dropped_total(hub), 1, "dropped %llu", (unsigned long long)sse_dropped_total(hub));
  close(slow);
  close(fast);
}

Test(sse, idle_streams_get_heartbeats_and_filters_hold)
{
  int all = sse_connect("", 0), one = sse_connect("?run=r2", 0);
  wait_subscribers(2);
  static char out[1 << 14];
  out[0] = 0;
  cr_assert(sse_until(all, ": heartbeat", out, sizeof out), "no heartbeat: %s", out);
  sse_publish(hub, 1, "run", "{\"run\":\"r1\"}", "r1");
  sse_publish(hub, 2, "run", "{\"run\":\"r2\"}", "r2");
  out[0] = 0;
  cr_assert(sse_until(one, "id: 2\n", out, sizeof out));
  cr_assert_null(strstr(out, "id: 1\n"), "the r2 stream got r1's event: %s", out);
  out[0] = 0;
  cr_assert(sse_until(all, "id: 2\n", out, sizeof out));
  cr_assert(strstr(out, "id: 1\n"));
  /* closing the hub ends every stream: the last (empty) chunk arrives */
  sse_hub_close(hub);
  out[0] = 0;
  cr_assert(sse_until(all, "0\r\n\r\n", out, sizeof out), "stream not ended: %s", out);
  close(all);
  close(one);
}
