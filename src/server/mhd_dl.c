/* mhd_dl.c — loading libmicrohttpd on first use (see mhd_dl.h). */
#include <microhttpd.h>

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "server/mhd_dl.h"

struct mhd_dl weft_mhd;

static bool loaded;
static char failure[512];

#define SYM(field, name)                                                                             \
  do {                                                                                               \
    *(void **)&weft_mhd.field = dlsym(h, name);                                                      \
    if (!weft_mhd.field) {                                                                           \
      snprintf(failure, sizeof failure, "libmicrohttpd has no %s: install libmicrohttpd12", name); \
      goto bad;                                                                                      \
    }                                                                                                \
  } while (0)

int mhd_dl_load(const char **err)
{
  if (loaded)
    return 0;
  if (failure[0]) {
    *err = failure;
    return -1;
  }
  void *h = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(failure, sizeof failure, "weft server needs libmicrohttpd, which cannot be loaded (%s): install the "
             "libmicrohttpd12 package", dlerror());
    *err = failure;
    return -1;
  }
  SYM(start_daemon, "MHD_start_daemon");
  SYM(stop_daemon, "MHD_stop_daemon");
  SYM(lookup_connection_value, "MHD_lookup_connection_value");
  SYM(create_response_from_buffer, "MHD_create_response_from_buffer");
  SYM(add_response_header, "MHD_add_response_header");
  SYM(queue_response, "MHD_queue_response");
  SYM(destroy_response, "MHD_destroy_response");
  SYM(get_connection_info, "MHD_get_connection_info");
  SYM(is_feature_supported, "MHD_is_feature_supported");
  SYM(create_response_from_callback, "MHD_create_response_from_callback");
  SYM(suspend_connection, "MHD_suspend_connection");
  SYM(resume_connection, "MHD_resume_connection");
  SYM(get_connection_values, "MHD_get_connection_values");
  loaded = true;
  return 0;
bad:
  dlclose(h);
  memset(&weft_mhd, 0, sizeof weft_mhd);
  *err = failure;
  return -1;
}
