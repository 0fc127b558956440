/* render.c — `${{ }}` templates: expr_has, expr_split, expr_render(_str).
 *
 * Splitting: an expression ends at the first `}}` that is outside jq strings
 * and not inside an open `{` of the expression, so `${{ {a: {b: 1}} }}` and
 * `${{ "}}" }}` work. `#` is not a comment here (jq would still read one). A
 * `${{` without such an end is WEFT_EPARSE at its offset.
 *
 * Rendering: a string that is exactly one `${{ }}` (nothing around it, not
 * even spaces) takes the result's JSON type. Otherwise each result is spliced
 * in: strings as they are, null as the empty string (GitHub Actions does the
 * same), numbers as jq prints them (shortest form that reads back the same),
 * booleans/arrays/objects as compact JSON. A string without `${{` is copied
 * and nothing is evaluated. Expressions are found by their trimmed text in
 * the prog; a plain path that was never registered is still evaluated (it
 * needs no compile), anything else unregistered is an error. */
#include "expr/internal.h"
#include "util/err.h"
#include "util/jsonfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RENDER_MAX ((size_t)16 * 1024 * 1024)
#define RENDER_DEPTH 256
#define ONTHEFLY_SEGS 16

bool expr_has(const char *s, size_t len)
{
  return s && len >= 3 && memmem(s, len, "${{", 3) != NULL;
}

/* Offset of the closing `}}` of an expression starting at s[from], -1
 * without one, -2 when brackets nest past EXPR_LEX_DEPTH before it. */
static long find_end(const char *s, size_t len, size_t from)
{
  struct lexer lx;
  struct lex_tok t;
  lex_init(&lx, s + from, len - from, false, true);
  for (;;) {
    bool braces = lx.braces > 0;
    lex_next(&lx, &t);
    if (t.kind == LX_ERR && lx.depth >= EXPR_LEX_DEPTH)
      return -2;
    if (t.kind == LX_EOF || t.kind == LX_ERR)
      return -1;
    if (!braces && t.kind == LX_OP && t.len == 1 && t.p[0] == '}' && t.start + 1 < lx.len &&
        lx.s[t.start + 1] == '}')
      return (long)(from + t.start);
  }
}

int expr_split(const char *s, size_t len, int (*cb)(void *ud, const struct expr_seg *seg), void *ud,
               size_t *bad_offset)
{
  struct expr_seg seg;
  size_t i = 0;
  bool any = false;
  while (i <= len) {
    const char *hit = len - i >= 3 ? memmem(s + i, len - i, "${{", 3) : NULL;
    size_t k = hit ? (size_t)(hit - s) : len;
    if (k > i || (!hit && !any)) {
      seg.is_expr = false;
      seg.p = s + i;
      seg.len = k - i;
      seg.offset = i;
      int rc = cb(ud, &seg);
      if (rc)
        return rc;
    }
    if (!hit)
      break;
    any = true;
    long e = find_end(s, len, k + 3);
    if (e < 0) {
      if (bad_offset)
        *bad_offset = k;
      return e == -2 ? WEFT_ELIMIT : WEFT_EPARSE;
    }
    const char *ep = s + k + 3;
    size_t el = (size_t)e - (k + 3);
    prog_trim(&ep, &el);
    seg.is_expr = true;
    seg.p = ep;
    seg.len = el;
    seg.offset = k;
    int rc = cb(ud, &seg);
    if (rc)
      return rc;
    i = (size_t)e + 2;
  }
  return 0;
}

/* Evaluates trimmed text that should be registered in p. */
static int eval_text(struct expr_prog *p, const char *s, size_t len, const json_t *ctx,
                     const struct expr_env *env, json_t **out, char **err)
{
  int id = prog_find(p, s, len);
  if (id >= 0)
    return expr_eval(p, id, ctx, env, out, err);
  struct plain_seg stack[ONTHEFLY_SEGS], *segs = stack;
  size_t nseg = 0;
  enum plain_kind k = plain_parse(s, len, stack, ONTHEFLY_SEGS, &nseg);
  int rc = 0;
  if (k == PLAIN_NONE) {
    char *snip = prog_snippet(s, len);
    if (err) {
      free(*err);
      *err = NULL;
      size_t n = (snip ? strlen(snip) : 1) + 64;
      *err = malloc(n);
      if (*err)
        snprintf(*err, n, "expression `%s` was never registered", snip ? snip : "?");
    }
    free(snip);
    return WEFT_ENOTFOUND;
  }
  if (nseg > ONTHEFLY_SEGS) {
    segs = malloc(nseg * sizeof *segs);
    if (!segs)
      return WEFT_ENOMEM;
    plain_parse(s, len, segs, nseg, &nseg);
  }
  char m[160];
  rc = plain_eval(k, segs, nseg, ctx, env, out, m, sizeof m);
  if (rc && err) {
    char *snip = prog_snippet(s, len);
    size_t n = (snip ? strlen(snip) : 1) + strlen(m) + 32;
    free(*err);
    *err = malloc(n);
    if (*err)
      snprintf(*err, n, "expression `%s` failed: %s", snip ? snip : "?", m);
    free(snip);
  }
  if (segs != stack)
    free(segs);
  return rc;
}

/* Appends a spliced value: see the file comment. */
static int splice(struct buf *b, const json_t *v)
{
  char num[64];
  switch (json_typeof(v)) {
  case JSON_STRING: return buf_append(b, json_string_value(v), json_string_length(v));
  case JSON_NULL: return 0;
  case JSON_TRUE: return buf_puts(b, "true");
  case JSON_FALSE: return buf_puts(b, "false");
  case JSON_INTEGER:
    snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return buf_puts(b, num);
  case JSON_REAL: {
    double d = json_real_value(v);
    for (int prec = 15; prec <= 17; prec++) {
      snprintf(num, sizeof num, "%.*g", prec, d);
      if (strtod(num, NULL) == d)
        break;
    }
    return buf_puts(b, num);
  }
  default: {
    char *d = wjson_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!d)
      return WEFT_ENOMEM;
    int rc = buf_puts(b, d);
    free(d);
    return rc;
  }
  }
}

struct rstate {
  struct expr_prog *p;
  const json_t *ctx;
  const struct expr_env *env;
  char **err;
  size_t nseg;
  json_t *single; /* result of a first segment that is an expression at 0 */
  struct buf b;
  int rc;
};

static int render_seg(void *ud, const struct expr_seg *seg)
{
  struct rstate *r = ud;
  int rc = 0;
  if (r->single) { /* a second segment: the first one is spliced after all */
    rc = splice(&r->b, r->single);
    json_decref(r->single);
    r->single = NULL;
    if (rc)
      goto out;
  }
  r->nseg++;
  if (!seg->is_expr) {
    rc = buf_append(&r->b, seg->p, seg->len);
    goto out;
  }
  json_t *v = NULL;
  rc = eval_text(r->p, seg->p, seg->len, r->ctx, r->env, &v, r->err);
  if (rc)
    goto out;
  if (r->nseg == 1 && seg->offset == 0) {
    r->single = v;
  } else {
    rc = splice(&r->b, v);
    json_decref(v);
  }
out:
  if (rc == WEFT_ELIMIT && r->err && !*r->err)
    *r->err = strdup("rendered string is longer than 16 MiB");
  r->rc = rc;
  return rc;
}

static int render_string(struct expr_prog *p, const char *s, size_t len, const json_t *ctx,
                         const struct expr_env *env, json_t **out, char **err)
{
  *out = NULL;
  if (!expr_has(s, len)) {
    *out = json_stringn(s, len);
    return *out ? 0 : WEFT_ENOMEM;
  }
  struct rstate r = {.p = p, .ctx = ctx, .env = env, .err = err};
  buf_init(&r.b, RENDER_MAX);
  size_t bad = 0;
  int rc = expr_split(s, len, render_seg, &r, &bad);
  if ((rc == WEFT_EPARSE || rc == WEFT_ELIMIT) && err) {
    free(*err);
    *err = malloc(96);
    if (*err && rc == WEFT_EPARSE)
      snprintf(*err, 96, "`${{` at offset %zu has no closing `}}`", bad);
    else if (*err)
      snprintf(*err, 96, "`${{` at offset %zu nests brackets more than %d deep", bad,
               EXPR_LEX_DEPTH);
  }
  if (!rc) {
    if (r.single && r.nseg == 1) {
      *out = r.single;
      r.single = NULL;
    } else {
      *out = json_stringn(r.b.p ? r.b.p : "", r.b.len);
      if (!*out)
        rc = WEFT_ENOMEM;
    }
  }
  json_decref(r.single);
  buf_free(&r.b);
  return rc;
}

int expr_render_str(struct expr_prog *p, const char *s, const json_t *ctx,
                    const struct expr_env *env, json_t **out, char **err)
{
  if (err)
    *err = NULL;
  return render_string(p, s, strlen(s), ctx, env, out, err);
}

static int render(struct expr_prog *p, const json_t *t, const json_t *ctx,
                  const struct expr_env *env, json_t **out, char **err, int depth)
{
  int rc = 0;
  json_t *r = NULL;
  *out = NULL;
  if (depth > RENDER_DEPTH) {
    if (err && !*err)
      *err = strdup("template nested too deeply");
    return WEFT_ELIMIT;
  }
  switch (json_typeof(t)) {
  case JSON_STRING:
    return render_string(p, json_string_value(t), json_string_length(t), ctx, env, out, err);
  case JSON_OBJECT:
    r = json_object();
    for (void *it = json_object_iter((json_t *)t); r && it;
         it = json_object_iter_next((json_t *)t, it)) {
      json_t *v;
      rc = render(p, json_object_iter_value(it), ctx, env, &v, err, depth + 1);
      if (rc)
        goto out;
      if (json_object_setn_new(r, json_object_iter_key(it), json_object_iter_key_len(it), v)) {
        rc = WEFT_ENOMEM;
        goto out;
      }
    }
    break;
  case JSON_ARRAY:
    r = json_array();
    for (size_t i = 0; r && i < json_array_size(t); i++) {
      json_t *v;
      rc = render(p, json_array_get(t, i), ctx, env, &v, err, depth + 1);
      if (rc)
        goto out;
      if (json_array_append_new(r, v)) {
        rc = WEFT_ENOMEM;
        goto out;
      }
    }
    break;
  default:
    r = json_deep_copy(t);
    break;
  }
  if (!r)
    rc = WEFT_ENOMEM;
out:
  if (rc) {
    json_decref(r);
    r = NULL;
  }
  *out = r;
  return rc;
}

int expr_render(struct expr_prog *p, const json_t *tmpl, const json_t *ctx,
                const struct expr_env *env, json_t **out, char **err)
{
  if (err)
    *err = NULL;
  if (!tmpl) {
    *out = json_null();
    return 0;
  }
  return render(p, tmpl, ctx, env, out, err, 0);
}
