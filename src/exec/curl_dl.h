/* curl_dl.h — libcurl, loaded with dlopen() when the first http or agent step
 * runs (curl_dl.c), so that the ~30 libraries it pulls in (TLS, Kerberos,
 * HTTP/2, ...) are not mapped and relocated by every `weft` command: that
 * was ~5 ms of start-up for all of them.
 *
 * Include after <curl/curl.h> (with CURL_DISABLE_TYPECHECK defined, so the
 * calls below are plain calls): the names of the curl functions weft uses
 * become calls through the loaded table. Call curl_dl_load() before any. */
#ifndef WEFT_EXEC_CURL_DL_H
#define WEFT_EXEC_CURL_DL_H

#include <curl/curl.h>

struct curl_dl {
  CURLcode (*global_init)(long flags);
  CURL *(*easy_init)(void);
  CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
  CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
  void (*easy_cleanup)(CURL *h);
  const char *(*easy_strerror)(CURLcode c);
  char *(*easy_escape)(CURL *h, const char *s, int len);
  void (*free_)(void *p);
  CURLM *(*multi_init)(void);
  CURLMcode (*multi_setopt)(CURLM *m, CURLMoption opt, ...);
  CURLMcode (*multi_add_handle)(CURLM *m, CURL *h);
  CURLMcode (*multi_remove_handle)(CURLM *m, CURL *h);
  CURLMcode (*multi_assign)(CURLM *m, curl_socket_t s, void *p);
  CURLMcode (*multi_socket_action)(CURLM *m, curl_socket_t s, int ev, int *running);
  CURLMsg *(*multi_info_read)(CURLM *m, int *left);
  CURLMcode (*multi_cleanup)(CURLM *m);
  struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
  void (*slist_free_all)(struct curl_slist *l);
  CURLcode (*easy_perform)(CURL *h); /* blocking calls: the CLI against a server (cli/remote.c) */
};

extern struct curl_dl weft_curl;

/* Loads libcurl once (libcurl.so.4, then the GnuTLS and NSS builds Debian
 * ships). 0, or -1 with *err pointing at a static message saying what is
 * missing and what to install. */
int curl_dl_load(const char **err);

#define curl_global_init (*weft_curl.global_init)
#define curl_easy_init (*weft_curl.easy_init)
#undef curl_easy_setopt /* curl.h may define these three as macros */
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_easy_setopt (*weft_curl.easy_setopt)
#define curl_easy_getinfo (*weft_curl.easy_getinfo)
#define curl_easy_cleanup (*weft_curl.easy_cleanup)
#define curl_easy_strerror (*weft_curl.easy_strerror)
#define curl_easy_escape (*weft_curl.easy_escape)
#define curl_free (*weft_curl.free_)
#define curl_multi_init (*weft_curl.multi_init)
#define curl_multi_setopt (*weft_curl.multi_setopt)
#define curl_multi_add_handle (*weft_curl.multi_add_handle)
#define curl_multi_remove_handle (*weft_curl.multi_remove_handle)
#define curl_multi_assign (*weft_curl.multi_assign)
#define curl_multi_socket_action (*weft_curl.multi_socket_action)
#define curl_multi_info_read (*weft_curl.multi_info_read)
#define curl_multi_cleanup (*weft_curl.multi_cleanup)
#define curl_slist_append (*weft_curl.slist_append)
#define curl_slist_free_all (*weft_curl.slist_free_all)
#define curl_easy_perform (*weft_curl.easy_perform)

#endif
