/* err.h — the one list of weft error codes.
 *
 * Functions in weft return int: 0 for success or a negative WEFT_E* code from
 * this list. weft_strerror() gives the short English text of a code. Messages
 * meant for people (with file:line:col, run, step, what to do) are built by the
 * caller, usually into a diag_list (util/diag.h); the code only says what kind
 * of failure it was. */
#ifndef WEFT_UTIL_ERR_H
#define WEFT_UTIL_ERR_H

#define WEFT_ERRNO_MAP(X)                                   \
  X(NOMEM, "out of memory")                                 \
  X(INVAL, "invalid argument")                              \
  X(IO, "input/output error")                               \
  X(NOTFOUND, "not found")                                  \
  X(LIMIT, "limit exceeded")                                \
  X(PARSE, "parse error")                                   \
  X(VALIDATION, "validation failed")                        \
  X(EXPR, "expression error")                               \
  X(STORE, "store error")                                   \
  X(BUSY, "busy")                                           \
  X(STATE, "not allowed in this state")                     \
  X(AMBIGUOUS, "ambiguous")                                 \
  X(DENIED, "permission denied")                            \
  X(SPAWN, "cannot start process")                          \
  X(CORRUPT, "integrity check failed")

enum {
  WEFT_OK = 0,
#define X(name, text) WEFT_E##name,
  WEFT__EFIRST = -1000,
  WEFT_ERRNO_MAP(X)
#undef X
  WEFT__ELAST
};

const char *weft_strerror(int rc);

#endif
