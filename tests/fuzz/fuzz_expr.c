/* fuzz_expr.c — libFuzzer target for the text scanners of src/expr/.
 *
 * Arbitrary bytes go through expr_split (template splitting), expr_refs and
 * expr_refs_fields (reference scans), the jq-faithful lexer's balance check, plain-path parsing
 * and evaluation, and expr_render_str on a program with nothing compiled (so
 * only plain paths are evaluated). jq_compile is deliberately not fuzzed:
 * jq 1.6 can loop forever on some programs. Checks: every segment and every
 * reported name lies inside the input, segments come in order, a parsed
 * plain path evaluates without crashing. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "expr/internal.h"

struct span {
  const char *base;
  size_t len, last;
};

static int seg_cb(void *ud, const struct expr_seg *seg)
{
  struct span *s = ud;
  if (seg->p < s->base || seg->p + seg->len > s->base + s->len || seg->offset > s->len ||
      seg->offset < s->last)
    abort();
  s->last = seg->offset;
  return 0;
}

static void ref_cb(void *ud, const char *root, const char *name, size_t len)
{
  struct span *s = ud;
  if (strcmp(root, "steps") != 0 && strcmp(root, "needs") != 0)
    abort();
  if (name && (name < s->base || name + len > s->base + s->len))
    abort();
}

static void field_cb(void *ud, const struct expr_ref *r)
{
  struct span *s = ud;
  if (strcmp(r->root, "steps") && strcmp(r->root, "needs") && strcmp(r->root, "inputs"))
    abort();
  if (!r->name || r->name < s->base || r->name + r->name_len > s->base + s->len)
    abort();
  if (r->field && (r->field < s->base || r->field + r->field_len > s->base + s->len))
    abort();
}

static json_t *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *s = (const char *)data;
  if (!ctx)
    ctx = json_loads("{\"a\": {\"b\": [1, {\"c\": null}], \"d-e\": \"x\"}, \"steps\": {}}", 0,
                     NULL);

  struct span sp = {s, size, 0};
  size_t bad = 0;
  (void)expr_has(s, size);
  (void)expr_split(s, size, seg_cb, &sp, &bad);
  expr_refs(s, size, ref_cb, &sp);
  expr_refs_fields(s, size, field_cb, &sp);

  const char *why;
  (void)lex_balanced(s, size, &why);

  struct plain_seg segs[8];
  size_t nseg = 0;
  enum plain_kind k = plain_parse(s, size, segs, 8, &nseg);
  if (k != PLAIN_NONE && nseg <= 8) {
    json_t *out = NULL;
    char msg[160];
    if (plain_eval(k, segs, nseg, ctx, NULL, &out, msg, sizeof msg) == 0)
      json_decref(out);
  }

  char *z = malloc(size + 1);
  if (!z)
    return 0;
  memcpy(z, s, size);
  z[size] = '\0';
  struct expr_prog *p = expr_prog_new();
  if (p) {
    json_t *out = NULL;
    char *err = NULL;
    if (expr_render_str(p, z, ctx, NULL, &out, &err) == 0)
      json_decref(out);
    free(err);
    expr_prog_free(p);
  }
  free(z);
  return 0;
}
