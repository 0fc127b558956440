/* runsrc.c — reading runs locally or from a server (runsrc.h). */
#include "cli/runsrc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/runview.h"

#define API_PAGE_MAX 500 /* GET /runs answers at most this many a page */

int runsrc_open(struct cli *c, struct runsrc *x)
{
  memset(x, 0, sizeof *x);
  if (remote_wanted(c)) {
    x->remote = true;
    return remote_open(c, NULL, &x->r);
  }
  int code = rv_open_store(c->home, &x->s);
  if (code)
    return code;
  cli_ops_reader(c, x->s, &x->ctx);
  return 0;
}

void runsrc_close(struct runsrc *x)
{
  if (x->remote)
    remote_close(&x->r);
  else
    store_close(x->s);
  memset(x, 0, sizeof *x);
}

int runsrc_get(struct runsrc *x, const char *id, bool all, bool quiet, json_t **out)
{
  *out = NULL;
  if (!x->remote) {
    struct ops_error e = {0};
    if (ops_get_run(&x->ctx, id, all, out, &e) != 0)
      return quiet ? ops_err_exit(e.kind) : cli_ops_fail(&e);
    return 0;
  }
  char *eid = remote_escape(id), *path = NULL;
  if (!eid || asprintf(&path, "/api/v1/runs/%s%s", eid, all ? "?all_instances=1" : "") < 0) {
    free(eid);
    cli_err("out of memory");
    return EXIT_USAGE;
  }
  free(eid);
  x->r.quiet = quiet; /* a watch that lost the server stops quietly, as a local one that lost the run */
  int code = remote_json(&x->r, "GET", path, NULL, out, NULL);
  x->r.quiet = false;
  free(path);
  return code;
}

int runsrc_list(struct runsrc *x, const struct store_run_filter *f, json_t **out)
{
  *out = NULL;
  if (!x->remote) {
    struct ops_error e = {0};
    if (ops_list_runs(&x->ctx, f, out, &e) != 0)
      return cli_ops_fail(&e);
    return 0;
  }
  json_t *all = json_array();
  char *cursor = NULL;
  int code = 0;
  for (;;) {
    size_t want = API_PAGE_MAX;
    if (f->limit) {
      size_t left = f->limit - json_array_size(all);
      want = left < want ? left : want;
    }
    char *st = f->status ? remote_escape(f->status) : NULL;
    char *wf = f->workflow ? remote_escape(f->workflow) : NULL;
    char *cur = cursor ? remote_escape(cursor) : NULL;
    char *path = NULL;
    if (asprintf(&path, "/api/v1/runs?limit=%zu%s%s%s%s%s%s", want, st ? "&status=" : "", st ? st : "",
                 wf ? "&workflow=" : "", wf ? wf : "", cur ? "&cursor=" : "", cur ? cur : "") < 0)
      path = NULL;
    free(st);
    free(wf);
    free(cur);
    json_t *page = NULL;
    if (!path) {
      cli_err("out of memory");
      code = EXIT_USAGE;
      break;
    }
    code = remote_json(&x->r, "GET", path, NULL, &page, NULL);
    free(path);
    if (code)
      break;
    json_t *runs = json_object_get(page, "runs");
    if (!json_is_array(runs)) {
      json_decref(page);
      cli_err("the weft server at %s answered GET /api/v1/runs without a \"runs\" list", x->r.shown);
      code = EXIT_USAGE;
      break;
    }
    json_array_extend(all, runs);
    const char *next = json_string_value(json_object_get(page, "next_cursor"));
    free(cursor);
    cursor = next ? strdup(next) : NULL;
    json_decref(page);
    if (!cursor || json_array_size(runs) == 0 || (f->limit && json_array_size(all) >= f->limit))
      break;
  }
  free(cursor);
  if (code) {
    json_decref(all);
    return code;
  }
  *out = all;
  return 0;
}
