/* rt_mutex.c — `mutex: NAME` (`{name, scope: run|global}`): a critical
 * section around each attempt of a step (LANGUAGE.md §3, control flow).
 *
 * The mutex is a row in the store (store_mutex_*), so it holds across the
 * processes sharing a home: "run/RUN/NAME" for the default run scope,
 * "global/NAME" across all runs. A START effect of a step with a mutex goes
 * through rt_mutex_gate: when the row is taken the attempt starts at once;
 * otherwise it is parked as an attempt of this file's executor (the step
 * shows `running`, its timeout counting) and taken up by rt_mutex_poll (every
 * runtime poll, and whenever an attempt here lets a mutex go), oldest first.
 * A parked attempt that is killed (cancel, withdrawal, timeout) ends at once
 * without having run. The holder lets the mutex go when its attempt ends in
 * any way (rt_mutex_ended, from rt_attempt_end).
 *
 * Crashes: the row names the holding engine process (pid and start time).
 * A taker that finds the holder's engine dead frees the row once the holding
 * step's process group is gone too (recovery of that run kills it as stale
 * first), so a process left behind by a dead engine never overlaps the next
 * holder. */
#include "runtime/rt_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/wtime.h"

struct parked {
  struct eng_effect e;   /* the START, with its own json references */
  char key[300];
  uint64_t seq;          /* parking order (oldest first) */
};

static uint64_t parked_seq; /* the loop is single-threaded */

static const struct executor_ops rt_mutex_wait;

static bool mutex_key(const struct rt_run *run, uint32_t step, char *out, size_t n)
{
  const struct wf_step *ws = &run->wf->steps[step];
  if (!ws->mutex)
    return false;
  if (ws->mutex_global)
    snprintf(out, n, "global/%s", ws->mutex);
  else
    snprintf(out, n, "run/%s/%s", run->id, ws->mutex);
  return true;
}

/* The holder's engine and the holder step's processes are all gone. */
static bool holder_gone(struct runtime *rt, const struct store_mutex *h)
{
  int64_t start;
  if (h->pid == rt->pid && h->pstart == rt->pstart)
    return false; /* ours: it ends through rt_mutex_ended */
  if (h->pid > 0 && store_proc_start(h->pid, &start) == 0 && start == h->pstart)
    return false;
  struct store_step row = {0};
  bool gone = true;
  if (store_step_get(rt->store, h->run_id, h->step, h->index, &row) == 0 && row.status &&
      !strcmp(row.status, "running") && row.pgid > 0 && kill(-row.pgid, 0) == 0)
    gone = false; /* its process group lives on until the run is recovered */
  store_step_clear(&row);
  return gone;
}

/* 1: taken, 0: held by someone else, <0: store failure */
static int take(struct runtime *rt, struct rt_run *run, const struct eng_effect *e, const char *key)
{
  struct store_mutex m = {.name = (char *)key, .run_id = run->id,
                          .step = run->wf->steps[e->step].id, .index = e->index,
                          .attempt = (int)e->attempt, .pid = rt->pid, .pstart = rt->pstart,
                          .acquired_at = wt_now_ms()};
  for (int tries = 0; tries < 2; tries++) {
    struct store_mutex h = {0};
    bool got = false;
    int rc = store_mutex_take(rt->store, &m, &got, &h);
    if (rc) {
      store_mutex_clear(&h);
      return rc;
    }
    if (got)
      return 1;
    bool same = h.run_id && !strcmp(h.run_id, run->id) && h.step && !strcmp(h.step, m.step) &&
                h.index == e->index && h.pid == rt->pid && h.pstart == rt->pstart;
    bool gone = !same && holder_gone(rt, &h);
    if (gone)
      rc = store_mutex_steal(rt->store, key, h.pid, h.pstart);
    store_mutex_clear(&h);
    if (same)
      return 1; /* this attempt's unit holds it already (a restart in this process) */
    if (!gone || rc)
      return rc ? rc : 0;
  }
  return 0;
}

bool rt_mutex_gate(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  char key[300];
  if (!mutex_key(run, e->step, key, sizeof key))
    return true;
  int rc = take(rt, run, e, key);
  if (rc == 1)
    return true;
  if (rc < 0) {
    char msg[400];
    snprintf(msg, sizeof msg, "cannot take mutex %.200s: %.150s", key, store_errmsg(rt->store));
    rt_start_failed(rt, run, e, "spawn", msg);
    return false;
  }
  struct parked *p = calloc(1, sizeof *p);
  if (!p)
    abort();
  p->e = *e;
  json_incref(p->e.argv);
  json_incref(p->e.env);
  json_incref(p->e.cwd);
  json_incref(p->e.body);
  json_incref(p->e.item);
  snprintf(p->key, sizeof p->key, "%s", key);
  p->seq = ++parked_seq;
  struct rt_attempt *a = rt_attempt_new(rt, run, e, run->wf->steps[e->step].kind);
  a->ops = &rt_mutex_wait;
  a->x = p;
  rt_attempt_link(a);
  return false;
}

static void parked_free(struct parked *p)
{
  json_decref(p->e.argv);
  json_decref(p->e.env);
  json_decref(p->e.cwd);
  json_decref(p->e.body);
  json_decref(p->e.item);
  free(p);
}

/* Takes up the parked attempts whose mutex is free, oldest first. Called
 * outside any walk of rt->attempts (the runtime's poll and flush). */
void rt_mutex_poll(struct runtime *rt)
{
  bool started = true;
  while (started) {
    started = false;
    /* every parked attempt once, oldest first: a short list, so by rescans;
     * a key found held is not asked for again in this round (the older
     * attempt waiting for it goes first anyway) */
    uint64_t after = 0;
    const char *held[32];
    int n_held = 0;
    for (;;) {
      struct rt_attempt *a = NULL;
      for (struct rt_attempt *b = rt->attempts; b; b = b->next)
        if (b->ops == &rt_mutex_wait && ((struct parked *)b->x)->seq > after &&
            (!a || ((struct parked *)b->x)->seq < ((struct parked *)a->x)->seq))
          a = b;
      if (!a)
        break;
      struct parked *p = a->x;
      after = p->seq;
      bool skip = false;
      for (int i = 0; i < n_held && !skip; i++)
        skip = !strcmp(held[i], p->key);
      if (skip)
        continue;
      if (take(rt, a->run, &p->e, p->key) != 1) {
        if (n_held < 32)
          held[n_held++] = p->key;
        continue;
      }
      /* unlink the parked attempt without a result, then start for real */
      for (struct rt_attempt **pp = &rt->attempts; *pp; pp = &(*pp)->next)
        if (*pp == a) {
          *pp = a->next;
          break;
        }
      struct rt_run *run = a->run;
      free(a->label);
      free(a->output_path);
      buf_free(&a->line);
      free(a);
      const struct executor_ops *x = rt_executor(rt, run->wf->steps[p->e.step].kind);
      if (x)
        x->start(rt, run, &p->e);
      else
        rt_start_failed(rt, run, &p->e, "validation", "no executor for this step kind");
      parked_free(p);
      started = true; /* the list changed: look again */
      break;
    }
  }
}

static void let_go(struct runtime *rt, struct rt_run *run, uint32_t step, int32_t index)
{
  char key[300];
  if (!mutex_key(run, step, key, sizeof key))
    return;
  store_mutex_free(rt->store, key, run->id, run->wf->steps[step].id, index);
  rt->mutex_freed = true; /* parked attempts look again at the next flush */
  rt_arm_flush(rt);
}

void rt_mutex_ended(struct rt_attempt *a)
{
  if (a->ops != &rt_mutex_wait)
    let_go(a->rt, a->run, a->step, a->index);
}

/* An executor refused a start that had the mutex (no attempt will end). */
void rt_mutex_start_failed(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  let_go(rt, run, e->step, e->index);
}

static void mutex_wait_kill(struct rt_attempt *a, bool timeout)
{
  struct parked *p = a->x;
  char msg[400];
  snprintf(msg, sizeof msg, "%s while waiting for mutex %.300s", timeout ? "timed out" : "stopped", p->key);
  rt_attempt_end(a, &(struct rt_result){.ok = false, .kind = timeout ? "timeout" : "cancelled",
                                        .message = msg, .exit_code = -1, .http_status = -1});
}

static void mutex_wait_release(struct rt_attempt *a)
{
  if (a->x)
    parked_free(a->x);
  a->x = NULL;
}

static const struct executor_ops rt_mutex_wait = {
  .version = EXECUTOR_OPS_VERSION,
  .name = "mutex",
  .kill = mutex_wait_kill,
  .release = mutex_wait_release,
  .waits = true, /* nothing runs yet: a draining server need not wait for it */
};
