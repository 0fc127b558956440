/* engine.c — scheduling: readiness, starts, attempt ends, retries, repeat,
 * for_each, fail_fast, cancel, the run timeout, finally and the run's end.
 *
 * Every public call sets r->now and r->fx, handles its event, then runs
 * eng_settle(): evaluate the steps that became ready (a FIFO of step ids fed
 * by step_finished() decrementing each dependent's count of unfinished needs:
 * nothing scans all steps), start units while slots are free (pump), enter
 * the finally phase when every main step is terminal and finish the run when
 * every finally step is. `set` and no-op steps complete inside the call.
 *
 * Slots: units of run/command/http/agent/workflow steps hold one of the run's
 * max_parallel slots while an attempt is in flight; approval and wait steps
 * do not (they are waiting, not running). A step's own max_parallel (for_each)
 * limits its units in flight. Steps with units to start but no free slot wait
 * in the run queue (a FIFO of step ids; each step at most once). */
#include "engine/priv.h"
#include "util/err.h"
#include "util/wtime.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int step_finished(struct eng_run *r, uint32_t s);
static int unit_finished(struct eng_run *r, uint32_t u);
static int stop_phase(struct eng_run *r, int reason);
static int start_unit(struct eng_run *r, uint32_t u);

enum { AGAIN = 1 }; /* unit_ok: run the next repeat iteration of a set/no-op now */

static bool kind_instant(enum wf_kind k) { return k == WF_NOOP || k == WF_SET; }
static bool kind_waits(enum wf_kind k) { return k == WF_APPROVAL || k == WF_WAIT; }
static bool kind_slot(enum wf_kind k) { return !kind_instant(k) && !kind_waits(k); }

uint64_t eng_token(int kind, uint32_t unit, uint32_t attempts)
{
  return (uint64_t)kind << 56 | (uint64_t)(attempts & 0xffffffu) << 32 | unit;
}

static bool stop_applies(const struct eng_run *r, uint32_t s)
{
  return r->wf->steps[s].is_finally ? r->stop_in_finally : r->stop != STOP_NONE;
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

static void runq_push(struct eng_run *r, uint32_t s)
{
  struct eng_step *st = &r->st[s];
  if (st->in_runq)
    return;
  assert(r->rq_n < r->n_steps);
  r->runq[(r->rq_h + r->rq_n++) % r->n_steps] = s;
  st->in_runq = true;
}

static bool step_has_work(const struct eng_step *st)
{
  return st->qh < st->qn || (st->expanded && st->next < st->n);
}

static int step_limit(const struct eng_run *r, uint32_t s)
{
  int l = r->wf->steps[s].max_parallel;
  return l > 0 ? l : r->max_parallel;
}

/* Starts as many of step s's units as its limit and the free slots allow. */
static int step_fill(struct eng_run *r, uint32_t s)
{
  struct eng_step *st = &r->st[s];
  bool slot = kind_slot(st->ws->kind);
  int rc = 0;
  while (step_has_work(st) && st->active < (uint32_t)step_limit(r, s)) {
    if (slot && r->slots >= r->max_parallel) {
      runq_push(r, s);
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
    if ((rc = start_unit(r, u)))
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
  if (kind_slot(st->ws->kind))
    runq_push(r, s);
  else
    rc = step_fill(r, s);
  return rc;
}

static int pump(struct eng_run *r)
{
  int rc = 0;
  while (!rc && r->rq_n && r->slots < r->max_parallel) {
    uint32_t s = r->runq[r->rq_h];
    r->rq_h = (r->rq_h + 1) % r->n_steps;
    r->rq_n--;
    r->st[s].in_runq = false;
    rc = step_fill(r, s);
  }
  return rc;
}

/* ---- outcomes ------------------------------------------------------------ */

static int set_error(struct eng_run *r, uint32_t u, json_t *err)
{
  uint32_t idx;
  int rc = eng_err_add(r, err, &idx);
  if (rc)
    return rc;
  r->u.err[u] = idx;
  json_t *ec = json_object_get(err, "exit_code");
  if (json_is_integer(ec))
    r->u.exit_code[u] = (int32_t)json_integer_value(ec);
  return 0;
}

static int set_outputs(struct eng_run *r, uint32_t u, const json_t *outs)
{
  uint32_t s = r->u.step[u];
  if (u < r->n_steps) {
    json_t *o = outs ? json_deep_copy(outs) : json_object();
    if (!o)
      return WEFT_ENOMEM;
    json_decref(r->st[s].outputs);
    r->st[s].outputs = o;
    return 0;
  }
  if (!outs || (json_is_object(outs) && !json_object_size(outs)))
    return arena_put(&r->arena, "{}", 2, &r->u.out[u]);
  char *t = json_dumps(outs, JSON_COMPACT | JSON_ENCODE_ANY);
  if (!t)
    return WEFT_ENOMEM;
  int rc = arena_put(&r->arena, t, strlen(t), &r->u.out[u]);
  free(t);
  return rc;
}

/* The error of a unit cancelled by a stop (cancel, fail_fast, run timeout). */
static json_t *stop_error(const struct eng_run *r)
{
  if (r->timed_out && !r->cancel_requested)
    return eng_err_make(ENG_E_TIMEOUT, "the run timed out", -1, -1, -1);
  return eng_err_make(ENG_E_CANCELLED,
                      r->stop == STOP_FAILFAST && !r->cancel_requested
                          ? "cancelled by fail_fast after a failure"
                          : "the run was cancelled",
                      -1, -1, -1);
}

static int cancel_unit(struct eng_run *r, uint32_t u)
{
  int rc = set_error(r, u, stop_error(r));
  if (!rc)
    rc = step_set_state(r, u, ENG_CANCELLED);
  if (!rc)
    rc = unit_finished(r, u);
  return rc;
}

static int eval_cond(struct eng_run *r, uint32_t s, uint32_t u, const json_t *tmpl,
                     const struct ctx_extra *x, bool *truth, char **err)
{
  json_t *ctx = NULL, *v = NULL;
  struct expr_env env;
  int rc = ctx_build(r, s, u, x, &ctx);
  if (rc)
    return rc;
  ctx_env(r, s, &env);
  rc = expr_render(r->wf->prog, tmpl, ctx, &env, &v, err);
  if (!rc)
    *truth = expr_truthy(v);
  json_decref(v);
  json_decref(ctx);
  return rc;
}

/* An expression failed for unit u: the unit fails with kind expression. */
static int fail_expr(struct eng_run *r, uint32_t u, const char *what, char *msg)
{
  char buf[2048];
  snprintf(buf, sizeof buf, "%s: %s", what, msg ? msg : "expression failed");
  free(msg);
  return eng_fail_unit(r, u, eng_err_make(ENG_E_EXPRESSION, buf, -1, -1, -1), false);
}

int eng_fail_unit(struct eng_run *r, uint32_t u, json_t *err, bool retryable)
{
  uint32_t s = r->u.step[u];
  const struct wf_step *ws = &r->wf->steps[s];
  int rc = set_error(r, u, err);
  if (rc)
    return rc;
  uint32_t k = (uint32_t)(r->u.attempts[u] - r->u.round0[u]);
  if (retryable && !stop_applies(r, s) && r->u.status[u] != ENG_PENDING &&
      k < (uint32_t)ws->retry.attempts && r->u.attempts[u] < UINT16_MAX) {
    bool again = true;
    if (ws->retry.if_) {
      char *msg = NULL;
      struct ctx_extra x = {.error = eng_err_get(r, u)};
      rc = eval_cond(r, s, u, ws->retry.if_, &x, &again, &msg);
      if (rc == WEFT_EEXPR)
        return fail_expr(r, u, "retry.if", msg);
      free(msg);
      if (rc)
        return rc;
    }
    if (again) {
      int64_t due = r->now + retry_delay(r, &ws->retry, k);
      r->u.due_at[u] = due;
      if ((rc = step_set_state(r, u, ENG_RETRYING)))
        return rc;
      r->u.due_at[u] = due;
      return eng_arm(r, u, TK_BACKOFF, due);
    }
  }
  if ((rc = step_set_state(r, u, ENG_FAILED)))
    return rc;
  return unit_finished(r, u);
}

/* An iteration (or the only run) of unit u succeeded with outputs. */
static int unit_ok(struct eng_run *r, uint32_t u, const json_t *outs)
{
  uint32_t s = r->u.step[u];
  const struct wf_step *ws = &r->wf->steps[s];
  int rc = set_outputs(r, u, outs);
  if (rc)
    return rc;
  if (ws->repeat.set) {
    bool done = false;
    char *msg = NULL;
    json_t *empty = outs ? NULL : json_object();
    struct ctx_extra x = {.outputs = outs ? outs : empty, .iteration = r->u.iteration[u]};
    rc = eval_cond(r, s, u, ws->repeat.until, &x, &done, &msg);
    json_decref(empty);
    if (rc == WEFT_EEXPR)
      return fail_expr(r, u, "repeat.until", msg);
    free(msg);
    if (rc)
      return rc;
    if (!done) {
      if (r->u.iteration[u] >= (uint32_t)ws->repeat.max) {
        char b[128];
        snprintf(b, sizeof b, "repeat: `until` still false after %u iterations",
                 r->u.iteration[u]);
        return eng_fail_unit(r, u, eng_err_make(ENG_E_REPEAT_EXHAUSTED, b, -1, -1, -1),
                             false);
      }
      r->u.iteration[u]++;
      r->u.round0[u] = r->u.attempts[u];
      if (ws->repeat.delay_ms > 0) {
        int64_t due = r->now + ws->repeat.delay_ms;
        r->u.due_at[u] = due;
        if ((rc = step_set_state(r, u, ENG_WAITING)))
          return rc;
        r->u.due_at[u] = due;
        return eng_arm(r, u, TK_DELAY, due);
      }
      if (kind_instant(ws->kind))
        return AGAIN; /* start_unit loops: no recursion over iterations */
      return eng_unit_enqueue(r, u);
    }
  }
  if ((rc = step_set_state(r, u, ENG_SUCCEEDED)))
    return rc;
  return unit_finished(r, u);
}

/* ---- starting ------------------------------------------------------------ */

/* One evaluation of a set/no-op unit; AGAIN when repeat wants another now. */
static int instant_once(struct eng_run *r, uint32_t s, uint32_t u)
{
  const struct wf_step *ws = &r->wf->steps[s];
  json_t *ctx = NULL, *v = NULL;
  char *msg = NULL;
  struct expr_env env;
  if (ws->kind == WF_NOOP)
    return unit_ok(r, u, NULL);
  int rc = ctx_build(r, s, u, NULL, &ctx);
  if (rc)
    return rc;
  ctx_env(r, s, &env);
  rc = expr_render(r->wf->prog, ws->body, ctx, &env, &v, &msg);
  json_decref(ctx);
  if (rc == WEFT_EEXPR)
    return fail_expr(r, u, "set", msg);
  free(msg);
  if (!rc)
    rc = unit_ok(r, u, v);
  json_decref(v);
  return rc;
}

static int start_unit(struct eng_run *r, uint32_t u)
{
  uint32_t s = r->u.step[u];
  struct eng_step *st = &r->st[s];
  const struct wf_step *ws = st->ws;
  json_t *ctx = NULL;
  char *msg = NULL;
  int rc = 0;

  if (stop_applies(r, s))
    return cancel_unit(r, u);
  if (r->u.attempts[u] < UINT16_MAX)
    r->u.attempts[u]++;
  r->u.err[u] = 0; /* a new attempt: the last one's error stays in the journal */
  r->u.exit_code[u] = ENG_NO_EXIT;
  if (ws->repeat.set && !r->u.iteration[u])
    r->u.iteration[u] = 1;

  if (kind_instant(ws->kind)) {
    while ((rc = instant_once(r, s, u)) == AGAIN)
      if (r->u.attempts[u] < UINT16_MAX)
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
  engine_idem_key(r, s, e->index, e->idem_key, sizeof e->idem_key);
  if ((rc = ctx_build(r, s, u, NULL, &ctx)))
    return rc;
  rc = ctx_render_start(r, s, u, ctx, e, &msg);
  json_decref(ctx);
  if (rc) {
    /* drop the half-built effect: it is the last one */
    struct eng_effects *fx = r->fx;
    struct eng_effect *last = &fx->v[--fx->n];
    json_decref(last->argv), json_decref(last->env), json_decref(last->cwd);
    json_decref(last->body), json_decref(last->item);
    if (rc == WEFT_EEXPR)
      return fail_expr(r, u, wf_kind_name(ws->kind), msg);
    free(msg);
    return rc;
  }
  r->u.flags[u] |= UF_EXEC;
  st->active++;
  if (kind_slot(ws->kind)) {
    r->u.flags[u] |= UF_SLOT;
    r->slots++;
  }
  if ((rc = step_set_state(r, u, kind_waits(ws->kind) ? ENG_WAITING : ENG_RUNNING)))
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
    return step_finished(r, s);
  }
  if ((rc = step_set_state(r, s, ENG_RUNNING)))
    return rc;
  if (kind_instant(st->ws->kind)) {
    while (!rc && st->next < st->n && !stop_applies(r, s))
      rc = start_unit(r, st->first + st->next++);
    return rc;
  }
  if (kind_slot(st->ws->kind))
    runq_push(r, s);
  else
    rc = step_fill(r, s);
  return rc;
}

/* engine_retry kept a for_each step's instances: queue the pending ones. */
static int fe_resume(struct eng_run *r, uint32_t s)
{
  struct eng_step *st = &r->st[s];
  int rc = step_set_state(r, s, ENG_RUNNING);
  st->next = st->n;
  st->qh = st->qn = 0;
  bool instant = kind_instant(st->ws->kind);
  for (uint32_t i = 0; !rc && i < st->n; i++) {
    uint32_t u = st->first + i;
    if (r->u.status[u] != ENG_PENDING)
      continue;
    if (instant) {
      rc = start_unit(r, u);
    } else if (!(rc = sq_push(st, u))) {
      r->u.flags[u] |= UF_QUEUED;
    }
  }
  if (!rc && st->done == st->n && !engine_status_terminal(r->u.status[s]))
    return eng_fe_done(r, s); /* nothing was left to rerun */
  if (rc || instant)
    return rc;
  if (kind_slot(st->ws->kind))
    runq_push(r, s);
  else
    rc = step_fill(r, s);
  return rc;
}

/* Step s is pending and all its needs are terminal: if, for_each, start. */
static int eval_step(struct eng_run *r, uint32_t s)
{
  const struct wf_step *ws = &r->wf->steps[s];
  char *msg = NULL;
  int rc = 0;
  if (r->u.status[s] != ENG_PENDING)
    return 0;
  bool kept = r->st[s].kept;
  r->st[s].kept = false;
  if (stop_applies(r, s))
    return cancel_unit(r, s);
  bool go;
  struct expr_env env0;
  ctx_env(r, s, &env0);
  r->st[s].skip_failed = !env0.success;
  if (ws->if_) {
    rc = eval_cond(r, s, UINT32_MAX, ws->if_, NULL, &go, &msg);
    if (rc == WEFT_EEXPR) {
      if ((rc = fail_expr(r, s, "if", msg)))
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
    return step_finished(r, s);
  }
  if (!ws->for_each)
    return kind_instant(ws->kind) ? start_unit(r, s) : eng_unit_enqueue(r, s);
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
    return fail_expr(r, s, "for_each", msg);
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

/* ---- finishing ------------------------------------------------------------ */

int eng_fe_done(struct eng_run *r, uint32_t s)
{
  struct eng_step *st = &r->st[s];
  int rc = 0;
  if (st->failed) {
    uint32_t fu = st->first + st->first_failed;
    json_t *fe = eng_err_get(r, fu);
    json_t *kind = json_object_get(fe, "kind"), *m = json_object_get(fe, "message");
    char b[1024];
    snprintf(b, sizeof b, "%u of %u instances failed (first: index %u: %s)", st->failed, st->n,
             st->first_failed, json_string_value(m) ? json_string_value(m) : "failed");
    int ek = engine_err_kind_parse(json_string_value(kind));
    rc = set_error(r, s, eng_err_make(ek > 0 ? (enum eng_err_kind)ek : ENG_E_EXIT_CODE, b,
                                      -1, -1, -1));
    if (!rc)
      rc = step_set_state(r, s, ENG_FAILED);
  } else if (st->cancelled) {
    rc = set_error(r, s, stop_error(r));
    if (!rc)
      rc = step_set_state(r, s, ENG_CANCELLED);
  } else {
    rc = step_set_state(r, s, ENG_SUCCEEDED);
  }
  if (!rc)
    rc = step_finished(r, s);
  return rc;
}

static int unit_finished(struct eng_run *r, uint32_t u)
{
  uint32_t s = r->u.step[u];
  if (u < r->n_steps)
    return step_finished(r, s);
  struct eng_step *st = &r->st[s];
  int rc = 0;
  st->done++;
  if (r->u.status[u] == ENG_CANCELLED)
    st->cancelled++;
  if (r->u.status[u] == ENG_FAILED) {
    if (!st->failed++ || u - st->first < st->first_failed)
      st->first_failed = u - st->first;
    if (!st->ws->continue_on_error && r->wf->fail_fast && !st->ws->is_finally &&
        !stop_applies(r, s))
      rc = stop_phase(r, STOP_FAILFAST);
  }
  if (!rc && st->done == st->n && !engine_status_terminal(r->u.status[s]))
    rc = eng_fe_done(r, s);
  return rc;
}

static int step_finished(struct eng_run *r, uint32_t s)
{
  const struct wf_step *ws = &r->wf->steps[s];
  int rc = 0;
  bool unhandled = r->u.status[s] == ENG_FAILED && !ws->continue_on_error;
  if (ws->is_finally) {
    r->fin_done++;
    if (unhandled && !r->unhandled_fin++ && !r->unhandled_main)
      r->first_failed_step = s;
  } else {
    r->main_done++;
    if (unhandled && !r->unhandled_main++)
      r->first_failed_step = s;
  }
  if (unhandled && r->wf->fail_fast && !ws->is_finally && !stop_applies(r, s))
    rc = stop_phase(r, STOP_FAILFAST);
  for (uint32_t i = 0; !rc && i < ws->n_dependents; i++) {
    uint32_t d = ws->dependents[i];
    assert(r->st[d].waiting_needs > 0);
    if (--r->st[d].waiting_needs == 0 && r->u.status[d] == ENG_PENDING &&
        (!r->wf->steps[d].is_finally || r->finally_phase))
      rc = eng_ready_push(r, d);
  }
  return rc;
}

/* Kills or cancels every unfinished unit of the current phase. */
static int stop_unit(struct eng_run *r, uint32_t u)
{
  uint8_t *f = &r->u.flags[u];
  if (*f & UF_EXEC) {
    unsigned kr = (*f & UF_KILL_MASK) >> UF_KILL_SHIFT;
    *f = (uint8_t)((*f & ~UF_KILL_MASK) | ENG_KILL_STOP << UF_KILL_SHIFT);
    if (kr != ENG_KILL_NONE)
      return 0; /* already being killed */
    struct eng_effect *e = eng_fx_push(r, ENG_FX_KILL);
    if (!e)
      return WEFT_ENOMEM;
    e->step = r->u.step[u];
    e->index = unit_index(r, u);
    e->attempt = r->u.attempts[u];
    e->reason = ENG_KILL_STOP;
    return 0;
  }
  eng_disarm(r, u);
  return cancel_unit(r, u);
}

static int stop_phase(struct eng_run *r, int reason)
{
  int rc = 0;
  if (!r->stop)
    r->stop = reason;
  if (r->finally_phase)
    r->stop_in_finally = true;
  uint32_t lo = r->finally_phase ? r->wf->n_main : 0;
  uint32_t hi = r->finally_phase ? r->n_steps : r->wf->n_main;
  for (uint32_t s = lo; !rc && s < hi; s++) {
    struct eng_step *st = &r->st[s];
    enum eng_status ss = r->u.status[s];
    if (engine_status_terminal(ss))
      continue;
    if (ss == ENG_PENDING) {
      rc = cancel_unit(r, s);
    } else if (!st->is_fe) {
      rc = stop_unit(r, s);
    } else if (st->expanded) {
      for (uint32_t i = 0; !rc && i < st->n; i++) {
        uint32_t u = st->first + i;
        if (i >= st->next && r->u.status[u] == ENG_PENDING)
          continue;
        if (!engine_status_terminal(r->u.status[u]) && !(r->u.flags[u] & UF_QUEUED))
          rc = stop_unit(r, u);
      }
      /* queued and never-started instances */
      for (uint32_t k = st->qh; !rc && k < st->qn; k++) {
        uint32_t u = st->q[k];
        r->u.flags[u] &= (uint8_t)~UF_QUEUED;
        if (!engine_status_terminal(r->u.status[u]))
          rc = stop_unit(r, u);
      }
      st->qh = st->qn = 0;
      while (!rc && st->next < st->n) {
        uint32_t u = st->first + st->next++;
        if (r->u.status[u] == ENG_PENDING)
          rc = cancel_unit(r, u);
      }
    }
  }
  return rc;
}

static enum eng_run_status compute_status(const struct eng_run *r)
{
  if (r->cancel_requested)
    return ENG_RUN_CANCELLED;
  if (r->timed_out || r->unhandled_main || r->unhandled_fin)
    return ENG_RUN_FAILED;
  return ENG_RUN_SUCCEEDED;
}

static int begin_finally(struct eng_run *r)
{
  r->finally_phase = true;
  r->tentative = compute_status(r);
  r->gen++;
  for (uint32_t s = r->wf->n_main; s < r->n_steps; s++)
    if (!r->st[s].waiting_needs && r->u.status[s] == ENG_PENDING)
      eng_ready_push(r, s);
  return 0;
}

static int finish_run(struct eng_run *r)
{
  enum eng_run_status to = compute_status(r);
  int rc = 0;
  json_decref(r->error);
  r->error = NULL;
  if (to == ENG_RUN_CANCELLED) {
    r->error = eng_err_make(ENG_E_CANCELLED, "the run was cancelled", -1, -1, -1);
  } else if (r->timed_out) {
    char d[32], b[96];
    wt_fmt_duration(r->wf->timeout_ms, d);
    snprintf(b, sizeof b, "the run timed out after %s", d);
    r->error = eng_err_make(ENG_E_TIMEOUT, b, -1, -1, -1);
  } else if (to == ENG_RUN_FAILED) {
    uint32_t s = r->first_failed_step;
    json_t *se = eng_err_get(r, s);
    const char *k = json_string_value(json_object_get(se, "kind"));
    const char *m = json_string_value(json_object_get(se, "message"));
    char b[1024];
    snprintf(b, sizeof b, "step \"%s\" failed: %s", r->wf->steps[s].id, m ? m : "failed");
    int ek = engine_err_kind_parse(k);
    r->error = eng_err_make(ek > 0 ? (enum eng_err_kind)ek : ENG_E_EXIT_CODE, b, -1, -1, -1);
  }
  json_decref(r->outputs);
  r->outputs = NULL;
  r->tentative = to;
  r->gen++;
  if (r->wf->outputs) {
    json_t *ctx = NULL;
    char *msg = NULL;
    struct ctx_extra x = {.run_outputs = true};
    struct expr_env env;
    if ((rc = ctx_build(r, WF_NONE, UINT32_MAX, &x, &ctx)))
      return rc;
    ctx_env(r, WF_NONE, &env);
    rc = expr_render(r->wf->prog, r->wf->outputs, ctx, &env, &r->outputs, &msg);
    json_decref(ctx);
    if (rc == WEFT_EEXPR) {
      rc = 0;
      if (to == ENG_RUN_SUCCEEDED) {
        char b[2048];
        snprintf(b, sizeof b, "outputs: %s", msg ? msg : "expression failed");
        to = ENG_RUN_FAILED;
        json_decref(r->error);
        r->error = eng_err_make(ENG_E_EXPRESSION, b, -1, -1, -1);
      }
    }
    free(msg);
    if (rc)
      return rc;
  }
  if (r->wf->timeout_ms > 0 && !r->timed_out) {
    struct eng_effect *e = eng_fx_push(r, ENG_FX_TIMER_CANCEL);
    if (!e)
      return WEFT_ENOMEM;
    e->token = eng_token(TK_RUN, 0, 0);
  }
  if ((rc = run_set_state(r, to)))
    return rc;
  struct eng_effect *e = eng_fx_push(r, ENG_FX_RUN_FINISHED);
  if (!e)
    return WEFT_ENOMEM;
  e->status = to;
  return 0;
}

static int update_waiting(struct eng_run *r)
{
  if (r->status != ENG_RUN_RUNNING && r->status != ENG_RUN_WAITING)
    return 0;
  bool busy = r->leaf_count[ENG_RUNNING] || r->leaf_count[ENG_RETRYING] || r->rq_n ||
              r->rd_n;
  bool waiting = r->leaf_count[ENG_WAITING] > 0;
  if (r->status == ENG_RUN_RUNNING && !busy && waiting)
    return run_set_state(r, ENG_RUN_WAITING);
  if (r->status == ENG_RUN_WAITING && (busy || !waiting))
    return run_set_state(r, ENG_RUN_RUNNING);
  return 0;
}

int eng_settle(struct eng_run *r)
{
  int rc = 0;
  uint32_t n_fin = r->n_steps - r->wf->n_main;
  while (!rc) {
    if (r->rd_n) {
      uint32_t s = r->ready[r->rd_h];
      r->rd_h = (r->rd_h + 1) % r->n_steps;
      r->rd_n--;
      r->st[s].in_ready = false;
      rc = eval_step(r, s);
      continue;
    }
    if ((rc = pump(r)))
      break;
    if (r->rd_n)
      continue;
    if (!r->finally_phase && r->main_done == r->wf->n_main) {
      rc = begin_finally(r);
      continue;
    }
    if (r->finally_phase && r->fin_done == n_fin && r->status != ENG_RUN_SUCCEEDED &&
        r->status != ENG_RUN_FAILED && r->status != ENG_RUN_CANCELLED)
      rc = finish_run(r);
    break;
  }
  if (!rc)
    rc = update_waiting(r);
  return rc;
}

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
  r->inputs = cfg && cfg->inputs ? json_deep_copy(cfg->inputs) : json_object(); /* + defaults */
  for (uint32_t i = 0; r->inputs && json_is_object(r->inputs) && i < wf->n_inputs; i++)
    if (wf->inputs[i].def && !json_object_get(r->inputs, wf->inputs[i].name))
      json_object_set(r->inputs, wf->inputs[i].name, wf->inputs[i].def);
  r->max_parallel = wf->max_parallel > 0 ? wf->max_parallel
                    : cfg && cfg->max_parallel > 0 ? cfg->max_parallel
                                                    : 2;
  r->rng = cfg ? cfg->seed : 0;
  r->first_failed_step = WF_NONE;
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
  json_decref(r->ctx_cache);
  json_decref(r->secrets);
  json_decref(r->event);
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
  if ((rc = stop_phase(r, STOP_CANCEL)))
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
    rc = unit_ok(r, u, ev->outputs);
  } else if (kill == ENG_KILL_STOP) {
    rc = cancel_unit(r, u);
  } else {
    if (ev->outputs && (rc = set_outputs(r, u, ev->outputs))) {
      json_decref(err);
      return rc;
    }
    bool retryable = !(err && (ev->kind == ENG_E_EXPRESSION || ev->kind == ENG_E_REJECTED ||
                               ev->kind == ENG_E_VALIDATION || ev->kind == ENG_E_CANCELLED)) ||
                     kill == ENG_KILL_TIMEOUT;
    rc = eng_fail_unit(r, u, err, retryable);
    err = NULL;
  }
  if (!rc && step_has_work(st) && st->active < (uint32_t)step_limit(r, ev->step)) {
    if (kind_slot(st->ws->kind))
      runq_push(r, ev->step);
    else
      rc = step_fill(r, ev->step); /* approval/wait need no slot: don't queue behind */
  }
  return rc;
}

static int on_timer(struct eng_run *r, uint64_t tok)
{
  int tk = (int)(tok >> 56);
  uint32_t u = (uint32_t)tok, att = (uint32_t)(tok >> 32) & 0xffffffu;
  if (tk == TK_RUN) {
    if (r->status >= ENG_RUN_SUCCEEDED || r->timed_out || r->status == ENG_RUN_QUEUED)
      return 0;
    r->timed_out = true;
    return stop_phase(r, STOP_TIMEOUT);
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
