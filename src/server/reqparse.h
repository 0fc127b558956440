/* reqparse.h — the pure parts of reading a request's head: query values,
 * the Bearer token, the media type and the declared body length.
 *
 * httpd.c calls these on what libmicrohttpd hands it (raw, undecoded
 * strings); they take no connection, so the fuzz target (fuzz_request.c)
 * drives them with arbitrary bytes. Each one refuses rather than guesses:
 * what does not parse is "absent" or "not acceptable", and the caller
 * answers 400, 401, 413 or 415.
 *
 * Ownership: nothing is allocated; results point into the caller's buffers. */
#ifndef WEFT_SERVER_REQPARSE_H
#define WEFT_SERVER_REQPARSE_H

#include <stdbool.h>
#include <stddef.h>

/* A query value percent- and '+'-decoded into out (outlen > 0): out, or
 * NULL when it has a broken escape, decodes to a NUL byte, or does not fit. */
const char *reqparse_query(const char *raw, char *out, size_t outlen);

/* The token of an Authorization header "Bearer TOKEN" (scheme in any case,
 * blanks after it skipped): a pointer into the header, or NULL when the
 * header is absent, of another scheme, or has an empty token. */
const char *reqparse_bearer(const char *authorization);

/* true when a Content-Type header names application/json (any case,
 * parameters such as "; charset=utf-8" allowed) */
bool reqparse_json_media(const char *content_type);

/* true when a Content-Length header declares more than max bytes (or is
 * not a number: libmicrohttpd refuses those itself, this is a second
 * guard) */
bool reqparse_declared_over(const char *content_length, size_t max);

#endif
