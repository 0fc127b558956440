/* apierr.c — the error body of apierr.h; statuses and codes come from the
 * one table of ops/err.c. */
#include "server/apierr.h"

#include <jansson.h>
#include <stdlib.h>

unsigned apierr_status(enum apierr e) { return ops_err_status((enum ops_err)e); }

const char *apierr_code(enum apierr e) { return ops_err_code((enum ops_err)e); }

char *apierr_body(enum apierr e, const char *message)
{
  json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", apierr_code(e), "message", message ? message : "");
  if (!o)
    return NULL;
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return s;
}
