/* approval.h — approval steps: the rules of a human decision (shared by the
 * engine process and the deciding CLI process) and the executor that waits
 * for decisions on the runtime's loop.
 *
 * The record lives in the store's decisions table, per step instance:
 *   - "requested": written by the executor when the step starts waiting; its
 *     fields hold the REQUEST as the person sees it (rendered message,
 *     approvers, min_approvals, fields with rendered defaults, timeout,
 *     on_timeout, escalation, allow_self_approval, waiting_since, deadline,
 *     attempt). Decisions count from the latest "requested" row on.
 *   - "approve" / "reject": written by `weft approve` / `weft reject` once
 *     the person is allowed (fields: the edited fields);
 *   - "refused": a decision that was not allowed (fields: {reason});
 *   - "timeout": the executor applied on_timeout.
 * Every row is written together with an audit entry (approval.requested,
 * approval.decided, approval.refused, approval.timeout) in one transaction.
 *
 * The executor never trusts the inbox for the decision itself: an inbox
 * request only wakes it up (approval_poke) and it re-reads the decisions.
 * So decisions made while no engine ran are applied when the run resumes
 * (the executor starts again with resumed=true and reads them).
 *
 * Ownership: json_t passed in are borrowed; struct appr_state owns its
 * references (appr_state_clear). */
#ifndef WEFT_EXEC_APPROVAL_H
#define WEFT_EXEC_APPROVAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "store/store.h"
#include "util/users.h"

#define APPR_SYSTEM_USER "weft" /* the user of rows written by the engine */

/* The state of one waiting period of an approval instance. */
struct appr_state {
  json_t *request;      /* the latest "requested" row's request, NULL if none */
  int64_t request_id;   /* its decision id */
  json_t *approved_by;  /* array of distinct users, in order */
  json_t *edits;        /* object: fields edited by approvers, later wins */
  json_t *comments;     /* array of {by, decision, comment, at} */
  char *rejected_by;    /* set when someone rejected */
  char *reject_comment;
  bool timed_out;
  int64_t decided_at;   /* the last accepted decision (ms) */
};

/* Builds the request object from the rendered approval body (eng_effect
 * body). waiting_since is when the step started waiting. NULL on a bad body
 * with *err (malloc'd).
 *
 * Agent tools with `approval: true` use the same mechanism: the agent
 * executor calls approval_start() with a body {message, approvers?, timeout?,
 * tool: NAME, args: {...}} for its (running) agent step; the request then
 * carries "tool" and "args", `weft approvals` lists it and `weft approve`
 * accepts a decision on an agent step while such a request is open. */
json_t *appr_request_new(const json_t *body, int64_t waiting_since, unsigned attempt,
                         char **err);
/* Reads the decisions of (run, step, index) into st. */
int appr_state_load(struct store *s, const char *run_id, const char *step, int index,
                    struct appr_state *st);
void appr_state_clear(struct appr_state *st);
/* min_approvals of the request (>= 1). */
int appr_min(const json_t *request);
/* true once the quorum is reached, someone rejected, or on_timeout applied. */
bool appr_decided(const struct appr_state *st);
/* Who may decide now: approvers plus the escalations whose delay has passed
 * (a new array). An empty array means anyone. */
json_t *appr_effective_approvers(const json_t *request, int64_t now);
/* Checks whether user may make decision ("approve"/"reject") now. 0 when
 * allowed; otherwise WEFT_EDENIED (not allowed) or WEFT_ESTATE (already
 * decided) with *why (malloc'd) saying why, for the person and the audit. */
int appr_may_decide(const struct appr_state *st, const struct users *u, const char *user,
                    const char *started_by, const char *decision, int64_t now, char **why);
/* The fields values: the request's defaults overlaid with the edits (new). */
json_t *appr_field_values(const struct appr_state *st);
/* Parses `KEY=VALUE` for the request's form into *key / *val (new refs).
 * VALUE is JSON when it parses, else a string; it must have the declared
 * type. WEFT_EINVAL with *why (malloc'd). */
int appr_parse_field(const json_t *request, const char *kv, char **key, json_t **val,
                     char **why);
/* Outputs of an approved step (new object). */
json_t *appr_outputs(const struct appr_state *st, const char *decision);
/* SHA-256 hex of the canonical request (what the person saw). */
void appr_request_hash(const json_t *request, char out[SHA256_HEX_LEN + 1]);

/* ---- the executor ------------------------------------------------------- */

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
};

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
