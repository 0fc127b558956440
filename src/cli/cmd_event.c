/* cmd_event.c — `weft event send NAME [--data JSON] [--run RUN]`.
 *
 * Only argv and the terminal: the event and its audit entry are written by
 * ops_send_event (ops/events.c). Every engine executing runs in this home
 * delivers it within its next poll (200 ms) to each `wait: {event: NAME}`
 * step waiting since before it was sent whose `match` accepts the payload;
 * runs that no live process executes get it at their next `weft resume`.
 * With --run the event is kept for that run until one of its waits consumes
 * it (ops_send_run_event, ops/events_run.c). */
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/runview.h"
#include "cli/remote.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int event_send(struct cli *c, int argc, char **argv)
{
  static const struct option opts[] = {{"data", required_argument, 0, 'd'}, {"json", no_argument, 0, 'j'},
                                       {"run", required_argument, 0, 'r'}, {0, 0, 0, 0}};
  const char *data = NULL, *run = NULL;
  bool json = false;
  int ch, code = EXIT_OK;
  struct store *s = NULL;
  optind = 0;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "d:r:", opts, NULL)) != -1) {
    if (ch == 'd')
      data = optarg;
    else if (ch == 'r')
      run = optarg;
    else if (ch == 'j')
      json = true;
    else
      return cli_usage_error("event", "unknown option or missing value: %s", argv[optind - 1]);
  }
  if (argc - optind != 1)
    return cli_usage_error("event", "name one event: weft event send NAME [--data JSON] [--run RUN]");
  const char *name = argv[optind];
  if (!ops_event_name_ok(name))
    return cli_usage_error("event", "event name \"%s\" must match [A-Za-z0-9][A-Za-z0-9_.:-]{0,127}",
                           name);
  json_t *j = NULL;
  if (data) {
    json_error_t je;
    j = json_loads(data, JSON_DECODE_ANY, &je);
    if (!j)
      return cli_usage_error("event", "--data is not JSON (%s at column %d); quote it, e.g. "
                                      "--data '{\"path\": \"s3://x\"}'", je.text, je.column);
  } else {
    j = json_object();
  }
  json_t *res = NULL;
  if (remote_wanted(c)) {
    struct remote r;
    json_t *body = json_pack("{s:s, s:O, s:s?}", "name", name, "data", j, "run", run);
    if ((code = remote_open(c, NULL, &r)) == 0) {
      code = remote_json(&r, "POST", "/api/v1/events", body, &res, NULL);
      remote_close(&r);
    }
    json_decref(body);
    if (code)
      goto out;
  } else {
    if ((code = cli_identity(c)) != 0 || (code = rv_open_store_rw(c->home, &s)) != 0)
      goto out;
    struct ops_ctx ctx;
    struct ops_error e = {0};
    if ((code = cli_ops_actor(c, s, &ctx)) != 0)
      goto out;
    if ((run ? ops_send_run_event(&ctx, name, j, run, &res, &e) : ops_send_event(&ctx, name, j, &res, &e)) != 0) {
      code = cli_ops_fail(&e);
      goto out;
    }
  }
  if (json) { /* as POST /api/v1/events answers */
    char *txt = json_dumps(res, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", txt ? txt : "null");
    free(txt);
    goto out;
  }
  /* one line alike both ways: the inbox id the event has */
  const json_t *id = json_object_get(res, "id");
  const char *kept = json_string_value(json_object_get(res, "run"));
  if (kept && json_is_integer(id))
    printf("event %s kept for run %s until one of its waits consumes it (id %lld)\n", name, kept,
           (long long)json_integer_value(id));
  else if (json_is_integer(id))
    printf("event %s sent (id %lld)\n", name, (long long)json_integer_value(id));
  else
    printf("event %s sent\n", name);
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(res, "started"), i, v)
    printf("started run %s of %s (trigger %lld; `weft server` executes it)\n",
           json_string_value(json_object_get(v, "run")), json_string_value(json_object_get(v, "workflow")),
           (long long)json_integer_value(json_object_get(v, "trigger")));
  json_array_foreach(json_object_get(res, "trigger_errors"), i, v)
    fprintf(stderr, "weft: %s trigger %lld did not start a run: %s\n",
            json_string_value(json_object_get(v, "workflow")),
            (long long)json_integer_value(json_object_get(v, "trigger")),
            json_string_value(json_object_get(v, "error")));
out:
  json_decref(j);
  json_decref(res);
  store_close(s);
  return code;
}

int cli_event(struct cli *c, int argc, char **argv)
{
  if (argc < 2)
    return cli_usage_error("event", "say what to do: weft event send NAME [--data JSON]");
  if (!strcmp(argv[1], "send"))
    return event_send(c, argc - 1, argv + 1);
  return cli_usage_error("event", "unknown subcommand \"%s\" (only `send`)", argv[1]);
}
