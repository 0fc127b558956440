/* svc_approval.h — the runtime's approval service: waits on the loop for
 * the decisions of an approval step (or of an agent's tool call with
 * `approval: true`) and for its timeout, and ends the attempt with the
 * outcome (runtime/executor.h). The rules it applies are the pure
 * engine/approval.h.
 *
 * Its records: the "requested" row when the step starts waiting and the
 * "timeout" row when on_timeout applies, each with its audit entry
 * (approval.requested, approval.timeout). The service does not write them:
 * it hands each record to ctx.post, which in the runtime posts it to the
 * engine through the executor interface (rt_attempt_record); the engine
 * journals it (ENG_J_RECORD) with the run's transitions, the runtime writes
 * it with approval_record_write in that commit -- the one committed place --
 * and then wakes the attempt (executor resume -> approval_poke), which reads
 * it back. A timeout record is written only if no decision got in first
 * (checked in that write transaction), and its outcome comes from reading
 * the store afterwards, so a decision and on_timeout never both apply.
 * Without ctx.post (tests without an engine) a record is written at once in
 * a transaction of its own. It never trusts the inbox for the decision itself: an inbox
 * request only wakes it up (approval_poke, the executor's resume) and it
 * re-reads the decisions. So decisions made while no engine ran are applied
 * when the run resumes (the service starts again with resumed=true and
 * reads them).
 *
 * Ownership: json_t passed in are borrowed. */
#ifndef WEFT_RUNTIME_SVC_APPROVAL_H
#define WEFT_RUNTIME_SVC_APPROVAL_H

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "engine/approval.h"
#include "store/store.h"

#define APPR_SYSTEM_USER "weft" /* the user of rows written by the engine */

/* Reads the decisions of (run, step, index) into st (appr_state_add over the
 * store's rows). */
int appr_state_load(struct store *s, const char *run_id, const char *step, int index,
                    struct appr_state *st);

struct approval;

/* Called once when the step is decided, timed out or stopped; outputs is
 * borrowed for the call; kind/message are set when !ok. The approval is
 * freed right after the callback returns. */
typedef void (*approval_done_fn)(void *ud, bool ok, const json_t *outputs, const char *kind,
                                 const char *message);

struct approval_ctx {
  uv_loop_t *loop;
  struct store *store;   /* borrowed; outlives the approval */
  const char *run_id;
  const char *step;
  int index;             /* STORE_NO_INDEX for a plain step */
  unsigned attempt;
  const json_t *body;    /* the rendered approval body */
  bool resumed;          /* after a restart: keep the recorded request (of the same
                            attempt; for a tool call, whatever its attempt) */
  /* Where its records go (see the top); NULL: written at once. The record
   * is borrowed for the call. */
  void (*post)(void *post_ud, const json_t *record);
  void *post_ud;
};

/* Writes one record of the service (the decision row and its audit entry,
 * audited at audit_at) into the store's open transaction; a "timeout" record
 * is left out when a decision got in first. The runtime's journal writer
 * calls it for ENG_J_RECORD. WEFT_EINVAL for a record that is not the
 * service's. */
int approval_record_write(struct store *s, const char *run_id, const char *step, int index,
                          int64_t audit_at, const json_t *record);

/* Records the request (unless resumed and already recorded) and arms the
 * timeout; decisions already made are applied on the next loop turn. done is
 * never called from inside approval_start (a bad body or a store failure is
 * reported on the next loop turn too). Never NULL (aborts when out of
 * memory: a lost attempt would hang the run). */
struct approval *approval_start(const struct approval_ctx *c, approval_done_fn done, void *ud);
/* Re-reads the decisions (an approve/reject request arrived). */
void approval_poke(struct approval *a);
/* Stops waiting (cancel, the step's own timeout): done gets a failure. */
void approval_stop(struct approval *a, const char *kind, const char *message);

#endif
