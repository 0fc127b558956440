/* priv.h — the engine's private data structures, shared by the files of src/engine/.
 *
 * Units (steps and for_each instances) live in one struct of arrays, indexed
 * by a 32-bit unit id: ids 0..n_steps-1 are the steps themselves (for a
 * for_each step: the aggregate), instances are appended in ranges when a
 * for_each expands. No malloc per unit. Per-step bookkeeping (struct
 * eng_step) is one fixed struct per step. Everything is owned by the run;
 * engine_free() releases it. Nothing here is visible outside src/engine/. */
#ifndef WEFT_ENGINE_PRIV_H
#define WEFT_ENGINE_PRIV_H

#include "engine/engine.h"
#include "expr/expr.h"
#include "util/buf.h"

#define ENG_MAX_UNITS (WF_MAX_STEPS + 8u * WF_MAX_FOR_EACH)
#define ENG_MAX_FX (64u << 20)   /* effects + journal entries per call */
#define ENG_ARENA_CHUNK (1u << 20)
#define ENG_ARENA_MAX_CHUNKS 4096u

/* unit flags */
enum {
  UF_EXEC = 1,      /* an attempt is in flight with an executor */
  UF_SLOT = 2,      /* holds one of the run's max_parallel slots */
  UF_TIMER = 4,     /* a timer for this unit is armed (timeout/backoff/delay) */
  UF_QUEUED = 8,    /* in its step's start queue */
  UF_KILL_SHIFT = 4, /* 2 bits: enum eng_kill_reason of a kill in flight */
  UF_RESV = 64,     /* reserved (engine_reserve): attempts + 1 may start early */
  UF_RESV_DUR = 128, /* ... and that reservation is committed (engine_durable) */
};
#define UF_KILL_MASK (3u << UF_KILL_SHIFT)

struct eng_units {
  uint32_t n, cap;
  uint8_t *status;      /* enum eng_status */
  uint8_t *flags;       /* UF_* */
  uint32_t *attempts;   /* attempts started so far (saturating: ENG_MAX_ATTEMPTS) */
  uint32_t *round0;     /* attempts when this retry round began (repeat/retry) */
  uint32_t *iteration;  /* repeat: 1-based iteration; 0 without repeat */
  uint32_t *step;       /* owning step */
  int32_t *exit_code;   /* ENG_NO_EXIT when none */
  uint32_t *err;        /* 1-based index into run->errs, 0 = none */
  uint32_t *out;        /* instance outputs: arena ref, 0 = none */
  int64_t *started_at, *finished_at, *due_at;
};

/* Output arena: compact JSON texts in 1 MiB chunks that never move, so
 * pointers handed out in the journal stay valid. A ref is chunk << 20 | pos. */
struct eng_arena {
  char **chunks;
  uint32_t n, cap;
  uint32_t used;        /* bytes used in the last chunk */
  size_t bytes;
};

struct eng_step {
  const struct wf_step *ws;
  uint32_t waiting_needs; /* needs not yet terminal (readiness counter) */
  uint32_t first, n;      /* for_each instance range (first == 0: not expanded) */
  uint32_t next;          /* next never-started instance */
  uint32_t active;        /* units in flight (for the step's max_parallel) */
  uint32_t done, failed, cancelled; /* terminal instances; failed, cancelled ones */
  uint32_t first_failed;  /* index of the first failed instance */
  uint32_t *q;            /* start queue (unit ids) */
  uint32_t qh, qn, qcap;  /* head, end, capacity */
  uint32_t attempt_base;  /* for re-expansion after engine_retry */
  bool is_fe, expanded, in_runq, in_ready;
  bool kept;             /* engine_retry kept the instances: resume, don't re-expand */
  bool skip_failed;       /* skipped because a need failed (not by a false `if` alone) */
  uint8_t body_exprs;     /* 0 not yet known, 1 the body has no ${{ }}, 2 it has some */
  uint8_t start_exprs;    /* the same for all a start renders (body, env, cwd) */
  json_t *items;          /* for_each array, or NULL for an integer count */
  json_t *outputs;        /* plain step outputs; for_each: cached array */
  json_t *view;           /* cached {status, outputs, ...} for contexts */
  /* join.c: partial joins and withdrawal */
  uint32_t join_ok, join_bad; /* listed needs ended good / not good */
  bool join_fired;        /* the partial join was decided (pushed ready once) */
  bool join_frozen;       /* join_env and needs_snap hold the moment it fired */
  bool withdrawn;         /* withdrawn by a partial join's cancel_rest or an end step */
  struct expr_env join_env;
  json_t *needs_snap;     /* `.needs` as it was when the join fired */
  /* withdraw.c: who withdrew it (0: a partial join or an end step; step + 1:
   * that cancel step; ENG_BY_REQUEST: `weft cancel --step`), and a requested
   * withdrawal recovery still owes (engine_restore_withdraw) */
  uint32_t cancel_by;
  bool withdraw_owed;
};
#define ENG_BY_REQUEST UINT32_MAX

enum eng_stop { STOP_NONE = 0, STOP_CANCEL, STOP_FAILFAST, STOP_TIMEOUT };

struct eng_run {
  const struct wf *wf;
  char *run_id, *trigger;
  json_t *trigger_obj; /* `.trigger`; NULL until first built (ctx.c) */
  json_t *inputs, *secrets, *event;
  enum eng_run_status status;
  int64_t started_at, finished_at;
  json_t *outputs, *error;
  int max_parallel, slots;
  uint64_t rng;

  struct eng_units u;
  struct eng_step *st;
  uint32_t n_steps;

  json_t **errs;          /* error objects referenced by units */
  uint32_t n_errs, cap_errs;
  struct eng_arena arena;

  uint32_t *ready;        /* steps whose needs are all terminal, to evaluate */
  uint32_t rd_h, rd_n;    /* ring of n_steps */
  uint32_t *runq;         /* steps with units waiting for a global slot */
  uint32_t rq_h, rq_n;    /* ring of n_steps */

  uint32_t main_done, fin_done; /* terminal step-level units per phase */
  bool finally_phase;
  int stop;               /* enum eng_stop: first reason */
  bool stop_in_finally;   /* a stop also applied to the finally steps */
  bool cancel_requested, timed_out;
  uint32_t unhandled_main, unhandled_fin; /* failed without continue_on_error */
  uint32_t first_failed_step;
  enum eng_run_status tentative; /* .run.status seen by finally steps */
  uint32_t leaf_count[ENG_ST__N]; /* plain steps + instances by status */

  uint64_t gen;           /* bumped by every step-level or run transition */
  json_t *ctx_cache;      /* the last instance context, reused while gen holds */
  uint32_t ctx_step;
  uint64_t ctx_gen;

  struct eng_resv { uint32_t unit, attempt; uint64_t tag; } *resv; /* not yet durable */
  uint32_t n_resv, cap_resv;
  uint32_t n_resv_dur;    /* units with UF_RESV_DUR */

  uint32_t end_step;      /* the end step that ran (join.c), WF_NONE */
  struct eng_effects *fx; /* of the current call */
  eng_spill_fn spill;     /* engine_set_spill, or NULL */
  void *spill_ud;
  int64_t now;
};

/* ---- shared by the scheduling files (sched.c, outcome.c, engine.c) ---- */

struct ctx_extra;

enum { AGAIN = 1 }; /* eng_unit_ok: run the next repeat iteration of a set/no-op now */

static inline bool eng_kind_instant(enum wf_kind k) { return k == WF_NOOP || k == WF_SET; }
static inline bool eng_kind_waits(enum wf_kind k) { return k == WF_APPROVAL || k == WF_WAIT; }
/* run/command/http/agent/workflow attempts hold one of the run's slots */
static inline bool eng_kind_slot(enum wf_kind k)
{
  return !eng_kind_instant(k) && !eng_kind_waits(k);
}
static inline bool eng_stop_applies(const struct eng_run *r, uint32_t s)
{
  return r->wf->steps[s].is_finally ? r->stop_in_finally : r->stop != STOP_NONE;
}

/* a unit's reservation is spent (started, skipped, cancelled) */
static inline void eng_resv_clear(struct eng_run *r, uint32_t u)
{
  if (r->u.flags[u] & UF_RESV_DUR)
    r->n_resv_dur--;
  r->u.flags[u] &= (uint8_t)~(UF_RESV | UF_RESV_DUR);
}

static inline bool eng_step_has_work(const struct eng_step *st)
{
  return st->qh < st->qn || (st->expanded && st->next < st->n);
}

static inline int eng_step_limit(const struct eng_run *r, uint32_t s)
{
  int l = r->wf->steps[s].max_parallel;
  return l > 0 ? l : r->max_parallel;
}

/* sched.c: queues, slots, starting units, evaluating ready steps */
void eng_runq_push(struct eng_run *r, uint32_t s);
int eng_step_fill(struct eng_run *r, uint32_t s);
int eng_pump(struct eng_run *r);
int eng_start_unit(struct eng_run *r, uint32_t u);
int eng_eval_step(struct eng_run *r, uint32_t s);

/* outcome.c: attempt outcomes, retry, repeat, for_each aggregate, stops, run end */
int eng_set_error(struct eng_run *r, uint32_t u, json_t *err); /* consumes err */
int eng_set_outputs(struct eng_run *r, uint32_t u, const json_t *outs);
int eng_cancel_unit(struct eng_run *r, uint32_t u);
json_t *eng_stop_error(const struct eng_run *r); /* new: cancelled, or timeout */
int eng_eval_cond(struct eng_run *r, uint32_t s, uint32_t u, const json_t *tmpl,
                  const struct ctx_extra *x, bool *truth, char **err);
int eng_fail_expr(struct eng_run *r, uint32_t u, const char *what, char *msg);
int eng_unit_ok(struct eng_run *r, uint32_t u, const json_t *outs);
int eng_unit_finished(struct eng_run *r, uint32_t u);
int eng_step_finished(struct eng_run *r, uint32_t s);
int eng_stop_phase(struct eng_run *r, int reason);

/* state.c */
int step_set_state(struct eng_run *r, uint32_t u, enum eng_status to);
int run_set_state(struct eng_run *r, enum eng_run_status to);
int eng_journal(struct eng_run *r, const struct eng_jent *e);
struct eng_effect *eng_fx_push(struct eng_run *r, enum eng_fx_type t);

/* check.c: recomputes the counters; only ever called inside assert() */
bool eng_invariants(const struct eng_run *r);

/* units.c */
int units_reserve(struct eng_units *u, uint32_t want);
uint32_t units_add(struct eng_units *u, uint32_t n, uint32_t step); /* returns first id */
void units_free(struct eng_units *u);
int arena_put(struct eng_arena *a, const char *s, size_t len, uint32_t *ref);
const char *arena_get(const struct eng_arena *a, uint32_t ref);
void arena_free(struct eng_arena *a);
int eng_err_add(struct eng_run *r, json_t *err, uint32_t *idx); /* consumes err */
json_t *eng_err_get(const struct eng_run *r, uint32_t u);
json_t *eng_err_make(enum eng_err_kind k, const char *msg, int exit_code, int sig, int http);
int sq_push(struct eng_step *s, uint32_t unit);
bool unit_is_leaf(const struct eng_run *r, uint32_t u);
int32_t unit_index(const struct eng_run *r, uint32_t u);

/* ctx.c */
struct ctx_extra {
  const json_t *error;      /* retry.if */
  const json_t *outputs;    /* repeat.until */
  uint32_t iteration;
  bool run_outputs;         /* context for the run's outputs: every step */
};
int ctx_build(struct eng_run *r, uint32_t step, uint32_t unit, const struct ctx_extra *x,
              json_t **out);
void ctx_env(struct eng_run *r, uint32_t step, struct expr_env *env);
void ctx_invalidate(struct eng_run *r, uint32_t step);
json_t *ctx_step_outputs(struct eng_run *r, uint32_t step); /* borrowed */
int ctx_render_start(struct eng_run *r, uint32_t step, uint32_t unit, const json_t *ctx,
                     struct eng_effect *e, char **err);

/* retry.c */
int64_t retry_delay(struct eng_run *r, const struct wf_retry *rt, uint32_t attempt_in_round);
uint64_t retry_rand(struct eng_run *r);

/* engine.c (shared with restore.c) */
int eng_settle(struct eng_run *r);
int eng_unit_enqueue(struct eng_run *r, uint32_t u);
int eng_arm(struct eng_run *r, uint32_t u, int tkind, int64_t at);
void eng_disarm(struct eng_run *r, uint32_t u);
int eng_ready_push(struct eng_run *r, uint32_t step);
int eng_alloc_run(const struct wf *wf, const struct eng_config *cfg, struct eng_run **out);
int eng_fail_unit(struct eng_run *r, uint32_t u, json_t *err, bool retryable);
int eng_fe_done(struct eng_run *r, uint32_t s);
int eng_expand(struct eng_run *r, uint32_t s, uint32_t n, json_t *items);

/* join.c: partial joins, withdrawal, end: */
bool eng_need_good(const struct eng_run *r, uint32_t n);
bool eng_is_withdrawn(const struct eng_run *r, uint32_t s);
int eng_join_need_done(struct eng_run *r, uint32_t join, uint32_t need);
bool eng_join_ready(const struct eng_run *r, uint32_t s);
int eng_withdraw(struct eng_run *r, uint32_t s);
json_t *eng_unit_stop_error(const struct eng_run *r, uint32_t u); /* new */
int eng_end_step(struct eng_run *r, uint32_t u);
void eng_flow_recount(struct eng_run *r);
int eng_flow_resume(struct eng_run *r);
/* withdraw.c: `cancel:` steps and withdrawal on request */
int eng_cancel_step(struct eng_run *r, uint32_t u);
json_t *eng_cancel_error(const struct eng_run *r, uint32_t s); /* new, or NULL: not ours */
int eng_cancel_resume(struct eng_run *r);
/* outcome.c */
int eng_stop_step(struct eng_run *r, uint32_t s);
enum eng_run_status eng_compute_status(const struct eng_run *r);
/* ctx.c */
json_t *ctx_step_view(struct eng_run *r, uint32_t s); /* borrowed */

enum { TK_ATTEMPT = 1, TK_BACKOFF, TK_DELAY, TK_RUN };
uint64_t eng_token(int kind, uint32_t unit, uint32_t attempts);

#endif
