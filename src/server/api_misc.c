/* api_misc.c — POST /events {name, data, run} (ops_send_event; with run
 * ops_send_run_event), GET
 * /audit?run=ID (ops_audit_export: JSON lines, application/x-ndjson) and
 * GET /audit/verify (ops_audit_verify without checkpoints: those live
 * outside the home, with whoever keeps them; `weft audit verify
 * --checkpoint` checks them). */
#include "server/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void send_event(const struct api *a, struct ops_ctx *c, const struct httpd_req *rq, struct httpd_resp *rs)
{
  json_t *b = rq->json;
  if (!json_is_object(b)) {
    httpd_error(rs, APIERR_BAD_REQUEST, "send {\"name\": NAME, \"data\": {...}} as the body");
    return;
  }
  const char *name = NULL;
  if (!api_body_str(rq, rs, "name", &name))
    return;
  if (!name) {
    httpd_error(rs, APIERR_BAD_REQUEST, "the body needs \"name\": the event's name");
    return;
  }
  json_t *run = json_object_get(b, "run");
  if (run && !json_is_null(run) && !json_is_string(run)) {
    httpd_error(rs, APIERR_BAD_REQUEST, "\"run\" must be a run id (the event is kept for that run)");
    return;
  }
  json_t *out = NULL;
  struct ops_error e = {0};
  enum ops_err k = json_is_string(run)
                       ? ops_send_run_event(c, name, json_object_get(b, "data"), json_string_value(run), &out, &e)
                       : ops_send_event(c, name, json_object_get(b, "data"), &out, &e);
  if (k) {
    api_fail(rs, &e);
    return;
  }
  if (a->poke)
    a->poke(a->ud);
  httpd_json(rs, 202, out);
}

static void audit_export(struct ops_ctx *c, const struct httpd_req *rq, struct httpd_resp *rs)
{
  char run[128];
  bool bad;
  const char *id = api_query(rq, rs, "run", run, sizeof run, &bad);
  if (bad)
    return;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) {
    httpd_error(rs, APIERR_INTERNAL, "out of memory");
    return;
  }
  struct ops_error e = {0};
  enum ops_err k = ops_audit_export(c, id && *id ? id : NULL, f, &e);
  if (fclose(f) && !k)
    k = ops_fail(&e, OPS_E_INTERNAL, "out of memory");
  if (k) {
    free(text);
    api_fail(rs, &e);
    return;
  }
  rs->status = 200;
  rs->ctype = "application/x-ndjson";
  rs->body = text;
  rs->len = len;
}

void api_misc(const struct api *a, const struct httpd_req *rq, struct httpd_resp *rs, const char *op)
{
  struct ops_ctx c;
  if (!api_ctx(a, rq, rs, &c))
    return;
  if (!strcmp(op, "send_event")) {
    send_event(a, &c, rq, rs);
  } else if (!strcmp(op, "audit_export")) {
    audit_export(&c, rq, rs);
  } else {
    json_t *out = NULL;
    struct ops_error e = {0};
    if (ops_audit_verify(&c, NULL, 0, &out, &e))
      api_fail(rs, &e);
    else
      httpd_json(rs, 200, out);
  }
  api_done(a, &c);
}
