/* sched_loop.h — the server's side of triggers, on the runtime's loop:
 * ONE timer, armed for the earliest next fire time of the schedules table
 * (ops_schedules_fire), and the start of queued runs that triggers recorded
 * (ops_trigger_pickup: schedules, webhooks, events, backfills). The timer
 * also wakes once a second while queued runs may come from other processes
 * (`weft event send`, `weft backfill` beside the server), to start them.
 *
 * Each tick also compares the newest deployed versions with those it last
 * synced (one small read), so a `weft deploy` made beside the server is
 * taken up within a second.
 *
 * A kick (any thread) runs the same tick at once: after a deploy (resync:
 * the schedules follow the new version), a webhook or an event that
 * recorded runs, and a run's end when the last tick held queued runs back
 * (sched_loop_run_ended: only a held run waits for another to end; a tick
 * reads the deployed versions, the schedules and the queued runs, which was
 * a fifth of the server's time at 500 runs/s when every run's end ticked).
 *
 * Threads: start/close on the loop's thread; kick from any thread
 * (uv_async_send). Ownership: the store and runtime are borrowed. */
#ifndef WEFT_SERVER_SCHED_LOOP_H
#define WEFT_SERVER_SCHED_LOOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "store/store.h"

struct runtime;

struct sched_loop {
  uv_timer_t timer;
  uv_async_t kick;
  atomic_bool resync;
  atomic_bool open;
  struct store *s;
  struct runtime *rt;
  int64_t up_since; /* seconds: when this server took the schedules over */
  uint64_t deployed; /* a digest of the newest deployed versions last synced */
  int64_t armed_for; /* seconds: the schedule time the timer was armed for; 0: none */
  size_t held;       /* queued runs the last tick held back (loop thread) */
  /* set before sched_loop_start (may be NULL): how late a scheduled fire
   * came, in seconds (the timer's wake-up against the scheduled time) */
  void (*on_lag)(void *ud, double seconds);
  void (*log)(void *ud, const char *level, const char *event, const char *msg);
  void *ud;
};

/* On the loop's thread, before rt_loop: syncs the schedules with the
 * deployed workflows, fires what is due (catch_up from up_since = now),
 * starts queued runs and arms the timer. 0 or WEFT_ENOMEM. */
int sched_loop_start(struct sched_loop *l, uv_loop_t *loop, struct store *s, struct runtime *rt,
                     void (*log)(void *ud, const char *level, const char *event, const char *msg), void *ud);
/* Any thread: a tick now (resync: sync the schedules first). */
void sched_loop_kick(struct sched_loop *l, bool resync);
/* The loop's thread: a run ended; a tick now if the last one held queued
 * runs back (one may wait for this run). */
void sched_loop_run_ended(struct sched_loop *l);
/* The loop's thread (the server drains): no more fires or starts. */
void sched_loop_close(struct sched_loop *l);

#endif
