/* cmd_event.c — `weft event send NAME [--data JSON]`.
 *
 * Posts a run-less event into the store's inbox (kind "event"); every engine
 * executing runs in this home delivers it, within its next poll (200 ms), to
 * each `wait: {event: NAME}` step waiting since before it was sent whose
 * `match` accepts the payload. Runs that no live process executes get it at
 * their next `weft resume` (see exec/wait.h). The event is also recorded in
 * the audit log (its name and the SHA-256 of its payload). */
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/runview.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/sha256.h"
#include "util/wtime.h"
#include "util/jsonfmt.h"

static bool event_name_ok(const char *s)
{
  size_t n = strlen(s);
  if (n == 0 || n > 128)
    return false;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              (i > 0 && (ch == '_' || ch == '-' || ch == '.' || ch == ':'));
    if (!ok)
      return false;
  }
  return true;
}

static int event_send(struct cli *c, int argc, char **argv)
{
  static const struct option opts[] = {{"data", required_argument, 0, 'd'}, {0, 0, 0, 0}};
  const char *data = NULL;
  int ch, code = EXIT_OK;
  char *payload = NULL;
  struct store *s = NULL;
  optind = 0;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
    if (ch == 'd')
      data = optarg;
    else
      return cli_usage_error("event", "unknown option %s", argv[optind - 1]);
  }
  if (argc - optind != 1)
    return cli_usage_error("event", "name one event: weft event send NAME [--data JSON]");
  const char *name = argv[optind];
  if (!event_name_ok(name))
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
  payload = wjson_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(j);
  if ((code = cli_identity(c)) != 0 || (code = rv_open_store_rw(c->home, &s)) != 0)
    goto out;
  int64_t now = wt_now_ms(), id = 0;
  struct store_inbox m = {.kind = "event", .name = (char *)name, .index = STORE_NO_INDEX,
                          .user = (char *)c->user, .payload = payload, .created_at = now};
  char h[SHA256_HEX_LEN + 1];
  sha256_hex(payload ? payload : "", payload ? strlen(payload) : 0, h);
  int rc = store_begin(s);
  if (!rc)
    rc = store_inbox_post(s, &m, &id);
  if (!rc) {
    json_t *d = json_pack("{s:s,s:s,s:s}", "name", name, "by", c->user, "payload_sha256", h);
    if (d && c->asserted_by)
      json_object_set_new(d, "asserted_by", json_string(c->asserted_by));
    char *txt = wjson_dumps(d, JSON_COMPACT);
    json_decref(d);
    rc = store_audit_append(s, now, NULL, "event.sent", txt, NULL);
    free(txt);
  }
  if (!rc)
    rc = store_commit(s);
  if (rc) {
    if (store_in_tx(s))
      store_rollback(s);
    cli_err("cannot record the event: %s", store_errmsg(s));
    code = EXIT_USAGE;
    goto out;
  }
  printf("event %s sent (id %lld)\n", name, (long long)id);
out:
  free(payload);
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
