/* remote.c — the HTTP client of the CLI against a server (remote.h):
 * libcurl's easy interface, loaded on first use (exec/curl_dl.h), one
 * blocking call at a time, and the way back from an API error to the
 * local command's `weft: ...` message and exit code. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include "cli/remote.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmds.h"
#include "exec/curl_dl.h"
#include "ops/err.h"
#include "util/jsonfmt.h"
#include "util/term.h"

#define CONNECT_TIMEOUT_MS 10000L
#define CALL_TIMEOUT_MS 600000L            /* a deploy of a big file; every other call is quick */
#define ANSWER_MAX (512u * 1024u * 1024u)  /* the largest answer kept in memory */
#define ERROR_BODY_MAX (1024u * 1024u)

/* the commands that go through a server (SERVER.md §5) */
static const char *const remote_cmds[] = {"runs",   "status",   "logs",  "cancel", "retry",
                                          "approvals", "approve", "reject", "event",  "deploy",
                                          "start",  "backfill", "schedules", "token", "audit",
                                          "workflows", NULL};

static bool is_remote_cmd(const char *cmd)
{
  for (const char *const *k = remote_cmds; *k; k++)
    if (!strcmp(*k, cmd))
      return true;
  return false;
}

bool remote_wanted(const struct cli *c) { return c->server && *c->server; }

int remote_precheck(struct cli *c, const char *cmd)
{
  if (!remote_wanted(c))
    return 0;
  if (!is_remote_cmd(cmd)) {
    /* $WEFT_SERVER is ignored by local-only commands; --server is a mistake
     * (except with help and version, which say the same either way) */
    if (!c->server_flag || !strcmp(cmd, "help") || !strcmp(cmd, "version")) {
      c->server = NULL;
      return 0;
    }
    cli_err("`weft %s` does not go through a server; --server works with runs, status, logs, "
            "cancel, retry, approvals, approve, reject, event, deploy, start, backfill, "
            "schedules, token, audit and workflows",
            cmd);
    return EXIT_USAGE;
  }
  if (c->as) {
    cli_err("--as does not exist with --server: over a server you act as the user of "
            "WEFT_TOKEN (to act as someone else, use a token of theirs: `weft token create "
            "USER`)");
    return EXIT_USAGE;
  }
  return 0;
}

static bool token_ok(const char *t)
{
  for (; *t; t++)
    if (*t <= ' ' || *t > '~')
      return false;
  return true;
}

int remote_open(const struct cli *c, const char *url, struct remote *r)
{
  memset(r, 0, sizeof *r);
  if (!url)
    url = c->server;
  if (!url || !*url)
    url = REMOTE_DEFAULT_URL;
  const char *from = c->server_flag ? "--server" : c->server ? "WEFT_SERVER" : "the default server";
  if (!strncmp(url, "unix:", 5)) {
    if (url[5] != '/') {
      cli_err("%s \"%s\": a unix socket is unix:/absolute/path", from, url);
      return EXIT_USAGE;
    }
    r->unix_path = strdup(url + 5);
    r->base = strdup("http://localhost");
  } else if ((!strncmp(url, "http://", 7) && url[7] && url[7] != '/') ||
             (!strncmp(url, "https://", 8) && url[8] && url[8] != '/')) {
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
      n--;
    r->base = strndup(url, n);
  } else {
    cli_err("%s \"%s\" is not a server URL: give http://HOST:PORT, https://HOST:PORT or "
            "unix:/path/to/socket",
            from, url);
    return EXIT_USAGE;
  }
  r->shown = strdup(url);
  const char *tok = getenv("WEFT_TOKEN");
  if (!tok || !*tok) {
    remote_close(r);
    cli_err("talking to the weft server at %s needs a token: set WEFT_TOKEN (an admin makes "
            "one on the server's machine with `weft token create USER`, without --server)",
            url);
    return EXIT_USAGE;
  }
  if (!token_ok(tok)) {
    remote_close(r);
    cli_err("WEFT_TOKEN holds spaces or characters a token never has; set it to the line "
            "`weft token create` printed");
    return EXIT_USAGE;
  }
  if (asprintf(&r->auth, "Authorization: Bearer %s", tok) < 0)
    r->auth = NULL;
  if (!r->base || !r->shown || !r->auth || (r->unix_path == NULL && !strncmp(url, "unix:", 5))) {
    remote_close(r);
    cli_err("out of memory");
    return EXIT_USAGE;
  }
  const char *err = NULL;
  static bool inited;
  if (curl_dl_load(&err) != 0) {
    remote_close(r);
    cli_err("--server needs libcurl: %s", err);
    return EXIT_USAGE;
  }
  if (!inited) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    inited = true;
  }
  return 0;
}

void remote_close(struct remote *r)
{
  free(r->base);
  free(r->unix_path);
  free(r->shown);
  if (r->auth) {
    memset(r->auth, 0, strlen(r->auth));
    free(r->auth);
  }
  memset(r, 0, sizeof *r);
}

char *remote_escape(const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t n = strlen(s);
  char *o = malloc(3 * n + 1), *p = o;
  if (!o)
    return NULL;
  for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
    if ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') ||
        *q == '-' || *q == '_' || *q == '.' || *q == '~') {
      *p++ = (char)*q;
    } else {
      *p++ = '%';
      *p++ = hex[*q >> 4];
      *p++ = hex[*q & 15];
    }
  }
  *p = '\0';
  return o;
}

/* ---- one call ------------------------------------------------------------- */

/* cli_err unless r is quiet */
__attribute__((format(printf, 2, 3))) static void rerr(const struct remote *r, const char *fmt, ...)
{
  if (r->quiet)
    return;
  char *m = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&m, fmt, ap) < 0)
    m = NULL;
  va_end(ap);
  cli_err("%s", m ? m : "out of memory");
  free(m);
}

struct sink {
  CURL *h;
  char *buf;
  size_t len, cap, max;
  bool overflow;
  /* streaming to stdout (2xx only; an error answer is buffered) */
  bool stream;
  const char *prefix;
  bool at_line_start;
  int decided; /* 0 unknown, 1 stream, 2 buffer */
  bool quiet_404; /* a 404 is returned, not printed */
};

static bool keep(struct sink *k, const char *p, size_t n)
{
  if (k->len + n + 1 > k->max) {
    k->overflow = true;
    return false;
  }
  if (k->len + n + 1 > k->cap) {
    size_t nc = k->cap ? k->cap : 4096;
    while (nc < k->len + n + 1)
      nc *= 2;
    char *g = realloc(k->buf, nc);
    if (!g)
      return false;
    k->buf = g;
    k->cap = nc;
  }
  memcpy(k->buf + k->len, p, n);
  k->len += n;
  k->buf[k->len] = '\0';
  return true;
}

static size_t on_data(char *p, size_t sz, size_t nm, void *ud)
{
  struct sink *k = ud;
  size_t n = sz * nm;
  if (k->stream && !k->decided) {
    long st = 0;
    curl_easy_getinfo(k->h, CURLINFO_RESPONSE_CODE, &st);
    k->decided = st >= 200 && st < 300 ? 1 : 2;
    if (k->decided == 2)
      k->max = ERROR_BODY_MAX;
  }
  if (k->decided == 1) {
    for (size_t i = 0; i < n; i++) {
      if (k->at_line_start && k->prefix)
        fputs(k->prefix, stdout);
      fputc(p[i], stdout);
      k->at_line_start = p[i] == '\n';
    }
    fflush(stdout);
    return n;
  }
  return keep(k, p, n) ? n : 0;
}

static enum ops_err kind_of(long status)
{
#define X(name, st, code, ex) \
  if (status == st)           \
    return OPS_E_##name;
  OPS_ERR_MAP(X)
#undef X
  return status >= 500 ? OPS_E_INTERNAL : OPS_E_BAD_REQUEST;
}

/* Prints the error of a non-2xx answer and returns its exit code. */
static int report(struct remote *r, long status, const char *body)
{
  json_t *j = body ? json_loads(body, 0, NULL) : NULL;
  const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(j, "problems"), i, p) /* 422 of a deploy: file:line:col: message */
    if (json_is_string(p) && !r->quiet)
      fprintf(stderr, "%s\n", term_safe(json_string_value(p)));
  enum ops_err kind = kind_of(status);
  if (status == 401)
    rerr(r, "%s (the weft server at %s refused WEFT_TOKEN: an admin makes a new one with `weft "
            "token create USER`)",
            msg ? msg : "unauthorized", r->shown);
  else if (msg)
    rerr(r, "%s", msg);
  else
    rerr(r, "the weft server at %s answered HTTP %ld without an error message (is it a weft "
            "server?)",
            r->shown, status);
  json_decref(j);
  return ops_err_exit(kind);
}

static int perform(struct remote *r, const char *method, const char *path, const char *ctype,
                   const char *body, size_t len, struct sink *k, bool timed, long *status)
{
  char *url = NULL;
  struct curl_slist *hdr = NULL;
  int code = EXIT_USAGE;
  *status = 0;
  CURL *h = curl_easy_init();
  if (!h || asprintf(&url, "%s%s", r->base, path) < 0) {
    url = NULL;
    rerr(r, "out of memory");
    goto out;
  }
  k->h = h;
  hdr = curl_slist_append(hdr, r->auth);
  hdr = curl_slist_append(hdr, "Accept: application/json, text/plain");
  hdr = curl_slist_append(hdr, "Expect:");
  char ct[128];
  if (body) {
    snprintf(ct, sizeof ct, "Content-Type: %s", ctype ? ctype : "application/json");
    hdr = curl_slist_append(hdr, ct);
  }
  if (!hdr) {
    rerr(r, "out of memory");
    goto out;
  }
  curl_easy_setopt(h, CURLOPT_URL, url);
  if (r->unix_path)
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, r->unix_path);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
  if (timed)
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, CALL_TIMEOUT_MS);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "weft/" WEFT_VERSION);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  const char *ca = getenv("WEFT_CA_CERT"); /* a private CA's (or a self-signed) certificate, PEM */
  if (ca && *ca)
    curl_easy_setopt(h, CURLOPT_CAINFO, ca);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, k);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  if (body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  } else if (!strcmp(method, "POST")) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
  }
  CURLcode cc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  if (cc != CURLE_OK) {
    if (k->overflow)
      rerr(r, "the answer of the weft server at %s is over %u MiB; ask for less (e.g. --limit)",
              r->shown, (unsigned)(ANSWER_MAX >> 20));
    else if (cc == CURLE_PEER_FAILED_VERIFICATION)
      rerr(r, "cannot reach the weft server at %s: its TLS certificate is not trusted here (%s); "
              "set WEFT_CA_CERT to the PEM file of its CA (or of the certificate itself)",
           r->shown, curl_easy_strerror(cc));
    else if (*status == 0)
      rerr(r, "cannot reach the weft server at %s: %s (is `weft server` running there? check "
              "--server or WEFT_SERVER)",
              r->shown, curl_easy_strerror(cc));
    else
      rerr(r, "the answer of the weft server at %s was cut: %s", r->shown, curl_easy_strerror(cc));
    code = EXIT_USAGE;
    goto out;
  }
  if (*status == 404 && k->quiet_404)
    code = EXIT_NOT_FOUND;
  else if (*status < 200 || *status >= 300)
    code = report(r, *status, k->buf);
  else
    code = 0;
out:
  curl_slist_free_all(hdr);
  if (h)
    curl_easy_cleanup(h);
  free(url);
  return code;
}

int remote_call(struct remote *r, const char *method, const char *path, const char *ctype,
                const char *body, size_t len, long *status, char **out, size_t *outlen)
{
  struct sink k = {.max = ANSWER_MAX};
  long st = 0;
  int code = perform(r, method, path, ctype, body, len, &k, true, &st);
  if (status)
    *status = st;
  if (code == 0 && out) {
    *out = k.buf ? k.buf : strdup("");
    if (outlen)
      *outlen = k.len;
    k.buf = NULL;
  }
  free(k.buf);
  return code;
}

int remote_json(struct remote *r, const char *method, const char *path, const json_t *body,
                json_t **out, long *status)
{
  char *txt = body ? wjson_dumps(body, JSON_COMPACT) : NULL;
  char *ans = NULL;
  if (body && !txt) {
    cli_err("out of memory");
    return EXIT_USAGE;
  }
  int code = remote_call(r, method, path, "application/json", txt, txt ? strlen(txt) : 0, status,
                         &ans, NULL);
  free(txt);
  if (code)
    return code;
  json_error_t je;
  json_t *j = json_loads(ans, JSON_DECODE_ANY, &je);
  free(ans);
  if (!j) {
    cli_err("the weft server at %s answered %s %s with something that is not JSON (%s); is "
            "it a weft server of this version?",
            r->shown, method, path, je.text);
    return EXIT_USAGE;
  }
  if (out)
    *out = j;
  else
    json_decref(j);
  return 0;
}

int remote_stream(struct remote *r, const char *path, const char *prefix, bool quiet_404, long *status)
{
  struct sink k = {.max = ERROR_BODY_MAX, .stream = true, .prefix = prefix, .at_line_start = true,
                   .quiet_404 = quiet_404};
  long st = 0;
  int code = perform(r, "GET", path, NULL, NULL, 0, &k, false, &st);
  if (k.decided == 1 && !k.at_line_start) {
    fputc('\n', stdout);
    fflush(stdout);
  }
  if (status)
    *status = st;
  free(k.buf);
  return code;
}
