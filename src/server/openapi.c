/* openapi.c — building the OpenAPI 3.1 document from the route table.
 *
 * Per route: the operation (operationId = the route's op), its path and
 * query parameters, its request body (JSON, or raw text for uploads and
 * webhooks), its success answer, the error answers that every route can
 * give (all in the one error schema), the security requirement (bearer
 * token; none for open and signature routes) and `x-weft-role`, the minimum
 * role, so a reader sees who may call what. */
#include "server/openapi.h"

#include <string.h>

static json_t *error_ref(const char *desc)
{
  return json_pack("{s:s,s:{s:{s:{s:s}}}}", "description", desc, "content", "application/json", "schema", "$ref",
                   "#/components/schemas/Error");
}

static json_t *operation(const struct route *r, const struct api_route_doc *d)
{
  json_t *op = json_pack("{s:s,s:s,s:s}", "operationId", r->op, "summary", d->summary, "x-weft-role", role_name(r->role));
  json_t *params = json_array();
  /* path parameters, in the order of the pattern */
  for (const char *p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
    const char *e = strchr(p, '}');
    if (!e)
      break;
    json_array_append_new(params, json_pack("{s:s%,s:s,s:b,s:{s:s}}", "name", p + 1, (size_t)(e - p - 1), "in", "path",
                                            "required", 1, "schema", "type", "string"));
  }
  if (d->query) {
    const char *q = d->query;
    while (*q) {
      size_t n = strcspn(q, ",");
      json_array_append_new(params, json_pack("{s:s%,s:s,s:b,s:{s:s}}", "name", q, n, "in", "query", "required", 0,
                                              "schema", "type", "string"));
      q += n + (q[n] == ',');
    }
  }
  if (json_array_size(params))
    json_object_set_new(op, "parameters", params);
  else
    json_decref(params);
  if (!strcmp(r->method, "POST")) {
    json_t *content = r->body == BODY_RAW
                          ? json_pack("{s:{s:{s:s}}}", "text/plain", "schema", "type", "string")
                          : json_pack("{s:{s:{s:s}}}", "application/json", "schema", "type", "object");
    json_object_set_new(op, "requestBody", json_pack("{s:b,s:o}", "required", r->body == BODY_RAW, "content", content));
  }
  const char *ctype = !strcmp(d->answer, "text")         ? "text/plain"
                      : !strcmp(d->answer, "sse")        ? "text/event-stream"
                      : !strcmp(d->answer, "prometheus") ? "text/plain; version=0.0.4"
                      : !strcmp(d->answer, "ndjson")     ? "application/x-ndjson"
                                                         : "application/json";
  json_t *ok_schema = !strcmp(ctype, "application/json") ? json_pack("{s:s}", "type", "object")
                                                          : json_pack("{s:s}", "type", "string");
  json_t *responses = json_object();
  json_object_set_new(responses, d->ok,
                      json_pack("{s:s,s:{s:{s:o}}}", "description", "success", "content", ctype, "schema", ok_schema));
  json_object_set_new(responses, "400", error_ref("bad request: parameters or body"));
  if (r->role != ROLE_NONE) {
    json_object_set_new(responses, "401",
                        error_ref(r->role == ROLE_SIGNATURE ? "missing or bad signature" : "no, unknown, expired or revoked token"));
    json_object_set_new(responses, "429", error_ref("too many failed authentications from this address"));
  }
  if (r->role != ROLE_NONE && r->role != ROLE_SIGNATURE)
    json_object_set_new(responses, "403", error_ref("the caller's role or the step's approvers do not allow it"));
  if (strchr(r->pattern, '{'))
    json_object_set_new(responses, "404", error_ref("no such object"));
  if (!strcmp(r->method, "POST")) {
    json_object_set_new(responses, "409", error_ref("conflict with the object's state"));
    json_object_set_new(responses, "413", error_ref("body over the limit"));
    json_object_set_new(responses, "415", error_ref("body not application/json"));
    json_object_set_new(responses, "422", error_ref("the content is understood but invalid"));
  }
  json_object_set_new(op, "responses", responses);
  if (r->role == ROLE_NONE || r->role == ROLE_SIGNATURE)
    json_object_set_new(op, "security", json_array());
  return op;
}

json_t *openapi_document(const struct route *routes, const struct api_route_doc *docs, size_t n)
{
  json_t *paths = json_object();
  for (size_t i = 0; i < n; i++) {
    json_t *item = json_object_get(paths, routes[i].pattern);
    if (!item) {
      item = json_object();
      json_object_set_new(paths, routes[i].pattern, item);
    }
    char m[16];
    size_t k = 0;
    for (; routes[i].method[k] && k < sizeof m - 1; k++)
      m[k] = (char)(routes[i].method[k] | 0x20);
    m[k] = 0;
    json_object_set_new(item, m, operation(&routes[i], &docs[i]));
  }
  return json_pack(
      "{s:s,s:{s:s,s:s,s:s},s:[{s:s}],s:o,s:[{s:[]}],s:{s:{s:{s:s,s:s}},s:{s:{s:s,s:[s],s:{s:{s:s,s:[s,s],s:{s:{s:s},s:{s:s}}}}}}}}",
      "openapi", "3.1.0", "info", "title", "weft", "version", WEFT_VERSION, "description",
      "The weft server's HTTP API. Every /api/ route needs Authorization: Bearer TOKEN unless it says otherwise.",
      "servers", "url", "/", "paths", paths, "security", "bearer", "components", "securitySchemes", "bearer", "type",
      "http", "scheme", "bearer", "schemas", "Error", "type", "object", "required", "error", "properties", "error",
      "type", "object", "required", "code", "message", "properties", "code", "type", "string", "message", "type",
      "string");
}
