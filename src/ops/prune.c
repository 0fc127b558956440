/* prune.c — `weft prune --older-than D [--dry-run]` (ops_prune): deletes
 * runs that ended more than D ago, with their logs and workspaces. Needs the
 * admin role (the home owner locally).
 *
 * Unit of pruning: a top-level run with all its sub-workflow runs (children
 * are never pruned on their own: their parent's record refers to them; a
 * tree is kept while any run in it is not terminal). For each tree, ONE
 * transaction deletes the rows (store_run_delete) and appends one run.pruned
 * audit entry per run, children first; then the files go. The entries of a
 * pruned run stay in the chain, and `weft audit verify` accepts a run that
 * has entries and a run.pruned entry but no rows (audit/xcheck.c). A crash
 * between the commit and the file removal leaves files of a pruned run
 * behind, nothing else. */
#include "ops/ops.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"
#include "util/wtime.h"

/* The run ids of r's tree, children before parents (appended to *ids).
 * *active: some run of the tree is not terminal. */
static int tree(struct store *s, const struct store_run *r, char ***ids, size_t *n, size_t *cap,
                bool *active, int depth)
{
  if (depth > 64)
    return WEFT_ELIMIT;
  if (!ops_status_terminal(r->status))
    *active = true;
  struct store_run *kids = NULL;
  size_t nk = 0;
  int rc = store_run_children(s, r->id, &kids, &nk);
  for (size_t i = 0; !rc && i < nk; i++)
    rc = tree(s, &kids[i], ids, n, cap, active, depth + 1);
  store_runs_free(kids, nk);
  if (rc)
    return rc;
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 8;
    char **p = realloc(*ids, nc * sizeof *p);
    if (!p)
      return WEFT_ENOMEM;
    *ids = p;
    *cap = nc;
  }
  return ((*ids)[(*n)++] = strdup(r->id)) ? 0 : WEFT_ENOMEM;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
  (void)st;
  (void)flag;
  (void)f;
  remove(path);
  return 0;
}

static void rm_tree(const char *home, const char *sub, const char *id)
{
  char *p = NULL;
  if (asprintf(&p, "%s/%s/%s", home, sub, id) < 0)
    return;
  if (access(p, F_OK) == 0)
    nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  free(p);
}

/* One tree, in one transaction: rows deleted, one entry per run. Each run is
 * read again under the write lock: a `weft retry` or `weft resume` that took
 * it meanwhile (running again, or owned by a live process) keeps the whole
 * tree (*skipped set, nothing written). */
static int prune_tree(const struct ops_ctx *c, struct store *s, char **ids, size_t n, const char *age,
                      bool *skipped)
{
  int64_t now = wt_now_ms();
  int rc = store_begin(s);
  *skipped = false;
  for (size_t i = 0; !rc && i < n; i++) {
    struct store_run r = {0};
    if ((rc = store_run_get(s, ids[i], &r)))
      break;
    if (!ops_status_terminal(r.status) || store_run_owner_alive(&r)) {
      store_run_clear(&r);
      *skipped = true;
      break;
    }
    char fin[32];
    wt_fmt_rfc3339(r.finished_at, fin);
    json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:s}", "workflow", r.workflow, "status", r.status,
                          "finished_at", fin, "older_than", age, "by", c->user);
    ops_audit_actor(c, d);
    if (d && r.parent_id)
      json_object_set_new(d, "parent", json_string(r.parent_id));
    char *txt = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    rc = txt ? store_run_delete(s, r.id) : WEFT_ENOMEM;
    if (!rc)
      rc = store_audit_append(s, now, r.id, "run.pruned", txt, NULL);
    free(txt);
    store_run_clear(&r);
  }
  if (!rc && !*skipped)
    rc = store_commit(s);
  else if (store_in_tx(s))
    store_rollback(s);
  return rc;
}

static void free_ids(char **ids, size_t n)
{
  for (size_t k = 0; k < n; k++)
    free(ids[k]);
  free(ids);
}

enum ops_err ops_prune(const struct ops_ctx *c, int64_t older_than_ms, const char *age, bool dry, json_t **out,
                       struct ops_error *e)
{
  *out = NULL;
  enum ops_err k = ops_authorize(c, "prune", e);
  if (k)
    return k;
  struct store *s = c->store;
  int64_t cutoff = wt_now_ms() - older_than_ms;
  struct store_run *runs = NULL;
  size_t nr = 0, pruned = 0, trees = 0;
  struct store_run_filter f = {0};
  if (store_run_list(s, &f, &runs, &nr) != 0)
    return ops_fail(e, OPS_E_INTERNAL, "cannot list the runs: %s", store_errmsg(s));
  json_t *rep = json_pack("{s:b,s:[]}", "dry_run", dry, "trees");
  json_t *list = json_object_get(rep, "trees");
  for (size_t i = 0; rep && i < nr && !k; i++) {
    struct store_run *r = &runs[i];
    if (r->parent_id || !ops_status_terminal(r->status) || !r->finished_at || r->finished_at >= cutoff)
      continue;
    char **ids = NULL;
    size_t n = 0, cap = 0;
    bool active = false, skipped = false;
    char fin[32];
    wt_fmt_rfc3339(r->finished_at, fin);
    int rc = tree(s, r, &ids, &n, &cap, &active, 0);
    if (rc) {
      k = ops_fail(e, OPS_E_INTERNAL, "cannot read the sub-workflow runs of %s: %s", r->id, store_errmsg(s));
    } else if (active) {
      json_array_append_new(list, json_pack("{s:s,s:s}", "run", r->id, "kept", "a sub-workflow run is active"));
    } else if (!dry && (rc = prune_tree(c, s, ids, n, age, &skipped)) != 0) {
      k = ops_fail(e, OPS_E_UNAVAILABLE, "cannot prune run %s: %s", r->id, store_errmsg(s));
    } else if (skipped) {
      json_array_append_new(list, json_pack("{s:s,s:s}", "run", r->id, "kept", "being retried or resumed"));
    } else {
      for (size_t j = 0; !dry && j < n; j++) {
        rm_tree(store_home(s), "logs", ids[j]);
        rm_tree(store_home(s), "workspaces", ids[j]);
      }
      json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s,s:I}", "run", r->id, "workflow", r->workflow,
                                            "status", r->status, "finished_at", fin, "sub_runs",
                                            (json_int_t)(n - 1)));
      pruned += n;
      trees++;
    }
    free_ids(ids, n);
  }
  store_runs_free(runs, nr);
  if (!rep)
    return ops_fail(e, OPS_E_INTERNAL, "out of memory");
  json_object_set_new(rep, "runs", json_integer((json_int_t)pruned));
  json_object_set_new(rep, "top_level", json_integer((json_int_t)trees));
  *out = rep; /* also on failure: what was done before it */
  return k;
}
