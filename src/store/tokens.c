/* tokens.c — API tokens over the store ops: create and revoke (each with its
 * audit entry in the same transaction), authenticate (see tokens.h). */
#include "store/tokens.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/err.h"

static void set_err(char **err, const char *fmt, const char *a, const char *b)
{
  if (err && asprintf(err, fmt, a, b) < 0)
    *err = NULL;
}

/* the audit entry of a token change: who did what to which token, never the
 * token or its hash */
static int audit_token(struct store *s, const char *kind, const struct store_token *t,
                       const struct tokens_actor *a, int64_t now)
{
  json_t *d = json_object();
  int rc = d ? 0 : WEFT_ENOMEM;
  if (!rc && (json_object_set_new(d, "token", json_string(t->id)) ||
              json_object_set_new(d, "user", json_string(t->user)) ||
              json_object_set_new(d, "by", a && a->user ? json_string(a->user) : json_null()) ||
              (a && a->asserted_by &&
               json_object_set_new(d, "asserted_by", json_string(a->asserted_by))) ||
              (t->name && json_object_set_new(d, "name", json_string(t->name))) ||
              (!strcmp(kind, "token.created") &&
               json_object_set_new(d, "expires_at", t->expires_at
                                                      ? json_integer(t->expires_at)
                                                      : json_null())) ||
              (a && a->via && json_object_set_new(d, "via", json_string(a->via)))))
    rc = WEFT_ENOMEM;
  if (!rc)
    rc = store_audit_append_json(s, now, NULL, kind, d, NULL);
  json_decref(d);
  return rc;
}

const char *tokens_check(const char *user, const char *name)
{
  size_t n = user ? strlen(user) : 0;
  if (n == 0 || n > TOKENS_USER_MAX)
    return "a user name has 1 to 128 characters";
  for (const char *p = user; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f)
      return "a user name has no spaces or control characters";
  if (name && strlen(name) > TOKENS_NAME_MAX)
    return "a token's name has at most 200 characters";
  for (const char *p = name; p && *p; p++)
    if ((unsigned char)*p < ' ' || *p == 0x7f)
      return "a token's name has no control characters (tabs, newlines, escapes)";
  return NULL;
}

int tokens_create(struct store *s, const char *user, const char *name, int64_t expires_at,
                  const struct tokens_actor *actor, int64_t now, char token[TOKEN_LEN + 1],
                  struct store_token *out, char **err)
{
  char id[TOKEN_ID_LEN + 1], hash[SHA256_HEX_LEN + 1];
  struct store_token t = {.user = (char *)user, .name = (char *)name, .hash = hash,
                          .created_at = now, .expires_at = expires_at};
  bool own = !store_in_tx(s);
  int rc;
  if (out)
    memset(out, 0, sizeof *out);
  const char *bad = tokens_check(user, name);
  if (bad) {
    set_err(err, "%s%s", bad, "");
    return WEFT_EINVAL;
  }
  if ((rc = token_generate(token)) || (rc = token_id_generate(id))) {
    set_err(err, "no randomness from the kernel (getrandom) for a token%s%s", "", "");
    goto fail;
  }
  t.id = id;
  token_hash_hex(token, hash);
  if (own && (rc = store_begin(s)))
    goto store_fail;
  if ((rc = store_token_put(s, &t)) || (rc = audit_token(s, "token.created", &t, actor, now)))
    goto store_fail;
  if (own && (rc = store_commit(s)))
    goto store_fail;
  if (out) {
    out->id = strdup(id);
    out->user = strdup(user);
    out->name = name ? strdup(name) : NULL;
    out->hash = strdup(hash);
    out->created_at = now;
    out->expires_at = expires_at;
    if (!out->id || !out->user || (name && !out->name) || !out->hash) {
      store_token_clear(out);
      rc = WEFT_ENOMEM; /* committed already: the caller may list it */
      set_err(err, "out of memory%s%s", "", "");
      goto fail;
    }
  }
  memset(hash, 0, sizeof hash);
  return 0;
store_fail:
  set_err(err, "cannot store the token: %s%s", store_errmsg(s), "");
  if (own && store_in_tx(s))
    store_rollback(s);
fail:
  memset(token, 0, TOKEN_LEN + 1);
  memset(hash, 0, sizeof hash);
  return rc;
}

/* The token of user whose id is id_or_prefix (a prefix is matched among
 * user's tokens only, so that nobody learns other users' ids from an
 * ambiguity). A full id of another user's token is returned (the caller
 * refuses it: WEFT_EDENIED). */
static int own_token(struct store *s, const char *id_or_prefix, const char *user,
                     struct store_token *out, char **err)
{
  struct store_token *v = NULL;
  size_t n = 0, hit = 0, k = 0, len = strlen(id_or_prefix);
  int rc = store_token_list(s, user, &v, &n);
  if (rc) {
    set_err(err, "%s%s", store_errmsg(s), "");
    return rc;
  }
  for (size_t i = 0; i < n; i++) {
    if (strlen(v[i].id) < len || strncasecmp(v[i].id, id_or_prefix, len))
      continue;
    if (k++ == 0 || strlen(v[i].id) == len)
      hit = i;
  }
  if (k == 1 || (k > 1 && strlen(v[hit].id) == len)) {
    *out = v[hit];
    memset(&v[hit], 0, sizeof v[hit]);
  } else if (k > 1) {
    set_err(err, "'%s' matches several of your tokens; give more characters (see `weft token "
                 "list`)%s", id_or_prefix, "");
    rc = WEFT_EAMBIGUOUS;
  } else {
    /* not one of ours: a full id of someone else's is refused, anything else unknown */
    struct store_token t = {0};
    if (store_token_get(s, id_or_prefix, &t) == 0 && strlen(id_or_prefix) == strlen(t.id)) {
      *out = t;
    } else {
      store_token_clear(&t);
      set_err(err, "no token of yours matches '%s' (see `weft token list`)%s", id_or_prefix, "");
      rc = WEFT_ENOTFOUND;
    }
  }
  store_tokens_free(v, n);
  return rc;
}

int tokens_revoke(struct store *s, const char *id_or_prefix, const char *check_user,
                  const struct tokens_actor *actor, int64_t now, struct store_token *out,
                  char **err)
{
  struct store_token t = {0};
  bool own = !store_in_tx(s);
  int rc;
  if (out)
    memset(out, 0, sizeof *out);
  if (own && (rc = store_begin(s))) {
    set_err(err, "%s%s", store_errmsg(s), "");
    return rc;
  }
  if ((rc = check_user ? own_token(s, id_or_prefix, check_user, &t, err)
                        : store_token_get(s, id_or_prefix, &t))) {
    if (!check_user)
      set_err(err, "%s%s", store_errmsg(s), "");
    goto out;
  }
  if (check_user && strcmp(check_user, t.user)) {
    set_err(err, "token %s belongs to %s; only an admin may revoke another user's token", t.id,
            t.user);
    rc = WEFT_EDENIED;
    goto out;
  }
  if (t.revoked_at) {
    set_err(err, "token %s is revoked already%s", t.id, "");
    rc = WEFT_ESTATE;
    goto out;
  }
  if ((rc = store_token_revoke(s, t.id, now)) ||
      (rc = audit_token(s, "token.revoked", &t, actor, now))) {
    set_err(err, "cannot revoke the token: %s%s", store_errmsg(s), "");
    goto out;
  }
  if (own && (rc = store_commit(s))) {
    set_err(err, "cannot revoke the token: %s%s", store_errmsg(s), "");
    goto out;
  }
  own = false;
out:
  if (own && store_in_tx(s))
    store_rollback(s);
  if (!rc && out)
    *out = t;
  else
    store_token_clear(&t);
  return rc;
}

int tokens_authenticate(struct store *s, const char *presented, int64_t now, char *user,
                        size_t ulen, char *token_id, size_t tlen)
{
  char hash[SHA256_HEX_LEN + 1];
  struct store_token t = {0};
  int rc;
  if (ulen)
    user[0] = 0;
  if (tlen)
    token_id[0] = 0;
  if (!presented || !token_well_formed(presented))
    return WEFT_ENOTFOUND;
  token_hash_hex(presented, hash);
  rc = store_token_by_hash(s, hash, &t);
  if (rc)
    goto out;
  if (!t.hash || strlen(t.hash) != SHA256_HEX_LEN || !ct_equal(t.hash, hash, SHA256_HEX_LEN)) {
    rc = WEFT_ENOTFOUND;
    goto out;
  }
  if (t.revoked_at || (t.expires_at && now >= t.expires_at)) {
    rc = WEFT_EDENIED;
    goto out;
  }
  if (strlen(t.user) >= ulen || strlen(t.id) >= tlen) {
    rc = WEFT_ELIMIT;
    goto out;
  }
  strcpy(user, t.user);
  strcpy(token_id, t.id);
  if (!t.last_used_at || now - t.last_used_at >= TOKENS_TOUCH_MS || now < t.last_used_at)
    (void)store_token_touch(s, t.id, now); /* bookkeeping: the token is good either way */
out:
  store_token_clear(&t);
  memset(hash, 0, sizeof hash);
  return rc;
}
