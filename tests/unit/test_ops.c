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
                                         "metrics", "approve", "reject", NULL};
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
  cr_assert_eq(ops_local_role(other, &u, "bad", &r, &e), OPS_E_UNPROCESSABLE);
  cr_assert(strstr(e.msg, "bad"), "%s", e.msg);
  json_decref(u.map);
  rmdir(dir);
}
