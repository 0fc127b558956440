/* sse_stream.h — the answer of GET /api/v1/events/stream (SERVER.md §6).
 *
 * Query: run=ID (a run id or unique prefix: only that run's events),
 * after=N (replay the events after id N first); the Last-Event-ID header
 * (sent by EventSource on reconnect) takes precedence over after=. The
 * client is subscribed to the hub first (sse_subscribe_from), then the
 * entries (after, upto] are read from the store in batches, on the HTTP
 * thread, as the client takes them, and only then the live events the hub
 * buffered meanwhile: the ids the client sees increase with no gap and no
 * duplicate. A client slower than the events is dropped (sse.h) and
 * reconnects with Last-Event-ID.
 *
 * Ownership: the pool is the HTTP threads' (dbpool.h), borrowed for the
 * stream's life (the server stops HTTP before closing it); a connection is
 * taken per replay batch, never held between the client's reads. */
#ifndef WEFT_SERVER_SSE_STREAM_H
#define WEFT_SERVER_SSE_STREAM_H

#include "server/httpd.h"

struct sse_hub;
struct dbpool;

struct sse_source {
  struct sse_hub *hub;
  struct dbpool *pool;
};

/* Fills rs with the stream, or with an error (400 bad after/run, 404 no
 * such run, 503 the server is stopping). */
void sse_stream_answer(const struct sse_source *src, const struct httpd_req *rq, struct httpd_resp *rs);

#endif
