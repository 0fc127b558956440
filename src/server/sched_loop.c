/* sched_loop.c — one timer for the schedules, and the start of queued
 * runs (sched_loop.h). */
#include "server/sched_loop.h"

#include <stdio.h>
#include <string.h>

#include "ops/ops.h"
#include "runtime/runtime.h"
#include "util/wtime.h"

#define QUEUED_POLL_MS 1000

static void fire_log(void *ud, const char *level, const char *msg)
{
  struct sched_loop *l = ud;
  if (l->log)
    l->log(l->ud, level, "schedule", msg);
}

static void pickup_log(void *ud, const char *id, const char *wf, const char *err)
{
  struct sched_loop *l = ud;
  char m[700];
  snprintf(m, sizeof m, "cannot start queued run %s (%s): %s", id, wf, err);
  if (l->log)
    l->log(l->ud, "error", "trigger", m);
}

static void on_timer(uv_timer_t *t);

/* FNV-1a over "name version\n" of the newest deployed versions; 0 when
 * they cannot be read (no resync then) */
static uint64_t deployed_digest(struct store *s)
{
  struct store_deployment *v = NULL;
  size_t n = 0;
  if (store_deploy_list(s, NULL, &v, &n))
    return 0;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    char line[320];
    int w = snprintf(line, sizeof line, "%s %d\n", v[i].name, v[i].version);
    for (int k = 0; k < w && k < (int)sizeof line; k++)
      h = (h ^ (unsigned char)line[k]) * 1099511628211ull;
  }
  store_deployments_free(v, n);
  return h ? h : 1;
}

static void tick(struct sched_loop *l)
{
  if (!atomic_load(&l->open))
    return;
  int64_t now_ms = wt_now_ms(), now = now_ms / 1000;
  char msg[512] = "";
  uint64_t dg = deployed_digest(l->s);
  if (dg && dg != l->deployed) { /* a deploy beside the server (weft deploy) */
    atomic_store(&l->resync, true);
    ops_hooks_invalidate();
    l->deployed = dg;
  }
  if (atomic_exchange(&l->resync, false) && ops_schedules_sync(l->s, now, msg, sizeof msg)) {
    char m[600];
    snprintf(m, sizeof m, "cannot sync the schedules with the deployed workflows: %s", msg);
    fire_log(l, "error", m);
  }
  size_t fired = 0, held = 0;
  int64_t next = INT64_MAX;
  if (ops_schedules_fire(l->s, now, l->up_since, &fired, &next, fire_log, l)) {
    char m[600];
    snprintf(m, sizeof m, "cannot fire the schedules: %s", store_errmsg(l->s));
    fire_log(l, "error", m);
    next = now + 1; /* try again in a second */
  }
  if (fired && l->armed_for && now_ms >= l->armed_for * 1000 && l->on_lag)
    l->on_lag(l->ud, (double)(now_ms - l->armed_for * 1000) / 1000.0);
  size_t started = ops_trigger_pickup(l->s, l->rt, &held, pickup_log, l);
  if (started) {
    char m[100];
    snprintf(m, sizeof m, "started %zu queued run%s", started, started == 1 ? "" : "s");
    if (l->log)
      l->log(l->ud, "info", "trigger", m);
  }
  int64_t delay = QUEUED_POLL_MS;
  l->armed_for = next != INT64_MAX ? next : 0;
  if (next != INT64_MAX) {
    int64_t d = next * 1000 - wt_now_ms() + 1;
    if (d < delay)
      delay = d < 0 ? 0 : d;
  }
  /* the loop's clock is the start of this iteration: bring it to now, or the
   * timer would wake before the scheduled time by however long this took */
  uv_update_time(l->timer.loop);
  uv_timer_start(&l->timer, on_timer, (uint64_t)delay, 0);
}

static void on_timer(uv_timer_t *t)
{
  tick(t->data);
}

static void on_kick(uv_async_t *a)
{
  tick(a->data);
}

int sched_loop_start(struct sched_loop *l, uv_loop_t *loop, struct store *s, struct runtime *rt,
                     void (*log)(void *ud, const char *level, const char *event, const char *msg), void *ud)
{
  l->s = s;
  l->rt = rt;
  l->log = log;
  l->ud = ud;
  l->up_since = wt_now_ms() / 1000;
  atomic_store(&l->resync, true);
  if (uv_timer_init(loop, &l->timer))
    return WEFT_ENOMEM;
  l->timer.data = l;
  if (uv_async_init(loop, &l->kick, on_kick)) {
    uv_close((uv_handle_t *)&l->timer, NULL);
    return WEFT_ENOMEM;
  }
  l->kick.data = l;
  atomic_store(&l->open, true);
  tick(l);
  return 0;
}

void sched_loop_kick(struct sched_loop *l, bool resync)
{
  if (resync)
    atomic_store(&l->resync, true);
  if (atomic_load(&l->open))
    uv_async_send(&l->kick);
}

void sched_loop_close(struct sched_loop *l)
{
  if (!atomic_exchange(&l->open, false))
    return;
  uv_timer_stop(&l->timer);
  uv_close((uv_handle_t *)&l->timer, NULL);
  uv_close((uv_handle_t *)&l->kick, NULL);
}
