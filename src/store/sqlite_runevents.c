/* sqlite_runevents.c — events kept for one run (`weft event send NAME --run
 * RUN`, LANGUAGE.md §3 "Events": a persistent trigger), in the SQLite
 * backend (table run_events, migration 10).
 *
 * An event stays until a wait of its run consumes it. Consuming is a claim:
 * UPDATE ... WHERE consumed_at IS NULL, which exactly one claimer wins
 * (writers are serialised). The claim names the attempt that made it
 * ("step[/index]#attempt"), so when the engine dies between the claim and the
 * commit of the step's success, the resumed attempt finds its event again
 * (run_event_claimed) instead of waiting for another: each event is
 * consumed once. Rows come back as struct store_inbox (kind "event", user =
 * the sender, taken_at = consumed_at, step = consumed_by).
 *
 * Also the mutexes held by `mutex:` steps (table mutexes, same migration):
 * taking one is INSERT OR IGNORE of its name (one holder at a time, across
 * processes); a holder whose engine process died is freed by the next taker
 * that finds it dead (mutex_steal, runtime/rt_mutex.c). */
#include "store/sqlite_int.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

#define RUNEV_COLS "id, run_id, name, payload, sent_by, created_at, consumed_at, consumed_by"

int sq_run_event_put(struct store *s, const struct store_inbox *m, int64_t *id_out)
{
  struct sq *q = sq_of(s);
  bool own;
  if (!m->run_id || !m->name)
    return sq_failf(q, WEFT_EINVAL, "store: a kept event needs a run and a name");
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_RUNEV_PUT,
                             "INSERT INTO run_events(run_id, name, payload, sent_by, created_at) "
                             "VALUES(?1, ?2, ?3, ?4, ?5)");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, m->run_id);
  sq_bind_text(st, 2, m->name);
  sq_bind_text(st, 3, m->payload);
  sq_bind_text(st, 4, m->user);
  sqlite3_bind_int64(st, 5, m->created_at);
  if ((rc = sq_exec(q, st, "keep event")) == 0 && id_out)
    *id_out = sqlite3_last_insert_rowid(q->db);
out:
  return sq_tx_end(q, own, rc);
}

struct runev_vec {
  struct store_inbox *v;
  size_t n, cap;
};

static int runev_row(void *ctx, sqlite3_stmt *st)
{
  struct runev_vec *rv = ctx;
  int oom = 0, rc = sq_grow((void **)&rv->v, &rv->cap, rv->n, sizeof *rv->v);
  if (rc)
    return rc;
  struct store_inbox *m = &rv->v[rv->n++];
  memset(m, 0, sizeof *m);
  m->id = sqlite3_column_int64(st, 0);
  m->run_id = sq_col_text(st, 1, &oom);
  m->name = sq_col_text(st, 2, &oom);
  m->payload = sq_col_text(st, 3, &oom);
  m->user = sq_col_text(st, 4, &oom);
  m->created_at = sqlite3_column_int64(st, 5);
  m->taken_at = sqlite3_column_int64(st, 6);
  m->step = sq_col_text(st, 7, &oom);
  m->index = STORE_NO_INDEX;
  if (!oom && !(m->kind = strdup("event")))
    oom = 1;
  return oom ? WEFT_ENOMEM : 0;
}

static void runev_restart(void *ctx)
{
  struct runev_vec *rv = ctx;
  for (size_t i = 0; i < rv->n; i++)
    store_inbox_clear(&rv->v[i]);
  rv->n = 0;
}

int sq_run_event_pending(struct store *s, const char *run_id, const char *name, int64_t after_id,
                         size_t limit, struct store_inbox **out, size_t *n)
{
  struct sq *q = sq_of(s);
  struct runev_vec rv = {0};
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st = sq_stmt(q, SQ_RUNEV_PENDING,
                             "SELECT " RUNEV_COLS " FROM run_events WHERE run_id = ?1 AND name = ?2 "
                             "AND consumed_at IS NULL AND id > ?4 ORDER BY id LIMIT ?3");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, run_id);
  sq_bind_text(st, 2, name);
  sqlite3_bind_int64(st, 3, limit ? (int64_t)limit : -1);
  sqlite3_bind_int64(st, 4, after_id);
  int rc = sq_query(q, st, runev_row, runev_restart, &rv, "list kept events");
  if (rc) {
    store_inbox_free(rv.v, rv.n);
    return rc;
  }
  *out = rv.v;
  *n = rv.n;
  return 0;
}

int sq_run_event_claim(struct store *s, int64_t id, const char *by, int64_t now, bool *won)
{
  struct sq *q = sq_of(s);
  bool own;
  *won = false;
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_RUNEV_CLAIM,
                             "UPDATE run_events SET consumed_at = ?2, consumed_by = ?3 "
                             "WHERE id = ?1 AND consumed_at IS NULL");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, now);
  sq_bind_text(st, 3, by);
  if ((rc = sq_exec(q, st, "consume event")) == 0)
    *won = sqlite3_changes(q->db) == 1;
out:
  return sq_tx_end(q, own, rc);
}

int sq_run_event_claimed(struct store *s, const char *run_id, const char *by, struct store_inbox *out,
                         bool *found)
{
  struct sq *q = sq_of(s);
  struct runev_vec rv = {0};
  *found = false;
  sqlite3_stmt *st = sq_stmt(q, SQ_RUNEV_CLAIMED,
                             "SELECT " RUNEV_COLS " FROM run_events WHERE run_id = ?1 AND consumed_by = ?2 "
                             "ORDER BY id LIMIT 1");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, run_id);
  sq_bind_text(st, 2, by);
  int rc = sq_query(q, st, runev_row, runev_restart, &rv, "find consumed event");
  if (!rc && rv.n == 1) {
    *out = rv.v[0];
    *found = true;
    free(rv.v);
    return 0;
  }
  store_inbox_free(rv.v, rv.n);
  return rc;
}

/* ---- mutexes ------------------------------------------------------------- */

static int mutex_row(void *ctx, sqlite3_stmt *st)
{
  struct store_mutex *m = ctx;
  int oom = 0;
  store_mutex_clear(m);
  m->name = sq_col_text(st, 0, &oom);
  m->run_id = sq_col_text(st, 1, &oom);
  m->step = sq_col_text(st, 2, &oom);
  m->index = sqlite3_column_int(st, 3);
  m->attempt = sqlite3_column_int(st, 4);
  m->pid = sqlite3_column_int(st, 5);
  m->pstart = sqlite3_column_int64(st, 6);
  m->acquired_at = sqlite3_column_int64(st, 7);
  return oom ? WEFT_ENOMEM : 0;
}

int sq_mutex_take(struct store *s, const struct store_mutex *m, bool *got, struct store_mutex *holder)
{
  struct sq *q = sq_of(s);
  bool own;
  *got = false;
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_MUTEX_TAKE,
                             "INSERT OR IGNORE INTO mutexes(name, run_id, step, idx, attempt, pid, pstart, "
                             "acquired_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, m->name);
  sq_bind_text(st, 2, m->run_id);
  sq_bind_text(st, 3, m->step);
  sqlite3_bind_int(st, 4, m->index);
  sqlite3_bind_int(st, 5, m->attempt);
  sqlite3_bind_int(st, 6, m->pid);
  sqlite3_bind_int64(st, 7, m->pstart);
  sqlite3_bind_int64(st, 8, m->acquired_at);
  if ((rc = sq_exec(q, st, "take mutex")) != 0)
    goto out;
  if (sqlite3_changes(q->db) == 1) {
    *got = true;
    goto out;
  }
  st = sq_stmt(q, SQ_MUTEX_GET,
               "SELECT name, run_id, step, idx, attempt, pid, pstart, acquired_at FROM mutexes WHERE name = ?1");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, m->name);
  rc = sq_query(q, st, mutex_row, NULL, holder, "read mutex");
out:
  return sq_tx_end(q, own, rc);
}

int sq_mutex_free(struct store *s, const char *name, const char *run_id, const char *step, int index)
{
  struct sq *q = sq_of(s);
  bool own;
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_MUTEX_FREE,
                             "DELETE FROM mutexes WHERE name = ?1 AND run_id = ?2 AND step = ?3 AND idx = ?4");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, name);
  sq_bind_text(st, 2, run_id);
  sq_bind_text(st, 3, step);
  sqlite3_bind_int(st, 4, index);
  rc = sq_exec(q, st, "free mutex");
out:
  return sq_tx_end(q, own, rc);
}

int sq_mutex_steal(struct store *s, const char *name, int pid, int64_t pstart)
{
  struct sq *q = sq_of(s);
  bool own;
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_MUTEX_STEAL,
                             "DELETE FROM mutexes WHERE name = ?1 AND pid = ?2 AND pstart = ?3");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, name);
  sqlite3_bind_int(st, 2, pid);
  sqlite3_bind_int64(st, 3, pstart);
  rc = sq_exec(q, st, "free a dead holder's mutex");
out:
  return sq_tx_end(q, own, rc);
}
