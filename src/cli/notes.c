/* notes.c — notes (not errors) about a valid workflow on stderr: keys that
 * act only under `weft server` (triggers:, notify:), so that nobody
 * waits for a schedule that `weft run` never keeps. */
#include "cli/cmds.h"

#include <stdio.h>

#include "spec/model.h"

void cli_server_only_notes(const char *path, const struct wf *w)
{
  if (w->triggers)
    fprintf(stderr, "weft: note: %s: triggers: act only under `weft server`; here nothing is "
            "scheduled or listened for (`weft run` starts one run by hand)\n", path);
  if (w->notify && json_array_size(w->notify))
    fprintf(stderr, "weft: note: %s: notify: posts only from `weft server`; `weft run` tells no one\n", path);
}
