/* graph.c — the step DAG: needs, cycles, dependents, topological order, and
 * the reach rule for expressions.
 *
 * Edges are kept CSR-style in one pool (priv->edges): every step's needs,
 * then every step's dependents, each step pointing at its slice. Cycles are
 * found with an iterative three-colour DFS (no recursion: 100,000 steps in a
 * chain must not overflow the stack); each back edge yields the whole cycle
 * `a -> b -> c -> a` ("a needs b, b needs c, c needs a"). The order is Kahn's
 * algorithm in declaration order, main steps first, then `finally` steps.
 *
 * Upstream questions ("is X in the transitive needs of S?") use the topo
 * positions to prune: X can only be upstream of S when it comes earlier, and
 * a search never needs to go past X's (backward) or S's (forward) position.
 * Direct needs, the common case, answer at the first level; validation asks
 * its questions in bulk (answer_queries), wf_is_upstream() one at a time. */
#include "spec/spec_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "util/buf.h"
#include "util/err.h"

#define MAX_CYCLE_REPORTS 20

struct gtmp {
  struct wf_pos *edge_at;       /* the needs item naming each edge */
  uint32_t *stamp;              /* DFS marks for answer_queries() */
  uint32_t mark;
  uint32_t *stack;
  const char **ids;             /* for did-you-mean, built on demand */
};

static const char *const *all_ids(struct sctx *c, struct gtmp *g)
{
  if (!g->ids) {
    g->ids = malloc((c->w->n_steps ? c->w->n_steps : 1) * sizeof *g->ids);
    if (!g->ids)
      return NULL;
    for (uint32_t i = 0; i < c->w->n_steps; i++)
      g->ids[i] = c->ss[i].id; /* adopted or not, the same string */
  }
  return g->ids;
}

static const char *hint_id(struct sctx *c, struct gtmp *g, const char *name)
{
  const char *const *ids = all_ids(c, g);
  return ids ? chk_did_you_mean(name, ids, c->w->n_steps) : NULL;
}

/* ---- needs ---------------------------------------------------------------- */

/* `needs: {any: [...], count: N, cancel_rest: B}`: the list under `any` */
static const struct ynode *join_list(const struct ynode *n)
{
  for (uint32_t i = 0; n && n->t == Y_MAP && i < n->n; i++) {
    const struct ynode *k = n->kids[2 * i];
    if (k->len == 3 && !memcmp(k->s, "any", 3))
      return n->kids[2 * i + 1];
  }
  return NULL;
}

static uint32_t count_needs(const struct ynode *n)
{
  if (!n || n->t == Y_NULL)
    return 0;
  if (n->t == Y_MAP) {
    const struct ynode *l = join_list(n);
    return l && l->t == Y_SEQ ? l->n : 0;
  }
  return n->t == Y_SEQ ? n->n : 1;
}

/* The partial-join form; the ids under `any` are resolved by the caller. */
static void parse_join(struct sctx *c, struct wf_step *s, const struct ynode *n)
{
  static const char *const keys[] = {"any", "count", "cancel_rest", NULL};
  char where[200];
  snprintf(where, sizeof where, "in needs of step \"%s\"", s->id);
  const struct ynode *l = join_list(n);
  if (l)
    chk_keys(c, n, keys, where);
  if (!l) {
    chk_err(c, n,
            "needs of step \"%s\" is a mapping without \"any\": write a list of step ids, "
            "or {any: [ids], count: N} for a partial join",
            s->id);
    return;
  }
  if (l->t != Y_SEQ) {
    chk_bad_type(c, l, "any", where, "a list of step ids");
    return;
  }
  if (!l->n) {
    chk_err(c, l, "\"any\" in needs of step \"%s\" is empty; list the steps to wait for", s->id);
    return;
  }
  s->join_count = 1;
  for (uint32_t i = 0; i < n->n; i++) {
    const struct ynode *k = n->kids[2 * i], *x = n->kids[2 * i + 1];
    int64_t v;
    if (k->len == 5 && !memcmp(k->s, "count", 5)) {
      if (chk_int(c, x, "count", where, 1, INT32_MAX, &v)) {
        if ((uint64_t)v > l->n)
          chk_err(c, x,
                  "needs.count of step \"%s\" is %lld but \"any\" lists only %u steps",
                  s->id, (long long)v, l->n);
        else
          s->join_count = (uint32_t)v;
      }
    } else if (k->len == 11 && !memcmp(k->s, "cancel_rest", 11)) {
      chk_bool(c, x, "cancel_rest", where, &s->join_cancel_rest);
    }
  }
}

static void resolve_one(struct sctx *c, struct gtmp *g, uint32_t i, const struct ynode *item,
                        uint32_t *out, uint32_t *n_out, uint32_t base)
{
  struct wf *w = c->w;
  struct wf_step *s = &w->steps[i];
  if (item->t != Y_STR && item->t != Y_INT) { /* `needs: [1]` names step "1" */
    char where[160];
    snprintf(where, sizeof where, "in step \"%s\"", s->id);
    chk_bad_type(c, item, "needs", where, "a step id");
    return;
  }
  uint32_t j = strmap_get(&c->priv->ids, item->s, item->len);
  if (j == UINT32_MAX) {
    const char *h = hint_id(c, g, item->s);
    if (h)
      chk_err(c, item, "step \"%s\" needs unknown step \"%s\" (did you mean \"%s\"?)", s->id,
           item->s, h);
    else
      chk_err(c, item, "step \"%s\" needs unknown step \"%s\"", s->id, item->s);
    return;
  }
  if (!s->is_finally && c->ss[j].is_finally) { /* step j may not be adopted yet */
    chk_err(c, item,
         "step \"%s\" cannot need finally step \"%s\" (finally steps run after all steps)",
         s->id, item->s);
    return;
  }
  for (uint32_t k = 0; k < *n_out; k++)
    if (out[k] == j) {
      chk_err(c, item, "step \"%s\" lists \"%s\" twice in needs", s->id, item->s);
      return;
    }
  g->edge_at[base + *n_out] = (struct wf_pos){.line = item->line, .col = item->col};
  out[(*n_out)++] = j;
}

void graph_resolve_begin(struct sctx *c)
{
  struct wf *w = c->w;
  uint32_t total = 0;
  for (uint32_t i = 0; i < w->n_steps; i++)
    total += count_needs(c->ss[i].needs);
  free(c->priv->edges);
  free(c->edge_pos);
  c->priv->edges = malloc((2 * (size_t)total + 1) * sizeof(uint32_t));
  c->edge_pos = calloc((size_t)total + 1, sizeof *c->edge_pos);
  c->n_edges = 0;
  c->resolve_diags = 0;
  c->resolved = true;
  if ((!c->priv->edges || !c->edge_pos) && !c->rc)
    c->rc = WEFT_ENOMEM;
}

void graph_resolve_step(struct sctx *c, uint32_t i)
{
  struct wf *w = c->w;
  if (!c->priv->edges || !c->edge_pos)
    return;
  size_t before = c->diags.n;
  struct gtmp g = {.edge_at = c->edge_pos, .ids = c->hint_ids};
  uint32_t at = c->n_edges;
  struct wf_step *s = &w->steps[i];
  const struct ynode *n = c->ss[i].needs;
  s->needs = c->priv->edges + at;
  s->n_needs = 0;
  if (!n || n->t == Y_NULL) {
    /* none */
  } else if (n->t == Y_STR || n->t == Y_INT) {
    resolve_one(c, &g, i, n, s->needs, &s->n_needs, at);
  } else if (n->t == Y_SEQ) {
    for (uint32_t k = 0; k < n->n; k++)
      resolve_one(c, &g, i, n->kids[k], s->needs, &s->n_needs, at);
  } else if (n->t == Y_MAP) {
    parse_join(c, s, n);
    const struct ynode *l = join_list(n);
    for (uint32_t k = 0; s->join_count && l && k < l->n; k++)
      resolve_one(c, &g, i, l->kids[k], s->needs, &s->n_needs, at);
  } else {
    char where[160];
    snprintf(where, sizeof where, "in step \"%s\"", s->id);
    chk_bad_type(c, n, "needs", where, "a step id or a list of step ids");
  }
  c->n_edges = at + s->n_needs;
  c->hint_ids = g.ids;
  c->resolve_diags += c->diags.n - before;
}

/* ---- cycles ---------------------------------------------------------------- */

static void report_cycle(struct sctx *c, struct gtmp *g, const uint32_t *path, size_t n,
                         const uint32_t *edge_idx)
{
  struct wf *w = c->w;
  /* start at the step declared first, so the message does not depend on DFS order */
  size_t r = 0;
  for (size_t k = 1; k < n; k++)
    if (path[k] < path[r])
      r = k;
  struct buf b;
  buf_init(&b, 1u << 20);
  for (size_t k = 0; k <= n; k++)
    buf_printf(&b, "%s%s", k ? " -> " : "", w->steps[path[(r + k) % n]].id);
  const struct wf_pos *at = &g->edge_at[edge_idx[r]];
  chk_err_at(c, at->line, at->col, "cycle in needs: %s", b.p ? b.p : "");
  buf_free(&b);
}

static void find_cycles(struct sctx *c, struct gtmp *g)
{
  struct wf *w = c->w;
  uint32_t n = w->n_steps;
  uint8_t *color = calloc(n ? n : 1, 1);
  uint32_t *st = malloc((n ? n : 1) * sizeof *st);   /* node */
  uint32_t *nx = malloc((n ? n : 1) * sizeof *nx);   /* next need to look at */
  uint32_t *pos = malloc((n ? n : 1) * sizeof *pos); /* where a grey node is on the stack */
  uint32_t *eidx = malloc((n ? n : 1) * sizeof *eidx); /* edge taken from st[k] */
  uint32_t *path = malloc((n ? n : 1) * sizeof *path);
  int reported = 0;
  if (!color || !st || !nx || !pos || !eidx || !path) {
    c->rc = WEFT_ENOMEM;
    goto out;
  }
  for (uint32_t root = 0; root < n; root++) {
    if (color[root])
      continue;
    size_t top = 0;
    st[0] = root;
    nx[0] = 0;
    pos[root] = 0;
    color[root] = 1;
    while (top != SIZE_MAX) {
      uint32_t u = st[top];
      struct wf_step *s = &w->steps[u];
      if (nx[top] == s->n_needs) {
        color[u] = 2;
        top--;
        continue;
      }
      uint32_t k = nx[top]++;
      uint32_t v = s->needs[k];
      eidx[top] = (uint32_t)(s->needs - c->priv->edges) + k;
      if (color[v] == 0) {
        top++;
        st[top] = v;
        nx[top] = 0;
        pos[v] = (uint32_t)top;
        color[v] = 1;
      } else if (color[v] == 1 && reported < MAX_CYCLE_REPORTS) {
        size_t len = top - pos[v] + 1;
        memcpy(path, st + pos[v], len * sizeof *path);
        report_cycle(c, g, path, len, eidx + pos[v]);
        reported++;
      }
    }
  }
out:
  free(color);
  free(st);
  free(nx);
  free(pos);
  free(eidx);
  free(path);
}

/* ---- dependents and order ------------------------------------------------- */

static void build_dependents(struct sctx *c, uint32_t n_edges)
{
  struct wf *w = c->w;
  uint32_t *dep = c->priv->edges + n_edges;
  for (uint32_t i = 0; i < w->n_steps; i++)
    w->steps[i].n_dependents = 0;
  for (uint32_t i = 0; i < w->n_steps; i++)
    for (uint32_t k = 0; k < w->steps[i].n_needs; k++)
      w->steps[w->steps[i].needs[k]].n_dependents++;
  uint32_t at = 0;
  for (uint32_t i = 0; i < w->n_steps; i++) {
    w->steps[i].dependents = dep + at;
    at += w->steps[i].n_dependents;
    w->steps[i].n_dependents = 0;
  }
  for (uint32_t i = 0; i < w->n_steps; i++)
    for (uint32_t k = 0; k < w->steps[i].n_needs; k++) {
      struct wf_step *up = &w->steps[w->steps[i].needs[k]];
      up->dependents[up->n_dependents++] = i;
    }
}

static int topo_sort(struct sctx *c)
{
  struct wf *w = c->w;
  uint32_t n = w->n_steps;
  uint32_t *indeg = calloc(n ? n : 1, sizeof *indeg);
  w->topo = malloc((n ? n : 1) * sizeof *w->topo);
  c->priv->topo_pos = malloc((n ? n : 1) * sizeof *c->priv->topo_pos);
  if (!indeg || !w->topo || !c->priv->topo_pos) {
    free(indeg);
    return WEFT_ENOMEM;
  }
  for (uint32_t i = 0; i < n; i++)
    for (uint32_t k = 0; k < w->steps[i].n_needs; k++)
      if (w->steps[w->steps[i].needs[k]].is_finally == w->steps[i].is_finally)
        indeg[i]++;
  uint32_t head = 0, tail = 0;
  for (int phase = 0; phase < 2; phase++) {
    uint32_t lo = phase ? w->n_main : 0, hi = phase ? n : w->n_main;
    for (uint32_t i = lo; i < hi; i++)
      if (!indeg[i])
        w->topo[tail++] = i;
    while (head < tail) {
      uint32_t u = w->topo[head++];
      for (uint32_t k = 0; k < w->steps[u].n_dependents; k++) {
        uint32_t v = w->steps[u].dependents[k];
        if (w->steps[v].is_finally == w->steps[u].is_finally && --indeg[v] == 0)
          w->topo[tail++] = v;
      }
    }
  }
  free(indeg);
  for (uint32_t k = 0; k < tail; k++)
    c->priv->topo_pos[w->topo[k]] = k;
  return tail == n ? 0 : WEFT_EINVAL;
}

#ifndef NDEBUG
/* Invariant (checked from assert only): topo is a permutation, every need
 * comes before its step, every main step before every finally step. */
static bool topo_ok(const struct wf *w, const uint32_t *tpos)
{
  for (uint32_t i = 0; i < w->n_steps; i++) {
    if (w->topo[tpos[i]] != i)
      return false;
    if ((i < w->n_main) != (tpos[i] < w->n_main))
      return false;
    for (uint32_t k = 0; k < w->steps[i].n_needs; k++)
      if (tpos[w->steps[i].needs[k]] >= tpos[i])
        return false;
  }
  return true;
}
#endif

/* ---- upstream ------------------------------------------------------------- */

bool wf_is_upstream(const struct wf *w, uint32_t up, uint32_t step)
{
  if (!w || up >= w->n_steps || step >= w->n_steps || !w->index)
    return false;
  const struct spec_priv *p = w->index;
  const uint32_t *tpos = p->topo_pos;
  if (!tpos || up == step || tpos[up] >= tpos[step])
    return false;
  const struct wf_step *s = &w->steps[step];
  for (uint32_t k = 0; k < s->n_needs; k++)
    if (s->needs[k] == up)
      return true;
  /* backward DFS, never below up's topo position; a bitset (n/8 bytes) and a
   * stack that grows only as far as the search goes */
  bool found = false;
  uint8_t *seen = calloc((w->n_steps + 7) / 8, 1);
  size_t cap = 64, top = 0;
  uint32_t *stack = malloc(cap * sizeof *stack);
  if (!seen || !stack)
    goto out;
  stack[top++] = step;
  while (top && !found) {
    const struct wf_step *x = &w->steps[stack[--top]];
    for (uint32_t k = 0; k < x->n_needs; k++) {
      uint32_t v = x->needs[k];
      if (v == up) {
        found = true;
        break;
      }
      if ((seen[v / 8] & (1u << (v % 8))) || tpos[v] < tpos[up])
        continue;
      seen[v / 8] |= (uint8_t)(1u << (v % 8));
      if (top == cap) {
        uint32_t *ns = realloc(stack, cap * 2 * sizeof *ns);
        if (!ns)
          goto out;
        stack = ns;
        cap *= 2;
      }
      stack[top++] = v;
    }
  }
out:
  free(seen);
  free(stack);
  return found;
}

/* ---- reach ---------------------------------------------------------------- */

struct rpair {
  uint32_t step, read;
};

/* "is x upstream of step s?" asked by the expression at occ */
struct rquery {
  uint32_t x, s;
  size_t occ;
};

struct reach {
  struct sctx *c;
  struct gtmp *g;
  const struct eocc *occ;
  size_t occ_i;
  const char *text; /* the expression being scanned */
  size_t text_len;
  struct rpair *pairs;
  size_t n_pairs, cap_pairs;
  struct rquery *qs;
  size_t n_qs, cap_qs;
};

static void add_query(struct reach *r, uint32_t x, uint32_t s)
{
  if (r->n_qs == r->cap_qs) {
    size_t ncap = r->cap_qs ? r->cap_qs * 2 : 64;
    struct rquery *nv = realloc(r->qs, ncap * sizeof *nv);
    if (!nv) {
      r->c->rc = WEFT_ENOMEM;
      return;
    }
    r->qs = nv;
    r->cap_qs = ncap;
  }
  r->qs[r->n_qs++] = (struct rquery){x, s, r->occ_i};
}

static void add_read(struct reach *r, uint32_t step, uint32_t read)
{
  if (r->n_pairs == r->cap_pairs) {
    size_t ncap = r->cap_pairs ? r->cap_pairs * 2 : 64;
    struct rpair *nv = realloc(r->pairs, ncap * sizeof *nv);
    if (!nv) {
      r->c->rc = WEFT_ENOMEM;
      return;
    }
    r->pairs = nv;
    r->cap_pairs = ncap;
  }
  r->pairs[r->n_pairs++] = (struct rpair){step, read};
}

static void on_ref(void *ud, const char *root, const char *name, size_t len)
{
  struct reach *r = ud;
  struct sctx *c = r->c;
  struct wf *w = c->w;
  const struct eocc *o = r->occ;
  uint32_t sc = o->scope;
  bool is_steps = strcmp(root, "steps") == 0;
  bool is_step_scope = sc < w->n_steps;
  if (!name) {
    if (is_step_scope)
      c->ss[sc].reads_all = true;
    else if (sc == SCOPE_GLOBAL)
      chk_err_at(c, o->line, o->col,
              "this expression applies to every step and cannot read .%s", root);
    return;
  }
  char nm[80];
  snprintf(nm, sizeof nm, "%.*s", (int)(len > 64 ? 64 : len), name);
  uint32_t x = strmap_get(&c->priv->ids, name, len);
  if (sc == SCOPE_GLOBAL) {
    chk_err_at(c, o->line, o->col,
            "this expression applies to every step and cannot read %s.%s", root, nm);
    return;
  }
  if (!is_steps) { /* needs.X */
    if (!is_step_scope) {
      chk_err_at(c, o->line, o->col, "only a step can read needs.%s", nm);
      return;
    }
    const struct wf_step *s = &w->steps[sc];
    for (uint32_t k = 0; x != UINT32_MAX && k < s->n_needs; k++)
      if (s->needs[k] == x) {
        add_read(r, sc, x);
        return;
      }
    chk_err_at(c, o->line, o->col, "step \"%s\" reads needs.%s, but \"%s\" is not in its needs",
            s->id, nm, nm);
    return;
  }
  if (x == UINT32_MAX && name >= r->text && name + len < r->text + r->text_len &&
      name[len] == '-') {
    /* `.steps.build-image` is `.steps.build - image` to jq */
    size_t e = len;
    while (name + e < r->text + r->text_len &&
           (name[e] == '-' || name[e] == '_' || (name[e] >= 'a' && name[e] <= 'z') ||
            (name[e] >= '0' && name[e] <= '9')))
      e++;
    if (strmap_get(&c->priv->ids, name, e) != UINT32_MAX) {
      chk_err_at(c, o->line, o->col,
              "jq reads .%s.%.*s as a subtraction; write .%s[\"%.*s\"] for a step id with "
              "a hyphen", root, (int)e, name, root, (int)e, name);
      return;
    }
  }
  if (x == UINT32_MAX) {
    const char *h = hint_id(c, r->g, nm);
    if (h)
      chk_err_at(c, o->line, o->col, "expression reads steps.%s, but there is no step \"%s\" "
              "(did you mean \"%s\"?)", nm, nm, h);
    else
      chk_err_at(c, o->line, o->col, "expression reads steps.%s, but there is no step \"%s\"",
              nm, nm);
    return;
  }
  if (!is_step_scope)
    return; /* outputs read every step */
  const struct wf_step *s = &w->steps[sc];
  /* LANGUAGE.md: finally steps may read every step (those not upstream may
   * not have run yet when read; that is the author's choice) */
  bool ok = s->is_finally && x != sc;
  for (uint32_t k = 0; !ok && k < s->n_needs; k++)
    ok = s->needs[k] == x;
  if (ok)
    add_read(r, sc, x);
  else
    add_query(r, x, sc); /* answered in bulk by answer_queries() */
}

static int cmp_query(const void *a, const void *b)
{
  const struct rquery *x = a, *y = b;
  if (x->x != y->x)
    return x->x < y->x ? -1 : 1;
  return x->occ < y->occ ? -1 : x->occ > y->occ;
}

/* Groups the queries by x and marks x's descendants once per group (forward
 * DFS over dependents, pruned past the furthest step asking), so a workflow
 * where every step reads the same early step costs O(steps), not O(steps^2). */
static void answer_queries(struct reach *r)
{
  struct sctx *c = r->c;
  struct wf *w = c->w;
  const uint32_t *tpos = c->priv->topo_pos;
  struct gtmp *g = r->g;
  if (r->n_qs)
    qsort(r->qs, r->n_qs, sizeof *r->qs, cmp_query);
  for (size_t a = 0, b; a < r->n_qs; a = b) {
    uint32_t x = r->qs[a].x, far = 0;
    for (b = a; b < r->n_qs && r->qs[b].x == x; b++)
      if (tpos[r->qs[b].s] > far)
        far = tpos[r->qs[b].s];
    uint32_t mark = ++g->mark;
    size_t top = 0;
    g->stack[top++] = x;
    while (top) {
      const struct wf_step *u = &w->steps[g->stack[--top]];
      for (uint32_t k = 0; k < u->n_dependents; k++) {
        uint32_t v = u->dependents[k];
        if (g->stamp[v] == mark || tpos[v] > far)
          continue;
        g->stamp[v] = mark;
        g->stack[top++] = v;
      }
    }
    for (size_t k = a; k < b; k++) {
      const struct rquery *q = &r->qs[k];
      if (g->stamp[q->s] == mark && q->s != x) {
        add_read(r, q->s, x);
        continue;
      }
      const struct eocc *o = &c->occ[q->occ];
      chk_err_at(c, o->line, o->col,
              "step \"%s\" reads steps.%s, but \"%s\" is not upstream of it (add it to needs)",
              w->steps[q->s].id, w->steps[x].id, w->steps[x].id);
    }
  }
}

static int check_reach(struct sctx *c, struct gtmp *g)
{
  struct wf *w = c->w;
  struct reach r = {.c = c, .g = g};
  g->stamp = calloc(w->n_steps ? w->n_steps : 1, sizeof *g->stamp);
  g->stack = malloc((w->n_steps ? w->n_steps : 1) * sizeof *g->stack);
  if (!g->stamp || !g->stack)
    return WEFT_ENOMEM;
  for (size_t k = 0; k < c->n_occ; k++) {
    r.occ = &c->occ[k];
    r.occ_i = k;
    const char *text = expr_prog_text(w->prog, c->occ[k].id);
    if (!text)
      continue;
    r.text = text;
    r.text_len = strlen(text);
    expr_refs(text, r.text_len, on_ref, &r);
  }
  answer_queries(&r);
  free(r.qs);
  /* reads: group the pairs by step (counting sort), drop repeats */
  int rc = 0;
  uint32_t *cnt = calloc((size_t)w->n_steps + 1, sizeof *cnt);
  uint32_t *pool = malloc((r.n_pairs ? r.n_pairs : 1) * sizeof *pool);
  if (!cnt || !pool) {
    free(cnt);
    free(pool);
    free(r.pairs);
    return WEFT_ENOMEM;
  }
  for (size_t k = 0; k < r.n_pairs; k++)
    cnt[r.pairs[k].step + 1]++;
  for (uint32_t i = 0; i < w->n_steps; i++)
    cnt[i + 1] += cnt[i];
  for (size_t k = 0; k < r.n_pairs; k++)
    pool[cnt[r.pairs[k].step]++] = r.pairs[k].read;
  /* cnt[i] is now the end of step i's slice */
  uint32_t start = 0, out = 0;
  ++g->mark;
  for (uint32_t i = 0; i < w->n_steps; i++) {
    uint32_t end = cnt[i];
    struct wf_step *s = &w->steps[i];
    s->reads = pool + out;
    s->n_reads = 0;
    s->reads_all = c->ss[i].reads_all;
    uint32_t mark = ++g->mark;
    for (uint32_t k = start; k < end; k++) {
      uint32_t x = pool[k];
      if (g->stamp[x] == mark)
        continue;
      g->stamp[x] = mark;
      pool[out++] = x;
      s->n_reads++;
    }
    start = end;
  }
  c->priv->reads_pool = pool;
  free(cnt);
  free(r.pairs);
  return rc;
}

void graph_resolve(struct sctx *c)
{
  graph_resolve_begin(c);
  for (uint32_t i = 0; i < c->w->n_steps; i++)
    graph_resolve_step(c, i);
}

void graph_build(struct sctx *c)
{
  if (!c->resolved)
    graph_resolve(c);
  struct gtmp g = {.edge_at = c->edge_pos, .ids = c->hint_ids};
  c->edge_pos = NULL;
  c->hint_ids = NULL;
  uint32_t n_edges = c->n_edges;
  size_t before = c->diags.n;
  int rc = 0;
  if (c->rc)
    goto out;
  find_cycles(c, &g);
  build_dependents(c, n_edges);
  if (c->resolve_diags || c->diags.n != before || c->rc)
    goto out; /* no order and no reach check without a sound graph */
  rc = topo_sort(c);
  if (rc == WEFT_EINVAL) /* cannot happen without a cycle */
    rc = 0;
  if (rc)
    goto out;
  assert(topo_ok(c->w, c->priv->topo_pos));
  rc = check_reach(c, &g);
out:
  if (rc && !c->rc)
    c->rc = rc;
  free(g.edge_at);
  free(g.stamp);
  free(g.stack);
  free(g.ids);
}
