/* cmd_prune.c — `weft prune --older-than D [--dry-run]`: deletes runs that
 * ended more than D ago, with their logs and workspaces.
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
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/runview.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"
#include "util/wtime.h"

int cli_prune(struct cli *c, int argc, char **argv);

static bool ended(const char *status)
{
  return status && (!strcmp(status, "succeeded") || !strcmp(status, "failed") ||
                    !strcmp(status, "cancelled"));
}

/* The run ids of r's tree, children before parents (appended to *ids).
 * *active: some run of the tree is not terminal. */
static int tree(struct store *s, const struct store_run *r, char ***ids, size_t *n, size_t *cap,
                bool *active, int depth)
{
  if (depth > 64)
    return WEFT_ELIMIT;
  if (!ended(r->status))
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
static int prune_tree(struct cli *c, struct store *s, char **ids, size_t n, const char *age,
                      bool *skipped)
{
  int64_t now = wt_now_ms();
  int rc = store_begin(s);
  *skipped = false;
  for (size_t i = 0; !rc && i < n; i++) {
    struct store_run r = {0};
    if ((rc = store_run_get(s, ids[i], &r)))
      break;
    if (!ended(r.status) || store_run_owner_alive(&r)) {
      store_run_clear(&r);
      *skipped = true;
      break;
    }
    char fin[32];
    wt_fmt_rfc3339(r.finished_at, fin);
    json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:s}", "workflow", r.workflow, "status", r.status,
                          "finished_at", fin, "older_than", age, "by", c->user);
    if (d && c->asserted_by)
      json_object_set_new(d, "asserted_by", json_string(c->asserted_by));
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

int cli_prune(struct cli *c, int argc, char **argv)
{
  const char *age = NULL;
  bool dry = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--dry-run"))
      dry = true;
    else if (!strcmp(argv[i], "--older-than") && i + 1 < argc)
      age = argv[++i];
    else if (!strncmp(argv[i], "--older-than=", 13))
      age = argv[i] + 13;
    else
      return cli_usage_error("prune", "unexpected argument \"%s\"", argv[i]);
  }
  int64_t ms = 0;
  if (!age)
    return cli_usage_error("prune", "say how old: --older-than D (e.g. 30d)");
  if (wt_parse_duration(age, &ms) != 0)
    return cli_usage_error("prune", "--older-than needs a duration such as 30d, 12h or 90m, not "
                                    "\"%s\"", age);
  struct store *s = NULL;
  int code = cli_identity(c);
  if (code || (code = rv_open_store(c->home, &s)))
    return code;
  int64_t cutoff = wt_now_ms() - ms;
  struct store_run *runs = NULL;
  size_t nr = 0, pruned = 0, trees = 0;
  struct store_run_filter f = {0};
  if (store_run_list(s, &f, &runs, &nr) != 0) {
    cli_err("cannot list the runs: %s", store_errmsg(s));
    store_close(s);
    return EXIT_USAGE;
  }
  for (size_t i = 0; i < nr && code == EXIT_OK; i++) {
    struct store_run *r = &runs[i];
    if (r->parent_id || !ended(r->status) || !r->finished_at || r->finished_at >= cutoff)
      continue;
    char **ids = NULL;
    size_t n = 0, cap = 0;
    bool active = false;
    int rc = tree(s, r, &ids, &n, &cap, &active, 0);
    if (rc) {
      cli_err("cannot read the sub-workflow runs of %s: %s", r->id, store_errmsg(s));
      code = EXIT_USAGE;
    } else if (active) {
      printf("kept %s: one of its sub-workflow runs is still active\n", r->id);
    } else {
      char fin[32];
      bool skipped = false;
      wt_fmt_rfc3339(r->finished_at, fin);
      if (!dry && (rc = prune_tree(c, s, ids, n, age, &skipped)) != 0) {
        cli_err("cannot prune run %s: %s", r->id, store_errmsg(s));
        code = EXIT_USAGE;
      } else if (skipped) {
        printf("kept %s: it is being retried or resumed\n", r->id);
      } else {
        for (size_t k = 0; !dry && k < n; k++) {
          rm_tree(store_home(s), "logs", ids[k]);
          rm_tree(store_home(s), "workspaces", ids[k]);
        }
        printf("%s %s %s %s finished %s", dry ? "would prune" : "pruned", r->id, r->workflow,
               r->status, fin);
        if (n > 1)
          printf(" (with %zu sub-workflow run%s)", n - 1, n == 2 ? "" : "s");
        printf("\n");
        pruned += n;
        trees++;
      }
    }
    for (size_t k = 0; k < n; k++)
      free(ids[k]);
    free(ids);
  }
  if (code == EXIT_OK)
    printf("%s %zu run%s (%zu top-level)%s\n", dry ? "would prune" : "pruned", pruned,
           pruned == 1 ? "" : "s", trees,
           dry ? "; nothing was deleted (--dry-run)" : "; each has a run.pruned audit entry");
  store_runs_free(runs, nr);
  store_close(s);
  return code;
}
