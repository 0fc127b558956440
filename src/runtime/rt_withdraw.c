/* rt_withdraw.c — withdrawal of single steps on request (`weft cancel RUN
 * --step STEP`, POST /runs/{id}/cancel {steps}) in the engine that executes
 * the run.
 *
 * ops_cancel_steps (ops/runctl.c) records the request twice in one
 * transaction: an inbox row (kind "cancel", payload {"steps": [...]}) for the
 * owning engine, and a `withdraw.requested` audit entry {by, steps}. The inbox
 * row is taken once; the audit entry is what makes the request durable: an
 * engine that took it and died before committing the withdrawal (or a run no
 * engine owned) gets it back at `weft resume`, where every request after the
 * run's last `run.retry` is handed to the engine before it restarts anything
 * (engine_restore_withdraw). Steps that ended meanwhile are left alone. */
#include "runtime/rt_int.h"

#include <string.h>

#include "util/wtime.h"

static void withdraw_list(struct rt_run *run, const json_t *steps, bool restoring)
{
  size_t i;
  const json_t *v;
  json_array_foreach(steps, i, v) {
    uint32_t k = json_is_string(v) ? wf_step_find(run->wf, json_string_value(v)) : WF_NONE;
    if (k == WF_NONE || k >= run->wf->n_main)
      continue; /* ops_cancel_steps checked the names; a changed definition cannot happen */
    if (restoring)
      engine_restore_withdraw(run->eng, k);
    else
      engine_withdraw(run->eng, k, wt_now_ms(), &run->fx); /* ESTATE: it has ended */
  }
}

void rt_withdraw_request(struct runtime *rt, struct rt_run *run, const struct store_inbox *m)
{
  json_t *p = m->payload ? json_loads(m->payload, 0, NULL) : NULL;
  (void)rt;
  if (json_is_array(json_object_get(p, "steps")))
    withdraw_list(run, json_object_get(p, "steps"), false);
  json_decref(p);
}

struct owed {
  json_t *steps; /* array of step ids requested since the last run.retry */
};

static int owed_cb(void *ctx, const struct store_audit *e)
{
  struct owed *o = ctx;
  if (!strcmp(e->kind, "run.retry")) {
    json_array_clear(o->steps);
  } else if (!strcmp(e->kind, "withdraw.requested") && e->data) {
    json_t *d = json_loads(e->data, 0, NULL);
    json_array_extend(o->steps, json_object_get(d, "steps"));
    json_decref(d);
  }
  return 0;
}

void rt_withdraw_owed(struct runtime *rt, struct rt_run *run, bool restoring)
{
  struct owed o = {.steps = json_array()};
  if (o.steps && store_audit_scan(rt->store, run->id, NULL, owed_cb, &o) == 0)
    withdraw_list(run, o.steps, restoring);
  json_decref(o.steps);
}
