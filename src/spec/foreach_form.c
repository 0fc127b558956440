/* foreach_form.c — the map form of `for_each` (LANGUAGE.md §3):
 *
 *   for_each: {items: EXPR, complete_when: EXPR, withdraw_rest: true}
 *
 * `items` is what the plain form takes (an expression, a list or an integer)
 * and lands in wf_step.for_each; `complete_when` is a condition over
 * `.instances` ({succeeded, failed, running, pending, total}) kept in
 * wf_step.fe_complete_when; `withdraw_rest` (default true) says whether the
 * instances still running when it holds are withdrawn or run on. The engine
 * side is engine/foreach_map.c. The event-driven form (`event`, `match`,
 * `until`, `timeout`) is recognised and refused with a clear message: this
 * version does not run it. */
#include "spec/spec_int.h"

#include <stdio.h>
#include <string.h>

static bool key_is(const struct ynode *k, const char *s)
{
  return strlen(s) == k->len && memcmp(k->s, s, k->len) == 0;
}

void foreach_parse_map(struct sctx *c, struct wf_step *s, const struct ynode *x,
                       const char *where, void (*items)(struct sctx *, struct wf_step *,
                                                        const struct ynode *, const char *))
{
  static const char *const keys[] = {"items", "complete_when", "withdraw_rest", "event",
                                     "match", "until",         "timeout",       NULL};
  char in_fe[200];
  snprintf(in_fe, sizeof in_fe, "in for_each of step \"%s\"", s->id);
  chk_keys(c, x, keys, in_fe);
  s->fe_withdraw_rest = true;
  const struct ynode *it = ymap_get(x, "items"), *ev = ymap_get(x, "event");
  if (ev) {
    chk_err(c, ev,
            "for_each of step \"%s\": the event-driven form {event, match, until, timeout} is "
            "not supported by this version of weft; use a wait step for one event, or "
            "for_each: {items: ...}",
            s->id);
    return;
  }
  if (!it) {
    chk_err(c, x,
            "for_each of step \"%s\" is a mapping without \"items\": write "
            "{items: EXPR, complete_when: EXPR}",
            s->id);
    return;
  }
  for (const char *const *k = (const char *const[]){"match", "until", "timeout", NULL}; *k; k++) {
    const struct ynode *v = ymap_get(x, *k);
    if (v)
      chk_err(c, v, "\"%s\" in for_each of step \"%s\" belongs to the event form; with "
              "\"items\" use complete_when", *k, s->id);
  }
  items(c, s, it, where);
  for (uint32_t i = 0; i < x->n; i++) {
    const struct ynode *k = x->kids[2 * i], *v = x->kids[2 * i + 1];
    if (key_is(k, "complete_when"))
      s->fe_complete_when = tmpl_cond(c, v, s->index, "complete_when", in_fe);
    else if (key_is(k, "withdraw_rest"))
      chk_bool(c, v, "withdraw_rest", in_fe, &s->fe_withdraw_rest);
  }
}
