/* runtime.c — the loop that executes runs durably (see runtime.h).
 *
 * One tick: callbacks (process exits, timers, inbox requests) queue results;
 * the uv_check handle then runs flush(): feed queued results to the engine,
 * start the processes whose reservation is durable already (early starts),
 * keep each run's journal and effects as a batch, and commit the batches in
 * ONE transaction when something waits for them (must_commit; otherwise
 * within COMMIT_MAX_MS). Once a commit is durable (rt_sync.c: inline, or on
 * the sync thread while processes run) the observers see its journal and
 * its effects are performed, in commit order. A uv_idle handle is started
 * whenever work is queued so the loop does not block in poll before the
 * flush. docs/internals/runtime.md has the whole story.
 *
 * Starting, resuming and retrying runs also live here; the effects
 * themselves are in rt_exec.c (through the executors of executor.h) and the
 * journal-to-rows mapping in rt_journal.c. */
#include "runtime/rt_int.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/wtime.h"
#include "util/jsonfmt.h"

extern char **environ;

#define POLL_MS 200
#define HEARTBEAT_MS 1000
#define PID_COMMIT_MS 20 /* a spawned group is on disk at most this late */
#define COMMIT_MAX_MS 5  /* a transition with nothing waiting for it is committed at most this late */

static int fail(char **err, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char **err, int rc, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  if (err && vasprintf(err, fmt, ap) < 0)
    *err = NULL;
  va_end(ap);
  return rc;
}

static void flush(struct runtime *rt);
static void run_free(struct rt_run *run);

static void on_idle(uv_idle_t *h) { (void)h; }

static void on_check(uv_check_t *h)
{
  struct runtime *rt = h->data;
  rt->flush_armed = false;
  uv_idle_stop(&rt->idle);
  if (rt->mutex_freed) { /* rt_mutex.c: starts parked behind a mutex let go */
    rt->mutex_freed = false;
    rt_mutex_poll(rt);
  }
  flush(rt);
}

void rt_arm_flush(struct runtime *rt)
{
  if (!rt->flush_armed && rt->handles_open) {
    rt->flush_armed = true;
    uv_idle_start(&rt->idle, on_idle);
  }
}

static struct rt_run *run_find(struct runtime *rt, const char *id)
{
  for (size_t i = 0; i < rt->n_runs; i++)
    if (!strcmp(rt->runs[i]->id, id))
      return rt->runs[i];
  return NULL;
}

struct rt_run *rt_run_find(struct runtime *rt, const char *id) { return run_find(rt, id); }

static bool all_done(struct runtime *rt)
{
  if (rt->attempts || rt->pending || rt->batches || store_in_tx(rt->store) ||
      (rt->sync && !rt_sync_idle(rt->sync)))
    return false;
  for (size_t i = 0; i < rt->n_runs; i++)
    if (!rt->runs[i]->finished)
      return false;
  return true;
}

static void close_handles(struct runtime *rt)
{
  if (!rt->handles_open)
    return;
  rt->handles_open = false;
  uv_close((uv_handle_t *)&rt->idle, NULL);
  uv_close((uv_handle_t *)&rt->check, NULL);
  uv_close((uv_handle_t *)&rt->poll, NULL);
  uv_close((uv_handle_t *)&rt->sigint, NULL);
  uv_close((uv_handle_t *)&rt->pid_timer, NULL);
  uv_close((uv_handle_t *)&rt->commit_timer, NULL);
  rt_sync_close_handle(rt->sync);
  proc_async_disable();
}

/* Journal or effects to commit. Rows that only learned a pid ride along with
 * the next commit; on their own they are committed by the pid timer
 * (rt_note_pid), so a fast step costs one commit fewer. */
static bool has_work(struct runtime *rt, struct rt_run *run)
{
  if (run->fx.nj || run->fx.n)
    return true;
  if (rt->rows_due)
    for (struct rt_row *r = run->rows; r; r = r->next)
      if (r->dirty)
        return true;
  return false;
}

static void on_pid_timer(uv_timer_t *h)
{
  struct runtime *rt = h->data;
  rt->rows_due = true;
  rt_arm_flush(rt);
}

void rt_note_pid(struct runtime *rt)
{
  if (rt->handles_open && !uv_is_active((uv_handle_t *)&rt->pid_timer))
    uv_timer_start(&rt->pid_timer, on_pid_timer, PID_COMMIT_MS, 0);
}

static void feed_pending(struct runtime *rt)
{
  struct rt_pending *p = rt->pending;
  rt->pending = NULL;
  rt->pending_tail = &rt->pending;
  int64_t now = wt_now_ms();
  while (p) {
    struct rt_pending *next = p->next;
    if (!p->run->finished) {
      p->ev.outputs = p->outputs;
      p->ev.message = p->message;
      engine_apply(p->run->eng, &p->ev, now, &p->run->fx);
    }
    json_decref(p->outputs);
    free(p->message);
    free(p);
    p = next;
  }
}

static bool run_ended(const struct rt_run *run)
{
  enum eng_run_status st = engine_run_status(run->eng);
  return st == ENG_RUN_SUCCEEDED || st == ENG_RUN_FAILED || st == ENG_RUN_CANCELLED;
}

/* The store cannot take or keep what was decided (a failed write, commit or
 * sync): stop at once without performing effects; the runs stay resumable. */
static void stop_on(struct runtime *rt, const char *what, const char *why)
{
  if (rt->store_failed)
    return;
  fprintf(stderr, "weft: %s: %s; runs stay resumable (`weft resume`)\n", what, why);
  if (store_in_tx(rt->store))
    store_rollback(rt->store);
  rt->store_failed = true;
  uv_stop(&rt->loop);
}

static void store_failed(struct runtime *rt)
{
  stop_on(rt, "the store failed", store_errmsg(rt->store));
}

void rt_store_failed(struct runtime *rt)
{
  store_failed(rt);
}

/* A long journal within one engine call goes to the store as it grows. */
static void spill_on(struct runtime *rt, struct rt_run *run)
{
  run->rt = rt;
  engine_set_spill(run->eng, rt_journal_spill, run);
}

/* A server that is stopping (rt_drain) starts no step: the step stays
 * recorded as started (running, or reserved) and the next engine attempts it
 * again as interrupted, exactly as after a crash between the commit and the
 * start. Kills and timers still happen. */
static void effect(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  if (e->type == ENG_FX_START && rt->draining)
    return;
  rt_effect(rt, run, e);
}

/* Draining: nothing in flight but approvals, waits and sub-workflow steps
 * (which wait for people, time or other runs and are resumable as they
 * are), and everything decided is committed and durable. */
static bool drain_settled(struct runtime *rt)
{
  for (const struct rt_attempt *a = rt->attempts; a; a = a->next)
    if (!a->ops || !a->ops->waits)
      return false;
  return !rt->pending && !rt->batches && !rt->n_unwritten && !store_in_tx(rt->store) &&
         (!rt->sync || rt_sync_idle(rt->sync));
}

/* Performs, in order, the batches whose commit is durable. */
static void perform_durable(struct runtime *rt)
{
  bool any = false;
  while (rt->batches && rt->batches->seq <= rt->durable_seq) {
    struct rt_batch *b = rt->batches;
    rt->batches = b->next;
    if (!rt->batches)
      rt->batches_tail = &rt->batches;
    struct rt_run *run = b->run;
    engine_durable(run->eng, b->seq);
    if (rt->o.obs.on_journal)
      for (size_t k = 0; k < b->fx.nj; k++)
        rt->o.obs.on_journal(rt->o.obs.ud, run->id, run->wf, run->eng, &b->fx.j[k]);
    for (size_t k = 0; k < b->fx.n; k++)
      effect(rt, run, &b->fx.v[k]);
    /* an executor's records are in: it reads them back (executor.h) */
    for (size_t k = 0; k < b->fx.nj; k++)
      if (b->fx.j[k].type == ENG_J_RECORD)
        rt_attempt_resume(rt, run, b->fx.j[k].step, b->fx.j[k].index);
    engine_fx_free(&b->fx);
    free(b);
    any = true;
  }
  if (any && rt->o.obs.on_tick)
    rt->o.obs.on_tick(rt->o.obs.ud);
}

/* the sync thread made more commits durable */
static void on_synced(void *ud)
{
  struct runtime *rt = ud;
  int err = 0;
  uint64_t done = rt_sync_done(rt->sync, &err);
  if (err) {
    stop_on(rt, "cannot sync the store", strerror(err));
    return;
  }
  if (done > rt->durable_seq)
    rt->durable_seq = done;
  perform_durable(rt);
  rt_arm_flush(rt); /* the effects may have queued results; ends the loop when all is done */
}

static bool procs_in_flight(const struct runtime *rt)
{
  for (const struct rt_attempt *a = rt->attempts; a; a = a->next)
    if (a->proc)
      return true;
  return false;
}

static void on_commit_timer(uv_timer_t *h)
{
  struct runtime *rt = h->data;
  rt->commit_due = true;
  rt_arm_flush(rt);
}

/* Writes the journal of every batch not written yet (in order), the rows that
 * learned a pid when they are due, and the ownership release of runs that
 * ended, in ONE transaction (rt_start may have opened it: its run creation
 * goes with the run's first transitions); commits; asks for durability; and
 * performs what is durable already. The write lock is held only for this.
 * 0, or the store failed (reported; loop stopped). */
static int commit_now(struct runtime *rt)
{
  int64_t t0 = rt->o.obs.on_commit ? wt_mono_us() : 0;
  int rc = store_in_tx(rt->store) ? 0 : store_begin(rt->store);
  if (!rc)
    rc = rt_journal_write_batches(rt);
  rt->n_unwritten = 0;
  for (size_t i = 0; i < rt->n_runs && !rc; i++) {
    struct rt_run *run = rt->runs[i];
    if (rt->rows_due)
      rc = rt_rows_write(rt, run);
    if (!rc) /* instances expanded in this transaction that have no row yet */
      rc = rt_counts_write_rows(rt, run, WF_NONE);
    /* a run that ended gives up ownership with its last transitions */
    if (!rc && run->row.owner_pid && run_ended(run)) {
      rc = store_run_release(rt->store, run->id);
      run->row.owner_pid = 0;
    }
  }
  if (!rc)
    rc = store_commit(rt->store);
  if (!rc && rt->o.obs.on_commit)
    rt->o.obs.on_commit(rt->o.obs.ud, (double)(wt_mono_us() - t0) / 1e6);
  rt->rows_due = false;
  rt->commit_due = false;
  uv_timer_stop(&rt->commit_timer);
  if (rc) {
    store_failed(rt);
    return rc;
  }
  uint64_t seq = ++rt->commit_seq;
  if (!rt->sync) {
    rt->durable_seq = seq; /* the store synced inside the commit */
  } else {
    /* with no process in flight nothing can happen during the sync: do it
     * here; otherwise the thread syncs while the loop goes on */
    if (rt_sync_request(rt->sync, seq, !procs_in_flight(rt)) != 0) {
      stop_on(rt, "cannot sync the store", "fdatasync failed");
      return WEFT_EIO;
    }
    uint64_t done = rt_sync_done(rt->sync, NULL);
    if (done > rt->durable_seq)
      rt->durable_seq = done;
  }
  perform_durable(rt);
  return 0;
}

/* Whether what is journaled must be committed now. Transitions with nothing
 * waiting for them (a step that succeeded, a running transition whose
 * process was started early) may share a commit with the next few exits:
 * commits are most of a program step's cost in the loop thread. */
static bool must_commit(struct runtime *rt, struct rt_batch *first_new)
{
  if (rt->commit_due || rt->rows_due || !rt->early_start || !procs_in_flight(rt) ||
      store_in_tx(rt->store))
    return true;
  for (struct rt_batch *b = first_new; b; b = b->next) {
    for (size_t k = 0; k < b->fx.n; k++)
      if (b->fx.v[k].type != ENG_FX_DONE)
        return true; /* an effect waits for it */
    for (size_t k = 0; k < b->fx.nj; k++)
      if (b->fx.j[k].type == ENG_J_RECORD)
        return true; /* an executor waits for it (a person for an approval's request) */
  }
  for (size_t i = 0; i < rt->n_runs; i++)
    if (!rt->runs[i]->finished && engine_reserve_low(rt->runs[i]->eng, rt->commit_seq))
      return true; /* the next exits need reservations committed */
  return false;
}

static bool run_referenced(const struct runtime *rt, const struct rt_run *run)
{
  for (const struct rt_pending *p = rt->pending; p; p = p->next)
    if (p->run == run)
      return true;
  for (const struct rt_batch *b = rt->batches; b; b = b->next)
    if (b->run == run)
      return true;
  for (const struct rt_attempt *a = rt->attempts; a; a = a->next)
    if (a->run == run)
      return true;
  for (const struct rt_timer *t = rt->timers; t; t = t->next)
    if (t->run == run)
      return true;
  return false;
}

/* A long-lived loop (keep_alive: the server) lets go of the runs that ended
 * once nothing refers to them (their rows are in the store): otherwise every
 * run it ever executed stayed in rt->runs, with its definition and engine
 * state, every tick walked them all (the start rate fell as runs piled up),
 * and a retry of such a run here was refused as "already executing here".
 * Child runs stay (their parent's attempt holds them until it is freed). */
static void reap_ended(struct runtime *rt)
{
  size_t k = 0;
  for (size_t i = 0; i < rt->n_runs; i++) {
    struct rt_run *run = rt->runs[i];
    if (run->finished && !run->is_child && !run->parent_att && !run->tool_att && !run->fx.nj &&
        !run->fx.n && !run->row.owner_pid && !run_referenced(rt, run)) {
      run_free(run);
      continue;
    }
    rt->runs[k++] = run;
  }
  rt->n_runs = k;
}

static void flush(struct runtime *rt)
{
  if (rt->store_failed)
    return;
  for (;;) {
    if (rt->pending)
      feed_pending(rt);
    bool work = false;
    for (size_t i = 0; i < rt->n_runs; i++)
      work = work || has_work(rt, rt->runs[i]);
    if (!work)
      break;
    /* runs added by this round's effects (sub-workflows) have journals that
     * are not in a batch yet: their turn comes in the next round */
    size_t n_runs = rt->n_runs;
    uint64_t seq = rt->commit_seq + 1; /* the commit these batches go into */
    int64_t now = wt_now_ms();
    struct rt_batch *first_new = NULL;
    for (size_t i = 0; i < n_runs; i++) {
      struct rt_run *run = rt->runs[i];
      /* the units that take the next free slots: durable with that commit */
      if (!run->finished && rt->early_start)
        engine_reserve(run->eng, now, seq, &run->fx);
      /* starts whose reservation an earlier commit made durable need not
       * wait for this one: the process runs while we commit */
      for (size_t k = 0; k < run->fx.n; k++) {
        struct eng_effect *e = &run->fx.v[k];
        if (e->type == ENG_FX_START && e->early) {
          effect(rt, run, e);
          e->type = ENG_FX_DONE;
        }
      }
      if (!run->fx.nj && !run->fx.n)
        continue;
      rt_mask_fx(rt, run); /* secrets never reach the store or the screen */
      /* the journal and the effects wait, in order, for their commit */
      struct rt_batch *b = calloc(1, sizeof *b);
      if (!b)
        abort(); /* the effects cannot be dropped: the run would hang */
      b->seq = seq;
      b->run = run;
      b->fx = run->fx;
      engine_fx_init(&run->fx);
      if (rt->n_unwritten++ == 0)
        rt->unwritten_ms = uv_now(&rt->loop);
      *rt->batches_tail = b;
      rt->batches_tail = &b->next;
      if (!first_new)
        first_new = b;
    }
    if (must_commit(rt, first_new)) {
      if (commit_now(rt))
        return;
    } else if (!uv_is_active((uv_handle_t *)&rt->commit_timer)) {
      uint64_t age = uv_now(&rt->loop) - rt->unwritten_ms;
      uv_timer_start(&rt->commit_timer, on_commit_timer,
                     age >= COMMIT_MAX_MS ? 0 : COMMIT_MAX_MS - age, 0);
    }
  }
  /* what is waiting to be written, once it is due (the same rules: a timer,
   * pids, nothing in flight that would commit it later, rt_start's open
   * transaction) */
  if (!rt->store_failed && (rt->n_unwritten || rt->rows_due || store_in_tx(rt->store)) &&
      must_commit(rt, NULL))
    if (commit_now(rt))
      return;
  for (size_t i = 0; i < rt->n_runs; i++) {
    struct rt_run *run = rt->runs[i];
    if (run->finished && run->row.owner_pid) {
      store_run_release(rt->store, run->id);
      run->row.owner_pid = 0;
    }
  }
  if (rt->o.keep_alive)
    reap_ended(rt);
  if (all_done(rt) && (!rt->o.keep_alive || rt->draining))
    close_handles(rt);
  else if (rt->draining && drain_settled(rt))
    uv_stop(&rt->loop); /* the runs left stay resumable */
}

/* ---- inbox, heartbeat, Ctrl-C ------------------------------------------ */

static void handle_request(struct runtime *rt, const struct store_inbox *m)
{
  struct rt_run *run = m->run_id ? run_find(rt, m->run_id) : NULL;
  if (!run || run->finished)
    return;
  if (!strcmp(m->kind, "cancel") && m->payload) {
    rt_withdraw_request(rt, run, m); /* rt_withdraw.c: {"steps": [...]} */
  } else if (!strcmp(m->kind, "cancel")) {
    if (!run->cancel_requested) /* resume may have applied it from the audit log */
      engine_cancel(run->eng, wt_now_ms(), &run->fx);
    run->cancel_requested = true;
  } else if ((!strcmp(m->kind, "approve") || !strcmp(m->kind, "reject")) && m->step) {
    /* the deciding process validated and recorded the decision; the
     * waiting attempt re-reads the decisions (svc_approval.c) */
    uint32_t k = wf_step_find(run->wf, m->step);
    if (k != WF_NONE)
      rt_attempt_resume(rt, run, k, m->index);
  }
}

static void on_poll(uv_timer_t *h)
{
  struct runtime *rt = h->data;
  const char *ids[64];
  size_t n = 0;
  for (size_t i = 0; i < rt->n_runs; i++) {
    if (rt->runs[i]->finished)
      continue;
    ids[n++] = rt->runs[i]->id;
    if (n == 64 || i + 1 == rt->n_runs) {
      struct store_inbox *v = NULL;
      size_t nv = 0;
      if (store_inbox_take(rt->store, ids, n, false, wt_now_ms(), &v, &nv) == 0) {
        for (size_t k = 0; k < nv; k++)
          handle_request(rt, &v[k]);
        store_inbox_free(v, nv);
      }
      n = 0;
    }
  }
  if (n) {
    struct store_inbox *v = NULL;
    size_t nv = 0;
    if (store_inbox_take(rt->store, ids, n, false, wt_now_ms(), &v, &nv) == 0) {
      for (size_t k = 0; k < nv; k++)
        handle_request(rt, &v[k]);
      store_inbox_free(v, nv);
    }
  }
  rt_executors_poll(rt); /* `weft event send` from other processes (svc_wait.c) */
  rt_mutex_poll(rt);     /* mutexes other processes let go (rt_mutex.c) */
  int64_t now = wt_now_ms();
  if (now - rt->last_heartbeat >= HEARTBEAT_MS) {
    store_heartbeat(rt->store, rt->pid, rt->pstart, now);
    rt->last_heartbeat = now;
  }
  rt_arm_flush(rt);
}

void rt_poke(struct runtime *rt)
{
  if (uv_is_active((uv_handle_t *)&rt->poll))
    on_poll(&rt->poll);
}

void rt_cancel_all(struct runtime *rt)
{
  int64_t now = wt_now_ms();
  for (size_t i = 0; i < rt->n_runs; i++) {
    struct rt_run *run = rt->runs[i];
    if (!run->finished && !run->cancel_requested) {
      run->cancel_requested = true;
      engine_cancel(run->eng, now, &run->fx);
    }
  }
  rt_arm_flush(rt);
}

static void on_sigint(uv_signal_t *h, int sig)
{
  struct runtime *rt = h->data;
  (void)sig;
  if (rt->interrupts++ > 0) {
    fprintf(stderr, "\nweft: interrupted again: exiting now; `weft resume` continues the runs\n");
    _exit(130);
  }
  fprintf(stderr, "\nweft: cancelling (Ctrl-C again to exit at once and leave the runs resumable)\n");
  rt_cancel_all(rt);
}

/* ---- set-up ------------------------------------------------------------- */

static bool weft_owned_var(const char *e)
{
  static const char *own[] = {"WEFT_RUN_ID=", "WEFT_WORKFLOW=", "WEFT_STEP=", "WEFT_ATTEMPT=",
                              "WEFT_INDEX=", "WEFT_ITEM=", "WEFT_IDEMPOTENCY_KEY=",
                              "WEFT_OUTPUT=", "WEFT_WORKSPACE=",
                              "WEFT_SECRET_", /* reach steps only through env: */
                              NULL};
  for (const char **o = own; *o; o++)
    if (!strncmp(e, *o, strlen(*o)))
      return true;
  return false;
}

/* A switch set in the environment to anything but "" or "0". */
static bool env_on(const char *name)
{
  const char *v = getenv(name);
  return v && *v && strcmp(v, "0");
}

int rt_new(const struct rt_opts *o, struct runtime **out)
{
  struct runtime *rt = calloc(1, sizeof *rt);
  if (!rt)
    return WEFT_ENOMEM;
  rt->o = *o;
  rt->store = o->store;
  if (rt->o.default_parallel <= 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    rt->o.default_parallel = (int)(cores > 0 ? cores * 2 : 2);
  }
  rt->pending_tail = &rt->pending;
  rt->batches_tail = &rt->batches;
  rt_executors_init(rt);
  rt->early_start = !env_on("WEFT_NO_EARLY_START");
  rt->pid = (int)getpid();
  store_proc_start(rt->pid, &rt->pstart);
  size_t n = 0;
  while (environ[n])
    n++;
  rt->env_base = calloc(n + 1, sizeof *rt->env_base);
  if (!rt->env_base) {
    free(rt);
    return WEFT_ENOMEM;
  }
  for (size_t i = 0; i < n; i++)
    if (!weft_owned_var(environ[i]))
      rt->env_base[rt->n_env_base++] = strdup(environ[i]);
  uv_loop_init(&rt->loop);
  rt->loop.data = rt;
  /* commits become durable through rt_sync.c (off the loop while processes
   * run); without it (an in-memory store) the store syncs in every commit */
  char *sync_path = NULL;
  if (store_defer_sync(rt->store, &sync_path) == 0 &&
      rt_sync_new(&rt->loop, sync_path, on_synced, rt, &rt->sync) != 0) {
    /* before any other handle: the loop closes cleanly */
    free(sync_path);
    uv_loop_close(&rt->loop);
    for (size_t i = 0; i < rt->n_env_base; i++)
      free(rt->env_base[i]);
    free(rt->env_base);
    free(rt);
    return WEFT_EIO;
  }
  free(sync_path);
  uv_idle_init(&rt->loop, &rt->idle);
  uv_check_init(&rt->loop, &rt->check);
  rt->check.data = rt;
  uv_check_start(&rt->check, on_check);
  uv_timer_init(&rt->loop, &rt->poll);
  rt->poll.data = rt;
  uv_timer_start(&rt->poll, on_poll, POLL_MS, POLL_MS);
  uv_timer_init(&rt->loop, &rt->pid_timer);
  rt->pid_timer.data = rt;
  uv_timer_init(&rt->loop, &rt->commit_timer);
  rt->commit_timer.data = rt;
  uv_signal_init(&rt->loop, &rt->sigint);
  rt->sigint.data = rt;
  if (!o->keep_alive) /* a server handles its own signals */
    uv_signal_start(&rt->sigint, on_sigint, SIGINT);
  /* WEFT_SPAWNER=1: starts while other processes run go through a spawner
   * thread (exec/proc_async.c). Off by default: on the 2-vCPU machines of
   * bench/README.md the hand-offs cost more (a fan-out at 1.04x make
   * without it, 1.21x with it) than the loop saves by not waiting for each
   * child's execve */
  if (env_on("WEFT_SPAWNER"))
    proc_async_enable(&rt->loop); /* without it starts stay on the loop thread */
  rt->handles_open = true;
  *out = rt;
  return 0;
}

static void run_free(struct rt_run *run)
{
  if (!run)
    return;
  engine_fx_free(&run->fx);
  engine_free(run->eng);
  rt_counts_free(run); /* before the definition: it knows the step count */
  wf_free(run->wf);
  json_decref(run->inputs);
  json_decref(run->trigger_obj);
  store_run_clear(&run->row);
  rt_rows_free(run);
  free(run->workspace);
  free(run);
}

/* Drops run id from the runs this runtime holds if it has ended here for
 * good: finished, its ownership released with its last commit, and nothing
 * in flight (attempt, pending result, uncommitted batch) pointing at it.
 * A long-lived runtime (the server) keeps ended runs; retrying one must load
 * it afresh from the store rather than find it "already executing". */
static void forget_ended(struct runtime *rt, const char *id)
{
  for (size_t i = 0; i < rt->n_runs; i++) {
    struct rt_run *run = rt->runs[i];
    if (strcmp(run->id, id))
      continue;
    if (!run->finished || run->row.owner_pid)
      return;
    for (struct rt_attempt *a = rt->attempts; a; a = a->next)
      if (a->run == run)
        return;
    for (struct rt_pending *p = rt->pending; p; p = p->next)
      if (p->run == run)
        return;
    for (struct rt_batch *b = rt->batches; b; b = b->next)
      if (b->run == run)
        return;
    rt_timers_cancel_run(rt, run);
    memmove(&rt->runs[i], &rt->runs[i + 1], (rt->n_runs - i - 1) * sizeof *rt->runs);
    rt->n_runs--;
    run_free(run);
    return;
  }
}

void rt_free(struct runtime *rt)
{
  if (!rt)
    return;
  close_handles(rt);
  rt_http_close(rt);
  rt_timers_cancel_run(rt, NULL);
  for (size_t i = 0; i < rt->n_runs; i++)
    rt_timers_cancel_run(rt, rt->runs[i]);
  uv_run(&rt->loop, UV_RUN_NOWAIT);
  uv_loop_close(&rt->loop);
  rt_sync_free(rt->sync); /* syncs what was written after the last durable commit */
  while (rt->batches) { /* the store failed before they were durable */
    struct rt_batch *b = rt->batches;
    rt->batches = b->next;
    engine_fx_free(&b->fx);
    free(b);
  }
  for (size_t i = 0; i < rt->n_runs; i++)
    run_free(rt->runs[i]);
  free(rt->runs);
  for (size_t i = 0; i < rt->n_env_base; i++)
    free(rt->env_base[i]);
  free(rt->env_base);
  masker_free(rt->masker);
  json_decref(rt->secrets);
  free(rt);
}

uv_loop_t *rt_uv_loop(struct runtime *rt) { return &rt->loop; }
bool rt_interrupted(const struct runtime *rt) { return rt->interrupts > 0; }
/* the i-th run that is not a sub-workflow run (those belong to their parent) */
static const struct rt_run *top_run(const struct runtime *rt, size_t i)
{
  for (size_t k = 0; k < rt->n_runs; k++)
    if (!rt->runs[k]->is_child && i-- == 0)
      return rt->runs[k];
  return NULL;
}
size_t rt_run_count(const struct runtime *rt)
{
  size_t n = 0;
  for (size_t k = 0; k < rt->n_runs; k++)
    n += !rt->runs[k]->is_child;
  return n;
}
const char *rt_run_id(const struct runtime *rt, size_t i) { return top_run(rt, i)->id; }
enum eng_run_status rt_run_status(const struct runtime *rt, size_t i)
{
  return engine_run_status(top_run(rt, i)->eng);
}

static int add_run(struct runtime *rt, struct rt_run *run)
{
  if (rt->n_runs == rt->cap_runs) {
    size_t ncap = rt->cap_runs ? rt->cap_runs * 2 : 4;
    struct rt_run **nv = realloc(rt->runs, ncap * sizeof *nv);
    if (!nv)
      return WEFT_ENOMEM;
    rt->runs = nv;
    rt->cap_runs = ncap;
  }
  rt->runs[rt->n_runs++] = run;
  return 0;
}

static int make_workspace(struct runtime *rt, struct rt_run *run)
{
  if (asprintf(&run->workspace, "%s/workspaces/%s", store_home(rt->store), run->id) < 0) {
    run->workspace = NULL;
    return WEFT_ENOMEM;
  }
  char *parent = NULL;
  if (asprintf(&parent, "%s/workspaces", store_home(rt->store)) >= 0) {
    mkdir(parent, 0755);
    free(parent);
  }
  if (mkdir(run->workspace, 0755) != 0 && errno != EEXIST)
    return WEFT_EIO;
  return 0;
}

/* `.event` of a run an event or a webhook started: its payload (LANGUAGE.md) */
static const json_t *trigger_event(const json_t *trig)
{
  const char *type = json_string_value(json_object_get(trig, "type"));
  if (!type)
    return NULL;
  if (!strcmp(type, "event"))
    return json_object_get(trig, "event");
  if (!strcmp(type, "webhook"))
    return json_object_get(trig, "body");
  return NULL;
}

static uint64_t new_seed(void)
{
  uint64_t s = 0;
  if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s)
    s = (uint64_t)wt_now_ms() ^ (uint64_t)getpid() << 32;
  return s;
}

int rt_start(struct runtime *rt, struct wf *wf, const json_t *inputs, const char *trigger,
             char id_out[WEFT_ID_LEN + 1], char **err)
{
  return rt_start_run(rt, wf, inputs, trigger, NULL, NULL, STORE_NO_INDEX, NULL, id_out, err);
}

int rt_start_as(struct runtime *rt, struct wf *wf, const json_t *inputs, const char *trigger,
                const char *user, char id_out[WEFT_ID_LEN + 1], char **err)
{
  const char *own = rt->o.user;
  rt->o.user = user ? user : own; /* read by rt_start_run only (started_by) */
  int rc = rt_start(rt, wf, inputs, trigger, id_out, err);
  rt->o.user = own;
  return rc;
}

int rt_start_trig(struct runtime *rt, struct wf *wf, const json_t *inputs, const char *user,
                  const json_t *trigger_obj, char id_out[WEFT_ID_LEN + 1], char **err)
{
  const char *type = json_string_value(json_object_get(trigger_obj, "type"));
  rt->start_trigger = trigger_obj;
  int rc = rt_start_as(rt, wf, inputs, type ? type : "manual", user, id_out, err);
  rt->start_trigger = NULL;
  return rc;
}

int rt_start_run(struct runtime *rt, struct wf *wf, const json_t *inputs, const char *trigger,
                 const char *parent_id, const char *parent_step, int parent_index,
                 struct rt_run **run_out, char id_out[WEFT_ID_LEN + 1], char **err)
{
  int rc = 0;
  int64_t now = wt_now_ms();
  struct rt_run *run = calloc(1, sizeof *run);
  if (!run) {
    wf_free(wf);
    return fail(err, WEFT_ENOMEM, "out of memory");
  }
  run->wf = wf;
  run->inputs = json_deep_copy(inputs ? inputs : json_object());
  engine_fx_init(&run->fx);
  ids_ulid(run->id, now);
  if ((rc = rt_secrets_init(rt, err)) != 0)
    goto out;

  char hash[SHA256_HEX_LEN + 1];
  char abs[PATH_MAX];
  const char *path = realpath(wf->path, abs) ? abs : wf->path;
  /* one transaction from here to the run's first transitions (flush commits) */
  rc = store_in_tx(rt->store) ? 0 : store_begin(rt->store);
  if (!rc)
    rc = store_workflow_put(rt->store, wf->name, path, wf->source, now, hash, NULL);
  if (rc) {
    if (store_in_tx(rt->store))
      store_rollback(rt->store);
    rc = fail(err, rc, "cannot record the workflow: %s", store_errmsg(rt->store));
    goto out;
  }
  if ((rc = make_workspace(rt, run)) != 0) {
    rc = fail(err, rc, "cannot create the run's workspace %s", run->workspace);
    goto out;
  }
  if (rt->start_trigger)
    run->trigger_obj = json_deep_copy(rt->start_trigger);
  struct eng_config cfg = {.run_id = run->id, .trigger = trigger ? trigger : "manual",
                           .inputs = run->inputs, .max_parallel = rt->o.default_parallel,
                           .secrets = rt->secrets, .seed = new_seed(),
                           .trigger_obj = run->trigger_obj, .event = trigger_event(run->trigger_obj)};
  if ((rc = engine_new(wf, &cfg, &run->eng)) != 0) {
    rc = fail(err, rc, "cannot create the run: %s", weft_strerror(rc));
    goto out;
  }
  spill_on(rt, run);
  struct store_run *r = &run->row;
  r->id = strdup(run->id);
  r->workflow = strdup(wf->name);
  r->workflow_hash = strdup(hash);
  r->path = strdup(path);
  r->status = strdup("queued");
  r->trigger = strdup(cfg.trigger);
  r->parent_id = parent_id ? strdup(parent_id) : NULL;
  r->parent_step = parent_step ? strdup(parent_step) : NULL;
  r->parent_index = parent_id ? parent_index : STORE_NO_INDEX;
  r->started_by = strdup(rt->o.user ? rt->o.user : "unknown");
  r->inputs = wjson_dumps(run->inputs, JSON_COMPACT);
  masker_inplace(rt->masker, &r->inputs); /* a child's inputs may carry secrets */
  r->created_at = now;
  r->owner_pid = rt->pid;
  r->owner_start = rt->pstart;
  r->heartbeat_at = now;
  rc = store_run_put(rt->store, r);
  if (!rc) {
    json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:o}", "workflow", wf->name, "definition", hash,
                          "started_by", r->started_by, "trigger", r->trigger, "inputs",
                          masker_json(rt->masker, run->inputs));
    if (rt->o.asserted_by) /* started with --as: both names (CLI.md, Identity) */
      json_object_set_new(d, "asserted_by", json_string(rt->o.asserted_by));
    if (parent_id)
      json_object_set_new(d, "parent", json_pack("{s:s,s:s,s:i}", "run", parent_id, "step",
                                                 parent_step ? parent_step : "", "index",
                                                 parent_index));
    /* hashed: jansson's canonical text (as the audit chain), stable across versions */
    char *inputs_txt = json_dumps(run->inputs, JSON_COMPACT | JSON_SORT_KEYS);
    char ih[SHA256_HEX_LEN + 1];
    sha256_hex(inputs_txt ? inputs_txt : "", inputs_txt ? strlen(inputs_txt) : 0, ih);
    free(inputs_txt);
    json_object_set_new(d, "inputs_sha256", json_string(ih));
    char *txt = wjson_dumps(d, JSON_COMPACT);
    json_decref(d);
    rc = store_audit_append(rt->store, now, run->id, "run.created", txt, NULL);
    free(txt);
  }
  if (!rc && run->trigger_obj) { /* kept for a resume: `.trigger` stays what it was */
    char *txt = wjson_dumps(run->trigger_obj, JSON_COMPACT);
    masker_inplace(rt->masker, &txt);
    rc = txt ? store_run_trigger_put(rt->store, run->id, txt) : WEFT_ENOMEM;
    free(txt);
  }
  if (rc) {
    if (store_in_tx(rt->store))
      store_rollback(rt->store);
    rc = fail(err, rc, "cannot record the run: %s", store_errmsg(rt->store));
    goto out;
  }
  if ((rc = add_run(rt, run)) != 0)
    goto out;
  memcpy(id_out, run->id, sizeof run->id);
  if (run_out)
    *run_out = run;
  engine_start(run->eng, now, &run->fx);
  rt_arm_flush(rt);
  return 0;
out:
  if (store_in_tx(rt->store))
    store_rollback(rt->store);
  run_free(run);
  return rc;
}

static int cmp_pid(const void *a, const void *b)
{
  pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
  return (x > y) - (x < y);
}

/* Marks in running[] the (sorted) groups g[0..n) that have a process still
 * running, by one scan of /proc; returns how many. Zombies do not count: they
 * run nothing, and reaping them is up to their new parent (init may take a
 * second or more, during which proc_group_alive, which counts them, stays
 * true). */
static size_t groups_running(const pid_t *g, size_t n, bool *running)
{
  size_t count = 0;
  memset(running, 0, n * sizeof *running);
  DIR *d = opendir("/proc");
  if (!d) {
    memset(running, 1, n * sizeof *running);
    return n;
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] < '1' || de->d_name[0] > '9')
      continue;
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%.255s/stat", de->d_name);
    FILE *f = fopen(path, "re");
    if (!f)
      continue;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    char *p = strrchr(buf, ')');
    char state = 0;
    long pgrp = 0;
    if (!p || sscanf(p + 1, " %c %*d %ld", &state, &pgrp) != 2 || state == 'Z' || state == 'X')
      continue;
    pid_t key = (pid_t)pgrp;
    const pid_t *hit = bsearch(&key, g, n, sizeof *g, cmp_pid);
    if (hit && !running[hit - g]) {
      running[hit - g] = true;
      count++;
    }
  }
  closedir(d);
  return count;
}

/* SIGTERM to the dead engine's groups all at once, a wait (up to grace_ms)
 * until none has a running process, then proc_group_kill (SIGKILL after its
 * own grace) for those that still have one. One by one, 100 groups cost 100
 * polling rounds. g is sorted here. */
static void kill_groups(pid_t *g, size_t n, int grace_ms)
{
  bool *running = calloc(n ? n : 1, sizeof *running);
  if (!running) {
    for (size_t i = 0; i < n; i++)
      proc_group_kill(g[i], grace_ms);
    return;
  }
  qsort(g, n, sizeof *g, cmp_pid);
  for (size_t i = 0; i < n; i++)
    if (kill(-g[i], SIGTERM) == 0)
      kill(-g[i], SIGCONT);
  int64_t deadline = wt_mono_ms() + grace_ms;
  while (groups_running(g, n, running) && wt_mono_ms() < deadline) {
    struct timespec ts = {0, 5 * 1000000L};
    nanosleep(&ts, NULL);
  }
  for (size_t i = 0; i < n; i++)
    if (running[i])
      proc_group_kill(g[i], grace_ms);
  free(running);
}

/* Loads a stored run and its definition into a restored engine. */
static int load_run(struct runtime *rt, const char *id, bool for_retry, struct rt_run **out,
                    char **err)
{
  int rc;
  struct store_workflow w = {0};
  struct store_step *steps = NULL;
  size_t n_steps = 0;
  struct diag_list d = {0};
  struct rt_run *run = calloc(1, sizeof *run);
  if (!run)
    return fail(err, WEFT_ENOMEM, "out of memory");
  engine_fx_init(&run->fx);
  if ((rc = rt_secrets_init(rt, err)) != 0)
    goto out;
  if ((rc = store_run_get(rt->store, id, &run->row)) != 0) {
    rc = fail(err, rc, "%s", store_errmsg(rt->store));
    goto out;
  }
  memcpy(run->id, run->row.id, WEFT_ID_LEN);
  char *trig = NULL;
  if (store_run_trigger_get(rt->store, run->id, &trig) == 0 && trig)
    run->trigger_obj = json_loads(trig, 0, NULL);
  free(trig);
  json_object_del(run->trigger_obj, "_hold"); /* a queued run's hold (ops/triggers.c) is not `.trigger` */
  int st = engine_run_status_parse(run->row.status);
  bool terminal = st == ENG_RUN_SUCCEEDED || st == ENG_RUN_FAILED || st == ENG_RUN_CANCELLED;
  if (!for_retry && terminal) {
    rc = fail(err, WEFT_ESTATE, "run %s already ended (%s); nothing to resume", run->id,
              run->row.status);
    goto out;
  }
  if (for_retry && !terminal) {
    rc = fail(err, WEFT_ESTATE, "run %s is still %s; only an ended run can be retried",
              run->id, run->row.status);
    goto out;
  }
  if (for_retry)
    forget_ended(rt, run->id); /* a run this runtime executed to its end (a server's) */
  if (run_find(rt, run->id)) {
    rc = fail(err, WEFT_EBUSY, "run %s is already executing here", run->id);
    goto out;
  }
  /* recorded by a trigger and never taken by any engine: no process of it
   * can exist, so no /proc walk looks for one (a burst of queued runs) */
  bool never_owned = !for_retry && !strcmp(run->row.status, "queued") && run->row.owner_pid <= 0;
  int64_t now = wt_now_ms();
  if ((rc = store_run_claim(rt->store, run->id, rt->pid, rt->pstart, now)) != 0) {
    if (rc == WEFT_EBUSY)
      rc = fail(err, rc, "run %s is being executed by another weft process (pid %d)", run->id,
                run->row.owner_pid);
    else
      rc = fail(err, rc, "cannot take over run %s: %s", run->id, store_errmsg(rt->store));
    goto out;
  }
  run->row.owner_pid = rt->pid;
  if ((rc = store_workflow_get(rt->store, run->row.workflow_hash, &w)) != 0) {
    rc = fail(err, rc, "the definition of run %s is missing: %s", run->id, store_errmsg(rt->store));
    goto out;
  }
  const char *path = run->row.path ? run->row.path : w.path ? w.path : "workflow.yaml";
  if ((rc = wf_load_string(path, w.source, strlen(w.source), &run->wf, &d)) != 0) {
    rc = fail(err, rc, "the stored definition of run %s no longer loads (%s)", run->id,
              d.n ? d.v[0].msg : weft_strerror(rc));
    goto out;
  }
  free(run->wf->path);
  run->wf->path = strdup(path);
  char *dirbuf = strdup(path);
  free(run->wf->dir);
  run->wf->dir = strdup(dirname(dirbuf));
  free(dirbuf);
  run->inputs = run->row.inputs ? json_loads(run->row.inputs, 0, NULL) : NULL;
  if (!run->inputs)
    run->inputs = json_object();
  if ((rc = make_workspace(rt, run)) != 0) {
    rc = fail(err, rc, "cannot create the run's workspace");
    goto out;
  }
  struct eng_config cfg = {.run_id = run->id,
                           .trigger = run->row.trigger ? run->row.trigger : "manual",
                           .inputs = run->inputs, .max_parallel = rt->o.default_parallel,
                           .secrets = rt->secrets, .seed = new_seed(),
                           .trigger_obj = run->trigger_obj, .event = trigger_event(run->trigger_obj)};
  rc = engine_restore_begin(run->wf, &cfg, (enum eng_run_status)(st < 0 ? ENG_RUN_RUNNING : st),
                            run->row.started_at, &run->eng);
  if (rc) {
    rc = fail(err, rc, "cannot restore run %s: %s", run->id, weft_strerror(rc));
    goto out;
  }
  spill_on(rt, run);
  if ((rc = store_step_list(rt->store, run->id, NULL, &steps, &n_steps)) != 0) {
    rc = fail(err, rc, "%s", store_errmsg(rt->store));
    goto out;
  }
  /* the dead engine's process groups go first: nothing may be re-attempted
   * while an old attempt still runs (the journal about to be written
   * overwrites the recorded pgids, so this cannot wait for the effects) */
  int grace = rt->o.kill_grace_ms ? rt->o.kill_grace_ms : PROC_KILL_GRACE_MS;
  if (!never_owned) {
    pid_t *groups = calloc(n_steps ? n_steps : 1, sizeof *groups);
    size_t ng = 0;
    for (size_t i = 0; i < n_steps; i++)
      if (steps[i].pgid > 1 && !strcmp(steps[i].status, "running") &&
          proc_group_alive(steps[i].pgid)) {
        if (groups)
          groups[ng++] = (pid_t)steps[i].pgid;
        else
          proc_group_kill(steps[i].pgid, grace);
      }
    /* the cgroups of those attempts first (cgroup mode): they hold also the
     * processes that left the group, whatever their environment */
    char run_env[96];
    snprintf(run_env, sizeof run_env, "WEFT_RUN_ID=%s", run->id);
    proc_cgroup_kill_stale(groups, groups ? ng : 0, for_retry ? NULL : run_env, grace);
    if (groups)
      kill_groups(groups, ng, grace);
    free(groups);
    /* and those whose pgid had not reached the disk yet (rt_stale.c) */
    if (!for_retry)
      rt_kill_run_processes(run->id, grace);
  }
  /* step rows first (with their instance counts), then instance rows */
  for (int pass = 0; pass < 2 && !rc; pass++) {
    for (size_t i = 0; i < n_steps && !rc; i++) {
      struct store_step *s = &steps[i];
      if ((pass == 0) != (s->index < 0))
        continue;
      uint32_t k = wf_step_find(run->wf, s->step);
      if (k == WF_NONE)
        continue;
      json_t *e = s->error ? json_loads(s->error, JSON_DECODE_ANY, NULL) : NULL;
      json_t *o = s->outputs ? json_loads(s->outputs, JSON_DECODE_ANY, NULL) : NULL;
      /* store_step_list orders by (step, index): a step's instances
       * (index >= 0) follow its own row (index -1) */
      uint32_t n_inst = 0;
      if (pass == 0)
        for (size_t j = i + 1;
             j < n_steps && steps[j].index >= 0 && !strcmp(steps[j].step, s->step); j++)
          n_inst++;
      int status = engine_status_parse(s->status);
      struct eng_saved_unit u = {
        .step = k, .index = s->index,
        .status = (enum eng_status)(status < 0 ? ENG_PENDING : status),
        .attempts = (uint32_t)s->attempts, .iteration = (uint32_t)s->iteration,
        .n_instances = n_inst,
        .exit_code = s->has_exit_code ? s->exit_code : ENG_NO_EXIT,
        .error = e, .outputs = o,
        .started_at = s->started_at, .finished_at = s->finished_at,
        .due_at = s->due_at,
        /* a reserved attempt may have started (engine_reserve); not after a
         * finished run, which `weft retry` restores */
        .reserved = for_retry ? 0 : (uint32_t)(s->reserved > 0 ? s->reserved : 0),
      };
      rc = engine_restore_unit(run->eng, &u);
      json_decref(e);
      json_decref(o);
      if (rc)
        rc = fail(err, rc, "cannot restore step %s of run %s: %s", s->step, run->id,
                  weft_strerror(rc));
    }
  }
  if (!rc)
    rt_counts_load(run, steps, n_steps);
out:
  store_steps_free(steps, n_steps);
  store_workflow_clear(&w);
  diag_list_free(&d);
  if (rc) {
    if (run->row.owner_pid == rt->pid)
      store_run_release(rt->store, run->id);
    run_free(run);
    return rc;
  }
  *out = run;
  return 0;
}

static int audit_now(struct runtime *rt, const char *run_id, const char *kind, json_t *d)
{
  char *txt = wjson_dumps(d, JSON_COMPACT);
  json_decref(d);
  int rc = store_audit_append(rt->store, wt_now_ms(), run_id, kind, txt, NULL);
  free(txt);
  return rc;
}

/* Walks a run's audit entries: a cancel request not followed by a retry
 * means the run must end cancelled. */
static int cancel_owed_cb(void *ctx, const struct store_audit *e)
{
  bool *owed = ctx;
  if (!strcmp(e->kind, "cancel.requested"))
    *owed = true;
  else if (!strcmp(e->kind, "run.retry"))
    *owed = false;
  return 0;
}

int rt_resume(struct runtime *rt, const char *run_id, char **err)
{
  struct rt_run *run;
  int rc = load_run(rt, run_id, false, &run, err);
  if (rc)
    return rc;
  json_t *rd = json_pack("{s:s,s:i}", "by", rt->o.user ? rt->o.user : "unknown", "pid", rt->pid);
  if (rd && rt->o.asserted_by)
    json_object_set_new(rd, "asserted_by", json_string(rt->o.asserted_by));
  audit_now(rt, run->id, "run.resumed", rd);
  if ((rc = add_run(rt, run)) != 0) {
    run_free(run);
    return fail(err, rc, "out of memory");
  }
  if (!strcmp(run->row.status, "queued")) {
    /* the engine died before the run's first transition was committed:
     * nothing ran yet, so start it afresh */
    struct eng_config cfg = {.run_id = run->id,
                             .trigger = run->row.trigger ? run->row.trigger : "manual",
                             .inputs = run->inputs, .max_parallel = rt->o.default_parallel,
                             .secrets = rt->secrets, .seed = new_seed(),
                             .trigger_obj = run->trigger_obj, .event = trigger_event(run->trigger_obj)};
    engine_free(run->eng);
    run->eng = NULL;
    if ((rc = engine_new(run->wf, &cfg, &run->eng)) != 0)
      return fail(err, rc, "cannot restart run %s: %s", run->id, weft_strerror(rc));
    spill_on(rt, run);
    engine_start(run->eng, wt_now_ms(), &run->fx);
    rt_withdraw_owed(rt, run, false);
  } else {
    rt_withdraw_owed(rt, run, true); /* requested withdrawals first (rt_withdraw.c) */
    engine_restore_end(run->eng, wt_now_ms(), &run->fx);
  }
  /* a cancel the dead engine had taken (and maybe half applied) is not in
   * the inbox any more: the audit log says whether one is owed */
  bool owed = false;
  store_audit_scan(rt->store, run->id, NULL, cancel_owed_cb, &owed);
  if (owed && !run->cancel_requested) {
    run->cancel_requested = true;
    engine_cancel(run->eng, wt_now_ms(), &run->fx);
  }
  rt_arm_flush(rt);
  return 0;
}

int rt_retry(struct runtime *rt, const char *run_id, const char *from_step, char **err)
{
  struct rt_run *run;
  int rc = load_run(rt, run_id, true, &run, err);
  if (rc)
    return rc;
  uint32_t from = WF_NONE;
  if (from_step) {
    from = wf_step_find(run->wf, from_step);
    if (from == WF_NONE) {
      rc = fail(err, WEFT_ENOTFOUND, "run %s has no step \"%s\"", run->id, from_step);
      store_run_release(rt->store, run->id);
      run_free(run);
      return rc;
    }
  }
  int64_t now = wt_now_ms();
  engine_restore_end(run->eng, now, &run->fx);
  json_t *d = json_pack("{s:s}", "by", rt->o.user ? rt->o.user : "unknown");
  if (from_step)
    json_object_set_new(d, "from", json_string(from_step));
  if (d && rt->o.asserted_by)
    json_object_set_new(d, "asserted_by", json_string(rt->o.asserted_by));
  audit_now(rt, run->id, "run.retry", d);
  if ((rc = engine_retry(run->eng, from, now, &run->fx)) != 0) {
    if (rc == WEFT_ESTATE)
      rc = fail(err, rc, "run %s has no failed or cancelled step to retry; use --from STEP to "
                "run a step and everything after it again", run->id);
    else
      rc = fail(err, rc, "cannot retry run %s: %s", run->id, weft_strerror(rc));
    store_run_release(rt->store, run->id);
    run_free(run);
    return rc;
  }
  if ((rc = add_run(rt, run)) != 0) {
    run_free(run);
    return fail(err, rc, "out of memory");
  }
  rt_arm_flush(rt);
  return 0;
}

void rt_drain(struct runtime *rt)
{
  rt->draining = true;
  if (all_done(rt))
    close_handles(rt);
  else if (drain_settled(rt))
    uv_stop(&rt->loop);
}

size_t rt_active_count(const struct runtime *rt)
{
  size_t n = 0;
  for (size_t i = 0; i < rt->n_runs; i++)
    n += !rt->runs[i]->finished;
  return n;
}

int rt_loop(struct runtime *rt)
{
  rt_arm_flush(rt);
  if (all_done(rt) && (!rt->o.keep_alive || rt->draining))
    close_handles(rt);
  uv_run(&rt->loop, UV_RUN_DEFAULT);
  return rt->store_failed ? WEFT_ESTORE : 0;
}
