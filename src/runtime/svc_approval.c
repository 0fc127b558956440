/* svc_approval.c — the runtime's approval service (svc_approval.h): records
 * the request, waits on the loop for decisions and the timeout, applies
 * on_timeout, and, as the executor of approval steps (executor.h), ends the
 * attempt with the outcome. The rules are engine/approval.c. */
#include "runtime/svc_approval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rt_int.h"
#include "util/err.h"
#include "util/sha256.h"
#include "util/wtime.h"
#include "util/jsonfmt.h"

int appr_state_load(struct store *s, const char *run_id, const char *step, int index,
                    struct appr_state *st)
{
  struct store_decision *v = NULL;
  size_t n = 0;
  appr_state_init(st);
  int rc = store_decision_list(s, run_id, step, index, &v, &n);
  if (rc)
    return rc;
  for (size_t i = 0; i < n; i++)
    appr_state_add(st, v[i].id, v[i].decision, v[i].user, v[i].fields, v[i].comment, v[i].at);
  store_decisions_free(v, n);
  return 0;
}

/* ---- the service ---------------------------------------------------------- */

struct approval {
  uv_timer_t *timer;      /* the timeout and the first evaluation */
  struct store *store;
  char *run_id, *step;
  int index;
  unsigned attempt;
  char *start_error;      /* reported on the first evaluation */
  approval_done_fn done;
  void *ud;
};

static void on_timer_closed(uv_handle_t *h) { free(h); }
static void on_timer(uv_timer_t *h);

static void finish(struct approval *a, bool ok, const json_t *outputs, const char *kind,
                   const char *message)
{
  uv_timer_stop(a->timer);
  uv_close((uv_handle_t *)a->timer, on_timer_closed);
  a->done(a->ud, ok, outputs, kind, message);
  free(a->run_id);
  free(a->step);
  free(a->start_error);
  free(a);
}

static int audit_json(struct store *s, const char *run_id, const char *kind, json_t *d)
{
  char *t = wjson_dumps(d, JSON_COMPACT);
  json_decref(d);
  int rc = t ? store_audit_append(s, wt_now_ms(), run_id, kind, t, NULL) : WEFT_ENOMEM;
  free(t);
  return rc;
}

/* Runs fn inside a transaction of its own (or the caller's open one). */
static int in_tx(struct store *s, int (*fn)(struct approval *, void *), struct approval *a,
                 void *arg)
{
  bool own = !store_in_tx(s);
  int rc = own ? store_begin(s) : 0;
  if (!rc)
    rc = fn(a, arg);
  if (own) {
    if (!rc)
      rc = store_commit(s);
    else if (store_in_tx(s))
      store_rollback(s);
  }
  return rc;
}

/* in a transaction: applies on_timeout unless a decision got in first */
static int timeout_tx(struct approval *a, void *arg)
{
  struct appr_state *st = arg;
  appr_state_clear(st);
  int rc = appr_state_load(a->store, a->run_id, a->step, a->index, st);
  if (rc || appr_decided(st))
    return rc;
  const char *ot = json_string_value(json_object_get(st->request, "on_timeout"));
  json_t *f = json_pack("{s:s}", "on_timeout", ot ? ot : "fail");
  char *ft = wjson_dumps(f, JSON_COMPACT);
  json_decref(f);
  int64_t now = wt_now_ms();
  struct store_decision d = {.run_id = a->run_id, .step = a->step, .index = a->index,
                             .user = APPR_SYSTEM_USER, .decision = "timeout", .fields = ft,
                             .at = now};
  rc = store_decision_put(a->store, &d, NULL);
  free(ft);
  if (!rc) {
    json_t *ad = json_pack("{s:s,s:i,s:s,s:I}", "step", a->step, "index", a->index,
                           "on_timeout", ot ? ot : "fail", "timeout_ms",
                           json_integer_value(json_object_get(st->request, "timeout_ms")));
    rc = audit_json(a->store, a->run_id, "approval.timeout", ad);
  }
  if (!rc) {
    st->timed_out = true;
    st->decided_at = now;
  }
  return rc;
}

static void evaluate(struct approval *a)
{
  struct appr_state st = {0};
  char msg[600];
  if (a->start_error) {
    snprintf(msg, sizeof msg, "%s", a->start_error);
    finish(a, false, NULL, "validation", msg);
    return;
  }
  int rc = appr_state_load(a->store, a->run_id, a->step, a->index, &st);
  if (rc)
    goto store_failed;
  if (!st.request) {
    finish(a, false, NULL, "validation", "the approval request was not recorded");
    goto out;
  }
  int64_t now = wt_now_ms();
  json_t *dl = json_object_get(st.request, "deadline");
  if (!appr_decided(&st) && json_is_integer(dl) && json_integer_value(dl) <= now) {
    if ((rc = in_tx(a->store, timeout_tx, a, &st)) != 0)
      goto store_failed;
  }
  if (st.rejected_by) {
    json_t *o = appr_outputs(&st, "rejected");
    json_object_set_new(o, "by", json_pack("[s]", st.rejected_by));
    snprintf(msg, sizeof msg, "rejected by %s%s%.400s", st.rejected_by,
             st.reject_comment ? ": " : "", st.reject_comment ? st.reject_comment : "");
    finish(a, false, o, "rejected", msg);
    json_decref(o);
  } else if (appr_decided(&st) && !st.timed_out) {
    json_t *o = appr_outputs(&st, "approved");
    finish(a, true, o, NULL, NULL);
    json_decref(o);
  } else if (st.timed_out) {
    const char *ot = json_string_value(json_object_get(st.request, "on_timeout"));
    char d[32];
    wt_fmt_duration(json_integer_value(json_object_get(st.request, "timeout_ms")), d);
    json_t *o = appr_outputs(&st, ot && !strcmp(ot, "approve") ? "approved" : "rejected");
    json_object_set_new(o, "timed_out", json_true());
    json_object_set_new(o, "comment", json_string("decided by on_timeout"));
    if (ot && !strcmp(ot, "approve")) {
      finish(a, true, o, NULL, NULL);
    } else if (ot && !strcmp(ot, "reject")) {
      snprintf(msg, sizeof msg, "no decision within %s: rejected (on_timeout: reject)", d);
      finish(a, false, o, "rejected", msg);
    } else {
      snprintf(msg, sizeof msg, "no decision within %s (on_timeout: fail)", d);
      finish(a, false, NULL, "timeout", msg);
    }
    json_decref(o);
  } else if (json_is_integer(dl)) {
    int64_t left = json_integer_value(dl) - now;
    uv_timer_start(a->timer, on_timer, (uint64_t)(left > 0 ? left : 0), 0);
  }
out:
  appr_state_clear(&st);
  return;
store_failed:
  snprintf(msg, sizeof msg, "the store failed while reading decisions: %.400s",
           store_errmsg(a->store));
  finish(a, false, NULL, "validation", msg);
  appr_state_clear(&st);
}

static void on_timer(uv_timer_t *h) { evaluate(h->data); }

struct req_arg {
  const struct approval_ctx *c;
  int64_t waiting_since;
};

/* in a transaction: records the request unless resumed and recorded */
static int request_tx(struct approval *a, void *arg)
{
  struct req_arg *ra = arg;
  const struct approval_ctx *c = ra->c;
  struct appr_state st = {0};
  int rc = 0;
  int64_t since = wt_now_ms();
  if (c->resumed) {
    if ((rc = appr_state_load(a->store, a->run_id, a->step, a->index, &st)) != 0)
      goto out;
    /* keep the request the person saw (and its waiting_since): an approval
     * step resumes in the same attempt; an agent's tool call resumes in a new
     * attempt (the interrupted one counted), and the agent says it is the
     * same call (its transcript recorded the request) */
    bool same_tool = st.request && json_is_string(json_object_get(st.request, "tool")) &&
                     json_is_string(json_object_get(c->body, "tool"));
    if (st.request && (same_tool || json_integer_value(json_object_get(st.request, "attempt")) ==
                                        (json_int_t)c->attempt))
      goto out;
    struct store_step row = {0};
    if (store_step_get(a->store, a->run_id, a->step, a->index, &row) == 0 && row.started_at)
      since = row.started_at;
    store_step_clear(&row);
  }
  char *err = NULL;
  json_t *req = appr_request_new(c->body, since, c->attempt, &err);
  if (!req) {
    a->start_error = err ? err : strdup("the approval is not valid");
    goto out;
  }
  char *txt = wjson_dumps(req, JSON_COMPACT);
  struct store_decision d = {.run_id = a->run_id, .step = a->step, .index = a->index,
                             .user = APPR_SYSTEM_USER, .decision = "requested", .fields = txt,
                             .at = since};
  rc = txt ? store_decision_put(a->store, &d, NULL) : WEFT_ENOMEM;
  free(txt);
  if (!rc) {
    char h[SHA256_HEX_LEN + 1];
    appr_request_hash(req, h);
    json_t *ad = json_pack("{s:s,s:i,s:i,s:O,s:s}", "step", a->step, "index", a->index,
                           "attempt", (int)c->attempt, "request", req, "request_sha256", h);
    rc = audit_json(a->store, a->run_id, "approval.requested", ad);
  }
  json_decref(req);
out:
  appr_state_clear(&st);
  return rc;
}

struct approval *approval_start(const struct approval_ctx *c, approval_done_fn done, void *ud)
{
  struct approval *a = calloc(1, sizeof *a);
  if (!a || !(a->timer = calloc(1, sizeof *a->timer)))
    abort();
  a->store = c->store;
  a->run_id = strdup(c->run_id);
  a->step = strdup(c->step);
  a->index = c->index;
  a->attempt = c->attempt;
  a->done = done;
  a->ud = ud;
  if (!a->run_id || !a->step)
    abort();
  uv_timer_init(c->loop, a->timer);
  a->timer->data = a;
  struct req_arg ra = {.c = c};
  int rc = in_tx(a->store, request_tx, a, &ra);
  if (rc && !a->start_error) {
    if (asprintf(&a->start_error, "cannot record the approval request: %s",
                 store_errmsg(a->store)) < 0)
      a->start_error = NULL;
    if (!a->start_error)
      a->start_error = strdup("cannot record the approval request");
  }
  /* the first evaluation (decisions already made, a passed deadline) runs
   * on the next loop turn, never inside the caller */
  uv_timer_start(a->timer, on_timer, 0, 0);
  return a;
}

void approval_poke(struct approval *a) { evaluate(a); }

void approval_stop(struct approval *a, const char *kind, const char *message)
{
  finish(a, false, NULL, kind, message);
}

/* ---- the executor of approval steps --------------------------------------- */

static void on_approval_done(void *ud, bool ok, const json_t *outputs, const char *kind,
                             const char *message)
{
  struct rt_attempt *a = ud;
  a->appr = NULL; /* freed by the service right after this returns */
  rt_attempt_end(a, &(struct rt_result){.ok = ok, .outputs = outputs, .kind = kind,
                                        .message = message, .exit_code = -1,
                                        .http_status = -1});
}

static void approval_ex_start(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  struct rt_attempt *a = rt_attempt_add(rt, run, e, WF_APPROVAL);
  /* the request (message, fields) is stored and shown: never a secret */
  json_t *body = masker_json(rt->masker, e->body);
  struct approval_ctx c = {.loop = &rt->loop, .store = rt->store, .run_id = run->id,
                           .step = run->wf->steps[e->step].id, .index = e->index,
                           .attempt = e->attempt, .body = body, .resumed = e->resumed};
  a->appr = approval_start(&c, on_approval_done, a);
  json_decref(body);
}

static void approval_ex_kill(struct rt_attempt *a, bool timeout)
{
  if (a->appr)
    approval_stop(a->appr, timeout ? "timeout" : "cancelled", timeout ? "timed out" : "cancelled");
}

static void approval_ex_resume(struct rt_attempt *a)
{
  if (a->appr)
    approval_poke(a->appr);
}

const struct executor_ops rt_svc_approval = {
  .version = EXECUTOR_OPS_VERSION,
  .name = "approval",
  .start = approval_ex_start,
  .kill = approval_ex_kill,
  .resume = approval_ex_resume,
  .waits = true,
};
