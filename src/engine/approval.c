/* approval.c — the rules of a human decision, pure (engine/approval.h): the
 * request a person sees, the state of a waiting period folded from its
 * decision rows, who may decide (approvers, groups, quorum over distinct
 * people, separation of duties, escalation), typed fields and the outputs.
 * The CLI and the server decide with these (ops/decide.c) and the runtime's
 * approval service waits with them (runtime/svc_approval.c), so the two
 * cannot disagree. */
#include "engine/approval.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void appr_state_init(struct appr_state *st)
{
  memset(st, 0, sizeof *st);
  st->approved_by = json_array();
  st->edits = json_object();
  st->comments = json_array();
}

void appr_state_add(struct appr_state *st, int64_t id, const char *decision, const char *user,
                    const char *fields, const char *comment, int64_t at)
{
  if (!strcmp(decision, "requested")) {
    json_t *r = fields ? json_loads(fields, 0, NULL) : NULL;
    if (!r)
      return;
    /* a new waiting period: decisions count from here on */
    appr_state_clear(st);
    appr_state_init(st);
    st->request = r;
    st->request_id = id;
    return;
  }
  if (!st->request)
    return;
  bool approve = !strcmp(decision, "approve");
  bool reject = !strcmp(decision, "reject");
  if (!strcmp(decision, "timeout")) {
    st->timed_out = true;
    st->decided_at = at;
  }
  if (!approve && !reject)
    return;
  char t[32];
  wt_fmt_rfc3339(at, t);
  json_array_append_new(st->comments,
                        json_pack("{s:s,s:s,s:s?,s:s}", "by", user, "decision",
                                  approve ? "approved" : "rejected", "comment", comment, "at", t));
  st->decided_at = at;
  if (reject) {
    if (!st->rejected_by) {
      st->rejected_by = strdup(user);
      st->reject_comment = comment ? strdup(comment) : NULL;
    }
    return;
  }
  if (!has_str(st->approved_by, user))
    json_array_append_new(st->approved_by, json_string(user));
  json_t *f = fields ? json_loads(fields, 0, NULL) : NULL;
  if (json_is_object(f))
    json_object_update(st->edits, f);
  json_decref(f);
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

