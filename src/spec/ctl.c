/* ctl.c — the step fields `cancel:` and `mutex:` (LANGUAGE.md §3, control flow).
 *
 * `cancel: [step, ...]` names main steps that the cancel step withdraws when
 * it runs (the engine's withdraw.c). The list is remembered while the steps
 * are parsed and resolved here once every id is known: unknown ids (with a
 * did-you-mean), the step itself, a finally step, a step it needs (directly
 * or not: it has ended before the cancel step runs) and duplicates are
 * errors. A cancel step takes no kind key and neither `end`, `for_each` nor
 * `repeat`, and is not a finally step.
 *
 * `mutex: NAME` or `{name: NAME, scope: run|global}`: a critical section held
 * by the runtime around each attempt (runtime/rt_mutex.c). The name follows
 * the event name pattern; a step that runs nothing (a join, `set`, `end`,
 * `cancel`) cannot take one. */
#include "spec/spec_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

static bool mutex_name_ok(const char *s, size_t n)
{
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

static void set_mutex(struct sctx *c, struct wf_step *s, const struct ynode *v)
{
  const char *str = v->s;
  if (!mutex_name_ok(str, v->len)) {
    chk_err(c, v, "mutex name \"%s\" of step \"%s\" must match [A-Za-z0-9][A-Za-z0-9_.:-]{0,127}",
            str, s->id);
    return;
  }
  free(s->mutex);
  s->mutex = chk_dup(c, str);
}

void ctl_parse_mutex(struct sctx *c, struct wf_step *s, const struct ynode *v, const char *where)
{
  static const char *const keys[] = {"name", "scope", NULL};
  static const char *const scopes[] = {"run", "global", NULL};
  if (v->t == Y_STR) {
    set_mutex(c, s, v);
    return;
  }
  if (v->t != Y_MAP) {
    chk_bad_type(c, v, "mutex", where, "a name or a mapping {name: NAME, scope: run|global}");
    return;
  }
  char in_mutex[200];
  snprintf(in_mutex, sizeof in_mutex, "in mutex of step \"%s\"", s->id);
  chk_keys(c, v, keys, in_mutex);
  bool named = false;
  for (uint32_t i = 0; i < v->n; i++) {
    const struct ynode *k = v->kids[2 * i], *x = v->kids[2 * i + 1];
    const char *str;
    int scope;
    if (k->len == 4 && !memcmp(k->s, "name", 4)) {
      named = true;
      if (chk_str(c, x, "name", in_mutex, &str))
        set_mutex(c, s, x);
    } else if (k->len == 5 && !memcmp(k->s, "scope", 5)) {
      if (chk_enum(c, x, "scope", in_mutex, scopes, &scope))
        s->mutex_global = scope == 1;
    }
  }
  if (!named)
    chk_err(c, v, "mutex of step \"%s\" needs a name: {name: NAME, scope: run|global}", s->id);
}

/* true when `up` is in the transitive needs of `s` (the graph may have cycles:
 * marks stop the walk) */
static bool needs_reach(const struct wf *w, uint32_t s, uint32_t up, uint8_t *mark,
                        uint32_t *stack)
{
  memset(mark, 0, w->n_steps);
  uint32_t n = 0;
  stack[n++] = s;
  mark[s] = 1;
  while (n) {
    const struct wf_step *x = &w->steps[stack[--n]];
    for (uint32_t i = 0; i < x->n_needs; i++) {
      uint32_t d = x->needs[i];
      if (d == up)
        return true;
      if (d < w->n_steps && !mark[d]) {
        mark[d] = 1;
        stack[n++] = d;
      }
    }
  }
  return false;
}

static void resolve_cancel(struct sctx *c, uint32_t idx, const struct ynode *v, uint8_t *mark,
                           uint32_t *stack, const char *const *ids)
{
  struct wf *w = c->w;
  struct wf_step *s = &w->steps[idx];
  char where[160];
  snprintf(where, sizeof where, "in step \"%s\"", s->id);
  if (v->t != Y_SEQ) {
    chk_bad_type(c, v, "cancel", where, "a list of step ids");
    return;
  }
  if (v->n == 0) {
    chk_err(c, v, "\"cancel\" of step \"%s\" is empty; list the steps it withdraws", s->id);
    return;
  }
  s->cancel = calloc(v->n, sizeof *s->cancel);
  if (!s->cancel) {
    c->rc = WEFT_ENOMEM;
    return;
  }
  for (uint32_t i = 0; i < v->n; i++) {
    const struct ynode *it = v->kids[i];
    if (it->t != Y_STR) {
      chk_bad_type(c, it, "cancel item", where, "a step id");
      continue;
    }
    uint32_t t = strmap_get(&c->priv->ids, it->s, it->len);
    if (t == UINT32_MAX) {
      const char *h = ids ? chk_did_you_mean(it->s, ids, w->n_steps) : NULL;
      chk_err(c, it, "step \"%s\" cancels unknown step \"%s\"%s%s%s", s->id, it->s,
              h ? " (did you mean \"" : "", h ? h : "", h ? "\"?)" : "");
      continue;
    }
    if (t == idx) {
      chk_err(c, it, "step \"%s\" cannot cancel itself", s->id);
      continue;
    }
    if (w->steps[t].is_finally) {
      chk_err(c, it,
              "step \"%s\" cannot cancel finally step \"%s\" (finally steps always run; "
              "give it an `if:` instead)",
              s->id, it->s);
      continue;
    }
    if (needs_reach(w, idx, t, mark, stack)) {
      chk_err(c, it,
              "step \"%s\" cannot cancel \"%s\": it needs it, so \"%s\" has ended before "
              "\"%s\" runs",
              s->id, it->s, it->s, s->id);
      continue;
    }
    bool dup = false;
    for (uint32_t k = 0; k < s->n_cancel; k++)
      dup |= s->cancel[k] == t;
    if (dup) {
      chk_err(c, it, "step \"%s\" lists \"%s\" twice in cancel", s->id, it->s);
      continue;
    }
    s->cancel[s->n_cancel++] = t;
  }
}

void ctl_resolve(struct sctx *c)
{
  struct wf *w = c->w;
  if (c->rc || !c->ss || !w->n_steps)
    return;
  uint8_t *mark = malloc(w->n_steps);
  uint32_t *stack = malloc((size_t)w->n_steps * sizeof *stack);
  const char **ids = malloc((size_t)w->n_steps * sizeof *ids);
  if (!mark || !stack || !ids) {
    c->rc = WEFT_ENOMEM;
    goto out;
  }
  for (uint32_t i = 0; i < w->n_steps; i++)
    ids[i] = w->steps[i].id;
  for (uint32_t i = 0; i < w->n_steps; i++) {
    struct wf_step *s = &w->steps[i];
    const struct ynode *v = c->ss[i].cancel;
    if (s->mutex && (s->kind == WF_NOOP || s->kind == WF_SET))
      chk_err_at(c, s->pos.line, s->pos.col,
                 "step \"%s\" takes a mutex but runs nothing (a join, set, end or cancel step); "
                 "put the mutex on the step that does the work",
                 s->id);
    if (!v)
      continue;
    /* the key node for positions: the value's line is close enough */
    if (s->kind != WF_NOOP)
      chk_err(c, v, "step \"%s\" has both \"cancel\" and \"%s\"; a cancel step takes no kind key "
                    "(put the work in a step it needs)",
              s->id, wf_kind_name(s->kind));
    else if (s->is_finally)
      chk_err(c, v, "finally step \"%s\" cannot take \"cancel\" (every other step has ended)",
              s->id);
    else if (s->end_status)
      chk_err(c, v, "step \"%s\" cannot take both \"cancel\" and \"end\" (end withdraws every "
                    "step already)",
              s->id);
    else if (s->for_each || s->repeat.set)
      chk_err(c, v, "step \"%s\" cannot take both \"cancel\" and \"%s\"", s->id,
              s->for_each ? "for_each" : "repeat");
    else
      resolve_cancel(c, i, v, mark, stack, ids);
  }
out:
  free(mark);
  free(stack);
  free(ids);
}
