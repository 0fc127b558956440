/* test_users.c — util/users.c: users.json mode checks, "allow_as", and the
 * mapping of an OS user to a weft user (CLI.md, Identity). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/users.h"

static char home[256];

static void mk_home(void)
{
  snprintf(home, sizeof home, "/tmp/weft-users-XXXXXX");
  cr_assert_not_null(mkdtemp(home));
}

static void rm_home(void)
{
  char path[300];
  snprintf(path, sizeof path, "%s/users.json", home);
  unlink(path);
  rmdir(home);
}

TestSuite(users, .init = mk_home, .fini = rm_home);

static void put(const char *text, mode_t mode)
{
  char path[300];
  snprintf(path, sizeof path, "%s/users.json", home);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
  cr_assert_eq(chmod(path, mode), 0);
}

static char *identity_of(const char *json, const char *os, int *rc)
{
  put(json, 0600);
  struct users u = {0};
  char *err = NULL, *me = NULL;
  cr_assert_eq(users_load(home, &u, &err), 0, "%s", err ? err : "");
  *rc = users_identity(&u, os, &me, &err);
  free(err);
  users_free(&u);
  return me;
}

Test(users, writable_by_others_is_refused_with_the_chmod_to_run)
{
  static const mode_t bad[] = {0666, 0622, 0660, 0602};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    put("{\"users\": {}}", bad[i]);
    struct users u = {0};
    char *err = NULL;
    cr_assert_eq(users_load(home, &u, &err), WEFT_EDENIED, "mode %o", (unsigned)bad[i]);
    cr_assert_not_null(err);
    cr_assert_not_null(strstr(err, "chmod go-w"), "%s", err);
    cr_assert_not_null(strstr(err, "users.json"), "%s", err);
    free(err);
    users_free(&u);
  }
  put("{\"users\": {}}", 0644); /* readable is fine */
  struct users u = {0};
  cr_assert_eq(users_load(home, &u, NULL), 0);
  users_free(&u);
}

Test(users, allow_as_is_off_unless_true)
{
  struct users u = {0};
  put("{\"users\": {}}", 0600);
  cr_assert_eq(users_load(home, &u, NULL), 0);
  cr_assert_not(u.allow_as);
  users_free(&u);
  put("{\"users\": {}, \"allow_as\": true}", 0600);
  cr_assert_eq(users_load(home, &u, NULL), 0);
  cr_assert(u.allow_as);
  users_free(&u);
  put("{\"users\": {}, \"allow_as\": \"yes\"}", 0600);
  char *err = NULL;
  cr_assert_eq(users_load(home, &u, &err), WEFT_EPARSE);
  free(err);
  users_free(&u);
}

Test(users, os_user_maps_to_a_weft_user)
{
  int rc;
  char *me = identity_of("{\"users\": {}}", "alice", &rc); /* not listed: same name */
  cr_assert_eq(rc, 0);
  cr_assert_str_eq(me, "alice");
  free(me);
  me = identity_of("{\"users\": {\"alice\": {\"os_user\": \"alice2\"}}}", "alice2", &rc);
  cr_assert_eq(rc, 0);
  cr_assert_str_eq(me, "alice");
  free(me);
  /* alice is mapped to another OS user: OS user alice is nobody */
  me = identity_of("{\"users\": {\"alice\": {\"os_user\": \"alice2\"}}}", "alice", &rc);
  cr_assert_eq(rc, WEFT_EDENIED);
  cr_assert_null(me);
  /* two weft users claiming one OS user */
  me = identity_of("{\"users\": {\"a\": {\"os_user\": \"x\"}, \"b\": {\"os_user\": \"x\"}}}", "x",
                   &rc);
  cr_assert_eq(rc, WEFT_EDENIED);
  cr_assert_null(me);
}

Test(users_role, the_role_string_or_null)
{
  struct users u = {.map = json_pack("{s:{s:s},s:{s:i},s:{}}", "olga", "role", "operator", "num", "role", 3, "plain")};
  cr_assert_str_eq(users_role(&u, "olga"), "operator");
  cr_assert_null(users_role(&u, "num"));
  cr_assert_null(users_role(&u, "plain"));
  cr_assert_null(users_role(&u, "nobody"));
  cr_assert_null(users_role(&u, NULL));
  json_decref(u.map);
}
