/* test_cmdq.c — server/cmdq: commands from other threads run on the loop's
 * thread, in order, each answered once (at once or later), and a closed
 * queue refuses without running anything. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <uv.h>

#include "server/cmdq.h"
#include "util/err.h"

struct world {
  uv_loop_t loop;
  struct cmdq q;
  pthread_t loop_thread, owner; /* owner: the loop's thread id */
  long counter;                 /* touched on the loop's thread only */
  bool wrong_thread;
  struct cmdq_cmd *later[64];   /* deferred answers */
  size_t nlater;
  uv_timer_t timer;
};

static void *run_loop(void *arg)
{
  struct world *w = arg;
  w->owner = pthread_self();
  uv_run(&w->loop, UV_RUN_DEFAULT);
  return NULL;
}

static void bump(void *ud, struct cmdq_cmd *c)
{
  struct world *w = ud;
  if (!pthread_equal(pthread_self(), w->owner))
    w->wrong_thread = true;
  w->counter++;
  *(long *)c->arg = w->counter;
  cmdq_done(c, 0);
}

static void fail_busy(void *ud, struct cmdq_cmd *c)
{
  (void)ud;
  cmdq_done(c, WEFT_EBUSY);
}

static void on_timer(uv_timer_t *t)
{
  struct world *w = t->data;
  for (size_t i = 0; i < w->nlater; i++)
    cmdq_done(w->later[i], 7);
  w->nlater = 0;
}

static void defer(void *ud, struct cmdq_cmd *c)
{
  struct world *w = ud;
  w->later[w->nlater++] = c;
  uv_timer_start(&w->timer, on_timer, 20, 0);
}

static void close_it(void *ud, struct cmdq_cmd *c)
{
  struct world *w = ud;
  uv_close((uv_handle_t *)&w->timer, NULL);
  cmdq_close(&w->q);
  cmdq_done(c, 0); /* it was running, not queued: its owner answers it */
}

static void start(struct world *w)
{
  cr_assert_eq(uv_loop_init(&w->loop), 0);
  cr_assert_eq(cmdq_init(&w->q, &w->loop, w), 0);
  uv_timer_init(&w->loop, &w->timer);
  w->timer.data = w;
  cr_assert_eq(pthread_create(&w->loop_thread, NULL, run_loop, w), 0);
}

static void stop(struct world *w)
{
  struct cmdq_cmd c = {.fn = close_it};
  cr_assert_eq(cmdq_call(&w->q, &c), 0);
  pthread_join(w->loop_thread, NULL);
  cr_assert_eq(uv_loop_close(&w->loop), 0, "every handle closed");
}

struct poster {
  struct world *w;
  long seen[500];
  int rc;
};

static void *post_many(void *arg)
{
  struct poster *p = arg;
  for (int i = 0; i < 500; i++) {
    struct cmdq_cmd c = {.fn = bump, .arg = &p->seen[i]};
    int rc = cmdq_call(&p->w->q, &c);
    if (rc)
      p->rc = rc;
  }
  return NULL;
}

Test(cmdq, many_threads_every_command_runs_once_on_the_loop)
{
  static struct world w;
  start(&w);
  static struct poster p[4];
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    p[i] = (struct poster){.w = &w};
    cr_assert_eq(pthread_create(&t[i], NULL, post_many, &p[i]), 0);
  }
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
  stop(&w);
  cmdq_destroy(&w.q);
  cr_assert_eq(w.counter, 2000);
  cr_assert(!w.wrong_thread, "every fn ran on the loop's thread");
  static bool hit[2001];
  for (int i = 0; i < 4; i++) {
    cr_assert_eq(p[i].rc, 0);
    for (int k = 0; k < 500; k++) {
      long v = p[i].seen[k];
      cr_assert(v >= 1 && v <= 2000 && !hit[v], "answer %ld given once", v);
      hit[v] = true;
      if (k)
        cr_assert_gt(v, p[i].seen[k - 1], "one thread's commands run in its order");
    }
  }
}

Test(cmdq, rc_and_deferred_answers)
{
  static struct world w;
  start(&w);
  struct cmdq_cmd c = {.fn = fail_busy};
  cr_assert_eq(cmdq_call(&w.q, &c), WEFT_EBUSY);
  struct cmdq_cmd d = {.fn = defer};
  cr_assert_eq(cmdq_call(&w.q, &d), 7, "answered by the timer, after fn returned");
  stop(&w);
  cmdq_destroy(&w.q);
}

Test(cmdq, closed_queue_refuses_without_running)
{
  static struct world w;
  start(&w);
  stop(&w);
  long v = 0;
  struct cmdq_cmd c = {.fn = bump, .arg = &v};
  cr_assert_eq(cmdq_call(&w.q, &c), WEFT_ESTATE);
  cr_assert_eq(w.counter, 0);
  cr_assert_eq(cmdq_depth(&w.q), 0);
  cmdq_destroy(&w.q);
}
