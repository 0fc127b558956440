/* sqlite_runs.c — workflow versions and runs in the SQLite backend: upsert,
 * lookup by id or unique prefix, filtered lists, ownership (claim, release,
 * heartbeat). See store.h for the contract of each op. */
#include "store/sqlite_int.h"
#include "util/err.h"
#include "util/jsonfmt.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ---- workflows ---- */

int sq_workflow_put(struct store *s, const char *name, const char *path, const char *source,
                    int64_t now, char hash_out[SHA256_HEX_LEN + 1], bool *created)
{
  struct sq *q = sq_of(s);
  bool own = false, isnew = false;
  char *data = NULL;
  json_t *j = NULL;
  if (!name || !source)
    return sq_failf(q, WEFT_EINVAL, "store: workflow_put needs a name and a source");
  sha256_hex(source, strlen(source), hash_out);
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_WF_INSERT,
                             "INSERT INTO workflows(hash, name, path, source, created_at) "
                             "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(hash) DO NOTHING");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, hash_out);
  sq_bind_text(st, 2, name);
  sq_bind_text(st, 3, path);
  sq_bind_text(st, 4, source);
  sqlite3_bind_int64(st, 5, now);
  if ((rc = sq_exec(q, st, "insert workflow")))
    goto out;
  isnew = sqlite3_changes(q->db) > 0;
  if (isnew) {
    j = json_pack("{s:s, s:s, s:s?}", "hash", hash_out, "name", name, "path", path);
    data = j ? wjson_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!data) {
      rc = WEFT_ENOMEM;
      goto out;
    }
    rc = sq_audit_append(s, now, NULL, "definition", data, NULL);
  }
out:
  json_decref(j);
  free(data);
  rc = sq_tx_end(q, own, rc);
  if (created)
    *created = rc == 0 && isnew;
  return rc;
}

static int wf_row(void *ctx, sqlite3_stmt *st)
{
  struct store_workflow *w = ctx;
  int oom = 0;
  store_workflow_clear(w);
  w->hash = sq_col_text(st, 0, &oom);
  w->name = sq_col_text(st, 1, &oom);
  w->path = sq_col_text(st, 2, &oom);
  w->source = sq_col_text(st, 3, &oom);
  w->created_at = sqlite3_column_int64(st, 4);
  return oom ? WEFT_ENOMEM : 0;
}

int sq_workflow_get(struct store *s, const char *hash, struct store_workflow *out)
{
  struct sq *q = sq_of(s);
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = sq_stmt(q, SQ_WF_GET,
                             "SELECT hash, name, path, source, created_at FROM workflows "
                             "WHERE hash = ?1");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, hash);
  int rc = sq_query(q, st, wf_row, NULL, out, "get workflow");
  if (rc == 0 && !out->hash)
    rc = sq_failf(q, WEFT_ENOTFOUND, "store: no workflow version %s", hash);
  if (rc)
    store_workflow_clear(out);
  return rc;
}

/* ---- runs ---- */

#define RUN_COLS                                                                         \
  "id, workflow, workflow_hash, path, status, trigger, parent_id, parent_step, "         \
  "parent_index, started_by, inputs, outputs, error, created_at, started_at, finished_at, " \
  "owner_pid, owner_start, heartbeat_at"

static int run_from_row(sqlite3_stmt *st, struct store_run *r)
{
  int oom = 0;
  r->id = sq_col_text(st, 0, &oom);
  r->workflow = sq_col_text(st, 1, &oom);
  r->workflow_hash = sq_col_text(st, 2, &oom);
  r->path = sq_col_text(st, 3, &oom);
  r->status = sq_col_text(st, 4, &oom);
  r->trigger = sq_col_text(st, 5, &oom);
  r->parent_id = sq_col_text(st, 6, &oom);
  r->parent_step = sq_col_text(st, 7, &oom);
  r->parent_index = sqlite3_column_int(st, 8);
  r->started_by = sq_col_text(st, 9, &oom);
  r->inputs = sq_col_text(st, 10, &oom);
  r->outputs = sq_col_text(st, 11, &oom);
  r->error = sq_col_text(st, 12, &oom);
  r->created_at = sqlite3_column_int64(st, 13);
  r->started_at = sqlite3_column_int64(st, 14);
  r->finished_at = sqlite3_column_int64(st, 15);
  r->owner_pid = sqlite3_column_int(st, 16);
  r->owner_start = sqlite3_column_int64(st, 17);
  r->heartbeat_at = sqlite3_column_int64(st, 18);
  return oom ? WEFT_ENOMEM : 0;
}

int sq_run_put(struct store *s, const struct store_run *r)
{
  struct sq *q = sq_of(s);
  bool own;
  if (!r->id || !r->workflow || !r->status)
    return sq_failf(q, WEFT_EINVAL, "store: a run needs an id, a workflow and a status");
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(
    q, SQ_RUN_PUT,
    "INSERT INTO runs(" RUN_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
    "?13, ?14, ?15, ?16, ?17, ?18, ?19) "
    "ON CONFLICT(id) DO UPDATE SET workflow = excluded.workflow, "
    "workflow_hash = excluded.workflow_hash, path = excluded.path, status = excluded.status, "
    "trigger = excluded.trigger, parent_id = excluded.parent_id, "
    "parent_step = excluded.parent_step, parent_index = excluded.parent_index, "
    "started_by = excluded.started_by, inputs = excluded.inputs, outputs = excluded.outputs, "
    "error = excluded.error, created_at = excluded.created_at, "
    "started_at = excluded.started_at, finished_at = excluded.finished_at");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, r->id);
  sq_bind_text(st, 2, r->workflow);
  sq_bind_text(st, 3, r->workflow_hash);
  sq_bind_text(st, 4, r->path);
  sq_bind_text(st, 5, r->status);
  sq_bind_text(st, 6, r->trigger);
  sq_bind_text(st, 7, r->parent_id);
  sq_bind_text(st, 8, r->parent_step);
  sqlite3_bind_int(st, 9, r->parent_id ? r->parent_index : STORE_NO_INDEX);
  sq_bind_text(st, 10, r->started_by);
  sq_bind_text(st, 11, r->inputs);
  sq_bind_text(st, 12, r->outputs);
  sq_bind_text(st, 13, r->error);
  sqlite3_bind_int64(st, 14, r->created_at);
  sq_bind_time(st, 15, r->started_at);
  sq_bind_time(st, 16, r->finished_at);
  if (r->owner_pid > 0) {
    sqlite3_bind_int(st, 17, r->owner_pid);
    sqlite3_bind_int64(st, 18, r->owner_start);
  }
  sq_bind_time(st, 19, r->heartbeat_at);
  rc = sq_exec(q, st, "put run");
out:
  return sq_tx_end(q, own, rc);
}

struct run_vec {
  struct store_run *v;
  size_t n, cap;
};

static int run_vec_row(void *ctx, sqlite3_stmt *st)
{
  struct run_vec *rv = ctx;
  int rc = sq_grow((void **)&rv->v, &rv->cap, rv->n, sizeof *rv->v);
  if (rc)
    return rc;
  rc = run_from_row(st, &rv->v[rv->n]);
  rv->n++; /* counted even on failure so the partial row is freed */
  return rc;
}

static void run_vec_restart(void *ctx)
{
  struct run_vec *rv = ctx;
  for (size_t i = 0; i < rv->n; i++)
    store_run_clear(&rv->v[i]);
  rv->n = 0;
}

int sq_run_get(struct store *s, const char *id_or_prefix, struct store_run *out)
{
  struct sq *q = sq_of(s);
  struct run_vec rv = {0};
  char prefix[64], upper[66];
  int rc = 0;
  memset(out, 0, sizeof *out);
  size_t len = id_or_prefix ? strlen(id_or_prefix) : 0;
  if (len == 0 || len >= sizeof prefix)
    return sq_failf(q, WEFT_EINVAL, "store: '%s' is not a run id", id_or_prefix ? id_or_prefix : "");
  /* ids are upper-case Crockford base32; accept what people type */
  for (size_t i = 0; i <= len; i++)
    prefix[i] = (char)toupper((unsigned char)id_or_prefix[i]);
  sqlite3_stmt *st = sq_stmt(q, SQ_RUN_GET_EXACT, "SELECT " RUN_COLS " FROM runs WHERE id = ?1");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, prefix);
  rc = sq_query(q, st, run_vec_row, run_vec_restart, &rv, "get run");
  if (rc == 0 && rv.n == 0) {
    /* a prefix: ids in [prefix, prefix + 0x7f) share it (ASCII ids) */
    snprintf(upper, sizeof upper, "%s\x7f", prefix);
    st = sq_stmt(q, SQ_RUN_GET_PREFIX,
                 "SELECT " RUN_COLS " FROM runs WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 2");
    if (!st) {
      rc = WEFT_ESTORE;
      goto out;
    }
    sq_bind_text(st, 1, prefix);
    sq_bind_text(st, 2, upper);
    rc = sq_query(q, st, run_vec_row, run_vec_restart, &rv, "get run");
  }
  if (rc)
    goto out;
  if (rv.n == 0) {
    rc = sq_failf(q, WEFT_ENOTFOUND, "no run matches '%s' (see `weft runs`)", id_or_prefix);
  } else if (rv.n > 1) {
    rc = sq_failf(q, WEFT_EAMBIGUOUS, "'%s' matches several runs (%s, %s, ...); give more characters",
                  id_or_prefix, rv.v[0].id, rv.v[1].id);
  } else {
    *out = rv.v[0];
    rv.n = 0;
  }
out:
  store_runs_free(rv.v, rv.n);
  return rc;
}

int sq_run_list(struct store *s, const struct store_run_filter *f, struct store_run **out,
                size_t *n)
{
  struct sq *q = sq_of(s);
  struct run_vec rv = {0};
  *out = NULL;
  *n = 0;
  /* A run's children (every GET of a run, every start) go through the
   * runs_parent index: the general statement's "?3 IS NULL OR ..." cannot use
   * it and scanned the whole table (10 ms at 100,000 runs). */
  sqlite3_stmt *st =
      f && f->parent_id
          ? sq_stmt(q, SQ_RUN_LIST_CHILDREN,
                    "SELECT " RUN_COLS " FROM runs WHERE parent_id = ?3 AND (?1 IS NULL OR status = ?1) "
                    "AND (?2 IS NULL OR workflow = ?2) "
                    "AND (?5 IS NULL OR trigger = ?5) AND (?6 IS NULL OR id < ?6) "
                    "ORDER BY id DESC LIMIT ?4")
          : sq_stmt(q, SQ_RUN_LIST,
                    "SELECT " RUN_COLS " FROM runs WHERE (?1 IS NULL OR status = ?1) "
                    "AND (?2 IS NULL OR workflow = ?2) AND (?3 IS NULL OR parent_id = ?3) "
                    "AND (?5 IS NULL OR trigger = ?5) AND (?6 IS NULL OR id < ?6) "
                    "ORDER BY id DESC LIMIT ?4");
  if (!st)
    return WEFT_ESTORE;
  if (f) {
    sq_bind_text(st, 1, f->status);
    sq_bind_text(st, 2, f->workflow);
    sq_bind_text(st, 3, f->parent_id);
    sq_bind_text(st, 5, f->trigger);
    sq_bind_text(st, 6, f->before_id);
  }
  sqlite3_bind_int64(st, 4, f && f->limit ? (int64_t)f->limit : -1);
  int rc = sq_query(q, st, run_vec_row, run_vec_restart, &rv, "list runs");
  if (rc) {
    store_runs_free(rv.v, rv.n);
    return rc;
  }
  *out = rv.v;
  *n = rv.n;
  return 0;
}

int sq_run_list_active(struct store *s, struct store_run **out, size_t *n)
{
  struct sq *q = sq_of(s);
  struct run_vec rv = {0};
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st = sq_stmt(q, SQ_RUN_ACTIVE,
                             "SELECT " RUN_COLS " FROM runs WHERE status IN ('queued', 'running', 'waiting') "
                             "ORDER BY id");
  if (!st)
    return WEFT_ESTORE;
  int rc = sq_query(q, st, run_vec_row, run_vec_restart, &rv, "list active runs");
  if (rc) {
    store_runs_free(rv.v, rv.n);
    return rc;
  }
  *out = rv.v;
  *n = rv.n;
  return 0;
}

int sq_run_claim(struct store *s, const char *run_id, int pid, int64_t start, int64_t now)
{
  struct sq *q = sq_of(s);
  struct run_vec rv = {0};
  bool own;
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_RUN_OWNER, "SELECT " RUN_COLS " FROM runs WHERE id = ?1");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, run_id);
  if ((rc = sq_query(q, st, run_vec_row, run_vec_restart, &rv, "claim run")))
    goto out;
  if (rv.n == 0) {
    rc = sq_failf(q, WEFT_ENOTFOUND, "store: no run %s", run_id);
    goto out;
  }
  const struct store_run *r = &rv.v[0];
  bool mine = r->owner_pid == pid && r->owner_start == start;
  if (!mine && store_run_owner_alive(r)) {
    rc = sq_failf(q, WEFT_EBUSY, "run %s is executed by another weft process (pid %d)", run_id,
                  r->owner_pid);
    goto out;
  }
  st = sq_stmt(q, SQ_RUN_CLAIM,
               "UPDATE runs SET owner_pid = ?2, owner_start = ?3, heartbeat_at = ?4 WHERE id = ?1");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, run_id);
  sqlite3_bind_int(st, 2, pid);
  sqlite3_bind_int64(st, 3, start);
  sqlite3_bind_int64(st, 4, now);
  rc = sq_exec(q, st, "claim run");
out:
  store_runs_free(rv.v, rv.n);
  return sq_tx_end(q, own, rc);
}

int sq_run_release(struct store *s, const char *run_id)
{
  struct sq *q = sq_of(s);
  bool own;
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_RUN_RELEASE,
                             "UPDATE runs SET owner_pid = NULL, owner_start = NULL WHERE id = ?1");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, run_id);
  rc = sq_exec(q, st, "release run");
out:
  return sq_tx_end(q, own, rc);
}

int sq_heartbeat(struct store *s, int pid, int64_t start, int64_t now)
{
  struct sq *q = sq_of(s);
  bool own;
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_HEARTBEAT,
                             "UPDATE runs SET heartbeat_at = ?3 WHERE owner_pid = ?1 AND "
                             "owner_start = ?2");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sqlite3_bind_int(st, 1, pid);
  sqlite3_bind_int64(st, 2, start);
  sqlite3_bind_int64(st, 3, now);
  rc = sq_exec(q, st, "heartbeat");
out:
  return sq_tx_end(q, own, rc);
}
