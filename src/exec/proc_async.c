/* proc_async.c — starting processes on a spawner thread.
 *
 * posix_spawn() suspends the calling thread until the child has called
 * execve() (glibc's clone(CLONE_VM|CLONE_VFORK)): on these machines 0.1-0.2
 * ms per start, most of it the child's set-up (64 sigactions) and the first
 * half of execve() on the other core. With several processes in flight the
 * loop thread has better things to do meanwhile: reap exits, commit, sync.
 * So while proc_async_enable() is in force, proc.c hands a start to this
 * thread (proc_async_submit) whenever another process is already running;
 * the thread calls proc_spawn() and the loop continues the start in
 * proc_async_job.done once the pid is known (uv_async_t). A start with
 * nothing else in flight stays on the loop thread: there the hand-off would
 * only add latency.
 *
 * A job owns copies of what the child needs (argv, envp, cwd) and the pipe's
 * write end. Jobs are done in submission order. */
#include "exec/proc_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"

static struct {
  uv_loop_t *loop;
  uv_async_t async;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct proc_async_job *todo, **todo_tail;
  struct proc_async_job *done, **done_tail;
  int inflight; /* submitted, not yet continued (loop thread) */
  bool stop, on;
} S;

static void *spawner_main(void *arg)
{
  (void)arg;
  pthread_mutex_lock(&S.mu);
  for (;;) {
    while (!S.stop && !S.todo)
      pthread_cond_wait(&S.cv, &S.mu);
    if (!S.todo && S.stop)
      break;
    struct proc_async_job *j = S.todo;
    S.todo = j->next;
    if (!S.todo)
      S.todo_tail = &S.todo;
    pthread_mutex_unlock(&S.mu);
    struct proc_spawn_args a = {.argv = (const char *const *)j->argv,
                                .envp = (const char *const *)j->envp,
                                .cwd = j->cwd,
                                .out_fd = j->out_fd,
                                .err_fd = j->err_fd,
                                .cg_fd = j->cg_fd};
    j->err = proc_spawn(&a, &j->pid);
    close(j->out_fd); /* the child has it: EOF comes when it and its children are done */
    j->out_fd = -1;
    if (j->err_fd > 2)
      close(j->err_fd);
    j->err_fd = -1;
    pthread_mutex_lock(&S.mu);
    j->next = NULL;
    *S.done_tail = j;
    S.done_tail = &j->next;
    uv_async_send(&S.async);
  }
  pthread_mutex_unlock(&S.mu);
  return NULL;
}

static void on_async(uv_async_t *h)
{
  (void)h;
  pthread_mutex_lock(&S.mu);
  struct proc_async_job *j = S.done;
  S.done = NULL;
  S.done_tail = &S.done;
  pthread_mutex_unlock(&S.mu);
  while (j) {
    struct proc_async_job *next = j->next;
    if (--S.inflight == 0)
      uv_unref((uv_handle_t *)&S.async);
    j->done(j); /* frees j */
    j = next;
  }
}

int proc_async_enable(uv_loop_t *loop)
{
  if (S.on)
    return S.loop == loop ? 0 : WEFT_ESTATE;
  memset(&S, 0, sizeof S);
  S.todo_tail = &S.todo;
  S.done_tail = &S.done;
  pthread_mutex_init(&S.mu, NULL);
  pthread_cond_init(&S.cv, NULL);
  if (uv_async_init(loop, &S.async, on_async) != 0)
    return WEFT_EIO;
  if (pthread_create(&S.th, NULL, spawner_main, NULL) != 0) {
    uv_close((uv_handle_t *)&S.async, NULL);
    return WEFT_ENOMEM;
  }
  uv_unref((uv_handle_t *)&S.async); /* keeps the loop alive only while a start is on its way */
  S.loop = loop;
  S.on = true;
  return 0;
}

bool proc_async_active(const uv_loop_t *loop) { return S.on && S.loop == loop; }

void proc_async_submit(struct proc_async_job *j)
{
  j->next = NULL;
  if (S.inflight++ == 0)
    uv_ref((uv_handle_t *)&S.async);
  pthread_mutex_lock(&S.mu);
  *S.todo_tail = j;
  S.todo_tail = &j->next;
  pthread_cond_signal(&S.cv);
  pthread_mutex_unlock(&S.mu);
}

void proc_async_disable(void)
{
  if (!S.on)
    return;
  pthread_mutex_lock(&S.mu);
  S.stop = true;
  pthread_cond_signal(&S.cv);
  pthread_mutex_unlock(&S.mu);
  pthread_join(S.th, NULL); /* it finishes the jobs it has */
  on_async(&S.async);       /* their processes are running: continue them */
  uv_close((uv_handle_t *)&S.async, NULL);
  pthread_mutex_destroy(&S.mu);
  pthread_cond_destroy(&S.cv);
  S.on = false;
  S.loop = NULL;
}
