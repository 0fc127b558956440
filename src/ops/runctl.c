/* runctl.c — acting on a run from outside its engine: cancel. The request
 * is an inbox row the owning engine acts on (within a poll, or at `weft
 * resume`), written with its audit entry in one transaction. */
#include "ops/ops.h"

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
