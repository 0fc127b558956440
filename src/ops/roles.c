/* roles.c — the one table of operations and the role each needs
 * (SERVER.md §4), the check every ops_* function starts with, and the role
 * of a local actor. Operation names are the API's operationIds
 * (server/api_routes.c); a test checks that every route's role is its
 * operation's role here. */
#include "ops/ops.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Deny by default: an operation missing here is refused to everyone. */
const struct ops_rule ops_rules[] = {
    /* read: viewer */
    {"list_workflows", ROLE_VIEWER},
    {"get_workflow", ROLE_VIEWER},
    {"list_runs", ROLE_VIEWER},
    {"get_run", ROLE_VIEWER},
    {"get_run_graph", ROLE_VIEWER},
    {"get_logs", ROLE_VIEWER},
    {"get_evidence", ROLE_VIEWER},
    {"list_approvals", ROLE_VIEWER},
    {"event_stream", ROLE_VIEWER},
    {"audit_export", ROLE_VIEWER},
    {"audit_verify", ROLE_VIEWER},
    {"list_schedules", ROLE_VIEWER},
    {"metrics", ROLE_VIEWER},
    {"whoami", ROLE_VIEWER}, /* GET /me: the caller's own user and role */
    /* deciding an approval: the step's approvers rule decides, not a role */
    {"approve", ROLE_VIEWER},
    {"reject", ROLE_VIEWER},
    /* changing runs: operator */
    {"deploy_workflow", ROLE_OPERATOR},
    {"start_run", ROLE_OPERATOR},
    {"cancel_run", ROLE_OPERATOR},
    {"retry_run", ROLE_OPERATOR},
    {"resume_run", ROLE_OPERATOR},
    {"backfill", ROLE_OPERATOR},
    {"send_event", ROLE_OPERATOR},
    /* the home itself and other users' secrets: admin */
    {"prune", ROLE_ADMIN},
    {"list_tokens", ROLE_ADMIN},
    {"create_token", ROLE_ADMIN},
    {"revoke_token", ROLE_ADMIN},
};

const size_t ops_rules_count = sizeof ops_rules / sizeof *ops_rules;

int ops_min_role(const char *op)
{
  for (size_t i = 0; op && i < ops_rules_count; i++)
    if (!strcmp(ops_rules[i].op, op))
      return (int)ops_rules[i].min;
  return -1;
}

enum ops_err ops_authorize(const struct ops_ctx *c, const char *op, struct ops_error *e)
{
  int min = ops_min_role(op);
  if (min < 0)
    return ops_fail(e, OPS_E_FORBIDDEN, "%s is not an operation anyone may perform", op ? op : "(none)");
  enum role have = c ? c->role : ROLE_NONE;
  if (have < ROLE_VIEWER || have > ROLE_ADMIN || (int)have < min)
    return ops_fail(e, OPS_E_FORBIDDEN, "%s needs the %s role; %s has %s", op, role_name((enum role)min),
                    c && c->user ? c->user : "the caller", have >= ROLE_VIEWER && have <= ROLE_ADMIN ? role_name(have) : "none");
  return OPS_OK;
}

enum ops_err ops_local_role(const char *home, const struct users *u, const char *user, enum role *out,
                            struct ops_error *e)
{
  struct stat st;
  if (home && stat(home, &st) == 0 && st.st_uid == geteuid()) {
    *out = ROLE_ADMIN;
    return OPS_OK;
  }
  /* users.json's roles were checked when it was loaded (users_load) */
  *out = users_role(u, user, NULL);
  (void)e;
  return OPS_OK;
}
