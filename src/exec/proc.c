/* proc.c — the process executor: one attempt of a run/command step (proc.h).
 *
 * Life of a struct proc (each arrow is a loop callback):
 *
 *   proc_start ── spawn failed ──► timer(0) ─────────────────────► finish
 *        │ spawned: pipe read + exit watch + timer(ARM_MS: arm the watch)
 *        ├─ on_read ... on_read(EOF) ── eof ─┐
 *        └─ on_exit (waitpid status) ─ exited ┴─ both ──────────► finish
 *           exited without EOF: timer(OUTPUT_GRACE_MS) ─► SIGKILL to the
 *              tree, timer(drain) ─► stop waiting for EOF ───────► finish
 *   proc_kill: SIGTERM to the tree, timer(grace) ─► SIGKILL to the tree,
 *              timer(drain) ─► if the leader is gone but the pipe is still
 *              held (by a process nothing reaches), stop waiting for EOF.
 *   "The tree": the group and what proc_tree.c finds outside it.
 *
 * finish() stops the timer, SIGKILLs what is left of the tree, parses
 * $WEFT_OUTPUT, calls done once, and closes
 * the timer; the pipe was closed at EOF and the watch closes itself after
 * the exit. The struct is freed when the last of the three handles reports
 * closed (handles counts them), so no callback ever sees freed memory.
 *
 * Output is appended to the log file (created at the first byte) as it
 * arrives, through one shared read buffer (reads are handled one at a time on the loop thread), so memory per
 * attempt does not grow with its output; only capture_max bytes are kept. */
#include "exec/proc.h"
#include "exec/outputs.h"
#include "exec/proc_int.h"
#include "exec/proc_mask.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/size.h"
#include "util/wtime.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define DRAIN_MS 1000 /* after SIGKILL: how long a pipe held outside the group is waited for */
#define OUTPUT_GRACE_MS 200 /* after the main process exited: for output still on its way */
#define ARM_MS 50 /* a process still running after this gets its exit watched without EOF */

enum timer_phase { T_IDLE, T_NOTIFY, T_ARM, T_GRACE, T_OUTPUT, T_DRAIN };

struct proc;

/* One output pipe: stdout and stderr together, or (separate_stderr) each on
 * its own. Each has its own masker: a secret split across reads of one
 * stream is still found. Only `out` is captured. */
struct pstream {
  uv_pipe_t pipe;             /* data = this stream */
  struct proc *p;
  struct proc_mask mask;      /* secrets to show as *** */
  bool used, open, eof, capture;
};

struct proc {
  uv_loop_t *loop;
  proc_done_cb done;
  void *ud;
  proc_output_cb on_output;
  uv_timer_t timer;
  struct pstream out, err;    /* err used only with spec.separate_stderr */
  struct proc_watch watch;
  struct proc_tree tree;      /* the processes that left the group (proc_tree.c) */
  pid_t pid;
  int log_fd;                 /* -1 until the first output arrives */
  int64_t log_limit, log_size; /* the cap (0: none) and the bytes logged */
  bool log_nl;                /* the last byte logged was a newline */
  char *log_path;             /* NULL: output is dropped */
  char *output_path;
  int grace_ms;
  int kill_reason;
  enum timer_phase phase;
  int64_t start_ms, kill_ms;
  bool exited, eof, finished, drain_expired; /* eof: of every stream */
  bool watching;              /* the exit watch is started, not armed (watch_arm) */
  int wstatus;
  int handles;                /* open: timer, pipe, watch */
  const char *fail_kind;      /* set when it could not start properly */
  char fail_msg[PROC_MSG_MAX];
  struct buf capture;
  int log_errno;
  bool spawning;              /* handed to the spawner thread (proc_async.c) */
  int read_fd, err_read_fd;   /* the pipes' read ends while spawning */
  char *argv0;                /* for messages while spawning */
  char *cwd;                  /* ditto */
  void (*on_spawned)(void *ud);
};

static int n_live; /* processes started and not finished (loop thread only) */
static int g_fail_read_start; /* tests: fail that many pipe reads at the start */

void proc_test_fail_read_start(int n) { g_fail_read_start = n; }

static _Thread_local char g_rbuf[READ_CHUNK];

static void handle_closed(struct proc *p)
{
  assert(p->handles > 0);
  if (--p->handles == 0) {
    buf_free(&p->capture);
    proc_mask_free(&p->out.mask);
    if (p->err.used)
      proc_mask_free(&p->err.mask);
    free(p->argv0);
    free(p->cwd);
    free(p->output_path);
    free(p->log_path);
    free(p);
  }
}

static void on_handle_closed(uv_handle_t *h) { handle_closed(h->data); }
static void on_pipe_closed(uv_handle_t *h) { handle_closed(((struct pstream *)h->data)->p); }
static void on_watch_closed(struct proc_watch *w)
{
  handle_closed((struct proc *)((char *)w - offsetof(struct proc, watch)));
}

static void signame(int sig, char out[32])
{
  const char *ab = sigabbrev_np(sig);
  if (ab)
    snprintf(out, 32, "%d (SIG%s)", sig, ab);
  else
    snprintf(out, 32, "%d", sig);
}

static void fail_set(struct proc *p, const char *kind, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
static void fail_set(struct proc *p, const char *kind, const char *fmt, ...)
{
  if (p->fail_kind)
    return; /* the first failure is the one to report */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->fail_msg, sizeof p->fail_msg, fmt, ap);
  va_end(ap);
  p->fail_kind = kind;
}

/* --- results ------------------------------------------------------------- */

/* Reads and parses the $WEFT_OUTPUT file. Returns 0 with *out, or an error
 * with msg filled (kind "output"); *out is then {}. */
static int read_outputs(const char *path, json_t **out, char msg[PROC_MSG_MAX])
{
  int rc = 0, fd = -1;
  char *data = NULL, *err = NULL;
  size_t len = 0;
  *out = NULL;
  if (!path)
    goto out;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      goto out; /* deleted by the step: no outputs */
    rc = WEFT_EIO;
    snprintf(msg, PROC_MSG_MAX, "cannot read $WEFT_OUTPUT %s: %s", path, strerror(errno));
    goto out;
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > OUTPUTS_MAX) {
    rc = WEFT_ELIMIT;
    snprintf(msg, PROC_MSG_MAX, "output over 1 MiB ($WEFT_OUTPUT is %lld bytes)",
             (long long)st.st_size);
    goto out;
  }
  data = malloc(OUTPUTS_MAX + 1);
  if (!data) {
    rc = WEFT_ENOMEM;
    snprintf(msg, PROC_MSG_MAX, "cannot read $WEFT_OUTPUT: out of memory");
    goto out;
  }
  for (;;) { /* the file may still grow (a leftover descendant): read to the cap + 1 */
    ssize_t n = read(fd, data + len, OUTPUTS_MAX + 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = WEFT_EIO;
      snprintf(msg, PROC_MSG_MAX, "cannot read $WEFT_OUTPUT %s: %s", path, strerror(errno));
      goto out;
    }
    if (n == 0 || (len += (size_t)n) > OUTPUTS_MAX)
      break;
  }
  if (len > OUTPUTS_MAX) {
    rc = WEFT_ELIMIT;
    snprintf(msg, PROC_MSG_MAX, "output over 1 MiB ($WEFT_OUTPUT is over %zu bytes)",
             (size_t)OUTPUTS_MAX);
    goto out;
  }
  rc = outputs_parse(data, len, out, &err);
  if (rc)
    snprintf(msg, PROC_MSG_MAX, "%s", err ? err : "cannot parse $WEFT_OUTPUT: out of memory");
out:
  if (fd >= 0)
    close(fd);
  free(data);
  free(err);
  if (!*out)
    *out = json_object();
  return rc;
}

/* How the process ended, in words: "exited with status 3". */
static void describe_end(const struct proc *p, struct proc_result *r, char *out, size_t n)
{
  char sn[32];
  if (r->signal) {
    signame(r->signal, sn);
    snprintf(out, n, "killed by signal %s", sn);
  } else if (r->exit_code >= 0) {
    snprintf(out, n, "exited with status %d", r->exit_code);
  } else {
    snprintf(out, n, "exit status unknown");
  }
}

static void finish(struct proc *p)
{
  struct proc_result r;
  char msg[PROC_MSG_MAX], end[96];
  assert(!p->finished);
  assert(p->fail_kind == NULL || p->pid == 0 || p->exited);
  p->finished = true;
  if (p->pid > 0)
    n_live--;
  uv_timer_stop(&p->timer);
  if (p->log_fd >= 0)
    close(p->log_fd); /* the log is complete before anyone is told */
  p->log_fd = -1;
  /* the attempt ends with its main process: whatever it left running goes */
  proc_tree_end(&p->tree, p->pid);

  memset(&r, 0, sizeof r);
  r.exit_code = -1;
  r.pid = p->pid;
  r.log_errno = p->log_errno;
  if (p->exited && p->wstatus != -1) {
    if (WIFEXITED(p->wstatus))
      r.exit_code = WEXITSTATUS(p->wstatus);
    else if (WIFSIGNALED(p->wstatus))
      r.signal = WTERMSIG(p->wstatus);
  }
  describe_end(p, &r, end, sizeof end);

  int orc = 0;
  msg[0] = '\0';
  if (!p->fail_kind || p->pid > 0)
    orc = read_outputs(p->output_path, &r.outputs, msg);
  else
    r.outputs = json_object();

  if (p->fail_kind) {
    r.kind = p->fail_kind;
    snprintf(r.message, sizeof r.message, "%s", p->fail_msg);
  } else if (p->kill_reason == PROC_KILL_TIMEOUT) {
    char d[32];
    wt_fmt_duration(p->kill_ms - p->start_ms, d);
    r.kind = "timeout";
    snprintf(r.message, sizeof r.message, "timed out after %s (%s)", d, end);
  } else if (p->kill_reason == PROC_KILL_CANCEL) {
    r.kind = "cancelled";
    snprintf(r.message, sizeof r.message, "cancelled (%s)", end);
  } else if (r.signal) {
    r.kind = "signal";
    snprintf(r.message, sizeof r.message, "%s", end);
  } else if (r.exit_code != 0) {
    r.kind = "exit_code";
    snprintf(r.message, sizeof r.message, "%s", end);
  } else if (orc) {
    r.kind = "output";
    snprintf(r.message, sizeof r.message, "%s", msg);
  }
  r.ok = r.kind == NULL;
  r.captured = p->capture.p ? p->capture.p : "";
  r.captured_len = p->capture.len;

  p->done(p->ud, &r);
  json_decref(r.outputs);
  uv_close((uv_handle_t *)&p->timer, on_handle_closed);
}

static void maybe_finish(struct proc *p)
{
  if (!p->finished && p->exited && p->eof)
    finish(p);
}

/* --- output -------------------------------------------------------------- */

static void close_pipe(struct pstream *ps)
{
  if (!ps->open)
    return;
  ps->open = false;
  uv_read_stop((uv_stream_t *)&ps->pipe);
  uv_close((uv_handle_t *)&ps->pipe, on_pipe_closed);
}

/* The log file is created at the first output, not before the spawn: creating
 * a file costs as much as the spawn itself on the ext4 disks measured (~0.7-2
 * ms, bench/spawn/README.md), and most quick steps print nothing. */
static void log_put(struct proc *p, const char *d, size_t n);

/* The log cap (log_limit): output up to the cap, then one marker line; what
 * comes after is dropped (still read from the pipe, so the child goes on). */
static void log_write(struct proc *p, const char *d, size_t n)
{
  if (!p->log_limit || p->log_size + (int64_t)n <= p->log_limit) {
    log_put(p, d, n);
    return;
  }
  if (p->log_size > p->log_limit)
    return; /* capped already */
  log_put(p, d, (size_t)(p->log_limit - p->log_size));
  char sz[32], mark[96];
  wt_fmt_size(p->log_limit, sz);
  int len = snprintf(mark, sizeof mark, "%s[weft: log truncated at %s; further output discarded]\n",
                     p->log_nl || !p->log_size ? "" : "\n", sz);
  log_put(p, mark, (size_t)len);
  p->log_size = p->log_limit + 1; /* past the cap from now on */
}

static void log_put(struct proc *p, const char *d, size_t n)
{
  if (n) {
    p->log_size += (int64_t)n;
    p->log_nl = d[n - 1] == '\n';
  }
  if (p->log_fd < 0 && p->log_path && !p->log_errno) {
    p->log_fd = open(p->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (p->log_fd < 0)
      p->log_errno = errno;
  }
  while (n && p->log_fd >= 0 && !p->log_errno) {
    ssize_t w = write(p->log_fd, d, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      p->log_errno = w < 0 ? errno : EIO;
      break;
    }
    d += w;
    n -= (size_t)w;
  }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
  b->base = g_rbuf;
  b->len = sizeof g_rbuf;
}

/* Output after masking: to the log, the capture and the streaming callback. */
static void deliver(void *ud, const char *d, size_t n)
{
  struct pstream *ps = ud;
  struct proc *p = ps->p;
  log_write(p, d, n);
  if (ps->capture && p->capture.max > p->capture.len) {
    size_t room = p->capture.max - p->capture.len;
    buf_append(&p->capture, d, n < room ? n : room);
  }
  if (p->on_output)
    p->on_output(p->ud, d, n);
}

/* No more output will come from ps: deliver what its masker held back. */
static void end_stream(struct pstream *ps)
{
  if (!ps->used || ps->eof)
    return;
  proc_mask_flush(&ps->mask, deliver, ps);
  close_pipe(ps);
  ps->eof = true;
}

static void watch_arm(struct proc *p, bool try_now);
static void on_timer(uv_timer_t *t);

/* Once every stream ended, the exit is due: most children exit as their
 * output ends, and the exit watch is only armed now (proc_watch_arm). */
static void update_eof(struct proc *p)
{
  p->eof = (!p->out.used || p->out.eof) && (!p->err.used || p->err.eof);
  if (p->eof && !p->exited && p->watching)
    watch_arm(p, true);
}

/* No more output will be read from any stream. */
static void end_output(struct proc *p)
{
  end_stream(&p->out);
  end_stream(&p->err);
  update_eof(p);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
  struct pstream *ps = s->data;
  struct proc *p = ps->p;
  if (n > 0) {
    if (proc_mask_feed(&ps->mask, b->base, (size_t)n, deliver, ps) && !p->log_errno)
      p->log_errno = ENOMEM; /* part of the output was dropped, not shown unmasked */
    return;
  }
  if (n == 0)
    return; /* EAGAIN */
  /* UV_EOF, or a read error: either way nothing more will come from it */
  end_stream(ps);
  update_eof(p);
  maybe_finish(p);
}

/* --- exit and kill --------------------------------------------------------- */

static void on_exit_(struct proc_watch *w, int wstatus)
{
  struct proc *p = (struct proc *)((char *)w - offsetof(struct proc, watch));
  p->exited = true;
  p->wstatus = wstatus;
  proc_tree_reaped(&p->tree, p->pid);
  if (p->drain_expired)
    end_output(p);
  else if (!p->eof && p->phase != T_DRAIN) {
    /* the step ends with its main process: a short wait for output still
     * on its way, then what holds the pipe is killed (on_timer) */
    p->phase = T_OUTPUT;
    uv_timer_start(&p->timer, on_timer, OUTPUT_GRACE_MS, 0);
  }
  maybe_finish(p);
}

/* The exit cannot be watched (rc): kill the child and collect it here
 * (SIGKILL is immediate); done follows on the next loop turn, never from
 * here: proc_start and proc_kill get here, and their callers still use what
 * done would free. */
static void collect_unwatched(struct proc *p, int rc)
{
  int st;
  fail_set(p, "spawn", "cannot watch for the exit of a process: %s", weft_strerror(rc));
  kill(-p->pid, SIGKILL);
  while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
    ;
  proc_tree_reaped(&p->tree, p->pid);
  p->exited = true;
  p->wstatus = st;
  proc_watch_abandon(&p->watch, on_watch_closed);
  end_output(p);
  p->phase = T_NOTIFY;
  uv_timer_start(&p->timer, on_timer, 0, 0);
}

/* Arms the exit watch (see update_eof). try_now: on_exit_ (and done) may
 * run before this returns, so only from a loop callback that expects it
 * (on_read); proc_start and proc_kill arm with try_now false, which learns
 * the exit on a later loop turn. If it cannot watch: collect_unwatched. */
static void watch_arm(struct proc *p, bool try_now)
{
  p->watching = false;
  int rc = proc_watch_arm(&p->watch, try_now);
  if (rc && !p->exited)
    collect_unwatched(p, rc);
}

static void on_timer(uv_timer_t *t)
{
  struct proc *p = t->data;
  switch (p->phase) {
  case T_NOTIFY:
    p->phase = T_IDLE;
    finish(p);
    return;
  case T_ARM:
    /* still running: watch for its exit even while something holds the
     * pipe (a background child), so the step ends with its main process */
    p->phase = T_IDLE;
    if (p->watching)
      watch_arm(p, false);
    return;
  case T_GRACE:
  case T_OUTPUT:
    proc_tree_signal(&p->tree, p->pid, SIGKILL);
    p->phase = T_DRAIN;
    uv_timer_start(&p->timer, on_timer, DRAIN_MS, 0);
    return;
  case T_DRAIN:
    p->phase = T_IDLE;
    p->drain_expired = true;
    if (p->exited && !p->eof) {
      /* the tree is dead but something nothing reaches holds the pipe */
      end_output(p);
      maybe_finish(p);
    }
    return;
  case T_IDLE:
    return;
  }
}

int proc_kill(struct proc *p, int reason)
{
  if (reason != PROC_KILL_TIMEOUT && reason != PROC_KILL_CANCEL)
    return WEFT_EINVAL;
  if (p->finished)
    return WEFT_ESTATE; /* called from inside done: too late */
  if (p->kill_reason)
    return 0;
  p->kill_reason = reason;
  p->kill_ms = wt_mono_ms();
  if (p->spawning)
    return 0; /* signalled as soon as it has a pid (spawned()) */
  if (p->pid <= 0)
    return 0; /* never started: done is already on its way */
  proc_tree_signal(&p->tree, p->pid, SIGTERM);
  if (p->exited)
    return 0; /* the output grace or drain is running already */
  p->phase = T_GRACE;
  uv_timer_start(&p->timer, on_timer, (uint64_t)p->grace_ms, 0);
  if (p->watching)
    watch_arm(p, false); /* the exit must be seen even if the pipe stays held */
  return 0;
}

pid_t proc_pid(const struct proc *p) { return p->pid; }
pid_t proc_pgid(const struct proc *p) { return p->pid; }

/* --- start --------------------------------------------------------------- */

extern char **environ;

static char **strv_dup(const char *const *v)
{
  size_t n = 0, bytes = 0;
  while (v[n])
    bytes += strlen(v[n++]) + 1;
  /* one block: the pointers, then the strings */
  char **out = malloc((n + 1) * sizeof *out + bytes);
  if (!out)
    return NULL;
  char *d = (char *)(out + n + 1);
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(v[i]) + 1;
    memcpy(d, v[i], len);
    out[i] = d;
    d += len;
  }
  out[n] = NULL;
  return out;
}

static void job_free(struct proc_async_job *j)
{
  if (!j)
    return;
  free(j->argv);
  free(j->envp);
  free(j->cwd);
  free(j);
}

static void spawn_failed(struct proc *p, int e, const char *argv0, const char *cwd)
{
  if (e == ENOENT && cwd && access(cwd, F_OK) != 0)
    fail_set(p, "spawn", "cannot start \"%s\": working directory %s: %s", argv0, cwd,
             strerror(e));
  else
    fail_set(p, "spawn", "cannot start \"%s\": %s", argv0, strerror(e));
}

/* The child runs (p->pid): read its output from read_fd, watch for its exit. */
/* Reads ps from read_fd (consumed). */
static void stream_open(struct proc *p, struct pstream *ps, int read_fd)
{
  int e;
  uv_pipe_init(p->loop, &ps->pipe, 0);
  ps->pipe.data = ps;
  p->handles++;
  ps->open = true;
  if ((e = uv_pipe_open(&ps->pipe, read_fd)) == 0)
    read_fd = -1; /* the handle owns it now */
  if (!e && g_fail_read_start > 0) {
    g_fail_read_start--;
    e = UV_EIO;
  }
  if (e || (e = uv_read_start((uv_stream_t *)&ps->pipe, on_alloc, on_read))) {
    fail_set(p, "spawn", "cannot read the output of a process: %s", uv_strerror(e));
    kill(-p->pid, SIGKILL);
    end_output(p);
  }
  if (read_fd >= 0)
    close(read_fd);
}

static int spawned(struct proc *p, int read_fd, int err_read_fd, bool late)
{
  int rc = 0;
  /* From here on the child runs: failures kill it and still wait for it. */
  stream_open(p, &p->out, read_fd);
  if (p->err.used)
    stream_open(p, &p->err, err_read_fd);
  if ((rc = proc_watch_start(&p->watch, p->pid, late, on_exit_, on_watch_closed))) {
    collect_unwatched(p, rc);
    return 0;
  }
  p->watching = true;
  if (p->eof || p->kill_reason) /* output failed already, or a kill came first */
    watch_arm(p, false); /* not now: done must not run inside proc_start */
  else if (p->phase == T_IDLE) {
    /* most processes end with their output and are reaped at EOF; one that
     * runs longer gets a pidfd after ARM_MS (a timer costs no system call) */
    p->phase = T_ARM;
    uv_timer_start(&p->timer, on_timer, ARM_MS, 0);
  }
  return rc;
}

/* the spawner thread is done with p's start (loop thread) */
static void on_job_done(struct proc_async_job *j)
{
  struct proc *p = j->ud;
  p->spawning = false;
  if (j->err) {
    n_live--;
    p->pid = 0;
    close(p->read_fd);
    if (p->err.used)
      close(p->err_read_fd);
    spawn_failed(p, j->err, p->argv0, p->cwd);
    proc_watch_abandon(&p->watch, on_watch_closed);
    p->phase = T_NOTIFY;
    uv_timer_start(&p->timer, on_timer, 0, 0);
    job_free(j);
    return;
  }
  p->pid = j->pid;
  job_free(j);
  spawned(p, p->read_fd, p->err.used ? p->err_read_fd : -1, true);
  p->read_fd = p->err_read_fd = -1;
  if (p->kill_reason && !p->finished) { /* killed while it was being started */
    proc_tree_signal(&p->tree, p->pid, SIGTERM);
    p->phase = T_GRACE;
    uv_timer_start(&p->timer, on_timer, (uint64_t)p->grace_ms, 0);
  }
  if (p->on_spawned)
    p->on_spawned(p->ud);
}

/* Moves fd above 2 so that dup2 onto 1 and 2 in the child cannot clash. */
static int fd_above_std(int fd)
{
  if (fd > 2)
    return fd;
  int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return nfd;
}

/* Makes sure no stale $WEFT_OUTPUT is read back: creates it empty, or (the
 * fast default) removes it, which costs a lookup instead of an inode. */
static int reset_output(const char *path, bool create)
{
  if (create) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
      return -1;
    close(fd);
    return 0;
  }
  return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

int proc_start(uv_loop_t *loop, const struct proc_spec *spec, proc_done_cb done, void *ud,
               struct proc **out)
{
  int fds[2] = {-1, -1}, efds[2] = {-1, -1};
  bool watch_prepared = false;
  int rc = 0, e;
  struct proc *p;

  if (!loop || !spec || !spec->argv || !spec->argv[0] || !done || !out)
    return WEFT_EINVAL;
  p = calloc(1, sizeof *p);
  if (!p)
    return WEFT_ENOMEM;
  if ((rc = proc_mask_init(&p->out.mask, spec->secrets))) {
    free(p);
    return rc;
  }
  if (spec->separate_stderr && (rc = proc_mask_init(&p->err.mask, spec->secrets))) {
    proc_mask_free(&p->out.mask);
    free(p);
    return rc;
  }
  p->out = (struct pstream){.mask = p->out.mask, .p = p, .used = true, .capture = true};
  p->err = (struct pstream){.mask = p->err.mask, .p = p, .used = spec->separate_stderr};
  p->loop = loop;
  p->done = done;
  p->ud = ud;
  p->on_output = spec->on_output;
  p->log_fd = -1;
  p->log_limit = spec->log_limit > 0 ? spec->log_limit : 0;
  p->grace_ms = spec->kill_grace_ms > 0 ? spec->kill_grace_ms : PROC_KILL_GRACE_MS;
  p->start_ms = wt_mono_ms();
  buf_init(&p->capture, spec->capture_max);
  if ((spec->output_path && !(p->output_path = strdup(spec->output_path))) ||
      (spec->log_path && !(p->log_path = strdup(spec->log_path)))) {
    free(p->output_path);
    proc_mask_free(&p->out.mask);
    if (p->err.used)
      proc_mask_free(&p->err.mask);
    free(p);
    return WEFT_ENOMEM;
  }
  uv_timer_init(loop, &p->timer); /* cannot fail */
  p->timer.data = p;
  p->handles = 1;
  *out = p;

  if (p->output_path && (spec->output_create || !spec->output_fresh) &&
      reset_output(p->output_path, spec->output_create)) {
    fail_set(p, "spawn", "cannot %s $WEFT_OUTPUT file %s: %s",
             spec->output_create ? "create" : "remove the old", p->output_path, strerror(errno));
    goto failed;
  }
  if (pipe2(fds, O_CLOEXEC) || (fds[0] = fd_above_std(fds[0])) < 0 ||
      (fds[1] = fd_above_std(fds[1])) < 0 ||
      (p->err.used && (pipe2(efds, O_CLOEXEC) || (efds[0] = fd_above_std(efds[0])) < 0 ||
                       (efds[1] = fd_above_std(efds[1])) < 0))) {
    fail_set(p, "spawn", "cannot create a pipe: %s", strerror(errno));
    goto failed;
  }
  if ((rc = proc_watch_prepare(loop, &p->watch))) {
    fail_set(p, "spawn", "cannot watch for the exit of a process: %s", weft_strerror(rc));
    rc = 0;
    goto failed;
  }
  watch_prepared = true;
  p->handles++; /* the watch reports its close through on_watch_closed */

  if ((rc = proc_tree_prepare(&p->tree, spec->envp))) {
    fail_set(p, "spawn", "out of memory");
    rc = 0;
    goto failed;
  }
  p->on_spawned = spec->on_spawned;
  if (proc_async_active(loop) && n_live > 0) {
    /* another process runs: start this one on the spawner thread */
    struct proc_async_job *j = calloc(1, sizeof *j);
    if (!j || !(j->argv = strv_dup(spec->argv)) ||
        !(j->envp = strv_dup(spec->envp ? spec->envp : (const char *const *)environ)) ||
        (spec->cwd && !(j->cwd = strdup(spec->cwd))) || !(p->argv0 = strdup(spec->argv[0])) ||
        (spec->cwd && !(p->cwd = strdup(spec->cwd)))) {
      job_free(j);
      fail_set(p, "spawn", "out of memory");
      goto failed;
    }
    j->out_fd = fds[1];
    j->err_fd = efds[1];
    j->cg_fd = proc_tree_cgroup_fd(&p->tree);
    j->ud = p;
    j->done = on_job_done;
    p->read_fd = fds[0];
    p->err_read_fd = efds[0];
    fds[0] = fds[1] = efds[0] = efds[1] = -1; /* the job and p own them now */
    p->spawning = true;
    n_live++; /* counts as running from now on */
    proc_async_submit(j);
    goto out;
  }
  struct proc_spawn_args a = {.argv = spec->argv, .envp = spec->envp, .cwd = spec->cwd,
                              .out_fd = fds[1], .err_fd = efds[1],
                              .cg_fd = proc_tree_cgroup_fd(&p->tree)};
  e = proc_spawn(&a, &p->pid);
  close(fds[1]);
  fds[1] = -1;
  if (efds[1] >= 0)
    close(efds[1]);
  efds[1] = -1;
  if (e) {
    p->pid = 0;
    spawn_failed(p, e, spec->argv[0], spec->cwd);
    goto failed;
  }
  n_live++;
  rc = spawned(p, fds[0], efds[0], false);
  fds[0] = efds[0] = -1;
  goto out;

failed:
  if (watch_prepared)
    proc_watch_abandon(&p->watch, on_watch_closed);
  p->phase = T_NOTIFY;
  uv_timer_start(&p->timer, on_timer, 0, 0);
out:
  for (int i = 0; i < 2; i++) {
    if (fds[i] >= 0)
      close(fds[i]);
    if (efds[i] >= 0)
      close(efds[i]);
  }
  return rc;
}
