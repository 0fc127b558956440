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
#include "cli/remote.h"

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

/* GET /api/v1/approvals: the list (bare, or as {"approvals": [...]}) */
static int list_remote(struct cli *c, json_t **out)
{
  struct remote r;
  int rc = remote_open(c, NULL, &r);
  if (rc)
    return rc;
  json_t *j = NULL;
  rc = remote_json(&r, "GET", "/api/v1/approvals", NULL, &j, NULL);
  if (rc == 0 && json_is_object(j)) {
    json_t *a = json_incref(json_object_get(j, "approvals"));
    json_decref(j);
    j = a;
  }
  if (rc == 0 && !json_is_array(j)) {
    cli_err("the weft server at %s answered GET /api/v1/approvals without a list", r.shown);
    rc = EXIT_USAGE;
  }
  remote_close(&r);
  if (rc)
    json_decref(j);
  else
    *out = j;
  return rc;
}

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
  json_t *list = NULL;
  int rc;
  if (remote_wanted(c)) {
    if ((rc = list_remote(c, &list)) != 0)
      return rc;
  } else {
    if ((rc = rv_open_store(c->home, &s)) != 0)
      return rc;
    struct ops_ctx ctx;
    struct ops_error oe = {0};
    cli_ops_reader(c, s, &ctx);
    if (ops_list_approvals(&ctx, &list, &oe) != 0) {
      rc = cli_ops_fail(&oe);
      goto out;
    }
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

/* POST /api/v1/runs/{id}/steps/{step}/approve|reject {comment, fields,
 * index}: fields as an object of each VALUE's text as written, which the
 * server reads by the field's declared type as `--field` is read locally
 * (a string field keeps the text; other types parse it as JSON). */
static int decide_remote(struct cli *c, const struct ops_decision *d, json_t **res)
{
  json_t *body = json_object(), *f = json_object();
  for (size_t i = 0; i < d->nfields; i++) {
    const char *eq = strchr(d->fields[i], '=');
    if (!eq) {
      json_decref(body);
      json_decref(f);
      return cli_usage_error(d->decision, "--field takes KEY=VALUE, not \"%s\"", d->fields[i]);
    }
    char *k = strndup(d->fields[i], (size_t)(eq - d->fields[i]));
    json_object_set_new(f, k ? k : "", json_string(eq + 1));
    free(k);
  }
  if (d->comment)
    json_object_set_new(body, "comment", json_string(d->comment));
  if (d->nfields)
    json_object_set_new(body, "fields", f);
  else
    json_decref(f);
  if (d->index != STORE_NO_INDEX)
    json_object_set_new(body, "index", json_integer(d->index));
  struct remote r;
  int rc = remote_open(c, NULL, &r);
  char *er = remote_escape(d->run), *es = remote_escape(d->step), *path = NULL;
  if (rc == 0) {
    if (!er || !es || asprintf(&path, "/api/v1/runs/%s/steps/%s/%s", er, es, d->decision) < 0) {
      path = NULL;
      cli_err("out of memory");
      rc = EXIT_USAGE;
    } else {
      long status = 0;
      rc = remote_json(&r, "POST", path, body, res, &status);
      if (status == 400) /* the fields or the index are wrong: as the local usage error */
        cli_usage_tail(d->decision);
    }
    remote_close(&r);
  }
  free(er);
  free(es);
  free(path);
  json_decref(body);
  return rc;
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
  struct ops_decision d = {.run = pos[0], .step = step, .index = index, .decision = decision,
                           .comment = comment, .fields = fields, .nfields = nfields};
  if (remote_wanted(c)) {
    if ((rc = decide_remote(c, &d, &res)) != 0)
      goto out;
  } else {
    if ((rc = cli_identity(c)) != 0 || (rc = rv_open_store_rw(c->home, &s)) != 0)
      goto out;
    struct ops_ctx ctx;
    if ((rc = cli_ops_actor(c, s, &ctx)) != 0)
      goto out;
    struct ops_error e = {0};
    if (ops_decide(&ctx, &d, &res, &e) != 0) {
      rc = e.usage ? cli_usage_error(cmd, "%s", e.msg) : cli_ops_fail(&e);
      goto out;
    }
  }
  const char *run_id = json_string_value(json_object_get(res, "run"));
  const char *by = json_string_value(json_object_get(res, "by"));
  if (!by)
    by = c->user ? c->user : "?";
  json_int_t have = json_integer_value(json_object_get(res, "approvals"));
  json_int_t need = json_integer_value(json_object_get(res, "min_approvals"));
  if (!strcmp(decision, "approve"))
    printf("approved %s of run %s as %s (%lld of %lld approval%s)\n", pos[1], run_id, by,
           (long long)have, (long long)need, need == 1 ? "" : "s");
  else
    printf("rejected %s of run %s as %s\n", pos[1], run_id, by);
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
