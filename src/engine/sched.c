/* sched.c — scheduling: the ready and run queues, the run's slots, timers,
 * starting units (rendering their start effect, or completing set/no-op steps
 * at once), for_each expansion and the evaluation of a ready step (`if`,
 * `for_each`).
 *
 * Readiness is event-driven: eng_step_finished() (outcome.c) decrements each
 * dependent's count of unfinished needs and pushes it on the ready FIFO when
 * it reaches zero; eng_settle() pops it into eng_eval_step(). Nothing scans
 * all steps.
 *
 * Slots: units of run/command/http/agent/workflow steps hold one of the run's
 * max_parallel slots while an attempt is in flight; approval and wait steps
 * do not (they are waiting, not running). A step's own max_parallel (for_each)
 * limits its units in flight. Steps with units to start but no free slot wait
 * in the run queue (a FIFO of step ids; each step at most once). */
#include "engine/priv.h"
#include "util/err.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t eng_token(int kind, uint32_t unit, uint32_t attempts)
{
  return (uint64_t)kind << 56 | (uint64_t)(attempts & 0xffffffu) << 32 | unit;
}


/* ---- timers -------------------------------------------------------------- */

static int timer_kind_of(const struct eng_run *r, uint32_t u)
{
  switch (r->u.status[u]) {
  case ENG_RETRYING: return TK_BACKOFF;
  case ENG_WAITING: return (r->u.flags[u] & UF_EXEC) ? TK_ATTEMPT : TK_DELAY;
  default: return TK_ATTEMPT;
  }
}

int eng_arm(struct eng_run *r, uint32_t u, int tk, int64_t at)
{
  struct eng_effect *e = eng_fx_push(r, ENG_FX_TIMER_ARM);
  if (!e)
    return WEFT_ENOMEM;
  e->step = r->u.step[u];
  e->index = unit_index(r, u);
  e->attempt = r->u.attempts[u];
  e->token = eng_token(tk, u, r->u.attempts[u]);
  e->at = at;
  r->u.flags[u] |= UF_TIMER;
  return 0;
}

void eng_disarm(struct eng_run *r, uint32_t u)
{
  if (!(r->u.flags[u] & UF_TIMER))
    return;
  r->u.flags[u] &= (uint8_t)~UF_TIMER;
  struct eng_effect *e = eng_fx_push(r, ENG_FX_TIMER_CANCEL);
  if (!e)
    return; /* a stale timer is ignored when it fires */
  e->step = r->u.step[u];
  e->index = unit_index(r, u);
  e->attempt = r->u.attempts[u];
  e->token = eng_token(timer_kind_of(r, u), u, r->u.attempts[u]);
}

/* ---- queues -------------------------------------------------------------- */

int eng_ready_push(struct eng_run *r, uint32_t s)
{
  struct eng_step *st = &r->st[s];
  if (st->in_ready)
    return 0;
  assert(r->rd_n < r->n_steps);
  r->ready[(r->rd_h + r->rd_n++) % r->n_steps] = s;
  st->in_ready = true;
  return 0;
}

void eng_runq_push(struct eng_run *r, uint32_t s)
{
  struct eng_step *st = &r->st[s];
  if (st->in_runq)
    return;
  assert(r->rq_n < r->n_steps);
  r->runq[(r->rq_h + r->rq_n++) % r->n_steps] = s;
  st->in_runq = true;
}



/* Starts as many of step s's units as its limit and the free slots allow. */
int eng_step_fill(struct eng_run *r, uint32_t s)
{
  struct eng_step *st = &r->st[s];
  bool slot = eng_kind_slot(st->ws->kind);
  int rc = 0;
  while (eng_step_has_work(st) && st->active < (uint32_t)eng_step_limit(r, s)) {
    if (slot && r->slots >= r->max_parallel) {
      eng_runq_push(r, s);
      break;
    }
    uint32_t u;
    if (st->qh < st->qn) {
      u = st->q[st->qh++];
      r->u.flags[u] &= (uint8_t)~UF_QUEUED;
      if (engine_status_terminal(r->u.status[u]))
        continue; /* cancelled while queued */
    } else {
      u = st->first + st->next++;
    }
    if ((rc = eng_start_unit(r, u)))
      break;
  }
  return rc;
}

int eng_unit_enqueue(struct eng_run *r, uint32_t u)
{
  uint32_t s = r->u.step[u];
  struct eng_step *st = &r->st[s];
  int rc = sq_push(st, u);
  if (rc)
    return rc;
  r->u.flags[u] |= UF_QUEUED;
  if (eng_kind_slot(st->ws->kind))
    eng_runq_push(r, s);
  else
    rc = eng_step_fill(r, s);
  return rc;
}

int eng_pump(struct eng_run *r)
{
  int rc = 0;
  while (!rc && r->rq_n && r->slots < r->max_parallel) {
    uint32_t s = r->runq[r->rq_h];
    r->rq_h = (r->rq_h + 1) % r->n_steps;
    r->rq_n--;
    r->st[s].in_runq = false;
    rc = eng_step_fill(r, s);
  }
  return rc;
}

/* ---- starting ------------------------------------------------------------ */

static bool tmpl_has_expr(const json_t *v)
{
  if (json_is_string(v))
    return expr_has(json_string_value(v), json_string_length(v));
  size_t i;
  const char *k;
  json_t *x;
  if (json_is_array(v)) {
    json_array_foreach(v, i, x)
      if (tmpl_has_expr(x))
        return true;
  } else if (json_is_object(v)) {
    json_object_foreach((json_t *)v, k, x)
      if (tmpl_has_expr(x))
        return true;
  }
  return false;
}

/* One evaluation of a set/no-op unit; AGAIN when repeat wants another now. */
static int instant_once(struct eng_run *r, uint32_t s, uint32_t u)
{
  const struct wf_step *ws = &r->wf->steps[s];
  json_t *ctx = NULL, *v = NULL;
  char *msg = NULL;
  struct expr_env env;
  if (ws->kind == WF_NOOP)
    return ws->end_status ? eng_end_step(r, u)
           : ws->n_cancel ? eng_cancel_step(r, u)
                          : eng_unit_ok(r, u, NULL);
  /* a literal `set` (no ${{ }}) needs no context: its body is its outputs */
  struct eng_step *st = &r->st[s];
  if (!st->body_exprs)
    st->body_exprs = tmpl_has_expr(ws->body) ? 2 : 1;
  if (st->body_exprs == 1 && !ws->repeat.set)
    return eng_unit_ok(r, u, ws->body);
  int rc = ctx_build(r, s, u, NULL, &ctx);
  if (rc)
    return rc;
  ctx_env(r, s, &env);
  rc = expr_render(r->wf->prog, ws->body, ctx, &env, &v, &msg);
  json_decref(ctx);
  if (rc == WEFT_EEXPR)
    return eng_fail_expr(r, u, "set", msg);
  free(msg);
  if (!rc)
    rc = eng_unit_ok(r, u, v);
  json_decref(v);
  return rc;
}

int eng_start_unit(struct eng_run *r, uint32_t u)
{
  uint32_t s = r->u.step[u];
  struct eng_step *st = &r->st[s];
  const struct wf_step *ws = st->ws;
  json_t *ctx = NULL;
  char *msg = NULL;
  int rc = 0;

  if (eng_stop_applies(r, s))
    return eng_cancel_unit(r, u);
  if (r->u.attempts[u] < ENG_MAX_ATTEMPTS)
    r->u.attempts[u]++;
  r->u.err[u] = 0; /* a new attempt: the last one's error stays in the journal */
  r->u.exit_code[u] = ENG_NO_EXIT;
  if (ws->repeat.set && !r->u.iteration[u])
    r->u.iteration[u] = 1;

  if (eng_kind_instant(ws->kind)) {
    while ((rc = instant_once(r, s, u)) == AGAIN)
      if (r->u.attempts[u] < ENG_MAX_ATTEMPTS)
        r->u.attempts[u]++;
    return rc;
  }

  struct eng_effect *e = eng_fx_push(r, ENG_FX_START);
  if (!e)
    return WEFT_ENOMEM;
  e->step = s;
  e->index = unit_index(r, u);
  e->attempt = r->u.attempts[u];
  e->kind = ws->kind;
  e->early = (r->u.flags[u] & (UF_RESV | UF_RESV_DUR)) == (UF_RESV | UF_RESV_DUR);
  eng_resv_clear(r, u);
  engine_idem_key(r, s, e->index, e->idem_key, sizeof e->idem_key);
  /* a start with no ${{ }} in what it renders needs no context (building one
   * is most of a literal command's cost in the engine) */
  if (!st->start_exprs)
    st->start_exprs = (ws->body && tmpl_has_expr(ws->body)) ||
                              (ws->env && tmpl_has_expr(ws->env)) ||
                              (ws->cwd && tmpl_has_expr(ws->cwd))
                          ? 2
                          : 1;
  if (st->start_exprs == 1)
    ctx = json_object();
  else if ((rc = ctx_build(r, s, u, NULL, &ctx)))
    return rc;
  if (!ctx)
    return WEFT_ENOMEM;
  rc = ctx_render_start(r, s, u, ctx, e, &msg);
  json_decref(ctx);
  if (rc) {
    /* drop the half-built effect: it is the last one */
    struct eng_effects *fx = r->fx;
    struct eng_effect *last = &fx->v[--fx->n];
    json_decref(last->argv), json_decref(last->env), json_decref(last->cwd);
    json_decref(last->body), json_decref(last->item);
    if (rc == WEFT_EEXPR)
      return eng_fail_expr(r, u, wf_kind_name(ws->kind), msg);
    free(msg);
    return rc;
  }
  r->u.flags[u] |= UF_EXEC;
  st->active++;
  if (eng_kind_slot(ws->kind)) {
    r->u.flags[u] |= UF_SLOT;
    r->slots++;
  }
  if ((rc = step_set_state(r, u, eng_kind_waits(ws->kind) ? ENG_WAITING : ENG_RUNNING)))
    return rc;
  struct eng_jent j = {
    .type = ENG_J_ATTEMPT_START,
    .step = s,
    .index = unit_index(r, u),
    .status = ENG_RUNNING,
    .attempts = r->u.attempts[u],
    .iteration = r->u.iteration[u],
    .exit_code = ENG_NO_EXIT,
    .started_at = r->now,
  };
  if ((rc = eng_journal(r, &j)))
    return rc;
  if (ws->timeout_ms > 0)
    rc = eng_arm(r, u, TK_ATTEMPT, r->now + ws->timeout_ms);
  return rc;
}

int eng_expand(struct eng_run *r, uint32_t s, uint32_t n, json_t *items)
{
  struct eng_step *st = &r->st[s];
  int rc = 0;
  if (n > WF_MAX_FOR_EACH) {
    json_decref(items);
    char b[128];
    snprintf(b, sizeof b, "for_each: %u items is over the limit of %u", n, WF_MAX_FOR_EACH);
    return eng_fail_unit(r, s, eng_err_make(ENG_E_EXPRESSION, b, -1, -1, -1), false);
  }
  if ((rc = units_reserve(&r->u, r->u.n + n))) {
    json_decref(items);
    return rc;
  }
  json_decref(st->items);
  st->items = items;
  st->first = units_add(&r->u, n, s);
  for (uint32_t i = 0; i < n; i++)
    r->u.attempts[st->first + i] = r->u.round0[st->first + i] = st->attempt_base;
  st->n = n;
  st->next = st->done = st->failed = st->cancelled = st->active = 0;
  st->qh = st->qn = 0;
  st->expanded = true;
  r->leaf_count[ENG_PENDING] += n;
  json_decref(st->outputs);
  st->outputs = NULL;
  struct eng_jent j = {.type = ENG_J_EXPAND, .step = s, .index = -1, .n = n,
                       .attempts = st->attempt_base, .exit_code = ENG_NO_EXIT};
  if ((rc = eng_journal(r, &j)))
    return rc;
  if (!n) {
    if ((rc = step_set_state(r, s, ENG_SUCCEEDED)))
      return rc;
    return eng_step_finished(r, s);
  }
  if ((rc = step_set_state(r, s, ENG_RUNNING)))
    return rc;
  if (eng_kind_instant(st->ws->kind)) {
    while (!rc && st->next < st->n && !eng_stop_applies(r, s))
      rc = eng_start_unit(r, st->first + st->next++);
    return rc;
  }
  if (eng_kind_slot(st->ws->kind))
    eng_runq_push(r, s);
  else
    rc = eng_step_fill(r, s);
  return rc;
}

/* engine_retry kept a for_each step's instances: queue the pending ones. */
static int fe_resume(struct eng_run *r, uint32_t s)
{
  struct eng_step *st = &r->st[s];
  int rc = step_set_state(r, s, ENG_RUNNING);
  st->next = st->n;
  st->qh = st->qn = 0;
  bool instant = eng_kind_instant(st->ws->kind);
  for (uint32_t i = 0; !rc && i < st->n; i++) {
    uint32_t u = st->first + i;
    if (r->u.status[u] != ENG_PENDING)
      continue;
    if (instant) {
      rc = eng_start_unit(r, u);
    } else if (!(rc = sq_push(st, u))) {
      r->u.flags[u] |= UF_QUEUED;
    }
  }
  if (!rc && st->done == st->n && !engine_status_terminal(r->u.status[s]))
    return eng_fe_done(r, s); /* nothing was left to rerun */
  if (rc || instant)
    return rc;
  if (eng_kind_slot(st->ws->kind))
    eng_runq_push(r, s);
  else
    rc = eng_step_fill(r, s);
  return rc;
}

/* Step s is pending and all its needs are terminal: if, for_each, start. */
int eng_eval_step(struct eng_run *r, uint32_t s)
{
  const struct wf_step *ws = &r->wf->steps[s];
  char *msg = NULL;
  int rc = 0;
  if (r->u.status[s] != ENG_PENDING)
    return 0;
  bool kept = r->st[s].kept;
  r->st[s].kept = false;
  if (eng_stop_applies(r, s))
    return eng_cancel_unit(r, s);
  bool go;
  struct expr_env env0;
  ctx_env(r, s, &env0);
  r->st[s].skip_failed = !env0.none_failed;
  if (ws->if_) {
    rc = eng_eval_cond(r, s, UINT32_MAX, ws->if_, NULL, &go, &msg);
    if (rc == WEFT_EEXPR) {
      if ((rc = eng_fail_expr(r, s, "if", msg)))
        return rc;
      return 0;
    }
    free(msg);
    if (rc)
      return rc;
  } else {
    go = env0.success;
  }
  if (!go) {
    if ((rc = step_set_state(r, s, ENG_SKIPPED)))
      return rc;
    return eng_step_finished(r, s);
  }
  if (!ws->for_each)
    return eng_kind_instant(ws->kind) ? eng_start_unit(r, s) : eng_unit_enqueue(r, s);
  if (kept)
    return fe_resume(r, s);

  json_t *ctx = NULL, *v = NULL;
  struct expr_env env;
  if ((rc = ctx_build(r, s, UINT32_MAX, NULL, &ctx)))
    return rc;
  ctx_env(r, s, &env);
  rc = expr_render(r->wf->prog, ws->for_each, ctx, &env, &v, &msg);
  json_decref(ctx);
  if (rc == WEFT_EEXPR)
    return eng_fail_expr(r, s, "for_each", msg);
  free(msg);
  if (rc)
    return rc;
  if (json_is_array(v))
    return eng_expand(r, s, (uint32_t)json_array_size(v), v);
  json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;
  json_decref(v);
  if (n < 0)
    return eng_fail_unit(r, s,
                         eng_err_make(ENG_E_EXPRESSION,
                                      "for_each must yield an array or a non-negative integer",
                                      -1, -1, -1),
                         false);
  if (n > WF_MAX_FOR_EACH)
    n = (json_int_t)WF_MAX_FOR_EACH + 1;
  return eng_expand(r, s, (uint32_t)n, NULL);
}
