/* progress.c — live step table / transition lines / -v output (progress.h).
 *
 * Line mode prints one line per committed transition, run id first:
 *   01JD8Q... build running (attempt 1)
 *   01JD8Q... build failed (attempt 3): exited with status 1
 * Table mode redraws at most 10 times a second: one row per step with its
 * status, attempt, duration and instance counts, and an overall progress bar.
 * Instances of large for_each steps are summarised, not listed. */
#include "cli/progress.h"

#include <stdlib.h>
#include <string.h>

#include "util/wtime.h"
#include "util/term.h"

#define INSTANCE_LINES_MAX 1000

struct prun {
  char id[WEFT_ID_LEN + 1];
  const struct wf *wf;
  const struct eng_run *eng;
  int64_t *started, *finished; /* per step, ms (0 unset) */
  int status;                  /* last run status seen */
};

struct progress {
  FILE *out;
  bool live, verbose;
  struct prun *runs;
  size_t n, cap;
  int drawn_lines;
  int64_t last_draw;
};

struct progress *progress_new(FILE *out, bool live, bool verbose)
{
  struct progress *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->out = out;
  p->live = live;
  p->verbose = verbose;
  return p;
}

void progress_free(struct progress *p)
{
  if (!p)
    return;
  for (size_t i = 0; i < p->n; i++) {
    free(p->runs[i].started);
    free(p->runs[i].finished);
  }
  free(p->runs);
  free(p);
}

static struct prun *prun_get(struct progress *p, const char *id, const struct wf *wf,
                             const struct eng_run *eng)
{
  for (size_t i = 0; i < p->n; i++)
    if (!strcmp(p->runs[i].id, id))
      return &p->runs[i];
  if (p->n == p->cap) {
    size_t ncap = p->cap ? p->cap * 2 : 4;
    struct prun *nv = realloc(p->runs, ncap * sizeof *nv);
    if (!nv)
      return NULL;
    p->runs = nv;
    p->cap = ncap;
  }
  struct prun *r = &p->runs[p->n++];
  memset(r, 0, sizeof *r);
  memcpy(r->id, id, WEFT_ID_LEN);
  r->wf = wf;
  r->eng = eng;
  r->started = calloc(wf->n_steps, sizeof *r->started);
  r->finished = calloc(wf->n_steps, sizeof *r->finished);
  return r;
}

static const char *err_message(const json_t *e)
{
  const char *m = json_string_value(json_object_get(e, "message"));
  return term_safe(m ? m : json_string_value(json_object_get(e, "kind")));
}

static void on_journal(void *ud, const char *run_id, const struct wf *wf,
                       const struct eng_run *eng, const struct eng_jent *e)
{
  struct progress *p = ud;
  struct prun *r = prun_get(p, run_id, wf, eng);
  if (!r)
    return;
  if (e->type == ENG_J_UNIT && e->index < 0 && r->started && r->finished) {
    if (e->started_at)
      r->started[e->step] = e->started_at;
    if (engine_status_terminal((enum eng_status)e->status))
      r->finished[e->step] = e->finished_at ? e->finished_at : e->at;
    else if (e->status == ENG_PENDING || e->status == ENG_RUNNING)
      r->finished[e->step] = 0;
  }
  if (e->type == ENG_J_RUN)
    r->status = e->status;
  if (p->live)
    return;
  FILE *o = p->out;
  if (e->type == ENG_J_RUN) {
    fprintf(o, "%s run %s", run_id, engine_run_status_name((enum eng_run_status)e->status));
    if (e->error && err_message(e->error))
      fprintf(o, ": %s", err_message(e->error));
    fputc('\n', o);
  } else if (e->type == ENG_J_UNIT) {
    if (e->index >= INSTANCE_LINES_MAX)
      return;
    const char *st = engine_status_name((enum eng_status)e->status);
    const struct wf_arm *arm = wf_step_arm(&wf->steps[e->step], e->index);
    if (arm) /* a first_of arm: by its name */
      fprintf(o, "%s %s.%s %s", run_id, wf->steps[e->step].id, arm->name, st);
    else if (e->index >= 0)
      fprintf(o, "%s %s[%d] %s", run_id, wf->steps[e->step].id, e->index, st);
    else
      fprintf(o, "%s %s %s", run_id, wf->steps[e->step].id, st);
    if (e->attempts > 0 && e->status != ENG_SKIPPED)
      fprintf(o, " (attempt %u)", e->attempts);
    if (e->error && err_message(e->error) &&
        (e->status == ENG_FAILED || e->status == ENG_RETRYING || e->status == ENG_CANCELLED))
      fprintf(o, ": %s", err_message(e->error));
    fputc('\n', o);
    if (e->status == ENG_WAITING && arm && arm->kind == WF_APPROVAL)
      fprintf(o, "%s %s.%s waits for a decision: weft approvals; weft approve %s %s.%s\n", run_id,
              wf->steps[e->step].id, arm->name, run_id, wf->steps[e->step].id, arm->name);
    if (e->status == ENG_WAITING && wf->steps[e->step].kind == WF_APPROVAL) {
      if (e->index >= 0)
        fprintf(o, "%s %s[%d] waits for a decision: weft approvals; weft approve %s %s:%d\n",
                run_id, wf->steps[e->step].id, e->index, run_id, wf->steps[e->step].id,
                e->index);
      else
        fprintf(o, "%s %s waits for a decision: weft approvals; weft approve %s %s\n", run_id,
                wf->steps[e->step].id, run_id, wf->steps[e->step].id);
    }
  } else if (e->type == ENG_J_EXPAND && wf->steps[e->step].kind == WF_FIRST_OF) {
    fprintf(o, "%s %s waits for the first of %u arms\n", run_id, wf->steps[e->step].id, e->n);
  } else if (e->type == ENG_J_EXPAND) {
    fprintf(o, "%s %s expanded to %u instances\n", run_id, wf->steps[e->step].id, e->n);
  }
  /* flushed once per tick (on_tick), not per line */
}

static void on_output(void *ud, const char *run_id, const char *label, const char *data,
                      size_t len)
{
  struct progress *p = ud;
  (void)run_id;
  fprintf(p->out, "[%s] %.*s\n", label, (int)len, data);
  fflush(p->out);
}

static const char *symbol(enum eng_status s)
{
  switch (s) {
  case ENG_PENDING: return "·";
  case ENG_RUNNING: return "▶";
  case ENG_WAITING: return "⏸";
  case ENG_RETRYING: return "↻";
  case ENG_SUCCEEDED: return "✓";
  case ENG_FAILED: return "✗";
  case ENG_SKIPPED: return "-";
  case ENG_CANCELLED: return "⊘";
  default: return "?";
  }
}

static void draw(struct progress *p, bool final)
{
  int64_t now = wt_now_ms();
  if (!final && now - p->last_draw < 100)
    return;
  p->last_draw = now;
  FILE *o = p->out;
  if (p->drawn_lines)
    fprintf(o, "\033[%dA\033[J", p->drawn_lines);
  int lines = 0;
  for (size_t i = 0; i < p->n; i++) {
    struct prun *r = &p->runs[i];
    unsigned done = 0, total = r->wf->n_steps;
    fprintf(o, "run %s  %s\n", r->id, r->wf->name);
    lines++;
    for (uint32_t k = 0; k < r->wf->n_steps; k++) {
      enum eng_status s = engine_unit_status(r->eng, k, -1);
      if (engine_status_terminal(s))
        done++;
      char dur[32] = "";
      if (r->started[k])
        wt_fmt_duration((r->finished[k] ? r->finished[k] : now) - r->started[k], dur);
      uint32_t n_inst = engine_instance_count(r->eng, k);
      char extra[64] = "";
      if (n_inst) {
        uint32_t fin = 0;
        for (uint32_t x = 0; x < n_inst && x < 100000; x++)
          fin += engine_status_terminal(engine_unit_status(r->eng, k, (int32_t)x));
        snprintf(extra, sizeof extra, "  %u/%u items", fin, n_inst);
      }
      unsigned att = engine_unit_attempts(r->eng, k, -1);
      char attbuf[24] = "";
      if (att > 1)
        snprintf(attbuf, sizeof attbuf, "attempt %u", att);
      fprintf(o, "  %s %-24s %-10s %-10s %8s%s\n", symbol(s), r->wf->steps[k].id,
              engine_status_name(s), attbuf, dur, extra);
      lines++;
    }
    int width = 30, fill = total ? (int)(done * (unsigned)width / total) : width;
    fprintf(o, "  [");
    for (int c = 0; c < width; c++)
      fputs(c < fill ? "#" : " ", o);
    fprintf(o, "] %u/%u steps\n", done, total);
    lines++;
  }
  p->drawn_lines = lines;
  fflush(o);
}

static void on_tick(void *ud)
{
  struct progress *p = ud;
  if (p->live)
    draw(p, false);
  else
    fflush(p->out);
}

void progress_observer(struct progress *p, struct rt_observer *obs)
{
  obs->on_journal = on_journal;
  obs->on_output = on_output;
  obs->on_tick = on_tick;
  obs->ud = p;
}

void progress_finish(struct progress *p)
{
  if (p->live && p->n)
    draw(p, true);
}
