/* fuzz_request.c — libFuzzer entry point for what the server reads from a
 * client before any operation runs, all four parts of a request:
 *   the path   route matching over the real route table (api_routes.c) and
 *              the percent-decoding of ids (route.c);
 *   the query  each NAME=VALUE decoded as handlers read them (reqparse.c);
 *   headers    the Bearer token, the media type, the declared length;
 *   the body   size, UTF-8, JSON, depth, duplicate keys (reqjson.c).
 * The input is "METHOD PATH[?QUERY]\nName: value\n...\n\nBODY" (no blank
 * line: no body).
 *
 * Checks: a match names a route of the table whose method is the request's;
 * every decoded parameter is a non-empty UTF-8 string without '/', '\\',
 * control bytes, and is not "." or ".."; a decoded query value fits its
 * buffer and has no NUL; a Bearer token points inside its header and is not
 * empty; an accepted body has depth <= 64 and nothing refused leaks a value. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/api_routes.h"
#include "server/reqjson.h"
#include "server/reqparse.h"
#include "server/route.h"
#include "util/utf8.h"

static void check_path(const char *method, const char *path)
{
  struct route_match m;
  int rc = route_find(api_routes, api_routes_count, method, path, &m);
  if (rc == ROUTE_E_METHOD && !m.allow[0])
    abort();
  if (rc != 0)
    return;
  if (strcmp(m.route->method, method))
    abort();
  for (int i = 0; i < m.nparams; i++) {
    const char *v = m.params[i].value;
    size_t n = strlen(v);
    if (!n || n > ROUTE_PARAM_MAX || !strcmp(v, ".") || !strcmp(v, "..") || strchr(v, '/') || strchr(v, '\\') ||
        !utf8_valid((const unsigned char *)v, n))
      abort();
    for (size_t k = 0; k < n; k++)
      if ((unsigned char)v[k] < 0x20 || v[k] == 0x7f)
        abort();
  }
}

static void check_query(char *q)
{
  for (char *pair = strtok(q, "&"); pair; pair = strtok(NULL, "&")) {
    char *eq = strchr(pair, '=');
    const char *raw = eq ? eq + 1 : "";
    char out[64];
    memset(out, 'Z', sizeof out);
    const char *v = reqparse_query(raw, out, sizeof out);
    if (v && (v != out || strlen(out) >= sizeof out))
      abort();
    if (v && strlen(out) > strlen(raw))
      abort(); /* decoding never grows a value */
  }
}

static void check_header(const char *name, const char *value)
{
  if (!strcasecmp(name, "Authorization")) {
    const char *t = reqparse_bearer(value);
    if (t && (t < value || t >= value + strlen(value) || !*t || *t == ' '))
      abort();
  } else if (!strcasecmp(name, "Content-Type")) {
    if (reqparse_json_media(value) && strncasecmp(value, "application/json", 16))
      abort();
  } else if (!strcasecmp(name, "Content-Length")) {
    bool over = reqparse_declared_over(value, REQJSON_MAX_BODY);
    if (!over && strtoull(value, NULL, 10) > REQJSON_MAX_BODY)
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 1 << 16)
    return 0;
  char *in = malloc(size + 1);
  if (!in)
    return 0;
  memcpy(in, data, size);
  in[size] = 0;
  /* the body: after the first blank line, as raw bytes (may hold NULs) */
  const uint8_t *blank = NULL;
  for (size_t i = 0; i + 1 < size; i++)
    if (data[i] == '\n' && data[i + 1] == '\n') {
      blank = data + i;
      break;
    }
  size_t head_len = blank ? (size_t)(blank - data) : size;
  in[head_len] = 0;
  /* the request line */
  char *save = NULL, *line = strtok_r(in, "\n", &save);
  if (line) {
    char *sp = strchr(line, ' ');
    const char *method = "GET";
    char *target = line;
    if (sp) {
      *sp = 0;
      method = line;
      target = sp + 1;
    }
    char *q = strchr(target, '?');
    if (q)
      *q++ = 0;
    check_path(method, target);
    if (q)
      check_query(q);
    /* headers */
    for (char *h = strtok_r(NULL, "\n", &save); h; h = strtok_r(NULL, "\n", &save)) {
      char *colon = strchr(h, ':');
      if (!colon)
        continue;
      *colon = 0;
      const char *v = colon + 1;
      while (*v == ' ')
        v++;
      check_header(h, v);
    }
  }
  free(in);
  if (blank) {
    json_t *v = NULL;
    char err[256];
    const char *body = (const char *)blank + 2;
    size_t blen = size - head_len - 2;
    if (reqjson_parse(body, blen, REQJSON_MAX_BODY, &v, err, sizeof err) == 0) {
      if (!v || reqjson_depth(v, 100) > REQJSON_MAX_DEPTH)
        abort();
      json_decref(v);
    } else if (v) {
      abort();
    }
  }
  return 0;
}
