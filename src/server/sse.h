/* sse.h — live events to many subscribers (SERVER.md §6), never holding the
 * publisher back.
 *
 * The hub fans each published event out to its subscribers. The formatted
 * event ("id: N\nevent: E\ndata: D\n\n") is written once into the hub's
 * ring; every live subscriber reads it from there at its own pace (sse.c).
 * Publishing never waits for a client. A subscriber with SSE_BUFFER_MAX
 * bytes waiting (not yet sent) when the next event comes is dropped: its
 * stream ends and the client reconnects with Last-Event-ID to replay what it
 * missed from the store. An HTTP thread drains a subscriber through sse_sub_read; with
 * nothing to send, the connection is suspended (libmicrohttpd's
 * suspend/resume) and woken by the next event, the heartbeat (a comment line
 * every heartbeat interval, which also finds dead clients) or the hub's close.
 *
 * Threads: sse_publish from any one thread at a time (the server's pump, sse_pump.h);
 * readers from HTTP threads; one heartbeat thread per hub.
 *
 * Ownership: the hub owns its subscribers' memory; a subscriber is created
 * for one HTTP response and freed by that response's free callback
 * (sse_sub_release), after which the hub forgets it. */
#ifndef WEFT_SERVER_SSE_H
#define WEFT_SERVER_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sse_hub;
struct sse_sub;
struct MHD_Connection;

#define SSE_BUFFER_MAX (256 * 1024) /* per subscriber: one with this much waiting when the next
                                    * event comes is dropped (a buffer holds at most this plus
                                    * one event) */

/* heartbeat_ms: 0 means 15,000 */
struct sse_hub *sse_hub_new(unsigned heartbeat_ms);
/* Ends every stream (readers see end of stream) and stops the heartbeat.
 * Call before stopping the HTTP server: no connection is left suspended. */
void sse_hub_close(struct sse_hub *h);
/* After sse_hub_close and once every subscriber was released. */
void sse_hub_free(struct sse_hub *h);

/* A subscriber for connection c (NULL: tests read without a connection),
 * receiving events of run_filter only (NULL: all). NULL when the hub is
 * closed or out of memory. */
struct sse_sub *sse_subscribe(struct sse_hub *h, struct MHD_Connection *c, const char *run_filter);
/* The same, for a client that saw the events up to `after` and replays
 * from the store what it missed (catch-up): *upto gets the hub's last
 * published id, atomically with the subscription, and the subscriber gets no
 * live event until sse_sub_catch_up says it is live; none with an id up to
 * `after`, ever. The caller replays (after, *upto] from the store, then
 * calls sse_sub_catch_up, and repeats while it says no. */
struct sse_sub *sse_subscribe_from(struct sse_hub *h, struct MHD_Connection *c, const char *run_filter,
                                   uint64_t after, uint64_t *upto);
/* true: nothing was published after *upto, and from now on every event is
 * buffered for s (no gap, no duplicate); false: *upto is moved to the last
 * published id, replay up to it and ask again. A replay never fills the
 * buffer, however long it takes. */
bool sse_sub_catch_up(struct sse_sub *s, uint64_t *upto);
/* Queues bytes ahead of live events (the replay from the store). false when
 * they do not fit: the caller answers with fewer or drops the client. */
bool sse_sub_prime(struct sse_sub *s, const char *data, size_t len);
/* The content reader: copies up to max bytes; 0 after suspending the
 * connection (nothing to send now); -1 at end of stream (dropped or closed). */
ssize_t sse_sub_read(struct sse_sub *s, char *buf, size_t max);
void sse_sub_release(struct sse_sub *s);
bool sse_sub_dropped(const struct sse_sub *s);
/* Dropped, or the hub closed: the stream is to end (also during a replay). */
bool sse_sub_ended(const struct sse_sub *s);

/* Sends one event to every subscriber whose filter matches run (NULL run:
 * every subscriber). data is one line of JSON. Returns how many will
 * receive it (0 while the hub is held: not counted then). */
size_t sse_publish(struct sse_hub *h, uint64_t id, const char *event, const char *data, const char *run);
size_t sse_subscribers(struct sse_hub *h);
/* The publisher's position: ids are increasing; set_last starts it at the
 * store's head (only moves forward). */
void sse_hub_set_last(struct sse_hub *h, uint64_t id);
uint64_t sse_hub_last(struct sse_hub *h);
/* The most bytes any live subscriber has waiting (the pump paces itself
 * on it, sse_pump.h). */
size_t sse_hub_max_buffered(struct sse_hub *h);
/* The same, as the last sse_publish left it (no scan). */
size_t sse_hub_pub_max(struct sse_hub *h);
/* Drops the live subscribers with more than bytes waiting; how many. */
size_t sse_hub_drop_over(struct sse_hub *h, size_t bytes);
/* hold true: publishes buffer their events but wake no reader; false: every
 * reader published to meanwhile is woken, once. The publisher holds the hub
 * over a batch of events (sse_pump.c). */
void sse_hub_hold(struct sse_hub *h, bool hold);
/* Subscribers dropped for being slow since the hub started (a metric). */
uint64_t sse_dropped_total(struct sse_hub *h);

#endif
