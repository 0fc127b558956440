/* api_runs.c — GET /runs, GET /runs/{id}, GET /runs/{id}/graph, POST
 * /runs/{id}/cancel, POST /runs/{id}/retry and GET /runs/{id}/evidence:
 * each the ops_* call of the same name (ops/ops.h). GET /runs also takes a
 * time window, since= and until= (RFC 3339, when the run was created). */
#include "server/api.h"

#include <stdlib.h>
#include <string.h>

#include "util/wtime.h"

static bool body_object(const struct httpd_req *rq, struct httpd_resp *rs)
{
  if (rq->json && !json_is_object(rq->json)) {
    httpd_error(rs, APIERR_BAD_REQUEST, "the body must be a JSON object");
    return false;
  }
  return true;
}

static void list_runs(struct ops_ctx *c, const struct httpd_req *rq, struct httpd_resp *rs)
{
  char status[64], workflow[256], trigger[64], cursor[128];
  bool b1, b2, b3, b4;
  long limit;
  struct store_run_filter f = {0};
  f.status = api_query(rq, rs, "status", status, sizeof status, &b1);
  if (b1)
    return;
  f.workflow = api_query(rq, rs, "workflow", workflow, sizeof workflow, &b2);
  if (b2)
    return;
  f.trigger = api_query(rq, rs, "trigger", trigger, sizeof trigger, &b3);
  if (b3)
    return;
  const char *cur = api_query(rq, rs, "cursor", cursor, sizeof cursor, &b4);
  if (b4 || !api_query_int(rq, rs, "limit", 0, 1000000, &limit))
    return;
  if (httpd_has_query(rq, "limit") && limit == 0) {
    httpd_error(rs, APIERR_BAD_REQUEST, "limit must be from 1 to %d", OPS_PAGE_MAX);
    return;
  }
  int64_t win[2] = {0, 0};
  static const char *const wname[2] = {"since", "until"};
  for (int i = 0; i < 2; i++) {
    char t[64];
    bool bt;
    const char *v = api_query(rq, rs, wname[i], t, sizeof t, &bt);
    if (bt)
      return;
    if (v && *v && (wt_parse_rfc3339(v, &win[i]) || win[i] <= 0)) {
      httpd_error(rs, APIERR_BAD_REQUEST, "%s must be an RFC 3339 time such as 2026-11-25T10:00:00Z, not \"%.60s\"",
                  wname[i], v);
      return;
    }
  }
  json_t *out = NULL;
  struct ops_error e = {0};
  if (ops_list_runs_window(c, &f, (size_t)limit, cur && *cur ? cur : NULL, win[0], win[1], &out, &e))
    api_fail(rs, &e);
  else
    httpd_json(rs, 200, out);
}

static void after_change(const struct api *a)
{
  if (a->poke)
    a->poke(a->ud); /* the server's own engine acts now, not at its next poll */
}

void api_runs(const struct api *a, const struct httpd_req *rq, struct httpd_resp *rs, const char *op)
{
  struct ops_ctx c;
  if (!body_object(rq, rs) || !api_ctx(a, rq, rs, &c))
    return;
  const char *id = route_param(rq->match, "id");
  json_t *out = NULL;
  struct ops_error e = {0};
  enum ops_err k = OPS_OK;
  unsigned status = 200;
  if (!strcmp(op, "list_runs")) {
    list_runs(&c, rq, rs);
    api_done(a, &c);
    return;
  }
  if (!strcmp(op, "get_run")) {
    long all = 0;
    if (!api_query_int(rq, rs, "all_instances", 0, 1, &all))
      goto done;
    k = ops_get_run(&c, id, all != 0, &out, &e);
  } else if (!strcmp(op, "get_run_graph")) {
    k = ops_run_graph(&c, id, &out, &e);
  } else if (!strcmp(op, "get_evidence")) {
    k = ops_evidence(&c, id, &out, &e);
  } else if (!strcmp(op, "cancel_run")) {
    json_t *res = NULL;
    const json_t *steps = rq->json ? json_object_get(rq->json, "steps") : NULL;
    const char *names[64];
    size_t n = 0;
    if (steps) { /* withdraw those steps only (ops_cancel_steps) */
      bool ok = json_is_array(steps) && json_array_size(steps) >= 1 && json_array_size(steps) <= 64;
      for (; ok && n < json_array_size(steps); n++)
        ok = (names[n] = json_string_value(json_array_get(steps, n))) != NULL;
      if (!ok) {
        httpd_error(rs, APIERR_BAD_REQUEST, "\"steps\" must be a list of 1 to 64 step ids");
        goto done;
      }
      if ((k = ops_cancel_steps(&c, id, names, n, &res, &e)) == 0) {
        json_decref(res);
        after_change(a);
        k = ops_get_run(&c, id, false, &out, &e);
        status = 202;
      }
    } else
    if ((k = ops_cancel_run(&c, id, &res, &e)) == 0) {
      json_decref(res);
      after_change(a);
      k = ops_get_run(&c, id, false, &out, &e);
      status = 202;
    }
  } else if (!strcmp(op, "retry_run")) {
    const char *from = NULL;
    if (!api_body_str(rq, rs, "from", &from))
      goto done;
    if (!a->retry) {
      httpd_error(rs, APIERR_UNAVAILABLE, "this server executes no runs");
      goto done;
    }
    k = ops_retry_run(&c, id, from, a->retry, a->ud, &out, &e);
    status = 202;
  }
  if (k)
    api_fail(rs, &e);
  else
    httpd_json(rs, status, out);
done:
  api_done(a, &c);
}
