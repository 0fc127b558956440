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

/* How many units are kept reserved ahead: the slots plus 16, so that the
 * runtime can let several exits share one commit (see engine_reserve_low)
 * and still start every next unit early. Measured on 1,000-step DAGs with 2
 * slots (bench/ab_program.sh, medians of 11 pairs): +8 gave 1.13x make -j2
 * on a fan-out, +16 1.06-1.08x, +32 no better. The price: after a crash, up
 * to that many steps that never started count an interrupted attempt. */
#define RESERVE_EXTRA 16u
static uint32_t reserve_depth(const struct eng_run *r)
{
  return (uint32_t)r->max_parallel + RESERVE_EXTRA;
}

/* Calls fn for the pending process units that take the next free slots, in
 * order, until fn returns false or `limit` were seen. Returns how many. */
static uint32_t next_units(const struct eng_run *r, uint32_t limit,
                           bool (*fn)(void *ctx, uint32_t u), void *ctx)
{
  uint32_t have = 0;
  for (uint32_t i = 0; i < r->rq_n && have < limit; i++) {
    uint32_t s = r->runq[(r->rq_h + i) % r->n_steps];
    const struct eng_step *st = &r->st[s];
    enum wf_kind k = st->ws->kind;
    if (k != WF_RUN && k != WF_COMMAND) /* only process starts are worth it */
      continue;
    for (uint32_t q = st->qh; q < st->qn && have < limit; q++) {
      uint32_t u = st->q[q];
      if (r->u.status[u] != ENG_PENDING)
        continue;
      have++;
      if (fn && !fn(ctx, u))
        return have;
    }
    if (st->expanded)
      for (uint32_t x = st->next; x < st->n && have < limit; x++) {
        uint32_t u = st->first + x;
        if (r->u.status[u] != ENG_PENDING)
          continue;
        have++;
        if (fn && !fn(ctx, u))
          return have;
      }
  }
  return have;
}

static uint32_t reservable(const struct eng_run *r, uint32_t limit)
{
  return next_units(r, limit, NULL, NULL);
}

/* Low: fewer than the slots plus half the extra depth are reserved durably
 * or by a commit already made, and a waiting unit is not. Committing then,
 * not when the last one is spent, leaves the sync of that commit a few
 * exits' time to land, so the exits meanwhile still find their next unit
 * reserved (measured on a 1,000-step fan-out: 119 of 1,000 starts waited
 * for a sync when the threshold was the slots alone, 3 with this one). The
 * second condition matters for narrow DAG layers: fewer units may wait than
 * the threshold, and every one that becomes ready must not cost a commit. */
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
  uint32_t want = (uint32_t)r->max_parallel + RESERVE_EXTRA / 2;
  if (left >= want)
    return false;
  /* fewer units may be waiting than that (a narrow layer of a DAG): low
   * only while one of them is not reserved by a commit already made */
  return left < reservable(r, want);
}

struct reserve_ctx {
  struct eng_run *r;
  uint64_t tag;
  int rc;
};

static bool reserve_one(void *ctx, uint32_t u)
{
  struct reserve_ctx *c = ctx;
  c->rc = reserve_unit(c->r, u, c->tag);
  return c->rc == 0;
}

int engine_reserve(struct eng_run *r, int64_t now, uint64_t tag, struct eng_effects *fx)
{
  if (r->status != ENG_RUN_RUNNING || r->stop != STOP_NONE || !r->rq_n)
    return 0;
  r->fx = fx;
  r->now = now;
  struct reserve_ctx c = {r, tag, 0};
  next_units(r, reserve_depth(r), reserve_one, &c);
  return c.rc;
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
