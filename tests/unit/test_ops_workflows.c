/* test_ops_workflows.c — the deployed-workflow operations (ops/workflows.c,
 * ops/start.c) on a real store: roles, versions and the audit entry of a
 * deploy, problems as file:line:col, the list and one workflow with its next
 * fire times at a fixed instant (a DST change), and the checks of a start
 * (not found, inputs by type, keys). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

static char home[256];
static struct store *st;

static void setup(void)
{
  snprintf(home, sizeof home, "/tmp/weft-test-opswf-XXXXXX");
  cr_assert_not_null(mkdtemp(home));
  char *err = NULL;
  cr_assert_eq(store_open(home, &st, &err), 0, "%s", err ? err : "");
}

static void teardown(void)
{
  store_close(st);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(opswf, .init = setup, .fini = teardown);

static struct ops_ctx ctx(enum role r)
{
  return (struct ops_ctx){.store = st, .home = home, .user = "olga", .role = r, .token_id = "tok_abc"};
}

static const char BERLIN[] = "name: nightly\n"
                             "inputs:\n"
                             "  n: {type: integer, default: 1}\n"
                             "  tag: {type: string, required: true}\n"
                             "triggers:\n"
                             "  - schedule: \"30 2 * * *\"\n"
                             "    timezone: Europe/Berlin\n"
                             "  - webhook: push\n"
                             "steps:\n"
                             "  a: {run: \"true\"}\n";

static enum ops_err deploy(enum role r, const char *text, json_t **out, json_t **problems, struct ops_error *e)
{
  struct ops_ctx c = ctx(r);
  return ops_deploy(&c, text, strlen(text), "n.yaml", NULL, out, problems, e);
}

struct count {
  const char *kind;
  size_t n;
};

static int count_kind(void *p, const struct store_audit *a)
{
  struct count *x = p;
  x->n += !strcmp(a->kind, x->kind);
  return 0;
}

static size_t audit_kind(const char *kind)
{
  struct count cn = {kind, 0};
  cr_assert_eq(store_audit_scan(st, NULL, NULL, count_kind, &cn), 0);
  return cn.n;
}

Test(opswf, a_viewer_cannot_deploy_and_nothing_is_written)
{
  json_t *out = NULL, *problems = NULL;
  struct ops_error e = {0};
  cr_assert_eq(deploy(ROLE_VIEWER, BERLIN, &out, &problems, &e), OPS_E_FORBIDDEN);
  cr_assert_null(out);
  struct ops_ctx c = ctx(ROLE_VIEWER);
  json_t *list = NULL;
  cr_assert_eq(ops_list_workflows(&c, &list, &e), OPS_OK);
  cr_assert_eq(json_array_size(list), 0);
  json_decref(list);
  cr_assert_eq(audit_kind("workflow.deployed"), 0);
}

Test(opswf, versions_created_unchanged_and_audited_with_the_token)
{
  json_t *out = NULL;
  struct ops_error e = {0};
  cr_assert_eq(deploy(ROLE_OPERATOR, BERLIN, &out, NULL, &e), OPS_OK, "%s", e.msg);
  cr_assert_eq(json_integer_value(json_object_get(out, "version")), 1);
  cr_assert(json_is_true(json_object_get(out, "created")));
  json_decref(out);
  cr_assert_eq(deploy(ROLE_OPERATOR, BERLIN, &out, NULL, &e), OPS_OK);
  cr_assert_eq(json_integer_value(json_object_get(out, "version")), 1);
  cr_assert(json_is_false(json_object_get(out, "created")));
  json_decref(out);
  char v2[sizeof BERLIN + 16];
  snprintf(v2, sizeof v2, "%s# two\n", BERLIN);
  cr_assert_eq(deploy(ROLE_ADMIN, v2, &out, NULL, &e), OPS_OK);
  cr_assert_eq(json_integer_value(json_object_get(out, "version")), 2);
  json_decref(out);
  cr_assert_eq(audit_kind("workflow.deployed"), 2);
  struct store_deployment d;
  cr_assert_eq(store_deploy_newest(st, "nightly", &d), 0);
  cr_assert_str_eq(d.deployed_by, "olga");
  cr_assert_null(d.path);
  store_deployment_clear(&d);
}

Test(opswf, problems_are_file_line_col_and_nothing_is_deployed)
{
  json_t *out = NULL, *problems = NULL;
  struct ops_error e = {0};
  cr_assert_eq(deploy(ROLE_OPERATOR, "name: x\nsteps:\n  a: {run: 1, nope: 2}\n", &out, &problems, &e),
               OPS_E_UNPROCESSABLE);
  cr_assert_eq(json_array_size(problems), 2);
  cr_assert_str_eq(json_string_value(json_array_get(problems, 0)),
                   "n.yaml:3:12: \"run\" in step \"a\" must be a shell script (a string), not an integer");
  cr_assert_str_eq(json_string_value(json_array_get(problems, 1)), "n.yaml:3:15: unknown key \"nope\" in step \"a\"");
  json_decref(problems);
  struct ops_ctx c = ctx(ROLE_OPERATOR);
  cr_assert_eq(ops_deploy(&c, "name: x\0", 8, NULL, NULL, &out, &problems, &e), OPS_E_UNPROCESSABLE);
  cr_assert_str_eq(json_string_value(json_array_get(problems, 0)),
                   "workflow.yaml:1:8: a NUL byte: a workflow is UTF-8 text");
  json_decref(problems);
  cr_assert_eq(ops_deploy(&c, "", 0, NULL, NULL, &out, &problems, &e), OPS_E_UNPROCESSABLE);
  cr_assert_gt(json_array_size(problems), 0);
  json_decref(problems);
  cr_assert_eq(audit_kind("workflow.deployed"), 0);
  cr_assert_eq(audit_kind("definition"), 0);
}

Test(opswf, one_workflow_with_next_fires_across_a_dst_change)
{
  json_t *out = NULL;
  struct ops_error e = {0};
  cr_assert_eq(deploy(ROLE_OPERATOR, BERLIN, &out, NULL, &e), OPS_OK);
  json_decref(out);
  struct ops_ctx c = ctx(ROLE_VIEWER);
  /* 2026-03-28T12:00:00Z; Berlin skips 02:00-03:00 on Sunday 2026-03-29:
   * that day's 02:30 fires at the first instant after the gap (01:00Z) */
  cr_assert_eq(ops_get_workflow(&c, "nightly", 1774699200000LL, &out, &e), OPS_OK, "%s", e.msg);
  json_t *fires = json_object_get(out, "next_fires");
  cr_assert_eq(json_array_size(fires), 2);
  const char *want[] = {"2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z", "2026-03-31T00:30:00.000Z",
                        "2026-04-01T00:30:00.000Z", "2026-04-02T00:30:00.000Z"};
  json_t *f0 = json_array_get(fires, 0);
  cr_assert_eq(json_array_size(f0), 5);
  for (size_t i = 0; i < 5; i++)
    cr_assert_str_eq(json_string_value(json_array_get(f0, i)), want[i]);
  cr_assert_eq(json_array_size(json_array_get(fires, 1)), 0);
  cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(out, "triggers"), 1), "webhook")),
                   "push");
  json_t *inputs = json_object_get(out, "inputs");
  cr_assert_eq(json_array_size(inputs), 2);
  cr_assert_str_eq(json_string_value(json_object_get(json_array_get(inputs, 1), "type")), "string");
  cr_assert(json_is_true(json_object_get(json_array_get(inputs, 1), "required")));
  cr_assert_str_eq(json_string_value(json_object_get(out, "source")), BERLIN);
  json_decref(out);
  cr_assert_eq(ops_get_workflow(&c, "other", 0, &out, &e), OPS_E_NOT_FOUND);
}

Test(opswf, start_prepare_checks_name_inputs_and_key)
{
  json_t *out = NULL, *problems = NULL;
  struct ops_error e = {0};
  cr_assert_eq(deploy(ROLE_OPERATOR, BERLIN, &out, NULL, &e), OPS_OK);
  json_decref(out);
  struct ops_ctx op = ctx(ROLE_OPERATOR), vi = ctx(ROLE_VIEWER);
  struct ops_start s;
  cr_assert_eq(ops_start_prepare(&vi, "nightly", NULL, NULL, NULL, &s, &problems, &e), OPS_E_FORBIDDEN);
  cr_assert_eq(ops_start_prepare(&op, "nope", NULL, NULL, NULL, &s, &problems, &e), OPS_E_NOT_FOUND);
  /* tag is required */
  cr_assert_eq(ops_start_prepare(&op, "nightly", NULL, NULL, NULL, &s, &problems, &e), OPS_E_UNPROCESSABLE);
  cr_assert_eq(json_array_size(problems), 1);
  cr_assert(strstr(json_string_value(json_array_get(problems, 0)), "nightly.yaml:4:3: "), "%s",
            json_string_value(json_array_get(problems, 0)));
  json_decref(problems);
  /* typed inputs: "3" is not an integer; KEY=VALUE texts are read by type and win */
  json_t *in = json_pack("{s:s,s:s}", "n", "3", "tag", "x");
  cr_assert_eq(ops_start_prepare(&op, "nightly", in, NULL, NULL, &s, &problems, &e), OPS_E_UNPROCESSABLE);
  json_decref(problems);
  json_t *args = json_pack("[s,s]", "n=3", "tag=2.0");
  cr_assert_eq(ops_start_prepare(&op, "nightly", in, args, "key-1", &s, &problems, &e), OPS_OK, "%s", e.msg);
  cr_assert_eq(json_integer_value(json_object_get(s.inputs, "n")), 3);
  cr_assert_str_eq(json_string_value(json_object_get(s.inputs, "tag")), "2.0");
  cr_assert_eq(s.version, 1);
  cr_assert_str_eq(s.key, "key-1");
  cr_assert_not_null(s.wf);
  ops_start_clear(&s);
  json_decref(in);
  json_decref(args);
  /* shapes and keys */
  json_t *arr = json_pack("[i]", 1);
  cr_assert_eq(ops_start_prepare(&op, "nightly", arr, NULL, NULL, &s, &problems, &e), OPS_E_BAD_REQUEST);
  cr_assert_eq(ops_start_prepare(&op, "nightly", NULL, arr, NULL, &s, &problems, &e), OPS_E_BAD_REQUEST);
  json_decref(arr);
  cr_assert_eq(ops_start_prepare(&op, "nightly", NULL, NULL, "", &s, &problems, &e), OPS_E_BAD_REQUEST);
  cr_assert_eq(ops_start_prepare(&op, "nightly", NULL, NULL, "a\tb", &s, &problems, &e), OPS_E_BAD_REQUEST);
  char longkey[OPS_IDEMPOTENCY_KEY_MAX + 2];
  memset(longkey, 'k', sizeof longkey - 1);
  longkey[sizeof longkey - 1] = 0;
  cr_assert_eq(ops_start_prepare(&op, "nightly", NULL, NULL, longkey, &s, &problems, &e), OPS_E_BAD_REQUEST);
  longkey[OPS_IDEMPOTENCY_KEY_MAX] = 0;
  args = json_pack("[s]", "tag=x");
  cr_assert_eq(ops_start_prepare(&op, "nightly", NULL, args, longkey, &s, &problems, &e), OPS_OK, "%s", e.msg);
  ops_start_clear(&s);
  json_decref(args);
}

/* ?version=N (the UI's diff between two versions): each version's own source
 * and inputs; a version that does not exist is NOT_FOUND naming the range */
Test(opswf, one_version_of_a_workflow_by_number)
{
  json_t *out = NULL;
  struct ops_error e = {0};
  const char *v1 = "name: vv\ninputs:\n  a: {type: string, default: x}\nsteps:\n  s:\n    run: echo 1\n";
  const char *v2 = "name: vv\nsteps:\n  s:\n    run: echo 2\n";
  cr_assert_eq(deploy(ROLE_OPERATOR, v1, &out, NULL, &e), OPS_OK, "%s", e.msg);
  json_decref(out);
  cr_assert_eq(deploy(ROLE_OPERATOR, v2, &out, NULL, &e), OPS_OK, "%s", e.msg);
  json_decref(out);
  struct ops_ctx c = ctx(ROLE_VIEWER);
  cr_assert_eq(ops_get_workflow_version(&c, "vv", 1, 0, &out, &e), OPS_OK, "%s", e.msg);
  cr_assert_str_eq(json_string_value(json_object_get(out, "source")), v1);
  cr_assert_eq(json_integer_value(json_object_get(out, "version")), 1);
  cr_assert_eq(json_array_size(json_object_get(out, "versions")), 2);
  cr_assert_eq(json_array_size(json_object_get(out, "inputs")), 1);
  json_decref(out);
  cr_assert_eq(ops_get_workflow_version(&c, "vv", 0, 0, &out, &e), OPS_OK, "%s", e.msg);
  cr_assert_str_eq(json_string_value(json_object_get(out, "source")), v2);
  cr_assert_eq(json_integer_value(json_object_get(out, "version")), 2);
  json_decref(out);
  cr_assert_eq(ops_get_workflow_version(&c, "vv", 3, 0, &out, &e), OPS_E_NOT_FOUND);
  cr_assert_str_eq(e.msg, "workflow vv has no version 3; its versions are 1 to 2");
}
