/* subflow.h — the executor of `workflow: {file: path.yaml, inputs: {...}}`
 * steps: sub-workflows.
 *
 * The child is its own run (struct store_run parent_id/parent_step/
 * parent_index name the parent's step instance), executed by the same
 * runtime in the same process and committed in the same ticks. The file is
 * relative to the parent's file; `inputs` (already rendered by the engine)
 * are resolved against the child's declarations like `weft run -i`. When the
 * child ends, the parent's attempt ends: succeeded with the child's outputs
 * as the step's outputs, or failed (the child's error message, naming the
 * child run). A kill of the parent's attempt (cancel, fail_fast, the step's
 * timeout) cancels the child. Runs nest at most SUBFLOW_MAX_DEPTH deep; a
 * deeper one fails the step with kind "validation".
 *
 * Recovery: a workflow step that was running is re-attempted on resume; its
 * START first looks for a child run of that step instance that has not ended
 * and adopts it (taking it over with rt_resume() when `weft resume RUN` did
 * not load it already), so the child goes on instead of starting again.
 *
 * Ownership: runtime internals (runtime/rt_int.h); the struct subflow
 * belongs to the parent's attempt (a->sub) and is freed with it. */
#ifndef WEFT_EXEC_SUBFLOW_H
#define WEFT_EXEC_SUBFLOW_H

#include <stdbool.h>

#define SUBFLOW_MAX_DEPTH 16

struct runtime;
struct rt_run;
struct rt_attempt;
struct eng_effect;

void subflow_start(struct runtime *rt, struct rt_run *run, const struct eng_effect *e);
/* The child run ended (its RUN_FINISHED effect): ends the parent's attempt. */
void subflow_child_finished(struct runtime *rt, struct rt_run *child);
/* Cancels the child of the parent's attempt a (timeout: the step's timeout). */
void subflow_kill(struct runtime *rt, struct rt_attempt *a, bool timeout);

#endif
