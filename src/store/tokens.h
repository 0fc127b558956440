/* tokens.h — API tokens over any store: create, revoke, authenticate.
 *
 * What the CLI (`weft token ...`, cli/cmd_token.c) and the server (Bearer
 * authentication, POST /tokens) share. A token is util/token.h's
 * "weft_..." string; the store keeps only its SHA-256 (hex) with a public
 * id "tok_..." (struct store_token), never the token. Creating and revoking
 * append an audit entry ("token.created", "token.revoked") in the same
 * transaction, with the acting user and the token's id and NO secret or
 * hash. Who may do it (roles, util/users.h) is the caller's decision.
 *
 * Ownership: callers own every buffer; rows handed out are cleared with
 * store_token_clear(). */
#ifndef WEFT_STORE_TOKENS_H
#define WEFT_STORE_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/token.h"

/* last_used_at is written at most this often per token (no write per request) */
#define TOKENS_TOUCH_MS ((int64_t)60 * 1000)

/* Who makes a change, as its audit entry records it: user ("by"); locally
 * with --as, the OS identity that asserted it ("asserted_by", else NULL);
 * over the API, the id of the token the request authenticated with ("via",
 * else NULL). */
struct tokens_actor {
  const char *user;
  const char *asserted_by;
  const char *via;
};

#define TOKENS_USER_MAX 128 /* bytes of a user name */
#define TOKENS_NAME_MAX 200 /* bytes of a token's name */

/* NULL when user (1..TOKENS_USER_MAX bytes, no space or control character)
 * and name (NULL, or at most TOKENS_NAME_MAX bytes without control
 * characters: lists print it to terminals) are acceptable, else a static
 * sentence saying what is wrong. tokens_create checks this too. */
const char *tokens_check(const char *user, const char *name);

/* Makes a token for user: name may be NULL, expires_at 0 (never) or ms;
 * actor is who asks. Runs in the caller's transaction if one is open,
 * else in its own. token gets the secret (shown once, stored nowhere), *out
 * (may be NULL) the stored row. On failure the token buffer is wiped and
 * *err (malloc'd, may be NULL) says why (WEFT_EINVAL: tokens_check). */
int tokens_create(struct store *s, const char *user, const char *name, int64_t expires_at,
                  const struct tokens_actor *actor, int64_t now, char token[TOKEN_LEN + 1],
                  struct store_token *out, char **err);

/* Revokes the token whose id is id_or_prefix (a unique prefix is enough),
 * audited like tokens_create. *out (may be NULL) gets the row as it was
 * before. WEFT_ENOTFOUND / WEFT_EAMBIGUOUS (no or several tokens match),
 * WEFT_ESTATE (already revoked), store errors; *err says which. When
 * check_user is not NULL (a caller who is not an admin), a prefix matches
 * only check_user's tokens, and the full id of another user's token is
 * WEFT_EDENIED (checked before anything is written). */
int tokens_revoke(struct store *s, const char *id_or_prefix, const char *check_user,
                  const struct tokens_actor *actor, int64_t now, struct store_token *out,
                  char **err);

/* Authenticates a presented token (the Bearer value): hashes it, finds the
 * row by that hash and compares with ct_equal. 0 with user and token_id
 * filled (NUL-terminated); WEFT_ENOTFOUND for a token that is malformed,
 * unknown or does not match; WEFT_EDENIED for one expired (now >=
 * expires_at) or revoked; WEFT_ELIMIT when user or id does not fit the
 * buffer; a store error otherwise. On success last_used_at is set to now
 * when it is unset or older than TOKENS_TOUCH_MS (a failure to write it is
 * ignored: the token is still good). The caller gets the role from
 * users_role(). */
int tokens_authenticate(struct store *s, const char *presented, int64_t now, char *user,
                        size_t ulen, char *token_id, size_t tlen);

#endif
