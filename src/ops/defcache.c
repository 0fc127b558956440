/* defcache.c — the process-wide cache of parsed workflow definitions by
 * (content hash, path): a table of DEFCACHE_CAP entries under one mutex,
 * least recently used evicted, plus the list of evicted entries still
 * referenced (freed by their last put). Parsing happens outside the lock;
 * two threads that miss the same key at once both parse and the second
 * keeps the first one's copy (defcache.h). */
#include "ops/defcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "spec/model.h"
#include "store/store.h"
#include "util/diag.h"

struct ent {
  char *hash, *path;
  struct wf *wf;
  size_t bytes; /* the definition's source text, what the byte budget counts */
  unsigned refs;
  uint64_t used; /* tick of the last get */
  struct ent *next; /* the retired list */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct ent *slots[DEFCACHE_CAP];
static struct ent *retired;
static uint64_t tick, hits, misses, evictions;
static size_t bytes; /* of the entries in the table */

static void ent_free(struct ent *e)
{
  if (!e)
    return;
  wf_free(e->wf);
  free(e->hash);
  free(e->path);
  free(e);
}

static struct ent *find_locked(const char *hash, const char *path)
{
  for (size_t i = 0; i < DEFCACHE_CAP; i++)
    if (slots[i] && !strcmp(slots[i]->hash, hash) && !strcmp(slots[i]->path, path))
      return slots[i];
  return NULL;
}

/* empties slot i: its entry retired while referenced, else put on *dead
 * (freed after unlocking) */
static void evict_locked(size_t i, struct ent **dead)
{
  struct ent *e = slots[i];
  slots[i] = NULL;
  bytes -= e->bytes;
  evictions++;
  if (e->refs) {
    e->next = retired;
    retired = e;
  } else {
    e->next = *dead;
    *dead = e;
  }
}

/* the least recently used entry other than keep, or DEFCACHE_CAP if none */
static size_t lru_locked(const struct ent *keep)
{
  size_t lru = DEFCACHE_CAP;
  for (size_t i = 0; i < DEFCACHE_CAP; i++)
    if (slots[i] && slots[i] != keep && (lru == DEFCACHE_CAP || slots[i]->used < slots[lru]->used))
      lru = i;
  return lru;
}

/* puts n in a free slot, or in the least recently used one's; then evicts
 * the least recently used others while over the byte budget */
static void insert_locked(struct ent *n, struct ent **dead)
{
  size_t at = DEFCACHE_CAP;
  for (size_t i = 0; i < DEFCACHE_CAP && at == DEFCACHE_CAP; i++)
    if (!slots[i])
      at = i;
  if (at == DEFCACHE_CAP)
    evict_locked(at = lru_locked(NULL), dead);
  slots[at] = n;
  bytes += n->bytes;
  size_t v;
  while (bytes > DEFCACHE_BYTES && (v = lru_locked(n)) != DEFCACHE_CAP)
    evict_locked(v, dead);
}

const struct wf *defcache_get(const char *hash, const char *path, defcache_load_fn load, void *arg)
{
  if (!hash || !load)
    return NULL;
  if (!path)
    path = "";
  pthread_mutex_lock(&mu);
  struct ent *e = find_locked(hash, path);
  if (e) {
    e->refs++;
    e->used = ++tick;
    hits++;
    pthread_mutex_unlock(&mu);
    return e->wf;
  }
  misses++;
  pthread_mutex_unlock(&mu);

  struct wf *wf = load(arg);
  if (!wf)
    return NULL;
  struct ent *n = calloc(1, sizeof *n);
  if (n) {
    n->hash = strdup(hash);
    n->path = strdup(path);
  }
  if (!n || !n->hash || !n->path) { /* out of memory: nothing shared, nothing to give */
    if (n)
      free(n->hash), free(n->path), free(n);
    wf_free(wf);
    return NULL;
  }
  n->wf = wf;
  n->bytes = wf->source ? strlen(wf->source) : 0;
  n->refs = 1;

  struct ent *dead = NULL;
  pthread_mutex_lock(&mu);
  if ((e = find_locked(hash, path))) { /* another thread parsed it meanwhile */
    e->refs++;
    e->used = ++tick;
    pthread_mutex_unlock(&mu);
    ent_free(n);
    return e->wf;
  }
  n->used = ++tick;
  insert_locked(n, &dead);
  pthread_mutex_unlock(&mu);
  while (dead) {
    struct ent *nx = dead->next;
    ent_free(dead);
    dead = nx;
  }
  return wf;
}

void defcache_put(const struct wf *wf)
{
  if (!wf)
    return;
  struct ent *dead = NULL;
  pthread_mutex_lock(&mu);
  for (size_t i = 0; i < DEFCACHE_CAP; i++)
    if (slots[i] && slots[i]->wf == wf) {
      if (slots[i]->refs)
        slots[i]->refs--;
      pthread_mutex_unlock(&mu);
      return;
    }
  for (struct ent **p = &retired; *p; p = &(*p)->next)
    if ((*p)->wf == wf) {
      if (!--(*p)->refs) {
        dead = *p;
        *p = dead->next;
      }
      break;
    }
  pthread_mutex_unlock(&mu);
  ent_free(dead);
}

void defcache_stats(struct defcache_stats *out)
{
  pthread_mutex_lock(&mu);
  *out = (struct defcache_stats){.hits = hits, .misses = misses, .evictions = evictions, .bytes = bytes};
  for (size_t i = 0; i < DEFCACHE_CAP; i++)
    out->entries += slots[i] != NULL;
  for (struct ent *e = retired; e; e = e->next)
    out->retired++;
  pthread_mutex_unlock(&mu);
}

void defcache_clear(void)
{
  struct ent *dead = NULL;
  pthread_mutex_lock(&mu);
  for (size_t i = 0; i < DEFCACHE_CAP; i++)
    if (slots[i] && !slots[i]->refs) {
      bytes -= slots[i]->bytes;
      slots[i]->next = dead;
      dead = slots[i];
      slots[i] = NULL;
    }
  hits = misses = evictions = 0;
  pthread_mutex_unlock(&mu);
  while (dead) {
    struct ent *nx = dead->next;
    ent_free(dead);
    dead = nx;
  }
}

/* ---- the store's definitions -------------------------------------------- */

static struct wf *load_run_def(void *arg)
{
  const struct store_run *r = ((void **)arg)[1];
  struct store *s = ((void **)arg)[0];
  struct store_workflow w = {0};
  struct wf *wf = NULL;
  if (store_workflow_get(s, r->workflow_hash, &w) == 0) {
    struct diag_list d = {0};
    wf_load_string(r->path ? r->path : "workflow.yaml", w.source, strlen(w.source), &wf, &d);
    diag_list_free(&d);
  }
  store_workflow_clear(&w);
  return wf;
}

const struct wf *ops_def_get(struct store *s, const struct store_run *r)
{
  if (!s || !r || !r->workflow_hash)
    return NULL;
  void *arg[2] = {s, (void *)r};
  return defcache_get(r->workflow_hash, r->path ? r->path : "workflow.yaml", load_run_def, arg);
}
