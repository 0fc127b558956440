/* events_run.c — an event sent to one run (`weft event send NAME --run RUN`,
 * POST /events {name, data, run}): kept in the store (store_run_event_put)
 * until a `wait: {event: NAME}` of that run consumes it, so it may arrive
 * before the step starts waiting (a persistent trigger, LANGUAGE.md §3
 * "Events"); runtime/svc_wait.c delivers it. With its `event.sent` audit
 * entry (name, run, sender, SHA-256 of the payload) in one transaction.
 * Event triggers do not fire for it: it is addressed to its run. */
#include "ops/ops.h"
#include "ops/defcache.h"

#include <stdlib.h>
#include <string.h>

#include "util/jsonfmt.h"
#include "util/sha256.h"
#include "util/wtime.h"

/* The run's `wait: {event: NAME}` steps waiting now: [{run, step, index}]. */
static json_t *waiting_in(struct store *s, const struct store_run *r, const char *name)
{
  json_t *a = json_array();
  struct store_step *v = NULL;
  size_t n = 0;
  const struct wf *wf = ops_def_get(s, r);
  if (!a || !wf || store_step_list(s, r->id, NULL, &v, &n) != 0)
    goto out;
  for (size_t i = 0; i < n; i++) {
    if (!v[i].status || strcmp(v[i].status, "waiting"))
      continue;
    uint32_t k = wf_step_find(wf, v[i].step);
    if (k == WF_NONE || wf->steps[k].kind != WF_WAIT)
      continue;
    const char *ev = json_string_value(json_object_get(wf->steps[k].body, "event"));
    if (ev && !strcmp(ev, name))
      json_array_append_new(a, json_pack("{s:s,s:s,s:o}", "run", r->id, "step", v[i].step, "index",
                                         v[i].index >= 0 ? json_integer(v[i].index) : json_null()));
  }
out:
  store_steps_free(v, n);
  ops_def_put(wf);
  return a;
}

enum ops_err ops_send_run_event(const struct ops_ctx *c, const char *name, const json_t *data, const char *run,
                                json_t **out, struct ops_error *e)
{
  *out = NULL;
  struct store *s = c->store;
  struct store_run r = {0};
  char *payload = NULL;
  enum ops_err k = ops_authorize(c, "send_event", e);
  if (k)
    return k;
  if (!ops_event_name_ok(name)) {
    ops_fail(e, OPS_E_BAD_REQUEST, "event name \"%s\" must match [A-Za-z0-9][A-Za-z0-9_.:-]{0,127}",
             name ? name : "");
    e->usage = true;
    return OPS_E_BAD_REQUEST;
  }
  if ((k = ops_find_run(s, run, &r, e)) != 0)
    goto out;
  if (ops_status_terminal(r.status)) {
    k = ops_fail(e, OPS_E_CONFLICT, "run %s already ended (%s); an event kept for it would never be consumed",
                 r.id, r.status);
    goto out;
  }
  json_t *empty = data ? NULL : json_object();
  payload = wjson_dumps(data ? data : empty, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(empty);
  if (!payload) {
    k = ops_fail(e, OPS_E_INTERNAL, "out of memory");
    goto out;
  }
  int64_t now = wt_now_ms(), id = 0;
  struct store_inbox m = {.kind = "event", .name = (char *)name, .run_id = r.id, .index = STORE_NO_INDEX,
                          .user = (char *)c->user, .payload = payload, .created_at = now};
  char h[SHA256_HEX_LEN + 1];
  sha256_hex(payload, strlen(payload), h);
  int rc = store_begin(s);
  if (!rc)
    rc = store_run_event_put(s, &m, &id);
  if (!rc) {
    json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:I}", "name", name, "run", r.id, "by", c->user ? c->user : "",
                          "payload_sha256", h, "id", (json_int_t)id);
    ops_audit_actor(c, d);
    char *txt = d ? wjson_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    rc = txt ? store_audit_append(s, now, r.id, "event.sent", txt, NULL) : -1;
    free(txt);
  }
  if (!rc)
    rc = store_commit(s);
  if (rc) {
    if (store_in_tx(s))
      store_rollback(s);
    k = ops_fail(e, OPS_E_UNAVAILABLE, "cannot record the event: %s", store_errmsg(s));
    goto out;
  }
  /* delivered_to: the waits of the run that may take it now (their match decides) */
  *out = json_pack("{s:I,s:s,s:s,s:b,s:o,s:[]}", "id", (json_int_t)id, "name", name, "run", r.id, "kept", 1,
                   "delivered_to", waiting_in(s, &r, name), "started");
  if (!*out)
    k = ops_fail(e, OPS_E_INTERNAL, "out of memory");
out:
  free(payload);
  store_run_clear(&r);
  return k;
}
