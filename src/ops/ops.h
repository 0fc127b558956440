/* ops.h — the operations layer: every action a person or a program can
 * take on a weft home is one ops_* function, called alike by the CLI and the
 * HTTP API (and later the triggers). Each one
 *   1. checks the actor's role against the ONE table of operations
 *      (ops_rules: operation name -> minimum role; an operation without a
 *      row is denied),
 *   2. applies the rules of the operation,
 *   3. writes its audit entry in the same transaction as its change,
 *   4. returns the JSON that `--json` and the API both print.
 * Failures are a kind of ops/err.h with a message for people.
 *
 * Layering: cli/ and server/ call ops/; ops/ calls runtime/, store/, audit/,
 * engine/, spec/ and util/, never cli/ or server/. docs/internals/ops.md.
 *
 * Ownership: the ctx's strings and store are borrowed from the caller for
 * the duration of a call; returned json_t are new references. */
#ifndef WEFT_OPS_OPS_H
#define WEFT_OPS_OPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ops/err.h"
#include "store/store.h"
#include "util/role.h"
#include "util/users.h"

struct ops_ctx {
  struct store *store;     /* open store of the home */
  const char *home;        /* the weft home directory */
  const char *user;        /* the acting weft user (NULL: not needed by read ops) */
  const char *asserted_by; /* with `--as`: the real user who asserted `user`; else NULL */
  enum role role;          /* the actor's role (ops_local_role, or the token's user's) */
  const char *token_id;    /* through the API: the token's id (audited); else NULL */
};

/* One row of the role table. */
struct ops_rule {
  const char *op;
  enum role min;
};

extern const struct ops_rule ops_rules[];
extern const size_t ops_rules_count;

/* The minimum role of op, or -1 when the table has no row for it. */
int ops_min_role(const char *op);
/* 0 when c->role may perform op; else OPS_E_FORBIDDEN with e->msg saying
 * which role op needs (or that op is unknown: deny by default). */
enum ops_err ops_authorize(const struct ops_ctx *c, const char *op, struct ops_error *e);

/* The role of a local (no server) actor, SERVER.md §4: the owner of the home
 * directory (the effective uid owning it) is admin; else the "role" users.json
 * gives user; else viewer. A "role" that is not viewer, operator or admin is
 * OPS_E_UNPROCESSABLE (users.json is wrong: say so rather than guess). */
enum ops_err ops_local_role(const char *home, const struct users *u, const char *user, enum role *out,
                            struct ops_error *e);

#endif
