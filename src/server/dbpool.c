/* dbpool.c — the pool of dbpool.h: a fixed array of lazily opened
 * connections, a busy flag each, one mutex and one condvar. A connection
 * that was used inside a transaction that failed is rolled back before it
 * is handed out again. */
#include "server/dbpool.h"

#include <stdlib.h>
#include <string.h>

void dbpool_init(struct dbpool *p, const char *home)
{
  memset(p, 0, sizeof *p);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->home = home;
}

struct store *dbpool_get(struct dbpool *p, char **err)
{
  size_t i;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    if (p->closed) {
      pthread_mutex_unlock(&p->mu);
      if (err)
        *err = strdup("the server is stopping");
      return NULL;
    }
    for (i = 0; i < p->n && p->busy[i]; i++)
      ;
    if (i < p->n && p->conn[i]) {
      p->busy[i] = true;
      pthread_mutex_unlock(&p->mu);
      return p->conn[i];
    }
    if (i < p->n || p->n < DBPOOL_MAX)
      break; /* a slot whose open failed before, or a new one */
    pthread_cond_wait(&p->cv, &p->mu);
  }
  if (i == p->n)
    p->n++;
  p->busy[i] = true; /* reserved: opened outside the lock (it may take a while) */
  pthread_mutex_unlock(&p->mu);
  struct store *s = NULL;
  char *why = NULL;
  int rc = store_open(p->home, &s, &why);
  pthread_mutex_lock(&p->mu);
  if (rc) {
    p->busy[i] = false; /* conn stays NULL: the next taker opens it again */
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (err)
      *err = why;
    else
      free(why);
    return NULL;
  }
  p->conn[i] = s;
  p->opens++;
  pthread_mutex_unlock(&p->mu);
  return s;
}

void dbpool_put(struct dbpool *p, struct store *s)
{
  if (!s)
    return;
  if (store_in_tx(s))
    store_rollback(s);
  pthread_mutex_lock(&p->mu);
  for (size_t i = 0; i < p->n; i++)
    if (p->conn[i] == s)
      p->busy[i] = false;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

void dbpool_close(struct dbpool *p)
{
  pthread_mutex_lock(&p->mu);
  p->closed = true;
  for (size_t i = 0; i < p->n; i++) {
    store_close(p->conn[i]);
    p->conn[i] = NULL;
  }
  p->n = 0;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
}
