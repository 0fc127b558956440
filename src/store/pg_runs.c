/* pg_runs.c — workflow versions and runs in the PostgreSQL backend: upsert,
 * lookup by id or unique prefix, filtered lists, ownership (claim, release,
 * heartbeat), idempotency keys and the trigger object of a run. The same
 * contract as sqlite_runs.c / sqlite_deploy.c / sqlite_sched.c (store.h). */
#include "store/pg_int.h"
#include "util/err.h"
#include "util/jsonfmt.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- workflows ---- */

int pg_workflow_put(struct store *s, const char *name, const char *path, const char *source,
                    int64_t now, char hash_out[SHA256_HEX_LEN + 1], bool *created)
{
  struct pg *g = pg_of(s);
  bool own = false, isnew = false;
  char *data = NULL;
  json_t *j = NULL;
  PGresult *r = NULL;
  if (!name || !source)
    return pg_failf(g, WEFT_EINVAL, "store: workflow_put needs a name and a source");
  sha256_hex(source, strlen(source), hash_out);
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  struct pgp p = {0};
  pgp_text(&p, hash_out);
  pgp_text(&p, name);
  pgp_text(&p, path);
  pgp_text(&p, source);
  pgp_int(&p, now);
  if ((rc = pg_exec(g,
                    "INSERT INTO workflows(hash, name, path, source, created_at) "
                    "VALUES($1, $2, $3, $4, $5) ON CONFLICT(hash) DO NOTHING",
                    &p, "insert workflow", &r)))
    goto out;
  isnew = pg_changes(r) > 0;
  if (isnew) {
    j = json_pack("{s:s, s:s, s:s?}", "hash", hash_out, "name", name, "path", path);
    data = j ? wjson_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!data) {
      rc = WEFT_ENOMEM;
      goto out;
    }
    rc = pg_audit_append(s, now, NULL, "definition", data, NULL);
  }
out:
  PQclear(r);
  json_decref(j);
  free(data);
  rc = pg_tx_end(g, own, rc);
  if (created)
    *created = rc == 0 && isnew;
  return rc;
}

int pg_workflow_get(struct store *s, const char *hash, struct store_workflow *out)
{
  struct pg *g = pg_of(s);
  PGresult *r = NULL;
  memset(out, 0, sizeof *out);
  struct pgp p = {0};
  pgp_text(&p, hash);
  int rc = pg_exec(g, "SELECT hash, name, path, source, created_at FROM workflows WHERE hash = $1",
                   &p, "get workflow", &r);
  if (rc)
    return rc;
  if (PQntuples(r) == 0) {
    rc = pg_failf(g, WEFT_ENOTFOUND, "store: no workflow version %s", hash);
  } else {
    int oom = 0;
    out->hash = pg_col_text(r, 0, 0, &oom);
    out->name = pg_col_text(r, 0, 1, &oom);
    out->path = pg_col_text(r, 0, 2, &oom);
    out->source = pg_col_text(r, 0, 3, &oom);
    out->created_at = pg_col_i64(r, 0, 4);
    if (oom)
      rc = WEFT_ENOMEM;
  }
  PQclear(r);
  if (rc)
    store_workflow_clear(out);
  return rc;
}

/* ---- runs ---- */

#define RUN_COLS                                                                         \
  "id, workflow, workflow_hash, path, status, trigger, parent_id, parent_step, "         \
  "parent_index, started_by, inputs, outputs, error, created_at, started_at, finished_at, " \
  "owner_pid, owner_start, heartbeat_at"

static int run_from_row(PGresult *res, int i, struct store_run *r)
{
  int oom = 0;
  r->id = pg_col_text(res, i, 0, &oom);
  r->workflow = pg_col_text(res, i, 1, &oom);
  r->workflow_hash = pg_col_text(res, i, 2, &oom);
  r->path = pg_col_text(res, i, 3, &oom);
  r->status = pg_col_text(res, i, 4, &oom);
  r->trigger = pg_col_text(res, i, 5, &oom);
  r->parent_id = pg_col_text(res, i, 6, &oom);
  r->parent_step = pg_col_text(res, i, 7, &oom);
  r->parent_index = pg_col_int(res, i, 8);
  r->started_by = pg_col_text(res, i, 9, &oom);
  r->inputs = pg_col_text(res, i, 10, &oom);
  r->outputs = pg_col_text(res, i, 11, &oom);
  r->error = pg_col_text(res, i, 12, &oom);
  r->created_at = pg_col_i64(res, i, 13);
  r->started_at = pg_col_i64(res, i, 14);
  r->finished_at = pg_col_i64(res, i, 15);
  r->owner_pid = pg_col_int(res, i, 16);
  r->owner_start = pg_col_i64(res, i, 17);
  r->heartbeat_at = pg_col_i64(res, i, 18);
  return oom ? WEFT_ENOMEM : 0;
}

/* Runs sql and returns its rows (*out, *n; caller frees). */
static void run_rows_free(void *v, size_t n) { store_runs_free(v, n); }
static int run_rows_one(PGresult *r, int row, void *elem) { return run_from_row(r, row, elem); }
static int run_rows(struct pg *g, const char *sql, const struct pgp *p, const char *what,
                    struct store_run **out, size_t *n)
{
  void *v = NULL;
  int rc = pg_rows(g, sql, p, what, sizeof **out, run_rows_one, run_rows_free, &v, n);
  *out = v;
  return rc;
}

int pg_run_put(struct store *s, const struct store_run *r)
{
  struct pg *g = pg_of(s);
  bool own;
  if (!r->id || !r->workflow || !r->status)
    return pg_failf(g, WEFT_EINVAL, "store: a run needs an id, a workflow and a status");
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  struct pgp p = {0};
  pgp_text(&p, r->id);
  pgp_text(&p, r->workflow);
  pgp_text(&p, r->workflow_hash);
  pgp_text(&p, r->path);
  pgp_text(&p, r->status);
  pgp_text(&p, r->trigger);
  pgp_text(&p, r->parent_id);
  pgp_text(&p, r->parent_step);
  pgp_int(&p, r->parent_id ? r->parent_index : STORE_NO_INDEX);
  pgp_text(&p, r->started_by);
  pgp_text(&p, r->inputs);
  pgp_text(&p, r->outputs);
  pgp_text(&p, r->error);
  pgp_int(&p, r->created_at);
  pgp_time(&p, r->started_at);
  pgp_time(&p, r->finished_at);
  if (r->owner_pid > 0) {
    pgp_int(&p, r->owner_pid);
    pgp_int(&p, r->owner_start);
  } else {
    pgp_text(&p, NULL);
    pgp_text(&p, NULL);
  }
  pgp_time(&p, r->heartbeat_at);
  rc = pg_exec(
    g,
    "INSERT INTO runs(" RUN_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
    "$13, $14, $15, $16, $17, $18, $19) "
    "ON CONFLICT(id) DO UPDATE SET workflow = excluded.workflow, "
    "workflow_hash = excluded.workflow_hash, path = excluded.path, status = excluded.status, "
    "trigger = excluded.trigger, parent_id = excluded.parent_id, "
    "parent_step = excluded.parent_step, parent_index = excluded.parent_index, "
    "started_by = excluded.started_by, inputs = excluded.inputs, outputs = excluded.outputs, "
    "error = excluded.error, created_at = excluded.created_at, "
    "started_at = excluded.started_at, finished_at = excluded.finished_at",
    &p, "put run", NULL);
  return pg_tx_end(g, own, rc);
}

int pg_run_get(struct store *s, const char *id_or_prefix, struct store_run *out)
{
  struct pg *g = pg_of(s);
  struct store_run *v = NULL;
  size_t n = 0;
  char prefix[64], upper[66];
  memset(out, 0, sizeof *out);
  size_t len = id_or_prefix ? strlen(id_or_prefix) : 0;
  if (len == 0 || len >= sizeof prefix)
    return pg_failf(g, WEFT_EINVAL, "store: '%s' is not a run id", id_or_prefix ? id_or_prefix : "");
  for (size_t i = 0; i <= len; i++)
    prefix[i] = (char)toupper((unsigned char)id_or_prefix[i]);
  struct pgp p = {0};
  pgp_text(&p, prefix);
  int rc = run_rows(g, "SELECT " RUN_COLS " FROM runs WHERE id = $1", &p, "get run", &v, &n);
  if (rc == 0 && n == 0) {
    snprintf(upper, sizeof upper, "%s\x7f", prefix);
    pgp_text(&p, upper);
    rc = run_rows(g, "SELECT " RUN_COLS " FROM runs WHERE id >= $1 AND id < $2 ORDER BY id LIMIT 2",
                  &p, "get run", &v, &n);
  }
  if (rc)
    goto out;
  if (n == 0) {
    rc = pg_failf(g, WEFT_ENOTFOUND, "no run matches '%s' (see `weft runs`)", id_or_prefix);
  } else if (n > 1) {
    rc = pg_failf(g, WEFT_EAMBIGUOUS, "'%s' matches several runs (%s, %s, ...); give more characters",
                  id_or_prefix, v[0].id, v[1].id);
  } else {
    *out = v[0];
    n = 0;
  }
out:
  store_runs_free(v, n);
  return rc;
}

int pg_run_list(struct store *s, const struct store_run_filter *f, struct store_run **out,
                size_t *n)
{
  struct pgp p = {0};
  pgp_text(&p, f ? f->status : NULL);
  pgp_text(&p, f ? f->workflow : NULL);
  pgp_text(&p, f ? f->parent_id : NULL);
  if (f && f->limit)
    pgp_int(&p, (int64_t)f->limit);
  else
    pgp_text(&p, NULL); /* LIMIT NULL: no limit */
  pgp_text(&p, f ? f->trigger : NULL);
  pgp_text(&p, f ? f->before_id : NULL);
  const char *sql =
    f && f->parent_id
      ? "SELECT " RUN_COLS " FROM runs WHERE parent_id = $3::text AND ($1::text IS NULL OR "
        "status = $1) AND ($2::text IS NULL OR workflow = $2) AND ($5::text IS NULL OR "
        "trigger = $5) AND ($6::text IS NULL OR id < $6) ORDER BY id DESC LIMIT $4::bigint"
      : "SELECT " RUN_COLS " FROM runs WHERE ($1::text IS NULL OR status = $1) "
        "AND ($2::text IS NULL OR workflow = $2) AND ($3::text IS NULL OR parent_id = $3) "
        "AND ($5::text IS NULL OR trigger = $5) AND ($6::text IS NULL OR id < $6) "
        "ORDER BY id DESC LIMIT $4::bigint";
  return run_rows(pg_of(s), sql, &p, "list runs", out, n);
}

int pg_run_list_active(struct store *s, struct store_run **out, size_t *n)
{
  return run_rows(pg_of(s),
                  "SELECT " RUN_COLS " FROM runs WHERE status IN ('queued', 'running', 'waiting') "
                  "ORDER BY id",
                  NULL, "list active runs", out, n);
}

int pg_run_claim(struct store *s, const char *run_id, int pid, int64_t start, int64_t now)
{
  struct pg *g = pg_of(s);
  struct store_run *v = NULL;
  size_t n = 0;
  bool own;
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  struct pgp p = {0};
  pgp_text(&p, run_id);
  if ((rc = run_rows(g, "SELECT " RUN_COLS " FROM runs WHERE id = $1 FOR UPDATE", &p, "claim run",
                     &v, &n)))
    goto out;
  if (n == 0) {
    rc = pg_failf(g, WEFT_ENOTFOUND, "store: no run %s", run_id);
    goto out;
  }
  bool mine = v[0].owner_pid == pid && v[0].owner_start == start;
  if (!mine && store_run_owner_alive(&v[0])) {
    rc = pg_failf(g, WEFT_EBUSY, "run %s is executed by another weft process (pid %d)", run_id,
                  v[0].owner_pid);
    goto out;
  }
  pgp_int(&p, pid);
  pgp_int(&p, start);
  pgp_int(&p, now);
  rc = pg_exec(g, "UPDATE runs SET owner_pid = $2, owner_start = $3, heartbeat_at = $4 WHERE id = $1",
               &p, "claim run", NULL);
out:
  store_runs_free(v, n);
  return pg_tx_end(g, own, rc);
}

int pg_run_release(struct store *s, const char *run_id)
{
  struct pg *g = pg_of(s);
  bool own;
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  struct pgp p = {0};
  pgp_text(&p, run_id);
  rc = pg_exec(g, "UPDATE runs SET owner_pid = NULL, owner_start = NULL WHERE id = $1", &p,
               "release run", NULL);
  return pg_tx_end(g, own, rc);
}

int pg_heartbeat(struct store *s, int pid, int64_t start, int64_t now)
{
  struct pg *g = pg_of(s);
  bool own;
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  struct pgp p = {0};
  pgp_int(&p, pid);
  pgp_int(&p, start);
  pgp_int(&p, now);
  rc = pg_exec(g, "UPDATE runs SET heartbeat_at = $3 WHERE owner_pid = $1 AND owner_start = $2",
               &p, "heartbeat", NULL);
  return pg_tx_end(g, own, rc);
}

/* ---- idempotency keys and trigger objects ---- */

int pg_run_key_set(struct store *s, const char *run_id, const char *key)
{
  struct pg *g = pg_of(s);
  bool own;
  PGresult *r = NULL;
  char state[6];
  if (!run_id || !key || !*key)
    return pg_failf(g, WEFT_EINVAL, "store: run_key_set needs a run id and a key");
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  /* a savepoint: a duplicate key must not abort the caller's transaction
   * (SQLite's statement fails alone) */
  if ((rc = pg_exec(g, "SAVEPOINT weft_key", NULL, "set idempotency key", NULL)))
    goto out;
  struct pgp p = {0};
  pgp_text(&p, run_id);
  pgp_text(&p, key);
  rc = pg_exec_state(g, "UPDATE runs SET idempotency_key = $2 WHERE id = $1", &p,
                     "set idempotency key", &r, state);
  if (rc && !strcmp(state, "23505")) {
    pg_exec(g, "ROLLBACK TO SAVEPOINT weft_key", NULL, "set idempotency key", NULL);
    rc = pg_failf(g, WEFT_ESTATE, "store: another run of the workflow has idempotency key %s", key);
  } else if (!rc) {
    if (pg_changes(r) == 0)
      rc = pg_failf(g, WEFT_ENOTFOUND, "store: no run %s", run_id);
    int rc2 = pg_exec(g, "RELEASE SAVEPOINT weft_key", NULL, "set idempotency key", NULL);
    if (!rc)
      rc = rc2;
  }
out:
  PQclear(r);
  return pg_tx_end(g, own, rc);
}

/* The first column of the first row (malloc'd into *out), or NULL. */
static int one_text(struct pg *g, const char *sql, const struct pgp *p, const char *what,
                    char **out)
{
  PGresult *r = NULL;
  *out = NULL;
  int rc = pg_exec(g, sql, p, what, &r);
  if (!rc && PQntuples(r) > 0 && !pg_col_null(r, 0, 0) && !(*out = strdup(PQgetvalue(r, 0, 0))))
    rc = WEFT_ENOMEM;
  PQclear(r);
  return rc;
}

int pg_run_by_key(struct store *s, const char *workflow, const char *key, char **run_id)
{
  struct pg *g = pg_of(s);
  struct pgp p = {0};
  pgp_text(&p, workflow);
  pgp_text(&p, key);
  int rc = one_text(g, "SELECT id FROM runs WHERE workflow = $1 AND idempotency_key = $2", &p,
                    "find run by key", run_id);
  if (!rc && !*run_id)
    rc = pg_failf(g, WEFT_ENOTFOUND, "store: no run of %s has idempotency key %s", workflow, key);
  return rc;
}

int pg_run_trigger_put(struct store *s, const char *run_id, const char *json)
{
  struct pg *g = pg_of(s);
  bool own;
  PGresult *r = NULL;
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  struct pgp p = {0};
  pgp_text(&p, run_id);
  pgp_text(&p, json);
  if (!(rc = pg_exec(g, "UPDATE runs SET trigger_data = $2 WHERE id = $1", &p, "put run trigger",
                     &r)) &&
      pg_changes(r) == 0)
    rc = pg_failf(g, WEFT_ENOTFOUND, "store: no run %s", run_id);
  PQclear(r);
  return pg_tx_end(g, own, rc);
}

int pg_run_trigger_get(struct store *s, const char *run_id, char **json)
{
  struct pgp p = {0};
  pgp_text(&p, run_id);
  return one_text(pg_of(s), "SELECT trigger_data FROM runs WHERE id = $1", &p, "get run trigger",
                  json);
}
