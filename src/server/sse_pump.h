/* sse_pump.h — the thread that feeds the live-event hub from the audit log.
 *
 * The pump owns a read-only use of its own store connection. It starts at
 * the log's head (events are live from the server's start; older ones are
 * replayed per client, sse_stream.h), then reads the entries after the last
 * one it published, in batches of SSE_PUMP_BATCH, in seq order, and
 * publishes each (sse_event.h) to the hub. It reads when woken
 * (sse_pump_wake, called after each runtime commit: never blocks the loop)
 * and at least every poll interval, so that entries other processes commit
 * in the same home (`weft run`, `weft approve` beside the server) are
 * streamed too. SQLite has one writer at a time, so seqs become visible in
 * increasing order and "after the last published" misses none.
 *
 * A commit can hold thousands of entries (a big for_each), more than a
 * client's buffer (SSE_BUFFER_MAX), and one entry can be larger than it (a
 * run's inputs): whenever a publish leaves some client with more than half
 * its buffer waiting, the pump gives the HTTP threads up to
 * SSE_PUMP_PACE_MS to bring it below that, and drops the clients still
 * above (they reconnect with Last-Event-ID). So a client that keeps up is
 * never dropped by a burst, a stuck one delays live events once by at most
 * that, and the engine never waits: the pump only reads what is committed.
 * Errors reading the store are reported through log and retried at the
 * next interval. */
#ifndef WEFT_SERVER_SSE_PUMP_H
#define WEFT_SERVER_SSE_PUMP_H

#include <stdint.h>

struct sse_hub;
struct store;
struct sse_pump;

#define SSE_PUMP_BATCH 128
#define SSE_PUMP_PACE_MS 1000 /* how long a client behind may take to catch up before it is dropped */
#define SSE_PUMP_POLL_MS 250

struct sse_pump_cfg {
  struct store *store;  /* taken over (closed by sse_pump_stop) */
  struct sse_hub *hub;  /* borrowed */
  unsigned poll_ms;     /* 0: SSE_PUMP_POLL_MS */
  void (*log)(void *ud, const char *msg);
  void *ud;
};

/* Reads the head and starts the thread. 0 or a WEFT_E* code (the store is
 * closed then too). */
int sse_pump_start(const struct sse_pump_cfg *cfg, struct sse_pump **out);
/* Asks for a read now (any thread; takes a lock held only to set a flag). */
void sse_pump_wake(struct sse_pump *p);
/* The last seq published (tests, metrics). */
int64_t sse_pump_last(struct sse_pump *p);
/* Publishes what is committed, stops the thread, closes the store, frees. */
void sse_pump_stop(struct sse_pump *p);

#endif
