/* sqlite_tokens.c — the tokens table of the SQLite backend: API tokens by id,
 * found at authentication by the SHA-256 of the presented token (the token
 * itself never reaches the store). See store.h (ops version 5). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"

#define TOKEN_COLS "id, user, name, hash, created_at, expires_at, revoked_at, last_used_at"

struct tok_vec {
  struct store_token *v;
  size_t n, cap;
};

static int tok_row(void *ctx, sqlite3_stmt *st)
{
  struct tok_vec *tv = ctx;
  int rc = sq_grow((void **)&tv->v, &tv->cap, tv->n, sizeof *tv->v);
  if (rc)
    return rc;
  struct store_token *t = &tv->v[tv->n++]; /* counted first so a partial row is freed */
  int oom = 0;
  t->id = sq_col_text(st, 0, &oom);
  t->user = sq_col_text(st, 1, &oom);
  t->name = sq_col_text(st, 2, &oom);
  t->hash = sq_col_text(st, 3, &oom);
  t->created_at = sqlite3_column_int64(st, 4);
  t->expires_at = sqlite3_column_int64(st, 5);
  t->revoked_at = sqlite3_column_int64(st, 6);
  t->last_used_at = sqlite3_column_int64(st, 7);
  return oom ? WEFT_ENOMEM : 0;
}

static void tok_restart(void *ctx)
{
  struct tok_vec *tv = ctx;
  for (size_t i = 0; i < tv->n; i++)
    store_token_clear(&tv->v[i]);
  tv->n = 0;
}

int sq_token_put(struct store *s, const struct store_token *t)
{
  struct sq *q = sq_of(s);
  bool own;
  if (!t->id || !t->user || !t->hash || strlen(t->hash) != SHA256_HEX_LEN)
    return sq_failf(q, WEFT_EINVAL, "store: a token needs an id, a user and a sha256 hex hash");
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, SQ_TOKEN_PUT,
                             "INSERT INTO tokens(" TOKEN_COLS ") "
                             "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, t->id);
  sq_bind_text(st, 2, t->user);
  sq_bind_text(st, 3, t->name);
  sq_bind_text(st, 4, t->hash);
  sqlite3_bind_int64(st, 5, t->created_at);
  sq_bind_time(st, 6, t->expires_at);
  sq_bind_time(st, 7, t->revoked_at);
  sq_bind_time(st, 8, t->last_used_at);
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW)
    ;
  sqlite3_reset(st);
  if ((src & 0xff) == SQLITE_CONSTRAINT)
    rc = sq_failf(q, WEFT_EINVAL, "store: token %s (or its hash) is already stored", t->id);
  else if (src != SQLITE_DONE)
    rc = sq_fail(q, src, "put token");
out:
  return sq_tx_end(q, own, rc);
}

/* One row into *out: WEFT_ENOTFOUND (message what) when none. */
static int tok_one(struct sq *q, sqlite3_stmt *st, struct store_token *out, const char *what)
{
  struct tok_vec tv = {0};
  int rc = sq_query(q, st, tok_row, tok_restart, &tv, what);
  if (!rc && tv.n == 1) {
    *out = tv.v[0];
    tv.n = 0;
  } else if (!rc) {
    rc = WEFT_ENOTFOUND;
  }
  store_tokens_free(tv.v, tv.n);
  return rc;
}

int sq_token_get(struct store *s, const char *id_or_prefix, struct store_token *out)
{
  struct sq *q = sq_of(s);
  char prefix[64], upper[66];
  memset(out, 0, sizeof *out);
  size_t len = id_or_prefix ? strlen(id_or_prefix) : 0;
  if (len == 0 || len >= sizeof prefix)
    return sq_failf(q, WEFT_EINVAL, "'%s' is not a token id (see `weft token list`)",
                    id_or_prefix ? id_or_prefix : "");
  /* ids are "tok_" + lower-case base32; accept what people type */
  for (size_t i = 0; i <= len; i++)
    prefix[i] = (char)tolower((unsigned char)id_or_prefix[i]);
  sqlite3_stmt *st = sq_stmt(q, SQ_TOKEN_GET_EXACT,
                             "SELECT " TOKEN_COLS " FROM tokens WHERE id = ?1");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, prefix);
  int rc = tok_one(q, st, out, "get token");
  if (rc != WEFT_ENOTFOUND)
    return rc;
  snprintf(upper, sizeof upper, "%s\x7f", prefix);
  st = sq_stmt(q, SQ_TOKEN_GET_PREFIX,
               "SELECT " TOKEN_COLS " FROM tokens WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 2");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, prefix);
  sq_bind_text(st, 2, upper);
  struct tok_vec tv = {0};
  rc = sq_query(q, st, tok_row, tok_restart, &tv, "get token");
  if (rc)
    goto out;
  if (tv.n == 0) {
    rc = sq_failf(q, WEFT_ENOTFOUND, "no token matches '%s' (see `weft token list`)",
                  id_or_prefix);
  } else if (tv.n > 1) {
    rc = sq_failf(q, WEFT_EAMBIGUOUS,
                  "'%s' matches several tokens (%s, %s, ...); give more characters",
                  id_or_prefix, tv.v[0].id, tv.v[1].id);
  } else {
    *out = tv.v[0];
    tv.n = 0;
  }
out:
  store_tokens_free(tv.v, tv.n);
  return rc;
}

int sq_token_by_hash(struct store *s, const char *hash, struct store_token *out)
{
  struct sq *q = sq_of(s);
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = sq_stmt(q, SQ_TOKEN_BY_HASH,
                             "SELECT " TOKEN_COLS " FROM tokens WHERE hash = ?1");
  if (!st)
    return WEFT_ESTORE;
  sq_bind_text(st, 1, hash);
  int rc = tok_one(q, st, out, "find token");
  if (rc == WEFT_ENOTFOUND)
    rc = sq_failf(q, rc, "no such token");
  return rc;
}

int sq_token_list(struct store *s, const char *user, struct store_token **out, size_t *n)
{
  struct sq *q = sq_of(s);
  struct tok_vec tv = {0};
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st =
    user ? sq_stmt(q, SQ_TOKEN_LIST_USER,
                   "SELECT " TOKEN_COLS " FROM tokens WHERE user = ?1 ORDER BY created_at, id")
         : sq_stmt(q, SQ_TOKEN_LIST_ALL,
                   "SELECT " TOKEN_COLS " FROM tokens ORDER BY created_at, id");
  if (!st)
    return WEFT_ESTORE;
  if (user)
    sq_bind_text(st, 1, user);
  int rc = sq_query(q, st, tok_row, tok_restart, &tv, "list tokens");
  if (rc) {
    store_tokens_free(tv.v, tv.n);
    return rc;
  }
  *out = tv.v;
  *n = tv.n;
  return 0;
}

/* UPDATE one token row by id; WEFT_ENOTFOUND when no row has that id. */
static int tok_update(struct sq *q, enum sq_stmt_id sid, const char *sql, const char *id,
                      int64_t now, const char *what)
{
  bool own;
  int rc = sq_tx_begin(q, &own);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(q, sid, sql);
  if (!st) {
    rc = WEFT_ESTORE;
    goto out;
  }
  sq_bind_text(st, 1, id);
  sqlite3_bind_int64(st, 2, now);
  rc = sq_exec(q, st, what);
  if (!rc && sqlite3_changes(q->db) == 0) {
    /* no change: no such id, or (revoke) already revoked */
    sqlite3_stmt *g = sq_stmt(q, SQ_TOKEN_GET_EXACT,
                              "SELECT " TOKEN_COLS " FROM tokens WHERE id = ?1");
    struct store_token t = {0};
    if (!g) {
      rc = WEFT_ESTORE;
      goto out;
    }
    sq_bind_text(g, 1, id);
    rc = tok_one(q, g, &t, what);
    store_token_clear(&t);
    if (rc == WEFT_ENOTFOUND)
      rc = sq_failf(q, rc, "no token %s (see `weft token list`)", id);
  }
out:
  return sq_tx_end(q, own, rc);
}

int sq_token_revoke(struct store *s, const char *id, int64_t now)
{
  return tok_update(sq_of(s), SQ_TOKEN_REVOKE,
                    "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL", id,
                    now, "revoke token");
}

int sq_token_touch(struct store *s, const char *id, int64_t now)
{
  return tok_update(sq_of(s), SQ_TOKEN_TOUCH, "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1",
                    id, now, "touch token");
}
