/* plan.c — the schedule planner (plan.h): catch_up, overlap, backfill
 * windows and run keys, as pure functions of their arguments. */
#include "sched/plan.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/wtime.h"

static const char *const catch_up_names[] = {"latest", "none", "all"};
static const char *const overlap_names[] = {"skip", "queue", "cancel_previous", "allow"};

int sched_catch_up_parse(const char *s, enum sched_catch_up *out)
{
  if (!s) {
    *out = SCHED_CATCH_UP_LATEST;
    return 0;
  }
  for (size_t i = 0; i < sizeof catch_up_names / sizeof *catch_up_names; i++)
    if (!strcmp(s, catch_up_names[i])) {
      *out = (enum sched_catch_up)i;
      return 0;
    }
  return WEFT_EINVAL;
}

int sched_overlap_parse(const char *s, enum sched_overlap *out)
{
  if (!s) {
    *out = SCHED_OVERLAP_SKIP;
    return 0;
  }
  for (size_t i = 0; i < sizeof overlap_names / sizeof *overlap_names; i++)
    if (!strcmp(s, overlap_names[i])) {
      *out = (enum sched_overlap)i;
      return 0;
    }
  return WEFT_EINVAL;
}

const char *sched_catch_up_name(enum sched_catch_up c)
{
  return (unsigned)c < 3 ? catch_up_names[c] : "?";
}

const char *sched_overlap_name(enum sched_overlap o)
{
  return (unsigned)o < 4 ? overlap_names[o] : "?";
}

/* the newest `cap` values of a rising stream */
struct ring {
  int64_t *v;
  size_t cap, n; /* n: values pushed (the ring holds min(n, cap)) */
};

static void ring_push(struct ring *r, int64_t t)
{
  if (r->cap)
    r->v[r->n % r->cap] = t;
  r->n++;
}

static size_t ring_len(const struct ring *r)
{
  return r->n < r->cap ? r->n : r->cap;
}

/* the k-th oldest value held (0 <= k < ring_len) */
static int64_t ring_at(const struct ring *r, size_t k)
{
  size_t first = r->n < r->cap ? 0 : r->n % r->cap;
  return r->v[(first + k) % r->cap];
}

int sched_plan(const struct cron *c, const struct tz *z, int64_t due, int64_t up_since, int64_t now,
               enum sched_catch_up catch_up, int64_t *times, size_t cap, size_t *n, uint64_t *dropped,
               int64_t *next)
{
  *n = 0;
  *dropped = 0;
  *next = due;
  if (due > now)
    return 0;
  int64_t missed_v[SCHED_CATCH_UP_MAX];
  size_t keep = catch_up == SCHED_CATCH_UP_ALL ? SCHED_CATCH_UP_MAX : catch_up == SCHED_CATCH_UP_LATEST ? 1 : 0;
  struct ring missed = {missed_v, keep, 0};
  int64_t *up_v = cap ? malloc(cap * sizeof *up_v) : NULL;
  if (cap && !up_v)
    return WEFT_ENOMEM;
  struct ring up = {up_v, cap, 0};
  uint64_t walked = 0;
  int64_t t = due;
  if (c->every > 0) {
    /* arithmetic: nothing older than the newest cap + SCHED_CATCH_UP_MAX + 1
     * due times can be kept, so start there */
    int64_t span = (int64_t)(cap + SCHED_CATCH_UP_MAX + 1) * c->every;
    if (now - due > span) {
      int64_t start = now - span;
      start = (start / c->every + 1) * c->every;
      if (start > due) {
        walked = (uint64_t)((start - due + c->every - 1) / c->every);
        t = start;
      }
    }
  }
  int rc = 0;
  uint64_t steps = 0;
  while (t <= now) {
    if (t < up_since)
      ring_push(&missed, t);
    else
      ring_push(&up, t);
    walked++;
    if (++steps == SCHED_PLAN_STEPS_MAX && now - 86400 > t) {
      /* too many to walk: go on from the last day before now */
      if ((rc = cron_next(c, z, now - 86400, &t)) != 0)
        goto out;
      continue;
    }
    if ((rc = cron_next(c, z, t, &t)) != 0)
      goto out;
  }
  *next = t;
  /* the selected missed times, then every on-time one; the newest cap */
  size_t nm = ring_len(&missed), nu = ring_len(&up);
  size_t total = nm + nu, skip = total > cap ? total - cap : 0;
  for (size_t k = 0; k < total; k++) {
    if (k < skip)
      continue;
    times[(*n)++] = k < nm ? ring_at(&missed, k) : ring_at(&up, k - nm);
  }
  *dropped = walked - *n;
out:
  free(up_v);
  return rc;
}

enum sched_action sched_overlap_decide(enum sched_overlap o, bool previous_active)
{
  if (!previous_active)
    return SCHED_ACT_FIRE;
  switch (o) {
  case SCHED_OVERLAP_SKIP:
    return SCHED_ACT_SKIP;
  case SCHED_OVERLAP_QUEUE:
    return SCHED_ACT_QUEUE;
  case SCHED_OVERLAP_CANCEL_PREVIOUS:
    return SCHED_ACT_CANCEL_AND_FIRE;
  case SCHED_OVERLAP_ALLOW:
    return SCHED_ACT_FIRE;
  }
  return SCHED_ACT_SKIP;
}

const char *sched_action_name(enum sched_action a)
{
  static const char *const names[] = {"fire", "skip", "queue", "cancel_and_fire"};
  return (unsigned)a < 4 ? names[a] : "?";
}

int sched_parse_bound(const char *s, const struct tz *z, int64_t *out)
{
  unsigned y, m, d;
  int used = 0;
  if (strlen(s) == 10 && sscanf(s, "%4u-%2u-%2u%n", &y, &m, &d, &used) == 3 && used == 10) {
    if (s[4] != '-' || s[7] != '-' || m < 1 || m > 12 || d < 1 || d > tz_days_in_month(y, m))
      return WEFT_EPARSE;
    int64_t local = tz_days_from_civil(y, m, d) * 86400;
    if (!z) {
      *out = local;
      return 0;
    }
    int64_t first = 0, second = 0;
    tz_resolve(z, local, &first, &second); /* skipped midnight: the gap's end */
    *out = first;
    return 0;
  }
  int64_t ms = 0;
  if (wt_parse_rfc3339(s, &ms))
    return WEFT_EPARSE;
  /* whole seconds: a bound between two seconds rounds up (from) the same as
   * it would for the scheduled times, which are whole seconds */
  *out = ms >= 0 ? (ms + 999) / 1000 : -((-ms) / 1000);
  return 0;
}

int sched_backfill_times(const struct cron *c, const struct tz *z, int64_t from, int64_t to, int64_t *times,
                         size_t cap, size_t *n)
{
  *n = 0;
  if (to <= from)
    return WEFT_EINVAL;
  int64_t t = 0;
  int rc = cron_next(c, z, from - 1, &t);
  while (!rc && t < to) {
    if (*n == cap)
      return WEFT_ELIMIT;
    times[(*n)++] = t;
    rc = cron_next(c, z, t, &t);
  }
  return rc == WEFT_ENOTFOUND ? 0 : rc;
}

void sched_run_key(int index, int64_t t, char *out, size_t outlen)
{
  snprintf(out, outlen, "schedule:%d:%" PRId64, index, t);
}
