/* rt_counts.c — the number of instances per status of each for_each step,
 * kept by the runtime as it writes instance rows, and written to the step's
 * own row (store_step_counts_put) in the same transaction as those rows.
 *
 * `weft status` of a million-instance run reads these counts instead of
 * counting a million rows. The runtime keeps one status byte per instance
 * (the status last written to the store) to know which count an instance
 * leaves; a resumed or retried run rebuilds them from the stored rows.
 *
 * It also writes each instance's row once: an expansion does not write a
 * million "pending" rows that the same transaction rewrites a moment later
 * as the instances settle. It marks every instance "row not written"
 * (rt_counts_defer_rows, one bit each); writing an instance's row clears its
 * bit (rt_counts_row_written); before the commit, rt_counts_write_rows
 * writes "pending" rows for the instances whose bit is still set. Rows are
 * upserts, so the order of the two inside the one transaction does not
 * matter; what is committed is what it was before: every instance has its
 * row. */
#include "runtime/rt_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

struct rt_fecount {
  uint8_t *st;   /* status of each instance as last written */
  uint8_t *unw;  /* bit i: instance i has no row yet in the open transaction */
  uint32_t n_unw; /* bits set in unw */
  uint32_t n;
  uint32_t cnt[ENG_ST__N];
  bool dirty;    /* to write with the commit */
};

static struct rt_fecount *of(struct rt_run *run, uint32_t step)
{
  if (step >= run->wf->n_steps)
    return NULL;
  if (!run->fec && !(run->fec = calloc(run->wf->n_steps, sizeof *run->fec)))
    return NULL;
  return &run->fec[step];
}

void rt_counts_expand(struct rt_run *run, uint32_t step, uint32_t n)
{
  struct rt_fecount *c = of(run, step);
  if (!c)
    return;
  free(c->st);
  if (c->unw)
    run->fec_deferred--;
  free(c->unw);
  memset(c, 0, sizeof *c);
  c->dirty = true;
  c->st = calloc(n ? n : 1, 1); /* ENG_PENDING is 0 */
  if (!c->st)
    return; /* not kept: NULL is written, and status counts the rows instead */
  c->n = n;
  c->cnt[ENG_PENDING] = n;
}

void rt_counts_note(struct rt_run *run, uint32_t step, int32_t index, int status)
{
  struct rt_fecount *c = run->fec && step < run->wf->n_steps ? &run->fec[step] : NULL;
  if (!c || !c->st || index < 0 || (uint32_t)index >= c->n || status < 0 || status >= ENG_ST__N)
    return;
  uint8_t old = c->st[index];
  if (old == status)
    return;
  c->cnt[old]--;
  c->cnt[status]++;
  c->st[index] = (uint8_t)status;
  c->dirty = true;
}

int rt_counts_write(struct runtime *rt, struct rt_run *run)
{
  for (uint32_t s = 0; run->fec && s < run->wf->n_steps; s++) {
    struct rt_fecount *c = &run->fec[s];
    if (!c->dirty)
      continue;
    if (!c->st) {
      int rc = store_step_counts_put(rt->store, run->id, run->wf->steps[s].id, NULL);
      if (rc)
        return rc;
      c->dirty = false;
      continue;
    }
    char txt[ENG_ST__N * 32 + 4];
    size_t len = 0;
    txt[len++] = '{';
    for (int k = 0; k < ENG_ST__N; k++)
      if (c->cnt[k])
        len += (size_t)snprintf(txt + len, sizeof txt - len, "%s\"%s\":%u", len > 1 ? "," : "",
                                engine_status_name((enum eng_status)k), c->cnt[k]);
    snprintf(txt + len, sizeof txt - len, "}");
    int rc = store_step_counts_put(rt->store, run->id, run->wf->steps[s].id, txt);
    if (rc)
      return rc;
    c->dirty = false;
  }
  return 0;
}

void rt_counts_load(struct rt_run *run, const struct store_step *rows, size_t n)
{
  /* rows come by (step, index): a step's own row, then its instances */
  for (size_t i = 0; i < n;) {
    size_t j = i;
    uint32_t n_inst = 0;
    while (j < n && !strcmp(rows[j].step, rows[i].step)) {
      if (rows[j].index >= 0 && (uint32_t)rows[j].index + 1 > n_inst)
        n_inst = (uint32_t)rows[j].index + 1;
      j++;
    }
    uint32_t k = wf_step_find(run->wf, rows[i].step);
    if (k != WF_NONE && run->wf->steps[k].for_each && n_inst) {
      rt_counts_expand(run, k, n_inst);
      for (size_t x = i; x < j; x++)
        if (rows[x].index >= 0)
          rt_counts_note(run, k, rows[x].index, engine_status_parse(rows[x].status));
      if (run->fec && run->fec[k].st)
        run->fec[k].dirty = false; /* what the store holds already, or NULL (counted) */
    }
    i = j;
  }
}

bool rt_counts_defer_rows(struct rt_run *run, uint32_t step)
{
  struct rt_fecount *c = run->fec && step < run->wf->n_steps ? &run->fec[step] : NULL;
  if (!c || !c->st || c->unw || !c->n)
    return false;
  size_t bytes = ((size_t)c->n + 7) / 8;
  if (!(c->unw = malloc(bytes)))
    return false; /* written at once, as before */
  memset(c->unw, 0xff, bytes);
  if (c->n % 8)
    c->unw[bytes - 1] = (uint8_t)((1u << (c->n % 8)) - 1);
  c->n_unw = c->n;
  run->fec_deferred++;
  return true;
}

void rt_counts_row_written(struct rt_run *run, uint32_t step, int32_t index)
{
  struct rt_fecount *c = run->fec && step < run->wf->n_steps ? &run->fec[step] : NULL;
  if (!c || !c->unw || index < 0 || (uint32_t)index >= c->n)
    return;
  uint8_t bit = (uint8_t)(1u << (index % 8));
  if (c->unw[index / 8] & bit) {
    c->unw[index / 8] &= (uint8_t)~bit;
    c->n_unw--;
  }
}

/* the "pending" rows of one step's instances not written yet */
static int write_rows_of(struct runtime *rt, struct rt_run *run, uint32_t step)
{
  struct rt_fecount *c = &run->fec[step];
  enum { CHUNK = 1000 };
  struct store_step *v = c->n_unw ? calloc(CHUNK, sizeof *v) : NULL;
  int rc = 0;
  if (c->n_unw && !v)
    return WEFT_ENOMEM;
  size_t k = 0;
  for (uint32_t i = 0; i < c->n && c->n_unw && !rc; i++) {
    if (!(c->unw[i / 8] & (1u << (i % 8)))) {
      if (!c->unw[i / 8] && i % 8 == 0)
        i += 7; /* a byte of written rows */
      continue;
    }
    v[k++] = (struct store_step){.run_id = run->id, .step = run->wf->steps[step].id,
                                 .index = (int)i, .status = "pending"};
    c->unw[i / 8] &= (uint8_t)~(1u << (i % 8));
    c->n_unw--;
    if (k == CHUNK || !c->n_unw) {
      rc = store_step_put_many(rt->store, v, k);
      k = 0;
    }
  }
  free(v);
  if (!rc) {
    free(c->unw);
    c->unw = NULL;
    c->n_unw = 0;
    run->fec_deferred--;
  }
  return rc;
}

int rt_counts_write_rows(struct runtime *rt, struct rt_run *run, uint32_t step)
{
  int rc = 0;
  if (!run->fec_deferred || !run->fec)
    return 0; /* every commit asks, for every run: no walk over the steps */
  if (step != WF_NONE)
    return step < run->wf->n_steps && run->fec[step].unw ? write_rows_of(rt, run, step) : 0;
  for (uint32_t s = 0; s < run->wf->n_steps && run->fec_deferred && !rc; s++)
    if (run->fec[s].unw)
      rc = write_rows_of(rt, run, s);
  return rc;
}

void rt_counts_free(struct rt_run *run)
{
  for (uint32_t s = 0; run->fec && run->wf && s < run->wf->n_steps; s++) {
    free(run->fec[s].st);
    free(run->fec[s].unw);
  }
  run->fec_deferred = 0;
  free(run->fec);
  run->fec = NULL;
}
