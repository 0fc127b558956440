/* authfail.c — a fixed table of per-address failure windows (authfail.h).
 * Open addressing over 1,024 slots with probes of 8; a full probe run
 * evicts its least recently seen slot. */
#include "server/authfail.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 1024
#define PROBES 8

struct slot {
  char addr[48];
  int64_t window_start, blocked_until, last_seen;
  int count;
};

struct authfail {
  pthread_mutex_t mu;
  struct slot s[SLOTS];
};

struct authfail *authfail_new(void)
{
  struct authfail *a = calloc(1, sizeof *a);
  if (a)
    pthread_mutex_init(&a->mu, NULL);
  return a;
}

void authfail_free(struct authfail *a)
{
  if (!a)
    return;
  pthread_mutex_destroy(&a->mu);
  free(a);
}

static unsigned hash(const char *s)
{
  unsigned h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

/* the slot of addr; create: take a free or the stalest slot */
static struct slot *find(struct authfail *a, const char *addr, bool create)
{
  unsigned h = hash(addr);
  struct slot *stale = NULL;
  for (unsigned i = 0; i < PROBES; i++) {
    struct slot *s = &a->s[(h + i) % SLOTS];
    if (s->addr[0] && !strncmp(s->addr, addr, sizeof s->addr - 1))
      return s;
    if (!s->addr[0]) { /* prefer an empty slot */
      if (!stale || stale->addr[0])
        stale = s;
    } else if (!stale || (stale->addr[0] && s->last_seen < stale->last_seen)) {
      stale = s;
    }
  }
  if (!create)
    return NULL;
  memset(stale, 0, sizeof *stale);
  snprintf(stale->addr, sizeof stale->addr, "%s", addr);
  return stale;
}

bool authfail_blocked(struct authfail *a, const char *addr, int64_t now, int *retry_after_s)
{
  pthread_mutex_lock(&a->mu);
  struct slot *s = find(a, addr, false);
  bool b = s && s->blocked_until > now;
  if (b && retry_after_s)
    *retry_after_s = (int)((s->blocked_until - now + 999) / 1000);
  pthread_mutex_unlock(&a->mu);
  return b;
}

bool authfail_record(struct authfail *a, const char *addr, int64_t now)
{
  pthread_mutex_lock(&a->mu);
  struct slot *s = find(a, addr, true);
  s->last_seen = now;
  if (now - s->window_start >= AUTHFAIL_WINDOW_MS) {
    s->window_start = now;
    s->count = 0;
  }
  bool starts = false;
  if (++s->count >= AUTHFAIL_LIMIT && s->blocked_until <= now) {
    s->blocked_until = now + AUTHFAIL_BLOCK_MS;
    s->count = 0;
    s->window_start = now;
    starts = true;
  }
  pthread_mutex_unlock(&a->mu);
  return starts;
}
