/* sqlite_verify.c — the SQLite side of `weft audit verify` and `weft prune`:
 * verify_scan streams, from one read snapshot, the chain (entries by seq) and
 * then the store's rows and each run's entries merged by run id, so that
 * audit/xcheck.c can compare them a run at a time; run_delete removes one
 * run's rows.
 *
 * The merge: five statements step side by side, each ordered by run id by an
 * index (runs: its key; steps, attempts: their keys; decisions:
 * decisions_step; audit: audit_run), so nothing is sorted and nothing is
 * queried per row: verify of a million-instance run is a few sequential
 * scans. Only verify and prune use these, so the statements are prepared per
 * call, not cached. */
#include "store/sqlite_int.h"
#include "util/err.h"
#include "util/wtime.h"

#include <stdlib.h>
#include <string.h>

enum { C_RUN, C_STEP, C_ATT, C_DEC, C_ENT, NCUR };

static const char *const cur_sql[NCUR] = {
  "SELECT id, status FROM runs ORDER BY id",
  "SELECT run_id, step, idx, status, attempts FROM steps ORDER BY run_id, step, idx",
  "SELECT run_id, step, idx, attempt, status FROM attempts ORDER BY run_id, step, idx, attempt",
  "SELECT run_id, step, idx, user, decision FROM decisions ORDER BY run_id, step, idx",
  "SELECT run_id, seq, kind, data FROM audit WHERE run_id IS NOT NULL ORDER BY run_id, seq",
};

struct cur {
  sqlite3_stmt *st;
  bool row; /* st is on a row */
};

static int cur_next(struct sq *q, struct cur *c)
{
  int rc = sqlite3_step(c->st);
  c->row = rc == SQLITE_ROW;
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return sq_fail(q, rc, "verify: read the store");
  return 0;
}

static const char *cur_run(const struct cur *c)
{
  return c->row ? (const char *)sqlite3_column_text(c->st, 0) : NULL;
}

static const char *col(sqlite3_stmt *st, int i) { return (const char *)sqlite3_column_text(st, i); }

static int chain(struct sq *q, store_verify_cb cb, void *ctx)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(q->db,
                              "SELECT seq, at, run_id, kind, data, prev_hash, hash FROM audit "
                              "ORDER BY seq", -1, &st, NULL);
  if (rc != SQLITE_OK)
    return sq_fail(q, rc, "verify: prepare");
  int out = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    struct store_audit e = {
      .seq = sqlite3_column_int64(st, 0), .at = sqlite3_column_int64(st, 1),
      .run_id = (char *)col(st, 2), .kind = (char *)col(st, 3), .data = (char *)col(st, 4),
      .prev_hash = (char *)col(st, 5), .hash = (char *)col(st, 6),
    };
    struct store_vrow r = {.type = STORE_V_ENTRY, .entry = &e};
    if ((out = cb(ctx, &r)))
      break;
  }
  if (!out && rc != SQLITE_DONE)
    out = sq_fail(q, rc, "verify: read the audit log");
  sqlite3_finalize(st);
  return out;
}

/* Emits the rows of cursor c that belong to run id (c is ordered by run). */
static int emit_group(struct sq *q, struct cur *c, int which, const char *id,
                      store_verify_cb cb, void *ctx)
{
  int rc = 0;
  while (!rc && c->row && !strcmp(cur_run(c), id)) {
    sqlite3_stmt *st = c->st;
    struct store_vrow r = {.run_id = id};
    struct store_audit e = {0};
    if (which != C_ENT) {
      r.step = col(st, 1);
      r.index = sqlite3_column_int(st, 2);
    }
    switch (which) {
    case C_STEP:
      r.type = STORE_V_STEP;
      r.status = col(st, 3);
      r.n = sqlite3_column_int64(st, 4);
      break;
    case C_ATT:
      r.type = STORE_V_ATTEMPT;
      r.n = sqlite3_column_int64(st, 3);
      r.status = col(st, 4);
      break;
    case C_DEC:
      r.type = STORE_V_DECISION;
      r.user = col(st, 3);
      r.decision = col(st, 4);
      break;
    default: /* C_ENT */
      r = (struct store_vrow){.type = STORE_V_RUN_ENTRY, .run_id = id, .entry = &e};
      e.seq = sqlite3_column_int64(st, 1);
      e.run_id = (char *)id;
      e.kind = (char *)col(st, 2);
      e.data = (char *)col(st, 3);
      break;
    }
    if ((rc = cb(ctx, &r)))
      break;
    rc = cur_next(q, c);
  }
  return rc;
}

static int groups(struct sq *q, store_verify_cb cb, void *ctx)
{
  struct cur c[NCUR] = {{0}};
  int rc = 0;
  char *id = NULL;
  for (int i = 0; i < NCUR && !rc; i++) {
    int src = sqlite3_prepare_v2(q->db, cur_sql[i], -1, &c[i].st, NULL);
    rc = src == SQLITE_OK ? cur_next(q, &c[i]) : sq_fail(q, src, "verify: prepare");
  }
  while (!rc) {
    const char *min = NULL;
    for (int i = 0; i < NCUR; i++)
      if (c[i].row && (!min || strcmp(cur_run(&c[i]), min) < 0))
        min = cur_run(&c[i]);
    if (!min)
      break;
    free(id);
    if (!(id = strdup(min))) {
      rc = WEFT_ENOMEM;
      break;
    }
    struct store_vrow r = {.type = STORE_V_RUN, .run_id = id};
    bool has_row = c[C_RUN].row && !strcmp(cur_run(&c[C_RUN]), id);
    if (has_row)
      r.status = col(c[C_RUN].st, 1);
    if ((rc = cb(ctx, &r)) || (has_row && (rc = cur_next(q, &c[C_RUN]))))
      break;
    for (int i = C_STEP; i < NCUR && !rc; i++)
      rc = emit_group(q, &c[i], i, id, cb, ctx);
    if (rc)
      break;
    r = (struct store_vrow){.type = STORE_V_RUN_END, .run_id = id};
    rc = cb(ctx, &r);
  }
  free(id);
  for (int i = 0; i < NCUR; i++)
    sqlite3_finalize(c[i].st);
  return rc;
}

static int workflows(struct sq *q, store_verify_cb cb, void *ctx)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(q->db, "SELECT hash FROM workflows ORDER BY hash", -1, &st, NULL);
  if (rc != SQLITE_OK)
    return sq_fail(q, rc, "verify: prepare");
  int out = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    struct store_vrow r = {.type = STORE_V_WORKFLOW, .hash = col(st, 0)};
    if ((out = cb(ctx, &r)))
      break;
  }
  if (!out && rc != SQLITE_DONE)
    out = sq_fail(q, rc, "verify: read the definitions");
  sqlite3_finalize(st);
  return out;
}

static int head_of(struct sq *q, struct store_audit *head)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(q->db, "SELECT seq, hash FROM audit_head WHERE id = 1", -1, &st,
                              NULL);
  if (rc != SQLITE_OK)
    return sq_fail(q, rc, "verify: prepare");
  int out = 0;
  if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    head->seq = sqlite3_column_int64(st, 0);
    const char *h = col(st, 1);
    if (!(head->hash = strdup(h ? h : "")))
      out = WEFT_ENOMEM;
  } else if (rc != SQLITE_DONE) {
    out = sq_fail(q, rc, "verify: read the audit head");
  }
  sqlite3_finalize(st);
  return out;
}

int sq_verify_scan(struct store *s, struct store_audit *head, store_verify_cb cb, void *ctx)
{
  struct sq *q = sq_of(s);
  struct store_audit h = {0};
  if (head)
    memset(head, 0, sizeof *head);
  if (q->in_tx)
    return sq_failf(q, WEFT_ESTATE, "store: verify needs a snapshot of its own (a transaction "
                                    "is open)");
  /* one snapshot: a deferred transaction whose first read (the head) fixes
   * it; that read is retried while busy (nothing has been emitted yet) */
  int rc;
  int64_t t0 = wt_mono_ms();
  for (int i = 0;; i++) {
    rc = sqlite3_exec(q->db, "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
      return sq_fail(q, rc, "verify: BEGIN");
    rc = head_of(q, head ? head : &h);
    if (rc != WEFT_EBUSY || !sq_backoff(i, t0))
      break;
    sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
  }
  if (!rc && !(rc = chain(q, cb, ctx)) && !(rc = groups(q, cb, ctx)))
    rc = workflows(q, cb, ctx);
  sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL);
  store_audit_clear(&h);
  if (rc && head)
    store_audit_clear(head);
  return rc;
}

int sq_run_delete(struct store *s, const char *run_id)
{
  static const char *const sql[] = {
    "DELETE FROM steps WHERE run_id = ?1",     "DELETE FROM attempts WHERE run_id = ?1",
    "DELETE FROM decisions WHERE run_id = ?1", "DELETE FROM inbox WHERE run_id = ?1",
    "DELETE FROM agent_turns WHERE run_id = ?1", "DELETE FROM run_events WHERE run_id = ?1",
    "DELETE FROM runs WHERE id = ?1",
  };
  struct sq *q = sq_of(s);
  bool own = false;
  int rc = sq_tx_begin(q, &own);
  for (size_t i = 0; !rc && i < sizeof sql / sizeof sql[0]; i++) {
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(q->db, sql[i], -1, &st, NULL);
    if (src != SQLITE_OK) {
      rc = sq_fail(q, src, "prune: prepare");
      break;
    }
    sq_bind_text(st, 1, run_id);
    src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
      rc = sq_fail(q, src, "prune: delete the run's rows");
  }
  return sq_tx_end(q, own, rc);
}
