/* test_approval.c — exec/approval.c and util/users.c through their APIs: the
 * request built from a rendered body, the rules of who may decide (groups,
 * anyone, distinct people, separation of duties, escalation as a function of
 * time, decided states), typed fields, and the executor on a real uv loop and
 * SQLite store (quorum applied on poke, every on_timeout, resumed requests
 * kept, stop, agent tool-call requests). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/approval.h"
#include "runtime/svc_approval.h"
#include "store/store.h"
#include "util/err.h"
#include "util/users.h"
#include "util/wtime.h"

static char home[256];

static void mk_home(void)
{
  snprintf(home, sizeof home, "/tmp/weft-test-appr-XXXXXX");
  cr_assert_not_null(mkdtemp(home));
}

static void rm_home(void)
{
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(approval, .init = mk_home, .fini = rm_home);

static json_t *J(const char *text)
{
  json_error_t e;
  json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
  cr_assert_not_null(j, "bad JSON in test: %s: %s", text, e.text);
  return j;
}

static struct users load_users(void)
{
  char path[300];
  snprintf(path, sizeof path, "%s/users.json", home);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs("{\"users\": {\"alice\": {\"groups\": [\"leads\"]}, \"bob\": {\"groups\": [\"leads\"]},"
        " \"carol\": {\"groups\": [\"directors\"]}, \"tom\": {}}}", f);
  fclose(f);
  struct users u = {0};
  char *err = NULL;
  cr_assert_eq(users_load(home, &u, &err), 0, "%s", err ? err : "");
  return u;
}

static struct appr_state state_of(const char *body, int64_t since)
{
  struct appr_state st = {0};
  json_t *b = J(body);
  char *err = NULL;
  st.request = appr_request_new(b, since, 1, &err);
  cr_assert_not_null(st.request, "%s", err ? err : "");
  json_decref(b);
  st.approved_by = json_array();
  st.edits = json_object();
  st.comments = json_array();
  return st;
}

Test(approval, users_groups_and_missing_file)
{
  struct users u = {0};
  cr_assert_eq(users_load(home, &u, NULL), 0); /* no file: nobody in any group */
  json_t *a = J("[\"group:leads\", \"dana\"]");
  cr_assert(!users_match(&u, "alice", a));
  cr_assert(users_match(&u, "dana", a));
  users_free(&u);
  u = load_users();
  cr_assert(users_match(&u, "alice", a));
  cr_assert(!users_match(&u, "carol", a));
  cr_assert(users_in_group(&u, "carol", "directors"));
  json_decref(a);
  users_free(&u);
  char path[300];
  snprintf(path, sizeof path, "%s/users.json", home);
  FILE *f = fopen(path, "w");
  fputs("{\"users\": [1]}", f);
  fclose(f);
  char *err = NULL;
  cr_assert_eq(users_load(home, &u, &err), WEFT_EPARSE);
  cr_assert_not_null(strstr(err, "users.json"));
  free(err);
}

Test(approval, request_from_a_rendered_body)
{
  json_t *b = J("{\"message\": \"Ship 1.2?\", \"approvers\": [\"alice\", \"group:leads\"],"
                " \"min_approvals\": 2, \"timeout\": \"1h\", \"on_timeout\": \"approve\","
                " \"fields\": {\"notes\": {\"type\": \"string\", \"default\": \"draft\"},"
                "              \"n\": {\"type\": \"integer\", \"required\": true}, \"x\": null},"
                " \"escalation\": [{\"after\": \"30m\", \"approvers\": [\"carol\"]}]}");
  json_t *r = appr_request_new(b, 1000, 3, NULL);
  cr_assert_not_null(r);
  cr_assert_str_eq(json_string_value(json_object_get(r, "message")), "Ship 1.2?");
  cr_assert_eq(appr_min(r), 2);
  cr_assert_eq(json_integer_value(json_object_get(r, "deadline")), 1000 + 3600000);
  cr_assert_eq(json_integer_value(json_object_get(r, "attempt")), 3);
  json_t *f = json_object_get(r, "fields");
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(f, "notes"), "default")),
                   "draft");
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(f, "x"), "type")), "string");
  cr_assert(json_is_true(json_object_get(json_object_get(f, "n"), "required")));
  json_t *e = json_array_get(json_object_get(r, "escalation"), 0);
  cr_assert_eq(json_integer_value(json_object_get(e, "after_ms")), 1800000);
  cr_assert_null(json_object_get(r, "tool"));
  char h1[SHA256_HEX_LEN + 1], h2[SHA256_HEX_LEN + 1];
  appr_request_hash(r, h1);
  json_object_set_new(r, "message", json_string("Ship 1.3?"));
  appr_request_hash(r, h2);
  cr_assert_str_neq(h1, h2);
  json_decref(r);
  json_decref(b);

  /* a default of the wrong type (rendered from an expression) is an error */
  char *err = NULL;
  b = J("{\"fields\": {\"n\": {\"type\": \"integer\", \"default\": \"seven\"}}}");
  cr_assert_null(appr_request_new(b, 0, 1, &err));
  cr_assert_not_null(strstr(err, "integer"), "%s", err);
  free(err);
  json_decref(b);
  /* no timeout: no deadline; defaults */
  b = J("{}");
  r = appr_request_new(b, 0, 1, NULL);
  cr_assert(json_is_null(json_object_get(r, "deadline")));
  cr_assert_str_eq(json_string_value(json_object_get(r, "on_timeout")), "fail");
  cr_assert_eq(appr_min(r), 1);
  json_decref(r);
  json_decref(b);
  /* an agent tool call */
  b = J("{\"message\": \"call deploy?\", \"tool\": \"deploy\", \"args\": {\"env\": \"prod\"}}");
  r = appr_request_new(b, 0, 1, NULL);
  cr_assert_str_eq(json_string_value(json_object_get(r, "tool")), "deploy");
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "args"), "env")), "prod");
  json_decref(r);
  json_decref(b);
}

Test(approval, who_may_decide)
{
  struct users u = load_users();
  char *why = NULL;
  struct appr_state st = state_of("{\"approvers\": [\"group:leads\"], \"min_approvals\": 2,"
                                  " \"escalation\": [{\"after\": \"1h\", \"approvers\": [\"carol\"]}]}",
                                  1000);
  int64_t t = 2000;
  cr_assert_eq(appr_may_decide(&st, &u, "alice", "tom", "approve", t, NULL), 0);
  cr_assert_eq(appr_may_decide(&st, &u, "carol", "tom", "approve", t, &why), WEFT_EDENIED);
  cr_assert_not_null(strstr(why, "not one of"), "%s", why);
  free(why);
  /* the escalation starts one hour after waiting_since */
  cr_assert_eq(appr_may_decide(&st, &u, "carol", "tom", "approve", 1000 + 3600000 - 1, NULL),
               WEFT_EDENIED);
  cr_assert_eq(appr_may_decide(&st, &u, "carol", "tom", "approve", 1000 + 3600000, NULL), 0);
  json_t *who = appr_effective_approvers(st.request, 1000 + 3600000);
  cr_assert_eq(json_array_size(who), 2);
  json_decref(who);
  /* separation of duties: the starter may reject but not approve */
  cr_assert_eq(appr_may_decide(&st, &u, "alice", "alice", "approve", t, &why), WEFT_EDENIED);
  cr_assert_not_null(strstr(why, "separation of duties"));
  free(why);
  cr_assert_eq(appr_may_decide(&st, &u, "alice", "alice", "reject", t, NULL), 0);
  /* distinct people: alice twice counts once */
  json_array_append_new(st.approved_by, json_string("alice"));
  cr_assert(!appr_decided(&st));
  cr_assert_eq(appr_may_decide(&st, &u, "alice", "tom", "approve", t, &why), WEFT_ESTATE);
  cr_assert_not_null(strstr(why, "already approved"));
  free(why);
  json_array_append_new(st.approved_by, json_string("bob"));
  cr_assert(appr_decided(&st));
  cr_assert_eq(appr_may_decide(&st, &u, "carol", "tom", "reject", 1000 + 3600000, NULL),
               WEFT_ESTATE);
  appr_state_clear(&st);
  /* empty approvers: anyone, but still not the starter without the flag */
  st = state_of("{}", 0);
  cr_assert_eq(appr_may_decide(&st, &u, "stranger", "tom", "approve", t, NULL), 0);
  cr_assert_eq(appr_may_decide(&st, &u, "tom", "tom", "approve", t, NULL), WEFT_EDENIED);
  appr_state_clear(&st);
  st = state_of("{\"allow_self_approval\": true}", 0);
  cr_assert_eq(appr_may_decide(&st, &u, "tom", "tom", "approve", t, NULL), 0);
  appr_state_clear(&st);
  users_free(&u);
}

Test(approval, typed_fields)
{
  struct appr_state st = state_of("{\"fields\": {\"s\": {\"type\": \"string\"},"
                                  " \"n\": {\"type\": \"integer\", \"default\": 1},"
                                  " \"o\": {\"type\": \"object\"}}}", 0);
  char *k = NULL, *why = NULL;
  json_t *v = NULL;
  cr_assert_eq(appr_parse_field(st.request, "s=12", &k, &v, NULL), 0);
  cr_assert(json_is_string(v)); /* a string field takes the text as is */
  cr_assert_str_eq(json_string_value(v), "12");
  json_object_set_new(st.edits, k, v);
  free(k);
  cr_assert_eq(appr_parse_field(st.request, "n=3", &k, &v, NULL), 0);
  cr_assert_eq(json_integer_value(v), 3);
  json_decref(v);
  free(k);
  cr_assert_eq(appr_parse_field(st.request, "n=3.5", &k, &v, &why), WEFT_EINVAL);
  free(why);
  cr_assert_eq(appr_parse_field(st.request, "o=[1]", &k, &v, &why), WEFT_EINVAL);
  free(why);
  cr_assert_eq(appr_parse_field(st.request, "zz=1", &k, &v, &why), WEFT_EINVAL);
  cr_assert_not_null(strstr(why, "no field"));
  free(why);
  cr_assert_eq(appr_parse_field(st.request, "novalue", &k, &v, &why), WEFT_EINVAL);
  free(why);
  json_t *vals = appr_field_values(&st);
  cr_assert_str_eq(json_string_value(json_object_get(vals, "s")), "12");
  cr_assert_eq(json_integer_value(json_object_get(vals, "n")), 1);
  cr_assert(json_is_null(json_object_get(vals, "o")));
  json_decref(vals);
  appr_state_clear(&st);
}

/* ---- the executor ---------------------------------------------------------- */

struct outcome {
  int calls;
  bool ok;
  char kind[32];
  char message[256];
  json_t *outputs;
};

static void on_done(void *ud, bool ok, const json_t *outputs, const char *kind,
                    const char *message)
{
  struct outcome *o = ud;
  o->calls++;
  o->ok = ok;
  snprintf(o->kind, sizeof o->kind, "%s", kind ? kind : "");
  snprintf(o->message, sizeof o->message, "%s", message ? message : "");
  o->outputs = outputs ? json_deep_copy(outputs) : NULL;
}

static struct store *open_store(void)
{
  struct store *s = NULL;
  char *err = NULL;
  cr_assert_eq(store_open(home, &s, &err), 0, "%s", err ? err : "");
  return s;
}

static void decide(struct store *s, const char *user, const char *decision, const char *fields)
{
  struct store_decision d = {.run_id = "R1", .step = "ok", .index = STORE_NO_INDEX,
                             .user = (char *)user, .decision = (char *)decision,
                             .fields = (char *)fields, .at = wt_now_ms()};
  cr_assert_eq(store_decision_put(s, &d, NULL), 0);
}

static size_t count_rows(struct store *s, const char *decision)
{
  struct store_decision *v = NULL;
  size_t n = 0, k = 0;
  cr_assert_eq(store_decision_list(s, "R1", "ok", STORE_NO_INDEX, &v, &n), 0);
  for (size_t i = 0; i < n; i++)
    k += !strcmp(v[i].decision, decision);
  store_decisions_free(v, n);
  return k;
}

static struct approval *start(uv_loop_t *loop, struct store *s, const char *body, bool resumed,
                              unsigned attempt, struct outcome *o)
{
  json_t *b = J(body);
  struct approval_ctx c = {.loop = loop, .store = s, .run_id = "R1", .step = "ok",
                           .index = STORE_NO_INDEX, .attempt = attempt, .body = b,
                           .resumed = resumed};
  struct approval *a = approval_start(&c, on_done, o);
  json_decref(b);
  cr_assert_eq(o->calls, 0, "never called back from inside approval_start");
  return a;
}

Test(approval, quorum_applied_when_poked)
{
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct store *s = open_store();
  struct outcome o = {0};
  struct approval *a = start(&loop, s, "{\"min_approvals\": 2, \"fields\": {\"n\": "
                                       "{\"type\": \"integer\", \"default\": 1}}}", false, 1, &o);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_assert_eq(o.calls, 0);
  cr_assert_eq(count_rows(s, "requested"), 1);
  decide(s, "alice", "approve", "{\"n\": 5}");
  decide(s, "alice", "approve", NULL); /* the same person: still one */
  approval_poke(a);
  cr_assert_eq(o.calls, 0);
  decide(s, "bob", "approve", NULL);
  approval_poke(a);
  cr_assert_eq(o.calls, 1);
  cr_assert(o.ok);
  cr_assert_str_eq(json_string_value(json_object_get(o.outputs, "decision")), "approved");
  cr_assert_eq(json_array_size(json_object_get(o.outputs, "by")), 2);
  cr_assert_eq(json_integer_value(json_object_get(json_object_get(o.outputs, "fields"), "n")), 5);
  json_decref(o.outputs);
  uv_run(&loop, UV_RUN_DEFAULT); /* closes the timer */
  cr_assert_eq(uv_loop_close(&loop), 0);
  store_close(s);
}

Test(approval, every_on_timeout_and_reject)
{
  const char *cases[][3] = {{"fail", "timeout", "0"}, {"approve", "", "1"},
                            {"reject", "rejected", "0"}};
  for (int i = 0; i < 3; i++) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct store *s = open_store();
    struct outcome o = {0};
    char body[160];
    snprintf(body, sizeof body, "{\"timeout\": \"30ms\", \"on_timeout\": \"%s\"}", cases[i][0]);
    start(&loop, s, body, false, (unsigned)i + 1, &o);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(o.calls, 1);
    cr_assert_eq(o.ok, cases[i][2][0] == '1', "%s", cases[i][0]);
    cr_assert_str_eq(o.kind, cases[i][1]);
    cr_assert_eq(count_rows(s, "timeout"), (size_t)i + 1);
    json_decref(o.outputs);
    cr_assert_eq(uv_loop_close(&loop), 0);
    store_close(s);
  }
  /* a rejection */
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct store *s = open_store();
  struct outcome o = {0};
  struct approval *a = start(&loop, s, "{}", false, 9, &o);
  decide(s, "bob", "reject", NULL);
  approval_poke(a);
  cr_assert_eq(o.calls, 1);
  cr_assert_str_eq(o.kind, "rejected");
  cr_assert_not_null(strstr(o.message, "bob"));
  json_decref(o.outputs);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  store_close(s);
}

Test(approval, resumed_keeps_the_request_and_applies_decisions_made_meanwhile)
{
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct store *s = open_store();
  struct outcome o = {0};
  struct approval *a = start(&loop, s, "{\"message\": \"first\"}", false, 1, &o);
  approval_stop(a, "cancelled", "stopped"); /* the engine goes away */
  cr_assert_eq(o.calls, 1);
  cr_assert_str_eq(o.kind, "cancelled");
  uv_run(&loop, UV_RUN_DEFAULT);
  decide(s, "carol", "approve", NULL);
  /* resumed, same attempt: the request is kept (not re-rendered), the
   * decision applies on the first loop turn */
  struct outcome o2 = {0};
  start(&loop, s, "{\"message\": \"second\"}", true, 1, &o2);
  cr_assert_eq(count_rows(s, "requested"), 1);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(o2.calls, 1);
  cr_assert(o2.ok);
  json_decref(o2.outputs);
  /* a new attempt: a new request, earlier decisions do not count */
  struct outcome o3 = {0};
  a = start(&loop, s, "{\"message\": \"third\"}", false, 2, &o3);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_assert_eq(o3.calls, 0);
  cr_assert_eq(count_rows(s, "requested"), 2);
  approval_stop(a, "cancelled", "done");
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(uv_loop_close(&loop), 0);
  store_close(s);
}

Test(approval, bad_body_is_reported_on_the_next_turn)
{
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct store *s = open_store();
  struct outcome o = {0};
  start(&loop, s, "{\"fields\": {\"n\": {\"type\": \"integer\", \"default\": \"x\"}}}", false, 1,
        &o);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(o.calls, 1);
  cr_assert_str_eq(o.kind, "validation");
  cr_assert_eq(uv_loop_close(&loop), 0);
  store_close(s);
}

Test(approval, tool_call_resumed_in_a_new_attempt_keeps_its_request)
{
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct store *s = open_store();
  struct outcome o = {0};
  const char *body = "{\"message\": \"call deploy?\", \"tool\": \"deploy\", \"args\": {}}";
  struct approval *a = start(&loop, s, body, false, 1, &o);
  approval_stop(a, "cancelled", "the engine died");
  uv_run(&loop, UV_RUN_DEFAULT);
  decide(s, "alice", "approve", NULL);
  /* the interrupted attempt counted: attempt 2 takes the same call up again */
  struct outcome o2 = {0};
  start(&loop, s, body, true, 2, &o2);
  cr_assert_eq(count_rows(s, "requested"), 1);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(o2.calls, 1);
  cr_assert(o2.ok);
  json_decref(o2.outputs);
  cr_assert_eq(uv_loop_close(&loop), 0);
  store_close(s);
}
