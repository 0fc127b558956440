/* tokens_ops.c — API tokens as operations (`weft token create|list|revoke`,
 * GET/POST /tokens, DELETE /tokens/{id}): who may, over store/tokens.h,
 * which does the writing and auditing.
 *
 * Who may: an admin, anything; anyone else only for themselves (their own
 * tokens). Over the API the routes need admin (SERVER.md §4). The answers
 * carry a token's metadata, never its hash; create's answer is the only
 * place the token itself ever appears. */
#include "ops/ops.h"

#include <stdlib.h>
#include <string.h>

#include "store/tokens.h"
#include "util/err.h"
#include "util/wtime.h"

static json_t *time_json(int64_t ms)
{
  if (!ms)
    return json_null();
  char t[32];
  wt_fmt_rfc3339(ms, t);
  return json_string(t);
}

/* {id, user, name, created_at, expires_at, revoked_at, last_used_at} */
static json_t *token_json(const struct store_token *t)
{
  return json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "id", t->id, "user", t->user, "name",
                   t->name ? json_string(t->name) : json_null(), "created_at", time_json(t->created_at),
                   "expires_at", time_json(t->expires_at), "revoked_at", time_json(t->revoked_at),
                   "last_used_at", time_json(t->last_used_at));
}

/* admin, or op on the caller's own tokens (user NULL: not known yet) */
static enum ops_err may(const struct ops_ctx *c, const char *op, const char *user, struct ops_error *e)
{
  enum ops_err k = ops_authorize(c, op, e);
  if (!k)
    return OPS_OK;
  if (c->user && (!user || !strcmp(user, c->user)) && c->role >= ROLE_VIEWER) {
    e->msg[0] = 0;
    return OPS_OK;
  }
  return k;
}

enum ops_err ops_create_token(const struct ops_ctx *c, const char *user, const char *name, int64_t expires_ms,
                              json_t **out, struct ops_error *e)
{
  *out = NULL;
  const char *bad = tokens_check(user ? user : "", name);
  if (bad) {
    e->usage = true;
    return ops_fail(e, OPS_E_BAD_REQUEST, "%s", bad);
  }
  if (expires_ms < 0) {
    e->usage = true;
    return ops_fail(e, OPS_E_BAD_REQUEST, "a token's lifetime must be positive");
  }
  enum ops_err k = may(c, "create_token", user, e);
  if (k)
    return ops_fail(e, k, "only an admin may create tokens for other users; %s has the %s role",
                    c->user ? c->user : "the caller", role_name(c->role));
  char token[TOKEN_LEN + 1], *err = NULL;
  struct store_token t = {0};
  int64_t now = wt_now_ms();
  struct tokens_actor who = {.user = c->user, .asserted_by = c->asserted_by, .via = c->token_id};
  int rc = tokens_create(c->store, user, name, expires_ms ? now + expires_ms : 0, &who, now, token, &t, &err);
  if (rc) {
    k = ops_fail(e, rc == WEFT_EINVAL ? OPS_E_BAD_REQUEST : OPS_E_UNAVAILABLE, "cannot create the token: %s",
                 err ? err : weft_strerror(rc));
    free(err);
    return k;
  }
  *out = json_pack("{s:s,s:s,s:o,s:s,s:o,s:o}", "id", t.id, "user", t.user, "name",
                   t.name ? json_string(t.name) : json_null(), "token", token, "created_at", time_json(t.created_at),
                   "expires_at", time_json(t.expires_at));
  memset(token, 0, sizeof token);
  store_token_clear(&t);
  return *out ? OPS_OK : ops_fail(e, OPS_E_INTERNAL, "out of memory");
}

enum ops_err ops_list_tokens(const struct ops_ctx *c, json_t **out, struct ops_error *e)
{
  *out = NULL;
  enum ops_err k = may(c, "list_tokens", NULL, e);
  if (k)
    return k;
  bool all = c->role >= ROLE_ADMIN;
  struct store_token *v = NULL;
  size_t n = 0;
  if (store_token_list(c->store, all ? NULL : c->user, &v, &n) != 0)
    return ops_fail(e, OPS_E_INTERNAL, "cannot list the tokens: %s", store_errmsg(c->store));
  json_t *a = json_array();
  for (size_t i = 0; a && i < n; i++)
    json_array_append_new(a, token_json(&v[i]));
  store_tokens_free(v, n);
  *out = a;
  return a ? OPS_OK : ops_fail(e, OPS_E_INTERNAL, "out of memory");
}

enum ops_err ops_revoke_token(const struct ops_ctx *c, const char *id, json_t **out, struct ops_error *e)
{
  *out = NULL;
  enum ops_err k = may(c, "revoke_token", NULL, e);
  if (k)
    return k;
  bool admin = c->role >= ROLE_ADMIN;
  struct store_token t = {0};
  char *err = NULL;
  struct tokens_actor who = {.user = c->user, .asserted_by = c->asserted_by, .via = c->token_id};
  int rc = tokens_revoke(c->store, id, admin ? NULL : c->user, &who, wt_now_ms(), &t, &err);
  if (rc) {
    enum ops_err kind = rc == WEFT_ENOTFOUND || rc == WEFT_EINVAL ? OPS_E_NOT_FOUND
                        : rc == WEFT_EAMBIGUOUS ? OPS_E_BAD_REQUEST
                        : rc == WEFT_ESTATE     ? OPS_E_CONFLICT
                        : rc == WEFT_EDENIED    ? OPS_E_FORBIDDEN
                                                : OPS_E_UNAVAILABLE;
    if (rc == WEFT_EDENIED)
      k = ops_fail(e, kind, "only an admin may revoke other users' tokens; %s has the %s role",
                   c->user ? c->user : "the caller", role_name(c->role));
    else
      k = ops_fail(e, kind, "%s", err ? err : weft_strerror(rc));
    free(err);
    return k;
  }
  *out = token_json(&t);
  store_token_clear(&t);
  return *out ? OPS_OK : ops_fail(e, OPS_E_INTERNAL, "out of memory");
}
