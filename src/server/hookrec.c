/* hookrec.c — the webhook recorder thread (hookrec.h). */
#include "server/hookrec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

#define BATCH_MAX 512

struct hookrec_job {
  const struct ops_ctx *c;
  struct wf *wf;
  int version;
  const json_t *def, *trig;
  const char *key;
  char *id;
  bool existing, done;
  enum ops_err k;
  struct ops_error *e;
  struct hookrec_job *next;
};

static void answer(struct hookrec *h, struct hookrec_job *list, struct store *s, int rc)
{
  pthread_mutex_lock(&h->mu);
  for (struct hookrec_job *j = list, *next; j; j = next) {
    next = j->next;
    if (rc && !j->k) {
      j->k = ops_fail(j->e, OPS_E_UNAVAILABLE, "cannot record the run: %s; send it again",
                      s ? store_errmsg(s) : "the server is stopping");
      j->id[0] = 0;
    }
    j->done = true;
  }
  pthread_cond_broadcast(&h->done_cv);
  pthread_mutex_unlock(&h->mu);
}

static void *run(void *arg)
{
  struct hookrec *h = arg;
  struct store *s = NULL;
  char *err = NULL;
  int orc = store_open(h->home, &s, &err);
  free(err);
  pthread_mutex_lock(&h->mu);
  for (;;) {
    while (!h->head && !h->stop)
      pthread_cond_wait(&h->cv, &h->mu);
    if (!h->head && h->stop)
      break;
    /* take up to BATCH_MAX waiting deliveries */
    struct hookrec_job *list = h->head, *last = list;
    for (size_t n = 1; n < BATCH_MAX && last->next; n++)
      last = last->next;
    h->head = last->next;
    if (!h->head)
      h->tail = NULL;
    last->next = NULL;
    pthread_mutex_unlock(&h->mu);
    int rc = orc ? orc : store_begin(s);
    for (struct hookrec_job *j = list; j && !rc; j = j->next) {
      struct ops_ctx c = *j->c;
      c.store = s;
      j->k = ops_webhook_record(&c, j->wf, j->version, j->def, j->trig, j->key, j->id, &j->existing, j->e);
      if (j->k && j->k != OPS_E_UNPROCESSABLE) /* written in part, or the store failed: nothing of it stays */
        rc = WEFT_ESTORE;
    }
    if (!rc)
      rc = store_commit(s);
    if (rc && s && store_in_tx(s))
      store_rollback(s);
    answer(h, list, orc ? NULL : s, rc);
    pthread_mutex_lock(&h->mu);
  }
  pthread_mutex_unlock(&h->mu);
  store_close(s);
  return NULL;
}

int hookrec_start(struct hookrec *h, const char *home)
{
  h->home = home;
  h->head = h->tail = NULL;
  h->stop = false;
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->cv, NULL);
  pthread_cond_init(&h->done_cv, NULL);
  if (pthread_create(&h->th, NULL, run, h)) {
    pthread_cond_destroy(&h->done_cv);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    return WEFT_ENOMEM;
  }
  h->started = true;
  return 0;
}

enum ops_err hookrec_record(void *ud, const struct ops_ctx *c, struct wf *wf, int version, const json_t *def,
                            const json_t *trig, const char *key, char id_out[WEFT_ID_LEN + 1], bool *existing,
                            struct ops_error *e)
{
  struct hookrec *h = ud;
  struct hookrec_job j = {.c = c, .wf = wf, .version = version, .def = def, .trig = trig, .key = key,
                          .id = id_out, .e = e};
  id_out[0] = 0;
  *existing = false;
  pthread_mutex_lock(&h->mu);
  if (!h->started || h->stop) {
    pthread_mutex_unlock(&h->mu);
    return ops_fail(e, OPS_E_UNAVAILABLE, "the server is stopping; send it again");
  }
  if (h->tail)
    h->tail->next = &j;
  else
    h->head = &j;
  h->tail = &j;
  pthread_cond_signal(&h->cv);
  while (!j.done)
    pthread_cond_wait(&h->done_cv, &h->mu);
  pthread_mutex_unlock(&h->mu);
  *existing = j.existing;
  return j.k;
}

void hookrec_stop(struct hookrec *h)
{
  if (!h->started)
    return;
  pthread_mutex_lock(&h->mu);
  h->stop = true;
  pthread_cond_signal(&h->cv);
  pthread_mutex_unlock(&h->mu);
  pthread_join(h->th, NULL); /* it records what was queued before it ends */
  pthread_cond_destroy(&h->done_cv);
  pthread_cond_destroy(&h->cv);
  pthread_mutex_destroy(&h->mu);
  h->started = false;
}
