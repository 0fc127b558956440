/* identity.c — who a local command acts as (CLI.md, "Identity").
 *
 * The operating-system user of the process's effective uid, never $USER,
 * mapped to a weft user by users.json ("os_user"; by default the names are
 * equal). `--as USER` is refused unless users.json says "allow_as": true;
 * then USER is the identity, and c->asserted_by keeps the real one so that
 * every record made with it carries both names (`by` and `asserted_by`).
 * users.json is read here with its mode checked (util/users.c). */
#include "cli/cli.h"
#include "cli/cmds.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/users.h"

int cli_identity(struct cli *c)
{
  if (c->user)
    return 0;
  struct users u = {0};
  char *err = NULL, *os = NULL, *me = NULL;
  int rc = EXIT_OK;
  if (users_load(c->home, &u, &err) != 0) {
    cli_err("%s", err ? err : "users.json in the weft home is not valid");
    rc = EXIT_USAGE;
    goto out;
  }
  if (!(os = users_os_user(&err)) || users_identity(&u, os, &me, &err) != 0) {
    cli_err("cannot tell who you are: %s", err ? err : "out of memory");
    rc = EXIT_USAGE;
    goto out;
  }
  if (c->as && strcmp(c->as, me)) {
    if (!u.allow_as) {
      cli_err("--as %s is refused: a local command acts as the operating-system user running "
              "it (you are %s). To let one person act as several users (trying weft, tests), "
              "add \"allow_as\": true to users.json in the weft home; decisions made so are "
              "recorded as asserted, not verified",
              c->as, me);
      rc = EXIT_USAGE;
      goto out;
    }
    if (!(c->user_own = strdup(c->as)) || !(c->asserted_own = strdup(me))) {
      cli_err("out of memory");
      rc = EXIT_USAGE;
      goto out;
    }
    c->user = c->user_own;
    c->asserted_by = c->asserted_own;
  } else {
    c->user = c->user_own = me;
    me = NULL;
  }
out:
  users_free(&u);
  free(err);
  free(os);
  free(me);
  return rc;
}

void cli_identity_free(struct cli *c)
{
  free(c->user_own);
  free(c->asserted_own);
  c->user_own = c->asserted_own = NULL;
  c->user = c->asserted_by = NULL;
}
