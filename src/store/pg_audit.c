/* pg_audit.c — the hash-chained audit log in the PostgreSQL backend (append
 * inside the caller's transaction, snapshot scans, entries after a seq), the
 * store side of `weft audit verify` (verify_scan) and of `weft prune`
 * (run_delete). Same contract as sqlite_audit.c and sqlite_verify.c: the
 * chain head is kept in audit_head, read once per write transaction and
 * written once before COMMIT; the hashing is util/audit_chain.c's, so a
 * chain is identical on both stores. Appends are serialised by the writers'
 * advisory lock that every write transaction holds (pg.c). Scans run in one
 * REPEATABLE READ snapshot and stream through cursors. */
#include "util/audit_chain.h"
#include "store/pg_int.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct head {
  int found;
  int64_t seq;
  char hash[SHA256_HEX_LEN + 1];
};

static int read_head(struct pg *g, struct head *h)
{
  PGresult *r = NULL;
  memset(h, 0, sizeof *h);
  if (g->in_tx && g->head_valid) {
    h->found = 1;
    h->seq = g->head_seq;
    memcpy(h->hash, g->head_hash, sizeof h->hash);
    return 0;
  }
  int rc = pg_exec(g, "SELECT seq, hash FROM audit_head WHERE id = 1", NULL, "read audit head", &r);
  if (!rc && PQntuples(r) > 0) {
    h->found = 1;
    h->seq = pg_col_i64(r, 0, 0);
    snprintf(h->hash, sizeof h->hash, "%s", PQgetvalue(r, 0, 1));
  }
  PQclear(r);
  return rc;
}

void pg_audit_head_forget(struct pg *g) { g->head_valid = g->head_dirty = false; }

int pg_audit_head_flush(struct pg *g)
{
  int rc = 0;
  if (g->head_dirty) {
    struct pgp p = {0};
    pgp_int(&p, g->head_seq);
    pgp_text(&p, g->head_hash);
    rc = pg_exec(g,
                 "INSERT INTO audit_head(id, seq, hash) VALUES(1, $1, $2) "
                 "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                 &p, "update audit head", NULL);
  }
  pg_audit_head_forget(g);
  return rc;
}

static int append_canon(struct pg *g, int64_t at, const char *run_id, const char *kind,
                        const char *canon, int64_t *seq_out)
{
  struct head h;
  char hash[SHA256_HEX_LEN + 1];
  bool own = false;
  int rc;
  if ((rc = pg_tx_begin(g, &own)))
    goto out;
  if ((rc = read_head(g, &h)))
    goto out;
  if (!h.found) {
    PGresult *r = NULL;
    if ((rc = pg_exec(g, "SELECT max(seq) FROM audit", NULL, "read audit", &r)))
      goto out;
    int64_t max = pg_col_i64(r, 0, 0);
    PQclear(r);
    if (max) {
      rc = pg_failf(g, WEFT_ECORRUPT,
                    "store: the audit log has entries but no head record; run `weft audit verify`");
      goto out;
    }
    strcpy(h.hash, AUDIT_GENESIS);
  }
  int64_t seq = h.seq + 1;
  audit_entry_hash(seq, at, run_id, kind, canon, h.hash, hash);
  struct pgp p = {0};
  pgp_int(&p, seq);
  pgp_int(&p, at);
  pgp_text(&p, run_id);
  pgp_text(&p, kind);
  pgp_text(&p, canon);
  pgp_text(&p, h.hash);
  pgp_text(&p, hash);
  if ((rc = pg_exec(g,
                    "INSERT INTO audit(seq, at, run_id, kind, data, prev_hash, hash) "
                    "VALUES($1, $2, $3, $4, $5, $6, $7)",
                    &p, "append audit entry", NULL)))
    goto out;
  g->head_valid = g->head_dirty = true;
  g->head_seq = seq;
  memcpy(g->head_hash, hash, sizeof g->head_hash);
  if (seq_out)
    *seq_out = seq;
out:
  return pg_tx_end(g, own, rc);
}

int pg_audit_append(struct store *s, int64_t at, const char *run_id, const char *kind,
                    const char *data, int64_t *seq_out)
{
  struct pg *g = pg_of(s);
  char *canon = NULL;
  if (!kind)
    return pg_failf(g, WEFT_EINVAL, "store: an audit entry needs a kind");
  int rc = audit_canonical(data, &canon);
  if (rc)
    return pg_failf(g, rc, "store: audit data for '%s' is not JSON", kind);
  rc = append_canon(g, at, run_id, kind, canon, seq_out);
  free(canon);
  return rc;
}

int pg_audit_append_canon(struct store *s, int64_t at, const char *run_id, const char *kind,
                          const char *canon, int64_t *seq_out)
{
  struct pg *g = pg_of(s);
  if (!kind)
    return pg_failf(g, WEFT_EINVAL, "store: an audit entry needs a kind");
  return append_canon(g, at, run_id, kind, canon ? canon : "null", seq_out);
}

#define AUDIT_COLS "seq, at, run_id, kind, data, prev_hash, hash"

/* The entry on the cursor's row, borrowed from the result. */
static void entry_of(PGresult *r, int i, struct store_audit *e)
{
  *e = (struct store_audit){
    .seq = pg_col_i64(r, i, 0),
    .at = pg_col_i64(r, i, 1),
    .run_id = (char *)pg_col_str(r, i, 2),
    .kind = (char *)pg_col_str(r, i, 3),
    .data = (char *)pg_col_str(r, i, 4),
    .prev_hash = (char *)pg_col_str(r, i, 5),
    .hash = (char *)pg_col_str(r, i, 6),
  };
}

int pg_audit_scan(struct store *s, const char *run_id, struct store_audit *head,
                  store_audit_cb cb, void *ctx)
{
  struct pg *g = pg_of(s);
  struct head h;
  struct pg_cursor c = {0};
  bool opened = false;
  int rc;
  if (head)
    memset(head, 0, sizeof *head);
  if ((rc = pg_snap_begin(g, &opened)))
    return rc;
  if ((rc = read_head(g, &h)))
    goto out;
  if (head && h.found) {
    head->seq = h.seq;
    if (!(head->hash = strdup(h.hash))) {
      rc = WEFT_ENOMEM;
      goto out;
    }
  }
  struct pgp p = {0};
  pgp_text(&p, run_id);
  rc = run_id ? pg_cursor_open(g, &c, "SELECT " AUDIT_COLS " FROM audit WHERE run_id = $1 "
                                      "ORDER BY seq", &p)
              : pg_cursor_open(g, &c, "SELECT " AUDIT_COLS " FROM audit ORDER BY seq", NULL);
  while (!rc) {
    int more = pg_cursor_next(&c);
    if (more <= 0) {
      rc = more;
      break;
    }
    struct store_audit e;
    entry_of(c.res, c.row, &e);
    rc = cb(ctx, &e);
  }
out:
  pg_cursor_close(&c);
  pg_snap_end(g, opened);
  if (rc && head) {
    free(head->hash);
    head->hash = NULL;
  }
  return rc;
}

int pg_audit_after(struct store *s, const char *run_id, int64_t after_seq, size_t limit,
                   struct store_audit **out, size_t *n, int64_t *head_seq)
{
  struct pg *g = pg_of(s);
  struct head h;
  PGresult *r = NULL;
  bool opened = false;
  int rc;
  *out = NULL;
  *n = 0;
  *head_seq = 0;
  if ((rc = pg_snap_begin(g, &opened)))
    return rc;
  if ((rc = read_head(g, &h)))
    goto out;
  struct pgp p = {0};
  pgp_int(&p, after_seq);
  if (limit)
    pgp_int(&p, (int64_t)limit);
  else
    pgp_text(&p, NULL);
  pgp_text(&p, run_id);
  rc = pg_exec(g,
               run_id ? "SELECT " AUDIT_COLS " FROM audit WHERE run_id = $3 AND seq > $1 "
                        "ORDER BY seq LIMIT $2::bigint"
                      : "SELECT " AUDIT_COLS " FROM audit WHERE seq > $1 AND $3::text IS NULL "
                        "ORDER BY seq LIMIT $2::bigint",
               &p, "read audit log", &r);
  if (rc)
    goto out;
  size_t m = (size_t)PQntuples(r);
  struct store_audit *v = m ? calloc(m, sizeof *v) : NULL;
  int oom = m && !v;
  for (size_t k = 0; !oom && k < m; k++) {
    int i = (int)k;
    struct store_audit *e = &v[k];
    e->seq = pg_col_i64(r, i, 0);
    e->at = pg_col_i64(r, i, 1);
    e->run_id = pg_col_text(r, i, 2, &oom);
    e->kind = pg_col_text(r, i, 3, &oom);
    e->data = pg_col_text(r, i, 4, &oom);
    e->prev_hash = pg_col_text(r, i, 5, &oom);
    e->hash = pg_col_text(r, i, 6, &oom);
  }
  if (oom) {
    store_audits_free(v, m);
    rc = WEFT_ENOMEM;
    goto out;
  }
  *out = v;
  *n = m;
  *head_seq = h.found ? h.seq : 0;
out:
  PQclear(r);
  pg_snap_end(g, opened);
  return rc;
}

/* ---- verify_scan: the chain, then rows and entries grouped by run ---- */

enum { C_RUN, C_STEP, C_ATT, C_DEC, C_ENT, NCUR };

static const char *const cur_sql[NCUR] = {
  "SELECT id, status FROM runs ORDER BY id",
  "SELECT run_id, step, idx, status, attempts FROM steps ORDER BY run_id, step, idx",
  "SELECT run_id, step, idx, attempt, status FROM attempts ORDER BY run_id, step, idx, attempt",
  "SELECT run_id, step, idx, \"user\", decision FROM decisions ORDER BY run_id, step, idx, id",
  "SELECT run_id, seq, kind, data FROM audit WHERE run_id IS NOT NULL ORDER BY run_id, seq",
};

struct vcur {
  struct pg_cursor c;
  bool row;
};

static int vnext(struct vcur *v)
{
  int more = pg_cursor_next(&v->c);
  v->row = more > 0;
  return more < 0 ? more : 0;
}

static const char *vrun(const struct vcur *v)
{
  return v->row ? PQgetvalue(v->c.res, v->c.row, 0) : NULL;
}

static const char *vcol(const struct vcur *v, int i) { return pg_col_str(v->c.res, v->c.row, i); }

static int emit_group(struct vcur *v, int which, const char *id, store_verify_cb cb, void *ctx)
{
  int rc = 0;
  while (!rc && v->row && !strcmp(vrun(v), id)) {
    struct store_vrow r = {.run_id = id};
    struct store_audit e = {0};
    PGresult *res = v->c.res;
    int i = v->c.row;
    if (which != C_ENT) {
      r.step = vcol(v, 1);
      r.index = pg_col_int(res, i, 2);
    }
    switch (which) {
    case C_STEP:
      r.type = STORE_V_STEP;
      r.status = vcol(v, 3);
      r.n = pg_col_i64(res, i, 4);
      break;
    case C_ATT:
      r.type = STORE_V_ATTEMPT;
      r.n = pg_col_i64(res, i, 3);
      r.status = vcol(v, 4);
      break;
    case C_DEC:
      r.type = STORE_V_DECISION;
      r.user = vcol(v, 3);
      r.decision = vcol(v, 4);
      break;
    default: /* C_ENT */
      r = (struct store_vrow){.type = STORE_V_RUN_ENTRY, .run_id = id, .entry = &e};
      e.seq = pg_col_i64(res, i, 1);
      e.run_id = (char *)id;
      e.kind = (char *)vcol(v, 2);
      e.data = (char *)vcol(v, 3);
      break;
    }
    if ((rc = cb(ctx, &r)))
      break;
    rc = vnext(v);
  }
  return rc;
}

static int groups(struct pg *g, store_verify_cb cb, void *ctx)
{
  struct vcur c[NCUR];
  int rc = 0;
  char *id = NULL;
  memset(c, 0, sizeof c);
  for (int i = 0; i < NCUR && !rc; i++)
    if (!(rc = pg_cursor_open(g, &c[i].c, cur_sql[i], NULL)))
      rc = vnext(&c[i]);
  while (!rc) {
    const char *min = NULL;
    for (int i = 0; i < NCUR; i++)
      if (c[i].row && (!min || strcmp(vrun(&c[i]), min) < 0))
        min = vrun(&c[i]);
    if (!min)
      break;
    free(id);
    if (!(id = strdup(min))) {
      rc = WEFT_ENOMEM;
      break;
    }
    struct store_vrow r = {.type = STORE_V_RUN, .run_id = id};
    bool has_row = c[C_RUN].row && !strcmp(vrun(&c[C_RUN]), id);
    if (has_row)
      r.status = vcol(&c[C_RUN], 1);
    if ((rc = cb(ctx, &r)) || (has_row && (rc = vnext(&c[C_RUN]))))
      break;
    for (int i = C_STEP; i < NCUR && !rc; i++)
      rc = emit_group(&c[i], i, id, cb, ctx);
    if (rc)
      break;
    r = (struct store_vrow){.type = STORE_V_RUN_END, .run_id = id};
    rc = cb(ctx, &r);
  }
  free(id);
  for (int i = 0; i < NCUR; i++)
    pg_cursor_close(&c[i].c);
  return rc;
}

int pg_verify_scan(struct store *s, struct store_audit *head, store_verify_cb cb, void *ctx)
{
  struct pg *g = pg_of(s);
  struct store_audit h = {0};
  struct store_audit *hd = head ? head : &h;
  struct pg_cursor c = {0};
  PGresult *r = NULL;
  bool opened = false;
  int rc;
  if (head)
    memset(head, 0, sizeof *head);
  if (g->in_tx)
    return pg_failf(g, WEFT_ESTATE, "store: verify needs a snapshot of its own (a transaction "
                                    "is open)");
  if ((rc = pg_snap_begin(g, &opened)))
    return rc;
  if ((rc = pg_exec(g, "SELECT seq, hash FROM audit_head WHERE id = 1", NULL,
                    "verify: read the audit head", &r)))
    goto out;
  if (PQntuples(r) > 0) {
    hd->seq = pg_col_i64(r, 0, 0);
    if (!(hd->hash = strdup(PQgetvalue(r, 0, 1)))) {
      rc = WEFT_ENOMEM;
      goto out;
    }
  }
  /* the chain */
  rc = pg_cursor_open(g, &c, "SELECT " AUDIT_COLS " FROM audit ORDER BY seq", NULL);
  while (!rc) {
    int more = pg_cursor_next(&c);
    if (more <= 0) {
      rc = more;
      break;
    }
    struct store_audit e;
    entry_of(c.res, c.row, &e);
    struct store_vrow v = {.type = STORE_V_ENTRY, .entry = &e};
    rc = cb(ctx, &v);
  }
  pg_cursor_close(&c);
  if (!rc)
    rc = groups(g, cb, ctx);
  if (!rc)
    rc = pg_cursor_open(g, &c, "SELECT hash FROM workflows ORDER BY hash", NULL);
  while (!rc) {
    int more = pg_cursor_next(&c);
    if (more <= 0) {
      rc = more;
      break;
    }
    struct store_vrow v = {.type = STORE_V_WORKFLOW, .hash = PQgetvalue(c.res, c.row, 0)};
    rc = cb(ctx, &v);
  }
  pg_cursor_close(&c);
out:
  PQclear(r);
  pg_snap_end(g, opened);
  store_audit_clear(&h);
  if (rc && head)
    store_audit_clear(head);
  return rc;
}

int pg_run_delete(struct store *s, const char *run_id)
{
  static const char *const sql[] = {
    "DELETE FROM steps WHERE run_id = $1",     "DELETE FROM attempts WHERE run_id = $1",
    "DELETE FROM decisions WHERE run_id = $1", "DELETE FROM inbox WHERE run_id = $1",
    "DELETE FROM agent_turns WHERE run_id = $1", "DELETE FROM runs WHERE id = $1",
  };
  struct pg *g = pg_of(s);
  bool own = false;
  int rc = pg_tx_begin(g, &own);
  struct pgp p = {0};
  pgp_text(&p, run_id);
  for (size_t i = 0; !rc && i < sizeof sql / sizeof sql[0]; i++)
    rc = pg_exec(g, sql[i], &p, "prune: delete the run's rows", NULL);
  return pg_tx_end(g, own, rc);
}
