/* api_tokens.c — GET /tokens, POST /tokens {user, name, expires} (201; the
 * token is in this answer only) and DELETE /tokens/{id} (an id or a unique
 * prefix): ops_list_tokens, ops_create_token, ops_revoke_token. expires is
 * a duration as `weft token create --expires` takes it ("30d"), or null. */
#include "server/api.h"

#include <string.h>

#include "util/wtime.h"

void api_tokens(const struct api *a, const struct httpd_req *rq, struct httpd_resp *rs, const char *op)
{
  if (rq->json && !json_is_object(rq->json)) {
    httpd_error(rs, APIERR_BAD_REQUEST, "the body must be a JSON object");
    return;
  }
  const char *user = NULL, *name = NULL, *expires = NULL;
  int64_t ttl = 0;
  if (!strcmp(op, "create_token")) {
    if (!api_body_str(rq, rs, "user", &user) || !api_body_str(rq, rs, "name", &name) ||
        !api_body_str(rq, rs, "expires", &expires))
      return;
    if (!user) {
      httpd_error(rs, APIERR_BAD_REQUEST, "the body needs \"user\": whose token it is");
      return;
    }
    if (expires && (wt_parse_duration(expires, &ttl) != 0 || ttl <= 0)) {
      httpd_error(rs, APIERR_BAD_REQUEST, "\"expires\" must be a duration such as 30d, 12h or 90m, not \"%.40s\"",
                  expires);
      return;
    }
  }
  struct ops_ctx c;
  if (!api_ctx(a, rq, rs, &c))
    return;
  json_t *out = NULL;
  struct ops_error e = {0};
  enum ops_err k;
  unsigned status = 200;
  if (!strcmp(op, "list_tokens")) {
    k = ops_list_tokens(&c, &out, &e);
  } else if (!strcmp(op, "create_token")) {
    k = ops_create_token(&c, user, name, ttl, &out, &e);
    status = 201;
  } else {
    k = ops_revoke_token(&c, route_param(rq->match, "id"), &out, &e);
  }
  if (k)
    api_fail(rs, &e);
  else
    httpd_json(rs, status, out);
  api_done(a, &c);
}
