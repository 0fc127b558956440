/* workflows.c — deployed workflows (SERVER.md §2): deploying a definition
 * as the newest version of its name (`weft deploy`, POST /workflows,
 * `weft server --workflows DIR`), listing them (GET /workflows, `weft
 * workflows`) and one with its versions, source, triggers and next fire
 * times (GET /workflows/{name}). Starting a run of one is start.c. */
#include "ops/ops.h"

#include <stdlib.h>
#include <string.h>

#include "sched/cron.h"
#include "sched/tz.h"
#include "util/diag.h"
#include "util/jsonfmt.h"
#include "util/wtime.h"

#define NEXT_FIRES 5 /* as `weft schedules` */

static json_t *time_json(int64_t ms)
{
  char t[32];
  wt_fmt_rfc3339(ms, t);
  return json_string(t);
}

json_t *ops_problems_json(const struct diag_list *d)
{
  json_t *a = json_array();
  for (size_t i = 0; a && i < d->n; i++) {
    char *s = diag_format(&d->v[i]);
    json_array_append_new(a, json_string(s ? s : d->v[i].msg));
    free(s);
  }
  return a;
}

/* A NUL byte would cut the stored text (and its hash) short: a problem at
 * its line and column. */
static bool nul_problem(const char *text, size_t len, const char *label, struct diag_list *d)
{
  const char *z = memchr(text, 0, len);
  if (!z)
    return false;
  int line = 1, col = 1;
  for (const char *p = text; p < z; p++) {
    if (*p == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  diag_add(d, label, line, col, "a NUL byte: a workflow is UTF-8 text");
  return true;
}

enum ops_err ops_deploy(const struct ops_ctx *c, const char *text, size_t len, const char *label, const char *path,
                        json_t **out, json_t **problems, struct ops_error *e)
{
  *out = NULL;
  if (problems)
    *problems = NULL;
  enum ops_err k = ops_authorize(c, "deploy_workflow", e);
  if (k)
    return k;
  struct store *s = c->store;
  struct diag_list d = {0};
  struct wf *wf = NULL;
  if (!label)
    label = "workflow.yaml";
  int rc = nul_problem(text, len, label, &d) ? WEFT_EVALIDATION : wf_load_string(label, text, len, &wf, &d);
  if (rc) {
    if (!d.n)
      diag_add(&d, label, 0, 0, "%s", weft_strerror(rc));
    diag_sort(&d);
    if (problems)
      *problems = ops_problems_json(&d);
    k = ops_fail(e, OPS_E_UNPROCESSABLE, "%s is not valid (%zu problem%s); nothing was deployed", label, d.n,
                 d.n == 1 ? "" : "s");
    diag_list_free(&d);
    return k;
  }
  int64_t now = wt_now_ms();
  char hash[SHA256_HEX_LEN + 1];
  int version = 0;
  bool created = false;
  struct store_deployment dep = {.name = wf->name, .hash = wf->hash, .path = (char *)path, .deployed_at = now,
                                 .deployed_by = (char *)c->user};
  rc = store_begin(s);
  if (!rc)
    rc = store_workflow_put(s, wf->name, path, wf->source, now, hash, NULL);
  if (!rc)
    rc = store_deploy_put(s, &dep, &version, &created);
  if (!rc && created) {
    json_t *a = json_pack("{s:s,s:i,s:s,s:s}", "name", wf->name, "version", version, "hash", wf->hash, "by",
                          c->user ? c->user : "");
    if (a && path)
      json_object_set_new(a, "path", json_string(path));
    ops_audit_actor(c, a);
    rc = a ? store_audit_append_json(s, now, NULL, "workflow.deployed", a, NULL) : WEFT_ENOMEM;
    json_decref(a);
  }
  if (!rc)
    rc = store_commit(s);
  if (rc) {
    if (store_in_tx(s))
      store_rollback(s);
    k = ops_fail(e, OPS_E_UNAVAILABLE, "cannot record %s: %s", wf->name, store_errmsg(s));
    wf_free(wf);
    return k;
  }
  *out = json_pack("{s:s,s:i,s:s,s:b}", "name", wf->name, "version", version, "hash", wf->hash, "created", created);
  if (*out && wf->warnings.n)
    json_object_set_new(*out, "warnings", ops_problems_json(&wf->warnings));
  wf_free(wf);
  return *out ? OPS_OK : ops_fail(e, OPS_E_INTERNAL, "out of memory");
}

static json_t *version_json(const struct store_deployment *d)
{
  return json_pack("{s:s,s:i,s:s,s:o,s:s?}", "name", d->name, "version", d->version, "hash", d->hash,
                   "deployed_at", time_json(d->deployed_at), "deployed_by", d->deployed_by);
}

enum ops_err ops_list_workflows(const struct ops_ctx *c, json_t **out, struct ops_error *e)
{
  *out = NULL;
  enum ops_err k = ops_authorize(c, "list_workflows", e);
  if (k)
    return k;
  struct store_deployment *v = NULL;
  size_t n = 0;
  if (store_deploy_list(c->store, NULL, &v, &n) != 0)
    return ops_fail(e, OPS_E_INTERNAL, "cannot list the deployed workflows: %s", store_errmsg(c->store));
  json_t *a = json_array();
  for (size_t i = 0; a && i < n; i++)
    json_array_append_new(a, version_json(&v[i]));
  store_deployments_free(v, n);
  *out = a;
  return a ? OPS_OK : ops_fail(e, OPS_E_INTERNAL, "out of memory");
}

/* The next NEXT_FIRES times of a schedule trigger after now_ms; [] for
 * other triggers (and for a zone this machine lacks). */
static json_t *next_fires(const json_t *trigger, int64_t now_ms)
{
  json_t *a = json_array();
  const char *expr = json_string_value(json_object_get(trigger, "schedule"));
  const char *zone = json_string_value(json_object_get(trigger, "timezone"));
  struct cron cr;
  struct tz *z = NULL;
  char why[256];
  if (!a || !expr || cron_parse(expr, &cr, why, sizeof why) != 0)
    return a;
  if (zone && tz_load(zone, &z, why, sizeof why) != 0)
    return a;
  int64_t t = now_ms / 1000;
  for (int i = 0; i < NEXT_FIRES; i++) {
    int64_t next;
    if (cron_next(&cr, z, t, &next) != 0)
      break;
    json_array_append_new(a, time_json(next * 1000));
    t = next;
  }
  tz_free(z);
  return a;
}

static json_t *inputs_json(const struct wf *w)
{
  json_t *a = json_array();
  for (uint32_t i = 0; a && i < w->n_inputs; i++) {
    const struct wf_input *in = &w->inputs[i];
    json_t *o = json_pack("{s:s,s:s,s:b}", "name", in->name, "type", wf_type_name(in->type), "required",
                          in->required);
    if (o && in->def)
      json_object_set(o, "default", in->def);
    if (o && in->description)
      json_object_set_new(o, "description", json_string(in->description));
    json_array_append_new(a, o);
  }
  return a;
}

enum ops_err ops_get_workflow(const struct ops_ctx *c, const char *name, int64_t now_ms, json_t **out,
                              struct ops_error *e)
{
  return ops_get_workflow_version(c, name, 0, now_ms, out, e);
}

enum ops_err ops_get_workflow_version(const struct ops_ctx *c, const char *name, int version, int64_t now_ms,
                                      json_t **out, struct ops_error *e)
{
  *out = NULL;
  enum ops_err k = ops_authorize(c, "get_workflow", e);
  if (k)
    return k;
  struct store *s = c->store;
  struct store_deployment *v = NULL;
  size_t n = 0;
  struct store_workflow w = {0};
  struct wf *wf = NULL;
  if (store_deploy_list(s, name, &v, &n) != 0)
    return ops_fail(e, OPS_E_INTERNAL, "cannot read the deployed workflow %s: %s", name, store_errmsg(s));
  if (n == 0) {
    k = ops_fail(e, OPS_E_NOT_FOUND, "no workflow named \"%s\" is deployed; `weft workflows` lists them", name);
    goto out;
  }
  const struct store_deployment *nw = &v[n - 1];
  if (version > 0) {
    nw = NULL;
    for (size_t i = 0; i < n && !nw; i++)
      if (v[i].version == version)
        nw = &v[i];
    if (!nw) {
      k = ops_fail(e, OPS_E_NOT_FOUND, "workflow %s has no version %d; its versions are %d to %d", name, version,
                   v[0].version, v[n - 1].version);
      goto out;
    }
  }
  if (store_workflow_get(s, nw->hash, &w) != 0) {
    k = ops_fail(e, OPS_E_INTERNAL, "cannot read version %d of %s: %s", nw->version, name, store_errmsg(s));
    goto out;
  }
  json_t *o = version_json(nw);
  json_t *versions = json_array();
  for (size_t i = 0; versions && i < n; i++) {
    json_t *x = version_json(&v[i]);
    json_object_del(x, "name");
    json_array_append_new(versions, x);
  }
  json_object_set_new(o, "versions", versions);
  json_object_set_new(o, "source", json_string(w.source));
  struct diag_list d = {0};
  char label[300];
  snprintf(label, sizeof label, "%s.yaml", name);
  wf_load_string(label, w.source, strlen(w.source), &wf, &d);
  diag_list_free(&d);
  json_t *triggers = json_array(), *fires = json_array();
  if (wf && wf->triggers) {
    size_t i;
    json_t *t;
    json_array_foreach(wf->triggers, i, t) {
      json_array_append(triggers, t);
      json_array_append_new(fires, next_fires(t, now_ms));
    }
  }
  json_object_set_new(o, "description", wf && wf->description ? json_string(wf->description) : json_null());
  json_object_set_new(o, "inputs", wf ? inputs_json(wf) : json_array());
  json_object_set_new(o, "triggers", triggers);
  json_object_set_new(o, "next_fires", fires);
  *out = o;
  if (!o)
    k = ops_fail(e, OPS_E_INTERNAL, "out of memory");
out:
  wf_free(wf);
  store_workflow_clear(&w);
  store_deployments_free(v, n);
  return k;
}
