/* cmd_inspect.c — commands that read runs and act on them from outside:
 * `weft status`, `weft runs`, `weft logs`, `weft cancel` (`weft audit` is in
 * cmd_audit.c).
 *
 * They never change run state themselves: a cancel is a request in the
 * store's inbox that the owning engine acts on (CLI.md). */
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/runview.h"
#include "cli/runsrc.h"
#include "cli/logs_remote.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "util/ids.h"
#include "util/err.h"
#include "util/wtime.h"
#include "cli/logsel.h"
#include "util/jsonfmt.h"
#include "util/term.h"

#define STATUS_FAILURES_SHOWN 5 /* failed instances listed per step in the text form */

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static bool terminal(const char *status) { return ops_status_terminal(status); }

static void print_json(json_t *j, bool pretty)
{
  char *txt = wjson_dumps(j, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER);
  printf("%s\n", txt ? txt : "null");
  free(txt);
}

static const char *str_or(const json_t *v, const char *dflt)
{
  const char *s = json_string_value(v);
  return s ? s : dflt;
}

static void duration_of(const json_t *o, char out[32])
{
  int64_t a = 0, b = 0;
  const char *s = json_string_value(json_object_get(o, "started_at"));
  const char *f = json_string_value(json_object_get(o, "finished_at"));
  out[0] = '\0';
  if (!s || wt_parse_rfc3339(s, &a))
    return;
  if (!f || wt_parse_rfc3339(f, &b))
    b = wt_now_ms();
  wt_fmt_duration(b - a, out);
}

/* A for_each step's instances in the text form: the count per status, then
 * the first failures (the JSON lists failed instances first). */
static void print_instances(const json_t *inst, const json_t *counts)
{
  json_int_t total = 0, failed = 0;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)counts, k, v) {
    total += json_integer_value(v);
    if (!strcmp(k, "failed"))
      failed = json_integer_value(v);
  }
  printf("  %-24s %lld instance%s:", "", (long long)total, total == 1 ? "" : "s");
  const char *sep = " ";
  json_object_foreach((json_t *)counts, k, v) {
    printf("%s%lld %s", sep, (long long)json_integer_value(v), k);
    sep = ", ";
  }
  printf("\n");
  int shown = 0;
  size_t i;
  json_t *x;
  json_array_foreach(inst, i, x) {
    if (shown == STATUS_FAILURES_SHOWN)
      break;
    if (strcmp(str_or(json_object_get(x, "status"), ""), "failed"))
      continue;
    const json_t *e = json_object_get(x, "error");
    printf("  %-24s   [%lld] failed: %s\n", "", (long long)json_integer_value(json_object_get(x, "index")),
           json_is_object(e) ? term_safe(str_or(json_object_get(e, "message"), "?")) : "?");
    shown++;
  }
  if (failed > shown)
    printf("  %-24s   ... and %lld more failed (`weft status --json` lists up to %d, "
           "--all-instances all)\n", "", (long long)(failed - shown), OPS_INSTANCES_SHOWN);
}

static void print_status_text(const json_t *j)
{
  char dur[32];
  duration_of(j, dur);
  printf("run %s  %s  %s  %s\n", str_or(json_object_get(j, "id"), "?"),
         str_or(json_object_get(j, "workflow"), "?"), str_or(json_object_get(j, "status"), "?"),
         dur);
  printf("  started %s by %s (%s)", str_or(json_object_get(j, "started_at"), "-"),
         term_safe(str_or(json_object_get(j, "started_by"), "?")),
         str_or(json_object_get(j, "trigger"), "manual"));
  if (json_is_string(json_object_get(j, "parent")))
    printf(", child of run %s (step %s)", json_string_value(json_object_get(j, "parent")),
           str_or(json_object_get(j, "parent_step"), "?"));
  printf("\n");
  size_t ki;
  json_t *kid;
  json_array_foreach(json_object_get(j, "children"), ki, kid)
    printf("  sub-workflow run %s (%s, step %s): %s\n", str_or(json_object_get(kid, "id"), "?"),
           str_or(json_object_get(kid, "workflow"), "?"), str_or(json_object_get(kid, "step"), "?"),
           str_or(json_object_get(kid, "status"), "?"));
  const json_t *err = json_object_get(j, "error");
  if (json_is_object(err))
    printf("  error: %s\n", term_safe(str_or(json_object_get(err, "message"), "?")));
  char *in = wjson_dumps(json_object_get(j, "inputs"), JSON_COMPACT);
  printf("  inputs: %s\n", in ? term_safe(in) : "{}");
  free(in);
  printf("\n  %-24s %-10s %8s %5s %9s  %s\n", "STEP", "STATUS", "ATTEMPTS", "EXIT", "DURATION",
         "ERROR");
  const char *id;
  json_t *st;
  int waiting = 0;
  json_object_foreach(json_object_get(j, "steps"), id, st) {
    waiting += !strcmp(str_or(json_object_get(st, "status"), ""), "waiting");
    duration_of(st, dur);
    const json_t *ec = json_object_get(st, "exit_code");
    char ecb[16] = "-";
    if (json_is_integer(ec))
      snprintf(ecb, sizeof ecb, "%d", (int)json_integer_value(ec));
    const json_t *e = json_object_get(st, "error");
    const json_t *inst = json_object_get(st, "instances");
    char name[64];
    snprintf(name, sizeof name, "%s%s", json_is_true(json_object_get(st, "finally")) ? "(finally) " : "", id);
    printf("  %-24s %-10s %8d %5s %9s  %s\n", name, str_or(json_object_get(st, "status"), "?"),
           (int)json_integer_value(json_object_get(st, "attempts")), ecb, dur,
           json_is_object(e) ? term_safe(str_or(json_object_get(e, "message"), "")) : "");
    const json_t *arms = json_object_get(st, "arms");
    if (json_is_object(arms)) { /* a first_of: each arm, and the winner */
      const char *an;
      json_t *a;
      const char *w = json_string_value(json_object_get(json_object_get(st, "outputs"), "winner"));
      json_object_foreach((json_t *)arms, an, a)
        printf("  %-24s arm %s: %s%s\n", "", term_safe(an),
               str_or(json_object_get(a, "status"), "?"), w && !strcmp(w, an) ? " (winner)" : "");
    } else if (json_is_array(inst)) {
      print_instances(inst, json_object_get(st, "instance_counts"));
    }
  }
  const json_t *outs = json_object_get(j, "outputs");
  if (json_object_size(outs)) {
    char *o = wjson_dumps(outs, JSON_COMPACT);
    printf("\n  outputs: %s\n", o ? term_safe(o) : "{}");
    free(o);
  }
  if (waiting) /* a human, a time or an event: say how to move it on */
    printf("\n  %d waiting: approvals are listed by `weft approvals` and decided with `weft "
           "approve %s STEP`;\n  events arrive with `weft event send NAME`; timers fire by "
           "themselves\n",
           waiting, str_or(json_object_get(j, "id"), "RUN"));
}

int cli_status(struct cli *c, int argc, char **argv)
{
  static const struct option opts[] = {{"json", no_argument, 0, 'j'},
                                       {"watch", no_argument, 0, 'w'},
                                       {"all-instances", no_argument, 0, 'a'},
                                       {0, 0, 0, 0}};
  bool json = false, watch = false, all = false;
  int ch;
  optind = 0;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "jwa", opts, NULL)) != -1) {
    if (ch == 'j')
      json = true;
    else if (ch == 'w')
      watch = true;
    else if (ch == 'a')
      all = true;
    else
      return cli_usage_error("status", "unknown option %s", argv[optind - 1]);
  }
  if (argc - optind != 1)
    return cli_usage_error("status", "name one run (an id or a unique prefix)");
  struct runsrc src;
  int code = runsrc_open(c, &src);
  if (code)
    return code;
  char id[WEFT_ID_LEN + 1] = "";
  char status[32] = "";
  char *last = NULL;
  for (;;) {
    json_t *j = NULL;
    bool first = !id[0];
    if ((code = runsrc_get(&src, first ? argv[optind] : id, all, !first, &j)) != 0) {
      if (first) { /* the first read: no such run */
        runsrc_close(&src);
        return code;
      }
      break;
    }
    snprintf(id, sizeof id, "%s", str_or(json_object_get(j, "id"), ""));
    snprintf(status, sizeof status, "%s", str_or(json_object_get(j, "status"), ""));
    char *txt = wjson_dumps(j, JSON_COMPACT);
    bool changed = !last || strcmp(last, txt ? txt : "");
    if (changed) {
      if (watch && !json && c->tty_out && last)
        printf("\033[H\033[J");
      if (json)
        print_json(j, !watch);
      else
        print_status_text(j);
      fflush(stdout);
    }
    free(last);
    last = txt;
    json_decref(j);
    if (!watch || terminal(status))
      break;
    sleep_ms(500);
  }
  free(last);
  code = watch ? rv_exit_code(status) : EXIT_OK;
  runsrc_close(&src);
  return code;
}

int cli_runs(struct cli *c, int argc, char **argv)
{
  static const struct option opts[] = {
    {"status", required_argument, 0, 's'}, {"workflow", required_argument, 0, 'w'},
    {"limit", required_argument, 0, 'n'},  {"json", no_argument, 0, 'j'},
    {0, 0, 0, 0}};
  struct store_run_filter f = {.limit = 50};
  bool json = false;
  int ch;
  optind = 0;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "s:w:n:j", opts, NULL)) != -1) {
    switch (ch) {
    case 's': {
      static const char *ok[] = {"queued", "running", "waiting", "succeeded", "failed",
                                 "cancelled", NULL};
      bool known = false;
      for (const char **k = ok; *k; k++)
        known = known || !strcmp(*k, optarg);
      if (!known)
        return cli_usage_error("runs", "unknown status \"%s\" (queued, running, waiting, "
                               "succeeded, failed, cancelled)", optarg);
      f.status = optarg;
      break;
    }
    case 'w': f.workflow = optarg; break;
    case 'n': {
      char *end;
      long n = strtol(optarg, &end, 10);
      if (*end || n < 0)
        return cli_usage_error("runs", "--limit takes a whole number, got \"%s\"", optarg);
      f.limit = (size_t)n;
      break;
    }
    case 'j': json = true; break;
    default: return cli_usage_error("runs", "unknown option %s", argv[optind - 1]);
    }
  }
  if (optind != argc)
    return cli_usage_error("runs", "unexpected argument \"%s\"", argv[optind]);
  struct runsrc src;
  int code = runsrc_open(c, &src);
  if (code)
    return code;
  json_t *list = NULL;
  if ((code = runsrc_list(&src, &f, &list)) != 0) {
    runsrc_close(&src);
    return code;
  }
  size_t n = json_array_size(list);
  if (json) {
    print_json(list, true);
  } else if (n == 0) {
    printf("no runs yet (start one with `weft run FILE`)\n");
  } else {
    printf("%-26s  %-20s  %-10s  %-24s  %s\n", "ID", "WORKFLOW", "STATUS", "STARTED", "DURATION");
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r) {
      char d[32];
      duration_of(r, d);
      printf("%-26s  %-20s  %-10s  %-24s  %s\n", str_or(json_object_get(r, "id"), ""),
             str_or(json_object_get(r, "workflow"), ""), str_or(json_object_get(r, "status"), ""),
             str_or(json_object_get(r, "started_at"), ""), d);
    }
  }
  json_decref(list);
  runsrc_close(&src);
  return EXIT_OK;
}

/* ---- logs ---------------------------------------------------------------- */

/* Copies bytes [*off, end) of path to stdout; returns false when unreadable. */
static bool copy_from(const char *path, long *off, const char *prefix)
{
  FILE *f = fopen(path, "r");
  if (!f)
    return false;
  fseek(f, *off, SEEK_SET);
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    size_t len = strlen(line);
    if (prefix)
      fputs(prefix, stdout);
    fputs(line, stdout);
    if (len && line[len - 1] != '\n' && feof(f))
      fputc('\n', stdout);
  }
  *off = ftell(f);
  fclose(f);
  fflush(stdout);
  return true;
}

/* A log `weft logs` shows (ops_log_targets chose it) and how far it was read. */
struct log_target {
  struct ops_log l;
  long off;
};

static void targets_free(struct log_target *t, size_t n)
{
  for (size_t i = 0; t && i < n; i++)
    ops_log_clear(&t[i].l);
  free(t);
}

/* The logs to show: ops_log_targets, each with its read offset at 0. */
static struct log_target *collect_targets(struct store *s, const struct store_run *r,
                                          const struct wf *wf, const struct ops_log_sel *sel,
                                          size_t *nt_out)
{
  struct ops_log *v = NULL;
  size_t n = 0;
  *nt_out = 0;
  if (ops_log_targets(s, r, wf, sel, &v, &n) != 0)
    return calloc(1, sizeof(struct log_target));
  struct log_target *t = calloc(n ? n : 1, sizeof *t);
  if (!t) {
    ops_logs_free(v, n);
    return NULL;
  }
  for (size_t i = 0; i < n; i++)
    t[i].l = v[i];
  free(v); /* the logs' strings moved into t */
  *nt_out = n;
  return t;
}

int cli_logs(struct cli *c, int argc, char **argv)
{
  static const struct option opts[] = {{"attempt", required_argument, 0, 'a'},
                                       {"follow", no_argument, 0, 'f'},
                                       {0, 0, 0, 0}};
  struct ops_log_sel sel = {.index = STORE_NO_INDEX, .any_index = true};
  int ch;
  bool follow = false;
  optind = 0;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "a:f", opts, NULL)) != -1) {
    if (ch == 'a') {
      if (logsel_parse_attempt(optarg, &sel.attempt))
        return cli_usage_error("logs", "--attempt takes a number from 1, not \"%s\"", optarg);
    } else if (ch == 'f') {
      follow = true;
    } else {
      return cli_usage_error("logs", "unknown option %s", argv[optind - 1]);
    }
  }
  int npos = argc - optind;
  if (npos < 1 || npos > 2)
    return cli_usage_error("logs", "name a run and optionally a step");
  char *step = NULL;
  if (npos == 2) {
    char id[65], msg[300];
    bool has_index;
    if (logsel_parse_step(argv[optind + 1], id, &sel.index, &has_index, msg, sizeof msg))
      return cli_usage_error("logs", "%s", msg);
    sel.any_index = !has_index;
    step = strdup(id);
    sel.step = step;
  }
  if (remote_wanted(c)) {
    int rc = logs_remote(c, argv[optind], npos == 2 ? argv[optind + 1] : NULL, step, sel.index,
                         !sel.any_index, sel.attempt, follow);
    free(step);
    return rc;
  }
  struct store *s;
  int code = rv_open_store(c->home, &s);
  if (code) {
    free(step);
    return code;
  }
  struct store_run r = {0};
  struct wf *wf = NULL;
  struct log_target *t = NULL;
  size_t nt = 0;
  if ((code = rv_find_run(s, argv[optind], &r)) != 0)
    goto out;
  wf = ops_load_definition(s, &r);
  if (step && wf && wf_step_find(wf, step) == WF_NONE) {
    cli_err("run %.8s has no step \"%s\"; `weft status %.8s` lists its steps", r.id, step, r.id);
    code = EXIT_NOT_FOUND;
    goto out;
  }
  if (step && !follow && (!sel.any_index || (wf && !wf->steps[wf_step_find(wf, step)].for_each))) {
    /* one log: exactly what GET /runs/{id}/logs/{step} serves (ops_step_log),
     * its errors included */
    if (!sel.any_index && (code = logsel_past_instances(s, &r, wf, step, sel.index)))
      goto out;
    struct ops_ctx ctx;
    struct ops_error oe = {0};
    struct ops_log l;
    cli_ops_reader(c, s, &ctx);
    if (ops_step_log(&ctx, r.id, step, sel.index, sel.attempt, &l, &oe) != 0) {
      code = cli_ops_fail(&oe);
      goto out;
    }
    long off = 0;
    copy_from(l.path, &off, NULL); /* no file: the attempt wrote nothing */
    ops_log_clear(&l);
    goto out;
  }
  t = collect_targets(s, &r, wf, &sel, &nt);
  if (nt == 0 && !follow) {
    if (step && !sel.any_index && (code = logsel_past_instances(s, &r, wf, step, sel.index)))
      goto out;
    if (step) {
      cli_err("no output recorded for %s in run %.8s%s", argv[optind + 1], r.id,
              sel.attempt ? " at that attempt" : " (it has not run a program yet)");
      code = EXIT_NOT_FOUND;
    } else {
      printf("run %.8s has no step output yet\n", r.id);
    }
    goto out;
  }
  for (;;) {
    bool prefix = nt > 1 || !step;
    for (size_t i = 0; i < nt; i++) {
      char pre[200];
      if (t[i].l.index >= 0)
        snprintf(pre, sizeof pre, "[%s[%d]] ", t[i].l.step, t[i].l.index);
      else
        snprintf(pre, sizeof pre, "[%s] ", t[i].l.step);
      copy_from(t[i].l.path, &t[i].off, prefix ? pre : NULL);
    }
    if (!follow)
      break;
    bool ended = terminal(r.status);
    if (ended)
      break; /* everything was read after the run ended */
    sleep_ms(200);
    char id[WEFT_ID_LEN + 1];
    snprintf(id, sizeof id, "%s", r.id);
    store_run_clear(&r);
    if (store_run_get(s, id, &r) != 0)
      break;
    /* new attempts may have started: re-collect, keeping read offsets */
    size_t nn = 0;
    struct log_target *fresh = collect_targets(s, &r, wf, &sel, &nn);
    for (size_t i = 0; fresh && i < nn; i++)
      for (size_t k = 0; k < nt; k++)
        if (!strcmp(fresh[i].l.path, t[k].l.path))
          fresh[i].off = t[k].off;
    targets_free(t, nt);
    t = fresh;
    nt = nn;
  }
out:
  targets_free(t, nt);
  wf_free(wf);
  free(step);
  store_run_clear(&r);
  store_close(s);
  return code;
}

/* ---- cancel ---------------------------------------------------------------- */

/* The end of a cancel, alike both ways: what was asked (res: {run,
 * executing} or the run) and, when a process executes the run, its status
 * after waiting (bounded) for the owner to act, so the caller sees the
 * outcome. */
static int cancel_report(struct runsrc *x, const json_t *res)
{
  char id[WEFT_ID_LEN + 1];
  snprintf(id, sizeof id, "%s", str_or(json_object_get(res, "run"), str_or(json_object_get(res, "id"), "")));
  const json_t *ex = json_object_get(res, "executing");
  if (json_is_false(ex)) {
    printf("cancel of run %s recorded; no weft process is executing it, so it takes effect "
           "at the next `weft resume`\n", id);
    return EXIT_OK;
  }
  char status[32] = "";
  for (int i = 0; i < 150; i++) {
    sleep_ms(100);
    json_t *j = NULL;
    if (runsrc_get(x, id, false, true, &j) != 0)
      break;
    snprintf(status, sizeof status, "%s", str_or(json_object_get(j, "status"), ""));
    json_decref(j);
    if (terminal(status))
      break;
  }
  printf("run %s %s\n", id, terminal(status) ? status : "is being cancelled");
  return EXIT_OK;
}

/* `--step`: wait (up to 15 s) until the withdrawn steps have ended */
static int withdraw_report(struct runsrc *x, const char *run, const json_t *steps, const json_t *res)
{
  char id[WEFT_ID_LEN + 1];
  snprintf(id, sizeof id, "%s", str_or(json_object_get(res, "run"), str_or(json_object_get(res, "id"), run)));
  if (json_is_false(json_object_get(res, "executing"))) {
    printf("withdrawal of %zu step(s) of run %s recorded; no weft process is executing it, so it takes "
           "effect at the next `weft resume`\n",
           json_array_size(steps), id);
    return EXIT_OK;
  }
  json_t *j = NULL;
  for (int i = 0; i < 150; i++) {
    json_decref(j);
    j = NULL;
    if (runsrc_get(x, id, false, true, &j) != 0)
      break;
    bool all = true;
    size_t k;
    const json_t *v;
    json_array_foreach(steps, k, v) {
      const json_t *st = json_object_get(json_object_get(j, "steps"), json_string_value(v));
      all &= terminal(str_or(json_object_get(st, "status"), ""));
    }
    if (all || terminal(str_or(json_object_get(j, "status"), "")))
      break;
    sleep_ms(100);
  }
  size_t k;
  const json_t *v;
  json_array_foreach(steps, k, v) {
    const json_t *st = json_object_get(json_object_get(j, "steps"), json_string_value(v));
    const char *ss = str_or(json_object_get(st, "status"), "");
    printf("step %s of run %s %s\n", json_string_value(v), id, terminal(ss) ? ss : "is being withdrawn");
  }
  json_decref(j);
  return EXIT_OK;
}

static int cancel_remote(struct cli *c, const char *run, const json_t *steps)
{
  struct runsrc x;
  int code = runsrc_open(c, &x);
  if (code)
    return code;
  char *er = remote_escape(run), *path = NULL;
  json_t *res = NULL, *body = steps ? json_pack("{s:O}", "steps", steps) : NULL;
  if (!er || asprintf(&path, "/api/v1/runs/%s/cancel", er) < 0)
    path = NULL;
  if (!path || (steps && !body)) {
    cli_err("out of memory");
    code = EXIT_USAGE;
  } else if ((code = remote_json(&x.r, "POST", path, body, &res, NULL)) == 0) {
    code = steps ? withdraw_report(&x, run, steps, res) : cancel_report(&x, res);
  }
  json_decref(body);
  json_decref(res);
  free(er);
  free(path);
  runsrc_close(&x);
  return code;
}

int cli_cancel(struct cli *c, int argc, char **argv)
{
  static const struct option opts[] = {{"step", required_argument, 0, 's'}, {0, 0, 0, 0}};
  json_t *steps = NULL;
  int ch, code = 0;
  optind = 0;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
    if (ch != 's') {
      json_decref(steps);
      return cli_usage_error("cancel", "unknown option or missing value: %s", argv[optind - 1]);
    }
    if (!steps)
      steps = json_array();
    json_array_append_new(steps, json_string(optarg));
  }
  if (argc - optind != 1) {
    json_decref(steps);
    return cli_usage_error("cancel", "name one run");
  }
  const char *run = argv[optind];
  if (remote_wanted(c)) {
    code = cancel_remote(c, run, steps);
    json_decref(steps);
    return code;
  }
  struct store *s = NULL;
  struct ops_error e = {0};
  json_t *res = NULL;
  const char *names[64];
  size_t n = 0;
  if (json_array_size(steps) > 64) {
    code = cli_usage_error("cancel", "at most 64 --step options at once");
    goto out;
  }
  for (; n < json_array_size(steps); n++)
    names[n] = json_string_value(json_array_get(steps, n));
  if ((code = cli_identity(c)) != 0 || (code = rv_open_store_rw(c->home, &s)) != 0)
    goto out;
  struct ops_ctx ctx;
  if ((code = cli_ops_actor(c, s, &ctx)) != 0)
    goto out;
  enum ops_err k = steps ? ops_cancel_steps(&ctx, run, names, n, &res, &e) : ops_cancel_run(&ctx, run, &res, &e);
  if (k != 0) {
    code = cli_ops_fail(&e);
    goto out;
  }
  struct runsrc x = {.s = s};
  cli_ops_reader(c, s, &x.ctx);
  code = steps ? withdraw_report(&x, run, json_object_get(res, "steps"), res) : cancel_report(&x, res);
out:
  json_decref(steps);
  json_decref(res);
  store_close(s);
  return code;
}
