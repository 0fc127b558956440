/* trigger.h — the `.trigger` object of a run (SERVER.md §3), webhook
 * signatures and delivery ids, as pure functions.
 *
 * `.trigger` (and `.run.trigger`, the same object) in a run's expressions:
 *   {type: schedule|webhook|event|manual|api, at, scheduled_for, name,
 *    body, headers, event}
 * at: when the run was started (RFC 3339); scheduled_for: the scheduled
 * time (schedules and backfills), else null; name: the schedule expression,
 * the webhook's or the event's name, else null; body: a webhook's JSON
 * body (a body that is not JSON: its text), else null; headers: a
 * webhook's headers, lower-cased names, else {}; event: an event's data,
 * else null.
 *
 * Ownership: the builders return new references the caller owns; borrowed
 * arguments are copied. */
#ifndef WEFT_SCHED_TRIGGER_H
#define WEFT_SCHED_TRIGGER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* scheduled_for_s < 0 (SCHED_NO_TIME): none. body, headers, event borrowed
 * (NULL: null, {}, null). NULL only when out of memory. */
#define SCHED_NO_TIME INT64_MIN
json_t *sched_trigger_json(const char *type, int64_t at_ms, int64_t scheduled_for_s, const char *name,
                           const json_t *body, const json_t *headers, const json_t *event);

/* The signature headers, in the order they are looked at. */
#define HOOK_SIG_GITHUB "X-Hub-Signature-256"
#define HOOK_SIG_WEFT "X-Weft-Signature"
#define HOOK_DELIVERY_GITHUB "X-GitHub-Delivery"
#define HOOK_DELIVERY_WEFT "X-Weft-Delivery"
#define HOOK_DELIVERY_MAX 200 /* bytes of a delivery id, at most */

/* Whether header ("sha256=" and 64 hex digits, either case) is the
 * HMAC-SHA256 of body under secret. The comparison takes the same time
 * wherever the first difference is (sodium_memcmp). NULL header: false. */
bool hook_signature_ok(const char *secret, size_t secret_len, const void *body, size_t body_len,
                       const char *header);
/* "sha256=" + hex of the HMAC-SHA256 of body under secret, into out (at
 * least 72 bytes): what a sender puts in the header (tests, docs). */
void hook_signature(const char *secret, size_t secret_len, const void *body, size_t body_len, char out[72]);

/* The idempotency key of a webhook delivery: "hook:NAME:ID", ID the
 * delivery id header's value; NULL id: none (false). false too for an id
 * longer than HOOK_DELIVERY_MAX or with control characters (the caller
 * answers 400). */
bool hook_delivery_key(const char *name, const char *id, char *out, size_t outlen);

#endif
