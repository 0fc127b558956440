/* graph.c — a run's step graph laid out in layers (GET /runs/{id}/graph,
 * and the UI that draws it): nodes in definition order with their status
 * and layer, edges from each need to its step.
 *
 * The layout is a pure function of the definition (ops_graph_layers): a
 * step's layer is the longest chain of needs leading to it, computed in one
 * pass over a topological order (Kahn's algorithm), O(steps + needs), so a
 * 10,000-step definition lays out in microseconds. Statuses are read from
 * each step's own row (and a for_each step's counts), not from the run's
 * whole JSON: the graph of a 100,000-step run is asked for by the UI on
 * every open, and building ops_run_json for it cost more than the graph. */
#include "ops/ops.h"
#include "ops/defcache.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

int ops_graph_layers(const struct wf *wf, uint32_t *layer)
{
  uint32_t n = wf->n_steps;
  if (!n)
    return 0;
  uint32_t *left = calloc(n, sizeof *left), *queue = malloc(n * sizeof *queue);
  if (!left || !queue) {
    free(left);
    free(queue);
    return WEFT_ENOMEM;
  }
  uint32_t head = 0, tail = 0;
  for (uint32_t k = 0; k < n; k++) {
    layer[k] = 0;
    left[k] = wf->steps[k].n_needs;
    if (!left[k])
      queue[tail++] = k;
  }
  while (head < tail) {
    uint32_t k = queue[head++];
    const struct wf_step *st = &wf->steps[k];
    for (uint32_t i = 0; i < st->n_dependents; i++) {
      uint32_t d = st->dependents[i];
      if (d >= n)
        continue;
      if (layer[d] < layer[k] + 1)
        layer[d] = layer[k] + 1;
      if (left[d] && --left[d] == 0)
        queue[tail++] = d;
    }
  }
  free(left);
  free(queue);
  return 0;
}

enum ops_err ops_run_graph(const struct ops_ctx *c, const char *id, json_t **out, struct ops_error *e)
{
  *out = NULL;
  enum ops_err k = ops_authorize(c, "get_run_graph", e);
  struct store_run r = {0};
  const struct wf *wf = NULL;
  uint32_t *layer = NULL;
  json_t *nodes = NULL, *edges = NULL;
  if (k || (k = ops_find_run(c->store, id, &r, e)) != 0)
    goto out;
  if (!(wf = ops_def_get(c->store, &r))) {
    k = ops_fail(e, OPS_E_UNPROCESSABLE, "the definition of run %s cannot be loaded", r.id);
    goto out;
  }
  layer = calloc(wf->n_steps ? wf->n_steps : 1, sizeof *layer);
  nodes = json_array();
  edges = json_array();
  if (!layer || !nodes || !edges || ops_graph_layers(wf, layer)) {
    k = ops_fail(e, OPS_E_INTERNAL, "out of memory");
    goto out;
  }
  for (uint32_t i = 0; i < wf->n_steps; i++) {
    const struct wf_step *st = &wf->steps[i];
    struct store_step own = {0};
    bool has = store_step_get(c->store, r.id, st->id, STORE_NO_INDEX, &own) == 0;
    json_t *inst = json_null();
    if (st->for_each) {
      /* as ops_run_json counts them: the counts kept on the step's own
       * row, else counted; none while the step has not started */
      json_int_t total = 0;
      if (has && (strcmp(own.status, "pending") || own.counts)) {
        char *txt = NULL;
        json_t *counts = own.counts ? json_loads(own.counts, 0, NULL) : NULL;
        if (!json_is_object(counts)) {
          json_decref(counts);
          counts = store_step_count(c->store, r.id, st->id, &txt) == 0 && txt ? json_loads(txt, 0, NULL) : NULL;
          free(txt);
        }
        const char *key;
        json_t *v;
        json_object_foreach(counts, key, v)
          total += json_integer_value(v);
        json_decref(counts);
      }
      inst = json_integer(total);
    }
    json_t *node = json_pack("{s:s,s:s,s:s,s:I,s:o}", "id", st->id, "kind", wf_kind_name(st->kind), "status",
                             has && own.status ? own.status : "pending", "layer",
                             (json_int_t)layer[i], "instances", inst);
    store_step_clear(&own);
    if (node && st->is_finally)
      json_object_set_new(node, "finally", json_true());
    json_array_append_new(nodes, node);
    for (uint32_t j = 0; j < st->n_needs; j++)
      if (st->needs[j] < wf->n_steps)
        json_array_append_new(edges, json_pack("[s,s]", wf->steps[st->needs[j]].id, st->id));
  }
  if (!(*out = json_pack("{s:s,s:O,s:O}", "run", r.id, "nodes", nodes, "edges", edges)))
    k = ops_fail(e, OPS_E_INTERNAL, "out of memory");
out:
  json_decref(nodes);
  json_decref(edges);
  free(layer);
  ops_def_put(wf);
  store_run_clear(&r);
  return k;
}
