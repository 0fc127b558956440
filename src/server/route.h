/* route.h — the server's route table and path matching.
 *
 * A route is (method, pattern, minimum role, operation name). Patterns are
 * literal segments and {name} parameters ("/api/v1/runs/{id}/logs/{step}").
 * route_find matches a request path against a table: it percent-decodes
 * each segment and refuses a parameter that could name something other than
 * an id (empty, ".", "..", a '/' or control byte once decoded, invalid
 * UTF-8, over 256 bytes), so no handler ever sees a traversal. The table is
 * data: the OpenAPI document, the authorization check and the route-by-route
 * hostile-client test all read the same table, so none can miss a route.
 *
 * Deny by default (SERVER.md §4): a path no pattern matches is
 * ROUTE_E_NOPATH (the server answers 403 under /api/, 404 elsewhere); a path
 * that matches with another method is ROUTE_E_METHOD (405, with Allow).
 *
 * Ownership: the table is static and borrowed; parameters are copied into
 * the caller's struct route_match. */
#ifndef WEFT_SERVER_ROUTE_H
#define WEFT_SERVER_ROUTE_H

#include <stddef.h>

#include "util/role.h"

enum route_body {
  BODY_JSON = 0, /* optional JSON body (application/json), parsed under the limits */
  BODY_RAW,      /* any bytes, kept as they came (webhooks: the HMAC is over them; YAML uploads) */
};

struct route {
  const char *method;  /* "GET", "POST", "DELETE" */
  const char *pattern;
  enum role role;
  const char *op;      /* operation name: metrics label, OpenAPI operationId */
  enum route_body body;
  size_t max_body;     /* 0: 1 MiB */
};

#define ROUTE_MAX_PARAMS 4
#define ROUTE_PARAM_MAX 256

struct route_param {
  char name[32];
  char value[ROUTE_PARAM_MAX + 1];
};

struct route_match {
  const struct route *route;
  int nparams;
  struct route_param params[ROUTE_MAX_PARAMS];
  char allow[64]; /* with ROUTE_E_METHOD: "GET, POST" */
};

enum {
  ROUTE_E_NOPATH = 1, /* no pattern has this path */
  ROUTE_E_METHOD = 2, /* the path exists, not with this method */
  ROUTE_E_BADPATH = 3 /* a segment that cannot be an id (see above) */
};

/* 0 and *m filled, or one of ROUTE_E_*. path excludes the query string. */
int route_find(const struct route *table, size_t n, const char *method, const char *path, struct route_match *m);
/* The value of parameter NAME in a match, or NULL. */
const char *route_param(const struct route_match *m, const char *name);

#endif
