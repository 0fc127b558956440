/* apierr.c — the error table of apierr.h and the error body. */
#include "server/apierr.h"

#include <jansson.h>
#include <stdlib.h>

static const struct {
  unsigned status;
  const char *code;
} table[] = {
    {500, "internal"}, /* APIERR__NONE is never answered */
#define X(name, status, code) {status, code},
    APIERR_MAP(X)
#undef X
};

unsigned apierr_status(enum apierr e) { return (unsigned)e < APIERR__COUNT ? table[e].status : 500; }

const char *apierr_code(enum apierr e) { return (unsigned)e < APIERR__COUNT ? table[e].code : "internal"; }

char *apierr_body(enum apierr e, const char *message)
{
  json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", apierr_code(e), "message", message ? message : "");
  if (!o)
    return NULL;
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return s;
}
