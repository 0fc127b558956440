/* sse_event.c — audit entries as live events (sse_event.h). */
#include "server/sse_event.h"

#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/jsonfmt.h"
#include "util/wtime.h"

const char *sse_event_type(const char *kind)
{
  if (!kind)
    return "audit";
  if (!strncmp(kind, "run.", 4))
    return "run";
  if (!strncmp(kind, "step.", 5) || !strncmp(kind, "attempt.", 8))
    return "step";
  if (!strncmp(kind, "approval.", 9))
    return "approval";
  return "audit";
}

static json_t *or_null(json_t *v) { return v ? json_incref(v) : json_null(); }

char *sse_event_data(const struct store_audit *e, const char *workflow)
{
  return sse_event_data_at(e, workflow, -1);
}

char *sse_event_data_at(const struct store_audit *e, const char *workflow, int64_t committed_ms)
{
  json_t *d = e->data ? json_loads(e->data, JSON_DECODE_ANY, NULL) : NULL;
  if (d && !json_is_object(d)) { /* not an object: kept whole under detail */
    json_t *w = json_pack("{s:o}", "detail", d);
    d = w;
  }
  if (!d)
    d = json_object();
  json_t *o = json_object();
  char at[32];
  wt_fmt_rfc3339(e->at, at);
  json_t *index = json_object_get(d, "index");
  if (index && (!json_is_integer(index) || json_integer_value(index) < 0))
    index = NULL; /* -1: a plain step */
  json_t *attempt = json_object_get(d, "attempt");
  json_t *attempts = json_object_get(d, "attempts");
  if (!attempt && json_is_integer(attempts) && json_integer_value(attempts) > 0)
    attempt = attempts;
  char *txt = NULL;
  if (!o || !d ||
      json_object_set_new(o, "kind", json_string(e->kind ? e->kind : "")) ||
      json_object_set_new(o, "run", e->run_id ? json_string(e->run_id) : json_null()) ||
      json_object_set_new(o, "workflow", workflow ? json_string(workflow) : json_null()) ||
      json_object_set_new(o, "step", or_null(json_object_get(d, "step"))) ||
      json_object_set_new(o, "index", or_null(index)) ||
      json_object_set_new(o, "status", or_null(json_object_get(d, "status"))) ||
      json_object_set_new(o, "attempt", or_null(attempt)) ||
      json_object_set_new(o, "at", json_string(at)))
    goto out;
  if (committed_ms >= 0) {
    char ct[32];
    wt_fmt_rfc3339(committed_ms, ct);
    if (json_object_set_new(o, "committed_at", json_string(ct)))
      goto out;
  }
  const char *k;
  json_t *v;
  json_object_foreach(d, k, v) {
    if (!json_object_get(o, k) && json_object_set(o, k, v))
      goto out;
  }
  txt = wjson_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
  json_decref(o);
  json_decref(d);
  return txt;
}

const char *sse_wf_of(struct sse_wf_cache *c, struct store *db, const struct store_audit *e)
{
  if (!e->run_id)
    return NULL;
  if (!c->map && !(c->map = json_object()))
    return NULL;
  json_t *v = json_object_get(c->map, e->run_id);
  if (v)
    return json_string_value(v);
  json_t *name = NULL;
  if (e->kind && !strcmp(e->kind, "run.created") && e->data) {
    json_t *d = json_loads(e->data, 0, NULL);
    json_t *w = json_object_get(d, "workflow");
    if (json_is_string(w))
      name = json_string(json_string_value(w));
    json_decref(d);
  }
  if (!name && db) {
    struct store_run r = {0};
    if (store_run_get(db, e->run_id, &r) == 0 && r.workflow)
      name = json_string(r.workflow);
    store_run_clear(&r);
  }
  if (!name)
    return NULL;
  if (json_object_size(c->map) >= SSE_WF_CACHE_MAX)
    json_object_clear(c->map);
  if (json_object_set_new(c->map, e->run_id, name))
    return NULL;
  return json_string_value(json_object_get(c->map, e->run_id));
}

void sse_wf_cache_free(struct sse_wf_cache *c)
{
  json_decref(c->map);
  c->map = NULL;
}
