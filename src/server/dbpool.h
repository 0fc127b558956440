/* dbpool.h — the HTTP threads' store connections (ARCHITECTURE §6.3: HTTP
 * never waits for the loop, and reads run in parallel).
 *
 * A request takes a connection for its duration and gives it back; the pool
 * opens connections lazily (store_open, with SQLite's busy timeout and
 * retries: a write by an operation waits for the runtime's commit, never
 * fails for it) up to DBPOOL_MAX, then a request waits for one to come
 * back. SQLite in WAL mode lets every connection read while the runtime
 * writes. Closed once the HTTP front has stopped.
 *
 * Threads: any. Ownership: the pool owns the connections; home is borrowed. */
#ifndef WEFT_SERVER_DBPOOL_H
#define WEFT_SERVER_DBPOOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

#define DBPOOL_MAX 8

struct dbpool {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  const char *home;
  struct store *conn[DBPOOL_MAX];
  bool busy[DBPOOL_MAX];
  size_t n;      /* opened so far */
  size_t opens;  /* store_open calls that succeeded (tests, logs) */
  bool closed;
};

void dbpool_init(struct dbpool *p, const char *home);
/* A connection for this request (give it back with dbpool_put), or NULL
 * when the store cannot be opened or the pool is closed; *err (may be NULL)
 * then gets a malloc'd reason. */
struct store *dbpool_get(struct dbpool *p, char **err);
void dbpool_put(struct dbpool *p, struct store *s);
/* Closes every connection; later dbpool_get answer NULL. All must be back. */
void dbpool_close(struct dbpool *p);

#endif
