/* runview.c — the stored view of a run (see runview.h). */
#include "cli/runview.h"
#include "cli/cli.h"
#include "cli/cmds.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/wtime.h"
#include "util/term.h"

int rv_open_store(const char *home, struct store **out)
{
  char *err = NULL;
  int rc = store_open(home, out, &err);
  if (rc) {
    cli_err("cannot open the weft home %s: %s", home, err ? err : weft_strerror(rc));
    free(err);
    return EXIT_USAGE;
  }
  return 0;
}

int rv_find_run(struct store *s, const char *id, struct store_run *out)
{
  int rc = store_run_get(s, id, out);
  if (rc == WEFT_ENOTFOUND) {
    cli_err("no run matches \"%s\"; `weft runs` lists them", id);
    return EXIT_NOT_FOUND;
  }
  if (rc == WEFT_EAMBIGUOUS) {
    cli_err("\"%s\" matches several runs; give more characters of the id", id);
    return EXIT_USAGE;
  }
  if (rc) {
    cli_err("cannot read run %s: %s", id, store_errmsg(s));
    return EXIT_USAGE;
  }
  return 0;
}

struct wf *rv_load_definition(struct store *s, const struct store_run *r)
{
  struct store_workflow w = {0};
  struct wf *wf = NULL;
  if (store_workflow_get(s, r->workflow_hash, &w) == 0) {
    struct diag_list d = {0};
    wf_load_string(r->path ? r->path : "workflow.yaml", w.source, strlen(w.source), &wf, &d);
    diag_list_free(&d);
  }
  store_workflow_clear(&w);
  return wf;
}

static json_t *time_or_null(int64_t ms)
{
  if (!ms)
    return json_null();
  char t[32];
  wt_fmt_rfc3339(ms, t);
  return json_string(t);
}

static json_t *parse_or(const char *txt, json_t *dflt)
{
  json_t *v = txt ? json_loads(txt, JSON_DECODE_ANY, NULL) : NULL;
  if (v) {
    json_decref(dflt);
    return v;
  }
  return dflt;
}

static json_t *unit_json(const struct store_step *st)
{
  json_t *o = json_object();
  json_object_set_new(o, "status", json_string(st ? st->status : "pending"));
  json_object_set_new(o, "attempts", json_integer(st ? st->attempts : 0));
  json_object_set_new(o, "exit_code",
                      st && st->has_exit_code ? json_integer(st->exit_code) : json_null());
  json_object_set_new(o, "error", parse_or(st ? st->error : NULL, json_null()));
  json_object_set_new(o, "started_at", time_or_null(st ? st->started_at : 0));
  json_object_set_new(o, "finished_at", time_or_null(st ? st->finished_at : 0));
  json_object_set_new(o, "outputs", parse_or(st ? st->outputs : NULL, json_object()));
  return o;
}

json_t *rv_status_json(struct store *s, const struct store_run *r)
{
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(r->id));
  json_object_set_new(o, "workflow", json_string(r->workflow));
  json_object_set_new(o, "status", json_string(r->status));
  json_object_set_new(o, "trigger", r->trigger ? json_string(r->trigger) : json_null());
  json_object_set_new(o, "parent", r->parent_id ? json_string(r->parent_id) : json_null());
  if (r->parent_id)
    json_object_set_new(o, "parent_step", json_string(r->parent_step ? r->parent_step : ""));
  /* sub-workflow runs started by this run's workflow steps (the link back) */
  struct store_run *kids = NULL;
  size_t nk = 0;
  if (store_run_children(s, r->id, &kids, &nk) == 0 && nk) {
    json_t *a = json_array();
    for (size_t i = nk; i-- > 0;) /* oldest first */
      json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s}", "id", kids[i].id, "workflow",
                                         kids[i].workflow, "status", kids[i].status, "step",
                                         kids[i].parent_step ? kids[i].parent_step : ""));
    json_object_set_new(o, "children", a);
  }
  store_runs_free(kids, nk);
  json_object_set_new(o, "started_at", time_or_null(r->started_at ? r->started_at : r->created_at));
  json_object_set_new(o, "finished_at", time_or_null(r->finished_at));
  json_object_set_new(o, "inputs", parse_or(r->inputs, json_object()));
  json_object_set_new(o, "outputs", parse_or(r->outputs, json_object()));
  if (r->error)
    json_object_set_new(o, "error", parse_or(r->error, json_null()));
  json_object_set_new(o, "started_by", r->started_by ? json_string(r->started_by) : json_null());
  json_object_set_new(o, "definition", json_string(r->workflow_hash));

  json_t *steps = json_object();
  struct store_step *rows = NULL;
  size_t n = 0;
  store_step_list(s, r->id, NULL, &rows, &n);
  struct wf *wf = rv_load_definition(s, r);
  /* rows come ordered by (step, index): index each step's contiguous range */
  json_t *range = json_object();
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && !strcmp(rows[j].step, rows[i].step))
      j++;
    json_object_set_new(range, rows[i].step, json_pack("[I,I]", (json_int_t)i, (json_int_t)j));
    i = j;
  }
  /* definition order when the definition loads, else the stored order */
  size_t n_ids = wf ? wf->n_steps : n;
  for (size_t k = 0; k < n_ids; k++) {
    const char *id = wf ? wf->steps[k].id : rows[k].step;
    if (json_object_get(steps, id))
      continue;
    json_t *rg = json_object_get(range, id);
    size_t lo = rg ? (size_t)json_integer_value(json_array_get(rg, 0)) : 0;
    size_t hi = rg ? (size_t)json_integer_value(json_array_get(rg, 1)) : 0;
    const struct store_step *plain = NULL;
    size_t n_inst = 0;
    for (size_t i = lo; i < hi; i++) {
      if (rows[i].index < 0)
        plain = &rows[i];
      else if ((size_t)rows[i].index + 1 > n_inst)
        n_inst = (size_t)rows[i].index + 1;
    }
    json_t *u = unit_json(plain);
    bool fe = wf ? wf->steps[k].for_each != NULL : n_inst > 0;
    if (fe && (n_inst > 0 || (plain && strcmp(plain->status, "pending")))) {
      json_t *inst = json_array();
      for (size_t i = 0; i < n_inst; i++)
        json_array_append_new(inst, json_null());
      json_t *outs = json_array();
      for (size_t i = lo; i < hi; i++)
        if (rows[i].index >= 0)
          json_array_set_new(inst, (size_t)rows[i].index, unit_json(&rows[i]));
      for (size_t i = 0; i < n_inst; i++) {
        json_t *x = json_array_get(inst, i);
        if (json_is_null(x)) {
          json_array_set_new(inst, i, unit_json(NULL));
          x = json_array_get(inst, i);
        }
        json_array_append(outs, json_object_get(x, "outputs"));
      }
      json_object_set_new(u, "instances", inst);
      if (!plain || !plain->outputs || !json_is_array(json_object_get(u, "outputs")))
        json_object_set_new(u, "outputs", outs);
      else
        json_decref(outs);
    } else {
      json_object_set_new(u, "instances", json_null());
    }
    if (wf && wf->steps[k].description)
      json_object_set_new(u, "description", json_string(wf->steps[k].description));
    if (wf && wf->steps[k].is_finally)
      json_object_set_new(u, "finally", json_true());
    json_object_set_new(steps, id, u);
  }
  json_decref(range);
  json_object_set_new(o, "steps", steps);
  store_steps_free(rows, n);
  wf_free(wf);
  return o;
}

void rv_print_tail(FILE *out, const char *path, int n, const char *prefix)
{
  FILE *f = fopen(path, "r");
  if (!f) {
    /* the executor creates a log only when the step prints something */
    fprintf(out, "%s(no output)\n", prefix);
    return;
  }
  /* read the last 64 KiB at most, then print its last n lines */
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  long from = size > 65536 ? size - 65536 : 0;
  fseek(f, from, SEEK_SET);
  char *buf = malloc((size_t)(size - from) + 1);
  size_t got = buf ? fread(buf, 1, (size_t)(size - from), f) : 0;
  fclose(f);
  if (!buf)
    return;
  buf[got] = '\0';
  size_t end = got;
  if (end && buf[end - 1] == '\n')
    end--;
  size_t start = end;
  int lines = 0;
  while (start > 0) {
    if (buf[start - 1] == '\n' && ++lines == n)
      break;
    start--;
  }
  char *p = buf + start;
  buf[end] = '\0';
  while (p && *p) {
    char *nl = strchr(p, '\n');
    if (nl)
      *nl = '\0';
    fprintf(out, "%s%s\n", prefix, term_safe(p));
    p = nl ? nl + 1 : NULL;
  }
  if (end == 0 && got == 0)
    fprintf(out, "%s(no output)\n", prefix);
  free(buf);
}

int rv_exit_code(const char *status)
{
  if (!strcmp(status, "succeeded"))
    return EXIT_OK;
  if (!strcmp(status, "cancelled"))
    return EXIT_CANCELLED;
  return EXIT_RUN_FAILED;
}
