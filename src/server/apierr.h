/* apierr.h — the API's error kinds, their HTTP statuses and the error body.
 *
 * Every failure the server answers is `{"error": {"code": CODE, "message":
 * TEXT}}` (SERVER.md §5) with the status from this one table; a handler names
 * a kind, never a number, so the CLI's exit codes (same kinds) and the HTTP
 * statuses cannot drift apart. Messages are for people and never carry
 * internals (paths of the server's files, SQL, secrets).
 *
 * Ownership: apierr_body returns a malloc'd string the caller frees. */
#ifndef WEFT_SERVER_APIERR_H
#define WEFT_SERVER_APIERR_H

#define APIERR_MAP(X)                                   \
  X(BAD_REQUEST, 400, "bad_request")                    \
  X(UNAUTHORIZED, 401, "unauthorized")                  \
  X(FORBIDDEN, 403, "forbidden")                        \
  X(NOT_FOUND, 404, "not_found")                        \
  X(METHOD_NOT_ALLOWED, 405, "method_not_allowed")      \
  X(CONFLICT, 409, "conflict")                          \
  X(TOO_LARGE, 413, "payload_too_large")                \
  X(UNSUPPORTED_MEDIA, 415, "unsupported_media_type")   \
  X(UNPROCESSABLE, 422, "unprocessable")                \
  X(TOO_MANY_REQUESTS, 429, "too_many_requests")        \
  X(UNAVAILABLE, 503, "unavailable")                    \
  X(INTERNAL, 500, "internal")

enum apierr {
  APIERR__NONE = 0, /* not an error: functions return 0 or a kind */
#define X(name, status, code) APIERR_##name,
  APIERR_MAP(X)
#undef X
  APIERR__COUNT
};

unsigned apierr_status(enum apierr e);
const char *apierr_code(enum apierr e);
/* The JSON body; message is copied (escaped by jansson). NULL only when out of memory. */
char *apierr_body(enum apierr e, const char *message);

#endif
