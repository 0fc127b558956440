/* opsctx.c — how a local command becomes a caller of the operations layer
 * (ops/ops.h): the ops_ctx of a reader or of an actor (identity and role,
 * SERVER.md §4), and an ops failure printed as `weft: ...` with the exit
 * code of its kind. */
#include "cli/cli.h"
#include "cli/cmds.h"

#include <stdlib.h>

#include "ops/ops.h"
#include "util/users.h"

void cli_ops_reader(struct cli *c, struct store *s, struct ops_ctx *ctx)
{
  /* every local user is at least a viewer: reading needs no identity */
  *ctx = (struct ops_ctx){.store = s, .home = c->home, .user = c->user, .role = ROLE_VIEWER};
}

int cli_ops_actor(struct cli *c, struct store *s, struct ops_ctx *ctx)
{
  int rc = cli_identity(c);
  if (rc)
    return rc;
  struct users u = {0};
  char *err = NULL;
  if (users_load(c->home, &u, &err) != 0) {
    cli_err("%s", err ? err : "users.json in the weft home is not valid");
    free(err);
    return EXIT_USAGE;
  }
  struct ops_error e = {0};
  enum role role = ROLE_VIEWER;
  enum ops_err k = ops_local_role(c->home, &u, c->user, &role, &e);
  users_free(&u);
  if (k)
    return cli_ops_fail(&e);
  *ctx = (struct ops_ctx){.store = s, .home = c->home, .user = c->user, .asserted_by = c->asserted_by, .role = role};
  return EXIT_OK;
}

int cli_ops_fail(const struct ops_error *e)
{
  cli_err("%s", e->msg[0] ? e->msg : "the operation failed");
  return ops_err_exit(e->kind);
}
