/* rt_services.c — the executors of `http` and `agent` steps (executor.h):
 * starting them on the runtime's http client (exec/http.h), ending their
 * attempts through rt_attempt_end(), and stopping them on a kill (step
 * timeout, cancel). The agent's tool loop itself is exec/agent.c; here is
 * what it needs from the runtime: the store (transcript, audit), processes
 * for command tools, child runs for workflow tools, the approval service for
 * tool calls that need a decision, and the workflow's expressions for tool
 * templates. */
#include "runtime/rt_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "exec/agent.h"
#include "runtime/deployed.h"
#include "runtime/inputs.h"
#include "util/diag.h"
#include "expr/expr.h"
#include "util/err.h"
#include "util/wtime.h"
#include "util/jsonfmt.h"

/* A program tool of an agent in flight. */
struct rt_tool {
  struct rt_attempt *a; /* NULL once the attempt is gone (the process is being killed) */
  struct proc *proc;    /* a program tool, or */
  struct rt_run *child; /* a workflow tool's child run */
  bool timed_out;
  char *outp;
};

static struct http_client *client(struct runtime *rt)
{
  if (!rt->http && http_client_new(&rt->loop, &rt->http) != 0)
    return NULL;
  return rt->http;
}

void rt_http_close(struct runtime *rt)
{
  http_client_free(rt->http);
  rt->http = NULL;
}

/* Ends attempt a (http or agent) with its result (status: the HTTP status
 * for the error, LANGUAGE.md §4; -1: none). */
static void finish(struct rt_attempt *a, bool ok, const json_t *outputs, const char *kind,
                   const char *message, int status)
{
  rt_attempt_end(a, &(struct rt_result){.ok = ok, .outputs = outputs, .kind = kind,
                                        .message = message, .exit_code = -1,
                                        .http_status = status});
}

/* What an http or agent attempt holds, freed when it ends (release). */
static void service_release(struct rt_attempt *a)
{
  if (a->tool) {
    a->tool->a = NULL; /* its process is being killed: it ends on its own */
    if (a->tool->child) {
      a->tool->child->tool_att = NULL;
      free(a->tool->outp);
      free(a->tool);
    }
    a->tool = NULL;
  }
  json_decref(a->http_body);
  a->http_body = NULL;
  agent_free(a->agent);
  a->agent = NULL;
}

/* ---- http steps ---------------------------------------------------------- */

static void on_http_done(void *ud, const struct http_resp *r)
{
  struct rt_attempt *a = ud;
  struct http_outcome o;
  a->http = NULL;
  http_step_outcome(a->http_body, r, &o);
  json_t *outputs = o.outputs;
  finish(a, o.ok, outputs, o.kind, o.message, o.status);
  json_decref(outputs);
}

static void http_start(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  struct rt_attempt *a = rt_attempt_new(rt, run, e, WF_HTTP);
  struct http_client *c = client(rt);
  struct http_req req;
  char *url = NULL, *body = NULL, msg[512];
  const char *fail = NULL, *kind = "validation", *err = NULL;
  if (!c) {
    fail = http_unavailable() ? http_unavailable() : "out of memory";
    kind = "http_transport";
    goto out;
  }
  a->http_body = json_incref(e->body);
  if (!json_is_object(e->body) ||
      http_step_request(e->body, &req, &url, &body, msg, sizeof msg) != 0) {
    fail = json_is_object(e->body) ? msg : "the http step has no request";
    goto out;
  }
  int rc = http_request(c, &req, on_http_done, a, &a->http, &err);
  if (rc) {
    snprintf(msg, sizeof msg, "%s: %.300s", err ? err : weft_strerror(rc), url);
    fail = msg;
    kind = rc == WEFT_EINVAL ? "validation" : "http_transport";
    goto out;
  }
  rt_attempt_link(a);
  a = NULL;
out:
  if (a)
    finish(a, false, NULL, kind, fail, -1);
  free(url);
  free(body);
}

/* ---- agent steps ----------------------------------------------------------- */


static void agent_finish(struct rt_attempt *a, const struct agent_result *r)
{
  finish(a, r->ok, r->outputs, r->kind, r->message, r->http_status);
}

static void on_agent_done(void *ud, const struct agent_result *r)
{
  agent_finish(ud, r);
}

static json_t *tool_ctx(struct runtime *rt, struct rt_run *run, const json_t *args)
{
  json_t *empty = json_object();
  json_t *c = json_pack("{s:O, s:O, s:O, s:{s:s, s:s}}", "args", args, "inputs",
                        run->inputs ? run->inputs : empty, "secrets",
                        rt->secrets ? rt->secrets : empty, "run", "id", run->id, "workflow",
                        run->wf->name);
  json_decref(empty);
  return c;
}

static int agent_render(void *ud, const json_t *tmpl, const json_t *args, json_t **out,
                        char **err)
{
  struct rt_attempt *a = ud;
  json_t *ctx = tool_ctx(a->rt, a->run, args);
  struct expr_env env = {.success = true, .none_failed = true};
  int rc = ctx ? expr_render(a->run->wf->prog, tmpl, ctx, &env, out, err) : WEFT_ENOMEM;
  json_decref(ctx);
  return rc;
}

static void on_tool_done(void *ud, const struct proc_result *r)
{
  struct rt_tool *t = ud;
  struct rt_attempt *a = t->a;
  json_t *v = NULL;
  if (a) {
    a->tool = NULL;
    if (r->outputs && json_object_size(r->outputs))
      v = json_incref(r->outputs);
    else
      v = json_stringn_nocheck(r->captured ? r->captured : "", r->captured_len);
    if (!r->ok) {
      json_t *w = json_pack("{s:s, s:O}", "error", r->message, "output", v);
      json_decref(v);
      v = w;
    }
  }
  free(t->outp);
  free(t);
  if (a)
    agent_tool_done(a->agent, v); /* may end the attempt */
  json_decref(v);
}

static char *env_kv(const char *k, const char *v)
{
  char *s = NULL;
  return asprintf(&s, "%s=%s", k, v) < 0 ? NULL : s;
}

static int agent_run_command(void *ud, struct agent *ag, const json_t *argv, const char *args_json,
                             int seq, char *msg, size_t n)
{
  struct rt_attempt *a = ud;
  struct runtime *rt = a->rt;
  struct rt_run *run = a->run;
  const char *home = store_home(rt->store);
  const char *sid = run->wf->steps[a->step].id;
  size_t argc = json_is_array(argv) ? json_array_size(argv) : 0;
  const char **av = calloc(argc + 1, sizeof *av);
  char **envp = calloc(rt->n_env_base + 12, sizeof *envp);
  char **strs = calloc(argc + 1, sizeof *strs);
  struct rt_tool *t = calloc(1, sizeof *t);
  char *log = rt_log_path(home, run->id, sid, a->index, a->attempt);
  char *dir = NULL, num[32], key[ENG_IDEM_MAX];
  int rc = WEFT_ENOMEM;
  snprintf(msg, n, "out of memory");
  if (!av || !envp || !strs || !t || !log || asprintf(&dir, "%s/logs/%s", home, run->id) < 0)
    goto out;
  if (argc == 0) {
    snprintf(msg, n, "the tool's command is empty");
    rc = WEFT_EINVAL;
    goto out;
  }
  mkdir(dir, 0755);
  if (asprintf(&t->outp, "%s/%s.%d.%u.tool%d.out", dir, sid, a->index, a->attempt, seq) < 0) {
    t->outp = NULL;
    goto out;
  }
  for (size_t i = 0; i < argc; i++) {
    const json_t *x = json_array_get(argv, i);
    strs[i] = json_is_string(x) ? strdup(json_string_value(x))
                                : wjson_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!strs[i])
      goto out;
    av[i] = strs[i];
  }
  size_t k = 0;
  for (size_t i = 0; i < rt->n_env_base; i++)
    envp[k++] = strdup(rt->env_base[i]);
  envp[k++] = env_kv("WEFT_RUN_ID", run->id);
  envp[k++] = env_kv("WEFT_WORKFLOW", run->wf->name);
  envp[k++] = env_kv("WEFT_STEP", sid);
  snprintf(num, sizeof num, "%u", a->attempt);
  envp[k++] = env_kv("WEFT_ATTEMPT", num);
  engine_idem_key(run->eng, a->step, a->index, key, sizeof key);
  envp[k++] = env_kv("WEFT_IDEMPOTENCY_KEY", key);
  envp[k++] = env_kv("WEFT_OUTPUT", t->outp);
  envp[k++] = env_kv("WEFT_WORKSPACE", run->workspace ? run->workspace : ".");
  envp[k++] = env_kv("WEFT_TOOL_ARGS", args_json);
  for (size_t i = 0; i < k; i++)
    if (!envp[i])
      goto out;
  struct proc_spec spec = {
    .argv = av,
    .envp = (const char *const *)envp,
    .cwd = run->wf->dir && *run->wf->dir ? run->wf->dir : ".",
    .log_path = log,
    .log_limit = run->wf->steps[a->step].log_limit,
    .output_path = t->outp,
    .kill_grace_ms = rt->o.kill_grace_ms,
    .capture_max = AGENT_TOOL_OUTPUT_MAX,
    .separate_stderr = true, /* what goes back to the model is stdout (LANGUAGE.md) */
    .secrets = rt->masker ? masker_forms(rt->masker) : NULL,
  };
  t->a = a;
  rc = proc_start(&rt->loop, &spec, on_tool_done, t, &t->proc);
  if (rc) {
    snprintf(msg, n, "cannot start the tool: %s", weft_strerror(rc));
    goto out;
  }
  a->tool = t;
  t = NULL;
  rc = 0;
out:
  if (t) {
    free(t->outp);
    free(t);
  }
  if (strs)
    for (size_t i = 0; i < argc; i++)
      free(strs[i]);
  free(strs);
  if (envp)
    for (size_t i = 0; envp[i]; i++)
      free(envp[i]);
  free(envp);
  free(av);
  free(log);
  free(dir);
  return rc;
}

static char *agent_mask(void *ud, const char *text)
{
  struct rt_attempt *a = ud;
  return a->rt->masker && !masker_empty(a->rt->masker) ? masker_text(a->rt->masker, text) : NULL;
}

static void agent_kill_command(void *ud, bool timeout)
{
  struct rt_attempt *a = ud;
  struct rt_tool *t = a->tool;
  if (!t)
    return;
  if (t->proc) {
    proc_kill(t->proc, timeout ? PROC_KILL_TIMEOUT : PROC_KILL_CANCEL);
  } else if (t->child && !t->child->finished && !t->child->cancel_requested) {
    t->timed_out = timeout;
    rt_run_cancel(a->rt, t->child);
  }
}

/* A workflow tool: the child run, like a workflow step's (svc_subflow.c),
 * but its end goes back to the agent instead of ending the step. */
static int agent_run_workflow(void *ud, struct agent *ag, const json_t *wb, char *msg, size_t n)
{
  struct rt_attempt *a = ud;
  struct runtime *rt = a->rt;
  struct rt_run *run = a->run;
  const json_t *file = json_object_get(wb, "file");
  const json_t *given = json_object_get(wb, "inputs");
  struct diag_list d = {0};
  struct wf *wf = NULL;
  json_t *inputs = NULL;
  char *path = NULL, *err = NULL;
  int rc = WEFT_EINVAL;
  const json_t *name = json_object_get(wb, "name");
  if (!json_is_string(file) && !json_is_string(name)) {
    snprintf(msg, n, "workflow.file must be a path, or workflow.name a deployed workflow's name");
    goto out;
  }
  if (run->depth + 1 > SUBFLOW_MAX_DEPTH) {
    snprintf(msg, n, "sub-workflows nest more than %d deep", SUBFLOW_MAX_DEPTH);
    goto out;
  }
  const char *f;
  if (!json_is_string(file)) { /* the newest deployed version (runtime/deployed.h) */
    f = json_string_value(name);
    if (rt_deployed_load(rt->store, f, &wf, NULL, msg, n) != 0)
      goto out;
  } else {
    f = json_string_value(file);
    if (f[0] == '/' ? !(path = strdup(f))
                    : asprintf(&path, "%s/%s", run->wf->dir && *run->wf->dir ? run->wf->dir : ".",
                               f) < 0) {
      path = NULL;
      snprintf(msg, n, "out of memory");
      goto out;
    }
    if (wf_load_file(path, &wf, &d) != 0) {
      diag_sort(&d);
      snprintf(msg, n, "sub-workflow %.200s is not valid: %.300s", f, d.n ? d.v[0].msg : "error");
      goto out;
    }
  }
  json_t *g = json_is_object(given) ? json_incref((json_t *)given) : json_object();
  int irc = inputs_resolve(wf, g, &inputs, &d);
  json_decref(g);
  if (irc) {
    snprintf(msg, n, "the inputs do not fit sub-workflow %.200s: %.300s", f,
             d.n ? d.v[d.n - 1].msg : weft_strerror(irc));
    goto out;
  }
  struct rt_tool *t = calloc(1, sizeof *t);
  if (!t) {
    snprintf(msg, n, "out of memory");
    rc = WEFT_ENOMEM;
    goto out;
  }
  struct rt_run *child = NULL;
  char id[WEFT_ID_LEN + 1];
  struct wf *w = wf;
  wf = NULL; /* rt_start_run takes it over */
  rc = rt_start_run(rt, w, inputs, "workflow", run->id, run->wf->steps[a->step].id, a->index,
                    &child, id, &err);
  if (rc || !child) {
    snprintf(msg, n, "cannot start sub-workflow %.200s: %.300s", f, err ? err : "error");
    free(t);
    rc = rc ? rc : WEFT_ESTATE;
    goto out;
  }
  t->a = a;
  t->child = child;
  child->tool_att = a;
  child->is_child = true;
  child->depth = run->depth + 1;
  a->tool = t;
  rc = 0;
out:
  diag_list_free(&d);
  wf_free(wf);
  json_decref(inputs);
  free(path);
  free(err);
  return rc;
}

/* A workflow tool's child run ended: its outputs (or its error) go back to
 * the model. */
static void tool_child_finished(struct rt_attempt *a, struct rt_run *child)
{
  child->tool_att = NULL;
  struct rt_tool *t = a->tool;
  a->tool = NULL;
  free(t->outp);
  free(t);
  enum eng_run_status st = engine_run_status(child->eng);
  const json_t *o = engine_run_outputs(child->eng);
  json_t *v;
  if (st == ENG_RUN_SUCCEEDED) {
    v = json_is_object(o) ? json_incref((json_t *)o) : json_object();
  } else {
    const json_t *err = engine_run_error(child->eng);
    const char *m = json_string_value(json_object_get(err, "message"));
    char text[600];
    snprintf(text, sizeof text, "sub-workflow run %s %s%s%.480s", child->id,
             engine_run_status_name(st), m ? ": " : "", m ? m : "");
    v = json_pack("{s:s}", "error", text);
  }
  agent_tool_done(a->agent, v); /* may end the attempt */
  json_decref(v);
}

static void on_tool_approval(void *ud, bool ok, const json_t *outputs, const char *kind,
                             const char *message)
{
  struct rt_attempt *a = ud;
  a->appr = NULL; /* freed by the approval right after this returns */
  agent_approval_done(a->agent, ok, kind, message); /* may end the attempt */
}

static int agent_request_approval(void *ud, struct agent *ag, const json_t *body, bool resumed,
                                  char *msg, size_t n)
{
  struct rt_attempt *a = ud;
  struct approval_ctx c = {
    .loop = &a->rt->loop,
    .store = a->rt->store,
    .run_id = a->run->id,
    .step = a->run->wf->steps[a->step].id,
    .index = a->index,
    .attempt = a->attempt,
    .body = body,
    .resumed = resumed,
    .post = approval_post,
    .post_ud = a,
  };
  a->appr = approval_start(&c, on_tool_approval, a);
  return 0;
}

static void agent_stop_approval(void *ud, const char *kind, const char *message)
{
  struct rt_attempt *a = ud;
  if (a->appr)
    approval_stop(a->appr, kind, message);
}

/* ---- what the agent keeps, through its host ------------------------------ */

static int turn_index(const struct rt_attempt *a)
{
  return a->index >= 0 ? a->index : STORE_NO_INDEX;
}

static int agent_save_turn(void *ud, int attempt, int seq, const char *text)
{
  struct rt_attempt *a = ud;
  return store_turn_put(a->rt->store, a->run->id, a->run->wf->steps[a->step].id, turn_index(a),
                        attempt, seq, text, wt_now_ms());
}

static int agent_load_turns(void *ud, int attempt, char ***rows, size_t *n)
{
  struct rt_attempt *a = ud;
  *rows = NULL;
  *n = 0;
  int rc = store_turn_list(a->rt->store, a->run->id, a->run->wf->steps[a->step].id,
                           turn_index(a), attempt, rows, n);
  if (rc) {
    store_turns_free(*rows, *n);
    *rows = NULL;
    *n = 0;
  }
  return rc;
}

static bool agent_interrupted(void *ud, int attempt)
{
  struct rt_attempt *a = ud;
  struct store_attempt *at = NULL;
  size_t na = 0;
  bool yes = false;
  if (store_attempt_list(a->rt->store, a->run->id, a->run->wf->steps[a->step].id, turn_index(a),
                         &at, &na) == 0) {
    for (size_t i = 0; i < na; i++)
      if (at[i].attempt == attempt && at[i].error) {
        json_t *e = json_loads(at[i].error, 0, NULL);
        const char *k = json_string_value(json_object_get(e, "kind"));
        yes = k && !strcmp(k, "interrupted");
        json_decref(e);
      }
    store_attempts_free(at, na);
  }
  return yes;
}

static void agent_audit(void *ud, const char *kind, const char *data)
{
  struct rt_attempt *a = ud;
  store_audit_append(a->rt->store, wt_now_ms(), a->run->id, kind, data, NULL);
}

static void agent_start_ex(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  struct http_client *c = client(rt);
  if (!c) {
    rt_start_failed(rt, run, e, "agent", http_unavailable() ? http_unavailable() : "out of memory");
    return;
  }
  struct rt_attempt *a = rt_attempt_new(rt, run, e, WF_AGENT);
  struct agent_host h = {
    .ud = a,
    .http = c,
    .run_id = run->id,
    .step = run->wf->steps[e->step].id,
    .index = e->index >= 0 ? e->index : STORE_NO_INDEX,
    .attempt = (int)e->attempt,
    .save_turn = agent_save_turn,
    .load_turns = agent_load_turns,
    .interrupted = agent_interrupted,
    .audit = agent_audit,
    .default_endpoint = getenv("WEFT_LLM_URL"),
    .default_api_key = getenv("WEFT_LLM_API_KEY"),
    .render = agent_render,
    .run_command = agent_run_command,
    .kill_command = agent_kill_command,
    .run_workflow = agent_run_workflow,
    .request_approval = agent_request_approval,
    .stop_approval = agent_stop_approval,
    .done = on_agent_done,
    .mask = agent_mask,
  };
  struct agent_result now;
  /* linked first: the agent may start a tool process that refers to a */
  rt_attempt_link(a);
  if (agent_start(&h, e->body, &a->agent, &now) == 1) {
    agent_finish(a, &now);
    agent_result_clear(&now);
  }
}

/* ---- the executors ------------------------------------------------------------ */

static void http_kill(struct rt_attempt *a, bool timeout)
{
  if (!a->http)
    return;
  http_cancel(a->http);
  a->http = NULL;
  finish(a, false, NULL, timeout ? "timeout" : "cancelled", timeout ? "timed out" : "cancelled",
         -1);
}

/* an agent ends now, or reports through on_agent_done when its program tool
 * has gone */
static void agent_kill_ex(struct rt_attempt *a, bool timeout)
{
  struct agent_result now;
  if (agent_kill(a->agent, timeout ? "timeout" : "cancelled", timeout ? "timed out" : "cancelled",
                 &now)) {
    agent_finish(a, &now);
    agent_result_clear(&now);
  }
}

/* a workflow tool's child ended, or a decision on a tool call was posted */
static void agent_resume(struct rt_attempt *a)
{
  if (a->tool && a->tool->child && a->tool->child->finished)
    tool_child_finished(a, a->tool->child); /* may end the attempt */
  else if (a->appr)
    approval_poke(a->appr);
}

const struct executor_ops rt_ex_http = {
  .version = EXECUTOR_OPS_VERSION,
  .name = "http",
  .start = http_start,
  .kill = http_kill,
  .release = service_release,
};

const struct executor_ops rt_ex_agent = {
  .version = EXECUTOR_OPS_VERSION,
  .name = "agent",
  .start = agent_start_ex,
  .kill = agent_kill_ex,
  .resume = agent_resume,
  .release = service_release,
};
