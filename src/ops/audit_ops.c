/* audit_ops.c — reading the audit log (`weft audit verify|export`, GET
 * /audit/verify, GET /audit): the chain, the store against it and the
 * checkpoints given (audit/audit.h). A broken log is an answer, not a
 * failure of the operation: {"ok": false, ...}. */
#include "ops/ops.h"

#include <stdlib.h>

#include "audit/audit.h"
#include "util/err.h"

enum ops_err ops_audit_verify(const struct ops_ctx *c, const struct audit_checkpoint *cps, size_t ncps, json_t **out,
                              struct ops_error *e)
{
  *out = NULL;
  enum ops_err k = ops_authorize(c, "audit_verify", e);
  if (k)
    return k;
  int64_t bad = 0;
  char *msg = NULL;
  struct store_audit head = {0};
  int rc = audit_verify_head(c->store, cps, ncps, &bad, &msg, &head);
  if (rc && rc != WEFT_ECORRUPT) {
    k = ops_fail(e, OPS_E_INTERNAL, "cannot verify the audit log: %s", msg ? msg : weft_strerror(rc));
  } else if (rc) {
    /* first_bad: the entry that breaks the chain; null when the chain holds
     * but the store has what the log lacks */
    *out = json_pack("{s:b,s:I,s:o,s:s}", "ok", 0, "entries", (json_int_t)0, "first_bad",
                     bad > 0 ? json_integer(bad) : json_null(), "message", msg ? msg : "?");
  } else {
    *out = json_pack("{s:b,s:I,s:n,s:o,s:I}", "ok", 1, "entries", (json_int_t)head.seq, "first_bad", "head",
                     head.hash ? json_string(head.hash) : json_null(), "checkpoints", (json_int_t)ncps);
  }
  if (!k && !*out)
    k = ops_fail(e, OPS_E_INTERNAL, "out of memory");
  free(msg);
  store_audit_clear(&head);
  return k;
}

enum ops_err ops_audit_export(const struct ops_ctx *c, const char *run, FILE *f, struct ops_error *e)
{
  enum ops_err k = ops_authorize(c, "audit_export", e);
  if (k)
    return k;
  struct store_run r = {0};
  if (run && (k = ops_find_run(c->store, run, &r, e)) != 0)
    return k;
  if (audit_export(c->store, run ? r.id : NULL, f) != 0)
    k = ops_fail(e, OPS_E_INTERNAL, "cannot export the audit log: %s", store_errmsg(c->store));
  store_run_clear(&r);
  return k;
}
