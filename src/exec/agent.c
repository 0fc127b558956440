/* agent.c — the agent step's attempt: the chat-completions call, the tool
 * loop with its durable transcript, the `output: json` + `schema` check and
 * the outputs (see agent.h).
 *
 * The transcript is a list of entries, each one JSON object stored as one
 * row (seq 0, 1, ...):
 *   {"type":"reply","message":{...},"usage":{...},"model":"..."}  a model answer
 *   {"type":"tool","tool_call_id":"...","name":"...","content":"..."}  a tool result
 * The conversation sent to the model is system + user prompt + the entries
 * (replies as assistant messages, tool results as tool messages). What to do
 * next is decided from the transcript alone (advance()), so a replayed
 * transcript and a live one take the same path. */
#include "exec/agent.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/sha256.h"
#include "util/jsonfmt.h"

struct tool_ctx;

struct agent {
  struct agent_host h;
  struct tool_ctx *htool; /* the http tool in flight (with call) */
  char *run_id, *step;
  json_t *body;          /* the rendered step body (tools stay templates) */
  json_t *messages;      /* conversation so far (system, user, then the entries) */
  json_t *last_reply;    /* the last reply message (borrowed from messages) or NULL */
  size_t answered;       /* tool results after last_reply */
  int seq;               /* next transcript seq */
  int turns;             /* model calls (replies) so far */
  int max_turns;
  json_int_t prompt_tokens, completion_tokens;
  struct http_call *call;
  char *req_body;        /* the request in flight (for its hash) */
  char *url;
  bool tool_running;
  bool approval_wait;    /* a tool call waits for a human decision */
  bool stopping;         /* agent_kill is stopping the approval */
  int granted_turn;      /* the tool call (turn, index) a human approved; -1 none */
  size_t granted_idx;
  char *approval_id;     /* tool_call_id of the last recorded approval request */
  const char *kill_kind; /* set by agent_kill while a tool runs */
  char kill_msg[128];
};

void agent_result_clear(struct agent_result *r)
{
  json_decref(r->outputs);
  r->outputs = NULL;
}

static void set_fail(struct agent_result *r, const char *kind, int status, const char *fmt, ...)
  __attribute__((format(printf, 4, 5)));
static void set_fail(struct agent_result *r, const char *kind, int status, const char *fmt, ...)
{
  memset(r, 0, sizeof *r);
  r->ok = false;
  r->kind = kind;
  r->http_status = status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->message, sizeof r->message, fmt, ap);
  va_end(ap);
}

static void tool_ctx_free(struct tool_ctx *t);

void agent_free(struct agent *ag)
{
  if (!ag)
    return;
  if (ag->call)
    http_cancel(ag->call);
  tool_ctx_free(ag->htool);
  free(ag->run_id);
  free(ag->step);
  json_decref(ag->body);
  json_decref(ag->messages);
  free(ag->req_body);
  free(ag->url);
  free(ag->approval_id);
  free(ag);
}

static const char *body_str(const struct agent *ag, const char *key)
{
  const json_t *v = json_object_get(ag->body, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- the schema subset ------------------------------------------------------ */

static bool type_is(const char *t, const json_t *v)
{
  if (!strcmp(t, "string"))
    return json_is_string(v);
  if (!strcmp(t, "number"))
    return json_is_number(v);
  if (!strcmp(t, "integer"))
    return json_is_integer(v) ||
           (json_is_real(v) && json_real_value(v) == (double)(json_int_t)json_real_value(v));
  if (!strcmp(t, "boolean"))
    return json_is_boolean(v);
  if (!strcmp(t, "object"))
    return json_is_object(v);
  if (!strcmp(t, "array"))
    return json_is_array(v);
  if (!strcmp(t, "null"))
    return json_is_null(v);
  return true; /* unknown type names do not constrain */
}

static bool check_at(const json_t *s, const json_t *v, char *path, size_t plen, char *msg,
                     size_t n)
{
  if (!json_is_object(s))
    return true;
  const json_t *t = json_object_get(s, "type");
  if (json_is_string(t) && !type_is(json_string_value(t), v)) {
    snprintf(msg, n, "%s must be of type %s", path, json_string_value(t));
    return false;
  }
  if (json_is_array(t)) {
    bool any = false;
    size_t i;
    json_t *x;
    json_array_foreach(t, i, x) if (json_is_string(x) && type_is(json_string_value(x), v)) any =
      true;
    if (!any) {
      snprintf(msg, n, "%s has none of the allowed types", path);
      return false;
    }
  }
  const json_t *en = json_object_get(s, "enum");
  if (json_is_array(en)) {
    bool any = false;
    size_t i;
    json_t *x;
    json_array_foreach(en, i, x) if (json_equal(x, (json_t *)v)) any = true;
    if (!any) {
      snprintf(msg, n, "%s is not one of the values of enum", path);
      return false;
    }
  }
  size_t len = strlen(path);
  if (json_is_object(v)) {
    const json_t *req = json_object_get(s, "required");
    size_t i;
    json_t *x;
    json_array_foreach(req, i, x) {
      if (json_is_string(x) && !json_object_get(v, json_string_value(x))) {
        snprintf(msg, n, "%s.%s is required", path, json_string_value(x));
        return false;
      }
    }
    const json_t *props = json_object_get(s, "properties");
    const char *k;
    json_t *ps;
    if (json_is_object(props))
      json_object_foreach((json_t *)props, k, ps) {
        json_t *pv = json_object_get(v, k);
        if (!pv)
          continue;
        snprintf(path + len, plen - len, ".%s", k);
        bool ok = check_at(ps, pv, path, plen, msg, n);
        path[len] = '\0';
        if (!ok)
          return false;
      }
  }
  if (json_is_array(v) && json_object_get(s, "items")) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      snprintf(path + len, plen - len, "[%zu]", i);
      bool ok = check_at(json_object_get(s, "items"), x, path, plen, msg, n);
      path[len] = '\0';
      if (!ok)
        return false;
    }
  }
  return true;
}

bool agent_schema_check(const json_t *schema, const json_t *v, char *msg, size_t n)
{
  char path[512] = "$";
  return check_at(schema, v, path, sizeof path, msg, n);
}

/* ---- the transcript ----------------------------------------------------------- */

static int record(struct agent *ag, const json_t *entry)
{
  char *text = wjson_dumps(entry, JSON_COMPACT);
  if (!text)
    return WEFT_ENOMEM;
  if (ag->h.mask) {
    /* secrets never reach the store; a resumed conversation sees *** */
    char *m = ag->h.mask(ag->h.ud, text);
    if (m) {
      free(text);
      text = m;
    }
  }
  int rc = ag->h.save_turn(ag->h.ud, ag->h.attempt, ag->seq, text);
  free(text);
  if (rc == 0)
    ag->seq++;
  return rc;
}

/* Adds an entry (replayed or new) to the conversation. */
static void take_entry(struct agent *ag, const json_t *entry)
{
  const char *type = json_string_value(json_object_get(entry, "type"));
  if (type && !strcmp(type, "approval")) {
    /* a request for a human decision was recorded for this tool call */
    free(ag->approval_id);
    const char *tid = json_string_value(json_object_get(entry, "tool_call_id"));
    ag->approval_id = strdup(tid ? tid : "");
    return;
  }
  free(ag->approval_id);
  ag->approval_id = NULL;
  if (type && !strcmp(type, "reply")) {
    json_t *m = json_object_get(entry, "message");
    json_t *copy = json_deep_copy(m ? m : json_null());
    json_array_append_new(ag->messages, copy);
    ag->last_reply = copy;
    ag->answered = 0;
    ag->turns++;
    const json_t *u = json_object_get(entry, "usage");
    ag->prompt_tokens += json_integer_value(json_object_get(u, "prompt_tokens"));
    ag->completion_tokens += json_integer_value(json_object_get(u, "completion_tokens"));
  } else if (type && !strcmp(type, "tool")) {
    json_array_append_new(
      ag->messages,
      json_pack("{s:s, s:O, s:O}", "role", "tool", "tool_call_id",
                json_object_get(entry, "tool_call_id"), "content",
                json_object_get(entry, "content")));
    ag->answered++;
  }
}

/* The transcript of this attempt; when empty and the previous attempt was
 * interrupted, the previous attempt's, copied over to this one. */
static int replay(struct agent *ag)
{
  char **rows = NULL;
  size_t n = 0;
  int rc = ag->h.load_turns(ag->h.ud, ag->h.attempt, &rows, &n);
  if (rc)
    return rc;
  bool copy = false;
  if (n == 0 && ag->h.attempt > 1) {
    copy = ag->h.interrupted(ag->h.ud, ag->h.attempt - 1);
    if (copy) {
      free(rows);
      rows = NULL;
      rc = ag->h.load_turns(ag->h.ud, ag->h.attempt - 1, &rows, &n);
    }
  }
  for (size_t i = 0; !rc && i < n; i++) {
    json_t *e = json_loads(rows[i], 0, NULL);
    if (!e) {
      rc = WEFT_ECORRUPT;
      break;
    }
    if (copy)
      rc = record(ag, e);
    else
      ag->seq++;
    take_entry(ag, e);
    json_decref(e);
  }
  for (size_t i = 0; i < n; i++)
    free(rows[i]);
  free(rows);
  return rc;
}

/* ---- finishing -------------------------------------------------------------- */

static json_t *usage_json(const struct agent *ag)
{
  return json_pack("{s:I, s:I, s:I}", "prompt_tokens", ag->prompt_tokens, "completion_tokens",
                   ag->completion_tokens, "total_tokens",
                   ag->prompt_tokens + ag->completion_tokens);
}

/* The final reply (no tool calls) into outputs, or a failure. */
static void final_result(struct agent *ag, struct agent_result *r)
{
  const json_t *c = json_object_get(ag->last_reply, "content");
  const char *text = json_is_string(c) ? json_string_value(c) : "";
  json_t *parsed = NULL;
  if (body_str(ag, "output") && !strcmp(body_str(ag, "output"), "json")) {
    /* tolerate a fenced block: ```json ... ``` */
    const char *p = text, *end = text + strlen(text);
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
      p++;
    if (!strncmp(p, "```", 3)) {
      const char *nl = strchr(p, '\n');
      const char *close = nl ? strstr(nl, "```") : NULL;
      if (nl && close) {
        p = nl + 1;
        end = close;
      }
    }
    json_error_t je;
    parsed = json_loadb(p, (size_t)(end - p), JSON_DECODE_ANY, &je);
    if (!parsed) {
      set_fail(r, "agent", -1, "the model's reply is not JSON (%s): %.120s", je.text, text);
      return;
    }
    const json_t *schema = json_object_get(ag->body, "schema");
    char why[256];
    if (schema && !agent_schema_check(schema, parsed, why, sizeof why)) {
      set_fail(r, "agent", -1, "the model's reply does not match the schema: %s", why);
      json_decref(parsed);
      return;
    }
  }
  memset(r, 0, sizeof *r);
  r->ok = true;
  r->http_status = -1;
  r->outputs = json_object();
  json_object_set_new(r->outputs, "text", json_string(text));
  if (parsed)
    json_object_set_new(r->outputs, "json", parsed);
  json_object_set_new(r->outputs, "turns", json_integer(ag->turns));
  json_object_set_new(r->outputs, "usage", usage_json(ag));
}

/* ---- the loop ---------------------------------------------------------------- */

static int call_model(struct agent *ag, struct agent_result *r);
static int run_tool(struct agent *ag, const json_t *tc, struct agent_result *r);

/* Decides the next action from the transcript. Returns 0 when something was
 * started (the agent goes on asynchronously), 1 when it ended (*r filled). */
static int advance(struct agent *ag, struct agent_result *r)
{
  if (ag->last_reply) {
    const json_t *tcs = json_object_get(ag->last_reply, "tool_calls");
    size_t n = json_is_array(tcs) ? json_array_size(tcs) : 0;
    if (n == 0) {
      final_result(ag, r);
      return 1;
    }
    if (ag->answered < n)
      return run_tool(ag, json_array_get(tcs, ag->answered), r);
    if (ag->turns >= ag->max_turns) {
      set_fail(r, "agent", -1,
               "the model still asks for tools after max_turns (%d) model calls", ag->max_turns);
      return 1;
    }
  }
  return call_model(ag, r);
}

/* Records a tool result and goes on. */
static int tool_result(struct agent *ag, const char *id, const char *name, const json_t *value,
                       struct agent_result *r)
{
  char *content = json_is_string(value) ? strdup(json_string_value(value))
                                        : wjson_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
  json_t *e = json_pack("{s:s, s:s, s:s, s:s}", "type", "tool", "tool_call_id", id ? id : "",
                        "name", name ? name : "", "content", content ? content : "null");
  free(content);
  int rc = e ? record(ag, e) : WEFT_ENOMEM;
  if (rc) {
    json_decref(e);
    set_fail(r, "agent", -1, "cannot record the tool result: %s", weft_strerror(rc));
    return 1;
  }
  take_entry(ag, e);
  json_decref(e);
  return advance(ag, r);
}

static json_t *error_value(const char *msg) { return json_pack("{s:s}", "error", msg); }

struct tool_ctx {
  struct agent *ag;
  char *id, *name;
  json_t *tool; /* the rendered http body (owned) */
};

static void tool_ctx_free(struct tool_ctx *t)
{
  if (!t)
    return;
  free(t->id);
  free(t->name);
  json_decref(t->tool);
  free(t);
}

static void on_tool_http(void *ud, const struct http_resp *resp);

static int run_tool(struct agent *ag, const json_t *tc, struct agent_result *r)
{
  const char *id = json_string_value(json_object_get(tc, "id"));
  const json_t *fn = json_object_get(tc, "function");
  const char *name = json_string_value(json_object_get(fn, "name"));
  const json_t *argv_ = json_object_get(fn, "arguments");
  const char *argtext = json_string_value(argv_);
  const json_t *tools = json_object_get(ag->body, "tools");
  const json_t *tool = name ? json_object_get(tools, name) : NULL;
  char msg[512];
  if (!tool) {
    snprintf(msg, sizeof msg, "there is no tool named \"%.100s\"", name ? name : "");
    json_t *v = error_value(msg);
    int rc = tool_result(ag, id, name, v, r);
    json_decref(v);
    return rc;
  }
  /* arguments are a JSON text (OpenAI); some servers send the object itself */
  json_t *args = json_is_object(argv_)         ? json_deep_copy(argv_)
                 : argtext && *argtext ? json_loads(argtext, JSON_DECODE_ANY, NULL)
                                       : json_object();
  if (!args) {
    json_t *v = error_value("the arguments are not valid JSON");
    int rc = tool_result(ag, id, name, v, r);
    json_decref(v);
    return rc;
  }
  int rc = 1;
  if (json_is_true(json_object_get(tool, "approval")) &&
      !(ag->granted_turn == ag->turns && ag->granted_idx == ag->answered)) {
    /* ask first: the request is recorded in the transcript before it is made,
     * so after a restart the same request (and decisions made meanwhile) is
     * taken up again instead of a new one */
    bool resumed = ag->approval_id && id && !strcmp(ag->approval_id, id);
    if (!resumed) {
      json_t *e = json_pack("{s:s, s:s, s:s}", "type", "approval", "tool_call_id", id ? id : "",
                            "name", name);
      int src = e ? record(ag, e) : WEFT_ENOMEM;
      if (!src)
        take_entry(ag, e);
      json_decref(e);
      if (src) {
        set_fail(r, "agent", -1, "cannot record the approval request: %s", weft_strerror(src));
        goto out;
      }
    }
    char *aj = wjson_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    char text[768];
    snprintf(text, sizeof text, "Agent step %s asks to call tool %s with %.500s", ag->step, name,
             aj ? aj : "{}");
    free(aj);
    json_t *body = json_pack("{s:s, s:s, s:O}", "message", text, "tool", name, "args", args);
    int arc = body && ag->h.request_approval
                ? ag->h.request_approval(ag->h.ud, ag, body, resumed, msg, sizeof msg)
                : WEFT_EINVAL;
    json_decref(body);
    if (arc) {
      set_fail(r, "agent", -1, "tool \"%s\" needs approval: %s", name,
               ag->h.request_approval ? msg : "approvals are not available");
      goto out;
    }
    ag->approval_wait = true;
    rc = 0;
    goto out;
  }
  json_t *tmpl;
  if ((tmpl = json_object_get(tool, "command"))) {
    json_t *argv = NULL;
    char *err = NULL;
    if (ag->h.render(ag->h.ud, tmpl, args, &argv, &err) != 0) {
      set_fail(r, "expression", -1, "tool \"%s\": %s", name, err ? err : "cannot render");
      free(err);
      goto out;
    }
    char *aj = wjson_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    int src = ag->h.run_command(ag->h.ud, ag, argv, aj ? aj : "{}", ag->seq, msg, sizeof msg);
    free(aj);
    json_decref(argv);
    if (src) {
      json_t *v = error_value(msg);
      rc = tool_result(ag, id, name, v, r);
      json_decref(v);
      goto out;
    }
    ag->tool_running = true;
    rc = 0;
  } else if ((tmpl = json_object_get(tool, "http"))) {
    json_t *hb = NULL;
    char *err = NULL;
    if (ag->h.render(ag->h.ud, tmpl, args, &hb, &err) != 0) {
      set_fail(r, "expression", -1, "tool \"%s\": %s", name, err ? err : "cannot render");
      free(err);
      goto out;
    }
    struct http_req req;
    char *url = NULL, *body = NULL;
    const char *herr = NULL;
    struct tool_ctx *tcx = calloc(1, sizeof *tcx);
    int hrc = !tcx ? WEFT_ENOMEM : http_step_request(hb, &req, &url, &body, msg, sizeof msg);
    if (!hrc) {
      tcx->ag = ag;
      tcx->id = strdup(id ? id : "");
      tcx->name = strdup(name);
      tcx->tool = hb; /* the rendered body: json_t owned by tcx */
      hb = NULL;
      hrc = http_request(ag->h.http, &req, on_tool_http, tcx, &ag->call, &herr);
      if (hrc)
        snprintf(msg, sizeof msg, "%s", herr ? herr : weft_strerror(hrc));
    }
    free(url);
    free(body);
    if (hrc) {
      tool_ctx_free(tcx);
      json_decref(hb);
      json_t *v = error_value(msg);
      rc = tool_result(ag, id, name, v, r);
      json_decref(v);
      goto out;
    }
    ag->htool = tcx;
    rc = 0;
  } else if ((tmpl = json_object_get(tool, "workflow")) && ag->h.run_workflow) {
    json_t *wb = NULL;
    char *err = NULL;
    if (ag->h.render(ag->h.ud, tmpl, args, &wb, &err) != 0) {
      set_fail(r, "expression", -1, "tool \"%s\": %s", name, err ? err : "cannot render");
      free(err);
      goto out;
    }
    int wrc = ag->h.run_workflow(ag->h.ud, ag, wb, msg, sizeof msg);
    json_decref(wb);
    if (wrc) {
      json_t *v = error_value(msg);
      rc = tool_result(ag, id, name, v, r);
      json_decref(v);
      goto out;
    }
    ag->tool_running = true;
    rc = 0;
  } else {
    set_fail(r, "agent", -1, "tool \"%s\" has no command, http or workflow", name);
  }
out:
  json_decref(args);
  return rc;
}

static void on_tool_http(void *ud, const struct http_resp *resp)
{
  struct tool_ctx *tcx = ud;
  struct agent *ag = tcx->ag;
  ag->call = NULL;
  ag->htool = NULL;
  struct http_outcome o;
  http_step_outcome(tcx->tool, resp, &o);
  json_t *v = o.outputs ? json_incref(o.outputs) : error_value(o.message);
  if (o.outputs && !o.ok)
    json_object_set_new(v, "error", json_string(o.message));
  json_decref(o.outputs);
  struct agent_result r;
  memset(&r, 0, sizeof r);
  int rc = tool_result(ag, tcx->id, tcx->name, v, &r);
  json_decref(v);
  tool_ctx_free(tcx);
  if (rc == 1) {
    ag->h.done(ag->h.ud, &r); /* ag is gone after this */
    agent_result_clear(&r);
  }
}

void agent_tool_done(struct agent *ag, const json_t *value)
{
  ag->tool_running = false;
  struct agent_result r;
  memset(&r, 0, sizeof r);
  int rc;
  if (ag->kill_kind) {
    set_fail(&r, ag->kill_kind, -1, "%s", ag->kill_msg);
    rc = 1;
  } else {
    const json_t *tcs = json_object_get(ag->last_reply, "tool_calls");
    const json_t *tc = json_array_get(tcs, ag->answered);
    const json_t *fn = json_object_get(tc, "function");
    rc = tool_result(ag, json_string_value(json_object_get(tc, "id")),
                     json_string_value(json_object_get(fn, "name")), value, &r);
  }
  if (rc == 1) {
    ag->h.done(ag->h.ud, &r);
    agent_result_clear(&r);
  }
}

static void audit_turn(struct agent *ag, const char *model, const json_t *usage,
                       const char *reply, size_t reply_len)
{
  char ph[SHA256_HEX_LEN + 1], rh[SHA256_HEX_LEN + 1];
  struct sha256 c;
  sha256_init(&c);
  sha256_update(&c, ag->req_body, strlen(ag->req_body));
  sha256_final_hex(&c, ph);
  sha256_init(&c);
  sha256_update(&c, reply, reply_len);
  sha256_final_hex(&c, rh);
  json_t *d = json_pack("{s:s, s:i, s:i, s:i, s:s, s:I, s:I, s:s, s:s}", "step", ag->step,
                        "index", ag->h.index, "attempt", ag->h.attempt, "turn", ag->turns,
                        "model", model ? model : "", "prompt_tokens",
                        json_integer_value(json_object_get(usage, "prompt_tokens")),
                        "completion_tokens",
                        json_integer_value(json_object_get(usage, "completion_tokens")),
                        "prompt_sha256", ph, "reply_sha256", rh);
  char *text = d ? wjson_dumps(d, JSON_COMPACT) : NULL;
  if (text)
    ag->h.audit(ag->h.ud, "agent.turn", text);
  free(text);
  json_decref(d);
}

static void on_model(void *ud, const struct http_resp *resp)
{
  struct agent *ag = ud;
  struct agent_result r;
  memset(&r, 0, sizeof r);
  int rc = 1;
  ag->call = NULL;
  json_t *ans = NULL, *entry = NULL;
  if (!resp->transport_ok) {
    set_fail(&r, "agent", -1, "calling the model at %.200s failed: %s", ag->url, resp->message);
    goto out;
  }
  if (resp->status < 200 || resp->status > 299) {
    set_fail(&r, "agent", (int)resp->status, "the model endpoint %.200s answered HTTP %ld: %.160s",
             ag->url, resp->status, resp->body);
    goto out;
  }
  json_error_t je;
  ans = json_loadb(resp->body, resp->body_len, 0, &je);
  const json_t *msg = json_object_get(json_array_get(json_object_get(ans, "choices"), 0),
                                      "message");
  if (!ans || !json_is_object(msg)) {
    set_fail(&r, "agent", -1, "the model's answer is not a chat completion (%s): %.120s",
             ans ? "no choices[0].message" : je.text, resp->body);
    goto out;
  }
  const json_t *usage = json_object_get(ans, "usage");
  const char *model = json_string_value(json_object_get(ans, "model"));
  if (!model)
    model = body_str(ag, "model");
  json_t *m = json_deep_copy(msg);
  if (!json_object_get(m, "role"))
    json_object_set_new(m, "role", json_string("assistant"));
  entry = json_pack("{s:s, s:o, s:o, s:s}", "type", "reply", "message", m, "usage",
                    usage ? json_incref((json_t *)usage) : json_object(), "model",
                    model ? model : "");
  /* durable before anything else happens */
  int src = entry ? record(ag, entry) : WEFT_ENOMEM;
  if (src) {
    set_fail(&r, "agent", -1, "cannot record the model's reply: %s", weft_strerror(src));
    goto out;
  }
  audit_turn(ag, model, usage, resp->body, resp->body_len);
  take_entry(ag, entry);
  rc = advance(ag, &r);
out:
  json_decref(ans);
  json_decref(entry);
  if (rc == 1) {
    ag->h.done(ag->h.ud, &r);
    agent_result_clear(&r);
  }
}

static json_t *tool_specs(const struct agent *ag)
{
  const json_t *tools = json_object_get(ag->body, "tools");
  if (!json_is_object(tools) || json_object_size(tools) == 0)
    return NULL;
  json_t *a = json_array();
  const char *k;
  json_t *t;
  json_object_foreach((json_t *)tools, k, t) {
    const json_t *d = json_object_get(t, "description");
    const json_t *p = json_object_get(t, "parameters");
    json_t *fn = json_pack("{s:s}", "name", k);
    if (json_is_string(d))
      json_object_set(fn, "description", (json_t *)d);
    json_object_set_new(fn, "parameters",
                        json_is_object(p) ? json_deep_copy(p) : json_pack("{s:s}", "type", "object"));
    json_array_append_new(a, json_pack("{s:s, s:o}", "type", "function", "function", fn));
  }
  return a;
}

static int call_model(struct agent *ag, struct agent_result *r)
{
  json_t *req = json_object();
  const char *model = body_str(ag, "model");
  if (model)
    json_object_set_new(req, "model", json_string(model));
  json_object_set(req, "messages", ag->messages);
  const json_t *x;
  if ((x = json_object_get(ag->body, "temperature")) && json_is_number(x))
    json_object_set(req, "temperature", (json_t *)x);
  if ((x = json_object_get(ag->body, "max_tokens")) && json_is_integer(x))
    json_object_set(req, "max_tokens", (json_t *)x);
  json_t *ts = tool_specs(ag);
  if (ts)
    json_object_set_new(req, "tools", ts);
  if (body_str(ag, "output") && !strcmp(body_str(ag, "output"), "json"))
    json_object_set_new(req, "response_format", json_pack("{s:s}", "type", "json_object"));
  free(ag->req_body);
  ag->req_body = wjson_dumps(req, JSON_COMPACT);
  json_decref(req);
  if (!ag->req_body) {
    set_fail(r, "agent", -1, "out of memory");
    return 1;
  }
  const char *key = body_str(ag, "api_key");
  if (!key || !*key)
    key = ag->h.default_api_key;
  json_t *hdrs = json_pack("{s:s}", "Content-Type", "application/json");
  if (key && *key) {
    char *auth = NULL;
    if (asprintf(&auth, "Bearer %s", key) >= 0)
      json_object_set_new(hdrs, "Authorization", json_string(auth));
    free(auth);
  }
  struct http_req hr = {
    .method = "POST",
    .url = ag->url,
    .headers = hdrs,
    .body = ag->req_body,
    .body_len = strlen(ag->req_body),
  };
  const char *err = NULL;
  int rc = http_request(ag->h.http, &hr, on_model, ag, &ag->call, &err);
  json_decref(hdrs);
  if (rc) {
    set_fail(r, rc == WEFT_EINVAL ? "validation" : "agent", -1, "agent endpoint %.200s: %s",
             ag->url, err ? err : weft_strerror(rc));
    return 1;
  }
  return 0;
}

int agent_start(const struct agent_host *h, const json_t *body, struct agent **out,
                struct agent_result *now)
{
  *out = NULL;
  memset(now, 0, sizeof *now);
  now->http_status = -1;
  struct agent *ag = calloc(1, sizeof *ag);
  if (!ag) {
    set_fail(now, "agent", -1, "out of memory");
    return 1;
  }
  ag->h = *h;
  ag->run_id = strdup(h->run_id);
  ag->step = strdup(h->step);
  ag->body = json_deep_copy(body);
  ag->messages = json_array();
  ag->granted_turn = -1;
  const json_t *mt = json_object_get(body, "max_turns");
  ag->max_turns = json_is_integer(mt) ? (int)json_integer_value(mt) : AGENT_DEFAULT_MAX_TURNS;
  const char *ep = body_str(ag, "endpoint");
  if (!ep || !*ep)
    ep = h->default_endpoint;
  int rc = 1;
  if (!ep || !*ep) {
    set_fail(now, "validation", -1,
             "the agent step has no endpoint: give agent.endpoint or set WEFT_LLM_URL");
    goto out;
  }
  size_t el = strlen(ep);
  while (el > 0 && ep[el - 1] == '/')
    el--;
  if (asprintf(&ag->url, "%.*s/chat/completions", (int)el, ep) < 0) {
    ag->url = NULL;
    set_fail(now, "agent", -1, "out of memory");
    goto out;
  }
  const char *sys = body_str(ag, "system");
  if (sys && *sys)
    json_array_append_new(ag->messages, json_pack("{s:s, s:s}", "role", "system", "content", sys));
  const json_t *p = json_object_get(body, "prompt");
  char *ptext = json_is_string(p) ? NULL : wjson_dumps(p, JSON_COMPACT | JSON_ENCODE_ANY);
  json_array_append_new(ag->messages,
                        json_pack("{s:s, s:s}", "role", "user", "content",
                                  json_is_string(p) ? json_string_value(p) : (ptext ? ptext : "")));
  free(ptext);
  int prc = replay(ag);
  if (prc) {
    set_fail(now, "agent", -1, "cannot read the agent's transcript: %s", weft_strerror(prc));
    goto out;
  }
  rc = advance(ag, now);
out:
  if (rc == 1) {
    agent_free(ag);
    return 1;
  }
  *out = ag;
  return 0;
}

void agent_approval_done(struct agent *ag, bool ok, const char *kind, const char *message)
{
  ag->approval_wait = false;
  if (ag->stopping)
    return; /* agent_kill reports */
  struct agent_result r;
  memset(&r, 0, sizeof r);
  int rc = 1;
  const json_t *tcs = json_object_get(ag->last_reply, "tool_calls");
  const json_t *tc = json_array_get(tcs, ag->answered);
  const json_t *fn = json_object_get(tc, "function");
  if (ok) {
    ag->granted_turn = ag->turns;
    ag->granted_idx = ag->answered;
    rc = run_tool(ag, tc, &r);
  } else if (kind && !strcmp(kind, "rejected")) {
    char text[600];
    snprintf(text, sizeof text, "a human rejected this call%s%.500s", message ? ": " : "",
             message ? message : "");
    json_t *v = error_value(text);
    rc = tool_result(ag, json_string_value(json_object_get(tc, "id")),
                     json_string_value(json_object_get(fn, "name")), v, &r);
    json_decref(v);
  } else {
    set_fail(&r, kind ? kind : "agent", -1, "%s", message ? message : "no decision");
  }
  if (rc == 1) {
    ag->h.done(ag->h.ud, &r);
    agent_result_clear(&r);
  }
}

bool agent_kill(struct agent *ag, const char *kind, const char *message, struct agent_result *now)
{
  if (ag->approval_wait && ag->h.stop_approval) {
    ag->stopping = true;
    ag->h.stop_approval(ag->h.ud, kind, message);
    ag->approval_wait = false;
  }
  if (ag->tool_running && ag->h.kill_command) {
    ag->kill_kind = kind;
    snprintf(ag->kill_msg, sizeof ag->kill_msg, "%s", message);
    ag->h.kill_command(ag->h.ud, !strcmp(kind, "timeout"));
    return false;
  }
  if (ag->call) {
    http_cancel(ag->call);
    ag->call = NULL;
  }
  tool_ctx_free(ag->htool);
  ag->htool = NULL;
  set_fail(now, kind, -1, "%s", message);
  return true;
}
