/* defcache.h — the process-wide cache of parsed workflow definitions.
 *
 * A run's definition is stored by its content hash, so the parse of one
 * (hash, path) never changes: the cache keeps up to DEFCACHE_CAP parsed
 * `struct wf` (least recently used one evicted; fewer when their sources
 * pass DEFCACHE_BYTES) and hands them out shared
 * and read-only. Ownership: every defcache_get / ops_def_get that returns
 * non-NULL holds one reference; give it back with defcache_put /
 * ops_def_put. An evicted definition still referenced stays alive until
 * its last reference is given back. Users must never modify the struct wf
 * (it is const; its json bodies are shared between threads too: read them,
 * json_incref them, never change them).
 * Threads: any; one mutex, never held while parsing. */
#ifndef WEFT_OPS_DEFCACHE_H
#define WEFT_OPS_DEFCACHE_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct store_run;
struct wf;

#define DEFCACHE_CAP 64
/* and while the cached definitions' source texts pass this many bytes, the
 * least recently used are evicted too (the newest one always stays) */
#define DEFCACHE_BYTES (16u << 20)

/* Parses the definition on a miss; returns NULL (and caches nothing) when
 * it returns NULL. path may be NULL (the same key as ""). */
typedef struct wf *(*defcache_load_fn)(void *arg);
const struct wf *defcache_get(const char *hash, const char *path, defcache_load_fn load, void *arg);
void defcache_put(const struct wf *wf);

/* The definition run r started with, shared (NULL when it cannot be loaded). */
const struct wf *ops_def_get(struct store *s, const struct store_run *r);
#define ops_def_put defcache_put

struct defcache_stats {
  uint64_t hits, misses, evictions;
  size_t entries; /* in the table */
  size_t retired; /* evicted, still referenced */
  size_t bytes;   /* source bytes of the entries in the table */
};
void defcache_stats(struct defcache_stats *out);
/* Drops every unreferenced entry and zeroes the counters (tests, exit). */
void defcache_clear(void);

#endif
