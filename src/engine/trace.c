/* trace.c — one line of text per journal entry or effect.
 *
 * The format of tests/traces/<case>/expected.txt (the driver prefixes the
 * time as `t=MS`) and of progress lines:
 *   run running | run failed error=timeout("...") outputs={...}
 *   step build running attempt=2
 *   step fan#3 retrying attempt=1 due=3000 error=exit_code("exited with status 1") exit=1
 *   step fan expanded n=4
 *   start build attempt=2 argv=["sh","-e","-c","make"] env={"X":"1"}
 *   kill build attempt=2 reason=timeout
 * Attempt start/end entries, timers and `run finished` print nothing: the
 * status lines carry the same facts. JSON is compact with sorted keys. */
#include "engine/priv.h"
#include "util/jsonfmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct line {
  char *p;
  size_t n, len;
};

static void add(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct line *l, const char *fmt, ...)
{
  if (l->len + 1 >= l->n)
    return;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(l->p + l->len, l->n - l->len, fmt, ap);
  va_end(ap);
  if (k > 0)
    l->len += (size_t)k < l->n - l->len ? (size_t)k : l->n - l->len - 1;
}

static void add_json(struct line *l, const char *key, const json_t *v)
{
  char *t = wjson_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  if (t)
    add(l, " %s=%s", key, t);
  free(t);
}

static void add_unit(struct line *l, const struct eng_run *r, uint32_t step, int32_t index)
{
  add(l, "%s", step < r->n_steps ? r->wf->steps[step].id : "?");
  if (index >= 0)
    add(l, "#%d", index);
}

static void add_error(struct line *l, const json_t *err)
{
  if (!err)
    return;
  const char *k = json_string_value(json_object_get(err, "kind"));
  json_t *m = json_object_get(err, "message");
  char *t = m ? wjson_dumps(m, JSON_ENCODE_ANY) : NULL;
  add(l, " error=%s(%s)", k ? k : "?", t ? t : "");
  free(t);
}

int engine_trace_jent(const struct eng_run *r, const struct eng_jent *e, char *out, size_t n)
{
  struct line l = {out, n, 0};
  if (n)
    out[0] = '\0';
  switch (e->type) {
  case ENG_J_RUN:
    add(&l, "run %s", engine_run_status_name((enum eng_run_status)e->status));
    add_error(&l, e->error);
    if (e->outputs)
      add_json(&l, "outputs", e->outputs);
    break;
  case ENG_J_EXPAND:
    add(&l, "step ");
    add_unit(&l, r, e->step, -1);
    add(&l, " expanded n=%u", e->n);
    break;
  case ENG_J_RESERVE:
    add(&l, "reserve ");
    add_unit(&l, r, e->step, e->index);
    add(&l, " attempt=%u", e->attempts);
    break;
  case ENG_J_UNIT:
    add(&l, "step ");
    add_unit(&l, r, e->step, e->index);
    add(&l, " %s", engine_status_name((enum eng_status)e->status));
    if (e->attempts)
      add(&l, " attempt=%u", e->attempts);
    if (e->iteration)
      add(&l, " iteration=%u", e->iteration);
    if (e->due_at)
      add(&l, " due=%lld", (long long)e->due_at);
    if (e->exit_code != ENG_NO_EXIT)
      add(&l, " exit=%d", e->exit_code);
    if (e->status == ENG_FAILED || e->status == ENG_RETRYING || e->status == ENG_CANCELLED)
      add_error(&l, e->error);
    if (e->status == ENG_SUCCEEDED || e->status == ENG_WAITING) {
      if (e->outputs)
        add_json(&l, "outputs", e->outputs);
      else if (e->outputs_text)
        add(&l, " outputs=%s", e->outputs_text);
    }
    break;
  default: return 0;
  }
  return l.len > 0;
}

static const char *reason_name(enum eng_kill_reason k)
{
  switch (k) {
  case ENG_KILL_TIMEOUT: return "timeout";
  case ENG_KILL_STOP: return "stop";
  case ENG_KILL_STALE: return "stale";
  default: return "none";
  }
}

int engine_trace_fx(const struct eng_run *r, const struct eng_effect *e, char *out, size_t n)
{
  struct line l = {out, n, 0};
  if (n)
    out[0] = '\0';
  switch (e->type) {
  case ENG_FX_START:
    add(&l, "%s ", e->resumed ? "resume" : "start");
    add_unit(&l, r, e->step, e->index);
    add(&l, " attempt=%u", e->attempt);
    if (e->early)
      add(&l, " early");
    if (e->argv)
      add_json(&l, "argv", e->argv);
    if (e->env && json_object_size(e->env))
      add_json(&l, "env", e->env);
    if (e->cwd)
      add_json(&l, "cwd", e->cwd);
    if (e->body)
      add_json(&l, "body", e->body);
    if (e->item && e->index >= 0 && !json_is_integer(e->item))
      add_json(&l, "item", e->item);
    break;
  case ENG_FX_KILL:
    add(&l, "kill ");
    add_unit(&l, r, e->step, e->index);
    add(&l, " attempt=%u reason=%s", e->attempt, reason_name(e->reason));
    break;
  default: return 0;
  }
  return l.len > 0;
}
