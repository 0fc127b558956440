/* err.h — the kinds of failure of an operation, and the ONE table that maps
 * each kind to its HTTP status, its API error code (SERVER.md §5) and the
 * CLI's exit code (CLI.md: 2 usage, refusal or validation; 4 not found).
 *
 * An ops_* function returns 0 or a kind and fills a struct ops_error with a
 * message for people (never internals: no paths of the server's files, SQL
 * or secrets). The CLI prints `weft: MESSAGE` and exits ops_err_exit(kind);
 * the server answers ops_err_status(kind) with {"error": {"code":
 * ops_err_code(kind), "message": MESSAGE}}. server/apierr.h is this same
 * enum under the server's names, so the two cannot drift apart.
 *
 * Ownership: codes are static strings; the message lives in the caller's
 * struct ops_error. */
#ifndef WEFT_OPS_ERR_H
#define WEFT_OPS_ERR_H

/* X(NAME, HTTP status, API code, CLI exit code) */
#define OPS_ERR_MAP(X)                                       \
  X(BAD_REQUEST, 400, "bad_request", 2)                      \
  X(UNAUTHORIZED, 401, "unauthorized", 2)                    \
  X(FORBIDDEN, 403, "forbidden", 2)                          \
  X(NOT_FOUND, 404, "not_found", 4)                          \
  X(METHOD_NOT_ALLOWED, 405, "method_not_allowed", 2)        \
  X(CONFLICT, 409, "conflict", 2)                            \
  X(TOO_LARGE, 413, "payload_too_large", 2)                  \
  X(UNSUPPORTED_MEDIA, 415, "unsupported_media_type", 2)     \
  X(UNPROCESSABLE, 422, "unprocessable", 2)                  \
  X(TOO_MANY_REQUESTS, 429, "too_many_requests", 2)          \
  X(UNAVAILABLE, 503, "unavailable", 2)                      \
  X(INTERNAL, 500, "internal", 2)

enum ops_err {
  OPS_OK = 0, /* not an error: functions return 0 or a kind */
#define X(name, status, code, exit) OPS_E_##name,
  OPS_ERR_MAP(X)
#undef X
  OPS_E__COUNT
};

#include <stdbool.h>

#define OPS_ERRMSG_MAX 512

struct ops_error {
  enum ops_err kind;
  char msg[OPS_ERRMSG_MAX];
  bool usage; /* the request's own arguments are wrong: the CLI adds its usage lines */
};

unsigned ops_err_status(enum ops_err e);
const char *ops_err_code(enum ops_err e);
int ops_err_exit(enum ops_err e);
/* Sets e (when not NULL) and returns kind: `return ops_fail(e, OPS_E_NOT_FOUND, "no run %s", id);` */
enum ops_err ops_fail(struct ops_error *e, enum ops_err kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
