/* sse_event.h — one audit log entry as one live event (SERVER.md §6).
 *
 * The audit log is the committed journal: every transition of a run, a step
 * instance or an attempt, every approval decision, token and sent event has
 * an entry, appended in the same transaction as the change. So a live event
 * is an audit entry: its id is the entry's seq (increasing, in commit order),
 * its type comes from the entry's kind (run.* -> "run"; step.* and attempt.*
 * -> "step"; approval.* -> "approval"; anything else -> "audit") and its data
 * is the entry's detail (already free of secrets: the runtime masks the
 * journal before it commits, tokens are recorded by id, event payloads by
 * hash) with the common fields first:
 *   {"kind","run","workflow","step","index","status","attempt","at", ...detail}
 * (null where the entry has none; index null for a plain step; attempt from
 * the detail's attempt, else its attempts when > 0; at in RFC 3339 UTC),
 * live events also "committed_at" after "at" (sse_event_data_at).
 *
 * A small cache maps run ids to workflow names (run.created entries carry
 * the name; others are looked up in the store once per run).
 *
 * Ownership: sse_event_data returns malloc'd text; the cache owns its
 * strings. */
#ifndef WEFT_SERVER_SSE_EVENT_H
#define WEFT_SERVER_SSE_EVENT_H

#include <jansson.h>

struct store;
struct store_audit;

/* The SSE event name of an audit kind. */
const char *sse_event_type(const char *kind);
/* The data line of entry e (workflow: its run's workflow name, or NULL).
 * NULL when out of memory. */
char *sse_event_data(const struct store_audit *e, const char *workflow);
/* The same with "committed_at" (RFC 3339, ms) after "at" when committed_ms
 * >= 0: live events carry when the server learned of the commit that made
 * them (sse_pump.c), so a client can tell its delivery latency. */
char *sse_event_data_at(const struct store_audit *e, const char *workflow, int64_t committed_ms);

#define SSE_WF_CACHE_MAX 1024 /* runs remembered; beyond it the cache starts over */

struct sse_wf_cache {
  json_t *map; /* run id -> workflow name */
};
/* The workflow of e's run (from e itself when it is run.created, else the
 * cache, else the store through db); NULL for run-less entries or a run the
 * store no longer has. Borrowed until the next call. */
const char *sse_wf_of(struct sse_wf_cache *c, struct store *db, const struct store_audit *e);
void sse_wf_cache_free(struct sse_wf_cache *c);

#endif
