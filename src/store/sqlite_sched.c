/* sqlite_sched.c — the schedules table and the trigger object of runs in
 * the SQLite backend (store.h, ops version 7): one row per (workflow,
 * trigger index) of a deployed workflow's schedule, holding its next fire
 * time (ops/schedules.c keeps and fires it, from server/sched_loop.c's
 * timer), and runs.trigger_data, the `.trigger` object a run started with
 * (read back when the run is resumed). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"

#define SCHED_COLS "workflow, idx, version, expr, timezone, next_at, last_at, last_run"

struct sched_vec {
  struct store_schedule *v;
  size_t n, cap;
};

static int sched_row(void *ctx, sqlite3_stmt *st)
{
  struct sched_vec *sv = ctx;
  int rc = sq_grow((void **)&sv->v, &sv->cap, sv->n, sizeof *sv->v);
  if (rc)
    return rc;
  struct store_schedule *r = &sv->v[sv->n++]; /* counted first so a partial row is freed */
  memset(r, 0, sizeof *r);
  int oom = 0;
  r->workflow = sq_col_text(st, 0, &oom);
  r->idx = sqlite3_column_int(st, 1);
  r->version = sqlite3_column_int(st, 2);
  r->expr = sq_col_text(st, 3, &oom);
  r->timezone = sq_col_text(st, 4, &oom);
  r->next_at = sqlite3_column_int64(st, 5);
  r->last_at = sqlite3_column_int64(st, 6);
  r->last_run = sq_col_text(st, 7, &oom);
  return oom ? WEFT_ENOMEM : 0;
}

static void sched_restart(void *ctx)
{
  struct sched_vec *sv = ctx;
  for (size_t i = 0; i < sv->n; i++)
    store_schedule_clear(&sv->v[i]);
  sv->n = 0;
}

int sq_schedule_list(struct store *s, const char *workflow, int64_t due_by, size_t limit,
                     struct store_schedule **out, size_t *n)
{
  struct sq *q = sq_of(s);
  struct sched_vec sv = {0};
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st =
    workflow ? sq_stmt(q, SQ_SCHED_LIST_WF,
                       "SELECT " SCHED_COLS " FROM schedules WHERE workflow = ?1 AND next_at <= ?2 "
                       "ORDER BY idx LIMIT ?3")
             : sq_stmt(q, SQ_SCHED_LIST,
                       "SELECT " SCHED_COLS " FROM schedules WHERE next_at <= ?2 "
                       "ORDER BY next_at, workflow, idx LIMIT ?3");
  if (!st)
    return WEFT_ESTORE;
  if (workflow)
    sq_bind_text(st, 1, workflow);
  sqlite3_bind_int64(st, 2, due_by);
  sqlite3_bind_int64(st, 3, limit && limit < INT64_MAX ? (int64_t)limit : -1);
  int rc = sq_query(q, st, sched_row, sched_restart, &sv, "list schedules");
  if (rc) {
    store_schedules_free(sv.v, sv.n);
    return rc;
  }
  *out = sv.v;
  *n = sv.n;
  return 0;
}

int sq_schedule_put(struct store *s, const struct store_schedule *r)
{
  struct sq *q = sq_of(s);
  bool own;
  if (!r->workflow || r->idx < 1 || !r->expr)
    return sq_failf(q, WEFT_EINVAL, "store: a schedule needs a workflow, an index and an expression");
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_SCHED_PUT,
                             "INSERT INTO schedules(" SCHED_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                             "ON CONFLICT(workflow, idx) DO UPDATE SET version = excluded.version, "
                             "expr = excluded.expr, timezone = excluded.timezone, next_at = excluded.next_at, "
                             "last_at = excluded.last_at, last_run = excluded.last_run");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, r->workflow);
  sqlite3_bind_int(st, 2, r->idx);
  sqlite3_bind_int(st, 3, r->version);
  sq_bind_text(st, 4, r->expr);
  sq_bind_text(st, 5, r->timezone);
  sqlite3_bind_int64(st, 6, r->next_at);
  sqlite3_bind_int64(st, 7, r->last_at);
  sq_bind_text(st, 8, r->last_run);
  rc = sq_exec(q, st, "put schedule");
out:
  return sq_tx_end(q, own, rc);
}

int sq_schedule_delete(struct store *s, const char *workflow, int idx)
{
  struct sq *q = sq_of(s);
  bool own;
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_SCHED_DELETE, "DELETE FROM schedules WHERE workflow = ?1 AND idx = ?2");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, workflow);
  sqlite3_bind_int(st, 2, idx);
  rc = sq_exec(q, st, "delete schedule");
out:
  return sq_tx_end(q, own, rc);
}

int sq_run_trigger_put(struct store *s, const char *run_id, const char *json)
{
  struct sq *q = sq_of(s);
  bool own;
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_RUN_TRIGGER_PUT, "UPDATE runs SET trigger_data = ?2 WHERE id = ?1");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, run_id);
  sq_bind_text(st, 2, json);
  if (!(rc = sq_exec(q, st, "put run trigger")) && sqlite3_changes(q->db) == 0)
    rc = sq_failf(q, WEFT_ENOTFOUND, "store: no run %s", run_id);
out:
  return sq_tx_end(q, own, rc);
}

static int one_text(void *ctx, sqlite3_stmt *st)
{
  int oom = 0;
  char **out = ctx;
  free(*out);
  *out = sq_col_text(st, 0, &oom);
  return oom ? WEFT_ENOMEM : 0;
}

int sq_run_trigger_get(struct store *s, const char *run_id, char **json)
{
  struct sq *q = sq_of(s);
  *json = NULL;
  sqlite3_stmt *st = sq_stmt(q, SQ_RUN_TRIGGER_GET, "SELECT trigger_data FROM runs WHERE id = ?1");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, run_id);
  int rc = sq_query(q, st, one_text, NULL, json, "get run trigger");
  if (rc) {
    free(*json);
    *json = NULL;
  }
  return rc;
}
