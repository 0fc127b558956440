/* store.h — the durable store: workflow versions, runs, step instances,
 * attempts, the inbox of requests, approval decisions and the audit log.
 *
 * A store is a handle `struct store` whose first member is a table of
 * functions (`struct store_ops`, with a `version` field like sqlite3_vfs).
 * SQLite is the backend today (store/sqlite.c); PostgreSQL comes later and only
 * has to fill the same table. Callers use the thin inline wrappers
 * `store_xxx(s, ...)` below, never s->ops directly.
 *
 * Threads and processes: one handle belongs to one thread (the runtime's libuv
 * thread, or a CLI process). Several processes may open the same home at once;
 * writers wait and retry when the database is busy, so callers never see
 * "database is locked" (after ~5 minutes of continuous contention a call gives
 * up with WEFT_EBUSY).
 *
 * Transactions (group commit): store_begin() opens a write transaction;
 * every put until store_commit() joins it, so one loop tick costs one fsync.
 * A put called outside a transaction commits by itself (fine for the CLI,
 * too slow for a loop). Reads see committed data plus the caller's own open
 * transaction.
 * When a put fails inside the caller's transaction, the transaction stays
 * open: the caller decides (store_rollback, or store_commit to keep the other
 * puts). After an I/O or out-of-memory error SQLite may have rolled it back
 * already; further puts then fail until store_rollback is called.
 *
 * Ownership:
 * - Pointers passed IN (rows, strings, JSON text) are borrowed for the call;
 *   the store copies what it keeps.
 * - Rows handed OUT are filled by the store with malloc'd strings that the
 *   caller owns: free one row with store_run_clear()/..., an array with
 *   store_runs_free()/... (which also frees the array).
 * - JSON values (inputs, outputs, error, payload, fields, audit data) travel
 *   as JSON TEXT (char *); NULL means absent (SQL NULL). The store does not
 *   parse them, except audit data which it canonicalises (see audit/audit.h).
 * - Times are int64 ms since the epoch (util/wtime.h); 0 means absent.
 * - On failure a function returns a negative WEFT_E* code and
 *   store_errmsg(s) gives a one-line message for people (valid until the next
 *   call on the handle).
 */
#ifndef WEFT_STORE_STORE_H
#define WEFT_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"
#include "util/sha256.h"

#define STORE_OPS_VERSION 9 /* 2: audit_append_canon; 3: verify_scan, run_delete;
                               4: step_counts_put, step_count, step_page;
                               5: token_put, token_get, token_by_hash, token_list,
                                  token_revoke, token_touch;
                               6: deploy_put, deploy_list, run_key_set, run_by_key;
                               7: schedule_list, schedule_put, schedule_delete,
                                  run_trigger_put, run_trigger_get;
                               8: audit_after, inbox_pending;
                               9: run_group_set, group_count, group_runs,
                                  notice_put, notice_due, notice_update */
#define STORE_DB_NAME "weft.db"
#define STORE_NO_INDEX (-1) /* step index of a plain (not for_each) step */

/* A workflow definition, by content hash (sha256 hex of the source text). */
struct store_workflow {
  char *hash;
  char *name;
  char *path;       /* as first seen; may be NULL */
  char *source;     /* the YAML text, verbatim */
  int64_t created_at;
};

/* A run. status/trigger are the words of LANGUAGE.md §4 / CLI.md
 * ("queued", "running", ..., "manual"). */
struct store_run {
  char *id;            /* ULID text */
  char *workflow;      /* workflow name */
  char *workflow_hash; /* the definition it started with (store_workflow_get) */
  char *path;          /* workflow file path; may be NULL */
  char *status;
  char *trigger;       /* may be NULL */
  char *parent_id;     /* sub-workflows: parent run, step and index; NULL if none */
  char *parent_step;
  int parent_index;    /* STORE_NO_INDEX when none */
  char *started_by;    /* user; may be NULL */
  char *inputs;        /* JSON text or NULL */
  char *outputs;
  char *error;
  int64_t created_at, started_at, finished_at;
  /* ownership: the engine process that executes the run. Written by
   * store_run_put() only when the row is first inserted; afterwards only by
   * store_run_claim()/store_run_release()/store_heartbeat(). */
  int owner_pid;            /* 0: none */
  int64_t owner_start;      /* /proc/PID/stat field 22 of the owner */
  int64_t heartbeat_at;
};

/* One step instance: (run, step, index). */
struct store_step {
  char *run_id;
  char *step;
  int index;            /* STORE_NO_INDEX for a plain step, else the for_each index */
  char *status;
  int attempts;
  bool has_exit_code;
  int exit_code;
  char *error;          /* JSON text or NULL */
  char *outputs;        /* JSON text or NULL */
  int64_t started_at, finished_at;
  int iteration;        /* repeat: iterations done */
  int pid, pgid;        /* of the running attempt; 0 when none */
  int64_t due_at;       /* retrying / repeat delay: when it is due; 0 when none */
  int reserved;         /* read only: the attempt reserved by step_reserve (0: none);
                           it counts while the row is pending with attempts + 1 == it */
  char *counts;         /* read only: a for_each step's own row (index -1): JSON object
                           of instances per status (step_counts_put), or NULL */
};

/* Which instances store_step_page returns. */
enum store_page {
  STORE_PAGE_ALL = 0,    /* every instance (index >= 0) */
  STORE_PAGE_FAILED,     /* status "failed" only (an index finds them without a scan) */
  STORE_PAGE_NOT_FAILED, /* every other status */
};

/* One attempt of a step instance (attempt numbers start at 1). */
struct store_attempt {
  char *run_id;
  char *step;
  int index;
  int attempt;
  char *status;
  bool has_exit_code;
  int exit_code;
  char *error;          /* JSON text or NULL */
  int64_t started_at, finished_at;
  char *log_path;       /* may be NULL */
};

/* A request from another process to the engine that owns a run: kind is
 * "cancel", "approve", "reject", "event", "retry", ...; run_id is NULL for
 * events, which go to whoever waits for them. */
struct store_inbox {
  int64_t id;           /* assigned by store_inbox_post() */
  char *kind;
  char *name;           /* event name for kind "event"; may be NULL otherwise */
  char *run_id;
  char *step;           /* may be NULL */
  int index;            /* STORE_NO_INDEX when not about an instance */
  char *user;           /* who asked; may be NULL */
  char *payload;        /* JSON text or NULL */
  int64_t created_at;
  int64_t taken_at;     /* 0 while pending */
};

/* A mutex held by a step attempt (`mutex:`, runtime/rt_mutex.c). */
struct store_mutex {
  char *name;           /* "run/RUN/NAME" or "global/NAME" */
  char *run_id, *step;
  int index, attempt;
  int pid;              /* the engine process holding it, and its start time: */
  int64_t pstart;       /* its death frees the mutex */
  int64_t acquired_at;
};

/* A human decision on an approval step (also refused ones, decision
 * "refused", so the history is complete). */
struct store_decision {
  int64_t id;
  char *run_id;
  char *step;
  int index;
  char *user;
  char *decision;       /* "approve", "reject", "refused", ... */
  char *comment;        /* may be NULL */
  char *fields;         /* JSON text or NULL */
  int64_t at;
};

/* One audit log entry (see audit/audit.h for the hash). */
struct store_audit {
  int64_t seq;          /* 1, 2, 3, ... */
  int64_t at;
  char *run_id;         /* may be NULL */
  char *kind;
  char *data;           /* canonical JSON text */
  char *prev_hash;      /* hex; 64 zeros for seq 1 */
  char *hash;           /* hex */
};

/* An API token's record (util/token.h, cli/tokens.h). The token itself is
 * never stored, only its SHA-256: hash is lower-case hex. */
struct store_token {
  char *id;             /* "tok_" + 12 base32 characters */
  char *user;           /* whose token it is */
  char *name;           /* may be NULL */
  char *hash;           /* sha256 hex of the token */
  int64_t created_at;
  int64_t expires_at;   /* 0: never */
  int64_t revoked_at;   /* 0: not revoked */
  int64_t last_used_at; /* 0: never used */
};

/* One deployed version of a workflow name (SERVER.md §2): versions count
 * 1, 2, 3... per name; each names a stored definition (store_workflow) by
 * hash. */
struct store_deployment {
  char *name;
  int version;
  char *hash;          /* sha256 hex of the source (store_workflow_get) */
  char *path;          /* the file it was deployed from; NULL through the API */
  int64_t deployed_at;
  char *deployed_by;   /* user; may be NULL */
};

/* One schedule trigger of the newest deployed version of a workflow
 * (SERVER.md §3; ops/schedules.c). Times in seconds since the epoch. */
struct store_schedule {
  char *workflow;
  int idx;          /* the trigger's 1-based index in the workflow's triggers: */
  int version;      /* the deployed version the row follows */
  char *expr;       /* the schedule expression */
  char *timezone;   /* IANA name; NULL: UTC */
  int64_t next_at;  /* the first scheduled time not yet handled (fired or dropped) */
  int64_t last_at;  /* the newest scheduled time fired; 0: none */
  char *last_run;   /* the run of that fire; NULL: none */
};

/* One notify: delivery (ops/notify.c): an outgoing POST of body to the URL
 * the secret holds, pending until delivered or given up ("delivered",
 * "failed"). */
struct store_notice {
  int64_t id;
  char *run_id;     /* may be NULL */
  char *workflow;
  char *event;      /* succeeded, failed, approval_waiting, ... */
  char *step;       /* approvals: the step; else NULL */
  char *secret;     /* the secret's NAME (never the URL) */
  char *body;       /* JSON text */
  char *status;     /* pending, delivered, failed */
  int attempts;
  int64_t next_at, created_at;
  char *error;      /* the last attempt's failure, URL masked */
};
void store_notices_free(struct store_notice *v, size_t n);

/* Filter for store_run_list(); zero/NULL fields do not filter. */
struct store_run_filter {
  const char *status;
  const char *workflow;
  const char *parent_id;   /* child runs of this run */
  size_t limit;            /* 0: no limit */
  const char *trigger;     /* runs started by this trigger type */
  const char *before_id;   /* runs whose id sorts before this one (a page's cursor) */
};

/* Called by store_audit_scan() for each entry in seq order; the entry is
 * borrowed for the call. Return non-zero to stop (that value is returned). */
typedef int (*store_audit_cb)(void *ctx, const struct store_audit *e);

/* What store_verify_scan() streams (audit/xcheck.c reads it). */
enum store_vtype {
  STORE_V_ENTRY,     /* every audit entry, by seq (the chain walk): entry */
  STORE_V_RUN,       /* a group begins: run_id; status of its run row, NULL when the run
                        has no row (pruned, or removed) */
  STORE_V_STEP,      /* a step instance row of the group: step, index, status, n = attempts */
  STORE_V_ATTEMPT,   /* an attempt row: step, index, status, n = attempt */
  STORE_V_DECISION,  /* a decisions row: step, index, user, decision */
  STORE_V_RUN_ENTRY, /* an audit entry of the group, by seq: entry (seq, run_id, kind and
                        data only) */
  STORE_V_RUN_END,   /* the group ends: run_id */
  STORE_V_WORKFLOW,  /* a stored definition: hash */
};

struct store_vrow {
  enum store_vtype type;
  const struct store_audit *entry;
  const char *run_id, *step, *status, *user, *decision, *hash;
  int index;
  int64_t n;
};

/* Called by store_verify_scan(); rows are borrowed for the call. Non-zero
 * stops the scan (that value is returned). */
typedef int (*store_verify_cb)(void *ctx, const struct store_vrow *r);

struct store;

struct store_ops {
  int version; /* STORE_OPS_VERSION */
  const char *name;
  void (*close)(struct store *s);
  const char *(*errmsg)(struct store *s);

  int (*begin)(struct store *s);
  int (*commit)(struct store *s);
  int (*rollback)(struct store *s);
  bool (*in_tx)(struct store *s);
  /* Commits of this connection stop waiting for the disk: the caller makes
   * them durable itself by syncing the file *sync_path names (malloc'd), in
   * commit order, before anything depends on them (runtime/rt_sync.c).
   * WEFT_ESTATE when the backend cannot. */
  int (*defer_sync)(struct store *s, char **sync_path);

  /* Stores the definition if it is new (hash = sha256 of source) and then
   * appends a "definition" audit entry. hash_out gets the hash; *created (may
   * be NULL) says whether it was new. */
  int (*workflow_put)(struct store *s, const char *name, const char *path, const char *source,
                      int64_t now, char hash_out[SHA256_HEX_LEN + 1], bool *created);
  int (*workflow_get)(struct store *s, const char *hash, struct store_workflow *out);

  int (*run_put)(struct store *s, const struct store_run *r);
  /* id_or_prefix: a full id or a unique prefix (WEFT_EAMBIGUOUS, WEFT_ENOTFOUND). */
  int (*run_get)(struct store *s, const char *id_or_prefix, struct store_run *out);
  int (*run_list)(struct store *s, const struct store_run_filter *f, struct store_run **out,
                  size_t *n);
  /* Runs with status queued, running or waiting (all owners; see
   * store_run_orphans()). */
  int (*run_list_active)(struct store *s, struct store_run **out, size_t *n);
  /* Takes ownership of a run for (pid, start) unless another live process
   * owns it (WEFT_EBUSY). */
  int (*run_claim)(struct store *s, const char *run_id, int pid, int64_t start, int64_t now);
  int (*run_release)(struct store *s, const char *run_id);
  /* Sets heartbeat_at = now on every run owned by (pid, start). */
  int (*heartbeat)(struct store *s, int pid, int64_t start, int64_t now);

  int (*step_put)(struct store *s, const struct store_step *st);
  /* Records that attempt `attempt` of (run, step, index) may start before its
   * running transition is committed (engine_reserve); inserts a pending row
   * when there is none. Other columns are kept. */
  int (*step_reserve)(struct store *s, const char *run_id, const char *step, int index,
                      int attempt);
  /* Upserts n rows; outside a transaction commits every 1,000 rows. */
  int (*step_put_many)(struct store *s, const struct store_step *v, size_t n);
  int (*step_get)(struct store *s, const char *run_id, const char *step, int index,
                  struct store_step *out);
  /* All instances of a run (step == NULL) or of one step, by (step, index). */
  int (*step_list)(struct store *s, const char *run_id, const char *step,
                   struct store_step **out, size_t *n);
  /* Every instance with status "waiting", of all runs, by (run, step, index):
   * what `weft approvals` and event delivery start from. */
  int (*step_list_waiting)(struct store *s, struct store_step **out, size_t *n);

  int (*attempt_put)(struct store *s, const struct store_attempt *a);
  /* Attempts of one instance by attempt number. */
  int (*attempt_list)(struct store *s, const char *run_id, const char *step, int index,
                      struct store_attempt **out, size_t *n);

  int (*inbox_post)(struct store *s, const struct store_inbox *m, int64_t *id_out);
  /* Marks as taken and returns (by id) the pending requests for the given runs
   * and, when events is true, the pending run-less events. Each request is
   * returned to exactly one caller, across processes. */
  int (*inbox_take)(struct store *s, const char *const *run_ids, size_t n_runs, bool events,
                    int64_t now, struct store_inbox **out, size_t *n);

  /* Run-less events with id > after_id, by id, taken or not, at most limit
   * (0: no limit). For delivery to every waiting step by a cursor, where
   * inbox_take would hand an event to one engine only. */
  int (*event_list)(struct store *s, int64_t after_id, size_t limit, struct store_inbox **out,
                    size_t *n);

  int (*decision_put)(struct store *s, const struct store_decision *d, int64_t *id_out);
  /* Decisions of one step instance (step NULL: of the whole run) by id. */
  int (*decision_list)(struct store *s, const char *run_id, const char *step, int index,
                       struct store_decision **out, size_t *n);

  /* Appends one entry to the hash chain inside the current transaction (or
   * its own). data is JSON text (NULL: null), canonicalised before hashing. */
  int (*audit_append)(struct store *s, int64_t at, const char *run_id, const char *kind,
                      const char *data, int64_t *seq_out);
  /* Calls cb for each entry (of one run, or all when run_id is NULL) in seq
   * order, in one consistent snapshot; head (may be NULL) gets the recorded
   * chain head (seq 0 and hash NULL when the log is empty). */
  int (*audit_scan)(struct store *s, const char *run_id, struct store_audit *head,
                    store_audit_cb cb, void *ctx);

  /* Agent transcripts (exec/agent.c): one JSON text per model reply or tool
   * result of an agent attempt, numbered seq 0, 1, ... turn_put inserts (a
   * seq already stored is replaced); turn_list returns the texts of one
   * attempt in seq order (caller frees with store_turns_free). */
  int (*turn_put)(struct store *s, const char *run_id, const char *step, int index,
                  int attempt, int seq, const char *data, int64_t at);
  int (*turn_list)(struct store *s, const char *run_id, const char *step, int index,
                   int attempt, char ***data, size_t *n);

  /* Version 2. audit_append of data already in canonical form (the output of
   * audit_canonical or audit_canonical_json; not checked again), skipping
   * the parse + dump that audit_append does. */
  int (*audit_append_canon)(struct store *s, int64_t at, const char *run_id, const char *kind,
                            const char *canon, int64_t *seq_out);

  /* Version 3. Everything `weft audit verify` compares, from ONE read
   * snapshot, streamed (memory does not grow with the store): head gets the
   * recorded chain head (as audit_scan); then every entry by seq
   * (STORE_V_ENTRY); then, grouped by run id in ascending order (every run
   * that has a row or entries), STORE_V_RUN, the group's step, attempt and
   * decision rows (each ordered by step, index), its entries by seq, and
   * STORE_V_RUN_END; then every stored definition (STORE_V_WORKFLOW). */
  int (*verify_scan)(struct store *s, struct store_audit *head, store_verify_cb cb, void *ctx);
  /* Removes a run's rows (run, step instances, attempts, decisions, inbox
   * requests, agent turns), inside the caller's transaction or its own. Its
   * audit entries stay: they are the chain. */
  int (*run_delete)(struct store *s, const char *run_id);

  /* Version 4: big for_each steps. step_counts_put sets the instance counts
   * (JSON text) of a step's own row (index -1), if that row exists.
   * step_count computes them from the instance rows (a scan: for rows
   * written before the counts were kept): *counts gets malloc'd JSON text,
   * "{}" when there are none. step_page lists instances (index >= 0) of one
   * step by index, at most limit (0: no limit). */
  int (*step_counts_put)(struct store *s, const char *run_id, const char *step,
                         const char *counts);
  int (*step_count)(struct store *s, const char *run_id, const char *step, char **counts);
  int (*step_page)(struct store *s, const char *run_id, const char *step, enum store_page which,
                   size_t limit, struct store_step **out, size_t *n);

  /* Version 5: API tokens (struct store_token; the token itself is never
   * given to the store). token_put inserts (an id or hash already stored:
   * WEFT_EINVAL). token_get takes a full id or a unique prefix
   * (WEFT_ENOTFOUND, WEFT_EAMBIGUOUS). token_by_hash finds the row whose
   * hash is hash exactly (WEFT_ENOTFOUND). token_list returns the tokens of
   * user (NULL: of everyone) by (created_at, id). token_revoke sets
   * revoked_at = now unless already set (WEFT_ENOTFOUND: no such id);
   * token_touch sets last_used_at = now. */
  int (*token_put)(struct store *s, const struct store_token *t);
  int (*token_get)(struct store *s, const char *id_or_prefix, struct store_token *out);
  int (*token_by_hash)(struct store *s, const char *hash, struct store_token *out);
  int (*token_list)(struct store *s, const char *user, struct store_token **out, size_t *n);
  int (*token_revoke)(struct store *s, const char *id, int64_t now);
  int (*token_touch)(struct store *s, const char *id, int64_t now);

  /* Version 6: deployed workflows and idempotency keys. deploy_put records
   * d->hash (a definition already stored by workflow_put, else
   * WEFT_ENOTFOUND) as the newest version of d->name (d->version is
   * ignored): when the newest version already has that hash nothing changes
   * and *created is false; else the version is the newest + 1 (1 for a new
   * name) and *created is true. *version gets the version either way.
   * Inside the caller's transaction or its own. deploy_list with a name
   * returns its versions, oldest first (none: *n 0); with NULL, the newest
   * version of every name, by name. run_key_set records the idempotency key
   * of a run (normally in the transaction that creates it): WEFT_ENOTFOUND
   * when no run has that id, WEFT_ESTATE when another run of the same
   * workflow has the key. run_by_key gives the id (malloc'd) of the run of
   * workflow with that key, or WEFT_ENOTFOUND. */
  int (*deploy_put)(struct store *s, const struct store_deployment *d, int *version, bool *created);
  int (*deploy_list)(struct store *s, const char *name, struct store_deployment **out, size_t *n);
  int (*run_key_set)(struct store *s, const char *run_id, const char *key);
  int (*run_by_key)(struct store *s, const char *workflow, const char *key, char **run_id);

  /* Version 7: schedules and the trigger object of runs. schedule_list
   * returns the rows with next_at <= due_by (INT64_MAX: all), of workflow
   * (by index) or of every workflow (earliest next_at first), at most limit
   * (0: no limit). schedule_put inserts or replaces the row (workflow, idx);
   * schedule_delete removes it (none: not an error). run_trigger_put
   * records a run's `.trigger` object (JSON text; WEFT_ENOTFOUND: no such
   * run), normally in the transaction that creates it; run_trigger_get
   * gives it (malloc'd), NULL when the run has none. */
  int (*schedule_list)(struct store *s, const char *workflow, int64_t due_by, size_t limit,
                       struct store_schedule **out, size_t *n);
  int (*schedule_put)(struct store *s, const struct store_schedule *r);
  int (*schedule_delete)(struct store *s, const char *workflow, int idx);
  int (*run_trigger_put)(struct store *s, const char *run_id, const char *json);
  int (*run_trigger_get)(struct store *s, const char *run_id, char **json);

  /* Version 8: live events (server/sse_pump.c). audit_after returns the
   * entries with seq > after_seq (of run_id only, unless NULL) by seq, at
   * most limit (copies: free with store_audits_free), and *head_seq the
   * chain head's seq (0: empty log), from one read snapshot. inbox_pending
   * counts the requests for runs not yet taken by an engine. */
  int (*audit_after)(struct store *s, const char *run_id, int64_t after_seq, size_t limit,
                     struct store_audit **out, size_t *n, int64_t *head_seq);
  int (*inbox_pending)(struct store *s, int64_t *n);

  /* Events kept for one run (`weft event send NAME --run RUN`; rows as
   * struct store_inbox: kind "event", run_id, name, payload, user = sender,
   * taken_at = consumed_at, step = consumed_by). NULL in a backend without
   * them (the wrappers answer WEFT_ESTATE). put: a new kept event.
   * pending: the run's unconsumed events of that name, oldest first (at most
   * limit), with id > after_id. claim: consumes event id for `by` ("step[/index]#attempt"), *won
   * false when another consumer was first. claimed: the event `by` consumed,
   * if any (recovery: a claim whose step had not committed yet). */
  int (*run_event_put)(struct store *s, const struct store_inbox *m, int64_t *id_out);
  int (*run_event_pending)(struct store *s, const char *run_id, const char *name, int64_t after_id,
                           size_t limit, struct store_inbox **out, size_t *n);
  int (*run_event_claim)(struct store *s, int64_t id, const char *by, int64_t now, bool *won);
  int (*run_event_claimed)(struct store *s, const char *run_id, const char *by,
                           struct store_inbox *out, bool *found);
  /* Mutexes (NULL in a backend without them: WEFT_ESTATE). take: holds
   * m->name for m's attempt unless someone holds it (*got false, *holder =
   * the holder, to clear with store_mutex_clear). free: releases it if
   * (run, step, index) holds it. steal: releases it if that process (pid,
   * start) holds it (a dead holder). */
  int (*mutex_take)(struct store *s, const struct store_mutex *m, bool *got, struct store_mutex *holder);
  int (*mutex_free)(struct store *s, const char *name, const char *run_id, const char *step, int index);
  int (*mutex_steal)(struct store *s, const char *name, int pid, int64_t pstart);
  /* Version 9: concurrency groups and notifications (sqlite_conc.c).
   * run_group_set records the group a run counts in. group_count: *active =
   * the group's runs running, waiting, or queued and owned by an engine;
   * *waiting = queued and owned by none (they wait for a slot). group_runs:
   * the ids (malloc'd, free each and the array) of the active (waiting
   * false) or waiting runs, oldest first, at most limit (0: all).
   * notice_put adds a delivery (*id its row); notice_due gives the pending
   * ones due by now (next_at <= now), oldest due first, at most limit;
   * notice_update records an attempt's outcome; *next_at (notice_next) is
   * the earliest pending next_at, INT64_MAX when none. */
  int (*run_group_set)(struct store *s, const char *run_id, const char *group);
  int (*group_count)(struct store *s, const char *group, int64_t *active, int64_t *waiting);
  int (*group_runs)(struct store *s, const char *group, bool waiting, size_t limit, char ***ids, size_t *n);
  int (*notice_put)(struct store *s, const struct store_notice *n, int64_t *id);
  int (*notice_due)(struct store *s, int64_t now, size_t limit, struct store_notice **out, size_t *n,
                    int64_t *next_at);
  int (*notice_update)(struct store *s, int64_t id, const char *status, int attempts, int64_t next_at,
                       const char *error);
};

/* Every backend handle starts with this. */
struct store {
  const struct store_ops *ops;
  char *home; /* the home folder (owned) */
};

/* Opens (creating as needed) the home folder: home, else $WEFT_HOME, else
 * ./.weft; with logs/ and workspaces/ inside, and the SQLite store weft.db
 * (migrated to the current schema). On failure *err gets a malloc'd message
 * (caller frees) and *out is NULL. */
int store_open(const char *home, struct store **out, char **err);
/* Opens the SQLite store at db_path (no folders created). */
int store_sqlite_open(const char *db_path, struct store **out, char **err);
/* PostgreSQL (store/pg*.c): store_open() opens the database of
 * store_set_url()'s URL, else of $WEFT_STORE, when one is set (the home
 * folder still holds users.json, logs and workspaces). store_url_is_pg:
 * the URL starts with postgres:// or postgresql://. */
void store_set_url(const char *url); /* borrowed: must outlive every store_open */
const char *store_url(void);         /* the URL in effect, or NULL (SQLite) */
bool store_url_is_pg(const char *url);
int store_pg_open(const char *url, struct store **out, char **err);
/* Resolves the home folder as store_open() does; malloc'd, caller frees. */
char *store_home_resolve(const char *home);
static inline const char *store_home(const struct store *s) { return s->home; }

/* Start time of process pid (field 22 of /proc/PID/stat, clock ticks since
 * boot); 0 and *start set, or WEFT_ENOTFOUND when there is no such process. */
int store_proc_start(int pid, int64_t *start);
/* True when the process that owns r is alive (same pid and start time). */
bool store_run_owner_alive(const struct store_run *r);
/* Runs left queued/running/waiting whose owner is dead (for `weft resume`). */
int store_run_orphans(struct store *s, struct store_run **out, size_t *n);

void store_workflow_clear(struct store_workflow *w);
void store_run_clear(struct store_run *r);
void store_step_clear(struct store_step *st);
void store_attempt_clear(struct store_attempt *a);
void store_inbox_clear(struct store_inbox *m);
void store_decision_clear(struct store_decision *d);
void store_runs_free(struct store_run *v, size_t n);
void store_steps_free(struct store_step *v, size_t n);
void store_attempts_free(struct store_attempt *v, size_t n);
void store_inbox_free(struct store_inbox *v, size_t n);
void store_decisions_free(struct store_decision *v, size_t n);
void store_token_clear(struct store_token *t);
void store_tokens_free(struct store_token *v, size_t n);
void store_deployment_clear(struct store_deployment *d);
void store_deployments_free(struct store_deployment *v, size_t n);
void store_schedule_clear(struct store_schedule *r);
void store_schedules_free(struct store_schedule *v, size_t n);

/* Fault injection for tests (store/fault.c): wraps inner (the wrapper owns
 * it from now on; store_close closes both). After `after` more write calls
 * succeed, the next `count` (-1: all) fail with rc; after < 0 disables.
 * A failing commit rolls the inner transaction back. store_fault_set and
 * store_fault_writes take only a store made by store_fault_wrap. */
int store_fault_wrap(struct store *inner, struct store **out);
void store_fault_set(struct store *s, long after, long count, int rc);
long store_fault_writes(struct store *s); /* write calls seen so far */
long store_fault_step_rows(struct store *s); /* step rows put so far (one per row of a put_many) */

/* Thin wrappers over the ops table (documented there). */
static inline void store_close(struct store *s)
{
  if (s)
    s->ops->close(s);
}
static inline const char *store_errmsg(struct store *s) { return s->ops->errmsg(s); }
static inline int store_begin(struct store *s) { return s->ops->begin(s); }
static inline int store_commit(struct store *s) { return s->ops->commit(s); }
static inline int store_defer_sync(struct store *s, char **sync_path)
{
  return s->ops->defer_sync(s, sync_path);
}
static inline int store_rollback(struct store *s) { return s->ops->rollback(s); }
static inline bool store_in_tx(struct store *s) { return s->ops->in_tx(s); }
static inline int store_workflow_put(struct store *s, const char *name, const char *path,
                                     const char *source, int64_t now,
                                     char hash_out[SHA256_HEX_LEN + 1], bool *created)
{
  return s->ops->workflow_put(s, name, path, source, now, hash_out, created);
}
static inline int store_workflow_get(struct store *s, const char *hash, struct store_workflow *out)
{
  return s->ops->workflow_get(s, hash, out);
}
static inline int store_run_put(struct store *s, const struct store_run *r)
{
  return s->ops->run_put(s, r);
}
static inline int store_run_get(struct store *s, const char *id_or_prefix, struct store_run *out)
{
  return s->ops->run_get(s, id_or_prefix, out);
}
static inline int store_run_list(struct store *s, const struct store_run_filter *f,
                                 struct store_run **out, size_t *n)
{
  return s->ops->run_list(s, f, out, n);
}
static inline int store_run_children(struct store *s, const char *parent_id,
                                     struct store_run **out, size_t *n)
{
  struct store_run_filter f = {.parent_id = parent_id};
  return s->ops->run_list(s, &f, out, n);
}
static inline int store_run_claim(struct store *s, const char *run_id, int pid, int64_t start,
                                  int64_t now)
{
  return s->ops->run_claim(s, run_id, pid, start, now);
}
static inline int store_run_release(struct store *s, const char *run_id)
{
  return s->ops->run_release(s, run_id);
}
static inline int store_heartbeat(struct store *s, int pid, int64_t start, int64_t now)
{
  return s->ops->heartbeat(s, pid, start, now);
}
static inline int store_step_put(struct store *s, const struct store_step *st)
{
  return s->ops->step_put(s, st);
}
static inline int store_step_reserve(struct store *s, const char *run_id, const char *step,
                                     int index, int attempt)
{
  return s->ops->step_reserve(s, run_id, step, index, attempt);
}
static inline int store_step_put_many(struct store *s, const struct store_step *v, size_t n)
{
  return s->ops->step_put_many(s, v, n);
}
static inline int store_step_get(struct store *s, const char *run_id, const char *step, int index,
                                 struct store_step *out)
{
  return s->ops->step_get(s, run_id, step, index, out);
}
static inline int store_step_list(struct store *s, const char *run_id, const char *step,
                                  struct store_step **out, size_t *n)
{
  return s->ops->step_list(s, run_id, step, out, n);
}
static inline int store_step_list_waiting(struct store *s, struct store_step **out, size_t *n)
{
  return s->ops->step_list_waiting(s, out, n);
}
static inline int store_attempt_put(struct store *s, const struct store_attempt *a)
{
  return s->ops->attempt_put(s, a);
}
static inline int store_attempt_list(struct store *s, const char *run_id, const char *step,
                                     int index, struct store_attempt **out, size_t *n)
{
  return s->ops->attempt_list(s, run_id, step, index, out, n);
}
static inline int store_inbox_post(struct store *s, const struct store_inbox *m, int64_t *id_out)
{
  return s->ops->inbox_post(s, m, id_out);
}
static inline int store_inbox_take(struct store *s, const char *const *run_ids, size_t n_runs,
                                   bool events, int64_t now, struct store_inbox **out, size_t *n)
{
  return s->ops->inbox_take(s, run_ids, n_runs, events, now, out, n);
}
static inline int store_event_list(struct store *s, int64_t after_id, size_t limit,
                                   struct store_inbox **out, size_t *n)
{
  return s->ops->event_list(s, after_id, limit, out, n);
}
static inline int store_decision_put(struct store *s, const struct store_decision *d,
                                     int64_t *id_out)
{
  return s->ops->decision_put(s, d, id_out);
}
static inline int store_decision_list(struct store *s, const char *run_id, const char *step,
                                      int index, struct store_decision **out, size_t *n)
{
  return s->ops->decision_list(s, run_id, step, index, out, n);
}
static inline int store_audit_append(struct store *s, int64_t at, const char *run_id,
                                     const char *kind, const char *data, int64_t *seq_out)
{
  return s->ops->audit_append(s, at, run_id, kind, data, seq_out);
}
static inline int store_audit_scan(struct store *s, const char *run_id, struct store_audit *head,
                                   store_audit_cb cb, void *ctx)
{
  return s->ops->audit_scan(s, run_id, head, cb, ctx);
}
void store_audit_clear(struct store_audit *e);
void store_audits_free(struct store_audit *v, size_t n);
/* The live-event ops (version 8); WEFT_ESTATE from an older backend. */
#define STORE_LIVE_OPS_OK(s) ((s)->ops->version >= 8)
static inline int store_audit_after(struct store *s, const char *run_id, int64_t after_seq,
                                    size_t limit, struct store_audit **out, size_t *n,
                                    int64_t *head_seq)
{
  if (!STORE_LIVE_OPS_OK(s) || !s->ops->audit_after)
    return WEFT_ESTATE;
  return s->ops->audit_after(s, run_id, after_seq, limit, out, n, head_seq);
}
static inline int store_inbox_pending(struct store *s, int64_t *n)
{
  if (!STORE_LIVE_OPS_OK(s) || !s->ops->inbox_pending)
    return WEFT_ESTATE;
  return s->ops->inbox_pending(s, n);
}
static inline int store_run_event_put(struct store *s, const struct store_inbox *m, int64_t *id_out)
{
  return s->ops->run_event_put ? s->ops->run_event_put(s, m, id_out) : WEFT_ESTATE;
}
static inline int store_run_event_pending(struct store *s, const char *run_id, const char *name,
                                          int64_t after_id, size_t limit, struct store_inbox **out,
                                          size_t *n)
{
  *out = NULL;
  *n = 0;
  return s->ops->run_event_pending
             ? s->ops->run_event_pending(s, run_id, name, after_id, limit, out, n)
             : WEFT_ESTATE;
}
static inline int store_run_event_claim(struct store *s, int64_t id, const char *by, int64_t now,
                                        bool *won)
{
  *won = false;
  return s->ops->run_event_claim ? s->ops->run_event_claim(s, id, by, now, won) : WEFT_ESTATE;
}
static inline int store_run_event_claimed(struct store *s, const char *run_id, const char *by,
                                          struct store_inbox *out, bool *found)
{
  *found = false;
  return s->ops->run_event_claimed ? s->ops->run_event_claimed(s, run_id, by, out, found)
                                   : WEFT_ESTATE;
}
void store_mutex_clear(struct store_mutex *m);
static inline int store_mutex_take(struct store *s, const struct store_mutex *m, bool *got,
                                   struct store_mutex *holder)
{
  *got = false;
  return s->ops->mutex_take ? s->ops->mutex_take(s, m, got, holder) : WEFT_ESTATE;
}
static inline int store_mutex_free(struct store *s, const char *name, const char *run_id,
                                   const char *step, int index)
{
  return s->ops->mutex_free ? s->ops->mutex_free(s, name, run_id, step, index) : WEFT_ESTATE;
}
static inline int store_mutex_steal(struct store *s, const char *name, int pid, int64_t pstart)
{
  return s->ops->mutex_steal ? s->ops->mutex_steal(s, name, pid, pstart) : WEFT_ESTATE;
}
/* WEFT_ESTATE when the backend is older than ops version 3. */
static inline int store_verify_scan(struct store *s, struct store_audit *head,
                                    store_verify_cb cb, void *ctx)
{
  if (s->ops->version < 3 || !s->ops->verify_scan)
    return WEFT_ESTATE;
  return s->ops->verify_scan(s, head, cb, ctx);
}
static inline int store_run_delete(struct store *s, const char *run_id)
{
  if (s->ops->version < 3 || !s->ops->run_delete)
    return WEFT_ESTATE;
  return s->ops->run_delete(s, run_id);
}
static inline int store_turn_put(struct store *s, const char *run_id, const char *step,
                                 int index, int attempt, int seq, const char *data, int64_t at)
{
  return s->ops->turn_put(s, run_id, step, index, attempt, seq, data, at);
}
static inline int store_turn_list(struct store *s, const char *run_id, const char *step,
                                  int index, int attempt, char ***data, size_t *n)
{
  return s->ops->turn_list(s, run_id, step, index, attempt, data, n);
}
void store_turns_free(char **data, size_t n);
static inline int store_step_counts_put(struct store *s, const char *run_id, const char *step,
                                        const char *counts)
{
  return s->ops->step_counts_put(s, run_id, step, counts);
}
static inline int store_step_count(struct store *s, const char *run_id, const char *step,
                                   char **counts)
{
  return s->ops->step_count(s, run_id, step, counts);
}
static inline int store_step_page(struct store *s, const char *run_id, const char *step,
                                  enum store_page which, size_t limit, struct store_step **out,
                                  size_t *n)
{
  return s->ops->step_page(s, run_id, step, which, limit, out, n);
}
/* The token ops (version 5); WEFT_ESTATE from an older backend. */
#define STORE_TOKEN_OPS_OK(s) ((s)->ops->version >= 5)
static inline int store_token_put(struct store *s, const struct store_token *t)
{
  return STORE_TOKEN_OPS_OK(s) && s->ops->token_put ? s->ops->token_put(s, t) : WEFT_ESTATE;
}
static inline int store_token_get(struct store *s, const char *id_or_prefix,
                                  struct store_token *out)
{
  return STORE_TOKEN_OPS_OK(s) && s->ops->token_get ? s->ops->token_get(s, id_or_prefix, out)
                                                     : WEFT_ESTATE;
}
static inline int store_token_by_hash(struct store *s, const char *hash, struct store_token *out)
{
  return STORE_TOKEN_OPS_OK(s) && s->ops->token_by_hash ? s->ops->token_by_hash(s, hash, out)
                                                         : WEFT_ESTATE;
}
static inline int store_token_list(struct store *s, const char *user, struct store_token **out,
                                   size_t *n)
{
  return STORE_TOKEN_OPS_OK(s) && s->ops->token_list ? s->ops->token_list(s, user, out, n)
                                                      : WEFT_ESTATE;
}
static inline int store_token_revoke(struct store *s, const char *id, int64_t now)
{
  return STORE_TOKEN_OPS_OK(s) && s->ops->token_revoke ? s->ops->token_revoke(s, id, now)
                                                        : WEFT_ESTATE;
}
static inline int store_token_touch(struct store *s, const char *id, int64_t now)
{
  return STORE_TOKEN_OPS_OK(s) && s->ops->token_touch ? s->ops->token_touch(s, id, now)
                                                       : WEFT_ESTATE;
}
/* The deployment and idempotency-key ops (version 6); WEFT_ESTATE from an
 * older backend. */
#define STORE_DEPLOY_OPS_OK(s) ((s)->ops->version >= 6)
static inline int store_deploy_put(struct store *s, const struct store_deployment *d, int *version,
                                   bool *created)
{
  return STORE_DEPLOY_OPS_OK(s) && s->ops->deploy_put ? s->ops->deploy_put(s, d, version, created)
                                                       : WEFT_ESTATE;
}
static inline int store_deploy_list(struct store *s, const char *name,
                                    struct store_deployment **out, size_t *n)
{
  *out = NULL;
  *n = 0;
  return STORE_DEPLOY_OPS_OK(s) && s->ops->deploy_list ? s->ops->deploy_list(s, name, out, n)
                                                        : WEFT_ESTATE;
}
static inline int store_run_key_set(struct store *s, const char *run_id, const char *key)
{
  return STORE_DEPLOY_OPS_OK(s) && s->ops->run_key_set ? s->ops->run_key_set(s, run_id, key)
                                                        : WEFT_ESTATE;
}
static inline int store_run_by_key(struct store *s, const char *workflow, const char *key,
                                   char **run_id)
{
  *run_id = NULL;
  return STORE_DEPLOY_OPS_OK(s) && s->ops->run_by_key ? s->ops->run_by_key(s, workflow, key, run_id)
                                                       : WEFT_ESTATE;
}
/* The schedule and run-trigger ops (version 7); WEFT_ESTATE from an older
 * backend. */
#define STORE_SCHED_OPS_OK(s) ((s)->ops->version >= 7)
static inline int store_schedule_list(struct store *s, const char *workflow, int64_t due_by, size_t limit,
                                      struct store_schedule **out, size_t *n)
{
  *out = NULL;
  *n = 0;
  return STORE_SCHED_OPS_OK(s) && s->ops->schedule_list ? s->ops->schedule_list(s, workflow, due_by, limit, out, n)
                                                         : WEFT_ESTATE;
}
static inline int store_schedule_put(struct store *s, const struct store_schedule *r)
{
  return STORE_SCHED_OPS_OK(s) && s->ops->schedule_put ? s->ops->schedule_put(s, r) : WEFT_ESTATE;
}
static inline int store_schedule_delete(struct store *s, const char *workflow, int idx)
{
  return STORE_SCHED_OPS_OK(s) && s->ops->schedule_delete ? s->ops->schedule_delete(s, workflow, idx)
                                                           : WEFT_ESTATE;
}
static inline int store_run_trigger_put(struct store *s, const char *run_id, const char *json)
{
  return STORE_SCHED_OPS_OK(s) && s->ops->run_trigger_put ? s->ops->run_trigger_put(s, run_id, json)
                                                           : WEFT_ESTATE;
}
static inline int store_run_trigger_get(struct store *s, const char *run_id, char **json)
{
  *json = NULL;
  return STORE_SCHED_OPS_OK(s) && s->ops->run_trigger_get ? s->ops->run_trigger_get(s, run_id, json)
                                                           : WEFT_ESTATE;
}
/* Concurrency groups and notifications (version 9); WEFT_ESTATE from an
 * older backend. */
#define STORE_CONC_OPS_OK(s) ((s)->ops->version >= 9)
static inline int store_run_group_set(struct store *s, const char *run_id, const char *group)
{
  return STORE_CONC_OPS_OK(s) && s->ops->run_group_set ? s->ops->run_group_set(s, run_id, group) : WEFT_ESTATE;
}
static inline int store_group_count(struct store *s, const char *group, int64_t *active, int64_t *waiting)
{
  *active = *waiting = 0;
  return STORE_CONC_OPS_OK(s) && s->ops->group_count ? s->ops->group_count(s, group, active, waiting)
                                                      : WEFT_ESTATE;
}
static inline int store_group_runs(struct store *s, const char *group, bool waiting, size_t limit, char ***ids,
                                   size_t *n)
{
  *ids = NULL;
  *n = 0;
  return STORE_CONC_OPS_OK(s) && s->ops->group_runs ? s->ops->group_runs(s, group, waiting, limit, ids, n)
                                                     : WEFT_ESTATE;
}
static inline int store_notice_put(struct store *s, const struct store_notice *no, int64_t *id)
{
  return STORE_CONC_OPS_OK(s) && s->ops->notice_put ? s->ops->notice_put(s, no, id) : WEFT_ESTATE;
}
static inline int store_notice_due(struct store *s, int64_t now, size_t limit, struct store_notice **out,
                                   size_t *n, int64_t *next_at)
{
  *out = NULL;
  *n = 0;
  *next_at = INT64_MAX;
  return STORE_CONC_OPS_OK(s) && s->ops->notice_due ? s->ops->notice_due(s, now, limit, out, n, next_at)
                                                     : WEFT_ESTATE;
}
static inline int store_notice_update(struct store *s, int64_t id, const char *status, int attempts,
                                      int64_t next_at, const char *error)
{
  return STORE_CONC_OPS_OK(s) && s->ops->notice_update
           ? s->ops->notice_update(s, id, status, attempts, next_at, error)
           : WEFT_ESTATE;
}
/* The newest deployed version of name: 0 and *out filled (caller clears),
 * WEFT_ENOTFOUND when name was never deployed, or another failure. */
int store_deploy_newest(struct store *s, const char *name, struct store_deployment *out);
/* audit_append of text already canonical (audit_append_canon; backends older
 * than version 2 get it through audit_append). */
int store_audit_append_canon(struct store *s, int64_t at, const char *run_id, const char *kind,
                             const char *canon, int64_t *seq_out);
/* audit_append of a jansson value (borrowed; NULL: null), dumped in canonical
 * form directly (audit_append_canon), or as text for backends older than 2. */
struct json_t; /* jansson's json_t */
int store_audit_append_json(struct store *s, int64_t at, const char *run_id, const char *kind,
                            const struct json_t *data, int64_t *seq_out);

#endif
