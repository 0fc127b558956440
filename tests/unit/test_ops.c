/* test_ops.c — the operations layer's tables: every operation has a rule,
 * an unknown operation is denied, each role's allowed set is exactly what
 * SERVER.md §4 gives it, every API route needs the role of its operation,
 * the error kinds' one table (HTTP status, API code, exit code), and the
 * role of a local actor. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops/ops.h"
#include "server/api_routes.h"
#include "server/apierr.h"

static const char *const viewer_ops[] = {"list_workflows", "get_workflow", "list_runs", "get_run",
                                         "get_run_graph", "get_logs", "get_evidence", "list_approvals",
                                         "event_stream", "audit_export", "audit_verify", "list_schedules",
                                         "metrics", "approve", "reject", "whoami", NULL};
static const char *const operator_ops[] = {"deploy_workflow", "start_run", "cancel_run", "retry_run",
                                           "resume_run", "backfill", "send_event", NULL};
static const char *const admin_ops[] = {"prune", "list_tokens", "create_token", "revoke_token", NULL};

static bool in(const char *const *set, const char *op)
{
  for (; *set; set++)
    if (!strcmp(*set, op))
      return true;
  return false;
}

static bool allowed(enum role r, const char *op)
{
  struct ops_ctx c = {.role = r, .user = "u"};
  struct ops_error e = {0};
  enum ops_err k = ops_authorize(&c, op, &e);
  if (k)
    cr_assert_eq(k, OPS_E_FORBIDDEN);
  return k == OPS_OK;
}

Test(ops_roles, every_rule_is_a_known_role_and_unique)
{
  cr_assert_gt(ops_rules_count, 0);
  for (size_t i = 0; i < ops_rules_count; i++) {
    cr_assert(ops_rules[i].min >= ROLE_VIEWER && ops_rules[i].min <= ROLE_ADMIN, "%s", ops_rules[i].op);
    for (size_t j = i + 1; j < ops_rules_count; j++)
      cr_assert_str_neq(ops_rules[i].op, ops_rules[j].op);
    cr_assert(in(viewer_ops, ops_rules[i].op) || in(operator_ops, ops_rules[i].op) || in(admin_ops, ops_rules[i].op),
              "%s is in the table but not in this test's sets", ops_rules[i].op);
  }
}

Test(ops_roles, unknown_operation_is_denied_to_everyone)
{
  struct ops_error e = {0};
  struct ops_ctx c = {.role = ROLE_ADMIN, .user = "root"};
  cr_assert_eq(ops_min_role("drop_everything"), -1);
  cr_assert_eq(ops_min_role(NULL), -1);
  cr_assert_eq(ops_authorize(&c, "drop_everything", &e), OPS_E_FORBIDDEN);
  cr_assert(strstr(e.msg, "drop_everything"), "%s", e.msg);
  cr_assert_eq(ops_authorize(&c, NULL, &e), OPS_E_FORBIDDEN);
}

Test(ops_roles, each_role_allowed_set)
{
  for (size_t i = 0; i < ops_rules_count; i++) {
    const char *op = ops_rules[i].op;
    bool v = in(viewer_ops, op), o = in(operator_ops, op);
    cr_assert_eq(allowed(ROLE_VIEWER, op), v, "viewer %s", op);
    cr_assert_eq(allowed(ROLE_OPERATOR, op), v || o, "operator %s", op);
    cr_assert(allowed(ROLE_ADMIN, op), "admin %s", op);
    cr_assert(!allowed(ROLE_NONE, op), "none %s", op);
    cr_assert(!allowed(ROLE_SIGNATURE, op), "signature %s", op);
  }
  for (const char *const *s = viewer_ops; *s; s++)
    cr_assert_eq(ops_min_role(*s), ROLE_VIEWER, "%s", *s);
  for (const char *const *s = operator_ops; *s; s++)
    cr_assert_eq(ops_min_role(*s), ROLE_OPERATOR, "%s", *s);
  for (const char *const *s = admin_ops; *s; s++)
    cr_assert_eq(ops_min_role(*s), ROLE_ADMIN, "%s", *s);
}

Test(ops_roles, denial_names_the_needed_role)
{
  struct ops_ctx c = {.role = ROLE_VIEWER, .user = "carol"};
  struct ops_error e = {0};
  cr_assert_eq(ops_authorize(&c, "cancel_run", &e), OPS_E_FORBIDDEN);
  cr_assert(strstr(e.msg, "operator") && strstr(e.msg, "carol") && strstr(e.msg, "viewer"), "%s", e.msg);
}

/* The routes' roles (server/api_routes.c) agree with the operations' rules:
 * a route whose operation has no rule, or another role, fails here. */
Test(ops_roles, every_api_route_needs_its_operations_role)
{
  for (size_t i = 0; i < api_routes_count; i++) {
    const struct route *r = &api_routes[i];
    if (r->role == ROLE_NONE || r->role == ROLE_SIGNATURE)
      continue;
    cr_assert_eq(ops_min_role(r->op), (int)r->role, "%s %s (%s)", r->method, r->pattern, r->op);
  }
}

Test(ops_err, one_table_for_status_code_and_exit)
{
  cr_assert_eq(ops_err_status(OPS_E_BAD_REQUEST), 400);
  cr_assert_eq(ops_err_status(OPS_E_FORBIDDEN), 403);
  cr_assert_eq(ops_err_status(OPS_E_NOT_FOUND), 404);
  cr_assert_eq(ops_err_status(OPS_E_CONFLICT), 409);
  cr_assert_eq(ops_err_status(OPS_E_UNPROCESSABLE), 422);
  cr_assert_eq(ops_err_status(OPS_E_UNAVAILABLE), 503);
  cr_assert_str_eq(ops_err_code(OPS_E_NOT_FOUND), "not_found");
  cr_assert_eq(ops_err_exit(OPS_OK), 0);
  cr_assert_eq(ops_err_exit(OPS_E_NOT_FOUND), 4);
  cr_assert_eq(ops_err_exit(OPS_E_FORBIDDEN), 2);
  cr_assert_eq(ops_err_exit(OPS_E_CONFLICT), 2);
  cr_assert_eq(ops_err_status((enum ops_err)999), 500);
  /* the server's names are the same kinds */
  cr_assert_eq(apierr_status(APIERR_FORBIDDEN), 403);
  cr_assert_str_eq(apierr_code(APIERR_UNPROCESSABLE), "unprocessable");
  cr_assert_eq((int)APIERR_NOT_FOUND, (int)OPS_E_NOT_FOUND);
  for (int k = 1; k < OPS_E__COUNT; k++) {
    cr_assert(ops_err_status((enum ops_err)k) >= 400 && ops_err_status((enum ops_err)k) < 600);
    cr_assert(ops_err_exit((enum ops_err)k) == 2 || ops_err_exit((enum ops_err)k) == 4);
  }
  struct ops_error e = {0};
  cr_assert_eq(ops_fail(&e, OPS_E_CONFLICT, "run %s is %s", "R1", "done"), OPS_E_CONFLICT);
  cr_assert_eq(e.kind, OPS_E_CONFLICT);
  cr_assert_str_eq(e.msg, "run R1 is done");
}

Test(ops_local_role, owner_listed_unlisted)
{
  char dir[] = "/tmp/weft-ops-XXXXXX";
  cr_assert(mkdtemp(dir));
  struct users u = {.map = json_pack("{s:{s:s},s:{s:s},s:{s:i},s:{}}", "olga", "role", "operator", "ada", "role",
                                     "admin", "bad", "role", 3, "plain")};
  struct ops_error e = {0};
  enum role r = ROLE_NONE;
  /* the owner of the home (this process owns dir) is admin whatever users.json says */
  cr_assert_eq(ops_local_role(dir, &u, "plain", &r, &e), OPS_OK);
  cr_assert_eq(r, ROLE_ADMIN);
  /* not the owner: a home we do not own (a missing one has no owner either) */
  char other[300];
  snprintf(other, sizeof other, "%s/missing", dir);
  cr_assert_eq(ops_local_role(other, &u, "olga", &r, &e), OPS_OK);
  cr_assert_eq(r, ROLE_OPERATOR);
  cr_assert_eq(ops_local_role(other, &u, "ada", &r, &e), OPS_OK);
  cr_assert_eq(r, ROLE_ADMIN);
  cr_assert_eq(ops_local_role(other, &u, "plain", &r, &e), OPS_OK);
  cr_assert_eq(r, ROLE_VIEWER);
  cr_assert_eq(ops_local_role(other, &u, "nobody", &r, &e), OPS_OK);
  cr_assert_eq(r, ROLE_VIEWER);
  /* a role that is not one of the three never gets here: users_load refuses
   * the file (test_users.c unknown_role_is_an_error_naming_user_and_file) */
  json_decref(u.map);
  rmdir(dir);
}

/* ---- operations against a real store: the role check comes first and a
 * refused operation writes nothing --------------------------------------- */

static char home[256];

static void mk_home(void)
{
  snprintf(home, sizeof home, "/tmp/weft-test-ops-XXXXXX");
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

TestSuite(ops_store, .init = mk_home, .fini = rm_home);

static struct store *open_with_run(const char *id, const char *status)
{
  struct store *s = NULL;
  char *err = NULL;
  cr_assert_eq(store_open(home, &s, &err), 0, "%s", err ? err : "?");
  struct store_run r = {.id = (char *)id, .workflow = "wf", .status = (char *)status, .trigger = "manual",
                        .parent_index = STORE_NO_INDEX, .created_at = 1000};
  cr_assert_eq(store_begin(s), 0);
  cr_assert_eq(store_run_put(s, &r), 0);
  cr_assert_eq(store_commit(s), 0);
  return s;
}

static int count_one(void *ctx, const struct store_audit *a)
{
  (void)a;
  ++*(json_int_t *)ctx;
  return 0;
}

static json_int_t audit_entries(struct store *s)
{
  json_int_t n = 0;
  cr_assert_eq(store_audit_scan(s, NULL, NULL, count_one, &n), 0);
  return n;
}

Test(ops_store, a_viewer_cannot_cancel_send_or_prune_and_nothing_is_written)
{
  struct store *s = open_with_run("01OPSRUN0000000000000000AA", "running");
  struct ops_ctx v = {.store = s, .home = home, .user = "vic", .role = ROLE_VIEWER};
  struct ops_ctx op = v;
  op.role = ROLE_OPERATOR;
  struct ops_error e = {0};
  json_t *out = NULL;
  cr_assert_eq(ops_cancel_run(&v, "01OPSRUN", &out, &e), OPS_E_FORBIDDEN);
  cr_assert_null(out);
  cr_assert_eq(ops_err_exit(e.kind), 2);
  cr_assert_eq(ops_send_event(&v, "go", NULL, &out, &e), OPS_E_FORBIDDEN);
  cr_assert_eq(ops_prune(&op, 0, "0s", true, &out, &e), OPS_E_FORBIDDEN);
  cr_assert(strstr(e.msg, "admin"), "%s", e.msg);
  cr_assert_eq(audit_entries(s), 0);
  /* reading is a viewer's */
  cr_assert_eq(ops_get_run(&v, "01OPSRUN", false, &out, &e), OPS_OK, "%s", e.msg);
  cr_assert_str_eq(json_string_value(json_object_get(out, "status")), "running");
  json_decref(out);
  cr_assert_eq(ops_list_runs(&v, &(struct store_run_filter){.limit = 10}, &out, &e), OPS_OK);
  cr_assert_eq(json_array_size(out), 1);
  json_decref(out);
  store_close(s);
}

Test(ops_store, an_operator_cancels_with_its_audit_entry)
{
  struct store *s = open_with_run("01OPSRUN0000000000000000AB", "running");
  struct ops_ctx c = {.store = s, .home = home, .user = "olga", .role = ROLE_OPERATOR, .token_id = "tok1"};
  struct ops_error e = {0};
  json_t *out = NULL;
  cr_assert_eq(ops_cancel_run(&c, "01OPSRUN", &out, &e), OPS_OK, "%s", e.msg);
  cr_assert_str_eq(json_string_value(json_object_get(out, "run")), "01OPSRUN0000000000000000AB");
  cr_assert(json_is_false(json_object_get(out, "executing")));
  json_decref(out);
  cr_assert_eq(audit_entries(s), 1);
  /* an event and its entry */
  json_t *data = json_pack("{s:i}", "n", 1);
  cr_assert_eq(ops_send_event(&c, "go", data, &out, &e), OPS_OK, "%s", e.msg);
  cr_assert_str_eq(json_string_value(json_object_get(out, "name")), "go");
  json_decref(out);
  json_decref(data);
  cr_assert_eq(ops_send_event(&c, "-bad", NULL, &out, &e), OPS_E_BAD_REQUEST);
  cr_assert(e.usage);
  cr_assert_eq(audit_entries(s), 2);
  /* the chain holds, but the run row has no run.started entry: the
   * cross-check answers ok:false (an answer, not a failure), first_bad null */
  cr_assert_eq(ops_audit_verify(&c, NULL, 0, &out, &e), OPS_OK, "%s", e.msg);
  cr_assert(json_is_false(json_object_get(out, "ok")));
  cr_assert(json_is_null(json_object_get(out, "first_bad")));
  cr_assert(strlen(json_string_value(json_object_get(out, "message"))) > 0);
  json_decref(out);
  store_close(s);
}

Test(ops_store, errors_carry_their_kind)
{
  struct store *s = open_with_run("01OPSRUN0000000000000000AC", "succeeded");
  struct ops_ctx c = {.store = s, .home = home, .user = "ada", .role = ROLE_ADMIN};
  struct ops_error e = {0};
  json_t *out = NULL;
  cr_assert_eq(ops_get_run(&c, "01NOSUCH", false, &out, &e), OPS_E_NOT_FOUND);
  cr_assert_eq(ops_err_exit(e.kind), 4);
  cr_assert_eq(ops_err_status(e.kind), 404);
  cr_assert(strstr(e.msg, "01NOSUCH"), "%s", e.msg);
  cr_assert_eq(ops_cancel_run(&c, "01OPSRUN", &out, &e), OPS_E_CONFLICT);
  cr_assert(strstr(e.msg, "already ended"), "%s", e.msg);
  struct ops_decision d = {.run = "01OPSRUN", .step = "x", .index = STORE_NO_INDEX, .decision = "reject",
                           .fields = (const char *[]){"a=1"}, .nfields = 1};
  cr_assert_eq(ops_decide(&c, &d, &out, &e), OPS_E_BAD_REQUEST);
  cr_assert(e.usage);
  cr_assert_eq(audit_entries(s), 0);
  store_close(s);
}
