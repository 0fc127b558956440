/* foreach_map.c — `for_each: {items: EXPR, complete_when: EXPR,
 * withdraw_rest: B}` (LANGUAGE.md §3): partial completion of a for_each, as a
 * small addition to the for_each aggregate of outcome.c.
 *
 * After each instance of such a step ends (eng_unit_finished), `complete_when`
 * is evaluated with `.instances` = {succeeded, failed, running, pending,
 * total} (running: started, not ended -- running, waiting or retrying;
 * pending: not started yet). The first time it is true the step is DECIDED:
 *   - withdraw_rest (default): the instances not yet terminal are withdrawn:
 *     one not started ends `skipped`, a running, waiting or retrying one is
 *     stopped (killed) and ends `cancelled` with error kind `withdrawn`; once
 *     every instance is terminal the step succeeds (eng_fe_done);
 *   - withdraw_rest: false: the step succeeds at once (its dependents start)
 *     and the rest run on as TRAILING instances: they are recorded as usual,
 *     a cancel or stop still reaches them, and the run enters `finally` only
 *     after them (r->fe_trailing, checked by eng_settle).
 * The step's outputs stay the per-index array, null where an instance was
 * withdrawn. An error in complete_when fails the step (kind expression) and
 * withdraws its other instances.
 *
 * Recovery: the decision is not a stored field. eng_fe_map_restore() derives
 * it from the rows: a running step with an instance withdrawn, or whose
 * complete_when holds over the stored counts, was decided; a succeeded step
 * with instances not terminal has trailing instances. eng_fe_map_resume()
 * then withdraws what the crash left running (their stale processes are
 * killed first by the usual interrupted path). */
#include "engine/priv.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool inst_withdrawn(const struct eng_run *r, uint32_t u)
{
  if (r->u.status[u] != ENG_CANCELLED)
    return false;
  const char *k = json_string_value(json_object_get(eng_err_get(r, u), "kind"));
  return k && !strcmp(k, "withdrawn");
}

/* `.instances` now, from counters (O(1)): terminal ones are `done`;
 * succeeded = done minus failed, cancelled and skipped; running = started and
 * not ended (fe_running, kept by step_set_state); pending = the other open ones. */
static json_t *instances_json(const struct eng_run *r, uint32_t s)
{
  const struct eng_step *st = &r->st[s];
  uint32_t not_ok = st->failed + st->cancelled + st->fe_skipped;
  uint32_t ok = st->done > not_ok ? st->done - not_ok : 0;
  uint32_t open = st->n - st->done;
  uint32_t running = st->fe_running < open ? st->fe_running : open;
  return json_pack("{s:I,s:I,s:I,s:I,s:I}", "succeeded", (json_int_t)ok, "failed",
                   (json_int_t)st->failed, "running", (json_int_t)running, "pending",
                   (json_int_t)(open - running), "total", (json_int_t)st->n);
}

/* complete_when over the current counts: 1 true, 0 false, <0 an error
 * (WEFT_EEXPR with *msg set, or another code). */
static int complete_holds(struct eng_run *r, uint32_t s, char **msg)
{
  struct eng_step *st = &r->st[s];
  json_t *ctx = NULL, *v = NULL, *inst = NULL;
  struct expr_env env;
  *msg = NULL;
  int rc = 0;
  /* the context changes only with step-level transitions (r->gen) and the
   * counts: instances of one step reuse it, `.instances` replaced each time */
  if (st->fe_ctx && st->fe_ctx_gen == r->gen && st->fe_ctx->refcount == 1) {
    ctx = json_incref(st->fe_ctx);
  } else {
    if ((rc = ctx_build(r, s, UINT32_MAX, NULL, &ctx)))
      return rc;
    json_decref(st->fe_ctx);
    st->fe_ctx = json_incref(ctx);
    st->fe_ctx_gen = r->gen;
  }
  inst = instances_json(r, s);
  if (!inst || json_object_set_new(ctx, "instances", inst)) {
    json_decref(ctx);
    return WEFT_ENOMEM;
  }
  ctx_env(r, s, &env);
  rc = expr_render(r->wf->prog, r->wf->steps[s].fe_complete_when, ctx, &env, &v, msg);
  json_decref(ctx);
  if (rc) {
    json_decref(v);
    return rc;
  }
  bool t = expr_truthy(v);
  json_decref(v);
  return t ? 1 : 0;
}

/* Withdraws every instance of s not yet terminal. */
int eng_fe_map_withdraw(struct eng_run *r, uint32_t s)
{
  struct eng_step *st = &r->st[s];
  int rc = 0;
  for (uint32_t k = st->qh; k < st->qn; k++)
    r->u.flags[st->q[k]] &= (uint8_t)~UF_QUEUED;
  st->qh = st->qn = 0;
  st->next = st->n;
  for (uint32_t i = 0; !rc && i < st->n; i++) {
    uint32_t u = st->first + i;
    enum eng_status is = r->u.status[u];
    if (engine_status_terminal(is))
      continue;
    if (is == ENG_PENDING) {
      eng_resv_clear(r, u);
      st->fe_skipped++;
      if (!(rc = step_set_state(r, u, ENG_SKIPPED)))
        rc = eng_unit_finished(r, u);
    } else {
      rc = eng_stop_unit(r, u); /* killed: cancelled/withdrawn when it ends */
    }
  }
  return rc;
}

static int decide(struct eng_run *r, uint32_t s)
{
  struct eng_step *st = &r->st[s];
  st->fe_decided = true;
  if (st->ws->fe_withdraw_rest)
    return eng_fe_map_withdraw(r, s);
  /* the step succeeds now; the open instances trail */
  r->fe_trailing += st->n - st->done;
  int rc = step_set_state(r, s, ENG_SUCCEEDED);
  if (!rc)
    rc = eng_step_finished(r, s);
  return rc;
}

int eng_fe_map_instance_done(struct eng_run *r, uint32_t u)
{
  uint32_t s = r->u.step[u];
  struct eng_step *st = &r->st[s];
  if (st->fe_decided) {
    if (eng_fe_map_trailing(r, s) && r->fe_trailing) {
      r->fe_trailing--; /* a trailing instance ended: the step's outputs grow */
      json_decref(st->outputs);
      st->outputs = NULL;
      ctx_invalidate(r, s);
      r->gen++;
    }
    return 0;
  }
  if (st->ws->kind == WF_FIRST_OF)
    return eng_first_of_instance_done(r, u);
  if (!st->ws->fe_complete_when || st->withdrawn || engine_status_terminal(r->u.status[s]) ||
      eng_stop_applies(r, s))
    return 0;
  char *msg = NULL;
  int h = complete_holds(r, s, &msg);
  if (h == WEFT_EEXPR) {
    /* the step fails; its other instances are withdrawn */
    char b[2048];
    snprintf(b, sizeof b, "complete_when: %s", msg ? msg : "expression failed");
    free(msg);
    st->fe_decided = true;
    st->fe_expr_failed = true;
    int rc = eng_set_error(r, s, eng_err_make(ENG_E_EXPRESSION, b, -1, -1, -1));
    if (!rc)
      rc = eng_fe_map_withdraw(r, s);
    return rc;
  }
  free(msg);
  if (h < 0)
    return h;
  return h ? decide(r, s) : 0;
}

/* eng_fe_done for a decided step: succeeded, or failed by complete_when's error. */
int eng_fe_map_done(struct eng_run *r, uint32_t s)
{
  struct eng_step *st = &r->st[s];
  int rc;
  if (st->ws->kind == WF_FIRST_OF)
    return eng_first_of_done(r, s);
  if (st->fe_expr_failed) {
    rc = step_set_state(r, s, ENG_FAILED);
  } else {
    r->u.err[s] = 0;
    rc = step_set_state(r, s, ENG_SUCCEEDED);
  }
  if (!rc)
    rc = eng_step_finished(r, s);
  return rc;
}

bool eng_fe_map_decided(const struct eng_run *r, uint32_t s)
{
  return r->st[s].fe_decided;
}

/* The error of an instance withdrawn by the decision. */
json_t *eng_fe_map_stop_error(const struct eng_run *r, uint32_t s)
{
  if (r->st[s].ws->kind == WF_FIRST_OF)
    return eng_first_of_stop_error(r, s);
  if (r->end_step != WF_NONE) /* trailing instances withdrawn by an end step (join.c) */
    return eng_err_make(ENG_E_WITHDRAWN, "withdrawn: the run was ended by an end step", -1, -1,
                        -1);
  return eng_err_make(ENG_E_WITHDRAWN,
                      r->st[s].fe_expr_failed ? "withdrawn: the for_each's complete_when failed"
                                              : "withdrawn: the for_each's complete_when held",
                      -1, -1, -1);
}

/* ---- recovery --------------------------------------------------------------- */

/* Called by engine_restore_end after recount, before units are resumed. */
int eng_fe_map_restore(struct eng_run *r)
{
  r->fe_trailing = 0;
  for (uint32_t s = 0; s < r->n_steps; s++) {
    struct eng_step *st = &r->st[s];
    const struct wf_step *ws = st->ws;
    st->fe_decided = st->fe_expr_failed = false;
    st->fe_skipped = st->fe_running = 0;
    if (ws->kind == WF_FIRST_OF && st->expanded)
      eng_first_of_restore(r, s);
    if (!ws->fe_complete_when || !st->expanded)
      continue;
    bool withdrawn = false;
    for (uint32_t i = 0; i < st->n; i++) {
      uint32_t u = st->first + i;
      if (r->u.status[u] == ENG_SKIPPED)
        st->fe_skipped++;
      if (r->u.status[u] != ENG_PENDING && !engine_status_terminal(r->u.status[u]))
        st->fe_running++;
      withdrawn = withdrawn || inst_withdrawn(r, u) || r->u.status[u] == ENG_SKIPPED;
    }
    enum eng_status ss = r->u.status[s];
    if (ss == ENG_SUCCEEDED && st->done < st->n) {
      st->fe_decided = true; /* withdraw_rest: false, the rest trail */
      r->fe_trailing += st->n - st->done;
      if (!ws->is_finally)
        r->finally_phase = false; /* recount thought every main step was done */
    } else if (ss == ENG_RUNNING) {
      char *msg = NULL;
      int h = withdrawn ? 1 : complete_holds(r, s, &msg);
      free(msg);
      if (h < 0 && h != WEFT_EEXPR)
        return h;
      st->fe_decided = h == 1;
    }
  }
  return 0;
}

/* Trailing instances of a succeeded step are resumed like a running step's. */
bool eng_fe_map_trailing(const struct eng_run *r, uint32_t s)
{
  const struct wf_step *ws = r->st[s].ws;
  return ws->fe_complete_when && !ws->fe_withdraw_rest && r->st[s].fe_decided &&
         r->u.status[s] == ENG_SUCCEEDED;
}

/* After the units are resumed: a decided step withdraws what is still open. */
int eng_fe_map_resume(struct eng_run *r)
{
  int rc = 0;
  for (uint32_t s = 0; !rc && s < r->n_steps; s++) {
    struct eng_step *st = &r->st[s];
    if (st->fe_decided && eng_fe_open(r, s) &&
        (st->ws->fe_withdraw_rest || st->ws->kind == WF_FIRST_OF))
      rc = eng_fe_map_withdraw(r, s);
  }
  return rc;
}
