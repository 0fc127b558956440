/* pg.c — the PostgreSQL backend of struct store_ops: connecting, migrations
 * under an advisory lock, transactions, statement and cursor helpers, and
 * the ops table. The ops themselves live in pg_runs.c, pg_steps.c,
 * pg_inbox.c, pg_audit.c and pg_misc.c; the schema in pg_schema.c.
 *
 * This is the synchronous first step: every call blocks its thread on
 * libpq (PQexecParams). The runtime's loop thread therefore waits for the
 * database like it waits for SQLite's fsync; the async API on the loop is a
 * later step (docs/internals/store.md).
 *
 * libpq pitfalls handled here:
 * - notices (CREATE ... IF NOT EXISTS) would be printed on stderr by the
 *   default notice processor: a no-op processor is installed;
 * - a failed statement aborts the whole transaction; COMMIT of an aborted
 *   transaction "succeeds" with the tag ROLLBACK: tx_commit checks the
 *   transaction status first and the tag after;
 * - a connection lost between transactions (server restart) is reset once
 *   and the statement retried; inside a transaction it is an error (the
 *   transaction is gone);
 * - the URL (it may hold a password) is never copied into a message. */
#include "store/pg_int.h"
#include "util/err.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pg_failf(struct pg *g, int rc, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g->err, sizeof g->err, fmt, ap);
  va_end(ap);
  return rc;
}

void pgp_text(struct pgp *p, const char *s)
{
  if (p->n < PG_MAXP)
    p->v[p->n++] = s;
}

void pgp_int(struct pgp *p, int64_t v)
{
  if (p->n >= PG_MAXP)
    return;
  snprintf(p->num[p->n], sizeof p->num[p->n], "%" PRId64, v);
  p->v[p->n] = p->num[p->n];
  p->n++;
}

void pgp_time(struct pgp *p, int64_t ms)
{
  if (ms)
    pgp_int(p, ms);
  else
    pgp_text(p, NULL);
}

void pgp_bool(struct pgp *p, bool b) { pgp_text(p, b ? "t" : "f"); }

/* The message of a failed result or connection, on one line. */
static void one_line(char *dst, size_t cap, const char *msg)
{
  snprintf(dst, cap, "%s", msg && *msg ? msg : "unknown error");
  for (char *c = dst; *c; c++)
    if (*c == '\n' || *c == '\r' || *c == '\t')
      *c = ' ';
  char *w = dst;
  for (const char *r = dst; *r; r++)
    if (!(*r == ' ' && w > dst && w[-1] == ' '))
      *w++ = *r;
  *w = '\0';
  size_t n = strlen(dst);
  while (n && dst[n - 1] == ' ')
    dst[--n] = '\0';
}

static int map_state(const char *st)
{
  if (!st || !*st)
    return WEFT_EIO; /* no SQLSTATE: the connection failed */
  if (!strncmp(st, "08", 2) || !strncmp(st, "57P", 3) || !strcmp(st, "53100"))
    return WEFT_EIO; /* connection, shutdown, disk full */
  if (!strcmp(st, "53200"))
    return WEFT_ENOMEM;
  if (!strcmp(st, "40001") || !strcmp(st, "40P01") || !strcmp(st, "55P03"))
    return WEFT_EBUSY; /* serialization, deadlock, lock timeout */
  if (!strcmp(st, "XX001") || !strcmp(st, "XX002"))
    return WEFT_ECORRUPT;
  return WEFT_ESTORE;
}

static int exec_once(struct pg *g, const char *sql, const struct pgp *p, const char *what,
                     PGresult **res, char sqlstate[6])
{
  /* without parameters PQexec: it also takes several statements at once */
  PGresult *r = p ? PQexecParams(g->conn, sql, p->n, NULL, p->v, NULL, NULL, 0)
                  : PQexec(g->conn, sql);
  ExecStatusType es = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
    if (res)
      *res = r;
    else
      PQclear(r);
    return 0;
  }
  const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  snprintf(sqlstate, 6, "%s", st ? st : "");
  char msg[400];
  one_line(msg, sizeof msg, r ? PQresultErrorMessage(r) : PQerrorMessage(g->conn));
  int rc = map_state(st);
  if (!strcmp(sqlstate, "53100"))
    pg_failf(g, rc, "store: %s: the PostgreSQL server has no space left (%s); free some space",
             what, msg);
  else
    pg_failf(g, rc, "store: %s: %s", what, msg);
  PQclear(r);
  return rc;
}

int pg_exec_state(struct pg *g, const char *sql, const struct pgp *p, const char *what,
                  PGresult **res, char sqlstate[6])
{
  char st[6] = "";
  if (res)
    *res = NULL;
  if (sqlstate)
    sqlstate[0] = '\0';
  if (PQstatus(g->conn) == CONNECTION_BAD && !g->in_tx)
    PQreset(g->conn);
  int rc = exec_once(g, sql, p, what, res, st);
  if (rc && PQstatus(g->conn) == CONNECTION_BAD && !g->in_tx) {
    /* the server restarted or the connection dropped between transactions:
     * nothing of ours was pending, so one reconnect and retry is safe */
    PQreset(g->conn);
    if (PQstatus(g->conn) == CONNECTION_OK)
      rc = exec_once(g, sql, p, what, res, st);
  }
  if (sqlstate)
    memcpy(sqlstate, st, 6);
  return rc;
}

int pg_exec(struct pg *g, const char *sql, const struct pgp *p, const char *what,
            PGresult **res)
{
  return pg_exec_state(g, sql, p, what, res, NULL);
}

int64_t pg_changes(PGresult *r)
{
  const char *t = r ? PQcmdTuples(r) : NULL;
  return t && *t ? strtoll(t, NULL, 10) : 0;
}

char *pg_col_text(PGresult *r, int row, int col, int *oom)
{
  if (PQgetisnull(r, row, col))
    return NULL;
  char *c = strdup(PQgetvalue(r, row, col));
  if (!c)
    *oom = 1;
  return c;
}

const char *pg_col_str(PGresult *r, int row, int col)
{
  return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

int64_t pg_col_i64(PGresult *r, int row, int col)
{
  if (PQgetisnull(r, row, col))
    return 0;
  const char *v = PQgetvalue(r, row, col);
  if (v[0] == 't' && !v[1])
    return 1; /* a boolean */
  return strtoll(v, NULL, 10);
}

int pg_grow(void **v, size_t *cap, size_t n, size_t elem)
{
  if (n < *cap)
    return 0;
  if (n >= PG_MAX_ROWS)
    return WEFT_ELIMIT;
  size_t ncap = *cap ? *cap * 2 : 16;
  if (ncap > PG_MAX_ROWS)
    ncap = PG_MAX_ROWS;
  void *p = realloc(*v, ncap * elem);
  if (!p)
    return WEFT_ENOMEM;
  memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
  *v = p;
  *cap = ncap;
  return 0;
}

/* ---- transactions ---- */

static int tx_rollback(struct pg *g)
{
  int rc = 0;
  pg_audit_head_forget(g);
  if (PQtransactionStatus(g->conn) != PQTRANS_IDLE && PQstatus(g->conn) == CONNECTION_OK) {
    PGresult *r = PQexec(g->conn, "ROLLBACK");
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
      rc = pg_failf(g, WEFT_EIO, "store: ROLLBACK: %s", PQerrorMessage(g->conn));
    PQclear(r);
  }
  g->in_tx = false;
  return rc;
}

int pg_tx_begin(struct pg *g, bool *own)
{
  *own = false;
  if (g->in_tx) {
    if (PQtransactionStatus(g->conn) != PQTRANS_INTRANS)
      return pg_failf(g, WEFT_ESTORE,
                      "store: the transaction was aborted by an earlier error; "
                      "roll back and start again");
    return 0;
  }
  /* one round trip: the transaction and the writers' lock */
  int rc = pg_exec(g, "BEGIN; SELECT pg_advisory_xact_lock(" PG_WRITE_LOCK ")", NULL,
                   "BEGIN", NULL);
  if (rc) {
    if (PQtransactionStatus(g->conn) != PQTRANS_IDLE)
      tx_rollback(g);
    return rc;
  }
  g->in_tx = true;
  *own = true;
  return 0;
}

static int tx_commit(struct pg *g)
{
  int rc = 0;
  if (PQtransactionStatus(g->conn) != PQTRANS_INTRANS)
    rc = pg_failf(g, WEFT_ESTORE, "store: commit: the transaction was aborted by an earlier "
                                  "error; nothing of it was written");
  if (!rc)
    rc = pg_audit_head_flush(g);
  PGresult *r = NULL;
  if (!rc && !(rc = pg_exec(g, "COMMIT", NULL, "COMMIT", &r)) &&
      strcmp(PQcmdStatus(r), "COMMIT") != 0)
    rc = pg_failf(g, WEFT_ESTORE, "store: COMMIT was turned into %s", PQcmdStatus(r));
  PQclear(r);
  if (rc) {
    char keep[sizeof g->err];
    memcpy(keep, g->err, sizeof keep);
    tx_rollback(g);
    memcpy(g->err, keep, sizeof keep);
  }
  pg_audit_head_forget(g);
  g->in_tx = false;
  return rc;
}

int pg_tx_end(struct pg *g, bool own, int rc)
{
  if (!own)
    return rc;
  if (rc == 0)
    return tx_commit(g);
  char keep[sizeof g->err];
  memcpy(keep, g->err, sizeof keep);
  tx_rollback(g);
  memcpy(g->err, keep, sizeof keep);
  return rc;
}

int pg_snap_begin(struct pg *g, bool *opened)
{
  *opened = false;
  if (g->in_tx)
    return 0;
  int rc = pg_exec(g, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL, "BEGIN", NULL);
  if (rc)
    return rc;
  g->in_tx = true; /* no reconnect in the middle of the snapshot */
  *opened = true;
  return 0;
}

void pg_snap_end(struct pg *g, bool opened)
{
  if (!opened)
    return;
  PGresult *r = PQexec(g->conn, "COMMIT");
  PQclear(r);
  g->in_tx = false;
}

/* ---- cursors ---- */

int pg_cursor_open(struct pg *g, struct pg_cursor *c, const char *sql, const struct pgp *p)
{
  memset(c, 0, sizeof *c);
  c->g = g;
  snprintf(c->name, sizeof c->name, "weft_c%d", ++g->cursor_seq);
  size_t n = strlen(sql) + 64;
  char *decl = malloc(n);
  if (!decl)
    return WEFT_ENOMEM;
  snprintf(decl, n, "DECLARE %s NO SCROLL CURSOR FOR %s", c->name, sql);
  int rc = pg_exec(g, decl, p, "open a cursor", NULL);
  free(decl);
  if (!rc)
    c->open = true;
  return rc;
}

int pg_cursor_next(struct pg_cursor *c)
{
  if (c->res && c->row + 1 < c->nrows) {
    c->row++;
    return 1;
  }
  PQclear(c->res);
  c->res = NULL;
  if (c->done)
    return 0;
  char sql[64];
  snprintf(sql, sizeof sql, "FETCH %d FROM %s", PG_FETCH, c->name);
  int rc = pg_exec(c->g, sql, NULL, "read", &c->res);
  if (rc)
    return rc;
  c->nrows = PQntuples(c->res);
  c->row = 0;
  if (c->nrows < PG_FETCH)
    c->done = true;
  if (c->nrows == 0) {
    PQclear(c->res);
    c->res = NULL;
    return 0;
  }
  return 1;
}

void pg_cursor_close(struct pg_cursor *c)
{
  PQclear(c->res);
  c->res = NULL;
  if (c->open && PQtransactionStatus(c->g->conn) == PQTRANS_INTRANS) {
    char sql[64];
    snprintf(sql, sizeof sql, "CLOSE %s", c->name);
    PGresult *r = PQexec(c->g->conn, sql);
    PQclear(r);
  }
  c->open = false;
}

/* ---- ops that belong to the handle itself ---- */

static void pg_close(struct store *s)
{
  struct pg *g = pg_of(s);
  if (g->conn) {
    if (g->in_tx)
      tx_rollback(g);
    PQfinish(g->conn);
  }
  free(g->base.home);
  free(g);
}

static const char *pg_errmsg(struct store *s) { return pg_of(s)->err; }

static int pg_begin(struct store *s)
{
  struct pg *g = pg_of(s);
  if (g->in_tx)
    return pg_failf(g, WEFT_ESTATE, "store: a transaction is already open");
  bool own;
  return pg_tx_begin(g, &own);
}

static int pg_commit(struct store *s)
{
  struct pg *g = pg_of(s);
  if (!g->in_tx)
    return pg_failf(g, WEFT_ESTATE, "store: commit without a transaction");
  return tx_commit(g);
}

static int pg_rollback(struct store *s)
{
  struct pg *g = pg_of(s);
  if (!g->in_tx)
    return pg_failf(g, WEFT_ESTATE, "store: rollback without a transaction");
  return tx_rollback(g);
}

static bool pg_in_tx(struct store *s) { return pg_of(s)->in_tx; }

/* PostgreSQL makes a commit durable itself (synchronous_commit): there is no
 * file for the runtime to sync, so every commit waits for the server's WAL
 * flush (the runtime then commits synchronously, like an in-memory store). */
static int pg_defer_sync(struct store *s, char **sync_path)
{
  *sync_path = NULL;
  return pg_failf(pg_of(s), WEFT_ESTATE, "store: PostgreSQL syncs its own commits");
}

/* The ops version this backend fills completely (store.h): ops added to
 * store_ops later are NULL here, and their wrappers answer WEFT_ESTATE on
 * PostgreSQL until they get a pg_ twin (docs/internals/store.md). */
#define PG_OPS_VERSION 8

static const struct store_ops pg_ops = {
  .version = PG_OPS_VERSION,
  .name = "postgres",
  .close = pg_close,
  .errmsg = pg_errmsg,
  .begin = pg_begin,
  .commit = pg_commit,
  .defer_sync = pg_defer_sync,
  .rollback = pg_rollback,
  .in_tx = pg_in_tx,
  .workflow_put = pg_workflow_put,
  .workflow_get = pg_workflow_get,
  .run_put = pg_run_put,
  .run_get = pg_run_get,
  .run_list = pg_run_list,
  .run_list_active = pg_run_list_active,
  .run_claim = pg_run_claim,
  .run_release = pg_run_release,
  .heartbeat = pg_heartbeat,
  .step_put = pg_step_put,
  .step_put_many = pg_step_put_many,
  .step_reserve = pg_step_reserve,
  .step_get = pg_step_get,
  .step_list = pg_step_list,
  .step_list_waiting = pg_step_list_waiting,
  .attempt_put = pg_attempt_put,
  .attempt_list = pg_attempt_list,
  .inbox_post = pg_inbox_post,
  .inbox_take = pg_inbox_take,
  .event_list = pg_event_list,
  .decision_put = pg_decision_put,
  .decision_list = pg_decision_list,
  .audit_append = pg_audit_append,
  .audit_scan = pg_audit_scan,
  .turn_put = pg_turn_put,
  .turn_list = pg_turn_list,
  .audit_append_canon = pg_audit_append_canon,
  .verify_scan = pg_verify_scan,
  .run_delete = pg_run_delete,
  .step_counts_put = pg_step_counts_put,
  .step_count = pg_step_count,
  .step_page = pg_step_page,
  .token_put = pg_token_put,
  .token_get = pg_token_get,
  .token_by_hash = pg_token_by_hash,
  .token_list = pg_token_list,
  .token_revoke = pg_token_revoke,
  .token_touch = pg_token_touch,
  .deploy_put = pg_deploy_put,
  .deploy_list = pg_deploy_list,
  .run_key_set = pg_run_key_set,
  .run_by_key = pg_run_by_key,
  .schedule_list = pg_schedule_list,
  .schedule_put = pg_schedule_put,
  .schedule_delete = pg_schedule_delete,
  .run_trigger_put = pg_run_trigger_put,
  .run_trigger_get = pg_run_trigger_get,
  .audit_after = pg_audit_after,
  .inbox_pending = pg_inbox_pending,
};

/* ---- opening ---- */

static void no_notice(void *arg, const char *message)
{
  (void)arg;
  (void)message;
}

/* Runs the missing migrations, each in its own transaction, holding the
 * session advisory lock PG_MIGRATE_LOCK so that two processes starting on a
 * fresh database do not both run them. A database newer than this binary is
 * refused. */
/* The stored schema version into *ver (0: no schema_version table yet). */
static int read_version(struct pg *g, int *ver)
{
  PGresult *r = NULL;
  *ver = 0;
  int rc = pg_exec(g, "SELECT to_regclass('schema_version') IS NOT NULL", NULL,
                   "read the schema version", &r);
  bool exists = !rc && pg_col_i64(r, 0, 0) == 1;
  PQclear(r);
  r = NULL;
  if (rc || !exists)
    return rc;
  rc = pg_exec(g, "SELECT version FROM schema_version WHERE id = 1", NULL,
               "read the schema version", &r);
  if (!rc && PQntuples(r))
    *ver = pg_col_int(r, 0, 0);
  PQclear(r);
  return rc;
}

static int refuse_newer(struct pg *g, int ver)
{
  return pg_failf(g, WEFT_ESTORE,
                  "store: the PostgreSQL database has schema version %d, newer than this weft "
                  "(%d); use a newer weft",
                  ver, pg_n_migrations);
}

static int migrate(struct pg *g)
{
  /* the common case, a database at this binary's version: two reads, no
   * lock and nothing created (a role without CREATE works too) */
  int ver, rc = read_version(g, &ver);
  if (rc || ver == pg_n_migrations)
    return rc;
  if (ver > pg_n_migrations)
    return refuse_newer(g, ver);
  if ((rc = pg_exec(g, "SELECT pg_advisory_lock(" PG_MIGRATE_LOCK ")", NULL,
                    "take the migration lock", NULL)))
    return rc;
  /* again under the lock: another process may have migrated meanwhile */
  if ((rc = pg_exec(g,
                    "CREATE TABLE IF NOT EXISTS schema_version("
                    "  id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)",
                    NULL, "create schema_version", NULL)) ||
      (rc = read_version(g, &ver)))
    goto out;
  if (ver > pg_n_migrations) {
    rc = refuse_newer(g, ver);
    goto out;
  }
  for (; ver < pg_n_migrations; ver++) {
    bool own;
    if ((rc = pg_tx_begin(g, &own)))
      goto out;
    PGresult *m = PQexec(g->conn, pg_migrations[ver]);
    /* an empty entry (a number reserved for a branch not merged yet) is
     * PGRES_EMPTY_QUERY: nothing to do */
    if (!m || (PQresultStatus(m) != PGRES_COMMAND_OK && PQresultStatus(m) != PGRES_EMPTY_QUERY)) {
      char msg[400];
      one_line(msg, sizeof msg, m ? PQresultErrorMessage(m) : PQerrorMessage(g->conn));
      rc = pg_failf(g, WEFT_ESTORE, "store: migration %d failed: %s", ver + 1, msg);
    }
    PQclear(m);
    if (!rc) {
      struct pgp p = {0};
      pgp_int(&p, ver + 1);
      rc = pg_exec(g,
                   "INSERT INTO schema_version(id, version) VALUES(1, $1) "
                   "ON CONFLICT(id) DO UPDATE SET version = excluded.version",
                   &p, "set the schema version", NULL);
    }
    if ((rc = pg_tx_end(g, own, rc)))
      goto out;
  }
out:;
  PGresult *u = PQexec(g->conn, "SELECT pg_advisory_unlock(" PG_MIGRATE_LOCK ")");
  PQclear(u);
  return rc;
}

bool store_url_is_pg(const char *url)
{
  return url && (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13));
}

int store_pg_open(const char *url, struct store **out, char **err)
{
  int rc = 0;
  *out = NULL;
  if (err)
    *err = NULL;
  struct pg *g = calloc(1, sizeof *g);
  if (!g)
    return WEFT_ENOMEM;
  g->base.ops = &pg_ops;
  g->conn = PQconnectdb(url);
  if (!g->conn) {
    rc = pg_failf(g, WEFT_ENOMEM, "store: out of memory connecting to PostgreSQL");
    goto out;
  }
  PQsetNoticeProcessor(g->conn, no_notice, NULL);
  if (PQstatus(g->conn) != CONNECTION_OK) {
    char msg[400];
    one_line(msg, sizeof msg, PQerrorMessage(g->conn));
    rc = pg_failf(g, WEFT_EIO,
                  "store: cannot connect to PostgreSQL (%s); check --store / $WEFT_STORE and "
                  "that the server runs",
                  msg);
    goto out;
  }
  if (PQsetClientEncoding(g->conn, "UTF8") != 0) {
    rc = pg_failf(g, WEFT_ESTORE, "store: PostgreSQL refused client_encoding UTF8");
    goto out;
  }
  /* a writer waits for another one's transaction at most as long as SQLite
   * writers keep retrying (5 minutes), then WEFT_EBUSY */
  if ((rc = pg_exec(g,
                    "SET lock_timeout = '300s'; SET application_name = 'weft'; "
                    "SET client_min_messages = warning",
                    NULL, "session settings", NULL)) ||
      (rc = migrate(g)))
    goto out;
out:
  if (rc) {
    if (err)
      *err = strdup(g->err[0] ? g->err : weft_strerror(rc));
    pg_close(&g->base);
    return rc;
  }
  *out = &g->base;
  return 0;
}

int pg_rows(struct pg *g, const char *sql, const struct pgp *p, const char *what, size_t size,
            int (*from)(PGresult *r, int row, void *elem), void (*free_all)(void *v, size_t n),
            void **out, size_t *n)
{
  PGresult *r = NULL;
  *out = NULL;
  *n = 0;
  int rc = pg_exec(g, sql, p, what, &r);
  if (rc)
    return rc;
  size_t m = (size_t)PQntuples(r);
  char *v = m ? calloc(m, size) : NULL;
  if (m && !v)
    rc = WEFT_ENOMEM;
  for (size_t i = 0; !rc && i < m; i++)
    rc = from(r, (int)i, v + i * size);
  PQclear(r);
  if (rc) {
    free_all(v, m);
    return rc;
  }
  *out = v;
  *n = m;
  return 0;
}
