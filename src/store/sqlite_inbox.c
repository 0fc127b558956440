/* sqlite_inbox.c — the inbox (requests from other processes to the engine
 * that owns a run) and approval decisions, in the SQLite backend.
 *
 * inbox_take is polled every ~200 ms by each engine, so the empty case must
 * be cheap: first a read-only peek through the partial index inbox_pending
 * (only untaken rows are in it), and only when something is there a write
 * transaction with UPDATE ... RETURNING, which hands each row to exactly one
 * taker because writers are serialised by BEGIN IMMEDIATE. The set of run ids
 * travels as one JSON array parameter (json_each), so the statement stays
 * prepared whatever the number of runs. */
#include "store/sqlite_int.h"
#include "util/err.h"
#include "util/jsonfmt.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int sq_inbox_post(struct store *s, const struct store_inbox *m, int64_t *id_out)
{
  struct sq *q = sq_of(s);
  bool own;
  if (!m->kind)
    return sq_failf(q, WEFT_EINVAL, "store: an inbox request needs a kind");
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_INBOX_POST,
                             "INSERT INTO inbox(kind, run_id, step, idx, user, payload, created_at, "
                             "name) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, m->kind);
  sq_bind_text(st, 2, m->run_id);
  sq_bind_text(st, 3, m->step);
  sqlite3_bind_int(st, 4, m->index);
  sq_bind_text(st, 5, m->user);
  sq_bind_text(st, 6, m->payload);
  sqlite3_bind_int64(st, 7, m->created_at);
  sq_bind_text(st, 8, m->name);
  if ((rc = sq_exec(q, st, "post request")) == 0 && id_out)
    *id_out = sqlite3_last_insert_rowid(q->db);
out:
  return sq_tx_end(q, own, rc);
}

struct inbox_vec {
  struct store_inbox *v;
  size_t n, cap;
};

static int inbox_vec_row(void *ctx, sqlite3_stmt *st)
{
  struct inbox_vec *iv = ctx;
  int oom = 0, rc = sq_grow((void **)&iv->v, &iv->cap, iv->n, sizeof *iv->v);
  if (rc)
    return rc;
  struct store_inbox *m = &iv->v[iv->n++];
  m->id = sqlite3_column_int64(st, 0);
  m->kind = sq_col_text(st, 1, &oom);
  m->run_id = sq_col_text(st, 2, &oom);
  m->step = sq_col_text(st, 3, &oom);
  m->index = sqlite3_column_int(st, 4);
  m->user = sq_col_text(st, 5, &oom);
  m->payload = sq_col_text(st, 6, &oom);
  m->created_at = sqlite3_column_int64(st, 7);
  m->taken_at = sqlite3_column_int64(st, 8);
  m->name = sq_col_text(st, 9, &oom);
  return oom ? WEFT_ENOMEM : 0;
}

static void inbox_vec_restart(void *ctx)
{
  struct inbox_vec *iv = ctx;
  for (size_t i = 0; i < iv->n; i++)
    store_inbox_clear(&iv->v[i]);
  iv->n = 0;
}

static int count_row(void *ctx, sqlite3_stmt *st)
{
  (void)st;
  ++*(int *)ctx;
  return 0;
}

static int by_id(const void *a, const void *b)
{
  const struct store_inbox *x = a, *y = b;
  return (x->id > y->id) - (x->id < y->id);
}

#define INBOX_COLS "id, kind, run_id, step, idx, user, payload, created_at, taken_at, name"
#define INBOX_WHERE                                                                  \
  "taken_at IS NULL AND (run_id IN (SELECT value FROM json_each(?1)) OR "            \
  "(?2 AND run_id IS NULL))"

int sq_inbox_take(struct store *s, const char *const *run_ids, size_t n_runs, bool events,
                  int64_t now, struct store_inbox **out, size_t *n)
{
  struct sq *q = sq_of(s);
  struct inbox_vec iv = {0};
  json_t *arr = json_array();
  char *ids = NULL;
  bool own = false, opened = false;
  int rc = 0, found = 0;
  *out = NULL;
  *n = 0;
  if (!arr) {
    rc = WEFT_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < n_runs; i++)
    if (json_array_append_new(arr, json_string(run_ids[i]))) {
      rc = WEFT_ENOMEM;
      goto out;
    }
  if (!(ids = wjson_dumps(arr, JSON_COMPACT))) {
    rc = WEFT_ENOMEM;
    goto out;
  }
  sqlite3_stmt *st = sq_stmt(q, SQ_INBOX_PEEK, "SELECT 1 FROM inbox WHERE " INBOX_WHERE " LIMIT 1");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, ids);
  sqlite3_bind_int(st, 2, events);
  if ((rc = sq_query(q, st, count_row, NULL, &found, "peek inbox")) || !found)
    goto out;
  if ((rc = sq_tx_begin(q, &own)))
    goto out;
  opened = true;
  st = sq_stmt(q, SQ_INBOX_TAKE,
               "UPDATE inbox SET taken_at = ?3 WHERE " INBOX_WHERE
               " RETURNING " INBOX_COLS);
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, ids);
  sqlite3_bind_int(st, 2, events);
  sqlite3_bind_int64(st, 3, now);
  rc = sq_query(q, st, inbox_vec_row, inbox_vec_restart, &iv, "take inbox");
out:
  if (opened)
    rc = sq_tx_end(q, own, rc);
  json_decref(arr);
  free(ids);
  if (rc) {
    store_inbox_free(iv.v, iv.n);
    return rc;
  }
  if (iv.n > 1)
    qsort(iv.v, iv.n, sizeof *iv.v, by_id); /* RETURNING order is unspecified */
  *out = iv.v;
  *n = iv.n;
  return 0;
}

int sq_event_list(struct store *s, int64_t after_id, size_t limit, struct store_inbox **out,
                  size_t *n)
{
  struct sq *q = sq_of(s);
  struct inbox_vec iv = {0};
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st = sq_stmt(q, SQ_EVENT_LIST,
                             "SELECT " INBOX_COLS " FROM inbox WHERE id > ?1 AND kind = 'event' "
                             "AND run_id IS NULL ORDER BY id LIMIT ?2");
  if (!st)
    return WEFT_ESTORE;
  sqlite3_bind_int64(st, 1, after_id);
  sqlite3_bind_int64(st, 2, limit ? (int64_t)limit : -1);
  int rc = sq_query(q, st, inbox_vec_row, inbox_vec_restart, &iv, "list events");
  if (rc) {
    store_inbox_free(iv.v, iv.n);
    return rc;
  }
  *out = iv.v;
  *n = iv.n;
  return 0;
}

/* ---- decisions ---- */

int sq_decision_put(struct store *s, const struct store_decision *d, int64_t *id_out)
{
  struct sq *q = sq_of(s);
  bool own;
  if (!d->run_id || !d->step || !d->user || !d->decision)
    return sq_failf(q, WEFT_EINVAL, "store: a decision needs a run, a step, a user and a decision");
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_DECISION_PUT,
                             "INSERT INTO decisions(run_id, step, idx, user, decision, comment, "
                             "fields, at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, d->run_id);
  sq_bind_text(st, 2, d->step);
  sqlite3_bind_int(st, 3, d->index);
  sq_bind_text(st, 4, d->user);
  sq_bind_text(st, 5, d->decision);
  sq_bind_text(st, 6, d->comment);
  sq_bind_text(st, 7, d->fields);
  sqlite3_bind_int64(st, 8, d->at);
  if ((rc = sq_exec(q, st, "put decision")) == 0 && id_out)
    *id_out = sqlite3_last_insert_rowid(q->db);
out:
  return sq_tx_end(q, own, rc);
}

struct decision_vec {
  struct store_decision *v;
  size_t n, cap;
};

static int decision_vec_row(void *ctx, sqlite3_stmt *st)
{
  struct decision_vec *dv = ctx;
  int oom = 0, rc = sq_grow((void **)&dv->v, &dv->cap, dv->n, sizeof *dv->v);
  if (rc)
    return rc;
  struct store_decision *d = &dv->v[dv->n++];
  d->id = sqlite3_column_int64(st, 0);
  d->run_id = sq_col_text(st, 1, &oom);
  d->step = sq_col_text(st, 2, &oom);
  d->index = sqlite3_column_int(st, 3);
  d->user = sq_col_text(st, 4, &oom);
  d->decision = sq_col_text(st, 5, &oom);
  d->comment = sq_col_text(st, 6, &oom);
  d->fields = sq_col_text(st, 7, &oom);
  d->at = sqlite3_column_int64(st, 8);
  return oom ? WEFT_ENOMEM : 0;
}

static void decision_vec_restart(void *ctx)
{
  struct decision_vec *dv = ctx;
  for (size_t i = 0; i < dv->n; i++)
    store_decision_clear(&dv->v[i]);
  dv->n = 0;
}

int sq_decision_list(struct store *s, const char *run_id, const char *step, int index,
                     struct store_decision **out, size_t *n)
{
  struct sq *q = sq_of(s);
  struct decision_vec dv = {0};
  sqlite3_stmt *st;
  *out = NULL;
  *n = 0;
#define DECISION_COLS "id, run_id, step, idx, user, decision, comment, fields, at"
  if (step)
    st = sq_stmt(q, SQ_DECISION_LIST_STEP,
                 "SELECT " DECISION_COLS " FROM decisions WHERE run_id = ?1 AND step = ?2 AND "
                 "idx = ?3 ORDER BY id");
  else
    st = sq_stmt(q, SQ_DECISION_LIST_RUN,
                 "SELECT " DECISION_COLS " FROM decisions WHERE run_id = ?1 ORDER BY id");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, run_id);
  if (step) {
    sq_bind_text(st, 2, step);
    sqlite3_bind_int(st, 3, index);
  }
  int rc = sq_query(q, st, decision_vec_row, decision_vec_restart, &dv, "list decisions");
  if (rc) {
    store_decisions_free(dv.v, dv.n);
    return rc;
  }
  *out = dv.v;
  *n = dv.n;
  return 0;
}

static int count_one(void *ctx, sqlite3_stmt *st)
{
  *(int64_t *)ctx = sqlite3_column_int64(st, 0);
  return 0;
}

int sq_inbox_pending(struct store *s, int64_t *n)
{
  struct sq *q = sq_of(s);
  *n = 0;
  sqlite3_stmt *st = sq_stmt(q, SQ_INBOX_PENDING,
                             "SELECT count(*) FROM inbox WHERE taken_at IS NULL AND run_id IS NOT NULL");
  if (!st)
    return WEFT_ESTORE;
  return sq_query(q, st, count_one, NULL, n, "count inbox");
}
