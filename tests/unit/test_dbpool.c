/* test_dbpool.c — the HTTP threads' store connections (src/server/dbpool.c):
 * opened lazily, one per concurrent taker, reused once given back, a taker
 * beyond DBPOOL_MAX waits for one to come back, and nothing after close. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/dbpool.h"

static char home[64];

static void make_home(void)
{
  strcpy(home, "/tmp/weft-dbpool-XXXXXX");
  cr_assert_not_null(mkdtemp(home));
}

Test(dbpool, lazy_distinct_and_reused)
{
  make_home();
  struct dbpool p;
  dbpool_init(&p, home);
  cr_assert_eq(p.opens, 0, "nothing is opened before it is needed");
  struct store *a = dbpool_get(&p, NULL), *b = dbpool_get(&p, NULL);
  cr_assert(a && b && a != b, "two takers at once get two connections");
  cr_assert_eq(p.opens, 2);
  dbpool_put(&p, a);
  struct store *c = dbpool_get(&p, NULL);
  cr_assert_eq(c, a, "a connection given back is reused");
  cr_assert_eq(p.opens, 2);
  dbpool_put(&p, b);
  dbpool_put(&p, c);
  dbpool_close(&p);
}

struct taker {
  struct dbpool *p;
  struct store *got;
};

static void *take(void *arg)
{
  struct taker *t = arg;
  t->got = dbpool_get(t->p, NULL);
  return NULL;
}

Test(dbpool, a_taker_beyond_the_maximum_waits)
{
  make_home();
  struct dbpool p;
  dbpool_init(&p, home);
  struct store *all[DBPOOL_MAX];
  for (int i = 0; i < DBPOOL_MAX; i++)
    cr_assert_not_null(all[i] = dbpool_get(&p, NULL));
  struct taker t = {&p, NULL};
  pthread_t th;
  pthread_create(&th, NULL, take, &t);
  dbpool_put(&p, all[3]); /* the waiter gets this one, whenever it got to wait */
  pthread_join(th, NULL);
  cr_assert_eq(t.got, all[3]);
  cr_assert_eq(p.opens, DBPOOL_MAX, "never more than DBPOOL_MAX connections");
  all[3] = t.got;
  for (int i = 0; i < DBPOOL_MAX; i++)
    dbpool_put(&p, all[i]);
  dbpool_close(&p);
}

Test(dbpool, closed_pool_answers_null_with_a_reason)
{
  make_home();
  struct dbpool p;
  dbpool_init(&p, home);
  dbpool_put(&p, dbpool_get(&p, NULL));
  p.closed = true; /* as dbpool_close leaves it, without destroying the lock under the test */
  char *err = NULL;
  cr_assert_null(dbpool_get(&p, &err));
  cr_assert_not_null(err);
  free(err);
  p.closed = false;
  dbpool_close(&p);
}
