/* wait.c — event waits (see wait.h): waiters, delivery by cursor over the
 * run-less events of the inbox, `match`, and the wait's own timeout. */
#include "exec/wait.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "runtime/rt_int.h"
#include "util/err.h"
#include "util/wtime.h"

#define EVENT_PAGE 256

struct wait_event {
  char *name;
  json_t *match;      /* the template string, or NULL */
  int64_t since;      /* events created at or after this (ms) count */
  int64_t cursor;     /* last event id looked at */
  uv_timer_t *timeout; /* NULL without timeout */
};

static void on_closed(uv_handle_t *h) { free(h); }

/* Unlinks a from the runtime and frees it with its waiter. */
static void drop(struct runtime *rt, struct rt_attempt *a)
{
  for (struct rt_attempt **pp = &rt->attempts; *pp; pp = &(*pp)->next)
    if (*pp == a) {
      *pp = a->next;
      break;
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
  }
  free(a->label);
  free(a->output_path);
  buf_free(&a->line);
  free(a);
}

static void on_timeout(uv_timer_t *h)
{
  struct rt_attempt *a = h->data;
  struct runtime *rt = a->rt;
  char msg[300];
  snprintf(msg, sizeof msg, "no event \"%.200s\" arrived in time", a->evw->name);
  rt_post_result(rt, a->run, a->step, a->index, a->attempt, false, NULL, "timeout", msg, -1, 0);
  drop(rt, a);
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

void wait_event_start(struct runtime *rt, struct rt_run *run, const struct eng_effect *e,
                      int64_t started_at)
{
  const struct wf_step *ws = &run->wf->steps[e->step];
  const json_t *name = json_object_get(e->body, "event");
  if (!json_is_string(name)) {
    rt_post_result(rt, run, e->step, e->index, e->attempt, false, NULL, "validation",
                   "wait.event must be an event name (a string)", -1, 0);
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
  /* events already there (sent while no engine ran) are looked at now */
  wait_events_poll(rt);
}

void wait_event_kill(struct runtime *rt, struct rt_attempt *a, bool timeout)
{
  rt_post_result(rt, a->run, a->step, a->index, a->attempt, false, NULL,
                 timeout ? "timeout" : "cancelled", timeout ? "timed out" : "cancelled", -1, 0);
  drop(rt, a);
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
    rt_post_result(rt, a->run, a->step, a->index, a->attempt, false, NULL, "expression", msg,
                   -1, 0);
  } else if (m > 0) {
    json_t *o = json_is_object(payload) ? json_incref(payload)
                : json_is_null(payload) ? json_object()
                                        : json_pack("{s:O}", "value", payload);
    rt_post_result(rt, a->run, a->step, a->index, a->attempt, true, o, NULL, NULL, -1, 0);
    json_decref(o);
  }
  free(err);
  json_decref(payload);
  if (m != 0)
    drop(rt, a);
  return m != 0;
}

void wait_events_poll(struct runtime *rt)
{
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
