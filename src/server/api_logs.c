/* api_logs.c — GET /runs/{id}/logs/{step}?index=&attempt=&follow=1: the
 * attempt's log as text/plain (ops_step_log says which file). Without
 * follow, the file as it is now. With follow=1 the answer streams: what the
 * file has, then what is appended, until the attempt (or its run) has ended
 * and the rest is read.
 *
 * A follower with nothing new suspends its connection (it holds no HTTP
 * thread) and the ticker thread resumes every suspended follower each
 * FOLLOW_TICK_MS to look again; `suspended` makes exactly one resume follow
 * each suspend (libmicrohttpd forbids resuming a connection that is not
 * suspended), both under the hub's lock. Closing (the server stops) ends
 * every stream before the HTTP front stops. */
#include "server/api.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/mhd_dl.h"

#define FOLLOW_TICK_MS 200

/* whether the folder that holds file path exists */
static bool dir_exists(const char *path)
{
  const char *slash = strrchr(path, '/');
  if (!slash || slash == path || (size_t)(slash - path) >= 4096)
    return false;
  char dir[4096];
  memcpy(dir, path, (size_t)(slash - path));
  dir[slash - path] = 0;
  struct stat st;
  return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}
#define LOG_MAX_ANSWER (64u * 1024 * 1024) /* without follow: the rest is cut, with a note */

struct follower {
  struct logfollow *hub;
  struct follower *prev, *next;
  struct MHD_Connection *conn;
  struct dbpool *pool;
  struct ops_log log;
  int fd;
  bool placeholder; /* fd is /dev/null: the log file is not there yet */
  bool suspended, ended;
};

struct logfollow {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t tick;
  bool running, closed;
  struct follower *head;
};

static void *ticker(void *arg)
{
  struct logfollow *h = arg;
  pthread_mutex_lock(&h->mu);
  while (!h->closed) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += FOLLOW_TICK_MS * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
      t.tv_sec++;
      t.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&h->cv, &h->mu, &t);
    for (struct follower *f = h->head; f; f = f->next) {
      if (f->suspended) {
        f->suspended = false;
        MHD_resume_connection(f->conn);
      }
    }
  }
  pthread_mutex_unlock(&h->mu);
  return NULL;
}

struct logfollow *logfollow_new(void)
{
  struct logfollow *h = calloc(1, sizeof *h);
  if (!h)
    return NULL;
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->cv, NULL);
  if (pthread_create(&h->tick, NULL, ticker, h)) {
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
    return NULL;
  }
  h->running = true;
  return h;
}

void logfollow_close(struct logfollow *h)
{
  if (!h)
    return;
  pthread_mutex_lock(&h->mu);
  h->closed = true;
  for (struct follower *f = h->head; f; f = f->next) {
    f->ended = true;
    if (f->suspended) {
      f->suspended = false;
      MHD_resume_connection(f->conn);
    }
  }
  pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->mu);
  if (h->running) {
    pthread_join(h->tick, NULL);
    h->running = false;
  }
}

void logfollow_free(struct logfollow *h)
{
  if (!h)
    return;
  logfollow_close(h);
  pthread_mutex_destroy(&h->mu);
  pthread_cond_destroy(&h->cv);
  free(h);
}

static long follow_read(void *cls, char *buf, size_t max)
{
  struct follower *f = cls;
  struct logfollow *h = f->hub;
  if (f->placeholder) {
    int fd = open(f->log.path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      close(f->fd);
      f->fd = fd;
      f->placeholder = false;
    }
  }
  for (int pass = 0; pass < 2; pass++) {
    ssize_t n = read(f->fd, buf, max);
    if (n > 0)
      return (long)n;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    pthread_mutex_lock(&h->mu);
    bool ended = f->ended;
    pthread_mutex_unlock(&h->mu);
    if (ended || pass)
      return -1; /* everything after the end was read in the first pass */
    /* nothing new: has the attempt ended? then read what is left, once */
    struct store *s = dbpool_get(f->pool, NULL);
    bool over = !s || ops_log_ended(s, &f->log);
    dbpool_put(f->pool, s);
    if (!over)
      break;
    pthread_mutex_lock(&h->mu);
    f->ended = true;
    pthread_mutex_unlock(&h->mu);
  }
  pthread_mutex_lock(&h->mu);
  if (f->ended || h->closed) {
    pthread_mutex_unlock(&h->mu);
    return -1;
  }
  if (!f->suspended) {
    f->suspended = true;
    MHD_suspend_connection(f->conn);
  }
  pthread_mutex_unlock(&h->mu);
  return 0;
}

static void follow_free(void *cls)
{
  struct follower *f = cls;
  struct logfollow *h = f->hub;
  pthread_mutex_lock(&h->mu);
  if (f->prev)
    f->prev->next = f->next;
  else
    h->head = f->next;
  if (f->next)
    f->next->prev = f->prev;
  pthread_mutex_unlock(&h->mu);
  close(f->fd);
  ops_log_clear(&f->log);
  free(f);
}

static void follow(const struct api *a, const struct httpd_req *rq, struct httpd_resp *rs, struct ops_log *l,
                   int fd, bool placeholder)
{
  struct follower *f = calloc(1, sizeof *f);
  struct logfollow *h = a->follow;
  if (!f || !h || !rq->conn) {
    free(f);
    close(fd);
    ops_log_clear(l);
    httpd_error(rs, APIERR_UNAVAILABLE, "cannot follow the log now; read it without follow=1");
    return;
  }
  *f = (struct follower){.hub = h, .conn = rq->conn, .pool = a->pool, .log = *l, .fd = fd,
                         .placeholder = placeholder};
  memset(l, 0, sizeof *l);
  pthread_mutex_lock(&h->mu);
  if (h->closed) {
    pthread_mutex_unlock(&h->mu);
    close(fd);
    ops_log_clear(&f->log);
    free(f);
    httpd_error(rs, APIERR_UNAVAILABLE, "the server is stopping");
    return;
  }
  f->next = h->head;
  if (h->head)
    h->head->prev = f;
  h->head = f;
  pthread_mutex_unlock(&h->mu);
  rs->status = 200;
  rs->ctype = "text/plain; charset=utf-8";
  rs->stream_read = follow_read;
  rs->stream_free = follow_free;
  rs->stream_cls = f;
}

void api_logs(const struct api *a, const struct httpd_req *rq, struct httpd_resp *rs)
{
  long index, attempt, fol;
  if (!api_query_int(rq, rs, "index", -1, INT32_MAX, &index) ||
      !api_query_int(rq, rs, "attempt", 0, INT32_MAX, &attempt) ||
      !api_query_int(rq, rs, "follow", 0, 1, &fol))
    return;
  if (httpd_has_query(rq, "attempt") && attempt == 0) {
    httpd_error(rs, APIERR_BAD_REQUEST, "attempt counts from 1");
    return;
  }
  struct ops_ctx c;
  if (!api_ctx(a, rq, rs, &c))
    return;
  struct ops_log l;
  struct ops_error e = {0};
  enum ops_err k = ops_step_log(&c, route_param(rq->match, "id"), route_param(rq->match, "step"),
                                index < 0 ? STORE_NO_INDEX : (int)index, (int)attempt, &l, &e);
  api_done(a, &c);
  if (k) {
    api_fail(rs, &e);
    return;
  }
  int fd = open(l.path, O_RDONLY | O_CLOEXEC);
  bool placeholder = false;
  if (fd < 0 && errno == ENOENT && fol) {
    /* the attempt started and has not written yet: follow an empty file
     * until the log appears */
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    placeholder = true;
  }
  if (fd < 0 && errno == ENOENT && dir_exists(l.path)) {
    /* the run's logs are there, this attempt's file never was: the program
     * wrote nothing (the file is made with its first byte), so its log is
     * empty, not missing (prune removes the run's whole folder) */
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) {
    httpd_error(rs, APIERR_NOT_FOUND, "the log of %s attempt %d is not there (pruned?)", l.step, l.attempt);
    ops_log_clear(&l);
    return;
  }
  if (fol) {
    follow(a, rq, rs, &l, fd, placeholder);
    return;
  }
  size_t cap = 64 * 1024, len = 0;
  char *body = malloc(cap);
  bool cut = false;
  for (;;) {
    if (!body)
      break;
    if (len + 1 >= cap) {
      if (cap >= LOG_MAX_ANSWER) {
        cut = true;
        break;
      }
      char *g = realloc(body, cap * 2);
      if (!g) {
        free(body);
        body = NULL;
        break;
      }
      body = g;
      cap *= 2;
    }
    ssize_t n = read(fd, body + len, cap - len - 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  close(fd);
  ops_log_clear(&l);
  if (!body) {
    httpd_error(rs, APIERR_INTERNAL, "out of memory");
    return;
  }
  body[len] = 0;
  rs->status = 200;
  rs->ctype = "text/plain; charset=utf-8";
  rs->body = body;
  rs->len = len;
  if (cut) {
    rs->hname = "X-Weft-Truncated";
    snprintf(rs->hvalue, sizeof rs->hvalue, "first %zu bytes; follow=1 streams it all", len);
  }
}
