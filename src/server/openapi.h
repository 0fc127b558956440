/* openapi.h — the OpenAPI 3.1 document of the server, built from the route
 * table (api_routes.h), so it lists exactly the routes the server answers.
 *
 * Ownership: openapi_document returns a new reference. */
#ifndef WEFT_SERVER_OPENAPI_H
#define WEFT_SERVER_OPENAPI_H

#include <jansson.h>
#include <stddef.h>

#include "server/api_routes.h"

json_t *openapi_document(const struct route *routes, const struct api_route_doc *docs, size_t n);

#endif
