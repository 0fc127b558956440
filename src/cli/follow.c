/* follow.c — a run a server executes, followed to its end (follow.h). What
 * is printed at the end mirrors cmd_run.c's summary line for line, from the
 * API's status object and logs instead of the store. */
#include "cli/follow.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/runview.h"
#include "util/jsonfmt.h"
#include "util/term.h"
#include "util/wtime.h"

#define FAILED_TAIL_LINES 20 /* as cmd_run.c */
#define FAILURES_SHOWN 5
#define INSTANCE_LINES_MAX 1000 /* as cli/progress.c: instances past it get no line */

static const char *str(const json_t *o, const char *k, const char *d)
{
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : d;
}

/* one failed step or instance (st), as cmd_run.c's print_failure */
static void failure(struct runsrc *x, const char *run, const char *step, const json_t *st, FILE *o)
{
  json_int_t index = json_is_integer(json_object_get(st, "index")) ? json_integer_value(json_object_get(st, "index")) : -1;
  char label[160];
  if (index >= 0)
    snprintf(label, sizeof label, "%s[%lld]", step, (long long)index);
  else
    snprintf(label, sizeof label, "%s", step);
  int att = (int)json_integer_value(json_object_get(st, "attempts"));
  const json_t *e = json_object_get(st, "error");
  fprintf(o, "\nstep %s failed after %d attempt%s: %s\n", label, att, att == 1 ? "" : "s",
          json_is_string(json_object_get(e, "message")) ? term_safe(str(e, "message", "")) : "failed");
  char *er = remote_escape(run), *es = remote_escape(step), *path = NULL, *body = NULL;
  size_t len = 0;
  char q[64];
  if (index >= 0)
    snprintf(q, sizeof q, "?index=%lld&attempt=%d", (long long)index, att);
  else
    snprintf(q, sizeof q, "?attempt=%d", att);
  x->r.quiet = true;
  if (er && es && asprintf(&path, "/api/v1/runs/%s/logs/%s%s", er, es, q) >= 0 &&
      remote_call(&x->r, "GET", path, NULL, NULL, 0, NULL, &body, &len) == 0) {
    char prefix[200];
    snprintf(prefix, sizeof prefix, "  [%s] ", label);
    fprintf(o, "last %d lines of its log (weft logs %.8s %s):\n", FAILED_TAIL_LINES, run, label);
    char *b = realloc(body, len + 1);
    if (b) {
      body = b;
      rv_print_tail_buf(o, body, len, FAILED_TAIL_LINES, prefix);
    }
  }
  x->r.quiet = false;
  free(er);
  free(es);
  free(path);
  free(body);
}

/* the first FAILURES_SHOWN failed steps or instances of run j */
static void failures(struct runsrc *x, const json_t *j, FILE *o)
{
  const char *run = str(j, "id", "");
  int shown = 0;
  const char *k;
  json_t *st;
  json_object_foreach(json_object_get(j, "steps"), k, st) {
    if (shown >= FAILURES_SHOWN || strcmp(str(st, "status", ""), "failed"))
      continue;
    const json_t *inst = json_object_get(st, "instances");
    if (!json_is_array(inst)) {
      if (json_integer_value(json_object_get(st, "attempts")) >= 1) {
        failure(x, run, k, st, o);
        shown++;
      }
      continue;
    }
    int before = shown;
    size_t i;
    json_t *v;
    json_array_foreach(inst, i, v) {
      if (shown >= FAILURES_SHOWN)
        break;
      if (!strcmp(str(v, "status", ""), "failed") && json_integer_value(json_object_get(v, "attempts")) >= 1) {
        failure(x, run, k, v, o);
        shown++;
      }
    }
    if (shown == before && json_integer_value(json_object_get(st, "attempts")) >= 1) {
      failure(x, run, k, st, o); /* failed before any instance */
      shown++;
    }
  }
}

/* failed sub-workflow runs, as cmd_run.c's print_child_failures lists them
 * (the store's children from the last: the order of "children") */
static void child_failures(struct runsrc *x, const json_t *j, FILE *o, int depth)
{
  const json_t *kids = json_object_get(j, "children");
  if (depth > 16 || !json_is_array(kids))
    return;
  for (size_t i = 0; i < json_array_size(kids); i++) {
    const json_t *kid = json_array_get(kids, i);
    if (strcmp(str(kid, "status", ""), "failed"))
      continue;
    fprintf(o, "\nsub-workflow run %s (%s, step %s) failed:", str(kid, "id", "?"), str(kid, "workflow", "?"),
            str(kid, "step", "?"));
    json_t *cj = NULL;
    if (runsrc_get(x, str(kid, "id", ""), false, true, &cj) == 0) {
      failures(x, cj, o);
      child_failures(x, cj, o, depth + 1);
    }
    json_decref(cj);
  }
}

/* step id -> kind, from GET /runs/{id}/graph (NULL when it cannot be read) */
static json_t *step_kinds(struct runsrc *x, const char *run)
{
  char *er = remote_escape(run), *path = NULL;
  json_t *g = NULL, *kinds = NULL;
  x->r.quiet = true;
  if (er && asprintf(&path, "/api/v1/runs/%s/graph", er) >= 0 && remote_json(&x->r, "GET", path, NULL, &g, NULL) == 0) {
    kinds = json_object();
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(g, "nodes"), i, n)
      if (json_is_string(json_object_get(n, "id")) && json_is_string(json_object_get(n, "kind")))
        json_object_set(kinds, json_string_value(json_object_get(n, "id")), json_object_get(n, "kind"));
  }
  x->r.quiet = false;
  json_decref(g);
  free(er);
  free(path);
  return kinds;
}

static const char *err_message(const json_t *e)
{
  const char *m = json_string_value(json_object_get(e, "message"));
  return term_safe(m ? m : json_string_value(json_object_get(e, "kind")));
}

/* One audit entry of the run as the line cli/progress.c prints for the same
 * transition (line mode); *ended when it is the run's terminal status. */
static void transition(const char *run, const json_t *en, const json_t *kinds, FILE *o, bool *ended)
{
  const char *kind = str(en, "kind", "");
  const json_t *d = json_object_get(en, "data");
  const json_t *err = json_object_get(d, "error");
  if (!strcmp(kind, "run.status")) {
    fprintf(o, "%s run %s", run, str(d, "status", "?"));
    if (json_is_object(err) && err_message(err))
      fprintf(o, ": %s", err_message(err));
    fputc('\n', o);
    *ended = ops_status_terminal(str(d, "status", ""));
  } else if (!strcmp(kind, "step.status")) {
    const char *step = term_safe(str(d, "step", "?")), *st = str(d, "status", "?");
    json_int_t index = json_is_integer(json_object_get(d, "index")) ? json_integer_value(json_object_get(d, "index")) : -1;
    json_int_t attempts = json_integer_value(json_object_get(d, "attempts"));
    if (index >= INSTANCE_LINES_MAX)
      return;
    char label[160];
    if (index >= 0)
      snprintf(label, sizeof label, "%s[%lld]", step, (long long)index);
    else
      snprintf(label, sizeof label, "%s", step);
    fprintf(o, "%s %s %s", run, label, st);
    if (attempts > 0 && strcmp(st, "skipped"))
      fprintf(o, " (attempt %lld)", (long long)attempts);
    if (json_is_object(err) && err_message(err) &&
        (!strcmp(st, "failed") || !strcmp(st, "retrying") || !strcmp(st, "cancelled")))
      fprintf(o, ": %s", err_message(err));
    fputc('\n', o);
    if (!strcmp(st, "waiting") && !strcmp(str(kinds, str(d, "step", ""), ""), "approval"))
    {
      char at[32] = "";
      if (index >= 0)
        snprintf(at, sizeof at, ":%lld", (long long)index);
      fprintf(o, "%s %s waits for a decision: weft approvals; weft approve %s %s%s\n", run, label, run, step, at);
    }
  } else if (!strcmp(kind, "step.expanded")) {
    fprintf(o, "%s %s expanded to %lld instances\n", run, term_safe(str(d, "step", "?")),
            (long long)json_integer_value(json_object_get(d, "instances")));
  }
}

/* The audit entries of run (GET /audit?run=ID) after seq, appended to all. */
static int entries_after(struct runsrc *x, const char *run, json_int_t seq, json_t *all)
{
  char *er = remote_escape(run), *path = NULL, *body = NULL;
  int code = EXIT_USAGE;
  if (er && asprintf(&path, "/api/v1/audit?run=%s", er) >= 0)
    code = remote_call(&x->r, "GET", path, NULL, NULL, 0, NULL, &body, NULL);
  else
    cli_err("out of memory");
  free(er);
  free(path);
  for (char *line = body, *next; code == 0 && line && *line; line = next) {
    next = strchr(line, '\n');
    if (next)
      *next++ = '\0';
    json_t *en = json_loads(line, 0, NULL);
    if (json_integer_value(json_object_get(en, "seq")) > seq)
      json_array_append(all, en);
    json_decref(en);
  }
  free(body);
  return code;
}

int follow_seq(struct runsrc *x, const char *run, json_int_t *seq)
{
  json_t *all = json_array();
  int code = entries_after(x, run, 0, all);
  *seq = 0;
  size_t i;
  json_t *en;
  json_array_foreach(all, i, en) {
    json_int_t n = json_integer_value(json_object_get(en, "seq"));
    if (n > *seq)
      *seq = n;
  }
  json_decref(all);
  return code;
}

#define FAMILY_MAX 64 /* runs followed: the run and its sub-workflow runs */

/* The run and its sub-workflow runs (found through each one's "children"),
 * each with its steps' kinds. */
struct family {
  char *id[FAMILY_MAX];
  json_t *kinds[FAMILY_MAX];
  size_t n;
};

static void family_add(struct runsrc *x, struct family *f, const char *id)
{
  for (size_t i = 0; i < f->n; i++)
    if (!strcmp(f->id[i], id))
      return;
  if (f->n == FAMILY_MAX || !(f->id[f->n] = strdup(id)))
    return;
  f->kinds[f->n++] = step_kinds(x, id);
}

static int by_seq(const void *a, const void *b)
{
  json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "seq"));
  json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "seq"));
  return x < y ? -1 : x > y;
}

/* One look: finds new sub-workflow runs, reads every run's entries after
 * *printed and prints, in commit order, those up to horizon (one look
 * behind: a child created meanwhile is known by the next look, before its
 * entries are printed); *seen = the newest entry read; *ended once the
 * followed run's terminal status is among them. */
static int look(struct runsrc *x, struct family *f, json_int_t *printed, json_int_t horizon, json_int_t *seen,
                FILE *o, bool *ended)
{
  int code = 0;
  for (size_t i = 0; i < f->n; i++) { /* f->n grows as children are found */
    json_t *j = NULL;
    x->r.quiet = true;
    int rc = runsrc_get(x, f->id[i], false, true, &j);
    x->r.quiet = false;
    size_t k;
    json_t *kid;
    if (rc == 0)
      json_array_foreach(json_object_get(j, "children"), k, kid)
        if (json_is_string(json_object_get(kid, "id")))
          family_add(x, f, json_string_value(json_object_get(kid, "id")));
    json_decref(j);
  }
  json_t *all = json_array();
  for (size_t i = 0; i < f->n && code == 0; i++)
    code = entries_after(x, f->id[i], *printed, all);
  size_t n = json_array_size(all);
  json_t **v = calloc(n ? n : 1, sizeof *v);
  for (size_t i = 0; v && i < n; i++)
    v[i] = json_array_get(all, i);
  if (v && n)
    qsort(v, n, sizeof *v, by_seq);
  for (size_t i = 0; v && code == 0 && i < n; i++) {
    json_int_t s = json_integer_value(json_object_get(v[i], "seq"));
    if (s > *seen)
      *seen = s;
    const char *run = str(v[i], "run", "");
    if (!strcmp(run, f->id[0]) && !strcmp(str(v[i], "kind", ""), "run.status") &&
        ops_status_terminal(str(json_object_get(v[i], "data"), "status", "")))
      *ended = true;
    if (s > horizon)
      continue;
    const json_t *kinds = NULL;
    for (size_t r = 0; r < f->n; r++)
      if (!strcmp(f->id[r], run))
        kinds = f->kinds[r];
    bool end_unused = false;
    transition(run, v[i], kinds, o, &end_unused);
    *printed = s;
  }
  fflush(o);
  free(v);
  json_decref(all);
  return code;
}

int follow_run(struct runsrc *x, const char *id, bool json, json_int_t after)
{
  FILE *o = json ? stderr : stdout;
  struct family f = {0};
  family_add(x, &f, id);
  json_int_t printed = after, seen = after;
  bool ended = false;
  int code = 0;
  while (code == 0 && !ended) {
    json_int_t horizon = seen;
    code = look(x, &f, &printed, horizon, &seen, o, &ended);
    if (code == 0 && !ended) {
      struct timespec ts = {0, 500 * 1000000L};
      nanosleep(&ts, NULL);
    }
  }
  if (code == 0) /* the end: every run of the family has its last entries by now */
    code = look(x, &f, &printed, INT64_MAX, &seen, o, &ended);
  for (size_t i = 0; i < f.n; i++) {
    free(f.id[i]);
    json_decref(f.kinds[i]);
  }
  if (code)
    return code;
  json_t *j = NULL;
  if ((code = runsrc_get(x, id, false, false, &j)) != 0)
    return code;
  const char *status = str(j, "status", "failed");
  if (!strcmp(status, "failed")) {
    failures(x, j, o);
    child_failures(x, j, o, 0);
  }
  int64_t a = 0, b = 0;
  char dur[32] = "?";
  if (!wt_parse_rfc3339(str(j, "started_at", ""), &a) && !wt_parse_rfc3339(str(j, "finished_at", ""), &b))
    wt_fmt_duration(b - a, dur);
  fprintf(o, "run %s %s in %s\n", str(j, "id", id), status, dur);
  if (json) {
    char *txt = wjson_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", txt ? txt : "null");
    free(txt);
  }
  fflush(stdout);
  code = rv_exit_code(status);
  json_decref(j);
  return code;
}
