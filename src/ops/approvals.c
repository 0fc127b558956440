/* approvals.c — approval steps seen from outside the engine: the list of
 * decisions waiting (`weft approvals --json`, GET /approvals).
 * The stored request and the approvers' rules are engine/approval.c's. */
#include "ops/ops.h"
#include "ops/defcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/approval.h"
#include "runtime/svc_approval.h" /* appr_state_load */
#include "util/users.h"
#include "util/wtime.h"

/* Who the list is for: NULL lists every waiting decision (`weft
 * approvals`); else only those decider may make now (GET /approvals). */
struct decider {
  const char *user;
  const struct users *users;
};

static json_t *time_json(int64_t ms)
{
  char t[32];
  if (!ms)
    return json_null();
  wt_fmt_rfc3339(ms, t);
  return json_string(t);
}

/* The listing entry of one waiting approval instance (NULL: not an approval). */
static json_t *entry_of(struct store *s, const struct store_step *row, const struct wf *wf,
                        int64_t now, const struct decider *who)
{
  uint32_t k = wf ? wf_step_find(wf, row->step) : WF_NONE;
  /* a first_of arm that is an approval is listed as STEP.ARM (no index) */
  const struct wf_arm *arm = k != WF_NONE ? wf_step_arm(&wf->steps[k], row->index) : NULL;
  if (arm && arm->kind != WF_APPROVAL)
    return NULL;
  if (k == WF_NONE ||
      (wf->steps[k].kind != WF_APPROVAL && wf->steps[k].kind != WF_AGENT && !arm))
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
    req = appr_request_new(arm ? arm->body : wf->steps[k].body, row->started_at,
                           (unsigned)row->attempts, NULL);
  }
  if (!req)
    req = json_pack("{s:s,s:[],s:i,s:{},s:I,s:n}", "message", "", "approvers",
                    "min_approvals", 1, "fields", "waiting_since", (json_int_t)row->started_at,
                    "deadline");
  if (who && req) {
    /* the rules of ops_decide (exec/approval.c): approvers, escalations,
     * separation of duties (the starter may still reject), one decision
     * per person; a step not presented yet is judged by its definition */
    struct store_run run = {0};
    char *why = NULL;
    if (!st.request)
      st.request = json_incref(req);
    bool may = store_run_get(s, row->run_id, &run) == 0 &&
               (appr_may_decide(&st, who->users, who->user, run.started_by, "approve", now, &why) == 0 ||
                appr_may_decide(&st, who->users, who->user, run.started_by, "reject", now, NULL) == 0);
    free(why);
    store_run_clear(&run);
    if (!may) {
      json_decref(req);
      appr_state_clear(&st);
      return NULL;
    }
  }
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
  if (o && arm) {
    char name[200];
    snprintf(name, sizeof name, "%s.%s", row->step, arm->name);
    json_object_set_new(o, "step", json_string(name));
    json_object_set_new(o, "index", json_null());
  }
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
static int list_tool_calls(struct store *s, json_t *list, int64_t now, const struct decider *who)
{
  struct store_run *runs = NULL;
  size_t nr = 0;
  struct store_run_filter f = {.status = "running"}; /* an agent step runs */
  int rc = store_run_list(s, &f, &runs, &nr);
  for (size_t i = 0; !rc && i < nr; i++) {
    const struct wf *wf = ops_def_get(s, &runs[i]);
    for (uint32_t k = 0; wf && !rc && k < wf->n_steps; k++) {
      if (wf->steps[k].kind != WF_AGENT)
        continue;
      struct store_step *v = NULL;
      size_t n = 0;
      rc = store_step_list(s, runs[i].id, wf->steps[k].id, &v, &n);
      for (size_t j = 0; !rc && j < n; j++) {
        if (strcmp(v[j].status, "running"))
          continue;
        json_t *e = entry_of(s, &v[j], wf, now, who);
        if (e)
          json_array_append_new(list, e);
      }
      store_steps_free(v, n);
    }
    ops_def_put(wf);
  }
  store_runs_free(runs, nr);
  return rc;
}

static enum ops_err list(const struct ops_ctx *c, const struct decider *who, json_t **out, struct ops_error *e)
{
  *out = NULL;
  enum ops_err k = ops_authorize(c, "list_approvals", e);
  if (k)
    return k;
  struct store *s = c->store;
  struct store_step *v = NULL;
  size_t n = 0;
  json_t *list = json_array();
  struct store_run run = {0};
  const struct wf *wf = NULL;
  int64_t now = wt_now_ms();
  if (store_step_list_waiting(s, &v, &n) != 0) {
    k = ops_fail(e, OPS_E_INTERNAL, "cannot read the waiting steps: %s", store_errmsg(s));
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    if (!run.id || strcmp(run.id, v[i].run_id)) { /* rows come by run */
      store_run_clear(&run);
      ops_def_put(wf);
      wf = NULL;
      if (store_run_get(s, v[i].run_id, &run) != 0)
        continue;
      wf = ops_def_get(s, &run);
    }
    json_t *x = entry_of(s, &v[i], wf, now, who);
    if (x)
      json_array_append_new(list, x);
  }
  if (list_tool_calls(s, list, now, who) != 0) {
    k = ops_fail(e, OPS_E_INTERNAL, "cannot read the active runs: %s", store_errmsg(s));
    goto out;
  }
  *out = json_incref(list);
out:
  json_decref(list);
  store_run_clear(&run);
  ops_def_put(wf);
  store_steps_free(v, n);
  return k;
}

enum ops_err ops_list_approvals(const struct ops_ctx *c, json_t **out, struct ops_error *e)
{
  return list(c, NULL, out, e);
}

enum ops_err ops_list_approvals_for(const struct ops_ctx *c, json_t **out, struct ops_error *e)
{
  *out = NULL;
  if (!c->user)
    return ops_fail(e, OPS_E_UNAUTHORIZED, "listing the approvals one may decide needs to know who asks");
  struct users u = {0};
  char *err = NULL;
  if (users_load(c->home, &u, &err) != 0) {
    enum ops_err k = ops_fail(e, OPS_E_UNPROCESSABLE, "%s; fix users.json in the weft home",
                              err ? err : "users.json is not valid");
    free(err);
    return k;
  }
  struct decider who = {c->user, &u};
  enum ops_err k = list(c, &who, out, e);
  users_free(&u);
  return k;
}
