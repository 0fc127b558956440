/* sse.c — the subscriber hub of sse.h.
 *
 * Subscribers sit in a doubly linked list under the hub's lock; each has its
 * own lock for its buffer and state, taken inside the hub's lock by the
 * publisher and alone by its reader, so lock order is always hub, then
 * subscriber. A buffer is a ring: the waiting bytes are len bytes from off,
 * wrapping at cap; reads and appends copy at most two pieces and nothing is
 * ever moved but when the ring grows (a buffer consumed from the front with
 * memmove moved up to 256 KiB per 4 KiB sent: a quarter of the server's time
 * with 1,000 subscribers). While the publisher holds the hub
 * (sse_hub_hold), a publish only notes that a suspended reader is to be
 * woken; the release wakes each once: one resume per subscriber per batch of
 * events, not per event (1,000 subscribers of a busy run). `suspended` records that the reader suspended its
 * connection, so exactly one resume follows each suspend (libmicrohttpd
 * forbids resuming a connection that is not suspended). */
#include "server/sse.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/mhd_dl.h"

#define SSE_BUFFER_KEEP (16 * 1024) /* a drained buffer larger than this is freed */

struct sse_sub {
  struct sse_hub *hub;
  struct sse_sub *prev, *next;
  pthread_mutex_t mu;
  struct MHD_Connection *conn;
  char *buf;
  size_t off, len, cap; /* waiting: len bytes from buf[off], wrapping at cap */
  bool suspended, dropped, closed, heartbeat_due;
  bool wake_due;      /* published to while the hub was held */
  uint64_t skip_upto; /* live events up to this id are not sent (the client has them) */
  bool live;          /* false while it replays from the store: publish skips it */
  char run[40];
};

struct sse_hub {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t beat;
  bool beat_running, closed;
  unsigned heartbeat_ms;
  struct sse_sub *head;
  size_t n;
  uint64_t dropped_total;
  uint64_t last_id; /* the highest id published (or set by sse_hub_set_last) */
  bool hold;        /* sse_hub_hold: wakes wait for the release */
  size_t pub_max;   /* the most bytes a live subscriber had waiting after the last publish */
  char *ev;       /* the formatted event being published */
  size_t ev_cap;
};

/* with s->mu held: wake a suspended reader */
static void wake(struct sse_sub *s)
{
  if (s->suspended && s->conn) {
    s->suspended = false;
    MHD_resume_connection(s->conn);
  }
}

static void *heartbeat(void *arg)
{
  struct sse_hub *h = arg;
  pthread_mutex_lock(&h->mu);
  while (!h->closed) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += h->heartbeat_ms / 1000;
    ts.tv_nsec += (long)(h->heartbeat_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    while (!h->closed && rc != ETIMEDOUT)
      rc = pthread_cond_timedwait(&h->cv, &h->mu, &ts);
    if (h->closed)
      break;
    for (struct sse_sub *s = h->head; s; s = s->next) {
      pthread_mutex_lock(&s->mu);
      s->heartbeat_due = true;
      wake(s);
      pthread_mutex_unlock(&s->mu);
    }
  }
  pthread_mutex_unlock(&h->mu);
  return NULL;
}

struct sse_hub *sse_hub_new(unsigned heartbeat_ms)
{
  struct sse_hub *h = calloc(1, sizeof *h);
  if (!h)
    return NULL;
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->cv, NULL);
  h->heartbeat_ms = heartbeat_ms ? heartbeat_ms : 15000;
  if (pthread_create(&h->beat, NULL, heartbeat, h) == 0)
    h->beat_running = true;
  return h;
}

void sse_hub_close(struct sse_hub *h)
{
  pthread_mutex_lock(&h->mu);
  h->closed = true;
  for (struct sse_sub *s = h->head; s; s = s->next) {
    pthread_mutex_lock(&s->mu);
    s->closed = true;
    wake(s);
    pthread_mutex_unlock(&s->mu);
  }
  pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->mu);
  if (h->beat_running) {
    pthread_join(h->beat, NULL);
    h->beat_running = false;
  }
}

void sse_hub_free(struct sse_hub *h)
{
  if (!h)
    return;
  if (!h->closed || h->beat_running)
    sse_hub_close(h);
  pthread_mutex_destroy(&h->mu);
  pthread_cond_destroy(&h->cv);
  free(h->ev);
  free(h);
}

struct sse_sub *sse_subscribe(struct sse_hub *h, struct MHD_Connection *c, const char *run_filter)
{
  return sse_subscribe_from(h, c, run_filter, 0, NULL);
}

bool sse_sub_catch_up(struct sse_sub *s, uint64_t *upto)
{
  struct sse_hub *h = s->hub;
  pthread_mutex_lock(&h->mu);
  bool done = h->last_id <= *upto;
  if (done) {
    pthread_mutex_lock(&s->mu);
    s->live = true;
    pthread_mutex_unlock(&s->mu);
  } else {
    *upto = h->last_id;
  }
  pthread_mutex_unlock(&h->mu);
  return done;
}

struct sse_sub *sse_subscribe_from(struct sse_hub *h, struct MHD_Connection *c, const char *run_filter,
                                   uint64_t after, uint64_t *upto)
{
  struct sse_sub *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  pthread_mutex_init(&s->mu, NULL);
  s->hub = h;
  s->conn = c;
  if (run_filter)
    snprintf(s->run, sizeof s->run, "%s", run_filter);
  pthread_mutex_lock(&h->mu);
  if (h->closed) {
    pthread_mutex_unlock(&h->mu);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return NULL;
  }
  s->live = !upto;
  if (upto) {
    *upto = h->last_id;
    s->skip_upto = after;
  }
  s->next = h->head;
  if (h->head)
    h->head->prev = s;
  h->head = s;
  h->n++;
  pthread_mutex_unlock(&h->mu);
  return s;
}

/* with s->mu held: append or drop */
static bool append(struct sse_sub *s, const char *data, size_t len)
{
  if (s->dropped || s->closed)
    return false;
  /* a client is slow when it has SSE_BUFFER_MAX bytes waiting: so a buffer
   * holds at most that plus one event, and one event larger than the bound
   * (a run's inputs can be) still goes to a client that keeps up */
  if (s->len >= SSE_BUFFER_MAX) {
    s->dropped = true;
    free(s->buf); /* its memory goes back now, not when the client leaves */
    s->buf = NULL;
    s->off = s->len = s->cap = 0;
    return false;
  }
  if (s->len + len > s->cap) {
    size_t cap = s->cap ? s->cap : 1024;
    while (cap < s->len + len)
      cap *= 2;
    if (cap > SSE_BUFFER_MAX && s->len + len <= SSE_BUFFER_MAX)
      cap = SSE_BUFFER_MAX;
    char *b = malloc(cap);
    if (!b) {
      s->dropped = true;
      return false;
    }
    size_t first = s->cap - s->off < s->len ? s->cap - s->off : s->len; /* linear again */
    if (s->len) {
      memcpy(b, s->buf + s->off, first);
      memcpy(b + first, s->buf, s->len - first);
    }
    free(s->buf);
    s->buf = b;
    s->cap = cap;
    s->off = 0;
  }
  size_t at = (s->off + s->len) % s->cap;
  size_t first = s->cap - at < len ? s->cap - at : len;
  memcpy(s->buf + at, data, first);
  memcpy(s->buf, data + first, len - first);
  s->len += len;
  return true;
}

bool sse_sub_prime(struct sse_sub *s, const char *data, size_t len)
{
  pthread_mutex_lock(&s->mu);
  bool ok = append(s, data, len);
  if (!ok && s->dropped) /* priming alone overflowed: keep the client, send nothing */
    s->dropped = false;
  pthread_mutex_unlock(&s->mu);
  return ok;
}

ssize_t sse_sub_read(struct sse_sub *s, char *buf, size_t max)
{
  pthread_mutex_lock(&s->mu);
  ssize_t n;
  if (s->len) {
    size_t k = s->len < max ? s->len : max;
    size_t first = s->cap - s->off < k ? s->cap - s->off : k;
    memcpy(buf, s->buf + s->off, first);
    memcpy(buf + first, s->buf, k - first);
    s->off = (s->off + k) % s->cap;
    s->len -= k;
    if (!s->len) {
      s->off = 0;
      if (s->cap > SSE_BUFFER_KEEP) { /* caught up after a burst: give the memory back */
        free(s->buf);
        s->buf = NULL;
        s->cap = 0;
      }
    }
    n = (ssize_t)k;
  } else if (s->dropped || s->closed) {
    n = -1;
  } else if (s->heartbeat_due && max >= 13) {
    s->heartbeat_due = false;
    memcpy(buf, ": heartbeat\n\n", 13);
    n = 13;
  } else {
    if (s->conn && !s->suspended) {
      s->suspended = true;
      MHD_suspend_connection(s->conn);
    }
    n = 0;
  }
  pthread_mutex_unlock(&s->mu);
  return n;
}

void sse_sub_release(struct sse_sub *s)
{
  if (!s)
    return;
  struct sse_hub *h = s->hub;
  pthread_mutex_lock(&h->mu);
  if (s->prev)
    s->prev->next = s->next;
  else
    h->head = s->next;
  if (s->next)
    s->next->prev = s->prev;
  h->n--;
  pthread_mutex_unlock(&h->mu);
  pthread_mutex_destroy(&s->mu);
  free(s->buf);
  free(s);
}

bool sse_sub_dropped(const struct sse_sub *s)
{
  pthread_mutex_lock((pthread_mutex_t *)&s->mu);
  bool d = s->dropped;
  pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
  return d;
}

bool sse_sub_ended(const struct sse_sub *s)
{
  pthread_mutex_lock((pthread_mutex_t *)&s->mu);
  bool d = s->dropped || s->closed;
  pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
  return d;
}

size_t sse_publish(struct sse_hub *h, uint64_t id, const char *event, const char *data, const char *run)
{
  size_t need = strlen(event) + strlen(data) + 64;
  pthread_mutex_lock(&h->mu);
  if (need > h->ev_cap) {
    char *e = realloc(h->ev, need);
    if (!e) {
      pthread_mutex_unlock(&h->mu);
      return 0;
    }
    h->ev = e;
    h->ev_cap = need;
  }
  int len = snprintf(h->ev, h->ev_cap, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)id, event, data);
  if (id > h->last_id)
    h->last_id = id;
  size_t got = 0;
  h->pub_max = 0;
  for (struct sse_sub *s = h->head; s; s = s->next) {
    if (s->run[0] && (!run || strcmp(s->run, run)))
      continue;
    pthread_mutex_lock(&s->mu);
    if (!s->live || id <= s->skip_upto) { /* replaying: the store has it; or the client has it */
      pthread_mutex_unlock(&s->mu);
      continue;
    }
    bool was_dropped = s->dropped;
    if (append(s, h->ev, (size_t)len))
      got++;
    else if (!was_dropped && s->dropped)
      h->dropped_total++;
    if (!s->dropped && s->len > h->pub_max)
      h->pub_max = s->len;
    if (h->hold)
      s->wake_due = s->wake_due || s->suspended;
    else
      wake(s);
    pthread_mutex_unlock(&s->mu);
  }
  pthread_mutex_unlock(&h->mu);
  return got;
}

size_t sse_subscribers(struct sse_hub *h)
{
  pthread_mutex_lock(&h->mu);
  size_t n = h->n;
  pthread_mutex_unlock(&h->mu);
  return n;
}

uint64_t sse_dropped_total(struct sse_hub *h)
{
  pthread_mutex_lock(&h->mu);
  uint64_t n = h->dropped_total;
  pthread_mutex_unlock(&h->mu);
  return n;
}

void sse_hub_set_last(struct sse_hub *h, uint64_t id)
{
  pthread_mutex_lock(&h->mu);
  if (id > h->last_id)
    h->last_id = id;
  pthread_mutex_unlock(&h->mu);
}

uint64_t sse_hub_last(struct sse_hub *h)
{
  pthread_mutex_lock(&h->mu);
  uint64_t id = h->last_id;
  pthread_mutex_unlock(&h->mu);
  return id;
}

size_t sse_hub_max_buffered(struct sse_hub *h)
{
  size_t max = 0;
  pthread_mutex_lock(&h->mu);
  for (struct sse_sub *s = h->head; s; s = s->next) {
    pthread_mutex_lock(&s->mu);
    if (s->live && !s->dropped && !s->closed && s->len > max)
      max = s->len;
    pthread_mutex_unlock(&s->mu);
  }
  pthread_mutex_unlock(&h->mu);
  return max;
}

size_t sse_hub_pub_max(struct sse_hub *h)
{
  pthread_mutex_lock(&h->mu);
  size_t v = h->pub_max;
  pthread_mutex_unlock(&h->mu);
  return v;
}

size_t sse_hub_drop_over(struct sse_hub *h, size_t bytes)
{
  size_t k = 0;
  pthread_mutex_lock(&h->mu);
  for (struct sse_sub *s = h->head; s; s = s->next) {
    pthread_mutex_lock(&s->mu);
    if (s->live && !s->dropped && !s->closed && s->len > bytes) {
      s->dropped = true;
      free(s->buf);
      s->buf = NULL;
      s->off = s->len = s->cap = 0;
      wake(s);
      k++;
    }
    pthread_mutex_unlock(&s->mu);
  }
  h->dropped_total += k;
  pthread_mutex_unlock(&h->mu);
  return k;
}

void sse_hub_hold(struct sse_hub *h, bool hold)
{
  pthread_mutex_lock(&h->mu);
  h->hold = hold;
  if (!hold)
    for (struct sse_sub *s = h->head; s; s = s->next) {
      pthread_mutex_lock(&s->mu);
      if (s->wake_due) {
        s->wake_due = false;
        wake(s);
      }
      pthread_mutex_unlock(&s->mu);
    }
  pthread_mutex_unlock(&h->mu);
}
