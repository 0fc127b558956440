/* test_tokens.c — API tokens: the store's tokens table (ops version 5, also
 * through the fault wrapper), tokens_create / tokens_revoke with their audit
 * entries, and tokens_authenticate (good, unknown, well-formed but wrong,
 * malformed, expired, revoked; last_used_at written at most once a minute). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "store/tokens.h"
#include "util/err.h"
#include "util/token.h"
#include "util/users.h"
#include "server/route.h" /* after users.h: both must be usable in one file */

/* the server casts users_role()'s answer to its own enum role */
_Static_assert((int)ROLE_VIEWER == (int)ROLE_VIEWER, "role values");
_Static_assert((int)ROLE_OPERATOR == (int)ROLE_OPERATOR, "role values");
_Static_assert((int)ROLE_ADMIN == (int)ROLE_ADMIN, "role values");

static char home[256];

static void mk_home(void)
{
  snprintf(home, sizeof home, "/tmp/weft-test-tokens-XXXXXX");
  cr_assert_not_null(mkdtemp(home));
  strcat(home, "/h");
}

static void rm_home(void)
{
  char cmd[300];
  *strrchr(home, '/') = '\0';
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  cr_assert_eq(system(cmd), 0);
}

static const struct tokens_actor ROOT = {.user = "root"};
static const struct tokens_actor BOB = {.user = "bob"};
static const struct tokens_actor VIA = {.user = "root", .via = "tok_via"};

TestSuite(tokens, .init = mk_home, .fini = rm_home);

static struct store *open_store(void)
{
  struct store *s = NULL;
  char *err = NULL;
  cr_assert_eq(store_open(home, &s, &err), 0, "%s", err ? err : "?");
  return s;
}

static int count_entry(void *ctx, const struct store_audit *e)
{
  (void)e;
  (*(int *)ctx)++;
  return 0;
}

static int64_t last_used(struct store *s, const char *id)
{
  struct store_token t = {0};
  cr_assert_eq(store_token_get(s, id, &t), 0);
  int64_t v = t.last_used_at;
  store_token_clear(&t);
  return v;
}

Test(tokens, ids_and_tokens_have_their_shape)
{
  char id[TOKEN_ID_LEN + 1], a[TOKEN_LEN + 1], b[TOKEN_LEN + 1];
  cr_assert_eq(token_id_generate(id), 0);
  cr_assert_eq(strlen(id), 16);
  cr_assert_eq(strncmp(id, "tok_", 4), 0);
  cr_assert_eq(strspn(id + 4, "abcdefghijklmnopqrstuvwxyz234567"), 12);
  cr_assert_eq(token_generate(a), 0);
  cr_assert_eq(token_generate(b), 0);
  cr_assert(token_well_formed(a));
  cr_assert_str_neq(a, b);
}

Test(tokens, create_stores_only_the_hash_and_audits_without_secrets)
{
  struct store *s = open_store();
  char tok[TOKEN_LEN + 1], hash[65], *err = NULL;
  struct store_token t = {0};
  cr_assert_eq(tokens_create(s, "alice", "ci", 5000, &ROOT, 1000, tok, &t, &err), 0,
               "%s", err ? err : "");
  cr_assert(token_well_formed(tok));
  token_hash_hex(tok, hash);
  cr_assert_str_eq(t.hash, hash);
  cr_assert_str_eq(t.user, "alice");
  cr_assert_str_eq(t.name, "ci");
  cr_assert_eq(t.expires_at, 5000);

  struct store_token *v = NULL;
  size_t n = 0;
  cr_assert_eq(store_token_list(s, NULL, &v, &n), 0);
  cr_assert_eq(n, 1);
  cr_assert_str_eq(v[0].id, t.id);
  cr_assert_str_eq(v[0].hash, hash);
  cr_assert_eq(v[0].created_at, 1000);
  cr_assert_eq(v[0].revoked_at, 0);
  store_tokens_free(v, n);
  cr_assert_eq(store_token_list(s, "bob", &v, &n), 0);
  cr_assert_eq(n, 0);
  store_tokens_free(v, n);

  struct store_audit head = {0};
  int ne = 0;
  cr_assert_eq(store_audit_scan(s, NULL, &head, count_entry, &ne), 0);
  cr_assert_eq(head.seq, 1);
  cr_assert_eq(ne, 1);
  store_audit_clear(&head);
  store_token_clear(&t);
  store_close(s);
}

static int entry_has_no_secret(void *ctx, const struct store_audit *e)
{
  const char *const *secret = ctx;
  cr_assert_null(strstr(e->data, secret[0]), "token in %s", e->data);
  cr_assert_null(strstr(e->data, secret[1]), "hash in %s", e->data);
  cr_assert(strstr(e->data, "\"by\":\"root\""), "%s", e->data);
  cr_assert(strstr(e->data, secret[2]), "token id missing in %s", e->data);
  return 0;
}

Test(tokens, revoke_by_prefix_once_and_audit_entries_name_the_id_only)
{
  struct store *s = open_store();
  char tok[TOKEN_LEN + 1], hash[65], *err = NULL;
  struct store_token t = {0}, r = {0};
  cr_assert_eq(tokens_create(s, "alice", NULL, 0, &ROOT, 1000, tok, &t, &err), 0);
  token_hash_hex(tok, hash);
  char prefix[9];
  memcpy(prefix, t.id, 8);
  prefix[8] = 0;
  /* someone else's token, when check_user is given: refused, nothing written */
  cr_assert_eq(tokens_revoke(s, t.id, "bob", &BOB, 2000, &r, &err), WEFT_EDENIED);
  free(err);
  err = NULL;
  /* a prefix matches only bob's own tokens: he has none */
  cr_assert_eq(tokens_revoke(s, prefix, "bob", &BOB, 2000, &r, &err), WEFT_ENOTFOUND);
  cr_assert_null(strstr(err, t.id), "%s", err);
  free(err);
  err = NULL;
  cr_assert_eq(tokens_revoke(s, prefix, NULL, &VIA, 2000, &r, &err), 0, "%s",
               err ? err : "");
  cr_assert_str_eq(r.id, t.id);
  store_token_clear(&r);
  cr_assert_eq(tokens_revoke(s, t.id, NULL, &ROOT, 3000, &r, &err), WEFT_ESTATE);
  cr_assert(strstr(err, "revoked already"), "%s", err);
  free(err);
  err = NULL;
  cr_assert_eq(tokens_revoke(s, "tok_nonexistent", NULL, &ROOT, 3000, &r, &err),
               WEFT_ENOTFOUND);
  free(err);
  struct store_token g = {0};
  cr_assert_eq(store_token_get(s, t.id, &g), 0);
  cr_assert_eq(g.revoked_at, 2000); /* the second revoke changed nothing */
  store_token_clear(&g);
  const char *secret[] = {tok, hash, t.id};
  struct store_audit head = {0};
  cr_assert_eq(store_audit_scan(s, NULL, &head, entry_has_no_secret, secret), 0);
  cr_assert_eq(head.seq, 2); /* created + revoked; the refusals wrote nothing */
  store_audit_clear(&head);
  store_token_clear(&t);
  store_close(s);
}

Test(tokens, authenticate_good_unknown_wrong_expired_revoked)
{
  struct store *s = open_store();
  char good[TOKEN_LEN + 1], old[TOKEN_LEN + 1], gone[TOKEN_LEN + 1], other[TOKEN_LEN + 1];
  char user[64], id[32], *err = NULL;
  struct store_token tg = {0}, to = {0}, tr = {0};
  cr_assert_eq(tokens_create(s, "alice", NULL, 0, &ROOT, 1000, good, &tg, &err), 0);
  cr_assert_eq(tokens_create(s, "bob", NULL, 50000, &ROOT, 1000, old, &to, &err), 0);
  cr_assert_eq(tokens_create(s, "carol", NULL, 0, &ROOT, 1000, gone, &tr, &err), 0);
  cr_assert_eq(tokens_revoke(s, tr.id, NULL, &ROOT, 2000, NULL, &err), 0);

  /* good */
  cr_assert_eq(tokens_authenticate(s, good, 10000, user, sizeof user, id, sizeof id), 0);
  cr_assert_str_eq(user, "alice");
  cr_assert_str_eq(id, tg.id);
  /* unknown: well-formed, never issued */
  cr_assert_eq(token_generate(other), 0);
  cr_assert_eq(tokens_authenticate(s, other, 10000, user, sizeof user, id, sizeof id),
               WEFT_ENOTFOUND);
  cr_assert_str_eq(user, "");
  /* well-formed but wrong: a good token with its last character changed */
  char wrong[TOKEN_LEN + 1];
  strcpy(wrong, good);
  wrong[TOKEN_LEN - 1] = wrong[TOKEN_LEN - 1] == 'A' ? 'B' : 'A';
  cr_assert(token_well_formed(wrong));
  cr_assert_eq(tokens_authenticate(s, wrong, 10000, user, sizeof user, id, sizeof id),
               WEFT_ENOTFOUND);
  /* malformed, empty, NULL; the stored hash itself is not a token */
  cr_assert_eq(tokens_authenticate(s, "weft_short", 10000, user, sizeof user, id, sizeof id),
               WEFT_ENOTFOUND);
  cr_assert_eq(tokens_authenticate(s, "", 10000, user, sizeof user, id, sizeof id),
               WEFT_ENOTFOUND);
  cr_assert_eq(tokens_authenticate(s, NULL, 10000, user, sizeof user, id, sizeof id),
               WEFT_ENOTFOUND);
  cr_assert_eq(tokens_authenticate(s, tg.hash, 10000, user, sizeof user, id, sizeof id),
               WEFT_ENOTFOUND);
  /* expiry: good until expires_at, refused from then on */
  cr_assert_eq(tokens_authenticate(s, old, 49999, user, sizeof user, id, sizeof id), 0);
  cr_assert_eq(tokens_authenticate(s, old, 50000, user, sizeof user, id, sizeof id),
               WEFT_EDENIED);
  cr_assert_eq(tokens_authenticate(s, old, 90000, user, sizeof user, id, sizeof id),
               WEFT_EDENIED);
  /* revoked */
  cr_assert_eq(tokens_authenticate(s, gone, 10000, user, sizeof user, id, sizeof id),
               WEFT_EDENIED);
  cr_assert_str_eq(user, "");
  /* a user that does not fit the caller's buffer */
  char tiny[3];
  cr_assert_eq(tokens_authenticate(s, good, 10000, tiny, sizeof tiny, id, sizeof id),
               WEFT_ELIMIT);
  store_token_clear(&tg);
  store_token_clear(&to);
  store_token_clear(&tr);
  store_close(s);
}

Test(tokens, last_used_is_written_at_most_once_a_minute)
{
  struct store *s = open_store();
  char tok[TOKEN_LEN + 1], user[64], id[32], *err = NULL;
  struct store_token t = {0};
  cr_assert_eq(tokens_create(s, "alice", NULL, 0, &ROOT, 1000, tok, &t, &err), 0);
  cr_assert_eq(last_used(s, t.id), 0);
  cr_assert_eq(tokens_authenticate(s, tok, 100000, user, sizeof user, id, sizeof id), 0);
  cr_assert_eq(last_used(s, t.id), 100000);
  cr_assert_eq(tokens_authenticate(s, tok, 100000 + TOKENS_TOUCH_MS - 1, user, sizeof user, id,
                                   sizeof id), 0);
  cr_assert_eq(last_used(s, t.id), 100000); /* within the minute: not written */
  cr_assert_eq(tokens_authenticate(s, tok, 100000 + TOKENS_TOUCH_MS, user, sizeof user, id,
                                   sizeof id), 0);
  cr_assert_eq(last_used(s, t.id), 100000 + TOKENS_TOUCH_MS);
  store_token_clear(&t);
  store_close(s);
}

Test(tokens, write_failures_leave_nothing_and_wipe_the_token)
{
  struct store *s = NULL;
  char tok[TOKEN_LEN + 1], *err = NULL;
  cr_assert_eq(store_fault_wrap(open_store(), &s), 0);
  /* begin passes, the token row fails: no row, no audit entry */
  store_fault_set(s, 1, 1, WEFT_EIO);
  cr_assert_eq(tokens_create(s, "alice", NULL, 0, &ROOT, 1000, tok, NULL, &err), WEFT_EIO);
  cr_assert_not_null(err);
  free(err);
  err = NULL;
  cr_assert_eq(tok[0], 0);
  /* the audit entry fails: the row is rolled back with it */
  store_fault_set(s, 2, 1, WEFT_EIO);
  cr_assert_eq(tokens_create(s, "alice", NULL, 0, &ROOT, 1000, tok, NULL, &err), WEFT_EIO);
  free(err);
  struct store_token *v = NULL;
  size_t n = 0;
  cr_assert_eq(store_token_list(s, NULL, &v, &n), 0);
  cr_assert_eq(n, 0);
  store_tokens_free(v, n);
  struct store_audit head = {0};
  int ne = 0;
  cr_assert_eq(store_audit_scan(s, NULL, &head, count_entry, &ne), 0);
  cr_assert_eq(ne, 0);
  store_audit_clear(&head);
  store_close(s);
}

Test(tokens, duplicate_hash_or_id_is_refused)
{
  struct store *s = open_store();
  struct store_token t = {.id = "tok_aaaaaaaaaaaa", .user = "a",
                          .hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                          .created_at = 1};
  cr_assert_eq(store_token_put(s, &t), 0);
  t.id = "tok_bbbbbbbbbbbb";
  cr_assert_eq(store_token_put(s, &t), WEFT_EINVAL);
  t.hash = "short";
  cr_assert_eq(store_token_put(s, &t), WEFT_EINVAL);
  store_close(s);
}

Test(tokens, create_checks_user_and_name)
{
  struct store *s = open_store();
  char tok[TOKEN_LEN + 1], *err = NULL;
  static const char *const bad[][2] = {{"", NULL}, {"a b", NULL}, {"a\nb", NULL},
                                       {"alice", "x\x1b[31m"}, {"alice", "tab\there"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert_eq(tokens_create(s, bad[i][0], bad[i][1], 0, &ROOT, 1000, tok, NULL, &err),
                 WEFT_EINVAL, "%zu", i);
    cr_assert_not_null(err);
    free(err);
    err = NULL;
  }
  cr_assert_null(tokens_check("alice", "CI deploy bot (prod)"));
  struct store_token *v = NULL;
  size_t n = 0;
  cr_assert_eq(store_token_list(s, NULL, &v, &n), 0);
  cr_assert_eq(n, 0);
  store_tokens_free(v, n);
  store_close(s);
}

Test(tokens, a_non_admin_prefix_matches_only_own_tokens)
{
  struct store *s = open_store();
  char tok[TOKEN_LEN + 1], *err = NULL;
  struct store_token a1 = {0}, a2 = {0}, b = {0}, r = {0};
  cr_assert_eq(tokens_create(s, "alice", NULL, 0, &ROOT, 1000, tok, &a1, &err), 0);
  cr_assert_eq(tokens_create(s, "alice", NULL, 0, &ROOT, 1001, tok, &a2, &err), 0);
  cr_assert_eq(tokens_create(s, "bob", NULL, 0, &ROOT, 1002, tok, &b, &err), 0);
  /* "tok_" matches three tokens, but only one of bob's */
  cr_assert_eq(tokens_revoke(s, "TOK_", "bob", &BOB, 2000, &r, &err), 0, "%s", err ? err : "");
  cr_assert_str_eq(r.id, b.id);
  store_token_clear(&r);
  /* for alice it is ambiguous, and the message names none of the ids */
  struct tokens_actor al = {.user = "alice"};
  cr_assert_eq(tokens_revoke(s, "tok_", "alice", &al, 2000, &r, &err), WEFT_EAMBIGUOUS);
  cr_assert_null(strstr(err, b.id), "%s", err);
  cr_assert_null(strstr(err, a1.id), "%s", err);
  free(err);
  store_token_clear(&a1);
  store_token_clear(&a2);
  store_token_clear(&b);
  store_close(s);
}
