/* fuzz_request.c — libFuzzer entry point for what the server reads from a
 * client before any operation runs: the request path (route matching and
 * percent-decoding of ids) and the JSON body (size, UTF-8, depth, duplicate
 * keys). The input is "METHOD PATH\nBODY".
 *
 * Checks: a match names a route of the table whose method is the request's,
 * every decoded parameter is a non-empty UTF-8 string without '/', NUL or
 * control bytes and is not "." or ".."; an accepted body has depth <= 64. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/reqjson.h"
#include "server/route.h"
#include "util/utf8.h"

static const struct route table[] = {
    {"GET", "/api/v1/runs", ROLE_VIEWER, "list_runs", BODY_JSON, 0},
    {"GET", "/api/v1/runs/{id}", ROLE_VIEWER, "get_run", BODY_JSON, 0},
    {"GET", "/api/v1/runs/{id}/logs/{step}", ROLE_VIEWER, "get_logs", BODY_JSON, 0},
    {"POST", "/api/v1/runs/{id}/steps/{step}/approve", ROLE_VIEWER, "approve", BODY_JSON, 0},
    {"DELETE", "/api/v1/tokens/{id}", ROLE_ADMIN, "revoke_token", BODY_JSON, 0},
    {"POST", "/api/v1/hooks/{name}", ROLE_SIGNATURE, "webhook", BODY_RAW, 0},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 1 << 16)
    return 0;
  const uint8_t *nl = memchr(data, '\n', size);
  size_t head = nl ? (size_t)(nl - data) : size;
  char *line = malloc(head + 1);
  if (!line)
    return 0;
  memcpy(line, data, head);
  line[head] = 0;
  char *sp = strchr(line, ' ');
  const char *method = "GET", *path = line;
  if (sp) {
    *sp = 0;
    method = line;
    path = sp + 1;
  }
  struct route_match m;
  if (route_find(table, sizeof table / sizeof *table, method, path, &m) == 0) {
    if (strcmp(m.route->method, method))
      abort();
    for (int i = 0; i < m.nparams; i++) {
      const char *v = m.params[i].value;
      size_t n = strlen(v);
      if (!n || !strcmp(v, ".") || !strcmp(v, "..") || strchr(v, '/') || !utf8_valid((const unsigned char *)v, n))
        abort();
      for (size_t k = 0; k < n; k++)
        if ((unsigned char)v[k] < 0x20)
          abort();
    }
  }
  free(line);
  if (nl) {
    json_t *v = NULL;
    char err[256];
    const char *body = (const char *)nl + 1;
    size_t blen = size - head - 1;
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
