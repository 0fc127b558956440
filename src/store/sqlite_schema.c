/* sqlite_schema.c — the SQLite schema, as an append-only list of migrations.
 *
 * Migration i (0-based) brings the database from PRAGMA user_version i to
 * i + 1; sqlite.c runs the missing ones in one BEGIN IMMEDIATE transaction
 * when a store is opened. NEVER edit or reorder an entry that has been
 * committed: databases in the field have already run it. Add a new entry at
 * the end instead (ALTER TABLE ADD COLUMN, CREATE INDEX, a new table...).
 *
 * Conventions: times are INTEGER ms (NULL when absent), JSON is TEXT, a step
 * index of -1 means a plain (not for_each) step. Tables with natural keys are
 * WITHOUT ROWID so the key is the clustered index. */
#include "store/sqlite_int.h"

const char *const sq_migrations[] = {
  /* 1: the initial schema */
  "CREATE TABLE workflows("
  "  hash TEXT PRIMARY KEY, name TEXT NOT NULL, path TEXT, source TEXT NOT NULL,"
  "  created_at INTEGER NOT NULL) WITHOUT ROWID;"
  "CREATE INDEX workflows_name ON workflows(name, created_at);"

  "CREATE TABLE runs("
  "  id TEXT PRIMARY KEY, workflow TEXT NOT NULL, workflow_hash TEXT, path TEXT,"
  "  status TEXT NOT NULL, trigger TEXT, parent_id TEXT, parent_step TEXT,"
  "  parent_index INTEGER NOT NULL DEFAULT -1, started_by TEXT,"
  "  inputs TEXT, outputs TEXT, error TEXT,"
  "  created_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER,"
  "  owner_pid INTEGER, owner_start INTEGER, heartbeat_at INTEGER) WITHOUT ROWID;"
  "CREATE INDEX runs_status ON runs(status);"
  "CREATE INDEX runs_workflow ON runs(workflow);"
  "CREATE INDEX runs_parent ON runs(parent_id) WHERE parent_id IS NOT NULL;"
  "CREATE INDEX runs_owner ON runs(owner_pid, owner_start) WHERE owner_pid IS NOT NULL;"

  "CREATE TABLE steps("
  "  run_id TEXT NOT NULL, step TEXT NOT NULL, idx INTEGER NOT NULL,"
  "  status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, exit_code INTEGER,"
  "  error TEXT, outputs TEXT, started_at INTEGER, finished_at INTEGER,"
  "  iteration INTEGER NOT NULL DEFAULT 0, pid INTEGER, pgid INTEGER,"
  "  PRIMARY KEY(run_id, step, idx)) WITHOUT ROWID;"

  "CREATE TABLE attempts("
  "  run_id TEXT NOT NULL, step TEXT NOT NULL, idx INTEGER NOT NULL,"
  "  attempt INTEGER NOT NULL, status TEXT NOT NULL, exit_code INTEGER, error TEXT,"
  "  started_at INTEGER, finished_at INTEGER, log_path TEXT,"
  "  PRIMARY KEY(run_id, step, idx, attempt)) WITHOUT ROWID;"

  "CREATE TABLE inbox("
  "  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, run_id TEXT, step TEXT,"
  "  idx INTEGER NOT NULL DEFAULT -1, user TEXT, payload TEXT,"
  "  created_at INTEGER NOT NULL, taken_at INTEGER);"
  "CREATE INDEX inbox_pending ON inbox(run_id) WHERE taken_at IS NULL;"

  "CREATE TABLE decisions("
  "  id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, step TEXT NOT NULL,"
  "  idx INTEGER NOT NULL DEFAULT -1, user TEXT NOT NULL, decision TEXT NOT NULL,"
  "  comment TEXT, fields TEXT, at INTEGER NOT NULL);"
  "CREATE INDEX decisions_step ON decisions(run_id, step, idx);"

  "CREATE TABLE audit("
  "  seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, run_id TEXT, kind TEXT NOT NULL,"
  "  data TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
  "CREATE INDEX audit_run ON audit(run_id, seq) WHERE run_id IS NOT NULL;"
  "CREATE TABLE audit_head("
  "  id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);",

  /* 2: event names on inbox rows (events are matched by name); waiting
   * step instances found without a scan (`weft approvals`) */
  "ALTER TABLE inbox ADD COLUMN name TEXT;"
  "CREATE INDEX steps_waiting ON steps(run_id) WHERE status = 'waiting';",

  /* 3: agent transcripts: each model reply and tool result of an agent
   * attempt, in order (seq 0, 1, ...), so a resumed run goes on without
   * calling the model again (exec/agent.c) */
  "CREATE TABLE agent_turns("
  "  run_id TEXT NOT NULL, step TEXT NOT NULL, idx INTEGER NOT NULL,"
  "  attempt INTEGER NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL,"
  "  at INTEGER NOT NULL,"
  "  PRIMARY KEY(run_id, step, idx, attempt, seq)) WITHOUT ROWID;",

  /* 4: when a step in retry backoff or repeat delay is due, so that resume
   * re-arms its timer at that time instead of starting it at once */
  "ALTER TABLE steps ADD COLUMN due_at INTEGER;",

  /* 5: durable dispatch: the attempt a pending step instance may start before
   * its running transition is committed (engine_reserve in engine.h) */
  "ALTER TABLE steps ADD COLUMN reserved INTEGER;",

  /* 6: big for_each steps stay cheap to inspect: the number of instances per
   * status on the step's own row (idx -1; JSON text written by the runtime
   * with every commit that changes it), and the failed instances found
   * without a scan (`weft status` lists them first) */
  "ALTER TABLE steps ADD COLUMN counts TEXT;"
  "CREATE INDEX steps_failed ON steps(run_id, step, idx) WHERE status = 'failed';",

  /* 7: API tokens (store/sqlite_tokens.c): only the SHA-256 (hex) of a token
   * is kept, never the token; the hash is the lookup key of an
   * authentication, so it is unique and indexed */
  "CREATE TABLE tokens("
  "  id TEXT PRIMARY KEY, user TEXT NOT NULL, name TEXT, hash TEXT NOT NULL UNIQUE,"
  "  created_at INTEGER NOT NULL, expires_at INTEGER, revoked_at INTEGER,"
  "  last_used_at INTEGER) WITHOUT ROWID;"
  "CREATE INDEX tokens_user ON tokens(user, created_at);",

  /* 8: deployed workflows (store/sqlite_deploy.c): the versions of each name,
   * 1, 2, 3..., each naming a stored definition by hash; and the
   * idempotency key a run was started with (POST /workflows/{name}/runs,
   * later the triggers' (trigger, scheduled time)), unique per workflow */
  "CREATE TABLE deployments("
  "  name TEXT NOT NULL, version INTEGER NOT NULL, hash TEXT NOT NULL, path TEXT,"
  "  deployed_at INTEGER NOT NULL, deployed_by TEXT,"
  "  PRIMARY KEY(name, version)) WITHOUT ROWID;"
  "ALTER TABLE runs ADD COLUMN idempotency_key TEXT;"
  "CREATE UNIQUE INDEX runs_idempotency ON runs(workflow, idempotency_key)"
  "  WHERE idempotency_key IS NOT NULL;",

  /* 9: schedules (store/sqlite_sched.c, ops/schedules.c): one row per
   * (workflow, trigger index) of the newest deployed version's schedules,
   * with its next fire time (seconds; the loop arms one timer for the
   * earliest); and the `.trigger` object a run started with */
  "CREATE TABLE schedules("
  "  workflow TEXT NOT NULL, idx INTEGER NOT NULL, version INTEGER NOT NULL,"
  "  expr TEXT NOT NULL, timezone TEXT, next_at INTEGER NOT NULL,"
  "  last_at INTEGER NOT NULL DEFAULT 0, last_run TEXT,"
  "  PRIMARY KEY(workflow, idx)) WITHOUT ROWID;"
  "CREATE INDEX schedules_next ON schedules(next_at);"
  "ALTER TABLE runs ADD COLUMN trigger_data TEXT;",

  /* 10: events sent to one run (`weft event send NAME --run RUN`), kept until
   * a wait of that run consumes one (store/sqlite_runevents.c): consumed_by
   * names the attempt that claimed it ("step[/index]#attempt"), so a crash
   * between the claim and the step's commit hands the same event back to the
   * same attempt at resume */
  "CREATE TABLE run_events("
  "  id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, name TEXT NOT NULL, payload TEXT,"
  "  sent_by TEXT, created_at INTEGER NOT NULL, consumed_at INTEGER, consumed_by TEXT);"
  "CREATE INDEX run_events_pending ON run_events(run_id, name, id) WHERE consumed_at IS NULL;"
  "CREATE INDEX run_events_by ON run_events(run_id, consumed_by) WHERE consumed_by IS NOT NULL;"
  /* and the mutexes held (`mutex:` steps, store/sqlite_runevents.c): one row
   * per held name ("run/RUN/NAME" or "global/NAME"), with the holding
   * attempt and the process (pid, start time) whose death frees it */
  "CREATE TABLE mutexes("
  "  name TEXT PRIMARY KEY, run_id TEXT NOT NULL, step TEXT NOT NULL, idx INTEGER NOT NULL,"
  "  attempt INTEGER NOT NULL, pid INTEGER NOT NULL, pstart INTEGER NOT NULL,"
  "  acquired_at INTEGER NOT NULL) WITHOUT ROWID;"
  "CREATE INDEX mutexes_run ON mutexes(run_id);",

  /* 11: reserved (taken by another branch's migration on merge) */
  "",

  /* 12: concurrency groups and notifications (store/sqlite_conc.c): the
   * group a run counts in (workflow + key value; NULL: none), counted by
   * status without a scan; and the outbox of notify: deliveries, each with
   * its attempts and the time it is next due */
  "ALTER TABLE runs ADD COLUMN concurrency_group TEXT;"
  "CREATE INDEX runs_group ON runs(concurrency_group, status) WHERE concurrency_group IS NOT NULL;"
  "CREATE TABLE notices("
  "  id INTEGER PRIMARY KEY, run_id TEXT, workflow TEXT NOT NULL, event TEXT NOT NULL,"
  "  step TEXT, secret TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL,"
  "  attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,"
  "  created_at INTEGER NOT NULL, error TEXT);"
  "CREATE INDEX notices_due ON notices(next_at) WHERE status = 'pending';",
};

const int sq_n_migrations = (int)(sizeof sq_migrations / sizeof sq_migrations[0]);
