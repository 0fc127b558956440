/* runsrc.h — where a command reads runs from: the home's store through the
 * operations layer (ops_get_run, ops_list_runs), or a server's API
 * (GET /api/v1/runs...) with --server / $WEFT_SERVER. Both give the same
 * JSON, so the commands print it with one renderer (docs/internals/cli.md).
 *
 * Ownership: a struct runsrc owns its store or its remote; returned json_t
 * are new references. */
#ifndef WEFT_CLI_RUNSRC_H
#define WEFT_CLI_RUNSRC_H

#include <jansson.h>
#include <stdbool.h>

#include "cli/remote.h"
#include "ops/ops.h"

struct cli;

struct runsrc {
  bool remote;
  struct remote r;    /* remote */
  struct store *s;    /* local */
  struct ops_ctx ctx; /* local: a reader's */
};

/* Opens the store (read-only use) or the remote. 0 or the exit code (printed). */
int runsrc_open(struct cli *c, struct runsrc *x);
void runsrc_close(struct runsrc *x);
/* The run (`weft status --json` shape). 0 or the exit code; with quiet,
 * nothing is printed on failure. */
int runsrc_get(struct runsrc *x, const char *id, bool all_instances, bool quiet, json_t **out);
/* The runs as `weft runs --json` lists them (f->limit 0: all). */
int runsrc_list(struct runsrc *x, const struct store_run_filter *f, json_t **out);

#endif
