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

/* ---- roles (users_role) ---- */

Test(users, role_listed_else_home_owner_admin_else_viewer)
{
  put("{\"users\": {\"alice\": {\"role\": \"operator\"}, \"root2\": {\"role\": \"viewer\"},"
      " \"carol\": {\"role\": \"admin\"}, \"dave\": {\"groups\": []}}}",
      0600);
  struct users u = {0};
  char *err = NULL;
  cr_assert_eq(users_load(home, &u, &err), 0, "%s", err ? err : "");
  cr_assert_eq(users_role(&u, "alice", "owner"), ROLE_OPERATOR);
  cr_assert_eq(users_role(&u, "carol", "owner"), ROLE_ADMIN);
  cr_assert_eq(users_role(&u, "dave", "owner"), ROLE_VIEWER);   /* listed, no role */
  cr_assert_eq(users_role(&u, "nobody", "owner"), ROLE_VIEWER); /* not listed */
  cr_assert_eq(users_role(&u, "owner", "owner"), ROLE_ADMIN);   /* the home's owner */
  cr_assert_eq(users_role(&u, "dave", "dave"), ROLE_ADMIN);     /* owner, listed without role */
  /* the home's owner acts as admin locally even when users.json gives less
   * (SERVER.md §4); over the API (no owner) the listed role holds */
  cr_assert_eq(users_role(&u, "root2", "root2"), ROLE_ADMIN);
  cr_assert_eq(users_role(&u, "root2", NULL), ROLE_VIEWER);
  cr_assert_eq(users_role(&u, "owner", NULL), ROLE_VIEWER);
  cr_assert_str_eq(role_name(ROLE_OPERATOR), "operator");
  cr_assert_str_eq(role_name(ROLE_ADMIN), "admin");
  cr_assert_str_eq(role_name(ROLE_VIEWER), "viewer");
  users_free(&u);
}

Test(users, role_without_users_json_is_viewer_or_owner_admin)
{
  struct users u = {0};
  char *err = NULL;
  cr_assert_eq(users_load(home, &u, &err), 0);
  cr_assert_eq(users_role(&u, "alice", "bob"), ROLE_VIEWER);
  cr_assert_eq(users_role(&u, "bob", "bob"), ROLE_ADMIN);
  users_free(&u);
}

Test(users, unknown_role_is_an_error_naming_user_and_file)
{
  static const char *const bad[] = {
    "{\"users\": {\"alice\": {\"role\": \"superuser\"}}}",
    "{\"users\": {\"alice\": {\"role\": 3}}}",
    "{\"users\": {\"alice\": {\"role\": \"Admin\"}}}",
    "{\"users\": {\"alice\": {\"role\": null}}}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    put(bad[i], 0600);
    struct users u = {0};
    char *err = NULL;
    cr_assert_eq(users_load(home, &u, &err), WEFT_EPARSE, "%s", bad[i]);
    cr_assert_not_null(err);
    cr_assert(strstr(err, "\"alice\""), "%s", err);
    cr_assert(strstr(err, "users.json"), "%s", err);
    cr_assert(strstr(err, "viewer"), "%s", err);
    free(err);
    users_free(&u);
  }
}

Test(users, home_owner_is_the_owner_of_the_folder)
{
  char *who = NULL, *err = NULL, *me = users_os_user(&err);
  cr_assert_eq(users_home_owner(home, &who, &err), 0);
  cr_assert_str_eq(who, me); /* mkdtemp made it as us */
  free(who);
  cr_assert_eq(users_home_owner("/nonexistent/weft-home", &who, &err), WEFT_EIO);
  cr_assert_null(who);
  free(err);
  free(me);
}
