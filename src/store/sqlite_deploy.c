/* sqlite_deploy.c — deployed workflows and idempotency keys in the SQLite
 * backend (store.h, ops version 6): the deployments table (a name's
 * versions 1, 2, 3..., each naming a definition of the workflows table by
 * hash) and runs.idempotency_key (unique per workflow). */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"

#define DEPLOY_COLS "name, version, hash, path, deployed_at, deployed_by"

struct dep_vec {
  struct store_deployment *v;
  size_t n, cap;
};

static int dep_row(void *ctx, sqlite3_stmt *st)
{
  struct dep_vec *dv = ctx;
  int rc = sq_grow((void **)&dv->v, &dv->cap, dv->n, sizeof *dv->v);
  if (rc)
    return rc;
  struct store_deployment *d = &dv->v[dv->n++]; /* counted first so a partial row is freed */
  int oom = 0;
  d->name = sq_col_text(st, 0, &oom);
  d->version = sqlite3_column_int(st, 1);
  d->hash = sq_col_text(st, 2, &oom);
  d->path = sq_col_text(st, 3, &oom);
  d->deployed_at = sqlite3_column_int64(st, 4);
  d->deployed_by = sq_col_text(st, 5, &oom);
  return oom ? WEFT_ENOMEM : 0;
}

static void dep_restart(void *ctx)
{
  struct dep_vec *dv = ctx;
  for (size_t i = 0; i < dv->n; i++)
    store_deployment_clear(&dv->v[i]);
  dv->n = 0;
}

static int one_int(void *ctx, sqlite3_stmt *st)
{
  *(int *)ctx = sqlite3_column_int(st, 0);
  return 0;
}

struct newest {
  int version;
  char *hash;
};

static int newest_row(void *ctx, sqlite3_stmt *st)
{
  struct newest *nw = ctx;
  int oom = 0;
  free(nw->hash);
  nw->version = sqlite3_column_int(st, 0);
  nw->hash = sq_col_text(st, 1, &oom);
  return oom ? WEFT_ENOMEM : 0;
}

int sq_deploy_put(struct store *s, const struct store_deployment *d, int *version, bool *created)
{
  struct sq *q = sq_of(s);
  struct newest nw = {0};
  bool own = false, isnew = false;
  int has = 0;
  if (created)
    *created = false;
  if (!d->name || !*d->name || !d->hash || strlen(d->hash) != SHA256_HEX_LEN)
    return sq_failf(q, WEFT_EINVAL, "store: a deployment needs a name and a sha256 hex hash");
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_DEPLOY_HAS_WF, "SELECT 1 FROM workflows WHERE hash = ?1");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, d->hash);
  if ((rc = sq_query(q, st, one_int, NULL, &has, "find workflow")))
    goto out;
  if (!has) {
    rc = sq_failf(q, WEFT_ENOTFOUND, "store: no workflow version %s to deploy", d->hash);
    goto out;
  }
  st = sq_stmt(q, SQ_DEPLOY_NEWEST,
               "SELECT version, hash FROM deployments WHERE name = ?1 ORDER BY version DESC LIMIT 1");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, d->name);
  if ((rc = sq_query(q, st, newest_row, NULL, &nw, "newest deployment")))
    goto out;
  if (nw.hash && !strcmp(nw.hash, d->hash)) {
    if (version)
      *version = nw.version;
    goto out; /* identical to the newest: nothing to do */
  }
  st = sq_stmt(q, SQ_DEPLOY_INSERT,
               "INSERT INTO deployments(" DEPLOY_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, d->name);
  sqlite3_bind_int(st, 2, nw.version + 1);
  sq_bind_text(st, 3, d->hash);
  sq_bind_text(st, 4, d->path);
  sqlite3_bind_int64(st, 5, d->deployed_at);
  sq_bind_text(st, 6, d->deployed_by);
  if ((rc = sq_exec(q, st, "insert deployment")))
    goto out;
  isnew = true;
  if (version)
    *version = nw.version + 1;
out:
  free(nw.hash);
  rc = sq_tx_end(q, own, rc);
  if (created)
    *created = rc == 0 && isnew;
  return rc;
}

int sq_deploy_list(struct store *s, const char *name, struct store_deployment **out, size_t *n)
{
  struct sq *q = sq_of(s);
  struct dep_vec dv = {0};
  *out = NULL;
  *n = 0;
  /* the newest of every name: the row whose version is its name's highest
   * (the primary key (name, version) answers both without a scan of rows) */
  sqlite3_stmt *st =
    name ? sq_stmt(q, SQ_DEPLOY_LIST_NAME,
                   "SELECT " DEPLOY_COLS " FROM deployments WHERE name = ?1 ORDER BY version")
         : sq_stmt(q, SQ_DEPLOY_LIST_ALL,
                   "SELECT d.name, d.version, d.hash, d.path, d.deployed_at, d.deployed_by "
                   "FROM deployments d WHERE d.version = "
                   "(SELECT MAX(version) FROM deployments e WHERE e.name = d.name) ORDER BY d.name");
  if (!st)
    return WEFT_ESTORE;
  if (name)
    sq_bind_text(st, 1, name);
  int rc = sq_query(q, st, dep_row, dep_restart, &dv, "list deployments");
  if (rc) {
    store_deployments_free(dv.v, dv.n);
    return rc;
  }
  *out = dv.v;
  *n = dv.n;
  return 0;
}

int sq_run_key_set(struct store *s, const char *run_id, const char *key)
{
  struct sq *q = sq_of(s);
  bool own;
  if (!run_id || !key || !*key)
    return sq_failf(q, WEFT_EINVAL, "store: run_key_set needs a run id and a key");
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st =
    sq_stmt(q, SQ_RUN_KEY_SET, "UPDATE runs SET idempotency_key = ?2 WHERE id = ?1");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, run_id);
  sq_bind_text(st, 2, key);
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW)
    ;
  sqlite3_reset(st);
  if ((src & 0xff) == SQLITE_CONSTRAINT)
    rc = sq_failf(q, WEFT_ESTATE, "store: another run of the workflow has idempotency key %s", key);
  else if (src != SQLITE_DONE)
    rc = sq_fail(q, src, "set idempotency key");
  else if (sqlite3_changes(q->db) == 0)
    rc = sq_failf(q, WEFT_ENOTFOUND, "store: no run %s", run_id);
out:
  return sq_tx_end(q, own, rc);
}

static int one_text(void *ctx, sqlite3_stmt *st)
{
  int oom = 0;
  char **out = ctx;
  free(*out);
  *out = sq_col_text(st, 0, &oom);
  return oom ? WEFT_ENOMEM : 0;
}

int sq_run_by_key(struct store *s, const char *workflow, const char *key, char **run_id)
{
  struct sq *q = sq_of(s);
  *run_id = NULL;
  sqlite3_stmt *st = sq_stmt(q, SQ_RUN_BY_KEY,
                             "SELECT id FROM runs WHERE workflow = ?1 AND idempotency_key = ?2");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, workflow);
  sq_bind_text(st, 2, key);
  int rc = sq_query(q, st, one_text, NULL, run_id, "find run by key");
  if (!rc && !*run_id)
    rc = sq_failf(q, WEFT_ENOTFOUND, "store: no run of %s has idempotency key %s", workflow, key);
  if (rc) {
    free(*run_id);
    *run_id = NULL;
  }
  return rc;
}
