/* runtime.h — the I/O shell around the engine: one libuv loop that executes
 * runs durably in this process.
 *
 * For every run it owns, the runtime feeds the engine's effects to executors
 * and the executors' results back to the engine as events. The rule that
 * makes it durable: everything the engine journaled during one loop tick is
 * committed to the store in ONE transaction (group commit), and only then
 * are the tick's effects (spawns, kills, timers) performed.
 *
 * Other processes talk to an owned run through the store's inbox (cancel,
 * later approve/reject/event); the runtime polls it every 200 ms and keeps a
 * heartbeat so they can tell it is alive. A run whose owner died is taken
 * over by rt_resume().
 *
 * Ownership: the runtime borrows the store (it must outlive the runtime) and
 * the observer; it takes over the struct wf given to rt_start(). */
#ifndef WEFT_RUNTIME_RUNTIME_H
#define WEFT_RUNTIME_RUNTIME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "engine/engine.h"
#include "spec/model.h"
#include "store/store.h"
#include "util/ids.h"

struct runtime;

/* What a person watching `weft run` sees: called after each commit with the
 * committed journal entries, and with live output for -v. */
struct rt_observer {
  void (*on_journal)(void *ud, const char *run_id, const struct wf *wf,
                     const struct eng_run *eng, const struct eng_jent *e);
  void (*on_output)(void *ud, const char *run_id, const char *label, const char *data,
                    size_t len);
  void (*on_tick)(void *ud); /* after each commit (for redrawing) */
  void *ud;
  /* after each commit of the loop's store transaction (on the loop's thread;
   * must not block): how long it took, begin to commit, in seconds */
  void (*on_commit)(void *ud, double seconds);
};

struct rt_opts {
  struct store *store;
  const char *user;          /* who starts runs (started_by), "unknown" if NULL */
  const char *asserted_by;   /* the real identity when user was asserted (--as); NULL */
  int default_parallel;      /* 0: 2 x cores */
  int kill_grace_ms;         /* 0: 10 s */
  bool stream_output;        /* deliver on_output */
  bool keep_alive;           /* `weft server`: rt_loop returns only after rt_drain (and
                                once every run is terminal); no Ctrl-C handler */
  struct rt_observer obs;
};

int rt_new(const struct rt_opts *o, struct runtime **out);
void rt_free(struct runtime *rt);

/* Records the definition, creates the run (status queued, owned by this
 * process) and starts it. Takes over wf (freed by the runtime) and borrows
 * inputs (already resolved). id_out gets the run id. On failure *err is a
 * malloc'd message. */
int rt_start(struct runtime *rt, struct wf *wf, const json_t *inputs, const char *trigger,
             char id_out[WEFT_ID_LEN + 1], char **err);
/* rt_start with started_by = user instead of the runtime's own user (the
 * server starts runs for the API's callers). */
int rt_start_as(struct runtime *rt, struct wf *wf, const json_t *inputs, const char *trigger,
                const char *user, char id_out[WEFT_ID_LEN + 1], char **err);
/* rt_start_as for a run a trigger started: trigger_obj (borrowed) is its
 * `.trigger` object (sched/trigger.h), recorded with the run; its "type" is
 * the run's trigger. */
int rt_start_trig(struct runtime *rt, struct wf *wf, const json_t *inputs, const char *user,
                  const json_t *trigger_obj, char id_out[WEFT_ID_LEN + 1], char **err);
/* Takes over a run left running/waiting by a dead engine: claims it, reloads
 * its definition from the store, kills the dead engine's process groups and
 * continues (interrupted attempts are re-attempted). WEFT_EBUSY when a live
 * process owns it, WEFT_ESTATE when it is terminal. */
int rt_resume(struct runtime *rt, const char *run_id, char **err);
/* Runs a terminal run again in place (`weft retry`); from_step NULL = the
 * failed ones. */
int rt_retry(struct runtime *rt, const char *run_id, const char *from_step, char **err);

/* Runs the loop until every run of this runtime is terminal. Returns 0, or
 * WEFT_ESTORE when the store failed (the runs stay resumable). */
int rt_loop(struct runtime *rt);
/* keep_alive runtimes, on the loop's thread (the server is stopping): no
 * step starts from now on (one the engine starts stays recorded as started
 * and is attempted again by the next engine, as after a crash), and rt_loop
 * returns as soon as nothing but approvals, waits and sub-workflow steps is
 * in flight and every decision is durable. Runs not terminal then stay
 * resumable (rt_active_count says how many). */
void rt_drain(struct runtime *rt);
/* Runs of this runtime not yet terminal (on the loop's thread). */
size_t rt_active_count(const struct runtime *rt);
/* Reads the inbox now instead of at the next poll (a decision or cancel
 * made through the server's API), on the loop's thread. */
void rt_poke(struct runtime *rt);
/* Cancels every run (first Ctrl-C). Safe to call from a loop callback. */
void rt_cancel_all(struct runtime *rt);
uv_loop_t *rt_uv_loop(struct runtime *rt);
/* true once Ctrl-C was pressed (the caller exits 130). */
bool rt_interrupted(const struct runtime *rt);

/* After rt_loop: the runs in start order. */
size_t rt_run_count(const struct runtime *rt);
const char *rt_run_id(const struct runtime *rt, size_t i);
enum eng_run_status rt_run_status(const struct runtime *rt, size_t i);

/* What executors hold right now (for tests of the commit-before-effect rule):
 * fn is called for every attempt in flight — a process, an http or agent
 * call, an approval, a wait, a child run — from its start effect until its
 * result is queued. */
struct rt_flight {
  const char *run_id, *step;
  int32_t index;    /* -1: a plain step */
  uint32_t attempt;
  enum wf_kind kind;
};
void rt_each_attempt(const struct runtime *rt, void (*fn)(void *ud, const struct rt_flight *f),
                     void *ud);

/* Paths of an attempt's files under the home (malloc'd, caller frees). */
char *rt_log_path(const char *home, const char *run_id, const char *step, int index,
                  unsigned attempt);

#endif
