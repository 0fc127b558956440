/* run_group.c — `weft run` in its workflow's concurrency group
 * (`concurrency:`, SERVER.md §3): the same decision as every other start
 * (ops_concurrency_admit), counted in the home's store, so runs by hand and
 * runs of the server share one limit. A full group with on_full: queue (or
 * cancel_in_progress, once the cancelled runs end) makes this process wait,
 * looking once a second, until a slot is free and no run queued before it
 * waits; skip ends here with nothing run. */
#include "cli/cli.h"
#include "cli/cmds.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ops/ops.h"

int cli_run_admit(struct cli *c, struct store *s, struct wf *wf, const json_t *inputs, char **group)
{
  *group = NULL;
  char *err = NULL;
  json_t *trig = json_pack("{s:s}", "type", "manual");
  if (!trig || ops_concurrency_group(wf, inputs, trig, group, &err)) {
    cli_err("%s: the concurrency key: %s; nothing was run", wf->path, err ? err : "out of memory");
    free(err);
    json_decref(trig);
    return EXIT_USAGE;
  }
  json_decref(trig);
  if (!*group)
    return EXIT_OK;
  struct ops_ctx ctx;
  cli_ops_reader(c, s, &ctx);
  struct ops_admit adm;
  struct ops_error e = {0};
  if (ops_concurrency_admit(&ctx, wf, *group, &adm, &e))
    return cli_ops_fail(&e);
  int code = EXIT_OK;
  if (adm.decision == OPS_ADMIT_SKIP) {
    ops_concurrency_skipped(&ctx, wf, *group, "manual", adm.why);
    cli_err("%s; nothing was run", adm.why);
    code = EXIT_CANCELLED;
  } else if (adm.decision == OPS_ADMIT_QUEUE) {
    fprintf(stderr, "weft: waiting: %s; the run starts when a slot frees\n", adm.why);
    for (;;) {
      int64_t active = 0, waiting = 0;
      if (store_group_count(s, *group, &active, &waiting)) {
        cli_err("cannot count the runs of concurrency group %s: %s", *group, store_errmsg(s));
        code = EXIT_USAGE;
        break;
      }
      if (active < wf->concurrency && waiting == 0)
        break;
      sleep(1);
    }
  }
  ops_admit_clear(&adm);
  if (code) {
    free(*group);
    *group = NULL;
  }
  return code;
}
