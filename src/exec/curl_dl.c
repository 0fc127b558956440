/* curl_dl.c — loading libcurl on first use (see curl_dl.h).
 *
 * The table is filled once, under a mutex (the loop's http steps and the
 * server's notifier thread may ask first at the same time); after that it
 * is only read. A missing library or symbol is an error for
 * the step that needed it, not for weft as a whole. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "exec/curl_dl.h"

struct curl_dl weft_curl;

static atomic_bool loaded;
static char failure[512];
static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static int load_locked(const char **err);

#define SYM(field, name)                                                                   \
  do {                                                                                     \
    *(void **)&weft_curl.field = dlsym(h, name);                                           \
    if (!weft_curl.field) {                                                                \
      snprintf(failure, sizeof failure, "%s has no %s: install libcurl 7.x (libcurl4)", lib, \
               name);                                                                      \
      goto bad;                                                                            \
    }                                                                                      \
  } while (0)

int curl_dl_load(const char **err)
{
  if (atomic_load(&loaded))
    return 0;
  pthread_mutex_lock(&load_mu);
  int rc = load_locked(err);
  pthread_mutex_unlock(&load_mu);
  return rc;
}

static int load_locked(const char **err)
{
  static const char *const libs[] = {"libcurl.so.4", "libcurl-gnutls.so.4", "libcurl-nss.so.4",
                                     NULL};
  if (loaded)
    return 0;
  if (failure[0]) {
    *err = failure;
    return -1;
  }
  void *h = NULL;
  const char *lib = NULL;
  for (const char *const *l = libs; *l && !h; l++)
    if ((h = dlopen(*l, RTLD_NOW | RTLD_LOCAL)))
      lib = *l;
  if (!h) {
    snprintf(failure, sizeof failure,
             "http and agent steps need libcurl, which cannot be loaded (%s): install the "
             "libcurl4 package",
             dlerror());
    *err = failure;
    return -1;
  }
  SYM(global_init, "curl_global_init");
  SYM(easy_init, "curl_easy_init");
  SYM(easy_setopt, "curl_easy_setopt");
  SYM(easy_getinfo, "curl_easy_getinfo");
  SYM(easy_cleanup, "curl_easy_cleanup");
  SYM(easy_strerror, "curl_easy_strerror");
  SYM(easy_escape, "curl_easy_escape");
  SYM(free_, "curl_free");
  SYM(multi_init, "curl_multi_init");
  SYM(multi_setopt, "curl_multi_setopt");
  SYM(multi_add_handle, "curl_multi_add_handle");
  SYM(multi_remove_handle, "curl_multi_remove_handle");
  SYM(multi_assign, "curl_multi_assign");
  SYM(multi_socket_action, "curl_multi_socket_action");
  SYM(multi_info_read, "curl_multi_info_read");
  SYM(multi_cleanup, "curl_multi_cleanup");
  SYM(slist_append, "curl_slist_append");
  SYM(slist_free_all, "curl_slist_free_all");
  SYM(easy_perform, "curl_easy_perform");
  atomic_store(&loaded, true);
  return 0;
bad:
  dlclose(h);
  memset(&weft_curl, 0, sizeof weft_curl);
  *err = failure;
  return -1;
}
