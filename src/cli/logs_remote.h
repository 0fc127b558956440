/* logs_remote.h — `weft logs` through a server (logs_remote.c). */
#ifndef WEFT_CLI_LOGS_REMOTE_H
#define WEFT_CLI_LOGS_REMOTE_H

#include <stdbool.h>

struct cli;

/* run_arg as given; step (NULL: every step) as parsed from step_arg, with
 * index when has_index; attempt 0: the last. Returns the exit code. */
int logs_remote(struct cli *c, const char *run_arg, const char *step_arg, const char *step, int index,
                bool has_index, int attempt, bool follow);

#endif
