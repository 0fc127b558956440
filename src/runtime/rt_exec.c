/* rt_exec.c — performing the engine's effects: a START goes to the executor
 * of the step's kind (the table below; executor.h is the interface), a KILL
 * to the attempt's executor, timers are armed and cancelled here. Attempts
 * in flight are kept here, and every result comes back through
 * rt_attempt_end(), which queues it; the loop feeds the queue to the engine
 * after the current effects are done, never re-entrantly.
 *
 * Every effect here runs only after the journal that led to it is durable
 * (runtime.c's perform_durable), except a START marked `early`, whose
 * reservation was durable before (engine.h, durable dispatch). */
#include "runtime/rt_int.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/wtime.h"

/* ---- the executors, by step kind ----------------------------------------- *
 * Every runtime starts with this table (rt_executors_init) and may have an
 * entry replaced (rt_set_executor: tests; remote workers later). */

static const struct executor_ops *const defaults[] = {
  [WF_RUN] = &rt_ex_process,
  [WF_COMMAND] = &rt_ex_process,
  [WF_HTTP] = &rt_ex_http,
  [WF_AGENT] = &rt_ex_agent,
  [WF_APPROVAL] = &rt_svc_approval,
  [WF_WAIT] = &rt_svc_wait,
  [WF_WORKFLOW] = &rt_svc_subflow,
};
_Static_assert(sizeof defaults / sizeof defaults[0] <= RT_N_KINDS, "RT_N_KINDS is too small");

const struct executor_ops *rt_executor_default(enum wf_kind k)
{
  return (size_t)k < sizeof defaults / sizeof defaults[0] ? defaults[k] : NULL;
}

void rt_executors_init(struct runtime *rt)
{
  for (size_t k = 0; k < RT_N_KINDS; k++)
    rt->executors[k] = rt_executor_default((enum wf_kind)k);
}

const struct executor_ops *rt_executor(const struct runtime *rt, enum wf_kind k)
{
  return (size_t)k < RT_N_KINDS ? rt->executors[k] : NULL;
}

int rt_set_executor(struct runtime *rt, enum wf_kind k, const struct executor_ops *x)
{
  if ((size_t)k >= RT_N_KINDS || (x && (x->version != EXECUTOR_OPS_VERSION || !x->start ||
                                         !x->kill)))
    return WEFT_EINVAL;
  rt->executors[k] = x;
  return 0;
}

void rt_executors_poll(struct runtime *rt)
{
  for (size_t i = 0; i < RT_N_KINDS; i++) {
    const struct executor_ops *x = rt->executors[i];
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++)
      seen = rt->executors[j] == x;
    if (x && x->poll && !seen)
      x->poll(rt);
  }
}

/* ---- results --------------------------------------------------------------- */

static void post_result(struct runtime *rt, struct rt_run *run, uint32_t step, int32_t index,
                        uint32_t attempt, const struct rt_result *r)
{
  struct rt_pending *p = calloc(1, sizeof *p);
  if (!p)
    abort(); /* cannot lose a result: the run would hang */
  p->run = run;
  p->ev.type = ENG_EV_ATTEMPT_ENDED;
  p->ev.step = step;
  p->ev.index = index;
  p->ev.attempt = attempt;
  p->ev.ok = r->ok;
  p->outputs = r->outputs ? json_deep_copy(r->outputs) : NULL;
  p->message = r->message ? strdup(r->message) : NULL;
  int k = r->kind ? engine_err_kind_parse(r->kind) : -1;
  p->ev.kind = r->ok ? ENG_E_NONE : (k > 0 ? (enum eng_err_kind)k : ENG_E_SPAWN);
  p->ev.exit_code = r->exit_code;
  p->ev.signal = r->signal > 0 ? r->signal : -1;
  p->ev.http_status = r->http_status >= 0 ? r->http_status : -1;
  *rt->pending_tail = p;
  rt->pending_tail = &p->next;
  rt_arm_flush(rt);
}

void rt_start_failed(struct runtime *rt, struct rt_run *run, const struct eng_effect *e,
                     const char *kind, const char *message)
{
  rt_mutex_start_failed(rt, run, e); /* a mutex taken for this start goes (rt_mutex.c) */
  post_result(rt, run, e->step, e->index, e->attempt,
              &(struct rt_result){.ok = false, .kind = kind, .message = message,
                                  .exit_code = -1, .http_status = -1});
}

/* ---- attempts in flight ---------------------------------------------------- */

struct rt_attempt *rt_attempt_new(struct runtime *rt, struct rt_run *run,
                                  const struct eng_effect *e, enum wf_kind kind)
{
  struct rt_attempt *a = calloc(1, sizeof *a);
  if (!a)
    abort();
  a->rt = rt;
  a->run = run;
  a->ops = rt_executor(rt, kind);
  a->step = e->step;
  a->index = e->index;
  a->attempt = e->attempt;
  a->kind = kind;
  buf_init(&a->line, 0);
  return a;
}

void rt_attempt_link(struct rt_attempt *a)
{
  a->next = a->rt->attempts;
  a->rt->attempts = a;
}

struct rt_attempt *rt_attempt_add(struct runtime *rt, struct rt_run *run,
                                  const struct eng_effect *e, enum wf_kind kind)
{
  struct rt_attempt *a = rt_attempt_new(rt, run, e, kind);
  rt_attempt_link(a);
  return a;
}

void rt_attempt_end(struct rt_attempt *a, const struct rt_result *r)
{
  struct runtime *rt = a->rt;
  rt_mutex_ended(a);
  post_result(rt, a->run, a->step, a->index, a->attempt, r);
  for (struct rt_attempt **pp = &rt->attempts; *pp; pp = &(*pp)->next)
    if (*pp == a) {
      *pp = a->next;
      break;
    }
  if (a->ops && a->ops->release)
    a->ops->release(a);
  free(a->label);
  free(a->output_path);
  buf_free(&a->line);
  free(a);
}

struct rt_attempt *rt_attempt_find(struct runtime *rt, struct rt_run *run, uint32_t step,
                                   int32_t index)
{
  for (struct rt_attempt *a = rt->attempts; a; a = a->next)
    if (a->run == run && a->step == step && a->index == index)
      return a;
  return NULL;
}

void rt_attempt_resume(struct runtime *rt, struct rt_run *run, uint32_t step, int32_t index)
{
  struct rt_attempt *a = rt_attempt_find(rt, run, step, index);
  if (a && a->ops && a->ops->resume)
    a->ops->resume(a);
}

void rt_run_cancel(struct runtime *rt, struct rt_run *run)
{
  if (run->finished || run->cancel_requested)
    return;
  run->cancel_requested = true;
  engine_cancel(run->eng, wt_now_ms(), &run->fx);
  rt_arm_flush(rt);
}

void rt_each_attempt(const struct runtime *rt, void (*fn)(void *ud, const struct rt_flight *f),
                     void *ud)
{
  for (const struct rt_attempt *a = rt->attempts; a; a = a->next) {
    struct rt_flight f = {.run_id = a->run->id, .step = a->run->wf->steps[a->step].id,
                          .index = a->index, .attempt = a->attempt, .kind = a->kind};
    fn(ud, &f);
  }
}

int rt_attempt_pid(struct runtime *rt, struct rt_run *run, uint32_t step, int32_t index)
{
  struct rt_attempt *a = rt_attempt_find(rt, run, step, index);
  return a && a->proc ? (int)proc_pid(a->proc) : 0;
}

void rt_note_pid_row(struct runtime *rt, struct rt_run *run, uint32_t step, int32_t index)
{
  struct rt_attempt *a = rt_attempt_find(rt, run, step, index);
  struct rt_row *row = rt_row_find(run, step, index);
  if (a && a->proc && row && proc_pid(a->proc) > 0) {
    row->row.pid = proc_pid(a->proc);
    row->row.pgid = proc_pgid(a->proc);
    row->dirty = true;
    rt_note_pid(rt);
  }
}

/* ---- kills and timers ---------------------------------------------------- */

static void do_kill(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  if (e->reason == ENG_KILL_STALE)
    return; /* done when the run was loaded (runtime.c load_run) */
  struct rt_attempt *a = rt_attempt_find(rt, run, e->step, e->index);
  if (a && a->ops && a->ops->kill)
    a->ops->kill(a, e->reason == ENG_KILL_TIMEOUT);
}

static void on_timer_closed(uv_handle_t *h) { free(h->data); }

static void on_engine_timer(uv_timer_t *h)
{
  struct rt_timer *t = h->data;
  struct rt_pending *p = calloc(1, sizeof *p);
  if (!p)
    abort();
  struct runtime *owner = (struct runtime *)h->loop->data;
  p->run = t->run;
  p->ev.type = ENG_EV_TIMER;
  p->ev.token = t->token;
  *owner->pending_tail = p;
  owner->pending_tail = &p->next;
  for (struct rt_timer **pp = &owner->timers; *pp; pp = &(*pp)->next)
    if (*pp == t) {
      *pp = t->next;
      break;
    }
  uv_close((uv_handle_t *)&t->h, on_timer_closed);
  rt_arm_flush(owner);
}

static void timer_arm(struct runtime *rt, struct rt_run *run, uint64_t token, int64_t at)
{
  struct rt_timer *t = calloc(1, sizeof *t);
  if (!t)
    abort();
  t->run = run;
  t->token = token;
  uv_timer_init(&rt->loop, &t->h);
  t->h.data = t;
  /* the loop's cached time may be behind the clock: refresh it so the timer
   * does not fire before `at` */
  uv_update_time(&rt->loop);
  int64_t now = wt_now_ms();
  uv_timer_start(&t->h, on_engine_timer, (uint64_t)(at > now ? at - now : 0), 0);
  t->next = rt->timers;
  rt->timers = t;
}

static void timer_cancel(struct runtime *rt, struct rt_run *run, uint64_t token)
{
  for (struct rt_timer **pp = &rt->timers; *pp; pp = &(*pp)->next) {
    struct rt_timer *t = *pp;
    if (t->run == run && t->token == token) {
      *pp = t->next;
      uv_timer_stop(&t->h);
      uv_close((uv_handle_t *)&t->h, on_timer_closed);
      return;
    }
  }
}

void rt_timers_cancel_run(struct runtime *rt, struct rt_run *run)
{
  struct rt_timer **pp = &rt->timers;
  while (*pp) {
    struct rt_timer *t = *pp;
    if (t->run == run) {
      *pp = t->next;
      uv_timer_stop(&t->h);
      uv_close((uv_handle_t *)&t->h, on_timer_closed);
    } else {
      pp = &t->next;
    }
  }
}

void rt_effect(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  switch (e->type) {
  case ENG_FX_START: {
    enum wf_kind k = run->wf->steps[e->step].kind;
    const struct executor_ops *x = rt_executor(rt, k);
    if (x && !rt_mutex_gate(rt, run, e)) {
      /* parked until its mutex is free (rt_mutex.c) */
    } else if (x) {
      x->start(rt, run, e);
    } else {
      char msg[160];
      snprintf(msg, sizeof msg, "%s steps are not supported by this build of weft yet",
               wf_kind_name(k));
      rt_start_failed(rt, run, e, "validation", msg);
    }
    break;
  }
  case ENG_FX_KILL: do_kill(rt, run, e); break;
  case ENG_FX_TIMER_ARM: timer_arm(rt, run, e->token, e->at); break;
  case ENG_FX_TIMER_CANCEL: timer_cancel(rt, run, e->token); break;
  case ENG_FX_RUN_FINISHED:
    run->finished = true;
    rt_timers_cancel_run(rt, run);
    /* the attempts waiting for this run (a workflow step, an agent's
     * workflow tool) look again */
    if (run->parent_att && run->parent_att->ops && run->parent_att->ops->resume)
      run->parent_att->ops->resume(run->parent_att);
    if (run->tool_att && run->tool_att->ops && run->tool_att->ops->resume)
      run->tool_att->ops->resume(run->tool_att);
    break;
  case ENG_FX_DONE: break;
  }
}
