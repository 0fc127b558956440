/* refcheck.c — validation of what expressions read by name: `.inputs.X` of an
 * input the workflow does not declare, and `.steps.X.FIELD` / `.needs.X.FIELD`
 * of a field a step does not have. Both are always null at run time, so they
 * are errors, at the expression's position, with a "did you mean" hint
 * (edit distance <= 2). Unknown step names are graph.c's (reach rule). */
#include "spec/spec_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "util/err.h"

/* What the engine puts in each `.steps.X` (engine/ctx.c step_view()). */
static const char *const step_fields[] = {"status",   "outputs",    "exit_code",  "attempts",
                                          "error",    "started_at", "finished_at"};
#define N_FIELDS (sizeof step_fields / sizeof step_fields[0])

struct rc_state {
  struct sctx *c;
  const struct eocc *occ;
  const char **inputs; /* declared input names */
};

static void on_ref(void *ud, const struct expr_ref *r)
{
  struct rc_state *st = ud;
  struct sctx *c = st->c;
  const struct wf *w = c->w;
  char nm[80], fd[80];
  snprintf(nm, sizeof nm, "%.*s", (int)(r->name_len > 64 ? 64 : r->name_len), r->name);
  if (!strcmp(r->root, "inputs")) {
    for (uint32_t i = 0; i < w->n_inputs; i++)
      if (w->inputs[i].name && !strcmp(w->inputs[i].name, nm))
        return;
    const char *h = w->n_inputs ? chk_did_you_mean(nm, st->inputs, w->n_inputs) : NULL;
    if (h)
      chk_err_at(c, st->occ->line, st->occ->col,
                 "expression reads inputs.%s, but the workflow declares no input \"%s\" "
                 "(did you mean \"%s\"?)", nm, nm, h);
    else
      chk_err_at(c, st->occ->line, st->occ->col,
                 "expression reads inputs.%s, but the workflow declares no input \"%s\" "
                 "(declare it under inputs:)", nm, nm);
    return;
  }
  if (!r->field || strmap_get(&c->priv->ids, r->name, r->name_len) == UINT32_MAX)
    return; /* an unknown step is reported by the reach rule */
  snprintf(fd, sizeof fd, "%.*s", (int)(r->field_len > 64 ? 64 : r->field_len), r->field);
  for (size_t i = 0; i < N_FIELDS; i++)
    if (!strcmp(step_fields[i], fd))
      return;
  const char *h = chk_did_you_mean(fd, step_fields, N_FIELDS);
  if (h)
    chk_err_at(c, st->occ->line, st->occ->col,
               "expression reads %s.%s.%s, but a step has no field \"%s\" (did you mean \"%s\"?)",
               r->root, nm, fd, fd, h);
  else
    chk_err_at(c, st->occ->line, st->occ->col,
               "expression reads %s.%s.%s, but a step has no field \"%s\" (a step has status, "
               "outputs, exit_code, attempts, error, started_at, finished_at)",
               r->root, nm, fd, fd);
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static uint64_t pos_key(int line, int col) { return (uint64_t)(uint32_t)line << 32 | (uint32_t)col; }

void refcheck_run(struct sctx *c)
{
  struct wf *w = c->w;
  if (c->rc || !w->prog || !c->priv)
    return;
  struct rc_state st = {.c = c};
  st.inputs = calloc(w->n_inputs ? w->n_inputs : 1, sizeof *st.inputs);
  if (!st.inputs) {
    c->rc = WEFT_ENOMEM;
    return;
  }
  for (uint32_t i = 0; i < w->n_inputs; i++)
    st.inputs[i] = w->inputs[i].name ? w->inputs[i].name : "";
  /* positions already reported (an expression that does not compile, the
   * reach rule): one problem per expression is enough */
  size_t nd = c->diags.n;
  uint64_t *seen = malloc((nd ? nd : 1) * sizeof *seen);
  if (!seen) {
    free(st.inputs);
    c->rc = WEFT_ENOMEM;
    return;
  }
  for (size_t i = 0; i < nd; i++)
    seen[i] = pos_key(c->diags.v[i].line, c->diags.v[i].col);
  qsort(seen, nd, sizeof *seen, cmp_u64);
  for (size_t k = 0; k < c->n_occ; k++) {
    const char *text = expr_prog_text(w->prog, c->occ[k].id);
    uint64_t key = pos_key(c->occ[k].line, c->occ[k].col);
    if (!text || (nd && bsearch(&key, seen, nd, sizeof *seen, cmp_u64)))
      continue;
    st.occ = &c->occ[k];
    expr_refs_fields(text, strlen(text), on_ref, &st);
  }
  free(seen);
  free(st.inputs);
}
