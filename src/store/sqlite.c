/* sqlite.c — the SQLite backend of struct store_ops: opening, pragmas,
 * migrations, transactions, busy retries and the prepared-statement cache.
 * The ops themselves live in sqlite_runs.c, sqlite_steps.c, sqlite_inbox.c
 * and sqlite_audit.c; the schema in sqlite_schema.c.
 *
 * Busy handling, the one thing that must never fail: several weft processes
 * share one database. Every write runs inside BEGIN IMMEDIATE (taken here,
 * with a busy_timeout AND our own retry loop around it, because SQLite
 * returns SQLITE_BUSY without calling the busy handler in some WAL cases),
 * so a statement inside the transaction never meets a lock. Reads restart on
 * busy (sq_query). COMMIT is retried too. Only after SQ_BUSY_GIVEUP_MS of
 * uninterrupted contention does a call give up with WEFT_EBUSY.
 *
 * Durability: journal_mode=WAL (set once, persistent in the file),
 * synchronous=FULL (a committed transition survives power loss), and the
 * default autocheckpoint. The runtime's connection switches to NORMAL and
 * syncs the WAL itself (sq_defer_sync, runtime/rt_sync.c). */
#include "store/sqlite_int.h"
#include "util/err.h"
#include "util/wtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int sq_failf(struct sq *q, int rc, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(q->err, sizeof q->err, fmt, ap);
  va_end(ap);
  return rc;
}

int sq_fail(struct sq *q, int sqlite_rc, const char *what)
{
  int rc;
  switch (sqlite_rc & 0xff) {
  case SQLITE_NOMEM: rc = WEFT_ENOMEM; break;
  case SQLITE_BUSY:
  case SQLITE_LOCKED: rc = WEFT_EBUSY; break;
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB: rc = WEFT_ECORRUPT; break;
  case SQLITE_IOERR:
  case SQLITE_FULL:
  case SQLITE_CANTOPEN:
  case SQLITE_READONLY:
  case SQLITE_PERM: rc = WEFT_EIO; break;
  default: rc = WEFT_ESTORE; break;
  }
  if ((sqlite_rc & 0xff) == SQLITE_CORRUPT && q->db) { /* damaged after a good open */
    const char *f = sqlite3_db_filename(q->db, "main");
    return sq_failf(q, rc, "store: %s: %s is damaged (%s); move it aside and start an empty "
                    "store, or restore it from a backup", what, f && *f ? f : "the store",
                    sqlite3_errmsg(q->db));
  }
  if ((sqlite_rc & 0xff) == SQLITE_FULL) { /* "database or disk is full" */
    const char *f = q->db ? sqlite3_db_filename(q->db, "main") : NULL;
    return sq_failf(q, rc, "store: %s: no space left on device (%s); free some space",
                    what, f && *f ? f : "the store");
  }
  return sq_failf(q, rc, "store: %s: %s", what, q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(sqlite_rc));
}

/* Jitter source; seeded per process so forked siblings do not wait in step. */
static unsigned jitter(void)
{
  static unsigned x;
  static int seeded_pid;
  if (seeded_pid != (int)getpid()) {
    seeded_pid = (int)getpid();
    x = (unsigned)seeded_pid * 2654435761u ^ (unsigned)wt_mono_us();
    if (!x)
      x = 1;
  }
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

bool sq_backoff(int attempt, int64_t started_ms)
{
  if (wt_mono_ms() - started_ms > SQ_BUSY_GIVEUP_MS)
    return false;
  /* 1, 2, 4 ... 32 ms, with jitter so two waiters do not wake in step */
  long us = 1000L << (attempt < 5 ? attempt : 5);
  us += (long)(jitter() % 1000) * (attempt + 1);
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  nanosleep(&ts, NULL);
  return true;
}

static bool is_busy(int rc) { return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED; }

sqlite3_stmt *sq_stmt(struct sq *q, enum sq_stmt_id id, const char *sql)
{
  sqlite3_stmt *st = q->stmt[id];
  if (st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
  }
  int rc = sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
  if (rc != SQLITE_OK) {
    sq_fail(q, rc, "prepare");
    return NULL;
  }
  q->stmt[id] = st;
  return st;
}

int sq_exec(struct sq *q, sqlite3_stmt *st, const char *what)
{
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    ;
  int out = rc == SQLITE_DONE ? 0 : sq_fail(q, rc, what);
  sqlite3_reset(st);
  return out;
}

/* Steps a transaction-control statement (BEGIN/COMMIT), retrying on busy. */
static int tx_control(struct sq *q, enum sq_stmt_id id, const char *sql)
{
  sqlite3_stmt *st = sq_stmt(q, id, sql);
  if (!st)
    return WEFT_ESTORE;
  int64_t t0 = wt_mono_ms();
  for (int i = 0;; i++) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
      return 0;
    if (!is_busy(rc) || !sq_backoff(i, t0))
      return sq_fail(q, rc, sql);
  }
}

int sq_tx_begin(struct sq *q, bool *own)
{
  *own = false;
  if (q->in_tx) {
    /* SQLite rolls a transaction back by itself after some errors (I/O, disk
     * full, out of memory); a put must not then run on in autocommit mode */
    if (sqlite3_get_autocommit(q->db))
      return sq_failf(q, WEFT_ESTORE,
                      "store: the transaction was rolled back after an earlier error; "
                      "roll back and start again");
    return 0;
  }
  int rc = tx_control(q, SQ_BEGIN_IMMEDIATE, "BEGIN IMMEDIATE");
  if (rc)
    return rc;
  q->in_tx = true;
  *own = true;
  return 0;
}

static void wal_grow(struct sq *q);

static int tx_commit(struct sq *q)
{
  /* the audit head, kept in memory during the transaction, goes in last */
  int rc = sq_audit_head_flush(q);
  if (!rc && q->wal_grow)
    wal_grow(q);
  if (!rc)
    rc = tx_control(q, SQ_COMMIT, "COMMIT");
  if (rc) {
    /* the transaction may still be open: give it up so the handle stays usable */
    if (!sqlite3_get_autocommit(q->db)) {
      char keep[sizeof q->err];
      memcpy(keep, q->err, sizeof keep);
      sqlite3_stmt *st = sq_stmt(q, SQ_ROLLBACK, "ROLLBACK");
      if (st)
        sq_exec(q, st, "ROLLBACK");
      memcpy(q->err, keep, sizeof keep);
    }
  }
  q->in_tx = false;
  return rc;
}

static int tx_rollback(struct sq *q)
{
  int rc = 0;
  q->head_valid = q->head_dirty = false;
  if (!sqlite3_get_autocommit(q->db)) {
    sqlite3_stmt *st = sq_stmt(q, SQ_ROLLBACK, "ROLLBACK");
    rc = st ? sq_exec(q, st, "ROLLBACK") : WEFT_ESTORE;
  }
  q->in_tx = false;
  return rc;
}

int sq_tx_end(struct sq *q, bool own, int rc)
{
  if (!own)
    return rc;
  if (rc == 0)
    return tx_commit(q);
  char keep[sizeof q->err];
  memcpy(keep, q->err, sizeof keep);
  tx_rollback(q);
  memcpy(q->err, keep, sizeof keep);
  return rc;
}

int sq_query(struct sq *q, sqlite3_stmt *st, int (*row)(void *ctx, sqlite3_stmt *st),
             void (*restart)(void *ctx), void *ctx, const char *what)
{
  int64_t t0 = wt_mono_ms();
  int out = 0;
  for (int i = 0;; i++) {
    int rc;
    out = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      out = row(ctx, st);
      if (out)
        break;
    }
    sqlite3_reset(st);
    if (out || rc == SQLITE_DONE)
      break;
    if (!is_busy(rc) || q->in_tx || !sq_backoff(i, t0)) {
      out = sq_fail(q, rc, what);
      break;
    }
    if (restart)
      restart(ctx);
  }
  return out;
}

int sq_bind_text(sqlite3_stmt *st, int i, const char *s)
{
  return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

int sq_bind_time(sqlite3_stmt *st, int i, int64_t ms)
{
  return ms ? sqlite3_bind_int64(st, i, ms) : sqlite3_bind_null(st, i);
}

char *sq_col_text(sqlite3_stmt *st, int i, int *oom)
{
  const unsigned char *t = sqlite3_column_text(st, i);
  if (!t)
    return NULL;
  char *c = strdup((const char *)t);
  if (!c)
    *oom = 1;
  return c;
}

int sq_grow(void **v, size_t *cap, size_t n, size_t elem)
{
  if (n < *cap)
    return 0;
  if (n >= SQ_MAX_ROWS)
    return WEFT_ELIMIT;
  size_t ncap = *cap ? *cap * 2 : 16;
  if (ncap > SQ_MAX_ROWS)
    ncap = SQ_MAX_ROWS;
  void *p = realloc(*v, ncap * elem);
  if (!p)
    return WEFT_ENOMEM;
  memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
  *v = p;
  *cap = ncap;
  return 0;
}

/* ---- ops that belong to the handle itself ---- */

/* A WAL this large is left behind by a huge transaction (a million for_each
 * instances write ~100 MB of frames in one commit). SQLite checkpoints it at
 * the commit but keeps the frames valid until the next write restarts the
 * log, and every process that opens the store afterwards rebuilds its
 * wal-index by reading all of them: `weft status` of a 1M run then spent
 * ~40 ms of CPU and up to 0.3 s on a loaded machine just opening the store.
 * The engine's connection (the one that grows the WAL) truncates it when
 * it closes; a busy database is left as it is (no waiting). */
#define WAL_TRIM_OVER ((off_t)8 << 20) /* twice WAL_PREALLOC, below */

static void wal_trim(struct sq *q)
{
  struct stat st;
  if (!q->wal_path || stat(q->wal_path, &st) != 0 || st.st_size <= WAL_TRIM_OVER)
    return;
  sqlite3_busy_timeout(q->db, 0);
  sqlite3_wal_checkpoint_v2(q->db, "main", SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
}

static void sq_close(struct store *s)
{
  struct sq *q = sq_of(s);
  if (q->in_tx)
    tx_rollback(q);
  wal_trim(q);
  for (int i = 0; i < SQ_NSTMT; i++)
    sqlite3_finalize(q->stmt[i]);
  sqlite3_close(q->db);
  if (q->wal_fd >= 0)
    close(q->wal_fd);
  free(q->wal_path);
  free(q->base.home);
  free(q);
}

static const char *sq_errmsg(struct store *s) { return sq_of(s)->err; }

static int sq_begin(struct store *s)
{
  struct sq *q = sq_of(s);
  if (q->in_tx)
    return sq_failf(q, WEFT_ESTATE, "store: a transaction is already open");
  bool own;
  return sq_tx_begin(q, &own);
}

static int sq_commit(struct store *s)
{
  struct sq *q = sq_of(s);
  if (!q->in_tx)
    return sq_failf(q, WEFT_ESTATE, "store: commit without a transaction");
  return tx_commit(q);
}

/* synchronous=NORMAL: in WAL mode a commit appends to the WAL without an
 * fsync (checkpoints still sync the WAL before copying it into the database,
 * so the database file never gets ahead of it); fdatasync() of the WAL file
 * after a commit then makes that commit and every earlier one durable, which
 * is exactly what synchronous=FULL does inside the commit. */
static int exec_retry(struct sq *q, const char *sql, const char *what);

/* The WAL grows to about SQLite's autocheckpoint size (1,000 pages) and is
 * then reused from its start. While it grows, every sync must also write the
 * file's new size: measured here, 0.25 ms per fdatasync against 0.11 ms for
 * the same pages rewritten in place. So a deferred-sync connection fills the
 * WAL with zeros up to that size ahead of SQLite (SQLite sees frames that do
 * not verify: the end of the log). Filling 4 MiB at once and syncing it took
 * ~10 ms, more than a whole one-step run; so it grows a chunk at a time,
 * doubling from 64 KiB, in the commits that follow: inside the transaction
 * (the write lock is ours: no process appends meanwhile), before COMMIT
 * (SQLite's frames then overwrite any zeros they reach), and only beyond the
 * file's end (where no process can have a frame). No sync of its own: the
 * commit's sync carries the zeros. */
#define WAL_PREALLOC (4u << 20)
#define WAL_GROW_MIN (64u << 10)

static void wal_grow(struct sq *q)
{
  if (q->wal_fd < 0 && (q->wal_fd = open(q->wal_path, O_WRONLY | O_CLOEXEC)) < 0)
    return; /* no WAL file yet: SQLite creates it with the first frame */
  struct stat st;
  if (fstat(q->wal_fd, &st) != 0)
    return;
  if (st.st_size >= (off_t)WAL_PREALLOC) {
    q->wal_grow = false;
    close(q->wal_fd);
    q->wal_fd = -1;
    return;
  }
  off_t off = st.st_size;
  off_t end = off + (off < (off_t)WAL_GROW_MIN ? (off_t)WAL_GROW_MIN : off);
  if (end > (off_t)WAL_PREALLOC)
    end = WAL_PREALLOC;
  static const char zeros[65536];
  while (off < end) {
    size_t n = (size_t)(end - off < (off_t)sizeof zeros ? end - off : (off_t)sizeof zeros);
    ssize_t w = pwrite(q->wal_fd, zeros, n, off);
    if (w <= 0)
      break; /* a full disk: SQLite's own write will say so */
    off += w;
  }
}

static int sq_defer_sync(struct store *s, char **sync_path)
{
  struct sq *q = sq_of(s);
  const char *db = sqlite3_db_filename(q->db, "main");
  if (!db || !*db)
    return sq_failf(q, WEFT_ESTATE, "store: an in-memory database has no file to sync");
  if (asprintf(sync_path, "%s-wal", db) < 0) {
    *sync_path = NULL;
    return WEFT_ENOMEM;
  }
  int rc = exec_retry(q, "PRAGMA synchronous=NORMAL", "pragmas");
  if (rc) {
    free(*sync_path);
    *sync_path = NULL;
    return rc;
  }
  free(q->wal_path);
  q->wal_path = strdup(*sync_path);
  q->wal_grow = q->wal_path != NULL;
  return 0;
}

static int sq_rollback(struct store *s)
{
  struct sq *q = sq_of(s);
  if (!q->in_tx)
    return sq_failf(q, WEFT_ESTATE, "store: rollback without a transaction");
  return tx_rollback(q);
}

static bool sq_in_tx(struct store *s) { return sq_of(s)->in_tx; }

static const struct store_ops sq_ops = {
  .version = STORE_OPS_VERSION,
  .name = "sqlite",
  .close = sq_close,
  .errmsg = sq_errmsg,
  .begin = sq_begin,
  .commit = sq_commit,
  .defer_sync = sq_defer_sync,
  .rollback = sq_rollback,
  .in_tx = sq_in_tx,
  .workflow_put = sq_workflow_put,
  .workflow_get = sq_workflow_get,
  .run_put = sq_run_put,
  .run_get = sq_run_get,
  .run_list = sq_run_list,
  .run_list_active = sq_run_list_active,
  .run_claim = sq_run_claim,
  .run_release = sq_run_release,
  .heartbeat = sq_heartbeat,
  .step_put = sq_step_put,
  .step_put_many = sq_step_put_many,
  .step_reserve = sq_step_reserve,
  .step_get = sq_step_get,
  .step_list = sq_step_list,
  .step_list_waiting = sq_step_list_waiting,
  .attempt_put = sq_attempt_put,
  .attempt_list = sq_attempt_list,
  .inbox_post = sq_inbox_post,
  .inbox_take = sq_inbox_take,
  .event_list = sq_event_list,
  .decision_put = sq_decision_put,
  .decision_list = sq_decision_list,
  .audit_append = sq_audit_append,
  .audit_scan = sq_audit_scan,
  .turn_put = sq_turn_put,
  .turn_list = sq_turn_list,
  .audit_append_canon = sq_audit_append_canon,
  .verify_scan = sq_verify_scan,
  .run_delete = sq_run_delete,
  .step_counts_put = sq_step_counts_put,
  .step_count = sq_step_count,
  .step_page = sq_step_page,
  .token_put = sq_token_put,
  .token_get = sq_token_get,
  .token_by_hash = sq_token_by_hash,
  .token_list = sq_token_list,
  .token_revoke = sq_token_revoke,
  .token_touch = sq_token_touch,
  .deploy_put = sq_deploy_put,
  .deploy_list = sq_deploy_list,
  .run_key_set = sq_run_key_set,
  .run_by_key = sq_run_by_key,
  .schedule_list = sq_schedule_list,
  .schedule_put = sq_schedule_put,
  .schedule_delete = sq_schedule_delete,
  .run_trigger_put = sq_run_trigger_put,
  .run_trigger_get = sq_run_trigger_get,
  .audit_after = sq_audit_after,
  .run_group_set = sq_run_group_set,
  .group_count = sq_group_count,
  .group_runs = sq_group_runs,
  .notice_put = sq_notice_put,
  .notice_due = sq_notice_due,
  .notice_update = sq_notice_update,
  .inbox_pending = sq_inbox_pending,
  .run_event_put = sq_run_event_put,
  .run_event_pending = sq_run_event_pending,
  .run_event_claim = sq_run_event_claim,
  .run_event_claimed = sq_run_event_claimed,
  .mutex_take = sq_mutex_take,
  .mutex_free = sq_mutex_free,
  .mutex_steal = sq_mutex_steal,
};

/* ---- opening ---- */

/* Runs one SQL text (possibly several statements) with busy retries. */
static int exec_retry(struct sq *q, const char *sql, const char *what)
{
  int64_t t0 = wt_mono_ms();
  for (int i = 0;; i++) {
    int rc = sqlite3_exec(q->db, sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
      return 0;
    if (!is_busy(rc) || !sq_backoff(i, t0))
      return sq_fail(q, rc, what);
  }
}

static int pragma_int(struct sq *q, const char *sql, int *out)
{
  sqlite3_stmt *st = NULL;
  int64_t t0 = wt_mono_ms();
  int rc = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK)
    return sq_fail(q, rc, sql);
  for (int i = 0;; i++) {
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      *out = sqlite3_column_int(st, 0);
      rc = 0;
      break;
    }
    sqlite3_reset(st);
    if (!is_busy(rc) || !sq_backoff(i, t0)) {
      rc = sq_fail(q, rc, sql);
      break;
    }
  }
  sqlite3_finalize(st);
  return rc;
}

static int set_wal(struct sq *q)
{
  sqlite3_stmt *st = NULL;
  int64_t t0 = wt_mono_ms();
  int rc = sqlite3_prepare_v2(q->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
  if (rc != SQLITE_OK)
    return sq_fail(q, rc, "journal_mode");
  for (int i = 0;; i++) {
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      const char *mode = (const char *)sqlite3_column_text(st, 0);
      rc = mode && strcmp(mode, "wal") == 0
             ? 0
             : sq_failf(q, WEFT_ESTORE, "store: cannot switch the database to WAL mode (got %s)",
                        mode ? mode : "?");
      break;
    }
    sqlite3_reset(st);
    if (!is_busy(rc) || !sq_backoff(i, t0)) {
      rc = sq_fail(q, rc, "journal_mode=WAL");
      break;
    }
  }
  sqlite3_finalize(st);
  return rc;
}

static int migrate(struct sq *q)
{
  int ver = 0, rc = pragma_int(q, "PRAGMA user_version", &ver);
  if (rc)
    return rc;
  if (ver == sq_n_migrations)
    return 0; /* the common case: no write lock taken */
  bool own;
  rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  rc = pragma_int(q, "PRAGMA user_version", &ver); /* again, under the lock */
  if (rc)
    goto out;
  if (ver > sq_n_migrations) {
    rc = sq_failf(q, WEFT_ESTORE,
                  "store: the database has schema version %d, newer than this weft (%d); "
                  "use a newer weft",
                  ver, sq_n_migrations);
    goto out;
  }
  for (; ver < sq_n_migrations; ver++) {
    char *e = NULL;
    if (sqlite3_exec(q->db, sq_migrations[ver], NULL, NULL, &e) != SQLITE_OK) {
      rc = sq_failf(q, WEFT_ESTORE, "store: migration %d failed: %s", ver + 1, e ? e : "?");
      sqlite3_free(e);
      goto out;
    }
  }
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA user_version=%d", sq_n_migrations);
  if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    rc = sq_fail(q, sqlite3_errcode(q->db), "set user_version");
out:
  return sq_tx_end(q, own, rc);
}

/* An existing database file must be an SQLite database: an empty or foreign
 * file is never silently made a fresh store (that would hide a store that was
 * truncated or replaced, and with it the audit log). A file that does not
 * exist yet is created fresh. A process creating the store writes its header
 * within milliseconds of creating the file: a 0-byte file gets a moment to
 * grow before it is called empty. */
static int check_db_file(struct sq *q, const char *db_path)
{
  static const char magic[16] = "SQLite format 3";
  for (int tries = 0;; tries++) {
    struct stat st;
    if (stat(db_path, &st) != 0)
      return 0; /* absent: created fresh */
    if (!S_ISREG(st.st_mode))
      return sq_failf(q, WEFT_ECORRUPT, "store: %s is not a file", db_path);
    if (st.st_size == 0) {
      if (tries < 100) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        continue;
      }
      return sq_failf(q, WEFT_ECORRUPT,
                      "store: %s is empty (0 bytes): the store was truncated, or its creation "
                      "was interrupted. weft does not start a new store over it; restore it from "
                      "a backup, or move it away to start a fresh store",
                      db_path);
    }
    char head[16] = {0};
    int fd = open(db_path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, head, sizeof head) : -1;
    if (fd >= 0)
      close(fd);
    if (n < 0)
      return sq_failf(q, WEFT_EIO, "store: cannot read %s", db_path);
    if (n != (ssize_t)sizeof head || memcmp(head, magic, sizeof magic) != 0)
      return sq_failf(q, WEFT_ECORRUPT,
                      "store: %s is not a weft store (not an SQLite database; damaged or "
                      "replaced?); restore it from a backup, or move it away to start a fresh "
                      "store",
                      db_path);
    return 0;
  }
}

int store_sqlite_open(const char *db_path, struct store **out, char **err)
{
  int rc = 0;
  *out = NULL;
  if (err)
    *err = NULL;
  struct sq *q = calloc(1, sizeof *q);
  if (!q)
    return WEFT_ENOMEM;
  q->base.ops = &sq_ops;
  q->wal_fd = -1;
  if (strcmp(db_path, ":memory:") && (rc = check_db_file(q, db_path)))
    goto out;
  int src = sqlite3_open_v2(db_path, &q->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (src != SQLITE_OK) {
    rc = sq_fail(q, src, db_path);
    goto out;
  }
  sqlite3_extended_result_codes(q->db, 0);
  sqlite3_busy_timeout(q->db, SQ_BUSY_TIMEOUT_MS);
  if ((rc = set_wal(q)) ||
      (rc = exec_retry(q, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;", "pragmas")) ||
      (rc = migrate(q)))
    goto out;
  /* Keep the WAL file between processes and leave checkpoints to SQLite's
   * autocheckpoint: re-creating the WAL (and syncing its directory) and
   * checkpointing on every close cost several fsyncs per `weft` command. */
  int one = 1;
  sqlite3_file_control(q->db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
  sqlite3_db_config(q->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
out:
  if (rc) {
    if (err)
      *err = strdup(q->err[0] ? q->err : weft_strerror(rc));
    sq_close(&q->base);
    return rc;
  }
  *out = &q->base;
  return 0;
}
