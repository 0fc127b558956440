/* sqlite_conc.c — concurrency groups and the notification outbox in the
 * SQLite backend (store.h, ops version 9): runs.concurrency_group, counted
 * by status through the runs_group index (ops/concurrency.c decides with
 * it), and the notices table, one row per notify: delivery with its
 * attempts and next due time (ops/notify.c delivers them). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"

void store_notice_clear(struct store_notice *r);
void store_notice_clear(struct store_notice *r)
{
  free(r->run_id);
  free(r->workflow);
  free(r->event);
  free(r->step);
  free(r->secret);
  free(r->body);
  free(r->status);
  free(r->error);
  memset(r, 0, sizeof *r);
}

void store_notices_free(struct store_notice *v, size_t n)
{
  for (size_t i = 0; v && i < n; i++)
    store_notice_clear(&v[i]);
  free(v);
}

int sq_run_group_set(struct store *s, const char *run_id, const char *group)
{
  struct sq *q = sq_of(s);
  bool own;
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_RUN_GROUP_SET, "UPDATE runs SET concurrency_group = ?2 WHERE id = ?1");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, run_id);
  sq_bind_text(st, 2, group);
  if (!(rc = sq_exec(q, st, "set run group")) && sqlite3_changes(q->db) == 0)
    rc = sq_failf(q, WEFT_ENOTFOUND, "store: no run %s", run_id);
out:
  return sq_tx_end(q, own, rc);
}

struct two {
  int64_t *a, *w;
};

static int count_row(void *ctx, sqlite3_stmt *st)
{
  struct two *t = ctx;
  *t->a = sqlite3_column_int64(st, 0);
  *t->w = sqlite3_column_int64(st, 1);
  return 0;
}

#define ACTIVE_WHERE                                                                                         \
  "(status IN ('running', 'waiting') OR (status = 'queued' AND owner_pid IS NOT NULL AND owner_pid > 0))"
#define WAITING_WHERE "(status = 'queued' AND (owner_pid IS NULL OR owner_pid <= 0))"

int sq_group_count(struct store *s, const char *group, int64_t *active, int64_t *waiting)
{
  struct sq *q = sq_of(s);
  *active = *waiting = 0;
  sqlite3_stmt *st = sq_stmt(q, SQ_GROUP_COUNT,
                             "SELECT coalesce(sum(" ACTIVE_WHERE "), 0), coalesce(sum(" WAITING_WHERE "), 0) "
                             "FROM runs WHERE concurrency_group = ?1 "
                             "AND status IN ('queued', 'running', 'waiting')");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, group);
  struct two t = {active, waiting};
  return sq_query(q, st, count_row, NULL, &t, "count group");
}

struct idvec {
  char **v;
  size_t n, cap;
};

static int id_row(void *ctx, sqlite3_stmt *st)
{
  struct idvec *iv = ctx;
  int rc = sq_grow((void **)&iv->v, &iv->cap, iv->n, sizeof *iv->v);
  if (rc)
    return rc;
  int oom = 0;
  iv->v[iv->n] = sq_col_text(st, 0, &oom);
  if (iv->v[iv->n])
    iv->n++;
  return oom ? WEFT_ENOMEM : 0;
}

static void id_restart(void *ctx)
{
  struct idvec *iv = ctx;
  for (size_t i = 0; i < iv->n; i++)
    free(iv->v[i]);
  iv->n = 0;
}

int sq_group_runs(struct store *s, const char *group, bool waiting, size_t limit, char ***ids, size_t *n)
{
  struct sq *q = sq_of(s);
  *ids = NULL;
  *n = 0;
  sqlite3_stmt *st =
    waiting ? sq_stmt(q, SQ_GROUP_WAITING,
                      "SELECT id FROM runs WHERE concurrency_group = ?1 AND " WAITING_WHERE " ORDER BY id LIMIT ?2")
            : sq_stmt(q, SQ_GROUP_ACTIVE,
                      "SELECT id FROM runs WHERE concurrency_group = ?1 AND status IN ('queued', 'running', "
                      "'waiting') AND " ACTIVE_WHERE " ORDER BY id LIMIT ?2");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, group);
  sqlite3_bind_int64(st, 2, limit ? (int64_t)limit : -1);
  struct idvec iv = {0};
  int rc = sq_query(q, st, id_row, id_restart, &iv, "list group runs");
  if (rc) {
    id_restart(&iv);
    free(iv.v);
    return rc;
  }
  *ids = iv.v;
  *n = iv.n;
  return 0;
}

int sq_notice_put(struct store *s, const struct store_notice *no, int64_t *id)
{
  struct sq *q = sq_of(s);
  bool own;
  if (!no->workflow || !no->event || !no->secret || !no->body)
    return sq_failf(q, WEFT_EINVAL, "store: a notice needs a workflow, an event, a secret and a body");
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_NOTICE_PUT,
                             "INSERT INTO notices(run_id, workflow, event, step, secret, body, status, attempts, "
                             "next_at, created_at, error) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, no->run_id);
  sq_bind_text(st, 2, no->workflow);
  sq_bind_text(st, 3, no->event);
  sq_bind_text(st, 4, no->step);
  sq_bind_text(st, 5, no->secret);
  sq_bind_text(st, 6, no->body);
  sq_bind_text(st, 7, no->status ? no->status : "pending");
  sqlite3_bind_int(st, 8, no->attempts);
  sqlite3_bind_int64(st, 9, no->next_at);
  sqlite3_bind_int64(st, 10, no->created_at);
  sq_bind_text(st, 11, no->error);
  if (!(rc = sq_exec(q, st, "put notice")) && id)
    *id = sqlite3_last_insert_rowid(q->db);
out:
  return sq_tx_end(q, own, rc);
}

struct nvec {
  struct store_notice *v;
  size_t n, cap;
};

static int notice_row(void *ctx, sqlite3_stmt *st)
{
  struct nvec *nv = ctx;
  int rc = sq_grow((void **)&nv->v, &nv->cap, nv->n, sizeof *nv->v);
  if (rc)
    return rc;
  struct store_notice *r = &nv->v[nv->n++];
  memset(r, 0, sizeof *r);
  int oom = 0;
  r->id = sqlite3_column_int64(st, 0);
  r->run_id = sq_col_text(st, 1, &oom);
  r->workflow = sq_col_text(st, 2, &oom);
  r->event = sq_col_text(st, 3, &oom);
  r->step = sq_col_text(st, 4, &oom);
  r->secret = sq_col_text(st, 5, &oom);
  r->body = sq_col_text(st, 6, &oom);
  r->status = sq_col_text(st, 7, &oom);
  r->attempts = sqlite3_column_int(st, 8);
  r->next_at = sqlite3_column_int64(st, 9);
  r->created_at = sqlite3_column_int64(st, 10);
  r->error = sq_col_text(st, 11, &oom);
  return oom ? WEFT_ENOMEM : 0;
}

static void notice_restart(void *ctx)
{
  struct nvec *nv = ctx;
  for (size_t i = 0; i < nv->n; i++)
    store_notice_clear(&nv->v[i]);
  nv->n = 0;
}

static int next_row(void *ctx, sqlite3_stmt *st)
{
  if (sqlite3_column_type(st, 0) != SQLITE_NULL)
    *(int64_t *)ctx = sqlite3_column_int64(st, 0);
  return 0;
}

int sq_notice_due(struct store *s, int64_t now, size_t limit, struct store_notice **out, size_t *n,
                  int64_t *next_at)
{
  struct sq *q = sq_of(s);
  *out = NULL;
  *n = 0;
  *next_at = INT64_MAX;
  sqlite3_stmt *st = sq_stmt(q, SQ_NOTICE_DUE,
                             "SELECT id, run_id, workflow, event, step, secret, body, status, attempts, next_at, "
                             "created_at, error FROM notices WHERE status = 'pending' AND next_at <= ?1 "
                             "ORDER BY next_at, id LIMIT ?2");
  if (!st)
    return WEFT_ESTORE;
  sqlite3_bind_int64(st, 1, now);
  sqlite3_bind_int64(st, 2, limit ? (int64_t)limit : -1);
  struct nvec nv = {0};
  int rc = sq_query(q, st, notice_row, notice_restart, &nv, "list due notices");
  if (!rc) {
    sqlite3_stmt *st2 = sq_stmt(q, SQ_NOTICE_NEXT, "SELECT min(next_at) FROM notices WHERE status = 'pending'");
    rc = st2 ? sq_query(q, st2, next_row, NULL, next_at, "next notice") : WEFT_ESTORE;
  }
  if (rc) {
    store_notices_free(nv.v, nv.n);
    return rc;
  }
  *out = nv.v;
  *n = nv.n;
  return 0;
}

int sq_notice_update(struct store *s, int64_t id, const char *status, int attempts, int64_t next_at,
                     const char *error)
{
  struct sq *q = sq_of(s);
  bool own;
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_NOTICE_UPDATE,
                             "UPDATE notices SET status = ?2, attempts = ?3, next_at = ?4, error = ?5 WHERE id = ?1");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sqlite3_bind_int64(st, 1, id);
  sq_bind_text(st, 2, status);
  sqlite3_bind_int(st, 3, attempts);
  sqlite3_bind_int64(st, 4, next_at);
  sq_bind_text(st, 5, error);
  if (!(rc = sq_exec(q, st, "update notice")) && sqlite3_changes(q->db) == 0)
    rc = sq_failf(q, WEFT_ENOTFOUND, "store: no notice %lld", (long long)id);
out:
  return sq_tx_end(q, own, rc);
}
