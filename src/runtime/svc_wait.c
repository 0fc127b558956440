/* svc_wait.c — the runtime's wait service, the executor of `wait` steps
 * (executor.h): a duration or a time is a timer on the loop; an event wait
 * (`wait: {event: NAME, match: EXPR, timeout: DUR}`) is a waiter fed by the
 * executor's poll.
 *
 * Events are run-less inbox rows posted by `weft event send` (kind "event",
 * name, payload); they are never taken, so every waiting step sees every
 * event. A waiter accepts the events posted at or after it began waiting
 * (`since`: now for a new attempt, the step's started_at when it is resumed
 * after a restart, so an event sent while no engine ran is delivered on
 * `weft resume`). The runtime's poll (every 200 ms) calls this executor's
 * poll, which reads the events after the lowest cursor of the waiters with
 * store_event_list() and hands each to the waiters whose name it has;
 * `match` (a `${{ }}` template kept raw by the engine) is evaluated with
 * `.event` = the payload (and `.inputs`, `.run`, `.secrets`). The first
 * match ends the attempt: the payload is the step's outputs (an object as
 * is; another value as {"value": ...}). `timeout` fails the attempt with
 * kind "timeout". A waiter reads the store; it writes nothing: its outcome
 * goes to the engine through rt_attempt_end.
 *
 * Events sent to one run (`weft event send NAME --run RUN`) are kept in the
 * store until consumed (store_run_event_*): a waiter of that run takes the
 * oldest kept event of its name that its match accepts, whenever it was
 * sent, by claiming it in the store before ending its attempt; at start it
 * first looks for an event it claimed before a crash (consumed once).
 *
 * Ownership: the timer (a->wait) or the waiter (a->evw) belongs to its
 * attempt and is freed by release when the attempt ends. */
#include "runtime/rt_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "util/err.h"
#include "util/wtime.h"

struct wait_event;
static void events_poll(struct runtime *rt);
static bool offer_kept(struct runtime *rt, struct rt_attempt *a, bool at_start);
static void event_start(struct runtime *rt, struct rt_run *run, const struct eng_effect *e,
                        int64_t started_at);

static void end_ok(struct rt_attempt *a, const json_t *outputs)
{
  rt_attempt_end(a, &(struct rt_result){.ok = true, .outputs = outputs, .exit_code = -1,
                                        .http_status = -1});
}

static void end_fail(struct rt_attempt *a, const char *kind, const char *message)
{
  rt_attempt_end(a, &(struct rt_result){.ok = false, .kind = kind, .message = message,
                                        .exit_code = -1, .http_status = -1});
}

/* ---- a duration or a time ------------------------------------------------ */

static void on_wait_fired(uv_timer_t *h)
{
  struct rt_attempt *a = h->data;
  json_t *o = json_object();
  end_ok(a, o); /* closes the timer */
  json_decref(o);
}

/* The stored start of a wait resumed after a restart (0 when unknown or new):
 * a wait that should have ended while no engine ran ends at once. */
static int64_t wait_started_at(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  struct store_step row = {0};
  int64_t t = 0;
  if (e->resumed &&
      store_step_get(rt->store, run->id, run->wf->steps[e->step].id, e->index, &row) == 0)
    t = row.started_at;
  store_step_clear(&row);
  return t;
}

static void wait_start(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  const json_t *b = e->body;
  int64_t now = wt_now_ms(), at = -1, since = wait_started_at(rt, run, e);
  char msg[256];
  if (json_is_string(b)) {
    int64_t d;
    if (wt_parse_duration(json_string_value(b), &d) == 0)
      at = (since > 0 ? since : now) + d;
  } else if (json_is_object(b) && json_is_string(json_object_get(b, "until"))) {
    const char *u = json_string_value(json_object_get(b, "until"));
    int64_t t;
    if (wt_parse_rfc3339(u, &t) != 0) {
      snprintf(msg, sizeof msg, "wait.until \"%.100s\" is not an RFC 3339 time", u);
      rt_start_failed(rt, run, e, "expression", msg);
      return;
    }
    at = t;
  } else if (json_is_object(b) && json_object_get(b, "event")) {
    event_start(rt, run, e, since);
    return;
  }
  if (at < 0) {
    rt_start_failed(rt, run, e, "validation", "the wait step has no duration or time");
    return;
  }
  uv_timer_t *t = calloc(1, sizeof *t);
  if (!t)
    abort();
  struct rt_attempt *a = rt_attempt_add(rt, run, e, WF_WAIT);
  a->wait = t;
  uv_timer_init(&rt->loop, t);
  t->data = a;
  uv_timer_start(t, on_wait_fired, (uint64_t)(at > now ? at - now : 0), 0);
}

/* ---- an event ------------------------------------------------------------- */

#define EVENT_PAGE 256

struct wait_event {
  char *name;
  json_t *match;      /* the template string, or NULL */
  int64_t since;      /* events created at or after this (ms) count */
  int64_t cursor;     /* last event id looked at */
  uv_timer_t *timeout; /* NULL without timeout */
};

static void on_timeout(uv_timer_t *h)
{
  struct rt_attempt *a = h->data;
  char msg[300];
  snprintf(msg, sizeof msg, "no event \"%.200s\" arrived in time", a->evw->name);
  end_fail(a, "timeout", msg);
}

/* When this attempt began waiting, as committed (ATTEMPT_START): an event sent
 * once the step shows `waiting` is always after it. 0 when unknown. */
static int64_t attempt_started_at(struct runtime *rt, struct rt_run *run,
                                  const struct eng_effect *e)
{
  struct store_attempt *v = NULL;
  size_t n = 0;
  int64_t t = 0;
  if (store_attempt_list(rt->store, run->id, run->wf->steps[e->step].id, e->index, &v, &n) == 0)
    for (size_t i = 0; i < n; i++)
      if (v[i].attempt == (int)e->attempt)
        t = v[i].started_at;
  store_attempts_free(v, n);
  return t;
}

static void event_start(struct runtime *rt, struct rt_run *run, const struct eng_effect *e,
                      int64_t started_at)
{
  const struct wf_step *ws = &run->wf->steps[e->step];
  const json_t *name = json_object_get(e->body, "event");
  if (!json_is_string(name)) {
    rt_start_failed(rt, run, e, "validation", "wait.event must be an event name (a string)");
    return;
  }
  struct wait_event *w = calloc(1, sizeof *w);
  if (!w)
    abort();
  int64_t now = wt_now_ms();
  w->name = strdup(json_string_value(name));
  json_t *m = json_object_get(e->body, "match");
  w->match = m ? json_incref(m) : NULL;
  int64_t at = attempt_started_at(rt, run, e);
  w->since = at > 0 ? at : started_at > 0 ? started_at : now;
  /* every event up to the runtime's cursor was created before ev_cursor_at:
   * a wait that began after that skips them; otherwise (a resumed wait, or a
   * start in the same tick as the last read) it reads from the first event,
   * filtered by time */
  w->cursor = rt->ev_cursor_at && w->since > rt->ev_cursor_at ? rt->ev_cursor : 0;
  struct rt_attempt *a = rt_attempt_add(rt, run, e, WF_WAIT);
  a->evw = w;
  if (ws->wait_timeout_ms > 0) {
    w->timeout = calloc(1, sizeof *w->timeout);
    if (!w->timeout)
      abort();
    uv_timer_init(&rt->loop, w->timeout);
    w->timeout->data = a;
    int64_t due = w->since + ws->wait_timeout_ms;
    uv_timer_start(w->timeout, on_timeout, (uint64_t)(due > now ? due - now : 0), 0);
  }
  /* events kept for the run, then those already there (sent while no engine
   * ran), are looked at now */
  if (!offer_kept(rt, a, true))
    events_poll(rt);
}

/* 1: matches, 0: does not, <0: the expression failed (*err set). */
static int matches(struct runtime *rt, struct rt_attempt *a, const json_t *payload, char **err)
{
  struct wait_event *w = a->evw;
  *err = NULL;
  if (!w->match)
    return 1;
  if (!json_is_string(w->match))
    return expr_truthy(w->match) ? 1 : 0;
  json_t *ctx = json_pack("{s:O,s:O,s:{s:s,s:s},s:O}", "event", payload, "inputs",
                          a->run->inputs ? a->run->inputs : json_object(), "run", "id",
                          a->run->id, "workflow", a->run->wf->name, "secrets",
                          rt->secrets ? rt->secrets : json_object());
  json_t *out = NULL;
  int rc = ctx ? expr_render_str(a->run->wf->prog, json_string_value(w->match), ctx, NULL,
                                 &out, err)
               : WEFT_ENOMEM;
  json_decref(ctx);
  int r = rc ? -1 : expr_truthy(out) ? 1 : 0;
  json_decref(out);
  return r;
}

/* Offers one event to waiter a; true when the attempt ended. */
static bool offer(struct runtime *rt, struct rt_attempt *a, const struct store_inbox *ev)
{
  struct wait_event *w = a->evw;
  if (ev->id <= w->cursor)
    return false;
  w->cursor = ev->id;
  if (!ev->name || strcmp(ev->name, w->name) || ev->created_at < w->since)
    return false;
  json_t *payload = ev->payload ? json_loads(ev->payload, JSON_DECODE_ANY, NULL) : NULL;
  if (!payload)
    payload = json_null();
  char *err = NULL;
  int m = matches(rt, a, payload, &err);
  if (m < 0) {
    char msg[600];
    snprintf(msg, sizeof msg, "wait.match failed on event %lld: %.500s", (long long)ev->id,
             err ? err : "error");
    end_fail(a, "expression", msg);
  } else if (m > 0) {
    json_t *o = json_is_object(payload) ? json_incref(payload)
                : json_is_null(payload) ? json_object()
                                        : json_pack("{s:O}", "value", payload);
    end_ok(a, o);
    json_decref(o);
  }
  free(err);
  json_decref(payload);
  return m != 0;
}

/* ---- events kept for the run (a persistent trigger) -------------------------- */

#define KEPT_PAGE 64

static void claim_key(const struct rt_attempt *a, char *by, size_t n)
{
  const char *id = a->run->wf->steps[a->step].id;
  if (a->index >= 0)
    snprintf(by, n, "%.100s/%d#%u", id, (int)a->index, a->attempt);
  else
    snprintf(by, n, "%.100s#%u", id, a->attempt);
}

static void end_with(struct rt_attempt *a, json_t *payload /* consumed */)
{
  json_t *o = json_is_object(payload) ? json_incref(payload)
              : json_is_null(payload) ? json_object()
                                      : json_pack("{s:O}", "value", payload);
  json_decref(payload);
  end_ok(a, o);
  json_decref(o);
}

static json_t *load_payload(const struct store_inbox *m)
{
  json_t *p = m->payload ? json_loads(m->payload, JSON_DECODE_ANY, NULL) : NULL;
  return p ? p : json_null();
}

/* Offers the run's kept events to waiter a; true when its attempt ended. */
static bool offer_kept(struct runtime *rt, struct rt_attempt *a, bool at_start)
{
  char by[160];
  claim_key(a, by, sizeof by);
  if (at_start) { /* claimed before a crash, the step's success not committed */
    struct store_inbox m = {0};
    bool found = false;
    if (store_run_event_claimed(rt->store, a->run->id, by, &m, &found) == 0 && found) {
      json_t *p = load_payload(&m);
      store_inbox_clear(&m);
      end_with(a, p);
      return true;
    }
  }
  bool ended = false;
  int64_t after = 0;
  size_t n = KEPT_PAGE;
  /* by pages: events its match refuses stay kept, and may be many */
  while (!ended && n == KEPT_PAGE) {
    struct store_inbox *v = NULL;
    if (store_run_event_pending(rt->store, a->run->id, a->evw->name, after, KEPT_PAGE, &v, &n) != 0)
      n = 0;
    for (size_t i = 0; i < n && !ended; i++) {
      after = v[i].id;
      json_t *payload = load_payload(&v[i]);
      char *err = NULL;
      int m = matches(rt, a, payload, &err);
      bool won = false;
      if (m < 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "wait.match failed on kept event %lld: %.500s", (long long)v[i].id,
                 err ? err : "error");
        end_fail(a, "expression", msg);
        ended = true;
      } else if (m > 0 && store_run_event_claim(rt->store, v[i].id, by, wt_now_ms(), &won) == 0 && won) {
        end_with(a, json_incref(payload));
        ended = true;
      }
      free(err);
      json_decref(payload);
    }
    store_inbox_free(v, n);
  }
  return ended;
}

static void events_poll(struct runtime *rt)
{
  for (struct rt_attempt *a = rt->attempts, *next; a; a = next) {
    next = a->next;
    if (a->evw)
      offer_kept(rt, a, false);
  }
  int64_t from = -1;
  for (struct rt_attempt *a = rt->attempts; a; a = a->next)
    if (a->evw && (from < 0 || a->evw->cursor < from))
      from = a->evw->cursor;
  if (from < 0)
    return;
  int64_t t0 = wt_now_ms(); /* what the store holds now was created before t0 */
  bool read_ok = true;
  for (;;) {
    struct store_inbox *v = NULL;
    size_t n = 0;
    int rc = store_event_list(rt->store, from, EVENT_PAGE, &v, &n);
    if (rc != 0 || n == 0) {
      read_ok = rc == 0;
      store_inbox_free(v, n);
      break;
    }
    for (size_t i = 0; i < n; i++) {
      struct rt_attempt *a = rt->attempts, *next;
      for (; a; a = next) {
        next = a->next;
        if (a->evw)
          offer(rt, a, &v[i]);
      }
      if (v[i].id > rt->ev_cursor)
        rt->ev_cursor = v[i].id;
    }
    from = v[n - 1].id;
    store_inbox_free(v, n);
    if (n < EVENT_PAGE)
      break;
  }
  if (read_ok && rt->ev_cursor <= from)
    rt->ev_cursor_at = t0;
  /* waiters that saw nothing new still move on to the runtime's cursor */
  for (struct rt_attempt *a = rt->attempts; a; a = a->next)
    if (a->evw && a->evw->cursor < from)
      a->evw->cursor = from;
}

/* ---- the executor ----------------------------------------------------------- */

static void on_closed(uv_handle_t *h) { free(h); }

static void wait_kill(struct rt_attempt *a, bool timeout)
{
  end_fail(a, timeout ? "timeout" : "cancelled", timeout ? "timed out" : "cancelled");
}

static void wait_release(struct rt_attempt *a)
{
  if (a->wait) {
    uv_timer_stop(a->wait);
    uv_close((uv_handle_t *)a->wait, on_closed);
    a->wait = NULL;
  }
  struct wait_event *w = a->evw;
  if (w) {
    if (w->timeout) {
      uv_timer_stop(w->timeout);
      uv_close((uv_handle_t *)w->timeout, on_closed);
    }
    free(w->name);
    json_decref(w->match);
    free(w);
    a->evw = NULL;
  }
}

const struct executor_ops rt_svc_wait = {
  .version = EXECUTOR_OPS_VERSION,
  .name = "wait",
  .start = wait_start,
  .kill = wait_kill,
  .poll = events_poll,
  .release = wait_release,
  .waits = true,
};
