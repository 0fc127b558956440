/* hooks.c — webhook triggers (ops.h ops_webhook, SERVER.md §3): the
 * trigger named by the path, the HMAC-SHA256 signature of the raw body with
 * the trigger's secret (from the home's secrets, as steps see them), the
 * delivery id as the run's idempotency key, `if:` and `inputs:` over
 * `.trigger.body/headers`, and a queued run for the server's loop. A bad or
 * missing signature is refused and audited (webhook.refused).
 *
 * Which workflow has hook NAME comes from a process-wide cache of every
 * deployed hook (name -> workflow, version, trigger), built by one walk of
 * the deployed workflows and dropped by ops_hooks_invalidate (the server
 * calls it on every deploy it makes or sees); a hit whose workflow has a
 * newer version than the cache's is dropped and looked up again. So a
 * delivery parses one definition, not every deployed one. */
#include "ops/ops.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "runtime/deployed.h"
#include "sched/trigger.h"
#include "util/secrets.h"
#include "util/wtime.h"

struct hook_find {
  const char *name;
  char wf[256]; /* the workflow with the hook */
  int version;
  json_t *def;
  size_t n; /* workflows with a hook of that name */
};

static pthread_mutex_t hc_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *hc_map;                /* name -> {wf, version, def}: every hook of hc_built */
static uint64_t hc_built;             /* the generation hc_map was built for */
static atomic_uint_fast64_t hc_gen = 1;

void ops_hooks_invalidate(void)
{
  atomic_fetch_add(&hc_gen, 1);
}

static int build_each(void *ud, struct wf *wf, int version, size_t i, json_t *def)
{
  (void)i;
  const char *h = json_string_value(json_object_get(def, "webhook"));
  if (!h || json_object_get(ud, h)) /* the first workflow with the name has it */
    return 0;
  json_t *x = json_pack("{s:s,s:i,s:o}", "wf", wf->name, "version", version, "def", json_deep_copy(def));
  return x && !json_object_set_new(ud, h, x) ? 0 : WEFT_ENOMEM;
}

/* f filled from the cache (built now when stale); 0 or the walk's failure */
static int hook_lookup(struct store *s, struct hook_find *f)
{
  uint64_t g = atomic_load(&hc_gen);
  int rc = 0;
  pthread_mutex_lock(&hc_mu);
  if (!hc_map || hc_built != g) {
    json_t *m = json_object();
    rc = m ? ops_trigger_each(s, build_each, m) : WEFT_ENOMEM;
    if (!rc) {
      json_decref(hc_map);
      hc_map = m;
      hc_built = g;
    } else {
      json_decref(m);
    }
  }
  const json_t *x = rc ? NULL : json_object_get(hc_map, f->name);
  if (x) {
    f->n = 1;
    f->version = (int)json_integer_value(json_object_get(x, "version"));
    snprintf(f->wf, sizeof f->wf, "%s", json_string_value(json_object_get(x, "wf")));
    f->def = json_deep_copy(json_object_get(x, "def")); /* jansson's counts are not atomic: a copy per thread */
  }
  pthread_mutex_unlock(&hc_mu);
  return rc;
}

/* ops_trigger_each frees each definition after its triggers; the hook's
 * is loaded again here (cheap next to the HMAC, and never stale) */
static struct wf *load_named(struct store *s, const char *name, int *version)
{
  struct wf *wf = NULL;
  char msg[256];
  if (rt_deployed_load(s, name, &wf, version, msg, sizeof msg))
    return NULL;
  return wf;
}

static void refuse_audit(const struct ops_ctx *c, const char *name, const char *why, const char *peer)
{
  json_t *a = json_pack("{s:s,s:s,s:s}", "hook", name, "reason", why, "peer", peer ? peer : "");
  if (a)
    store_audit_append_json(c->store, wt_now_ms(), NULL, "webhook.refused", a, NULL);
  json_decref(a);
}

enum ops_err ops_webhook_record(const struct ops_ctx *c, struct wf *wf, int version, const json_t *def,
                                const json_t *trig, const char *key, char id_out[WEFT_ID_LEN + 1], bool *existing,
                                struct ops_error *e)
{
  *existing = false;
  id_out[0] = 0;
  char *have = NULL;
  if (key && store_run_by_key(c->store, wf->name, key, &have) == 0) {
    snprintf(id_out, WEFT_ID_LEN + 1, "%s", have);
    free(have);
    *existing = true;
    return OPS_OK;
  }
  return ops_trigger_enqueue(c, wf, version, def, trig, key, NULL, id_out, e);
}

static enum ops_err ops_webhook_once(const struct ops_ctx *c, const char *name, const char *body, size_t len,
                                     const char *sig_header, const json_t *headers, const char *delivery,
                                     const char *peer, ops_hook_record_fn record, void *rud, json_t **out,
                                     unsigned *status, struct ops_error *e, int retried)
{
  *out = NULL;
  *status = 0;
  struct hook_find f = {.name = name};
  int rc = hook_lookup(c->store, &f);
  const char *wfname = f.wf;
  if (rc) {
    json_decref(f.def);
    return ops_fail(e, OPS_E_UNAVAILABLE, "cannot read the deployed workflows: %s", store_errmsg(c->store));
  }
  if (!f.n) { /* answered as a bad signature: which hooks exist is no caller's business */
    refuse_audit(c, name, "no such hook", peer);
    return ops_fail(e, OPS_E_UNAUTHORIZED, "refused: no deployed workflow has a webhook %s that this request is "
                                           "signed for", name);
  }
  enum ops_err k = OPS_OK;
  struct wf *wf = NULL;
  json_t *secrets = NULL, *trig = NULL, *v = NULL;
  char *err = NULL;
  const char *secret_name = json_string_value(json_object_get(f.def, "secret"));
  const char *secret = NULL;
  if (secret_name && secrets_load(c->home ? c->home : store_home(c->store), &secrets, &err) == 0)
    secret = json_string_value(json_object_get(secrets, secret_name));
  free(err);
  err = NULL;
  const char *why = !secret_name ? "the trigger has no secret"
                    : !secret    ? "its secret is not set"
                    : !sig_header ? "no signature header"
                                  : NULL;
  if (!why && !hook_signature_ok(secret, strlen(secret), body, len, sig_header))
    why = "the signature does not match";
  if (why) {
    refuse_audit(c, name, why, peer);
    k = ops_fail(e, OPS_E_UNAUTHORIZED,
                 "refused: %s; sign the raw body with HMAC-SHA256 and the hook's secret, in X-Hub-Signature-256 or "
                 "X-Weft-Signature as sha256=HEX",
                 why);
    goto out;
  }
  char key[300];
  bool keyed = hook_delivery_key(name, delivery, key, sizeof key);
  if (delivery && *delivery && !keyed) {
    k = ops_fail(e, OPS_E_BAD_REQUEST, "the delivery id must be 1 to %d bytes without control characters",
                 HOOK_DELIVERY_MAX);
    goto out;
  }
  char *have = NULL;
  if (keyed && store_run_by_key(c->store, wfname, key, &have) == 0) {
    *out = json_pack("{s:s}", "run", have);
    *status = 200;
    free(have);
    goto out;
  }
  json_t *jb = json_loadb(body, len, JSON_DECODE_ANY, NULL);
  if (!jb)
    jb = json_stringn(body, len);
  trig = sched_trigger_json("webhook", wt_now_ms(), SCHED_NO_TIME, name, jb, headers, NULL);
  json_decref(jb);
  int version = 0;
  if (!trig || !(wf = load_named(c->store, wfname, &version))) {
    k = ops_fail(e, OPS_E_UNAVAILABLE, "cannot load %s", wfname);
    goto out;
  }
  if (version != f.version) { /* deployed again since the cache was built: look again */
    ops_hooks_invalidate();
    if (retried++ == 0) {
      json_decref(trig);
      json_decref(secrets);
      json_decref(f.def);
      wf_free(wf);
      return ops_webhook_once(c, name, body, len, sig_header, headers, delivery, peer, record, rud, out, status, e,
                              retried);
    }
  }
  json_t *def = json_array_get(wf->triggers, (size_t)json_integer_value(json_object_get(f.def, "_index")) - 1);
  if (!def) {
    k = ops_fail(e, OPS_E_UNAVAILABLE, "%s changed meanwhile; send again", wfname);
    goto out;
  }
  json_object_set(def, "_index", json_object_get(f.def, "_index"));
  const json_t *cond = json_object_get(def, "if");
  if (cond) {
    if (ops_trigger_eval(wf, cond, trig, &v, &err)) {
      k = ops_fail(e, OPS_E_UNPROCESSABLE, "the hook's if: %s", err ? err : "expression failed");
      goto out;
    }
    if (!expr_truthy(v)) {
      *out = json_pack("{s:n,s:s}", "run", "reason", "if was false");
      *status = 200;
      goto out;
    }
  }
  char id[WEFT_ID_LEN + 1] = "";
  struct ops_ctx c2 = *c;
  c2.user = "webhook";
  bool existing = false;
  if (record) { /* a batch of deliveries in one transaction elsewhere (the server's recorder) */
    k = record(rud, &c2, wf, version, def, trig, keyed ? key : NULL, id, &existing, e);
  } else if (store_begin(c->store)) {
    k = ops_fail(e, OPS_E_UNAVAILABLE, "cannot record the run: %s", store_errmsg(c->store));
  } else {
    k = ops_webhook_record(&c2, wf, version, def, trig, keyed ? key : NULL, id, &existing, e);
    if (!k && store_commit(c->store))
      k = ops_fail(e, OPS_E_UNAVAILABLE, "cannot record the run: %s", store_errmsg(c->store));
    if (store_in_tx(c->store))
      store_rollback(c->store);
  }
  if (!k && existing) { /* the same delivery, concurrently: the first one's run */
    *out = json_pack("{s:s}", "run", id);
    *status = 200;
    goto out;
  }
  if (!k && !id[0]) { /* its concurrency group is full (on_full: skip) */
    *out = json_pack("{s:n,s:s}", "run", "reason", e->msg);
    *status = 200;
  } else if (!k) {
    *out = json_pack("{s:s}", "run", id);
    *status = 202;
  }
out:
  free(err);
  json_decref(v);
  json_decref(trig);
  json_decref(secrets);
  json_decref(f.def);
  wf_free(wf);
  return k;
}

enum ops_err ops_webhook(const struct ops_ctx *c, const char *name, const char *body, size_t len,
                         const char *sig_header, const json_t *headers, const char *delivery, const char *peer,
                         json_t **out, unsigned *status, struct ops_error *e)
{
  return ops_webhook_once(c, name, body, len, sig_header, headers, delivery, peer, NULL, NULL, out, status, e, 0);
}

enum ops_err ops_webhook_via(const struct ops_ctx *c, const char *name, const char *body, size_t len,
                             const char *sig_header, const json_t *headers, const char *delivery, const char *peer,
                             ops_hook_record_fn record, void *rud, json_t **out, unsigned *status,
                             struct ops_error *e)
{
  return ops_webhook_once(c, name, body, len, sig_header, headers, delivery, peer, record, rud, out, status, e, 0);
}
