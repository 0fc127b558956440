/* rt_sync.h — durable commits off the loop thread (see rt_sync.c). */
#ifndef WEFT_RUNTIME_RT_SYNC_H
#define WEFT_RUNTIME_RT_SYNC_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct rt_sync;

/* Opens path (the WAL file) for syncing; on_done(ud) runs on the loop after
 * each sync of the thread. */
int rt_sync_new(uv_loop_t *loop, const char *path, void (*on_done)(void *ud), void *ud,
                struct rt_sync **out);
/* Commit `seq` (and every earlier one) must become durable. inline_ok: sync
 * now on this thread if no sync is in flight (then it is durable on return);
 * otherwise the thread syncs and on_done follows. WEFT_EIO once a sync failed. */
int rt_sync_request(struct rt_sync *s, uint64_t seq, bool inline_ok);
/* The highest durable commit; *err the errno of a failed sync (0: none). */
uint64_t rt_sync_done(struct rt_sync *s, int *err);
bool rt_sync_idle(struct rt_sync *s);
/* Stops the thread (a sync in flight ends first), then uv_close of the async
 * handle (before the loop's last run); then rt_sync_free. No request after it. */
void rt_sync_close_handle(struct rt_sync *s);
void rt_sync_free(struct rt_sync *s);

#endif
