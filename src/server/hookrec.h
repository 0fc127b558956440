/* hookrec.h — group commit for webhook deliveries: the HTTP threads verify
 * deliveries in parallel (ops_webhook_via) and hand the recording of their
 * runs to this one thread, which records every delivery waiting at that
 * moment in ONE transaction on its own store connection, then answers them
 * all. N concurrent deliveries cost one commit (one fsync), not N commits
 * fighting for the write lock. A failed batch is rolled back whole and each
 * of its deliveries answered 503 (the sender retries; nothing half-made).
 *
 * Threads: hookrec_record from any HTTP thread; the rest from the thread
 * that starts and stops the server. */
#ifndef WEFT_SERVER_HOOKREC_H
#define WEFT_SERVER_HOOKREC_H

#include <pthread.h>
#include <stdbool.h>

#include "ops/ops.h"

struct hookrec_job;

struct hookrec {
  const char *home;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;      /* work for the thread */
  pthread_cond_t done_cv; /* answers for the callers */
  struct hookrec_job *head, *tail;
  bool started, stop;
};

/* 0, or WEFT_ENOMEM. */
int hookrec_start(struct hookrec *h, const char *home);
/* An ops_hook_record_fn (ud: the struct hookrec): waits until the batch
 * holding this delivery is committed. UNAVAILABLE when stopping or when the
 * batch failed. */
enum ops_err hookrec_record(void *ud, const struct ops_ctx *c, struct wf *wf, int version, const json_t *def,
                            const json_t *trig, const char *key, char id_out[WEFT_ID_LEN + 1], bool *existing,
                            struct ops_error *e);
/* Answers what waits (UNAVAILABLE) and ends the thread. */
void hookrec_stop(struct hookrec *h);

#endif
