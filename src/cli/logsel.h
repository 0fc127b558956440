/* logsel.h — reading `weft logs RUN [STEP[:INDEX]] [--attempt N]` arguments.
 *
 * Strict: a step is a step id, an index and an attempt are plain decimal
 * numbers; anything else is a usage error with a message (never a file name,
 * never "0" from atoi). */
#ifndef WEFT_CLI_LOGSEL_H
#define WEFT_CLI_LOGSEL_H

#include <stdbool.h>
#include <stddef.h>

#include "spec/model.h"
#include "store/store.h"

/* "STEP", "STEP:N" or "STEP[N]" into step (at least 65 bytes), *index and
 * *has_index. Returns 0, or -1 with a message in err (errsz bytes). */
int logsel_parse_step(const char *arg, char step[65], int *index, bool *has_index, char *err,
                      size_t errsz);
/* "N" (1..2^31-1) into *out. Returns 0, or -1. */
int logsel_parse_attempt(const char *arg, int *out);

/* `weft logs RUN step:99` past a for_each's instances: prints how many there
 * are and returns EXIT_NOT_FOUND; 0 when index is within them (or the step is
 * not a for_each, or the count cannot be read). */
int logsel_past_instances(struct store *s, const struct store_run *r, const struct wf *wf,
                          const char *step, int index);

#endif
