/* sqlite_audit.c — storage of the hash-chained audit log in the SQLite
 * backend: append (inside the caller's transaction, so an entry commits
 * atomically with the transition it records) and a snapshot scan.
 *
 * The chain head (last seq and hash) is kept in audit_head, updated by the
 * same transaction as the entry, so that deleting the last entries is
 * visible to audit_verify. Within one write transaction the head is read
 * once and kept in struct sq; the row is written once, at commit
 * (sq_audit_head_flush from tx_commit), so an entry costs one INSERT. The
 * hashing itself is util/audit_chain.c's. */
#include "util/audit_chain.h"
#include "store/sqlite_int.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct head {
  int found;
  int64_t seq;
  char hash[SHA256_HEX_LEN + 1];
};

static int head_row(void *ctx, sqlite3_stmt *st)
{
  struct head *h = ctx;
  const unsigned char *t = sqlite3_column_text(st, 1);
  h->found = 1;
  h->seq = sqlite3_column_int64(st, 0);
  snprintf(h->hash, sizeof h->hash, "%s", t ? (const char *)t : "");
  return 0;
}

static int maxseq_row(void *ctx, sqlite3_stmt *st)
{
  if (sqlite3_column_type(st, 0) != SQLITE_NULL)
    *(int64_t *)ctx = sqlite3_column_int64(st, 0);
  return 0;
}

static int read_head(struct sq *q, struct head *h)
{
  memset(h, 0, sizeof *h);
  if (q->in_tx && q->head_valid) {
    /* this transaction's appends so far (not yet in audit_head) */
    h->found = 1;
    h->seq = q->head_seq;
    memcpy(h->hash, q->head_hash, sizeof h->hash);
    return 0;
  }
  sqlite3_stmt *st = sq_stmt(q, SQ_AUDIT_HEAD, "SELECT seq, hash FROM audit_head WHERE id = 1");
  if (!st)
    return WEFT_ESTORE;
  return sq_query(q, st, head_row, NULL, h, "read audit head");
}

int sq_audit_head_flush(struct sq *q)
{
  int rc = 0;
  if (q->head_dirty) {
    sqlite3_stmt *st = sq_stmt(q, SQ_AUDIT_SET_HEAD,
                               "INSERT INTO audit_head(id, seq, hash) VALUES(1, ?1, ?2) "
                               "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash");
    if (!st) {
      rc = WEFT_ESTORE;
    } else {
      sqlite3_bind_int64(st, 1, q->head_seq);
      sq_bind_text(st, 2, q->head_hash);
      rc = sq_exec(q, st, "update audit head");
    }
  }
  q->head_valid = q->head_dirty = false;
  return rc;
}

/* Appends an entry whose data is already canonical (borrowed). The
 * head is read once per transaction and then kept in struct sq; the
 * audit_head row is written once, by tx_commit. */
static int append_canon(struct sq *q, int64_t at, const char *run_id, const char *kind,
                        const char *canon, int64_t *seq_out)
{
  struct head h;
  char hash[SHA256_HEX_LEN + 1];
  bool own = false;
  int rc;
  if ((rc = sq_tx_begin(q, &own)))
    goto out;
  if ((rc = read_head(q, &h)))
    goto out;
  if (!h.found) {
    /* first entry ever, unless someone removed the head row */
    int64_t max = 0;
    sqlite3_stmt *st = sq_stmt(q, SQ_AUDIT_MAXSEQ, "SELECT max(seq) FROM audit");
    if (!st) {
      rc = WEFT_ESTORE;
      goto out;
    }
    if ((rc = sq_query(q, st, maxseq_row, NULL, &max, "read audit")))
      goto out;
    if (max) {
      rc = sq_failf(q, WEFT_ECORRUPT,
                    "store: the audit log has entries but no head record; run `weft audit verify`");
      goto out;
    }
    strcpy(h.hash, AUDIT_GENESIS);
  }
  int64_t seq = h.seq + 1;
  audit_entry_hash(seq, at, run_id, kind, canon, h.hash, hash);
  sqlite3_stmt *st = sq_stmt(q, SQ_AUDIT_INSERT,
                             "INSERT INTO audit(seq, at, run_id, kind, data, prev_hash, hash) "
                             "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sqlite3_bind_int64(st, 1, seq);
  sqlite3_bind_int64(st, 2, at);
  sq_bind_text(st, 3, run_id);
  sq_bind_text(st, 4, kind);
  sq_bind_text(st, 5, canon);
  sq_bind_text(st, 6, h.hash);
  sq_bind_text(st, 7, hash);
  if ((rc = sq_exec(q, st, "append audit entry")))
    goto out;
  q->head_valid = q->head_dirty = true;
  q->head_seq = seq;
  memcpy(q->head_hash, hash, sizeof q->head_hash);
  if (seq_out)
    *seq_out = seq;
out:
  return sq_tx_end(q, own, rc);
}

int sq_audit_append(struct store *s, int64_t at, const char *run_id, const char *kind,
                    const char *data, int64_t *seq_out)
{
  struct sq *q = sq_of(s);
  char *canon = NULL;
  if (!kind)
    return sq_failf(q, WEFT_EINVAL, "store: an audit entry needs a kind");
  int rc = audit_canonical(data, &canon);
  if (rc)
    return sq_failf(q, rc, "store: audit data for '%s' is not JSON", kind);
  rc = append_canon(q, at, run_id, kind, canon, seq_out);
  free(canon);
  return rc;
}

int sq_audit_append_canon(struct store *s, int64_t at, const char *run_id, const char *kind,
                          const char *canon, int64_t *seq_out)
{
  struct sq *q = sq_of(s);
  if (!kind)
    return sq_failf(q, WEFT_EINVAL, "store: an audit entry needs a kind");
  return append_canon(q, at, run_id, kind, canon ? canon : "null", seq_out);
}

struct scan {
  store_audit_cb cb;
  void *ctx;
};

static int scan_row(void *ctx, sqlite3_stmt *st)
{
  struct scan *sc = ctx;
  struct store_audit e = {
    .seq = sqlite3_column_int64(st, 0),
    .at = sqlite3_column_int64(st, 1),
    /* borrowed from SQLite for the duration of the callback */
    .run_id = (char *)sqlite3_column_text(st, 2),
    .kind = (char *)sqlite3_column_text(st, 3),
    .data = (char *)sqlite3_column_text(st, 4),
    .prev_hash = (char *)sqlite3_column_text(st, 5),
    .hash = (char *)sqlite3_column_text(st, 6),
  };
  return sc->cb(sc->ctx, &e);
}

int sq_audit_scan(struct store *s, const char *run_id, struct store_audit *head,
                  store_audit_cb cb, void *ctx)
{
  struct sq *q = sq_of(s);
  struct scan sc = {cb, ctx};
  struct head h;
  bool opened = false;
  int rc = 0;
  if (head)
    memset(head, 0, sizeof *head);
  /* head and entries from one snapshot: a read transaction of our own */
  if (!q->in_tx) {
    sqlite3_stmt *b = sq_stmt(q, SQ_BEGIN_DEFERRED, "BEGIN");
    if (!b)
      return WEFT_ESTORE;
    if ((rc = sq_exec(q, b, "BEGIN")))
      return rc;
    opened = true;
  }
  if ((rc = read_head(q, &h)))
    goto out;
  if (head && h.found) {
    head->seq = h.seq;
    if (!(head->hash = strdup(h.hash))) {
      rc = WEFT_ENOMEM;
      goto out;
    }
  }
  sqlite3_stmt *st;
#define AUDIT_COLS "seq, at, run_id, kind, data, prev_hash, hash"
  if (run_id) {
    st = sq_stmt(q, SQ_AUDIT_SCAN_RUN,
                 "SELECT " AUDIT_COLS " FROM audit WHERE run_id = ?1 ORDER BY seq");
    if (st)
      sq_bind_text(st, 1, run_id);
  } else {
    st = sq_stmt(q, SQ_AUDIT_SCAN_ALL, "SELECT " AUDIT_COLS " FROM audit ORDER BY seq");
  }
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  /* a callback may have side effects, so a busy read is not restarted here:
   * inside the snapshot it cannot be busy once the first read succeeded */
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW)
    if ((rc = scan_row(&sc, st)))
      break;
  sqlite3_reset(st);
  if (!rc && src != SQLITE_DONE)
    rc = sq_fail(q, src, "scan audit log");
out:
  if (opened) {
    sqlite3_stmt *c = sq_stmt(q, SQ_COMMIT, "COMMIT");
    if (c)
      sq_exec(q, c, "end read");
  }
  if (rc && head) {
    free(head->hash);
    head->hash = NULL;
  }
  return rc;
}

/* ---- live events: entries after a seq (version 6) ------------------------ */

struct after_vec {
  struct store_audit *v;
  size_t n, cap;
};

static char *dup_col(sqlite3_stmt *st, int i)
{
  const unsigned char *t = sqlite3_column_text(st, i);
  return t ? strdup((const char *)t) : NULL;
}

static int after_row(void *ctx, sqlite3_stmt *st)
{
  struct after_vec *av = ctx;
  if (av->n == av->cap) {
    size_t cap = av->cap ? av->cap * 2 : 64;
    struct store_audit *v = realloc(av->v, cap * sizeof *v);
    if (!v)
      return WEFT_ENOMEM;
    av->v = v;
    av->cap = cap;
  }
  struct store_audit *e = &av->v[av->n++];
  memset(e, 0, sizeof *e);
  e->seq = sqlite3_column_int64(st, 0);
  e->at = sqlite3_column_int64(st, 1);
  e->run_id = dup_col(st, 2);
  e->kind = dup_col(st, 3);
  e->data = dup_col(st, 4);
  e->prev_hash = dup_col(st, 5);
  e->hash = dup_col(st, 6);
  if (!e->kind || !e->data || !e->prev_hash || !e->hash)
    return WEFT_ENOMEM;
  return 0;
}

static void after_restart(void *ctx)
{
  struct after_vec *av = ctx;
  store_audits_free(av->v, av->n);
  memset(av, 0, sizeof *av);
}

int sq_audit_after(struct store *s, const char *run_id, int64_t after_seq, size_t limit,
                   struct store_audit **out, size_t *n, int64_t *head_seq)
{
  struct sq *q = sq_of(s);
  struct after_vec av = {0};
  struct head h;
  bool opened = false;
  int rc = 0;
  *out = NULL;
  *n = 0;
  *head_seq = 0;
  if (!q->in_tx) { /* the head and the entries from one snapshot */
    sqlite3_stmt *b = sq_stmt(q, SQ_BEGIN_DEFERRED, "BEGIN");
    if (!b)
      return WEFT_ESTORE;
    if ((rc = sq_exec(q, b, "BEGIN")))
      return rc;
    opened = true;
  }
  if ((rc = read_head(q, &h)))
    goto out;
  *head_seq = h.found ? h.seq : 0;
  sqlite3_stmt *st =
      run_id ? sq_stmt(q, SQ_AUDIT_AFTER_RUN, /* the audit_run index */
                       "SELECT " AUDIT_COLS " FROM audit WHERE run_id = ?3 AND seq > ?1 ORDER BY seq LIMIT ?2")
             : sq_stmt(q, SQ_AUDIT_AFTER, "SELECT " AUDIT_COLS " FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  if (run_id)
    sq_bind_text(st, 3, run_id);
  sqlite3_bind_int64(st, 1, after_seq);
  sqlite3_bind_int64(st, 2, limit ? (sqlite3_int64)limit : -1);
  rc = sq_query(q, st, after_row, after_restart, &av, "read audit log");
out:
  if (opened) {
    sqlite3_stmt *c = sq_stmt(q, SQ_COMMIT, "COMMIT");
    if (c)
      sq_exec(q, c, "end read");
  }
  if (rc) {
    store_audits_free(av.v, av.n);
    *head_seq = 0;
    return rc;
  }
  *out = av.v;
  *n = av.n;
  return 0;
}
