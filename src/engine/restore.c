/* restore.c — rebuilding a run from stored rows (crash recovery) and
 * retrying a finished run in place (`weft retry [--from STEP]`).
 *
 * Stored rows carry what the journal recorded: statuses, attempts,
 * iterations, outputs, errors, times and the due time of retry/repeat timers.
 * Everything derived (readiness counters, per-phase counts, slot use, queues)
 * is recomputed by recount(). Then engine_restore_end() resumes: attempts
 * that were running become failed attempts of kind `interrupted` (counting as
 * an attempt) and are re-attempted after a kill of the dead engine's process
 * group (ENG_KILL_STALE); retrying/repeat timers are re-armed at their stored
 * due time; waiting executors get their start again with `resumed` set. */
#include "engine/priv.h"
#include "util/err.h"
#include "util/jsonfmt.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static void raw_set(struct eng_run *r, uint32_t u, enum eng_status st)
{
  if (unit_is_leaf(r, u)) {
    r->leaf_count[r->u.status[u]]--;
    r->leaf_count[st]++;
  }
  r->u.status[u] = (uint8_t)st;
}

int engine_restore_begin(const struct wf *wf, const struct eng_config *cfg,
                         enum eng_run_status status, int64_t started_at, struct eng_run **out)
{
  *out = NULL;
  int rc = eng_alloc_run(wf, cfg, out);
  if (rc)
    return rc;
  (*out)->status = status;
  (*out)->started_at = started_at;
  return 0;
}

int engine_restore_unit(struct eng_run *r, const struct eng_saved_unit *row)
{
  if (row->step >= r->n_steps || (unsigned)row->status >= ENG_ST__N)
    return WEFT_EINVAL;
  struct eng_step *st = &r->st[row->step];
  uint32_t u;
  int rc = 0;
  if (row->index < 0) {
    u = row->step;
    if (st->is_fe && row->n_instances && !st->expanded && row->status != ENG_PENDING) {
      if ((rc = units_reserve(&r->u, r->u.n + row->n_instances)))
        return rc;
      st->first = units_add(&r->u, row->n_instances, row->step);
      st->n = st->next = row->n_instances;
      st->expanded = true;
      r->leaf_count[ENG_PENDING] += row->n_instances;
    }
  } else {
    if (!st->is_fe)
      return WEFT_EINVAL;
    if (!st->expanded || (uint32_t)row->index >= st->n)
      return 0; /* left over from before a retry reset the step: ignored */
    u = st->first + (uint32_t)row->index;
  }
  enum eng_status status = row->status;
  uint32_t attempts = row->attempts;
  if (status == ENG_PENDING && row->reserved && row->reserved == attempts + 1) {
    status = ENG_RUNNING; /* its process may have started: interrupted below */
    attempts = row->reserved;
  }
  raw_set(r, u, status);
  r->u.attempts[u] = attempts > ENG_MAX_ATTEMPTS ? ENG_MAX_ATTEMPTS : attempts;
  r->u.round0[u] = 0;
  r->u.iteration[u] = row->iteration;
  if (row->iteration > 1 && r->u.attempts[u])
    r->u.round0[u] = r->u.attempts[u] - 1; /* assume one try this iteration */
  r->u.exit_code[u] = row->exit_code;
  r->u.started_at[u] = row->started_at;
  r->u.finished_at[u] = row->finished_at;
  r->u.due_at[u] = row->due_at;
  if (row->error) {
    uint32_t idx;
    if ((rc = eng_err_add(r, json_deep_copy(row->error), &idx)))
      return rc;
    r->u.err[u] = idx;
  }
  if (row->outputs) {
    if (u < r->n_steps && !st->is_fe) {
      json_decref(st->outputs);
      st->outputs = json_deep_copy(row->outputs);
    } else if (u >= r->n_steps) {
      char *t = wjson_dumps(row->outputs, JSON_COMPACT | JSON_ENCODE_ANY);
      if (!t)
        return WEFT_ENOMEM;
      rc = arena_put(&r->arena, t, strlen(t), &r->u.out[u]);
      free(t);
    }
  }
  return rc;
}

/* Recomputes every derived counter from the unit statuses. */
static void recount(struct eng_run *r)
{
  const struct wf *wf = r->wf;
  r->main_done = r->fin_done = 0;
  r->unhandled_main = r->unhandled_fin = 0;
  r->first_failed_step = WF_NONE;
  r->slots = 0;
  r->rd_n = r->rq_n = r->rd_h = r->rq_h = 0;
  for (uint32_t s = 0; s < r->n_steps; s++) {
    struct eng_step *st = &r->st[s];
    const struct wf_step *ws = &wf->steps[s];
    enum eng_status ss = r->u.status[s];
    st->in_ready = st->in_runq = false;
    st->waiting_needs = 0;
    for (uint32_t i = 0; i < ws->n_needs; i++)
      if (!engine_status_terminal(r->u.status[ws->needs[i]]))
        st->waiting_needs++;
    if (engine_status_terminal(ss)) {
      bool unh = ss == ENG_FAILED && !ws->continue_on_error;
      if (ws->is_finally) {
        r->fin_done++;
        if (unh && !r->unhandled_fin++ && !r->unhandled_main)
          r->first_failed_step = s;
      } else {
        r->main_done++;
        if (unh && !r->unhandled_main++)
          r->first_failed_step = s;
      }
    }
    st->active = st->done = st->failed = st->cancelled = 0;
    st->qh = st->qn = 0;
    if (st->expanded) {
      uint32_t base = 0;
      for (uint32_t i = 0; i < st->n; i++) {
        uint32_t u = st->first + i;
        enum eng_status is = r->u.status[u];
        if (r->u.attempts[u] > base)
          base = r->u.attempts[u];
        if (!engine_status_terminal(is))
          continue;
        st->done++;
        if (is == ENG_CANCELLED)
          st->cancelled++;
        if (is == ENG_FAILED && !st->failed++)
          st->first_failed = i;
      }
      st->attempt_base = base;
    }
  }
  r->finally_phase = r->main_done == wf->n_main;
  eng_flow_recount(r);
  for (uint32_t k = 0; k < r->n_steps; k++) {
    uint32_t s = wf->topo[k];
    if (r->u.status[s] == ENG_SKIPPED) {
      struct expr_env env;
      ctx_env(r, s, &env);
      r->st[s].skip_failed = !env.none_failed;
    }
  }
}

static int recompute_items(struct eng_run *r, uint32_t s)
{
  struct eng_step *st = &r->st[s];
  json_t *ctx = NULL, *v = NULL;
  char *msg = NULL;
  struct expr_env env;
  int rc = ctx_build(r, s, UINT32_MAX, NULL, &ctx);
  if (rc)
    return rc;
  ctx_env(r, s, &env);
  rc = expr_render(r->wf->prog, st->ws->for_each, ctx, &env, &v, &msg);
  json_decref(ctx);
  free(msg);
  if (rc == WEFT_EEXPR)
    return 0; /* items fall back to the index */
  if (json_is_array(v) && json_array_size(v) == st->n) {
    json_decref(st->items);
    st->items = v;
    return 0;
  }
  json_decref(v);
  return rc;
}

static int resume_unit(struct eng_run *r, uint32_t u)
{
  uint32_t s = r->u.step[u];
  struct eng_step *st = &r->st[s];
  enum wf_kind kind = st->ws->kind;
  int rc = 0;
  switch ((enum eng_status)r->u.status[u]) {
  case ENG_RUNNING: {
    struct eng_effect *e = eng_fx_push(r, ENG_FX_KILL);
    if (!e)
      return WEFT_ENOMEM;
    e->step = s;
    e->index = unit_index(r, u);
    e->attempt = r->u.attempts[u];
    e->reason = ENG_KILL_STALE;
    json_t *err = eng_err_make(ENG_E_INTERRUPTED,
                               "the engine stopped while this attempt was running", -1, -1, -1);
    struct eng_jent j = {.type = ENG_J_ATTEMPT_END, .step = s, .index = unit_index(r, u),
                         .status = ENG_FAILED, .attempts = r->u.attempts[u],
                         .iteration = r->u.iteration[u], .exit_code = ENG_NO_EXIT,
                         .finished_at = r->now, .error = err};
    if ((rc = eng_journal(r, &j)) || (rc = eng_err_add(r, err, &r->u.err[u])))
      return rc;
    r->u.due_at[u] = r->now;
    if ((rc = step_set_state(r, u, ENG_RETRYING)))
      return rc;
    return eng_unit_enqueue(r, u);
  }
  case ENG_RETRYING:
    return eng_arm(r, u, TK_BACKOFF, r->u.due_at[u] ? r->u.due_at[u] : r->now);
  case ENG_WAITING:
    /* a repeat delay (any kind but approval/wait, or a stored due time), else an
     * executor waiting for a human, a time or an event */
    if (r->u.due_at[u] || !(kind == WF_APPROVAL || kind == WF_WAIT))
      return eng_arm(r, u, TK_DELAY, r->u.due_at[u] ? r->u.due_at[u] : r->now);
    {
      json_t *ctx = NULL;
      char *msg = NULL;
      struct eng_effect *e = eng_fx_push(r, ENG_FX_START);
      if (!e)
        return WEFT_ENOMEM;
      e->step = s;
      e->index = unit_index(r, u);
      e->attempt = r->u.attempts[u];
      e->kind = kind;
      e->resumed = true;
      engine_idem_key(r, s, e->index, e->idem_key, sizeof e->idem_key);
      if ((rc = ctx_build(r, s, u, NULL, &ctx)))
        return rc;
      rc = ctx_render_start(r, s, u, ctx, e, &msg);
      json_decref(ctx);
      free(msg);
      if (rc == WEFT_EEXPR)
        rc = 0; /* the executor keeps its own stored state */
      r->u.flags[u] |= UF_EXEC;
      st->active++;
      if (!rc && st->ws->timeout_ms > 0)
        rc = eng_arm(r, u, TK_ATTEMPT, r->now + st->ws->timeout_ms);
      return rc;
    }
  case ENG_PENDING:
    if (u >= r->n_steps)
      return eng_unit_enqueue(r, u);
    return 0;
  default: return 0;
  }
}

int engine_restore_end(struct eng_run *r, int64_t now, struct eng_effects *fx)
{
  r->now = now;
  r->fx = fx;
  int rc = 0;
  recount(r);
  if (r->finally_phase) {
    r->tentative = eng_compute_status(r);
    r->gen++;
  }
  if (r->status >= ENG_RUN_SUCCEEDED || r->status == ENG_RUN_QUEUED)
    return 0;
  if (r->wf->timeout_ms > 0) {
    struct eng_effect *e = eng_fx_push(r, ENG_FX_TIMER_ARM);
    if (!e)
      return WEFT_ENOMEM;
    e->token = eng_token(TK_RUN, 0, 0);
    e->at = r->started_at + r->wf->timeout_ms;
  }
  for (uint32_t s = 0; !rc && s < r->n_steps; s++) {
    struct eng_step *st = &r->st[s];
    if (st->expanded && r->u.status[s] == ENG_RUNNING)
      rc = recompute_items(r, s);
  }
  for (uint32_t s = 0; !rc && s < r->n_steps; s++) {
    struct eng_step *st = &r->st[s];
    const struct wf_step *ws = st->ws;
    if (!st->is_fe) {
      rc = resume_unit(r, s);
    } else if (st->expanded && r->u.status[s] == ENG_RUNNING) {
      for (uint32_t i = 0; !rc && i < st->n; i++)
        rc = resume_unit(r, st->first + i);
      if (!rc && st->done == st->n) /* all instances ended before the crash */
        rc = eng_fe_done(r, s);
    } else if (st->is_fe && r->u.status[s] == ENG_RUNNING && !st->expanded) {
      raw_set(r, s, ENG_PENDING); /* expansion was not recorded: expand again */
    }
    if (!rc && r->u.status[s] == ENG_PENDING && !st->waiting_needs && !ws->join_count &&
        (!ws->is_finally || r->finally_phase))
      rc = eng_ready_push(r, s);
  }
  if (!rc)
    rc = eng_flow_resume(r); /* join.c: decided joins, withdrawals in flight */
  if (!rc)
    rc = eng_cancel_resume(r); /* withdraw.c: cancel steps, requested withdrawals */
  if (!rc)
    rc = eng_settle(r);
  assert(rc || eng_invariants(r));
  return rc;
}

/* ---- retry ----------------------------------------------------------------- */

static void reset_unit_fields(struct eng_run *r, uint32_t u)
{
  r->u.round0[u] = r->u.attempts[u];
  r->u.iteration[u] = 0;
  r->u.exit_code[u] = ENG_NO_EXIT;
  r->u.err[u] = 0;
  r->u.out[u] = 0;
  r->u.flags[u] = 0;
}

int engine_retry(struct eng_run *r, uint32_t from, int64_t now, struct eng_effects *fx)
{
  r->now = now;
  r->fx = fx;
  const struct wf *wf = r->wf;
  int rc = 0;
  if (r->status < ENG_RUN_SUCCEEDED)
    return WEFT_ESTATE;
  if (from != WF_NONE && from >= r->n_steps)
    return WEFT_EINVAL;
  uint32_t work = 0;
  bool *mark = calloc(r->n_steps ? r->n_steps : 1, sizeof *mark);
  if (!mark)
    return WEFT_ENOMEM;
  for (uint32_t k = 0; k < r->n_steps; k++) {
    uint32_t s = wf->topo[k];
    const struct wf_step *ws = &wf->steps[s];
    enum eng_status ss = r->u.status[s];
    bool m = ws->is_finally;
    if (from != WF_NONE) {
      m = m || s == from;
    } else if (ss == ENG_FAILED || ss == ENG_CANCELLED || ss == ENG_PENDING) {
      m = true;
      work++;
    }
    for (uint32_t i = 0; !m && i < ws->n_needs; i++)
      if (mark[ws->needs[i]] && (from != WF_NONE || ss == ENG_SKIPPED))
        m = true;
    mark[s] = m;
  }
  if (from == WF_NONE && !work) {
    free(mark);
    return WEFT_ESTATE; /* nothing failed: nothing to retry (use --from) */
  }
  for (uint32_t s = 0; !rc && s < r->n_steps; s++) {
    if (!mark[s] || r->u.status[s] == ENG_PENDING)
      continue;
    struct eng_step *st = &r->st[s];
    const struct wf_step *ws = &wf->steps[s];
    bool keep = st->is_fe && st->expanded && s != from && !ws->is_finally;
    for (uint32_t i = 0; keep && i < ws->n_needs; i++)
      keep = !mark[ws->needs[i]];
    if (keep) {
      /* same items (the needs are kept): rerun only the unsuccessful instances */
      for (uint32_t i = 0; !rc && i < st->n; i++) {
        uint32_t u = st->first + i;
        enum eng_status is = r->u.status[u];
        if (is == ENG_SUCCEEDED || is == ENG_PENDING)
          continue;
        reset_unit_fields(r, u);
        rc = step_set_state(r, u, ENG_PENDING);
      }
      st->kept = true;
      if (!st->items && !rc) /* restored: .item comes from for_each again */
        rc = recompute_items(r, s);
    } else if (st->is_fe && st->expanded) {
      uint32_t base = 0;
      for (uint32_t i = 0; i < st->n; i++) {
        uint32_t u = st->first + i;
        if (r->u.attempts[u] > base)
          base = r->u.attempts[u];
        r->leaf_count[r->u.status[u]]--; /* the old range is abandoned */
      }
      st->attempt_base = base;
      st->expanded = false;
      st->n = st->next = 0;
      st->qh = st->qn = 0;
    }
    if (!st->kept) {
      json_decref(st->items);
      st->items = NULL;
    }
    json_decref(st->outputs);
    st->outputs = NULL;
    reset_unit_fields(r, s);
    if (!rc)
      rc = step_set_state(r, s, ENG_PENDING);
  }
  free(mark);
  if (rc)
    return rc;
  r->stop = STOP_NONE;
  r->stop_in_finally = r->cancel_requested = r->timed_out = false;
  json_decref(r->error);
  json_decref(r->outputs);
  r->error = r->outputs = NULL;
  recount(r);
  if ((rc = run_set_state(r, ENG_RUN_RUNNING)))
    return rc;
  if (wf->timeout_ms > 0) {
    struct eng_effect *e = eng_fx_push(r, ENG_FX_TIMER_ARM);
    if (!e)
      return WEFT_ENOMEM;
    e->token = eng_token(TK_RUN, 0, 0);
    e->at = now + wf->timeout_ms;
  }
  if (r->finally_phase) {
    r->tentative = eng_compute_status(r);
    r->gen++;
  }
  for (uint32_t s = 0; !rc && s < r->n_steps; s++)
    if (r->u.status[s] == ENG_PENDING && !r->st[s].waiting_needs && !wf->steps[s].join_count &&
        (!wf->steps[s].is_finally || r->finally_phase))
      rc = eng_ready_push(r, s);
  if (!rc)
    rc = eng_flow_resume(r);
  if (!rc)
    rc = eng_cancel_resume(r);
  if (!rc)
    rc = eng_settle(r);
  assert(rc || eng_invariants(r));
  return rc;
}
