/* test_store.c — the store (SQLite backend) through its public API: home
 * folder, migrations, round trips of every row kind, prefix lookup, lists,
 * ownership, the inbox across handles, concurrent writers in two processes,
 * and group commit. */
#include <criterion/criterion.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit/audit.h"
#include "store/sqlite_int.h" /* sq_migrations, to build an old database */
#include "store/store.h"
#include "pg_testdb.h" /* WEFT_TEST_PG_ADMIN: the same tests on PostgreSQL */
#include "util/err.h"

static char home[256];

static void mk_home(void)
{
  snprintf(home, sizeof home, "/tmp/weft-test-store-XXXXXX");
  cr_assert_not_null(mkdtemp(home));
  strcat(home, "/h"); /* store_open must create it */
  pg_testdb_use();
}

static void rm_home(void)
{
  char cmd[300];
  char *slash = strrchr(home, '/');
  *slash = '\0';
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(store, .init = mk_home, .fini = rm_home);

static struct store *open_store(void)
{
  struct store *s = NULL;
  char *err = NULL;
  int rc = store_open(home, &s, &err);
  cr_assert_eq(rc, 0, "store_open: %s", err ? err : "?");
  free(err);
  return s;
}

static struct store_run mk_run(const char *id, const char *wf, const char *status)
{
  struct store_run r = {
    .id = (char *)id,
    .workflow = (char *)wf,
    .status = (char *)status,
    .trigger = "manual",
    .parent_index = STORE_NO_INDEX,
    .created_at = 1000,
  };
  return r;
}

static int user_version(void)
{
  char path[300];
  sqlite3 *db;
  sqlite3_stmt *st;
  snprintf(path, sizeof path, "%s/weft.db", home);
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
  cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
  int v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

Test(store, open_creates_home_with_db_logs_and_workspaces)
{
  SQLITE_ONLY();
  struct store *s = open_store();
  struct stat sb;
  char p[300];
  snprintf(p, sizeof p, "%s/weft.db", home);
  cr_assert_eq(stat(p, &sb), 0);
  snprintf(p, sizeof p, "%s/logs", home);
  cr_assert(stat(p, &sb) == 0 && S_ISDIR(sb.st_mode));
  snprintf(p, sizeof p, "%s/workspaces", home);
  cr_assert(stat(p, &sb) == 0 && S_ISDIR(sb.st_mode));
  cr_assert_str_eq(store_home(s), home);
  store_close(s);
}

/* the runtime's connection (store_defer_sync): commits do not sync, the WAL
 * is filled to 4 MiB once so that syncs rewrite it in place, and what was
 * committed is read back intact by another connection and after reopening */
/* The WAL is filled with zeros ahead of SQLite a chunk per commit (doubling
 * from 64 KiB) until it reaches 4 MiB; no commit is lost to the zeros, for
 * this connection, another one, or after reopening. */
Test(store, deferred_sync_grows_the_wal_in_commits_and_keeps_them)
{
  SQLITE_ONLY();
  struct store *s = open_store();
  char *path = NULL;
  cr_assert_eq(store_defer_sync(s, &path), 0);
  char want[300];
  snprintf(want, sizeof want, "%s/weft.db-wal", home);
  cr_assert_str_eq(path, want);
  struct stat sb;
  cr_assert_eq(stat(path, &sb), 0);
  off_t first = sb.st_size;
  cr_assert_lt(first, 4 << 20, "not filled at once: %lld bytes", (long long)first);
  off_t last = first;
  int grew = 0, commits = 0;
  char id[32];
  for (; commits < 40; commits++) {
    snprintf(id, sizeof id, "01RUNDEFERRED%014d", commits);
    struct store_run r = mk_run(id, "wf", "running");
    cr_assert_eq(store_begin(s), 0);
    cr_assert_eq(store_run_put(s, &r), 0);
    cr_assert_eq(store_commit(s), 0);
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_geq(sb.st_size, last);
    grew += sb.st_size > last;
    last = sb.st_size;
  }
  cr_assert_eq(last, 4 << 20, "WAL is %lld bytes after %d commits", (long long)last, commits);
  cr_assert_geq(grew, 5, "grows in steps (%d)", grew); /* 64K, 128K, ... 4M */
  struct store *other = open_store(); /* sees every commit at once */
  char *p2 = NULL;
  cr_assert_eq(store_defer_sync(other, &p2), 0); /* already full: left alone */
  struct store_run r2 = mk_run("01RUNDEFERREDOTHER00000000", "wf", "running");
  cr_assert_eq(store_run_put(other, &r2), 0);
  cr_assert_eq(stat(path, &sb), 0);
  cr_assert_eq(sb.st_size, 4 << 20);
  free(p2);
  store_close(other);
  store_close(s);
  s = open_store();
  for (int i = 0; i < commits; i++) {
    struct store_run got;
    snprintf(id, sizeof id, "01RUNDEFERRED%014d", i);
    cr_assert_eq(store_run_get(s, id, &got), 0, "run %d", i);
    cr_assert_str_eq(got.status, "running");
    store_run_clear(&got);
  }
  struct store_run got;
  cr_assert_eq(store_run_get(s, "01RUNDEFERREDOTHER00000000", &got), 0);
  store_run_clear(&got);
  store_close(s);
  free(path);
}

Test(store, home_defaults_to_weft_home_env)
{
  setenv("WEFT_HOME", "/some/where", 1);
  char *h = store_home_resolve(NULL);
  cr_assert_str_eq(h, "/some/where");
  free(h);
  h = store_home_resolve("given");
  cr_assert_str_eq(h, "given");
  free(h);
  unsetenv("WEFT_HOME");
  h = store_home_resolve(NULL);
  cr_assert_str_eq(h, ".weft");
  free(h);
}

Test(store, migrations_idempotent_on_reopen)
{
  SQLITE_ONLY(); /* PostgreSQL: test_pg_store.py (schema_version) */
  struct store *s = open_store();
  struct store_run r = mk_run("01AAAAAAAAAAAAAAAAAAAAAAAA", "wf", "running");
  cr_assert_eq(store_run_put(s, &r), 0);
  store_close(s);
  int v1 = user_version();
  cr_assert_gt(v1, 0);
  s = open_store();
  store_close(s);
  s = open_store();
  cr_assert_eq(user_version(), v1);
  struct store_run got;
  cr_assert_eq(store_run_get(s, r.id, &got), 0);
  cr_assert_str_eq(got.status, "running");
  store_run_clear(&got);
  store_close(s);
}

Test(store, old_database_is_migrated_and_keeps_its_rows)
{
  SQLITE_ONLY();
  /* a database as the first weft release left it: migration 1 only */
  char path[300];
  sqlite3 *db;
  cr_assert_eq(mkdir(home, 0700), 0);
  snprintf(path, sizeof path, "%s/weft.db", home);
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(db, sq_migrations[0], NULL, NULL, NULL), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(db,
                            "PRAGMA user_version=1;"
                            "INSERT INTO inbox(kind, run_id, created_at) VALUES('cancel', '01R', 1);",
                            NULL, NULL, NULL),
               SQLITE_OK);
  sqlite3_close(db);
  struct store *s = open_store();
  cr_assert_eq(user_version(), sq_n_migrations);
  const char *runs[] = {"01R"};
  struct store_inbox *v;
  size_t n;
  cr_assert_eq(store_inbox_take(s, runs, 1, false, 2, &v, &n), 0);
  cr_assert_eq(n, 1);
  cr_assert_str_eq(v[0].kind, "cancel");
  cr_assert_null(v[0].name);
  store_inbox_free(v, n);
  store_close(s);
}

Test(store, instance_counts_and_pages_of_a_for_each_step)
{
  struct store *s = open_store();
  struct store_step v[6];
  for (int i = 0; i < 6; i++)
    v[i] = (struct store_step){.run_id = "01R", .step = "s", .index = i - 1,
                               .status = (i == 2 || i == 5) ? "failed" : "succeeded"};
  v[0].status = "running"; /* the step's own row */
  cr_assert_eq(store_step_put_many(s, v, 6), 0);
  char *c = NULL;
  cr_assert_eq(store_step_count(s, "01R", "s", &c), 0);
  cr_assert_str_eq(c, "{\"failed\":2,\"succeeded\":3}");
  free(c);
  cr_assert_eq(store_step_count(s, "01R", "nope", &c), 0);
  cr_assert_str_eq(c, "{}");
  free(c);
  /* kept counts on the step's own row; none for a row that does not exist */
  cr_assert_eq(store_step_counts_put(s, "01R", "s", "{\"succeeded\":3,\"failed\":2}"), 0);
  cr_assert_eq(store_step_counts_put(s, "01R", "other", "{}"), 0);
  struct store_step own = {0};
  cr_assert_eq(store_step_get(s, "01R", "s", STORE_NO_INDEX, &own), 0);
  cr_assert_str_eq(own.counts, "{\"succeeded\":3,\"failed\":2}");
  cr_assert_str_eq(own.status, "running");
  store_step_clear(&own);
  cr_assert_eq(store_step_get(s, "01R", "other", STORE_NO_INDEX, &own), WEFT_ENOTFOUND);
  /* a put of the row keeps the counts */
  v[0].status = "failed";
  cr_assert_eq(store_step_put(s, &v[0]), 0);
  cr_assert_eq(store_step_get(s, "01R", "s", STORE_NO_INDEX, &own), 0);
  cr_assert_str_eq(own.counts, "{\"succeeded\":3,\"failed\":2}");
  store_step_clear(&own);
  /* pages: instances only, by index, with a limit */
  struct store_step *p;
  size_t n;
  cr_assert_eq(store_step_page(s, "01R", "s", STORE_PAGE_FAILED, 0, &p, &n), 0);
  cr_assert_eq(n, 2);
  cr_assert_eq(p[0].index, 1);
  cr_assert_eq(p[1].index, 4);
  store_steps_free(p, n);
  cr_assert_eq(store_step_page(s, "01R", "s", STORE_PAGE_NOT_FAILED, 2, &p, &n), 0);
  cr_assert_eq(n, 2);
  cr_assert_eq(p[0].index, 0);
  cr_assert_eq(p[1].index, 2);
  store_steps_free(p, n);
  cr_assert_eq(store_step_page(s, "01R", "s", STORE_PAGE_ALL, 0, &p, &n), 0);
  cr_assert_eq(n, 5);
  cr_assert_eq(p[4].index, 4);
  cr_assert_null(p[4].counts);
  store_steps_free(p, n);
  store_close(s);
}

Test(store, newer_schema_is_refused_with_a_message)
{
  SQLITE_ONLY();
  struct store *s = open_store();
  store_close(s);
  char path[300];
  sqlite3 *db;
  snprintf(path, sizeof path, "%s/weft.db", home);
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version=999", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  char *err = NULL;
  cr_assert_neq(store_open(home, &s, &err), 0);
  cr_assert_null(s);
  cr_assert_not_null(strstr(err, "newer"), "%s", err);
  free(err);
}

Test(store, database_is_in_wal_mode)
{
  SQLITE_ONLY();
  struct store *s = open_store();
  store_close(s);
  char path[300];
  sqlite3 *db;
  sqlite3_stmt *st;
  snprintf(path, sizeof path, "%s/weft.db", home);
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
  cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
  cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

Test(store, run_round_trip)
{
  struct store *s = open_store();
  struct store_run r = {
    .id = "01JD8XYZ0000000000000000AB",
    .workflow = "nightly",
    .workflow_hash = "abc123",
    .path = "wf/nightly.yaml",
    .status = "running",
    .trigger = "manual",
    .parent_id = "01JD8PARENT000000000000000",
    .parent_step = "sub",
    .parent_index = 4,
    .started_by = "alice",
    .inputs = "{\"x\":1}",
    .outputs = NULL,
    .error = "{\"kind\":\"timeout\"}",
    .created_at = 1111,
    .started_at = 2222,
    .finished_at = 0,
    .owner_pid = 42,
    .owner_start = 777,
    .heartbeat_at = 3333,
  };
  cr_assert_eq(store_run_put(s, &r), 0);
  struct store_run g;
  cr_assert_eq(store_run_get(s, r.id, &g), 0);
  cr_assert_str_eq(g.id, r.id);
  cr_assert_str_eq(g.workflow, "nightly");
  cr_assert_str_eq(g.workflow_hash, "abc123");
  cr_assert_str_eq(g.path, "wf/nightly.yaml");
  cr_assert_str_eq(g.status, "running");
  cr_assert_str_eq(g.trigger, "manual");
  cr_assert_str_eq(g.parent_id, r.parent_id);
  cr_assert_str_eq(g.parent_step, "sub");
  cr_assert_eq(g.parent_index, 4);
  cr_assert_str_eq(g.started_by, "alice");
  cr_assert_str_eq(g.inputs, "{\"x\":1}");
  cr_assert_null(g.outputs);
  cr_assert_str_eq(g.error, "{\"kind\":\"timeout\"}");
  cr_assert_eq(g.created_at, 1111);
  cr_assert_eq(g.started_at, 2222);
  cr_assert_eq(g.finished_at, 0);
  cr_assert_eq(g.owner_pid, 42);
  cr_assert_eq(g.owner_start, 777);
  cr_assert_eq(g.heartbeat_at, 3333);
  store_run_clear(&g);
  store_close(s);
}

Test(store, run_upsert_updates_state_but_keeps_owner)
{
  struct store *s = open_store();
  struct store_run r = mk_run("01BBBBBBBBBBBBBBBBBBBBBBBB", "wf", "running");
  r.owner_pid = 10;
  r.owner_start = 20;
  cr_assert_eq(store_run_put(s, &r), 0);
  r.status = "succeeded";
  r.outputs = "{\"a\":true}";
  r.finished_at = 5000;
  r.owner_pid = 99;
  cr_assert_eq(store_run_put(s, &r), 0);
  struct store_run g;
  cr_assert_eq(store_run_get(s, r.id, &g), 0);
  cr_assert_str_eq(g.status, "succeeded");
  cr_assert_str_eq(g.outputs, "{\"a\":true}");
  cr_assert_eq(g.finished_at, 5000);
  cr_assert_eq(g.owner_pid, 10);
  store_run_clear(&g);
  store_close(s);
}

Test(store, run_missing_fields_are_invalid)
{
  struct store *s = open_store();
  struct store_run r = mk_run("01CCCCCCCCCCCCCCCCCCCCCCCC", NULL, "running");
  cr_assert_eq(store_run_put(s, &r), WEFT_EINVAL);
  cr_assert_neq(store_errmsg(s)[0], '\0');
  store_close(s);
}

Test(store, run_prefix_lookup_unique)
{
  struct store *s = open_store();
  struct store_run a = mk_run("01AAAA0000000000000000000A", "wf", "running");
  struct store_run b = mk_run("01AAAB0000000000000000000B", "wf", "running");
  cr_assert_eq(store_run_put(s, &a), 0);
  cr_assert_eq(store_run_put(s, &b), 0);
  struct store_run g;
  cr_assert_eq(store_run_get(s, "01AAAB", &g), 0);
  cr_assert_str_eq(g.id, b.id);
  store_run_clear(&g);
  cr_assert_eq(store_run_get(s, "01aaaa", &g), 0, "lower case prefix");
  cr_assert_str_eq(g.id, a.id);
  store_run_clear(&g);
  store_close(s);
}

Test(store, run_prefix_lookup_ambiguous)
{
  struct store *s = open_store();
  struct store_run a = mk_run("01AAAA0000000000000000000A", "wf", "running");
  struct store_run b = mk_run("01AAAB0000000000000000000B", "wf", "running");
  cr_assert_eq(store_run_put(s, &a), 0);
  cr_assert_eq(store_run_put(s, &b), 0);
  struct store_run g;
  cr_assert_eq(store_run_get(s, "01AAA", &g), WEFT_EAMBIGUOUS);
  cr_assert_null(g.id);
  cr_assert_not_null(strstr(store_errmsg(s), "several"));
  store_close(s);
}

Test(store, run_prefix_lookup_not_found)
{
  struct store *s = open_store();
  struct store_run a = mk_run("01AAAA0000000000000000000A", "wf", "running");
  cr_assert_eq(store_run_put(s, &a), 0);
  struct store_run g;
  cr_assert_eq(store_run_get(s, "01AAAC", &g), WEFT_ENOTFOUND);
  cr_assert_eq(store_run_get(s, "", &g), WEFT_EINVAL);
  store_close(s);
}

Test(store, run_full_id_wins_over_prefix_of_longer_ids)
{
  struct store *s = open_store();
  struct store_run a = mk_run("01AAAA", "wf", "running");
  struct store_run b = mk_run("01AAAA0000000000000000000B", "wf", "running");
  cr_assert_eq(store_run_put(s, &a), 0);
  cr_assert_eq(store_run_put(s, &b), 0);
  struct store_run g;
  cr_assert_eq(store_run_get(s, "01AAAA", &g), 0);
  cr_assert_str_eq(g.id, "01AAAA");
  store_run_clear(&g);
  store_close(s);
}

Test(store, run_list_filters_newest_first)
{
  struct store *s = open_store();
  const char *ids[] = {"01A0", "01A1", "01A2", "01A3", "01A4"};
  const char *wfs[] = {"x", "y", "x", "x", "y"};
  const char *sts[] = {"succeeded", "failed", "failed", "running", "failed"};
  for (int i = 0; i < 5; i++) {
    struct store_run r = mk_run(ids[i], wfs[i], sts[i]);
    cr_assert_eq(store_run_put(s, &r), 0);
  }
  struct store_run *v;
  size_t n;
  cr_assert_eq(store_run_list(s, NULL, &v, &n), 0);
  cr_assert_eq(n, 5);
  cr_assert_str_eq(v[0].id, "01A4");
  cr_assert_str_eq(v[4].id, "01A0");
  store_runs_free(v, n);

  struct store_run_filter f = {.status = "failed"};
  cr_assert_eq(store_run_list(s, &f, &v, &n), 0);
  cr_assert_eq(n, 3);
  cr_assert_str_eq(v[0].id, "01A4");
  store_runs_free(v, n);

  f = (struct store_run_filter){.status = "failed", .workflow = "x"};
  cr_assert_eq(store_run_list(s, &f, &v, &n), 0);
  cr_assert_eq(n, 1);
  cr_assert_str_eq(v[0].id, "01A2");
  store_runs_free(v, n);

  f = (struct store_run_filter){.limit = 2};
  cr_assert_eq(store_run_list(s, &f, &v, &n), 0);
  cr_assert_eq(n, 2);
  cr_assert_str_eq(v[0].id, "01A4");
  cr_assert_str_eq(v[1].id, "01A3");
  store_runs_free(v, n);
  store_close(s);
}

Test(store, run_children_lists_runs_with_that_parent)
{
  struct store *s = open_store();
  struct store_run p = mk_run("01P", "parent", "running");
  struct store_run c1 = mk_run("01C1", "child", "running");
  struct store_run c2 = mk_run("01C2", "child", "succeeded");
  struct store_run o = mk_run("01O", "other", "running");
  c1.parent_id = c2.parent_id = "01P";
  c1.parent_step = c2.parent_step = "sub";
  cr_assert_eq(store_run_put(s, &p), 0);
  cr_assert_eq(store_run_put(s, &c1), 0);
  cr_assert_eq(store_run_put(s, &c2), 0);
  cr_assert_eq(store_run_put(s, &o), 0);
  struct store_run *v;
  size_t n;
  cr_assert_eq(store_run_children(s, "01P", &v, &n), 0);
  cr_assert_eq(n, 2);
  cr_assert_str_eq(v[0].parent_step, "sub");
  store_runs_free(v, n);
  store_close(s);
}

Test(store, proc_start_of_self_matches_proc_stat)
{
  int64_t a, b;
  cr_assert_eq(store_proc_start(getpid(), &a), 0);
  cr_assert_eq(store_proc_start(getpid(), &b), 0);
  cr_assert_eq(a, b);
  cr_assert_gt(a, 0);
  cr_assert_eq(store_proc_start(0, &a), WEFT_ENOTFOUND);
}

/* Forks a child that exits at once and reaps it: a pid that is dead. */
static int dead_pid(void)
{
  pid_t p = fork();
  cr_assert_geq(p, 0);
  if (p == 0)
    _exit(0);
  waitpid(p, NULL, 0);
  return (int)p;
}

Test(store, owner_alive_needs_same_pid_and_start_time)
{
  int64_t start;
  cr_assert_eq(store_proc_start(getpid(), &start), 0);
  struct store_run r = mk_run("01X", "wf", "running");
  r.owner_pid = getpid();
  r.owner_start = start;
  cr_assert(store_run_owner_alive(&r));
  r.owner_start = start + 1; /* same pid, another process (pid reuse) */
  cr_assert_not(store_run_owner_alive(&r));
  r.owner_pid = dead_pid();
  r.owner_start = start;
  cr_assert_not(store_run_owner_alive(&r));
  r.owner_pid = 0;
  cr_assert_not(store_run_owner_alive(&r));
}

Test(store, orphans_are_active_runs_with_dead_owner)
{
  struct store *s = open_store();
  int64_t start;
  cr_assert_eq(store_proc_start(getpid(), &start), 0);
  struct store_run mine = mk_run("01MINE", "wf", "running");
  mine.owner_pid = getpid();
  mine.owner_start = start;
  struct store_run dead = mk_run("01DEAD", "wf", "waiting");
  dead.owner_pid = dead_pid();
  dead.owner_start = start;
  struct store_run none = mk_run("01NONE", "wf", "running");
  struct store_run done = mk_run("01DONE", "wf", "succeeded");
  struct store_run queued = mk_run("01QUEUED", "wf", "queued"); /* killed before it started */
  cr_assert_eq(store_run_put(s, &queued), 0);
  cr_assert_eq(store_run_put(s, &mine), 0);
  cr_assert_eq(store_run_put(s, &dead), 0);
  cr_assert_eq(store_run_put(s, &none), 0);
  cr_assert_eq(store_run_put(s, &done), 0);
  struct store_run *v;
  size_t n;
  cr_assert_eq(store_run_orphans(s, &v, &n), 0);
  cr_assert_eq(n, 3);
  cr_assert_str_eq(v[0].id, "01DEAD");
  cr_assert_str_eq(v[1].id, "01NONE");
  cr_assert_str_eq(v[2].id, "01QUEUED");
  store_runs_free(v, n);
  store_close(s);
}

Test(store, claim_refuses_run_of_live_other_process)
{
  struct store *s = open_store();
  int64_t pstart, mystart;
  cr_assert_eq(store_proc_start(getppid(), &pstart), 0);
  cr_assert_eq(store_proc_start(getpid(), &mystart), 0);
  struct store_run r = mk_run("01OWNED", "wf", "running");
  r.owner_pid = getppid();
  r.owner_start = pstart;
  cr_assert_eq(store_run_put(s, &r), 0);
  cr_assert_eq(store_run_claim(s, r.id, getpid(), mystart, 5), WEFT_EBUSY);
  /* once released, it can be claimed */
  cr_assert_eq(store_run_release(s, r.id), 0);
  cr_assert_eq(store_run_claim(s, r.id, getpid(), mystart, 5), 0);
  cr_assert_eq(store_heartbeat(s, getpid(), mystart, 77), 0);
  struct store_run g;
  cr_assert_eq(store_run_get(s, r.id, &g), 0);
  cr_assert_eq(g.owner_pid, getpid());
  cr_assert_eq(g.owner_start, mystart);
  cr_assert_eq(g.heartbeat_at, 77);
  store_run_clear(&g);
  cr_assert_eq(store_run_claim(s, "01NOPE", getpid(), mystart, 5), WEFT_ENOTFOUND);
  store_close(s);
}

Test(store, claim_takes_run_of_dead_owner)
{
  struct store *s = open_store();
  int64_t mystart;
  cr_assert_eq(store_proc_start(getpid(), &mystart), 0);
  struct store_run r = mk_run("01ORPHAN", "wf", "running");
  r.owner_pid = dead_pid();
  r.owner_start = mystart;
  cr_assert_eq(store_run_put(s, &r), 0);
  cr_assert_eq(store_run_claim(s, r.id, getpid(), mystart, 5), 0);
  store_close(s);
}

Test(store, workflow_versions_by_content_hash)
{
  struct store *s = open_store();
  char h1[65], h2[65], h3[65];
  bool created;
  cr_assert_eq(store_workflow_put(s, "wf", "a.yaml", "name: wf\n", 10, h1, &created), 0);
  cr_assert(created);
  cr_assert_eq(store_workflow_put(s, "wf", "b.yaml", "name: wf\n", 20, h2, &created), 0);
  cr_assert_not(created);
  cr_assert_str_eq(h1, h2);
  cr_assert_eq(store_workflow_put(s, "wf", "a.yaml", "name: wf\n# v2\n", 30, h3, &created), 0);
  cr_assert(created);
  cr_assert_str_neq(h1, h3);
  char expect[65];
  sha256_hex("name: wf\n", 9, expect);
  cr_assert_str_eq(h1, expect);
  struct store_workflow w;
  cr_assert_eq(store_workflow_get(s, h1, &w), 0);
  cr_assert_str_eq(w.source, "name: wf\n");
  cr_assert_str_eq(w.path, "a.yaml");
  cr_assert_eq(w.created_at, 10);
  store_workflow_clear(&w);
  cr_assert_eq(store_workflow_get(s, "nope", &w), WEFT_ENOTFOUND);
  store_close(s);
}

Test(store, step_round_trip)
{
  struct store *s = open_store();
  struct store_step x = {
    .run_id = "01R",
    .step = "train",
    .index = STORE_NO_INDEX,
    .status = "running",
    .attempts = 2,
    .has_exit_code = true,
    .exit_code = 0,
    .error = "{\"kind\":\"exit_code\"}",
    .outputs = "{\"model\":\"m.bin\"}",
    .started_at = 100,
    .finished_at = 200,
    .iteration = 3,
    .pid = 1234,
    .pgid = 1234,
  };
  cr_assert_eq(store_step_put(s, &x), 0);
  struct store_step g;
  cr_assert_eq(store_step_get(s, "01R", "train", STORE_NO_INDEX, &g), 0);
  cr_assert_str_eq(g.run_id, "01R");
  cr_assert_str_eq(g.step, "train");
  cr_assert_eq(g.index, -1);
  cr_assert_str_eq(g.status, "running");
  cr_assert_eq(g.attempts, 2);
  cr_assert(g.has_exit_code);
  cr_assert_eq(g.exit_code, 0);
  cr_assert_str_eq(g.error, x.error);
  cr_assert_str_eq(g.outputs, x.outputs);
  cr_assert_eq(g.started_at, 100);
  cr_assert_eq(g.finished_at, 200);
  cr_assert_eq(g.iteration, 3);
  cr_assert_eq(g.pid, 1234);
  cr_assert_eq(g.pgid, 1234);
  store_step_clear(&g);

  x.status = "succeeded";
  x.has_exit_code = false;
  x.pid = x.pgid = 0;
  cr_assert_eq(store_step_put(s, &x), 0);
  cr_assert_eq(store_step_get(s, "01R", "train", STORE_NO_INDEX, &g), 0);
  cr_assert_str_eq(g.status, "succeeded");
  cr_assert_not(g.has_exit_code);
  cr_assert_eq(g.pid, 0);
  store_step_clear(&g);
  cr_assert_eq(store_step_get(s, "01R", "train", 0, &g), WEFT_ENOTFOUND);
  store_close(s);
}

Test(store, step_list_orders_by_step_and_index)
{
  struct store *s = open_store();
  struct store_step v[] = {
    {.run_id = "01R", .step = "b", .index = 10, .status = "pending"},
    {.run_id = "01R", .step = "b", .index = 2, .status = "pending"},
    {.run_id = "01R", .step = "a", .index = -1, .status = "succeeded"},
    {.run_id = "01Q", .step = "a", .index = -1, .status = "succeeded"},
  };
  cr_assert_eq(store_step_put_many(s, v, 4), 0);
  struct store_step *out;
  size_t n;
  cr_assert_eq(store_step_list(s, "01R", NULL, &out, &n), 0);
  cr_assert_eq(n, 3);
  cr_assert_str_eq(out[0].step, "a");
  cr_assert_eq(out[1].index, 2);
  cr_assert_eq(out[2].index, 10);
  store_steps_free(out, n);
  cr_assert_eq(store_step_list(s, "01R", "b", &out, &n), 0);
  cr_assert_eq(n, 2);
  cr_assert_eq(out[0].index, 2);
  store_steps_free(out, n);
  store_close(s);
}

Test(store, attempt_round_trip_ordered_by_number)
{
  struct store *s = open_store();
  struct store_attempt a2 = {.run_id = "01R", .step = "s", .index = 3, .attempt = 2,
                             .status = "running", .started_at = 50, .log_path = "logs/2.log"};
  struct store_attempt a1 = {.run_id = "01R", .step = "s", .index = 3, .attempt = 1,
                             .status = "failed", .has_exit_code = true, .exit_code = 7,
                             .error = "{\"kind\":\"exit_code\"}", .started_at = 10,
                             .finished_at = 20, .log_path = "logs/1.log"};
  cr_assert_eq(store_attempt_put(s, &a2), 0);
  cr_assert_eq(store_attempt_put(s, &a1), 0);
  a2.status = "succeeded";
  a2.has_exit_code = true;
  a2.finished_at = 60;
  cr_assert_eq(store_attempt_put(s, &a2), 0);
  struct store_attempt *v;
  size_t n;
  cr_assert_eq(store_attempt_list(s, "01R", "s", 3, &v, &n), 0);
  cr_assert_eq(n, 2);
  cr_assert_eq(v[0].attempt, 1);
  cr_assert_str_eq(v[0].status, "failed");
  cr_assert(v[0].has_exit_code);
  cr_assert_eq(v[0].exit_code, 7);
  cr_assert_str_eq(v[0].error, "{\"kind\":\"exit_code\"}");
  cr_assert_eq(v[0].finished_at, 20);
  cr_assert_str_eq(v[0].log_path, "logs/1.log");
  cr_assert_eq(v[1].attempt, 2);
  cr_assert_str_eq(v[1].status, "succeeded");
  cr_assert_eq(v[1].exit_code, 0);
  cr_assert_eq(v[1].finished_at, 60);
  store_attempts_free(v, n);
  cr_assert_eq(store_attempt_list(s, "01R", "s", -1, &v, &n), 0);
  cr_assert_eq(n, 0);
  store_attempts_free(v, n);
  store_close(s);
}

Test(store, decision_round_trip)
{
  struct store *s = open_store();
  struct store_decision d = {.run_id = "01R", .step = "gate", .index = -1, .user = "bob",
                             .decision = "approve", .comment = "ok", .fields = "{\"n\":1}",
                             .at = 99};
  int64_t id1, id2;
  cr_assert_eq(store_decision_put(s, &d, &id1), 0);
  d.user = "mallory";
  d.decision = "refused";
  d.comment = NULL;
  cr_assert_eq(store_decision_put(s, &d, &id2), 0);
  cr_assert_gt(id2, id1);
  struct store_decision *v;
  size_t n;
  cr_assert_eq(store_decision_list(s, "01R", "gate", -1, &v, &n), 0);
  cr_assert_eq(n, 2);
  cr_assert_str_eq(v[0].user, "bob");
  cr_assert_str_eq(v[0].decision, "approve");
  cr_assert_str_eq(v[0].comment, "ok");
  cr_assert_str_eq(v[0].fields, "{\"n\":1}");
  cr_assert_eq(v[0].at, 99);
  cr_assert_str_eq(v[1].decision, "refused");
  cr_assert_null(v[1].comment);
  store_decisions_free(v, n);
  cr_assert_eq(store_decision_list(s, "01R", NULL, 0, &v, &n), 0);
  cr_assert_eq(n, 2);
  store_decisions_free(v, n);
  store_close(s);
}

Test(store, inbox_take_once_across_two_handles)
{
  struct store *a = open_store(), *b = open_store();
  struct store_inbox m = {.kind = "cancel", .run_id = "01R", .index = -1, .user = "alice",
                          .created_at = 5};
  int64_t id;
  cr_assert_eq(store_inbox_post(b, &m, &id), 0);
  m.kind = "approve";
  m.step = "gate";
  m.payload = "{\"comment\":\"go\"}";
  cr_assert_eq(store_inbox_post(b, &m, NULL), 0);
  const char *runs[] = {"01R"};
  struct store_inbox *v;
  size_t n;
  cr_assert_eq(store_inbox_take(a, runs, 1, false, 10, &v, &n), 0);
  cr_assert_eq(n, 2);
  cr_assert_eq(v[0].id, id);
  cr_assert_str_eq(v[0].kind, "cancel");
  cr_assert_str_eq(v[0].user, "alice");
  cr_assert_eq(v[0].taken_at, 10);
  cr_assert_str_eq(v[1].kind, "approve");
  cr_assert_str_eq(v[1].step, "gate");
  cr_assert_str_eq(v[1].payload, "{\"comment\":\"go\"}");
  store_inbox_free(v, n);
  cr_assert_eq(store_inbox_take(b, runs, 1, false, 11, &v, &n), 0);
  cr_assert_eq(n, 0, "taken twice");
  cr_assert_eq(store_inbox_take(a, runs, 1, false, 11, &v, &n), 0);
  cr_assert_eq(n, 0, "taken twice");
  store_close(a);
  store_close(b);
}

Test(store, inbox_take_only_given_runs_and_events_on_request)
{
  struct store *s = open_store();
  struct store_inbox m1 = {.kind = "cancel", .run_id = "01A", .index = -1, .created_at = 1};
  struct store_inbox m2 = {.kind = "cancel", .run_id = "01B", .index = -1, .created_at = 2};
  struct store_inbox ev = {.kind = "event", .index = -1, .payload = "{\"name\":\"ready\"}",
                           .created_at = 3};
  cr_assert_eq(store_inbox_post(s, &m1, NULL), 0);
  cr_assert_eq(store_inbox_post(s, &m2, NULL), 0);
  cr_assert_eq(store_inbox_post(s, &ev, NULL), 0);
  const char *runs[] = {"01B", "01C"};
  struct store_inbox *v;
  size_t n;
  cr_assert_eq(store_inbox_take(s, runs, 2, false, 9, &v, &n), 0);
  cr_assert_eq(n, 1);
  cr_assert_str_eq(v[0].run_id, "01B");
  store_inbox_free(v, n);
  /* the event waits (no engine wanted events yet) until someone takes events */
  store_close(s);
  s = open_store();
  cr_assert_eq(store_inbox_take(s, NULL, 0, true, 9, &v, &n), 0);
  cr_assert_eq(n, 1);
  cr_assert_str_eq(v[0].kind, "event");
  cr_assert_null(v[0].run_id);
  store_inbox_free(v, n);
  cr_assert_eq(store_inbox_take(s, NULL, 0, true, 9, &v, &n), 0);
  cr_assert_eq(n, 0);
  store_close(s);
}

Test(store, event_list_by_cursor_sees_taken_and_pending_events)
{
  struct store *s = open_store();
  struct store_inbox e1 = {.kind = "event", .name = "ready", .index = -1, .payload = "{\"n\":1}",
                           .created_at = 1};
  struct store_inbox e2 = {.kind = "event", .name = "other", .index = -1, .created_at = 2};
  struct store_inbox c = {.kind = "cancel", .run_id = "01A", .index = -1, .created_at = 3};
  int64_t id1, id2;
  cr_assert_eq(store_inbox_post(s, &e1, &id1), 0);
  cr_assert_eq(store_inbox_post(s, &c, NULL), 0);
  cr_assert_eq(store_inbox_post(s, &e2, &id2), 0);
  struct store_inbox *v;
  size_t n;
  cr_assert_eq(store_inbox_take(s, NULL, 0, true, 5, &v, &n), 0); /* someone took them */
  cr_assert_eq(n, 2);
  store_inbox_free(v, n);
  cr_assert_eq(store_event_list(s, 0, 0, &v, &n), 0);
  cr_assert_eq(n, 2);
  cr_assert_eq(v[0].id, id1);
  cr_assert_str_eq(v[0].name, "ready");
  cr_assert_str_eq(v[0].payload, "{\"n\":1}");
  cr_assert_str_eq(v[1].name, "other");
  store_inbox_free(v, n);
  cr_assert_eq(store_event_list(s, id1, 0, &v, &n), 0);
  cr_assert_eq(n, 1);
  cr_assert_eq(v[0].id, id2);
  store_inbox_free(v, n);
  cr_assert_eq(store_event_list(s, 0, 1, &v, &n), 0);
  cr_assert_eq(n, 1);
  store_inbox_free(v, n);
  store_close(s);
}

Test(store, waiting_steps_of_all_runs)
{
  struct store *s = open_store();
  struct store_step v[] = {
    {.run_id = "01B", .step = "gate", .index = -1, .status = "waiting"},
    {.run_id = "01A", .step = "wait", .index = 3, .status = "waiting"},
    {.run_id = "01A", .step = "work", .index = -1, .status = "running"},
  };
  cr_assert_eq(store_step_put_many(s, v, 3), 0);
  struct store_step *out;
  size_t n;
  cr_assert_eq(store_step_list_waiting(s, &out, &n), 0);
  cr_assert_eq(n, 2);
  cr_assert_str_eq(out[0].run_id, "01A");
  cr_assert_eq(out[0].index, 3);
  cr_assert_str_eq(out[1].step, "gate");
  store_steps_free(out, n);
  v[0].status = "succeeded";
  cr_assert_eq(store_step_put(s, &v[0]), 0);
  cr_assert_eq(store_step_list_waiting(s, &out, &n), 0);
  cr_assert_eq(n, 1);
  store_steps_free(out, n);
  store_close(s);
}

Test(store, inbox_take_inside_transaction_is_undone_by_rollback)
{
  struct store *s = open_store();
  struct store_inbox m = {.kind = "cancel", .run_id = "01A", .index = -1, .created_at = 1};
  cr_assert_eq(store_inbox_post(s, &m, NULL), 0);
  const char *runs[] = {"01A"};
  struct store_inbox *v;
  size_t n;
  cr_assert_eq(store_begin(s), 0);
  cr_assert_eq(store_inbox_take(s, runs, 1, false, 9, &v, &n), 0);
  cr_assert_eq(n, 1);
  store_inbox_free(v, n);
  cr_assert_eq(store_rollback(s), 0);
  cr_assert_eq(store_inbox_take(s, runs, 1, false, 9, &v, &n), 0);
  cr_assert_eq(n, 1);
  store_inbox_free(v, n);
  store_close(s);
}

Test(store, rollback_discards_puts)
{
  struct store *s = open_store();
  struct store_run r = mk_run("01RB", "wf", "running");
  cr_assert_eq(store_begin(s), 0);
  cr_assert(store_in_tx(s));
  cr_assert_eq(store_run_put(s, &r), 0);
  cr_assert_eq(store_rollback(s), 0);
  cr_assert_not(store_in_tx(s));
  struct store_run g;
  cr_assert_eq(store_run_get(s, r.id, &g), WEFT_ENOTFOUND);
  store_close(s);
}

Test(store, nested_begin_and_stray_commit_are_state_errors)
{
  struct store *s = open_store();
  cr_assert_eq(store_commit(s), WEFT_ESTATE);
  cr_assert_eq(store_begin(s), 0);
  cr_assert_eq(store_begin(s), WEFT_ESTATE);
  cr_assert_eq(store_commit(s), 0);
  store_close(s);
}

Test(store, group_commit_of_10000_rows_in_one_transaction)
{
  struct store *s = open_store(), *other = open_store();
  enum { N = 10000 };
  char step[32];
  cr_assert_eq(store_begin(s), 0);
  for (int i = 0; i < N; i++) {
    snprintf(step, sizeof step, "s%d", i % 10);
    struct store_step x = {.run_id = "01G", .step = step, .index = i / 10, .status = "pending"};
    cr_assert_eq(store_step_put(s, &x), 0);
  }
  struct store_step *v;
  size_t n;
  /* not visible to another handle before the commit */
  cr_assert_eq(store_step_list(other, "01G", NULL, &v, &n), 0);
  cr_assert_eq(n, 0);
  store_steps_free(v, n);
  cr_assert_eq(store_commit(s), 0);
  cr_assert_eq(store_step_list(other, "01G", NULL, &v, &n), 0);
  cr_assert_eq(n, N);
  cr_assert_str_eq(v[0].step, "s0");
  cr_assert_eq(v[0].index, 0);
  cr_assert_str_eq(v[N - 1].step, "s9");
  cr_assert_eq(v[N - 1].index, N / 10 - 1);
  store_steps_free(v, n);
  store_close(s);
  store_close(other);
}

Test(store, step_put_many_outside_transaction_commits_all_batches)
{
  struct store *s = open_store();
  enum { N = 2500 };
  struct store_step *v = calloc(N, sizeof *v);
  for (int i = 0; i < N; i++)
    v[i] = (struct store_step){.run_id = "01F", .step = "each", .index = i, .status = "pending"};
  cr_assert_eq(store_step_put_many(s, v, N), 0);
  cr_assert_not(store_in_tx(s));
  for (int i = 0; i < N; i++)
    v[i].status = "succeeded";
  cr_assert_eq(store_step_put_many(s, v, N), 0);
  free(v);
  struct store_step *out;
  size_t n;
  cr_assert_eq(store_step_list(s, "01F", "each", &out, &n), 0);
  cr_assert_eq(n, N);
  for (size_t i = 0; i < n; i++) {
    cr_assert_eq(out[i].index, (int)i);
    cr_assert_str_eq(out[i].status, "succeeded");
  }
  store_steps_free(out, n);
  store_close(s);
}

/* Each writer process: many small transactions, each a run upsert, a step
 * upsert, an inbox post and an audit entry, plus reads in between. Exit
 * status = number of failed calls (0 expected). */
static int writer(int who, int rounds)
{
  struct store *s = NULL;
  char *err = NULL;
  if (store_open(home, &s, &err)) {
    fprintf(stderr, "open: %s\n", err);
    return 100;
  }
  int fails = 0;
  char id[32], step[32];
  for (int i = 0; i < rounds; i++) {
    snprintf(id, sizeof id, "01W%d%05d", who, i);
    snprintf(step, sizeof step, "s%d", i);
    /* queued and pending: rows that need no entry but run.created, so the
     * store agrees with its log at the end */
    struct store_run r = mk_run(id, "wf", "queued");
    struct store_step x = {.run_id = id, .step = step, .index = -1, .status = "pending"};
    struct store_inbox m = {.kind = "cancel", .run_id = id, .index = -1, .created_at = i};
    int rc = store_begin(s);
    rc = rc ? rc : store_run_put(s, &r);
    rc = rc ? rc : store_step_put(s, &x);
    rc = rc ? rc : store_audit_append(s, i, id, "run.created", "{}", NULL);
    rc = rc ? rc : store_commit(s);
    if (rc) {
      fprintf(stderr, "writer %d: %s\n", who, store_errmsg(s));
      fails++;
      if (store_in_tx(s))
        store_rollback(s);
    }
    /* autocommit writes and reads too */
    if (store_inbox_post(s, &m, NULL))
      fails++;
    struct store_run g;
    if (store_run_get(s, id, &g))
      fails++;
    else
      store_run_clear(&g);
  }
  store_close(s);
  return fails > 99 ? 99 : fails;
}

Test(store, concurrent_writers_in_two_processes_never_see_busy)
{
  /* create the db first so both children race on writes, not creation */
  struct store *s = open_store();
  store_close(s);
  enum { ROUNDS = 300 };
  pid_t kids[2];
  for (int k = 0; k < 2; k++) {
    kids[k] = fork();
    cr_assert_geq(kids[k], 0);
    if (kids[k] == 0)
      _exit(writer(k, ROUNDS));
  }
  for (int k = 0; k < 2; k++) {
    int st;
    cr_assert_eq(waitpid(kids[k], &st, 0), kids[k]);
    cr_assert(WIFEXITED(st), "writer %d crashed", k);
    cr_assert_eq(WEXITSTATUS(st), 0, "writer %d had %d failed calls", k, WEXITSTATUS(st));
  }
  s = open_store();
  struct store_run *v;
  size_t n;
  cr_assert_eq(store_run_list(s, NULL, &v, &n), 0);
  cr_assert_eq(n, 2 * ROUNDS);
  store_runs_free(v, n);
  int64_t bad;
  char *msg = NULL;
  cr_assert_eq(audit_verify(s, &bad, &msg), 0, "%s", msg ? msg : "");
  free(msg);
  store_close(s);
}

Test(store, writer_outlasts_a_lock_held_longer_than_busy_timeout)
{
  SQLITE_ONLY();
  struct store *s = open_store(); /* creates the db; closed so the child inherits nothing */
  store_close(s);
  int fds[2];
  cr_assert_eq(pipe(fds), 0);
  pid_t kid = fork();
  cr_assert_geq(kid, 0);
  if (kid == 0) {
    /* another process holds the write lock for 2.5 s (busy_timeout is 2 s) */
    char path[300];
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/weft.db", home);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
      _exit(1);
    if (write(fds[1], "x", 1) != 1)
      _exit(2);
    usleep(2500 * 1000);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    _exit(0);
  }
  char c;
  cr_assert_eq(read(fds[0], &c, 1), 1);
  s = open_store();
  struct store_run r = mk_run("01LATE", "wf", "running");
  cr_assert_eq(store_run_put(s, &r), 0, "%s", store_errmsg(s));
  int st;
  waitpid(kid, &st, 0);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  close(fds[0]);
  close(fds[1]);
  store_close(s);
}

Test(store, concurrent_open_of_a_new_home_by_two_processes)
{
  pid_t kids[2];
  for (int k = 0; k < 2; k++) {
    kids[k] = fork();
    cr_assert_geq(kids[k], 0);
    if (kids[k] == 0)
      _exit(writer(k, 20));
  }
  for (int k = 0; k < 2; k++) {
    int st;
    cr_assert_eq(waitpid(kids[k], &st, 0), kids[k]);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %d failed", k);
  }
}

Test(store, fault_wrapper_fails_chosen_writes_and_passes_reads)
{
  struct store *s;
  cr_assert_eq(store_fault_wrap(open_store(), &s), 0);
  struct store_run a = mk_run("01F1", "wf", "running");
  struct store_run b = mk_run("01F2", "wf", "running");
  store_fault_set(s, 1, 1, WEFT_EIO); /* the 2nd write fails, then all pass */
  cr_assert_eq(store_run_put(s, &a), 0);
  cr_assert_eq(store_run_put(s, &b), WEFT_EIO);
  cr_assert_str_eq(store_errmsg(s), "store: injected fault");
  cr_assert_eq(store_run_put(s, &b), 0);
  cr_assert_eq(store_fault_writes(s), 3);
  struct store_run g;
  cr_assert_eq(store_run_get(s, "01F2", &g), 0);
  store_run_clear(&g);
  store_close(s);
}

Test(store, fault_on_commit_leaves_nothing_behind)
{
  struct store *s;
  cr_assert_eq(store_fault_wrap(open_store(), &s), 0);
  struct store_run a = mk_run("01F1", "wf", "running");
  store_fault_set(s, 3, 1, WEFT_EIO); /* begin, put, audit pass; commit fails */
  cr_assert_eq(store_begin(s), 0);
  cr_assert_eq(store_run_put(s, &a), 0);
  cr_assert_eq(store_audit_append(s, 1, a.id, "run.created", "{}", NULL), 0);
  cr_assert_eq(store_commit(s), WEFT_EIO);
  cr_assert_not(store_in_tx(s));
  struct store_run g;
  cr_assert_eq(store_run_get(s, a.id, &g), WEFT_ENOTFOUND);
  int64_t bad;
  cr_assert_eq(audit_verify(s, &bad, NULL), 0);
  store_close(s);
}

Test(store, put_after_transaction_lost_underneath_fails_instead_of_autocommitting)
{
  SQLITE_ONLY();
  struct store *s = open_store();
  struct store_run a = mk_run("01LOST", "wf", "running");
  cr_assert_eq(store_begin(s), 0);
  /* what SQLite does by itself after SQLITE_FULL / IOERR / NOMEM */
  cr_assert_eq(sqlite3_exec(sq_of(s)->db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
  cr_assert_eq(store_run_put(s, &a), WEFT_ESTORE);
  cr_assert_not_null(strstr(store_errmsg(s), "rolled back"));
  cr_assert_eq(store_rollback(s), 0);
  struct store_run g;
  cr_assert_eq(store_run_get(s, a.id, &g), WEFT_ENOTFOUND);
  cr_assert_eq(store_run_put(s, &a), 0);
  store_close(s);
}
