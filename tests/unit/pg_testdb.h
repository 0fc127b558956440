/* pg_testdb.h — lets a store unit test run on PostgreSQL too.
 *
 * When $WEFT_TEST_PG_ADMIN names a PostgreSQL server (a libpq URL of its
 * admin database; tests/cli/pg_run.py starts a throwaway cluster and sets
 * it), pg_testdb_use() creates a fresh database for the calling test and
 * points $WEFT_STORE at it, so store_open() opens PostgreSQL. Without it,
 * nothing changes (the SQLite file in the test's home). SQLITE_ONLY() skips
 * a test that is about the SQLite file itself. */
#ifndef WEFT_TESTS_PG_TESTDB_H
#define WEFT_TESTS_PG_TESTDB_H

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void pg_testdb_use(void)
{
  static int n;
  const char *admin = getenv("WEFT_TEST_PG_ADMIN");
  unsetenv("WEFT_STORE");
  if (!admin || !*admin)
    return;
  char name[64], sql[128], url[1024];
  snprintf(name, sizeof name, "u%ld_%d", (long)getpid(), ++n);
  PGconn *c = PQconnectdb(admin);
  cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
  snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE template0", name);
  PGresult *r = PQexec(c, sql);
  cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
  PQclear(r);
  PQfinish(c);
  /* the admin URL's database path replaced: postgresql://user@/postgres?host=... */
  const char *q = strchr(admin, '?');
  const char *slash = strstr(admin, "://");
  slash = slash ? strchr(slash + 3, '/') : NULL;
  cr_assert_not_null(slash, "WEFT_TEST_PG_ADMIN needs a database path: %s", admin);
  snprintf(url, sizeof url, "%.*s/%s%s", (int)(slash - admin), admin, name, q ? q : "");
  setenv("WEFT_STORE", url, 1);
}

#define SQLITE_ONLY()                                                           \
  do {                                                                          \
    if (getenv("WEFT_STORE"))                                                   \
      cr_skip_test("about the SQLite file itself (WEFT_TEST_PG_ADMIN is set)"); \
  } while (0)

#endif
