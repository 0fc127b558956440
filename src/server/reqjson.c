/* reqjson.c — request bodies: size cap, UTF-8, JSON, depth, duplicate keys. */
#include "server/reqjson.h"

#include <stdio.h>
#include <string.h>

#include "util/utf8.h"

int reqjson_depth(const json_t *v, int limit)
{
  if (limit < 0)
    return 0;
  int d = 0;
  if (json_is_object(v)) {
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) {
      int c = reqjson_depth(x, limit - 1);
      if (c > d)
        d = c;
      if (d >= limit)
        break;
    }
    return d + 1;
  }
  if (json_is_array(v)) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      int c = reqjson_depth(x, limit - 1);
      if (c > d)
        d = c;
      if (d >= limit)
        break;
    }
    return d + 1;
  }
  return 0;
}

int reqjson_parse(const char *body, size_t len, size_t max, json_t **out, char *err, size_t errlen)
{
  *out = NULL;
  if (len > max) {
    snprintf(err, errlen, "the request body is %zu bytes; the limit is %zu", len, max);
    return APIERR_TOO_LARGE;
  }
  size_t bad = utf8_invalid_offset((const unsigned char *)body, len);
  if (bad < len) {
    snprintf(err, errlen, "the request body is not UTF-8 (byte %zu)", bad);
    return APIERR_BAD_REQUEST;
  }
  size_t i = 0;
  while (i < len && body[i] && strchr(" \t\r\n", body[i])) /* a NUL is not blank */
    i++;
  if (i == len) {
    *out = json_object();
    return *out ? 0 : APIERR_INTERNAL;
  }
  json_error_t je;
  /* jansson itself stops at 2048 levels, far above ours: the depth check
   * below runs on a tree that is at most that deep */
  json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  if (!v) {
    snprintf(err, errlen, "the request body is not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
    return APIERR_BAD_REQUEST;
  }
  if (reqjson_depth(v, REQJSON_MAX_DEPTH + 1) > REQJSON_MAX_DEPTH) {
    json_decref(v);
    snprintf(err, errlen, "the request body nests deeper than %d levels", REQJSON_MAX_DEPTH);
    return APIERR_BAD_REQUEST;
  }
  *out = v;
  return 0;
}
