/* api.c — api.h's dispatch by operation name and the helpers the handlers
 * share (ctx, errors, query and body parameters). */
#include "server/api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

bool api_dispatch(const struct api *a, const struct httpd_req *rq, struct httpd_resp *rs)
{
  static const char *const runs[] = {"list_runs", "get_run", "get_run_graph", "cancel_run", "retry_run",
                                     "get_evidence", NULL};
  static const char *const misc[] = {"send_event", "audit_export", "audit_verify", NULL};
  static const char *const toks[] = {"list_tokens", "create_token", "revoke_token", NULL};
  const char *op = rq->match->route->op;
  for (const char *const *o = runs; *o; o++)
    if (!strcmp(op, *o))
      return api_runs(a, rq, rs, op), true;
  for (const char *const *o = misc; *o; o++)
    if (!strcmp(op, *o))
      return api_misc(a, rq, rs, op), true;
  for (const char *const *o = toks; *o; o++)
    if (!strcmp(op, *o))
      return api_tokens(a, rq, rs, op), true;
  if (!strcmp(op, "get_logs"))
    return api_logs(a, rq, rs), true;
  if (!strcmp(op, "list_approvals") || !strcmp(op, "approve") || !strcmp(op, "reject"))
    return api_approvals(a, rq, rs, op), true;
  return false;
}

bool api_ctx(const struct api *a, const struct httpd_req *rq, struct httpd_resp *rs, struct ops_ctx *c)
{
  char *err = NULL;
  struct store *s = dbpool_get(a->pool, &err);
  if (!s) {
    httpd_error(rs, APIERR_UNAVAILABLE, "the store cannot be opened now: %s", err ? err : "failed");
    free(err);
    return false;
  }
  *c = (struct ops_ctx){.store = s, .home = a->home, .user = rq->user, .role = rq->role, .token_id = rq->token_id};
  return true;
}

void api_done(const struct api *a, struct ops_ctx *c)
{
  dbpool_put(a->pool, c->store);
  c->store = NULL;
}

void api_fail(struct httpd_resp *rs, const struct ops_error *e)
{
  enum ops_err k = e->kind ? e->kind : OPS_E_INTERNAL;
  httpd_error(rs, (enum apierr)k, "%s", e->msg[0] ? e->msg : "the operation failed");
}

const char *api_query(const struct httpd_req *rq, struct httpd_resp *rs, const char *name, char *out, size_t len,
                      bool *bad)
{
  *bad = false;
  const char *v = httpd_query(rq, name, out, len);
  if ((!v && httpd_has_query(rq, name)) || (v && !utf8_valid((const unsigned char *)v, strlen(v)))) {
    /* never echoed: messages are JSON, and JSON is UTF-8 */
    *bad = true;
    httpd_error(rs, APIERR_BAD_REQUEST, "query parameter %s is not UTF-8 text, does not decode, or is over %zu bytes",
                name, len - 1);
    return NULL;
  }
  return v;
}

bool api_query_int(const struct httpd_req *rq, struct httpd_resp *rs, const char *name, long dflt, long max,
                   long *out)
{
  char b[32];
  bool bad;
  const char *v = api_query(rq, rs, name, b, sizeof b, &bad);
  if (bad)
    return false;
  *out = dflt;
  if (!v)
    return true;
  char *end = NULL;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (!*v || *end || errno || x < 0 || x > max || v[0] == '+' || v[0] == '-' || v[0] == ' ') {
    httpd_error(rs, APIERR_BAD_REQUEST, "query parameter %s must be a whole number from 0 to %ld, not \"%.40s\"",
                name, max, v);
    return false;
  }
  *out = x;
  return true;
}

bool api_body_str(const struct httpd_req *rq, struct httpd_resp *rs, const char *name, const char **out)
{
  *out = NULL;
  json_t *v = rq->json ? json_object_get(rq->json, name) : NULL;
  if (!v || json_is_null(v))
    return true;
  if (!json_is_string(v)) {
    httpd_error(rs, APIERR_BAD_REQUEST, "\"%s\" must be a string", name);
    return false;
  }
  *out = json_string_value(v);
  return true;
}
