/* join.c — control flow beyond plain joins (LANGUAGE.md §3), as small
 * additions to the engine's state machine:
 *
 * - partial joins, `needs: {any: [...], count: N, cancel_rest: B}`: the
 *   listed needs are counted as they end (good = succeeded, or failed under
 *   continue_on_error; bad = anything else). The join step FIRES (is pushed
 *   to the ready queue, exactly once) when good reaches N or bad makes N
 *   unreachable; at that moment its `.needs` and helper values are frozen and,
 *   with cancel_rest, the listed needs not yet terminal are withdrawn.
 * - withdrawal (eng_withdraw): a pending step ends `skipped`; a running,
 *   waiting or retrying one is stopped as by cancel and ends `cancelled` with
 *   error kind `withdrawn` (for_each: with all its instances). A withdrawn
 *   step counts as skipped for `success` downstream and never fails the run.
 * - `end: {status, message}`: the end step withdraws every other main step
 *   not yet terminal, succeeds with outputs {status, message}, and the run
 *   ends with that status once `finally` has run (eng_compute_status).
 *
 * Everything here is derived again after a crash or `weft retry` by
 * eng_flow_recount(), from the statuses and errors in the store. */
#include "engine/priv.h"
#include "util/err.h"

#include <assert.h>
#include <string.h>

bool eng_need_good(const struct eng_run *r, uint32_t n)
{
  enum eng_status st = r->u.status[n];
  return st == ENG_SUCCEEDED || (st == ENG_FAILED && r->wf->steps[n].continue_on_error);
}

bool eng_is_withdrawn(const struct eng_run *r, uint32_t s)
{
  return r->u.status[s] == ENG_CANCELLED && r->st[s].withdrawn;
}

static bool join_decided(const struct eng_run *r, uint32_t d)
{
  const struct eng_step *st = &r->st[d];
  uint32_t n = st->ws->n_needs, k = st->ws->join_count;
  return st->join_ok >= k || st->join_bad > n - k;
}

/* The join's `.needs` and helpers as they are now (before any withdrawal). */
static int join_freeze(struct eng_run *r, uint32_t d)
{
  struct eng_step *st = &r->st[d];
  const struct wf_step *ws = st->ws;
  ctx_env(r, d, &st->join_env); /* the plain rules; success is the count */
  st->join_env.success = st->join_ok >= ws->join_count;
  st->join_frozen = true;
  json_t *snap = json_object();
  if (!snap)
    return WEFT_ENOMEM;
  for (uint32_t i = 0; i < ws->n_needs; i++) {
    uint32_t n = ws->needs[i];
    json_t *v = ctx_step_view(r, n);
    if (!v || json_object_set_new(snap, r->wf->steps[n].id, json_deep_copy(v))) {
      json_decref(snap);
      return WEFT_ENOMEM;
    }
  }
  json_decref(st->needs_snap);
  st->needs_snap = snap;
  return 0;
}

static int join_fire(struct eng_run *r, uint32_t d)
{
  struct eng_step *st = &r->st[d];
  const struct wf_step *ws = st->ws;
  int rc = join_freeze(r, d);
  st->join_fired = true;
  if (!rc && (!ws->is_finally || r->finally_phase))
    rc = eng_ready_push(r, d);
  for (uint32_t i = 0; !rc && ws->join_cancel_rest && i < ws->n_needs; i++)
    rc = eng_withdraw(r, ws->needs[i]);
  return rc;
}

int eng_join_need_done(struct eng_run *r, uint32_t d, uint32_t need)
{
  struct eng_step *st = &r->st[d];
  if (eng_need_good(r, need))
    st->join_ok++;
  else
    st->join_bad++;
  if (st->join_fired || r->u.status[d] != ENG_PENDING || !join_decided(r, d))
    return 0;
  return join_fire(r, d);
}

bool eng_join_ready(const struct eng_run *r, uint32_t d)
{
  return r->wf->steps[d].join_count ? r->st[d].join_fired : !r->st[d].waiting_needs;
}

int eng_withdraw(struct eng_run *r, uint32_t s)
{
  enum eng_status ss = r->u.status[s];
  if (engine_status_terminal(ss) || s == r->end_step) /* the end step is finishing */
    return 0;
  r->st[s].withdrawn = true;
  if (ss != ENG_PENDING)
    return eng_stop_step(r, s);
  struct eng_step *st = &r->st[s];
  int rc = 0;
  /* a for_each whose instances `weft retry` kept: they end skipped with it */
  for (uint32_t i = 0; st->expanded && !rc && i < st->n; i++) {
    uint32_t u = st->first + i;
    if (engine_status_terminal(r->u.status[u]))
      continue;
    r->u.flags[u] &= (uint8_t)~UF_QUEUED;
    eng_disarm(r, u);
    if (!(rc = step_set_state(r, u, ENG_SKIPPED)))
      st->done++;
  }
  st->qh = st->qn = 0;
  if (st->expanded)
    st->next = st->n;
  if (!rc)
    rc = step_set_state(r, s, ENG_SKIPPED);
  if (!rc)
    rc = eng_step_finished(r, s);
  return rc;
}

json_t *eng_unit_stop_error(const struct eng_run *r, uint32_t u)
{
  const struct eng_step *st = &r->st[r->u.step[u]];
  if (st->withdrawn && st->cancel_by && !eng_stop_applies(r, r->u.step[u]))
    return eng_cancel_error(r, r->u.step[u]); /* withdraw.c: a cancel step or a request */
  if (r->st[r->u.step[u]].withdrawn && !eng_stop_applies(r, r->u.step[u]))
    return eng_err_make(ENG_E_WITHDRAWN,
                        r->end_step != WF_NONE ? "withdrawn: the run was ended by an end step"
                                               : "withdrawn: no longer needed by a partial join",
                        -1, -1, -1);
  return eng_stop_error(r);
}

/* ---- end: ------------------------------------------------------------------ */

int eng_end_step(struct eng_run *r, uint32_t u)
{
  uint32_t s = r->u.step[u];
  const struct wf_step *ws = &r->wf->steps[s];
  json_t *msg = NULL, *outs = NULL;
  int rc = 0;
  if (ws->end_message) {
    json_t *ctx = NULL;
    char *err = NULL;
    struct expr_env env;
    if ((rc = ctx_build(r, s, u, NULL, &ctx)))
      return rc;
    ctx_env(r, s, &env);
    rc = expr_render(r->wf->prog, ws->end_message, ctx, &env, &msg, &err);
    json_decref(ctx);
    if (rc == WEFT_EEXPR)
      return eng_fail_expr(r, u, "end.message", err);
    free(err);
    if (rc)
      return rc;
  }
  outs = json_pack("{s:s, s:O?}", "status",
                   ws->end_status == WF_END_FAILED ? "failed" : "succeeded", "message", msg);
  json_decref(msg);
  if (!outs)
    return WEFT_ENOMEM;
  r->end_step = s;
  r->gen++;
  for (uint32_t i = 0; !rc && i < r->wf->n_main; i++)
    if (i != s)
      rc = eng_withdraw(r, i);
  if (!rc)
    rc = eng_unit_ok(r, u, outs);
  json_decref(outs);
  return rc;
}

/* ---- recovery and retry ---------------------------------------------------- */

void eng_flow_recount(struct eng_run *r)
{
  r->end_step = WF_NONE;
  for (uint32_t s = 0; s < r->n_steps; s++) {
    struct eng_step *st = &r->st[s];
    const struct wf_step *ws = st->ws;
    json_t *e = eng_err_get(r, s);
    const char *k = json_string_value(json_object_get(e, "kind"));
    st->withdrawn = r->u.status[s] == ENG_CANCELLED && k && !strcmp(k, "withdrawn");
    if (ws->end_status && r->u.status[s] == ENG_SUCCEEDED && !ws->is_finally)
      r->end_step = s;
    st->join_ok = st->join_bad = 0;
    if (!ws->join_count)
      continue;
    for (uint32_t i = 0; i < ws->n_needs; i++) {
      uint32_t n = ws->needs[i];
      if (engine_status_terminal(r->u.status[n]))
        ++*(eng_need_good(r, n) ? &st->join_ok : &st->join_bad);
    }
    st->join_fired = r->u.status[s] != ENG_PENDING;
    if (r->u.status[s] == ENG_PENDING) {
      st->join_frozen = false;
      json_decref(st->needs_snap);
      st->needs_snap = NULL;
    }
  }
}

/* After recovery: a pending join that is decided fires again (its counts only
 * grow, so the decision is the one made before the crash); a join that fired
 * with cancel_rest and an end step that ran withdraw again what the crash
 * left unfinished. */
int eng_flow_resume(struct eng_run *r)
{
  int rc = 0;
  for (uint32_t s = 0; !rc && s < r->n_steps; s++) {
    struct eng_step *st = &r->st[s];
    const struct wf_step *ws = st->ws;
    if (!ws->join_count)
      continue;
    if (r->u.status[s] == ENG_PENDING && join_decided(r, s))
      rc = join_fire(r, s);
    else if (st->join_fired && ws->join_cancel_rest)
      for (uint32_t i = 0; !rc && i < ws->n_needs; i++)
        rc = eng_withdraw(r, ws->needs[i]);
  }
  for (uint32_t i = 0; !rc && r->end_step != WF_NONE && i < r->wf->n_main; i++)
    if (i != r->end_step)
      rc = eng_withdraw(r, i);
  return rc;
}
