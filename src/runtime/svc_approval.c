/* svc_approval.c — the runtime's approval service (svc_approval.h): makes
 * the request, waits on the loop for decisions and the timeout, applies
 * on_timeout, and, as the executor of approval steps (executor.h), ends the
 * attempt with the outcome. The rules are engine/approval.c.
 *
 * Its own rows ("requested", "timeout" and their audit entries) are records
 * posted to the engine (rt_attempt_record): the engine journals them with
 * the run's transitions, the runtime writes them in that commit
 * (approval_record_write, from rt_journal.c) and then wakes the attempt,
 * which reads them back. */
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
  void (*post)(void *ud, const json_t *record); /* approval_ctx.post */
  void *post_ud;
  bool req_posted;        /* a request was posted and is not in the store yet ... */
  int64_t req_before;     /* ... which holds a newer "requested" row than this once it is */
  bool timeout_posted;    /* on_timeout was posted: wait for its record */
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

/* ---- records ---------------------------------------------------------------- *
 * {"type": "approval", "decision": "requested"|"timeout", "at": MS,
 *  "fields": {...}, "audit": {...}}: the decision row of the service (user
 * "weft") and its audit entry approval.<decision>. */

static json_t *record_new(const char *decision, int64_t at, json_t *fields, json_t *audit)
{
  json_t *r = json_pack("{s:s,s:s,s:I,s:o,s:o}", "type", "approval", "decision", decision, "at",
                        (json_int_t)at, "fields", fields, "audit", audit);
  if (!r)
    abort(); /* a lost record would hang the step */
  return r;
}

int approval_record_write(struct store *s, const char *run_id, const char *step, int index,
                          int64_t audit_at, const json_t *rec)
{
  const char *decision = json_string_value(json_object_get(rec, "decision"));
  if (!decision || (strcmp(decision, "requested") && strcmp(decision, "timeout")))
    return WEFT_EINVAL;
  int rc = 0;
  if (!strcmp(decision, "timeout")) {
    /* on_timeout applies unless a decision got in first (in this same write
     * transaction: nobody decides in between) */
    struct appr_state st = {0};
    rc = appr_state_load(s, run_id, step, index, &st);
    bool decided = appr_decided(&st);
    appr_state_clear(&st);
    if (rc || decided)
      return rc;
  }
  char *ft = wjson_dumps(json_object_get(rec, "fields"), JSON_COMPACT);
  char kind[32];
  snprintf(kind, sizeof kind, "approval.%s", decision);
  struct store_decision d = {.run_id = (char *)run_id, .step = (char *)step, .index = index,
                             .user = APPR_SYSTEM_USER, .decision = (char *)decision,
                             .fields = ft,
                             .at = json_integer_value(json_object_get(rec, "at"))};
  rc = ft ? store_decision_put(s, &d, NULL) : WEFT_ENOMEM;
  free(ft);
  char *at = rc ? NULL : wjson_dumps(json_object_get(rec, "audit"), JSON_COMPACT);
  if (!rc)
    rc = at ? store_audit_append(s, audit_at, run_id, kind, at, NULL) : WEFT_ENOMEM;
  free(at);
  return rc;
}

/* Hands the record to the engine (ctx.post), or, without one, writes it at
 * once in a transaction of its own (or the caller's open one). */
static int record_put(struct approval *a, json_t *rec)
{
  int rc = 0;
  if (a->post) {
    a->post(a->post_ud, rec);
  } else {
    struct store *s = a->store;
    bool own = !store_in_tx(s);
    rc = own ? store_begin(s) : 0;
    if (!rc)
      rc = approval_record_write(s, a->run_id, a->step, a->index, wt_now_ms(), rec);
    if (own) {
      if (!rc)
        rc = store_commit(s);
      else if (store_in_tx(s))
        store_rollback(s);
    }
  }
  json_decref(rec);
  return rc;
}

/* applies on_timeout: its record, unless a decision got in first */
static int post_timeout(struct approval *a, struct appr_state *st)
{
  const char *ot = json_string_value(json_object_get(st->request, "on_timeout"));
  int64_t now = wt_now_ms();
  json_t *ad = json_pack("{s:s,s:i,s:s,s:I}", "step", a->step, "index", a->index,
                         "on_timeout", ot ? ot : "fail", "timeout_ms",
                         json_integer_value(json_object_get(st->request, "timeout_ms")));
  json_t *rec = record_new("timeout", now, json_pack("{s:s}", "on_timeout", ot ? ot : "fail"),
                           ad);
  a->timeout_posted = true;
  return record_put(a, rec);
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
  if (a->req_posted) {
    if (!st.request || st.request_id <= a->req_before)
      goto out; /* its record is not committed yet: it wakes us once it is */
    a->req_posted = false;
  }
  if (!st.request) {
    finish(a, false, NULL, "validation", "the approval request was not recorded");
    goto out;
  }
  int64_t now = wt_now_ms();
  json_t *dl = json_object_get(st.request, "deadline");
  if (!appr_decided(&st) && a->timeout_posted)
    goto out; /* the same */
  if (!appr_decided(&st) && json_is_integer(dl) && json_integer_value(dl) <= now) {
    if ((rc = post_timeout(a, &st)) != 0)
      goto store_failed;
    if (a->post)
      goto out;
    appr_state_clear(&st); /* written: read it back */
    if ((rc = appr_state_load(a->store, a->run_id, a->step, a->index, &st)) != 0)
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

/* Makes the request (unless resumed and already made) and hands its record
 * on (record_put). */
static int request(struct approval *a, const struct approval_ctx *c)
{
  struct appr_state st = {0};
  int64_t since = wt_now_ms();
  /* the latest request so far: ours is newer (read even for a new attempt) */
  int rc = appr_state_load(a->store, a->run_id, a->step, a->index, &st);
  if (rc)
    goto out;
  if (c->resumed) {
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
  char h[SHA256_HEX_LEN + 1];
  appr_request_hash(req, h);
  json_t *ad = json_pack("{s:s,s:i,s:i,s:O,s:s}", "step", a->step, "index", a->index,
                         "attempt", (int)c->attempt, "request", req, "request_sha256", h);
  a->req_before = st.request ? st.request_id : 0;
  a->req_posted = a->post != NULL;
  rc = record_put(a, record_new("requested", since, req, ad));
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
  a->post = c->post;
  a->post_ud = c->post_ud;
  a->done = done;
  a->ud = ud;
  if (!a->run_id || !a->step)
    abort();
  uv_timer_init(c->loop, a->timer);
  a->timer->data = a;
  int rc = request(a, c);
  if (rc && !a->start_error) {
    a->req_posted = false;
    if (asprintf(&a->start_error, "cannot record the approval request: %s",
                 store_errmsg(a->store)) < 0)
      a->start_error = NULL;
    if (!a->start_error)
      a->start_error = strdup("cannot record the approval request");
  }
  /* the first evaluation (decisions already made, a passed deadline) runs
   * on the next loop turn, never inside the caller; a posted request is
   * evaluated once its record is in (the attempt is woken) */
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

void approval_post(void *ud, const json_t *record) { rt_attempt_record(ud, record); }

static void approval_ex_start(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  struct rt_attempt *a = rt_attempt_add(rt, run, e, WF_APPROVAL);
  /* the request (message, fields) is stored and shown: never a secret */
  json_t *body = masker_json(rt->masker, e->body);
  struct approval_ctx c = {.loop = &rt->loop, .store = rt->store, .run_id = run->id,
                           .step = run->wf->steps[e->step].id, .index = e->index,
                           .attempt = e->attempt, .body = body, .resumed = e->resumed};
  c.post = approval_post;
  c.post_ud = a;
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
