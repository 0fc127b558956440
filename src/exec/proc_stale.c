/* proc_stale.c — recovery, cgroup mode: kill the attempt cgroups a dead
 * engine left behind, escaped processes included.
 *
 * Each attempt of a weft process in cgroup mode runs in <its cgroup>/
 * weft-<pid>/<n> (proc_tree.c). After a crash, those cgroups still hold the
 * attempt's processes, also those that left its process group and changed
 * their environment. They are found through a process known to belong to
 * the dead run: a member of a recorded process group, or a process whose
 * environment has the run's WEFT_RUN_ID entry; its /proc/PID/cgroup names
 * the cgroup. Then every member gets SIGTERM (and SIGCONT), and SIGKILL
 * (cgroup.kill) after the grace if the cgroup is not empty by then. A
 * cgroup none of whose processes can be found that way (every one left the
 * group and cleared its environment) is not found. */
#include "exec/proc.h"
#include "exec/proc_int.h"
#include "util/wtime.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ENVIRON_MAX (256 << 10)
#define MAX_CGROUPS 256
#define AFTER_KILL_MS 2000

static bool environ_has(pid_t pid, const char *entry, char *buf)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
  ssize_t len = proc_tree_read_file(path, buf, ENVIRON_MAX);
  size_t elen = strlen(entry);
  for (ssize_t i = 0; i < len;) {
    size_t e = strnlen(buf + i, (size_t)(len - i));
    if (e == elen && !memcmp(buf + i, entry, elen))
      return true;
    i += (ssize_t)e + 1;
  }
  return false;
}

/* Is path (a cgroup path) an attempt cgroup: .../weft-<digits>/<digits>? */
static bool is_attempt_cgroup(const char *path)
{
  const char *last = strrchr(path, '/');
  if (!last || !last[1] || last == path)
    return false;
  for (const char *c = last + 1; *c; c++)
    if (!isdigit((unsigned char)*c))
      return false;
  const char *prev = last - 1;
  while (prev > path && *prev != '/')
    prev--;
  if (strncmp(prev, "/weft-", 6) != 0 || prev + 6 == last)
    return false;
  for (const char *c = prev + 6; c < last; c++)
    if (!isdigit((unsigned char)*c))
      return false;
  return true;
}

static bool populated(const char *dir)
{
  char path[PATH_MAX + 32], b[256];
  snprintf(path, sizeof path, "%s/cgroup.events", dir);
  if (proc_tree_read_file(path, b, sizeof b) <= 0)
    return false; /* gone */
  char *p = strstr(b, "populated ");
  return !p || p[10] == '1';
}

static void signal_members(const char *dir, int sig)
{
  char path[PATH_MAX + 32], buf[65536];
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  if (proc_tree_read_file(path, buf, sizeof buf) < 0)
    return;
  for (char *s = buf; *s;) {
    char *end;
    long pid = strtol(s, &end, 10);
    if (end == s)
      break;
    if (pid > 1 && pid != getpid()) {
      kill((pid_t)pid, sig);
      if (sig == SIGTERM)
        kill((pid_t)pid, SIGCONT); /* a stopped process would not act on it */
    }
    s = end;
    while (*s == '\n')
      s++;
  }
}

static void kill_now(const char *dir)
{
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/cgroup.kill", dir);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  bool done = fd >= 0 && write(fd, "1", 1) == 1;
  if (fd >= 0)
    close(fd);
  if (!done)
    signal_members(dir, SIGKILL); /* before Linux 5.14 */
}

/* Waits (polling) until none of dirs[0..n) is populated or ms passed. */
static bool wait_empty(char **dirs, size_t n, int ms)
{
  int64_t deadline = wt_mono_ms() + ms;
  for (;;) {
    bool any = false;
    for (size_t i = 0; i < n && !any; i++)
      any = populated(dirs[i]);
    if (!any)
      return true;
    if (wt_mono_ms() >= deadline)
      return false;
    struct timespec ts = {0, 5 * 1000000L};
    nanosleep(&ts, NULL);
  }
}

static bool in_groups(pid_t g, const pid_t *pgids, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (pgids[i] == g)
      return true;
  return false;
}

int proc_cgroup_kill_stale(const pid_t *pgids, size_t n, const char *env_entry, int grace_ms)
{
  char mnt[1024], root[1024];
  if ((!n && !env_entry) || proc_tree_cg_mount(mnt, sizeof mnt, root, sizeof root))
    return 0;
  char *envbuf = env_entry ? malloc(ENVIRON_MAX) : NULL;
  if (env_entry && !envbuf)
    return 0;
  char *dirs[MAX_CGROUPS];
  size_t nd = 0;
  pid_t self = getpid();
  DIR *d = opendir("/proc");
  struct dirent *de;
  while (d && (de = readdir(d)) && nd < MAX_CGROUPS) {
    if (!isdigit((unsigned char)de->d_name[0]))
      continue;
    pid_t pid = (pid_t)atoi(de->d_name);
    if (pid == self)
      continue;
    pid_t g = getpgid(pid);
    if (!(g > 1 && in_groups(g, pgids, n)) && !(envbuf && environ_has(pid, env_entry, envbuf)))
      continue;
    char cg[4096], dir[PATH_MAX];
    if (proc_tree_cg_of(pid, cg, sizeof cg) || !is_attempt_cgroup(cg) ||
        proc_tree_cg_dir(mnt, root, cg, dir, sizeof dir))
      continue;
    bool seen = false;
    for (size_t i = 0; i < nd && !seen; i++)
      seen = !strcmp(dirs[i], dir);
    if (!seen && (dirs[nd] = strdup(dir)))
      nd++;
  }
  if (d)
    closedir(d);
  free(envbuf);
  for (size_t i = 0; i < nd; i++)
    signal_members(dirs[i], SIGTERM);
  if (!wait_empty(dirs, nd, grace_ms > 0 ? grace_ms : 0)) {
    for (size_t i = 0; i < nd; i++)
      if (populated(dirs[i]))
        kill_now(dirs[i]);
    wait_empty(dirs, nd, AFTER_KILL_MS);
  }
  for (size_t i = 0; i < nd; i++) {
    /* the dead engine's cgroup, and its folder once that is empty (a live
     * weft process keeps cgroups of its own in it: rmdir fails then) */
    if (rmdir(dirs[i]) == 0) {
      char *slash = strrchr(dirs[i], '/');
      *slash = '\0';
      pid_t owner = (pid_t)atoi(strrchr(dirs[i], '-') + 1);
      if (owner > 0 && kill(owner, 0) != 0 && errno == ESRCH)
        rmdir(dirs[i]);
    }
    free(dirs[i]);
  }
  return (int)nd;
}
