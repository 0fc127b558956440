/* test_triggers.c — sched: the schedule planner (catch_up after downtime,
 * on-time fires, the newest-cap rule, long walks), overlap decisions,
 * backfill windows and bounds, run keys, the `.trigger` object, webhook
 * signatures (GitHub's published test vector) and delivery keys. */
#include <criterion/criterion.h>
#include <string.h>

#include "sched/cron.h"
#include "sched/plan.h"
#include "sched/trigger.h"
#include "sched/tz.h"
#include "util/err.h"

static int64_t utc(int y, unsigned mo, unsigned d, int h, int mi)
{
  return tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static struct cron parse(const char *expr)
{
  struct cron c;
  char err[256];
  cr_assert_eq(cron_parse(expr, &c, err, sizeof err), 0, "%s: %s", expr, err);
  return c;
}

struct plan {
  int64_t t[200];
  size_t n;
  uint64_t dropped;
  int64_t next;
};

static struct plan plan(const char *expr, int64_t due, int64_t up_since, int64_t now, enum sched_catch_up cu,
                        size_t cap)
{
  struct cron c = parse(expr);
  struct plan p;
  memset(&p, 0, sizeof p);
  cr_assert_eq(sched_plan(&c, NULL, due, up_since, now, cu, p.t, cap, &p.n, &p.dropped, &p.next), 0);
  return p;
}

Test(plan, nothing_due_fires_nothing_and_keeps_the_next_time)
{
  int64_t due = utc(2026, 1, 1, 3, 0);
  struct plan p = plan("0 3 * * *", due, due - 100, due - 1, SCHED_CATCH_UP_ALL, 10);
  cr_assert_eq(p.n, 0);
  cr_assert_eq(p.dropped, 0);
  cr_assert_eq(p.next, due);
}

Test(plan, an_on_time_fire_fires_once_and_advances)
{
  int64_t due = utc(2026, 1, 1, 3, 0);
  for (int cu = 0; cu < 3; cu++) { /* catch_up does not matter while the server is up */
    struct plan p = plan("0 3 * * *", due, due - 3600, due + 2, (enum sched_catch_up)cu, 10);
    cr_assert_eq(p.n, 1, "catch_up %s", sched_catch_up_name((enum sched_catch_up)cu));
    cr_assert_eq(p.t[0], due);
    cr_assert_eq(p.next, utc(2026, 1, 2, 3, 0));
    cr_assert_eq(p.dropped, 0);
  }
}

Test(plan, a_late_loop_fires_every_time_that_came_due_while_up)
{
  /* the server was up since 02:00; the loop woke only at 03:05:30 */
  int64_t up = utc(2026, 1, 1, 2, 0);
  struct plan p = plan("* * * * *", utc(2026, 1, 1, 3, 0), up, utc(2026, 1, 1, 3, 5) + 30, SCHED_CATCH_UP_NONE, 10);
  cr_assert_eq(p.n, 6);
  for (size_t i = 0; i < 6; i++)
    cr_assert_eq(p.t[i], utc(2026, 1, 1, 3, (int)i));
  cr_assert_eq(p.next, utc(2026, 1, 1, 3, 6));
}

/* the server was down from 00:00 to 05:00:30 on 2026-01-01 under an hourly schedule:
 * 01:00 .. 05:00 were missed */
Test(plan, catch_up_none_drops_every_missed_time)
{
  int64_t up = utc(2026, 1, 1, 5, 0) + 30;
  struct plan p = plan("0 * * * *", utc(2026, 1, 1, 1, 0), up, up, SCHED_CATCH_UP_NONE, 10);
  cr_assert_eq(p.n, 0);
  cr_assert_eq(p.dropped, 5);
  cr_assert_eq(p.next, utc(2026, 1, 1, 6, 0));
}

Test(plan, catch_up_latest_fires_the_newest_missed_time)
{
  int64_t up = utc(2026, 1, 1, 5, 0) + 30;
  struct plan p = plan("0 * * * *", utc(2026, 1, 1, 1, 0), up, up, SCHED_CATCH_UP_LATEST, 10);
  cr_assert_eq(p.n, 1);
  cr_assert_eq(p.t[0], utc(2026, 1, 1, 5, 0));
  cr_assert_eq(p.dropped, 4);
  cr_assert_eq(p.next, utc(2026, 1, 1, 6, 0));
}

Test(plan, catch_up_all_fires_every_missed_time_oldest_first)
{
  int64_t up = utc(2026, 1, 1, 5, 0) + 30;
  struct plan p = plan("0 * * * *", utc(2026, 1, 1, 1, 0), up, up, SCHED_CATCH_UP_ALL, 200);
  cr_assert_eq(p.n, 5);
  for (size_t i = 0; i < 5; i++)
    cr_assert_eq(p.t[i], utc(2026, 1, 1, 1 + (int)i, 0));
  cr_assert_eq(p.dropped, 0);
}

Test(plan, catch_up_all_keeps_the_newest_hundred)
{
  /* 300 minutes missed */
  int64_t due = utc(2026, 1, 1, 0, 0), up = due + 300 * 60 - 30;
  struct plan p = plan("* * * * *", due, up, up, SCHED_CATCH_UP_ALL, 200);
  cr_assert_eq(p.n, SCHED_CATCH_UP_MAX);
  cr_assert_eq(p.t[0], due + 200 * 60);
  cr_assert_eq(p.t[99], due + 299 * 60);
  cr_assert_eq(p.dropped, 200);
  cr_assert_eq(p.next, due + 300 * 60);
}

Test(plan, missed_and_on_time_times_together)
{
  /* down until 03:30, the loop then wakes at 05:00:10 (it was busy) */
  int64_t up = utc(2026, 1, 1, 3, 30);
  struct plan p = plan("0 * * * *", utc(2026, 1, 1, 1, 0), up, utc(2026, 1, 1, 5, 0) + 10, SCHED_CATCH_UP_LATEST, 10);
  cr_assert_eq(p.n, 3);
  cr_assert_eq(p.t[0], utc(2026, 1, 1, 3, 0)); /* the newest missed one */
  cr_assert_eq(p.t[1], utc(2026, 1, 1, 4, 0));
  cr_assert_eq(p.t[2], utc(2026, 1, 1, 5, 0));
  cr_assert_eq(p.dropped, 2);
}

Test(plan, cap_keeps_the_newest_times)
{
  int64_t due = utc(2026, 1, 1, 0, 0);
  struct plan p = plan("* * * * *", due, due, due + 9 * 60, SCHED_CATCH_UP_ALL, 4);
  cr_assert_eq(p.n, 4);
  cr_assert_eq(p.t[0], due + 6 * 60);
  cr_assert_eq(p.t[3], due + 9 * 60);
  cr_assert_eq(p.dropped, 6);
  cr_assert_eq(p.next, due + 10 * 60);
}

Test(plan, every_skips_ahead_arithmetically_after_years_of_downtime)
{
  /* @every 1s down for ten years: 315 million missed times, not walked */
  int64_t due = utc(2016, 1, 1, 0, 0), now = utc(2026, 1, 1, 0, 0) + 0;
  struct plan p = plan("@every 1s", due, now + 1, now, SCHED_CATCH_UP_ALL, 200);
  cr_assert_eq(p.n, SCHED_CATCH_UP_MAX);
  cr_assert_eq(p.t[99], now);
  cr_assert_eq(p.t[0], now - 99);
  cr_assert_eq(p.dropped, (uint64_t)(now - due + 1) - 100);
  cr_assert_eq(p.next, now + 1);
}

Test(plan, a_cron_walk_past_the_step_limit_still_ends_with_the_newest)
{
  /* every minute, down for three years (1.5 million minutes) */
  int64_t due = utc(2023, 1, 1, 0, 0), now = utc(2026, 1, 1, 0, 0) + 30;
  struct plan p = plan("* * * * *", due, now, now, SCHED_CATCH_UP_LATEST, 10);
  cr_assert_eq(p.n, 1);
  cr_assert_eq(p.t[0], utc(2026, 1, 1, 0, 0));
  cr_assert_eq(p.next, utc(2026, 1, 1, 0, 1));
  cr_assert_geq(p.dropped, SCHED_PLAN_STEPS_MAX - 1);
}

Test(plan, a_zone_with_a_dst_gap_fires_the_skipped_time_once)
{
  struct tz *z = NULL;
  char err[256];
  cr_assert_eq(tz_load("Europe/Berlin", &z, err, sizeof err), 0, "%s", err);
  struct cron c = parse("30 2 * * *");
  /* 2021-03-28: 02:30 CET does not exist; it fires at 03:00 CEST = 01:00Z */
  int64_t due = utc(2021, 3, 28, 1, 0), t[4], next;
  size_t n;
  uint64_t dropped;
  cr_assert_eq(sched_plan(&c, z, due, due - 10, due + 5, SCHED_CATCH_UP_ALL, t, 4, &n, &dropped, &next), 0);
  cr_assert_eq(n, 1);
  cr_assert_eq(t[0], due);
  cr_assert_eq(next, utc(2021, 3, 29, 0, 30)); /* 02:30 CEST */
  tz_free(z);
}

Test(plan, catch_up_and_overlap_words)
{
  enum sched_catch_up cu;
  enum sched_overlap o;
  cr_assert_eq(sched_catch_up_parse(NULL, &cu), 0);
  cr_assert_eq(cu, SCHED_CATCH_UP_LATEST);
  cr_assert_eq(sched_catch_up_parse("all", &cu), 0);
  cr_assert_eq(cu, SCHED_CATCH_UP_ALL);
  cr_assert_eq(sched_catch_up_parse("some", &cu), WEFT_EINVAL);
  cr_assert_eq(sched_overlap_parse(NULL, &o), 0);
  cr_assert_eq(o, SCHED_OVERLAP_SKIP);
  cr_assert_eq(sched_overlap_parse("cancel_previous", &o), 0);
  cr_assert_eq(o, SCHED_OVERLAP_CANCEL_PREVIOUS);
  cr_assert_eq(sched_overlap_parse("cancel", &o), WEFT_EINVAL);
  cr_assert_str_eq(sched_overlap_name(SCHED_OVERLAP_QUEUE), "queue");
  cr_assert_str_eq(sched_catch_up_name(SCHED_CATCH_UP_NONE), "none");
}

Test(overlap, decisions)
{
  for (int o = 0; o < 4; o++)
    cr_assert_eq(sched_overlap_decide((enum sched_overlap)o, false), SCHED_ACT_FIRE);
  cr_assert_eq(sched_overlap_decide(SCHED_OVERLAP_SKIP, true), SCHED_ACT_SKIP);
  cr_assert_eq(sched_overlap_decide(SCHED_OVERLAP_QUEUE, true), SCHED_ACT_QUEUE);
  cr_assert_eq(sched_overlap_decide(SCHED_OVERLAP_CANCEL_PREVIOUS, true), SCHED_ACT_CANCEL_AND_FIRE);
  cr_assert_eq(sched_overlap_decide(SCHED_OVERLAP_ALLOW, true), SCHED_ACT_FIRE);
  cr_assert_str_eq(sched_action_name(SCHED_ACT_CANCEL_AND_FIRE), "cancel_and_fire");
}

Test(backfill, bounds_are_rfc3339_or_a_date_in_the_zone)
{
  int64_t t;
  cr_assert_eq(sched_parse_bound("2026-01-02", NULL, &t), 0);
  cr_assert_eq(t, utc(2026, 1, 2, 0, 0));
  cr_assert_eq(sched_parse_bound("2026-01-02T03:04:00Z", NULL, &t), 0);
  cr_assert_eq(t, utc(2026, 1, 2, 3, 4));
  cr_assert_eq(sched_parse_bound("2026-01-02T03:04:00+01:00", NULL, &t), 0);
  cr_assert_eq(t, utc(2026, 1, 2, 2, 4));
  struct tz *z = NULL;
  char err[256];
  cr_assert_eq(tz_load("Europe/Berlin", &z, err, sizeof err), 0, "%s", err);
  cr_assert_eq(sched_parse_bound("2026-01-02", z, &t), 0);
  cr_assert_eq(t, utc(2026, 1, 1, 23, 0));
  tz_free(z);
  const char *bad[] = {"2026-13-01", "2026-02-30", "yesterday", "2026-1-1", "", "2026-01-02T25:00:00Z"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    cr_assert_eq(sched_parse_bound(bad[i], NULL, &t), WEFT_EPARSE, "%s", bad[i]);
}

Test(backfill, the_window_is_half_open)
{
  struct cron c = parse("0 3 * * *");
  int64_t t[10];
  size_t n;
  cr_assert_eq(sched_backfill_times(&c, NULL, utc(2026, 1, 1, 3, 0), utc(2026, 1, 4, 3, 0), t, 10, &n), 0);
  cr_assert_eq(n, 3);
  cr_assert_eq(t[0], utc(2026, 1, 1, 3, 0));
  cr_assert_eq(t[2], utc(2026, 1, 3, 3, 0));
  cr_assert_eq(sched_backfill_times(&c, NULL, utc(2026, 1, 1, 3, 1), utc(2026, 1, 1, 4, 0), t, 10, &n), 0);
  cr_assert_eq(n, 0);
  cr_assert_eq(sched_backfill_times(&c, NULL, utc(2026, 1, 1, 0, 0), utc(2026, 2, 1, 0, 0), t, 10, &n), WEFT_ELIMIT);
  cr_assert_eq(n, 10);
  cr_assert_eq(sched_backfill_times(&c, NULL, 100, 100, t, 10, &n), WEFT_EINVAL);
}

Test(backfill, run_keys_name_the_trigger_and_the_time)
{
  char k[64];
  sched_run_key(2, utc(2026, 1, 1, 3, 0), k, sizeof k);
  cr_assert_str_eq(k, "schedule:2:1767236400");
}

Test(trigger, the_object_has_every_field)
{
  json_t *body = json_pack("{s:s}", "ref", "refs/heads/main");
  json_t *h = json_pack("{s:s}", "x-github-event", "push");
  json_t *o = sched_trigger_json("webhook", 1767236400123, SCHED_NO_TIME, "github-push", body, h, NULL);
  char *txt = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
  cr_assert_str_eq(txt, "{\"at\":\"2026-01-01T03:00:00.123Z\",\"body\":{\"ref\":\"refs/heads/main\"},\"event\":null,"
                        "\"headers\":{\"x-github-event\":\"push\"},\"name\":\"github-push\",\"scheduled_for\":null,"
                        "\"type\":\"webhook\"}");
  free(txt);
  json_decref(o);
  o = sched_trigger_json("schedule", 1767236400500, 1767236400, "0 3 * * *", NULL, NULL, NULL);
  cr_assert_str_eq(json_string_value(json_object_get(o, "scheduled_for")), "2026-01-01T03:00:00Z");
  cr_assert(json_is_null(json_object_get(o, "body")));
  cr_assert_eq(json_object_size(json_object_get(o, "headers")), 0);
  json_decref(o);
  json_decref(body);
  json_decref(h);
}

/* GitHub's published example (docs: "Validating webhook deliveries") */
Test(hook, github_test_vector)
{
  const char *secret = "It's a Secret to Everybody", *body = "Hello, World!";
  const char *want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
  char sig[72];
  hook_signature(secret, strlen(secret), body, strlen(body), sig);
  cr_assert_str_eq(sig, want);
  cr_assert(hook_signature_ok(secret, strlen(secret), body, strlen(body), want));
  cr_assert(hook_signature_ok(secret, strlen(secret), body, strlen(body),
                              "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17"));
}

Test(hook, bad_signatures_are_refused)
{
  const char *secret = "s3cret", *body = "{\"a\":1}";
  char sig[72];
  hook_signature(secret, strlen(secret), body, strlen(body), sig);
  cr_assert(hook_signature_ok(secret, 6, body, strlen(body), sig));
  cr_assert_not(hook_signature_ok(secret, 6, body, strlen(body) - 1, sig)); /* another body */
  cr_assert_not(hook_signature_ok("s3creT", 6, body, strlen(body), sig));   /* another secret */
  char flipped[72];
  memcpy(flipped, sig, sizeof flipped);
  flipped[70] = flipped[70] == '0' ? '1' : '0';
  cr_assert_not(hook_signature_ok(secret, 6, body, strlen(body), flipped));
  cr_assert_not(hook_signature_ok(secret, 6, body, strlen(body), NULL));
  cr_assert_not(hook_signature_ok(secret, 6, body, strlen(body), ""));
  cr_assert_not(hook_signature_ok(secret, 6, body, strlen(body), sig + 7)); /* no sha256= */
  char sha1[80];
  snprintf(sha1, sizeof sha1, "sha1=%s", sig + 7);
  cr_assert_not(hook_signature_ok(secret, 6, body, strlen(body), sha1));
  char longer[80];
  snprintf(longer, sizeof longer, "%s0", sig);
  cr_assert_not(hook_signature_ok(secret, 6, body, strlen(body), longer));
  char nothex[72];
  memcpy(nothex, sig, sizeof nothex);
  nothex[9] = 'g';
  cr_assert_not(hook_signature_ok(secret, 6, body, strlen(body), nothex));
}

Test(hook, delivery_keys)
{
  char k[300];
  cr_assert(hook_delivery_key("github-push", "72d3162e-cc78-11e3-81ab-4c9367dc0958", k, sizeof k));
  cr_assert_str_eq(k, "hook:github-push:72d3162e-cc78-11e3-81ab-4c9367dc0958");
  cr_assert_not(hook_delivery_key("h", NULL, k, sizeof k));
  cr_assert_not(hook_delivery_key("h", "", k, sizeof k));
  cr_assert_not(hook_delivery_key("h", "a\nb", k, sizeof k));
  char big[HOOK_DELIVERY_MAX + 2];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  cr_assert_not(hook_delivery_key("h", big, k, sizeof k));
  big[HOOK_DELIVERY_MAX] = 0;
  cr_assert(hook_delivery_key("h", big, k, sizeof k));
}

/* ---- the schedules table and runs' trigger data (store ops version 7) ---- */

#include <stdio.h>
#include <stdlib.h>

#include "store/store.h"

static char home[256];

static void mk_home(void)
{
  snprintf(home, sizeof home, "/tmp/weft-test-trig-XXXXXX");
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

TestSuite(store, .init = mk_home, .fini = rm_home);

static struct store *open_store(void)
{
  struct store *s = NULL;
  char *err = NULL;
  cr_assert_eq(store_open(home, &s, &err), 0, "store_open: %s", err ? err : "?");
  free(err);
  return s;
}

Test(store, schedules_by_next_fire_time_due_and_by_workflow)
{
  struct store *s = open_store();
  struct store_schedule rows[] = {
    {.workflow = "b", .idx = 1, .version = 1, .expr = "@daily", .next_at = 300},
    {.workflow = "a", .idx = 2, .version = 1, .expr = "@hourly", .timezone = "Europe/Berlin", .next_at = 100},
    {.workflow = "a", .idx = 1, .version = 1, .expr = "* * * * *", .next_at = 200},
  };
  for (size_t i = 0; i < 3; i++)
    cr_assert_eq(store_schedule_put(s, &rows[i]), 0);
  struct store_schedule *v;
  size_t n;
  cr_assert_eq(store_schedule_list(s, NULL, INT64_MAX, 0, &v, &n), 0);
  cr_assert_eq(n, 3);
  cr_assert_eq(v[0].next_at, 100);
  cr_assert_str_eq(v[0].timezone, "Europe/Berlin");
  cr_assert_null(v[1].timezone);
  cr_assert_eq(v[2].next_at, 300);
  store_schedules_free(v, n);
  cr_assert_eq(store_schedule_list(s, NULL, 200, 0, &v, &n), 0); /* due by 200 */
  cr_assert_eq(n, 2);
  store_schedules_free(v, n);
  cr_assert_eq(store_schedule_list(s, NULL, INT64_MAX, 1, &v, &n), 0); /* the earliest */
  cr_assert_eq(n, 1);
  cr_assert_eq(v[0].next_at, 100);
  store_schedules_free(v, n);
  cr_assert_eq(store_schedule_list(s, "a", INT64_MAX, 0, &v, &n), 0); /* one workflow, by index */
  cr_assert_eq(n, 2);
  cr_assert_eq(v[0].idx, 1);
  store_schedules_free(v, n);
  /* put replaces; delete removes */
  struct store_schedule moved = rows[2];
  moved.next_at = 900;
  moved.last_at = 200;
  moved.last_run = "RUN1";
  cr_assert_eq(store_schedule_put(s, &moved), 0);
  cr_assert_eq(store_schedule_delete(s, "b", 1), 0);
  cr_assert_eq(store_schedule_delete(s, "b", 7), 0);
  cr_assert_eq(store_schedule_list(s, NULL, INT64_MAX, 0, &v, &n), 0);
  cr_assert_eq(n, 2);
  cr_assert_eq(v[1].next_at, 900);
  cr_assert_str_eq(v[1].last_run, "RUN1");
  cr_assert_eq(v[1].last_at, 200);
  store_schedules_free(v, n);
  struct store_schedule bad = {.workflow = "a", .idx = 0, .expr = "@daily"};
  cr_assert_eq(store_schedule_put(s, &bad), WEFT_EINVAL);
  store_close(s);
}

Test(store, a_runs_trigger_data_is_kept)
{
  struct store *s = open_store();
  char hash[65];
  cr_assert_eq(store_workflow_put(s, "w", NULL, "name: w\n", 1, hash, NULL), 0);
  struct store_run r = {.id = "01TESTRUN", .workflow = "w", .workflow_hash = hash, .status = "queued",
                        .trigger = "webhook", .parent_index = STORE_NO_INDEX, .created_at = 1};
  cr_assert_eq(store_run_put(s, &r), 0);
  char *t = (char *)"x";
  cr_assert_eq(store_run_trigger_get(s, "01TESTRUN", &t), 0);
  cr_assert_null(t);
  cr_assert_eq(store_run_trigger_put(s, "01TESTRUN", "{\"type\":\"webhook\"}"), 0);
  cr_assert_eq(store_run_trigger_get(s, "01TESTRUN", &t), 0);
  cr_assert_str_eq(t, "{\"type\":\"webhook\"}");
  free(t);
  cr_assert_eq(store_run_trigger_put(s, "NOPE", "{}"), WEFT_ENOTFOUND);
  store_close(s);
}
