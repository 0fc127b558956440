/* cmd_start.c — `weft start NAME [-i KEY=VALUE]... [--inputs FILE.json]
 * [--idempotency-key K] [--wait] [--json]`: a run of a deployed workflow,
 * started through a server (POST /api/v1/workflows/{name}/runs; SERVER.md
 * §2), its id printed. Only through a server: --server, else $WEFT_SERVER,
 * else http://127.0.0.1:7700.
 *
 * -i values are read by the workflow's declared input types exactly as
 * `weft run` reads them: the newest source comes from GET /workflows/{name}
 * (when that fails, the values go as written and the server types them).
 * --wait follows the run to its end and prints what `weft run` prints at
 * its end (cli/follow.h), with its exit code. */
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/follow.h"
#include "cli/runsrc.h"
#include "runtime/inputs.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

int cli_start(struct cli *c, int argc, char **argv);

/* given's strings read by the newest version's declarations */
static void type_inputs(struct remote *r, const char *ename, json_t *given)
{
  char *path = NULL;
  json_t *wfj = NULL;
  if (asprintf(&path, "/api/v1/workflows/%s", ename) < 0)
    return;
  r->quiet = true;
  int rc = remote_json(r, "GET", path, NULL, &wfj, NULL);
  r->quiet = false;
  free(path);
  const char *src = json_string_value(json_object_get(wfj, "source"));
  struct wf *wf = NULL;
  struct diag_list d = {0};
  if (rc == 0 && src && wf_load_string("<deployed>", src, strlen(src), &wf, &d) == 0)
    inputs_read_cli(wf, given);
  /* else: the values go as written; the server reads numbers and booleans */
  wf_free(wf);
  diag_list_free(&d);
  json_decref(wfj);
}

int cli_start(struct cli *c, int argc, char **argv)
{
  static const struct option opts[] = {
    {"input", required_argument, 0, 'i'}, {"inputs", required_argument, 0, 'I'},
    {"idempotency-key", required_argument, 0, 'k'}, {"wait", no_argument, 0, 'w'},
    {"json", no_argument, 0, 'j'}, {0, 0, 0, 0}};
  json_t *given = json_object(), *file_inputs = json_object(), *res = NULL, *body = NULL;
  const char *key = NULL;
  bool wait = false, json = false;
  char *err = NULL, *ename = NULL, *path = NULL;
  int ch, rc, code = EXIT_OK;
  struct runsrc x = {0};
  bool open = false;
  optind = 0;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "i:wj", opts, NULL)) != -1) {
    switch (ch) {
    case 'i':
      if (inputs_parse_kv(given, optarg, &err)) {
        code = cli_usage_error("start", "%s", err ? err : "bad input");
        goto out;
      }
      break;
    case 'I':
      if ((rc = inputs_load_file(file_inputs, optarg, &err)) != 0) {
        cli_err("%s", err ? err : "cannot read inputs");
        code = rc == WEFT_ENOTFOUND ? EXIT_NOT_FOUND : EXIT_USAGE;
        goto out;
      }
      break;
    case 'k': key = optarg; break;
    case 'w': wait = true; break;
    case 'j': json = true; break;
    default:
      code = cli_usage_error("start", "unknown option %s", argv[optind - 1]);
      goto out;
    }
  }
  if (argc - optind != 1) {
    code = cli_usage_error("start", "name one deployed workflow (`weft deploy FILE` deploys one)");
    goto out;
  }
  if (json && !wait) {
    code = cli_usage_error("start", "--json prints the run at its end: give --wait with it");
    goto out;
  }
  x.remote = true;
  if ((code = remote_open(c, NULL, &x.r)) != 0) /* c->server NULL: the default URL */
    goto out;
  open = true;
  if (!(ename = remote_escape(argv[optind])) || asprintf(&path, "/api/v1/workflows/%s/runs", ename) < 0) {
    path = NULL;
    cli_err("out of memory");
    code = EXIT_USAGE;
    goto out;
  }
  type_inputs(&x.r, ename, given);
  const char *gk;
  json_t *gv;
  json_object_foreach(given, gk, gv) json_object_set(file_inputs, gk, gv); /* -i wins */
  body = json_pack("{s:O}", "inputs", file_inputs);
  if (key)
    json_object_set_new(body, "idempotency_key", json_string(key));
  if ((code = remote_json(&x.r, "POST", path, body, &res, NULL)) != 0)
    goto out;
  const char *id = json_string_value(json_object_get(res, "id"));
  if (!id) {
    cli_err("the weft server at %s started a run but did not say its id", x.r.shown);
    code = EXIT_USAGE;
    goto out;
  }
  if (!wait) {
    printf("%s\n", id);
    goto out;
  }
  fprintf(json ? stderr : stdout, "%s\n", id);
  fflush(json ? stderr : stdout);
  code = follow_run(&x, id, json, 0);
out:
  if (open)
    remote_close(&x.r);
  json_decref(given);
  json_decref(file_inputs);
  json_decref(body);
  json_decref(res);
  free(err);
  free(ename);
  free(path);
  return code;
}
