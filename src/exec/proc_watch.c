/* proc_watch.c — learning that a child process exited, on a libuv loop.
 *
 * Two ways, chosen once per process (proc_watch_set_mode() overrides):
 *  - pidfd (Linux 5.3+): pidfd_open(pid), polled for readability with a
 *    uv_poll_t; readable means exited, then waitpid(pid, WNOHANG) collects
 *    the status. Opening the pidfd after the spawn is race-free: an unreaped
 *    child keeps its pid, and only we reap it. It is opened lazily: most
 *    children exit as their output ends, so the owner calls
 *    proc_watch_arm() at EOF (one waitpid usually finds the exit) or when it
 *    needs the exit without EOF (a kill); only then, if the child still
 *    runs, is a pidfd opened and polled. A pidfd and its poll handle cost 8
 *    system calls per process, a tenth of the loop's time per `true` step.
 *  - SIGCHLD: one uv_signal_t per loop (a "reaper") with the list of pids it
 *    waits for; on each SIGCHLD it waitpid()s every one of them with WNOHANG.
 *    Never waitpid(-1): libuv's uv_spawn and other code reap their own. The
 *    handler is installed before the spawn (proc_watch_prepare), so an exit
 *    right after the spawn still arrives as a signal on the loop. The reaper
 *    counts its users and closes its handle when the last one is gone, so an
 *    idle loop has nothing of ours open.
 *
 * The mode never changes under a running watch: each watch records its own.
 * Everything here runs on the loop's thread; the reaper list is per loop and
 * the (rarely used) list of reapers is only touched from loop threads that
 * use this executor (one loop per thread is the supported shape). */
#include "exec/proc_int.h"
#include "util/err.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

struct proc_reaper {
  uv_loop_t *loop;
  uv_signal_t sig;
  int users;                /* prepared or started watches */
  struct proc_watch *head;  /* started, not yet exited */
  struct proc_reaper *next;
};

static int g_mode = PROC_WATCH_AUTO;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct proc_reaper *g_reapers;

static int pidfd_open_(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

static int resolve_mode(void)
{
  pthread_mutex_lock(&g_lock);
  if (g_mode == PROC_WATCH_AUTO) {
    int fd = pidfd_open_(getpid());
    if (fd >= 0) {
      close(fd);
      g_mode = PROC_WATCH_PIDFD;
    } else {
      g_mode = PROC_WATCH_SIGCHLD;
    }
  }
  int m = g_mode;
  pthread_mutex_unlock(&g_lock);
  return m;
}

void proc_watch_set_mode(int mode)
{
  pthread_mutex_lock(&g_lock);
  g_mode = mode;
  pthread_mutex_unlock(&g_lock);
}

int proc_watch_mode(void) { return resolve_mode(); }

/* Collects pid's status if it has exited: 1 and *st, 0 still running. */
static int try_reap(pid_t pid, int *st)
{
  for (;;) {
    pid_t r = waitpid(pid, st, WNOHANG);
    if (r == pid)
      return 1;
    if (r == 0)
      return 0;
    if (errno == EINTR)
      continue;
    *st = -1; /* ECHILD: reaped elsewhere; the status is lost */
    return 1;
  }
}

/* --- SIGCHLD mode ---------------------------------------------------------- */

static void reaper_closed(uv_handle_t *h) { free(h->data); }

static void reaper_unref(struct proc_reaper *r)
{
  if (--r->users > 0)
    return;
  pthread_mutex_lock(&g_lock);
  for (struct proc_reaper **pp = &g_reapers; *pp; pp = &(*pp)->next)
    if (*pp == r) {
      *pp = r->next;
      break;
    }
  pthread_mutex_unlock(&g_lock);
  uv_close((uv_handle_t *)&r->sig, reaper_closed);
}

static void unlink_watch(struct proc_watch *w)
{
  struct proc_reaper *r = w->reaper;
  if (w->prev)
    w->prev->next = w->next;
  else
    r->head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  w->next = w->prev = NULL;
}

static void on_sigchld(uv_signal_t *s, int signum)
{
  struct proc_reaper *r = s->data;
  /* Keep the reaper alive while we walk: callbacks may start new watches
   * (linked at the head, so not visited now) or end the last user. */
  r->users++;
  struct proc_watch *w = r->head;
  while (w) {
    struct proc_watch *next = w->next;
    int st;
    if (try_reap(w->pid, &st)) {
      unlink_watch(w);
      w->on_exit(w, st);
      reaper_unref(r);
      w->on_closed(w);
    }
    w = next;
  }
  reaper_unref(r);
}

static int reaper_get(uv_loop_t *loop, struct proc_reaper **out)
{
  int rc = 0;
  struct proc_reaper *r;
  pthread_mutex_lock(&g_lock);
  for (r = g_reapers; r; r = r->next)
    if (r->loop == loop)
      break;
  pthread_mutex_unlock(&g_lock);
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r)
      return WEFT_ENOMEM;
    r->loop = loop;
    r->sig.data = r;
    if (uv_signal_init(loop, &r->sig)) {
      free(r);
      return WEFT_EIO;
    }
    if (uv_signal_start(&r->sig, on_sigchld, SIGCHLD)) {
      uv_close((uv_handle_t *)&r->sig, reaper_closed);
      return WEFT_EIO;
    }
    pthread_mutex_lock(&g_lock);
    r->next = g_reapers;
    g_reapers = r;
    pthread_mutex_unlock(&g_lock);
  }
  r->users++;
  *out = r;
  return rc;
}

/* --- pidfd mode ------------------------------------------------------------ */

static void poll_closed(uv_handle_t *h)
{
  struct proc_watch *w = h->data;
  close(w->pidfd);
  w->pidfd = -1;
  w->poll_open = false;
  w->on_closed(w);
}

static void on_pidfd(uv_poll_t *p, int status, int events)
{
  struct proc_watch *w = p->data;
  int st;
  if (status == 0 && !try_reap(w->pid, &st))
    return; /* spurious wakeup */
  if (status != 0) {
    /* poll error: fall back to a blocking wait, the child is ours */
    while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
      ;
  }
  uv_poll_stop(p);
  w->on_exit(w, st);
  uv_close((uv_handle_t *)p, poll_closed);
}

/* --- both ------------------------------------------------------------------ */

int proc_watch_prepare(uv_loop_t *loop, struct proc_watch *w)
{
  w->loop = loop;
  w->pidfd = -1;
  w->poll_open = false;
  w->lazy = false;
  w->reaper = NULL;
  w->next = w->prev = NULL;
  w->mode = resolve_mode();
  if (w->mode == PROC_WATCH_SIGCHLD)
    return reaper_get(loop, &w->reaper);
  return 0;
}

int proc_watch_start(struct proc_watch *w, pid_t pid, bool late, proc_exit_cb on_exit,
                     void (*on_closed)(struct proc_watch *w))
{
  w->pid = pid;
  w->on_exit = on_exit;
  w->on_closed = on_closed;
  if (w->mode == PROC_WATCH_PIDFD) {
    w->lazy = true; /* proc_watch_arm() */
    return 0;
  }
  w->next = w->reaper->head;
  if (w->next)
    w->next->prev = w;
  w->reaper->head = w;
  /* A child started on another thread (proc_async.c) may have exited, and
   * its SIGCHLD been handled, before it was on the list: look again. */
  if (late)
    uv_kill(getpid(), SIGCHLD);
  return 0;
}

/* The kernel closes a dying process's files a few microseconds before it
 * becomes a zombie, and the loop, idle in a chain of steps, wakes at the EOF
 * inside that window: 81% of 1,000 chained `true` steps missed the exit at
 * the first waitpid and paid for a pidfd. So look again for a short while
 * (a child that really runs on after closing its output costs this once). */
#ifndef REAP_SPIN_US
#define REAP_SPIN_US 50
#endif
static int64_t mono_us(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static int try_reap_soon(pid_t pid, int *st)
{
  int64_t t0 = mono_us();
  for (;;) {
    if (try_reap(pid, st))
      return 1;
    if (mono_us() - t0 >= REAP_SPIN_US)
      return 0;
    sched_yield();
  }
}

int proc_watch_arm(struct proc_watch *w, bool try_now)
{
  if (w->mode != PROC_WATCH_PIDFD || !w->lazy)
    return 0;
  w->lazy = false;
  int st;
  if (try_now && try_reap_soon(w->pid, &st)) {
    w->on_exit(w, st);
    w->on_closed(w);
    return 0;
  }
  w->pidfd = pidfd_open_(w->pid);
  if (w->pidfd < 0 || uv_poll_init(w->loop, &w->poll, w->pidfd)) {
    if (w->pidfd >= 0)
      close(w->pidfd);
    w->pidfd = -1;
    /* cannot watch this one by pidfd (fd limit?): use SIGCHLD for it */
    w->mode = PROC_WATCH_SIGCHLD;
    int rc = reaper_get(w->loop, &w->reaper);
    if (rc)
      return rc;
    /* the child may have exited before the handler existed: check once
     * more on the next SIGCHLD-independent occasion by raising one */
    w->next = w->reaper->head;
    if (w->next)
      w->next->prev = w;
    w->reaper->head = w;
    uv_kill(getpid(), SIGCHLD);
    return 0;
  }
  w->poll.data = w;
  w->poll_open = true;
  uv_poll_start(&w->poll, UV_READABLE, on_pidfd);
  return 0;
}

void proc_watch_abandon(struct proc_watch *w, void (*on_closed)(struct proc_watch *w))
{
  if (w->mode == PROC_WATCH_SIGCHLD && w->reaper) {
    struct proc_reaper *r = w->reaper;
    w->reaper = NULL;
    reaper_unref(r);
  }
  on_closed(w);
}
