/* proc_spawn.c — start a program the way make does: vfork, then exec.
 *
 * clone(CLONE_VM|CLONE_VFORK) as glibc's posix_spawn does, without its
 * per-call costs: the child runs on a stack carved from ours (we are
 * suspended until it execs or exits, so it cannot clash) instead of a fresh
 * mmap, and it resets only the signals that can be non-default here instead
 * of all 64 (measured: bench/spawn/README.md). The cost does not grow with
 * our memory (fork() copies page tables: ~0.8 ms against ~50 us). Before the
 * exec the child:
 *   - sets every signal that may have a handler or be ignored back to its
 *     default (those not at SIG_DFL when the first process was started,
 *     plus every signal weft or libuv may catch or ignore later), then
 *     empties its mask (ours has every signal blocked around the clone, so no
 *     handler of ours can run on the child's stack);
 *   - becomes the leader of its own process group (pgid = pid), so a kill
 *     reaches every descendant that did not leave the group;
 *   - gets stdin from /dev/null and stdout/stderr on out_fd (one pipe keeps
 *     the order in which the two were written), or stderr on err_fd;
 *   - closes every other descriptor (close_range), so a descriptor another
 *     thread opened without O_CLOEXEC does not leak;
 *   - changes to cwd.
 * A program name without '/' is looked up in the PATH of the environment the
 * child gets (execvp in the child would do the same); a relative PATH entry
 * or program path is taken relative to the child's cwd. Like execvp, a file
 * the kernel cannot execute (ENOEXEC: a script without #!) is run by
 * /bin/sh. The child reports a failure (errno) through memory we share
 * until it exits; we then reap it.
 * WEFT_POSIX_SPAWN=1 starts through glibc's posix_spawn instead (for
 * comparisons: bench/ab_program.sh). */
#include "exec/proc_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *env_get(const char *const *envp, const char *name)
{
  size_t n = strlen(name);
  for (; envp && *envp; envp++)
    if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
      return *envp + n + 1;
  return NULL;
}

/* Finds file in PATH; writes the path to use into out. Returns 0 or errno. */
static int path_lookup(const char *file, const char *const *envp, const char *cwd, char *out,
                       size_t outsz)
{
  const char *path = env_get(envp, "PATH");
  if (!path)
    path = "/bin:/usr/bin"; /* glibc's default for execvp */
  int err = ENOENT;
  size_t flen = strlen(file);
  const char *p = path;
  for (;;) {
    const char *end = strchr(p, ':');
    size_t dlen = end ? (size_t)(end - p) : strlen(p);
    char cand[PATH_MAX], check[PATH_MAX];
    int n;
    if (dlen == 0)
      n = snprintf(cand, sizeof cand, "%s", file); /* empty entry: cwd */
    else
      n = snprintf(cand, sizeof cand, "%.*s/%s", (int)dlen, p, file);
    if (n > 0 && (size_t)n < sizeof cand && flen < NAME_MAX + 1) {
      const char *c = cand;
      if (cand[0] != '/' && cwd) {
        int m = snprintf(check, sizeof check, "%s/%s", cwd, cand);
        c = (m > 0 && (size_t)m < sizeof check) ? check : NULL;
      }
      struct stat st;
      if (c && stat(c, &st) == 0 && S_ISREG(st.st_mode)) {
        if (access(c, X_OK) == 0) {
          if (dlen == 0) /* keep it relative to the child's cwd */
            snprintf(out, outsz, "./%s", file);
          else
            snprintf(out, outsz, "%s", cand);
          return 0;
        }
        err = EACCES;
      }
    }
    if (!end)
      break;
    p = end + 1;
  }
  return err;
}

/* PATH lookups are remembered, as shells do (`hash`): a thousand steps of
 * the same program cost one search of PATH, not ten stat() calls each. Only
 * for a PATH of absolute folders (a relative one depends on the step's cwd);
 * an entry whose file is gone (spawn fails) is dropped and looked up again.
 * Not locked: starts are made by one thread at a time (the loop thread starts
 * a process itself only while none of its own runs, so never while the
 * spawner thread of proc_async.c has a job). */
#define PATH_CACHE 32
static struct {
  char *path_env, *name, *resolved;
} path_cache[PATH_CACHE];
static unsigned path_cache_next;

static bool path_all_absolute(const char *path)
{
  for (const char *p = path;; p++) {
    if (*p != '/')
      return false;
    p = strchr(p, ':');
    if (!p)
      return true;
  }
}

static const char *cache_get(const char *path_env, const char *name)
{
  for (unsigned i = 0; i < PATH_CACHE; i++)
    if (path_cache[i].name && !strcmp(path_cache[i].name, name) &&
        !strcmp(path_cache[i].path_env, path_env))
      return path_cache[i].resolved;
  return NULL;
}

static void cache_drop(const char *name)
{
  for (unsigned i = 0; i < PATH_CACHE; i++)
    if (path_cache[i].name && !strcmp(path_cache[i].name, name)) {
      free(path_cache[i].path_env), free(path_cache[i].name), free(path_cache[i].resolved);
      path_cache[i].path_env = path_cache[i].name = path_cache[i].resolved = NULL;
    }
}

static void cache_put(const char *path_env, const char *name, const char *resolved)
{
  unsigned i = path_cache_next++ % PATH_CACHE;
  free(path_cache[i].path_env), free(path_cache[i].name), free(path_cache[i].resolved);
  path_cache[i].path_env = strdup(path_env);
  path_cache[i].name = strdup(name);
  path_cache[i].resolved = strdup(resolved);
  if (!path_cache[i].path_env || !path_cache[i].name || !path_cache[i].resolved) {
    free(path_cache[i].path_env), free(path_cache[i].name), free(path_cache[i].resolved);
    path_cache[i].path_env = path_cache[i].name = path_cache[i].resolved = NULL;
  }
}

/* --- the vfork start --------------------------------------------------------- */

/* Signals the child sets back to SIG_DFL: every one that was not at its
 * default when the first process was started (inherited ignores, sanitizer
 * handlers), plus those weft, libuv or libcurl may catch or ignore later
 * (SIGINT and SIGCHLD: the runtime and the exit watch; SIGPIPE: libcurl
 * ignores it around transfers; SIGTERM and SIGHUP: a server's shutdown).
 * Each is one system call in the child while we wait for its exec: 64, as
 * glibc does, cost more than the rest of the child's set-up. glibc's own two
 * (32, 33) are left alone, as its posix_spawn does. */
static const int later_sigs[] = {SIGHUP, SIGINT, SIGPIPE, SIGTERM, SIGCHLD};
static int reset_sigs[64];
static int n_reset_sigs;
static int devnull = -1; /* opened once: every child's stdin */
static long close_max = 65536; /* RLIMIT_NOFILE: the bound when close_range fails */
static pthread_once_t reset_once = PTHREAD_ONCE_INIT;

static void reset_sigs_init(void)
{
  uint64_t want = 0;
  for (size_t i = 0; i < sizeof later_sigs / sizeof *later_sigs; i++)
    want |= 1ull << (later_sigs[i] - 1);
  for (int sig = 1; sig < 65; sig++) {
    struct sigaction old;
    if (sig == SIGKILL || sig == SIGSTOP || sig == 32 || sig == 33)
      continue;
    if (sigaction(sig, NULL, &old) == 0 && old.sa_handler != SIG_DFL)
      want |= 1ull << (sig - 1);
  }
  for (int sig = 1; sig < 65; sig++)
    if (want & (1ull << (sig - 1)))
      reset_sigs[n_reset_sigs++] = sig;
  devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      rl.rlim_cur < (rlim_t)1 << 30)
    close_max = (long)rl.rlim_cur;
}

struct child {
  const char *path;
  char *const *argv, *const *envp, *const *sh_argv;
  const char *cwd;
  int out_fd, err_fd, null_fd; /* null_fd: /dev/null, or -1 (opened in the child) */
  int cg_fd;                   /* > 2: join this cgroup (cgroup.procs) first */
  volatile int err; /* the child's errno when it could not exec */
};

/* The kernel's struct sigaction, for a raw rt_sigaction: the child calls
 * the kernel directly, never a wrapper a sanitizer may intercept. Only ever
 * passed all zeros (SIG_DFL, no flags, empty mask), so the field order,
 * which differs between architectures, does not matter. */
struct ksigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)(void);
  uint64_t mask;
};

/* A descriptor in 0..2 would be overwritten by the dup2s: move it up. */
static int above_stdio(int fd) { return fd < 3 ? (int)syscall(SYS_fcntl, fd, F_DUPFD, 3) : fd; }

__attribute__((no_sanitize("address", "undefined"), noinline)) static int child_main(void *arg)
{
  struct child *c = arg;
  struct ksigaction dfl = {.handler = SIG_DFL};
  /* into the attempt's cgroup before anything else: nothing it starts can
   * exist before this (proc_tree.c); a failure leaves the group alone */
  if (c->cg_fd > 2)
    syscall(SYS_write, c->cg_fd, "0", 1);
  for (int i = 0; i < n_reset_sigs; i++)
    syscall(SYS_rt_sigaction, reset_sigs[i], &dfl, NULL, sizeof dfl.mask);
  int out = above_stdio(c->out_fd);
  int err = c->err_fd > 2 ? c->err_fd : out;
  int null = c->null_fd >= 0 ? c->null_fd
                             : (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
  if (out < 0 || null < 0 || (null = above_stdio(null)) < 0)
    goto fail;
  /* dup2 clears O_CLOEXEC on the copy */
  /* dup3 (dup2 is not a system call everywhere): the sources are above 2 */
  if (syscall(SYS_setpgid, 0, 0) != 0 || syscall(SYS_dup3, null, 0, 0) < 0 ||
      syscall(SYS_dup3, out, 1, 0) < 0 || syscall(SYS_dup3, err, 2, 0) < 0)
    goto fail;
  if (syscall(SYS_close_range, 3u, ~0u, 0) != 0) /* kernels before 5.9, seccomp */
    for (long fd = 3; fd < close_max; fd++)
      syscall(SYS_close, fd);
  if (c->cwd && syscall(SYS_chdir, c->cwd) != 0)
    goto fail;
  uint64_t none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
  syscall(SYS_execve, c->path, c->argv, c->envp);
  if (errno == ENOEXEC && c->sh_argv) /* as execvp: a script without #! */
    syscall(SYS_execve, "/bin/sh", c->sh_argv, c->envp);
fail:
  c->err = errno ? errno : EINVAL;
  syscall(SYS_exit, 127);
  return 127;
}

/* 0 and *pid, or the errno of the child's failure (reaped already). */
static int spawn_vfork(const char *path, const struct proc_spawn_args *a,
                       const char *const *envp, pid_t *pid)
{
  pthread_once(&reset_once, reset_sigs_init);
  size_t n = 0;
  while (a->argv[n])
    n++;
  if (n > 1u << 20)
    return E2BIG;
  char **sh_argv = calloc(n + 2, sizeof *sh_argv);
  if (!sh_argv)
    return ENOMEM;
  sh_argv[0] = (char *)"sh";
  sh_argv[1] = (char *)path;
  for (size_t i = 1; i < n; i++)
    sh_argv[i + 1] = (char *)a->argv[i];
  struct child c = {.path = path, .argv = (char *const *)a->argv,
                    .envp = (char *const *)envp, .sh_argv = sh_argv, .cwd = a->cwd,
                    .out_fd = a->out_fd, .err_fd = a->err_fd, .null_fd = devnull,
                    .cg_fd = a->cg_fd, .err = 0};
  /* the child's stack: ours is suspended until it execs or exits */
  alignas(64) char stack[32768];
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  pid_t p = clone(child_main, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
  int e = p < 0 ? errno : 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  free(sh_argv);
  if (p < 0)
    return e;
  if (c.err) {
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR)
      ;
    return c.err;
  }
  *pid = p;
  return 0;
}

static bool use_posix_spawn(void)
{
  static int v = -1;
  if (v < 0) {
    const char *e = getenv("WEFT_POSIX_SPAWN");
    v = e && *e && strcmp(e, "0") != 0;
  }
  return v;
}

/* --- glibc's posix_spawn (WEFT_POSIX_SPAWN=1) ---------------------------------- */

static void cg_move(int cg_fd, pid_t pid)
{
  char b[24];
  int n = snprintf(b, sizeof b, "%d", (int)pid);
  if (write(cg_fd, b, (size_t)n) < 0)
    return; /* the group still reaches it */
}

static int spawn_posix(const char *path, const struct proc_spawn_args *a,
                       const char *const *envp, pid_t *pid)
{
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  char **sh_argv = NULL;
  int rc;
  if ((rc = posix_spawn_file_actions_init(&fa)))
    return rc;
  if ((rc = posix_spawnattr_init(&at))) {
    posix_spawn_file_actions_destroy(&fa);
    return rc;
  }
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                         POSIX_SPAWN_SETSIGDEF);
  if (!rc)
    rc = posix_spawnattr_setpgroup(&at, 0);
  if (!rc)
    rc = posix_spawnattr_setsigmask(&at, &none);
  if (!rc)
    rc = posix_spawnattr_setsigdefault(&at, &all);
  if (!rc)
    rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (!rc)
    rc = posix_spawn_file_actions_adddup2(&fa, a->out_fd, 1);
  if (!rc)
    rc = posix_spawn_file_actions_adddup2(&fa, a->err_fd > 2 ? a->err_fd : a->out_fd, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  if (!rc)
    rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
  if (!rc && a->cwd)
    rc = posix_spawn_file_actions_addchdir_np(&fa, a->cwd);
  if (!rc)
    rc = posix_spawn(pid, path, &fa, &at, (char *const *)a->argv, (char *const *)envp);
  if (!rc && a->cg_fd > 2)
    cg_move(a->cg_fd, *pid); /* after its exec: not race-free (docs/internals/proc.md) */
  if (rc == ENOEXEC) {
    size_t n = 0;
    while (a->argv[n])
      n++;
    sh_argv = calloc(n + 2, sizeof *sh_argv);
    if (!sh_argv) {
      rc = ENOMEM;
    } else {
      sh_argv[0] = (char *)"sh";
      sh_argv[1] = (char *)path;
      for (size_t i = 1; i < n; i++)
        sh_argv[i + 1] = (char *)a->argv[i];
      rc = posix_spawn(pid, "/bin/sh", &fa, &at, sh_argv, (char *const *)envp);
      if (!rc && a->cg_fd > 2)
        cg_move(a->cg_fd, *pid);
    }
  }
  free(sh_argv);
  posix_spawnattr_destroy(&at);
  posix_spawn_file_actions_destroy(&fa);
  return rc;
}

static int spawn_once(const char *path, const struct proc_spawn_args *a,
                      const char *const *envp, pid_t *pid)
{
  return use_posix_spawn() ? spawn_posix(path, a, envp, pid) : spawn_vfork(path, a, envp, pid);
}

static int spawn_path(const struct proc_spawn_args *a, pid_t *pid);

/* The subreaper registry learns the pid before anyone may sweep (proc_tree.c). */
int proc_spawn(const struct proc_spawn_args *a, pid_t *pid)
{
  proc_tree_spawn_lock();
  int rc = spawn_path(a, pid);
  proc_tree_spawn_unlock(rc ? 0 : *pid);
  return rc;
}

static int spawn_path(const struct proc_spawn_args *a, pid_t *pid)
{
  char resolved[PATH_MAX];
  const char *const *envp = a->envp ? a->envp : (const char *const *)environ;
  bool cached = false;
  int rc;

  if (strchr(a->argv[0], '/')) {
    if (strlen(a->argv[0]) >= sizeof resolved)
      return ENAMETOOLONG;
    strcpy(resolved, a->argv[0]);
  } else {
    const char *path_env = env_get(envp, "PATH");
    bool cacheable = path_env && path_all_absolute(path_env);
    const char *hit = cacheable ? cache_get(path_env, a->argv[0]) : NULL;
    if (hit && strlen(hit) < sizeof resolved) {
      strcpy(resolved, hit);
      cached = true;
    } else if ((rc = path_lookup(a->argv[0], envp, a->cwd, resolved, sizeof resolved))) {
      return rc;
    } else if (cacheable) {
      cache_put(path_env, a->argv[0], resolved);
    }
  }
  rc = spawn_once(resolved, a, envp, pid);
  if (cached && (rc == ENOENT || rc == EACCES)) { /* moved or removed since: search again */
    cache_drop(a->argv[0]);
    if (path_lookup(a->argv[0], envp, a->cwd, resolved, sizeof resolved) == 0)
      rc = spawn_once(resolved, a, envp, pid);
  }
  return rc;
}
