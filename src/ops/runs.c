/* runs.c — reading runs: finding one by id or prefix, the definition it
 * started with, the `weft status --json` object (CLI.md; the API's
 * GET /runs/{id}) with the for_each instance rules, and the run list
 * (`weft runs --json`; GET /runs). */
#include "ops/ops.h"
#include "ops/defcache.h"

#include <stdlib.h>
#include <string.h>

#include "spec/model.h"
#include "util/diag.h"
#include "util/err.h"
#include "util/wtime.h"

enum ops_err ops_find_run(struct store *s, const char *id, struct store_run *out, struct ops_error *e)
{
  int rc = store_run_get(s, id, out);
  if (rc == WEFT_ENOTFOUND || rc == WEFT_EINVAL) /* EINVAL: too long to be an id */
    return ops_fail(e, OPS_E_NOT_FOUND, "no run matches \"%s\"; `weft runs` lists them", id);
  if (rc == WEFT_EAMBIGUOUS)
    return ops_fail(e, OPS_E_BAD_REQUEST, "\"%s\" matches several runs; give more characters of the id", id);
  if (rc)
    return ops_fail(e, OPS_E_INTERNAL, "cannot read run %s: %s", id, store_errmsg(s));
  return OPS_OK;
}

struct wf *ops_load_definition(struct store *s, const struct store_run *r)
{
  struct store_workflow w = {0};
  struct wf *wf = NULL;
  if (store_workflow_get(s, r->workflow_hash, &w) == 0) {
    struct diag_list d = {0};
    wf_load_string(r->path ? r->path : "workflow.yaml", w.source, strlen(w.source), &wf, &d);
    diag_list_free(&d);
  }
  store_workflow_clear(&w);
  return wf;
}

static json_t *time_or_null(int64_t ms)
{
  if (!ms)
    return json_null();
  char t[32];
  wt_fmt_rfc3339(ms, t);
  return json_string(t);
}

static json_t *parse_or(const char *txt, json_t *dflt)
{
  json_t *v = txt ? json_loads(txt, JSON_DECODE_ANY, NULL) : NULL;
  if (v) {
    json_decref(dflt);
    return v;
  }
  return dflt;
}

static json_t *unit_json(const struct store_step *st)
{
  json_t *o = json_object();
  json_object_set_new(o, "status", json_string(st ? st->status : "pending"));
  json_object_set_new(o, "attempts", json_integer(st ? st->attempts : 0));
  json_object_set_new(o, "exit_code",
                      st && st->has_exit_code ? json_integer(st->exit_code) : json_null());
  json_object_set_new(o, "error", parse_or(st ? st->error : NULL, json_null()));
  json_object_set_new(o, "started_at", time_or_null(st ? st->started_at : 0));
  json_object_set_new(o, "finished_at", time_or_null(st ? st->finished_at : 0));
  json_object_set_new(o, "outputs", parse_or(st ? st->outputs : NULL, json_object()));
  return o;
}

/* The instances of one for_each step: counts per status (kept on the step's
 * own row, else counted), then the instances themselves, all of them by
 * index up to OPS_INSTANCES_SHOWN (or with all), else the first
 * OPS_INSTANCES_SHOWN with the failed ones first. */
static void fe_instances(struct store *s, const struct store_run *r, const char *id,
                         const struct store_step *plain, bool all, json_t *u)
{
  json_t *counts = parse_or(plain ? plain->counts : NULL, NULL);
  if (!json_is_object(counts)) {
    json_decref(counts);
    char *txt = NULL;
    counts = store_step_count(s, r->id, id, &txt) == 0 ? parse_or(txt, json_object())
                                                        : json_object();
    free(txt);
  }
  size_t total = 0, failed = 0;
  const char *k;
  json_t *v;
  json_object_foreach(counts, k, v) {
    total += (size_t)json_integer_value(v);
    if (!strcmp(k, "failed"))
      failed = (size_t)json_integer_value(v);
  }
  bool truncate = !all && total > OPS_INSTANCES_SHOWN;
  struct store_step *a = NULL, *b = NULL;
  size_t na = 0, nb = 0;
  if (!truncate) {
    store_step_page(s, r->id, id, STORE_PAGE_ALL, 0, &a, &na);
  } else {
    if (failed)
      store_step_page(s, r->id, id, STORE_PAGE_FAILED, OPS_INSTANCES_SHOWN, &a, &na);
    if (na < OPS_INSTANCES_SHOWN)
      store_step_page(s, r->id, id, STORE_PAGE_NOT_FAILED, OPS_INSTANCES_SHOWN - na, &b, &nb);
  }
  json_t *inst = json_array(), *outs = json_array();
  for (int pass = 0; pass < 2; pass++) {
    struct store_step *rows = pass ? b : a;
    size_t n = pass ? nb : na;
    for (size_t i = 0; i < n; i++) {
      json_t *x = unit_json(&rows[i]);
      json_object_set_new(x, "index", json_integer(rows[i].index));
      /* as the engine's .steps.X.outputs: null for an instance with none
       * (withdrawn by complete_when, or not run) */
      json_array_append(outs, rows[i].outputs ? json_object_get(x, "outputs") : json_null());
      json_array_append_new(inst, x);
    }
  }
  store_steps_free(a, na);
  store_steps_free(b, nb);
  json_object_set_new(u, "instances", inst);
  json_object_set_new(u, "instance_counts", counts);
  if (truncate)
    json_object_set_new(u, "instances_truncated", json_true());
  if (!plain || !plain->outputs || !json_is_array(json_object_get(u, "outputs")))
    json_object_set_new(u, "outputs", outs);
  else
    json_decref(outs);
}

/* A first_of step: `arms: {ARM: {status, outputs}}` from its instances, and
 * its own outputs ({winner, outputs}, or null while undecided) kept. */
static void fo_arms(const struct wf_step *ws, const struct store_step *plain, json_t *u)
{
  json_t *arms = json_object(), *inst = json_object_get(u, "instances");
  for (uint32_t i = 0; i < ws->n_arms; i++) {
    json_t *a = json_pack("{s:s,s:n}", "status", "pending", "outputs");
    size_t j;
    json_t *x;
    json_array_foreach(inst, j, x)
      if (json_integer_value(json_object_get(x, "index")) == (json_int_t)i) {
        json_object_set(a, "status", json_object_get(x, "status"));
        json_object_set(a, "outputs", json_object_get(x, "outputs"));
        if (!json_is_null(json_object_get(x, "error")))
          json_object_set(a, "error", json_object_get(x, "error"));
      }
    json_object_set_new(arms, ws->arms[i].name, a);
  }
  json_object_set_new(u, "arms", arms);
  json_object_set_new(u, "outputs",
                      plain && plain->outputs ? parse_or(plain->outputs, json_null()) : json_null());
}

json_t *ops_run_json(struct store *s, const struct store_run *r, bool all_instances)
{
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(r->id));
  json_object_set_new(o, "workflow", json_string(r->workflow));
  json_object_set_new(o, "status", json_string(r->status));
  json_object_set_new(o, "trigger", r->trigger ? json_string(r->trigger) : json_null());
  json_object_set_new(o, "parent", r->parent_id ? json_string(r->parent_id) : json_null());
  if (r->parent_id)
    json_object_set_new(o, "parent_step", json_string(r->parent_step ? r->parent_step : ""));
  /* sub-workflow runs started by this run's workflow steps (the link back) */
  struct store_run *kids = NULL;
  size_t nk = 0;
  if (store_run_children(s, r->id, &kids, &nk) == 0 && nk) {
    json_t *a = json_array();
    for (size_t i = nk; i-- > 0;) /* oldest first */
      json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s}", "id", kids[i].id, "workflow",
                                         kids[i].workflow, "status", kids[i].status, "step",
                                         kids[i].parent_step ? kids[i].parent_step : ""));
    json_object_set_new(o, "children", a);
  }
  store_runs_free(kids, nk);
  json_object_set_new(o, "started_at", time_or_null(r->started_at ? r->started_at : r->created_at));
  json_object_set_new(o, "finished_at", time_or_null(r->finished_at));
  json_object_set_new(o, "inputs", parse_or(r->inputs, json_object()));
  json_object_set_new(o, "outputs", parse_or(r->outputs, json_object()));
  if (r->error)
    json_object_set_new(o, "error", parse_or(r->error, json_null()));
  json_object_set_new(o, "started_by", r->started_by ? json_string(r->started_by) : json_null());
  json_object_set_new(o, "definition", json_string(r->workflow_hash));

  json_t *steps = json_object();
  const struct wf *wf = ops_def_get(s, r);
  /* without the definition (it no longer loads): the steps the store has,
   * in stored order; with it, each step's own row by key, so a step's
   * instances are read only as far as they are shown */
  struct store_step *rows = NULL;
  size_t n = 0;
  if (!wf)
    store_step_list(s, r->id, NULL, &rows, &n);
  size_t n_ids = wf ? wf->n_steps : n;
  for (size_t k = 0; k < n_ids; k++) {
    const char *id = wf ? wf->steps[k].id : rows[k].step;
    if (json_object_get(steps, id))
      continue;
    struct store_step own = {0};
    const struct store_step *plain = NULL;
    bool has_instances = false;
    if (wf) {
      if (store_step_get(s, r->id, id, STORE_NO_INDEX, &own) == 0)
        plain = &own;
    } else {
      for (size_t i = k; i < n && !strcmp(rows[i].step, id); i++) {
        if (rows[i].index < 0)
          plain = &rows[i];
        else
          has_instances = true;
      }
    }
    json_t *u = unit_json(plain);
    bool fe = wf ? wf->steps[k].for_each != NULL : has_instances;
    if (fe && (wf ? plain && (strcmp(plain->status, "pending") || plain->counts) : true))
      fe_instances(s, r, id, plain, all_instances, u);
    else
      json_object_set_new(u, "instances", json_null());
    if (wf && wf->steps[k].kind == WF_FIRST_OF)
      fo_arms(&wf->steps[k], plain, u);
    if (wf && wf->steps[k].description)
      json_object_set_new(u, "description", json_string(wf->steps[k].description));
    if (wf && wf->steps[k].is_finally)
      json_object_set_new(u, "finally", json_true());
    json_object_set_new(steps, id, u);
    store_step_clear(&own);
  }
  json_object_set_new(o, "steps", steps);
  store_steps_free(rows, n);
  ops_def_put(wf);
  return o;
}


enum ops_err ops_get_run(const struct ops_ctx *c, const char *id, bool all_instances, json_t **out,
                         struct ops_error *e)
{
  *out = NULL;
  enum ops_err k = ops_authorize(c, "get_run", e);
  struct store_run r = {0};
  if (!k && !(k = ops_find_run(c->store, id, &r, e))) {
    if (!(*out = ops_run_json(c->store, &r, all_instances)))
      k = ops_fail(e, OPS_E_INTERNAL, "out of memory");
  }
  store_run_clear(&r);
  return k;
}

enum ops_err ops_list_runs(const struct ops_ctx *c, const struct store_run_filter *f, json_t **out,
                           struct ops_error *e)
{
  *out = NULL;
  enum ops_err k = ops_authorize(c, "list_runs", e);
  if (k)
    return k;
  struct store_run *v = NULL;
  size_t n = 0;
  if (store_run_list(c->store, f, &v, &n) != 0)
    return ops_fail(e, OPS_E_INTERNAL, "cannot list runs: %s", store_errmsg(c->store));
  json_t *a = json_array();
  for (size_t i = 0; a && i < n; i++) {
    char t1[32], t2[32];
    int64_t st = v[i].started_at ? v[i].started_at : v[i].created_at;
    wt_fmt_rfc3339(st, t1);
    wt_fmt_rfc3339(v[i].finished_at, t2);
    json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s?,s:s,s:o}", "id", v[i].id, "workflow", v[i].workflow,
                                       "status", v[i].status, "trigger", v[i].trigger, "started_at", t1,
                                       "finished_at", v[i].finished_at ? json_string(t2) : json_null()));
  }
  store_runs_free(v, n);
  if (!a)
    return ops_fail(e, OPS_E_INTERNAL, "out of memory");
  *out = a;
  return OPS_OK;
}
