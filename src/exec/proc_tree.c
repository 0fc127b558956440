/* proc_tree.c — every process an attempt started, also those that left its
 * process group (setsid, a double fork, a daemon), so that they can be
 * signalled with the group and none outlives the attempt.
 *
 * One mechanism per process, chosen once (docs/internals/proc.md, "Escaped
 * processes"; WEFT_PROC_TREE=cgroup|subreaper|group forces one):
 *  - cgroup: a cgroup v2 per running attempt, under a folder of our own
 *    (weft-<pid>) in the cgroup we run in. The child moves itself in before
 *    its exec (it writes "0" to the cgroup's cgroup.procs; nothing it starts
 *    can exist before that), so every descendant is in it, whatever its group
 *    or session. SIGKILL is one write to cgroup.kill (Linux 5.14+; else each
 *    pid of cgroup.procs); SIGTERM goes to each member outside the group.
 *    The cgroups are kept in a pool and reused (a mkdir and rmdir cost ~0.1
 *    ms: as much as a spawn), removed when the process exits.
 *  - subreaper: where cgroups are not writable (a container), this process
 *    becomes a child subreaper: a descendant whose parent dies is re-parented
 *    to us instead of init. Such orphans are told apart by the $WEFT_OUTPUT
 *    entry of their environment (one path per attempt); an orphan without one
 *    is killed only when no other attempt runs. They are found in
 *    /proc/self/task/N/children (or a scan of /proc), and the zombies of
 *    orphans are reaped here; never an attempt's own main process, whose pid
 *    is registered at its spawn (under g_lock: the spawner thread) until the
 *    exit watch has reaped it.
 *  - group: neither works; only the process group is signalled.
 *
 * Threads: proc_tree_* run on the loop thread, but for the spawn lock
 * (proc_spawn() on the spawner thread); the pool, the registry and the list
 * of live markers are under g_lock. */
#include "exec/proc_int.h"
#include "util/err.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MARKER_VAR "WEFT_OUTPUT="
#define ENVIRON_MAX (256 << 10)
#define SWEEP_ROUNDS 16      /* a killed orphan's children come to us: look again */
#define SWEEP_WAIT_MS 200    /* bound on waiting for killed orphans to be reapable */

struct proc_cg {
  struct proc_cg *next;
  unsigned id, slot;                 /* slot: its index in g_all */
  int procs_fd, events_fd;           /* kept open (2 descriptors per running attempt) */
  bool dirty;                        /* was populated when released */
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_forced = -1;           /* proc_tree_set_mode (tests) */
static int g_mode = PROC_TREE_GROUP;
static char g_base[PATH_MAX];       /* cgroup mode: <mount><our cgroup>/weft-<pid> */
static struct proc_cg *g_pool;      /* free cgroups */
static struct proc_cg *g_all[4096]; /* every cgroup made, for the removal at exit;
                                       also the most attempts with a cgroup at once */
static unsigned g_n_all, g_next_id, g_n_idle;
static bool g_no_kill_file;         /* cgroup.kill is missing (before Linux 5.14) */
#define POOL_IDLE_MAX 64            /* more idle cgroups than this are removed */

/* subreaper mode: the pids of main processes not reaped yet (open addressing) */
static pid_t *g_reg;
static size_t g_reg_cap, g_reg_n;
/* subreaper mode: markers of the attempts prepared and not released */
static struct proc_marker {
  struct proc_marker *next;
  const char *s;
} *g_markers;
static int g_n_attempts;            /* attempts prepared and not released */

/* --- small helpers --------------------------------------------------------- */

ssize_t proc_tree_read_file(const char *path, char *buf, size_t cap)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  size_t len = 0;
  ssize_t n;
  while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) != 0) {
    if (n < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    len += (size_t)n;
  }
  close(fd);
  buf[len] = '\0';
  return (ssize_t)len;
}

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int64_t mono_ms(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* --- cgroup mode ----------------------------------------------------------- */

/* Where cgroup v2 is mounted (mnt) and which of its folders is the mount's
 * root (root, "/" but in some containers), from /proc/self/mountinfo. */
int proc_tree_cg_mount(char *mnt, size_t mntsz, char *root, size_t rootsz)
{
  char mi[65536];
  if (proc_tree_read_file("/proc/self/mountinfo", mi, sizeof mi) <= 0)
    return -1;
  for (char *l = mi; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
    char r[1024], m[1024], fstype[64];
    char *dash = strstr(l, " - ");
    char *eol = strchr(l, '\n');
    if (!dash || (eol && dash > eol))
      continue;
    if (sscanf(l, "%*s %*s %*s %1023s %1023s", r, m) != 2 ||
        sscanf(dash + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2") != 0)
      continue;
    if (strchr(m, '\\') || strchr(r, '\\'))
      continue; /* an escaped blank: not worth decoding */
    if (strlen(m) >= mntsz || strlen(r) >= rootsz)
      continue;
    strcpy(mnt, m);
    strcpy(root, r);
    return 0;
  }
  return -1;
}

/* The folder of cgroup path (as in /proc/PID/cgroup's "0::" line) under the
 * mount; -1 when it is not below the mount's root. */
int proc_tree_cg_dir(const char *mnt, const char *root, const char *path, char *out, size_t outsz)
{
  const char *rel = path;
  size_t rl = strlen(root);
  if (strcmp(root, "/") != 0) {
    if (strncmp(path, root, rl) != 0 || (path[rl] && path[rl] != '/'))
      return -1;
    rel = path + rl;
  }
  int n = snprintf(out, outsz, "%s%s", mnt, strcmp(rel, "/") == 0 ? "" : rel);
  return n > 0 && (size_t)n < outsz ? 0 : -1;
}

/* pid's cgroup v2 path ("0::" line of /proc/PID/cgroup; pid 0: ours). */
int proc_tree_cg_of(pid_t pid, char *out, size_t outsz)
{
  char cg[4096], path[64];
  if (pid > 0)
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
  else
    snprintf(path, sizeof path, "/proc/self/cgroup");
  if (proc_tree_read_file(path, cg, sizeof cg) <= 0)
    return -1;
  for (char *l = cg; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
    if (!strncmp(l, "0::", 3)) {
      char *p = l + 3;
      size_t n = strcspn(p, "\n");
      if (p[0] != '/' || n >= outsz || strstr(p, "(deleted)"))
        return -1;
      memcpy(out, p, n);
      out[n] = '\0';
      return 0;
    }
  return -1;
}

/* The cgroup v2 folder this process is in. */
static int own_cgroup(char *out, size_t outsz)
{
  char path[4096], mnt[1024], root[1024];
  if (proc_tree_cg_of(0, path, sizeof path) || proc_tree_cg_mount(mnt, sizeof mnt, root, sizeof root))
    return -1;
  return proc_tree_cg_dir(mnt, root, path, out, outsz);
}

/* proc_spawn_args.cg_fd is used only above 2 (0 is "none" in a zeroed struct) */
static int fd_above_std(int fd)
{
  if (fd < 0 || fd > 2)
    return fd;
  int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return nfd;
}

static void cg_close(struct proc_cg *c)
{
  if (c->procs_fd >= 0)
    close(c->procs_fd);
  if (c->events_fd >= 0)
    close(c->events_fd);
  c->procs_fd = c->events_fd = -1;
}

static int cg_path(unsigned id, const char *file, char *out, size_t outsz)
{
  int n = file ? snprintf(out, outsz, "%s/%u/%s", g_base, id, file)
               : snprintf(out, outsz, "%s/%u", g_base, id);
  return n > 0 && (size_t)n < outsz ? 0 : -1;
}

/* 1 populated, 0 empty, -1 unknown */
static int cg_populated(struct proc_cg *c)
{
  char b[256];
  ssize_t n = pread(c->events_fd, b, sizeof b - 1, 0);
  if (n <= 0)
    return -1;
  b[n] = '\0';
  char *p = strstr(b, "populated ");
  return p ? p[10] == '1' : -1;
}

/* A new cgroup, or NULL (g_lock held). */
static struct proc_cg *cg_new(void)
{
  char path[PATH_MAX];
  if (g_n_all >= sizeof g_all / sizeof *g_all)
    return NULL;
  struct proc_cg *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->procs_fd = c->events_fd = -1;
  for (unsigned tries = 0; tries < 64; tries++) {
    c->id = g_next_id++;
    if (cg_path(c->id, NULL, path, sizeof path))
      break;
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
      break;
    if (cg_path(c->id, "cgroup.procs", path, sizeof path) ||
        (c->procs_fd = fd_above_std(open(path, O_WRONLY | O_CLOEXEC))) < 0 ||
        cg_path(c->id, "cgroup.events", path, sizeof path) ||
        (c->events_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
      cg_close(c);
      break;
    }
    if (cg_populated(c) == 0) { /* EEXIST: left by an earlier process with our pid */
      c->slot = g_n_all;
      g_all[g_n_all++] = c;
      return c;
    }
    cg_close(c); /* a dead process's with our pid, still in use: next id */
  }
  free(c);
  return NULL; /* no cgroup for this attempt (EMFILE?): the group still works */
}

/* Removes an idle cgroup (g_lock held); false when it cannot be removed yet. */
static bool cg_remove(struct proc_cg *c)
{
  char path[PATH_MAX];
  if (cg_path(c->id, NULL, path, sizeof path) || rmdir(path) != 0)
    return false;
  cg_close(c);
  g_all[c->slot] = g_all[--g_n_all];
  g_all[c->slot]->slot = c->slot;
  free(c);
  return true;
}

/* Every pid in the cgroup gets sig (skip_pgid: not those of that group). */
static void cg_signal_members(struct proc_cg *c, int sig, pid_t skip_pgid)
{
  char path[PATH_MAX], buf[65536];
  if (cg_path(c->id, "cgroup.procs", path, sizeof path) || proc_tree_read_file(path, buf, sizeof buf) < 0)
    return;
  for (char *s = buf; *s;) {
    char *end;
    long pid = strtol(s, &end, 10);
    if (end == s)
      break;
    if (pid > 1 && (skip_pgid <= 0 || getpgid((pid_t)pid) != skip_pgid))
      kill((pid_t)pid, sig);
    s = end;
    while (*s == '\n')
      s++;
  }
}

static void cg_kill(struct proc_cg *c)
{
  char path[PATH_MAX];
  int fd = g_no_kill_file || cg_path(c->id, "cgroup.kill", path, sizeof path)
               ? -1
               : open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    g_no_kill_file = true;
  bool done = fd >= 0 && write(fd, "1", 1) == 1;
  if (fd >= 0)
    close(fd);
  if (!done)
    cg_signal_members(c, SIGKILL, 0);
}

static void cleanup_at_exit(void)
{
  char path[PATH_MAX];
  pthread_mutex_lock(&g_lock);
  for (unsigned i = 0; i < g_n_all; i++) {
    cg_close(g_all[i]);
    if (!cg_path(g_all[i]->id, NULL, path, sizeof path))
      rmdir(path); /* EBUSY when something is still in it: left alone */
    free(g_all[i]);
  }
  g_n_all = g_n_idle = 0;
  g_pool = NULL;
  rmdir(g_base);
  pthread_mutex_unlock(&g_lock);
}

/* Removes what weft processes that died (crashed) left in our cgroup:
 * weft-<pid> of a pid that is gone, with its attempt cgroups. Only empty
 * ones go (rmdir fails on a cgroup with processes: those are for `weft
 * resume` to kill, proc_stale.c). */
static void remove_stale(const char *own)
{
  DIR *d = opendir(own);
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (strncmp(de->d_name, "weft-", 5) || !isdigit((unsigned char)de->d_name[5]))
      continue;
    pid_t owner = (pid_t)atol(de->d_name + 5);
    if (owner <= 1 || owner == getpid() || kill(owner, 0) == 0 || errno != ESRCH)
      continue;
    char dir[PATH_MAX], sub[PATH_MAX + 300];
    if (snprintf(dir, sizeof dir, "%s/%s", own, de->d_name) >= (int)sizeof dir)
      continue;
    DIR *s = opendir(dir);
    struct dirent *se;
    while (s && (se = readdir(s)))
      if (isdigit((unsigned char)se->d_name[0])) {
        snprintf(sub, sizeof sub, "%s/%s", dir, se->d_name);
        rmdir(sub);
      }
    if (s)
      closedir(s);
    rmdir(dir);
  }
  if (d)
    closedir(d);
}

/* Can we make cgroups and move a process into one? A throwaway child tries. */
static bool cgroup_usable(void)
{
  char own[PATH_MAX - 64];
  if (own_cgroup(own, sizeof own))
    return false;
  remove_stale(own);
  snprintf(g_base, sizeof g_base, "%s/weft-%d", own, (int)getpid());
  if (mkdir(g_base, 0755) != 0 && errno != EEXIST)
    return false;
  struct proc_cg *c = cg_new();
  if (!c) {
    rmdir(g_base);
    return false;
  }
  pid_t pid = fork();
  if (pid == 0)
    _exit(write(c->procs_fd, "0", 1) == 1 ? 0 : 1);
  int st = 0;
  while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    cleanup_at_exit();
    return false;
  }
  c->next = g_pool;
  g_pool = c;
  g_n_idle = 1;
  atexit(cleanup_at_exit);
  return true;
}

/* --- choosing -------------------------------------------------------------- */

static void decide(void)
{
  int want = g_forced;
  const char *e = getenv("WEFT_PROC_TREE");
  if (want < 0 && e && *e)
    want = !strcmp(e, "cgroup") ? PROC_TREE_CGROUP
           : !strcmp(e, "subreaper") ? PROC_TREE_SUBREAPER
           : !strcmp(e, "group") ? PROC_TREE_GROUP : -1;
  if (want < 0 || want == PROC_TREE_CGROUP) {
    if (cgroup_usable()) {
      g_mode = PROC_TREE_CGROUP;
      return;
    }
    want = -1;
  }
  if (want < 0 || want == PROC_TREE_SUBREAPER) {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) == 0) {
      g_mode = PROC_TREE_SUBREAPER;
      return;
    }
  }
  g_mode = PROC_TREE_GROUP;
}

void proc_tree_set_mode(int mode) { g_forced = mode; }

int proc_tree_mode(void)
{
  pthread_once(&g_once, decide);
  return g_mode;
}

const char *proc_tree_cgroup_base(void) { return proc_tree_mode() == PROC_TREE_CGROUP ? g_base : NULL; }

/* --- subreaper mode: the registry of main processes -------------------------- */

static size_t reg_slot(pid_t pid) { return ((size_t)pid * 2654435761u) & (g_reg_cap - 1); }

static void reg_add(pid_t pid)
{
  if ((g_reg_n + 1) * 2 > g_reg_cap) {
    size_t ncap = g_reg_cap ? g_reg_cap * 2 : 64;
    pid_t *old = g_reg, *nw = calloc(ncap, sizeof *nw);
    if (!nw)
      return; /* not registered: its zombie may be reaped by a sweep (status lost) */
    size_t ocap = g_reg_cap;
    g_reg = nw;
    g_reg_cap = ncap;
    g_reg_n = 0;
    for (size_t i = 0; i < ocap; i++)
      if (old[i] > 0)
        reg_add(old[i]);
    free(old);
  }
  size_t i = reg_slot(pid);
  while (g_reg[i] > 0 && g_reg[i] != pid)
    i = (i + 1) & (g_reg_cap - 1);
  if (g_reg[i] != pid) {
    g_reg[i] = pid;
    g_reg_n++;
  }
}

static bool reg_has(pid_t pid)
{
  if (!g_reg_cap)
    return false;
  for (size_t i = reg_slot(pid); g_reg[i] > 0; i = (i + 1) & (g_reg_cap - 1))
    if (g_reg[i] == pid)
      return true;
  return false;
}

static void reg_del(pid_t pid)
{
  if (!g_reg_cap)
    return;
  size_t i = reg_slot(pid);
  while (g_reg[i] > 0 && g_reg[i] != pid)
    i = (i + 1) & (g_reg_cap - 1);
  if (g_reg[i] != pid)
    return;
  g_reg[i] = 0;
  g_reg_n--;
  /* backward shift: keep every later entry of the run findable */
  for (size_t j = (i + 1) & (g_reg_cap - 1); g_reg[j] > 0; j = (j + 1) & (g_reg_cap - 1)) {
    size_t k = reg_slot(g_reg[j]);
    bool between = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (!between) {
      g_reg[i] = g_reg[j];
      g_reg[j] = 0;
      i = j;
    }
  }
}

void proc_tree_spawn_lock(void)
{
  if (proc_tree_mode() == PROC_TREE_SUBREAPER)
    pthread_mutex_lock(&g_lock);
}

void proc_tree_spawn_unlock(pid_t pid)
{
  if (proc_tree_mode() != PROC_TREE_SUBREAPER)
    return;
  if (pid > 0)
    reg_add(pid);
  pthread_mutex_unlock(&g_lock);
}

/* --- subreaper mode: sweeping orphans ------------------------------------------ */

/* Our orphans (and maybe main processes), from the children of our main
 * thread (the kernel re-parents to the subreaper's first live thread: the
 * group leader, unless it ended), else a scan of /proc. 3 system calls in
 * the common case: it runs at the end of every attempt. */
static size_t list_children(pid_t *out, size_t cap)
{
  char path[64], buf[65536];
  size_t n = 0;
  snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
  if (proc_tree_read_file(path, buf, sizeof buf) >= 0) {
    for (char *s = buf; *s && n < cap;) {
      char *end;
      long pid = strtol(s, &end, 10);
      if (end == s)
        break;
      out[n++] = (pid_t)pid;
      s = end;
    }
    return n;
  }
  /* CONFIG_PROC_CHILDREN is off, or the main thread is gone */
  DIR *d;
  struct dirent *de;
  pid_t self = getpid();
  if (!(d = opendir("/proc")))
    return 0;
  while ((de = readdir(d)) && n < cap) {
    if (!isdigit((unsigned char)de->d_name[0]))
      continue;
    char spath[300], st[512];
    snprintf(spath, sizeof spath, "/proc/%.200s/stat", de->d_name);
    if (proc_tree_read_file(spath, st, sizeof st) <= 0)
      continue;
    char *p = strrchr(st, ')');
    long ppid = 0;
    if (p && sscanf(p + 1, " %*c %ld", &ppid) == 1 && ppid == self)
      out[n++] = (pid_t)atol(de->d_name);
  }
  closedir(d);
  return n;
}

static char proc_state(pid_t pid)
{
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  if (proc_tree_read_file(path, buf, sizeof buf) <= 0)
    return 0;
  char *p = strrchr(buf, ')');
  return p && p[1] == ' ' ? p[2] : 0;
}

/* pid's $WEFT_OUTPUT entry (into out), or false when it has none. */
static bool marker_of(pid_t pid, char *out, size_t outsz)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
  char *buf = malloc(ENVIRON_MAX);
  if (!buf)
    return false;
  ssize_t len = proc_tree_read_file(path, buf, ENVIRON_MAX);
  bool found = false;
  for (ssize_t i = 0; i < len && !found;) {
    size_t e = strnlen(buf + i, (size_t)(len - i));
    if (!strncmp(buf + i, MARKER_VAR, sizeof MARKER_VAR - 1) && e < outsz) {
      memcpy(out, buf + i, e);
      out[e] = '\0';
      found = true;
    }
    i += (ssize_t)e + 1;
  }
  free(buf);
  return found;
}

/* Does an orphan belong to the attempt with marker `mine`, or to none that
 * still runs (g_lock held)? */
static bool orphan_is_ours(pid_t pid, const char *mine)
{
  char m[PATH_MAX + 32];
  if (!marker_of(pid, m, sizeof m))
    return g_n_attempts == 0; /* cannot be told apart: only when nothing else runs */
  if (mine && !strcmp(m, mine))
    return true;
  for (struct proc_marker *k = g_markers; k; k = k->next)
    if (!strcmp(k->s, m))
      return false; /* another running attempt's */
  return true; /* an attempt that ended already */
}

/* Reaps the zombies of orphans; sends sig to the live orphans of the attempt
 * with marker mine (and to those of no running attempt). With SIGKILL, waits
 * (bounded) for them to die and goes on with their children, which come to
 * us in turn. */
static void sweep(const char *mine, int sig)
{
  pid_t kids[4096];
  int64_t deadline = mono_ms() + SWEEP_WAIT_MS;
  pthread_mutex_lock(&g_lock);
  for (int round = 0; round < SWEEP_ROUNDS; round++) {
    size_t n = list_children(kids, sizeof kids / sizeof *kids);
    size_t killed = 0; /* kids[0..killed): those we signalled */
    for (size_t i = 0; i < n; i++) {
      pid_t pid = kids[i];
      if (pid <= 1 || reg_has(pid))
        continue; /* an attempt's main process: its exit watch reaps it */
      char st = proc_state(pid);
      if (st == 'Z' || st == 'X') {
        waitpid(pid, NULL, WNOHANG);
        continue;
      }
      if (sig && orphan_is_ours(pid, mine)) {
        kill(pid, sig);
        kids[killed++] = pid;
      }
    }
    if (!killed || sig != SIGKILL)
      break;
    /* let them die, reap them; their children are ours now */
    for (size_t i = 0; i < killed; i++)
      while (waitpid(kids[i], NULL, WNOHANG) == 0 && mono_ms() < deadline)
        sleep_ms(1);
    if (mono_ms() >= deadline)
      break;
  }
  pthread_mutex_unlock(&g_lock);
}

/* --- per attempt ------------------------------------------------------------------ */

int proc_tree_prepare(struct proc_tree *t, const char *const *envp)
{
  extern char **environ;
  memset(t, 0, sizeof *t);
  t->mode = proc_tree_mode();
  if (t->mode == PROC_TREE_CGROUP) {
    pthread_mutex_lock(&g_lock);
    struct proc_cg **pp = &g_pool, *c;
    while ((c = *pp) && c->dirty && cg_populated(c) != 0)
      pp = &c->next; /* something killed there is still dying */
    if (c) {
      *pp = c->next;
      c->dirty = false;
      g_n_idle--;
    } else {
      c = cg_new();
    }
    pthread_mutex_unlock(&g_lock);
    t->cg = c; /* NULL: no cgroup for this one (limit), the group still works */
    return 0;
  }
  if (t->mode == PROC_TREE_SUBREAPER) {
    const char *const *e = envp ? envp : (const char *const *)environ;
    for (; *e; e++)
      if (!strncmp(*e, MARKER_VAR, sizeof MARKER_VAR - 1)) {
        if (!(t->marker = malloc(sizeof *t->marker)) || !(t->marker->s = strdup(*e))) {
          free(t->marker);
          t->marker = NULL;
          return WEFT_ENOMEM;
        }
        break;
      }
    pthread_mutex_lock(&g_lock);
    g_n_attempts++;
    if (t->marker) {
      t->marker->next = g_markers;
      g_markers = t->marker;
    }
    pthread_mutex_unlock(&g_lock);
    t->counted = true;
  }
  return 0;
}

int proc_tree_cgroup_fd(const struct proc_tree *t) { return t->cg ? t->cg->procs_fd : -1; }

void proc_tree_reaped(struct proc_tree *t, pid_t pid)
{
  if (t->mode != PROC_TREE_SUBREAPER)
    return;
  pthread_mutex_lock(&g_lock);
  reg_del(pid);
  pthread_mutex_unlock(&g_lock);
}

void proc_tree_signal(struct proc_tree *t, pid_t pgid, int sig)
{
  if (pgid > 1)
    kill(-pgid, sig);
  if (t->cg) {
    if (sig == SIGKILL) {
      if (cg_populated(t->cg) != 0)
        cg_kill(t->cg);
    } else {
      cg_signal_members(t->cg, sig, pgid);
    }
  } else if (t->mode == PROC_TREE_SUBREAPER) {
    sweep(t->marker ? t->marker->s : NULL, sig);
  }
}

/* The attempt ends: nothing of it may survive. Its marker stops counting as
 * a running attempt's first, so that the sweep takes the orphans it cannot
 * tell apart when no other attempt runs. */
void proc_tree_end(struct proc_tree *t, pid_t pgid)
{
  if (t->counted) {
    pthread_mutex_lock(&g_lock);
    g_n_attempts--;
    for (struct proc_marker **pp = &g_markers; *pp; pp = &(*pp)->next)
      if (*pp == t->marker) {
        *pp = t->marker->next;
        break;
      }
    pthread_mutex_unlock(&g_lock);
    t->counted = false;
  }
  if (pgid > 0)
    proc_tree_signal(t, pgid, SIGKILL);
  if (t->cg) {
    pthread_mutex_lock(&g_lock);
    t->cg->dirty = cg_populated(t->cg) != 0;
    if (g_n_idle >= POOL_IDLE_MAX && !t->cg->dirty && cg_remove(t->cg)) {
      /* after a burst: do not keep descriptors for every cgroup it used */
    } else {
      t->cg->next = g_pool;
      g_pool = t->cg;
      g_n_idle++;
    }
    pthread_mutex_unlock(&g_lock);
    t->cg = NULL;
  }
  if (t->marker) {
    free((char *)t->marker->s);
    free(t->marker);
    t->marker = NULL;
  }
}
