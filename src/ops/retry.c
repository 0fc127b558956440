/* retry.c — running a run's failed steps again, in the same run, from
 * outside its engine (POST /runs/{id}/retry; `weft retry` executes it in its
 * own runtime). The checks and the retry.requested audit entry (who asked,
 * with which token) are here; executing is the caller's runtime's (rt_retry,
 * which audits run.retry when it takes the run over). */
#include "ops/ops.h"
#include "ops/defcache.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/jsonfmt.h"
#include "util/wtime.h"

enum ops_err ops_retry_run(const struct ops_ctx *c, const char *id, const char *from, ops_retry_fn exec, void *ud,
                           json_t **out, struct ops_error *e)
{
  *out = NULL;
  struct store *s = c->store;
  struct store_run r = {0};
  const struct wf *wf = NULL;
  char *err = NULL;
  enum ops_err k = ops_authorize(c, "retry_run", e);
  if (k || (k = ops_find_run(s, id, &r, e)) != 0)
    goto out;
  if (!ops_status_terminal(r.status)) {
    k = ops_fail(e, OPS_E_CONFLICT, "run %s is %s: only a run that ended can be retried%s", r.id, r.status,
                 store_run_owner_alive(&r) ? " (a live engine is executing it)" : "; `weft resume` continues it");
    goto out;
  }
  if (from) {
    wf = ops_def_get(s, &r);
    if (wf && wf_step_find(wf, from) == WF_NONE) {
      k = ops_fail(e, OPS_E_NOT_FOUND, "run %s has no step \"%s\" to retry from", r.id, from);
      goto out;
    }
  }
  json_t *d = json_pack("{s:s}", "by", c->user ? c->user : "");
  if (d && from)
    json_object_set_new(d, "from", json_string(from));
  ops_audit_actor(c, d);
  char *txt = d ? wjson_dumps(d, JSON_COMPACT) : NULL;
  json_decref(d);
  int rc = txt ? store_begin(s) : WEFT_ENOMEM;
  if (!rc)
    rc = store_audit_append(s, wt_now_ms(), r.id, "retry.requested", txt, NULL);
  if (!rc)
    rc = store_commit(s);
  if (rc && store_in_tx(s))
    store_rollback(s);
  free(txt);
  if (rc) {
    k = ops_fail(e, OPS_E_UNAVAILABLE, "cannot record the retry request: %s", store_errmsg(s));
    goto out;
  }
  rc = exec(ud, r.id, from, &err);
  if (rc == WEFT_EBUSY)
    k = ops_fail(e, OPS_E_CONFLICT, "run %s is owned by another live engine; retry it there or when it ends", r.id);
  else if (rc == WEFT_ESTATE && !err)
    k = ops_fail(e, OPS_E_UNAVAILABLE, "the server is stopping: retry run %s later", r.id);
  else if (rc == WEFT_ESTATE)
    k = ops_fail(e, OPS_E_CONFLICT, "%s", err);
  else if (rc == WEFT_ENOTFOUND)
    k = ops_fail(e, OPS_E_NOT_FOUND, "%s", err ? err : "not found");
  else if (rc)
    k = ops_fail(e, OPS_E_UNAVAILABLE, "cannot retry run %s: %s", r.id, err ? err : weft_strerror(rc));
  if (k)
    goto out;
  struct store_run now = {0};
  if (store_run_get(s, r.id, &now) == 0)
    *out = ops_run_json(s, &now, false);
  store_run_clear(&now);
  if (!*out)
    k = ops_fail(e, OPS_E_INTERNAL, "cannot read run %s back: %s", r.id, store_errmsg(s));
out:
  free(err);
  ops_def_put(wf);
  store_run_clear(&r);
  return k;
}
