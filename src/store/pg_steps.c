/* pg_steps.c — step instances, attempts and agent transcripts in the
 * PostgreSQL backend: upserts keyed by (run, step, index[, attempt]) and the
 * lists and pages read from them. Same contract as sqlite_steps.c and
 * sqlite_agent.c. step_put_many commits every STEP_BATCH rows when the
 * caller has no transaction open. */
#include "store/pg_int.h"
#include "util/err.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/jsonfmt.h"

#define STEP_BATCH 1000

#define STEP_COLS                                                                    \
  "run_id, step, idx, status, attempts, exit_code, error, outputs, started_at, "     \
  "finished_at, iteration, pid, pgid, due_at"
#define STEP_READ_COLS STEP_COLS ", reserved, counts"

#define STEP_PUT_SQL                                                                  \
  "INSERT INTO steps(" STEP_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, "      \
  "$10, $11, $12, $13, $14) ON CONFLICT(run_id, step, idx) DO UPDATE SET "           \
  "status = excluded.status, attempts = excluded.attempts, "                         \
  "exit_code = excluded.exit_code, error = excluded.error, "                         \
  "outputs = excluded.outputs, started_at = excluded.started_at, "                   \
  "finished_at = excluded.finished_at, iteration = excluded.iteration, "             \
  "pid = excluded.pid, pgid = excluded.pgid, due_at = excluded.due_at"

static void bind_step(struct pgp *p, const struct store_step *x)
{
  pgp_text(p, x->run_id);
  pgp_text(p, x->step);
  pgp_int(p, x->index);
  pgp_text(p, x->status);
  pgp_int(p, x->attempts);
  if (x->has_exit_code)
    pgp_int(p, x->exit_code);
  else
    pgp_text(p, NULL);
  pgp_text(p, x->error);
  pgp_text(p, x->outputs);
  pgp_time(p, x->started_at);
  pgp_time(p, x->finished_at);
  pgp_int(p, x->iteration);
  if (x->pid > 0)
    pgp_int(p, x->pid);
  else
    pgp_text(p, NULL);
  if (x->pgid > 0)
    pgp_int(p, x->pgid);
  else
    pgp_text(p, NULL);
  pgp_time(p, x->due_at);
}

static int check_step(struct pg *g, const struct store_step *x)
{
  if (!x->run_id || !x->step || !x->status)
    return pg_failf(g, WEFT_EINVAL, "store: a step row needs a run, a step id and a status");
  return 0;
}

int pg_step_put(struct store *s, const struct store_step *x)
{
  struct pg *g = pg_of(s);
  bool own;
  int rc = check_step(g, x);
  if (rc || (rc = pg_tx_begin(g, &own)))
    return rc;
  struct pgp p = {0};
  bind_step(&p, x);
  rc = pg_exec(g, STEP_PUT_SQL, &p, "put step", NULL);
  return pg_tx_end(g, own, rc);
}

int pg_step_put_many(struct store *s, const struct store_step *v, size_t n)
{
  struct pg *g = pg_of(s);
  int rc = 0;
  for (size_t i = 0; i < n; i++)
    if ((rc = check_step(g, &v[i])))
      return rc;
  for (size_t done = 0; done < n && rc == 0;) {
    bool own;
    size_t end = g->in_tx ? n : (n - done > STEP_BATCH ? done + STEP_BATCH : n);
    if ((rc = pg_tx_begin(g, &own)))
      break;
    for (; rc == 0 && done < end; done++) {
      struct pgp p = {0};
      bind_step(&p, &v[done]);
      rc = pg_exec(g, STEP_PUT_SQL, &p, "put steps", NULL);
    }
    rc = pg_tx_end(g, own, rc);
  }
  return rc;
}

int pg_step_reserve(struct store *s, const char *run_id, const char *step, int index, int attempt)
{
  struct pg *g = pg_of(s);
  bool own;
  if (!run_id || !step)
    return pg_failf(g, WEFT_EINVAL, "store: a reservation needs a run and a step id");
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  struct pgp p = {0};
  pgp_text(&p, run_id);
  pgp_text(&p, step);
  pgp_int(&p, index);
  pgp_int(&p, attempt);
  rc = pg_exec(g,
               "INSERT INTO steps(run_id, step, idx, status, reserved) "
               "VALUES($1, $2, $3, 'pending', $4) ON CONFLICT(run_id, step, idx) "
               "DO UPDATE SET reserved = excluded.reserved",
               &p, "reserve step", NULL);
  return pg_tx_end(g, own, rc);
}

static int step_from_row(PGresult *r, int i, struct store_step *x)
{
  int oom = 0;
  x->run_id = pg_col_text(r, i, 0, &oom);
  x->step = pg_col_text(r, i, 1, &oom);
  x->index = pg_col_int(r, i, 2);
  x->status = pg_col_text(r, i, 3, &oom);
  x->attempts = pg_col_int(r, i, 4);
  x->has_exit_code = !pg_col_null(r, i, 5);
  x->exit_code = pg_col_int(r, i, 5);
  x->error = pg_col_text(r, i, 6, &oom);
  x->outputs = pg_col_text(r, i, 7, &oom);
  x->started_at = pg_col_i64(r, i, 8);
  x->finished_at = pg_col_i64(r, i, 9);
  x->iteration = pg_col_int(r, i, 10);
  x->pid = pg_col_int(r, i, 11);
  x->pgid = pg_col_int(r, i, 12);
  x->due_at = pg_col_i64(r, i, 13);
  x->reserved = pg_col_int(r, i, 14);
  x->counts = pg_col_text(r, i, 15, &oom);
  return oom ? WEFT_ENOMEM : 0;
}

/* Runs sql and returns its rows (*out, *n; caller frees). */
static void step_rows_free(void *v, size_t n) { store_steps_free(v, n); }
static int step_rows_one(PGresult *r, int row, void *elem) { return step_from_row(r, row, elem); }
static int step_rows(struct pg *g, const char *sql, const struct pgp *p, const char *what,
                     struct store_step **out, size_t *n)
{
  void *v = NULL;
  int rc = pg_rows(g, sql, p, what, sizeof **out, step_rows_one, step_rows_free, &v, n);
  *out = v;
  return rc;
}

int pg_step_get(struct store *s, const char *run_id, const char *step, int index,
                struct store_step *out)
{
  struct pg *g = pg_of(s);
  struct store_step *v = NULL;
  size_t n = 0;
  memset(out, 0, sizeof *out);
  struct pgp p = {0};
  pgp_text(&p, run_id);
  pgp_text(&p, step);
  pgp_int(&p, index);
  int rc = step_rows(g,
                     "SELECT " STEP_READ_COLS " FROM steps WHERE run_id = $1 AND step = $2 "
                     "AND idx = $3",
                     &p, "get step", &v, &n);
  if (rc == 0 && n == 0)
    rc = index == STORE_NO_INDEX
           ? pg_failf(g, WEFT_ENOTFOUND, "run %s has no step '%s'", run_id, step)
           : pg_failf(g, WEFT_ENOTFOUND, "run %s has no step '%s' index %d", run_id, step, index);
  if (rc == 0) {
    *out = v[0];
    memset(&v[0], 0, sizeof v[0]);
  }
  store_steps_free(v, n);
  return rc;
}

int pg_step_list(struct store *s, const char *run_id, const char *step, struct store_step **out,
                 size_t *n)
{
  struct pgp p = {0};
  pgp_text(&p, run_id);
  if (step) {
    pgp_text(&p, step);
    return step_rows(pg_of(s),
                     "SELECT " STEP_READ_COLS " FROM steps WHERE run_id = $1 AND step = $2 "
                     "ORDER BY idx",
                     &p, "list steps", out, n);
  }
  return step_rows(pg_of(s),
                   "SELECT " STEP_READ_COLS " FROM steps WHERE run_id = $1 ORDER BY step, idx", &p,
                   "list steps", out, n);
}

int pg_step_list_waiting(struct store *s, struct store_step **out, size_t *n)
{
  return step_rows(pg_of(s),
                   "SELECT " STEP_READ_COLS " FROM steps WHERE status = 'waiting' "
                   "ORDER BY run_id, step, idx",
                   NULL, "list waiting steps", out, n);
}

int pg_step_counts_put(struct store *s, const char *run_id, const char *step, const char *counts)
{
  struct pg *g = pg_of(s);
  bool own;
  if (!run_id || !step)
    return pg_failf(g, WEFT_EINVAL, "store: instance counts need a run and a step id");
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  struct pgp p = {0};
  pgp_text(&p, run_id);
  pgp_text(&p, step);
  pgp_text(&p, counts);
  rc = pg_exec(g, "UPDATE steps SET counts = $3 WHERE run_id = $1 AND step = $2 AND idx = -1", &p,
               "put instance counts", NULL);
  return pg_tx_end(g, own, rc);
}

int pg_step_count(struct store *s, const char *run_id, const char *step, char **counts)
{
  struct pg *g = pg_of(s);
  PGresult *r = NULL;
  json_t *o = NULL;
  *counts = NULL;
  struct pgp p = {0};
  pgp_text(&p, run_id);
  pgp_text(&p, step);
  int rc = pg_exec(g,
                   "SELECT status, count(*) FROM steps WHERE run_id = $1 AND step = $2 AND "
                   "idx >= 0 GROUP BY status ORDER BY status",
                   &p, "count instances", &r);
  if (rc)
    return rc;
  /* the same text as SQLite's json_group_object: compact, by status */
  if (!(o = json_object()))
    rc = WEFT_ENOMEM;
  for (int i = 0; !rc && i < PQntuples(r); i++)
    if (json_object_set_new(o, PQgetvalue(r, i, 0), json_integer(pg_col_i64(r, i, 1))))
      rc = WEFT_ENOMEM;
  if (!rc && !(*counts = wjson_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)))
    rc = WEFT_ENOMEM;
  json_decref(o);
  PQclear(r);
  return rc;
}

int pg_step_page(struct store *s, const char *run_id, const char *step, enum store_page which,
                 size_t limit, struct store_step **out, size_t *n)
{
  struct pgp p = {0};
  pgp_text(&p, run_id);
  pgp_text(&p, step);
  if (limit)
    pgp_int(&p, (int64_t)limit);
  else
    pgp_text(&p, NULL);
  const char *sql =
    which == STORE_PAGE_FAILED
      ? "SELECT " STEP_READ_COLS " FROM steps WHERE run_id = $1 AND step = $2 AND "
        "idx >= 0 AND status = 'failed' ORDER BY idx LIMIT $3::bigint"
    : which == STORE_PAGE_NOT_FAILED
      ? "SELECT " STEP_READ_COLS " FROM steps WHERE run_id = $1 AND step = $2 AND "
        "idx >= 0 AND status <> 'failed' ORDER BY idx LIMIT $3::bigint"
      : "SELECT " STEP_READ_COLS " FROM steps WHERE run_id = $1 AND step = $2 AND "
        "idx >= 0 ORDER BY idx LIMIT $3::bigint";
  return step_rows(pg_of(s), sql, &p, "list instances", out, n);
}

/* ---- attempts ---- */

#define ATTEMPT_COLS                                                                  \
  "run_id, step, idx, attempt, status, exit_code, error, started_at, finished_at, log_path"

int pg_attempt_put(struct store *s, const struct store_attempt *a)
{
  struct pg *g = pg_of(s);
  bool own;
  if (!a->run_id || !a->step || !a->status || a->attempt < 1)
    return pg_failf(g, WEFT_EINVAL,
                    "store: an attempt needs a run, a step, a status and a number >= 1");
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  struct pgp p = {0};
  pgp_text(&p, a->run_id);
  pgp_text(&p, a->step);
  pgp_int(&p, a->index);
  pgp_int(&p, a->attempt);
  pgp_text(&p, a->status);
  if (a->has_exit_code)
    pgp_int(&p, a->exit_code);
  else
    pgp_text(&p, NULL);
  pgp_text(&p, a->error);
  pgp_time(&p, a->started_at);
  pgp_time(&p, a->finished_at);
  pgp_text(&p, a->log_path);
  rc = pg_exec(g,
               "INSERT INTO attempts(" ATTEMPT_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, "
               "$9, $10) ON CONFLICT(run_id, step, idx, attempt) DO UPDATE SET "
               "status = excluded.status, exit_code = excluded.exit_code, "
               "error = excluded.error, "
               "started_at = COALESCE(excluded.started_at, attempts.started_at), "
               "finished_at = excluded.finished_at, log_path = excluded.log_path",
               &p, "put attempt", NULL);
  return pg_tx_end(g, own, rc);
}

int pg_attempt_list(struct store *s, const char *run_id, const char *step, int index,
                    struct store_attempt **out, size_t *n)
{
  struct pg *g = pg_of(s);
  PGresult *r = NULL;
  *out = NULL;
  *n = 0;
  struct pgp p = {0};
  pgp_text(&p, run_id);
  pgp_text(&p, step);
  pgp_int(&p, index);
  int rc = pg_exec(g,
                   "SELECT " ATTEMPT_COLS " FROM attempts WHERE run_id = $1 AND step = $2 AND "
                   "idx = $3 ORDER BY attempt",
                   &p, "list attempts", &r);
  if (rc)
    return rc;
  size_t m = (size_t)PQntuples(r);
  struct store_attempt *v = m ? calloc(m, sizeof *v) : NULL;
  int oom = m && !v;
  for (size_t k = 0; !oom && k < m; k++) {
    int i = (int)k;
    struct store_attempt *a = &v[k];
    a->run_id = pg_col_text(r, i, 0, &oom);
    a->step = pg_col_text(r, i, 1, &oom);
    a->index = pg_col_int(r, i, 2);
    a->attempt = pg_col_int(r, i, 3);
    a->status = pg_col_text(r, i, 4, &oom);
    a->has_exit_code = !pg_col_null(r, i, 5);
    a->exit_code = pg_col_int(r, i, 5);
    a->error = pg_col_text(r, i, 6, &oom);
    a->started_at = pg_col_i64(r, i, 7);
    a->finished_at = pg_col_i64(r, i, 8);
    a->log_path = pg_col_text(r, i, 9, &oom);
  }
  PQclear(r);
  if (oom) {
    store_attempts_free(v, m);
    return WEFT_ENOMEM;
  }
  *out = v;
  *n = m;
  return 0;
}

/* ---- agent transcripts ---- */

int pg_turn_put(struct store *s, const char *run_id, const char *step, int index, int attempt,
                int seq, const char *data, int64_t at)
{
  struct pg *g = pg_of(s);
  bool own;
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  struct pgp p = {0};
  pgp_text(&p, run_id);
  pgp_text(&p, step);
  pgp_int(&p, index);
  pgp_int(&p, attempt);
  pgp_int(&p, seq);
  pgp_text(&p, data ? data : "null");
  pgp_int(&p, at);
  rc = pg_exec(g,
               "INSERT INTO agent_turns(run_id, step, idx, attempt, seq, data, at) "
               "VALUES($1, $2, $3, $4, $5, $6, $7) ON CONFLICT(run_id, step, idx, attempt, seq) "
               "DO UPDATE SET data = excluded.data, at = excluded.at",
               &p, "record agent turn", NULL);
  return pg_tx_end(g, own, rc);
}

int pg_turn_list(struct store *s, const char *run_id, const char *step, int index, int attempt,
                 char ***data, size_t *n)
{
  struct pg *g = pg_of(s);
  PGresult *r = NULL;
  *data = NULL;
  *n = 0;
  struct pgp p = {0};
  pgp_text(&p, run_id);
  pgp_text(&p, step);
  pgp_int(&p, index);
  pgp_int(&p, attempt);
  int rc = pg_exec(g,
                   "SELECT data FROM agent_turns WHERE run_id = $1 AND step = $2 AND idx = $3 "
                   "AND attempt = $4 ORDER BY seq",
                   &p, "list agent turns", &r);
  if (rc)
    return rc;
  size_t m = (size_t)PQntuples(r);
  char **v = m ? calloc(m, sizeof *v) : NULL;
  int oom = m && !v;
  for (size_t i = 0; !oom && i < m; i++)
    if (!(v[i] = strdup(PQgetvalue(r, (int)i, 0))))
      oom = 1;
  PQclear(r);
  if (oom) {
    store_turns_free(v, m);
    return WEFT_ENOMEM;
  }
  *data = v;
  *n = m;
  return 0;
}
