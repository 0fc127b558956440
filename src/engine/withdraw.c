/* withdraw.c — withdrawal by a `cancel:` step and on request (`weft cancel
 * RUN --step STEP`, POST /runs/{id}/cancel {steps}), LANGUAGE.md §3.
 *
 * Both use join.c's eng_withdraw(): a pending step ends `skipped`; a running,
 * waiting or retrying step is stopped as by cancel (its attempt killed, a
 * for_each with all its instances) and ends `cancelled` with error kind
 * `withdrawn`; the run goes on. This file adds who withdrew it (the message
 * of the error) and the durability rules:
 *
 * - a cancel step withdraws its steps and succeeds in one call, so its
 *   `succeeded` row is committed with the withdrawal; after a crash a
 *   succeeded cancel step withdraws again whatever of its list is not
 *   terminal (a process the dead engine had not killed yet was restored as
 *   interrupted and stale-killed by recovery; it now ends withdrawn instead of
 *   being attempted again);
 * - a requested withdrawal is durable in the runtime's store (the audit log);
 *   recovery hands it back with engine_restore_withdraw() and it is applied
 *   the same way, before anything restarts.
 * Outputs of a cancel step: {"withdrawn": [ids of the listed steps that had
 * not ended when it ran]}. */
#include "engine/priv.h"
#include "util/err.h"

#include <assert.h>
#include <stdio.h>

static int withdraw_by(struct eng_run *r, uint32_t s, uint32_t by)
{
  if (engine_status_terminal(r->u.status[s]))
    return 0;
  r->st[s].cancel_by = by;
  return eng_withdraw(r, s);
}

int eng_cancel_step(struct eng_run *r, uint32_t u)
{
  uint32_t s = r->u.step[u];
  const struct wf_step *ws = &r->wf->steps[s];
  json_t *list = json_array(), *outs = NULL;
  int rc = list ? 0 : WEFT_ENOMEM;
  r->gen++;
  for (uint32_t i = 0; !rc && i < ws->n_cancel; i++) {
    uint32_t t = ws->cancel[i];
    if (engine_status_terminal(r->u.status[t]))
      continue;
    if (json_array_append_new(list, json_string(r->wf->steps[t].id)))
      rc = WEFT_ENOMEM;
    else
      rc = withdraw_by(r, t, s + 1);
  }
  if (!rc && !(outs = json_pack("{s:O}", "withdrawn", list)))
    rc = WEFT_ENOMEM;
  if (!rc)
    rc = eng_unit_ok(r, u, outs);
  json_decref(outs);
  json_decref(list);
  return rc;
}

json_t *eng_cancel_error(const struct eng_run *r, uint32_t s)
{
  uint32_t by = r->st[s].cancel_by;
  char msg[200];
  if (!by)
    return NULL;
  if (by == ENG_BY_REQUEST)
    snprintf(msg, sizeof msg, "withdrawn: by request (weft cancel --step)");
  else
    snprintf(msg, sizeof msg, "withdrawn: by cancel step \"%.100s\"", r->wf->steps[by - 1].id);
  return eng_err_make(ENG_E_WITHDRAWN, msg, -1, -1, -1);
}

int eng_cancel_resume(struct eng_run *r)
{
  int rc = 0;
  for (uint32_t s = 0; s < r->n_steps; s++)
    if (!engine_status_terminal(r->u.status[s]))
      r->st[s].cancel_by = 0;
  for (uint32_t c = 0; !rc && c < r->wf->n_main; c++) {
    const struct wf_step *ws = &r->wf->steps[c];
    if (!ws->n_cancel || r->u.status[c] != ENG_SUCCEEDED)
      continue;
    for (uint32_t i = 0; !rc && i < ws->n_cancel; i++)
      rc = withdraw_by(r, ws->cancel[i], c + 1);
  }
  for (uint32_t s = 0; !rc && s < r->wf->n_main; s++) {
    if (!r->st[s].withdraw_owed)
      continue;
    r->st[s].withdraw_owed = false;
    rc = withdraw_by(r, s, ENG_BY_REQUEST);
  }
  return rc;
}

int engine_withdraw(struct eng_run *r, uint32_t step, int64_t now, struct eng_effects *fx)
{
  r->now = now;
  r->fx = fx;
  if (step >= r->wf->n_main)
    return WEFT_EINVAL;
  if (r->status != ENG_RUN_RUNNING && r->status != ENG_RUN_WAITING)
    return WEFT_ESTATE;
  if (engine_status_terminal(r->u.status[step]))
    return WEFT_ESTATE;
  int rc = withdraw_by(r, step, ENG_BY_REQUEST);
  if (!rc)
    rc = eng_settle(r);
  assert(rc || eng_invariants(r));
  return rc;
}

int engine_restore_withdraw(struct eng_run *r, uint32_t step)
{
  if (step >= r->wf->n_main)
    return WEFT_EINVAL;
  r->st[step].withdraw_owed = true;
  return 0;
}
