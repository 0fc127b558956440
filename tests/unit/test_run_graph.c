/* test_run_graph.c — the layered layout of a run's step graph
 * (ops_graph_layers, src/ops/graph.c): fixed shapes, and over random DAGs
 * (fixed seeds) the defining property of a longest-path layering: a step
 * without needs is at layer 0, every step is below each step it needs, and
 * at exactly one more than the deepest of them. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "util/buf.h"
#include "util/diag.h"

static struct wf *load(const char *yaml)
{
  struct wf *wf = NULL;
  struct diag_list d = {0};
  int rc = wf_load_string("t.yaml", yaml, strlen(yaml), &wf, &d);
  cr_assert_eq(rc, 0, "the workflow loads");
  cr_assert_eq(d.n, 0, "the workflow is valid");
  diag_list_free(&d);
  return wf;
}

static uint32_t layer_of(const struct wf *wf, const uint32_t *layer, const char *id)
{
  uint32_t k = wf_step_find(wf, id);
  cr_assert_neq(k, WF_NONE, "step %s", id);
  return layer[k];
}

Test(run_graph, diamond_and_a_long_side_chain)
{
  struct wf *wf = load("name: g\n"
                       "steps:\n"
                       "  d: {needs: [b, c, e], run: 'true'}\n"
                       "  a: {run: 'true'}\n"
                       "  b: {needs: [a], run: 'true'}\n"
                       "  c: {needs: [a], run: 'true'}\n"
                       "  x: {run: 'true'}\n"
                       "  y: {needs: [x], run: 'true'}\n"
                       "  e: {needs: [y], run: 'true'}\n"
                       "  z: {needs: [e], run: 'true'}\n");
  uint32_t layer[16];
  cr_assert_eq(ops_graph_layers(wf, layer), 0);
  cr_assert_eq(layer_of(wf, layer, "a"), 0);
  cr_assert_eq(layer_of(wf, layer, "x"), 0);
  cr_assert_eq(layer_of(wf, layer, "b"), 1);
  cr_assert_eq(layer_of(wf, layer, "c"), 1);
  cr_assert_eq(layer_of(wf, layer, "y"), 1);
  cr_assert_eq(layer_of(wf, layer, "e"), 2);
  cr_assert_eq(layer_of(wf, layer, "d"), 3, "the longest path decides, not the shortest");
  cr_assert_eq(layer_of(wf, layer, "z"), 3);
  wf_free(wf);
}

static uint64_t rng;

static uint32_t rnd(uint32_t n)
{
  uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return (uint32_t)((z ^ (z >> 31)) % n);
}

Test(run_graph, random_dags_have_longest_path_layers)
{
  rng = 42;
  for (int round = 0; round < 200; round++) {
    int n = 1 + (int)rnd(40);
    struct buf y;
    buf_init(&y, 1u << 20);
    buf_append(&y, "name: g\nsteps:\n", 15);
    for (int i = 0; i < n; i++) {
      char line[4096];
      int len = snprintf(line, sizeof line, "  s%d: {run: 'true'", i);
      bool any = false;
      for (int j = 0; j < i; j++) {
        if (rnd(100) < 15) {
          len += snprintf(line + len, sizeof line - (size_t)len, "%s s%d", any ? "," : ", needs: [", j);
          any = true;
        }
      }
      len += snprintf(line + len, sizeof line - (size_t)len, "%s}\n", any ? "]" : "");
      buf_append(&y, line, (size_t)len);
    }
    buf_append(&y, "", 1);
    struct wf *wf = load(y.p);
    buf_free(&y);
    uint32_t *layer = calloc((size_t)n, sizeof *layer);
    cr_assert_eq(ops_graph_layers(wf, layer), 0);
    for (uint32_t k = 0; k < wf->n_steps; k++) {
      const struct wf_step *st = &wf->steps[k];
      uint32_t deepest = 0;
      for (uint32_t i = 0; i < st->n_needs; i++) {
        cr_assert_lt(layer[st->needs[i]], layer[k], "round %d: %s below what it needs", round, st->id);
        if (layer[st->needs[i]] + 1 > deepest)
          deepest = layer[st->needs[i]] + 1;
      }
      cr_assert_eq(layer[k], deepest, "round %d: %s one below its deepest need", round, st->id);
    }
    free(layer);
    wf_free(wf);
  }
}
