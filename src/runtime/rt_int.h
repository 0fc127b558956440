/* rt_int.h — the runtime's private structures, shared by src/runtime/rt_*.c.
 *
 * struct runtime owns one uv loop, the runs it executes (struct rt_run), the
 * attempts in flight (struct rt_attempt, a short list: at most max_parallel
 * per run) and the armed engine timers (struct rt_timer). Nothing here is
 * visible outside src/runtime/. */
#ifndef WEFT_RUNTIME_RT_INT_H
#define WEFT_RUNTIME_RT_INT_H

#include <uv.h>

#include "engine/engine.h"
#include "exec/http.h"
#include "exec/proc.h"
#include "runtime/executor.h"
#include "runtime/runtime.h"
#include "runtime/svc_approval.h"
#include "runtime/rt_sync.h"
#include "util/buf.h"
#include "util/secrets.h"

struct rt_run;

/* Sub-workflows (and agents' workflow tools) nest at most this deep. */
#define SUBFLOW_MAX_DEPTH 16

/* One attempt in flight with an executor (executor.h). */
struct rt_attempt {
  struct rt_attempt *next;
  struct runtime *rt;
  struct rt_run *run;
  const struct executor_ops *ops; /* its executor */
  void *x;               /* an executor's own state (for executors without a field below) */
  uint32_t step;
  int32_t index;
  uint32_t attempt;
  enum wf_kind kind;
  struct proc *proc;     /* run/command */
  uv_timer_t *wait;      /* wait: a duration or a time (svc_wait.c) */
  struct wait_event *evw; /* wait: {event}: the waiter (svc_wait.c) */
  struct subflow *sub;   /* workflow: the child run (svc_subflow.c) */
  struct approval *appr;  /* approval (or an agent's tool call): svc_approval.h */
  struct http_call *http; /* http: the request in flight (exec/http.h) */
  json_t *http_body;     /* http: the rendered step body (owned) */
  struct agent *agent;   /* agent: the tool loop (exec/agent.h) */
  struct rt_tool *tool;  /* agent: the program tool running (rt_services.c) */
  char *label;           /* "step" or "step[3]", for -v */
  struct buf line;       /* -v: the unfinished last line */
  char *output_path;
};

/* One engine timer (token) armed on the loop. */
struct rt_timer {
  struct rt_timer *next;
  struct rt_run *run;
  uint64_t token;
  uv_timer_t h;
};

/* A row being kept for the pid/pgid update that follows a spawn. */
struct rt_row {
  struct rt_row *next;
  struct store_step row; /* owned strings */
  bool dirty;            /* write it at the next commit */
};

/* One run's journal and effects of a commit, kept until that commit is
 * durable (rt_sync.c); then the observers see the journal and the effects
 * are performed, in commit order. */
struct rt_batch {
  struct rt_batch *next;
  uint64_t seq;          /* the commit */
  bool written;          /* its journal is in the store (commit_now) */
  struct rt_run *run;
  struct eng_effects fx;
};

/* A result to feed to the engine after the current effects are done. */
struct rt_pending {
  struct rt_pending *next;
  struct rt_run *run;
  struct eng_event ev;
  json_t *outputs;
  char *message;
};

struct rt_run {
  char id[WEFT_ID_LEN + 1];
  struct wf *wf;
  struct eng_run *eng;
  json_t *inputs;
  json_t *trigger_obj;   /* `.trigger` (sched/trigger.h), or NULL: built from row.trigger */
  struct store_run row;  /* the run row as last written (owned strings) */
  struct eng_effects fx; /* journal and effects not yet committed/performed */
  struct runtime *rt;    /* for the journal spill (rt_journal_spill) */
  char *workspace;
  struct rt_row *rows;   /* running units' rows (for pid/pgid) */
  struct rt_fecount *fec; /* rt_counts.c: for_each instance counts, by step (or NULL) */
  uint32_t fec_deferred;  /* rt_counts.c: steps whose expansion has rows not written yet */
  bool finished;
  bool cancel_requested;
  bool logdir_made;      /* logs/<run>/ exists (ex_proc.c) */
  bool logdir_new;       /* ... and this process created it: no old $WEFT_OUTPUT files */
  /* sub-workflows (svc_subflow.c): a child run of a workflow step */
  struct rt_attempt *parent_att; /* the parent's attempt waiting for this run */
  struct rt_attempt *tool_att;   /* an agent's workflow tool waiting for this run
                                    (rt_services.c) */
  int depth;                     /* 0 for a top-level run */
  bool is_child;                 /* not listed by rt_run_count()/rt_run_id() */
};

#define RT_N_KINDS 16 /* > every enum wf_kind */

struct runtime {
  uv_loop_t loop;
  const struct executor_ops *executors[RT_N_KINDS]; /* by step kind (rt_exec.c) */
  struct rt_opts o;
  const json_t *start_trigger; /* rt_start_trig: read by rt_start_run only */
  struct store *store;
  struct rt_run **runs;
  size_t n_runs, cap_runs;
  struct rt_attempt *attempts;
  struct rt_timer *timers;
  struct rt_pending *pending, **pending_tail;
  uv_idle_t idle;        /* keeps the loop from blocking while work is queued */
  uv_check_t check;      /* flushes (commit, then effects) once per tick */
  uv_timer_t poll;       /* inbox and heartbeat */
  uv_signal_t sigint;
  uv_timer_t pid_timer;  /* commits pids of spawned groups soon after spawn */
  uv_timer_t commit_timer; /* bounds how long a transaction stays open (runtime.c) */
  bool commit_due;       /* ... and it fired */
  uint64_t unwritten_ms; /* when the oldest batch not yet written was made (loop time) */
  size_t n_unwritten;    /* batches not yet written to the store */
  bool rows_due;         /* the pid timer fired: commit dirty rows now */
  bool handles_open;
  bool flush_armed;
  bool store_failed;
  bool draining; /* keep_alive: rt_drain was called */
  bool early_start;      /* durable dispatch (engine_reserve); WEFT_NO_EARLY_START=1 turns it off */
  struct rt_sync *sync;  /* commits made durable by rt_sync.c; NULL: by the store itself */
  uint64_t commit_seq;   /* commits so far */
  uint64_t durable_seq;  /* ... of which durable */
  struct rt_batch *batches, **batches_tail; /* waiting for their commit to be durable */
  int interrupts;
  int pid;
  int64_t pstart;
  int64_t last_heartbeat;
  char **env_base;       /* our environment without WEFT_* (NULL-terminated) */
  struct http_client *http; /* http and agent steps; made on first use (rt_services.c) */
  size_t n_env_base;
  json_t *secrets;       /* rt_mask.c: `.secrets` (loaded by rt_secrets_init) */
  struct masker *masker; /* their values, masked in all we write */
  int64_t ev_cursor;     /* svc_wait.c: highest event id seen */
  int64_t ev_cursor_at;  /* ... every event up to it was created before this time */
  bool mutex_freed;       /* rt_mutex.c: a mutex was let go: parked starts look again */
};

/* rt_journal.c: write the journals of the batches not yet written, in order,
 * into the open transaction (rows a later entry of the same commit rewrites
 * are left out; every audit entry is written, runs of like instance
 * transitions as one step.instances entry) and mark them written. */
int rt_journal_write_batches(struct runtime *rt);
/* rt_journal.c: the engine's journal spill (engine_set_spill, ud = the run,
 * whose rt is set): writes the batches not yet written, then the call's
 * entries so far, into the open transaction; keeps for the observers only
 * what they read (all but instance transitions past the first 1,000). */
int rt_journal_spill(void *ud, struct eng_effects *fx);
/* runtime.c: the store failed: stop, the runs stay resumable. */
void rt_store_failed(struct runtime *rt);
/* rt_journal.c: write the run's rows that learned a pid since (the pid timer). */
int rt_rows_write(struct runtime *rt, struct rt_run *run);
/* rt_counts.c: instance counts of for_each steps (see there). */
void rt_counts_expand(struct rt_run *run, uint32_t step, uint32_t n);
void rt_counts_note(struct rt_run *run, uint32_t step, int32_t index, int status);
int rt_counts_write(struct runtime *rt, struct rt_run *run);
void rt_counts_load(struct rt_run *run, const struct store_step *rows, size_t n);
void rt_counts_free(struct rt_run *run);
/* ... and each instance row written once (rt_counts.c): an expansion's
 * "pending" rows wait for the commit, left out where the instance's own row
 * was written first. step WF_NONE: every step of the run. */
bool rt_counts_defer_rows(struct rt_run *run, uint32_t step);
void rt_counts_row_written(struct rt_run *run, uint32_t step, int32_t index);
int rt_counts_write_rows(struct runtime *rt, struct rt_run *run, uint32_t step);
/* rt_exec.c: the pid of the live attempt of (step, index), or 0. */
int rt_attempt_pid(struct runtime *rt, struct rt_run *run, uint32_t step, int32_t index);
void rt_rows_free(struct rt_run *run);
struct rt_row *rt_row_find(struct rt_run *run, uint32_t step, int32_t index);

/* rt_exec.c: a new attempt record for START effect e, of the executor of
 * kind, linked into the runtime's list (aborts when out of memory: a lost
 * attempt would hang the run). rt_attempt_new: the same, not linked yet
 * (rt_attempt_link links it; rt_attempt_end takes either). */
struct rt_attempt *rt_attempt_add(struct runtime *rt, struct rt_run *run,
                                  const struct eng_effect *e, enum wf_kind kind);
struct rt_attempt *rt_attempt_new(struct runtime *rt, struct rt_run *run,
                                  const struct eng_effect *e, enum wf_kind kind);
void rt_attempt_link(struct rt_attempt *a);
/* rt_exec.c: the attempt in flight of (step, index), or NULL. */
struct rt_attempt *rt_attempt_find(struct runtime *rt, struct rt_run *run, uint32_t step,
                                   int32_t index);
/* ex_proc.c: the path of an attempt's file under the home (ext "out": its
 * $WEFT_OUTPUT), malloc'd; and `mkdir -p` (*created: the last one is new). */
char *rt_unit_file(const char *home, const char *run_id, const char *step, int index,
                   unsigned attempt, const char *ext);
int rt_mkdirs(const char *path, bool *created);
/* rt_disk.c: a full disk, said as such. rt_disk_full(): no free block under
 * path. rt_disk_log_failed(): the warning for a step log that could not be
 * written. rt_disk_explain(): message, or (in buf) message plus "no space
 * left on device in HOME" when the home's disk is full. */
bool rt_disk_full(const char *path);
void rt_disk_log_failed(struct runtime *rt, const struct rt_run *run, const char *step,
                        int32_t index, uint32_t attempt, int err);
const char *rt_disk_explain(struct runtime *rt, const char *message, char *buf, size_t n);
/* svc_approval.c: approval_ctx.post for an attempt (ud): rt_attempt_record. */
void approval_post(void *ud, const json_t *record);
/* rt_exec.c: fills rt->executors with the built-in table. */
void rt_executors_init(struct runtime *rt);
/* rt_exec.c: perform one effect. */
void rt_effect(struct runtime *rt, struct rt_run *run, const struct eng_effect *e);
void rt_timers_cancel_run(struct runtime *rt, struct rt_run *run);
/* Closes the http client (before the loop's last run in rt_free). */
void rt_http_close(struct runtime *rt);
/* rt_stale.c: kills the process groups of every process whose environment
 * says it belongs to run_id; returns how many groups. */
int rt_kill_run_processes(const char *run_id, int grace_ms);
void rt_arm_flush(struct runtime *rt);
/* rt_exec.c: the running row of (step, index) gets its attempt's pid and
 * process group (written with the next commit). */
void rt_note_pid_row(struct runtime *rt, struct rt_run *run, uint32_t step, int32_t index);
/* A row learned a pid: make sure it is committed soon. */
void rt_note_pid(struct runtime *rt);
/* runtime.c: rt_start() with a parent (parent_id NULL: none); *run_out (may
 * be NULL) gets the new run. */
int rt_start_run(struct runtime *rt, struct wf *wf, const json_t *inputs, const char *trigger,
                 const char *parent_id, const char *parent_step, int parent_index,
                 struct rt_run **run_out, char id_out[WEFT_ID_LEN + 1], char **err);
/* The run with this id executing here, or NULL. */
struct rt_run *rt_run_find(struct runtime *rt, const char *id);
/* rt_mask.c: loads the secrets once (*err malloc'd on failure); masks the
 * run's uncommitted journal in place; rewrites a file masked. */
int rt_secrets_init(struct runtime *rt, char **err);
void rt_mask_fx(struct runtime *rt, struct rt_run *run);
/* the same for the entries from `from` on (the spill) */
void rt_mask_fx_from(struct runtime *rt, struct rt_run *run, size_t from);
void rt_mask_file(struct runtime *rt, const char *path);

/* rt_withdraw.c: `weft cancel RUN --step` in the owning engine: a taken
 * inbox request, and the requests owed at resume (restoring: before
 * engine_restore_end, else after engine_start) */
void rt_withdraw_request(struct runtime *rt, struct rt_run *run, const struct store_inbox *m);
void rt_withdraw_owed(struct runtime *rt, struct rt_run *run, bool restoring);
/* rt_mutex.c: `mutex:` steps. gate: true when START e may go ahead now (no
 * mutex, or taken); false when it was parked (or failed). ended: from
 * rt_attempt_end, lets the attempt's mutex go. poll: takes up parked starts
 * (the runtime's poll, and its flush after a release). */
bool rt_mutex_gate(struct runtime *rt, struct rt_run *run, const struct eng_effect *e);
void rt_mutex_ended(struct rt_attempt *a);
void rt_mutex_start_failed(struct runtime *rt, struct rt_run *run, const struct eng_effect *e);
void rt_mutex_poll(struct runtime *rt);

#endif
