/* outcome.c — what happens when a unit ends, and how a run ends: outputs and
 * errors, retries (backoff timers), repeat iterations, the for_each aggregate,
 * the stops (fail_fast, cancel, run timeout: kill what runs, cancel what
 * waits), the finally phase, the run's final status and outputs, and
 * eng_settle(), which every public call runs last: evaluate ready steps,
 * start units while slots are free, enter the finally phase when every main
 * step is terminal and finish the run when every finally step is. */
#include "engine/priv.h"
#include "util/err.h"
#include "util/wtime.h"
#include "util/jsonfmt.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- outcomes ------------------------------------------------------------ */

int eng_set_error(struct eng_run *r, uint32_t u, json_t *err)
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

int eng_set_outputs(struct eng_run *r, uint32_t u, const json_t *outs)
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
  char *t = wjson_dumps(outs, JSON_COMPACT | JSON_ENCODE_ANY);
  if (!t)
    return WEFT_ENOMEM;
  int rc = arena_put(&r->arena, t, strlen(t), &r->u.out[u]);
  free(t);
  return rc;
}

/* The error of a unit cancelled by a stop (cancel, fail_fast, run timeout). */
json_t *eng_stop_error(const struct eng_run *r)
{
  if (r->timed_out && !r->cancel_requested)
    return eng_err_make(ENG_E_TIMEOUT, "the run timed out", -1, -1, -1);
  return eng_err_make(ENG_E_CANCELLED,
                      r->stop == STOP_FAILFAST && !r->cancel_requested
                          ? "cancelled by fail_fast after a failure"
                          : "the run was cancelled",
                      -1, -1, -1);
}

int eng_cancel_unit(struct eng_run *r, uint32_t u)
{
  int rc = eng_set_error(r, u, eng_unit_stop_error(r, u));
  if (!rc)
    rc = step_set_state(r, u, ENG_CANCELLED);
  if (!rc)
    rc = eng_unit_finished(r, u);
  return rc;
}

int eng_eval_cond(struct eng_run *r, uint32_t s, uint32_t u, const json_t *tmpl,
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
int eng_fail_expr(struct eng_run *r, uint32_t u, const char *what, char *msg)
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
  int rc = eng_set_error(r, u, err);
  if (rc)
    return rc;
  uint32_t k = (uint32_t)(r->u.attempts[u] - r->u.round0[u]);
  if (retryable && !eng_stop_applies(r, s) && r->u.status[u] != ENG_PENDING &&
      k < (uint32_t)ws->retry.attempts && r->u.attempts[u] < ENG_MAX_ATTEMPTS) {
    bool again = true;
    if (ws->retry.if_) {
      char *msg = NULL;
      struct ctx_extra x = {.error = eng_err_get(r, u)};
      rc = eng_eval_cond(r, s, u, ws->retry.if_, &x, &again, &msg);
      if (rc == WEFT_EEXPR)
        return eng_fail_expr(r, u, "retry.if", msg);
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
  return eng_unit_finished(r, u);
}

/* An iteration (or the only run) of unit u succeeded with outputs. */
int eng_unit_ok(struct eng_run *r, uint32_t u, const json_t *outs)
{
  uint32_t s = r->u.step[u];
  const struct wf_step *ws = &r->wf->steps[s];
  int rc = eng_set_outputs(r, u, outs);
  if (rc)
    return rc;
  if (ws->repeat.set) {
    bool done = false;
    char *msg = NULL;
    json_t *empty = outs ? NULL : json_object();
    struct ctx_extra x = {.outputs = outs ? outs : empty, .iteration = r->u.iteration[u]};
    rc = eng_eval_cond(r, s, u, ws->repeat.until, &x, &done, &msg);
    json_decref(empty);
    if (rc == WEFT_EEXPR)
      return eng_fail_expr(r, u, "repeat.until", msg);
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
      if (eng_kind_instant(ws->kind))
        return AGAIN; /* eng_start_unit loops: no recursion over iterations */
      return eng_unit_enqueue(r, u);
    }
  }
  if ((rc = step_set_state(r, u, ENG_SUCCEEDED)))
    return rc;
  return eng_unit_finished(r, u);
}

/* ---- finishing ------------------------------------------------------------ */

int eng_fe_done(struct eng_run *r, uint32_t s)
{
  struct eng_step *st = &r->st[s];
  int rc = 0;
  if (st->fe_decided) /* foreach_map.c: complete_when held */
    return eng_fe_map_done(r, s);
  if (st->failed) {
    uint32_t fu = st->first + st->first_failed;
    json_t *fe = eng_err_get(r, fu);
    json_t *kind = json_object_get(fe, "kind"), *m = json_object_get(fe, "message");
    char b[1024];
    snprintf(b, sizeof b, "%u of %u instances failed (first: index %u: %s)", st->failed, st->n,
             st->first_failed, json_string_value(m) ? json_string_value(m) : "failed");
    int ek = engine_err_kind_parse(json_string_value(kind));
    rc = eng_set_error(r, s, eng_err_make(ek > 0 ? (enum eng_err_kind)ek : ENG_E_EXIT_CODE, b,
                                      -1, -1, -1));
    if (!rc)
      rc = step_set_state(r, s, ENG_FAILED);
  } else if (st->cancelled) {
    rc = eng_set_error(r, s, eng_unit_stop_error(r, s));
    if (!rc)
      rc = step_set_state(r, s, ENG_CANCELLED);
  } else {
    rc = step_set_state(r, s, ENG_SUCCEEDED);
  }
  if (!rc)
    rc = eng_step_finished(r, s);
  return rc;
}

int eng_unit_finished(struct eng_run *r, uint32_t u)
{
  uint32_t s = r->u.step[u];
  if (u < r->n_steps)
    return eng_step_finished(r, s);
  struct eng_step *st = &r->st[s];
  int rc = 0;
  st->done++;
  if (r->u.status[u] == ENG_CANCELLED)
    st->cancelled++;
  if (r->u.status[u] == ENG_FAILED) {
    if (!st->failed++ || u - st->first < st->first_failed)
      st->first_failed = u - st->first;
    if (!st->ws->continue_on_error && r->wf->fail_fast && !st->ws->is_finally &&
        !eng_stop_applies(r, s))
      rc = eng_stop_phase(r, STOP_FAILFAST);
  }
  if (!rc && (st->ws->fe_complete_when || st->ws->kind == WF_FIRST_OF))
    rc = eng_fe_map_instance_done(r, u); /* foreach_map.c, first_of.c */
  if (!rc && st->done == st->n && !engine_status_terminal(r->u.status[s]))
    rc = eng_fe_done(r, s);
  return rc;
}

int eng_step_finished(struct eng_run *r, uint32_t s)
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
  if (unhandled && r->wf->fail_fast && !ws->is_finally && !eng_stop_applies(r, s))
    rc = eng_stop_phase(r, STOP_FAILFAST);
  for (uint32_t i = 0; !rc && i < ws->n_dependents; i++) {
    uint32_t d = ws->dependents[i];
    assert(r->st[d].waiting_needs > 0);
    --r->st[d].waiting_needs;
    if (r->wf->steps[d].join_count)
      rc = eng_join_need_done(r, d, s); /* join.c: ready once enough ended */
    else if (r->st[d].waiting_needs == 0 && r->u.status[d] == ENG_PENDING &&
             (!r->wf->steps[d].is_finally || r->finally_phase))
      rc = eng_ready_push(r, d);
  }
  return rc;
}

/* Kills or cancels every unfinished unit of the current phase. */
int eng_stop_unit(struct eng_run *r, uint32_t u)
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
  return eng_cancel_unit(r, u);
}

/* Kills or cancels every unfinished unit of step s (a stop, or a withdrawal). */
int eng_stop_step(struct eng_run *r, uint32_t s)
{
  int rc = 0;
  {
    struct eng_step *st = &r->st[s];
    enum eng_status ss = r->u.status[s];
    if (engine_status_terminal(ss) && !eng_fe_map_trailing(r, s))
      return 0;
    if (ss == ENG_PENDING) {
      rc = eng_cancel_unit(r, s);
    } else if (!st->is_fe) {
      rc = eng_stop_unit(r, s);
    } else if (st->expanded) {
      for (uint32_t i = 0; !rc && i < st->n; i++) {
        uint32_t u = st->first + i;
        if (i >= st->next && r->u.status[u] == ENG_PENDING)
          continue;
        if (!engine_status_terminal(r->u.status[u]) && !(r->u.flags[u] & UF_QUEUED))
          rc = eng_stop_unit(r, u);
      }
      /* queued and never-started instances */
      for (uint32_t k = st->qh; !rc && k < st->qn; k++) {
        uint32_t u = st->q[k];
        r->u.flags[u] &= (uint8_t)~UF_QUEUED;
        if (!engine_status_terminal(r->u.status[u]))
          rc = eng_stop_unit(r, u);
      }
      st->qh = st->qn = 0;
      while (!rc && st->next < st->n) {
        uint32_t u = st->first + st->next++;
        if (r->u.status[u] == ENG_PENDING)
          rc = eng_cancel_unit(r, u);
      }
    }
  }
  return rc;
}

int eng_stop_phase(struct eng_run *r, int reason)
{
  int rc = 0;
  if (!r->stop)
    r->stop = reason;
  if (r->finally_phase)
    r->stop_in_finally = true;
  uint32_t lo = r->finally_phase ? r->wf->n_main : 0;
  uint32_t hi = r->finally_phase ? r->n_steps : r->wf->n_main;
  for (uint32_t s = lo; !rc && s < hi; s++)
    rc = eng_stop_step(r, s);
  return rc;
}

enum eng_run_status eng_compute_status(const struct eng_run *r)
{
  if (r->cancel_requested)
    return ENG_RUN_CANCELLED;
  if (r->timed_out || r->unhandled_fin)
    return ENG_RUN_FAILED;
  if (r->end_step != WF_NONE) /* end: decides, whatever failed before it */
    return r->wf->steps[r->end_step].end_status == WF_END_FAILED ? ENG_RUN_FAILED
                                                                 : ENG_RUN_SUCCEEDED;
  if (r->unhandled_main)
    return ENG_RUN_FAILED;
  return ENG_RUN_SUCCEEDED;
}

static int begin_finally(struct eng_run *r)
{
  r->finally_phase = true;
  r->tentative = eng_compute_status(r);
  r->gen++;
  for (uint32_t s = r->wf->n_main; s < r->n_steps; s++)
    if (eng_join_ready(r, s) && r->u.status[s] == ENG_PENDING)
      eng_ready_push(r, s);
  return 0;
}

static int finish_run(struct eng_run *r)
{
  enum eng_run_status to = eng_compute_status(r);
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
  } else if (to == ENG_RUN_FAILED && r->end_step != WF_NONE && !r->unhandled_fin) {
    json_t *m = ctx_step_outputs(r, r->end_step);
    const char *t = json_string_value(json_object_get(m, "message"));
    char b[1024];
    snprintf(b, sizeof b, "ended by step \"%s\"%s%s", r->wf->steps[r->end_step].id,
             t ? ": " : "", t ? t : "");
    r->error = eng_err_make(ENG_E_ENDED, b, -1, -1, -1);
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
      rc = eng_eval_step(r, s);
      continue;
    }
    if ((rc = eng_pump(r)))
      break;
    if (r->rd_n)
      continue;
    if (!r->finally_phase && r->main_done == r->wf->n_main && !r->fe_trailing) {
      rc = begin_finally(r);
      continue;
    }
    if (r->finally_phase && r->fin_done == n_fin && !r->fe_trailing && r->status != ENG_RUN_SUCCEEDED &&
        r->status != ENG_RUN_FAILED && r->status != ENG_RUN_CANCELLED)
      rc = finish_run(r);
    break;
  }
  if (!rc)
    rc = update_waiting(r);
  return rc;
}
