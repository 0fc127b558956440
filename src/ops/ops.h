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
#include "util/ids.h"
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
/* cancel_run with steps (operator): withdraw those main steps only and let
 * the run go on (LANGUAGE.md §3): the request for the owning engine (an
 * inbox row kind "cancel" with payload {"steps": [...]}) and its
 * withdraw.requested audit entry {by, steps} in one transaction (recovery
 * re-applies it from the audit log, runtime/rt_withdraw.c). *out = {run,
 * status, steps, executing}. NOT_FOUND: no run or no such step; BAD_REQUEST:
 * no steps, or a finally step; CONFLICT: the run or a step already ended. */
enum ops_err ops_cancel_steps(const struct ops_ctx *c, const char *id_or_prefix, const char *const *steps,
                              size_t n, json_t **out, struct ops_error *e);

/* [A-Za-z0-9][A-Za-z0-9_.:-]{0,127} */
bool ops_event_name_ok(const char *name);
/* send_event (operator): the event (data NULL: {}) for every engine here
 * to deliver, and its event.sent audit entry, in one transaction.
 * *out = {id, name, delivered_to, started} (id: the inbox row;
 * delivered_to: the `wait: {event: NAME}` steps waiting when it was sent,
 * [{run, step, index}], whose match then decides in their engine;
 * started: the runs an event trigger started, [] until triggers exist).
 * BAD_REQUEST (e->usage) for a bad name. */
enum ops_err ops_send_event(const struct ops_ctx *c, const char *name, const json_t *data, json_t **out,
                            struct ops_error *e);
/* send_event with a run (operator): the event is kept for that run until a
 * `wait: {event: NAME}` of it consumes it (ops/events_run.c); no trigger
 * fires. *out = {id, name, run, kept: true, delivered_to, started: []}.
 * NOT_FOUND: no such run; CONFLICT: the run already ended. */
enum ops_err ops_send_run_event(const struct ops_ctx *c, const char *name, const json_t *data, const char *run,
                                json_t **out, struct ops_error *e);

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

/* ---- the HTTP API's reads and commands (runlist.c, graph.c, logs.c,
 * retry.c, evidence.c, tokens_ops.c) --------------------------------------- */

#define OPS_PAGE_DEFAULT 50
#define OPS_PAGE_MAX 500

/* list_runs (viewer), one page: *out = {"runs": [the items of ops_list_runs],
 * "next_cursor": STRING|null}, newest first. f's status, workflow and
 * trigger filter; limit 0 means OPS_PAGE_DEFAULT, over OPS_PAGE_MAX is
 * BAD_REQUEST; cursor (NULL: the first page) is a next_cursor given before,
 * opaque (base64url of the last id shown; runs started since do not shift
 * later pages); one that does not decode is BAD_REQUEST. */
/* The cursor of a page ending at run id (pure): "r1." + base64url(id).
 * decode: 0 and the id (a ULID), or -1 for anything else. */
#define OPS_CURSOR_MAX 48
void ops_cursor_encode(const char *id, char out[OPS_CURSOR_MAX]);
int ops_cursor_decode(const char *cursor, char id[WEFT_ID_LEN + 1]);
enum ops_err ops_list_runs_page(const struct ops_ctx *c, const struct store_run_filter *f, size_t limit,
                                const char *cursor, json_t **out, struct ops_error *e);
/* The same, within a time window: runs created at or after since_ms and at or
 * before until_ms (each 0: no bound). Run ids are time-ordered, so this is an
 * id range and costs what a page does. */
enum ops_err ops_list_runs_window(const struct ops_ctx *c, const struct store_run_filter *f, size_t limit,
                                  const char *cursor, int64_t since_ms, int64_t until_ms, json_t **out,
                                  struct ops_error *e);

/* The layered layout of a definition's step graph (pure): layer[k] = the
 * length of the longest chain of needs from a step without needs to step k
 * (0 for those). wf must be valid (acyclic). 0, or WEFT_ENOMEM. */
int ops_graph_layers(const struct wf *wf, uint32_t *layer);
/* get_run_graph (viewer): *out = {"nodes": [{id, kind, status, layer,
 * instances}], "edges": [[from, to], ...]} in definition order; instances:
 * the number of a for_each step's instances so far, else null. */
enum ops_err ops_run_graph(const struct ops_ctx *c, const char *id_or_prefix, json_t **out, struct ops_error *e);

/* One attempt's log of one step (or for_each instance). */
struct ops_log {
  char run_id[WEFT_ID_LEN + 1];
  char *step;
  int index;    /* STORE_NO_INDEX: a plain step */
  int attempt;  /* the attempt chosen */
  char *path;   /* the log file */
};
void ops_log_clear(struct ops_log *l);
/* get_logs (viewer): the log of attempt (0: the latest) of step (index: the
 * instance of a for_each step, required there; STORE_NO_INDEX otherwise).
 * NOT_FOUND: no run, no such step, no such instance or attempt, or nothing
 * run yet; BAD_REQUEST: a for_each step without index. */
enum ops_err ops_step_log(const struct ops_ctx *c, const char *id_or_prefix, const char *step, int index,
                          int attempt, struct ops_log *out, struct ops_error *e);
/* The same choice for a run already found (no role check, no messages): the
 * log of attempt (0: the latest) of (step, index) of run_id. 0, WEFT_ENOTFOUND
 * (no such attempt, or it ran no program), or the store's error. `weft logs`
 * reads every log it shows through this. */
int ops_log_pick(struct store *s, const char *run_id, const char *step, int index, int attempt,
                 struct ops_log *out);
/* Whether the attempt of l has ended (or its run has): a follower reads
 * what is left and stops. true also when the store cannot tell. */
bool ops_log_ended(struct store *s, const struct ops_log *l);
/* Which logs `weft logs RUN [STEP]` shows. */
struct ops_log_sel {
  const char *step; /* NULL: every step */
  int index;        /* with !any_index: this instance (STORE_NO_INDEX: the plain step) */
  bool any_index;
  int attempt;      /* 0: the latest */
};
/* The chosen attempt's log (ops_log_pick) of each instance of run r that
 * sel matches, in definition order, into *out (*n of them; free with
 * ops_logs_free). With the definition wf, only steps that run programs are
 * read (a million `set` instances have no log to look for); without it
 * (definition unreadable) only sel->step. Instances with no log at that
 * attempt are left out. 0, or WEFT_ENOMEM. */
int ops_log_targets(struct store *s, const struct store_run *r, const struct wf *wf,
                    const struct ops_log_sel *sel, struct ops_log **out, size_t *n);
void ops_logs_free(struct ops_log *v, size_t n);

/* retry_run (operator): checks the run (terminal, not owned by another live
 * engine, from names a step), audits retry.requested (with the actor and
 * token) and calls exec(ud, run_id, from, &err) to execute it — rt_retry in
 * the caller's runtime, on its loop's thread (the server: through its
 * command queue). *out = the run as ops_run_json after the call.
 * CONFLICT: the run is not terminal, or a live engine owns it; NOT_FOUND:
 * no run or no step from. */
typedef int (*ops_retry_fn)(void *ud, const char *run_id, const char *from, char **err);
enum ops_err ops_retry_run(const struct ops_ctx *c, const char *id_or_prefix, const char *from, ops_retry_fn exec,
                           void *ud, json_t **out, struct ops_error *e);

/* get_evidence (viewer): the run's evidence pack, *out = {format, run (as
 * ops_run_json), definition {sha256, path, source}, inputs_sha256,
 * decisions [approval.* audit entries], agent_usage [agent.turn entries],
 * audit [every entry of the run: seq, at, kind, data, prev_hash, hash,
 * identity], chain (ops_audit_verify of the whole log: ok, entries, head)}. */
enum ops_err ops_evidence(const struct ops_ctx *c, const char *id_or_prefix, json_t **out, struct ops_error *e);

/* list_approvals for one decider: the entries of ops_list_approvals that
 * c->user may decide now (the step's approvers rule with users.json,
 * separation of duties, not yet decided by c->user). */
enum ops_err ops_list_approvals_for(const struct ops_ctx *c, json_t **out, struct ops_error *e);

/* Tokens (admin; anyone for their own: a caller below admin may create,
 * list and revoke only tokens of c->user). Audited with c->user and
 * c->token_id; no answer carries a token's hash, and only create the token.
 * create_token: *out = {id, user, name, token, created_at, expires_at};
 * expires_ms 0: never. BAD_REQUEST: a bad user or name. */
enum ops_err ops_create_token(const struct ops_ctx *c, const char *user, const char *name, int64_t expires_ms,
                              json_t **out, struct ops_error *e);
/* list_tokens: *out = [{id, user, name, created_at, expires_at, revoked_at,
 * last_used_at}] (an admin: everyone's; else c->user's). */
enum ops_err ops_list_tokens(const struct ops_ctx *c, json_t **out, struct ops_error *e);
/* revoke_token: id or unique prefix; *out = the token's metadata as it was.
 * NOT_FOUND, BAD_REQUEST (ambiguous), CONFLICT (already revoked), FORBIDDEN
 * (another user's, for a caller below admin). */
enum ops_err ops_revoke_token(const struct ops_ctx *c, const char *id_or_prefix, json_t **out, struct ops_error *e);

/* ---- deployed workflows (workflows.c, start.c) -------------------------------- */

/* A diag list as the API's "problems": ["file:line:col: message", ...]. */
json_t *ops_problems_json(const struct diag_list *d);

/* deploy_workflow (operator): validates text (len bytes; label names the
 * file in problems, NULL: "workflow.yaml") and stores it as the newest
 * version of its name (SERVER.md §2): the same content as the newest
 * version changes nothing (created false); other content, even an older
 * version's, becomes version newest + 1. path (NULL: none) is recorded
 * with the version: `workflow: {file: ...}` steps in it resolve next to it.
 * Definition, version and a workflow.deployed audit entry are one
 * transaction. *out = {name, version, hash, created, warnings?}.
 * UNPROCESSABLE when it is not valid, with *problems (when not NULL) =
 * ["file:line:col: message", ...]. */
enum ops_err ops_deploy(const struct ops_ctx *c, const char *text, size_t len, const char *label, const char *path,
                        json_t **out, json_t **problems, struct ops_error *e);
/* list_workflows (viewer): *out = [{name, version, hash, deployed_at,
 * deployed_by}], the newest version of every name, by name. */
enum ops_err ops_list_workflows(const struct ops_ctx *c, json_t **out, struct ops_error *e);
/* get_workflow (viewer): *out = {name, version, hash, deployed_at,
 * deployed_by, versions: [{version, hash, deployed_at, deployed_by}]
 * oldest first, source, description, inputs: [{name, type, required,
 * default?, description?}], triggers (as loaded), next_fires: one list per
 * trigger of its next 5 times after now_ms (schedules; [] for others)} of
 * the newest version. NOT_FOUND when name was never deployed. */
enum ops_err ops_get_workflow(const struct ops_ctx *c, const char *name, int64_t now_ms, json_t **out,
                              struct ops_error *e);
/* The same for version `version` of name (0: the newest): its source,
 * description, inputs, triggers and next fires; `versions` lists them all.
 * NOT_FOUND names the versions there are. */
enum ops_err ops_get_workflow_version(const struct ops_ctx *c, const char *name, int version, int64_t now_ms,
                                      json_t **out, struct ops_error *e);

#define OPS_IDEMPOTENCY_KEY_MAX 256

/* A start checked by ops_start_prepare, for ops_start_run. */
struct ops_start {
  struct wf *wf;   /* the newest version of the name, loaded */
  json_t *inputs;  /* resolved (defaults applied, types checked) */
  int version;
  char *key;       /* the idempotency key, or NULL */
  bool queued;     /* ops_start_run: the run waits in its concurrency group (not started) */
  bool queued_in_tx; /* ... recorded in the runtime's open transaction: answer after its commit */
};
void ops_start_clear(struct ops_start *st);

/* start_run (operator), first half, on any thread with a reading store:
 * the newest version of name, inputs (an object of typed JSON values,
 * checked like `weft run --inputs`) and input_args (["KEY=VALUE", ...],
 * read by the declared types like `weft run -i`; they win) resolved
 * against its declarations, and key (NULL: none). NOT_FOUND: never
 * deployed; BAD_REQUEST (e->usage): the shapes or the key are wrong;
 * UNPROCESSABLE with *problems: the inputs do not fit. */
enum ops_err ops_start_prepare(const struct ops_ctx *c, const char *name, const json_t *inputs,
                               const json_t *input_args, const char *key, struct ops_start *st, json_t **problems,
                               struct ops_error *e);
/* start_run, second half, on the runtime's loop thread (c->store is the
 * runtime's): with a key some run of the workflow already has, id_out gets
 * that run and *created is false; else the run is started with trigger
 * "api" and started_by c->user, pinned to the prepared version's hash
 * (st->wf is taken), and its key and a start.requested audit entry join the
 * transaction of its creation, which the runtime commits with the run's
 * first transitions: answer the caller after that commit. */
struct runtime;
enum ops_err ops_start_run(const struct ops_ctx *c, struct runtime *rt, struct ops_start *st,
                           char id_out[WEFT_ID_LEN + 1], bool *created, struct ops_error *e);

/* ---- triggers (triggers.c, schedules.c, hooks.c; SERVER.md §3) ------------- */

/* Renders tmpl (a trigger's `if`, `match` or `inputs`, registered in
 * wf->prog) over {trigger, event, run: {trigger}} of the `.trigger` object
 * trig. 0 and *out, or a failure with *err (malloc'd). */
int ops_trigger_eval(struct wf *wf, const json_t *tmpl, const json_t *trig, json_t **out, char **err);
/* Records the run trigger def (one of wf->triggers, "_index" its 1-based
 * index) asks for, in the caller's transaction or its own: a queued run
 * that no engine owns yet, its inputs (def's `inputs` rendered over trig,
 * read by the declared types), idempotency key (NULL: none), trigger data
 * (trig, plus hold: {"after": RUN} or {"group": G, "max": K}; NULL: none)
 * and a run.created audit entry. `weft server` starts it
 * (ops_trigger_pickup). CONFLICT: a run of the workflow has the key;
 * UNPROCESSABLE: the inputs do not fit. With a concurrency group full and
 * on_full: skip, nothing is recorded but a run.skipped audit entry: OPS_OK
 * with id_out "" and e->msg saying why. */
enum ops_err ops_trigger_enqueue(const struct ops_ctx *c, struct wf *wf, int version, const json_t *def,
                                 const json_t *trig, const char *key, const json_t *hold,
                                 char id_out[WEFT_ID_LEN + 1], struct ops_error *e);
/* Calls fn for every trigger of the newest version of every deployed
 * workflow (def gets "_index"); fn returns 0 to go on, > 0 to stop, < 0 for
 * a failure (returned). wf is freed after its triggers. */
int ops_trigger_each(struct store *s, int (*fn)(void *ud, struct wf *wf, int version, size_t i, json_t *def),
                     void *ud);
/* The event triggers of event name: each whose match accepts data starts a
 * run (key "event:INDEX:EVENT_ID"), in the caller's transaction.
 * *started = [{run, workflow, trigger}]; *failed = [{workflow, trigger,
 * error}] for those whose inputs did not fit. */
enum ops_err ops_event_triggers(const struct ops_ctx *c, const char *name, const json_t *data, int64_t event_id,
                                json_t **started, json_t **failed, struct ops_error *e);
/* On the server's loop: starts the queued runs no engine owns whose hold
 * allows it, oldest first (rt_resume). Returns how many started; *held:
 * how many wait for their hold. log (may be NULL) hears of a failure. */
struct runtime;
size_t ops_trigger_pickup(struct store *s, struct runtime *rt, size_t *held,
                          void (*log)(void *ud, const char *id, const char *wf, const char *err), void *ud);

/* Schedules (schedules.c). Times in seconds. sync: the schedules table
 * follows the newest deployed version of every workflow: a row per
 * schedule trigger; a row whose expression and zone did not change keeps
 * its next fire time (a new version takes over without a double fire);
 * a new or changed one starts at the first time after now; rows of
 * triggers no longer there go. */
int ops_schedules_sync(struct store *s, int64_t now, char *msg, size_t msglen);
/* fire: every row due at now fires by the planner (sched/plan.h, catch_up
 * by up_since) and its overlap rule: each scheduled time's run is enqueued
 * (key "schedule:INDEX:TIME") and the row advanced in one transaction.
 * *fired: runs recorded; *next: the earliest next fire time of any row
 * (INT64_MAX: none). log hears of problems. */
int ops_schedules_fire(struct store *s, int64_t now, int64_t up_since, size_t *fired, int64_t *next,
                       void (*log)(void *ud, const char *level, const char *msg), void *ud);
/* list_schedules (viewer): *out = [{workflow, trigger, schedule, timezone,
 * catch_up, overlap, next: [5 RFC 3339 times], last_fired, last_run}] for
 * every schedule trigger of the newest deployed versions, by workflow and
 * trigger. */
enum ops_err ops_list_schedules(const struct ops_ctx *c, int64_t now, json_t **out, struct ops_error *e);
/* backfill (operator): for the schedule triggers of workflow name (only
 * trigger, 1-based, when > 0), one queued run per scheduled time in
 * [from, to) without a run yet, with `.trigger.scheduled_for`; at most
 * max_at_once (0: no limit) of this backfill run at once. *out = {workflow,
 * times: N, started: [{run, trigger, scheduled_for}], existing: N}. */
enum ops_err ops_backfill(const struct ops_ctx *c, const char *name, const char *from, const char *to, int trigger,
                          int max_at_once, json_t **out, struct ops_error *e);

/* webhook (signature): the webhook trigger name of the newest deployed
 * versions; body (len bytes) signed in sig_header ("sha256=HEX") with the
 * trigger's secret, headers an object of the request's headers (lower-case
 * names), delivery the delivery id or NULL. *out = {"run": ID} (*status
 * 202 new, 200 a repeated delivery) or {"run": null, "reason": "if was
 * false"} (200). UNAUTHORIZED (audited as webhook.refused): a bad or
 * missing signature, and no such hook (not told apart for an
 * unauthenticated caller). */
/* A verified delivery's run, in the caller's open transaction: with key
 * (NULL: none) some run of wf already has, *existing and id_out that run;
 * else ops_trigger_enqueue (a concurrency skip: OPS_OK with id_out ""). */
enum ops_err ops_webhook_record(const struct ops_ctx *c, struct wf *wf, int version, const json_t *def,
                                const json_t *trig, const char *key, char id_out[WEFT_ID_LEN + 1], bool *existing,
                                struct ops_error *e);
/* Who records it: the same contract as ops_webhook_record, in a
 * transaction of the function's own (the server batches deliveries:
 * server/hookrec.h). */
typedef enum ops_err (*ops_hook_record_fn)(void *ud, const struct ops_ctx *c, struct wf *wf, int version,
                                           const json_t *def, const json_t *trig, const char *key,
                                           char id_out[WEFT_ID_LEN + 1], bool *existing, struct ops_error *e);
/* Drops the cache of which workflow has which hook (a deploy happened). */
void ops_hooks_invalidate(void);
enum ops_err ops_webhook(const struct ops_ctx *c, const char *name, const char *body, size_t len,
                         const char *sig_header, const json_t *headers, const char *delivery, const char *peer,
                         json_t **out, unsigned *status, struct ops_error *e);
/* ops_webhook with the run recorded by record(rud, ...) (NULL: one
 * transaction here per delivery). */
enum ops_err ops_webhook_via(const struct ops_ctx *c, const char *name, const char *body, size_t len,
                             const char *sig_header, const json_t *headers, const char *delivery, const char *peer,
                             ops_hook_record_fn record, void *rud, json_t **out, unsigned *status,
                             struct ops_error *e);

/* ---- concurrency groups (concurrency.c; SERVER.md §3) ------------------ */

/* The group a new run of wf counts in: NULL when wf has no concurrency;
 * "NAME" without a key; "NAME:VALUE" with `key` rendered over {inputs,
 * trigger, run: {trigger}} (a string as it is, else compact JSON; at most
 * 200 bytes). 0, or a failure with *err (malloc'd). */
int ops_concurrency_group(struct wf *wf, const json_t *inputs, const json_t *trig, char **group, char **err);
enum ops_admit_kind { OPS_ADMIT_START = 0, OPS_ADMIT_QUEUE, OPS_ADMIT_SKIP };
struct ops_admit {
  enum ops_admit_kind decision;
  int64_t active, waiting; /* the group's runs when asked */
  json_t *cancelled;       /* cancel_in_progress: the runs told to stop (ids) */
  char why[400];           /* QUEUE, SKIP: for people */
};
/* The decision for a new run of group (NULL: START): START when fewer than
 * wf->concurrency runs of the group are active and none waits; else by
 * on_full: QUEUE; SKIP; cancel_in_progress: every older run of the group is
 * cancelled (active ones by a cancel request to their engine, waiting ones
 * at once; audited) and QUEUE. Clear *out with ops_admit_clear. */
enum ops_err ops_concurrency_admit(const struct ops_ctx *c, const struct wf *wf, const char *group,
                                   struct ops_admit *out, struct ops_error *e);
void ops_admit_clear(struct ops_admit *a);
/* A run.skipped audit entry (no run) for a start its full group skipped. */
int ops_concurrency_skipped(const struct ops_ctx *c, const struct wf *wf, const char *group, const char *trigger,
                            const char *why);
/* Whether a waiting run whose trigger data is trig must go on waiting: its
 * "_concurrency" {group, limit} has limit active runs. */
bool ops_concurrency_held(struct store *s, const json_t *trig);
/* Records a queued run no engine owns yet (the server's loop starts it:
 * ops_trigger_pickup), with inputs (resolved), `.trigger` trig (plus hold,
 * and {group, limit} of group when not NULL, never shown), idempotency key
 * (NULL: none), its group and a run.created audit entry; in the caller's
 * transaction or one per write. CONFLICT: the key is taken. */
enum ops_err ops_queue_run(const struct ops_ctx *c, const struct wf *wf, int version, const json_t *inputs,
                           const json_t *trig, const char *key, const json_t *hold, int trigger_index,
                           const char *group, char id_out[WEFT_ID_LEN + 1], struct ops_error *e);

/* ---- notifications (notify.c; SERVER.md §3 notify:) ----------------------- */

#define NOTIFY_ATTEMPTS 8           /* a delivery is given up after this many */
#define NOTIFY_BACKOFF_MS 500       /* the delay after the first failure; doubling */
#define NOTIFY_BACKOFF_MAX_MS 300000
/* The notify: event of a run's end (status_kind 0 succeeded, 1 failed, 2
 * cancelled; error_kind the run error's kind, "timeout": timed_out), or of
 * an approval waiting (run_end false). */
const char *ops_notify_event(bool run_end, int status_kind, const char *error_kind);
/* The delay before attempt attempts + 1 after attempts failures. */
int64_t ops_notify_backoff_ms(int attempts);
/* For each notify: entry of wf listing event: a pending delivery of its
 * body {text, run, workflow, event, step, url (ui_base/#/runs/RUN, or null),
 * index?} to the URL its secret holds; *recorded counts them. */
int ops_notify_record(struct store *s, const struct wf *wf, const char *run_id, const char *event, const char *step,
                      int index, const char *ui_base, size_t *recorded);
/* POSTs body (JSON) to url: 0 and *status the HTTP status, or -1 with err
 * saying why (never blocking the runtime: called on the notifier's thread). */
typedef int (*ops_notify_post_fn)(void *ud, const char *url, const char *body, long *status, char *err,
                                  size_t errlen);
typedef void (*ops_notify_log_fn)(void *ud, const char *level, const char *line);
/* Delivers the deliveries due at now, one attempt each, each attempt's
 * outcome and audit entry in one transaction. *next_at: when the next one
 * is due (INT64_MAX: none). 0, or the store's failure. */
int ops_notify_deliver(struct store *s, const char *home, int64_t now, int64_t *next_at, ops_notify_post_fn post,
                       void *ud, ops_notify_log_fn log, void *lud);

#endif
