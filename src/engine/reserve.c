/* reserve.c — durable dispatch: reserving the units that take the next free
 * slots (engine_reserve) and learning that the reservations are committed
 * (engine_durable). See engine.h for the protocol.
 *
 * The units that start next are, in order, the start queues of the steps in
 * the run queue (retried instances first, then never-started instances of an
 * expanded for_each). A reservation is only a promise that the unit MAY start
 * early; when the order changes (a cancel, a step's own max_parallel) the
 * promise is simply not used, and recovery treats an unused one as an
 * interrupted attempt only while the unit is still pending with that attempt
 * next. */
#include "engine/priv.h"
#include "util/err.h"

#include <stdlib.h>

/* v is still the unit's reservation: not spent (started, skipped, cancelled)
 * and not replaced by one for a later attempt */
static bool resv_current(const struct eng_run *r, const struct eng_resv *v)
{
  return (r->u.flags[v->unit] & UF_RESV) && (uint32_t)r->u.attempts[v->unit] + 1 == v->attempt;
}

static int resv_push(struct eng_run *r, uint32_t u, uint64_t tag)
{
  if (r->n_resv == r->cap_resv) {
    uint32_t ncap = r->cap_resv ? r->cap_resv * 2 : 16;
    struct eng_resv *nv = realloc(r->resv, ncap * sizeof *nv);
    if (!nv)
      return WEFT_ENOMEM;
    r->resv = nv;
    r->cap_resv = ncap;
  }
  r->resv[r->n_resv++] = (struct eng_resv){u, (uint32_t)r->u.attempts[u] + 1, tag};
  return 0;
}

/* Reserves unit u unless it already is; journals ENG_J_RESERVE. */
static int reserve_unit(struct eng_run *r, uint32_t u, uint64_t tag)
{
  if (r->u.flags[u] & UF_RESV)
    return 0;
  int rc = resv_push(r, u, tag);
  if (rc)
    return rc;
  r->u.flags[u] |= UF_RESV;
  struct eng_jent j = {
    .type = ENG_J_RESERVE,
    .at = r->now,
    .step = r->u.step[u],
    .index = unit_index(r, u),
    .status = ENG_PENDING,
    .attempts = (uint32_t)r->u.attempts[u] + 1,
    .exit_code = ENG_NO_EXIT,
  };
  return eng_journal(r, &j);
}

/* How many units are kept reserved ahead: the slots plus 8 (or twice the
 * slots, at most 16 more), so that the runtime can let several exits share
 * one commit (see engine_reserve_low) and still start every next unit early.
 * The price: after a crash, up to that many steps that never started count
 * an interrupted attempt. */
static uint32_t reserve_depth(const struct eng_run *r)
{
  uint32_t p = (uint32_t)r->max_parallel;
  return p + (p < 8 ? 8 : p < 16 ? p : 16);
}

/* Low: fewer than the slots plus half the extra depth are reserved durably
 * or by a commit already made. Committing then, not when the last one is
 * spent, leaves the sync of that commit a few exits' time to land, so the
 * exits meanwhile still find their next unit reserved (measured on a
 * 1,000-step fan-out: 119 of 1,000 starts waited for a sync when the
 * threshold was the slots alone, 3 with this one). */
bool engine_reserve_low(const struct eng_run *r, uint64_t committed)
{
  if (r->status != ENG_RUN_RUNNING || r->stop != STOP_NONE || !r->rq_n)
    return false; /* nothing waits for a slot: nothing to start early */
  uint32_t left = r->n_resv_dur;
  for (uint32_t i = 0; i < r->n_resv; i++) {
    const struct eng_resv *v = &r->resv[i];
    if (v->tag <= committed && resv_current(r, v))
      left++;
  }
  uint32_t p = (uint32_t)r->max_parallel;
  return left < p + (reserve_depth(r) - p) / 2;
}

int engine_reserve(struct eng_run *r, int64_t now, uint64_t tag, struct eng_effects *fx)
{
  if (r->status != ENG_RUN_RUNNING || r->stop != STOP_NONE || !r->rq_n)
    return 0;
  r->fx = fx;
  r->now = now;
  uint32_t want = reserve_depth(r), have = 0;
  int rc = 0;
  for (uint32_t i = 0; i < r->rq_n && have < want && !rc; i++) {
    uint32_t s = r->runq[(r->rq_h + i) % r->n_steps];
    struct eng_step *st = &r->st[s];
    enum wf_kind k = st->ws->kind;
    if (k != WF_RUN && k != WF_COMMAND) /* only process starts are worth it */
      continue;
    for (uint32_t q = st->qh; q < st->qn && have < want && !rc; q++) {
      uint32_t u = st->q[q];
      if (r->u.status[u] != ENG_PENDING)
        continue;
      rc = reserve_unit(r, u, tag);
      have++;
    }
    if (st->expanded)
      for (uint32_t x = st->next; x < st->n && have < want && !rc; x++) {
        uint32_t u = st->first + x;
        if (r->u.status[u] != ENG_PENDING)
          continue;
        rc = reserve_unit(r, u, tag);
        have++;
      }
  }
  return rc;
}

void engine_durable(struct eng_run *r, uint64_t tag)
{
  uint32_t keep = 0;
  for (uint32_t i = 0; i < r->n_resv; i++) {
    struct eng_resv v = r->resv[i];
    if (v.tag > tag) {
      r->resv[keep++] = v; /* a later commit, not durable yet */
      continue;
    }
    if (resv_current(r, &v) && !(r->u.flags[v.unit] & UF_RESV_DUR)) {
      r->u.flags[v.unit] |= UF_RESV_DUR;
      r->n_resv_dur++;
    }
  }
  r->n_resv = keep;
}
