/* api_approvals.c — GET /approvals (ops_list_approvals_for: only what the
 * caller may decide) and POST /runs/{id}/steps/{step}/approve|reject
 * {comment, fields, index} (ops_decide). A decision reaches the server's
 * own engine at once (the hooks' poke); a run another process executes
 * learns of it at that process's next inbox poll. */
#include "server/api.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/jsonfmt.h"

static void decide(const struct api *a, struct ops_ctx *c, const struct httpd_req *rq, struct httpd_resp *rs,
                   const char *decision)
{
  json_t *b = rq->json;
  if (b && !json_is_object(b)) {
    httpd_error(rs, APIERR_BAD_REQUEST, "the body must be a JSON object {comment, fields, index}");
    return;
  }
  const char *comment = NULL;
  if (!api_body_str(rq, rs, "comment", &comment))
    return;
  json_t *ix = b ? json_object_get(b, "index") : NULL;
  int index = STORE_NO_INDEX;
  if (ix && !json_is_null(ix)) {
    if (!json_is_integer(ix) || json_integer_value(ix) < 0 || json_integer_value(ix) > INT32_MAX) {
      httpd_error(rs, APIERR_BAD_REQUEST, "\"index\" must be a whole number from 0");
      return;
    }
    index = (int)json_integer_value(ix);
  }
  json_t *fields = b ? json_object_get(b, "fields") : NULL;
  if (fields && !json_is_null(fields) && !json_is_object(fields)) {
    httpd_error(rs, APIERR_BAD_REQUEST, "\"fields\" must be an object of the form's values");
    return;
  }
  size_t nf = json_object_size(fields), i = 0;
  char **kv = calloc(nf ? nf : 1, sizeof *kv);
  if (!kv) {
    httpd_error(rs, APIERR_INTERNAL, "out of memory");
    return;
  }
  const char *key;
  json_t *v;
  bool ok = true;
  json_object_foreach(fields, key, v) {
    /* KEY=VALUE as `--field` takes it: a string is the text as written (read
     * by the field's type: "2.0" for a string field, 3 from "3" for an
     * integer one), any other value its JSON */
    char *val = json_is_string(v) ? strdup(json_string_value(v)) : wjson_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!val || strchr(key, '=') || asprintf(&kv[i], "%s=%s", key, val) < 0) {
      kv[i] = NULL;
      ok = false;
    }
    free(val);
    if (!ok)
      break;
    i++;
  }
  if (!ok) {
    httpd_error(rs, APIERR_BAD_REQUEST, "field \"%.100s\" cannot be given", key);
  } else {
    struct ops_decision d = {.run = route_param(rq->match, "id"), .step = route_param(rq->match, "step"),
                             .index = index, .decision = decision, .comment = comment,
                             .fields = (const char *const *)kv, .nfields = nf};
    json_t *out = NULL;
    struct ops_error e = {0};
    if (ops_decide(c, &d, &out, &e)) {
      api_fail(rs, &e);
    } else {
      if (a->poke)
        a->poke(a->ud);
      httpd_json(rs, 200, out);
    }
  }
  for (size_t j = 0; j < nf; j++)
    free(kv[j]);
  free(kv);
}

void api_approvals(const struct api *a, const struct httpd_req *rq, struct httpd_resp *rs, const char *op)
{
  struct ops_ctx c;
  if (!api_ctx(a, rq, rs, &c))
    return;
  if (!strcmp(op, "list_approvals")) {
    json_t *out = NULL;
    struct ops_error e = {0};
    if (ops_list_approvals_for(&c, &out, &e))
      api_fail(rs, &e);
    else
      httpd_json(rs, 200, out);
  } else {
    decide(a, &c, rq, rs, !strcmp(op, "approve") ? "approve" : "reject");
  }
  api_done(a, &c);
}
