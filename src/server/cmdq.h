/* cmdq.h — commands from the HTTP threads to the runtime's loop
 * (ARCHITECTURE §6.3: the loop never waits for HTTP; HTTP hands it work).
 *
 * An HTTP thread fills a struct cmdq_cmd (usually on its own stack) and calls
 * cmdq_call, which queues it, wakes the loop with uv_async_send (the one libuv
 * call that is safe from another thread) and waits until the command is
 * done. On the loop's thread every command queued so far is run in one go, in
 * order, so the commands of one wake-up land in the same loop tick and the
 * same group commit. A command's fn must call cmdq_done exactly once: at once,
 * or later from the loop's thread (for instance after the commit that makes
 * its effect durable, so the answer never promises what a crash could lose).
 *
 * Closing (at drain) answers every queued command WEFT_ESTATE without running
 * it, and every later cmdq_call too; commands already running are completed
 * by their owner as usual.
 *
 * Threads: cmdq_call from any thread but the loop's; cmdq_done, cmdq_close
 * on the loop's thread; cmdq_depth anywhere. */
#ifndef WEFT_SERVER_CMDQ_H
#define WEFT_SERVER_CMDQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct cmdq;
struct cmdq_cmd;

/* Runs on the loop's thread. loop_ud: cmdq_init's. */
typedef void (*cmdq_fn)(void *loop_ud, struct cmdq_cmd *c);

struct cmdq_cmd {
  cmdq_fn fn;
  void *arg; /* the command's own data, in and out */
  /* private */
  int rc;
  bool done;
  struct cmdq *q;
  struct cmdq_cmd *next;
};

struct cmdq {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uv_async_t async;
  struct cmdq_cmd *head, *tail;
  size_t depth;
  bool closed, async_open;
  void *loop_ud;
};

/* 0 or WEFT_ENOMEM; on the loop's thread before it runs */
int cmdq_init(struct cmdq *q, uv_loop_t *loop, void *loop_ud);
/* Queues c (c->fn, c->arg set by the caller) and waits: fn's rc (0 or a
 * negative WEFT_E*), or WEFT_ESTATE when the queue is closed. */
int cmdq_call(struct cmdq *q, struct cmdq_cmd *c);
/* The answer to c; wakes its caller. */
void cmdq_done(struct cmdq_cmd *c, int rc);
/* Commands queued and not yet run. */
size_t cmdq_depth(struct cmdq *q);
/* Refuses new commands, answers the queued ones WEFT_ESTATE and closes the
 * async handle (the loop can then end). Idempotent. */
void cmdq_close(struct cmdq *q);
/* After the loop has ended (the handle closed): the mutex and condvar. */
void cmdq_destroy(struct cmdq *q);

#endif
