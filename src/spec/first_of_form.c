/* first_of_form.c — the `first_of` kind (LANGUAGE.md §3, deferred choice):
 *
 *   first_of:
 *     approved: {approval: {message: Ship it?}}
 *     cancelled: {wait: {event: order-cancelled, match: ...}}
 *     expired: {wait: 24h}
 *
 * Each arm is a mapping with exactly one waiting kind key (approval, wait or
 * workflow), validated as that kind is for a step. The arms are kept in file
 * order in wf_step.arms; the step itself runs as a for_each of one instance
 * per arm (for_each = n_arms, max_parallel = n_arms), so `for_each`,
 * `repeat` and `max_parallel` are refused on it. The engine side is
 * engine/first_of.c. */
#include "spec/spec_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

static bool key_is(const struct ynode *k, const char *s)
{
  return strlen(s) == k->len && memcmp(k->s, s, k->len) == 0;
}

const struct wf_arm *wf_step_arm(const struct wf_step *s, int32_t index)
{
  if (!s || s->kind != WF_FIRST_OF || index < 0 || (uint32_t)index >= s->n_arms)
    return NULL;
  return &s->arms[index];
}

int32_t wf_arm_find(const struct wf_step *s, const char *name, size_t len)
{
  for (uint32_t i = 0; s && s->kind == WF_FIRST_OF && i < s->n_arms; i++)
    if (strlen(s->arms[i].name) == len && !memcmp(s->arms[i].name, name, len))
      return (int32_t)i;
  return -1;
}

void first_of_free(struct wf_step *s)
{
  for (uint32_t i = 0; i < s->n_arms; i++) {
    free(s->arms[i].name);
    json_decref(s->arms[i].body);
  }
  free(s->arms);
  s->arms = NULL;
  s->n_arms = 0;
}

static void parse_arm(struct sctx *c, struct wf_step *s, const struct ynode *k,
                      const struct ynode *v, struct wf_arm *arm)
{
  static const char *const arm_kinds[] = {"approval", "wait", "workflow", NULL};
  char where[200];
  snprintf(where, sizeof where, "in arm \"%s\" of step \"%s\"", k->s, s->id);
  arm->name = chk_dup(c, k->s);
  arm->pos.line = k->line;
  arm->pos.col = k->col;
  if (!chk_is_id(k->s, k->len))
    chk_err(c, k, "arm name \"%s\" of first_of step \"%s\" must match [a-z0-9][a-z0-9_-]{0,63}",
            k->s, s->id);
  if (v->t != Y_MAP || v->n != 1) {
    chk_err(c, v,
            "arm \"%s\" of first_of step \"%s\" must be a mapping with one of approval, wait, "
            "workflow (e.g. {wait: 24h})",
            k->s, s->id);
    return;
  }
  const struct ynode *kk = v->kids[0], *kv = v->kids[1];
  bool known = false;
  for (size_t i = 0; arm_kinds[i]; i++)
    known = known || key_is(kk, arm_kinds[i]);
  if (!known) {
    chk_err(c, kk,
            "arm \"%s\" of first_of step \"%s\" is \"%s\"; an arm is a waiting kind: approval, "
            "wait or workflow (put other work in a step that needs the first_of)",
            k->s, s->id, kk->s);
    return;
  }
  struct wf_step t = {.id = s->id, .index = s->index};
  kinds_parse(c, &t, kk, kv, where);
  arm->kind = t.kind;
  arm->body = t.body;
  arm->approval_timeout_ms = t.approval_timeout_ms;
  arm->wait_ms = t.wait_ms;
  arm->wait_timeout_ms = t.wait_timeout_ms;
}

void first_of_parse(struct sctx *c, struct wf_step *s, const struct ynode *k,
                    const struct ynode *v, const char *where)
{
  s->kind = WF_FIRST_OF;
  s->kind_pos.line = k->line;
  s->kind_pos.col = k->col;
  if (v->t != Y_MAP || v->n == 0) {
    chk_bad_type(c, v, "first_of", where,
                 "a mapping of arms such as {approved: {approval: {...}}, expired: {wait: 24h}}");
    return;
  }
  if (s->for_each || s->repeat.set || s->max_parallel)
    chk_err(c, k, "first_of step \"%s\" cannot take %s (its arms are its instances)", s->id,
            s->for_each ? "for_each" : s->repeat.set ? "repeat" : "max_parallel");
  s->arms = calloc(v->n, sizeof *s->arms);
  if (!s->arms) {
    c->rc = WEFT_ENOMEM;
    return;
  }
  s->n_arms = v->n;
  for (uint32_t i = 0; i < v->n; i++)
    parse_arm(c, s, v->kids[2 * i], v->kids[2 * i + 1], &s->arms[i]);
  if (!s->for_each) {
    s->for_each = json_integer(v->n);
    s->max_parallel = (int)v->n;
  }
}
