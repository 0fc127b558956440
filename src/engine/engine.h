/* engine.h — the run state machine: a pure function of (state, event, now).
 *
 * The engine is the ONLY writer of run state and does no I/O: no files, no
 * clock, no processes, no store. The runtime calls engine_start/engine_apply/
 * engine_cancel/engine_retry with the current time; each call appends to a
 * caller-owned struct eng_effects:
 *   - a JOURNAL (fx->j): every run/step/instance transition with the new
 *     fields, every attempt start/end, every for_each expansion. The runtime
 *     commits the journal in one transaction, THEN performs
 *   - the EFFECTS (fx->v): start an attempt, kill an attempt, arm/cancel a
 *     timer, the run finished.
 * and then feeds results back as events (attempt ended, timer fired).
 *
 * Units: a plain step is one unit; a for_each step is one step-level unit
 * (index -1 in the journal: the aggregate) plus one unit per instance
 * (index 0..n-1). Steps are addressed by their index in wf->steps.
 *
 * Errors: calls return 0 or a negative WEFT_E* code. WEFT_ESTATE for a call
 * that makes no sense in the run's status (nothing changed). WEFT_ENOMEM or
 * WEFT_ELIMIT leave the run partly updated: the runtime should commit what was
 * journaled, stop the run and let recovery (engine_restore_*) take it from the
 * store.
 *
 * Ownership: the struct wf passed to engine_new/engine_restore is borrowed
 * and must outlive the run. json_t inputs passed in events and configs are
 * borrowed (the engine takes its own references). Effects own their json
 * values (argv, env, cwd, body, item) and journal entries hold references to
 * theirs (error, outputs); engine_fx_reset() releases them. outputs_text in a
 * journal entry points into the run's output arena: valid until engine_free
 * or engine_retry. */
#ifndef WEFT_ENGINE_ENGINE_H
#define WEFT_ENGINE_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec/model.h"

struct eng_run;

enum eng_run_status {
  ENG_RUN_QUEUED = 0,
  ENG_RUN_RUNNING,
  ENG_RUN_WAITING,
  ENG_RUN_SUCCEEDED,
  ENG_RUN_FAILED,
  ENG_RUN_CANCELLED,
  ENG_RUN__N
};

enum eng_status {
  ENG_PENDING = 0,
  ENG_RUNNING,
  ENG_WAITING,
  ENG_RETRYING,
  ENG_SUCCEEDED,
  ENG_FAILED,
  ENG_SKIPPED,
  ENG_CANCELLED,
  ENG_ST__N
};

#define ENG_ERR_KINDS(X)                                                        \
  X(NONE, "none") X(EXIT_CODE, "exit_code") X(SIGNAL, "signal") X(SPAWN, "spawn") \
  X(TIMEOUT, "timeout") X(EXPRESSION, "expression") X(OUTPUT, "output")          \
  X(INTERRUPTED, "interrupted") X(CANCELLED, "cancelled")                        \
  X(REPEAT_EXHAUSTED, "repeat_exhausted") X(REJECTED, "rejected")                \
  X(HTTP_STATUS, "http_status") X(HTTP_TRANSPORT, "http_transport")              \
  X(AGENT, "agent") X(VALIDATION, "validation") X(WITHDRAWN, "withdrawn")     \
  X(ENDED, "ended")

enum eng_err_kind {
#define X(n, s) ENG_E_##n,
  ENG_ERR_KINDS(X)
#undef X
  ENG_E__N
};

const char *engine_run_status_name(enum eng_run_status s);
const char *engine_status_name(enum eng_status s);
const char *engine_err_kind_name(enum eng_err_kind k);
/* Parses the names above; returns -1 when unknown. */
int engine_run_status_parse(const char *s);
int engine_status_parse(const char *s);
int engine_err_kind_parse(const char *s);
bool engine_status_terminal(enum eng_status s);
/* The static transition tables of state.c (what step_set_state/run_set_state allow). */
bool engine_step_transition_ok(enum eng_status from, enum eng_status to);
bool engine_run_transition_ok(enum eng_run_status from, enum eng_run_status to);

/* ---- configuration ---------------------------------------------------- */

struct eng_config {
  const char *run_id;       /* copied; used in contexts and idempotency keys */
  const char *trigger;      /* copied; "manual" when NULL */
  const json_t *inputs;     /* copied; defaults of wf->inputs are added; NULL = {} */
  const json_t *secrets;    /* copied; `.secrets` in expressions (masking is the runtime's) */
  const json_t *event;      /* copied; `.event`: payload of the event that started the run */
  const json_t *trigger_obj; /* copied; `.trigger` and `.run.trigger` (sched/trigger.h);
                                NULL: {type: trigger, at: the run's start, the rest null} */
  int max_parallel;         /* used when wf->max_parallel == 0 (2 x cores); >= 1 */
  uint64_t seed;            /* jitter randomness: same seed, same delays */
};

/* ---- events (runtime -> engine) ---------------------------------------- */

enum eng_event_type {
  ENG_EV_ATTEMPT_ENDED = 1, /* an attempt started by ENG_FX_START finished */
  ENG_EV_TIMER,             /* a timer armed by ENG_FX_TIMER_ARM fired */
};

struct eng_event {
  enum eng_event_type type;
  /* ATTEMPT_ENDED: which attempt, and how it went */
  uint32_t step;
  int32_t index;            /* -1 for a plain step */
  uint32_t attempt;
  bool ok;
  const json_t *outputs;    /* the outputs object (borrowed; NULL = {}); kept on failure
                               too (http_status keeps the response) */
  enum eng_err_kind kind;   /* !ok */
  const char *message;      /* !ok; borrowed */
  int exit_code, signal, http_status; /* -1 when absent */
  /* TIMER */
  uint64_t token;
};

/* ---- effects and journal (engine -> runtime) -------------------------- */

enum eng_fx_type {
  ENG_FX_START = 1,   /* start attempt `attempt` of (step, index) */
  ENG_FX_KILL,        /* kill that attempt (SIGTERM, SIGKILL after 10 s) */
  ENG_FX_TIMER_ARM,   /* deliver ENG_EV_TIMER with token at `at` (ms) */
  ENG_FX_TIMER_CANCEL,
  ENG_FX_RUN_FINISHED,
  ENG_FX_DONE,        /* (runtime) performed already: skip */
};

enum eng_kill_reason {
  ENG_KILL_NONE = 0,
  ENG_KILL_TIMEOUT,   /* the attempt's own timeout */
  ENG_KILL_STOP,      /* cancel, fail_fast or run timeout */
  ENG_KILL_STALE,     /* recovery: kill the dead engine's process group if alive */
};

#define ENG_IDEM_MAX 160

struct eng_effect {
  enum eng_fx_type type;
  uint32_t step;
  int32_t index;           /* -1 for a plain step */
  uint32_t attempt;        /* 1-based */
  enum wf_kind kind;       /* START: the step's kind */
  enum eng_kill_reason reason; /* KILL */
  bool resumed;            /* START: re-attach to a waiting executor after restore */
  bool early;              /* START: this attempt's reservation is durable
                              (engine_reserve + engine_durable): the runtime
                              may start it before committing this call's journal */
  uint64_t token;          /* TIMER_* */
  int64_t at;              /* TIMER_ARM: due time, ms */
  enum eng_run_status status; /* RUN_FINISHED */
  /* START (owned): argv for run/command (array of strings); env object of
   * strings (the step's env; WEFT_* variables are the runtime's job); cwd
   * (string or NULL); body: the rendered kind value for http/agent/approval/
   * wait/workflow; item: the for_each item (NULL for a plain step). */
  json_t *argv, *env, *cwd, *body, *item;
  /* START: WEFT_IDEMPOTENCY_KEY, "<run id>/<step id>[/<index>]" (engine_idem_key) */
  char idem_key[ENG_IDEM_MAX];
};

enum eng_jtype {
  ENG_J_RUN = 1,        /* run status change */
  ENG_J_UNIT,           /* step (index -1) or instance status change */
  ENG_J_EXPAND,         /* for_each expanded: instances 0..n-1 exist, pending */
  ENG_J_ATTEMPT_START,
  ENG_J_ATTEMPT_END,
  ENG_J_RESERVE,        /* attempt `attempts` of the unit may start before the
                           commit that records it running (engine_reserve) */
};

#define ENG_NO_EXIT INT32_MIN
/* Attempt numbers stop growing here (a `repeat` may run up to 2^31 times;
 * every iteration is an attempt). Stored as int. */
#define ENG_MAX_ATTEMPTS INT32_MAX

struct eng_jent {
  enum eng_jtype type;
  int64_t at;              /* now of the call */
  uint32_t step;
  int32_t index;
  int status;              /* enum eng_status, or eng_run_status for RUN;
                              ATTEMPT_END: ENG_SUCCEEDED or ENG_FAILED */
  uint32_t attempts;       /* UNIT: attempts so far; ATTEMPT_*: its number */
  uint32_t iteration;      /* repeat: 1-based; 0 when no repeat */
  uint32_t n;              /* EXPAND: number of instances */
  int32_t exit_code;       /* ENG_NO_EXIT when none */
  int64_t started_at, finished_at; /* 0 when unset */
  int64_t due_at;          /* retrying / repeat delay: when the timer fires */
  json_t *error;           /* reference or NULL: {kind, message, exit_code?, ...} */
  json_t *outputs;         /* reference or NULL: plain step / run outputs */
  const char *outputs_text; /* instance outputs as compact JSON, or NULL */
};

struct eng_effects {
  struct eng_effect *v;
  size_t n, cap;
  struct eng_jent *j;
  size_t nj, capj;
  size_t nj_written;       /* j[0..nj_written) are in the store already (a spill) */
};

/* The journal of one call can be long (a for_each settles a million
 * instances in one call). When a spill function is set, every
 * ENG_JOURNAL_SPILL new entries the engine hands the journal to it: the
 * runtime writes them into its open transaction -- they commit with the rest
 * of the call's journal, before any effect of the call is performed -- may
 * drop the entries nothing reads after the commit, and sets nj_written.
 * A non-zero return fails the engine call (the runtime stops). */
#define ENG_JOURNAL_SPILL 16384
typedef int (*eng_spill_fn)(void *ud, struct eng_effects *fx);

void engine_fx_init(struct eng_effects *fx);
/* Releases the json held by the entries and empties both lists (keeps memory). */
void engine_fx_reset(struct eng_effects *fx);
void engine_fx_free(struct eng_effects *fx);

/* ---- the API ---------------------------------------------------------- */

/* A new run in status queued. */
int engine_new(const struct wf *wf, const struct eng_config *cfg, struct eng_run **out);
void engine_free(struct eng_run *run);
/* Sets (fn NULL: clears) the run's journal spill (see ENG_JOURNAL_SPILL). */
void engine_set_spill(struct eng_run *run, eng_spill_fn fn, void *ud);

/* queued -> running: arms the run timeout and starts the ready steps. */
int engine_start(struct eng_run *run, int64_t now, struct eng_effects *fx);
/* One event. Stale events (an attempt or timer the run no longer waits for)
 * are ignored and return 0. */
int engine_apply(struct eng_run *run, const struct eng_event *ev, int64_t now,
                 struct eng_effects *fx);
/* Cancel: running attempts are killed, pending steps cancelled, then the
 * finally steps run and the run ends cancelled. WEFT_ESTATE when terminal. */
int engine_cancel(struct eng_run *run, int64_t now, struct eng_effects *fx);
/* Retry a finished run in place: failed/cancelled steps and those skipped or
 * cancelled because of them (or, with from_step, that step and everything
 * downstream) go back to pending, the finally steps too; the run is running
 * again. from_step is an index or WF_NONE. WEFT_ESTATE when not terminal, or
 * when from_step is WF_NONE and no step failed or was cancelled (nothing to do). */
int engine_retry(struct eng_run *run, uint32_t from_step, int64_t now, struct eng_effects *fx);

/* Recovery. Build the run from stored rows:
 *   engine_restore_begin(wf, cfg, status, started_at, &run)
 *   engine_restore_unit(run, &row)   for each step row (index -1), then each
 *                                    instance row (index >= 0) of for_each steps
 *   engine_restore_end(run, now, fx) re-arms timers, marks attempts that were
 *                                    running as interrupted and re-attempts them
 * Rows are borrowed (json copied). Instance rows of a step that is not expanded
 * (pending again after a retry) or beyond its n_instances are ignored. */
struct eng_saved_unit {
  uint32_t step;
  int32_t index;              /* -1: the step row */
  enum eng_status status;
  uint32_t attempts, iteration;
  uint32_t n_instances;       /* step rows of expanded for_each steps */
  int32_t exit_code;          /* ENG_NO_EXIT when none */
  const json_t *error, *outputs;
  int64_t started_at, finished_at, due_at;
  uint32_t reserved;          /* the stored reservation (engine_reserve), 0 = none: a
                                 pending unit with reserved == attempts + 1 may have
                                 started that attempt, so it is restored as running */
};
int engine_restore_begin(const struct wf *wf, const struct eng_config *cfg,
                         enum eng_run_status status, int64_t started_at,
                         struct eng_run **out);
int engine_restore_unit(struct eng_run *run, const struct eng_saved_unit *row);
int engine_restore_end(struct eng_run *run, int64_t now, struct eng_effects *fx);

/* Reservations (durable dispatch). A program step's process must not start
 * before a durable record says it may have started. Normally that record is
 * the running transition, committed before the START effect is performed;
 * then every start waits for a commit (one fsync). engine_reserve() journals
 * ENG_J_RESERVE for the units that will take the next free slots (in start
 * order, up to max_parallel + 16), tagged with the caller's commit number;
 * once that commit is durable the runtime calls engine_durable(run, tag).
 * When such a unit starts later, its START effect has `early` set: the reservation already is the durable record, so the
 * runtime may start the process at once and commit the running transition
 * with the next batch. Recovery treats a pending unit whose stored
 * reservation is attempts + 1 as running (re-attempted, kind interrupted). */
int engine_reserve(struct eng_run *run, int64_t now, uint64_t tag, struct eng_effects *fx);
/* Reservations tagged <= tag are durable. */
void engine_durable(struct eng_run *run, uint64_t tag);
/* Fewer than max_parallel + 8 reservations are committed (tag <= committed)
 * and unused, and a unit waiting for a slot is not reserved by such a
 * commit: the runtime commits now, so that the next exits still find their
 * successors reserved once that commit's sync has landed. */
bool engine_reserve_low(const struct eng_run *run, uint64_t committed);

/* withdraw.c. Withdraws main step `step` as `weft cancel RUN --step` does
 * (LANGUAGE.md §3): a pending step ends skipped, a running, waiting or
 * retrying one is stopped and ends cancelled with error kind withdrawn (a
 * for_each with all its instances); the run goes on. WEFT_ESTATE when the run
 * or the step has ended, WEFT_EINVAL for a finally step or a bad index. */
int engine_withdraw(struct eng_run *run, uint32_t step, int64_t now, struct eng_effects *fx);
/* Recovery: a withdrawal requested before the crash (between
 * engine_restore_unit and engine_restore_end); engine_restore_end applies
 * it before anything restarts. Steps that ended meanwhile are left alone. */
int engine_restore_withdraw(struct eng_run *run, uint32_t step);

/* ---- reading state (borrowed results, valid until the next call) ------- */

enum eng_run_status engine_run_status(const struct eng_run *run);
const json_t *engine_run_outputs(const struct eng_run *run);
const json_t *engine_run_error(const struct eng_run *run);
/* index -1: the step (aggregate for for_each). Out of range: ENG_PENDING. */
enum eng_status engine_unit_status(const struct eng_run *run, uint32_t step, int32_t index);
uint32_t engine_unit_attempts(const struct eng_run *run, uint32_t step, int32_t index);
uint32_t engine_instance_count(const struct eng_run *run, uint32_t step);
/* Units ready to start but not started (queued for a slot or a step's
 * max_parallel, and for_each instances not started yet): weft_queue_depth. */
uint64_t engine_queued(const struct eng_run *run);
/* Idempotency key of an instance: "<run_id>/<step_id>" or "<run_id>/<step_id>/<index>"
 * (stable across attempts and recovery). Writes at most n bytes. */
void engine_idem_key(const struct eng_run *run, uint32_t step, int32_t index, char *out,
                     size_t n);
/* Bytes of scheduling state per for_each instance (sum of per-unit arrays). */
size_t engine_unit_bytes(void);
/* Bytes currently allocated for units, queues and the output arena. */
size_t engine_mem_bytes(const struct eng_run *run);

/* Recomputes every counter the engine keeps incrementally and compares
 * (O(units)); prints the first mismatch on stderr. For asserts and tests. */
bool engine_check(const struct eng_run *run);

/* One human-readable line for a journal entry or an effect (the trace format
 * of tests/traces; also useful for `weft run` progress). Appends to out
 * (capped at n bytes, NUL-terminated). Returns 0 when the entry has no line. */
int engine_trace_jent(const struct eng_run *run, const struct eng_jent *e, char *out, size_t n);
int engine_trace_fx(const struct eng_run *run, const struct eng_effect *e, char *out, size_t n);

#endif
