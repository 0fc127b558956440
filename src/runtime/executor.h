/* executor.h — the one interface between the runtime and whatever performs a
 * step's effect (ARCHITECTURE rule 6: backends behind a table of functions).
 *
 * The engine's START effect for a step of kind K goes to rt_executor(rt, K)->start,
 * a kill to the attempt's ops->kill, a wake-up (a decision was posted, a
 * child run ended) to ops->resume, and the runtime's 200 ms poll to every
 * ops->poll. Whatever the executor does, the attempt's result comes back
 * through ONE callback, rt_attempt_end() (or rt_start_failed() when the start
 * made no attempt), which queues it for the engine; the loop feeds the queue
 * to the engine after the current effects are done, never re-entrantly.
 * An executor's own records (an approval's request) go the same way,
 * through rt_attempt_record(), and are written in the engine's commit.
 * Executors never write run state and never call the engine.
 *
 * The table (rt_exec.c), by step kind:
 *   run, command  rt_ex_process    a process group (exec/proc.h)      ex_proc.c
 *   http          rt_ex_http       one HTTP request (exec/http.h)     rt_services.c
 *   agent         rt_ex_agent      the model's tool loop (exec/agent.h) rt_services.c
 *   approval      rt_svc_approval  decisions of people                svc_approval.c
 *   wait          rt_svc_wait      a time or an event                 svc_wait.c
 *   workflow      rt_svc_subflow   a child run of the same runtime    svc_subflow.c
 * A remote worker (steps routed elsewhere) is one more struct executor_ops.
 *
 * Ownership: an attempt (struct rt_attempt, rt_int.h) is made by the
 * executor with rt_attempt_add (linked: in flight) or rt_attempt_new (not yet
 * linked: rt_attempt_link once the effect is under way) and freed by
 * rt_attempt_end, after ops->release freed what the executor hung on it. */
#ifndef WEFT_RUNTIME_EXECUTOR_H
#define WEFT_RUNTIME_EXECUTOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "spec/model.h"

#define EXECUTOR_OPS_VERSION 1

struct runtime;
struct rt_run;
struct rt_attempt;
struct eng_effect;

/* How an attempt ended. Strings and outputs are borrowed for the call. */
struct rt_result {
  bool ok;
  const json_t *outputs;  /* NULL: none */
  const char *kind;       /* the error kind (LANGUAGE.md §4) when !ok; NULL: "spawn" */
  const char *message;    /* when !ok */
  int exit_code;          /* -1: none */
  int signal;             /* 0: none */
  int http_status;        /* -1: none */
};

struct executor_ops {
  int version;            /* EXECUTOR_OPS_VERSION */
  const char *name;
  /* Performs START effect e of run (e->resumed: a restart takes the attempt
   * up again). Either an attempt is made that ends later through
   * rt_attempt_end, or the failure is reported at once with rt_start_failed. */
  void (*start)(struct runtime *rt, struct rt_run *run, const struct eng_effect *e);
  /* Stops attempt a (timeout: the step's own timeout; else a cancel). The
   * result still comes through rt_attempt_end, now or later. */
  void (*kill)(struct rt_attempt *a, bool timeout);
  /* What a waits for may have happened (a decision was posted, a child run
   * ended): look again. NULL: nothing to wake. */
  void (*resume)(struct rt_attempt *a);
  /* Once per poll of the runtime (200 ms) and when asked (rt_executors_poll).
   * NULL: the executor does not poll. */
  void (*poll)(struct runtime *rt);
  /* Frees what the executor hung on a, just before rt_attempt_end frees a.
   * NULL: nothing. */
  void (*release)(struct rt_attempt *a);
  /* Its attempts wait for people, time or other runs and are resumable as
   * they are: a draining server does not wait for them (rt_drain). */
  bool waits;
};

/* The executor of steps of kind k in rt; NULL when there is none. */
const struct executor_ops *rt_executor(const struct runtime *rt, enum wf_kind k);
/* The built-in one (the table in rt_exec.c), which every runtime starts with. */
const struct executor_ops *rt_executor_default(enum wf_kind k);
/* Makes x the executor of steps of kind k in rt (x NULL: none; such a step
 * fails to start with kind "validation"). Call before rt_start/rt_resume.
 * WEFT_EINVAL for an unknown kind, another version or no start/kill. */
int rt_set_executor(struct runtime *rt, enum wf_kind k, const struct executor_ops *x);
/* Calls every executor's poll once. */
void rt_executors_poll(struct runtime *rt);

/* The one way results come back: queues r for the engine, unlinks a from the
 * runtime, releases and frees it. */
void rt_attempt_end(struct rt_attempt *a, const struct rt_result *r);
/* A record of attempt a (an approval's request or timeout: svc_approval.h)
 * that must be written with the run's transitions: queued for the engine
 * like a result (ENG_EV_RECORD), journaled (ENG_J_RECORD) if a is still the
 * step's attempt in flight, written in the next commit, which comes at once;
 * once it is committed the attempt is woken (ops->resume). record is
 * borrowed (a reference is kept until then). */
void rt_attempt_record(struct rt_attempt *a, const json_t *record);
/* A start that made no attempt failed: queues the failure of e. */
void rt_start_failed(struct runtime *rt, struct rt_run *run, const struct eng_effect *e,
                     const char *kind, const char *message);
/* Wakes the attempt of (step, index) of run (ops->resume), if one is in flight. */
void rt_attempt_resume(struct runtime *rt, struct rt_run *run, uint32_t step, int32_t index);
/* Asks run to cancel (a child run of a killed sub-workflow step or agent tool):
 * the engine gets the request on the next flush. Nothing when run is finished
 * or already cancelling. */
void rt_run_cancel(struct runtime *rt, struct rt_run *run);

/* The executors (rt_exec.c's table). */
extern const struct executor_ops rt_ex_process, rt_ex_http, rt_ex_agent;
extern const struct executor_ops rt_svc_approval, rt_svc_wait, rt_svc_subflow;

#endif
