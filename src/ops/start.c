/* start.c — starting a run of a deployed workflow (POST
 * /workflows/{name}/runs; later `weft start` and the triggers), in two
 * halves: ops_start_prepare reads and checks (any thread, a reading store
 * handle): the newest version of the name, the inputs by their declared
 * types, the idempotency key; ops_start_run acts on the runtime's loop:
 * the same key again finds the run already started, else the run is
 * created (trigger "api", pinned to the version's hash) with its key and a
 * start.requested audit entry in the transaction of its creation. */
#include "ops/ops.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/deployed.h"
#include "runtime/inputs.h"
#include "runtime/runtime.h"
#include "util/diag.h"
#include "util/utf8.h"
#include "util/wtime.h"

void ops_start_clear(struct ops_start *st)
{
  wf_free(st->wf);
  json_decref(st->inputs);
  free(st->key);
  memset(st, 0, sizeof *st);
}

static bool key_ok(const char *k)
{
  size_t n = strlen(k);
  if (n == 0 || n > OPS_IDEMPOTENCY_KEY_MAX || !utf8_valid((const unsigned char *)k, n))
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f)
      return false;
  return true;
}

/* Problems about inputs name the workflow file by its base name: the
 * server's own paths stay its own. */
static void relabel(struct diag_list *d, const char *label)
{
  for (size_t i = 0; i < d->n; i++) {
    free(d->v[i].file);
    d->v[i].file = strdup(label);
  }
}

enum ops_err ops_start_prepare(const struct ops_ctx *c, const char *name, const json_t *inputs,
                               const json_t *input_args, const char *key, struct ops_start *st, json_t **problems,
                               struct ops_error *e)
{
  memset(st, 0, sizeof *st);
  if (problems)
    *problems = NULL;
  enum ops_err k = ops_authorize(c, "start_run", e);
  if (k)
    return k;
  if (key && !key_ok(key)) {
    e->usage = true;
    return ops_fail(e, OPS_E_BAD_REQUEST, "an idempotency key is 1 to %d bytes of text without control characters",
                    OPS_IDEMPOTENCY_KEY_MAX);
  }
  if (inputs && !json_is_object(inputs) && !json_is_null(inputs)) {
    e->usage = true;
    return ops_fail(e, OPS_E_BAD_REQUEST, "inputs must be an object {\"NAME\": value}");
  }
  size_t i;
  json_t *a;
  if (input_args && !json_is_null(input_args)) {
    bool ok = json_is_array(input_args);
    json_array_foreach(input_args, i, a) ok = ok && json_is_string(a);
    if (!ok) {
      e->usage = true;
      return ops_fail(e, OPS_E_BAD_REQUEST, "input_args must be a list of \"KEY=VALUE\" strings (as -i takes)");
    }
  }
  char msg[OPS_ERRMSG_MAX];
  int rc = rt_deployed_load(c->store, name, &st->wf, &st->version, msg, sizeof msg);
  if (rc == WEFT_ENOTFOUND)
    return ops_fail(e, OPS_E_NOT_FOUND, "%s; `weft workflows` lists them", msg);
  if (rc)
    return ops_fail(e, OPS_E_INTERNAL, "%s", msg);
  /* typed values like `weft run --inputs FILE.json`, then KEY=VALUE texts
   * read by the declared types like `weft run -i` (they win) */
  struct diag_list d = {0};
  json_t *given = json_object(), *args = json_object();
  char *err = NULL;
  json_array_foreach(input_args, i, a) {
    if (inputs_parse_kv(args, json_string_value(a), &err)) {
      diag_add(&d, NULL, 0, 0, "input_args[%zu]: %s", i, err ? err : "give KEY=VALUE");
      free(err);
      err = NULL;
    }
  }
  inputs_read_cli(st->wf, args);
  if (json_is_object(inputs)) {
    json_object_update(given, (json_t *)inputs);
    const char *gk;
    json_t *gv;
    json_object_foreach(args, gk, gv) json_object_del(given, gk); /* input_args win, unchecked here */
    inputs_check_file(st->wf, given, "inputs", &d);
  }
  json_object_update(given, args);
  if (!d.n)
    inputs_resolve(st->wf, given, &st->inputs, &d);
  json_decref(given);
  json_decref(args);
  if (d.n) {
    char label[300];
    snprintf(label, sizeof label, "%s.yaml", name);
    relabel(&d, label);
    if (problems)
      *problems = ops_problems_json(&d);
    k = ops_fail(e, OPS_E_UNPROCESSABLE, "the inputs do not fit %s version %d (%zu problem%s); nothing was started",
                 name, st->version, d.n, d.n == 1 ? "" : "s");
    diag_list_free(&d);
    ops_start_clear(st);
    return k;
  }
  if (key && !(st->key = strdup(key))) {
    ops_start_clear(st);
    return ops_fail(e, OPS_E_INTERNAL, "out of memory");
  }
  return OPS_OK;
}

enum ops_err ops_start_run(const struct ops_ctx *c, struct runtime *rt, struct ops_start *st,
                           char id_out[WEFT_ID_LEN + 1], bool *created, struct ops_error *e)
{
  struct store *s = c->store;
  *created = false;
  id_out[0] = 0;
  enum ops_err k = ops_authorize(c, "start_run", e);
  if (k)
    return k;
  if (!st->wf)
    return ops_fail(e, OPS_E_INTERNAL, "nothing to start");
  char name[256], hash[SHA256_HEX_LEN + 1];
  snprintf(name, sizeof name, "%s", st->wf->name);
  memcpy(hash, st->wf->hash, sizeof hash);
  if (st->key) {
    char *id = NULL;
    int rc = store_run_by_key(s, name, st->key, &id);
    if (rc == 0) {
      snprintf(id_out, WEFT_ID_LEN + 1, "%s", id);
      free(id);
      return OPS_OK;
    }
    if (rc != WEFT_ENOTFOUND)
      return ops_fail(e, OPS_E_UNAVAILABLE, "cannot look the idempotency key up: %s", store_errmsg(s));
  }
  char *err = NULL;
  /* its concurrency group decides: start now, wait in the group, or skip */
  char *group = NULL;
  json_t *trig = json_pack("{s:s}", "type", "api");
  if (!trig || ops_concurrency_group(st->wf, st->inputs, trig, &group, &err)) {
    k = ops_fail(e, OPS_E_UNPROCESSABLE, "the concurrency key of %s: %s", name, err ? err : "out of memory");
    free(err);
    json_decref(trig);
    return k;
  }
  struct ops_admit adm;
  k = ops_concurrency_admit(c, st->wf, group, &adm, e);
  if (!k && adm.decision == OPS_ADMIT_SKIP) {
    if (ops_concurrency_skipped(c, st->wf, group, "api", adm.why))
      k = ops_fail(e, OPS_E_UNAVAILABLE, "cannot record the skip: %s", store_errmsg(s));
    else
      k = ops_fail(e, OPS_E_CONFLICT, "%s; nothing was started", adm.why);
  } else if (!k && adm.decision == OPS_ADMIT_QUEUE) {
    bool own = !store_in_tx(s);
    int brc = own ? store_begin(s) : 0;
    k = brc ? ops_fail(e, OPS_E_UNAVAILABLE, "cannot record the run: %s", store_errmsg(s))
            : ops_queue_run(c, st->wf, st->version, st->inputs, trig, st->key, NULL, 0, group, id_out, e);
    if (!k && own && store_commit(s))
      k = ops_fail(e, OPS_E_UNAVAILABLE, "cannot record the run: %s", store_errmsg(s));
    if (k && own && store_in_tx(s))
      store_rollback(s);
    if (!k) {
      *created = st->queued = true;
      st->queued_in_tx = !own;
    }
  }
  ops_admit_clear(&adm);
  json_decref(trig);
  if (k || st->queued) {
    free(group);
    return k;
  }
  struct wf *wf = st->wf;
  st->wf = NULL; /* rt_start takes it over */
  int rc = rt_start_as(rt, wf, st->inputs, "api", c->user, id_out, &err);
  if (rc) {
    k = ops_fail(e, OPS_E_UNAVAILABLE, "cannot start %s: %s", name, err ? err : weft_strerror(rc));
    free(err);
    free(group);
    id_out[0] = 0;
    return k;
  }
  if (group) /* in the open transaction of its creation */
    rc = store_run_group_set(s, id_out, group);
  free(group);
  if (rc)
    return ops_fail(e, OPS_E_UNAVAILABLE, "run %s started, but its concurrency group was not recorded: %s", id_out,
                    store_errmsg(s));
  *created = true;
  /* the run's creation is still open (it commits with the run's first
   * transitions): the key and the entry join it */
  if (st->key)
    rc = store_run_key_set(s, id_out, st->key);
  if (!rc) {
    json_t *a = json_pack("{s:s,s:i,s:s,s:s}", "workflow", name, "version", st->version, "definition", hash, "by",
                          c->user ? c->user : "");
    if (a && st->key)
      json_object_set_new(a, "idempotency_key", json_string(st->key));
    ops_audit_actor(c, a);
    rc = a ? store_audit_append_json(s, wt_now_ms(), id_out, "start.requested", a, NULL) : WEFT_ENOMEM;
    json_decref(a);
  }
  if (rc) /* the run goes on; its commit reports a failed store */
    return ops_fail(e, OPS_E_UNAVAILABLE, "run %s started, but its request was not recorded: %s", id_out,
                    store_errmsg(s));
  return OPS_OK;
}
