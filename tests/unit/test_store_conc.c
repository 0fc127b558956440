/* test_store_conc.c — the store's concurrency groups and notification
 * outbox (ops version 9, migration 12): what counts as active and as
 * waiting in a group, the order of a group's runs, and due notices by time
 * with their attempts. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "store/store.h"
#include "util/err.h"

static char home[256];

static void mk_home(void)
{
  snprintf(home, sizeof home, "/tmp/weft-test-conc-XXXXXX");
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

TestSuite(conc, .init = mk_home, .fini = rm_home);

static struct store *open_store(void)
{
  struct store *s = NULL;
  char *err = NULL;
  cr_assert_eq(store_open(home, &s, &err), 0, "store_open: %s", err ? err : "?");
  free(err);
  return s;
}

static void run(struct store *s, const char *id, const char *status, int owner, const char *group)
{
  struct store_run r = {.id = (char *)id, .workflow = "w", .status = (char *)status, .parent_index = -1,
                        .created_at = 1, .owner_pid = owner, .owner_start = owner ? 1 : 0};
  cr_assert_eq(store_run_put(s, &r), 0, "%s", store_errmsg(s));
  if (group)
    cr_assert_eq(store_run_group_set(s, id, group), 0);
}

Test(conc, active_and_waiting_are_counted_per_group)
{
  struct store *s = open_store();
  run(s, "01A", "running", 10, "w");
  run(s, "01B", "waiting", 10, "w");
  run(s, "01C", "queued", 10, "w");  /* taken by an engine: active */
  run(s, "01D", "queued", 0, "w");   /* waits for a slot */
  run(s, "01E", "queued", 0, "w");
  run(s, "01F", "succeeded", 0, "w"); /* ended: neither */
  run(s, "01G", "running", 10, "w:other");
  run(s, "01H", "running", 10, NULL);
  int64_t a = -1, w = -1;
  cr_assert_eq(store_group_count(s, "w", &a, &w), 0);
  cr_expect_eq(a, 3);
  cr_expect_eq(w, 2);
  cr_assert_eq(store_group_count(s, "w:other", &a, &w), 0);
  cr_expect_eq(a, 1);
  cr_expect_eq(w, 0);
  cr_assert_eq(store_group_count(s, "none", &a, &w), 0);
  cr_expect_eq(a + w, 0);
  char **ids = NULL;
  size_t n = 0;
  cr_assert_eq(store_group_runs(s, "w", true, 0, &ids, &n), 0);
  cr_assert_eq(n, 2);
  cr_expect_str_eq(ids[0], "01D"); /* oldest first */
  cr_expect_str_eq(ids[1], "01E");
  for (size_t i = 0; i < n; i++)
    free(ids[i]);
  free(ids);
  cr_assert_eq(store_group_runs(s, "w", false, 2, &ids, &n), 0);
  cr_assert_eq(n, 2);
  cr_expect_str_eq(ids[0], "01A");
  cr_expect_str_eq(ids[1], "01B");
  for (size_t i = 0; i < n; i++)
    free(ids[i]);
  free(ids);
  cr_expect_eq(store_run_group_set(s, "nope", "w"), WEFT_ENOTFOUND);
  store_close(s);
}

Test(conc, notices_come_due_by_time_and_keep_their_attempts)
{
  struct store *s = open_store();
  struct store_notice a = {.run_id = "01A", .workflow = "w", .event = "failed", .secret = "HOOK",
                           .body = "{\"text\":\"x\"}", .next_at = 200, .created_at = 1};
  struct store_notice b = a;
  b.next_at = 100;
  b.event = "succeeded";
  int64_t ia = 0, ib = 0;
  cr_assert_eq(store_notice_put(s, &a, &ia), 0);
  cr_assert_eq(store_notice_put(s, &b, &ib), 0);
  struct store_notice *v = NULL;
  size_t n = 0;
  int64_t next = 0;
  cr_assert_eq(store_notice_due(s, 150, 0, &v, &n, &next), 0);
  cr_assert_eq(n, 1);
  cr_expect_str_eq(v[0].event, "succeeded");
  cr_expect_str_eq(v[0].status, "pending");
  cr_expect_eq(next, 100);
  store_notices_free(v, n);
  cr_assert_eq(store_notice_update(s, ib, "pending", 1, 500, "the receiver answered HTTP 500"), 0);
  cr_assert_eq(store_notice_due(s, 300, 0, &v, &n, &next), 0);
  cr_assert_eq(n, 1);
  cr_expect_eq(v[0].id, ia);
  cr_expect_eq(next, 200);
  store_notices_free(v, n);
  cr_assert_eq(store_notice_update(s, ia, "delivered", 1, 300, NULL), 0);
  cr_assert_eq(store_notice_due(s, 1000, 0, &v, &n, &next), 0);
  cr_assert_eq(n, 1);
  cr_expect_eq(v[0].attempts, 1);
  cr_expect_str_eq(v[0].error, "the receiver answered HTTP 500");
  store_notices_free(v, n);
  cr_assert_eq(store_notice_update(s, ib, "failed", 8, 1000, "x"), 0);
  cr_assert_eq(store_notice_due(s, INT64_MAX, 0, &v, &n, &next), 0);
  cr_expect_eq(n, 0);
  cr_expect_eq(next, INT64_MAX);
  cr_expect_eq(store_notice_update(s, 999, "failed", 1, 1, NULL), WEFT_ENOTFOUND);
  store_close(s);
}

Test(conc, notify_backoff_doubles_to_its_cap_and_events_are_named)
{
  cr_expect_eq(ops_notify_backoff_ms(1), 500);
  cr_expect_eq(ops_notify_backoff_ms(2), 1000);
  cr_expect_eq(ops_notify_backoff_ms(3), 2000);
  cr_expect_eq(ops_notify_backoff_ms(30), NOTIFY_BACKOFF_MAX_MS);
  cr_expect_str_eq(ops_notify_event(true, 0, NULL), "succeeded");
  cr_expect_str_eq(ops_notify_event(true, 1, "exit_code"), "failed");
  cr_expect_str_eq(ops_notify_event(true, 1, "timeout"), "timed_out");
  cr_expect_str_eq(ops_notify_event(true, 2, "cancelled"), "cancelled");
  cr_expect_str_eq(ops_notify_event(false, 0, NULL), "approval_waiting");
}
