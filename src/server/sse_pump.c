/* sse_pump.c — the pump thread of sse_pump.h.
 *
 * State under mu: `woken` (a read was asked for), `stopping`. The thread
 * holds mu only to wait and to read those flags, never while it reads the
 * store or publishes, so sse_pump_wake never waits behind a store read. */
#include "server/sse_pump.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/sse.h"
#include "server/sse_event.h"
#include "store/store.h"
#include "util/err.h"
#include "util/wtime.h"

struct sse_pump {
  struct sse_pump_cfg cfg;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool woken, stopping;
  pthread_t th;
  int64_t last; /* the pump thread's; read by others under mu */
  int64_t woke_at; /* under mu: the first wake since the last read began (ms), 0: none */
  struct sse_wf_cache wf;
  bool failing; /* the last read failed (logged once until one succeeds) */
};

static void say(struct sse_pump *p, const char *fmt, const char *arg)
{
  if (!p->cfg.log)
    return;
  char msg[512];
  snprintf(msg, sizeof msg, fmt, arg);
  p->cfg.log(p->cfg.ud, msg);
}

/* A client has more than half its buffer waiting: it gets up to
 * SSE_PUMP_PACE_MS to send it below that, else it is dropped. */
static void pace(struct sse_pump *p)
{
  for (int waited = 0; waited < SSE_PUMP_PACE_MS && sse_hub_max_buffered(p->cfg.hub) > SSE_BUFFER_MAX / 2;
       waited += 5) {
    pthread_mutex_lock(&p->mu);
    bool stop = p->stopping;
    pthread_mutex_unlock(&p->mu);
    if (stop)
      return;
    struct timespec ts = {0, 5 * 1000000L};
    nanosleep(&ts, NULL);
  }
  sse_hub_drop_over(p->cfg.hub, SSE_BUFFER_MAX / 2);
}

/* Publishes every entry committed after p->last. committed_ms: when the
 * first commit not read yet was announced (sse_pump_wake, right after the
 * commit); every entry read now was committed after the last read, so no
 * earlier than that moment but by a commit's own wake-up: a delivery latency
 * measured from it is never less than the real one, but for that instant. */
static void drain(struct sse_pump *p, int64_t committed_ms)
{
  /* nobody listens: move to the head without reading the entries. The head
   * is read first: what it covers was committed before, so a subscriber
   * that comes after the check below is not owed any of it */
  struct store_audit *h = NULL;
  size_t hn = 0;
  int64_t top = 0;
  if (store_audit_after(p->cfg.store, NULL, INT64_MAX, 1, &h, &hn, &top) == 0 &&
      !sse_subscribers(p->cfg.hub)) {
    store_audits_free(h, hn);
    if (top > p->last) {
      sse_hub_set_last(p->cfg.hub, (uint64_t)top);
      pthread_mutex_lock(&p->mu);
      p->last = top;
      pthread_mutex_unlock(&p->mu);
    }
    return;
  }
  store_audits_free(h, hn);
  for (;;) {
    struct store_audit *v = NULL;
    size_t n = 0;
    int64_t head = 0;
    int rc = store_audit_after(p->cfg.store, NULL, p->last, SSE_PUMP_BATCH, &v, &n, &head);
    if (rc) {
      if (!p->failing)
        say(p, "live events: cannot read the audit log: %s (retrying)", store_errmsg(p->cfg.store));
      p->failing = true;
      return;
    }
    if (p->failing)
      say(p, "live events: %s", "the audit log reads again");
    p->failing = false;
    sse_hub_hold(p->cfg.hub, true); /* one wake per reader for the batch */
    for (size_t i = 0; i < n; i++) {
      if (!sse_subscribers(p->cfg.hub)) {
        /* nobody listens: nothing to build (a subscriber that comes now
         * gets what is committed after it came; a replay reads the store) */
        sse_hub_set_last(p->cfg.hub, (uint64_t)v[i].seq);
        pthread_mutex_lock(&p->mu);
        p->last = v[i].seq;
        pthread_mutex_unlock(&p->mu);
        continue;
      }
      char *data = sse_event_data_at(&v[i], sse_wf_of(&p->wf, p->cfg.store, &v[i]), committed_ms);
      if (data)
        sse_publish(p->cfg.hub, (uint64_t)v[i].seq, sse_event_type(v[i].kind), data, v[i].run_id);
      else /* out of memory: the id still moves on (a client replays it) */
        sse_hub_set_last(p->cfg.hub, (uint64_t)v[i].seq);
      free(data);
      if (sse_hub_pub_max(p->cfg.hub) > SSE_BUFFER_MAX / 2) {
        sse_hub_hold(p->cfg.hub, false); /* the readers must run to catch up */
        pace(p);
        sse_hub_hold(p->cfg.hub, true);
      }
      pthread_mutex_lock(&p->mu);
      p->last = v[i].seq;
      pthread_mutex_unlock(&p->mu);
    }
    sse_hub_hold(p->cfg.hub, false);
    store_audits_free(v, n);
    if (n < SSE_PUMP_BATCH)
      return;
  }
}

static void *pump_main(void *arg)
{
  struct sse_pump *p = arg;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    if (!p->woken && !p->stopping) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      long ns = ts.tv_nsec + (long)(p->cfg.poll_ms % 1000) * 1000000L;
      ts.tv_sec += p->cfg.poll_ms / 1000 + ns / 1000000000L;
      ts.tv_nsec = ns % 1000000000L;
      int rc = 0;
      while (!p->woken && !p->stopping && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    bool stop = p->stopping;
    p->woken = false;
    int64_t at = p->woke_at ? p->woke_at : wt_now_ms(); /* a poll: now */
    p->woke_at = 0;
    pthread_mutex_unlock(&p->mu);
    drain(p, at); /* a last one at stop: what was committed before it goes out */
    pthread_mutex_lock(&p->mu);
    if (stop)
      break;
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

int sse_pump_start(const struct sse_pump_cfg *cfg, struct sse_pump **out)
{
  *out = NULL;
  struct sse_pump *p = calloc(1, sizeof *p);
  if (!p) {
    store_close(cfg->store);
    return WEFT_ENOMEM;
  }
  p->cfg = *cfg;
  if (!p->cfg.poll_ms)
    p->cfg.poll_ms = SSE_PUMP_POLL_MS;
  struct store_audit *v = NULL;
  size_t n = 0;
  int rc = store_audit_after(p->cfg.store, NULL, INT64_MAX, 1, &v, &n, &p->last);
  store_audits_free(v, n);
  if (rc) {
    store_close(p->cfg.store);
    free(p);
    return rc;
  }
  sse_hub_set_last(p->cfg.hub, (uint64_t)p->last);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  if (pthread_create(&p->th, NULL, pump_main, p)) {
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    store_close(p->cfg.store);
    free(p);
    return WEFT_ENOMEM;
  }
  *out = p;
  return 0;
}

void sse_pump_wake(struct sse_pump *p)
{
  if (!p)
    return;
  pthread_mutex_lock(&p->mu);
  if (!p->woken)
    p->woke_at = wt_now_ms();
  p->woken = true;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

int64_t sse_pump_last(struct sse_pump *p)
{
  pthread_mutex_lock(&p->mu);
  int64_t v = p->last;
  pthread_mutex_unlock(&p->mu);
  return v;
}

void sse_pump_stop(struct sse_pump *p)
{
  if (!p)
    return;
  pthread_mutex_lock(&p->mu);
  p->stopping = true;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->th, NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  sse_wf_cache_free(&p->wf);
  store_close(p->cfg.store);
  free(p);
}
