/* approval.h — the rules of a human decision (approval steps, and agent
 * tools with `approval: true`), pure: no store, no loop, no clock but the
 * `now` passed in. The deciding side (ops/decide.c, ops/approvals.c: the CLI
 * and the server alike) and the waiting side (runtime/svc_approval.c) both
 * use them.
 *
 * The record lives in the store's decisions table, per step instance:
 *   - "requested": written by the runtime's approval service when the step
 *     starts waiting; its fields hold the REQUEST as the person sees it
 *     (rendered message, approvers, min_approvals, fields with rendered
 *     defaults, timeout, on_timeout, escalation, allow_self_approval,
 *     waiting_since, deadline, attempt). Decisions count from the latest
 *     "requested" row on.
 *   - "approve" / "reject": written by ops_decide once the person is allowed
 *     (fields: the edited fields);
 *   - "refused": a decision that was not allowed (fields: {reason});
 *   - "timeout": the approval service applied on_timeout.
 *
 * Ownership: json_t passed in are borrowed; struct appr_state owns its
 * references (appr_state_clear). */
#ifndef WEFT_ENGINE_APPROVAL_H
#define WEFT_ENGINE_APPROVAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/sha256.h"
#include "util/users.h"

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
/* The state from the decision rows of one step instance, in id order:
 * appr_state_init, then appr_state_add for each row (a "requested" row with
 * a request starts a new waiting period: decisions count from the latest one
 * on). runtime/svc_approval.h appr_state_load does this from the store. */
void appr_state_init(struct appr_state *st);
void appr_state_add(struct appr_state *st, int64_t id, const char *decision, const char *user,
                    const char *fields, const char *comment, int64_t at);
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

#endif
