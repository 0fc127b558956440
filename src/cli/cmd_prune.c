/* cmd_prune.c — `weft prune --older-than D [--dry-run]`: argv and the
 * terminal; the pruning, its rules and its audit entries are ops_prune
 * (ops/prune.c). */
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/runview.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/wtime.h"

int cli_prune(struct cli *c, int argc, char **argv);

int cli_prune(struct cli *c, int argc, char **argv)
{
  const char *age = NULL;
  bool dry = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--dry-run"))
      dry = true;
    else if (!strcmp(argv[i], "--older-than") && i + 1 < argc)
      age = argv[++i];
    else if (!strncmp(argv[i], "--older-than=", 13))
      age = argv[i] + 13;
    else
      return cli_usage_error("prune", "unexpected argument \"%s\"", argv[i]);
  }
  int64_t ms = 0;
  if (!age)
    return cli_usage_error("prune", "say how old: --older-than D (e.g. 30d)");
  if (wt_parse_duration(age, &ms) != 0)
    return cli_usage_error("prune", "--older-than needs a duration such as 30d, 12h or 90m, not "
                                    "\"%s\"", age);
  struct store *s = NULL;
  int code = cli_identity(c);
  if (code || (code = rv_open_store(c->home, &s)))
    return code;
  struct ops_ctx ctx;
  struct ops_error e = {0};
  json_t *rep = NULL;
  if ((code = cli_ops_actor(c, s, &ctx)) != 0) {
    store_close(s);
    return code;
  }
  enum ops_err k = ops_prune(&ctx, ms, age, dry, &rep, &e);
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(rep, "trees"), i, t) {
    const char *id = json_string_value(json_object_get(t, "run"));
    const char *kept = json_string_value(json_object_get(t, "kept"));
    if (kept && !strcmp(kept, "a sub-workflow run is active")) {
      printf("kept %s: one of its sub-workflow runs is still active\n", id);
      continue;
    }
    if (kept) {
      printf("kept %s: it is being retried or resumed\n", id);
      continue;
    }
    json_int_t sub = json_integer_value(json_object_get(t, "sub_runs"));
    printf("%s %s %s %s finished %s", dry ? "would prune" : "pruned", id,
           json_string_value(json_object_get(t, "workflow")), json_string_value(json_object_get(t, "status")),
           json_string_value(json_object_get(t, "finished_at")));
    if (sub > 0)
      printf(" (with %lld sub-workflow run%s)", (long long)sub, sub == 1 ? "" : "s");
    printf("\n");
  }
  if (k) {
    code = cli_ops_fail(&e);
  } else {
    json_int_t pruned = json_integer_value(json_object_get(rep, "runs"));
    printf("%s %lld run%s (%lld top-level)%s\n", dry ? "would prune" : "pruned", (long long)pruned,
           pruned == 1 ? "" : "s", (long long)json_integer_value(json_object_get(rep, "top_level")),
           dry ? "; nothing was deleted (--dry-run)" : "; each has a run.pruned audit entry");
  }
  json_decref(rep);
  store_close(s);
  return code;
}
