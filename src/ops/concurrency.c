/* concurrency.c — concurrency groups (SERVER.md §3, `concurrency:`): the ONE
 * place that decides whether a new run of a workflow starts now, waits in
 * its group's queue, is skipped, or cancels older runs of its group. Every
 * start asks here: the API (ops_start_run), the triggers
 * (ops_trigger_enqueue: schedules, webhooks, events, backfills), and `weft
 * run` (cli/cmd_run.c). A run's group is recorded on its row
 * (runs.concurrency_group), so the store counts a group's active and
 * waiting runs without a scan, across processes and restarts; waiting runs
 * are queued runs no engine owns, started oldest first by the server's
 * loop (ops_trigger_pickup) when a run of the group ends. */
#include "ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "util/jsonfmt.h"
#include "util/wtime.h"

#define GROUP_KEY_MAX 200

int ops_concurrency_group(struct wf *wf, const json_t *inputs, const json_t *trig, char **group, char **err)
{
  *group = NULL;
  *err = NULL;
  if (wf->concurrency <= 0)
    return 0;
  if (!wf->concurrency_key)
    return (*group = strdup(wf->name)) ? 0 : WEFT_ENOMEM;
  json_t *ctx = json_pack("{s:O,s:O,s:{s:O}}", "inputs", inputs ? inputs : json_null(), "trigger",
                          trig ? trig : json_null(), "run", "trigger", trig ? trig : json_null());
  if (!ctx)
    return WEFT_ENOMEM;
  json_t *v = NULL;
  struct expr_env env = {.success = true};
  int rc = expr_render(wf->prog, wf->concurrency_key, ctx, &env, &v, err);
  json_decref(ctx);
  if (rc)
    return rc;
  char *txt = json_is_string(v) ? strdup(json_string_value(v)) : wjson_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(v);
  if (!txt)
    return WEFT_ENOMEM;
  size_t n = strlen(txt);
  if (n > GROUP_KEY_MAX) {
    if (asprintf(err, "the concurrency key is %zu bytes, over the limit of %d", n, GROUP_KEY_MAX) < 0)
      *err = NULL;
    free(txt);
    return WEFT_ELIMIT;
  }
  if (asprintf(group, "%s:%s", wf->name, txt) < 0)
    *group = NULL;
  free(txt);
  return *group ? 0 : WEFT_ENOMEM;
}

/* A waiting (queued, unowned) run of the group ends cancelled at once: no
 * engine has it, so nothing else is to be stopped. */
static int end_waiting(struct store *s, const char *id, const char *by_run, int64_t now)
{
  struct store_run r = {0};
  int rc = store_run_get(s, id, &r);
  if (rc)
    return rc;
  if (strcmp(r.status, "queued") || r.owner_pid > 0) {
    store_run_clear(&r);
    return 0; /* started meanwhile: its cancel goes through the inbox */
  }
  free(r.status);
  r.status = strdup("cancelled");
  free(r.error);
  json_t *err = json_pack("{s:s,s:s}", "kind", "cancelled", "message", "replaced by a newer run of its "
                                                                     "concurrency group (on_full: cancel_in_progress)");
  r.error = err ? wjson_dumps(err, JSON_COMPACT) : NULL;
  json_decref(err);
  r.finished_at = now;
  rc = r.status ? store_run_put(s, &r) : WEFT_ENOMEM;
  if (!rc) {
    json_t *a = json_pack("{s:s,s:s}", "reason", "concurrency", "replaced_by", by_run ? by_run : "");
    rc = a ? store_audit_append_json(s, now, id, "run.cancelled", a, NULL) : WEFT_ENOMEM;
    json_decref(a);
  }
  store_run_clear(&r);
  return rc;
}

/* cancel_in_progress: every older run of the group goes (GitHub's
 * cancel-in-progress): active ones by a cancel request to their engine,
 * waiting ones at once. The new run then waits for the slots they free. */
static int cancel_group(const struct ops_ctx *c, const char *group, json_t *cancelled)
{
  struct store *s = c->store;
  int64_t now = wt_now_ms();
  for (int pass = 0; pass < 2; pass++) {
    char **ids = NULL;
    size_t n = 0;
    int rc = store_group_runs(s, group, pass == 1, 0, &ids, &n);
    for (size_t i = 0; i < n; i++) {
      if (!rc && pass == 1) {
        rc = end_waiting(s, ids[i], NULL, now);
      } else if (!rc) {
        struct store_inbox m = {.kind = "cancel", .run_id = ids[i], .index = STORE_NO_INDEX,
                                .user = (char *)(c->user ? c->user : "concurrency"), .created_at = now};
        rc = store_inbox_post(s, &m, NULL);
        if (!rc) {
          json_t *a = json_pack("{s:s,s:s,s:s}", "by", c->user ? c->user : "", "reason", "concurrency", "group",
                                group);
          ops_audit_actor(c, a);
          rc = a ? store_audit_append_json(s, now, ids[i], "cancel.requested", a, NULL) : WEFT_ENOMEM;
          json_decref(a);
        }
      }
      if (!rc && cancelled)
        json_array_append_new(cancelled, json_string(ids[i]));
      free(ids[i]);
    }
    free(ids);
    if (rc)
      return rc;
  }
  return 0;
}

enum ops_err ops_concurrency_admit(const struct ops_ctx *c, const struct wf *wf, const char *group,
                                   struct ops_admit *out, struct ops_error *e)
{
  memset(out, 0, sizeof *out);
  out->decision = OPS_ADMIT_START;
  if (!group)
    return OPS_OK;
  int64_t active = 0, waiting = 0;
  if (store_group_count(c->store, group, &active, &waiting))
    return ops_fail(e, OPS_E_UNAVAILABLE, "cannot count the runs of concurrency group %s: %s", group,
                    store_errmsg(c->store));
  out->active = active;
  out->waiting = waiting;
  if (active < wf->concurrency && waiting == 0)
    return OPS_OK;
  switch (wf->concurrency_on_full) {
  case WF_ON_FULL_SKIP:
    out->decision = OPS_ADMIT_SKIP;
    break;
  case WF_ON_FULL_CANCEL:
    out->cancelled = json_array();
    if (cancel_group(c, group, out->cancelled))
      return ops_fail(e, OPS_E_UNAVAILABLE, "cannot cancel the runs of concurrency group %s: %s", group,
                      store_errmsg(c->store));
    out->decision = OPS_ADMIT_QUEUE;
    break;
  default:
    out->decision = OPS_ADMIT_QUEUE;
  }
  snprintf(out->why, sizeof out->why, "concurrency group %s is full (%lld active, %lld waiting, limit %d; on_full: %s)",
           group, (long long)active, (long long)waiting, wf->concurrency, wf_on_full_names[wf->concurrency_on_full]);
  return OPS_OK;
}

void ops_admit_clear(struct ops_admit *a)
{
  json_decref(a->cancelled);
  a->cancelled = NULL;
}

int ops_concurrency_skipped(const struct ops_ctx *c, const struct wf *wf, const char *group, const char *trigger,
                            const char *why)
{
  json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:s}", "workflow", wf->name, "group", group, "trigger",
                        trigger ? trigger : "", "by", c->user ? c->user : "", "reason", why);
  ops_audit_actor(c, a);
  int rc = a ? store_audit_append_json(c->store, wt_now_ms(), NULL, "run.skipped", a, NULL) : WEFT_ENOMEM;
  json_decref(a);
  return rc;
}

bool ops_concurrency_held(struct store *s, const json_t *trig)
{
  const json_t *cc = json_object_get(trig, "_concurrency");
  const char *g = json_string_value(json_object_get(cc, "group"));
  if (!g)
    return false;
  int64_t active = 0, waiting = 0;
  if (store_group_count(s, g, &active, &waiting))
    return true; /* cannot tell: wait for the next look */
  return active >= json_integer_value(json_object_get(cc, "limit"));
}
