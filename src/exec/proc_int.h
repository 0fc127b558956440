/* proc_int.h — pieces of the process executor shared between its files
 * (proc.c, proc_spawn.c, proc_watch.c, proc_group.c). Not for other modules:
 * they use proc.h.
 *
 * proc_spawn.c starts a program the way make does (clone(CLONE_VM|
 * CLONE_VFORK), as glibc's posix_spawn: no copy of our page tables).
 * proc_watch.c learns that a child exited, either by a waitpid when its
 * output ends and else from a pidfd polled on the loop (armed lazily), or,
 * where pidfd_open() is missing, from a SIGCHLD handler that
 * waitpid()s each pid it knows with WNOHANG (never waitpid(-1): other code in
 * the process, libuv's uv_spawn included, reaps its own children).
 *
 * Ownership: strings passed in are borrowed for the duration of the call.
 * A struct proc_watch is embedded in its owner and must stay put until its
 * on_exit has been called or proc_watch_cancel() returned. */
#ifndef WEFT_EXEC_PROC_INT_H
#define WEFT_EXEC_PROC_INT_H

#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

/* --- proc_spawn.c --------------------------------------------------------- */

struct proc_spawn_args {
  const char *const *argv;  /* argv[0] is looked up in envp's PATH when it has no '/' */
  const char *const *envp;  /* NULL: this process's environment */
  const char *cwd;          /* NULL: ours */
  int out_fd;               /* becomes the child's stdout and stderr */
  int err_fd;               /* > 2: becomes its stderr instead */
  int cg_fd;                /* > 2: cgroup.procs of the attempt's cgroup: the
                               child writes "0" there before its exec */
};

/* Starts the child in its own process group (pgid == pid), stdin /dev/null,
 * signal dispositions and mask reset, every fd but 0-2 closed. Returns 0 and
 * *pid, or a positive errno (ENOENT, EACCES, ENOEXEC handled by retrying
 * through /bin/sh as execvp does, ...) describing why it cannot start. */
int proc_spawn(const struct proc_spawn_args *a, pid_t *pid);

/* --- proc_async.c -------------------------------------------------------- */

/* A start handed to the spawner thread. The submitter fills argv, envp, cwd
 * (owned by the job, freed by done), out_fd and done; the thread sets pid and
 * err (proc_spawn's result); done(job) then runs on the loop thread and must
 * free the job. */
struct proc_async_job {
  struct proc_async_job *next;
  char **argv, **envp, *cwd;
  int out_fd, err_fd;       /* err_fd > 2: stderr's own pipe */
  int cg_fd;                /* proc_spawn_args.cg_fd (not owned) */
  pid_t pid;
  int err;
  void (*done)(struct proc_async_job *j);
  void *ud;
};

bool proc_async_active(const uv_loop_t *loop);
void proc_async_submit(struct proc_async_job *j);

/* --- proc_tree.c ---------------------------------------------------------- */

/* How the processes of an attempt that leave its group are found (chosen
 * once per process; WEFT_PROC_TREE=cgroup|subreaper|group forces one). */
enum proc_tree_mode {
  PROC_TREE_CGROUP = 1, /* a cgroup v2 per attempt */
  PROC_TREE_SUBREAPER,  /* we are a child subreaper: orphans come to us */
  PROC_TREE_GROUP,      /* neither: the process group only */
};

struct proc_cg;
struct proc_tree {
  int mode;
  struct proc_cg *cg;       /* cgroup mode; NULL: none for this attempt */
  struct proc_marker *marker; /* subreaper mode: its $WEFT_OUTPUT env entry */
  bool counted;             /* subreaper mode: counted as a running attempt */
};

/* Before the spawn (loop thread): a cgroup for the attempt, or its marker.
 * 0 or WEFT_ENOMEM. Must be followed by proc_tree_end. */
int proc_tree_prepare(struct proc_tree *t, const char *const *envp);
/* The fd (> 2) the child writes "0" to (proc_spawn_args.cg_fd), or -1. */
int proc_tree_cgroup_fd(const struct proc_tree *t);
/* sig to the group -pgid and to every process of the attempt outside it
 * (cgroup: its members; subreaper: orphans of the attempt, and with SIGKILL
 * their descendants as they come to us). */
void proc_tree_signal(struct proc_tree *t, pid_t pgid, int sig);
/* The main process was reaped (its pid leaves the subreaper registry). */
void proc_tree_reaped(struct proc_tree *t, pid_t pid);
/* The attempt ends: SIGKILL to whatever is left of it (pgid > 0), then the
 * cgroup goes back to the pool. */
void proc_tree_end(struct proc_tree *t, pid_t pgid);
/* Around a spawn (any thread): in subreaper mode the new main process is
 * registered before anyone may sweep (pid 0: the spawn failed). */
void proc_tree_spawn_lock(void);
void proc_tree_spawn_unlock(pid_t pid);
/* Tests: force a mode before the first start of the process. */
void proc_tree_set_mode(int mode);
int proc_tree_mode(void);
/* cgroup mode: the folder holding this process's attempt cgroups; else NULL */
const char *proc_tree_cgroup_base(void);
/* Helpers shared with proc_stale.c. A file's content, NUL-terminated (at
 * most cap - 1 bytes), or -1. */
ssize_t proc_tree_read_file(const char *path, char *buf, size_t cap);
/* cgroup v2's mount point and the mount's root folder: 0 or -1 (none). */
int proc_tree_cg_mount(char *mnt, size_t mntsz, char *root, size_t rootsz);
/* A cgroup path as /proc/PID/cgroup gives it, as a folder under mnt: 0 or -1. */
int proc_tree_cg_dir(const char *mnt, const char *root, const char *path, char *out,
                     size_t outsz);
/* pid's cgroup v2 path (pid 0: ours): 0 or -1. */
int proc_tree_cg_of(pid_t pid, char *out, size_t outsz);

/* --- proc_watch.c --------------------------------------------------------- */

enum proc_watch_mode {
  PROC_WATCH_AUTO = 0, /* pidfd when the kernel has it, else SIGCHLD */
  PROC_WATCH_PIDFD,
  PROC_WATCH_SIGCHLD,
};

struct proc_reaper;
struct proc_watch;
typedef void (*proc_exit_cb)(struct proc_watch *w, int wstatus);
/* wstatus as from waitpid(); -1 when the status was lost (somebody else
 * reaped the child, e.g. SIGCHLD set to SIG_IGN). */

struct proc_watch {
  uv_loop_t *loop;
  pid_t pid;
  proc_exit_cb on_exit;
  void (*on_closed)(struct proc_watch *w); /* the poll handle is closed */
  int mode;                   /* PROC_WATCH_PIDFD or PROC_WATCH_SIGCHLD */
  uv_poll_t poll;             /* pidfd mode */
  int pidfd;
  bool poll_open;
  bool lazy;                  /* pidfd mode: started, not armed yet */
  struct proc_reaper *reaper; /* SIGCHLD mode */
  struct proc_watch *next, *prev;
};

/* Decides the mode (once per process for AUTO) and, in SIGCHLD mode, makes
 * sure the loop's SIGCHLD handler is installed: call BEFORE spawning so that
 * an early exit is not missed. Returns 0 or a WEFT_E* code. */
int proc_watch_prepare(uv_loop_t *loop, struct proc_watch *w);
/* Starts watching pid (after a successful spawn). on_exit is called once,
 * from the loop; after it returns, on_closed follows (maybe immediately, from
 * inside proc_watch code) once the watch holds no handle any more. late:
 * the spawn happened on another thread and loop iterations may have passed
 * since (its SIGCHLD may have been handled already: SIGCHLD mode looks again). */
int proc_watch_start(struct proc_watch *w, pid_t pid, bool late, proc_exit_cb on_exit,
                     void (*on_closed)(struct proc_watch *w));
/* pidfd mode: the owner needs to learn of the exit now (its output ended:
 * try_now, one waitpid usually finds it; or it killed the child). If the
 * child has exited, on_exit and on_closed are called before this returns;
 * otherwise its pidfd is polled. No-op in SIGCHLD mode and once armed.
 * Until armed, a pidfd-mode watch learns nothing. 0 or a WEFT_E* code. */
int proc_watch_arm(struct proc_watch *w, bool try_now);
/* Releases a prepared watch that was never started (the spawn failed):
 * on_closed is called (maybe immediately). */
void proc_watch_abandon(struct proc_watch *w, void (*on_closed)(struct proc_watch *w));

/* Tests: the next n starts fail to read their output pipe (the child is
 * killed; the attempt ends as a spawn failure). */
void proc_test_fail_read_start(int n);

/* Forces the mode for later spawns (tests and benchmarks). */
void proc_watch_set_mode(int mode);
int proc_watch_mode(void); /* the mode in force (AUTO resolved) */

#endif
