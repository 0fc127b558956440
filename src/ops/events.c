/* events.c — sending an event (`weft event send`, POST /events): a run-less
 * inbox row (kind "event") that every engine executing runs in this home
 * delivers to the `wait: {event: NAME}` steps whose match accepts it (see
 * runtime/svc_wait.c), and an `event.sent` audit entry (its name and the SHA-256 of
 * its payload), in one transaction. */
#include "ops/ops.h"
#include "ops/defcache.h"

#include <stdlib.h>
#include <string.h>

#include "util/jsonfmt.h"
#include "util/sha256.h"
#include "util/wtime.h"

bool ops_event_name_ok(const char *s)
{
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 128)
    return false;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              (i > 0 && (ch == '_' || ch == '-' || ch == '.' || ch == ':'));
    if (!ok)
      return false;
  }
  return true;
}

/* The `wait: {event: NAME}` steps waiting now (their match decides, in
 * their engine, whether they accept the event): [{run, step, index}]. */
static json_t *waiting_for(struct store *s, const char *name)
{
  json_t *a = json_array();
  struct store_step *v = NULL;
  size_t n = 0;
  if (!a || store_step_list_waiting(s, &v, &n) != 0)
    return a;
  const struct wf *wf = NULL;
  char *run = NULL;
  for (size_t i = 0; i < n; i++) {
    if (!run || strcmp(run, v[i].run_id)) { /* rows come by run */
      free(run);
      run = strdup(v[i].run_id);
      ops_def_put(wf);
      wf = NULL;
      struct store_run r = {0};
      if (store_run_get(s, v[i].run_id, &r) == 0)
        wf = ops_def_get(s, &r);
      store_run_clear(&r);
    }
    uint32_t k = wf ? wf_step_find(wf, v[i].step) : WF_NONE;
    if (k == WF_NONE || wf->steps[k].kind != WF_WAIT)
      continue;
    const char *ev = json_string_value(json_object_get(wf->steps[k].body, "event"));
    if (ev && !strcmp(ev, name))
      json_array_append_new(a, json_pack("{s:s,s:s,s:o}", "run", v[i].run_id, "step", v[i].step, "index",
                                         v[i].index >= 0 ? json_integer(v[i].index) : json_null()));
  }
  free(run);
  ops_def_put(wf);
  store_steps_free(v, n);
  return a;
}

enum ops_err ops_send_event(const struct ops_ctx *c, const char *name, const json_t *data, json_t **out,
                            struct ops_error *e)
{
  *out = NULL;
  enum ops_err k = ops_authorize(c, "send_event", e);
  if (k)
    return k;
  if (!ops_event_name_ok(name)) {
    ops_fail(e, OPS_E_BAD_REQUEST, "event name \"%s\" must match [A-Za-z0-9][A-Za-z0-9_.:-]{0,127}",
             name ? name : "");
    e->usage = true;
    return OPS_E_BAD_REQUEST;
  }
  struct store *s = c->store;
  json_t *empty = data ? NULL : json_object();
  char *payload = wjson_dumps(data ? data : empty, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(empty);
  int64_t now = wt_now_ms(), id = 0;
  struct store_inbox m = {.kind = "event", .name = (char *)name, .index = STORE_NO_INDEX, .user = (char *)c->user,
                          .payload = payload, .created_at = now};
  char h[SHA256_HEX_LEN + 1];
  sha256_hex(payload ? payload : "", payload ? strlen(payload) : 0, h);
  int rc = store_begin(s);
  if (!rc)
    rc = store_inbox_post(s, &m, &id);
  if (!rc) {
    json_t *d = json_pack("{s:s,s:s,s:s}", "name", name, "by", c->user ? c->user : "", "payload_sha256", h);
    ops_audit_actor(c, d);
    char *txt = wjson_dumps(d, JSON_COMPACT);
    json_decref(d);
    rc = txt ? store_audit_append(s, now, NULL, "event.sent", txt, NULL) : -1;
    free(txt);
  }
  /* the event triggers' runs join the event's transaction (ops/triggers.c) */
  json_t *started = NULL, *failed = NULL;
  if (!rc && ops_event_triggers(c, name, data ? data : json_null(), id, &started, &failed, e))
    rc = WEFT_ESTORE;
  if (!rc)
    rc = store_commit(s);
  free(payload);
  if (rc) {
    if (store_in_tx(s))
      store_rollback(s);
    json_decref(started);
    json_decref(failed);
    return ops_fail(e, OPS_E_UNAVAILABLE, "cannot record the event: %s", store_errmsg(s));
  }
  /* started: the runs its event triggers recorded, queued for `weft server` */
  *out = json_pack("{s:I,s:s,s:o,s:o}", "id", (json_int_t)id, "name", name, "delivered_to", waiting_for(s, name),
                   "started", started);
  if (*out && json_array_size(failed))
    json_object_set(*out, "trigger_errors", failed);
  json_decref(failed);
  return *out ? OPS_OK : ops_fail(e, OPS_E_INTERNAL, "out of memory");
}
