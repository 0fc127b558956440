/* apierr.h — the API's error kinds, their HTTP statuses and the error body.
 *
 * Every failure the server answers is `{"error": {"code": CODE, "message":
 * TEXT}}` (SERVER.md §5). The kinds ARE the operations layer's kinds
 * (ops/err.h, whose one table also gives the CLI's exit codes); this header
 * only names them for the server, so a handler names a kind, never a number,
 * and the CLI and the HTTP statuses cannot drift apart. Messages are for
 * people and never carry internals (paths of the server's files, SQL,
 * secrets).
 *
 * Ownership: apierr_body returns a malloc'd string the caller frees. */
#ifndef WEFT_SERVER_APIERR_H
#define WEFT_SERVER_APIERR_H

#include "ops/err.h"

enum apierr {
  APIERR__NONE = OPS_OK, /* not an error: functions return 0 or a kind */
#define X(name, status, code, exit) APIERR_##name = OPS_E_##name,
  OPS_ERR_MAP(X)
#undef X
  APIERR__COUNT = OPS_E__COUNT
};

unsigned apierr_status(enum apierr e);
const char *apierr_code(enum apierr e);
/* The JSON body; message is copied (escaped by jansson). NULL only when out of memory. */
char *apierr_body(enum apierr e, const char *message);

#endif
