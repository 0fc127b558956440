/* notifier.h — the thread of `weft server` that delivers notify: POSTs
 * (ops/notify.c) with its own store connection and libcurl, so that no
 * receiver, slow or down, ever holds the runtime's loop. It sleeps until
 * the earliest due delivery (one timed wait, no polling faster than once a
 * minute when idle) or a kick from the loop (a notice recorded). */
#ifndef WEFT_SERVER_NOTIFIER_H
#define WEFT_SERVER_NOTIFIER_H

#include <pthread.h>
#include <stdbool.h>

struct store;

struct notifier {
  const char *home;
  void (*log)(void *ud, const char *level, const char *line);
  void *ud;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool started, stop, kick;
};

/* 0, or WEFT_ENOMEM when the thread cannot start. */
int notifier_start(struct notifier *n, const char *home, void (*log)(void *ud, const char *level, const char *line),
                   void *ud);
/* Any thread: deliver what is due now. */
void notifier_kick(struct notifier *n);
/* Ends the thread after its current attempt (at most the POST time-out);
 * what is pending stays in the store for the next server. */
void notifier_stop(struct notifier *n);

#endif
