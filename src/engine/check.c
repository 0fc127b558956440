/* check.c — the invariant checker of a run, called only from assert() at the
 * end of every public engine call (so it costs nothing with NDEBUG). It
 * recomputes from the unit arrays everything the engine keeps incrementally
 * (per-status counts, slots, per-step counters, readiness counters, phase
 * counts) and reports the first mismatch on stderr. O(units) per call: debug
 * builds only. */
#include "engine/priv.h"

#include <stdio.h>
#include <stdlib.h>

#define FAIL(...)                                                               \
  do {                                                                          \
    fprintf(stderr, "engine invariant: " __VA_ARGS__);                          \
    fputc('\n', stderr);                                                        \
    ok = false;                                                                 \
    goto out;                                                                   \
  } while (0)

static bool current_unit(const struct eng_run *r, uint32_t u)
{
  if (u < r->n_steps)
    return !r->st[u].is_fe;
  const struct eng_step *st = &r->st[r->u.step[u]];
  return st->expanded && u >= st->first && u < st->first + st->n;
}

bool eng_invariants(const struct eng_run *r)
{
  bool ok = true;
  uint32_t cnt[ENG_ST__N] = {0};
  uint32_t *active = calloc(r->n_steps ? r->n_steps : 1, sizeof *active);
  int slots = 0;
  if (!active)
    return true; /* cannot check */
  for (uint32_t u = 0; u < r->u.n; u++) {
    if (!current_unit(r, u))
      continue;
    enum eng_status s = r->u.status[u];
    uint8_t f = r->u.flags[u];
    cnt[s]++;
    if ((f & UF_SLOT) && !(f & UF_EXEC))
      FAIL("unit %u holds a slot without an attempt", u);
    if ((f & UF_EXEC) && s != ENG_RUNNING && s != ENG_WAITING)
      FAIL("unit %u has an attempt in flight but is %s", u, engine_status_name(s));
    if ((f & UF_TIMER) && engine_status_terminal(s))
      FAIL("unit %u is %s with a timer armed", u, engine_status_name(s));
    slots += (f & UF_SLOT) != 0;
    active[r->u.step[u]] += (f & UF_EXEC) != 0;
  }
  for (int s = 0; s < ENG_ST__N; s++)
    if (cnt[s] != r->leaf_count[s])
      FAIL("%u units are %s, counted %u", cnt[s], engine_status_name(s), r->leaf_count[s]);
  if (slots != r->slots || r->slots > r->max_parallel)
    FAIL("%d slots in use, counted %d, max %d", slots, r->slots, r->max_parallel);
  uint32_t resv_dur = 0;
  for (uint32_t u = 0; u < r->u.n; u++) {
    resv_dur += (r->u.flags[u] & UF_RESV_DUR) != 0;
    if ((r->u.flags[u] & UF_RESV) && r->u.status[u] != ENG_PENDING)
      FAIL("unit %u is %s and still reserved", u, engine_status_name(r->u.status[u]));
  }
  if (resv_dur != r->n_resv_dur)
    FAIL("%u durable reservations, counted %u", resv_dur, r->n_resv_dur);
  uint32_t main_done = 0, fin_done = 0;
  for (uint32_t s = 0; s < r->n_steps; s++) {
    const struct eng_step *st = &r->st[s];
    const struct wf_step *ws = &r->wf->steps[s];
    if (active[s] != st->active)
      FAIL("step %s: %u attempts in flight, counted %u", ws->id, active[s], st->active);
    uint32_t open = 0;
    for (uint32_t i = 0; i < ws->n_needs; i++)
      open += !engine_status_terminal(r->u.status[ws->needs[i]]);
    if (open != st->waiting_needs)
      FAIL("step %s: %u needs unfinished, counted %u", ws->id, open, st->waiting_needs);
    if (engine_status_terminal(r->u.status[s]))
      ++*(ws->is_finally ? &fin_done : &main_done);
    else if (r->status >= ENG_RUN_SUCCEEDED)
      FAIL("run %s but step %s is %s", engine_run_status_name(r->status), ws->id,
           engine_status_name(r->u.status[s]));
    if (st->expanded && r->u.status[s] != ENG_PENDING) {
      uint32_t done = 0, running = 0;
      for (uint32_t i = 0; i < st->n; i++) {
        enum eng_status is = r->u.status[st->first + i];
        done += engine_status_terminal(is);
        running += is != ENG_PENDING && !engine_status_terminal(is);
      }
      if (done != st->done)
        FAIL("step %s: %u instances terminal, counted %u", ws->id, done, st->done);
      if (ws->fe_complete_when && running != st->fe_running) /* foreach_map.c */
        FAIL("step %s: %u instances running, counted %u", ws->id, running, st->fe_running);
    }
  }
  if (main_done != r->main_done || fin_done != r->fin_done)
    FAIL("terminal steps %u+%u, counted %u+%u", main_done, fin_done, r->main_done, r->fin_done);
out:
  free(active);
  return ok;
}

bool engine_check(const struct eng_run *r) { return eng_invariants(r); }
