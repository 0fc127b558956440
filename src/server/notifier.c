/* notifier.c — the notify: delivery thread (notifier.h). */
#define CURL_DISABLE_TYPECHECK
#include "server/notifier.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exec/curl_dl.h"
#include "ops/ops.h"
#include "store/store.h"
#include "util/wtime.h"

#define IDLE_WAKE_MS 60000
#define POST_TIMEOUT_MS 10000

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
  (void)p;
  (void)ud;
  return sz * n;
}

static int post(void *ud, const char *url, const char *body, long *status, char *err, size_t errlen)
{
  (void)ud;
  *status = 0;
  const char *why = NULL;
  if (curl_dl_load(&why)) {
    snprintf(err, errlen, "%s", why ? why : "libcurl is missing");
    return -1;
  }
  CURL *h = curl_easy_init();
  if (!h) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "weft-notify");
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)POST_TIMEOUT_MS);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_OK)
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  else /* the library's words for the code, never its error buffer (it names the host) */
    snprintf(err, errlen, "%s", curl_easy_strerror(rc));
  curl_easy_cleanup(h);
  curl_slist_free_all(hd);
  return rc == CURLE_OK ? 0 : -1;
}

static void *run(void *arg)
{
  struct notifier *n = arg;
  struct store *s = NULL;
  char *err = NULL;
  if (store_open(n->home, &s, &err)) {
    char line[600];
    snprintf(line, sizeof line, "notify: cannot open the store: %s; no notification is sent", err ? err : "failed");
    n->log(n->ud, "error", line);
    free(err);
    return NULL;
  }
  pthread_mutex_lock(&n->mu);
  while (!n->stop) {
    n->kick = false;
    pthread_mutex_unlock(&n->mu);
    int64_t now = wt_now_ms(), next = INT64_MAX;
    if (ops_notify_deliver(s, n->home, now, &next, post, n, n->log, n->ud)) {
      char line[600];
      snprintf(line, sizeof line, "notify: the store failed: %s; trying again in a second", store_errmsg(s));
      n->log(n->ud, "error", line);
      next = now + 1000;
    }
    int64_t wait = next == INT64_MAX ? IDLE_WAKE_MS : next - wt_now_ms();
    if (wait > IDLE_WAKE_MS)
      wait = IDLE_WAKE_MS;
    pthread_mutex_lock(&n->mu);
    if (wait > 0 && !n->kick && !n->stop) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += wait / 1000;
      ts.tv_nsec += (wait % 1000) * 1000000L;
      if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
      }
      while (!n->kick && !n->stop && pthread_cond_timedwait(&n->cv, &n->mu, &ts) != ETIMEDOUT) {
      }
    }
  }
  pthread_mutex_unlock(&n->mu);
  store_close(s);
  return NULL;
}

int notifier_start(struct notifier *n, const char *home, void (*log)(void *ud, const char *level, const char *line),
                   void *ud)
{
  n->home = home;
  n->log = log;
  n->ud = ud;
  n->stop = n->kick = false;
  pthread_mutex_init(&n->mu, NULL);
  pthread_cond_init(&n->cv, NULL);
  if (pthread_create(&n->th, NULL, run, n)) {
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mu);
    return WEFT_ENOMEM;
  }
  n->started = true;
  return 0;
}

void notifier_kick(struct notifier *n)
{
  if (!n->started)
    return;
  pthread_mutex_lock(&n->mu);
  n->kick = true;
  pthread_cond_signal(&n->cv);
  pthread_mutex_unlock(&n->mu);
}

void notifier_stop(struct notifier *n)
{
  if (!n->started)
    return;
  pthread_mutex_lock(&n->mu);
  n->stop = true;
  pthread_cond_signal(&n->cv);
  pthread_mutex_unlock(&n->mu);
  pthread_join(n->th, NULL);
  pthread_cond_destroy(&n->cv);
  pthread_mutex_destroy(&n->mu);
  n->started = false;
}
