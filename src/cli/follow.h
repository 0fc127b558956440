/* follow.h — following a run a server executes (`weft start --wait`, `weft
 * retry` with --server) until it ends, printing what `weft run` prints:
 * one line per transition (from the run's audit entries), then the last log
 * lines of each failed step (and of failed sub-workflow runs), the line
 * `run ID STATUS in DURATION`, and with --json the run on stdout. */
#ifndef WEFT_CLI_FOLLOW_H
#define WEFT_CLI_FOLLOW_H

#include <stdbool.h>

#include "cli/runsrc.h"

/* Follows run id to its end: prints, as `weft run` prints them (line mode),
 * the transitions recorded in its audit log after entry `after` (GET
 * /audit?run=ID twice a second; 0: all of them), until its terminal status;
 * then the end (failures with their logs' tails, the final line; with json
 * the run on stdout and the rest on stderr). Returns the exit code of the
 * final status (cli.h), or of a failure to read it (printed). */
int follow_run(struct runsrc *x, const char *id, bool json, json_int_t after);
/* *seq = the number of the run's newest audit entry (what a retry's
 * transitions come after). 0 or the exit code (printed). */
int follow_seq(struct runsrc *x, const char *run, json_int_t *seq);

#endif
