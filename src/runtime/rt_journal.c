/* rt_journal.c — turning the engine's journal into store rows and audit
 * entries, inside the tick's open transaction.
 *
 * Every journal entry becomes a row write (run, step instance or attempt) and
 * one hash-chained audit entry, except runs of like instance transitions,
 * which share one (struct span below). Pending for_each instances are written
 * in bulk, and each for_each step's instance counts go to its own row
 * (rt_counts.c). The rows of units that are running are kept in memory so the pid and
 * process group learned after the spawn can be written at the next commit
 * (recovery uses them to kill a dead engine's processes). */
#include "runtime/rt_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/audit_chain.h"
#include "util/err.h"
#include "util/jsonfmt.h"
#include "util/wtime.h"

static char *dump(const json_t *v)
{
  return v ? wjson_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
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

/* ---- audit data of step and attempt entries, written canonical directly ----
 * (sorted keys, compact, ASCII: what audit_canonical_json would give, without
 * building a json_t and dumping it; a quarter of a `set` step's cost). Only
 * strings of plain printable ASCII are written here; anything else takes the
 * jansson path. */

struct cj {
  char b[512];
  size_t n;
  bool bad; /* does not fit or needs escaping: use jansson */
};

static void cj_raw(struct cj *c, const char *s, size_t len)
{
  if (c->bad || c->n + len >= sizeof c->b) {
    c->bad = true;
    return;
  }
  memcpy(c->b + c->n, s, len);
  c->n += len;
}

static void cj_key(struct cj *c, const char *k)
{
  cj_raw(c, c->n > 1 ? ",\"" : "\"", c->n > 1 ? 2 : 1);
  cj_raw(c, k, strlen(k));
  cj_raw(c, "\":", 2);
}

static void cj_str(struct cj *c, const char *k, const char *v)
{
  cj_key(c, k);
  for (const char *p = v; *p && !c->bad; p++)
    if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '"' || *p == '\\')
      c->bad = true;
  cj_raw(c, "\"", 1);
  cj_raw(c, v, strlen(v));
  cj_raw(c, "\"", 1);
}

static void cj_int(struct cj *c, const char *k, long long v)
{
  char num[24];
  int len = snprintf(num, sizeof num, "%lld", v);
  cj_key(c, k);
  cj_raw(c, num, (size_t)len);
}

/* "error": the canonical dump of the engine's error object */
static void cj_error(struct cj *c, const json_t *e)
{
  char *t = NULL;
  if (audit_canonical_json(e, &t) != 0) {
    c->bad = true;
    return;
  }
  cj_key(c, "error");
  cj_raw(c, t, strlen(t));
  free(t);
}

/* step.status / attempt.* data: keys in strcmp order (attempt(s), error,
 * index, status, step). status NULL: none (attempt.started). */
static int audit_unit(struct runtime *rt, struct rt_run *run, int64_t at, const char *kind,
                      const char *count_key, long long count, const json_t *error, int32_t index,
                      const char *status, const char *step)
{
  struct cj c = {.n = 0};
  cj_raw(&c, "{", 1);
  cj_int(&c, count_key, count);
  if (error)
    cj_error(&c, error);
  if (index >= 0)
    cj_int(&c, "index", index);
  if (status)
    cj_str(&c, "status", status);
  cj_str(&c, "step", step);
  cj_raw(&c, "}", 2); /* with the terminator */
  if (!c.bad)
    return store_audit_append_canon(rt->store, at, run->id, kind, c.b, NULL);
  json_t *d = json_pack("{s:s,s:I}", "step", step, count_key, (json_int_t)count);
  if (d && index >= 0)
    json_object_set_new(d, "index", json_integer(index));
  if (d && status)
    json_object_set_new(d, "status", json_string(status));
  if (d && error)
    json_object_set(d, "error", (json_t *)error);
  return audit(rt, run, at, kind, d);
}

/* The end time of a run or of a for_each step as written: the engine stamps
 * every entry of one call with the call's `now`, and one call may settle a
 * million instances (seconds of work, and their rows are written before this
 * entry). Such an end is never before the moment it is handed to the store,
 * so a run of a big fan-out does not report "succeeded in 0ms". Plain steps
 * and instances keep the engine's times (a process's exit time is exact). */
static int64_t end_time(int64_t engine_end)
{
  int64_t now = wt_now_ms();
  return now > engine_end ? now : engine_end;
}

static int write_run(struct runtime *rt, struct rt_run *run, const struct eng_jent *e)
{
  enum eng_run_status s = (enum eng_run_status)e->status;
  set_str(&run->row.status, engine_run_status_name(s));
  if (s == ENG_RUN_RUNNING && !run->row.started_at)
    run->row.started_at = e->started_at ? e->started_at : e->at;
  if (s == ENG_RUN_SUCCEEDED || s == ENG_RUN_FAILED || s == ENG_RUN_CANCELLED) {
    run->row.finished_at = end_time(e->finished_at ? e->finished_at : e->at);
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

/* skip_row: a later entry of the same commit rewrites this row (the audit
 * entry and the kept-row bookkeeping still happen); no_audit: the entry is
 * part of a span of instances audited together (struct span) */
static int write_unit(struct runtime *rt, struct rt_run *run, const struct eng_jent *e,
                      bool skip_row, bool no_audit)
{
  const struct wf_step *ws = &run->wf->steps[e->step];
  char *err_txt = skip_row ? NULL : dump(e->error);
  char *out_txt = skip_row ? NULL
                  : e->outputs ? dump(e->outputs)
                               : (e->outputs_text ? strdup(e->outputs_text) : NULL);
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
    .due_at = e->due_at,
  };
  if (ws->for_each && e->index < 0 && e->finished_at)
    st.finished_at = end_time(e->finished_at);
  struct rt_row *kept = rt_row_find(run, e->step, e->index);
  if (e->status == ENG_RUNNING) {
    if (kept) {
      st.pid = kept->row.pid;
      st.pgid = kept->row.pgid;
    } else if ((st.pid = rt_attempt_pid(rt, run, e->step, e->index)) > 0) {
      st.pgid = st.pid; /* started before this row was written (early) */
    } else {
      st.pid = 0;
    }
    row_keep(run, &st);
  } else if (kept) {
    row_forget(run, kept);
  }
  if (e->index >= 0) {
    rt_counts_note(run, e->step, e->index, (int)e->status);
    rt_counts_row_written(run, e->step, e->index); /* here or by a later entry */
  }
  int rc = skip_row ? 0 : store_step_put(rt->store, &st);
  if (!rc && !no_audit)
    rc = audit_unit(rt, run, e->at, "step.status", "attempts", st.attempts, e->error, e->index,
                    st.status, ws->id);
  /* a withdrawn approval request is closed (an approval step, or the approval
   * arm of a first_of that another arm beat): say so where decisions are audited */
  const struct wf_arm *arm = wf_step_arm(ws, e->index);
  const char *ek = json_string_value(json_object_get(e->error, "kind"));
  if (!rc && (ws->kind == WF_APPROVAL || (arm && arm->kind == WF_APPROVAL)) &&
      e->status == ENG_CANCELLED && ek && !strcmp(ek, "withdrawn"))
    rc = audit(rt, run, e->at, "approval.withdrawn",
               json_pack("{s:s,s:i,s:s?,s:O?}", "step", ws->id, "index", e->index, "arm",
                         arm ? arm->name : NULL, "reason", json_object_get(e->error, "message")));
  free(err_txt);
  free(out_txt);
  return rc;
}

/* The instances' "pending" rows wait for the commit (rt_counts.c): most
 * instances of a big for_each settle in the same transaction, and their own
 * row is then the one write. Written at once when that cannot be kept. */
static int write_expand(struct runtime *rt, struct rt_run *run, const struct eng_jent *e)
{
  const struct wf_step *ws = &run->wf->steps[e->step];
  /* an earlier expansion of this step in the same transaction: its rows first */
  int rc = rt_counts_write_rows(rt, run, e->step);
  if (rc)
    return rc;
  rt_counts_expand(run, e->step, e->n);
  if (!rt_counts_defer_rows(run, e->step)) {
    enum { CHUNK = 1000 };
    struct store_step *v = calloc(CHUNK, sizeof *v);
    if (!v)
      return WEFT_ENOMEM;
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
  }
  return audit(rt, run, e->at, "step.expanded",
               json_pack("{s:s,s:i}", "step", ws->id, "instances", (int)e->n));
}

/* skip_row: the attempt's end in the same commit writes the row (with this
 * start's time as started_at, passed to it as start_at) */
static int write_attempt(struct runtime *rt, struct rt_run *run, const struct eng_jent *e,
                         bool skip_row, int64_t start_at)
{
  const struct wf_step *ws = &run->wf->steps[e->step];
  bool start = e->type == ENG_J_ATTEMPT_START;
  if (skip_row)
    return audit_unit(rt, run, e->at, "attempt.started", "attempt", (long long)e->attempts, NULL,
                      e->index, NULL, ws->id);
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
    /* an end keeps the start time the start wrote (none given: NULL) */
    .started_at = start ? (e->started_at ? e->started_at : e->at)
                        : (start_at ? start_at : e->started_at),
    .finished_at = start ? 0 : (e->finished_at ? e->finished_at : e->at),
    .log_path = log,
  };
  int rc = store_attempt_put(rt->store, &a);
  if (!rc)
    rc = audit_unit(rt, run, e->at, start ? "attempt.started" : "attempt.finished", "attempt",
                    a.attempt, start ? NULL : e->error, e->index, start ? NULL : a.status, ws->id);
  free(err_txt);
  free(log);
  return rc;
}

/* pid/pgid learned after the running row was written: only when the pid
 * timer says so (PID_COMMIT_MS after a spawn), so a step that ends sooner
 * costs no extra row write; until then recovery finds its processes by
 * WEFT_RUN_ID (rt_stale.c) */
int rt_rows_write(struct runtime *rt, struct rt_run *run)
{
  int rc = 0;
  for (struct rt_row *r = run->rows; r && !rc; r = r->next)
    if (r->dirty) {
      rc = store_step_put(rt->store, &r->row);
      r->dirty = false;
    }
  return rc;
}

/* ---- instance transitions audited together -------------------------------
 * A for_each step of a million `set` items settles a million instances in
 * one engine call, each to the same status with the same attempt count (and
 * a cancel cancels a million pending ones, each with the same error).
 * Consecutive journal entries of that kind (same run, step, status,
 * attempts, error and time; indexes ascending by one) get ONE audit entry,
 * "step.instances" {"attempts", "error"?, "from", "status", "step", "to"}
 * (indexes from..to inclusive), instead of one "step.status" entry each: the
 * same facts in the same order, a few bytes an instance instead of ~300. A
 * span of one instance is a "step.status" entry as before. The rule is
 * documented in docs/internals/audit.md. */
struct span {
  struct rt_run *run;  /* NULL: none open */
  uint32_t step, attempts;
  int status;
  int64_t at;
  int32_t from, to;
  const json_t *error; /* borrowed from the first entry; NULL: none */
};

static bool span_joins(const struct span *sp, const struct rt_run *run, const struct eng_jent *e)
{
  return sp->run == run && sp->step == e->step && sp->status == (int)e->status &&
         sp->attempts == e->attempts && sp->at == e->at && e->index == sp->to + 1 &&
         (sp->error == e->error || (sp->error && e->error && json_equal(sp->error, e->error)));
}

static int span_flush(struct runtime *rt, struct span *sp)
{
  if (!sp->run)
    return 0;
  struct rt_run *run = sp->run;
  const char *step = run->wf->steps[sp->step].id;
  const char *status = engine_status_name((enum eng_status)sp->status);
  sp->run = NULL;
  if (sp->from == sp->to)
    return audit_unit(rt, run, sp->at, "step.status", "attempts", sp->attempts, sp->error,
                      sp->from, status, step);
  struct cj c = {.n = 0};
  cj_raw(&c, "{", 1);
  cj_int(&c, "attempts", sp->attempts);
  if (sp->error)
    cj_error(&c, sp->error);
  cj_int(&c, "from", sp->from);
  cj_str(&c, "status", status);
  cj_str(&c, "step", step);
  cj_int(&c, "to", sp->to);
  cj_raw(&c, "}", 2);
  if (!c.bad)
    return store_audit_append_canon(rt->store, sp->at, run->id, "step.instances", c.b, NULL);
  json_t *d = json_pack("{s:I,s:i,s:s,s:s,s:i}", "attempts", (json_int_t)sp->attempts, "from",
                        (int)sp->from, "status", status, "step", step, "to", (int)sp->to);
  if (d && sp->error)
    json_object_set(d, "error", (json_t *)sp->error);
  return audit(rt, run, sp->at, "step.instances", d);
}

/* ---- one commit's batches, with superseded row writes left out ----------
 * A short program step starts and ends within one commit more often than
 * not: its running row and its attempt's start row are then rewritten by
 * the end a few entries later. Those row writes are left out (their audit
 * entries are not). A reverse pass finds them with a small hash of row keys. */

/* The hash table holds entry positions only (4 bytes a slot; the keys are
 * read from the entries): a commit of a million instant units needed 64 MB
 * of table with the keys in it. */
static bool row_key(const struct eng_jent *e, uint32_t *attempt)
{
  bool unit = e->type == ENG_J_UNIT;
  if (!unit && e->type != ENG_J_ATTEMPT_START && e->type != ENG_J_ATTEMPT_END)
    return false;
  *attempt = unit ? 0 : e->attempts; /* attempt rows; 0 for step rows */
  return true;
}

static uint64_t rkey_hash(const struct rt_run *run, const struct eng_jent *e, uint32_t attempt)
{
  uint64_t h = (uint64_t)(uintptr_t)run * 0x9e3779b97f4a7c15u;
  h ^= ((uint64_t)e->step << 32 | (uint32_t)e->index) * 0xc2b2ae3d27d4eb4fu;
  h ^= (uint64_t)attempt * 0x165667b19e3779f9u;
  return h ^ (h >> 29);
}

/* Finds the row of entry i among those already in tab; if absent inserts i.
 * Returns the position found, or -1. */
static int rkey_seen(int32_t *tab, size_t cap, const struct eng_jent *const *ent,
                     struct rt_run *const *who, size_t i)
{
  uint32_t att, a2;
  row_key(ent[i], &att);
  for (size_t k = rkey_hash(who[i], ent[i], att) & (cap - 1);; k = (k + 1) & (cap - 1)) {
    int32_t t = tab[k];
    if (t < 0) {
      tab[k] = (int32_t)i;
      return -1;
    }
    const struct eng_jent *o = ent[t];
    if (who[t] == who[i] && o->step == ent[i]->step && o->index == ent[i]->index &&
        row_key(o, &a2) && a2 == att && (o->type == ENG_J_UNIT) == (ent[i]->type == ENG_J_UNIT))
      return t;
  }
}

/* Writes entries ent[0..n) (of runs who[0..n), in order): a row per entry
 * but only the last transition of each row, and the audit entries. */
static int write_entries(struct runtime *rt, const struct eng_jent **ent, struct rt_run **who,
                         size_t n)
{
  size_t cap = 16;
  while (cap < 2 * n)
    cap *= 2;
  bool *skip = calloc(n ? n : 1, sizeof *skip);
  int64_t *start_at = calloc(n ? n : 1, sizeof *start_at);
  int32_t *tab = n <= INT32_MAX ? malloc(cap * sizeof *tab) : NULL;
  int rc = 0;
  if (!skip || !start_at || !tab) {
    rc = WEFT_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < cap; i++)
    tab[i] = -1;
  for (size_t i = n; i-- > 0;) {
    const struct eng_jent *e = ent[i];
    bool unit = e->type == ENG_J_UNIT;
    uint32_t att;
    if (!row_key(e, &att))
      continue;
    int later = rkey_seen(tab, cap, ent, who, i);
    if (later < 0)
      continue;
    if (unit) {
      skip[i] = true;
    } else if (e->type == ENG_J_ATTEMPT_START && ent[later]->type == ENG_J_ATTEMPT_END) {
      skip[i] = true;
      start_at[later] = e->started_at ? e->started_at : e->at;
    }
  }
  struct span sp = {.run = NULL};
  for (size_t k = 0; k < n && !rc; k++) {
    const struct eng_jent *e = ent[k];
    struct rt_run *run = who[k];
    if (e->type == ENG_J_UNIT && e->index >= 0) {
      if (!span_joins(&sp, run, e)) {
        if ((rc = span_flush(rt, &sp)))
          break;
        sp = (struct span){.run = run, .step = e->step, .attempts = e->attempts,
                           .status = (int)e->status, .at = e->at, .from = e->index,
                           .to = e->index, .error = e->error};
      } else {
        sp.to = e->index;
      }
      rc = write_unit(rt, run, e, skip[k], true);
      continue;
    }
    if (e->type != ENG_J_RESERVE && (rc = span_flush(rt, &sp)))
      break;
    switch (e->type) {
    case ENG_J_RUN: rc = write_run(rt, run, e); break;
    case ENG_J_UNIT: rc = write_unit(rt, run, e, skip[k], false); break;
    case ENG_J_EXPAND: rc = write_expand(rt, run, e); break;
    case ENG_J_ATTEMPT_START:
    case ENG_J_ATTEMPT_END: rc = write_attempt(rt, run, e, skip[k], start_at[k]); break;
    case ENG_J_RECORD: /* an executor's record (svc_approval.h) */
      rc = approval_record_write(rt->store, run->id, run->wf->steps[e->step].id, e->index,
                                 e->at, e->outputs);
      break;
    case ENG_J_RESERVE:
      rt_counts_row_written(run, e->step, e->index); /* the reservation writes the row */
      rc = store_step_reserve(rt->store, run->id, run->wf->steps[e->step].id, e->index,
                              (int)e->attempts);
      break;
    }
  }
  if (!rc)
    rc = span_flush(rt, &sp);
out:
  free(skip);
  free(start_at);
  free(tab);
  return rc;
}

int rt_journal_write_batches(struct runtime *rt)
{
  size_t n = 0;
  for (struct rt_batch *b = rt->batches; b; b = b->next)
    if (!b->written)
      n += b->fx.nj - b->fx.nj_written;
  const struct eng_jent **ent = malloc((n ? n : 1) * sizeof *ent);
  struct rt_run **who = malloc((n ? n : 1) * sizeof *who);
  int rc = 0;
  if (!ent || !who) {
    rc = WEFT_ENOMEM;
    goto out;
  }
  size_t k = 0;
  for (struct rt_batch *b = rt->batches; b; b = b->next)
    if (!b->written)
      for (size_t i = b->fx.nj_written; i < b->fx.nj; i++) { /* the rest was spilled */
        ent[k] = &b->fx.j[i];
        who[k++] = b->run;
      }
  rc = write_entries(rt, ent, who, n);
  for (struct rt_batch *b = rt->batches; b && !rc; b = b->next)
    b->written = true;
  for (struct rt_batch *b = rt->batches; b && !rc; b = b->next)
    rc = rt_counts_write(rt, b->run);
out:
  free(ent);
  free(who);
  return rc;
}

/* Instance transitions past this index are not kept for the observers once
 * spilled (the CLI prints lines for the first 1,000 instances of a step). */
#define OBSERVED_INSTANCES 1000

int rt_journal_spill(void *ud, struct eng_effects *fx)
{
  struct rt_run *run = ud;
  struct runtime *rt = run->rt;
  if (rt->store_failed)
    return WEFT_EIO;
  /* earlier batches first: rows and the audit chain keep the order of events */
  int rc = store_in_tx(rt->store) ? 0 : store_begin(rt->store);
  if (!rc)
    rc = rt_journal_write_batches(rt);
  size_t from = fx->nj_written, n = fx->nj - from;
  const struct eng_jent **ent = NULL;
  struct rt_run **who = NULL;
  if (!rc) {
    rt_mask_fx_from(rt, run, from); /* secrets never reach the store */
    ent = malloc((n ? n : 1) * sizeof *ent);
    who = malloc((n ? n : 1) * sizeof *who);
    if (!ent || !who)
      rc = WEFT_ENOMEM;
  }
  if (!rc) {
    for (size_t i = 0; i < n; i++) {
      ent[i] = &fx->j[from + i];
      who[i] = run;
    }
    rc = write_entries(rt, ent, who, n);
  }
  free(ent);
  free(who);
  if (rc) {
    rt_store_failed(rt);
    return rc;
  }
  /* keep what the observers read after the commit, and the last entry (the
   * run then has a batch: its commit and instance counts come as always);
   * drop the rest */
  size_t keep = from;
  for (size_t i = from; i < fx->nj; i++) {
    struct eng_jent *e = &fx->j[i];
    if (e->type != ENG_J_UNIT || e->index < OBSERVED_INSTANCES || i + 1 == fx->nj) {
      fx->j[keep++] = *e;
      continue;
    }
    json_decref(e->error);
    json_decref(e->outputs);
  }
  fx->nj = fx->nj_written = keep;
  return 0;
}
