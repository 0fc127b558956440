/* logs.c — which file holds a step attempt's output (GET
 * /runs/{id}/logs/{step}, and `weft logs`, which reads the same way for one
 * step and for each log it shows), and whether that attempt has ended (a
 * follower stops then). The bytes themselves are read by the caller: the CLI
 * copies them to the terminal, the server streams them. */
#include "ops/ops.h"
#include "ops/defcache.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

void ops_log_clear(struct ops_log *l)
{
  free(l->step);
  free(l->path);
  memset(l, 0, sizeof *l);
}

int ops_log_pick(struct store *s, const char *run_id, const char *step, int index, int attempt,
                 struct ops_log *out)
{
  memset(out, 0, sizeof *out);
  struct store_attempt *att = NULL;
  size_t na = 0;
  int rc = store_attempt_list(s, run_id, step, index, &att, &na);
  if (rc)
    goto out;
  size_t pick = na;
  for (size_t a = 0; a < na; a++)
    if (attempt ? att[a].attempt == attempt : true)
      pick = a; /* the last, or the one asked for */
  if (pick == na || !att[pick].log_path) {
    rc = WEFT_ENOTFOUND;
    goto out;
  }
  snprintf(out->run_id, sizeof out->run_id, "%s", run_id);
  out->step = strdup(step);
  out->index = index;
  out->attempt = att[pick].attempt;
  out->path = strdup(att[pick].log_path);
  if (!out->step || !out->path) {
    ops_log_clear(out);
    rc = WEFT_ENOMEM;
  }
out:
  store_attempts_free(att, na);
  return rc;
}

enum ops_err ops_step_log(const struct ops_ctx *c, const char *id, const char *step, int index, int attempt,
                          struct ops_log *out, struct ops_error *e)
{
  memset(out, 0, sizeof *out);
  enum ops_err k = ops_authorize(c, "get_logs", e);
  struct store_run r = {0};
  const struct wf *wf = NULL;
  if (k || (k = ops_find_run(c->store, id, &r, e)) != 0)
    goto out;
  wf = ops_def_get(c->store, &r);
  uint32_t si = wf ? wf_step_find(wf, step) : WF_NONE;
  if (wf && si == WF_NONE) {
    k = ops_fail(e, OPS_E_NOT_FOUND, "run %.8s has no step \"%s\"; `weft status %.8s` lists its steps", r.id,
                 step, r.id);
    goto out;
  }
  if (wf && wf->steps[si].for_each && index < 0) {
    e->usage = true;
    k = ops_fail(e, OPS_E_BAD_REQUEST, "step \"%s\" runs for_each: name one instance with index=N", step);
    goto out;
  }
  if (wf && !wf->steps[si].for_each && index >= 0) {
    e->usage = true;
    k = ops_fail(e, OPS_E_BAD_REQUEST, "step \"%s\" has no instances: leave index out", step);
    goto out;
  }
  int rc = ops_log_pick(c->store, r.id, step, index, attempt, out);
  if (rc == WEFT_ENOTFOUND) {
    char what[200];
    if (index >= 0)
      snprintf(what, sizeof what, "%s:%d", step, index);
    else
      snprintf(what, sizeof what, "%s", step);
    /* the run's first 8 characters, as `weft runs` shows it */
    k = ops_fail(e, OPS_E_NOT_FOUND, "no output recorded for %s in run %.8s%s", what, r.id,
                 attempt ? " at that attempt" : " (it has not run a program yet)");
  } else if (rc) {
    k = ops_fail(e, OPS_E_INTERNAL, "cannot read the attempts of %s: %s", step, store_errmsg(c->store));
  }
out:
  ops_def_put(wf);
  store_run_clear(&r);
  return k;
}

bool ops_log_ended(struct store *s, const struct ops_log *l)
{
  struct store_run r = {0};
  if (store_run_get(s, l->run_id, &r) != 0)
    return true;
  bool ended = ops_status_terminal(r.status);
  store_run_clear(&r);
  if (ended)
    return true;
  struct store_attempt *att = NULL;
  size_t na = 0;
  if (store_attempt_list(s, l->run_id, l->step, l->index, &att, &na) != 0) {
    store_attempts_free(att, na);
    return true;
  }
  ended = true;
  for (size_t a = 0; a < na; a++)
    if (att[a].attempt == l->attempt)
      ended = att[a].finished_at != 0;
  store_attempts_free(att, na);
  return ended;
}

void ops_logs_free(struct ops_log *v, size_t n)
{
  for (size_t i = 0; v && i < n; i++)
    ops_log_clear(&v[i]);
  free(v);
}

/* Appends the chosen attempt's log of each matching row to *v. */
static int add_logs(struct store *s, const struct store_run *r, const struct store_step *rows, size_t n,
                    bool for_each, const struct ops_log_sel *sel, struct ops_log **v, size_t *nv,
                    size_t *cap)
{
  for (size_t i = 0; i < n; i++) {
    const struct store_step *st = &rows[i];
    if (!sel->any_index && st->index != sel->index)
      continue;
    if (st->index < 0 && for_each)
      continue; /* the aggregate row has no log of its own */
    struct ops_log l;
    if (ops_log_pick(s, r->id, st->step, st->index, sel->attempt, &l) != 0)
      continue; /* none at that attempt, or it ran no program */
    if (*nv == *cap) {
      size_t nc = *cap ? 2 * *cap : 16;
      struct ops_log *g = realloc(*v, nc * sizeof *g);
      if (!g) {
        ops_log_clear(&l);
        return WEFT_ENOMEM;
      }
      *v = g;
      *cap = nc;
    }
    (*v)[(*nv)++] = l;
  }
  return 0;
}

int ops_log_targets(struct store *s, const struct store_run *r, const struct wf *wf,
                    const struct ops_log_sel *sel, struct ops_log **out, size_t *n)
{
  struct ops_log *v = NULL;
  size_t nv = 0, cap = 0;
  int rc = 0;
  *out = NULL;
  *n = 0;
  for (size_t k = 0; !rc && k < (wf ? wf->n_steps : 1); k++) {
    const char *id = wf ? wf->steps[k].id : sel->step;
    if (wf && ((sel->step && strcmp(sel->step, id)) ||
               (wf->steps[k].kind != WF_RUN && wf->steps[k].kind != WF_COMMAND)))
      continue;
    struct store_step *rows = NULL;
    size_t nr = 0;
    if (id && !sel->any_index) {
      rows = calloc(1, sizeof *rows);
      if (!rows)
        rc = WEFT_ENOMEM;
      else if (store_step_get(s, r->id, id, sel->index, rows) == 0)
        nr = 1;
    } else {
      store_step_list(s, r->id, id, &rows, &nr);
    }
    if (!rc)
      rc = add_logs(s, r, rows, nr, wf && wf->steps[k].for_each, sel, &v, &nv, &cap);
    store_steps_free(rows, nr);
  }
  if (rc) {
    ops_logs_free(v, nv);
    return rc;
  }
  *out = v;
  *n = nv;
  return 0;
}
