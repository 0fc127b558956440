/* cmdq.c — the command queue of cmdq.h: a mutex-guarded FIFO of caller-owned
 * commands, a uv_async_t to wake the loop, one condvar for the answers. */
#include "server/cmdq.h"

#include "util/err.h"

static void on_async(uv_async_t *a)
{
  struct cmdq *q = a->data;
  pthread_mutex_lock(&q->mu);
  struct cmdq_cmd *c = q->head;
  q->head = q->tail = NULL;
  q->depth = 0;
  pthread_mutex_unlock(&q->mu);
  while (c) {
    struct cmdq_cmd *next = c->next; /* c may be answered (and gone) inside fn */
    c->next = NULL;
    c->fn(q->loop_ud, c);
    c = next;
  }
}

int cmdq_init(struct cmdq *q, uv_loop_t *loop, void *loop_ud)
{
  *q = (struct cmdq){.loop_ud = loop_ud};
  if (pthread_mutex_init(&q->mu, NULL))
    return WEFT_ENOMEM;
  if (pthread_cond_init(&q->cv, NULL)) {
    pthread_mutex_destroy(&q->mu);
    return WEFT_ENOMEM;
  }
  if (uv_async_init(loop, &q->async, on_async)) {
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    return WEFT_ENOMEM;
  }
  q->async.data = q;
  q->async_open = true;
  return 0;
}

int cmdq_call(struct cmdq *q, struct cmdq_cmd *c)
{
  c->rc = 0;
  c->done = false;
  c->q = q;
  c->next = NULL;
  pthread_mutex_lock(&q->mu);
  if (q->closed) {
    pthread_mutex_unlock(&q->mu);
    return WEFT_ESTATE;
  }
  if (q->tail)
    q->tail->next = c;
  else
    q->head = c;
  q->tail = c;
  q->depth++;
  /* under the lock: cmdq_close cannot close the handle between the check of
   * closed and this send */
  uv_async_send(&q->async);
  while (!c->done)
    pthread_cond_wait(&q->cv, &q->mu);
  int rc = c->rc;
  pthread_mutex_unlock(&q->mu);
  return rc;
}

void cmdq_done(struct cmdq_cmd *c, int rc)
{
  struct cmdq *q = c->q;
  pthread_mutex_lock(&q->mu);
  c->rc = rc;
  c->done = true; /* c belongs to its caller again from here */
  pthread_cond_broadcast(&q->cv);
  pthread_mutex_unlock(&q->mu);
}

size_t cmdq_depth(struct cmdq *q)
{
  pthread_mutex_lock(&q->mu);
  size_t n = q->depth;
  pthread_mutex_unlock(&q->mu);
  return n;
}

void cmdq_close(struct cmdq *q)
{
  pthread_mutex_lock(&q->mu);
  q->closed = true;
  for (struct cmdq_cmd *c = q->head; c; c = c->next) {
    c->rc = WEFT_ESTATE;
    c->done = true;
  }
  q->head = q->tail = NULL;
  q->depth = 0;
  pthread_cond_broadcast(&q->cv);
  bool open = q->async_open;
  q->async_open = false;
  pthread_mutex_unlock(&q->mu);
  if (open)
    uv_close((uv_handle_t *)&q->async, NULL);
}

void cmdq_destroy(struct cmdq *q)
{
  pthread_cond_destroy(&q->cv);
  pthread_mutex_destroy(&q->mu);
}
