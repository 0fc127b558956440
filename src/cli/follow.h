/* follow.h — following a run a server executes (`weft start --wait`, `weft
 * retry` with --server) until it ends, then the end `weft run` prints: the
 * last log lines of each failed step (and of failed sub-workflow runs), the
 * line `run ID STATUS in DURATION`, and with --json the run on stdout. */
#ifndef WEFT_CLI_FOLLOW_H
#define WEFT_CLI_FOLLOW_H

#include <stdbool.h>

#include "cli/runsrc.h"

/* Polls GET /runs/{id} (twice a second) until the run ends (with ended_at
 * not NULL: ends at another time than ended_at, its end before a retry);
 * returns the exit code of its final status (cli.h), or of a failure to
 * read it (printed). */
int follow_run(struct runsrc *x, const char *id, bool json, const char *ended_at);

#endif
