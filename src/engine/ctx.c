/* ctx.c — expression contexts, helper values and the rendering of a start.
 *
 * A context carries only what the step's expressions may read (ARCHITECTURE
 * §5): `inputs`, `secrets`, `run`, `steps` restricted to the step's direct needs
 * plus the steps its expressions read (wf_step.reads; for the run's outputs a
 * scan of their expressions; every upstream step, or every step for a finally
 * step, when an expression reads `.steps` whole), `needs`, and for an instance
 * `item`/`index`. Each step's
 * view {status, outputs, exit_code, attempts, error, started_at, finished_at}
 * is built once and cached until the step changes state (ctx_invalidate), so
 * a long chain of steps costs one small view per step.
 *
 * Outputs of a for_each step (the array of its instances' outputs, by index)
 * are built from the output arena only when an expression reads them. */
#include "engine/priv.h"
#include "sched/trigger.h"
#include "util/err.h"
#include "util/wtime.h"
#include "util/jsonfmt.h"

#include <stdlib.h>
#include <string.h>

static json_t *time_json(int64_t ms)
{
  if (!ms)
    return json_null();
  char b[32];
  wt_fmt_rfc3339(ms, b);
  return json_string(b);
}

void ctx_invalidate(struct eng_run *r, uint32_t s)
{
  json_decref(r->st[s].view);
  r->st[s].view = NULL;
}

json_t *ctx_step_outputs(struct eng_run *r, uint32_t s)
{
  struct eng_step *st = &r->st[s];
  if (!st->is_fe || st->outputs || st->ws->kind == WF_FIRST_OF) /* first_of.c sets its own */
    return st->outputs;
  if (!st->expanded)
    return NULL;
  json_t *a = json_array();
  if (!a)
    return NULL;
  for (uint32_t i = 0; i < st->n; i++) {
    const char *t = arena_get(&r->arena, r->u.out[st->first + i]);
    json_t *v = t ? json_loads(t, JSON_DECODE_ANY, NULL) : NULL;
    json_array_append_new(a, v ? v : json_null());
  }
  if (engine_status_terminal(r->u.status[s]))
    st->outputs = a; /* complete: keep it */
  else
    json_decref(a), a = NULL;
  return st->outputs;
}

static json_t *step_view(struct eng_run *r, uint32_t s)
{
  struct eng_step *st = &r->st[s];
  if (st->view)
    return st->view;
  json_t *v = json_object();
  if (!v)
    return NULL;
  json_t *outs = ctx_step_outputs(r, s);
  json_t *err = eng_err_get(r, s);
  int32_t ec = r->u.exit_code[s];
  json_object_set_new(v, "status", json_string(engine_status_name(r->u.status[s])));
  json_object_set(v, "outputs", outs ? outs : json_null());
  json_object_set_new(v, "exit_code", ec == ENG_NO_EXIT ? json_null() : json_integer(ec));
  json_object_set_new(v, "attempts", json_integer(r->u.attempts[s]));
  json_object_set(v, "error", err ? err : json_null());
  json_object_set_new(v, "started_at", time_json(r->u.started_at[s]));
  json_object_set_new(v, "finished_at", time_json(r->u.finished_at[s]));
  st->view = v;
  return v;
}

json_t *ctx_step_view(struct eng_run *r, uint32_t s) { return step_view(r, s); }

static int add_view(struct eng_run *r, json_t *obj, uint32_t s)
{
  json_t *v = step_view(r, s);
  if (!v)
    return WEFT_ENOMEM;
  return json_object_set(obj, r->wf->steps[s].id, v) ? WEFT_ENOMEM : 0;
}

void ctx_env(struct eng_run *r, uint32_t s, struct expr_env *env)
{
  env->success = env->none_failed = true;
  env->failure = false;
  env->cancelled = r->cancel_requested;
  if (s == WF_NONE) {
    env->success = env->none_failed = !r->unhandled_main && !r->unhandled_fin;
    env->failure = !env->success;
    return;
  }
  const struct wf_step *ws = &r->wf->steps[s];
  if (r->st[s].join_frozen) { /* a partial join: as it was when it fired (join.c) */
    bool c = env->cancelled;
    *env = r->st[s].join_env;
    env->cancelled = c;
    return;
  }
  /* success: none failed/cancelled and, with needs, one succeeded (a skip
   * carries down a chain; a join after exclusive branches runs) */
  bool any_good = !ws->n_needs;
  env->none_failed = true;
  for (uint32_t i = 0; i < ws->n_needs; i++) {
    uint32_t n = ws->needs[i];
    enum eng_status st = r->u.status[n];
    if (eng_need_good(r, n)) {
      any_good = true;
    } else if (st == ENG_FAILED) {
      env->failure = true;
      env->none_failed = false;
    } else if (st == ENG_CANCELLED && !eng_is_withdrawn(r, n)) {
      env->none_failed = false;
    } else if (st == ENG_SKIPPED && r->st[n].skip_failed) {
      env->failure = true; /* a failure upstream propagates through skips */
      env->none_failed = false;
    }
  }
  env->success = env->none_failed && any_good;
}

static int set_item(struct eng_run *r, uint32_t s, uint32_t unit, json_t *c)
{
  const struct eng_step *st = &r->st[s];
  uint32_t idx = unit - st->first;
  int e = json_object_set_new(c, "index", json_integer(idx));
  if (st->items)
    e |= json_object_set(c, "item", json_array_get(st->items, idx));
  else
    e |= json_object_set_new(c, "item", json_integer(idx));
  return e ? WEFT_ENOMEM : 0;
}

/* Which steps the run's `outputs` read: a list, or all of them. */
struct out_refs {
  struct eng_run *r;
  json_t *steps; /* the object being filled */
  bool all;
  int rc;
};

static void on_out_ref(void *ud, const char *root, const char *name, size_t len)
{
  struct out_refs *o = ud;
  if (strcmp(root, "steps"))
    return;
  if (!name) {
    o->all = true;
    return;
  }
  char id[80];
  snprintf(id, sizeof id, "%.*s", (int)(len < 72 ? len : 72), name);
  uint32_t k = wf_step_find(o->r->wf, id);
  if (k != WF_NONE && !o->rc)
    o->rc = add_view(o->r, o->steps, k);
}

static int on_out_seg(void *ud, const struct expr_seg *seg)
{
  if (seg->is_expr)
    expr_refs(seg->p, seg->len, on_out_ref, ud);
  return 0;
}

static void scan_refs(struct out_refs *o, const json_t *t)
{
  if (json_is_string(t)) {
    expr_split(json_string_value(t), json_string_length(t), on_out_seg, o, NULL);
  } else if (json_is_array(t)) {
    size_t i;
    json_t *v;
    json_array_foreach(t, i, v) scan_refs(o, v);
  } else if (json_is_object(t)) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)t, k, v) scan_refs(o, v);
  }
}

int ctx_build(struct eng_run *r, uint32_t s, uint32_t unit, const struct ctx_extra *x,
              json_t **out)
{
  bool instance = unit != UINT32_MAX && unit >= r->n_steps;
  if (instance && !x && r->ctx_cache && r->ctx_step == s && r->ctx_gen == r->gen &&
      r->ctx_cache->refcount == 1) {
    /* instances of one step share everything but item/index */
    int e = set_item(r, s, unit, r->ctx_cache);
    if (e)
      return e;
    *out = json_incref(r->ctx_cache);
    return 0;
  }
  int rc = WEFT_ENOMEM;
  json_t *c = json_object(), *steps = json_object(), *needs = json_object(),
         *run = json_object();
  if (!c || !steps || !needs || !run)
    goto out;
  const struct wf_step *ws = s == WF_NONE ? NULL : &r->wf->steps[s];
  /* finally steps and the run's outputs may read every step: only those read */
  bool all = ws && ws->is_finally && ws->reads_all;
  if (!ws) {
    struct out_refs o = {.r = r, .steps = steps};
    scan_refs(&o, r->wf->outputs);
    if ((rc = o.rc))
      goto out;
    all = o.all;
  }
  if (all) {
    for (uint32_t i = 0; i < r->n_steps; i++)
      if ((rc = add_view(r, steps, i)))
        goto out;
  } else if (ws && ws->reads_all) { /* `.steps | keys` and the like: every upstream step */
    for (uint32_t i = 0; i < r->n_steps; i++)
      if (i != s && wf_is_upstream(r->wf, i, s) && (rc = add_view(r, steps, i)))
        goto out;
  } else if (ws) {
    for (uint32_t i = 0; i < ws->n_reads; i++)
      if ((rc = add_view(r, steps, ws->reads[i])))
        goto out;
  }
  if (ws && r->st[s].needs_snap && json_object_update(needs, r->st[s].needs_snap))
    goto out;
  for (uint32_t i = 0; ws && i < ws->n_needs; i++) {
    if (!r->st[s].needs_snap && (rc = add_view(r, needs, ws->needs[i])))
      goto out;
    if (!all && (rc = add_view(r, steps, ws->needs[i])))
      goto out;
  }
  rc = WEFT_ENOMEM;
  enum eng_run_status rs = ENG_RUN_RUNNING;
  if (!ws || ws->is_finally)
    rs = r->tentative;
  json_object_set_new(run, "id", json_string(r->run_id));
  json_object_set_new(run, "workflow", json_string(r->wf->name ? r->wf->name : ""));
  json_object_set_new(run, "status", json_string(engine_run_status_name(rs)));
  json_object_set_new(run, "started_at", time_json(r->started_at));
  if (!r->trigger_obj) /* a run started without one: {type, at}, the rest empty */
    r->trigger_obj = sched_trigger_json(r->trigger, r->started_at, SCHED_NO_TIME, NULL, NULL, NULL, NULL);
  if (r->trigger_obj) {
    json_object_set(run, "trigger", r->trigger_obj);
    json_object_set(c, "trigger", r->trigger_obj);
  }
  json_object_set(c, "inputs", r->inputs);
  json_object_set(c, "secrets", r->secrets);
  if (r->event)
    json_object_set(c, "event", r->event);
  json_object_set(c, "steps", steps);
  json_object_set(c, "needs", needs);
  json_object_set(c, "run", run);
  if (instance && (rc = set_item(r, s, unit, c)))
    goto out;
  rc = WEFT_ENOMEM;
  if (x && x->error)
    json_object_set(c, "error", (json_t *)x->error);
  if (x && x->outputs) {
    json_object_set(c, "outputs", (json_t *)x->outputs);
    json_object_set_new(c, "iteration", json_integer(x->iteration));
  }
  if (instance && !x) {
    json_decref(r->ctx_cache);
    r->ctx_cache = json_incref(c);
    r->ctx_step = s;
    r->ctx_gen = r->gen;
  }
  *out = c;
  c = NULL;
  rc = 0;
out:
  json_decref(c);
  json_decref(steps);
  json_decref(needs);
  json_decref(run);
  return rc;
}

/* ---- start rendering ----------------------------------------------------- */

static json_t *stringify(const json_t *v)
{
  if (json_is_string(v)) /* NULs kept (not cut short): rt_exec refuses them */
    return json_stringn(json_string_value(v), json_string_length(v));
  if (!v || json_is_null(v))
    return json_string("");
  char *t = wjson_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  json_t *s = json_string(t ? t : "");
  free(t);
  return s;
}

static int render(struct eng_run *r, uint32_t s, const json_t *tmpl, const json_t *ctx,
                  json_t **out, char **err)
{
  struct expr_env env;
  ctx_env(r, s, &env);
  return expr_render(r->wf->prog, tmpl, ctx, &env, out, err);
}

static int shell_argv(const char *shell, json_t *a)
{
  const char *p = shell ? shell : "sh -e";
  while (*p) {
    while (*p == ' ' || *p == '\t')
      p++;
    const char *q = p;
    while (*q && *q != ' ' && *q != '\t')
      q++;
    if (q > p && json_array_append_new(a, json_stringn(p, (size_t)(q - p))))
      return WEFT_ENOMEM;
    p = q;
  }
  return 0;
}

int ctx_render_start(struct eng_run *r, uint32_t s, uint32_t unit, const json_t *ctx,
                     struct eng_effect *e, char **err)
{
  const struct wf_step *ws = &r->wf->steps[s];
  json_t *v = NULL;
  int rc = 0;
  struct wf_step arm_ws; /* a first_of arm renders as a step of its kind (first_of.c) */
  const struct wf_arm *arm =
      unit >= r->n_steps ? wf_step_arm(ws, (int32_t)(unit - r->st[s].first)) : NULL;
  if (arm) {
    arm_ws = *ws;
    arm_ws.kind = arm->kind;
    arm_ws.body = arm->body;
    ws = &arm_ws;
  }
  if (unit >= r->n_steps) {
    const struct eng_step *st = &r->st[s];
    uint32_t idx = unit - st->first;
    e->item = st->items ? json_incref(json_array_get(st->items, idx)) : json_integer(idx);
  }
  if (ws->kind == WF_RUN) {
    e->argv = json_array();
    if (!e->argv || (rc = shell_argv(ws->shell, e->argv)))
      return rc ? rc : WEFT_ENOMEM;
    const char *script = ws->script ? ws->script : json_string_value(ws->body);
    json_array_append_new(e->argv, json_string("-c"));
    json_array_append_new(e->argv, json_string(script ? script : ""));
  } else if (ws->kind == WF_COMMAND) {
    if ((rc = render(r, s, ws->body, ctx, &v, err)))
      return rc;
    e->argv = json_array();
    if (!e->argv) {
      json_decref(v);
      return WEFT_ENOMEM;
    }
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) json_array_append_new(e->argv, stringify(x));
    json_decref(v);
    v = NULL;
  } else if (ws->body) {
    /* wait.match and agent tools are evaluated later by their executor
     * (against .event / .args): they stay templates */
    const char *raw = ws->kind == WF_WAIT ? "match" : ws->kind == WF_AGENT ? "tools" : NULL;
    json_t *keep = raw && json_is_object(ws->body) ? json_object_get(ws->body, raw) : NULL;
    if (keep) {
      json_t *copy = json_copy(ws->body);
      if (!copy)
        return WEFT_ENOMEM;
      json_object_del(copy, raw);
      rc = render(r, s, copy, ctx, &e->body, err);
      json_decref(copy);
      if (!rc && json_object_set(e->body, raw, keep))
        rc = WEFT_ENOMEM;
    } else {
      rc = render(r, s, ws->body, ctx, &e->body, err);
    }
    if (rc)
      return rc;
  }
  if (ws->kind == WF_RUN || ws->kind == WF_COMMAND) {
    e->env = json_object();
    if (!e->env)
      return WEFT_ENOMEM;
    if (ws->env) {
      if ((rc = render(r, s, ws->env, ctx, &v, err)))
        return rc;
      const char *k;
      json_t *x;
      json_object_foreach(v, k, x) json_object_set_new(e->env, k, stringify(x));
      json_decref(v);
      v = NULL;
    }
    if (ws->cwd) {
      if ((rc = render(r, s, ws->cwd, ctx, &v, err)))
        return rc;
      if (!json_is_null(v))
        e->cwd = stringify(v);
      json_decref(v);
    }
  }
  return 0;
}
