/* deployed.c — the newest deployed version of a name, loaded (deployed.h). */
#include "runtime/deployed.h"

#include <stdio.h>
#include <string.h>

#include "util/err.h"

int rt_deployed_load(struct store *s, const char *name, struct wf **out, int *version, char *msg,
                     size_t msglen)
{
  struct store_deployment d = {0};
  struct store_workflow w = {0};
  struct diag_list dl = {0};
  *out = NULL;
  int rc = store_deploy_newest(s, name, &d);
  if (rc == WEFT_ENOTFOUND) {
    snprintf(msg, msglen, "no workflow named \"%s\" is deployed (weft deploy FILE)", name);
    goto out;
  }
  if (rc || (rc = store_workflow_get(s, d.hash, &w)) != 0) {
    snprintf(msg, msglen, "cannot read the deployed workflow %s: %s", name, store_errmsg(s));
    rc = rc == WEFT_ENOTFOUND ? WEFT_ESTORE : rc;
    goto out;
  }
  char label[300];
  snprintf(label, sizeof label, "%s.yaml", name);
  rc = wf_load_string(d.path ? d.path : label, w.source, strlen(w.source), out, &dl);
  if (rc) {
    /* valid when deployed; a later weft may be stricter */
    diag_sort(&dl);
    snprintf(msg, msglen, "version %d of %s no longer loads: %s", d.version, name,
             dl.n ? dl.v[0].msg : weft_strerror(rc));
    goto out;
  }
  if (version)
    *version = d.version;
out:
  diag_list_free(&dl);
  store_workflow_clear(&w);
  store_deployment_clear(&d);
  return rc;
}
