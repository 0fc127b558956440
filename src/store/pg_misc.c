/* pg_misc.c — API tokens, deployed workflow versions and schedule rows in
 * the PostgreSQL backend (store ops versions 5-7). Same contract as
 * sqlite_tokens.c, sqlite_deploy.c and sqlite_sched.c. */
#include "store/pg_int.h"
#include "util/err.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tokens ---- */

#define TOKEN_COLS "id, \"user\", name, hash, created_at, expires_at, revoked_at, last_used_at"

static int tok_from_row(PGresult *r, int i, void *elem)
{
  struct store_token *t = elem;
  int oom = 0;
  t->id = pg_col_text(r, i, 0, &oom);
  t->user = pg_col_text(r, i, 1, &oom);
  t->name = pg_col_text(r, i, 2, &oom);
  t->hash = pg_col_text(r, i, 3, &oom);
  t->created_at = pg_col_i64(r, i, 4);
  t->expires_at = pg_col_i64(r, i, 5);
  t->revoked_at = pg_col_i64(r, i, 6);
  t->last_used_at = pg_col_i64(r, i, 7);
  return oom ? WEFT_ENOMEM : 0;
}
static void tok_free(void *v, size_t n) { store_tokens_free(v, n); }

/* Runs sql and returns its rows as tokens (*out, *n; caller frees). */
static int tok_rows(struct pg *g, const char *sql, const struct pgp *p, const char *what,
                    struct store_token **out, size_t *n)
{
  void *v = NULL;
  int rc = pg_rows(g, sql, p, what, sizeof **out, tok_from_row, tok_free, &v, n);
  *out = v;
  return rc;
}

int pg_token_put(struct store *s, const struct store_token *t)
{
  struct pg *g = pg_of(s);
  bool own;
  char state[6];
  if (!t->id || !t->user || !t->hash || strlen(t->hash) != SHA256_HEX_LEN)
    return pg_failf(g, WEFT_EINVAL, "store: a token needs an id, a user and a sha256 hex hash");
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  if ((rc = pg_exec(g, "SAVEPOINT weft_tok", NULL, "put token", NULL)))
    goto out;
  struct pgp p = {0};
  pgp_text(&p, t->id);
  pgp_text(&p, t->user);
  pgp_text(&p, t->name);
  pgp_text(&p, t->hash);
  pgp_int(&p, t->created_at);
  pgp_time(&p, t->expires_at);
  pgp_time(&p, t->revoked_at);
  pgp_time(&p, t->last_used_at);
  rc = pg_exec_state(g, "INSERT INTO tokens(" TOKEN_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8)",
                     &p, "put token", NULL, state);
  if (rc && !strcmp(state, "23505")) {
    pg_exec(g, "ROLLBACK TO SAVEPOINT weft_tok", NULL, "put token", NULL);
    rc = pg_failf(g, WEFT_EINVAL, "store: token %s (or its hash) is already stored", t->id);
  } else if (!rc) {
    rc = pg_exec(g, "RELEASE SAVEPOINT weft_tok", NULL, "put token", NULL);
  }
out:
  return pg_tx_end(g, own, rc);
}

/* Exactly one row into *out, else WEFT_ENOTFOUND. */
static int tok_one(struct pg *g, const char *sql, const struct pgp *p, const char *what,
                   struct store_token *out)
{
  struct store_token *v = NULL;
  size_t n = 0;
  int rc = tok_rows(g, sql, p, what, &v, &n);
  if (!rc && n == 1) {
    *out = v[0];
    n = 0;
  } else if (!rc) {
    rc = WEFT_ENOTFOUND;
  }
  store_tokens_free(v, n);
  return rc;
}

int pg_token_get(struct store *s, const char *id_or_prefix, struct store_token *out)
{
  struct pg *g = pg_of(s);
  char prefix[64], upper[66];
  memset(out, 0, sizeof *out);
  size_t len = id_or_prefix ? strlen(id_or_prefix) : 0;
  if (len == 0 || len >= sizeof prefix)
    return pg_failf(g, WEFT_EINVAL, "'%s' is not a token id (see `weft token list`)",
                    id_or_prefix ? id_or_prefix : "");
  for (size_t i = 0; i <= len; i++)
    prefix[i] = (char)tolower((unsigned char)id_or_prefix[i]);
  struct pgp p = {0};
  pgp_text(&p, prefix);
  int rc = tok_one(g, "SELECT " TOKEN_COLS " FROM tokens WHERE id = $1", &p, "get token", out);
  if (rc != WEFT_ENOTFOUND)
    return rc;
  snprintf(upper, sizeof upper, "%s\x7f", prefix);
  pgp_text(&p, upper);
  struct store_token *v = NULL;
  size_t n = 0;
  rc = tok_rows(g, "SELECT " TOKEN_COLS " FROM tokens WHERE id >= $1 AND id < $2 ORDER BY id LIMIT 2",
                &p, "get token", &v, &n);
  if (rc)
    goto out;
  if (n == 0) {
    rc = pg_failf(g, WEFT_ENOTFOUND, "no token matches '%s' (see `weft token list`)",
                  id_or_prefix);
  } else if (n > 1) {
    rc = pg_failf(g, WEFT_EAMBIGUOUS,
                  "'%s' matches several tokens (%s, %s, ...); give more characters",
                  id_or_prefix, v[0].id, v[1].id);
  } else {
    *out = v[0];
    n = 0;
  }
out:
  store_tokens_free(v, n);
  return rc;
}

int pg_token_by_hash(struct store *s, const char *hash, struct store_token *out)
{
  struct pg *g = pg_of(s);
  memset(out, 0, sizeof *out);
  struct pgp p = {0};
  pgp_text(&p, hash);
  int rc = tok_one(g, "SELECT " TOKEN_COLS " FROM tokens WHERE hash = $1", &p, "find token", out);
  if (rc == WEFT_ENOTFOUND)
    rc = pg_failf(g, rc, "no such token");
  return rc;
}

int pg_token_list(struct store *s, const char *user, struct store_token **out, size_t *n)
{
  struct pgp p = {0};
  if (user) {
    pgp_text(&p, user);
    return tok_rows(pg_of(s),
                    "SELECT " TOKEN_COLS " FROM tokens WHERE \"user\" = $1 ORDER BY created_at, id",
                    &p, "list tokens", out, n);
  }
  return tok_rows(pg_of(s), "SELECT " TOKEN_COLS " FROM tokens ORDER BY created_at, id", NULL,
                  "list tokens", out, n);
}

static int tok_update(struct pg *g, const char *sql, const char *id, int64_t now, const char *what)
{
  bool own;
  PGresult *r = NULL;
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  struct pgp p = {0};
  pgp_text(&p, id);
  pgp_int(&p, now);
  rc = pg_exec(g, sql, &p, what, &r);
  if (!rc && pg_changes(r) == 0) {
    /* no change: no such id, or (revoke) already revoked */
    struct store_token t = {0};
    struct pgp q = {0};
    pgp_text(&q, id);
    rc = tok_one(g, "SELECT " TOKEN_COLS " FROM tokens WHERE id = $1", &q, what, &t);
    store_token_clear(&t);
    if (rc == WEFT_ENOTFOUND)
      rc = pg_failf(g, rc, "no token %s (see `weft token list`)", id);
  }
  PQclear(r);
  return pg_tx_end(g, own, rc);
}

int pg_token_revoke(struct store *s, const char *id, int64_t now)
{
  return tok_update(pg_of(s), "UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                    id, now, "revoke token");
}

int pg_token_touch(struct store *s, const char *id, int64_t now)
{
  return tok_update(pg_of(s), "UPDATE tokens SET last_used_at = $2 WHERE id = $1", id, now,
                    "touch token");
}

/* ---- deployments ---- */

#define DEPLOY_COLS "name, version, hash, path, deployed_at, deployed_by"

int pg_deploy_put(struct store *s, const struct store_deployment *d, int *version, bool *created)
{
  struct pg *g = pg_of(s);
  PGresult *r = NULL;
  bool own = false, isnew = false;
  if (created)
    *created = false;
  if (!d->name || !*d->name || !d->hash || strlen(d->hash) != SHA256_HEX_LEN)
    return pg_failf(g, WEFT_EINVAL, "store: a deployment needs a name and a sha256 hex hash");
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  struct pgp p = {0};
  pgp_text(&p, d->hash);
  if ((rc = pg_exec(g, "SELECT 1 FROM workflows WHERE hash = $1", &p, "find workflow", &r)))
    goto out;
  if (PQntuples(r) == 0) {
    rc = pg_failf(g, WEFT_ENOTFOUND, "store: no workflow version %s to deploy", d->hash);
    goto out;
  }
  PQclear(r);
  r = NULL;
  struct pgp q = {0};
  pgp_text(&q, d->name);
  if ((rc = pg_exec(g,
                    "SELECT version, hash FROM deployments WHERE name = $1 "
                    "ORDER BY version DESC LIMIT 1",
                    &q, "newest deployment", &r)))
    goto out;
  int newest = PQntuples(r) ? pg_col_int(r, 0, 0) : 0;
  if (PQntuples(r) && !strcmp(PQgetvalue(r, 0, 1), d->hash)) {
    if (version)
      *version = newest;
    goto out; /* identical to the newest: nothing to do */
  }
  pgp_int(&q, newest + 1);
  pgp_text(&q, d->hash);
  pgp_text(&q, d->path);
  pgp_int(&q, d->deployed_at);
  pgp_text(&q, d->deployed_by);
  if ((rc = pg_exec(g, "INSERT INTO deployments(" DEPLOY_COLS ") VALUES($1, $2, $3, $4, $5, $6)",
                    &q, "insert deployment", NULL)))
    goto out;
  isnew = true;
  if (version)
    *version = newest + 1;
out:
  PQclear(r);
  rc = pg_tx_end(g, own, rc);
  if (created)
    *created = rc == 0 && isnew;
  return rc;
}

int pg_deploy_list(struct store *s, const char *name, struct store_deployment **out, size_t *n)
{
  struct pg *g = pg_of(s);
  PGresult *r = NULL;
  *out = NULL;
  *n = 0;
  struct pgp p = {0};
  pgp_text(&p, name);
  int rc = name ? pg_exec(g, "SELECT " DEPLOY_COLS " FROM deployments WHERE name = $1 ORDER BY version",
                          &p, "list deployments", &r)
                : pg_exec(g,
                          "SELECT d.name, d.version, d.hash, d.path, d.deployed_at, d.deployed_by "
                          "FROM deployments d WHERE d.version = "
                          "(SELECT MAX(version) FROM deployments e WHERE e.name = d.name) "
                          "ORDER BY d.name",
                          NULL, "list deployments", &r);
  if (rc)
    return rc;
  size_t m = (size_t)PQntuples(r);
  struct store_deployment *v = m ? calloc(m, sizeof *v) : NULL;
  int oom = m && !v;
  for (size_t k = 0; !oom && k < m; k++) {
    int i = (int)k;
    v[k].name = pg_col_text(r, i, 0, &oom);
    v[k].version = pg_col_int(r, i, 1);
    v[k].hash = pg_col_text(r, i, 2, &oom);
    v[k].path = pg_col_text(r, i, 3, &oom);
    v[k].deployed_at = pg_col_i64(r, i, 4);
    v[k].deployed_by = pg_col_text(r, i, 5, &oom);
  }
  PQclear(r);
  if (oom) {
    store_deployments_free(v, m);
    return WEFT_ENOMEM;
  }
  *out = v;
  *n = m;
  return 0;
}

/* ---- schedules ---- */

#define SCHED_COLS "workflow, idx, version, expr, timezone, next_at, last_at, last_run"

int pg_schedule_list(struct store *s, const char *workflow, int64_t due_by, size_t limit,
                     struct store_schedule **out, size_t *n)
{
  struct pg *g = pg_of(s);
  PGresult *r = NULL;
  *out = NULL;
  *n = 0;
  struct pgp p = {0};
  pgp_text(&p, workflow);
  pgp_int(&p, due_by);
  if (limit && limit < INT64_MAX)
    pgp_int(&p, (int64_t)limit);
  else
    pgp_text(&p, NULL);
  int rc = pg_exec(g,
                   workflow ? "SELECT " SCHED_COLS " FROM schedules WHERE workflow = $1 AND "
                              "next_at <= $2 ORDER BY idx LIMIT $3::bigint"
                            : "SELECT " SCHED_COLS " FROM schedules WHERE $1::text IS NULL AND "
                              "next_at <= $2 ORDER BY next_at, workflow, idx LIMIT $3::bigint",
                   &p, "list schedules", &r);
  if (rc)
    return rc;
  size_t m = (size_t)PQntuples(r);
  struct store_schedule *v = m ? calloc(m, sizeof *v) : NULL;
  int oom = m && !v;
  for (size_t k = 0; !oom && k < m; k++) {
    int i = (int)k;
    v[k].workflow = pg_col_text(r, i, 0, &oom);
    v[k].idx = pg_col_int(r, i, 1);
    v[k].version = pg_col_int(r, i, 2);
    v[k].expr = pg_col_text(r, i, 3, &oom);
    v[k].timezone = pg_col_text(r, i, 4, &oom);
    v[k].next_at = pg_col_i64(r, i, 5);
    v[k].last_at = pg_col_i64(r, i, 6);
    v[k].last_run = pg_col_text(r, i, 7, &oom);
  }
  PQclear(r);
  if (oom) {
    store_schedules_free(v, m);
    return WEFT_ENOMEM;
  }
  *out = v;
  *n = m;
  return 0;
}

int pg_schedule_put(struct store *s, const struct store_schedule *x)
{
  struct pg *g = pg_of(s);
  bool own;
  if (!x->workflow || x->idx < 1 || !x->expr)
    return pg_failf(g, WEFT_EINVAL, "store: a schedule needs a workflow, an index and an expression");
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  struct pgp p = {0};
  pgp_text(&p, x->workflow);
  pgp_int(&p, x->idx);
  pgp_int(&p, x->version);
  pgp_text(&p, x->expr);
  pgp_text(&p, x->timezone);
  pgp_int(&p, x->next_at);
  pgp_int(&p, x->last_at);
  pgp_text(&p, x->last_run);
  rc = pg_exec(g,
               "INSERT INTO schedules(" SCHED_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8) "
               "ON CONFLICT(workflow, idx) DO UPDATE SET version = excluded.version, "
               "expr = excluded.expr, timezone = excluded.timezone, next_at = excluded.next_at, "
               "last_at = excluded.last_at, last_run = excluded.last_run",
               &p, "put schedule", NULL);
  return pg_tx_end(g, own, rc);
}

int pg_schedule_delete(struct store *s, const char *workflow, int idx)
{
  struct pg *g = pg_of(s);
  bool own;
  int rc = pg_tx_begin(g, &own);
  if (rc)
    return rc;
  struct pgp p = {0};
  pgp_text(&p, workflow);
  pgp_int(&p, idx);
  rc = pg_exec(g, "DELETE FROM schedules WHERE workflow = $1 AND idx = $2", &p, "delete schedule",
               NULL);
  return pg_tx_end(g, own, rc);
}
