/* reqjson.h — reading a request's JSON body under the API's limits.
 *
 * SERVER.md §5: bodies are UTF-8 JSON, at most 1 MiB (a workflow upload 64
 * MiB: the caller passes the cap), nesting depth at most 64, no duplicate
 * keys, no NUL in strings. Anything else is refused with a message that says
 * where (jansson's line:column) and what. Pure: no I/O.
 *
 * Ownership: on success *out is a new reference the caller releases. */
#ifndef WEFT_SERVER_REQJSON_H
#define WEFT_SERVER_REQJSON_H

#include <jansson.h>
#include <stddef.h>

#include "server/apierr.h"

#define REQJSON_MAX_DEPTH 64
#define REQJSON_MAX_BODY (1u << 20)

/* 0 and *out; or an apierr kind (BAD_REQUEST, TOO_LARGE) with err filled.
 * An empty body is the empty object. max: the size cap for this route. */
int reqjson_parse(const char *body, size_t len, size_t max, json_t **out, char *err, size_t errlen);
/* The depth of v (a scalar is 0, [] is 1). Stops counting past limit. */
int reqjson_depth(const json_t *v, int limit);

#endif
