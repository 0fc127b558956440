/* triggers.c — runs that start themselves (SERVER.md §3): the part shared
 * by schedules, webhooks, event triggers and backfills. A trigger that
 * fires records its run as a QUEUED run row that no engine owns yet, with
 * its idempotency key, its `.trigger` object and a run.created audit entry,
 * in the caller's transaction; `weft server` starts queued runs on its loop
 * (server/sched_loop.c, ops_trigger_pickup). So a fire is one transaction
 * wherever it happens (the loop, an HTTP thread, a CLI process), and the
 * unique key (workflow, key) makes a second fire of the same thing
 * impossible.
 *
 * A queued run may carry a hold in its trigger data ("_hold", never shown
 * as `.trigger`): {"after": RUN} starts it only once RUN ended (overlap:
 * queue); {"group": G, "max": K} keeps at most K runs of group G active
 * (backfill --max-runs-at-once). */
#include "ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "runtime/deployed.h"
#include "runtime/inputs.h"
#include "runtime/runtime.h"
#include "sched/trigger.h"
#include "util/diag.h"
#include "util/jsonfmt.h"
#include "util/sha256.h"
#include "util/wtime.h"

int ops_trigger_eval(struct wf *wf, const json_t *tmpl, const json_t *trig, json_t **out, char **err)
{
  json_t *ctx = json_pack("{s:O,s:O,s:o}", "trigger", trig, "event",
                          json_object_get(trig, "event") && !json_is_null(json_object_get(trig, "event"))
                            ? json_object_get(trig, "event")
                            : json_object_get(trig, "body") ? json_object_get(trig, "body") : json_null(),
                          "inputs", json_object());
  if (!ctx)
    return WEFT_ENOMEM;
  json_object_set_new(ctx, "run", json_pack("{s:O}", "trigger", trig));
  struct expr_env env = {.success = true};
  int rc = expr_render(wf->prog, tmpl, ctx, &env, out, err);
  json_decref(ctx);
  return rc;
}

enum ops_err ops_trigger_enqueue(const struct ops_ctx *c, struct wf *wf, int version, const json_t *def,
                                 const json_t *trig, const char *key, const json_t *hold,
                                 char id_out[WEFT_ID_LEN + 1], struct ops_error *e)
{
  id_out[0] = 0;
  /* inputs: rendered over .trigger, then read by the declared types */
  json_t *given = NULL, *inputs = NULL;
  char *err = NULL;
  const json_t *tin = json_object_get(def, "inputs");
  if (tin && !json_is_null(tin)) {
    if (ops_trigger_eval(wf, tin, trig, &given, &err)) {
      enum ops_err k = ops_fail(e, OPS_E_UNPROCESSABLE, "the trigger's inputs: %s", err ? err : "expression failed");
      free(err);
      return k;
    }
  }
  if (!given)
    given = json_object();
  struct diag_list d = {0};
  if (!json_is_object(given))
    diag_add(&d, NULL, 0, 0, "the trigger's inputs must be an object");
  else
    inputs_resolve(wf, given, &inputs, &d);
  json_decref(given);
  if (d.n) {
    enum ops_err k = ops_fail(e, OPS_E_UNPROCESSABLE, "the trigger's inputs do not fit %s version %d: %s", wf->name,
                              version, d.v[0].msg);
    diag_list_free(&d);
    json_decref(inputs);
    return k;
  }
  /* its concurrency group decides: skipped now, or queued (the loop starts
   * it when its group has room) */
  char *group = NULL;
  if (ops_concurrency_group(wf, inputs, trig, &group, &err)) {
    enum ops_err k = ops_fail(e, OPS_E_UNPROCESSABLE, "the concurrency key: %s", err ? err : "expression failed");
    free(err);
    json_decref(inputs);
    return k;
  }
  struct ops_admit adm;
  enum ops_err k = ops_concurrency_admit(c, wf, group, &adm, e);
  if (!k && adm.decision == OPS_ADMIT_SKIP) {
    const char *type = json_string_value(json_object_get(trig, "type"));
    if (ops_concurrency_skipped(c, wf, group, type, adm.why))
      k = ops_fail(e, OPS_E_UNAVAILABLE, "cannot record the skip: %s", store_errmsg(c->store));
    else
      snprintf(e->msg, sizeof e->msg, "%s; the run was skipped", adm.why);
  } else if (!k) {
    k = ops_queue_run(c, wf, version, inputs, trig, key, hold, (int)json_integer_value(json_object_get(def, "_index")),
                      group, id_out, e);
  }
  ops_admit_clear(&adm);
  free(group);
  json_decref(inputs);
  return k;
}

enum ops_err ops_queue_run(const struct ops_ctx *c, const struct wf *wf, int version, const json_t *inputs,
                           const json_t *trig, const char *key, const json_t *hold, int trigger_index,
                           const char *group, char id_out[WEFT_ID_LEN + 1], struct ops_error *e)
{
  struct store *s = c->store;
  id_out[0] = 0;
  int64_t now = wt_now_ms();
  char id[WEFT_ID_LEN + 1];
  ids_ulid(id, now);
  const char *type = json_string_value(json_object_get(trig, "type"));
  char *inputs_txt = wjson_dumps(inputs, JSON_COMPACT);
  struct store_run r = {.id = id, .workflow = wf->name, .workflow_hash = (char *)wf->hash, .path = wf->path,
                        .status = "queued", .trigger = (char *)(type ? type : "schedule"),
                        .parent_index = STORE_NO_INDEX, .started_by = (char *)(c->user ? c->user : "trigger"),
                        .inputs = inputs_txt, .created_at = now};
  json_t *data = json_deep_copy(trig);
  if (data && hold)
    json_object_set(data, "_hold", (json_t *)hold);
  if (data && group)
    json_object_set_new(data, "_concurrency", json_pack("{s:s,s:i}", "group", group, "limit", wf->concurrency));
  char *data_txt = data ? wjson_dumps(data, JSON_COMPACT) : NULL;
  json_decref(data);
  int rc = inputs_txt && data_txt ? store_run_put(s, &r) : WEFT_ENOMEM;
  if (!rc && key)
    rc = store_run_key_set(s, id, key);
  if (!rc)
    rc = store_run_trigger_put(s, id, data_txt);
  if (!rc && group)
    rc = store_run_group_set(s, id, group);
  if (!rc) {
    char *canon = json_dumps(inputs, JSON_COMPACT | JSON_SORT_KEYS);
    char ih[SHA256_HEX_LEN + 1];
    sha256_hex(canon ? canon : "", canon ? strlen(canon) : 0, ih);
    free(canon);
    json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:O,s:s,s:i}", "workflow", wf->name, "definition", wf->hash,
                          "started_by", r.started_by, "trigger", r.trigger, "inputs", inputs, "inputs_sha256", ih,
                          "version", version);
    if (a && trigger_index > 0)
      json_object_set_new(a, "trigger_index", json_integer(trigger_index));
    if (a && key)
      json_object_set_new(a, "idempotency_key", json_string(key));
    if (a && group)
      json_object_set_new(a, "concurrency_group", json_string(group));
    const char *sf = json_string_value(json_object_get(trig, "scheduled_for"));
    if (a && sf)
      json_object_set_new(a, "scheduled_for", json_string(sf));
    ops_audit_actor(c, a);
    rc = a ? store_audit_append_json(s, now, id, "run.created", a, NULL) : WEFT_ENOMEM;
    json_decref(a);
  }
  free(inputs_txt);
  free(data_txt);
  if (rc == WEFT_ESTATE)
    return ops_fail(e, OPS_E_CONFLICT, "a run of %s already has key %s", wf->name, key ? key : "");
  if (rc)
    return ops_fail(e, OPS_E_UNAVAILABLE, "cannot record the run: %s", store_errmsg(s));
  memcpy(id_out, id, sizeof id);
  return OPS_OK;
}

int ops_trigger_each(struct store *s, int (*fn)(void *ud, struct wf *wf, int version, size_t i, json_t *def),
                     void *ud)
{
  struct store_deployment *v = NULL;
  size_t n = 0;
  int rc = store_deploy_list(s, NULL, &v, &n);
  if (rc)
    return rc;
  for (size_t k = 0; k < n && !rc; k++) {
    struct wf *wf = NULL;
    int version = 0;
    char msg[512];
    if (rt_deployed_load(s, v[k].name, &wf, &version, msg, sizeof msg))
      continue; /* no longer loads: it has no triggers now */
    size_t i;
    json_t *def;
    json_array_foreach(wf->triggers, i, def) {
      json_object_set_new(def, "_index", json_integer((json_int_t)i + 1));
      if ((rc = fn(ud, wf, version, i, def)) != 0)
        break;
    }
    wf_free(wf);
  }
  store_deployments_free(v, n);
  return rc > 0 ? 0 : rc; /* > 0: stop early, not an error */
}

/* ---- event triggers ---- */

struct ev_ud {
  const struct ops_ctx *c;
  const char *name;
  const json_t *data;
  int64_t event_id;
  json_t *started, *failed;
};

static int ev_each(void *ud, struct wf *wf, int version, size_t i, json_t *def)
{
  struct ev_ud *u = ud;
  const char *ev = json_string_value(json_object_get(def, "event"));
  if (!ev || strcmp(ev, u->name))
    return 0;
  json_t *trig = sched_trigger_json("event", wt_now_ms(), SCHED_NO_TIME, u->name, NULL, NULL,
                                    u->data ? u->data : json_null());
  if (!trig)
    return WEFT_ENOMEM;
  bool go = true;
  static const char *const conds[] = {"match", "if"}; /* both must hold; an error is false */
  for (size_t c = 0; go && c < 2; c++) {
    const json_t *m = json_object_get(def, conds[c]);
    if (!m)
      continue;
    json_t *v = NULL;
    char *err = NULL;
    go = ops_trigger_eval(wf, m, trig, &v, &err) == 0 && expr_truthy(v);
    json_decref(v);
    free(err);
  }
  if (go) {
    char key[96], id[WEFT_ID_LEN + 1];
    snprintf(key, sizeof key, "event:%zu:%lld", i + 1, (long long)u->event_id);
    struct ops_error e2 = {0};
    if (ops_trigger_enqueue(u->c, wf, version, def, trig, key, NULL, id, &e2) == OPS_OK && id[0])
      json_array_append_new(u->started, json_pack("{s:s,s:s,s:i}", "run", id, "workflow", wf->name, "trigger",
                                                  (int)i + 1));
    else /* inputs that do not fit, or skipped by its concurrency group */
      json_array_append_new(u->failed, json_pack("{s:s,s:i,s:s}", "workflow", wf->name, "trigger", (int)i + 1,
                                                 "error", e2.msg));
  }
  json_decref(trig);
  return 0;
}

enum ops_err ops_event_triggers(const struct ops_ctx *c, const char *name, const json_t *data, int64_t event_id,
                                json_t **started, json_t **failed, struct ops_error *e)
{
  *started = json_array();
  *failed = json_array();
  struct ev_ud u = {.c = c, .name = name, .data = data, .event_id = event_id, .started = *started, .failed = *failed};
  if (!*started || !*failed)
    return ops_fail(e, OPS_E_INTERNAL, "out of memory");
  int rc = ops_trigger_each(c->store, ev_each, &u);
  if (rc)
    return ops_fail(e, OPS_E_UNAVAILABLE, "cannot read the deployed workflows: %s", store_errmsg(c->store));
  return OPS_OK;
}

/* ---- starting queued runs (the server's loop) ---- */

static bool run_active(struct store *s, const char *id)
{
  struct store_run r = {0};
  bool active = store_run_get(s, id, &r) == 0 && !ops_status_terminal(r.status);
  store_run_clear(&r);
  return active;
}

/* how many runs of group g are started and not ended: running, waiting, or
 * queued and owned (an engine took it; its first transition is not
 * committed yet) */
static size_t group_active(struct store *s, const char *g)
{
  static const char *const active[] = {"running", "waiting", "queued"};
  size_t k = 0;
  for (size_t a = 0; a < 3; a++) {
    struct store_run_filter f = {.status = active[a]};
    struct store_run *v = NULL;
    size_t n = 0;
    if (store_run_list(s, &f, &v, &n))
      continue;
    for (size_t i = 0; i < n; i++) {
      char *t = NULL;
      if (a == 2 && v[i].owner_pid <= 0)
        continue; /* not started yet */
      if (store_run_trigger_get(s, v[i].id, &t) == 0 && t) {
        json_t *j = json_loads(t, 0, NULL);
        const char *jg = json_string_value(json_object_get(json_object_get(j, "_hold"), "group"));
        if (jg && !strcmp(jg, g))
          k++;
        json_decref(j);
      }
      free(t);
    }
    store_runs_free(v, n);
  }
  return k;
}

size_t ops_trigger_pickup(struct store *s, struct runtime *rt, size_t *held,
                          void (*log)(void *ud, const char *id, const char *wf, const char *err), void *ud)
{
  struct store_run_filter f = {.status = "queued"};
  struct store_run *v = NULL;
  size_t n = 0, started = 0;
  *held = 0;
  if (store_run_list(s, &f, &v, &n))
    return 0;
  /* oldest first: the list is newest first */
  for (size_t j = n; j-- > 0;) {
    struct store_run *r = &v[j];
    if (r->owner_pid > 0)
      continue; /* an engine has it (or had it: a dead one is resumed at start) */
    char *t = NULL;
    json_t *hold = NULL, *trig = NULL;
    if (store_run_trigger_get(s, r->id, &t) == 0 && t && (trig = json_loads(t, 0, NULL)))
      hold = json_object_get(trig, "_hold");
    free(t);
    bool wait = false;
    const char *after = json_string_value(json_object_get(hold, "after"));
    const char *group = json_string_value(json_object_get(hold, "group"));
    if (after && run_active(s, after))
      wait = true;
    if (!wait && group && group_active(s, group) >= (size_t)json_integer_value(json_object_get(hold, "max")))
      wait = true;
    if (!wait && ops_concurrency_held(s, trig))
      wait = true;
    json_decref(trig);
    if (wait) {
      (*held)++;
      continue;
    }
    char *err = NULL;
    if (rt_resume(rt, r->id, &err)) {
      if (log)
        log(ud, r->id, r->workflow, err ? err : "failed");
    } else {
      started++;
    }
    free(err);
  }
  store_runs_free(v, n);
  return started;
}
