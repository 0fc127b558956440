/* approval.c — approval steps: the request a person sees, the rules of who
 * may decide (approvers, groups, quorum over distinct people, separation of
 * duties, escalation), typed fields, and the executor that waits on the
 * runtime's loop for decisions and the timeout (see approval.h). */
#include "exec/approval.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "spec/model.h"
#include "util/err.h"
#include "util/sha256.h"
#include "util/wtime.h"
#include "util/jsonfmt.h"

/* ---- the request -------------------------------------------------------- */

static int parse_type(const char *s, enum wf_type *t)
{
  static const struct { const char *n; enum wf_type t; } m[] = {
    {"string", WF_T_STRING}, {"number", WF_T_NUMBER}, {"integer", WF_T_INTEGER},
    {"boolean", WF_T_BOOLEAN}, {"object", WF_T_OBJECT}, {"array", WF_T_ARRAY},
  };
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
    if (s && !strcmp(s, m[i].n)) {
      *t = m[i].t;
      return 0;
    }
  return WEFT_EINVAL;
}

static json_t *approvers_of(const json_t *v)
{
  json_t *a = json_array();
  size_t i;
  json_t *x;
  if (json_is_string(v))
    json_array_append_new(a, json_string(json_string_value(v)));
  json_array_foreach(v, i, x) {
    if (json_is_string(x))
      json_array_append_new(a, json_string(json_string_value(x)));
  }
  return a;
}

static int64_t duration_of(const json_t *v)
{
  int64_t ms = 0;
  if (json_is_string(v) && wt_parse_duration(json_string_value(v), &ms) == 0)
    return ms;
  if (json_is_integer(v))
    return json_integer_value(v) * 1000; /* a bare number means seconds */
  return -1;
}

json_t *appr_request_new(const json_t *body, int64_t waiting_since, unsigned attempt,
                         char **err)
{
  json_t *r = json_object(), *fields = json_object(), *esc = json_array();
  const json_t *b = json_is_object(body) ? body : NULL;
  const char *problem = NULL;
  char pbuf[200];
  const json_t *msg = b ? json_object_get(b, "message") : NULL;
  json_object_set_new(r, "message",
                      json_is_string(msg) ? json_string(json_string_value(msg))
                      : msg ? json_string("") : json_string("Approve?"));
  if (msg && !json_is_string(msg)) {
    char *t = wjson_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
    json_object_set_new(r, "message", json_string(t ? t : ""));
    free(t);
  }
  json_object_set_new(r, "approvers", approvers_of(b ? json_object_get(b, "approvers") : NULL));
  const json_t *mn = b ? json_object_get(b, "min_approvals") : NULL;
  json_int_t min = 1;
  if (json_is_integer(mn))
    min = json_integer_value(mn);
  else if (json_is_string(mn))
    min = strtoll(json_string_value(mn), NULL, 10);
  if (min < 1) {
    snprintf(pbuf, sizeof pbuf, "min_approvals must be at least 1");
    problem = pbuf;
  }
  json_object_set_new(r, "min_approvals", json_integer(min < 1 ? 1 : min));
  const json_t *fd = b ? json_object_get(b, "fields") : NULL;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)fd, k, v) {
    json_t *d = json_object();
    const char *tn = "string";
    enum wf_type t = WF_T_STRING;
    if (json_is_object(v)) {
      json_t *x;
      if ((x = json_object_get(v, "type")) && json_is_string(x))
        tn = json_string_value(x);
      if (parse_type(tn, &t) != 0) {
        snprintf(pbuf, sizeof pbuf, "field \"%.60s\" has an unknown type", k);
        problem = pbuf;
        tn = "string";
      }
      if ((x = json_object_get(v, "default")) && !json_is_null(x)) {
        if (!wf_type_check(t, x)) {
          snprintf(pbuf, sizeof pbuf, "the default of field \"%.60s\" is not of type %s", k,
                   tn);
          problem = pbuf;
        }
        json_object_set(d, "default", x);
      }
      if ((x = json_object_get(v, "description")) && json_is_string(x))
        json_object_set(d, "description", x);
      json_object_set_new(d, "required", json_boolean(json_is_true(json_object_get(v, "required"))));
    } else {
      json_object_set_new(d, "required", json_false());
    }
    json_object_set_new(d, "type", json_string(tn));
    json_object_set_new(fields, k, d);
  }
  json_object_set_new(r, "fields", fields);
  const json_t *to = b ? json_object_get(b, "timeout") : NULL;
  int64_t timeout = to ? duration_of(to) : 0;
  if (timeout < 0) {
    snprintf(pbuf, sizeof pbuf, "the approval timeout is not a duration");
    problem = pbuf;
    timeout = 0;
  }
  json_object_set_new(r, "timeout_ms", json_integer(timeout));
  json_object_set_new(r, "deadline", timeout > 0 ? json_integer(waiting_since + timeout)
                                                 : json_null());
  const json_t *ot = b ? json_object_get(b, "on_timeout") : NULL;
  json_object_set_new(r, "on_timeout",
                      json_string(json_is_string(ot) ? json_string_value(ot) : "fail"));
  size_t i;
  json_t *e;
  json_array_foreach(b ? json_object_get(b, "escalation") : NULL, i, e) {
    int64_t after = duration_of(json_object_get(e, "after"));
    if (after < 0) {
      snprintf(pbuf, sizeof pbuf, "escalation %zu: \"after\" is not a duration", i + 1);
      problem = pbuf;
      continue;
    }
    json_array_append_new(esc, json_pack("{s:I,s:o}", "after_ms", (json_int_t)after,
                                         "approvers", approvers_of(json_object_get(e, "approvers"))));
  }
  json_object_set_new(r, "escalation", esc);
  json_object_set_new(r, "allow_self_approval",
                      json_boolean(b && json_is_true(json_object_get(b, "allow_self_approval"))));
  json_object_set_new(r, "waiting_since", json_integer(waiting_since));
  json_object_set_new(r, "attempt", json_integer(attempt));
  /* an agent's tool call waiting for a decision: which tool, with what */
  const json_t *tool = b ? json_object_get(b, "tool") : NULL;
  if (json_is_string(tool)) {
    json_object_set(r, "tool", (json_t *)tool);
    const json_t *args = json_object_get(b, "args");
    json_object_set_new(r, "args", args ? json_deep_copy(args) : json_object());
  }
  if (problem) {
    if (err && asprintf(err, "%s", problem) < 0)
      *err = NULL;
    json_decref(r);
    return NULL;
  }
  return r;
}

int appr_min(const json_t *request)
{
  json_int_t m = json_integer_value(json_object_get(request, "min_approvals"));
  return m < 1 ? 1 : (int)m;
}

void appr_request_hash(const json_t *request, char out[SHA256_HEX_LEN + 1])
{
  /* hashed: jansson's canonical text (as the audit chain), stable across versions */
  char *t = json_dumps(request, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
  sha256_hex(t ? t : "", t ? strlen(t) : 0, out);
  free(t);
}

/* ---- the state ---------------------------------------------------------- */

void appr_state_clear(struct appr_state *st)
{
  json_decref(st->request);
  json_decref(st->approved_by);
  json_decref(st->edits);
  json_decref(st->comments);
  free(st->rejected_by);
  free(st->reject_comment);
  memset(st, 0, sizeof *st);
}

static bool has_str(const json_t *a, const char *s)
{
  size_t i;
  json_t *x;
  json_array_foreach(a, i, x) {
    if (json_is_string(x) && !strcmp(json_string_value(x), s))
      return true;
  }
  return false;
}

int appr_state_load(struct store *s, const char *run_id, const char *step, int index,
                    struct appr_state *st)
{
  struct store_decision *v = NULL;
  size_t n = 0;
  memset(st, 0, sizeof *st);
  st->approved_by = json_array();
  st->edits = json_object();
  st->comments = json_array();
  int rc = store_decision_list(s, run_id, step, index, &v, &n);
  if (rc)
    return rc;
  size_t from = 0;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(v[i].decision, "requested")) {
      json_t *r = v[i].fields ? json_loads(v[i].fields, 0, NULL) : NULL;
      if (r) {
        json_decref(st->request);
        st->request = r;
        st->request_id = v[i].id;
        from = i + 1;
      }
    }
  for (size_t i = from; st->request && i < n; i++) {
    struct store_decision *d = &v[i];
    bool approve = !strcmp(d->decision, "approve");
    bool reject = !strcmp(d->decision, "reject");
    if (!strcmp(d->decision, "timeout")) {
      st->timed_out = true;
      st->decided_at = d->at;
    }
    if (!approve && !reject)
      continue;
    char t[32];
    wt_fmt_rfc3339(d->at, t);
    json_array_append_new(st->comments,
                          json_pack("{s:s,s:s,s:s?,s:s}", "by", d->user, "decision",
                                    approve ? "approved" : "rejected", "comment", d->comment,
                                    "at", t));
    st->decided_at = d->at;
    if (reject) {
      if (!st->rejected_by) {
        st->rejected_by = strdup(d->user);
        st->reject_comment = d->comment ? strdup(d->comment) : NULL;
      }
      continue;
    }
    if (!has_str(st->approved_by, d->user))
      json_array_append_new(st->approved_by, json_string(d->user));
    json_t *f = d->fields ? json_loads(d->fields, 0, NULL) : NULL;
    if (json_is_object(f))
      json_object_update(st->edits, f);
    json_decref(f);
  }
  store_decisions_free(v, n);
  return 0;
}

bool appr_decided(const struct appr_state *st)
{
  if (!st->request)
    return false;
  return st->rejected_by || st->timed_out ||
         json_array_size(st->approved_by) >= (size_t)appr_min(st->request);
}

json_t *appr_effective_approvers(const json_t *request, int64_t now)
{
  json_t *a = json_deep_copy(json_object_get(request, "approvers"));
  if (!json_is_array(a)) {
    json_decref(a);
    a = json_array();
  }
  if (json_array_size(a) == 0)
    return a; /* anyone: escalation cannot widen it */
  int64_t since = json_integer_value(json_object_get(request, "waiting_since"));
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(request, "escalation"), i, e) {
    if (since + json_integer_value(json_object_get(e, "after_ms")) > now)
      continue;
    size_t j;
    json_t *x;
    json_array_foreach(json_object_get(e, "approvers"), j, x) {
      if (json_is_string(x) && !has_str(a, json_string_value(x)))
        json_array_append(a, x);
    }
  }
  return a;
}

static int why_set(char **why, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why_set(char **why, int rc, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  if (why && vasprintf(why, fmt, ap) < 0)
    *why = NULL;
  va_end(ap);
  return rc;
}

int appr_may_decide(const struct appr_state *st, const struct users *u, const char *user,
                    const char *started_by, const char *decision, int64_t now, char **why)
{
  if (!st->request)
    return why_set(why, WEFT_ESTATE, "the step has not been presented for a decision yet");
  if (st->rejected_by)
    return why_set(why, WEFT_ESTATE, "it was already rejected by %s", st->rejected_by);
  if (st->timed_out)
    return why_set(why, WEFT_ESTATE, "it was already decided by its timeout");
  if (has_str(st->approved_by, user))
    return why_set(why, WEFT_ESTATE, "%s already approved it (each person counts once)", user);
  if (appr_decided(st))
    return why_set(why, WEFT_ESTATE, "it already has its %d approval(s)", appr_min(st->request));
  json_t *who = appr_effective_approvers(st->request, now);
  bool ok = json_array_size(who) == 0 || users_match(u, user, who);
  int rc = 0;
  if (!ok) {
    char *list = wjson_dumps(who, JSON_COMPACT);
    rc = why_set(why, WEFT_EDENIED, "%s is not one of its approvers %s%s", user,
                 list ? list : "",
                 list && strstr(list, "\"group:") ? " (groups come from users.json in the weft home)"
                                                   : "");
    free(list);
  } else if (!strcmp(decision, "approve") && started_by && !strcmp(user, started_by) &&
             !json_is_true(json_object_get(st->request, "allow_self_approval"))) {
    rc = why_set(why, WEFT_EDENIED,
                 "%s started this run and may not approve it (separation of duties; the step "
                 "would need allow_self_approval: true)", user);
  }
  json_decref(who);
  return rc;
}

json_t *appr_field_values(const struct appr_state *st)
{
  json_t *o = json_object();
  const char *k;
  json_t *d;
  json_object_foreach(json_object_get(st->request, "fields"), k, d) {
    json_t *x = json_object_get(d, "default");
    json_object_set(o, k, x ? x : json_null());
  }
  json_object_update(o, st->edits);
  return o;
}

int appr_parse_field(const json_t *request, const char *kv, char **key, json_t **val,
                     char **why)
{
  const char *eq = strchr(kv, '=');
  *key = NULL;
  *val = NULL;
  if (!eq || eq == kv)
    return why_set(why, WEFT_EINVAL, "--field needs KEY=VALUE, not \"%s\"", kv);
  char *k = strndup(kv, (size_t)(eq - kv));
  json_t *decl = json_object_get(json_object_get(request, "fields"), k);
  if (!decl) {
    int rc = why_set(why, WEFT_EINVAL, "the step has no field \"%s\"", k);
    free(k);
    return rc;
  }
  const char *tn = json_string_value(json_object_get(decl, "type"));
  enum wf_type t = WF_T_STRING;
  parse_type(tn, &t);
  json_t *v = NULL;
  if (t == WF_T_STRING)
    v = json_string(eq + 1);
  else
    v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
  if (!v || !wf_type_check(t, v)) {
    int rc = why_set(why, WEFT_EINVAL, "field \"%s\" must be of type %s, not %s", k,
                     tn ? tn : "string", eq + 1);
    json_decref(v);
    free(k);
    return rc;
  }
  *key = k;
  *val = v;
  return 0;
}

json_t *appr_outputs(const struct appr_state *st, const char *decision)
{
  char t[32];
  wt_fmt_rfc3339(st->decided_at ? st->decided_at : wt_now_ms(), t);
  const char *comment = NULL;
  size_t i;
  json_t *c;
  json_array_foreach(st->comments, i, c) {
    const char *x = json_string_value(json_object_get(c, "comment"));
    if (x && *x)
      comment = x;
  }
  json_t *o = json_pack("{s:s,s:O,s:s?,s:s,s:o,s:O}", "decision", decision, "by",
                        st->approved_by, "comment", comment, "decided_at", t, "fields",
                        appr_field_values(st), "comments", st->comments);
  if (o && !comment)
    json_object_set_new(o, "comment", json_null());
  return o;
}

/* ---- the executor --------------------------------------------------------- */

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
