/* first_of.c — `first_of: {ARM: {approval|wait|workflow: ...}, ...}`
 * (LANGUAGE.md §3): the deferred choice, as a small addition to the for_each
 * machinery.
 *
 * A first_of step runs as a for_each with one instance per arm (the spec sets
 * for_each = n_arms and max_parallel = n_arms): instance i starts with arm
 * i's kind and body (eng_unit_kind, ctx_render_start), waits (status
 * `waiting`, no slot) and ends like a step of that kind would. The FIRST
 * instance to end -- succeeded or failed, not stopped by a cancel -- is the
 * winner: the step is decided (eng_step.fe_decided, fo_winner) and the other
 * arms are withdrawn with foreach_map.c's withdrawal (a waiting approval or
 * wait is stopped by its executor, a child run cancelled; all end
 * `cancelled`, kind `withdrawn`). Once they have stopped, the step ends as
 * its winner: succeeded with outputs {winner: ARM, outputs: {...}}, or failed
 * with the winner's error kind and "arm ARM: message".
 *
 * Recovery: the winner is the terminal arm that was not withdrawn (the
 * earliest to finish if the rows show several); eng_first_of_restore derives
 * the decision from the rows and foreach_map.c's resume withdraws the rest. */
#include "engine/priv.h"
#include "util/err.h"

#include <stdio.h>
#include <string.h>

enum wf_kind eng_unit_kind(const struct eng_run *r, uint32_t u)
{
  const struct wf_step *ws = r->st[r->u.step[u]].ws;
  const struct wf_arm *a = u >= r->n_steps ? wf_step_arm(ws, unit_index(r, u)) : NULL;
  return a ? a->kind : ws->kind;
}

int eng_first_of_instance_done(struct eng_run *r, uint32_t u)
{
  uint32_t s = r->u.step[u];
  struct eng_step *st = &r->st[s];
  /* a stop or a withdrawal of the whole step ends every arm: no winner */
  if (st->fe_decided || st->withdrawn || engine_status_terminal(r->u.status[s]) ||
      eng_stop_applies(r, s))
    return 0;
  st->fe_decided = true;
  st->fo_winner = u - st->first;
  r->gen++;
  return eng_fe_map_withdraw(r, s);
}

int eng_first_of_done(struct eng_run *r, uint32_t s)
{
  struct eng_step *st = &r->st[s];
  const struct wf_arm *arm = &st->ws->arms[st->fo_winner];
  uint32_t w = st->first + st->fo_winner;
  int rc;
  if (r->u.status[w] == ENG_SUCCEEDED) {
    const char *t = arena_get(&r->arena, r->u.out[w]);
    json_t *o = t ? json_loads(t, JSON_DECODE_ANY, NULL) : json_object();
    json_t *outs = json_pack("{s:s, s:o}", "winner", arm->name, "outputs", o ? o : json_object());
    if (!outs)
      return WEFT_ENOMEM;
    json_decref(st->outputs);
    st->outputs = outs;
    r->u.err[s] = 0;
    rc = step_set_state(r, s, ENG_SUCCEEDED);
  } else {
    json_t *we = eng_err_get(r, w);
    const char *k = json_string_value(json_object_get(we, "kind"));
    const char *m = json_string_value(json_object_get(we, "message"));
    char b[1024];
    snprintf(b, sizeof b, "arm \"%s\": %s", arm->name, m ? m : "failed");
    int ek = engine_err_kind_parse(k);
    rc = eng_set_error(r, s, eng_err_make(ek > 0 ? (enum eng_err_kind)ek : ENG_E_EXIT_CODE, b,
                                          -1, -1, -1));
    if (!rc)
      rc = step_set_state(r, s, ENG_FAILED);
  }
  if (!rc)
    rc = eng_step_finished(r, s);
  return rc;
}

json_t *eng_first_of_stop_error(const struct eng_run *r, uint32_t s)
{
  const struct eng_step *st = &r->st[s];
  char b[256];
  snprintf(b, sizeof b, "withdrawn: arm \"%s\" of the first_of finished first",
           st->ws->arms[st->fo_winner].name);
  return eng_err_make(ENG_E_WITHDRAWN, b, -1, -1, -1);
}

static bool withdrawn_row(const struct eng_run *r, uint32_t u)
{
  if (r->u.status[u] == ENG_SKIPPED)
    return true;
  const char *k = json_string_value(json_object_get(eng_err_get(r, u), "kind"));
  return r->u.status[u] == ENG_CANCELLED && k && !strcmp(k, "withdrawn");
}

void eng_first_of_restore(struct eng_run *r, uint32_t s)
{
  struct eng_step *st = &r->st[s];
  if (!eng_fe_open(r, s))
    return;
  int64_t best = 0;
  for (uint32_t i = 0; i < st->n; i++) {
    uint32_t u = st->first + i;
    if (!engine_status_terminal(r->u.status[u]) || withdrawn_row(r, u))
      continue;
    const char *k = json_string_value(json_object_get(eng_err_get(r, u), "kind"));
    if (r->u.status[u] == ENG_CANCELLED && k && strcmp(k, "withdrawn"))
      continue; /* stopped by a cancel: no winner */
    if (!st->fe_decided || r->u.finished_at[u] < best) {
      st->fe_decided = true;
      st->fo_winner = i;
      best = r->u.finished_at[u];
    }
  }
}
