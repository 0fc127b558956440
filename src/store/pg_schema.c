/* pg_schema.c — the PostgreSQL schema, as an append-only list of migrations
 * (the whole schema of the PostgreSQL backend lives in this one file).
 *
 * Migration i (0-based) brings the database from schema_version i to i + 1;
 * pg.c runs the missing ones when a store is opened, each in its own
 * transaction, under the session advisory lock PG_MIGRATE_LOCK. A database
 * whose schema_version is higher than the number of entries here is refused
 * ("newer than this weft"). NEVER edit or reorder an entry that has been
 * committed: databases in the field have already run it. Add a new entry at
 * the end (ALTER TABLE ADD COLUMN, CREATE INDEX, a new table...).
 *
 * Migration 1 is the SQLite schema after its migration 9 (sqlite_schema.c),
 * written once. Later SQLite migrations get their PostgreSQL twin appended
 * here (the numbers of the two lists need not match).
 *
 * Conventions: times are BIGINT ms (NULL when absent), JSON is TEXT, a step
 * index of -1 means a plain step. Every text column has the "C" collation,
 * so ORDER BY and range scans (id prefixes, pagination cursors) compare
 * bytes, as SQLite does, whatever the database's locale. "user" is a
 * reserved word in PostgreSQL and is always quoted. */
#include "store/pg_int.h"

#define T "TEXT COLLATE \"C\""

const char *const pg_migrations[] = {
  /* 1: the schema of SQLite migrations 1-9 */
  "CREATE TABLE workflows("
  "  hash " T " PRIMARY KEY, name " T " NOT NULL, path " T ", source " T " NOT NULL,"
  "  created_at BIGINT NOT NULL);"
  "CREATE INDEX workflows_name ON workflows(name, created_at);"

  "CREATE TABLE runs("
  "  id " T " PRIMARY KEY, workflow " T " NOT NULL, workflow_hash " T ", path " T ","
  "  status " T " NOT NULL, trigger " T ", parent_id " T ", parent_step " T ","
  "  parent_index INTEGER NOT NULL DEFAULT -1, started_by " T ","
  "  inputs " T ", outputs " T ", error " T ","
  "  created_at BIGINT NOT NULL, started_at BIGINT, finished_at BIGINT,"
  "  owner_pid INTEGER, owner_start BIGINT, heartbeat_at BIGINT,"
  "  idempotency_key " T ", trigger_data " T ");"
  "CREATE INDEX runs_status ON runs(status);"
  "CREATE INDEX runs_workflow ON runs(workflow);"
  "CREATE INDEX runs_parent ON runs(parent_id) WHERE parent_id IS NOT NULL;"
  "CREATE INDEX runs_owner ON runs(owner_pid, owner_start) WHERE owner_pid IS NOT NULL;"
  "CREATE UNIQUE INDEX runs_idempotency ON runs(workflow, idempotency_key)"
  "  WHERE idempotency_key IS NOT NULL;"

  "CREATE TABLE steps("
  "  run_id " T " NOT NULL, step " T " NOT NULL, idx INTEGER NOT NULL,"
  "  status " T " NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, exit_code INTEGER,"
  "  error " T ", outputs " T ", started_at BIGINT, finished_at BIGINT,"
  "  iteration INTEGER NOT NULL DEFAULT 0, pid INTEGER, pgid INTEGER, due_at BIGINT,"
  "  reserved INTEGER, counts " T ","
  "  PRIMARY KEY(run_id, step, idx));"
  "CREATE INDEX steps_waiting ON steps(run_id) WHERE status = 'waiting';"
  "CREATE INDEX steps_failed ON steps(run_id, step, idx) WHERE status = 'failed';"

  "CREATE TABLE attempts("
  "  run_id " T " NOT NULL, step " T " NOT NULL, idx INTEGER NOT NULL,"
  "  attempt INTEGER NOT NULL, status " T " NOT NULL, exit_code INTEGER, error " T ","
  "  started_at BIGINT, finished_at BIGINT, log_path " T ","
  "  PRIMARY KEY(run_id, step, idx, attempt));"

  "CREATE TABLE inbox("
  "  id BIGSERIAL PRIMARY KEY, kind " T " NOT NULL, run_id " T ", step " T ","
  "  idx INTEGER NOT NULL DEFAULT -1, \"user\" " T ", payload " T ","
  "  created_at BIGINT NOT NULL, taken_at BIGINT, name " T ");"
  "CREATE INDEX inbox_pending ON inbox(run_id) WHERE taken_at IS NULL;"

  "CREATE TABLE decisions("
  "  id BIGSERIAL PRIMARY KEY, run_id " T " NOT NULL, step " T " NOT NULL,"
  "  idx INTEGER NOT NULL DEFAULT -1, \"user\" " T " NOT NULL, decision " T " NOT NULL,"
  "  comment " T ", fields " T ", at BIGINT NOT NULL);"
  "CREATE INDEX decisions_step ON decisions(run_id, step, idx);"

  "CREATE TABLE audit("
  "  seq BIGINT PRIMARY KEY, at BIGINT NOT NULL, run_id " T ", kind " T " NOT NULL,"
  "  data " T " NOT NULL, prev_hash " T " NOT NULL, hash " T " NOT NULL);"
  "CREATE INDEX audit_run ON audit(run_id, seq) WHERE run_id IS NOT NULL;"
  "CREATE TABLE audit_head("
  "  id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash " T " NOT NULL);"

  "CREATE TABLE agent_turns("
  "  run_id " T " NOT NULL, step " T " NOT NULL, idx INTEGER NOT NULL,"
  "  attempt INTEGER NOT NULL, seq INTEGER NOT NULL, data " T " NOT NULL,"
  "  at BIGINT NOT NULL,"
  "  PRIMARY KEY(run_id, step, idx, attempt, seq));"

  "CREATE TABLE tokens("
  "  id " T " PRIMARY KEY, \"user\" " T " NOT NULL, name " T ", hash " T " NOT NULL UNIQUE,"
  "  created_at BIGINT NOT NULL, expires_at BIGINT, revoked_at BIGINT,"
  "  last_used_at BIGINT);"
  "CREATE INDEX tokens_user ON tokens(\"user\", created_at);"

  "CREATE TABLE deployments("
  "  name " T " NOT NULL, version INTEGER NOT NULL, hash " T " NOT NULL, path " T ","
  "  deployed_at BIGINT NOT NULL, deployed_by " T ","
  "  PRIMARY KEY(name, version));"

  "CREATE TABLE schedules("
  "  workflow " T " NOT NULL, idx INTEGER NOT NULL, version INTEGER NOT NULL,"
  "  expr " T " NOT NULL, timezone " T ", next_at BIGINT NOT NULL,"
  "  last_at BIGINT NOT NULL DEFAULT 0, last_run " T ","
  "  PRIMARY KEY(workflow, idx));"
  "CREATE INDEX schedules_next ON schedules(next_at);",
  /* 2: reserved (store ops version 9 on PostgreSQL: run events, mutexes,
   * concurrency groups, notices; taken on merge) */
  "",
  /* 3: reserved (run leases with fencing; taken on merge) */
  "",
  /* 4: reserved (the task queue of `weft worker`; taken on merge) */
  "",
};

const int pg_n_migrations = (int)(sizeof pg_migrations / sizeof pg_migrations[0]);
