/* evidence.c — a run's evidence pack (GET /runs/{id}/evidence; the UI's
 * download): what an auditor needs to check one run without the server.
 *
 * {format: "weft-evidence-1", run (ops_run_json), definition {sha256, path,
 * source}, inputs_sha256, decisions, agent_usage, audit, chain}. audit is
 * every entry of the run as `weft audit export RUN` prints it (seq, at,
 * kind, data, prev_hash, hash, identity: asserted or verified); each hash
 * can be recomputed from the entry and its prev_hash (docs/audit.md), and
 * chain is the verification of the whole log at the time of the pack (ok,
 * entries, head), so the pack's entries are anchored in the verified chain.
 * decisions are the run's approval.* entries, agent_usage its agent.turn
 * entries (model, tokens, cost as the agent step recorded them). */
#include "ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/sha256.h"

static void inputs_sha256(const char *inputs, char out[SHA256_HEX_LEN + 1])
{
  json_t *j = inputs ? json_loads(inputs, 0, NULL) : NULL;
  /* the same canonical text as the approval.decided entries' inputs_sha256 */
  char *t = json_dumps(j ? j : json_object(), JSON_COMPACT | JSON_SORT_KEYS);
  sha256_hex(t ? t : "", t ? strlen(t) : 0, out);
  free(t);
  json_decref(j);
}

enum ops_err ops_evidence(const struct ops_ctx *c, const char *id, json_t **out, struct ops_error *e)
{
  *out = NULL;
  struct store *s = c->store;
  struct store_run r = {0};
  struct store_workflow w = {0};
  char *text = NULL;
  size_t len = 0;
  json_t *pack = NULL;
  enum ops_err k = ops_authorize(c, "get_evidence", e);
  if (k || (k = ops_find_run(s, id, &r, e)) != 0)
    goto out;
  /* the reader's role suffices for the parts: the pack is one read */
  struct ops_ctx rc = *c;
  if (rc.role < ROLE_VIEWER)
    rc.role = ROLE_VIEWER;
  FILE *f = open_memstream(&text, &len);
  if (!f) {
    k = ops_fail(e, OPS_E_INTERNAL, "out of memory");
    goto out;
  }
  k = ops_audit_export(&rc, r.id, f, e);
  fclose(f);
  if (k)
    goto out;
  json_t *audit = json_array(), *decisions = json_array(), *usage = json_array();
  for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
    nl = strchr(line, '\n');
    if (nl)
      *nl = 0;
    json_t *x = json_loads(line, 0, NULL);
    if (!x)
      continue;
    const char *kind = json_string_value(json_object_get(x, "kind"));
    if (kind && !strncmp(kind, "approval.", 9))
      json_array_append(decisions, x);
    else if (kind && !strcmp(kind, "agent.turn"))
      json_array_append(usage, x);
    json_array_append_new(audit, x);
  }
  json_t *chain = NULL;
  if ((k = ops_audit_verify(&rc, NULL, 0, &chain, e)) != 0) {
    json_decref(audit);
    json_decref(decisions);
    json_decref(usage);
    goto out;
  }
  json_t *def = json_pack("{s:s,s:o}", "sha256", r.workflow_hash ? r.workflow_hash : "", "path",
                          r.path ? json_string(r.path) : json_null());
  if (def && r.workflow_hash && store_workflow_get(s, r.workflow_hash, &w) == 0 && w.source)
    json_object_set_new(def, "source", json_string(w.source));
  char ih[SHA256_HEX_LEN + 1];
  inputs_sha256(r.inputs, ih);
  pack = json_pack("{s:s,s:o,s:o,s:s,s:o,s:o,s:o,s:o}", "format", "weft-evidence-1", "run",
                   ops_run_json(s, &r, false), "definition", def, "inputs_sha256", ih, "decisions", decisions,
                   "agent_usage", usage, "audit", audit, "chain", chain);
  if (!pack)
    k = ops_fail(e, OPS_E_INTERNAL, "out of memory");
  *out = pack;
out:
  free(text);
  store_workflow_clear(&w);
  store_run_clear(&r);
  return k;
}
