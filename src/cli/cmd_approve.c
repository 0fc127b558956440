/* cmd_approve.c — the human side of approval steps: `weft approvals`,
 * `weft approve` and `weft reject`.
 *
 * A decision is made in THIS process, not in the engine's: it checks the
 * stored state (run, step, waiting, the recorded request), users.json and
 * the rules of exec/approval.c, then writes in ONE transaction the decision
 * row, its audit entry and an inbox request that wakes the owning engine
 * (which applies it within a second, or at `weft resume`). A decision that is
 * not allowed is written as a "refused" row with an approval.refused audit
 * entry and reported as an error (exit 2). */
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/runview.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec/approval.h"
#include "util/err.h"
#include "util/sha256.h"
#include "util/users.h"
#include "util/wtime.h"
#include "util/jsonfmt.h"
#include "util/term.h"

int cli_approvals(struct cli *c, int argc, char **argv);
int cli_approve(struct cli *c, int argc, char **argv);
int cli_reject(struct cli *c, int argc, char **argv);

static json_t *time_json(int64_t ms)
{
  char t[32];
  if (!ms)
    return json_null();
  wt_fmt_rfc3339(ms, t);
  return json_string(t);
}

/* ---- weft approvals ----------------------------------------------------- */

/* The listing entry of one waiting approval instance (NULL: not an approval). */
static json_t *entry_of(struct store *s, const struct store_step *row, const struct wf *wf,
                        int64_t now)
{
  uint32_t k = wf ? wf_step_find(wf, row->step) : WF_NONE;
  if (k == WF_NONE || (wf->steps[k].kind != WF_APPROVAL && wf->steps[k].kind != WF_AGENT))
    return NULL;
  bool tool = wf->steps[k].kind == WF_AGENT;
  struct appr_state st = {0};
  json_t *req = NULL;
  if (appr_state_load(s, row->run_id, row->step, row->index, &st) == 0 && st.request)
    req = json_incref(st.request);
  if (tool && (!req || !json_object_get(req, "tool") || appr_decided(&st))) {
    /* an agent step is listed only while one of its tool calls waits */
    json_decref(req);
    appr_state_clear(&st);
    return NULL;
  }
  if (!req) {
    /* not presented by its engine yet. A live engine does so within a tick,
     * with the rendered message and field defaults: list it then. With no
     * engine, show what the definition says until `weft resume`. */
    struct store_run run = {0};
    bool alive = store_run_get(s, row->run_id, &run) == 0 && store_run_owner_alive(&run);
    store_run_clear(&run);
    if (alive) {
      appr_state_clear(&st);
      return NULL;
    }
    req = appr_request_new(wf->steps[k].body, row->started_at, (unsigned)row->attempts, NULL);
  }
  if (!req)
    req = json_pack("{s:s,s:[],s:i,s:{},s:I,s:n}", "message", "", "approvers",
                    "min_approvals", 1, "fields", "waiting_since", (json_int_t)row->started_at,
                    "deadline");
  json_t *dl = json_object_get(req, "deadline");
  json_t *o = json_pack(
      "{s:s,s:s,s:O,s:o,s:i,s:O,s:O,s:o,s:o,s:o,s:O}", "run", row->run_id, "step", row->step,
      "message", json_object_get(req, "message"), "approvers",
      appr_effective_approvers(req, now), "min_approvals", appr_min(req), "approved_by",
      st.approved_by ? st.approved_by : json_array(), "fields", json_object_get(req, "fields"),
      "waiting_since", time_json(json_integer_value(json_object_get(req, "waiting_since"))),
      "deadline", json_is_integer(dl) ? time_json(json_integer_value(dl)) : json_null(),
      "index", row->index >= 0 ? json_integer(row->index) : json_null(), "on_timeout",
      json_object_get(req, "on_timeout"));
  if (o && json_object_get(req, "tool")) {
    json_object_set(o, "tool", json_object_get(req, "tool"));
    json_object_set(o, "args", json_object_get(req, "args"));
  }
  json_decref(req);
  appr_state_clear(&st);
  return o;
}

/* Agent tool calls waiting for a decision: running agent steps (of running
 * runs) whose latest request names a tool and is not decided yet. */
static int list_tool_calls(struct store *s, json_t *list, int64_t now)
{
  struct store_run *runs = NULL;
  size_t nr = 0;
  struct store_run_filter f = {.status = "running"}; /* an agent step runs */
  int rc = store_run_list(s, &f, &runs, &nr);
  for (size_t i = 0; !rc && i < nr; i++) {
    struct wf *wf = rv_load_definition(s, &runs[i]);
    for (uint32_t k = 0; wf && !rc && k < wf->n_steps; k++) {
      if (wf->steps[k].kind != WF_AGENT)
        continue;
      struct store_step *v = NULL;
      size_t n = 0;
      rc = store_step_list(s, runs[i].id, wf->steps[k].id, &v, &n);
      for (size_t j = 0; !rc && j < n; j++) {
        if (strcmp(v[j].status, "running"))
          continue;
        json_t *e = entry_of(s, &v[j], wf, now);
        if (e)
          json_array_append_new(list, e);
      }
      store_steps_free(v, n);
    }
    wf_free(wf);
  }
  store_runs_free(runs, nr);
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
  int rc = rv_open_store(c->home, &s);
  if (rc)
    return rc;
  struct store_step *v = NULL;
  size_t n = 0;
  json_t *list = json_array();
  struct store_run run = {0};
  struct wf *wf = NULL;
  int64_t now = wt_now_ms();
  if (store_step_list_waiting(s, &v, &n) != 0) {
    cli_err("cannot read the waiting steps: %s", store_errmsg(s));
    rc = EXIT_USAGE;
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    if (!run.id || strcmp(run.id, v[i].run_id)) { /* rows come by run */
      store_run_clear(&run);
      wf_free(wf);
      wf = NULL;
      if (store_run_get(s, v[i].run_id, &run) != 0)
        continue;
      wf = rv_load_definition(s, &run);
    }
    json_t *e = entry_of(s, &v[i], wf, now);
    if (e)
      json_array_append_new(list, e);
  }
  if (list_tool_calls(s, list, now) != 0) {
    cli_err("cannot read the active runs: %s", store_errmsg(s));
    rc = EXIT_USAGE;
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
  store_run_clear(&run);
  wf_free(wf);
  store_steps_free(v, n);
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

static void inputs_hash(const char *inputs, char out[SHA256_HEX_LEN + 1])
{
  json_t *j = inputs ? json_loads(inputs, 0, NULL) : NULL;
  /* hashed: jansson's canonical text (as the audit chain), stable across versions */
  char *t = json_dumps(j ? j : json_object(), JSON_COMPACT | JSON_SORT_KEYS);
  sha256_hex(t ? t : "", t ? strlen(t) : 0, out);
  free(t);
  json_decref(j);
}

static int audit_put(struct store *s, int64_t at, const char *run_id, const char *kind, json_t *d)
{
  char *t = wjson_dumps(d, JSON_COMPACT);
  json_decref(d);
  int rc = t ? store_audit_append(s, at, run_id, kind, t, NULL) : WEFT_ENOMEM;
  free(t);
  return rc;
}

/* The live engine of a run commits `waiting` and presents the request (the
 * "requested" row) a moment later, and applies a reached decision within
 * ~200 ms. Someone deciding in between would be refused for a moment that
 * only exists inside weft: wait for the engine to catch up (at most ~3 s,
 * only while it is alive), then decide against settled state. */
static void settle(struct store *s, struct store_run *run, const char *step, int index,
                   bool tool_step)
{
  for (int tries = 0; tries < 60; tries++) {
    struct store_step row = {0};
    struct appr_state st = {0};
    bool busy = false;
    if (store_step_get(s, run->id, step, index, &row) == 0 &&
        !strcmp(row.status, tool_step ? "running" : "waiting") &&
        appr_state_load(s, run->id, step, index, &st) == 0) {
      bool stale = !st.request || json_integer_value(json_object_get(st.request, "attempt")) !=
                                      (json_int_t)row.attempts;
      /* a tool call's request may come from an earlier attempt (resumed) */
      busy = tool_step ? st.request && appr_decided(&st) : stale || appr_decided(&st);
    }
    store_step_clear(&row);
    appr_state_clear(&st);
    if (!busy)
      return;
    struct store_run fresh = {0};
    bool alive = store_run_get(s, run->id, &fresh) == 0 && store_run_owner_alive(&fresh);
    store_run_clear(&fresh);
    if (!alive)
      return;
    usleep(50 * 1000);
  }
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
  struct store_run run = {0};
  struct store_step row = {0};
  struct appr_state st = {0};
  struct users users = {0};
  struct wf *wf = NULL;
  char *step = NULL, *why = NULL, *uerr = NULL, *edits_txt = NULL;
  json_t *edits = json_object();
  int index = STORE_NO_INDEX;
  bool tx = false;
  if (!fields || !edits) {
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
  if (nfields && strcmp(decision, "approve")) {
    rc = cli_usage_error(cmd, "--field goes with `weft approve` only");
    goto out;
  }
  if (parse_step_arg(pos[1], &step, &index) != 0) {
    rc = cli_usage_error(cmd, "\"%s\" is not STEP or STEP:INDEX", pos[1]);
    goto out;
  }
  if ((rc = cli_identity(c)) != 0 || (rc = rv_open_store_rw(c->home, &s)) != 0)
    goto out;
  if ((rc = rv_find_run(s, pos[0], &run)) != 0)
    goto out;
  if (!(wf = rv_load_definition(s, &run))) {
    cli_err("the definition of run %s cannot be loaded", run.id);
    rc = EXIT_USAGE;
    goto out;
  }
  uint32_t k = wf_step_find(wf, step);
  if (k == WF_NONE) {
    cli_err("run %s has no step \"%s\"; `weft status %s` lists its steps", run.id, step, run.id);
    rc = EXIT_NOT_FOUND;
    goto out;
  }
  bool tool_step = wf->steps[k].kind == WF_AGENT; /* a tool call waiting (approval.h) */
  if (wf->steps[k].kind != WF_APPROVAL && !tool_step) {
    cli_err("step \"%s\" of run %s is a %s step, not an approval", step, run.id,
            wf_kind_name(wf->steps[k].kind));
    rc = EXIT_USAGE;
    goto out;
  }
  if (wf->steps[k].for_each && index < 0) {
    rc = cli_usage_error(cmd, "step \"%s\" runs for_each: name one instance as %s:INDEX "
                         "(`weft approvals` lists them)", step, step);
    goto out;
  }
  if (users_load(c->home, &users, &uerr) != 0) {
    cli_err("%s; fix users.json in the weft home", uerr ? uerr : "users.json is not valid");
    rc = EXIT_USAGE;
    goto out;
  }
  settle(s, &run, step, index, tool_step);
  /* check and write in one write transaction: two people deciding at once
   * are serialised, the second sees the first's decision */
  if (store_begin(s) != 0) {
    cli_err("cannot write to the store: %s", store_errmsg(s));
    rc = EXIT_USAGE;
    goto out;
  }
  tx = true;
  int64_t now = wt_now_ms();
  int grc = store_step_get(s, run.id, step, index, &row);
  if (grc && grc != WEFT_ENOTFOUND) {
    cli_err("cannot read step %s: %s", step, store_errmsg(s));
    rc = EXIT_USAGE;
    goto out;
  }
  if (appr_state_load(s, run.id, step, index, &st) != 0) {
    cli_err("cannot read the decisions: %s", store_errmsg(s));
    rc = EXIT_USAGE;
    goto out;
  }
  int deny = 0;
  if (tool_step && (grc || strcmp(row.status, "running") || !st.request ||
                    !json_object_get(st.request, "tool"))) {
    deny = WEFT_ESTATE;
    if (asprintf(&why, "agent step %s has no tool call waiting for a decision", step) < 0)
      why = NULL;
  } else if (!tool_step && (grc == WEFT_ENOTFOUND || strcmp(row.status, "waiting"))) {
    deny = WEFT_ESTATE;
    if (asprintf(&why, "step %s%s is not waiting for a decision (it is %s)", step,
                 index >= 0 ? " (that instance)" : "",
                 grc == WEFT_ENOTFOUND ? (index >= 0 ? "not expanded" : "pending")
                                       : row.status) < 0)
      why = NULL;
  } else if (!tool_step && st.request &&
             json_integer_value(json_object_get(st.request, "attempt")) !=
                 (json_int_t)row.attempts) {
    deny = WEFT_ESTATE;
    why = strdup("the step has not been presented for this decision yet; try again in a moment");
  } else {
    deny = appr_may_decide(&st, &users, c->user, run.started_by, decision, now, &why);
  }
  if (!deny && !strcmp(decision, "approve")) {
    /* the edited fields: declared, typed; required ones need a value */
    for (size_t i = 0; i < nfields; i++) {
      char *key = NULL, *ferr = NULL;
      json_t *val = NULL;
      if (appr_parse_field(st.request, fields[i], &key, &val, &ferr) != 0) {
        rc = cli_usage_error(cmd, "%s", ferr ? ferr : "bad --field");
        free(ferr);
        goto out;
      }
      json_object_set_new(edits, key, val);
      free(key);
    }
    json_t *vals = appr_field_values(&st);
    json_object_update(vals, edits);
    const char *fk;
    json_t *fd;
    json_object_foreach(json_object_get(st.request, "fields"), fk, fd) {
      if (json_is_true(json_object_get(fd, "required")) && json_is_null(json_object_get(vals, fk))) {
        json_decref(vals);
        rc = cli_usage_error(cmd, "field \"%s\" is required: give --field %s=VALUE", fk, fk);
        goto out;
      }
    }
    json_decref(vals);
  }
  edits_txt = wjson_dumps(edits, JSON_COMPACT);
  char ih[SHA256_HEX_LEN + 1], rh[SHA256_HEX_LEN + 1];
  inputs_hash(run.inputs, ih);
  if (st.request)
    appr_request_hash(st.request, rh);
  json_t *ad = json_pack("{s:s,s:o,s:s,s:s,s:s?,s:O,s:s,s:s,s:s?}", "step", step, "index",
                         index >= 0 ? json_integer(index) : json_null(), "by", c->user,
                         "decision", decision, "comment", comment, "fields", edits,
                         "definition_sha256", run.workflow_hash ? run.workflow_hash : "",
                         "inputs_sha256", ih, "request_sha256", st.request ? rh : NULL);
  if (!comment)
    json_object_set_new(ad, "comment", json_null());
  if (c->asserted_by) /* --as, allowed by users.json: both names */
    json_object_set_new(ad, "asserted_by", json_string(c->asserted_by));
  if (st.request) {
    json_object_set(ad, "message", json_object_get(st.request, "message"));
    json_object_set_new(ad, "fields_shown", appr_field_values(&st));
  }
  int wrc;
  if (deny) {
    json_t *f = json_pack("{s:s,s:s,s:O}", "reason", why ? why : "refused", "attempted",
                          decision, "fields", edits);
    char *ft = wjson_dumps(f, JSON_COMPACT);
    json_decref(f);
    struct store_decision d = {.run_id = run.id, .step = step, .index = index, .user = (char *)c->user,
                               .decision = "refused", .comment = (char *)comment, .fields = ft, .at = now};
    wrc = store_decision_put(s, &d, NULL);
    free(ft);
    json_object_set_new(ad, "refused", json_string(why ? why : "refused"));
    if (!wrc)
      wrc = audit_put(s, now, run.id, "approval.refused", ad);
    else
      json_decref(ad);
  } else {
    struct store_decision d = {.run_id = run.id, .step = step, .index = index, .user = (char *)c->user,
                               .decision = (char *)decision, .comment = (char *)comment, .fields = edits_txt,
                               .at = now};
    wrc = store_decision_put(s, &d, NULL);
    json_object_set_new(ad, "approvals",
                        json_integer((json_int_t)json_array_size(st.approved_by) +
                                     !strcmp(decision, "approve")));
    json_object_set_new(ad, "min_approvals", json_integer(appr_min(st.request)));
    if (!wrc)
      wrc = audit_put(s, now, run.id, "approval.decided", ad);
    else
      json_decref(ad);
    struct store_inbox m = {.kind = (char *)decision, .run_id = run.id, .step = step,
                            .index = index, .user = (char *)c->user, .created_at = now};
    if (!wrc)
      wrc = store_inbox_post(s, &m, NULL);
  }
  if (!wrc)
    wrc = store_commit(s);
  if (wrc) {
    cli_err("cannot record the decision: %s", store_errmsg(s));
    rc = EXIT_USAGE;
    goto out;
  }
  tx = false;
  if (deny) {
    cli_err("%s refused: %s (the refusal is recorded in the audit log)",
            !strcmp(decision, "approve") ? "approval" : "rejection", why ? why : "");
    rc = EXIT_USAGE;
    goto out;
  }
  size_t have = json_array_size(st.approved_by) + 1;
  int need = appr_min(st.request);
  if (!strcmp(decision, "approve"))
    printf("approved %s of run %s as %s (%zu of %d approval%s)\n", pos[1], run.id, c->user,
           have, need, need == 1 ? "" : "s");
  else
    printf("rejected %s of run %s as %s\n", pos[1], run.id, c->user);
  if (c->asserted_by)
    printf("identity asserted with --as by %s (users.json allows it): recorded as asserted, "
           "not verified\n", c->asserted_by);
  if (!store_run_owner_alive(&run))
    printf("no weft process executes this run now: `weft resume %s` applies the decision\n",
           run.id);
out:
  if (tx && store_in_tx(s))
    store_rollback(s);
  free(fields);
  free(step);
  free(why);
  free(uerr);
  free(edits_txt);
  json_decref(edits);
  appr_state_clear(&st);
  users_free(&users);
  store_step_clear(&row);
  store_run_clear(&run);
  wf_free(wf);
  store_close(s);
  return rc;
}

int cli_approve(struct cli *c, int argc, char **argv) { return decide(c, argc, argv, "approve"); }
int cli_reject(struct cli *c, int argc, char **argv) { return decide(c, argc, argv, "reject"); }
