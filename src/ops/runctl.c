/* runctl.c — acting on a run from outside its engine: cancel the run, or
 * withdraw single steps (ops_cancel_steps). The request is an inbox row the owning engine acts on (within a poll, or at `weft
 * resume`), written with its audit entry in one transaction. */
#include "ops/ops.h"
#include "ops/defcache.h"

#include <stdlib.h>
#include <string.h>

#include "util/jsonfmt.h"
#include "util/wtime.h"

bool ops_status_terminal(const char *status)
{
  return status && (!strcmp(status, "succeeded") || !strcmp(status, "failed") || !strcmp(status, "cancelled"));
}

void ops_audit_actor(const struct ops_ctx *c, json_t *detail)
{
  if (detail && c->asserted_by) /* --as, allowed by users.json: both names */
    json_object_set_new(detail, "asserted_by", json_string(c->asserted_by));
  if (detail && c->token_id) /* through the API: which token acted */
    json_object_set_new(detail, "token_id", json_string(c->token_id));
}

enum ops_err ops_cancel_run(const struct ops_ctx *c, const char *id_or_prefix, json_t **out, struct ops_error *e)
{
  *out = NULL;
  struct store *s = c->store;
  struct store_run r = {0};
  enum ops_err k = ops_authorize(c, "cancel_run", e);
  if (k || (k = ops_find_run(s, id_or_prefix, &r, e)) != 0)
    goto out;
  if (ops_status_terminal(r.status)) {
    k = ops_fail(e, OPS_E_CONFLICT, "run %s already ended (%s); nothing to cancel", r.id, r.status);
    goto out;
  }
  struct store_inbox m = {.kind = "cancel", .run_id = r.id, .index = STORE_NO_INDEX, .user = (char *)c->user,
                          .created_at = wt_now_ms()};
  int rc = store_begin(s);
  if (!rc)
    rc = store_inbox_post(s, &m, NULL);
  if (!rc) {
    json_t *j = json_pack("{s:s}", "by", c->user ? c->user : "");
    ops_audit_actor(c, j);
    char *txt = wjson_dumps(j, JSON_COMPACT);
    rc = txt ? store_audit_append(s, wt_now_ms(), r.id, "cancel.requested", txt, NULL) : -1;
    free(txt);
    json_decref(j);
  }
  if (!rc)
    rc = store_commit(s);
  if (rc) {
    if (store_in_tx(s))
      store_rollback(s);
    k = ops_fail(e, OPS_E_UNAVAILABLE, "cannot record the cancel request: %s", store_errmsg(s));
    goto out;
  }
  *out = json_pack("{s:s,s:s,s:b}", "run", r.id, "status", r.status, "executing", store_run_owner_alive(&r));
  if (!*out)
    k = ops_fail(e, OPS_E_INTERNAL, "out of memory");
out:
  store_run_clear(&r);
  return k;
}

/* ---- withdrawing single steps (`weft cancel RUN --step STEP`) ------------ */

static enum ops_err check_steps(struct store *s, const struct store_run *r, const char *const *steps, size_t n,
                                json_t *list, struct ops_error *e)
{
  const struct wf *wf = ops_def_get(s, r);
  enum ops_err k = OPS_OK;
  if (!wf)
    return ops_fail(e, OPS_E_UNAVAILABLE, "cannot load the definition of run %s", r->id);
  for (size_t i = 0; !k && i < n; i++) {
    uint32_t idx = wf_step_find(wf, steps[i]);
    if (idx == WF_NONE) {
      k = ops_fail(e, OPS_E_NOT_FOUND, "run %s (workflow %s) has no step \"%s\"", r->id, wf->name, steps[i]);
      break;
    }
    if (idx >= wf->n_main) {
      k = ops_fail(e, OPS_E_BAD_REQUEST,
                   "\"%s\" is a finally step; finally steps always run (cancel the whole run instead)", steps[i]);
      break;
    }
    struct store_step row = {0};
    if (store_step_get(s, r->id, steps[i], STORE_NO_INDEX, &row) == 0 && row.status &&
        (ops_status_terminal(row.status) || !strcmp(row.status, "skipped")))
      k = ops_fail(e, OPS_E_CONFLICT, "step \"%s\" of run %s already ended (%s); nothing to withdraw", steps[i],
                   r->id, row.status);
    store_step_clear(&row);
    bool dup = false;
    for (size_t j = 0; j < json_array_size(list); j++)
      dup |= !strcmp(json_string_value(json_array_get(list, j)), steps[i]);
    if (!k && !dup && json_array_append_new(list, json_string(steps[i])))
      k = ops_fail(e, OPS_E_INTERNAL, "out of memory");
  }
  ops_def_put(wf);
  return k;
}

enum ops_err ops_cancel_steps(const struct ops_ctx *c, const char *id_or_prefix, const char *const *steps,
                              size_t n, json_t **out, struct ops_error *e)
{
  *out = NULL;
  struct store *s = c->store;
  struct store_run r = {0};
  json_t *list = json_array(), *pl = NULL;
  char *payload = NULL;
  enum ops_err k = ops_authorize(c, "cancel_run", e);
  if (k || (k = ops_find_run(s, id_or_prefix, &r, e)) != 0)
    goto out;
  if (!n) {
    k = ops_fail(e, OPS_E_BAD_REQUEST, "name at least one step to withdraw");
    goto out;
  }
  if (ops_status_terminal(r.status)) {
    k = ops_fail(e, OPS_E_CONFLICT, "run %s already ended (%s); nothing to withdraw", r.id, r.status);
    goto out;
  }
  if (!list || (k = check_steps(s, &r, steps, n, list, e)) != 0)
    goto out;
  pl = json_pack("{s:O}", "steps", list);
  payload = pl ? wjson_dumps(pl, JSON_COMPACT) : NULL;
  if (!payload) {
    k = ops_fail(e, OPS_E_INTERNAL, "out of memory");
    goto out;
  }
  struct store_inbox m = {.kind = "cancel", .run_id = r.id, .index = STORE_NO_INDEX, .user = (char *)c->user,
                          .payload = payload, .created_at = wt_now_ms()};
  int rc = store_begin(s);
  if (!rc)
    rc = store_inbox_post(s, &m, NULL);
  if (!rc) {
    json_t *j = json_pack("{s:s,s:O}", "by", c->user ? c->user : "", "steps", list);
    ops_audit_actor(c, j);
    char *txt = j ? wjson_dumps(j, JSON_COMPACT) : NULL;
    rc = txt ? store_audit_append(s, wt_now_ms(), r.id, "withdraw.requested", txt, NULL) : -1;
    free(txt);
    json_decref(j);
  }
  if (!rc)
    rc = store_commit(s);
  if (rc) {
    if (store_in_tx(s))
      store_rollback(s);
    k = ops_fail(e, OPS_E_UNAVAILABLE, "cannot record the withdrawal: %s", store_errmsg(s));
    goto out;
  }
  *out = json_pack("{s:s,s:s,s:O,s:b}", "run", r.id, "status", r.status, "steps", list, "executing",
                   store_run_owner_alive(&r));
  if (!*out)
    k = ops_fail(e, OPS_E_INTERNAL, "out of memory");
out:
  free(payload);
  json_decref(pl);
  json_decref(list);
  store_run_clear(&r);
  return k;
}
