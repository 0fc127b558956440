/* api_triggers.c — GET /schedules and POST /hooks/{name} (api_triggers.h). */
#include "server/api_triggers.h"

#include <stdlib.h>
#include <string.h>

#include "sched/trigger.h"
#include "util/wtime.h"

static void schedules(const struct api_trig *t, const struct httpd_req *rq, struct httpd_resp *rs)
{
  struct ops_ctx c;
  if (!api_ctx(t->api, rq, rs, &c))
    return;
  json_t *out = NULL;
  struct ops_error e = {0};
  if (ops_list_schedules(&c, wt_now_ms() / 1000, &out, &e))
    api_fail(rs, &e);
  else
    httpd_json(rs, 200, json_pack("{s:o}", "schedules", out));
  api_done(t->api, &c);
}

static void webhook(const struct api_trig *t, const struct httpd_req *rq, struct httpd_resp *rs)
{
  const char *name = route_param(rq->match, "name");
  struct ops_ctx c;
  if (!name || !api_ctx(t->api, rq, rs, &c))
    return;
  const char *sig = httpd_header(rq, HOOK_SIG_GITHUB);
  if (!sig)
    sig = httpd_header(rq, HOOK_SIG_WEFT);
  const char *delivery = httpd_header(rq, HOOK_DELIVERY_GITHUB);
  if (!delivery)
    delivery = httpd_header(rq, HOOK_DELIVERY_WEFT);
  json_t *headers = httpd_headers(rq);
  json_t *out = NULL;
  unsigned status = 0;
  struct ops_error e = {0};
  c.user = "webhook";
  if (ops_webhook_via(&c, name, rq->body ? rq->body : "", rq->body ? rq->body_len : 0, sig, headers, delivery,
                      rq->peer, t->record, t->record_ud, &out, &status, &e))
    api_fail(rs, &e);
  else
    httpd_json(rs, status, out);
  json_decref(headers);
  api_done(t->api, &c);
}

bool api_trig_dispatch(const struct api_trig *t, const struct httpd_req *rq, struct httpd_resp *rs)
{
  const char *op = rq->match->route->op;
  if (!strcmp(op, "list_schedules"))
    return schedules(t, rq, rs), true;
  if (!strcmp(op, "webhook"))
    return webhook(t, rq, rs), true;
  return false;
}
