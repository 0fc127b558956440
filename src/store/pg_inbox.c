/* pg_inbox.c — the inbox (requests from other processes to the engine that
 * owns a run) and approval decisions in the PostgreSQL backend. Same
 * contract as sqlite_inbox.c: inbox_take first peeks without a lock (the
 * empty case, polled by every engine, stays one cheap read) and then hands
 * each pending row to exactly one taker with UPDATE ... RETURNING inside a
 * write transaction (writers are serialised: pg_tx_begin). The set of run
 * ids travels as one JSON array parameter. */
#include "store/pg_int.h"
#include "util/err.h"
#include "util/jsonfmt.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int pg_inbox_post(struct store *s, const struct store_inbox *m, int64_t *id_out)
{
  struct pg *g = pg_of(s);
  bool own;
  PGresult *r = NULL;
  if (!m->kind)
    return pg_failf(g, WEFT_EINVAL, "store: an inbox request needs a kind");
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  struct pgp p = {0};
  pgp_text(&p, m->kind);
  pgp_text(&p, m->run_id);
  pgp_text(&p, m->step);
  pgp_int(&p, m->index);
  pgp_text(&p, m->user);
  pgp_text(&p, m->payload);
  pgp_int(&p, m->created_at);
  pgp_text(&p, m->name);
  if (!(rc = pg_exec(g,
                     "INSERT INTO inbox(kind, run_id, step, idx, \"user\", payload, created_at, "
                     "name) VALUES($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                     &p, "post request", &r)) &&
      id_out)
    *id_out = pg_col_i64(r, 0, 0);
  PQclear(r);
  return pg_tx_end(g, own, rc);
}

#define INBOX_COLS "id, kind, run_id, step, idx, \"user\", payload, created_at, taken_at, name"
#define INBOX_WHERE                                                                  \
  "taken_at IS NULL AND (run_id IN (SELECT json_array_elements_text($1::json)) OR "  \
  "($2::boolean AND run_id IS NULL))"

static int inbox_rows(PGresult *r, struct store_inbox **out, size_t *n)
{
  size_t m = (size_t)PQntuples(r);
  struct store_inbox *v = m ? calloc(m, sizeof *v) : NULL;
  int oom = m && !v;
  for (size_t k = 0; !oom && k < m; k++) {
    int i = (int)k;
    struct store_inbox *x = &v[k];
    x->id = pg_col_i64(r, i, 0);
    x->kind = pg_col_text(r, i, 1, &oom);
    x->run_id = pg_col_text(r, i, 2, &oom);
    x->step = pg_col_text(r, i, 3, &oom);
    x->index = pg_col_int(r, i, 4);
    x->user = pg_col_text(r, i, 5, &oom);
    x->payload = pg_col_text(r, i, 6, &oom);
    x->created_at = pg_col_i64(r, i, 7);
    x->taken_at = pg_col_i64(r, i, 8);
    x->name = pg_col_text(r, i, 9, &oom);
  }
  if (oom) {
    store_inbox_free(v, m);
    return WEFT_ENOMEM;
  }
  *out = v;
  *n = m;
  return 0;
}

static int by_id(const void *a, const void *b)
{
  const struct store_inbox *x = a, *y = b;
  return (x->id > y->id) - (x->id < y->id);
}

int pg_inbox_take(struct store *s, const char *const *run_ids, size_t n_runs, bool events,
                  int64_t now, struct store_inbox **out, size_t *n)
{
  struct pg *g = pg_of(s);
  json_t *arr = json_array();
  char *ids = NULL;
  PGresult *r = NULL;
  bool own = false, opened = false;
  int rc = 0;
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
  struct pgp p = {0};
  pgp_text(&p, ids);
  pgp_bool(&p, events);
  if ((rc = pg_exec(g, "SELECT 1 FROM inbox WHERE " INBOX_WHERE " LIMIT 1", &p, "peek inbox", &r)))
    goto out;
  int found = PQntuples(r) > 0;
  PQclear(r);
  r = NULL;
  if (!found)
    goto out;
  if ((rc = pg_tx_begin(g, &own)))
    goto out;
  opened = true;
  pgp_int(&p, now);
  if (!(rc = pg_exec(g, "UPDATE inbox SET taken_at = $3 WHERE " INBOX_WHERE " RETURNING " INBOX_COLS,
                     &p, "take inbox", &r)))
    rc = inbox_rows(r, out, n);
out:
  PQclear(r);
  if (opened)
    rc = pg_tx_end(g, own, rc);
  json_decref(arr);
  free(ids);
  if (rc) {
    store_inbox_free(*out, *n);
    *out = NULL;
    *n = 0;
    return rc;
  }
  if (*n > 1)
    qsort(*out, *n, sizeof **out, by_id); /* RETURNING order is unspecified */
  return 0;
}

int pg_event_list(struct store *s, int64_t after_id, size_t limit, struct store_inbox **out,
                  size_t *n)
{
  struct pg *g = pg_of(s);
  PGresult *r = NULL;
  *out = NULL;
  *n = 0;
  struct pgp p = {0};
  pgp_int(&p, after_id);
  if (limit)
    pgp_int(&p, (int64_t)limit);
  else
    pgp_text(&p, NULL);
  int rc = pg_exec(g,
                   "SELECT " INBOX_COLS " FROM inbox WHERE id > $1 AND kind = 'event' "
                   "AND run_id IS NULL ORDER BY id LIMIT $2::bigint",
                   &p, "list events", &r);
  if (!rc)
    rc = inbox_rows(r, out, n);
  PQclear(r);
  return rc;
}

int pg_inbox_pending(struct store *s, int64_t *n)
{
  struct pg *g = pg_of(s);
  PGresult *r = NULL;
  *n = 0;
  int rc = pg_exec(g, "SELECT count(*) FROM inbox WHERE taken_at IS NULL AND run_id IS NOT NULL",
                   NULL, "count inbox", &r);
  if (!rc)
    *n = pg_col_i64(r, 0, 0);
  PQclear(r);
  return rc;
}

/* ---- decisions ---- */

int pg_decision_put(struct store *s, const struct store_decision *d, int64_t *id_out)
{
  struct pg *g = pg_of(s);
  bool own;
  PGresult *r = NULL;
  if (!d->run_id || !d->step || !d->user || !d->decision)
    return pg_failf(g, WEFT_EINVAL, "store: a decision needs a run, a step, a user and a decision");
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  struct pgp p = {0};
  pgp_text(&p, d->run_id);
  pgp_text(&p, d->step);
  pgp_int(&p, d->index);
  pgp_text(&p, d->user);
  pgp_text(&p, d->decision);
  pgp_text(&p, d->comment);
  pgp_text(&p, d->fields);
  pgp_int(&p, d->at);
  if (!(rc = pg_exec(g,
                     "INSERT INTO decisions(run_id, step, idx, \"user\", decision, comment, "
                     "fields, at) VALUES($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                     &p, "put decision", &r)) &&
      id_out)
    *id_out = pg_col_i64(r, 0, 0);
  PQclear(r);
  return pg_tx_end(g, own, rc);
}

#define DECISION_COLS "id, run_id, step, idx, \"user\", decision, comment, fields, at"

int pg_decision_list(struct store *s, const char *run_id, const char *step, int index,
                     struct store_decision **out, size_t *n)
{
  struct pg *g = pg_of(s);
  PGresult *r = NULL;
  *out = NULL;
  *n = 0;
  struct pgp p = {0};
  pgp_text(&p, run_id);
  if (step) {
    pgp_text(&p, step);
    pgp_int(&p, index);
  }
  int rc = pg_exec(g,
                   step ? "SELECT " DECISION_COLS " FROM decisions WHERE run_id = $1 AND "
                          "step = $2 AND idx = $3 ORDER BY id"
                        : "SELECT " DECISION_COLS " FROM decisions WHERE run_id = $1 ORDER BY id",
                   &p, "list decisions", &r);
  if (rc)
    return rc;
  size_t m = (size_t)PQntuples(r);
  struct store_decision *v = m ? calloc(m, sizeof *v) : NULL;
  int oom = m && !v;
  for (size_t k = 0; !oom && k < m; k++) {
    int i = (int)k;
    struct store_decision *d = &v[k];
    d->id = pg_col_i64(r, i, 0);
    d->run_id = pg_col_text(r, i, 1, &oom);
    d->step = pg_col_text(r, i, 2, &oom);
    d->index = pg_col_int(r, i, 3);
    d->user = pg_col_text(r, i, 4, &oom);
    d->decision = pg_col_text(r, i, 5, &oom);
    d->comment = pg_col_text(r, i, 6, &oom);
    d->fields = pg_col_text(r, i, 7, &oom);
    d->at = pg_col_i64(r, i, 8);
  }
  PQclear(r);
  if (oom) {
    store_decisions_free(v, m);
    return WEFT_ENOMEM;
  }
  *out = v;
  *n = m;
  return 0;
}
