/* test_store_ctl.c — the store's kept events and mutexes (migration 10,
 * store/sqlite_runevents.c): a kept event is listed until claimed, claimed
 * once across two handles, and found again by its claimer; a mutex has one
 * holder, is freed only by its holder's (run, step, index), and stolen only
 * from the named process. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "util/err.h"

static char home[256];

static void mk_home(void)
{
  snprintf(home, sizeof home, "/tmp/weft-test-storectl-XXXXXX");
  cr_assert_not_null(mkdtemp(home));
}

static void rm_home(void)
{
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(store_ctl, .init = mk_home, .fini = rm_home);

static struct store *open_store(void)
{
  struct store *s = NULL;
  char *err = NULL;
  cr_assert_eq(store_open(home, &s, &err), 0, "store_open: %s", err ? err : "?");
  free(err);
  return s;
}

static void put_event(struct store *s, const char *run, const char *name, const char *payload)
{
  struct store_inbox m = {.kind = "event", .run_id = (char *)run, .name = (char *)name,
                          .payload = (char *)payload, .index = STORE_NO_INDEX, .created_at = 5};
  int64_t id = 0;
  cr_assert_eq(store_run_event_put(s, &m, &id), 0);
  cr_assert_gt(id, 0);
}

Test(store_ctl, kept_events_are_listed_in_order_and_claimed_once)
{
  struct store *a = open_store(), *b = open_store();
  put_event(a, "R1", "paid", "{\"n\":1}");
  put_event(a, "R1", "paid", "{\"n\":2}");
  put_event(a, "R1", "other", "{}");
  put_event(a, "R2", "paid", "{}");
  struct store_inbox *v = NULL;
  size_t n = 0;
  cr_assert_eq(store_run_event_pending(a, "R1", "paid", 0, 0, &v, &n), 0);
  cr_assert_eq(n, 2);
  int64_t second = v[1].id;
  cr_assert_str_eq(v[0].payload, "{\"n\":1}");
  int64_t first = v[0].id;
  store_inbox_free(v, n);
  bool won = false;
  cr_assert_eq(store_run_event_claim(a, first, "w#1", 9, &won), 0);
  cr_assert(won);
  cr_assert_eq(store_run_event_claim(b, first, "x#1", 9, &won), 0);
  cr_assert(!won, "a second claimer must lose");
  cr_assert_eq(store_run_event_pending(b, "R1", "paid", 0, 0, &v, &n), 0);
  cr_assert_eq(n, 1);
  cr_assert_str_eq(v[0].payload, "{\"n\":2}");
  store_inbox_free(v, n);
  cr_assert_eq(store_run_event_pending(b, "R1", "paid", second, 0, &v, &n), 0); /* pages by id */
  cr_assert_eq(n, 0);
  struct store_inbox m = {0};
  bool found = false;
  cr_assert_eq(store_run_event_claimed(b, "R1", "w#1", &m, &found), 0);
  cr_assert(found);
  cr_assert_eq(m.id, first);
  cr_assert_str_eq(m.step, "w#1");
  store_inbox_clear(&m);
  cr_assert_eq(store_run_event_claimed(b, "R1", "x#1", &m, &found), 0);
  cr_assert(!found);
  store_close(a);
  store_close(b);
}

Test(store_ctl, a_mutex_has_one_holder)
{
  struct store *a = open_store(), *b = open_store();
  struct store_mutex m1 = {.name = "global/prod", .run_id = "R1", .step = "s", .index = -1, .attempt = 1,
                           .pid = 11, .pstart = 111, .acquired_at = 1};
  struct store_mutex m2 = {.name = "global/prod", .run_id = "R2", .step = "t", .index = 3, .attempt = 1,
                           .pid = 22, .pstart = 222, .acquired_at = 2};
  struct store_mutex h = {0};
  bool got = false;
  cr_assert_eq(store_mutex_take(a, &m1, &got, &h), 0);
  cr_assert(got);
  cr_assert_eq(store_mutex_take(b, &m2, &got, &h), 0);
  cr_assert(!got);
  cr_assert_str_eq(h.run_id, "R1");
  cr_assert_eq(h.pid, 11);
  cr_assert_eq(h.pstart, 111);
  store_mutex_clear(&h);
  /* only the holder frees it; only the holder's process is stolen from */
  cr_assert_eq(store_mutex_free(b, "global/prod", "R2", "t", 3), 0);
  cr_assert_eq(store_mutex_steal(b, "global/prod", 11, 999), 0);
  cr_assert_eq(store_mutex_take(b, &m2, &got, &h), 0);
  cr_assert(!got);
  store_mutex_clear(&h);
  cr_assert_eq(store_mutex_steal(b, "global/prod", 11, 111), 0);
  cr_assert_eq(store_mutex_take(b, &m2, &got, &h), 0);
  cr_assert(got);
  cr_assert_eq(store_mutex_free(a, "global/prod", "R2", "t", 3), 0);
  cr_assert_eq(store_mutex_take(a, &m1, &got, &h), 0);
  cr_assert(got);
  store_close(a);
  store_close(b);
}
