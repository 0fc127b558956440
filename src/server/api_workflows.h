/* api_workflows.h — the API's routes of deployed workflows (SERVER.md §2,
 * §5): GET /workflows, POST /workflows (the YAML text as the body), GET
 * /workflows/{name}, POST /workflows/{name}/runs; and `--workflows DIR`
 * (every *.yaml there deployed at start and on SIGHUP).
 *
 * Each handler calls the ops of ops/workflows.c and ops/start.c with the
 * caller's ctx. Starting a run is the one that acts on the runtime's loop:
 * the HTTP thread checks the request (ops_start_prepare, through a reading
 * connection), hands it to the loop through the command queue (every start
 * of one wake-up lands in one tick and one commit), and waits; the loop
 * starts the run (ops_start_run) and answers only once the run's creation
 * is committed (api_wf_on_commit, from the runtime's journal observer), and
 * the HTTP thread then answers 201 with the run as `weft status --json`
 * shows it (200 when the idempotency key found an earlier run).
 *
 * Threads: api_wf_dispatch on HTTP threads; api_wf_on_commit and
 * api_wf_loop_end on the loop's thread; api_wf_deploy_dir on the main
 * thread. The pending starts are the loop thread's alone.
 *
 * Ownership: the struct is the server's; callbacks and strings borrowed. */
#ifndef WEFT_SERVER_API_WORKFLOWS_H
#define WEFT_SERVER_API_WORKFLOWS_H

#include <stdbool.h>

#include "server/cmdq.h"
#include "server/httpd.h"
#include "store/store.h"

struct runtime;
struct api_wf_pending;

struct api_wf {
  void *ud;
  /* a store connection for an HTTP thread's reads and deploys (NULL: none
   * now, answered 503), given back with db_release */
  struct store *(*db_acquire)(void *ud);
  void (*db_release)(void *ud, struct store *db);
  /* cmdq_call on the server's queue once the loop runs; WEFT_ESTATE before
   * it does and once it is stopping */
  int (*call_loop)(void *ud, struct cmdq_cmd *c);
  /* log lines (server.c's slog) */
  void (*log)(void *ud, const char *level, const char *event, const char *msg);
  const char *home;
  /* the loop's: set before the loop starts */
  struct runtime *rt;
  struct store *rt_store;
  struct api_wf_pending *pending; /* loop thread only */
};

/* Media types POST /workflows takes (anything else: 415). */
bool api_wf_yaml_media(const char *content_type);

/* Answers rq when its operation is one of the four workflow routes: true;
 * false for other operations. */
bool api_wf_dispatch(struct api_wf *w, const struct httpd_req *rq, struct httpd_resp *rs);

/* Loop thread, after a commit, for each journal entry of run_id: answers
 * the starts waiting for that run's creation to be committed; run_id NULL
 * (after any commit): the starts queued in their concurrency group inside
 * the runtime's open transaction. */
void api_wf_on_commit(struct api_wf *w, const char *run_id);
/* Loop thread, once rt_loop returned: answers every start still waiting
 * (WEFT_ESTATE: the caller answers 503; the run stays resumable if its
 * creation was committed). */
void api_wf_loop_end(struct api_wf *w);

/* Deploys every *.yaml file of dir (by name, not recursive) as user
 * "server", through a connection of its own; a file with problems is
 * logged and skipped. Returns the number of files that could not be
 * deployed (-1: dir cannot be read). */
int api_wf_deploy_dir(struct api_wf *w, const char *dir, const char *event);

#endif
