/* proc.h — the process executor: run one attempt of a `run:`/`command:` step.
 *
 * The runtime calls proc_start() on its libuv loop; the executor spawns the
 * program in its own process group (vfork-like, as posix_spawn: see
 * docs/internals/proc.md), appends everything it writes on stdout and stderr
 * to the attempt's log file as it arrives (the file is created at the first
 * byte: an attempt that printed nothing has NO log file, which readers treat
 * as empty), and calls the done callback exactly once, when the main process
 * has exited and its output pipe has reached EOF, or 0.2 s after the exit if
 * something else still holds the pipe (a background child: it is killed,
 * and the attempt ends at most 1 s later). Whatever the attempt started and
 * is still running then gets SIGKILL, also processes that left its process
 * group (setsid, a double fork): they are found by a cgroup per attempt or,
 * where cgroups are not writable, by weft being a child subreaper
 * (proc_tree.c, docs/internals/proc.md). Then it parses $WEFT_OUTPUT
 * (exec/outputs.h). The result is the main process's status.
 *
 * proc_kill() sends SIGTERM to every process of the attempt at once and
 * SIGKILL kill_grace_ms later if the attempt has not ended; the reason
 * decides the error kind ("timeout" or "cancelled").
 *
 * Results (struct proc_result): ok, or an error kind with a message:
 *   exit_code  "exited with status 3"
 *   signal     "killed by signal 9 (SIGKILL)"
 *   spawn      "cannot start \"prog\": No such file or directory" (also an
 *              old $WEFT_OUTPUT that cannot be removed); exit_code -1
 *   timeout    "timed out after 1.5s (killed by signal 15 (SIGTERM))"
 *   cancelled  "cancelled (killed by signal 15 (SIGTERM))"
 *   output     "$WEFT_OUTPUT is over 1 MiB ...", "$WEFT_OUTPUT line 2 has no ..."
 * A nonzero exit, a signal, a timeout or a cancel takes precedence over an
 * output error; outputs are parsed in every case but spawn and are {} when
 * they do not parse.
 *
 * Ownership: everything in struct proc_spec is borrowed for the duration of
 * proc_start() only (the executor copies or opens what it keeps). The struct
 * proc belongs to the executor: the caller's pointer is valid from
 * proc_start() until done returns, and must not be used after. The result
 * and everything it points to (outputs, captured) are borrowed for the
 * duration of the done callback: json_incref() outputs to keep them.
 * The loop must not be closed while a proc has not reported done; after done
 * the executor's handles close within the loop's next iteration.
 *
 * Threads: one loop per thread; a proc is used only from its loop's thread.
 * Children are reaped with waitpid(pid) per own child, never waitpid(-1). */
#ifndef WEFT_EXEC_PROC_H
#define WEFT_EXEC_PROC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

#define PROC_KILL_GRACE_MS 10000 /* LANGUAGE.md: SIGKILL 10 s after SIGTERM */
#define PROC_MSG_MAX 512

enum proc_kill_reason {
  PROC_KILL_TIMEOUT = 1, /* kind "timeout" */
  PROC_KILL_CANCEL = 2,  /* kind "cancelled" */
};

struct proc;

/* Each chunk of the child's stdout/stderr as it arrives (for `weft run -v`).
 * data is borrowed for the call; chunks are not split at line ends. */
typedef void (*proc_output_cb)(void *ud, const char *data, size_t len);

struct proc_spec {
  const char *const *argv;  /* NULL-terminated, executed directly; argv[0]
                               without '/' is looked up in envp's PATH. A
                               `run:` step passes [sh, -e, -c, SCRIPT]. */
  const char *const *envp;  /* full environment, NULL-terminated; NULL = ours */
  const char *cwd;          /* NULL = ours */
  const char *log_path;     /* opened O_APPEND|O_CREAT at the first output;
                               NULL = output dropped */
  int64_t log_limit;        /* bytes of output the log keeps (0 = no cap); at
                               the cap one marker line is written and the rest
                               is read and discarded (the child never blocks) */
  const char *output_path;  /* $WEFT_OUTPUT (the caller puts it in envp):
                               an old file is removed before the spawn (or
                               created empty, see output_create), and it is
                               parsed after exit; missing = {}. NULL = no
                               outputs ({}). Creating files is slow on disk
                               (see bench/spawn): a tmpfs path is best. */
  bool output_create;       /* create $WEFT_OUTPUT empty instead of removing it */
  bool output_fresh;        /* no file can be at output_path yet (its folder was
                               created by the caller in this process for paths
                               never handed out before): skip the removal, a
                               failed unlink() is a path lookup per spawn */
  proc_output_cb on_output; /* optional; gets proc_start's ud */
  int kill_grace_ms;        /* 0 = PROC_KILL_GRACE_MS */
  void (*on_spawned)(void *ud); /* optional, gets proc_start's ud: the pid is known
                               now (a start handed to the spawner thread, see
                               proc_async.c; proc_pid() is 0 until then) */
  size_t capture_max;       /* keep the first capture_max bytes of output in
                               the result (agent tools); 0 = none */
  bool separate_stderr;     /* stderr on a pipe of its own: logged, masked and
                               streamed like stdout, but not captured (agent
                               tools: the result is stdout alone) */
  const char *const *secrets; /* NULL-terminated values shown as "***" in the
                               log, on_output and captured (also when split
                               across reads); NULL = none. Each at most
                               PROC_SECRET_MAX (64 KiB) bytes. */
};

struct proc_result {
  bool ok;
  const char *kind;           /* NULL when ok; a static string otherwise */
  char message[PROC_MSG_MAX]; /* "" when ok */
  int exit_code;              /* -1 when the process did not exit normally */
  int signal;                 /* the signal that ended it, 0 for none */
  json_t *outputs;            /* always an object; borrowed */
  const char *captured;       /* first capture_max bytes of output (NUL-terminated) */
  size_t captured_len;
  int log_errno;              /* first error opening or writing the log (0
                                 none); the rest of the output was still
                                 drained, and the attempt's result stands */
  pid_t pid;                  /* 0 when it did not start */
};

typedef void (*proc_done_cb)(void *ud, const struct proc_result *r);

/* Starts the attempt. Returns 0 and *out, then done is called exactly once
 * from a later loop callback (never from inside proc_start), also when the
 * program cannot be started (kind "spawn"). Returns WEFT_EINVAL (no argv) or
 * WEFT_ENOMEM, or WEFT_ELIMIT (a secret over 64 KiB), without calling done. */
int proc_start(uv_loop_t *loop, const struct proc_spec *spec, proc_done_cb done, void *ud,
               struct proc **out);

/* SIGTERM to the group now, SIGKILL after the grace. A second call keeps the
 * first reason and timer. Returns 0, WEFT_EINVAL for a bad reason, or
 * WEFT_ESTATE when called from inside the proc's own done callback. */
int proc_kill(struct proc *p, int reason);

pid_t proc_pid(const struct proc *p);  /* 0 when the spawn failed */
pid_t proc_pgid(const struct proc *p); /* == pid: the runtime stores it to
                                          kill a dead engine's groups */

/* Recovery: a group left by an engine that died. SIGTERM to -pgid, wait up to
 * grace_ms for it to be gone, then SIGKILL and wait (bounded, 2 s) again.
 * Members that are our own children are reaped (waitpid(-pgid)). Returns 0
 * when the group is gone (or was already), WEFT_EBUSY when something
 * survived, WEFT_EDENIED when we may not signal it, WEFT_EINVAL for pgid <= 1.
 * Blocks the calling thread: run it before the loop starts, or off-loop. */
int proc_group_kill(pid_t pgid, int grace_ms);
/* True when a process group with this id has a member (zombies included). */
bool proc_group_alive(pid_t pgid);
/* Recovery, where attempts ran in cgroups (proc_stale.c): the attempt
 * cgroups holding a member of one of the groups pgids[0..n) or a process
 * whose environment has the entry env_entry (e.g. "WEFT_RUN_ID=..."; NULL:
 * none) are emptied, escaped processes included: SIGTERM to every member,
 * SIGKILL after grace_ms, waited for (bounded, 2 s more). Returns how many
 * cgroups. Blocks the calling thread, like proc_group_kill. */
int proc_cgroup_kill_stale(const pid_t *pgids, size_t n, const char *env_entry, int grace_ms);

/* A spawner thread for loop (one loop per process, proc_async.c): while it
 * is on, a start made while another process runs is handed to it, so the
 * loop thread does not wait for the child's execve(). Off again before the
 * loop's last run (joins the thread; no start may be in progress). */
int proc_async_enable(uv_loop_t *loop);
void proc_async_disable(void);

#endif
