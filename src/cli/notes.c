/* notes.c — notes (not errors) about a valid workflow on stderr: keys that
 * act only under `weft server` (triggers:, concurrency:), so that nobody
 * waits for a schedule that `weft run` never keeps. */
#include "cli/cmds.h"

#include <stdio.h>

#include "spec/model.h"

void cli_server_only_notes(const char *path, const struct wf *w)
{
  if (w->triggers)
    fprintf(stderr, "weft: note: %s: triggers: act only under `weft server`; here nothing is "
            "scheduled or listened for (`weft run` starts one run by hand)\n", path);
  if (w->concurrency > 0)
    fprintf(stderr, "weft: note: %s: concurrency: limits runs only under `weft server`; "
            "`weft run` does not queue\n", path);
}
