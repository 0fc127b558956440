/* err.c — the table of ops/err.h. */
#include "ops/err.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
  unsigned status;
  const char *code;
  int exit;
} table[] = {
    {500, "internal", 2}, /* OPS_OK is never reported as a failure */
#define X(name, status, code, exit) {status, code, exit},
    OPS_ERR_MAP(X)
#undef X
};

_Static_assert(sizeof table / sizeof *table == OPS_E__COUNT, "one row per kind");

unsigned ops_err_status(enum ops_err e) { return (unsigned)e < OPS_E__COUNT ? table[e].status : 500; }

const char *ops_err_code(enum ops_err e) { return (unsigned)e < OPS_E__COUNT ? table[e].code : "internal"; }

int ops_err_exit(enum ops_err e) { return e == OPS_OK ? 0 : (unsigned)e < OPS_E__COUNT ? table[e].exit : 2; }

enum ops_err ops_fail(struct ops_error *e, enum ops_err kind, const char *fmt, ...)
{
  if (e) {
    va_list ap;
    va_start(ap, fmt);
    e->kind = kind;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
  }
  return kind;
}
