/* cmd_run.c — the commands that execute runs in this process: `weft run`,
 * `weft resume` and `weft retry`.
 *
 * All three set up a runtime (runtime/runtime.h) with the progress observer,
 * add runs to it, run the loop until every run ends, then print a summary:
 * the last 20 log lines of each failed step, a final line per run, and with
 * --json the run as `weft status --json` prints it. */
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/progress.h"
#include "cli/runview.h"
#include "cli/follow.h"
#include "runtime/inputs.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"
#include "util/wtime.h"
#include "util/jsonfmt.h"
#include "util/term.h"

#define FAILED_TAIL_LINES 20
#define FAILURES_SHOWN 5 /* failed steps or instances shown when a run fails */

struct exec_opts {
  bool json, verbose;
};

/* One failed step or instance: its error and the tail of its log. */
static void print_failure(struct store *s, const char *run_id, const struct store_step *st,
                          FILE *o)
{
  json_t *e = st->error ? json_loads(st->error, 0, NULL) : NULL;
  const char *msg = json_string_value(json_object_get(e, "message"));
  char label[160];
  if (st->index >= 0)
    snprintf(label, sizeof label, "%s[%d]", st->step, st->index);
  else
    snprintf(label, sizeof label, "%s", st->step);
  fprintf(o, "\nstep %s failed after %d attempt%s: %s\n", label, st->attempts,
          st->attempts == 1 ? "" : "s", msg ? term_safe(msg) : "failed");
  json_decref(e);
  struct store_attempt *att = NULL;
  size_t na = 0;
  if (store_attempt_list(s, run_id, st->step, st->index, &att, &na) == 0 && na > 0 &&
      att[na - 1].log_path) {
    char prefix[200];
    snprintf(prefix, sizeof prefix, "  [%s] ", label);
    fprintf(o, "last %d lines of its log (weft logs %.8s %s):\n", FAILED_TAIL_LINES, run_id,
            label);
    rv_print_tail(o, att[na - 1].log_path, FAILED_TAIL_LINES, prefix);
  }
  store_attempts_free(att, na);
}

/* The first FAILURES_SHOWN failed steps or instances, in definition order.
 * Reads each step's own row, and of a for_each step only its first failed
 * instances (a step may have a million). */
static void print_failures(struct store *s, const char *run_id, FILE *o)
{
  struct store_run r = {0};
  if (store_run_get(s, run_id, &r) != 0)
    return;
  struct wf *wf = ops_load_definition(s, &r);
  store_run_clear(&r);
  int shown = 0;
  for (uint32_t k = 0; wf && k < wf->n_steps && shown < FAILURES_SHOWN; k++) {
    struct store_step own = {0};
    if (store_step_get(s, run_id, wf->steps[k].id, STORE_NO_INDEX, &own) != 0)
      continue;
    if (!wf->steps[k].for_each) {
      if (!strcmp(own.status, "failed") && own.attempts >= 1) {
        print_failure(s, run_id, &own, o);
        shown++;
      }
    } else if (!strcmp(own.status, "failed")) {
      struct store_step *v = NULL;
      size_t n = 0;
      store_step_page(s, run_id, wf->steps[k].id, STORE_PAGE_FAILED,
                      (size_t)(FAILURES_SHOWN - shown), &v, &n);
      for (size_t i = 0; i < n; i++)
        if (v[i].attempts >= 1) {
          print_failure(s, run_id, &v[i], o);
          shown++;
        }
      if (n == 0 && own.attempts >= 1) { /* failed before any instance (for_each itself) */
        print_failure(s, run_id, &own, o);
        shown++;
      }
      store_steps_free(v, n);
    }
    store_step_clear(&own);
  }
  wf_free(wf);
}

/* The failures of failed sub-workflow runs (their logs are theirs). */
static void print_child_failures(struct store *s, const char *run_id, FILE *o, int depth)
{
  struct store_run *v = NULL;
  size_t n = 0;
  if (depth > 16 || store_run_children(s, run_id, &v, &n) != 0)
    return;
  for (size_t i = n; i-- > 0;)
    if (!strcmp(v[i].status, "failed")) {
      fprintf(o, "\nsub-workflow run %s (%s, step %s) failed:", v[i].id, v[i].workflow,
              v[i].parent_step ? v[i].parent_step : "?");
      print_failures(s, v[i].id, o);
      print_child_failures(s, v[i].id, o, depth + 1);
    }
  store_runs_free(v, n);
}

/* Runs the loop and reports; returns the exit code. */
static int execute(struct cli *c, struct runtime *rt, struct store *s, struct progress *pg,
                   const struct exec_opts *eo)
{
  (void)c;
  int64_t t0 = wt_mono_us();
  int rc = rt_loop(rt);
  if (getenv("WEFT_TIMING"))
    fprintf(stderr, "timing: execute %.3f ms\n", (double)(wt_mono_us() - t0) / 1000.0);
  progress_finish(pg);
  FILE *o = eo->json ? stderr : stdout;
  int worst = EXIT_OK;
  for (size_t i = 0; i < rt_run_count(rt); i++) {
    struct store_run r = {0};
    if (store_run_get(s, rt_run_id(rt, i), &r) != 0) {
      worst = EXIT_RUN_FAILED;
      continue;
    }
    if (!strcmp(r.status, "failed")) {
      print_failures(s, r.id, o);
      print_child_failures(s, r.id, o, 0);
    }
    char dur[32];
    wt_fmt_duration((r.finished_at ? r.finished_at : wt_now_ms()) -
                    (r.started_at ? r.started_at : r.created_at), dur);
    fprintf(o, "run %s %s in %s\n", r.id, r.status, dur);
    if (eo->json) {
      json_t *j = ops_run_json(s, &r, false);
      char *txt = wjson_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
      printf("%s\n", txt ? txt : "null");
      free(txt);
      json_decref(j);
    }
    int code = rv_exit_code(r.status);
    if (code == EXIT_RUN_FAILED || (code == EXIT_CANCELLED && worst == EXIT_OK))
      worst = code;
    store_run_clear(&r);
  }
  if (rc)
    worst = EXIT_RUN_FAILED;
  if (rt_interrupted(rt))
    worst = EXIT_INTERRUPTED;
  return worst;
}

static int setup(struct cli *c, struct store **s, struct progress **pg, struct runtime **rt,
                 const struct exec_opts *eo)
{
  int code = cli_identity(c);
  if (!code)
    code = rv_open_store_rw(c->home, s);
  if (code)
    return code;
  bool live = c->tty_out && !eo->verbose && !eo->json && isatty(STDOUT_FILENO);
  *pg = progress_new(eo->json ? stderr : stdout, live, eo->verbose);
  struct rt_opts o = {.store = *s, .user = c->user,
                      .asserted_by = c->asserted_by, .stream_output = eo->verbose};
  progress_observer(*pg, &o.obs);
  if (rt_new(&o, rt) != 0) {
    cli_err("cannot start the runtime");
    return EXIT_USAGE;
  }
  return 0;
}

static void teardown(struct store *s, struct progress *pg, struct runtime *rt)
{
  rt_free(rt);
  progress_free(pg);
  store_close(s);
}

int cli_run(struct cli *c, int argc, char **argv)
{
  static const struct option opts[] = {
    {"input", required_argument, 0, 'i'}, {"inputs", required_argument, 0, 'I'},
    {"json", no_argument, 0, 'j'},        {"verbose", no_argument, 0, 'v'},
    {0, 0, 0, 0}};
  struct exec_opts eo = {0};
  json_t *given = json_object();
  json_t *file_inputs = json_object();
  const char *inputs_path = NULL; /* the last --inputs file */
  int ch, rc, code = EXIT_OK;
  char *err = NULL;
  optind = 0;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "i:vj", opts, NULL)) != -1) {
    switch (ch) {
    case 'i':
      if (inputs_parse_kv(given, optarg, &err)) {
        code = cli_usage_error("run", "%s", err ? err : "bad input");
        goto out;
      }
      break;
    case 'I':
      inputs_path = optarg;
      if ((rc = inputs_load_file(file_inputs, optarg, &err)) != 0) {
        cli_err("%s", err ? err : "cannot read inputs");
        code = rc == WEFT_ENOTFOUND ? EXIT_NOT_FOUND : EXIT_USAGE;
        goto out;
      }
      break;
    case 'j': eo.json = true; break;
    case 'v': eo.verbose = true; break;
    default:
      code = cli_usage_error("run", "unknown option %s", argv[optind - 1]);
      goto out;
    }
  }
  if (argc - optind != 1) {
    code = cli_usage_error("run", "name exactly one workflow file");
    goto out;
  }
  const char *path = argv[optind];
  if (access(path, R_OK) != 0) {
    cli_err("cannot read %s: no such file (check the path)", path);
    code = EXIT_NOT_FOUND;
    goto out;
  }
  struct diag_list d = {0};
  struct wf *wf = NULL;
  int64_t t0 = wt_mono_us();
  rc = wf_load_file(path, &wf, &d);
  if (getenv("WEFT_TIMING"))
    fprintf(stderr, "timing: load %.3f ms\n", (double)(wt_mono_us() - t0) / 1000.0);
  if (rc) {
    diag_sort(&d);
    diag_print(stderr, &d);
    if (!d.n)
      cli_err("%s: %s", path, weft_strerror(rc));
    cli_err("%s is not valid; nothing was run", path);
    diag_list_free(&d);
    code = EXIT_USAGE;
    goto out;
  }
  cli_server_only_notes(path, wf);
  diag_sort(&wf->warnings);
  diag_print(stderr, &wf->warnings);
  json_t *inputs = NULL;
  inputs_read_cli(wf, given);
  const char *gk;
  json_t *gv;
  json_object_foreach(given, gk, gv) json_object_del(file_inputs, gk); /* -i wins */
  int frc = inputs_path ? inputs_check_file(wf, file_inputs, inputs_path, &d) : 0;
  json_object_update(file_inputs, given);
  if (frc || inputs_resolve(wf, file_inputs, &inputs, &d)) {
    diag_print(stderr, &d);
    cli_err("the inputs do not fit %s; nothing was run", path);
    diag_list_free(&d);
    wf_free(wf);
    code = EXIT_USAGE;
    goto out;
  }
  diag_list_free(&d);

  struct store *s = NULL;
  struct progress *pg = NULL;
  struct runtime *rt = NULL;
  if ((code = setup(c, &s, &pg, &rt, &eo)) != 0) {
    wf_free(wf);
    json_decref(inputs);
    progress_free(pg);
    store_close(s);
    goto out;
  }
  char id[WEFT_ID_LEN + 1], *group = NULL;
  if ((code = cli_run_admit(c, s, wf, inputs, &group)) != 0) {
    wf_free(wf);
  } else if (rt_start(rt, wf, inputs, "manual", id, &err)) {
    cli_err("%s", err ? err : "cannot start the run");
    code = EXIT_USAGE;
  } else if (group && store_run_group_set(s, id, group)) { /* joins the open transaction of its creation */
    cli_err("cannot record the run's concurrency group: %s", store_errmsg(s));
    code = EXIT_USAGE;
  } else {
    code = execute(c, rt, s, pg, &eo);
  }
  free(group);
  json_decref(inputs);
  teardown(s, pg, rt);
out:
  free(err);
  json_decref(given);
  json_decref(file_inputs);
  return code;
}

static int parse_exec_opts(const char *cmd, int argc, char **argv, struct exec_opts *eo,
                           const char **from)
{
  static const struct option opts[] = {{"json", no_argument, 0, 'j'},
                                       {"verbose", no_argument, 0, 'v'},
                                       {"from", required_argument, 0, 'f'},
                                       {0, 0, 0, 0}};
  int ch;
  optind = 0;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "vj", opts, NULL)) != -1) {
    if (ch == 'j')
      eo->json = true;
    else if (ch == 'v')
      eo->verbose = true;
    else if (ch == 'f' && from)
      *from = optarg;
    else
      return cli_usage_error(cmd, "unknown option %s", argv[optind - 1]);
  }
  return 0;
}

int cli_resume(struct cli *c, int argc, char **argv)
{
  struct exec_opts eo = {0};
  int code = parse_exec_opts("resume", argc, argv, &eo, NULL);
  if (code)
    return code;
  if (argc - optind > 1)
    return cli_usage_error("resume", "name at most one run");
  const char *want = argc - optind == 1 ? argv[optind] : NULL;
  struct store *s = NULL;
  struct progress *pg = NULL;
  struct runtime *rt = NULL;
  if ((code = setup(c, &s, &pg, &rt, &eo)) != 0) {
    progress_free(pg);
    store_close(s);
    return code;
  }
  char *err = NULL;
  size_t started = 0;
  if (want) {
    struct store_run r = {0};
    if ((code = rv_find_run(s, want, &r)) == 0) {
      if (rt_resume(rt, r.id, &err)) {
        cli_err("%s", err ? err : "cannot resume");
        code = EXIT_USAGE;
      } else {
        started++;
      }
      store_run_clear(&r);
    }
  } else {
    struct store_run *v = NULL;
    size_t n = 0;
    store_run_orphans(s, &v, &n);
    for (size_t i = 0; i < n; i++) {
      free(err);
      err = NULL;
      if (rt_resume(rt, v[i].id, &err))
        cli_err("%s", err ? err : "cannot resume");
      else
        started++;
    }
    store_runs_free(v, n);
    if (n == 0)
      fprintf(eo.json ? stderr : stdout, "nothing to resume: no run was left running by a dead engine\n");
  }
  free(err);
  if (started)
    code = execute(c, rt, s, pg, &eo);
  teardown(s, pg, rt);
  return code;
}

/* ops_retry_run's executor: this process's runtime */
static int retry_here(void *ud, const char *run_id, const char *from, char **err)
{
  return rt_retry(ud, run_id, from, err);
}

/* POST /api/v1/runs/{id}/retry {from}: the server executes the retry;
 * followed to its end like a local retry (cli/follow.h). */
static int retry_remote(struct cli *c, const char *run, const char *from, const struct exec_opts *eo)
{
  struct runsrc x;
  int code = runsrc_open(c, &x);
  if (code)
    return code;
  char *er = remote_escape(run), *path = NULL;
  json_t *body = json_object(), *res = NULL;
  if (from)
    json_object_set_new(body, "from", json_string(from));
  json_t *before = NULL;
  json_int_t seq = 0;
  if (!er || asprintf(&path, "/api/v1/runs/%s/retry", er) < 0) {
    path = NULL;
    cli_err("out of memory");
    code = EXIT_USAGE;
  } else if ((code = runsrc_get(&x, run, false, false, &before)) == 0 &&
             (code = follow_seq(&x, json_string_value(json_object_get(before, "id")), &seq)) == 0 &&
             (code = remote_json(&x.r, "POST", path, body, &res, NULL)) == 0) {
    /* the transitions after the retry request, as a local retry prints them */
    code = follow_run(&x, json_string_value(json_object_get(before, "id")), eo->json, seq);
  }
  json_decref(before);
  json_decref(body);
  json_decref(res);
  free(er);
  free(path);
  runsrc_close(&x);
  return code;
}

int cli_retry(struct cli *c, int argc, char **argv)
{
  struct exec_opts eo = {0};
  const char *from = NULL;
  int code = parse_exec_opts("retry", argc, argv, &eo, &from);
  if (code)
    return code;
  if (argc - optind != 1)
    return cli_usage_error("retry", "name one run");
  if (remote_wanted(c))
    return retry_remote(c, argv[optind], from, &eo);
  struct store *s = NULL;
  struct progress *pg = NULL;
  struct runtime *rt = NULL;
  if ((code = setup(c, &s, &pg, &rt, &eo)) != 0) {
    progress_free(pg);
    store_close(s);
    return code;
  }
  /* the checks and the retry.requested entry are the operation's (the
   * API's POST /runs/{id}/retry makes the same call) */
  struct ops_ctx ctx;
  struct ops_error e = {0};
  json_t *res = NULL;
  if ((code = cli_ops_actor(c, s, &ctx)) == 0) {
    if (ops_retry_run(&ctx, argv[optind], from, retry_here, rt, &res, &e) != 0)
      code = cli_ops_fail(&e);
    else
      code = execute(c, rt, s, pg, &eo);
  }
  json_decref(res);
  teardown(s, pg, rt);
  return code;
}
