/* cmd_approve.c — the human side of approval steps: `weft approvals`,
 * `weft approve` and `weft reject`.
 *
 * Only argv and the terminal are here: the list is ops_list_approvals and
 * the decision, with all its rules (who may decide, separation of duties,
 * quorum, refusals recorded and audited), is ops_decide (ops/decide.c). A
 * refused decision exits 2. */
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/runview.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/wtime.h"
#include "util/jsonfmt.h"
#include "util/term.h"

int cli_approvals(struct cli *c, int argc, char **argv);
int cli_approve(struct cli *c, int argc, char **argv);
int cli_reject(struct cli *c, int argc, char **argv);

/* ---- weft approvals ----------------------------------------------------- */

int cli_approvals(struct cli *c, int argc, char **argv)
{
  bool as_json = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--json"))
      as_json = true;
    else
      return cli_usage_error("approvals", "unexpected argument \"%s\"", argv[i]);
  }
  struct store *s = NULL;
  int rc = rv_open_store(c->home, &s);
  if (rc)
    return rc;
  struct ops_ctx ctx;
  struct ops_error oe = {0};
  json_t *list = NULL;
  cli_ops_reader(c, s, &ctx);
  if (ops_list_approvals(&ctx, &list, &oe) != 0) {
    rc = cli_ops_fail(&oe);
    goto out;
  }
  if (as_json) {
    char *t = wjson_dumps(list, JSON_INDENT(2));
    printf("%s\n", t ? t : "[]");
    free(t);
  } else if (json_array_size(list) == 0) {
    printf("no decisions are waiting\n");
  } else {
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
      char step[200];
      json_t *ix = json_object_get(e, "index");
      if (json_is_integer(ix))
        snprintf(step, sizeof step, "%s:%lld", json_string_value(json_object_get(e, "step")),
                 (long long)json_integer_value(ix));
      else
        snprintf(step, sizeof step, "%s", json_string_value(json_object_get(e, "step")));
      char *who = wjson_dumps(json_object_get(e, "approvers"), JSON_COMPACT);
      char *by = wjson_dumps(json_object_get(e, "approved_by"), JSON_COMPACT);
      size_t nby = json_array_size(json_object_get(e, "approved_by"));
      printf("%s %s\n  %s\n  approvers: %s  approvals: %zu of %lld%s%s\n  waiting since %s",
             json_string_value(json_object_get(e, "run")), term_safe(step),
             term_safe(json_string_value(json_object_get(e, "message"))),
             json_array_size(json_object_get(e, "approvers")) ? term_safe(who) : "anyone", nby,
             (long long)json_integer_value(json_object_get(e, "min_approvals")),
             nby ? " by " : "", nby && by ? term_safe(by) : "",
             json_string_value(json_object_get(e, "waiting_since")));
      if (json_is_string(json_object_get(e, "tool")))
        printf("\n  tool call: %s", term_safe(json_string_value(json_object_get(e, "tool"))));
      if (json_is_string(json_object_get(e, "deadline")))
        printf(", deadline %s (then %s)", json_string_value(json_object_get(e, "deadline")),
               json_string_value(json_object_get(e, "on_timeout")));
      printf("\n  weft approve %s %s   |   weft reject %s %s\n",
             json_string_value(json_object_get(e, "run")), step,
             json_string_value(json_object_get(e, "run")), step);
      free(who);
      free(by);
    }
  }
out:
  json_decref(list);
  store_close(s);
  return rc;
}

/* ---- weft approve / weft reject ------------------------------------------ */

/* "step", "step:3" or "step[3]" */
static int parse_step_arg(const char *a, char **step, int *index)
{
  const char *p = strpbrk(a, ":[");
  *index = STORE_NO_INDEX;
  if (!p) {
    *step = strdup(a);
    return *step ? 0 : WEFT_ENOMEM;
  }
  char *end = NULL;
  long ix = strtol(p + 1, &end, 10);
  if (end == p + 1 || ix < 0 || (*p == '[' ? strcmp(end, "]") : *end != '\0'))
    return WEFT_EINVAL;
  *index = (int)ix;
  *step = strndup(a, (size_t)(p - a));
  return *step ? 0 : WEFT_ENOMEM;
}

static int decide(struct cli *c, int argc, char **argv, const char *decision)
{
  const char *cmd = argv[0];
  const char *pos[2] = {NULL, NULL};
  size_t npos = 0;
  const char *comment = NULL;
  const char **fields = calloc((size_t)argc + 1, sizeof *fields);
  size_t nfields = 0;
  int rc = 0;
  struct store *s = NULL;
  char *step = NULL;
  json_t *res = NULL;
  int index = STORE_NO_INDEX;
  if (!fields) {
    cli_err("out of memory");
    rc = EXIT_USAGE;
    goto out;
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--comment") || !strcmp(a, "--field")) {
      if (i + 1 >= argc) {
        rc = cli_usage_error(cmd, "%s needs a value", a);
        goto out;
      }
      if (!strcmp(a, "--comment"))
        comment = argv[++i];
      else
        fields[nfields++] = argv[++i];
    } else if (!strncmp(a, "--comment=", 10)) {
      comment = a + 10;
    } else if (!strncmp(a, "--field=", 8)) {
      fields[nfields++] = a + 8;
    } else if (a[0] == '-' && a[1]) {
      rc = cli_usage_error(cmd, "unknown option \"%s\"", a);
      goto out;
    } else if (npos < 2) {
      pos[npos++] = a;
    } else {
      rc = cli_usage_error(cmd, "unexpected argument \"%s\"", a);
      goto out;
    }
  }
  if (npos < 2) {
    rc = cli_usage_error(cmd, "say which run and which step");
    goto out;
  }
  if (parse_step_arg(pos[1], &step, &index) != 0) {
    rc = cli_usage_error(cmd, "\"%s\" is not STEP or STEP:INDEX", pos[1]);
    goto out;
  }
  if ((rc = cli_identity(c)) != 0 || (rc = rv_open_store_rw(c->home, &s)) != 0)
    goto out;
  struct ops_ctx ctx;
  if ((rc = cli_ops_actor(c, s, &ctx)) != 0)
    goto out;
  struct ops_decision d = {.run = pos[0], .step = step, .index = index, .decision = decision,
                           .comment = comment, .fields = fields, .nfields = nfields};
  struct ops_error e = {0};
  if (ops_decide(&ctx, &d, &res, &e) != 0) {
    rc = e.usage ? cli_usage_error(cmd, "%s", e.msg) : cli_ops_fail(&e);
    goto out;
  }
  const char *run_id = json_string_value(json_object_get(res, "run"));
  json_int_t have = json_integer_value(json_object_get(res, "approvals"));
  json_int_t need = json_integer_value(json_object_get(res, "min_approvals"));
  if (!strcmp(decision, "approve"))
    printf("approved %s of run %s as %s (%lld of %lld approval%s)\n", pos[1], run_id, c->user,
           (long long)have, (long long)need, need == 1 ? "" : "s");
  else
    printf("rejected %s of run %s as %s\n", pos[1], run_id, c->user);
  if (c->asserted_by)
    printf("identity asserted with --as by %s (users.json allows it): recorded as asserted, "
           "not verified\n", c->asserted_by);
  if (!json_is_true(json_object_get(res, "executing")))
    printf("no weft process executes this run now: `weft resume %s` applies the decision\n",
           run_id);
out:
  free(fields);
  free(step);
  json_decref(res);
  store_close(s);
  return rc;
}
int cli_approve(struct cli *c, int argc, char **argv) { return decide(c, argc, argv, "approve"); }
int cli_reject(struct cli *c, int argc, char **argv) { return decide(c, argc, argv, "reject"); }
