/* engine.c — the public calls: creating and freeing a run, start, cancel,
 * apply (attempt ended, timer fired) and the read accessors.
 *
 * Every call sets r->now and r->fx, handles its event, then runs eng_settle()
 * (outcome.c) and asserts the invariants (check.c). The scheduling itself is
 * in sched.c and outcome.c; the state machines in state.c. */
#include "engine/priv.h"
#include "util/err.h"
#include "util/wtime.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- construction and the public calls ------------------------------------ */

int eng_alloc_run(const struct wf *wf, const struct eng_config *cfg, struct eng_run **out)
{
  int rc = WEFT_ENOMEM;
  struct eng_run *r = calloc(1, sizeof *r);
  if (!r)
    goto out;
  r->wf = wf;
  r->n_steps = wf->n_steps;
  r->run_id = strdup(cfg && cfg->run_id ? cfg->run_id : "");
  r->trigger = strdup(cfg && cfg->trigger ? cfg->trigger : "manual");
  r->secrets = cfg && cfg->secrets ? json_deep_copy(cfg->secrets) : json_object();
  r->event = cfg && cfg->event ? json_deep_copy(cfg->event) : NULL;
  r->trigger_obj = cfg && cfg->trigger_obj ? json_deep_copy(cfg->trigger_obj) : NULL;
  r->inputs = cfg && cfg->inputs ? json_deep_copy(cfg->inputs) : json_object(); /* + defaults */
  for (uint32_t i = 0; r->inputs && json_is_object(r->inputs) && i < wf->n_inputs; i++)
    if (wf->inputs[i].def && !json_object_get(r->inputs, wf->inputs[i].name))
      json_object_set(r->inputs, wf->inputs[i].name, wf->inputs[i].def);
  r->max_parallel = wf->max_parallel > 0 ? wf->max_parallel
                    : cfg && cfg->max_parallel > 0 ? cfg->max_parallel
                                                    : 2;
  r->rng = cfg ? cfg->seed : 0;
  r->first_failed_step = WF_NONE;
  r->end_step = WF_NONE;
  uint32_t ns = r->n_steps ? r->n_steps : 1;
  r->st = calloc(ns, sizeof *r->st);
  r->ready = malloc(ns * sizeof *r->ready);
  r->runq = malloc(ns * sizeof *r->runq);
  if (!r->run_id || !r->trigger || !r->inputs || !r->secrets || !r->st || !r->ready || !r->runq)
    goto out;
  if ((rc = units_reserve(&r->u, ns)))
    goto out;
  units_add(&r->u, r->n_steps, 0);
  for (uint32_t s = 0; s < r->n_steps; s++) {
    const struct wf_step *ws = &wf->steps[s];
    r->u.step[s] = s;
    r->st[s].ws = ws;
    r->st[s].waiting_needs = ws->n_needs;
    r->st[s].is_fe = ws->for_each != NULL;
    if (!r->st[s].is_fe)
      r->leaf_count[ENG_PENDING]++;
  }
  *out = r;
  r = NULL;
  rc = 0;
out:
  engine_free(r);
  return rc;
}

int engine_new(const struct wf *wf, const struct eng_config *cfg, struct eng_run **out)
{
  *out = NULL;
  return eng_alloc_run(wf, cfg, out);
}

void engine_free(struct eng_run *r)
{
  if (!r)
    return;
  for (uint32_t s = 0; r->st && s < r->n_steps; s++) {
    json_decref(r->st[s].items);
    json_decref(r->st[s].outputs);
    json_decref(r->st[s].view);
    json_decref(r->st[s].needs_snap);
    json_decref(r->st[s].fe_ctx);
    free(r->st[s].q);
  }
  for (uint32_t i = 0; i < r->n_errs; i++)
    json_decref(r->errs[i]);
  free(r->errs);
  arena_free(&r->arena);
  units_free(&r->u);
  free(r->st);
  free(r->ready);
  free(r->runq);
  free(r->resv);
  json_decref(r->ctx_cache);
  json_decref(r->secrets);
  json_decref(r->event);
  json_decref(r->trigger_obj);
  json_decref(r->inputs);
  json_decref(r->outputs);
  json_decref(r->error);
  free(r->run_id);
  free(r->trigger);
  free(r);
}

static void begin_call(struct eng_run *r, int64_t now, struct eng_effects *fx)
{
  r->now = now;
  r->fx = fx;
}

int engine_start(struct eng_run *r, int64_t now, struct eng_effects *fx)
{
  begin_call(r, now, fx);
  if (r->status != ENG_RUN_QUEUED)
    return WEFT_ESTATE;
  int rc = run_set_state(r, ENG_RUN_RUNNING);
  if (!rc && r->wf->timeout_ms > 0) {
    struct eng_effect *e = eng_fx_push(r, ENG_FX_TIMER_ARM);
    if (!e)
      return WEFT_ENOMEM;
    e->token = eng_token(TK_RUN, 0, 0);
    e->at = r->started_at + r->wf->timeout_ms;
  }
  for (uint32_t s = 0; !rc && s < r->wf->n_main; s++)
    if (!r->st[s].waiting_needs)
      rc = eng_ready_push(r, s);
  if (!rc)
    rc = eng_settle(r);
  assert(rc || eng_invariants(r));
  return rc;
}

int engine_cancel(struct eng_run *r, int64_t now, struct eng_effects *fx)
{
  begin_call(r, now, fx);
  int rc = 0;
  if (r->status >= ENG_RUN_SUCCEEDED)
    return WEFT_ESTATE;
  if (r->status == ENG_RUN_QUEUED) {
    r->error = eng_err_make(ENG_E_CANCELLED, "the run was cancelled", -1, -1, -1);
    if ((rc = run_set_state(r, ENG_RUN_CANCELLED)))
      return rc;
    struct eng_effect *e = eng_fx_push(r, ENG_FX_RUN_FINISHED);
    if (!e)
      return WEFT_ENOMEM;
    e->status = ENG_RUN_CANCELLED;
    return 0;
  }
  if (r->cancel_requested && (!r->finally_phase || r->stop_in_finally))
    return 0;
  r->cancel_requested = true;
  if ((rc = eng_stop_phase(r, STOP_CANCEL)))
    return rc;
  rc = eng_settle(r);
  assert(rc || eng_invariants(r));
  return rc;
}

static int on_attempt_ended(struct eng_run *r, const struct eng_event *ev)
{
  if (ev->step >= r->n_steps)
    return 0;
  struct eng_step *st = &r->st[ev->step];
  uint32_t u;
  if (ev->index < 0) {
    if (st->is_fe)
      return 0;
    u = ev->step;
  } else {
    if (!st->is_fe || !st->expanded || (uint32_t)ev->index >= st->n)
      return 0;
    u = st->first + (uint32_t)ev->index;
  }
  uint8_t f = r->u.flags[u];
  if (!(f & UF_EXEC) || r->u.attempts[u] != ev->attempt)
    return 0; /* stale */
  eng_disarm(r, u);
  r->u.flags[u] &= (uint8_t)~(UF_EXEC | UF_KILL_MASK);
  st->active--;
  if (f & UF_SLOT) {
    r->u.flags[u] &= (uint8_t)~UF_SLOT;
    r->slots--;
  }
  unsigned kill = (f & UF_KILL_MASK) >> UF_KILL_SHIFT;
  json_t *err = NULL;
  int rc = 0;
  if (!ev->ok) {
    if (kill == ENG_KILL_TIMEOUT) {
      char d[32], b[96];
      wt_fmt_duration(st->ws->timeout_ms, d);
      snprintf(b, sizeof b, "timed out after %s", d);
      err = eng_err_make(ENG_E_TIMEOUT, b, -1, ev->signal, -1);
    } else if (kill != ENG_KILL_STOP) {
      err = eng_err_make(ev->kind ? ev->kind : ENG_E_EXIT_CODE, ev->message, ev->exit_code,
                         ev->signal, ev->http_status);
    } else {
      err = eng_unit_stop_error(r, u); /* for the attempt's row; the unit gets its own */
    }
  }
  struct eng_jent j = {
    .type = ENG_J_ATTEMPT_END,
    .step = ev->step,
    .index = ev->index < 0 ? -1 : ev->index,
    .status = ev->ok ? ENG_SUCCEEDED : ENG_FAILED,
    .attempts = ev->attempt,
    .iteration = r->u.iteration[u],
    .exit_code = ev->exit_code >= 0 ? ev->exit_code : ENG_NO_EXIT,
    .finished_at = r->now,
    .error = err,
  };
  if ((rc = eng_journal(r, &j))) {
    json_decref(err);
    return rc;
  }
  if (ev->exit_code >= 0)
    r->u.exit_code[u] = ev->exit_code;
  if (ev->ok) {
    rc = eng_unit_ok(r, u, ev->outputs);
  } else if (kill == ENG_KILL_STOP) {
    json_decref(err);
    err = NULL;
    /* what a stopped attempt reported (a cancelled child's outputs) is kept;
     * an instance withdrawn by complete_when has none (foreach_map.c) */
    if (ev->outputs && !(ev->index >= 0 && eng_fe_map_decided(r, ev->step)) &&
        (rc = eng_set_outputs(r, u, ev->outputs)))
      return rc;
    rc = eng_cancel_unit(r, u);
  } else {
    if (ev->outputs && (rc = eng_set_outputs(r, u, ev->outputs))) {
      json_decref(err);
      return rc;
    }
    bool retryable = !(err && (ev->kind == ENG_E_EXPRESSION || ev->kind == ENG_E_REJECTED ||
                               ev->kind == ENG_E_VALIDATION || ev->kind == ENG_E_CANCELLED)) ||
                     kill == ENG_KILL_TIMEOUT;
    rc = eng_fail_unit(r, u, err, retryable);
    err = NULL;
  }
  if (!rc && eng_step_has_work(st) && st->active < (uint32_t)eng_step_limit(r, ev->step)) {
    if (eng_kind_slot(st->ws->kind))
      eng_runq_push(r, ev->step);
    else
      rc = eng_step_fill(r, ev->step); /* approval/wait need no slot: don't queue behind */
  }
  return rc;
}

/* An executor's record (an approval's request or timeout): journaled when
 * the attempt is the unit's attempt in flight; a stale one is dropped. */
static int on_record(struct eng_run *r, const struct eng_event *ev)
{
  if (ev->step >= r->n_steps || !ev->outputs)
    return 0;
  struct eng_step *st = &r->st[ev->step];
  uint32_t u;
  if (ev->index < 0) {
    if (st->is_fe)
      return 0;
    u = ev->step;
  } else {
    if (!st->is_fe || !st->expanded || (uint32_t)ev->index >= st->n)
      return 0;
    u = st->first + (uint32_t)ev->index;
  }
  if (!(r->u.flags[u] & UF_EXEC) || r->u.attempts[u] != ev->attempt)
    return 0; /* stale */
  struct eng_jent j = {.type = ENG_J_RECORD, .step = ev->step,
                       .index = ev->index < 0 ? -1 : ev->index, .attempts = ev->attempt,
                       .exit_code = ENG_NO_EXIT, .outputs = (json_t *)ev->outputs};
  return eng_journal(r, &j);
}

static int on_timer(struct eng_run *r, uint64_t tok)
{
  int tk = (int)(tok >> 56);
  uint32_t u = (uint32_t)tok, att = (uint32_t)(tok >> 32) & 0xffffffu;
  if (tk == TK_RUN) {
    if (r->status >= ENG_RUN_SUCCEEDED || r->timed_out || r->status == ENG_RUN_QUEUED)
      return 0;
    r->timed_out = true;
    return eng_stop_phase(r, STOP_TIMEOUT);
  }
  if (u >= r->u.n || (r->u.attempts[u] & 0xffffffu) != att || !(r->u.flags[u] & UF_TIMER))
    return 0;
  enum eng_status s = r->u.status[u];
  uint8_t *f = &r->u.flags[u];
  if (tk == TK_ATTEMPT && (*f & UF_EXEC) && (s == ENG_RUNNING || s == ENG_WAITING)) {
    *f &= (uint8_t)~UF_TIMER;
    if (*f & UF_KILL_MASK)
      return 0;
    *f |= (uint8_t)(ENG_KILL_TIMEOUT << UF_KILL_SHIFT);
    struct eng_effect *e = eng_fx_push(r, ENG_FX_KILL);
    if (!e)
      return WEFT_ENOMEM;
    e->step = r->u.step[u];
    e->index = unit_index(r, u);
    e->attempt = r->u.attempts[u];
    e->reason = ENG_KILL_TIMEOUT;
    return 0;
  }
  if ((tk == TK_BACKOFF && s == ENG_RETRYING) ||
      (tk == TK_DELAY && s == ENG_WAITING && !(*f & UF_EXEC))) {
    *f &= (uint8_t)~UF_TIMER;
    return eng_unit_enqueue(r, u);
  }
  return 0;
}

int engine_apply(struct eng_run *r, const struct eng_event *ev, int64_t now,
                 struct eng_effects *fx)
{
  begin_call(r, now, fx);
  int rc;
  if (r->status == ENG_RUN_QUEUED || r->status >= ENG_RUN_SUCCEEDED)
    return 0; /* nothing is in flight */
  switch (ev->type) {
  case ENG_EV_ATTEMPT_ENDED: rc = on_attempt_ended(r, ev); break;
  case ENG_EV_TIMER: rc = on_timer(r, ev->token); break;
  case ENG_EV_RECORD: return on_record(r, ev); /* no transition: nothing to settle */
  default: return WEFT_EINVAL;
  }
  if (!rc)
    rc = eng_settle(r);
  assert(rc || eng_invariants(r));
  return rc;
}

/* ---- reading ---------------------------------------------------------------- */

enum eng_run_status engine_run_status(const struct eng_run *r) { return r->status; }
const json_t *engine_run_outputs(const struct eng_run *r) { return r->outputs; }
const json_t *engine_run_error(const struct eng_run *r) { return r->error; }

static uint32_t unit_of(const struct eng_run *r, uint32_t s, int32_t index)
{
  if (s >= r->n_steps)
    return UINT32_MAX;
  if (index < 0)
    return s;
  const struct eng_step *st = &r->st[s];
  if (!st->expanded || (uint32_t)index >= st->n)
    return UINT32_MAX;
  return st->first + (uint32_t)index;
}

enum eng_status engine_unit_status(const struct eng_run *r, uint32_t s, int32_t index)
{
  uint32_t u = unit_of(r, s, index);
  return u == UINT32_MAX ? ENG_PENDING : (enum eng_status)r->u.status[u];
}

uint32_t engine_unit_attempts(const struct eng_run *r, uint32_t s, int32_t index)
{
  uint32_t u = unit_of(r, s, index);
  return u == UINT32_MAX ? 0 : r->u.attempts[u];
}

uint32_t engine_instance_count(const struct eng_run *r, uint32_t s)
{
  return s < r->n_steps && r->st[s].expanded ? r->st[s].n : 0;
}

void engine_idem_key(const struct eng_run *r, uint32_t s, int32_t index, char *out, size_t n)
{
  const char *id = s < r->n_steps ? r->wf->steps[s].id : "?";
  if (index < 0)
    snprintf(out, n, "%s/%s", r->run_id, id);
  else
    snprintf(out, n, "%s/%s/%d", r->run_id, id, index);
}

uint64_t engine_queued(const struct eng_run *r)
{
  uint64_t n = 0;
  for (uint32_t s = 0; s < r->n_steps; s++) {
    const struct eng_step *st = &r->st[s];
    n += (uint64_t)(st->qn - st->qh) + (st->expanded && st->next < st->n ? st->n - st->next : 0);
  }
  return n;
}
