/* api.h — the handlers of the API's routes of runs, approvals, events,
 * audit and tokens (SERVER.md §5): each one reads its parameters, calls ONE
 * ops_* function with the caller's ctx (the token's user and id, the role
 * users.json gives that user, a store connection of the pool) and answers
 * its JSON, or the error of its kind (ops/err.h). No rule lives here.
 *
 * What must run on the runtime's loop (retry; waking the engine at once
 * after a decision or a cancel) goes through the server's hooks, which use
 * the command queue (cmdq.h).
 *
 * Files: api.c (dispatch, the common helpers), api_runs.c, api_logs.c,
 * api_approvals.c, api_misc.c (events, audit), api_tokens.c. */
#ifndef WEFT_SERVER_API_H
#define WEFT_SERVER_API_H

#include <stdbool.h>

#include "ops/ops.h"
#include "server/dbpool.h"
#include "server/httpd.h"

struct logfollow;

struct api {
  struct dbpool *pool;
  const char *home;
  struct logfollow *follow; /* log followers (api_logs.c) */
  /* on the loop, through the command queue: rt_retry; a poll of the inbox now */
  int (*retry)(void *ud, const char *run_id, const char *from, char **err);
  void (*poke)(void *ud);
  void *ud;
};

/* Answers rq when its operation is one of these files': true; false for
 * an operation they do not handle. */
bool api_dispatch(const struct api *a, const struct httpd_req *rq, struct httpd_resp *rs);

/* ---- shared by the api_*.c files ---- */

/* A ctx for the caller of rq with a pool connection (NULL, and rs answered
 * 503, when none can be had); give it back with api_done. */
bool api_ctx(const struct api *a, const struct httpd_req *rq, struct httpd_resp *rs, struct ops_ctx *c);
void api_done(const struct api *a, struct ops_ctx *c);
/* rs = the error of e */
void api_fail(struct httpd_resp *rs, const struct ops_error *e);
/* A query parameter: NULL when absent; *bad when present but not decodable
 * (then rs is answered 400). */
const char *api_query(const struct httpd_req *rq, struct httpd_resp *rs, const char *name, char *out, size_t len,
                      bool *bad);
/* A non-negative integer query parameter (absent: dflt); false and rs
 * answered 400 when it is not one. */
bool api_query_int(const struct httpd_req *rq, struct httpd_resp *rs, const char *name, long dflt, long max,
                   long *out);
/* The JSON body's member name as a string (absent or null: NULL); false and
 * rs answered 400 when it is there with another type. */
bool api_body_str(const struct httpd_req *rq, struct httpd_resp *rs, const char *name, const char **out);

void api_runs(const struct api *a, const struct httpd_req *rq, struct httpd_resp *rs, const char *op);
void api_logs(const struct api *a, const struct httpd_req *rq, struct httpd_resp *rs);
void api_approvals(const struct api *a, const struct httpd_req *rq, struct httpd_resp *rs, const char *op);
void api_misc(const struct api *a, const struct httpd_req *rq, struct httpd_resp *rs, const char *op);
void api_tokens(const struct api *a, const struct httpd_req *rq, struct httpd_resp *rs, const char *op);

/* Log followers (api_logs.c): a ticker thread wakes suspended followers
 * every 200 ms. NULL when out of memory. */
struct logfollow *logfollow_new(void);
/* Ends every follower's stream (before the HTTP front stops) and stops the
 * ticker. */
void logfollow_close(struct logfollow *f);
/* After logfollow_close and httpd_stop. */
void logfollow_free(struct logfollow *f);

#endif
