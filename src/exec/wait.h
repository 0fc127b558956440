/* wait.h — the executor of `wait: {event: NAME, match: EXPR, timeout: DUR}`
 * steps (time waits are in runtime/rt_exec.c start_wait, which calls here
 * for event bodies).
 *
 * Events are run-less inbox rows posted by `weft event send` (kind "event",
 * name, payload); they are never taken, so every waiting step sees every
 * event. A waiter accepts the events posted at or after it began waiting
 * (`since`: now for a new attempt, the step's started_at when it is resumed
 * after a restart, so an event sent while no engine ran is delivered on
 * `weft resume`). The runtime's poll (every 200 ms) calls
 * wait_events_poll(), which reads the events after the lowest cursor of the
 * waiters with store_event_list() and hands each to the waiters whose name
 * it has; `match` (a `${{ }}` template kept raw by the engine) is evaluated
 * with `.event` = the payload (and `.inputs`, `.run`, `.secrets`). The first
 * match ends the attempt: the payload is the step's outputs (an object as
 * is; another value as {"value": ...}). `timeout` fails the attempt with
 * kind "timeout".
 *
 * Ownership: these are the runtime's internals (runtime/rt_int.h); a waiter
 * belongs to its struct rt_attempt (a->evw) and is freed with it. */
#ifndef WEFT_EXEC_WAIT_H
#define WEFT_EXEC_WAIT_H

#include <stdbool.h>
#include <stdint.h>

struct runtime;
struct rt_run;
struct rt_attempt;
struct eng_effect;
struct wait_event;

/* Starts an event wait for the START effect e (body has "event").
 * started_at: the step's stored start (resumed) or 0. */
void wait_event_start(struct runtime *rt, struct rt_run *run, const struct eng_effect *e,
                      int64_t started_at);
/* Delivers new events to every event waiter of rt. */
void wait_events_poll(struct runtime *rt);
/* Ends the waiter of a (kill: cancel or timeout), posting the result. */
void wait_event_kill(struct runtime *rt, struct rt_attempt *a, bool timeout);

#endif
