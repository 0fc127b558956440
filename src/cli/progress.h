/* progress.h — what `weft run`, `retry` and `resume` show while runs execute:
 * a live table of steps on a terminal, one line per transition otherwise,
 * and step output prefixed with [step] for -v.
 *
 * It implements the runtime's observer (runtime.h); it only reads the engine
 * state it is handed and prints. */
#ifndef WEFT_CLI_PROGRESS_H
#define WEFT_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "runtime/runtime.h"

struct progress;

/* out: where progress goes (stdout, or stderr when stdout carries --json).
 * live: draw the table (a terminal and no -v). */
struct progress *progress_new(FILE *out, bool live, bool verbose);
void progress_free(struct progress *p);
/* Fills the observer part of rt_opts. */
void progress_observer(struct progress *p, struct rt_observer *obs);
/* Draws the final table (live mode) before the summary is printed. */
void progress_finish(struct progress *p);

#endif
