/* cmd_schedules.c — `weft schedules` through a server: GET
 * /api/v1/schedules printed as the server answers it (indented JSON).
 * The triggers are not built in this version: there is no local listing
 * yet, and a server that does not answer the route says why (its error is
 * printed as every API error is, cli/remote.h). */
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/jsonfmt.h"

int cli_schedules(struct cli *c, int argc, char **argv);

int cli_schedules(struct cli *c, int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--json"))
      return cli_usage_error("schedules", "unexpected argument \"%s\"", argv[i]);
  if (!remote_wanted(c)) {
    cli_err("`weft schedules` lists a server's triggers: give --server URL or set WEFT_SERVER "
            "(with WEFT_TOKEN); there is no local listing in this build");
    return EXIT_USAGE;
  }
  struct remote r;
  int code = remote_open(c, NULL, &r);
  if (code)
    return code;
  json_t *j = NULL;
  code = remote_json(&r, "GET", "/api/v1/schedules", NULL, &j, NULL);
  remote_close(&r);
  if (code)
    return code;
  char *txt = wjson_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  printf("%s\n", txt ? txt : "null");
  free(txt);
  json_decref(j);
  return EXIT_OK;
}
