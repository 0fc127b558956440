/* ops.h — the operations layer: every action a person or a program can
 * take on a weft home is one ops_* function, called alike by the CLI and the
 * HTTP API (and later the triggers). Each one
 *   1. checks the actor's role against the ONE table of operations
 *      (ops_rules: operation name -> minimum role; an operation without a
 *      row is denied),
 *   2. applies the rules of the operation,
 *   3. writes its audit entry in the same transaction as its change,
 *   4. returns the JSON that `--json` and the API both print.
 * Failures are a kind of ops/err.h with a message for people.
 *
 * Layering: cli/ and server/ call ops/; ops/ calls runtime/, store/, audit/,
 * engine/, spec/ and util/, never cli/ or server/. docs/internals/ops.md.
 *
 * Ownership: the ctx's strings and store are borrowed from the caller for
 * the duration of a call; returned json_t are new references. */
#ifndef WEFT_OPS_OPS_H
#define WEFT_OPS_OPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ops/err.h"
#include "spec/model.h"
#include "store/store.h"
#include "util/role.h"
#include "util/users.h"

struct ops_ctx {
  struct store *store;     /* open store of the home */
  const char *home;        /* the weft home directory */
  const char *user;        /* the acting weft user (NULL: not needed by read ops) */
  const char *asserted_by; /* with `--as`: the real user who asserted `user`; else NULL */
  enum role role;          /* the actor's role (ops_local_role, or the token's user's) */
  const char *token_id;    /* through the API: the token's id (audited); else NULL */
};

/* One row of the role table. */
struct ops_rule {
  const char *op;
  enum role min;
};

extern const struct ops_rule ops_rules[];
extern const size_t ops_rules_count;

/* The minimum role of op, or -1 when the table has no row for it. */
int ops_min_role(const char *op);
/* 0 when c->role may perform op; else OPS_E_FORBIDDEN with e->msg saying
 * which role op needs (or that op is unknown: deny by default). */
enum ops_err ops_authorize(const struct ops_ctx *c, const char *op, struct ops_error *e);

/* The role of a local (no server) actor, SERVER.md §4: the owner of the home
 * directory (the effective uid owning it) is admin; else the "role" users.json
 * gives user; else viewer. A "role" that is not viewer, operator or admin is
 * OPS_E_UNPROCESSABLE (users.json is wrong: say so rather than guess). */
enum ops_err ops_local_role(const char *home, const struct users *u, const char *user, enum role *out,
                            struct ops_error *e);

/* ---- runs (runs.c) ---------------------------------------------------- */

/* Building blocks without a role check, for callers that already hold the
 * run (`weft run --json`, `weft status --watch`). */
/* A run by id or unique prefix: NOT_FOUND, BAD_REQUEST (ambiguous), INTERNAL. */
enum ops_err ops_find_run(struct store *s, const char *id_or_prefix, struct store_run *out, struct ops_error *e);
/* The definition a run started with (NULL when it cannot be loaded). */
struct wf *ops_load_definition(struct store *s, const struct store_run *r);
/* The CLI.md status object. A for_each step's `instances` and `outputs`
 * hold at most OPS_INSTANCES_SHOWN instances (failed ones first, then by
 * index; `instances_truncated`) unless all_instances; `instance_counts`
 * always counts them all. Each instance object also has its "index". */
#define OPS_INSTANCES_SHOWN 1000
json_t *ops_run_json(struct store *s, const struct store_run *r, bool all_instances);

/* get_run (viewer): *out = ops_run_json of the run id_or_prefix names. */
enum ops_err ops_get_run(const struct ops_ctx *c, const char *id_or_prefix, bool all_instances, json_t **out,
                         struct ops_error *e);
/* list_runs (viewer): *out = [{id, workflow, status, trigger?, started_at,
 * finished_at}] newest first, as `weft runs --json` prints it (the API wraps
 * it as {"runs": [...], "next_cursor": ...}). */
enum ops_err ops_list_runs(const struct ops_ctx *c, const struct store_run_filter *f, json_t **out,
                           struct ops_error *e);

/* ---- approvals (approvals.c) -------------------------------------------- */

/* list_approvals (viewer): *out = the decisions waiting, as `weft approvals
 * --json` prints them: [{run, step, message, approvers, min_approvals,
 * approved_by, fields, waiting_since, deadline, index, on_timeout, tool?,
 * args?}] (agent tool calls have tool and args). */
enum ops_err ops_list_approvals(const struct ops_ctx *c, json_t **out, struct ops_error *e);

/* ---- deciding (decide.c) ---------------------------------------------- */

struct ops_decision {
  const char *run;       /* id or unique prefix */
  const char *step;
  int index;             /* the instance of a for_each step; STORE_NO_INDEX for a plain step */
  const char *decision;  /* "approve" or "reject" */
  const char *comment;   /* NULL: none */
  const char *const *fields; /* "KEY=VALUE" edits of the form (approve only; VALUE is JSON
                              * for non-string types, as `--field`) */
  size_t nfields;
};

/* approve / reject (viewer; the step's approvers rule decides, with
 * separation of duties and quorum, engine/approval.c). c->user decides
 * (c->asserted_by with --as). Writes the decision (or the refusal), its
 * audit entry and the engine's wake-up in one transaction. *out =
 * {run, step, index, decision, by, asserted_by, approvals, min_approvals,
 * executing} (executing: a live engine applies it now; else at `weft
 * resume`). A refusal is recorded and returned as FORBIDDEN (not allowed)
 * or CONFLICT (not waiting, already decided); NOT_FOUND: no run or step;
 * BAD_REQUEST with e->usage: the fields or the index are wrong. */
enum ops_err ops_decide(const struct ops_ctx *c, const struct ops_decision *d, json_t **out, struct ops_error *e);

/* ---- acting on runs (runctl.c), events (events.c) ----------------------- */

/* Adds to an audit entry's detail who asserted the actor (--as) and which
 * API token acted, when there are. */
void ops_audit_actor(const struct ops_ctx *c, json_t *detail);
/* succeeded, failed or cancelled */
bool ops_status_terminal(const char *status);

/* cancel_run (operator): posts the cancel request for the owning engine and
 * its cancel.requested audit entry in one transaction. *out = {run, status,
 * executing}: status when asked; executing false means it takes effect at
 * the next `weft resume`. CONFLICT when the run already ended. */
enum ops_err ops_cancel_run(const struct ops_ctx *c, const char *id_or_prefix, json_t **out, struct ops_error *e);

/* [A-Za-z0-9][A-Za-z0-9_.:-]{0,127} */
bool ops_event_name_ok(const char *name);
/* send_event (operator): the event (data NULL: {}) for every engine here
 * to deliver, and its event.sent audit entry, in one transaction.
 * *out = {id, name} (id: the inbox row). BAD_REQUEST (e->usage) for a bad
 * name. */
enum ops_err ops_send_event(const struct ops_ctx *c, const char *name, const json_t *data, json_t **out,
                            struct ops_error *e);

/* ---- the audit log (audit_ops.c) ---------------------------------------- */

struct audit_checkpoint;
/* audit_verify (viewer): the chain, the store against it, and the
 * checkpoints cps (read by the caller, audit/checkpoint.h). *out =
 * {ok: true, entries, first_bad: null, head, checkpoints} or {ok: false,
 * entries: 0, first_bad: SEQ or null (the store has what the log lacks),
 * message}. A broken log is ok:false, not a failure; INTERNAL when the store
 * cannot be read. */
enum ops_err ops_audit_verify(const struct ops_ctx *c, const struct audit_checkpoint *cps, size_t ncps, json_t **out,
                              struct ops_error *e);
/* audit_export (viewer): the entries (of the run id_or_prefix names, or all
 * with NULL) as JSON lines to f (audit_export of audit/audit.h). */
enum ops_err ops_audit_export(const struct ops_ctx *c, const char *run, FILE *f, struct ops_error *e);

/* ---- prune (prune.c) ------------------------------------------------------ */

/* prune (admin): deletes the runs (top-level with their sub-workflow runs)
 * that ended more than older_than_ms ago (age: the same as the user wrote
 * it, recorded), one transaction per tree with a run.pruned audit entry per
 * run, then their logs and workspaces; with dry, nothing. *out = {dry_run,
 * trees: [{run, workflow, status, finished_at, sub_runs} | {run, kept:
 * REASON}], runs, top_level}, also on failure (what was done before it). */
enum ops_err ops_prune(const struct ops_ctx *c, int64_t older_than_ms, const char *age, bool dry, json_t **out,
                       struct ops_error *e);

#endif
