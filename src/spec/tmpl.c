/* tmpl.c — templates: YAML values that may contain `${{ EXPR }}`.
 *
 * Converting a ynode to a template registers every expression of its strings
 * in wf->prog (expr_prog_add dedups equal texts) and records an occurrence
 * (expression id, file position, scope) so that later passes -- the reach
 * rule in graph.c and jq's compile errors here -- can point at the `${{`.
 * Positions: the `${{` is found in the scalar's raw source text (so quotes,
 * escapes, folding and block indentation do not shift it); only when it is
 * not there literally (written with escapes) is the scalar's start used.
 *
 * Condition fields (`if`, `for_each`, `repeat.until`, `retry.if`,
 * `wait.match`) are normalised: a bare string is one whole expression and is
 * stored as "${{ s }}". */
#include "spec/spec_int.h"

#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "util/err.h"

void tmpl_pos(struct sctx *c, const struct ynode *v, size_t off, int *line, int *col)
{
  *line = v->line;
  *col = v->col;
  if (v->src_end > c->len || v->src_start >= v->src_end)
    return;
  /* which `${{` of the value this is */
  size_t k = 0;
  for (size_t i = 0; i + 3 <= off && i + 3 <= v->len; i++)
    if (memcmp(v->s + i, "${{", 3) == 0)
      k++;
  const char *raw = c->src + v->src_start;
  size_t rlen = v->src_end - v->src_start;
  for (size_t i = 0; i + 3 <= rlen; i++) {
    if (memcmp(raw + i, "${{", 3) != 0)
      continue;
    if (k-- > 0)
      continue;
    /* found: count lines and characters up to it */
    size_t ls = 0;
    int nl = 0;
    for (size_t j = 0; j < i; j++)
      if (raw[j] == '\n') {
        nl++;
        ls = j + 1;
      }
    int chars = 0;
    for (size_t j = ls; j < i; j++)
      if (((unsigned char)raw[j] & 0xC0) != 0x80)
        chars++;
    *line = v->line + nl;
    *col = nl ? 1 + chars : v->col + chars;
    return;
  }
}

static void add_occ(struct sctx *c, int id, int line, int col, uint32_t scope)
{
  if (c->n_occ == c->cap_occ) {
    size_t ncap = c->cap_occ ? c->cap_occ * 2 : 64;
    struct eocc *nv = realloc(c->occ, ncap * sizeof *nv);
    if (!nv) {
      if (!c->rc)
        c->rc = WEFT_ENOMEM;
      return;
    }
    c->occ = nv;
    c->cap_occ = ncap;
  }
  c->occ[c->n_occ++] = (struct eocc){.id = id, .line = line, .col = col, .scope = scope};
}

struct split_ud {
  struct sctx *c;
  const struct ynode *v;
  uint32_t scope;
};

static int on_seg(void *ud, const struct expr_seg *seg)
{
  struct split_ud *u = ud;
  if (!seg->is_expr)
    return 0;
  int line, col;
  tmpl_pos(u->c, u->v, seg->offset, &line, &col);
  if (seg->len > WF_MAX_EXPR_BYTES) {
    chk_err_at(u->c, line, col, "expression is %zu bytes, over the limit of 16 KiB", seg->len);
    if (!u->c->rc)
      u->c->rc = WEFT_ELIMIT;
    return 0;
  }
  if (seg->len == 0) {
    chk_err_at(u->c, line, col, "empty expression ${{ }}");
    return 0;
  }
  int id = expr_prog_add(u->c->w->prog, seg->p, seg->len);
  if (id == WEFT_ELIMIT) {
    chk_err_at(u->c, line, col, "expression is %zu bytes, over the limit of 16 KiB", seg->len);
    if (!u->c->rc)
      u->c->rc = WEFT_ELIMIT;
    return 0;
  }
  if (id < 0) {
    if (!u->c->rc)
      u->c->rc = id;
    return 0;
  }
  add_occ(u->c, id, line, col, u->scope);
  return 0;
}

/* Registers the expressions of one string scalar. */
static void scan_str(struct sctx *c, const struct ynode *v, uint32_t scope)
{
  if (!expr_has(v->s, v->len))
    return;
  struct split_ud u = {c, v, scope};
  size_t bad = 0;
  int rc = expr_split(v->s, v->len, on_seg, &u, &bad);
  if (rc == WEFT_EPARSE || rc == WEFT_ELIMIT) {
    int line, col;
    tmpl_pos(c, v, bad, &line, &col);
    if (rc == WEFT_EPARSE)
      chk_err_at(c, line, col, "\"${{\" without a closing \"}}\"");
    else
      chk_err_at(c, line, col, "expression nests brackets more than %d deep; write it with "
                 "less nesting (e.g. split it across set: steps)", EXPR_MAX_NESTING);
  }
}

json_t *tmpl_conv(struct sctx *c, const struct ynode *v, uint32_t scope)
{
  json_t *out = NULL;
  switch (v->t) {
  case Y_STR:
    scan_str(c, v, scope);
    out = json_stringn(v->s, v->len);
    break;
  case Y_MAP:
    out = json_object();
    for (uint32_t i = 0; out && i < v->n; i++) {
      json_t *x = tmpl_conv(c, v->kids[2 * i + 1], scope);
      if (!x || json_object_setn_new(out, v->kids[2 * i]->s, v->kids[2 * i]->len, x)) {
        json_decref(out);
        out = NULL;
      }
    }
    break;
  case Y_SEQ:
    out = json_array();
    for (uint32_t i = 0; out && i < v->n; i++) {
      if (json_array_append_new(out, tmpl_conv(c, v->kids[i], scope))) {
        json_decref(out);
        out = NULL;
      }
    }
    break;
  default:
    out = ynode_to_json(v);
    break;
  }
  if (!out && !c->rc)
    c->rc = WEFT_ENOMEM;
  return out;
}

json_t *tmpl_cond(struct sctx *c, const struct ynode *v, uint32_t scope, const char *field,
                  const char *where)
{
  if (v->t == Y_BOOL)
    return json_boolean(v->b);
  if (v->t != Y_STR) {
    chk_bad_type(c, v, field, where, "an expression");
    return NULL;
  }
  if (expr_has(v->s, v->len))
    return tmpl_conv(c, v, scope);
  size_t a = 0, b = v->len;
  while (a < b && (v->s[a] == ' ' || v->s[a] == '\t' || v->s[a] == '\n'))
    a++;
  while (b > a && (v->s[b - 1] == ' ' || v->s[b - 1] == '\t' || v->s[b - 1] == '\n'))
    b--;
  if (a == b) {
    chk_err(c, v, "\"%s\" %s is an empty expression", field, where);
    return NULL;
  }
  if (b - a > WF_MAX_EXPR_BYTES) {
    chk_limit(c, v, "expression is %zu bytes, over the limit of 16 KiB", b - a);
    return NULL;
  }
  int id = expr_prog_add(c->w->prog, v->s + a, b - a);
  if (id < 0) {
    if (id == WEFT_ELIMIT)
      chk_limit(c, v, "expression is %zu bytes, over the limit of 16 KiB", b - a);
    else if (!c->rc)
      c->rc = id;
    return NULL;
  }
  add_occ(c, id, v->line, v->col, scope);
  char *s = NULL;
  if (asprintf(&s, "${{ %.*s }}", (int)(b - a), v->s + a) < 0) {
    if (!c->rc)
      c->rc = WEFT_ENOMEM;
    return NULL;
  }
  json_t *out = json_string(s);
  free(s);
  return out;
}

struct cerr {
  int id;
  char *msg;
};

struct cerrs {
  struct cerr *v;
  size_t n, cap;
};

static void on_compile_error(void *ud, int id, const char *msg)
{
  struct cerrs *e = ud;
  if (e->n == e->cap) {
    size_t ncap = e->cap ? e->cap * 2 : 8;
    struct cerr *nv = realloc(e->v, ncap * sizeof *nv);
    if (!nv)
      return;
    e->v = nv;
    e->cap = ncap;
  }
  e->v[e->n].id = id;
  e->v[e->n].msg = strdup(msg ? msg : "syntax error");
  if (e->v[e->n].msg)
    e->n++;
}

void tmpl_compile(struct sctx *c)
{
  struct cerrs e = {0};
  int rc = expr_prog_compile(c->w->prog, on_compile_error, &e);
  if (rc && rc != WEFT_EEXPR && !c->rc)
    c->rc = rc;
  if (e.n) {
    size_t n = expr_prog_count(c->w->prog);
    int32_t *first = malloc((n ? n : 1) * sizeof *first);
    if (first) {
      for (size_t i = 0; i < n; i++)
        first[i] = -1;
      for (size_t i = 0; i < e.n; i++)
        if (e.v[i].id >= 0 && (size_t)e.v[i].id < n && first[e.v[i].id] < 0)
          first[e.v[i].id] = (int32_t)i;
      for (size_t k = 0; k < c->n_occ; k++) {
        int id = c->occ[k].id;
        if (id >= 0 && (size_t)id < n && first[id] >= 0)
          chk_err_at(c, c->occ[k].line, c->occ[k].col, "invalid expression: %s",
                  e.v[first[id]].msg);
      }
      free(first);
    }
  } else if (rc == WEFT_EEXPR) {
    chk_err_at(c, 0, 0, "the workflow's expressions do not compile");
  }
  for (size_t i = 0; i < e.n; i++)
    free(e.v[i].msg);
  free(e.v);
}
