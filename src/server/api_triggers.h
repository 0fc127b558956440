/* api_triggers.h — the API's trigger routes (SERVER.md §3, §5): GET
 * /schedules (ops_list_schedules) and POST /hooks/{name} (ops_webhook: no
 * token; the body's HMAC signature instead). A webhook's delivery is
 * verified by the HTTP thread and its run recorded queued by `record` (the
 * server's recorder: many deliveries per transaction), and the server's
 * loop starts it (sched_loop.h; the server kicks it when the answer is 202).
 *
 * Threads: HTTP threads. Ownership: the struct api is the server's. */
#ifndef WEFT_SERVER_API_TRIGGERS_H
#define WEFT_SERVER_API_TRIGGERS_H

#include <stdbool.h>

#include "server/api.h"
#include "server/httpd.h"

struct api_trig {
  const struct api *api; /* its pool and home */
  ops_hook_record_fn record; /* who records a delivery's run (hookrec.h); NULL: the HTTP thread */
  void *record_ud;
};

/* Answers rq when its operation is list_schedules or webhook: true. */
bool api_trig_dispatch(const struct api_trig *t, const struct httpd_req *rq, struct httpd_resp *rs);

#endif
