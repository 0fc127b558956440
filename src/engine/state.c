/* state.c — the state machines of runs and of units (steps and for_each
 * instances), and the journal that records every transition.
 *
 * Unit (step or instance) states, and the function performing each move
 * (files: sched.c, outcome.c, engine.c, restore.c):
 *
 *   PENDING ──eng_eval_step: `if` false ────────────────────────────► SKIPPED
 *   PENDING ──eng_start_unit: set/no-op done (eng_unit_ok) ─────────► SUCCEEDED
 *   PENDING ──eng_fail_expr: `if`/`for_each`/render error ──────────► FAILED
 *   PENDING ──eng_cancel_unit: stop (eng_stop_phase/eng_eval_step) ─► CANCELLED
 *   PENDING ──eng_start_unit: run/command/http/agent/workflow ──────► RUNNING
 *   PENDING ──eng_start_unit: approval/wait ────────────────────────► WAITING
 *
 *   RUNNING ──eng_unit_ok (on_attempt_ended ok) ────────────────────► SUCCEEDED
 *   RUNNING ──eng_fail_unit: retries left, retry.if true ───────────► RETRYING
 *   RUNNING ──eng_fail_unit: no retry (or eng_fail_expr) ───────────► FAILED
 *   RUNNING ──eng_cancel_unit: killed by a stop ────────────────────► CANCELLED
 *   RUNNING ──eng_unit_ok: repeat, `until` false, delay > 0 ────────► WAITING
 *   RUNNING ──eng_start_unit: next repeat iteration (delay 0) ──────► RUNNING
 *   RUNNING ──engine_restore_end: attempt interrupted by a crash ───► RETRYING
 *
 *   WAITING ──on_timer (repeat delay over) → eng_start_unit ────────► RUNNING
 *                                                   (approval/wait) ► WAITING
 *   WAITING ──on_attempt_ended (approval/wait executor): eng_unit_ok,
 *             eng_fail_unit, eng_cancel_unit ──► SUCCEEDED | RETRYING | FAILED
 *                                                | CANCELLED
 *   RETRYING ──on_timer (backoff over) → eng_start_unit ──► RUNNING | WAITING
 *   RETRYING ──eng_start_unit: render error ────────────────────────► FAILED
 *   RETRYING ──eng_stop_phase (eng_cancel_unit) ────────────────────► CANCELLED
 *
 *   SUCCEEDED | FAILED | SKIPPED | CANCELLED ──engine_retry─────────► PENDING
 *
 * A for_each step's own unit: PENDING ──eng_expand──► RUNNING ──eng_fe_done──►
 * SUCCEEDED | FAILED | CANCELLED, or PENDING ──eng_expand (0 items)──► SUCCEEDED.
 * With complete_when (foreach_map.c) RUNNING ──decided, withdraw_rest: false──►
 * SUCCEEDED while instances trail, and a decided step's open instances go
 * PENDING ──► SKIPPED (withdrawn before they started). A first_of step
 * (first_of.c) is PENDING ──eng_expand──► WAITING ──eng_fe_done──► SUCCEEDED |
 * FAILED | CANCELLED.
 *
 * Run states:
 *   QUEUED ──engine_start──► RUNNING ◄──update_waiting──► WAITING
 *   QUEUED ──engine_cancel──► CANCELLED
 *   RUNNING | WAITING ──finish_run──► SUCCEEDED | FAILED | CANCELLED
 *   SUCCEEDED | FAILED | CANCELLED ──engine_retry──► RUNNING
 *
 * step_set_state() and run_set_state() are the only writers of a status: they
 * check the static tables below, keep the per-status counters, stamp the
 * times (entry hook) and append the journal entry carrying the new fields. */
#include "engine/priv.h"
#include "util/err.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B(s) (1u << (s))
static const unsigned step_next[ENG_ST__N] = {
  [ENG_PENDING] = B(ENG_RUNNING) | B(ENG_WAITING) | B(ENG_SUCCEEDED) | B(ENG_FAILED) |
                  B(ENG_SKIPPED) | B(ENG_CANCELLED),
  [ENG_RUNNING] = B(ENG_RUNNING) | B(ENG_WAITING) | B(ENG_RETRYING) | B(ENG_SUCCEEDED) |
                  B(ENG_FAILED) | B(ENG_CANCELLED),
  [ENG_WAITING] = B(ENG_RUNNING) | B(ENG_WAITING) | B(ENG_RETRYING) | B(ENG_SUCCEEDED) |
                  B(ENG_FAILED) | B(ENG_CANCELLED),
  [ENG_RETRYING] = B(ENG_RUNNING) | B(ENG_WAITING) | B(ENG_FAILED) | B(ENG_CANCELLED),
  [ENG_SUCCEEDED] = B(ENG_PENDING),
  [ENG_FAILED] = B(ENG_PENDING),
  [ENG_SKIPPED] = B(ENG_PENDING),
  [ENG_CANCELLED] = B(ENG_PENDING),
};

static const unsigned run_next[ENG_RUN__N] = {
  [ENG_RUN_QUEUED] = B(ENG_RUN_RUNNING) | B(ENG_RUN_CANCELLED),
  [ENG_RUN_RUNNING] = B(ENG_RUN_WAITING) | B(ENG_RUN_SUCCEEDED) | B(ENG_RUN_FAILED) |
                      B(ENG_RUN_CANCELLED),
  [ENG_RUN_WAITING] = B(ENG_RUN_RUNNING) | B(ENG_RUN_SUCCEEDED) | B(ENG_RUN_FAILED) |
                      B(ENG_RUN_CANCELLED),
  [ENG_RUN_SUCCEEDED] = B(ENG_RUN_RUNNING),
  [ENG_RUN_FAILED] = B(ENG_RUN_RUNNING),
  [ENG_RUN_CANCELLED] = B(ENG_RUN_RUNNING),
};
#undef B

static const char *const run_names[ENG_RUN__N] = {"queued", "running", "waiting",
                                                  "succeeded", "failed", "cancelled"};
static const char *const st_names[ENG_ST__N] = {"pending", "running", "waiting", "retrying",
                                                "succeeded", "failed", "skipped",
                                                "cancelled"};
static const char *const kind_names[ENG_E__N] = {
#define X(n, s) s,
  ENG_ERR_KINDS(X)
#undef X
};

const char *engine_run_status_name(enum eng_run_status s)
{
  return (unsigned)s < ENG_RUN__N ? run_names[s] : "?";
}
const char *engine_status_name(enum eng_status s)
{
  return (unsigned)s < ENG_ST__N ? st_names[s] : "?";
}
const char *engine_err_kind_name(enum eng_err_kind k)
{
  return (unsigned)k < ENG_E__N ? kind_names[k] : "?";
}

static int find_name(const char *const *names, int n, const char *s)
{
  for (int i = 0; s && i < n; i++)
    if (!strcmp(names[i], s))
      return i;
  return -1;
}
int engine_run_status_parse(const char *s) { return find_name(run_names, ENG_RUN__N, s); }
int engine_status_parse(const char *s) { return find_name(st_names, ENG_ST__N, s); }
int engine_err_kind_parse(const char *s) { return find_name(kind_names, ENG_E__N, s); }

bool engine_status_terminal(enum eng_status s) { return s >= ENG_SUCCEEDED && s < ENG_ST__N; }

bool engine_step_transition_ok(enum eng_status from, enum eng_status to)
{
  return (unsigned)from < ENG_ST__N && (unsigned)to < ENG_ST__N &&
         (step_next[from] >> to & 1u);
}
bool engine_run_transition_ok(enum eng_run_status from, enum eng_run_status to)
{
  return (unsigned)from < ENG_RUN__N && (unsigned)to < ENG_RUN__N &&
         (run_next[from] >> to & 1u);
}

/* ---- effects and journal lists --------------------------------------- */

void engine_fx_init(struct eng_effects *fx) { memset(fx, 0, sizeof *fx); }

void engine_fx_reset(struct eng_effects *fx)
{
  for (size_t i = 0; i < fx->n; i++) {
    struct eng_effect *e = &fx->v[i];
    json_decref(e->argv);
    json_decref(e->env);
    json_decref(e->cwd);
    json_decref(e->body);
    json_decref(e->item);
  }
  for (size_t i = 0; i < fx->nj; i++) {
    json_decref(fx->j[i].error);
    json_decref(fx->j[i].outputs);
  }
  fx->n = fx->nj = fx->nj_written = 0;
}

void engine_fx_free(struct eng_effects *fx)
{
  engine_fx_reset(fx);
  free(fx->v);
  free(fx->j);
  engine_fx_init(fx);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
  if (need <= *cap)
    return 0;
  if (need > ENG_MAX_FX)
    return WEFT_ELIMIT;
  size_t nc = *cap ? *cap * 2 : 64;
  while (nc < need)
    nc *= 2;
  void *np = realloc(*p, nc * elem);
  if (!np)
    return WEFT_ENOMEM;
  *p = np;
  *cap = nc;
  return 0;
}

struct eng_effect *eng_fx_push(struct eng_run *r, enum eng_fx_type t)
{
  struct eng_effects *fx = r->fx;
  if (grow((void **)&fx->v, &fx->cap, fx->n + 1, sizeof *fx->v))
    return NULL;
  struct eng_effect *e = &fx->v[fx->n++];
  memset(e, 0, sizeof *e);
  e->type = t;
  e->index = -1;
  return e;
}

/* Appends e; takes references to e->error and e->outputs. */
int eng_journal(struct eng_run *r, const struct eng_jent *e)
{
  struct eng_effects *fx = r->fx;
  int rc = grow((void **)&fx->j, &fx->capj, fx->nj + 1, sizeof *fx->j);
  if (rc)
    return rc;
  struct eng_jent *d = &fx->j[fx->nj++];
  *d = *e;
  d->at = r->now;
  json_incref(d->error);
  json_incref(d->outputs);
  if (r->spill && fx->nj - fx->nj_written >= ENG_JOURNAL_SPILL)
    return r->spill(r->spill_ud, fx);
  return 0;
}

void engine_set_spill(struct eng_run *run, eng_spill_fn fn, void *ud)
{
  run->spill = fn;
  run->spill_ud = ud;
}

/* ---- the two state changers ------------------------------------------- */

int step_set_state(struct eng_run *r, uint32_t u, enum eng_status to)
{
  struct eng_units *U = &r->u;
  assert(u < U->n);
  enum eng_status from = U->status[u];
  if (!engine_step_transition_ok(from, to)) {
#ifndef NDEBUG
    fprintf(stderr, "step_set_state: %s#%d %s -> %s not allowed\n", r->wf->steps[r->u.step[u]].id,
            unit_index(r, u), engine_status_name(from), engine_status_name(to));
#endif
    assert(!"step transition not allowed");
    return WEFT_ESTATE;
  }
  if (to != ENG_PENDING) /* started, skipped or cancelled: a reservation is spent */
    eng_resv_clear(r, u);
  uint32_t s = U->step[u];
  bool leaf = unit_is_leaf(r, u);
  if (leaf) {
    r->leaf_count[from]--;
    r->leaf_count[to]++;
  }
  U->status[u] = (uint8_t)to;
  if (u >= r->n_steps && r->st[s].ws->fe_complete_when) { /* foreach_map.c: .instances.running */
    bool was = from != ENG_PENDING && !engine_status_terminal(from);
    bool is = to != ENG_PENDING && !engine_status_terminal(to);
    r->st[s].fe_running = r->st[s].fe_running + is - was;
  }
  /* entry hook: times */
  if (to == ENG_PENDING) {
    U->started_at[u] = U->finished_at[u] = U->due_at[u] = 0;
  } else if (engine_status_terminal(to)) {
    U->finished_at[u] = r->now;
    if (!U->started_at[u] && U->attempts[u]) /* never started (skipped): stays null */
      U->started_at[u] = r->now;
    U->due_at[u] = 0;
  } else if ((to == ENG_RUNNING || to == ENG_WAITING) && !U->started_at[u]) {
    U->started_at[u] = r->now;
  }
  if (to != ENG_RETRYING && to != ENG_WAITING)
    U->due_at[u] = 0;
  if (u < r->n_steps) {
    ctx_invalidate(r, s);
    r->gen++;
  }

  struct eng_jent e = {
    .type = ENG_J_UNIT,
    .step = s,
    .index = unit_index(r, u),
    .status = to,
    .attempts = U->attempts[u],
    .iteration = U->iteration[u],
    .exit_code = U->exit_code[u],
    .started_at = U->started_at[u],
    .finished_at = U->finished_at[u],
    .due_at = U->due_at[u],
    .error = eng_err_get(r, u),
  };
  if (u >= r->n_steps)
    e.outputs_text = arena_get(&r->arena, U->out[u]);
  else if (!r->st[s].is_fe || r->st[s].ws->kind == WF_FIRST_OF) /* first_of.c: {winner, ...} */
    e.outputs = r->st[s].outputs;
  return eng_journal(r, &e);
}

int run_set_state(struct eng_run *r, enum eng_run_status to)
{
  if (!engine_run_transition_ok(r->status, to)) {
    assert(!"run transition not allowed");
    return WEFT_ESTATE;
  }
  r->status = to;
  r->gen++;
  if (to == ENG_RUN_RUNNING && !r->started_at)
    r->started_at = r->now;
  if (to >= ENG_RUN_SUCCEEDED)
    r->finished_at = r->now;
  else
    r->finished_at = 0;
  struct eng_jent e = {
    .type = ENG_J_RUN,
    .index = -1,
    .status = to,
    .exit_code = ENG_NO_EXIT,
    .started_at = r->started_at,
    .finished_at = r->finished_at,
    .error = r->error,
    .outputs = r->outputs,
  };
  return eng_journal(r, &e);
}
