/* test_store_deploy.c — the store's deployed workflows and idempotency keys
 * (ops version 6, migration 8): versions per name, identical content as a
 * no-op, the newest of every name, keys unique per workflow, transactions,
 * the fault wrapper, and a database from before migration 8. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/sqlite_int.h" /* sq_migrations, to build an old database */
#include "store/store.h"
#include "pg_testdb.h" /* WEFT_TEST_PG_ADMIN: the same tests on PostgreSQL */
#include "util/err.h"

static char home[256];

static void mk_home(void)
{
  snprintf(home, sizeof home, "/tmp/weft-test-deploy-XXXXXX");
  cr_assert_not_null(mkdtemp(home));
  strcat(home, "/h");
  pg_testdb_use();
}

static void rm_home(void)
{
  char cmd[300];
  *strrchr(home, '/') = '\0';
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(deploy, .init = mk_home, .fini = rm_home);

static struct store *open_store(void)
{
  struct store *s = NULL;
  char *err = NULL;
  cr_assert_eq(store_open(home, &s, &err), 0, "store_open: %s", err ? err : "?");
  free(err);
  return s;
}

/* stores a definition; its hash into hash */
static void put_wf(struct store *s, const char *name, const char *src, char hash[SHA256_HEX_LEN + 1])
{
  cr_assert_eq(store_workflow_put(s, name, NULL, src, 1, hash, NULL), 0);
}

static int deploy(struct store *s, const char *name, const char *hash, int *version, bool *created)
{
  struct store_deployment d = {.name = (char *)name, .hash = (char *)hash, .deployed_at = 5,
                               .deployed_by = "alice"};
  return store_deploy_put(s, &d, version, created);
}

Test(deploy, versions_count_per_name_and_identical_content_is_a_no_op)
{
  struct store *s = open_store();
  char h1[65], h2[65];
  put_wf(s, "a", "name: a\n# 1\n", h1);
  put_wf(s, "a", "name: a\n# 2\n", h2);
  int v = 0;
  bool created = false;
  cr_assert_eq(deploy(s, "a", h1, &v, &created), 0);
  cr_assert_eq(v, 1);
  cr_assert(created);
  cr_assert_eq(deploy(s, "a", h1, &v, &created), 0);
  cr_assert_eq(v, 1);
  cr_assert_not(created);
  cr_assert_eq(deploy(s, "a", h2, &v, &created), 0);
  cr_assert_eq(v, 2);
  cr_assert(created);
  /* the content of version 1 again: the newest changes, so it is version 3 */
  cr_assert_eq(deploy(s, "a", h1, &v, &created), 0);
  cr_assert_eq(v, 3);
  cr_assert(created);
  struct store_deployment *d;
  size_t n;
  cr_assert_eq(store_deploy_list(s, "a", &d, &n), 0);
  cr_assert_eq(n, 3);
  for (size_t i = 0; i < n; i++) {
    cr_assert_eq(d[i].version, (int)i + 1);
    cr_assert_str_eq(d[i].name, "a");
    cr_assert_str_eq(d[i].deployed_by, "alice");
    cr_assert_eq(d[i].deployed_at, 5);
    cr_assert_null(d[i].path);
  }
  cr_assert_str_eq(d[0].hash, h1);
  cr_assert_str_eq(d[1].hash, h2);
  cr_assert_str_eq(d[2].hash, h1);
  store_deployments_free(d, n);
  struct store_deployment nw;
  cr_assert_eq(store_deploy_newest(s, "a", &nw), 0);
  cr_assert_eq(nw.version, 3);
  store_deployment_clear(&nw);
  cr_assert_eq(store_deploy_newest(s, "zz", &nw), WEFT_ENOTFOUND);
  cr_assert_eq(store_deploy_list(s, "zz", &d, &n), 0);
  cr_assert_eq(n, 0);
  store_close(s);
}

Test(deploy, a_deployment_needs_a_stored_definition_and_a_name)
{
  struct store *s = open_store();
  const char *h = "0000000000000000000000000000000000000000000000000000000000000000";
  int v = -1;
  bool created = true;
  cr_assert_eq(deploy(s, "a", h, &v, &created), WEFT_ENOTFOUND);
  cr_assert_not(created);
  cr_assert_eq(deploy(s, "", h, &v, &created), WEFT_EINVAL);
  cr_assert_eq(deploy(s, "a", "abc", &v, &created), WEFT_EINVAL);
  struct store_deployment *d;
  size_t n;
  cr_assert_eq(store_deploy_list(s, NULL, &d, &n), 0);
  cr_assert_eq(n, 0);
  store_close(s);
}

Test(deploy, list_without_a_name_gives_the_newest_of_every_name_by_name)
{
  struct store *s = open_store();
  char a1[65], a2[65], b1[65];
  put_wf(s, "a", "name: a\n# 1\n", a1);
  put_wf(s, "a", "name: a\n# 2\n", a2);
  put_wf(s, "b", "name: b\n", b1);
  cr_assert_eq(deploy(s, "b", b1, NULL, NULL), 0);
  cr_assert_eq(deploy(s, "a", a1, NULL, NULL), 0);
  cr_assert_eq(deploy(s, "a", a2, NULL, NULL), 0);
  struct store_deployment *d;
  size_t n;
  cr_assert_eq(store_deploy_list(s, NULL, &d, &n), 0);
  cr_assert_eq(n, 2);
  cr_assert_str_eq(d[0].name, "a");
  cr_assert_eq(d[0].version, 2);
  cr_assert_str_eq(d[0].hash, a2);
  cr_assert_str_eq(d[1].name, "b");
  cr_assert_eq(d[1].version, 1);
  store_deployments_free(d, n);
  store_close(s);
}

Test(deploy, a_rolled_back_transaction_leaves_no_version)
{
  struct store *s = open_store();
  char h[65];
  put_wf(s, "a", "name: a\n", h);
  cr_assert_eq(store_begin(s), 0);
  int v = 0;
  bool created = false;
  cr_assert_eq(deploy(s, "a", h, &v, &created), 0);
  cr_assert(created);
  cr_assert_eq(store_rollback(s), 0);
  struct store_deployment *d;
  size_t n;
  cr_assert_eq(store_deploy_list(s, "a", &d, &n), 0);
  cr_assert_eq(n, 0);
  cr_assert_eq(deploy(s, "a", h, &v, &created), 0);
  cr_assert_eq(v, 1);
  store_close(s);
}

static void put_run(struct store *s, const char *id, const char *wf)
{
  struct store_run r = {.id = (char *)id, .workflow = (char *)wf, .status = "queued",
                        .parent_index = STORE_NO_INDEX, .created_at = 1};
  cr_assert_eq(store_run_put(s, &r), 0);
}

Test(deploy, idempotency_keys_are_unique_per_workflow)
{
  struct store *s = open_store();
  put_run(s, "01A", "wf");
  put_run(s, "01B", "wf");
  put_run(s, "01C", "other");
  char *id = NULL;
  cr_assert_eq(store_run_by_key(s, "wf", "k1", &id), WEFT_ENOTFOUND);
  cr_assert_null(id);
  cr_assert_eq(store_run_key_set(s, "01A", "k1"), 0);
  cr_assert_eq(store_run_by_key(s, "wf", "k1", &id), 0);
  cr_assert_str_eq(id, "01A");
  free(id);
  /* the same key on another run of the same workflow is refused */
  cr_assert_eq(store_run_key_set(s, "01B", "k1"), WEFT_ESTATE);
  /* another workflow may use it */
  cr_assert_eq(store_run_key_set(s, "01C", "k1"), 0);
  cr_assert_eq(store_run_by_key(s, "other", "k1", &id), 0);
  cr_assert_str_eq(id, "01C");
  free(id);
  cr_assert_eq(store_run_key_set(s, "01NOPE", "k2"), WEFT_ENOTFOUND);
  /* a later put of the run (the runtime's upserts) keeps the key */
  put_run(s, "01A", "wf");
  cr_assert_eq(store_run_by_key(s, "wf", "k1", &id), 0);
  cr_assert_str_eq(id, "01A");
  free(id);
  /* a deleted run frees its key */
  cr_assert_eq(store_run_delete(s, "01A"), 0);
  cr_assert_eq(store_run_by_key(s, "wf", "k1", &id), WEFT_ENOTFOUND);
  store_close(s);
}

Test(deploy, the_fault_wrapper_counts_deploy_and_key_writes)
{
  struct store *inner = open_store(), *s;
  char h[65];
  put_wf(inner, "a", "name: a\n", h);
  put_run(inner, "01A", "a");
  cr_assert_eq(store_fault_wrap(inner, &s), 0);
  store_fault_set(s, 0, 2, WEFT_EIO);
  cr_assert_eq(deploy(s, "a", h, NULL, NULL), WEFT_EIO);
  cr_assert_eq(store_run_key_set(s, "01A", "k"), WEFT_EIO);
  cr_assert_eq(store_fault_writes(s), 2);
  struct store_deployment *d;
  size_t n;
  cr_assert_eq(store_deploy_list(s, "a", &d, &n), 0); /* reads pass */
  cr_assert_eq(n, 0);
  cr_assert_eq(deploy(s, "a", h, NULL, NULL), 0);
  store_close(s);
}

Test(deploy, a_database_from_before_migration_8_is_migrated_and_keeps_its_runs)
{
  SQLITE_ONLY();
  char path[300];
  sqlite3 *db;
  cr_assert_eq(mkdir(home, 0700), 0);
  snprintf(path, sizeof path, "%s/weft.db", home);
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  for (int i = 0; i < 7; i++)
    cr_assert_eq(sqlite3_exec(db, sq_migrations[i], NULL, NULL, NULL), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(db,
                            "PRAGMA user_version=7;"
                            "INSERT INTO runs(id, workflow, status, created_at) "
                            "VALUES('01OLD', 'wf', 'succeeded', 1);",
                            NULL, NULL, NULL),
               SQLITE_OK);
  sqlite3_close(db);
  struct store *s = open_store();
  char *id = NULL;
  cr_assert_eq(store_run_by_key(s, "wf", "k", &id), WEFT_ENOTFOUND);
  cr_assert_eq(store_run_key_set(s, "01OLD", "k"), 0);
  cr_assert_eq(store_run_by_key(s, "wf", "k", &id), 0);
  cr_assert_str_eq(id, "01OLD");
  free(id);
  store_close(s);
}
