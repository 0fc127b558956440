/* mhd_dl.h — libmicrohttpd, loaded with dlopen() when a server starts
 * (mhd_dl.c), so that it and the GnuTLS stack it pulls in are not mapped by
 * every `weft` command (as with libcurl: exec/curl_dl.h). Only `weft server`
 * pays for them.
 *
 * Include after <microhttpd.h>: the names of the MHD functions weft uses
 * become calls through the loaded table. Call mhd_dl_load() before any. */
#ifndef WEFT_SERVER_MHD_DL_H
#define WEFT_SERVER_MHD_DL_H

#include <microhttpd.h>

struct mhd_dl {
  struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc, void *apc_cls,
                                     MHD_AccessHandlerCallback dh, void *dh_cls, ...);
  void (*stop_daemon)(struct MHD_Daemon *d);
  const char *(*lookup_connection_value)(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *key);
  struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer, enum MHD_ResponseMemoryMode mode);
  enum MHD_Result (*add_response_header)(struct MHD_Response *r, const char *header, const char *content);
  enum MHD_Result (*queue_response)(struct MHD_Connection *c, unsigned int status, struct MHD_Response *r);
  void (*destroy_response)(struct MHD_Response *r);
  const union MHD_ConnectionInfo *(*get_connection_info)(struct MHD_Connection *c, enum MHD_ConnectionInfoType t,
                                                         ...);
  enum MHD_Result (*is_feature_supported)(enum MHD_FEATURE f);
  struct MHD_Response *(*create_response_from_callback)(uint64_t size, size_t block_size,
                                                        MHD_ContentReaderCallback crc, void *crc_cls,
                                                        MHD_ContentReaderFreeCallback crfc);
  void (*suspend_connection)(struct MHD_Connection *c);
  void (*resume_connection)(struct MHD_Connection *c);
  int (*get_connection_values)(struct MHD_Connection *c, enum MHD_ValueKind kind, MHD_KeyValueIterator it,
                               void *it_cls);
};

extern struct mhd_dl weft_mhd;

/* Loads libmicrohttpd once. 0, or -1 with *err pointing at a static message
 * saying what to install. Thread-safe only before the first server starts. */
int mhd_dl_load(const char **err);

#define MHD_start_daemon (*weft_mhd.start_daemon)
#define MHD_stop_daemon (*weft_mhd.stop_daemon)
#define MHD_lookup_connection_value (*weft_mhd.lookup_connection_value)
#define MHD_create_response_from_buffer (*weft_mhd.create_response_from_buffer)
#define MHD_add_response_header (*weft_mhd.add_response_header)
#define MHD_queue_response (*weft_mhd.queue_response)
#define MHD_destroy_response (*weft_mhd.destroy_response)
#define MHD_get_connection_info (*weft_mhd.get_connection_info)
#define MHD_is_feature_supported (*weft_mhd.is_feature_supported)
#define MHD_create_response_from_callback (*weft_mhd.create_response_from_callback)
#define MHD_suspend_connection (*weft_mhd.suspend_connection)
#define MHD_resume_connection (*weft_mhd.resume_connection)
#define MHD_get_connection_values (*weft_mhd.get_connection_values)

#endif
