/* plain.c — plain paths: recognised once at add time, evaluated without jq.
 *
 * Most workflow expressions are paths (`.inputs.x`, `.steps.a.outputs.b`,
 * `.item`) or a bare helper (`success`). jq_compile costs ~25 ms and each jq
 * evaluation converts the whole context to jv, so these are parsed here into
 * segments (keys pointing into the expression's own text) and walked
 * directly on the jansson context.
 *
 * A text is plain only when jq 1.6 would read it as the same path, so the
 * answer is always jq's answer (tests/unit/test_expr.c compares both ways):
 *   `.`   `.name`   `."key"`   `["key"]` / `[N]` after a first segment or
 *   right after the leading dot (`.["k"]`, `.[0]`), names [A-Za-z_][A-Za-z0-9_]*,
 *   keys without backslashes or control characters (valid UTF-8), indices
 *   -?[0-9]{1,9}, no spaces; and the words success failure always cancelled none_failed
 *   true false null. Anything else (`.steps.my-step` is jq subtraction,
 *   `.a.["b"]` a jq 1.6 syntax error, `success()` not jq at all) goes to jq.
 * Errors follow jq 1.6's jv_get(): `null | .a` is null, a missing key or an
 * index out of range is null, anything else is "Cannot index T with …". */
#include "expr/internal.h"
#include "util/err.h"
#include "util/utf8.h"

#include <stdio.h>
#include <string.h>


/* A string literal at s[i] == '"' usable as a key: returns the index after
 * the closing quote, or 0. */
static size_t parse_key_string(const char *s, size_t len, size_t i, size_t *kb, size_t *kl)
{
  size_t j = i + 1;
  while (j < len && s[j] != '"') {
    unsigned char c = (unsigned char)s[j];
    if (c == '\\' || c < 0x20 || c == 0x7f)
      return 0;
    j++;
  }
  if (j >= len || !utf8_valid((const unsigned char *)s + i + 1, j - i - 1))
    return 0;
  *kb = i + 1;
  *kl = j - i - 1;
  return j + 1;
}

static void put_seg(struct plain_seg *segs, size_t cap, size_t n, const char *key, size_t klen,
                    long idx)
{
  if (segs && n < cap) {
    segs[n].key = key;
    segs[n].klen = klen;
    segs[n].idx = idx;
  }
}

/* `[...]` at s[i] == '['; returns the index after `]` or 0. */
static size_t parse_bracket(const char *s, size_t len, size_t i, struct plain_seg *segs,
                            size_t cap, size_t n)
{
  size_t j = i + 1;
  if (j < len && s[j] == '"') {
    size_t kb, kl;
    j = parse_key_string(s, len, j, &kb, &kl);
    if (!j || j >= len || s[j] != ']')
      return 0;
    put_seg(segs, cap, n, s + kb, kl, 0);
    return j + 1;
  }
  bool neg = false;
  if (j < len && s[j] == '-') {
    neg = true;
    j++;
  }
  size_t d0 = j;
  long v = 0;
  while (j < len && s[j] >= '0' && s[j] <= '9' && j - d0 < 9) {
    v = v * 10 + (s[j] - '0');
    j++;
  }
  if (j == d0 || j >= len || s[j] != ']')
    return 0;
  put_seg(segs, cap, n, NULL, 0, neg ? -v : v);
  return j + 1;
}

static bool word_is(const char *s, size_t len, const char *w)
{
  return strlen(w) == len && memcmp(s, w, len) == 0;
}

enum plain_kind plain_parse(const char *s, size_t len, struct plain_seg *segs, size_t cap,
                            size_t *nseg)
{
  static const struct {
    const char *w;
    enum plain_kind k;
  } words[] = {{"success", PLAIN_SUCCESS}, {"failure", PLAIN_FAILURE},
               {"always", PLAIN_ALWAYS},   {"cancelled", PLAIN_CANCELLED},
               {"true", PLAIN_TRUE},       {"false", PLAIN_FALSE},
               {"null", PLAIN_NULL},       {"none_failed", PLAIN_NONE_FAILED}};
  *nseg = 0;
  if (len == 0)
    return PLAIN_NONE;
  for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
    if (word_is(s, len, words[k].w))
      return words[k].k;
  if (s[0] != '.')
    return PLAIN_NONE;
  size_t i = 0, n = 0;
  if (len == 1)
    return PLAIN_PATH;
  while (i < len) {
    if (s[i] == '.') {
      if (i + 1 >= len)
        return PLAIN_NONE;
      char c = s[i + 1];
      if (lex_is_ident_start((unsigned char)c)) {
        size_t j = i + 1;
        while (j < len && lex_is_ident_char((unsigned char)s[j]))
          j++;
        put_seg(segs, cap, n++, s + i + 1, j - i - 1, 0);
        i = j;
      } else if (c == '"') {
        size_t kb, kl, j = parse_key_string(s, len, i + 1, &kb, &kl);
        if (!j)
          return PLAIN_NONE;
        put_seg(segs, cap, n++, s + kb, kl, 0);
        i = j;
      } else if (c == '[' && i == 0) {
        size_t j = parse_bracket(s, len, i + 1, segs, cap, n++);
        if (!j)
          return PLAIN_NONE;
        i = j;
      } else {
        return PLAIN_NONE;
      }
    } else if (s[i] == '[' && i > 0) {
      size_t j = parse_bracket(s, len, i, segs, cap, n++);
      if (!j)
        return PLAIN_NONE;
      i = j;
    } else {
      return PLAIN_NONE;
    }
  }
  *nseg = n;
  return PLAIN_PATH;
}

static const char *kind_name(const json_t *v)
{
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "object";
  case JSON_ARRAY: return "array";
  case JSON_STRING: return "string";
  case JSON_INTEGER:
  case JSON_REAL: return "number";
  case JSON_TRUE:
  case JSON_FALSE: return "boolean";
  default: return "null";
  }
}

int plain_eval(enum plain_kind kind, const struct plain_seg *segs, size_t nseg, const json_t *ctx,
               const struct expr_env *env, json_t **out, char *msg, size_t msgsz)
{
  static const struct expr_env defaults = {.success = true, .none_failed = true};
  if (!env)
    env = &defaults;
  switch (kind) {
  case PLAIN_SUCCESS: *out = json_boolean(env->success); return 0;
  case PLAIN_FAILURE: *out = json_boolean(env->failure); return 0;
  case PLAIN_CANCELLED: *out = json_boolean(env->cancelled); return 0;
  case PLAIN_NONE_FAILED: *out = json_boolean(env->none_failed); return 0;
  case PLAIN_ALWAYS:
  case PLAIN_TRUE: *out = json_true(); return 0;
  case PLAIN_FALSE: *out = json_false(); return 0;
  case PLAIN_NULL: *out = json_null(); return 0;
  case PLAIN_PATH: break;
  default: return WEFT_EINVAL;
  }
  const json_t *v = ctx ? ctx : json_null();
  for (size_t i = 0; i < nseg; i++) {
    const struct plain_seg *g = &segs[i];
    if (json_is_null(v))
      continue;
    if (g->key) {
      if (!json_is_object(v)) {
        if (g->klen < 30)
          snprintf(msg, msgsz, "Cannot index %s with string \"%.*s\"", kind_name(v), (int)g->klen,
                   g->key);
        else
          snprintf(msg, msgsz, "Cannot index %s with string", kind_name(v));
        return WEFT_EEXPR;
      }
      const json_t *w = json_object_getn(v, g->key, g->klen);
      v = w ? w : json_null();
    } else {
      if (!json_is_array(v)) {
        snprintf(msg, msgsz, "Cannot index %s with number", kind_name(v));
        return WEFT_EEXPR;
      }
      long n = (long)json_array_size(v), idx = g->idx;
      if (idx < 0)
        idx += n;
      const json_t *w = idx >= 0 && idx < n ? json_array_get(v, (size_t)idx) : NULL;
      v = w ? w : json_null();
    }
  }
  *out = json_incref((json_t *)v);
  return 0;
}
