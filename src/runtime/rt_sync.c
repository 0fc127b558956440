/* rt_sync.c — making the runtime's commits durable off the loop thread.
 *
 * The runtime's store connection commits without waiting for the disk
 * (store_defer_sync: SQLite WAL, synchronous=NORMAL); every commit gets a
 * number. A commit is durable once an fdatasync() of the WAL file that began
 * after it was written has returned: the WAL is append-only, so one sync
 * covers every earlier commit too. Effects wait for the commit that led to
 * them (runtime.c keeps them in order until rt_sync_done() says so).
 *
 * Two ways to sync:
 *   - inline, on the loop thread, when nothing else could happen meanwhile
 *     (no process in flight: a chain of steps);
 *   - on the sync thread, while processes run: the loop goes on reaping exits
 *     and committing, and every commit written while an fdatasync is in
 *     flight rides the next one (group commit across ticks).
 * The thread tells the loop through a uv_async_t. */
#include "runtime/rt_sync.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"

struct rt_sync {
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int fd;
  uint64_t requested; /* highest commit number asked for */
  uint64_t synced;    /* highest commit number known durable */
  int err;            /* errno of a failed fdatasync (sticky) */
  bool busy;          /* the thread is in fdatasync */
  bool stop, thread_up;
  uv_async_t async;
  bool async_open;
  void (*on_done)(void *ud);
  void *ud;
};

static void *sync_main(void *arg)
{
  struct rt_sync *s = arg;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (!s->stop && s->requested <= s->synced)
      pthread_cond_wait(&s->cv, &s->mu);
    if (s->stop)
      break;
    uint64_t target = s->requested;
    s->busy = true;
    pthread_mutex_unlock(&s->mu);
    int rc = fdatasync(s->fd) == 0 ? 0 : errno;
    pthread_mutex_lock(&s->mu);
    s->busy = false;
    if (rc && !s->err)
      s->err = rc;
    if (!rc && target > s->synced)
      s->synced = target;
    uv_async_send(&s->async);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

static void on_async(uv_async_t *h)
{
  struct rt_sync *s = h->data;
  s->on_done(s->ud);
}

int rt_sync_new(uv_loop_t *loop, const char *path, void (*on_done)(void *ud), void *ud,
                struct rt_sync **out)
{
  *out = NULL;
  struct rt_sync *s = calloc(1, sizeof *s);
  if (!s)
    return WEFT_ENOMEM;
  s->fd = open(path, O_RDWR | O_CLOEXEC);
  if (s->fd < 0) {
    free(s);
    return WEFT_EIO;
  }
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  s->on_done = on_done;
  s->ud = ud;
  uv_async_init(loop, &s->async, on_async);
  s->async.data = s;
  s->async_open = true;
  *out = s;
  return 0;
}

/* the thread starts on the first request that needs it */
static int thread_up(struct rt_sync *s)
{
  if (s->thread_up)
    return 0;
  if (pthread_create(&s->th, NULL, sync_main, s) != 0)
    return WEFT_ENOMEM;
  s->thread_up = true;
  return 0;
}

int rt_sync_request(struct rt_sync *s, uint64_t seq, bool inline_ok)
{
  pthread_mutex_lock(&s->mu);
  bool idle = !s->busy && s->requested <= s->synced;
  int err = s->err;
  pthread_mutex_unlock(&s->mu);
  if (err)
    return WEFT_EIO;
  if (inline_ok && idle) {
    if (fdatasync(s->fd) != 0) {
      pthread_mutex_lock(&s->mu);
      s->err = errno;
      pthread_mutex_unlock(&s->mu);
      return WEFT_EIO;
    }
    pthread_mutex_lock(&s->mu);
    if (seq > s->synced)
      s->synced = seq;
    if (seq > s->requested)
      s->requested = seq;
    pthread_mutex_unlock(&s->mu);
    return 0;
  }
  int rc = thread_up(s);
  if (rc)
    return rc;
  pthread_mutex_lock(&s->mu);
  if (seq > s->requested)
    s->requested = seq;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
  return 0;
}

uint64_t rt_sync_done(struct rt_sync *s, int *err)
{
  pthread_mutex_lock(&s->mu);
  uint64_t v = s->synced;
  if (err)
    *err = s->err;
  pthread_mutex_unlock(&s->mu);
  return v;
}

bool rt_sync_idle(struct rt_sync *s)
{
  pthread_mutex_lock(&s->mu);
  bool idle = !s->busy && s->requested <= s->synced;
  pthread_mutex_unlock(&s->mu);
  return idle;
}

/* Joins the thread. A sync it has in flight ends first, and it then never
 * touches the async handle again: after a store failure the loop stops with
 * a sync in flight, and a uv_async_send on a closed loop aborts. */
static void thread_stop(struct rt_sync *s)
{
  if (!s->thread_up)
    return;
  pthread_mutex_lock(&s->mu);
  s->stop = true;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
  pthread_join(s->th, NULL);
  s->thread_up = false;
}

void rt_sync_close_handle(struct rt_sync *s)
{
  if (!s)
    return;
  thread_stop(s);
  if (s->async_open) {
    s->async_open = false;
    uv_close((uv_handle_t *)&s->async, NULL);
  }
}

void rt_sync_free(struct rt_sync *s)
{
  if (!s)
    return;
  thread_stop(s);
  if (!s->err)
    (void)fdatasync(s->fd); /* writes after the last durable commit (ownership released) */
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  close(s->fd);
  free(s);
}
