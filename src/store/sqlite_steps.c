/* sqlite_steps.c — step instances and attempts in the SQLite backend.
 *
 * Both are upserts keyed by (run, step, index[, attempt]) through one cached
 * statement, so a put inside the runtime's transaction is one B-tree write
 * with no parsing. step_put_many() is the for_each path: up to 1,000,000
 * instances, committed every STEP_BATCH rows when the caller has no
 * transaction open (one fsync per batch, not per row). */
#include "store/sqlite_int.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

#define STEP_BATCH 1000

#define STEP_COLS                                                                    \
  "run_id, step, idx, status, attempts, exit_code, error, outputs, started_at, "     \
  "finished_at, iteration, pid, pgid, due_at"

/* what is read: the written columns, then the reservation */
#define STEP_READ_COLS STEP_COLS ", reserved, counts"

static int bind_step(sqlite3_stmt *st, const struct store_step *x)
{
  sq_bind_text(st, 1, x->run_id);
  sq_bind_text(st, 2, x->step);
  sqlite3_bind_int(st, 3, x->index);
  sq_bind_text(st, 4, x->status);
  sqlite3_bind_int(st, 5, x->attempts);
  if (x->has_exit_code)
    sqlite3_bind_int(st, 6, x->exit_code);
  else
    sqlite3_bind_null(st, 6);
  sq_bind_text(st, 7, x->error);
  sq_bind_text(st, 8, x->outputs);
  sq_bind_time(st, 9, x->started_at);
  sq_bind_time(st, 10, x->finished_at);
  sqlite3_bind_int(st, 11, x->iteration);
  if (x->pid > 0)
    sqlite3_bind_int(st, 12, x->pid);
  else
    sqlite3_bind_null(st, 12);
  if (x->pgid > 0)
    sqlite3_bind_int(st, 13, x->pgid);
  else
    sqlite3_bind_null(st, 13);
  sq_bind_time(st, 14, x->due_at);
  return 0;
}

static sqlite3_stmt *step_put_stmt(struct sq *q)
{
  return sq_stmt(q, SQ_STEP_PUT,
                 "INSERT INTO steps(" STEP_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                 "?10, ?11, ?12, ?13, ?14) ON CONFLICT(run_id, step, idx) DO UPDATE SET "
                 "status = excluded.status, attempts = excluded.attempts, "
                 "exit_code = excluded.exit_code, error = excluded.error, "
                 "outputs = excluded.outputs, started_at = excluded.started_at, "
                 "finished_at = excluded.finished_at, iteration = excluded.iteration, "
                 "pid = excluded.pid, pgid = excluded.pgid, due_at = excluded.due_at");
}

static int check_step(struct sq *q, const struct store_step *x)
{
  if (!x->run_id || !x->step || !x->status)
    return sq_failf(q, WEFT_EINVAL, "store: a step row needs a run, a step id and a status");
  return 0;
}

int sq_step_put(struct store *s, const struct store_step *x)
{
  struct sq *q = sq_of(s);
  bool own;
  int rc = check_step(q, x);
  if (rc || (rc = sq_tx_begin(q, &own)))
    return rc;
  sqlite3_stmt *st = step_put_stmt(q);
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  bind_step(st, x);
  rc = sq_exec(q, st, "put step");
out:
  return sq_tx_end(q, own, rc);
}

int sq_step_put_many(struct store *s, const struct store_step *v, size_t n)
{
  struct sq *q = sq_of(s);
  int rc = 0;
  for (size_t i = 0; i < n; i++)
    if ((rc = check_step(q, &v[i])))
      return rc;
  for (size_t done = 0; done < n && rc == 0;) {
    bool own;
    size_t end = q->in_tx ? n : (n - done > STEP_BATCH ? done + STEP_BATCH : n);
    if ((rc = sq_tx_begin(q, &own)))
      break;
    sqlite3_stmt *st = step_put_stmt(q);
    if (!st)
      rc = WEFT_ESTORE;
    for (; rc == 0 && done < end; done++) {
      sqlite3_clear_bindings(st);
      bind_step(st, &v[done]);
      rc = sq_exec(q, st, "put steps");
    }
    rc = sq_tx_end(q, own, rc);
  }
  return rc;
}

int sq_step_reserve(struct store *s, const char *run_id, const char *step, int index, int attempt)
{
  struct sq *q = sq_of(s);
  bool own;
  if (!run_id || !step)
    return sq_failf(q, WEFT_EINVAL, "store: a reservation needs a run and a step id");
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_STEP_RESERVE,
                             "INSERT INTO steps(run_id, step, idx, status, reserved) "
                             "VALUES(?1, ?2, ?3, 'pending', ?4) ON CONFLICT(run_id, step, idx) "
                             "DO UPDATE SET reserved = excluded.reserved");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, run_id);
  sq_bind_text(st, 2, step);
  sqlite3_bind_int(st, 3, index);
  sqlite3_bind_int(st, 4, attempt);
  rc = sq_exec(q, st, "reserve step");
out:
  return sq_tx_end(q, own, rc);
}

static int step_from_row(sqlite3_stmt *st, struct store_step *x)
{
  int oom = 0;
  x->run_id = sq_col_text(st, 0, &oom);
  x->step = sq_col_text(st, 1, &oom);
  x->index = sqlite3_column_int(st, 2);
  x->status = sq_col_text(st, 3, &oom);
  x->attempts = sqlite3_column_int(st, 4);
  x->has_exit_code = sqlite3_column_type(st, 5) != SQLITE_NULL;
  x->exit_code = sqlite3_column_int(st, 5);
  x->error = sq_col_text(st, 6, &oom);
  x->outputs = sq_col_text(st, 7, &oom);
  x->started_at = sqlite3_column_int64(st, 8);
  x->finished_at = sqlite3_column_int64(st, 9);
  x->iteration = sqlite3_column_int(st, 10);
  x->pid = sqlite3_column_int(st, 11);
  x->pgid = sqlite3_column_int(st, 12);
  x->due_at = sqlite3_column_int64(st, 13);
  x->reserved = sqlite3_column_int(st, 14);
  x->counts = sq_col_text(st, 15, &oom);
  return oom ? WEFT_ENOMEM : 0;
}

struct step_vec {
  struct store_step *v;
  size_t n, cap;
};

static int step_vec_row(void *ctx, sqlite3_stmt *st)
{
  struct step_vec *sv = ctx;
  int rc = sq_grow((void **)&sv->v, &sv->cap, sv->n, sizeof *sv->v);
  if (rc)
    return rc;
  rc = step_from_row(st, &sv->v[sv->n]);
  sv->n++;
  return rc;
}

static void step_vec_restart(void *ctx)
{
  struct step_vec *sv = ctx;
  for (size_t i = 0; i < sv->n; i++)
    store_step_clear(&sv->v[i]);
  sv->n = 0;
}

int sq_step_get(struct store *s, const char *run_id, const char *step, int index,
                struct store_step *out)
{
  struct sq *q = sq_of(s);
  struct step_vec sv = {0};
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = sq_stmt(q, SQ_STEP_GET,
                             "SELECT " STEP_READ_COLS " FROM steps WHERE run_id = ?1 AND step = ?2 "
                             "AND idx = ?3");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, run_id);
  sq_bind_text(st, 2, step);
  sqlite3_bind_int(st, 3, index);
  int rc = sq_query(q, st, step_vec_row, step_vec_restart, &sv, "get step");
  if (rc == 0 && sv.n == 0)
    rc = index == STORE_NO_INDEX
           ? sq_failf(q, WEFT_ENOTFOUND, "run %s has no step '%s'", run_id, step)
           : sq_failf(q, WEFT_ENOTFOUND, "run %s has no step '%s' index %d", run_id, step, index);
  if (rc == 0) {
    *out = sv.v[0];
    sv.n = 0;
  }
  store_steps_free(sv.v, sv.n);
  return rc;
}

int sq_step_list(struct store *s, const char *run_id, const char *step, struct store_step **out,
                 size_t *n)
{
  struct sq *q = sq_of(s);
  struct step_vec sv = {0};
  sqlite3_stmt *st;
  *out = NULL;
  *n = 0;
  if (step)
    st = sq_stmt(q, SQ_STEP_LIST_STEP,
                 "SELECT " STEP_READ_COLS " FROM steps WHERE run_id = ?1 AND step = ?2 ORDER BY idx");
  else
    st = sq_stmt(q, SQ_STEP_LIST_RUN,
                 "SELECT " STEP_READ_COLS " FROM steps WHERE run_id = ?1 ORDER BY step, idx");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, run_id);
  if (step)
    sq_bind_text(st, 2, step);
  int rc = sq_query(q, st, step_vec_row, step_vec_restart, &sv, "list steps");
  if (rc) {
    store_steps_free(sv.v, sv.n);
    return rc;
  }
  *out = sv.v;
  *n = sv.n;
  return 0;
}

int sq_step_list_waiting(struct store *s, struct store_step **out, size_t *n)
{
  struct sq *q = sq_of(s);
  struct step_vec sv = {0};
  *out = NULL;
  *n = 0;
  /* the literal 'waiting' lets SQLite use the partial index steps_waiting */
  sqlite3_stmt *st = sq_stmt(q, SQ_STEP_LIST_WAITING,
                             "SELECT " STEP_READ_COLS " FROM steps WHERE status = 'waiting' "
                             "ORDER BY run_id, step, idx");
  if (!st)
    return WEFT_ESTORE;
  int rc = sq_query(q, st, step_vec_row, step_vec_restart, &sv, "list waiting steps");
  if (rc) {
    store_steps_free(sv.v, sv.n);
    return rc;
  }
  *out = sv.v;
  *n = sv.n;
  return 0;
}

/* ---- big for_each steps ---- */

int sq_step_counts_put(struct store *s, const char *run_id, const char *step, const char *counts)
{
  struct sq *q = sq_of(s);
  bool own;
  if (!run_id || !step)
    return sq_failf(q, WEFT_EINVAL, "store: instance counts need a run and a step id");
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_STEP_COUNTS_PUT,
                             "UPDATE steps SET counts = ?3 WHERE run_id = ?1 AND step = ?2 "
                             "AND idx = -1");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, run_id);
  sq_bind_text(st, 2, step);
  sq_bind_text(st, 3, counts);
  rc = sq_exec(q, st, "put instance counts");
out:
  return sq_tx_end(q, own, rc);
}

static int text_row(void *ctx, sqlite3_stmt *st)
{
  int oom = 0;
  char **out = ctx;
  free(*out);
  *out = sq_col_text(st, 0, &oom);
  return oom ? WEFT_ENOMEM : 0;
}

static void text_restart(void *ctx)
{
  char **out = ctx;
  free(*out);
  *out = NULL;
}

int sq_step_count(struct store *s, const char *run_id, const char *step, char **counts)
{
  struct sq *q = sq_of(s);
  *counts = NULL;
  sqlite3_stmt *st = sq_stmt(q, SQ_STEP_COUNT,
                             "SELECT json_group_object(status, n) FROM (SELECT status, count(*) "
                             "AS n FROM steps WHERE run_id = ?1 AND step = ?2 AND idx >= 0 "
                             "GROUP BY status)");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, run_id);
  sq_bind_text(st, 2, step);
  int rc = sq_query(q, st, text_row, text_restart, counts, "count instances");
  if (rc == 0 && !*counts && !(*counts = strdup("{}")))
    rc = WEFT_ENOMEM;
  if (rc) {
    free(*counts);
    *counts = NULL;
  }
  return rc;
}

int sq_step_page(struct store *s, const char *run_id, const char *step, enum store_page which,
                 size_t limit, struct store_step **out, size_t *n)
{
  struct sq *q = sq_of(s);
  struct step_vec sv = {0};
  sqlite3_stmt *st;
  *out = NULL;
  *n = 0;
  /* the literal 'failed' lets SQLite use the partial index steps_failed */
  if (which == STORE_PAGE_FAILED)
    st = sq_stmt(q, SQ_STEP_PAGE_FAILED,
                 "SELECT " STEP_READ_COLS " FROM steps WHERE run_id = ?1 AND step = ?2 AND "
                 "idx >= 0 AND status = 'failed' ORDER BY idx LIMIT ?3");
  else if (which == STORE_PAGE_NOT_FAILED)
    st = sq_stmt(q, SQ_STEP_PAGE_NOT_FAILED,
                 "SELECT " STEP_READ_COLS " FROM steps WHERE run_id = ?1 AND step = ?2 AND "
                 "idx >= 0 AND status <> 'failed' ORDER BY idx LIMIT ?3");
  else
    st = sq_stmt(q, SQ_STEP_PAGE_ALL,
                 "SELECT " STEP_READ_COLS " FROM steps WHERE run_id = ?1 AND step = ?2 AND "
                 "idx >= 0 ORDER BY idx LIMIT ?3");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, run_id);
  sq_bind_text(st, 2, step);
  sqlite3_bind_int64(st, 3, limit ? (sqlite3_int64)limit : -1);
  int rc = sq_query(q, st, step_vec_row, step_vec_restart, &sv, "list instances");
  if (rc) {
    store_steps_free(sv.v, sv.n);
    return rc;
  }
  *out = sv.v;
  *n = sv.n;
  return 0;
}

/* ---- attempts ---- */

#define ATTEMPT_COLS                                                                  \
  "run_id, step, idx, attempt, status, exit_code, error, started_at, finished_at, log_path"

int sq_attempt_put(struct store *s, const struct store_attempt *a)
{
  struct sq *q = sq_of(s);
  bool own;
  if (!a->run_id || !a->step || !a->status || a->attempt < 1)
    return sq_failf(q, WEFT_EINVAL,
                    "store: an attempt needs a run, a step, a status and a number >= 1");
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(
    q, SQ_ATTEMPT_PUT,
    "INSERT INTO attempts(" ATTEMPT_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
    "ON CONFLICT(run_id, step, idx, attempt) DO UPDATE SET status = excluded.status, "
    "exit_code = excluded.exit_code, error = excluded.error, "
    "started_at = COALESCE(excluded.started_at, attempts.started_at), "
    "finished_at = excluded.finished_at, log_path = excluded.log_path");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, a->run_id);
  sq_bind_text(st, 2, a->step);
  sqlite3_bind_int(st, 3, a->index);
  sqlite3_bind_int(st, 4, a->attempt);
  sq_bind_text(st, 5, a->status);
  if (a->has_exit_code)
    sqlite3_bind_int(st, 6, a->exit_code);
  sq_bind_text(st, 7, a->error);
  sq_bind_time(st, 8, a->started_at);
  sq_bind_time(st, 9, a->finished_at);
  sq_bind_text(st, 10, a->log_path);
  rc = sq_exec(q, st, "put attempt");
out:
  return sq_tx_end(q, own, rc);
}

struct attempt_vec {
  struct store_attempt *v;
  size_t n, cap;
};

static int attempt_vec_row(void *ctx, sqlite3_stmt *st)
{
  struct attempt_vec *av = ctx;
  int oom = 0, rc = sq_grow((void **)&av->v, &av->cap, av->n, sizeof *av->v);
  if (rc)
    return rc;
  struct store_attempt *a = &av->v[av->n++];
  a->run_id = sq_col_text(st, 0, &oom);
  a->step = sq_col_text(st, 1, &oom);
  a->index = sqlite3_column_int(st, 2);
  a->attempt = sqlite3_column_int(st, 3);
  a->status = sq_col_text(st, 4, &oom);
  a->has_exit_code = sqlite3_column_type(st, 5) != SQLITE_NULL;
  a->exit_code = sqlite3_column_int(st, 5);
  a->error = sq_col_text(st, 6, &oom);
  a->started_at = sqlite3_column_int64(st, 7);
  a->finished_at = sqlite3_column_int64(st, 8);
  a->log_path = sq_col_text(st, 9, &oom);
  return oom ? WEFT_ENOMEM : 0;
}

static void attempt_vec_restart(void *ctx)
{
  struct attempt_vec *av = ctx;
  for (size_t i = 0; i < av->n; i++)
    store_attempt_clear(&av->v[i]);
  av->n = 0;
}

int sq_attempt_list(struct store *s, const char *run_id, const char *step, int index,
                    struct store_attempt **out, size_t *n)
{
  struct sq *q = sq_of(s);
  struct attempt_vec av = {0};
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st = sq_stmt(q, SQ_ATTEMPT_LIST,
                             "SELECT " ATTEMPT_COLS " FROM attempts WHERE run_id = ?1 AND "
                             "step = ?2 AND idx = ?3 ORDER BY attempt");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, run_id);
  sq_bind_text(st, 2, step);
  sqlite3_bind_int(st, 3, index);
  int rc = sq_query(q, st, attempt_vec_row, attempt_vec_restart, &av, "list attempts");
  if (rc) {
    store_attempts_free(av.v, av.n);
    return rc;
  }
  *out = av.v;
  *n = av.n;
  return 0;
}
