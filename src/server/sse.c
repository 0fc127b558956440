/* sse.c — the subscriber hub of sse.h.
 *
 * Published events go ONCE into the hub's ring: records {id, length, run}
 * then the formatted text, at absolute byte positions (ring_head: the next
 * byte; a position p lives at ring[p % ring_cap]). A live subscriber is a
 * position in the ring (and an offset into the record it is sending), so a
 * thousand subscribers of a busy run cost one copy of each event, not a
 * thousand: the memory is the ring's (a few hundred KiB; it grows for a
 * large event), not SSE_BUFFER_MAX per subscriber. A subscriber's own
 * buffer holds only what it alone is sent (the replay a catch-up primes).
 *
 * "Waiting" for a subscriber is the ring bytes from its position to the
 * head. One with SSE_BUFFER_MAX or more waiting before the newest record is
 * dropped (its stream ends; the client replays with Last-Event-ID), so the
 * ring keeps at least that plus the records of a batch: it never overwrites
 * what a subscriber still to be kept has not read.
 *
 * Locks: the hub's mu (subscriber list, ids, hold), then a subscriber's mu,
 * then ring_mu (a read-write lock, innermost: the publisher writes the ring
 * under it, readers copy under its read side). A reader takes only its own
 * mu and ring_mu. `suspended` records that the reader suspended its
 * connection, so exactly one resume follows each suspend (libmicrohttpd
 * forbids resuming a connection that is not suspended). The sweep after a
 * publish (or after a held batch) drops the subscribers too far behind,
 * moves filtered ones over records of other runs, and wakes the suspended
 * ones that have something to send: one resume per reader per batch. */
#include "server/sse.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/mhd_dl.h"

#define RUN_KEY 40

struct rec { /* a record's header in the ring; the text follows */
  uint64_t id;
  uint32_t len;
  char run[RUN_KEY]; /* "" for an event of no run */
};

struct sse_sub {
  struct sse_hub *hub;
  struct sse_sub *prev, *next;
  pthread_mutex_t mu;
  struct MHD_Connection *conn;
  char *buf;          /* its own bytes (a primed replay), sent before the ring */
  size_t len, cap;
  uint64_t pos;       /* live: the next record of the ring it reads */
  uint32_t rec_off;   /* bytes of that record's text already sent */
  bool suspended, dropped, closed, heartbeat_due;
  uint64_t skip_upto; /* live events up to this id are not sent (the client has them) */
  bool live;          /* false while it replays from the store: it reads no ring */
  char run[RUN_KEY];
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
  size_t pub_max;   /* the most bytes a live subscriber had waiting after the last sweep */
  bool hold;        /* sse_hub_hold: the sweep waits for the release */
  uint64_t last_rec; /* where the newest record starts */
  uint64_t swept;    /* ring_head at the last sweep */
  pthread_rwlock_t ring_mu;
  char *ring;
  size_t ring_cap;
  uint64_t ring_head;
};

/* ---- the ring (ring_mu held) ----------------------------------------------- */

static void ring_get(const struct sse_hub *h, uint64_t pos, void *dst, size_t n)
{
  size_t at = (size_t)(pos % h->ring_cap), first = h->ring_cap - at < n ? h->ring_cap - at : n;
  memcpy(dst, h->ring + at, first);
  memcpy((char *)dst + first, h->ring, n - first);
}

static void ring_put(struct sse_hub *h, const void *src, size_t n)
{
  size_t at = (size_t)(h->ring_head % h->ring_cap), first = h->ring_cap - at < n ? h->ring_cap - at : n;
  memcpy(h->ring + at, src, first);
  memcpy(h->ring, (const char *)src + first, n - first);
  h->ring_head += n;
}

/* Room for a record of n bytes on top of what may still be read (at most
 * SSE_BUFFER_MAX waiting before the newest record, plus a batch not swept
 * yet): grows the ring, keeping every position where it was. */
static bool ring_room(struct sse_hub *h, size_t n)
{
  size_t want = 2 * SSE_BUFFER_MAX + 2 * n + (size_t)(h->ring_head - h->swept);
  if (h->ring_cap >= want)
    return true;
  size_t cap = h->ring_cap ? h->ring_cap : 4 * SSE_BUFFER_MAX;
  while (cap < want)
    cap *= 2;
  char *r = malloc(cap);
  if (!r)
    return false;
  uint64_t keep = h->ring_head < h->ring_cap ? h->ring_head : h->ring_cap;
  for (uint64_t p = h->ring_head - keep; p < h->ring_head;) { /* piece by piece */
    size_t from = (size_t)(p % h->ring_cap), to = (size_t)(p % cap);
    size_t k = (size_t)(h->ring_head - p);
    if (k > h->ring_cap - from)
      k = h->ring_cap - from;
    if (k > cap - to)
      k = cap - to;
    memcpy(r + to, h->ring + from, k);
    p += k;
  }
  free(h->ring);
  h->ring = r;
  h->ring_cap = cap;
  return true;
}

/* ---- subscribers ------------------------------------------------------------ */

static bool wants(const struct sse_sub *s, const struct rec *r)
{
  return r->id > s->skip_upto && (!s->run[0] || !strcmp(s->run, r->run));
}

/* with s->mu and ring_mu (read) held: moves s over records it does not
 * want; true when it has something to send */
static bool skip_unwanted(struct sse_sub *s, const struct sse_hub *h)
{
  while (s->pos < h->ring_head) {
    struct rec r;
    ring_get(h, s->pos, &r, sizeof r);
    if (wants(s, &r))
      return true;
    s->pos += sizeof r + r.len;
    s->rec_off = 0;
  }
  return false;
}

/* bytes s has waiting in the ring (s->mu held) */
static size_t waiting(const struct sse_sub *s, const struct sse_hub *h)
{
  return (size_t)(h->ring_head - s->pos) - s->rec_off;
}

static void drop(struct sse_hub *h, struct sse_sub *s)
{
  s->dropped = true;
  free(s->buf); /* its memory goes back now, not when the client leaves */
  s->buf = NULL;
  s->len = s->cap = 0;
  h->dropped_total++;
}

/* with s->mu held: wake a suspended reader */
static void wake(struct sse_sub *s)
{
  if (s->suspended && s->conn) {
    s->suspended = false;
    MHD_resume_connection(s->conn);
  }
}

/* with h->mu held: after records were appended */
static void sweep(struct sse_hub *h)
{
  size_t max = 0;
  pthread_rwlock_rdlock(&h->ring_mu);
  for (struct sse_sub *s = h->head; s; s = s->next) {
    pthread_mutex_lock(&s->mu);
    if (s->live && !s->dropped && !s->closed) {
      if (s->pos < h->last_rec && h->last_rec - s->pos >= SSE_BUFFER_MAX) {
        drop(h, s);
        wake(s);
      } else {
        bool any = skip_unwanted(s, h);
        size_t w = waiting(s, h);
        if (w > max)
          max = w;
        if (any)
          wake(s);
      }
    }
    pthread_mutex_unlock(&s->mu);
  }
  h->swept = h->ring_head;
  pthread_rwlock_unlock(&h->ring_mu);
  h->pub_max = max;
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
  pthread_rwlock_init(&h->ring_mu, NULL);
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
  pthread_rwlock_destroy(&h->ring_mu);
  free(h->ring);
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
    s->pos = h->ring_head; /* nothing was published after upto */
    s->rec_off = 0;
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
  s->pos = h->ring_head;
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

/* with s->mu held: its own bytes (a primed replay) */
static bool append(struct sse_sub *s, const char *data, size_t len)
{
  if (s->dropped || s->closed)
    return false;
  if (s->len >= SSE_BUFFER_MAX)
    return false;
  if (s->len + len > s->cap) {
    size_t cap = s->cap ? s->cap : 1024;
    while (cap < s->len + len)
      cap *= 2;
    char *b = realloc(s->buf, cap);
    if (!b)
      return false;
    s->buf = b;
    s->cap = cap;
  }
  memcpy(s->buf + s->len, data, len);
  s->len += len;
  return true;
}

bool sse_sub_prime(struct sse_sub *s, const char *data, size_t len)
{
  pthread_mutex_lock(&s->mu);
  bool ok = append(s, data, len);
  pthread_mutex_unlock(&s->mu);
  return ok;
}

/* with s->mu held: copies up to max bytes of the ring's records s wants */
static size_t ring_read(struct sse_sub *s, char *buf, size_t max)
{
  struct sse_hub *h = s->hub;
  size_t n = 0;
  pthread_rwlock_rdlock(&h->ring_mu);
  if (h->ring_head - s->pos > h->ring_cap) { /* overwritten: cannot happen while the sweep drops */
    s->dropped = true;
    pthread_rwlock_unlock(&h->ring_mu);
    return 0;
  }
  while (n < max && skip_unwanted(s, h)) {
    struct rec r;
    ring_get(h, s->pos, &r, sizeof r);
    size_t k = r.len - s->rec_off < max - n ? r.len - s->rec_off : max - n;
    ring_get(h, s->pos + sizeof r + s->rec_off, buf + n, k);
    n += k;
    s->rec_off += (uint32_t)k;
    if (s->rec_off == r.len) {
      s->pos += sizeof r + r.len;
      s->rec_off = 0;
    }
  }
  pthread_rwlock_unlock(&h->ring_mu);
  return n;
}

ssize_t sse_sub_read(struct sse_sub *s, char *buf, size_t max)
{
  pthread_mutex_lock(&s->mu);
  ssize_t n = 0;
  if (s->len) {
    size_t k = s->len < max ? s->len : max;
    memcpy(buf, s->buf, k);
    memmove(s->buf, s->buf + k, s->len - k); /* a replay's batch: small */
    s->len -= k;
    if (!s->len) {
      free(s->buf);
      s->buf = NULL;
      s->cap = 0;
    }
    n = (ssize_t)k;
  } else if (s->dropped || s->closed) {
    n = -1;
  } else if (s->live && (n = (ssize_t)ring_read(s, buf, max)) > 0) {
    /* sent */
  } else if (s->dropped) {
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
  size_t el = strlen(event), dl = strlen(data);
  size_t need = el + dl + 64;
  char *text = malloc(need);
  if (!text)
    return 0;
  int len = snprintf(text, need, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)id, event, data);
  struct rec r = {.id = id, .len = (uint32_t)len};
  if (run)
    snprintf(r.run, sizeof r.run, "%s", run);
  pthread_mutex_lock(&h->mu);
  if (id > h->last_id)
    h->last_id = id;
  size_t got = 0;
  pthread_rwlock_wrlock(&h->ring_mu);
  bool ok = len > 0 && (size_t)len < UINT32_MAX && ring_room(h, sizeof r + (size_t)len);
  if (ok) {
    h->last_rec = h->ring_head;
    ring_put(h, &r, sizeof r);
    ring_put(h, text, (size_t)len);
  }
  pthread_rwlock_unlock(&h->ring_mu);
  free(text);
  if (ok) {
    for (struct sse_sub *s = h->head; s && !h->hold; s = s->next) { /* who it is for */
      pthread_mutex_lock(&s->mu);
      got += s->live && !s->dropped && !s->closed && wants(s, &r);
      pthread_mutex_unlock(&s->mu);
    }
    /* the sweep: now, or for a held batch at the release (or when the
     * batch grows past the bound) */
    if (!h->hold || h->ring_head - h->swept >= SSE_BUFFER_MAX)
      sweep(h);
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
    if (s->live && !s->dropped && !s->closed) {
      pthread_rwlock_rdlock(&h->ring_mu);
      size_t w = skip_unwanted(s, h) ? waiting(s, h) : 0;
      pthread_rwlock_unlock(&h->ring_mu);
      if (w > max)
        max = w;
    }
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
    if (s->live && !s->dropped && !s->closed) {
      pthread_rwlock_rdlock(&h->ring_mu);
      size_t w = skip_unwanted(s, h) ? waiting(s, h) : 0;
      pthread_rwlock_unlock(&h->ring_mu);
      if (w > bytes) {
        drop(h, s);
        wake(s);
        k++;
      }
    }
    pthread_mutex_unlock(&s->mu);
  }
  pthread_mutex_unlock(&h->mu);
  return k;
}

void sse_hub_hold(struct sse_hub *h, bool hold)
{
  pthread_mutex_lock(&h->mu);
  h->hold = hold;
  if (!hold && h->swept != h->ring_head)
    sweep(h);
  pthread_mutex_unlock(&h->mu);
}
