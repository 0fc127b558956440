/* test_server_sse.c — the live-event pieces without HTTP: the hub's seam
 * between a replay and the live events (sse_subscribe_from), one large
 * event, audit entries as events (sse_event.h), the store's audit_after and
 * the pump thread publishing what a store commits. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/sse.h"
#include "server/sse_event.h"
#include "server/sse_pump.h"
#include "store/store.h"
#include "util/err.h"

/* everything a subscriber without a connection has buffered */
static char *drain(struct sse_sub *s)
{
  static char out[1 << 20];
  size_t n = 0;
  for (;;) {
    ssize_t k = sse_sub_read(s, out + n, sizeof out - 1 - n);
    if (k <= 0)
      break;
    n += (size_t)k;
  }
  out[n] = 0;
  return out;
}

static void pub(struct sse_hub *h, uint64_t id)
{
  sse_publish(h, id, "step", "{}", "r1");
}

Test(sse_seam, replay_then_live_has_no_gap_and_no_duplicate)
{
  struct sse_hub *h = sse_hub_new(60000);
  for (uint64_t id = 1; id <= 5; id++)
    pub(h, id);
  uint64_t upto = 0;
  /* a client that saw up to 2: it replays (2, 5] from the store */
  struct sse_sub *s = sse_subscribe_from(h, NULL, NULL, 2, &upto);
  cr_assert_eq(upto, 5);
  /* published while it replays: not buffered (the store has them) */
  pub(h, 6);
  pub(h, 7);
  cr_assert_str_eq(drain(s), "");
  /* replayed up to 5: not live yet, replay up to 7 first */
  cr_assert(!sse_sub_catch_up(s, &upto));
  cr_assert_eq(upto, 7);
  /* nothing new: live from now on */
  cr_assert(sse_sub_catch_up(s, &upto));
  cr_assert_eq(upto, 7);
  pub(h, 8);
  pub(h, 9);
  const char *out = drain(s);
  cr_assert(strstr(out, "id: 8\n") && strstr(out, "id: 9\n"), "%s", out);
  cr_assert(!strstr(out, "id: 7\n") && !strstr(out, "id: 6\n"), "%s", out);
  sse_sub_release(s);
  /* a client ahead of the hub (after > last): nothing up to after, ever */
  s = sse_subscribe_from(h, NULL, NULL, 11, &upto);
  cr_assert_eq(upto, 9);
  cr_assert(sse_sub_catch_up(s, &upto));
  pub(h, 10);
  pub(h, 11);
  pub(h, 12);
  out = drain(s);
  cr_assert(!strstr(out, "id: 10\n") && !strstr(out, "id: 11\n") && strstr(out, "id: 12\n"), "%s", out);
  sse_sub_release(s);
  /* a live-only subscriber gets what comes after it */
  s = sse_subscribe(h, NULL, NULL);
  pub(h, 13);
  out = drain(s);
  cr_assert(strstr(out, "id: 13\n"), "%s", out);
  sse_sub_release(s);
  sse_hub_close(h);
  sse_hub_free(h);
}

Test(sse_seam, a_replay_never_fills_the_buffer)
{
  struct sse_hub *h = sse_hub_new(60000);
  uint64_t upto = 0;
  struct sse_sub *s = sse_subscribe_from(h, NULL, NULL, 0, &upto);
  static char data[1000];
  memset(data, 'x', sizeof data - 3);
  data[0] = '"';
  data[sizeof data - 3] = '"';
  data[sizeof data - 2] = 0;
  for (uint64_t id = 1; id <= 2000; id++) /* 2 MB while it replays */
    sse_publish(h, id, "step", data, NULL);
  cr_assert(!sse_sub_dropped(s));
  cr_assert_eq(sse_hub_max_buffered(h), 0);
  cr_assert(!sse_sub_catch_up(s, &upto));
  cr_assert_eq(upto, 2000);
  cr_assert(sse_sub_catch_up(s, &upto));
  sse_sub_release(s);
  sse_hub_close(h);
  sse_hub_free(h);
}

Test(sse_seam, drop_over_drops_only_clients_behind)
{
  struct sse_hub *h = sse_hub_new(60000);
  struct sse_sub *behind = sse_subscribe(h, NULL, NULL);
  struct sse_sub *ok = sse_subscribe(h, NULL, NULL);
  pub(h, 1);
  drain(ok);
  cr_assert_gt(sse_hub_pub_max(h), 0);
  cr_assert_eq(sse_hub_drop_over(h, 1), 1);
  cr_assert(sse_sub_dropped(behind));
  cr_assert(!sse_sub_dropped(ok));
  cr_assert(sse_sub_ended(behind));
  cr_assert_eq(sse_dropped_total(h), 1);
  sse_sub_release(behind);
  sse_sub_release(ok);
  sse_hub_close(h);
  sse_hub_free(h);
}

Test(sse_seam, hub_last_only_moves_forward)
{
  struct sse_hub *h = sse_hub_new(60000);
  sse_hub_set_last(h, 40);
  cr_assert_eq(sse_hub_last(h), 40);
  sse_hub_set_last(h, 3);
  cr_assert_eq(sse_hub_last(h), 40);
  pub(h, 41);
  cr_assert_eq(sse_hub_last(h), 41);
  sse_hub_close(h);
  sse_hub_free(h);
}

Test(sse_seam, one_event_larger_than_the_buffer_is_sent_not_dropped)
{
  struct sse_hub *h = sse_hub_new(60000);
  struct sse_sub *s = sse_subscribe(h, NULL, NULL);
  size_t n = SSE_BUFFER_MAX + 1000;
  char *big = malloc(n + 3);
  memset(big, 'x', n + 2);
  big[0] = big[n + 1] = '"';
  big[n + 2] = 0;
  /* behind a small event the client has not taken yet */
  sse_publish(h, 1, "step", "{}", NULL);
  cr_assert_eq(sse_publish(h, 2, "run", big, NULL), 1);
  cr_assert(!sse_sub_dropped(s));
  const char *out = drain(s);
  cr_assert(strlen(out) > n);
  cr_assert(strstr(out, "id: 1\n") && strstr(out, "id: 2\n"));
  /* but a second one on top of a full buffer drops the client */
  sse_publish(h, 3, "run", big, NULL);
  sse_publish(h, 4, "run", big, NULL);
  cr_assert(sse_sub_dropped(s));
  cr_assert_eq(sse_dropped_total(h), 1);
  free(big);
  sse_sub_release(s);
  sse_hub_close(h);
  sse_hub_free(h);
}

/* ---- audit entries as events ---------------------------------------------- */

Test(sse_event, types_follow_the_kind)
{
  cr_assert_str_eq(sse_event_type("run.created"), "run");
  cr_assert_str_eq(sse_event_type("run.status"), "run");
  cr_assert_str_eq(sse_event_type("step.status"), "step");
  cr_assert_str_eq(sse_event_type("step.expanded"), "step");
  cr_assert_str_eq(sse_event_type("attempt.finished"), "step");
  cr_assert_str_eq(sse_event_type("approval.decided"), "approval");
  cr_assert_str_eq(sse_event_type("token.created"), "audit");
  cr_assert_str_eq(sse_event_type("event.sent"), "audit");
  cr_assert_str_eq(sse_event_type("definition"), "audit");
  cr_assert_str_eq(sse_event_type(NULL), "audit");
}

Test(sse_event, data_has_the_common_fields_then_the_detail)
{
  struct store_audit e = {.seq = 7, .at = 0, .run_id = "R1", .kind = "step.status",
                          .data = "{\"attempts\":2,\"index\":3,\"status\":\"failed\",\"step\":\"b\",\"error\":{\"kind\":\"x\"}}"};
  char *d = sse_event_data(&e, "etl");
  cr_assert_str_eq(d, "{\"kind\":\"step.status\",\"run\":\"R1\",\"workflow\":\"etl\",\"step\":\"b\",\"index\":3,"
                      "\"status\":\"failed\",\"attempt\":2,\"at\":\"1970-01-01T00:00:00.000Z\",\"attempts\":2,"
                      "\"error\":{\"kind\":\"x\"}}");
  free(d);
  /* a plain step's index -1 and a run-less entry: nulls */
  struct store_audit a = {.seq = 8, .at = 1000, .kind = "approval.requested",
                          .data = "{\"attempt\":1,\"index\":-1,\"step\":\"ok\"}"};
  d = sse_event_data(&a, NULL);
  cr_assert_str_eq(d, "{\"kind\":\"approval.requested\",\"run\":null,\"workflow\":null,\"step\":\"ok\",\"index\":null,"
                      "\"status\":null,\"attempt\":1,\"at\":\"1970-01-01T00:00:01.000Z\"}");
  free(d);
  /* data that is not an object is kept under detail */
  struct store_audit n = {.seq = 9, .at = 0, .kind = "x", .data = "[1]"};
  d = sse_event_data(&n, NULL);
  cr_assert(strstr(d, "\"detail\":[1]"), "%s", d);
  free(d);
}

/* ---- the store and the pump ------------------------------------------------ */

static char home[256];

static struct store *open_home(void)
{
  if (!home[0]) {
    snprintf(home, sizeof home, "/tmp/weft-sse-XXXXXX");
    cr_assert_not_null(mkdtemp(home));
  }
  struct store *s = NULL;
  char *err = NULL;
  cr_assert_eq(store_open(home, &s, &err), 0, "%s", err ? err : "?");
  return s;
}

static void remove_home(void)
{
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  cr_assert_eq(system(cmd), 0);
}

static void append(struct store *s, const char *run, const char *kind, const char *data)
{
  cr_assert_eq(store_audit_append(s, 1000, run, kind, data, NULL), 0, "%s", store_errmsg(s));
}

Test(sse_store, audit_after_pages_by_seq_and_gives_the_head)
{
  struct store *s = open_home();
  struct store_audit *v = NULL;
  size_t n = 9;
  int64_t head = -1;
  cr_assert_eq(store_audit_after(s, NULL, 0, 10, &v, &n, &head), 0);
  cr_assert_eq(n, 0);
  cr_assert_eq(head, 0);
  for (int i = 0; i < 5; i++)
    append(s, i % 2 ? "R1" : NULL, "step.status", "{\"step\":\"a\"}");
  cr_assert_eq(store_audit_after(s, NULL, 1, 3, &v, &n, &head), 0);
  cr_assert_eq(n, 3);
  cr_assert_eq(head, 5);
  cr_assert_eq(v[0].seq, 2);
  cr_assert_eq(v[2].seq, 4);
  cr_assert_str_eq(v[0].run_id, "R1");
  cr_assert_null(v[1].run_id);
  cr_assert_str_eq(v[0].data, "{\"step\":\"a\"}");
  store_audits_free(v, n);
  cr_assert_eq(store_audit_after(s, NULL, 5, 3, &v, &n, &head), 0);
  cr_assert_eq(n, 0);
  cr_assert_eq(head, 5);
  /* one run's: seqs 2 and 4 are R1's */
  cr_assert_eq(store_audit_after(s, "R1", 0, 10, &v, &n, &head), 0);
  cr_assert_eq(n, 2);
  cr_assert_eq(v[0].seq, 2);
  cr_assert_eq(v[1].seq, 4);
  cr_assert_eq(head, 5);
  store_audits_free(v, n);
  cr_assert_eq(store_audit_after(s, "R1", 2, 10, &v, &n, &head), 0);
  cr_assert_eq(n, 1);
  cr_assert_eq(v[0].seq, 4);
  store_audits_free(v, n);
  int64_t pending = -1;
  cr_assert_eq(store_inbox_pending(s, &pending), 0);
  cr_assert_eq(pending, 0);
  struct store_inbox m = {.kind = "cancel", .run_id = "R1", .created_at = 1};
  cr_assert_eq(store_inbox_post(s, &m, NULL), 0);
  cr_assert_eq(store_inbox_pending(s, &pending), 0);
  cr_assert_eq(pending, 1);
  store_close(s);
  remove_home();
}

Test(sse_store, the_pump_publishes_what_another_connection_commits_in_order)
{
  struct store *w = open_home();
  append(w, NULL, "definition", "{}"); /* before the pump: not live */
  struct sse_hub *h = sse_hub_new(60000);
  struct sse_pump *p = NULL;
  struct sse_pump_cfg pc = {.store = open_home(), .hub = h, .poll_ms = 20};
  cr_assert_eq(sse_pump_start(&pc, &p), 0);
  cr_assert_eq(sse_hub_last(h), 1);
  struct sse_sub *all = sse_subscribe(h, NULL, NULL);
  struct sse_sub *r1 = sse_subscribe(h, NULL, "R1");
  /* more than one batch, by another connection (as `weft run` beside) */
  append(w, "R1", "run.created", "{\"workflow\":\"wf\"}");
  for (int i = 0; i < SSE_PUMP_BATCH + 10; i++)
    append(w, i % 2 ? "R1" : "R2", "step.status", "{\"step\":\"a\",\"status\":\"running\"}");
  int64_t want = 2 + SSE_PUMP_BATCH + 10;
  for (int i = 0; i < 1000 && sse_pump_last(p) < want; i++)
    usleep(10000);
  cr_assert_eq(sse_pump_last(p), want);
  char *out = strdup(drain(all));
  /* every id once, in order; not over the 64 KiB bound */
  const char *q = out;
  for (int64_t id = 2; id <= want; id++) {
    char t[32];
    snprintf(t, sizeof t, "id: %lld\n", (long long)id);
    const char *f = strstr(q, t);
    cr_assert(f, "id %lld missing or out of order", (long long)id);
    q = f + 1;
  }
  cr_assert(strstr(out, "\"run\":\"R1\",\"workflow\":\"wf\""));
  free(out);
  out = drain(r1);
  cr_assert(!strstr(out, "\"run\":\"R2\""));
  cr_assert(strstr(out, "id: 3\n") == NULL); /* i = 0 was R2 */
  cr_assert(strstr(out, "id: 4\n"));
  sse_sub_release(all);
  sse_sub_release(r1);
  sse_pump_stop(p);
  sse_hub_close(h);
  sse_hub_free(h);
  store_close(w);
  remove_home();
}
