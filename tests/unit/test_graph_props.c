/* test_graph_props.c — properties of the needs graph check (src/spec/graph.c),
 * over random workflows from fixed seeds (deterministic, a few hundred cases).
 *
 *  - A random DAG of `needs` validates, and its topological order puts every
 *    step after the steps it needs.
 *  - The same DAG with one back edge added (the last step of a random needs
 *    path also needs the first: cycles of every length from 1, a step that
 *    needs itself, to the depth of the DAG) is rejected, every problem is a
 *    cycle that goes through the added edge, and when the path is the only
 *    one between its ends the message names exactly that cycle, starting at
 *    the step declared first: `cycle in needs: a -> b -> c -> a`.
 *
 * Steps are named s0..sN-1; si may need sj only for j < i, and the YAML
 * declares them in a shuffled order, so neither the DFS order nor the
 * "declared first" rotation of the message follows the names. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/model.h"
#include "util/buf.h"
#include "util/diag.h"

#define MAXN 12
#define CASES 400

static uint64_t rng;

static uint32_t rnd(uint32_t n)
{
  uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return (uint32_t)((z ^ (z >> 31)) % n);
}

struct graph {
  int n;
  bool need[MAXN][MAXN]; /* need[i][j]: si needs sj */
  int decl[MAXN];        /* declaration position of si */
};

/* n steps; `chain`: every si needs si-1 (else half of them do); other
 * needs at `dense` percent */
static void random_dag(struct graph *g, int n, bool chain, int dense)
{
  memset(g, 0, sizeof *g);
  g->n = n;
  for (int i = 1; i < g->n; i++) {
    g->need[i][i - 1] = chain || rnd(2);
    for (int j = 0; j < i - 1; j++)
      g->need[i][j] = (int)rnd(100) < dense;
  }
  int order[MAXN];
  for (int i = 0; i < g->n; i++)
    order[i] = i;
  for (int i = g->n - 1; i > 0; i--) {
    int k = (int)rnd((uint32_t)i + 1), t = order[i];
    order[i] = order[k];
    order[k] = t;
  }
  for (int p = 0; p < g->n; p++)
    g->decl[order[p]] = p;
}

static char *yaml(const struct graph *g)
{
  struct buf b;
  buf_init(&b, 1 << 16);
  buf_printf(&b, "name: props\nsteps:\n");
  for (int p = 0; p < g->n; p++) {
    int i = 0;
    while (g->decl[i] != p)
      i++;
    buf_printf(&b, "  s%d:\n    run: \"true\"\n    needs: [", i);
    bool first = true;
    for (int j = 0; j < g->n; j++)
      if (g->need[i][j]) {
        buf_printf(&b, "%ss%d", first ? "" : ", ", j);
        first = false;
      }
    buf_printf(&b, "]\n");
  }
  return buf_take(&b);
}

static struct wf *load(const char *src, struct diag_list *d)
{
  struct wf *w = NULL;
  int rc = wf_load_string("props.yaml", src, strlen(src), &w, d);
  cr_assert((rc == 0) == (w != NULL));
  return w;
}

/* number of needs paths from a down to b (a == b: 1) */
static long paths(const struct graph *g, int a, int b)
{
  long cnt[MAXN] = {0};
  cnt[a] = 1;
  for (int i = a; i > b; i--)
    if (cnt[i])
      for (int j = b; j < i; j++)
        if (g->need[i][j])
          cnt[j] += cnt[i];
  return cnt[b];
}

static int step_no(const char *name, size_t len)
{
  if (len < 2 || len > 3 || name[0] != 's')
    return -1;
  int v = 0;
  for (size_t k = 1; k < len; k++) {
    if (name[k] < '0' || name[k] > '9')
      return -1;
    v = v * 10 + (name[k] - '0');
  }
  return v < MAXN ? v : -1;
}

/* checks that msg is "cycle in needs: X -> ... -> X", a simple cycle of g
 * (with the added edge last -> first) that uses that edge */
static void check_cycle_msg(const struct graph *g, const char *msg, int first, int last,
                            const char *src)
{
  const char *pre = "cycle in needs: ";
  cr_assert(!strncmp(msg, pre, strlen(pre)), "not a cycle error: %s\nin\n%s", msg, src);
  int seq[MAXN + 2], n = 0;
  for (const char *p = msg + strlen(pre);;) {
    const char *e = strstr(p, " -> ");
    size_t len = e ? (size_t)(e - p) : strlen(p);
    int s = step_no(p, len);
    cr_assert(s >= 0 && n < MAXN + 1, "bad step in %s", msg);
    seq[n++] = s;
    if (!e)
      break;
    p = e + 4;
  }
  cr_assert(n >= 2 && seq[0] == seq[n - 1], "not closed: %s", msg);
  bool back = false;
  for (int k = 0; k + 1 < n; k++) {
    for (int m = 0; m < k; m++)
      cr_assert(seq[m] != seq[k], "a step twice in %s", msg);
    bool added = seq[k] == last && seq[k + 1] == first;
    cr_assert(g->need[seq[k]][seq[k + 1]] || added, "s%d does not need s%d in %s\n%s", seq[k],
              seq[k + 1], msg, src);
    back |= added;
  }
  cr_assert(back, "%s does not use the added edge s%d -> s%d", msg, last, first);
}

Test(graph_props, random_dags_validate_and_each_added_back_edge_is_named_as_a_cycle)
{
  int exact[MAXN] = {0}; /* exact message checks per cycle length */
  int max_len = 0;
  for (uint64_t c = 0; c < CASES; c++) {
    rng = c * 0x2545f4914f6cdd1dull + 7;
    int want = (int)(c % MAXN); /* the path's length: the cycle has want + 1 steps */
    int n = want + 1 + (int)rnd((uint32_t)(MAXN - want));
    bool chain = rnd(2);
    struct graph g;
    random_dag(&g, n, chain, rnd(3) ? 10 + (int)rnd(40) : 0);

    char *src = yaml(&g);
    struct diag_list d = {0};
    struct wf *w = load(src, &d);
    cr_assert(w && d.n == 0, "case %llu: the DAG does not validate (%s)\n%s",
              (unsigned long long)c, d.n ? d.v[0].msg : "", src);
    uint32_t pos[MAXN];
    for (uint32_t k = 0; k < w->n_steps; k++)
      pos[step_no(w->steps[w->topo[k]].id, strlen(w->steps[w->topo[k]].id))] = k;
    for (int i = 0; i < g.n; i++)
      for (int j = 0; j < g.n; j++)
        cr_assert(!g.need[i][j] || pos[j] < pos[i], "topo order puts s%d before s%d", i, j);
    wf_free(w);
    diag_list_free(&d);
    free(src);

    /* a needs path p[0] -> p[1] -> ... -> p[L] (along the chain when there
     * is one: then it reaches its length); then p[L] needs p[0] */
    int p[MAXN], L = 0;
    p[0] = want + (int)rnd((uint32_t)(n - want));
    while (L < want) {
      int opts[MAXN], no = 0;
      for (int j = 0; j < p[L]; j++)
        if (g.need[p[L]][j])
          opts[no++] = j;
      if (!no)
        break;
      p[L + 1] = chain ? p[L] - 1 : opts[rnd((uint32_t)no)];
      L++;
    }
    int first = p[0], last = p[L];
    g.need[last][first] = true;
    src = yaml(&g);
    w = load(src, &d);
    cr_assert(!w && d.n > 0, "case %llu: a cycle of %d validates\n%s", (unsigned long long)c,
              L + 1, src);
    for (size_t k = 0; k < d.n; k++)
      check_cycle_msg(&g, d.v[k].msg, first, last, src);
    if (paths(&g, first, last) == 1) {
      /* the only cycle: its steps in needs order, from the one declared first */
      int r = 0;
      for (int k = 1; k <= L; k++)
        if (g.decl[p[k]] < g.decl[p[r]])
          r = k;
      struct buf b;
      buf_init(&b, 1 << 12);
      buf_printf(&b, "cycle in needs: ");
      for (int k = 0; k <= L + 1; k++)
        buf_printf(&b, "%ss%d", k ? " -> " : "", p[(r + k) % (L + 1)]);
      cr_assert_eq(d.n, 1, "case %llu: %zu problems for one cycle\n%s", (unsigned long long)c,
                   d.n, src);
      cr_assert_str_eq(d.v[0].msg, b.p, "case %llu:\n%s", (unsigned long long)c, src);
      buf_free(&b);
      exact[L]++;
    }
    if (L + 1 > max_len)
      max_len = L + 1;
    diag_list_free(&d);
    free(src);
  }
  /* the cases cover every cycle length, from a self-need to the deepest */
  cr_assert_eq(max_len, MAXN);
  for (int L = 0; L < MAXN; L++)
    cr_expect_gt(exact[L], 0, "no case checked a cycle of %d exactly", L + 1);
}

/* The smallest cycles of all, by hand: a self-need, and a pair (each step
 * the other's parent in the DFS). */
Test(graph_props, a_pair_that_needs_each_other_is_a_cycle)
{
  static const char *const cases[][2] = {
    {"name: x\nsteps:\n  a: {needs: b, run: 'true'}\n  b: {needs: a, run: 'true'}\n",
     "cycle in needs: a -> b -> a"},
    {"name: x\nsteps:\n  b: {needs: a, run: 'true'}\n  a: {needs: b, run: 'true'}\n",
     "cycle in needs: b -> a -> b"},
    {"name: x\nsteps:\n  a: {run: 'true'}\n  b: {needs: [a, c], run: 'true'}\n"
     "  c: {needs: b, run: 'true'}\n",
     "cycle in needs: b -> c -> b"},
    {"name: x\nsteps:\n  a: {needs: a, run: 'true'}\n", "cycle in needs: a -> a"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct diag_list d = {0};
    struct wf *w = load(cases[i][0], &d);
    cr_assert_null(w, "validates:\n%s", cases[i][0]);
    cr_assert_eq(d.n, 1, "%zu problems:\n%s", d.n, cases[i][0]);
    cr_assert_str_eq(d.v[0].msg, cases[i][1]);
    diag_list_free(&d);
  }
}
