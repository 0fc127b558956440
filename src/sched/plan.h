/* plan.h — what a schedule does when its time comes, as pure functions:
 * which scheduled times fire now (catch_up after downtime), what happens
 * when the previous run of the trigger is still active (overlap), and the
 * scheduled times of a backfill window.
 *
 * Times here are int64 seconds since the Unix epoch, like cron_next. Nothing
 * reads a clock: `now` and `up_since` are arguments, so the server's loop and
 * the tests ask about any instant. The server's table and loop around these
 * are ops/schedules.c and server/sched_loop.c (docs/internals/sched.md). */
#ifndef WEFT_SCHED_PLAN_H
#define WEFT_SCHED_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/cron.h"

#define SCHED_CATCH_UP_MAX 100        /* catch_up: all fires at most this many missed times */
#define SCHED_PLAN_STEPS_MAX 1000000  /* scheduled times walked by one plan, at most */
#define SCHED_BACKFILL_MAX 10000      /* scheduled times in one backfill window, at most */

enum sched_catch_up { SCHED_CATCH_UP_LATEST = 0, SCHED_CATCH_UP_NONE, SCHED_CATCH_UP_ALL };
enum sched_overlap {
  SCHED_OVERLAP_SKIP = 0,
  SCHED_OVERLAP_QUEUE,
  SCHED_OVERLAP_CANCEL_PREVIOUS,
  SCHED_OVERLAP_ALLOW
};

/* The words of SERVER.md §3; NULL means the default (latest, skip).
 * 0, or WEFT_EINVAL for another word. */
int sched_catch_up_parse(const char *s, enum sched_catch_up *out);
int sched_overlap_parse(const char *s, enum sched_overlap *out);
const char *sched_catch_up_name(enum sched_catch_up c);
const char *sched_overlap_name(enum sched_overlap o);

/* The plan of one schedule row when the loop wakes at `now`.
 *   due       the row's next fire time: the first scheduled time not yet
 *             handled (fired or dropped);
 *   up_since  when this server took the schedules over: a scheduled time
 *             before it was missed while no server ran; one at or after it
 *             came due while the server was up and always fires;
 *   catch_up  what happens to missed times: none drops them all, latest
 *             fires the newest of them, all fires the newest
 *             SCHED_CATCH_UP_MAX of them.
 * Fills times[0..*n) with the scheduled times to fire now, oldest first
 * (at most cap; when more came due the newest cap are kept), *dropped with
 * how many due times do not fire, and *next with the first scheduled time
 * after now (the row's new next fire time). When due > now nothing fires
 * and *next = due. A walk longer than SCHED_PLAN_STEPS_MAX scheduled times
 * (an every-minute schedule missed for two years) skips ahead to the last
 * day before now; *dropped then counts what was walked.
 * Returns 0, or WEFT_ENOTFOUND when the expression has no next time. */
int sched_plan(const struct cron *c, const struct tz *z, int64_t due, int64_t up_since, int64_t now,
               enum sched_catch_up catch_up, int64_t *times, size_t cap, size_t *n, uint64_t *dropped,
               int64_t *next);

/* What a scheduled fire does given the previous run of the same trigger. */
enum sched_action {
  SCHED_ACT_FIRE,            /* start the run */
  SCHED_ACT_SKIP,            /* start nothing (the time counts as handled) */
  SCHED_ACT_QUEUE,           /* create the run queued; it starts when the previous one ends */
  SCHED_ACT_CANCEL_AND_FIRE, /* cancel the previous run, then start this one */
};
enum sched_action sched_overlap_decide(enum sched_overlap o, bool previous_active);
const char *sched_action_name(enum sched_action a);

/* A backfill bound: RFC 3339 ("2026-01-01T00:00:00Z", with an offset or
 * Z) or a date "2026-01-01", which means that day's midnight in zone z
 * (NULL: UTC). 0 and *out (seconds), or WEFT_EPARSE. */
int sched_parse_bound(const char *s, const struct tz *z, int64_t *out);

/* Every scheduled time t with from <= t < to, oldest first, into times
 * (cap entries). 0 and *n; WEFT_ELIMIT when more than cap fall in the
 * window (*n = cap then); WEFT_EINVAL when to <= from. */
int sched_backfill_times(const struct cron *c, const struct tz *z, int64_t from, int64_t to, int64_t *times,
                         size_t cap, size_t *n);

/* The idempotency key of the run of trigger `index` (1-based) at scheduled
 * time t: "schedule:INDEX:T" (T in seconds). out >= 48 bytes. */
void sched_run_key(int index, int64_t t, char *out, size_t outlen);

#endif
