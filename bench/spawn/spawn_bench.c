/* spawn_bench.c — how fast can the executor start and finish `true`?
 *
 * Usage: spawn_bench MODE N INFLIGHT [PROGRAM]
 * Spawns N processes (default program: true), at most INFLIGHT at once, each
 * with stdout+stderr on a pipe that is read to EOF on a libuv loop, and waits
 * for both exit and EOF (what the executor must do). Prints the wall time.
 * MODE:
 *   uv            uv_spawn (libuv 1.44: fork + exec in the child), DETACHED
 *   posix         posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK)) with
 *                 POSIX_SPAWN_SETPGROUP, pipe via uv_pipe_open, exit via a
 *                 pidfd polled with uv_poll
 *   posix-sigchld as posix, exit via a uv_signal_t SIGCHLD handler that
 *                 waitpid(pid, WNOHANG)s each known pid
 *   proc          the real executor (src/exec/proc.c): adds the log file
 *                 (O_APPEND) and the $WEFT_OUTPUT file (create + parse)
 *   proc-sigchld  the real executor with its SIGCHLD exit watch
 * SPAWN_BENCH_RSS_MB=N in the environment makes the parent touch N MiB
 * first (fork's cost grows with the parent's memory; vfork's does not).
 * Not part of the test suite; see README.md for results. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "exec/proc.h"
#include "exec/proc_int.h"

extern char **environ;

static uv_loop_t *loop;
static int total, started, finished, inflight_max;
static const char *mode, *program = "true";
static char tmpdir[64];

struct job {
  pid_t pid;
  bool exited, eof;
  uv_process_t uvp;
  uv_pipe_t pipe;
  uv_poll_t poll;
  int pidfd;
  int closing;
  struct job *next, *prev; /* sigchld list */
};

static struct job *waiting; /* sigchld mode */
static uv_signal_t sigchld;
static char rbuf[65536];

static void start_more(void);

static void job_closed(uv_handle_t *h)
{
  struct job *j = h->data;
  if (--j->closing == 0)
    free(j);
}

static void job_maybe_done(struct job *j)
{
  if (!(j->exited && j->eof))
    return;
  finished++;
  if (j->pidfd >= 0) {
    j->closing++;
    uv_close((uv_handle_t *)&j->poll, job_closed);
  }
  if (strcmp(mode, "uv") == 0) {
    j->closing++;
    uv_close((uv_handle_t *)&j->uvp, job_closed);
  }
  j->closing++;
  uv_close((uv_handle_t *)&j->pipe, job_closed);
  start_more();
}

static void on_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
  b->base = rbuf;
  b->len = sizeof rbuf;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
  struct job *j = s->data;
  if (n >= 0)
    return;
  uv_read_stop(s);
  j->eof = true;
  job_maybe_done(j);
}

static void on_uv_exit(uv_process_t *p, int64_t st, int sig)
{
  struct job *j = p->data;
  j->exited = true;
  job_maybe_done(j);
}

static void on_pidfd(uv_poll_t *p, int status, int ev)
{
  struct job *j = p->data;
  int st;
  if (waitpid(j->pid, &st, WNOHANG) != j->pid)
    return;
  uv_poll_stop(p);
  j->exited = true;
  job_maybe_done(j);
}

static void on_sigchld(uv_signal_t *s, int sig)
{
  for (struct job *j = waiting, *next; j; j = next) {
    next = j->next;
    int st;
    if (waitpid(j->pid, &st, WNOHANG) == j->pid) {
      if (j->prev)
        j->prev->next = j->next;
      else
        waiting = j->next;
      if (j->next)
        j->next->prev = j->prev;
      j->exited = true;
      job_maybe_done(j);
    }
  }
}

static void start_uv(void)
{
  struct job *j = calloc(1, sizeof *j);
  j->pidfd = -1;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC))
    exit(1);
  uv_pipe_init(loop, &j->pipe, 0);
  j->pipe.data = j->uvp.data = j;
  /* one pipe for stdout and stderr, as the executor does */
  uv_stdio_container_t io[3] = {{.flags = UV_IGNORE},
                                {.flags = UV_INHERIT_FD, .data.fd = fds[1]},
                                {.flags = UV_INHERIT_FD, .data.fd = fds[1]}};
  char *args[] = {(char *)program, NULL};
  uv_process_options_t o = {.exit_cb = on_uv_exit, .file = program, .args = args,
                            .flags = UV_PROCESS_DETACHED, .stdio_count = 3, .stdio = io};
  int rc = uv_spawn(loop, &j->uvp, &o);
  if (rc) {
    fprintf(stderr, "uv_spawn: %s\n", uv_strerror(rc));
    exit(1);
  }
  close(fds[1]);
  uv_pipe_open(&j->pipe, fds[0]);
  uv_read_start((uv_stream_t *)&j->pipe, on_alloc, on_read);
}

static void start_posix(bool use_sigchld)
{
  struct job *j = calloc(1, sizeof *j);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC))
    exit(1);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&at, 0);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  char *args[] = {(char *)program, NULL};
  int rc = posix_spawnp(&j->pid, program, &fa, &at, args, environ);
  if (rc) {
    fprintf(stderr, "posix_spawn: %s\n", strerror(rc));
    exit(1);
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(fds[1]);
  uv_pipe_init(loop, &j->pipe, 0);
  j->pipe.data = j;
  uv_pipe_open(&j->pipe, fds[0]);
  uv_read_start((uv_stream_t *)&j->pipe, on_alloc, on_read);
  j->pidfd = -1;
  if (use_sigchld) {
    j->next = waiting;
    if (waiting)
      waiting->prev = j;
    waiting = j;
  } else {
    j->pidfd = (int)syscall(SYS_pidfd_open, j->pid, 0);
    uv_poll_init(loop, &j->poll, j->pidfd);
    j->poll.data = j;
    uv_poll_start(&j->poll, UV_READABLE, on_pidfd);
  }
}

static void proc_done(void *ud, const struct proc_result *r)
{
  if (!r->ok) {
    fprintf(stderr, "proc: %s: %s\n", r->kind, r->message);
    exit(1);
  }
  finished++;
  start_more();
}

static void start_proc(int i)
{
  char log[128], out[128], envout[160];
  snprintf(log, sizeof log, "%s/%d.log", tmpdir, i);
  snprintf(out, sizeof out, "%s/%d.out", tmpdir, i);
  snprintf(envout, sizeof envout, "WEFT_OUTPUT=%s", out);
  const char *env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", envout, NULL};
  const char *argv[] = {program, NULL};
  struct proc_spec s = {.argv = argv, .envp = env, .log_path = log, .output_path = out};
  struct proc *p;
  if (proc_start(loop, &s, proc_done, NULL, &p))
    exit(1);
}

static void start_more(void)
{
  while (started < total && started - finished < inflight_max) {
    if (strcmp(mode, "uv") == 0)
      start_uv();
    else if (strcmp(mode, "posix") == 0)
      start_posix(false);
    else if (strcmp(mode, "posix-sigchld") == 0)
      start_posix(true);
    else
      start_proc(started);
    started++;
  }
}

int main(int argc, char **argv)
{
  if (argc < 4) {
    fprintf(stderr, "usage: %s uv|posix|posix-sigchld|proc|proc-sigchld N INFLIGHT [PROGRAM]\n",
            argv[0]);
    return 2;
  }
  mode = argv[1];
  total = atoi(argv[2]);
  inflight_max = atoi(argv[3]);
  if (argc > 4)
    program = argv[4];
  const char *rss = getenv("SPAWN_BENCH_RSS_MB");
  if (rss && atoi(rss) > 0) {
    size_t sz = (size_t)atoi(rss) << 20;
    char *mem = malloc(sz);
    if (!mem)
      return 1;
    memset(mem, 1, sz); /* stays allocated: the point is a big parent */
  }
  loop = uv_default_loop();
  if (strcmp(mode, "posix-sigchld") == 0) {
    uv_signal_init(loop, &sigchld);
    uv_signal_start(&sigchld, on_sigchld, SIGCHLD);
  }
  if (strcmp(mode, "proc-sigchld") == 0)
    proc_watch_set_mode(PROC_WATCH_SIGCHLD);
  snprintf(tmpdir, sizeof tmpdir, "/tmp/spawn-bench-XXXXXX");
  if (!mkdtemp(tmpdir))
    return 1;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  start_more();
  while (finished < total)
    uv_run(loop, UV_RUN_ONCE);
  if (strcmp(mode, "posix-sigchld") == 0)
    uv_close((uv_handle_t *)&sigchld, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  printf("%s n=%d inflight=%d: %.1f ms (%.1f us/process)\n", mode, total, inflight_max, ms,
         ms * 1000.0 / total);
  char cmd[96];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  if (system(cmd))
    return 1;
  return 0;
}
