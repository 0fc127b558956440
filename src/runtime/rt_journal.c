/* rt_journal.c — turning the engine's journal into store rows and audit
 * entries, inside the tick's open transaction.
 *
 * Every journal entry becomes a row write (run, step instance or attempt) and
 * one hash-chained audit entry. Pending for_each instances are written in
 * bulk. The rows of units that are running are kept in memory so the pid and
 * process group learned after the spawn can be written at the next commit
 * (recovery uses them to kill a dead engine's processes). */
#include "runtime/rt_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

static char *dump(const json_t *v)
{
  return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

static void set_str(char **dst, const char *s)
{
  free(*dst);
  *dst = s ? strdup(s) : NULL;
}

struct rt_row *rt_row_find(struct rt_run *run, uint32_t step, int32_t index)
{
  const char *id = run->wf->steps[step].id;
  for (struct rt_row *r = run->rows; r; r = r->next)
    if (r->row.index == index && !strcmp(r->row.step, id))
      return r;
  return NULL;
}

static void row_forget(struct rt_run *run, struct rt_row *gone)
{
  for (struct rt_row **pp = &run->rows; *pp; pp = &(*pp)->next)
    if (*pp == gone) {
      *pp = gone->next;
      store_step_clear(&gone->row);
      free(gone);
      return;
    }
}

void rt_rows_free(struct rt_run *run)
{
  while (run->rows)
    row_forget(run, run->rows);
}

/* Copies a row for later pid updates (only while the unit runs). */
static void row_keep(struct rt_run *run, const struct store_step *st)
{
  struct rt_row *r = NULL;
  for (struct rt_row *x = run->rows; x; x = x->next)
    if (x->row.index == st->index && !strcmp(x->row.step, st->step))
      r = x;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r)
      return;
    r->next = run->rows;
    run->rows = r;
  } else {
    store_step_clear(&r->row);
  }
  r->row = *st;
  r->row.run_id = strdup(st->run_id);
  r->row.step = strdup(st->step);
  r->row.status = strdup(st->status);
  r->row.error = st->error ? strdup(st->error) : NULL;
  r->row.outputs = st->outputs ? strdup(st->outputs) : NULL;
}

static int audit(struct runtime *rt, struct rt_run *run, int64_t at, const char *kind,
                 json_t *data /* consumed */)
{
  if (!data)
    return WEFT_ENOMEM;
  int rc = store_audit_append_json(rt->store, at, run->id, kind, data, NULL);
  json_decref(data);
  return rc;
}

static int write_run(struct runtime *rt, struct rt_run *run, const struct eng_jent *e)
{
  enum eng_run_status s = (enum eng_run_status)e->status;
  set_str(&run->row.status, engine_run_status_name(s));
  if (s == ENG_RUN_RUNNING && !run->row.started_at)
    run->row.started_at = e->started_at ? e->started_at : e->at;
  if (s == ENG_RUN_SUCCEEDED || s == ENG_RUN_FAILED || s == ENG_RUN_CANCELLED) {
    run->row.finished_at = e->finished_at ? e->finished_at : e->at;
    free(run->row.outputs);
    run->row.outputs = dump(e->outputs ? e->outputs : engine_run_outputs(run->eng));
  } else if (run->row.finished_at) {
    run->row.finished_at = 0; /* retried: running again */
  }
  free(run->row.error);
  run->row.error = dump(e->error);
  int rc = store_run_put(rt->store, &run->row);
  if (rc)
    return rc;
  json_t *d = json_pack("{s:s}", "status", run->row.status);
  if (e->error)
    json_object_set(d, "error", e->error);
  if (e->outputs)
    json_object_set(d, "outputs", e->outputs);
  return audit(rt, run, e->at, "run.status", d);
}

static int write_unit(struct runtime *rt, struct rt_run *run, const struct eng_jent *e)
{
  const struct wf_step *ws = &run->wf->steps[e->step];
  char *err_txt = dump(e->error);
  char *out_txt = e->outputs ? dump(e->outputs) : (e->outputs_text ? strdup(e->outputs_text) : NULL);
  struct store_step st = {
    .run_id = run->id,
    .step = ws->id,
    .index = e->index,
    .status = (char *)engine_status_name((enum eng_status)e->status),
    .attempts = (int)e->attempts,
    .has_exit_code = e->exit_code != ENG_NO_EXIT,
    .exit_code = e->exit_code == ENG_NO_EXIT ? 0 : e->exit_code,
    .error = err_txt,
    .outputs = out_txt,
    .started_at = e->started_at,
    .finished_at = e->finished_at,
    .iteration = (int)e->iteration,
  };
  struct rt_row *kept = rt_row_find(run, e->step, e->index);
  if (e->status == ENG_RUNNING) {
    if (kept) {
      st.pid = kept->row.pid;
      st.pgid = kept->row.pgid;
    }
    row_keep(run, &st);
  } else if (kept) {
    row_forget(run, kept);
  }
  int rc = store_step_put(rt->store, &st);
  json_t *d = NULL;
  if (!rc) {
    d = json_pack("{s:s,s:s,s:i}", "step", ws->id, "status", st.status, "attempts", st.attempts);
    if (e->index >= 0)
      json_object_set_new(d, "index", json_integer(e->index));
    if (e->error)
      json_object_set(d, "error", e->error);
    rc = audit(rt, run, e->at, "step.status", d);
  }
  free(err_txt);
  free(out_txt);
  return rc;
}

static int write_expand(struct runtime *rt, struct rt_run *run, const struct eng_jent *e)
{
  const struct wf_step *ws = &run->wf->steps[e->step];
  enum { CHUNK = 1000 };
  struct store_step *v = calloc(CHUNK, sizeof *v);
  if (!v)
    return WEFT_ENOMEM;
  int rc = 0;
  for (uint32_t base = 0; base < e->n && !rc; base += CHUNK) {
    size_t k = e->n - base < CHUNK ? e->n - base : CHUNK;
    for (size_t i = 0; i < k; i++)
      v[i] = (struct store_step){.run_id = run->id, .step = ws->id,
                                 .index = (int)(base + i), .status = "pending"};
    rc = store_step_put_many(rt->store, v, k);
  }
  free(v);
  if (rc)
    return rc;
  return audit(rt, run, e->at, "step.expanded",
               json_pack("{s:s,s:i}", "step", ws->id, "instances", (int)e->n));
}

static int write_attempt(struct runtime *rt, struct rt_run *run, const struct eng_jent *e)
{
  const struct wf_step *ws = &run->wf->steps[e->step];
  bool start = e->type == ENG_J_ATTEMPT_START;
  char *log = NULL;
  if (ws->kind == WF_RUN || ws->kind == WF_COMMAND)
    log = rt_log_path(store_home(rt->store), run->id, ws->id, e->index, e->attempts);
  char *err_txt = dump(e->error);
  struct store_attempt a = {
    .run_id = run->id,
    .step = ws->id,
    .index = e->index,
    .attempt = (int)e->attempts,
    .status = start ? "running" : (char *)engine_status_name((enum eng_status)e->status),
    .has_exit_code = e->exit_code != ENG_NO_EXIT,
    .exit_code = e->exit_code == ENG_NO_EXIT ? 0 : e->exit_code,
    .error = err_txt,
    .started_at = e->started_at ? e->started_at : e->at,
    .finished_at = start ? 0 : (e->finished_at ? e->finished_at : e->at),
    .log_path = log,
  };
  int rc = store_attempt_put(rt->store, &a);
  if (!rc) {
    json_t *d = json_pack("{s:s,s:i}", "step", ws->id, "attempt", a.attempt);
    if (e->index >= 0)
      json_object_set_new(d, "index", json_integer(e->index));
    if (!start) {
      json_object_set_new(d, "status", json_string(a.status));
      if (e->error)
        json_object_set(d, "error", e->error);
    }
    rc = audit(rt, run, e->at, start ? "attempt.started" : "attempt.finished", d);
  }
  free(err_txt);
  free(log);
  return rc;
}

int rt_journal_write(struct runtime *rt, struct rt_run *run, const struct eng_effects *fx)
{
  int rc = 0;
  /* pid/pgid learned since the last commit */
  for (struct rt_row *r = run->rows; r && !rc; r = r->next)
    if (r->dirty) {
      rc = store_step_put(rt->store, &r->row);
      r->dirty = false;
    }
  for (size_t i = 0; i < fx->nj && !rc; i++) {
    const struct eng_jent *e = &fx->j[i];
    switch (e->type) {
    case ENG_J_RUN: rc = write_run(rt, run, e); break;
    case ENG_J_UNIT: rc = write_unit(rt, run, e); break;
    case ENG_J_EXPAND: rc = write_expand(rt, run, e); break;
    case ENG_J_ATTEMPT_START:
    case ENG_J_ATTEMPT_END: rc = write_attempt(rt, run, e); break;
    }
  }
  return rc;
}
