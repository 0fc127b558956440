/* test_foreach_map.c — recovery of `for_each: {items, complete_when,
 * withdraw_rest}` (src/engine/foreach_map.c) and of `first_of`
 * (src/engine/first_of.c) from stored rows, in the states the trace driver
 * cannot stop in: the decision committed while the losers were still running
 * or waiting (a crash between the commit and the kills), and trailing
 * instances of a step that already succeeded. */
#include <criterion/criterion.h>

#include <string.h>

#include "engine/engine.h"
#include "spec/model.h"
#include "util/diag.h"

static struct wf *load(const char *src)
{
  struct wf *w = NULL;
  struct diag_list d = {0};
  int rc = wf_load_string("w.yaml", src, strlen(src), &w, &d);
  cr_assert_eq(rc, 0, "workflow does not load");
  diag_list_free(&d);
  return w;
}

static void row(struct eng_run *r, uint32_t step, int32_t index, enum eng_status st,
                uint32_t attempts, uint32_t n)
{
  struct eng_saved_unit u = {.step = step, .index = index, .status = st, .attempts = attempts,
                             .n_instances = n, .exit_code = ENG_NO_EXIT,
                             .started_at = attempts ? 10 : 0};
  cr_assert_eq(engine_restore_unit(r, &u), 0);
}

static size_t count_fx(const struct eng_effects *fx, enum eng_fx_type t, int32_t index)
{
  size_t n = 0;
  for (size_t i = 0; i < fx->n; i++)
    n += fx->v[i].type == t && fx->v[i].index == index;
  return n;
}

static const char *err_kind_of(const struct eng_effects *fx, int32_t index)
{
  const char *k = NULL;
  for (size_t i = 0; i < fx->nj; i++)
    if (fx->j[i].type == ENG_J_UNIT && fx->j[i].index == index && fx->j[i].error)
      k = json_string_value(json_object_get(fx->j[i].error, "kind"));
  return k;
}

Test(foreach_map, a_decision_committed_before_the_kills_withdraws_on_recovery)
{
  struct wf *w = load("name: t\nsteps:\n  trials:\n    for_each: {items: 3, complete_when: "
                      "\"${{ .instances.succeeded >= 1 }}\"}\n    command: [train]\n"
                      "  use: {needs: trials, run: use}\n");
  struct eng_run *r = NULL;
  struct eng_effects fx;
  engine_fx_init(&fx);
  cr_assert_eq(engine_restore_begin(w, &(struct eng_config){.run_id = "r1"}, ENG_RUN_RUNNING, 1,
                                    &r),
               0);
  row(r, 0, -1, ENG_RUNNING, 0, 3);
  row(r, 1, -1, ENG_PENDING, 0, 0);
  row(r, 0, 0, ENG_SUCCEEDED, 1, 0);
  row(r, 0, 1, ENG_RUNNING, 1, 0);
  row(r, 0, 2, ENG_RUNNING, 1, 0);
  cr_assert_eq(engine_restore_end(r, 100, &fx), 0);
  /* the dead engine's processes are killed, nothing is re-attempted */
  cr_assert_eq(count_fx(&fx, ENG_FX_KILL, 1), 1);
  cr_assert_eq(count_fx(&fx, ENG_FX_KILL, 2), 1);
  cr_assert_eq(count_fx(&fx, ENG_FX_START, 1), 0);
  cr_assert_eq(count_fx(&fx, ENG_FX_START, 2), 0);
  cr_assert_eq(engine_unit_status(r, 0, 1), ENG_CANCELLED);
  cr_assert_eq(engine_unit_status(r, 0, 2), ENG_CANCELLED);
  cr_assert_str_eq(err_kind_of(&fx, 1), "withdrawn");
  cr_assert_eq(engine_unit_status(r, 0, -1), ENG_SUCCEEDED);
  cr_assert_eq(engine_unit_status(r, 1, -1), ENG_RUNNING); /* `use` started */
  engine_fx_free(&fx);
  engine_free(r);
  wf_free(w);
}

Test(foreach_map, trailing_instances_are_resumed_and_the_run_waits_for_them)
{
  struct wf *w = load("name: t\nsteps:\n  shards:\n    for_each: {items: 2, complete_when: "
                      "\"${{ .instances.succeeded >= 1 }}\", withdraw_rest: false}\n"
                      "    command: [shard]\n");
  struct eng_run *r = NULL;
  struct eng_effects fx;
  engine_fx_init(&fx);
  cr_assert_eq(engine_restore_begin(w, &(struct eng_config){.run_id = "r2"}, ENG_RUN_RUNNING, 1,
                                    &r),
               0);
  row(r, 0, -1, ENG_SUCCEEDED, 0, 2);
  row(r, 0, 0, ENG_SUCCEEDED, 1, 0);
  row(r, 0, 1, ENG_RUNNING, 1, 0);
  cr_assert_eq(engine_restore_end(r, 100, &fx), 0);
  cr_assert_eq(count_fx(&fx, ENG_FX_START, 1), 1, "the trailing instance is re-attempted");
  cr_assert_eq(count_fx(&fx, ENG_FX_RUN_FINISHED, -1), 0, "the run waits for it");
  cr_assert_eq(engine_run_status(r), ENG_RUN_RUNNING);
  engine_fx_reset(&fx);
  struct eng_event ev = {.type = ENG_EV_ATTEMPT_ENDED, .step = 0, .index = 1, .attempt = 2,
                         .ok = true, .exit_code = 0, .signal = -1, .http_status = -1};
  cr_assert_eq(engine_apply(r, &ev, 200, &fx), 0);
  cr_assert_eq(engine_run_status(r), ENG_RUN_SUCCEEDED);
  engine_fx_free(&fx);
  engine_free(r);
  wf_free(w);
}

Test(foreach_map, a_first_of_winner_committed_before_the_kills_withdraws_on_recovery)
{
  struct wf *w = load("name: t\nsteps:\n  decide:\n    first_of:\n"
                      "      approved: {approval: {message: ok?}}\n"
                      "      expired: {wait: 1h}\n      other: {wait: 2h}\n"
                      "  after: {needs: decide, run: after}\n");
  struct eng_run *r = NULL;
  struct eng_effects fx;
  engine_fx_init(&fx);
  cr_assert_eq(engine_restore_begin(w, &(struct eng_config){.run_id = "r3"}, ENG_RUN_WAITING, 1,
                                    &r),
               0);
  row(r, 0, -1, ENG_WAITING, 0, 3);
  row(r, 1, -1, ENG_PENDING, 0, 0);
  row(r, 0, 0, ENG_WAITING, 1, 0);
  struct eng_saved_unit won = {.step = 0, .index = 1, .status = ENG_SUCCEEDED, .attempts = 1,
                               .exit_code = ENG_NO_EXIT, .started_at = 10, .finished_at = 50};
  cr_assert_eq(engine_restore_unit(r, &won), 0);
  row(r, 0, 2, ENG_WAITING, 1, 0);
  cr_assert_eq(engine_restore_end(r, 100, &fx), 0);
  /* the waiting arms are taken up again and then withdrawn: nothing decides twice */
  cr_assert_eq(count_fx(&fx, ENG_FX_KILL, 0), 1);
  cr_assert_eq(count_fx(&fx, ENG_FX_KILL, 2), 1);
  engine_fx_reset(&fx);
  for (int32_t i = 0; i <= 2; i += 2) {
    struct eng_event ev = {.type = ENG_EV_ATTEMPT_ENDED, .step = 0, .index = i, .attempt = 1,
                           .ok = false, .kind = ENG_E_CANCELLED, .message = "cancelled",
                           .exit_code = -1, .signal = -1, .http_status = -1};
    cr_assert_eq(engine_apply(r, &ev, 110, &fx), 0);
  }
  cr_assert_eq(engine_unit_status(r, 0, 0), ENG_CANCELLED);
  cr_assert_eq(engine_unit_status(r, 0, 2), ENG_CANCELLED);
  cr_assert_str_eq(err_kind_of(&fx, 0), "withdrawn");
  cr_assert_eq(engine_unit_status(r, 0, -1), ENG_SUCCEEDED);
  cr_assert_eq(engine_unit_status(r, 1, -1), ENG_RUNNING);
  engine_fx_free(&fx);
  engine_free(r);
  wf_free(w);
}
