/* proc_spawn.c — start a program like make does: posix_spawn.
 *
 * glibc's posix_spawn uses clone(CLONE_VM|CLONE_VFORK): the child runs on a
 * small stack in our address space until it execs, so the cost does not grow
 * with our memory (fork() copies page tables: ~0.8 ms against ~50 us, see
 * bench/spawn/README.md). Everything the child needs is set up through
 * attributes and file actions, executed in the child before the exec:
 *   - its own process group (POSIX_SPAWN_SETPGROUP, pgid = pid), so a kill
 *     reaches every descendant that did not leave the group;
 *   - signal mask emptied and every signal back to its default (we may ignore
 *     SIGPIPE; a step must not inherit that);
 *   - stdin from /dev/null, stdout and stderr both onto out_fd (one pipe keeps
 *     the order in which the two were written);
 *   - the working directory (posix_spawn_file_actions_addchdir_np, glibc 2.29);
 *   - every other descriptor closed (addclosefrom_np, glibc 2.34), so a
 *     descriptor another thread opened without O_CLOEXEC does not leak.
 * A program name without '/' is looked up in the PATH of the environment the
 * child gets (execvp in the child would do the same); a relative PATH entry
 * or program path is taken relative to the child's cwd. Like execvp, a file
 * the kernel cannot execute (ENOEXEC: a script without #!) is run by /bin/sh.
 * glibc reports an exec failure as posix_spawn's return value and reaps the
 * failed child itself. */
#include "exec/proc_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
 * Spawns happen on the loop thread only. */
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

int proc_spawn(const struct proc_spawn_args *a, pid_t *pid)
{
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  char resolved[PATH_MAX];
  char **sh_argv = NULL;
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
  if (rc)
    goto out;

  rc = posix_spawn(pid, resolved, &fa, &at, (char *const *)a->argv, (char *const *)envp);
  if (cached && (rc == ENOENT || rc == EACCES)) { /* moved or removed since: search again */
    cache_drop(a->argv[0]);
    if (path_lookup(a->argv[0], envp, a->cwd, resolved, sizeof resolved) == 0)
      rc = posix_spawn(pid, resolved, &fa, &at, (char *const *)a->argv, (char *const *)envp);
  }
  if (rc == ENOEXEC) {
    size_t n = 0;
    while (a->argv[n])
      n++;
    sh_argv = calloc(n + 2, sizeof *sh_argv);
    if (!sh_argv) {
      rc = ENOMEM;
      goto out;
    }
    sh_argv[0] = (char *)"sh";
    sh_argv[1] = resolved;
    for (size_t i = 1; i < n; i++)
      sh_argv[i + 1] = (char *)a->argv[i];
    rc = posix_spawn(pid, "/bin/sh", &fa, &at, sh_argv, (char *const *)envp);
  }
out:
  free(sh_argv);
  posix_spawnattr_destroy(&at);
  posix_spawn_file_actions_destroy(&fa);
  return rc;
}
