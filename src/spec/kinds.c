/* kinds.c — the shapes of the eight step kinds (LANGUAGE.md §3).
 *
 * Each kind's value is checked field by field here, then kept whole as the
 * step's `body` template (every `${{ }}` in it registered), so the executors
 * read validated JSON. A few values are also parsed into the model: the run
 * script, approval timeout, wait duration/timeout; `wait.match` is normalised
 * to a "${{ }}" template inside the body. */
#include "spec/spec_int.h"

#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "util/err.h"
#include "util/wtime.h"

static bool key_is(const struct ynode *k, const char *s)
{
  return strlen(s) == k->len && memcmp(k->s, s, k->len) == 0;
}

static bool is_scalar(const struct ynode *x)
{
  return x->t == Y_STR || x->t == Y_INT || x->t == Y_FLOAT || x->t == Y_BOOL;
}

/* {name: scalar} maps (headers, query). */
static void scalar_map(struct sctx *c, const struct ynode *v, const char *field,
                       const char *where)
{
  if (!chk_map(c, v, field, where))
    return;
  for (uint32_t i = 0; i < v->n; i++) {
    const struct ynode *x = v->kids[2 * i + 1];
    if (!is_scalar(x)) {
      char f[200];
      snprintf(f, sizeof f, "%s.%s", field, v->kids[2 * i]->s);
      chk_bad_type(c, x, f, where, "a string, number or boolean");
    }
  }
}

void kinds_command(struct sctx *c, const struct ynode *v, const char *where)
{
  if (v->t != Y_SEQ) {
    chk_bad_type(c, v, "command", where, "a list of program and arguments such as [make, test]");
    return;
  }
  if (v->n == 0) {
    chk_err(c, v, "\"command\" %s is empty; it needs at least the program", where);
    return;
  }
  for (uint32_t i = 0; i < v->n; i++)
    if (!is_scalar(v->kids[i]))
      chk_bad_type(c, v->kids[i], "command", where, "a list of strings");
  argv_check(c, v, where);
}

/* command lists: scalars become strings (argv) */
static json_t *argv_tmpl(struct sctx *c, const struct ynode *v, uint32_t scope)
{
  json_t *a = json_array();
  for (uint32_t i = 0; a && i < v->n; i++) {
    const struct ynode *x = v->kids[i];
    json_t *e = x->t == Y_STR ? tmpl_conv(c, x, scope) : json_string(x->s);
    json_array_append_new(a, e);
  }
  return a;
}

void kinds_http(struct sctx *c, const struct ynode *v, const char *where)
{
  static const char *const keys[] = {"method", "url",    "headers",          "query", "json",
                                     "body",   "expect", "follow_redirects", NULL};
  static const char *const methods[] = {"GET",    "POST", "PUT",     "PATCH",
                                        "DELETE", "HEAD", "OPTIONS", NULL};
  if (!chk_map(c, v, "http", where))
    return;
  char w[220];
  snprintf(w, sizeof w, "in http of %s", where + 3);
  chk_keys(c, v, keys, w);
  const struct ynode *x;
  int k;
  const char *s;
  if ((x = ymap_get(v, "method")))
    chk_enum(c, x, "method", w, methods, &k);
  if (!(x = ymap_get(v, "url")))
    chk_err(c, v, "missing required key \"url\" %s", w);
  else
    chk_str(c, x, "url", w, &s);
  if ((x = ymap_get(v, "headers")))
    scalar_map(c, x, "headers", w);
  if ((x = ymap_get(v, "query")))
    scalar_map(c, x, "query", w);
  if ((x = ymap_get(v, "body")))
    chk_str(c, x, "body", w, &s);
  if (ymap_get(v, "json") && ymap_get(v, "body")) {
    const struct ynode *second = NULL;
    for (uint32_t i = 0; i < v->n && !second; i++)
      if (key_is(v->kids[2 * i], "json") || key_is(v->kids[2 * i], "body"))
        for (uint32_t j = i + 1; j < v->n && !second; j++)
          if (key_is(v->kids[2 * j], "json") || key_is(v->kids[2 * j], "body"))
            second = v->kids[2 * j];
    chk_err(c, second, "http %s has both \"json\" and \"body\"; give one of them", where);
  }
  if ((x = ymap_get(v, "follow_redirects"))) {
    bool fb;
    chk_bool(c, x, "follow_redirects", w, &fb);
  }
  if ((x = ymap_get(v, "expect"))) {
    int64_t st;
    if (x->t == Y_SEQ) {
      if (x->n == 0)
        chk_err(c, x, "\"expect\" %s is an empty list", w);
      for (uint32_t i = 0; i < x->n; i++)
        chk_int(c, x->kids[i], "expect", w, 100, 599, &st);
    } else {
      chk_int(c, x, "expect", w, 100, 599, &st);
    }
  }
}

void kinds_workflow(struct sctx *c, const struct ynode *v, const char *where)
{
  static const char *const keys[] = {"file", "name", "inputs", NULL};
  if (!chk_map(c, v, "workflow", where))
    return;
  char w[220];
  snprintf(w, sizeof w, "in workflow of %s", where + 3);
  chk_keys(c, v, keys, w);
  const struct ynode *f = ymap_get(v, "file"), *n = ymap_get(v, "name"), *x;
  const char *s;
  if (f && n)
    chk_err(c, n, "workflow %s has both \"file\" and \"name\"; give one of them", where);
  else if (!f && !n)
    chk_err(c, v, "workflow %s needs \"file\" (a path) or \"name\" (a registered workflow)",
         where);
  if (f && chk_str(c, f, "file", w, &s) && f->len == 0)
    chk_err(c, f, "\"file\" %s is empty", w);
  if (n && chk_str(c, n, "name", w, &s) && !chk_is_id(n->s, n->len))
    chk_err(c, n, "\"name\" %s must match [a-z0-9][a-z0-9_-]{0,63}, not \"%s\"", w, n->s);
  if ((x = ymap_get(v, "inputs")) && x->t != Y_NULL)
    chk_map(c, x, "inputs", w);
}

/* Declarations {type, default, required, description}: approval fields. */
static void field_decl(struct sctx *c, const struct ynode *k, const struct ynode *v,
                       const char *where)
{
  static const char *const keys[] = {"type", "default", "description", "required", NULL};
  char w[260];
  snprintf(w, sizeof w, "in field \"%s\" %s", k->s, where);
  if (!chk_is_ident(k->s, k->len))
    chk_err(c, k, "field name \"%s\" %s must match [A-Za-z_][A-Za-z0-9_]*", k->s, where);
  if (v->t == Y_NULL)
    return;
  if (!chk_map(c, v, k->s, where))
    return;
  chk_keys(c, v, keys, w);
  enum wf_type t = WF_T_STRING;
  const struct ynode *x;
  const char *s;
  bool b;
  bool type_ok = true;
  if ((x = ymap_get(v, "type")))
    type_ok = chk_type(c, x, "type", w, &t);
  if ((x = ymap_get(v, "description")))
    chk_str(c, x, "description", w, &s);
  if ((x = ymap_get(v, "required")))
    chk_bool(c, x, "required", w, &b);
  if ((x = ymap_get(v, "default")) && type_ok && !(x->t == Y_STR && expr_has(x->s, x->len))) {
    json_t *j = ynode_to_json(x);
    if (j && !wf_type_check(t, j))
      chk_err(c, x, "\"default\" %s must be of type %s, not %s", w, wf_type_name(t),
           ytype_name(x));
    json_decref(j);
  }
}

static void kinds_approval(struct sctx *c, struct wf_step *s, const struct ynode *v,
                           const char *where)
{
  static const char *const keys[] = {"message", "approvers", "min_approvals", "fields",
                                     "timeout", "on_timeout", "escalation",
                                     "allow_self_approval", NULL};
  static const char *const on_timeout[] = {"fail", "approve", "reject", NULL};
  static const char *const esc_keys[] = {"after", "approvers", NULL};
  if (v->t == Y_NULL)
    return;
  if (!chk_map(c, v, "approval", where))
    return;
  char w[220];
  snprintf(w, sizeof w, "in approval of %s", where + 3);
  chk_keys(c, v, keys, w);
  const struct ynode *x;
  const char *str;
  int64_t i64;
  int e;
  bool b;
  if ((x = ymap_get(v, "message")))
    chk_str(c, x, "message", w, &str);
  if ((x = ymap_get(v, "approvers"))) {
    if (x->t != Y_SEQ)
      chk_bad_type(c, x, "approvers", w, "a list of user or group names");
    else
      for (uint32_t i = 0; i < x->n; i++)
        chk_str(c, x->kids[i], "approvers", w, &str);
  }
  if ((x = ymap_get(v, "min_approvals")))
    chk_int(c, x, "min_approvals", w, 1, INT32_MAX, &i64);
  if ((x = ymap_get(v, "fields")) && x->t != Y_NULL && chk_map(c, x, "fields", w))
    for (uint32_t i = 0; i < x->n; i++)
      field_decl(c, x->kids[2 * i], x->kids[2 * i + 1], w);
  if ((x = ymap_get(v, "timeout")))
    chk_dur(c, x, "timeout", w, &s->approval_timeout_ms);
  if ((x = ymap_get(v, "on_timeout")))
    chk_enum(c, x, "on_timeout", w, on_timeout, &e);
  if ((x = ymap_get(v, "allow_self_approval")))
    chk_bool(c, x, "allow_self_approval", w, &b);
  if ((x = ymap_get(v, "escalation"))) {
    if (x->t != Y_SEQ) {
      chk_bad_type(c, x, "escalation", w, "a list of {after, approvers}");
    } else {
      char ew[260];
      snprintf(ew, sizeof ew, "in escalation of %s", where + 3);
      for (uint32_t i = 0; i < x->n; i++) {
        const struct ynode *it = x->kids[i], *y;
        if (!chk_map(c, it, "escalation", w))
          continue;
        chk_keys(c, it, esc_keys, ew);
        int64_t ms;
        if (!(y = ymap_get(it, "after")))
          chk_err(c, it, "missing required key \"after\" %s", ew);
        else
          chk_dur(c, y, "after", ew, &ms);
        if (!(y = ymap_get(it, "approvers")))
          chk_err(c, it, "missing required key \"approvers\" %s", ew);
        else if (y->t != Y_SEQ || y->n == 0)
          chk_bad_type(c, y, "approvers", ew, "a non-empty list of user or group names");
        else
          for (uint32_t j = 0; j < y->n; j++)
            chk_str(c, y->kids[j], "approvers", ew, &str);
      }
    }
  }
}

static void kinds_tool(struct sctx *c, const struct ynode *k, const struct ynode *v,
                       const char *where)
{
  static const char *const keys[] = {"description", "parameters", "command", "http",
                                     "workflow",    "approval",   NULL};
  char w[260];
  snprintf(w, sizeof w, "in tool \"%s\" of %s", k->s, where + 3);
  bool name_ok = k->len >= 1 && k->len <= 64;
  for (size_t i = 0; i < k->len && name_ok; i++) {
    char ch = k->s[i];
    name_ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
  }
  if (!name_ok)
    chk_err(c, k, "tool name \"%s\" %s must match [A-Za-z0-9_-]{1,64}", k->s, where);
  if (!chk_map(c, v, k->s, "in tools"))
    return;
  chk_keys(c, v, keys, w);
  const struct ynode *x;
  const char *str;
  bool b;
  if ((x = ymap_get(v, "description")))
    chk_str(c, x, "description", w, &str);
  if ((x = ymap_get(v, "parameters")))
    chk_map(c, x, "parameters", w);
  if ((x = ymap_get(v, "approval")))
    chk_bool(c, x, "approval", w, &b);
  const struct ynode *first = NULL;
  static const char *const tk[] = {"command", "http", "workflow", NULL};
  for (uint32_t i = 0; i < v->n; i++) {
    const struct ynode *kk = v->kids[2 * i];
    for (size_t j = 0; tk[j]; j++) {
      if (!key_is(kk, tk[j]))
        continue;
      if (first) {
        chk_err(c, kk,
             "tool \"%s\" %s has both \"%s\" and \"%s\"; a tool takes exactly one of "
             "command, http, workflow",
             k->s, where, first->s, kk->s);
        continue;
      }
      first = kk;
      const struct ynode *val = v->kids[2 * i + 1];
      if (j == 0)
        kinds_command(c, val, w);
      else if (j == 1)
        kinds_http(c, val, w);
      else
        kinds_workflow(c, val, w);
    }
  }
  if (!first)
    chk_err(c, k, "tool \"%s\" %s needs one of command, http, workflow", k->s, where);
}

static void kinds_agent(struct sctx *c, const struct ynode *v, const char *where)
{
  static const char *const keys[] = {"model",     "endpoint",    "api_key",    "system",
                                     "prompt",    "output",      "schema",     "max_turns",
                                     "temperature", "max_tokens", "tools",     NULL};
  static const char *const outputs[] = {"text", "json", NULL};
  if (!chk_map(c, v, "agent", where))
    return;
  char w[220];
  snprintf(w, sizeof w, "in agent of %s", where + 3);
  chk_keys(c, v, keys, w);
  const struct ynode *x;
  const char *str;
  int64_t i64;
  double d;
  int out = 0;
  static const char *const strs[] = {"model", "endpoint", "api_key", "system", NULL};
  for (size_t i = 0; strs[i]; i++)
    if ((x = ymap_get(v, strs[i])))
      chk_str(c, x, strs[i], w, &str);
  if (!(x = ymap_get(v, "prompt")))
    chk_err(c, v, "missing required key \"prompt\" %s", w);
  else
    chk_str(c, x, "prompt", w, &str);
  if ((x = ymap_get(v, "output")))
    chk_enum(c, x, "output", w, outputs, &out);
  if ((x = ymap_get(v, "schema"))) {
    if (chk_map(c, x, "schema", w) && out != 1)
      chk_err(c, x, "\"schema\" %s needs output: json", w);
  }
  if ((x = ymap_get(v, "max_turns")))
    chk_int(c, x, "max_turns", w, 1, INT32_MAX, &i64);
  if ((x = ymap_get(v, "max_tokens")))
    chk_int(c, x, "max_tokens", w, 1, INT32_MAX, &i64);
  if ((x = ymap_get(v, "temperature")))
    chk_num(c, x, "temperature", w, 0, 2, &d);
  if ((x = ymap_get(v, "tools")) && x->t != Y_NULL && chk_map(c, x, "tools", w))
    for (uint32_t i = 0; i < x->n; i++)
      kinds_tool(c, x->kids[2 * i], x->kids[2 * i + 1], where);
}

/* wait: DURATION | {until} | {event, match, timeout}; returns the body. */
static json_t *kinds_wait(struct sctx *c, struct wf_step *s, const struct ynode *v,
                          const char *where)
{
  static const char *const keys[] = {"until", "event", "match", "timeout", NULL};
  if (v->t == Y_STR || v->t == Y_INT || v->t == Y_FLOAT) {
    if (chk_dur(c, v, "wait", where, &s->wait_ms))
      return json_string(v->s);
    return NULL;
  }
  if (v->t != Y_MAP) {
    chk_bad_type(c, v, "wait", where, "a duration, {until: TIME} or {event: NAME}");
    return NULL;
  }
  char w[220];
  snprintf(w, sizeof w, "in wait of %s", where + 3);
  chk_keys(c, v, keys, w);
  const struct ynode *u = ymap_get(v, "until"), *e = ymap_get(v, "event"), *x;
  const char *str;
  if (u && e)
    chk_err(c, e, "wait %s has both \"until\" and \"event\"; give one of them", where);
  else if (!u && !e)
    chk_err(c, v, "wait %s needs \"until\" (a time) or \"event\" (a name)", where);
  if (u && chk_str(c, u, "until", w, &str) && !expr_has(u->s, u->len)) {
    int64_t ms;
    if (wt_parse_rfc3339(u->s, &ms))
      chk_err(c, u, "\"until\" %s must be an RFC 3339 time such as 2026-12-01T09:00:00Z, not "
                 "\"%s\"", w, u->s);
  }
  if (e && chk_str(c, e, "event", w, &str)) {
    bool ok = e->len > 0 && e->len <= 128;
    for (size_t i = 0; i < e->len && ok; i++) {
      char ch = e->s[i];
      ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (i > 0 && (ch == '_' || ch == '-' || ch == '.' || ch == ':'));
    }
    if (!ok)
      chk_err(c, e, "event name \"%s\" %s must match [A-Za-z0-9][A-Za-z0-9_.:-]{0,127}", e->s,
           w);
  }
  json_t *match = NULL;
  if ((x = ymap_get(v, "match"))) {
    if (!e)
      chk_err(c, x, "\"match\" %s only applies with \"event\"", w);
    match = tmpl_cond(c, x, s->index, "match", w);
  }
  if ((x = ymap_get(v, "timeout"))) {
    if (!e)
      chk_err(c, x, "\"timeout\" %s only applies with \"event\"", w);
    chk_dur(c, x, "timeout", w, &s->wait_timeout_ms);
  }
  json_t *body = tmpl_conv(c, v, s->index);
  if (body && match)
    json_object_set(body, "match", match);
  json_decref(match);
  return body;
}

void kinds_parse(struct sctx *c, struct wf_step *s, const struct ynode *k,
                 const struct ynode *v, const char *where)
{
  json_t *body = NULL;
  s->kind_pos.line = k->line;
  s->kind_pos.col = k->col;
  if (key_is(k, "run")) {
    s->kind = WF_RUN;
    if (v->t != Y_STR) {
      chk_bad_type(c, v, "run", where, "a shell script (a string)");
      return;
    }
    if (expr_has(v->s, v->len)) {
      const char *p = strstr(v->s, "${{");
      int line, col;
      tmpl_pos(c, v, p ? (size_t)(p - v->s) : 0, &line, &col);
      chk_err_at(c, line, col,
              "expressions are not allowed inside run:; pass the value through env: "
              "(e.g. env: {X: \"${{ ... }}\"}) and use \"$X\"");
    }
    body = json_stringn(v->s, v->len);
    s->script = body ? json_string_value(body) : NULL;
  } else if (key_is(k, "command")) {
    s->kind = WF_COMMAND;
    kinds_command(c, v, where);
    if (v->t == Y_SEQ)
      body = argv_tmpl(c, v, s->index);
  } else if (key_is(k, "set")) {
    s->kind = WF_SET;
    if (chk_map(c, v, "set", where))
      body = tmpl_conv(c, v, s->index);
  } else if (key_is(k, "http")) {
    s->kind = WF_HTTP;
    kinds_http(c, v, where);
    if (v->t == Y_MAP)
      body = tmpl_conv(c, v, s->index);
  } else if (key_is(k, "agent")) {
    s->kind = WF_AGENT;
    kinds_agent(c, v, where);
    if (v->t == Y_MAP)
      body = tmpl_conv(c, v, s->index);
  } else if (key_is(k, "approval")) {
    s->kind = WF_APPROVAL;
    kinds_approval(c, s, v, where);
    if (v->t == Y_MAP)
      body = tmpl_conv(c, v, s->index);
    else if (v->t == Y_NULL)
      body = json_object();
  } else if (key_is(k, "wait")) {
    s->kind = WF_WAIT;
    body = kinds_wait(c, s, v, where);
  } else if (key_is(k, "workflow")) {
    s->kind = WF_WORKFLOW;
    kinds_workflow(c, v, where);
    if (v->t == Y_MAP)
      body = tmpl_conv(c, v, s->index);
  }
  s->body = body;
}
