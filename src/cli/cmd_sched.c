/* cmd_sched.c — `weft schedules` (each schedule trigger of the deployed
 * workflows with its next 5 fire times: from the store, or with --server
 * through GET /api/v1/schedules, printed alike) and `weft backfill` (one
 * queued run per scheduled time of a window that has no run yet, for `weft
 * server` to start; in the home's store only: the API has no backfill
 * route). Both are ops of ops/schedules.c. */
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/remote.h"
#include "cli/runview.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "util/jsonfmt.h"
#include "util/wtime.h"

static void print_json(json_t *j)
{
  char *txt = wjson_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  printf("%s\n", txt ? txt : "null");
  free(txt);
}

static const char *str(const json_t *o, const char *k, const char *dflt)
{
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : dflt;
}

int cli_schedules(struct cli *c, int argc, char **argv)
{
  bool json = false;
  int urc = cli_json_only("schedules", argc, argv, &json);
  if (urc)
    return urc;
  if (optind < argc)
    return cli_usage_error("schedules", "unexpected argument %s", argv[optind]);
  json_t *out = NULL;
  int code;
  if (remote_wanted(c)) {
    struct remote r;
    json_t *j = NULL;
    if ((code = remote_open(c, NULL, &r)) != 0)
      return code;
    code = remote_json(&r, "GET", "/api/v1/schedules", NULL, &j, NULL);
    remote_close(&r);
    if (code)
      return code;
    out = json_incref(json_object_get(j, "schedules"));
    json_decref(j);
    if (!json_is_array(out)) {
      json_decref(out);
      cli_err("the server's answer to GET /api/v1/schedules has no \"schedules\" list");
      return EXIT_RUN_FAILED;
    }
  } else {
    struct store *s = NULL;
    if ((code = rv_open_store(c->home, &s)) != 0)
      return code;
    struct ops_ctx ctx;
    struct ops_error e = {0};
    cli_ops_reader(c, s, &ctx);
    enum ops_err k = ops_list_schedules(&ctx, wt_now_ms() / 1000, &out, &e);
    store_close(s);
    if (k)
      return cli_ops_fail(&e);
  }
  if (json) {
    json_t *w = json_pack("{s:o}", "schedules", out);
    print_json(w);
    json_decref(w);
    return EXIT_OK;
  }
  if (json_array_size(out) == 0)
    printf("no schedules (a deployed workflow's `triggers:` may have `schedule:` entries)\n");
  size_t i;
  json_t *v;
  json_array_foreach(out, i, v) {
    printf("%s trigger %lld: \"%s\" (%s, catch_up %s, overlap %s)\n", str(v, "workflow", ""),
           (long long)json_integer_value(json_object_get(v, "trigger")), str(v, "schedule", ""),
           str(v, "timezone", "UTC"), str(v, "catch_up", ""), str(v, "overlap", ""));
    size_t j;
    json_t *t;
    json_array_foreach(json_object_get(v, "next"), j, t) printf("  %s %s\n", j ? "    " : "next", json_string_value(t));
    if (json_string_value(json_object_get(v, "last_fired")))
      printf("  last %s (run %s)\n", str(v, "last_fired", ""), str(v, "last_run", "-"));
  }
  json_decref(out);
  return EXIT_OK;
}

int cli_backfill(struct cli *c, int argc, char **argv)
{
  static const struct option opts[] = {{"from", required_argument, 0, 'f'},
                                       {"to", required_argument, 0, 't'},
                                       {"trigger", required_argument, 0, 'n'},
                                       {"max-runs-at-once", required_argument, 0, 'k'},
                                       {"json", no_argument, 0, 'j'},
                                       {0, 0, 0, 0}};
  const char *from = NULL, *to = NULL;
  long trigger = 0, max = 0;
  bool json = false;
  int ch;
  optind = 0;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
    char *end = NULL;
    switch (ch) {
    case 'f':
      from = optarg;
      break;
    case 't':
      to = optarg;
      break;
    case 'n':
      trigger = strtol(optarg, &end, 10);
      if (!*optarg || *end || trigger < 1 || trigger > 10000)
        return cli_usage_error("backfill", "--trigger takes a trigger's number (1, 2, ...; `weft schedules` "
                                           "lists them), not %s", optarg);
      break;
    case 'k':
      max = strtol(optarg, &end, 10);
      if (!*optarg || *end || max < 1 || max > 100000)
        return cli_usage_error("backfill", "--max-runs-at-once takes a number >= 1, not %s", optarg);
      break;
    case 'j':
      json = true;
      break;
    default:
      return cli_usage_error("backfill", "unknown option or missing value: %s", argv[optind - 1]);
    }
  }
  if (argc - optind != 1)
    return cli_usage_error("backfill", "name one deployed workflow");
  if (!from || !to)
    return cli_usage_error("backfill", "give the window: --from T --to T (RFC 3339 times or dates)");
  if (remote_wanted(c)) {
    /* the API has no backfill route: say the command to type instead */
    char more[80] = "";
    if (trigger)
      snprintf(more, sizeof more, " --trigger %ld", trigger);
    if (max)
      snprintf(more + strlen(more), sizeof more - strlen(more), " --max-runs-at-once %ld", max);
    cli_err("`weft backfill` does not go through a server (the API has no backfill route): it records "
            "its runs in the home's store. On the server's machine run `weft backfill %s --from %s --to %s%s` "
            "with the server's home (--home DIR or WEFT_HOME), without --server and WEFT_SERVER; the "
            "running server starts the runs it records",
            argv[optind], from, to, more);
    return EXIT_USAGE;
  }
  struct store *s = NULL;
  int code = rv_open_store(c->home, &s);
  if (code)
    return code;
  struct ops_ctx ctx;
  if ((code = cli_ops_actor(c, s, &ctx)) != 0) {
    store_close(s);
    return code;
  }
  struct ops_error e = {0};
  json_t *out = NULL;
  enum ops_err k = ops_backfill(&ctx, argv[optind], from, to, (int)trigger, (int)max, &out, &e);
  store_close(s);
  if (k) {
    if (e.usage)
      return cli_usage_error("backfill", "%s", e.msg);
    return cli_ops_fail(&e);
  }
  if (json) {
    print_json(out);
  } else {
    json_t *st = json_object_get(out, "started");
    size_t n = json_array_size(st);
    printf("%s: %zu run%s queued for `weft server` (%lld scheduled time%s in the window, %lld already had a run)\n",
           argv[optind], n, n == 1 ? "" : "s", (long long)json_integer_value(json_object_get(out, "times")),
           json_integer_value(json_object_get(out, "times")) == 1 ? "" : "s",
           (long long)json_integer_value(json_object_get(out, "existing")));
    size_t i;
    json_t *v;
    json_array_foreach(st, i, v) printf("  %s  %s\n", str(v, "run", ""), str(v, "scheduled_for", ""));
  }
  json_decref(out);
  return EXIT_OK;
}
