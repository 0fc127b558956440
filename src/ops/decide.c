/* decide.c — deciding an approval (`weft approve`/`weft reject`, POST
 * /runs/{id}/steps/{step}/approve|reject): the rules once for the CLI and
 * the API.
 *
 * A decision is made in the caller's process, not in the engine's: it checks
 * the stored state (run, step, waiting, the recorded request), users.json
 * and the rules of engine/approval.c (approvers, separation of duties, quorum),
 * then writes in ONE transaction the decision row, its audit entry and an
 * inbox request that wakes the owning engine (which applies it within a
 * second, or at `weft resume`). A decision that is not allowed is written as
 * a "refused" row with an approval.refused audit entry in that same
 * transaction, and reported as FORBIDDEN (not an approver, self-approval) or
 * CONFLICT (not waiting, decided twice). Deciding needs only the viewer
 * role: the step's approvers rule decides. */
#include "ops/ops.h"
#include "ops/defcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/approval.h"
#include "runtime/svc_approval.h" /* appr_state_load */
#include "util/err.h"
#include "util/jsonfmt.h"
#include "util/sha256.h"
#include "util/users.h"
#include "util/wtime.h"

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

/* A usage-like failure: the request's own arguments are wrong. */
static enum ops_err bad_arg(struct ops_error *e, enum ops_err k)
{
  e->usage = true;
  return k;
}

enum ops_err ops_decide(const struct ops_ctx *c, const struct ops_decision *dd, json_t **out, struct ops_error *e)
{
  *out = NULL;
  const char *decision = dd->decision;
  const char *step = dd->step, *comment = dd->comment;
  int index = dd->index;
  struct store *s = c->store;
  struct store_run run = {0};
  struct store_step row = {0};
  struct appr_state st = {0};
  struct users users = {0};
  const struct wf *wf = NULL;
  char *why = NULL, *uerr = NULL, *edits_txt = NULL;
  json_t *edits = json_object();
  bool tx = false;
  enum ops_err k = ops_authorize(c, !strcmp(decision, "approve") ? "approve" : "reject", e);
  if (k)
    goto out;
  if (!edits) {
    k = ops_fail(e, OPS_E_INTERNAL, "out of memory");
    goto out;
  }
  if (!c->user) {
    k = ops_fail(e, OPS_E_UNAUTHORIZED, "a decision needs to know who decides");
    goto out;
  }
  if (dd->nfields && strcmp(decision, "approve")) {
    k = bad_arg(e, ops_fail(e, OPS_E_BAD_REQUEST, "--field goes with `weft approve` only"));
    goto out;
  }
  if ((k = ops_find_run(s, dd->run, &run, e)) != 0)
    goto out;
  if (!(wf = ops_def_get(s, &run))) {
    k = ops_fail(e, OPS_E_UNPROCESSABLE, "the definition of run %s cannot be loaded", run.id);
    goto out;
  }
  uint32_t si = wf_step_find(wf, step);
  const char *dot = si == WF_NONE ? strchr(step, '.') : NULL;
  const struct wf_arm *arm = NULL;
  char *step_only = NULL;
  if (dot && index < 0) { /* STEP.ARM: an approval arm of a first_of step */
    step_only = strndup(step, (size_t)(dot - step));
    si = step_only ? wf_step_find(wf, step_only) : WF_NONE;
    int32_t ai = si != WF_NONE ? wf_arm_find(&wf->steps[si], dot + 1, strlen(dot + 1)) : -1;
    arm = ai >= 0 ? &wf->steps[si].arms[ai] : NULL;
    if (si != WF_NONE && !arm) {
      k = ops_fail(e, OPS_E_NOT_FOUND, "step \"%s\" of run %s has no first_of arm \"%s\"",
                   step_only, run.id, dot + 1);
      free(step_only);
      goto out;
    }
    if (arm && arm->kind != WF_APPROVAL) {
      k = ops_fail(e, OPS_E_BAD_REQUEST, "arm \"%s\" of step \"%s\" is a %s arm, not an approval",
                   arm->name, step_only, wf_kind_name(arm->kind));
      free(step_only);
      goto out;
    }
    if (arm) {
      index = ai;
      step = wf->steps[si].id;
    }
    free(step_only);
  }
  if (si == WF_NONE) {
    k = ops_fail(e, OPS_E_NOT_FOUND, "run %s has no step \"%s\"; `weft status %s` lists its steps", run.id, step,
                 run.id);
    goto out;
  }
  bool tool_step = wf->steps[si].kind == WF_AGENT; /* a tool call waiting (approval.h) */
  if (wf->steps[si].kind == WF_FIRST_OF && !arm) {
    k = bad_arg(e, ops_fail(e, OPS_E_BAD_REQUEST,
                            "step \"%s\" is a first_of: name its approval arm as %s.ARM (`weft "
                            "approvals` lists them)",
                            step, step));
    goto out;
  }
  if (wf->steps[si].kind != WF_APPROVAL && !tool_step && !arm) {
    k = ops_fail(e, OPS_E_BAD_REQUEST, "step \"%s\" of run %s is a %s step, not an approval", step, run.id,
                 wf_kind_name(wf->steps[si].kind));
    goto out;
  }
  if (wf->steps[si].for_each && index < 0) {
    k = bad_arg(e, ops_fail(e, OPS_E_BAD_REQUEST,
                            "step \"%s\" runs for_each: name one instance as %s:INDEX (`weft approvals` lists them)",
                            step, step));
    goto out;
  }
  if (users_load(c->home, &users, &uerr) != 0) {
    k = ops_fail(e, OPS_E_UNPROCESSABLE, "%s; fix users.json in the weft home",
                 uerr ? uerr : "users.json is not valid");
    goto out;
  }
  settle(s, &run, step, index, tool_step);
  /* check and write in one write transaction: two people deciding at once
   * are serialised, the second sees the first's decision */
  if (store_begin(s) != 0) {
    k = ops_fail(e, OPS_E_UNAVAILABLE, "cannot write to the store: %s", store_errmsg(s));
    goto out;
  }
  tx = true;
  int64_t now = wt_now_ms();
  int grc = store_step_get(s, run.id, step, index, &row);
  if (grc && grc != WEFT_ENOTFOUND) {
    k = ops_fail(e, OPS_E_INTERNAL, "cannot read step %s: %s", step, store_errmsg(s));
    goto out;
  }
  if (appr_state_load(s, run.id, step, index, &st) != 0) {
    k = ops_fail(e, OPS_E_INTERNAL, "cannot read the decisions: %s", store_errmsg(s));
    goto out;
  }
  int deny = 0;
  if (tool_step && (grc || strcmp(row.status, "running") || !st.request || !json_object_get(st.request, "tool"))) {
    deny = WEFT_ESTATE;
    if (asprintf(&why, "agent step %s has no tool call waiting for a decision", step) < 0)
      why = NULL;
  } else if (arm && !grc && !strcmp(row.status, "cancelled")) {
    /* a first_of arm withdrawn because another arm finished first */
    deny = WEFT_ESTATE;
    const char *m = NULL;
    json_t *re = row.error ? json_loads(row.error, 0, NULL) : NULL;
    m = json_string_value(json_object_get(re, "message"));
    if (asprintf(&why, "approval %s.%s is closed (%s); nothing to decide", step, arm->name,
                 m ? m : "cancelled") < 0)
      why = NULL;
    json_decref(re);
  } else if (!tool_step && (grc == WEFT_ENOTFOUND || strcmp(row.status, "waiting"))) {
    deny = WEFT_ESTATE;
    if (asprintf(&why, "step %s%s is not waiting for a decision (it is %s)", step,
                 index >= 0 ? " (that instance)" : "",
                 grc == WEFT_ENOTFOUND ? (index >= 0 ? "not expanded" : "pending") : row.status) < 0)
      why = NULL;
  } else if (!tool_step && st.request &&
             json_integer_value(json_object_get(st.request, "attempt")) != (json_int_t)row.attempts) {
    deny = WEFT_ESTATE;
    why = strdup("the step has not been presented for this decision yet; try again in a moment");
  } else {
    deny = appr_may_decide(&st, &users, c->user, run.started_by, decision, now, &why);
  }
  if (!deny && !strcmp(decision, "approve")) {
    /* the edited fields: declared, typed; required ones need a value */
    for (size_t i = 0; i < dd->nfields; i++) {
      char *key = NULL, *ferr = NULL;
      json_t *val = NULL;
      if (appr_parse_field(st.request, dd->fields[i], &key, &val, &ferr) != 0) {
        k = bad_arg(e, ops_fail(e, OPS_E_BAD_REQUEST, "%s", ferr ? ferr : "bad --field"));
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
        k = bad_arg(e, ops_fail(e, OPS_E_BAD_REQUEST, "field \"%s\" is required: give --field %s=VALUE", fk, fk));
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
                         index >= 0 ? json_integer(index) : json_null(), "by", c->user, "decision", decision,
                         "comment", comment, "fields", edits, "definition_sha256",
                         run.workflow_hash ? run.workflow_hash : "", "inputs_sha256", ih, "request_sha256",
                         st.request ? rh : NULL);
  if (!comment)
    json_object_set_new(ad, "comment", json_null());
  ops_audit_actor(c, ad);
  if (st.request) {
    json_object_set(ad, "message", json_object_get(st.request, "message"));
    json_object_set_new(ad, "fields_shown", appr_field_values(&st));
  }
  int wrc;
  if (deny) {
    json_t *f = json_pack("{s:s,s:s,s:O}", "reason", why ? why : "refused", "attempted", decision, "fields", edits);
    char *ft = wjson_dumps(f, JSON_COMPACT);
    json_decref(f);
    struct store_decision d = {.run_id = run.id, .step = (char *)step, .index = index, .user = (char *)c->user,
                               .decision = "refused", .comment = (char *)comment, .fields = ft, .at = now};
    wrc = store_decision_put(s, &d, NULL);
    free(ft);
    json_object_set_new(ad, "refused", json_string(why ? why : "refused"));
    if (!wrc)
      wrc = audit_put(s, now, run.id, "approval.refused", ad);
    else
      json_decref(ad);
  } else {
    struct store_decision d = {.run_id = run.id, .step = (char *)step, .index = index, .user = (char *)c->user,
                               .decision = (char *)decision, .comment = (char *)comment, .fields = edits_txt,
                               .at = now};
    wrc = store_decision_put(s, &d, NULL);
    json_object_set_new(ad, "approvals",
                        json_integer((json_int_t)json_array_size(st.approved_by) + !strcmp(decision, "approve")));
    json_object_set_new(ad, "min_approvals", json_integer(appr_min(st.request)));
    if (!wrc)
      wrc = audit_put(s, now, run.id, "approval.decided", ad);
    else
      json_decref(ad);
    struct store_inbox m = {.kind = (char *)decision, .run_id = run.id, .step = (char *)step, .index = index,
                            .user = (char *)c->user, .created_at = now};
    if (!wrc)
      wrc = store_inbox_post(s, &m, NULL);
  }
  if (!wrc)
    wrc = store_commit(s);
  if (wrc) {
    k = ops_fail(e, OPS_E_UNAVAILABLE, "cannot record the decision: %s", store_errmsg(s));
    goto out;
  }
  tx = false;
  if (deny) {
    k = ops_fail(e, deny == WEFT_ESTATE ? OPS_E_CONFLICT : OPS_E_FORBIDDEN,
                 "%s refused: %s (the refusal is recorded in the audit log)",
                 !strcmp(decision, "approve") ? "approval" : "rejection", why ? why : "");
    goto out;
  }
  size_t have = json_array_size(st.approved_by) + !strcmp(decision, "approve");
  *out = json_pack("{s:s,s:s,s:o,s:s,s:s,s:o,s:I,s:i,s:b}", "run", run.id, "step", step, "index",
                   index >= 0 ? json_integer(index) : json_null(), "decision", decision, "by", c->user,
                   "asserted_by", c->asserted_by ? json_string(c->asserted_by) : json_null(), "approvals",
                   (json_int_t)have, "min_approvals", appr_min(st.request), "executing",
                   store_run_owner_alive(&run));
  if (!*out)
    k = ops_fail(e, OPS_E_INTERNAL, "out of memory");
out:
  if (tx && store_in_tx(s))
    store_rollback(s);
  free(why);
  free(uerr);
  free(edits_txt);
  json_decref(edits);
  appr_state_clear(&st);
  users_free(&users);
  store_step_clear(&row);
  store_run_clear(&run);
  ops_def_put(wf);
  return k;
}
