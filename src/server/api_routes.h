/* api_routes.h — the server's route table (SERVER.md §1, §5, §6): every path
 * the server answers, with its minimum role and operation name, in one array.
 *
 * The same array drives routing (route.c), the authorization check (httpd.c),
 * the OpenAPI document (openapi.c) and the hostile-client test that tries
 * every route with every kind of caller, so a route cannot exist in one of
 * them and not in the others. Each entry also carries what the OpenAPI
 * document says of it. */
#ifndef WEFT_SERVER_API_ROUTES_H
#define WEFT_SERVER_API_ROUTES_H

#include <stddef.h>

#include "server/route.h"

struct api_route_doc {
  const char *summary;
  const char *query;   /* comma-separated query parameters, or NULL */
  const char *ok;      /* the success status ("200", "201", "202") */
  const char *answer;  /* "json", "text", "ndjson", "sse", "prometheus" */
};

extern const struct route api_routes[];
extern const struct api_route_doc api_route_docs[]; /* same order */
extern const size_t api_routes_count;

#endif
