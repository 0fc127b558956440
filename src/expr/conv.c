/* conv.c — jansson <-> jv, only at the jq boundary.
 *
 * jq 1.6 numbers are doubles. Going in, a json integer becomes the nearest
 * double (exact up to 2^53). Coming back, a number that is integral and
 * within int64 becomes json_integer (so `.n + 1` gives 4, not 4.0); others
 * become json_real. NaN (which jq prints as null) becomes null and the
 * infinities become ±DBL_MAX, as jq prints them. Object key order is kept
 * both ways (jq and jansson both iterate in insertion order). Nesting deeper
 * than EXPR_MAX_VALUE_DEPTH is refused (WEFT_ELIMIT) instead of recursing
 * without bound. jq's allocator aborts on out-of-memory, so the jv side never
 * reports WEFT_ENOMEM; the jansson side does. */
#include "expr/internal.h"
#include "util/err.h"

#include <float.h>
#include <math.h>

static int to_jv(const json_t *j, jv *out, int depth)
{
  if (depth > EXPR_MAX_VALUE_DEPTH)
    return WEFT_ELIMIT;
  int rc = 0;
  switch (json_typeof(j)) {
  case JSON_OBJECT: {
    jv o = jv_object();
    for (void *it = json_object_iter((json_t *)j); it; it = json_object_iter_next((json_t *)j, it)) {
      jv v;
      rc = to_jv(json_object_iter_value(it), &v, depth + 1);
      if (rc) {
        jv_free(o);
        return rc;
      }
      o = jv_object_set(o, jv_string_sized(json_object_iter_key(it), (int)json_object_iter_key_len(it)),
                        v);
    }
    *out = o;
    return 0;
  }
  case JSON_ARRAY: {
    size_t n = json_array_size(j);
    jv a = jv_array_sized((int)n);
    for (size_t i = 0; i < n; i++) {
      jv v;
      rc = to_jv(json_array_get(j, i), &v, depth + 1);
      if (rc) {
        jv_free(a);
        return rc;
      }
      a = jv_array_append(a, v);
    }
    *out = a;
    return 0;
  }
  case JSON_STRING:
    *out = jv_string_sized(json_string_value(j), (int)json_string_length(j));
    return 0;
  case JSON_INTEGER: *out = jv_number((double)json_integer_value(j)); return 0;
  case JSON_REAL: *out = jv_number(json_real_value(j)); return 0;
  case JSON_TRUE: *out = jv_true(); return 0;
  case JSON_FALSE: *out = jv_false(); return 0;
  default: *out = jv_null(); return 0;
  }
}

int conv_to_jv(const json_t *j, jv *out)
{
  if (!j) {
    *out = jv_null();
    return 0;
  }
  return to_jv(j, out, 0);
}

static json_t *number_to_json(double d)
{
  if (isnan(d))
    return json_null();
  if (isinf(d))
    return json_real(d > 0 ? DBL_MAX : -DBL_MAX);
  if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == floor(d))
    return json_integer((json_int_t)d);
  return json_real(d);
}

static int from_jv(jv v, json_t **out, int depth)
{
  int rc = 0;
  json_t *r = NULL;
  if (depth > EXPR_MAX_VALUE_DEPTH) {
    rc = WEFT_ELIMIT;
    goto out;
  }
  switch (jv_get_kind(v)) {
  case JV_KIND_NULL: r = json_null(); break;
  case JV_KIND_TRUE: r = json_true(); break;
  case JV_KIND_FALSE: r = json_false(); break;
  case JV_KIND_NUMBER: r = number_to_json(jv_number_value(v)); break;
  case JV_KIND_STRING:
    r = json_stringn(jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v)));
    break;
  case JV_KIND_ARRAY: {
    int n = jv_array_length(jv_copy(v));
    r = json_array();
    for (int i = 0; r && i < n; i++) {
      json_t *e;
      rc = from_jv(jv_array_get(jv_copy(v), i), &e, depth + 1);
      if (rc)
        goto out;
      if (json_array_append_new(r, e)) {
        rc = WEFT_ENOMEM;
        goto out;
      }
    }
    break;
  }
  case JV_KIND_OBJECT: {
    r = json_object();
    for (int it = jv_object_iter(v); r && jv_object_iter_valid(v, it);
         it = jv_object_iter_next(v, it)) {
      jv k = jv_object_iter_key(v, it);
      json_t *e;
      rc = from_jv(jv_object_iter_value(v, it), &e, depth + 1);
      if (rc) {
        jv_free(k);
        goto out;
      }
      int kl = jv_string_length_bytes(jv_copy(k));
      int bad = json_object_setn_new(r, jv_string_value(k), (size_t)kl, e);
      jv_free(k);
      if (bad) {
        rc = WEFT_ENOMEM;
        goto out;
      }
    }
    break;
  }
  default: rc = WEFT_EINVAL; goto out;
  }
  if (!r)
    rc = WEFT_ENOMEM;
out:
  jv_free(v);
  if (rc) {
    json_decref(r);
    r = NULL;
  }
  *out = r;
  return rc;
}

int conv_from_jv(jv v, json_t **out) { return from_jv(v, out, 0); }
