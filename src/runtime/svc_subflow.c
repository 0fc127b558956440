/* svc_subflow.c — the runtime's sub-workflow service, the executor of
 * `workflow: {file: path.yaml, inputs: {...}}` steps (executor.h): loading
 * the child file (or, for `workflow: {name: NAME}`, the newest deployed
 * version of NAME: runtime/deployed.h), starting or adopting the child run,
 * and ending the parent's attempt when the child ends.
 *
 * The child is its own run (struct store_run parent_id/parent_step/
 * parent_index name the parent's step instance), executed by the same
 * runtime in the same process and committed in the same ticks. The file is
 * relative to the parent's file; `inputs` (already rendered by the engine)
 * are resolved against the child's declarations like `weft run -i`. When the
 * child ends, the parent's attempt ends: succeeded with the child's outputs
 * as the step's outputs, or failed (the child's error message, naming the
 * child run). A kill of the parent's attempt (cancel, fail_fast, the step's
 * timeout) cancels the child. Runs nest at most SUBFLOW_MAX_DEPTH deep; a
 * deeper one fails the step with kind "validation".
 *
 * Recovery: a workflow step that was running is re-attempted on resume; its
 * START first looks for a child run of that step instance that has not ended
 * and adopts it (taking it over with rt_resume() when `weft resume RUN` did
 * not load it already), so the child goes on instead of starting again.
 *
 * The service never writes the store and never calls the engine: the child
 * is started with rt_start_run, cancelled with rt_run_cancel, and its end
 * reaches the parent's attempt through the executor's resume (rt_exec.c, on
 * the child's RUN_FINISHED), which ends it with rt_attempt_end.
 *
 * Ownership: the struct subflow belongs to the parent's attempt (a->sub) and
 * is freed by release. */
#include "runtime/rt_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/deployed.h"
#include "runtime/inputs.h"
#include "util/diag.h"
#include "util/err.h"
#include "util/wtime.h"

struct subflow {
  struct rt_run *child;
  bool timed_out; /* killed by the step's timeout */
};

static void post_fail(struct runtime *rt, struct rt_run *run, const struct eng_effect *e,
                      const char *kind, const char *msg)
{
  rt_start_failed(rt, run, e, kind, msg);
}

/* Posts the child's end to the parent's attempt and frees the attempt. */
static void report(struct rt_attempt *a, struct rt_run *child)
{
  enum eng_run_status st = engine_run_status(child->eng);
  const json_t *o = engine_run_outputs(child->eng);
  if (st == ENG_RUN_SUCCEEDED) {
    json_t *obj = json_is_object(o) ? json_incref((json_t *)o) : json_object();
    rt_attempt_end(a, &(struct rt_result){.ok = true, .outputs = obj, .exit_code = -1,
                                          .http_status = -1});
    json_decref(obj);
  } else {
    const json_t *err = engine_run_error(child->eng);
    const char *m = json_string_value(json_object_get(err, "message"));
    const char *kind = st == ENG_RUN_CANCELLED ? (a->sub && a->sub->timed_out ? "timeout"
                                                                                : "cancelled")
                                               : json_string_value(json_object_get(err, "kind"));
    if (!kind || !strcmp(kind, "none"))
      kind = "exit_code";
    /* nested failures grow at every level and the innermost cause is at the
     * end: keep the end */
    size_t ml = m ? strlen(m) : 0;
    const char *tail = ml > 400 ? m + ml - 400 : m;
    char msg[700];
    snprintf(msg, sizeof msg, "sub-workflow run %s (%s) %s%s%s%s", child->id, child->wf->name,
             engine_run_status_name(st), m ? ": " : "", ml > 400 ? "..." : "", tail ? tail : "");
    /* the step's outputs are the child's, also now; {} when they could not
     * be rendered (docs/language.md, workflow) */
    json_t *none = json_is_object(o) ? NULL : json_object();
    rt_attempt_end(a, &(struct rt_result){.ok = false, .outputs = none ? none : o,
                                          .kind = kind, .message = msg, .exit_code = -1,
                                          .http_status = -1});
    json_decref(none);
  }
}

static struct rt_attempt *new_attempt(struct runtime *rt, struct rt_run *run,
                                      const struct eng_effect *e)
{
  struct rt_attempt *a = rt_attempt_add(rt, run, e, WF_WORKFLOW);
  if (!(a->sub = calloc(1, sizeof *a->sub)))
    abort();
  return a;
}

static void link_child(struct rt_run *parent, struct rt_attempt *a, struct rt_run *child)
{
  a->sub->child = child;
  child->parent_att = a;
  child->is_child = true;
  child->depth = parent->depth + 1;
}

/* A child of this step instance that has not ended (a restart): adopt it.
 * Returns true when the attempt is taken care of. */
static bool adopt(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  const char *step = run->wf->steps[e->step].id;
  struct store_run *v = NULL;
  size_t n = 0;
  bool done = false;
  if (store_run_children(rt->store, run->id, &v, &n) != 0)
    return false;
  for (size_t i = 0; i < n && !done; i++) {
    struct store_run *c = &v[i];
    if (!c->parent_step || strcmp(c->parent_step, step) || c->parent_index != e->index)
      continue;
    struct rt_run *child = rt_run_find(rt, c->id);
    if (!child) {
      int st = engine_run_status_parse(c->status);
      if (st == ENG_RUN_SUCCEEDED || st == ENG_RUN_FAILED || st == ENG_RUN_CANCELLED)
        continue;
      char *err = NULL;
      if (rt_resume(rt, c->id, &err) != 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "cannot take over sub-workflow run %s: %.500s", c->id,
                 err ? err : "error");
        post_fail(rt, run, e, "spawn", msg);
        free(err);
        done = true;
        break;
      }
      child = rt_run_find(rt, c->id);
    }
    /* a child that finished in this process belongs to an earlier attempt
     * (repeat, retry): the new attempt starts a new child */
    if (!child || child->parent_att || child->finished)
      continue;
    struct rt_attempt *a = new_attempt(rt, run, e);
    link_child(run, a, child);
    if (child->finished)
      report(a, child);
    done = true;
  }
  store_runs_free(v, n);
  return done;
}

static void subflow_start(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  const json_t *file = json_object_get(e->body, "file");
  const json_t *given = json_object_get(e->body, "inputs");
  struct diag_list d = {0};
  struct wf *wf = NULL;
  json_t *inputs = NULL;
  char *path = NULL, *err = NULL;
  char msg[900];
  /* only a later attempt can have a child already (a first one is new) */
  if (e->attempt > 1 && adopt(rt, run, e))
    return;
  if (run->depth + 1 > SUBFLOW_MAX_DEPTH) {
    snprintf(msg, sizeof msg, "sub-workflows nest more than %d deep (does %s call itself?); "
             "stop the recursion with an `if:` or call a different workflow",
             SUBFLOW_MAX_DEPTH, run->wf->name);
    post_fail(rt, run, e, "validation", msg);
    goto out;
  }
  const json_t *name = json_object_get(e->body, "name");
  const char *f;
  int rc;
  if (!json_is_string(file) && json_is_string(name)) {
    /* a deployed workflow: the newest version of that name (runtime/deployed.h) */
    f = json_string_value(name);
    if (rt_deployed_load(rt->store, f, &wf, NULL, msg, sizeof msg)) {
      post_fail(rt, run, e, "validation", msg);
      goto out;
    }
    goto loaded;
  }
  if (!json_is_string(file)) {
    post_fail(rt, run, e, "validation", name ? "workflow.name must be a string"
                                             : "workflow.file must be a path (a string)");
    goto out;
  }
  f = json_string_value(file);
  if (f[0] == '/')
    path = strdup(f);
  else if (asprintf(&path, "%s/%s", run->wf->dir && *run->wf->dir ? run->wf->dir : ".", f) < 0)
    path = NULL;
  if (!path)
    abort();
  rc = wf_load_file(path, &wf, &d);
  if (rc) {
    diag_sort(&d);
    if (d.n && d.v[0].line > 0)
      snprintf(msg, sizeof msg, "sub-workflow %.300s is not valid: %s:%d:%d: %.400s", f,
               d.v[0].file ? d.v[0].file : path, d.v[0].line, d.v[0].col, d.v[0].msg);
    else if (d.n)
      snprintf(msg, sizeof msg, "sub-workflow %.300s: %s: %.400s", f,
               d.v[0].file ? d.v[0].file : path, d.v[0].msg);
    else
      snprintf(msg, sizeof msg, "cannot load sub-workflow %.300s: %s", path, weft_strerror(rc));
    post_fail(rt, run, e, "validation", msg);
    goto out;
  }
loaded:
  diag_list_free(&d);
  if (given && !json_is_object(given)) {
    post_fail(rt, run, e, "validation", "workflow.inputs must be an object");
    goto out;
  }
  json_t *g = given ? json_incref((json_t *)given) : json_object();
  rc = inputs_resolve(wf, g, &inputs, &d);
  json_decref(g);
  if (rc) {
    snprintf(msg, sizeof msg, "the inputs do not fit sub-workflow %.300s: %.500s", f,
             d.n ? d.v[0].msg : weft_strerror(rc));
    post_fail(rt, run, e, "validation", msg);
    goto out;
  }
  struct rt_run *child = NULL;
  char id[WEFT_ID_LEN + 1];
  struct wf *w = wf;
  wf = NULL; /* rt_start_run takes it over */
  rc = rt_start_run(rt, w, inputs, "workflow", run->id, run->wf->steps[e->step].id, e->index,
                    &child, id, &err);
  if (rc) {
    snprintf(msg, sizeof msg, "cannot start sub-workflow %.300s: %.500s", f, err ? err : "error");
    post_fail(rt, run, e, "spawn", msg);
    goto out;
  }
  link_child(run, new_attempt(rt, run, e), child);
out:
  diag_list_free(&d);
  wf_free(wf);
  json_decref(inputs);
  free(path);
  free(err);
}

/* The child may have ended (its RUN_FINISHED effect): ends the parent's attempt. */
static void subflow_resume(struct rt_attempt *a)
{
  struct rt_run *child = a->sub->child;
  if (child && child->finished)
    report(a, child);
}

/* Cancels the child of the parent's attempt a (timeout: the step's timeout). */
static void subflow_kill(struct rt_attempt *a, bool timeout)
{
  struct rt_run *child = a->sub->child;
  a->sub->timed_out = timeout;
  if (!child || child->finished) {
    if (child)
      report(a, child);
    return;
  }
  rt_run_cancel(a->rt, child);
}

static void subflow_release(struct rt_attempt *a)
{
  if (a->sub && a->sub->child)
    a->sub->child->parent_att = NULL;
  free(a->sub);
  a->sub = NULL;
}

const struct executor_ops rt_svc_subflow = {
  .version = EXECUTOR_OPS_VERSION,
  .name = "workflow",
  .start = subflow_start,
  .kill = subflow_kill,
  .resume = subflow_resume,
  .release = subflow_release,
  .waits = true,
};
