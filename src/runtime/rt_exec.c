/* rt_exec.c — performing the engine's effects: starting attempts with their
 * executors, killing them, arming and cancelling timers.
 *
 * Every effect here runs only after the journal that led to it is durable
 * (runtime.c's perform_durable), except a START marked `early`, whose
 * reservation was durable before (engine.h, durable dispatch). Results come
 * back through rt_post_result(), which queues them; the loop feeds the queue
 * to the engine after the current effects are done, never re-entrantly.
 *
 * Program steps get the environment of weft itself, then the step's `env`,
 * then the WEFT_* variables of LANGUAGE.md §3. Values reach programs only as
 * argv elements and environment variables, never as shell text. */
#include "runtime/rt_int.h"
#include "runtime/rt_services.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "exec/subflow.h"
#include "exec/wait.h"
#include "util/err.h"
#include "util/wtime.h"

/* *created: the last component did not exist before */
static int mkdirs(const char *path, bool *created)
{
  char *p = strdup(path);
  if (!p)
    return WEFT_ENOMEM;
  for (char *s = p + 1; *s; s++)
    if (*s == '/') {
      *s = '\0';
      mkdir(p, 0755);
      *s = '/';
    }
  int rc = 0;
  *created = mkdir(p, 0755) == 0;
  if (!*created && errno != EEXIST)
    rc = WEFT_EIO;
  free(p);
  return rc;
}

static char *unit_file(const char *home, const char *run_id, const char *step, int index,
                       unsigned attempt, const char *ext)
{
  char *p = NULL;
  int n = index >= 0 ? asprintf(&p, "%s/logs/%s/%s.%d.%u.%s", home, run_id, step, index, attempt, ext)
                     : asprintf(&p, "%s/logs/%s/%s.%u.%s", home, run_id, step, attempt, ext);
  return n < 0 ? NULL : p;
}

char *rt_log_path(const char *home, const char *run_id, const char *step, int index,
                  unsigned attempt)
{
  return unit_file(home, run_id, step, index, attempt, "log");
}

void rt_post_result(struct runtime *rt, struct rt_run *run, uint32_t step, int32_t index,
                    uint32_t attempt, bool ok, const json_t *outputs, const char *kind,
                    const char *message, int exit_code, int sig)
{
  struct rt_pending *p = calloc(1, sizeof *p);
  if (!p)
    abort(); /* cannot lose a result: the run would hang */
  p->run = run;
  p->ev.type = ENG_EV_ATTEMPT_ENDED;
  p->ev.step = step;
  p->ev.index = index;
  p->ev.attempt = attempt;
  p->ev.ok = ok;
  p->outputs = outputs ? json_deep_copy(outputs) : NULL;
  p->message = message ? strdup(message) : NULL;
  int k = kind ? engine_err_kind_parse(kind) : -1;
  p->ev.kind = ok ? ENG_E_NONE : (k > 0 ? (enum eng_err_kind)k : ENG_E_SPAWN);
  p->ev.exit_code = exit_code;
  p->ev.signal = sig > 0 ? sig : -1;
  p->ev.http_status = -1;
  *rt->pending_tail = p;
  rt->pending_tail = &p->next;
  rt_arm_flush(rt);
}

static void attempt_unlink(struct runtime *rt, struct rt_attempt *a)
{
  for (struct rt_attempt **pp = &rt->attempts; *pp; pp = &(*pp)->next)
    if (*pp == a) {
      *pp = a->next;
      break;
    }
}

struct rt_attempt *rt_attempt_add(struct runtime *rt, struct rt_run *run,
                                  const struct eng_effect *e, enum wf_kind kind)
{
  struct rt_attempt *a = calloc(1, sizeof *a);
  if (!a)
    abort();
  a->rt = rt;
  a->run = run;
  a->step = e->step;
  a->index = e->index;
  a->attempt = e->attempt;
  a->kind = kind;
  buf_init(&a->line, 0);
  a->next = rt->attempts;
  rt->attempts = a;
  return a;
}

static void attempt_free(struct rt_attempt *a)
{
  free(a->label);
  free(a->output_path);
  buf_free(&a->line);
  free(a);
}

static struct rt_attempt *attempt_find(struct runtime *rt, struct rt_run *run, uint32_t step,
                                       int32_t index)
{
  for (struct rt_attempt *a = rt->attempts; a; a = a->next)
    if (a->run == run && a->step == step && a->index == index)
      return a;
  return NULL;
}

void rt_each_attempt(const struct runtime *rt, void (*fn)(void *ud, const struct rt_flight *f),
                     void *ud)
{
  for (const struct rt_attempt *a = rt->attempts; a; a = a->next) {
    struct rt_flight f = {.run_id = a->run->id, .step = a->run->wf->steps[a->step].id,
                          .index = a->index, .attempt = a->attempt, .kind = a->kind};
    fn(ud, &f);
  }
}

int rt_attempt_pid(struct runtime *rt, struct rt_run *run, uint32_t step, int32_t index)
{
  struct rt_attempt *a = attempt_find(rt, run, step, index);
  return a && a->proc ? (int)proc_pid(a->proc) : 0;
}

void rt_note_pid_row(struct runtime *rt, struct rt_run *run, uint32_t step, int32_t index)
{
  struct rt_attempt *a = attempt_find(rt, run, step, index);
  struct rt_row *row = rt_row_find(run, step, index);
  if (a && a->proc && row && proc_pid(a->proc) > 0) {
    row->row.pid = proc_pid(a->proc);
    row->row.pgid = proc_pgid(a->proc);
    row->dirty = true;
    rt_note_pid(rt);
  }
}

/* ---- program steps ------------------------------------------------------ */

static void flush_line(struct rt_attempt *a, bool all)
{
  struct runtime *rt = a->rt;
  size_t start = 0;
  for (size_t i = 0; i < a->line.len; i++)
    if (a->line.p[i] == '\n') {
      rt->o.obs.on_output(rt->o.obs.ud, a->run->id, a->label, a->line.p + start, i - start);
      start = i + 1;
    }
  if (all && start < a->line.len) {
    rt->o.obs.on_output(rt->o.obs.ud, a->run->id, a->label, a->line.p + start,
                        a->line.len - start);
    start = a->line.len;
  }
  memmove(a->line.p, a->line.p + start, a->line.len - start);
  a->line.len -= start;
  if (a->line.p)
    a->line.p[a->line.len] = '\0';
}

static void on_proc_output(void *ud, const char *data, size_t len)
{
  struct rt_attempt *a = ud;
  if (buf_append(&a->line, data, len) != 0) {
    flush_line(a, true);
    buf_append(&a->line, data, len < a->line.max ? len : 0);
  }
  flush_line(a, false);
}

/* a start handed to the spawner thread has its pid now */
static void on_proc_spawned(void *ud)
{
  struct rt_attempt *a = ud;
  rt_note_pid_row(a->rt, a->run, a->step, a->index);
}

static void on_proc_done(void *ud, const struct proc_result *r)
{
  struct rt_attempt *a = ud;
  struct runtime *rt = a->rt;
  if (a->line.len)
    flush_line(a, true);
  rt_mask_file(rt, a->output_path); /* the step may have written a secret there */
  rt_post_result(rt, a->run, a->step, a->index, a->attempt, r->ok, r->outputs, r->kind,
                 r->message, r->exit_code, r->signal);
  attempt_unlink(rt, a);
  attempt_free(a);
}

static char *env_entry(const char *k, const char *v)
{
  char *s = NULL;
  return asprintf(&s, "%s=%s", k, v) < 0 ? NULL : s;
}

static void strv_free(char **v)
{
  if (!v)
    return;
  for (char **p = v; *p; p++)
    free(*p);
  free(v);
}

/* An argv element or env value holding a NUL (from an expression: jq's
 * "\u0000", an input) would reach the program cut short at it: refused. */
static bool nul_problem(const struct eng_effect *e, char *msg, size_t n)
{
  size_t i;
  json_t *v;
  json_array_foreach(e->argv, i, v) {
    if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v)) {
      snprintf(msg, n, "command element %zu holds a NUL byte (\\u0000); it would reach the "
               "program cut short: remove it from the value", i);
      return true;
    }
  }
  const char *k;
  if (e->env)
    json_object_foreach(e->env, k, v) {
      if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(msg, n, "env %.100s holds a NUL byte (\\u0000); it would reach the program "
                 "cut short: remove it from the value", k);
        return true;
      }
    }
  return false;
}

/* environ (minus WEFT_* of our own) + step env + WEFT_* */
static char **build_env(struct runtime *rt, struct rt_run *run, const struct eng_effect *e,
                        const char *output_path)
{
  size_t n_step = e->env ? json_object_size(e->env) : 0;
  char **v = calloc(rt->n_env_base + n_step + 16, sizeof *v);
  if (!v)
    return NULL;
  size_t n = 0;
  const char *key;
  json_t *val;
  for (size_t i = 0; i < rt->n_env_base; i++) {
    size_t klen = strcspn(rt->env_base[i], "=");
    bool overridden = false;
    if (e->env)
      json_object_foreach(e->env, key, val) {
        if (strlen(key) == klen && !strncmp(key, rt->env_base[i], klen))
          overridden = true;
      }
    if (!overridden)
      v[n++] = strdup(rt->env_base[i]);
  }
  if (e->env)
    json_object_foreach(e->env, key, val) {
      if (json_is_string(val)) {
        v[n++] = env_entry(key, json_string_value(val));
      } else {
        char *t = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
        v[n++] = env_entry(key, t ? t : "");
        free(t);
      }
    }
  char num[32], key_buf[512];
  const struct wf_step *ws = &run->wf->steps[e->step];
  v[n++] = env_entry("WEFT_RUN_ID", run->id);
  v[n++] = env_entry("WEFT_WORKFLOW", run->wf->name);
  v[n++] = env_entry("WEFT_STEP", ws->id);
  snprintf(num, sizeof num, "%u", e->attempt);
  v[n++] = env_entry("WEFT_ATTEMPT", num);
  if (e->index >= 0) {
    snprintf(num, sizeof num, "%d", e->index);
    v[n++] = env_entry("WEFT_INDEX", num);
    char *item = e->item ? json_dumps(e->item, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    v[n++] = env_entry("WEFT_ITEM", item ? item : "null");
    free(item);
  }
  engine_idem_key(run->eng, e->step, e->index, key_buf, sizeof key_buf);
  v[n++] = env_entry("WEFT_IDEMPOTENCY_KEY", key_buf);
  v[n++] = env_entry("WEFT_OUTPUT", output_path);
  v[n++] = env_entry("WEFT_WORKSPACE", run->workspace);
  v[n] = NULL;
  for (size_t i = 0; i < n; i++)
    if (!v[i]) {
      strv_free(v);
      return NULL;
    }
  return v;
}

static char *resolve_cwd(struct rt_run *run, const json_t *cwd)
{
  const char *dir = run->wf->dir && *run->wf->dir ? run->wf->dir : ".";
  if (!cwd || !json_is_string(cwd))
    return strdup(dir);
  const char *c = json_string_value(cwd);
  if (c[0] == '/')
    return strdup(c);
  char *p = NULL;
  return asprintf(&p, "%s/%s", dir, c) < 0 ? NULL : p;
}

static void start_program(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  const struct wf_step *ws = &run->wf->steps[e->step];
  const char *home = store_home(rt->store);
  char *log = rt_log_path(home, run->id, ws->id, e->index, e->attempt);
  char *outp = unit_file(home, run->id, ws->id, e->index, e->attempt, "out");
  char *logdir = NULL;
  char **env = NULL, *cwd = NULL;
  const char **argv = NULL;
  struct rt_attempt *a = NULL;
  const char *fail = NULL, *fail_kind = "spawn";
  char msg[512];

  if (!log || !outp || asprintf(&logdir, "%s/logs/%s", home, run->id) < 0) {
    fail = "out of memory";
    goto out;
  }
  /* once per run: a mkdir per path component per spawn showed in profiles */
  if (!run->logdir_made) {
    if (mkdirs(logdir, &run->logdir_new) != 0) {
      snprintf(msg, sizeof msg, "cannot create %s: %s", logdir, strerror(errno));
      fail = msg;
      goto out;
    }
    run->logdir_made = true;
  }
  size_t argc = e->argv ? json_array_size(e->argv) : 0;
  if (argc == 0) {
    fail = "the command is empty";
    goto out;
  }
  argv = calloc(argc + 1, sizeof *argv);
  for (size_t i = 0; argv && i < argc; i++)
    argv[i] = json_string_value(json_array_get(e->argv, i));
  env = build_env(rt, run, e, outp);
  cwd = resolve_cwd(run, e->cwd);
  a = calloc(1, sizeof *a);
  if (!argv || !env || !cwd || !a) {
    fail = "out of memory";
    goto out;
  }
  for (size_t i = 0; i < argc; i++)
    if (!argv[i]) {
      fail = "every command element must be a string";
      goto out;
    }
  if (nul_problem(e, msg, sizeof msg)) {
    fail = msg;
    fail_kind = "validation";
    goto out;
  }
  a->rt = rt;
  a->run = run;
  a->step = e->step;
  a->index = e->index;
  a->attempt = e->attempt;
  a->kind = ws->kind;
  a->output_path = outp;
  outp = NULL;
  buf_init(&a->line, 64 << 10);
  if (e->index >= 0) {
    if (asprintf(&a->label, "%s[%d]", ws->id, e->index) < 0)
      a->label = NULL;
  } else {
    a->label = strdup(ws->id);
  }
  struct proc_spec spec = {
    .argv = argv,
    .envp = (const char *const *)env,
    .cwd = cwd,
    .log_path = log,
    .output_path = a->output_path,
    /* every attempt has its own path, unless the attempt counter has
     * stopped growing (ENG_MAX_ATTEMPTS): from there on the path repeats */
    .output_fresh = run->logdir_new && e->attempt < ENG_MAX_ATTEMPTS,
    .on_output = rt->o.stream_output && rt->o.obs.on_output ? on_proc_output : NULL,
    .kill_grace_ms = rt->o.kill_grace_ms,
    .secrets = masker_forms(rt->masker),
    .on_spawned = on_proc_spawned,
  };
  int rc = proc_start(&rt->loop, &spec, on_proc_done, a, &a->proc);
  if (rc) {
    snprintf(msg, sizeof msg, "cannot start: %s", weft_strerror(rc));
    fail = msg;
    goto out;
  }
  a->next = rt->attempts;
  rt->attempts = a;
  /* remember the process group durably (next commit) for crash recovery;
   * an early start's row is written after it (runtime.c notes it then) */
  rt_note_pid_row(rt, run, e->step, e->index);
  a = NULL;
out:
  if (fail)
    rt_post_result(rt, run, e->step, e->index, e->attempt, false, NULL, fail_kind, fail, -1, 0);
  if (a)
    attempt_free(a);
  free(argv);
  strv_free(env);
  free(cwd);
  free(log);
  free(outp);
  free(logdir);
}

/* ---- wait steps (time) -------------------------------------------------- */

static void on_wait_closed(uv_handle_t *h) { free(h); }

static void on_wait_fired(uv_timer_t *h)
{
  struct rt_attempt *a = h->data;
  struct runtime *rt = a->rt;
  json_t *o = json_object();
  rt_post_result(rt, a->run, a->step, a->index, a->attempt, true, o, NULL, NULL, -1, 0);
  json_decref(o);
  uv_close((uv_handle_t *)h, on_wait_closed);
  attempt_unlink(rt, a);
  attempt_free(a);
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

static void start_wait(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
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
      rt_post_result(rt, run, e->step, e->index, e->attempt, false, NULL, "expression", msg, -1, 0);
      return;
    }
    at = t;
  } else if (json_is_object(b) && json_object_get(b, "event")) {
    wait_event_start(rt, run, e, since);
    return;
  }
  if (at < 0) {
    rt_post_result(rt, run, e->step, e->index, e->attempt, false, NULL, "validation",
                   "the wait step has no duration or time", -1, 0);
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

/* ---- approval steps (exec/approval.c) ------------------------------------ */

static void on_approval_done(void *ud, bool ok, const json_t *outputs, const char *kind,
                             const char *message)
{
  struct rt_attempt *a = ud;
  struct runtime *rt = a->rt;
  rt_post_result(rt, a->run, a->step, a->index, a->attempt, ok, outputs, kind, message, -1, 0);
  attempt_unlink(rt, a);
  attempt_free(a);
}

static void start_approval(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
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

void rt_approval_poke(struct runtime *rt, struct rt_run *run, uint32_t step, int32_t index)
{
  struct rt_attempt *a = attempt_find(rt, run, step, index);
  if (a && a->appr)
    approval_poke(a->appr);
}

/* ---- kills and timers ---------------------------------------------------- */

static void do_kill(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  if (e->reason == ENG_KILL_STALE)
    return; /* done when the run was loaded (runtime.c load_run) */
  struct rt_attempt *a = attempt_find(rt, run, e->step, e->index);
  if (!a)
    return;
  if (a->proc) {
    proc_kill(a->proc, e->reason == ENG_KILL_TIMEOUT ? PROC_KILL_TIMEOUT : PROC_KILL_CANCEL);
  } else if (a->http || a->agent) {
    rt_kill_service(rt, a, e->reason);
  } else if (a->appr) {
    bool timeout = e->reason == ENG_KILL_TIMEOUT;
    approval_stop(a->appr, timeout ? "timeout" : "cancelled", timeout ? "timed out" : "cancelled");
  } else if (a->wait) {
    uv_timer_stop(a->wait);
    uv_close((uv_handle_t *)a->wait, on_wait_closed);
    bool timeout = e->reason == ENG_KILL_TIMEOUT;
    rt_post_result(rt, run, a->step, a->index, a->attempt, false, NULL,
                   timeout ? "timeout" : "cancelled", timeout ? "timed out" : "cancelled", -1, 0);
    attempt_unlink(rt, a);
    attempt_free(a);
  } else if (a->evw) {
    wait_event_kill(rt, a, e->reason == ENG_KILL_TIMEOUT);
  } else if (a->sub) {
    subflow_kill(rt, a, e->reason == ENG_KILL_TIMEOUT);
  }
}

static void on_timer_closed(uv_handle_t *h) { free(h->data); }

static void on_engine_timer(uv_timer_t *h)
{
  struct rt_timer *t = h->data;
  struct rt_pending *p = calloc(1, sizeof *p);
  if (!p)
    abort();
  struct runtime *owner = (struct runtime *)h->loop->data;
  p->run = t->run;
  p->ev.type = ENG_EV_TIMER;
  p->ev.token = t->token;
  *owner->pending_tail = p;
  owner->pending_tail = &p->next;
  for (struct rt_timer **pp = &owner->timers; *pp; pp = &(*pp)->next)
    if (*pp == t) {
      *pp = t->next;
      break;
    }
  uv_close((uv_handle_t *)&t->h, on_timer_closed);
  rt_arm_flush(owner);
}

static void timer_arm(struct runtime *rt, struct rt_run *run, uint64_t token, int64_t at)
{
  struct rt_timer *t = calloc(1, sizeof *t);
  if (!t)
    abort();
  t->run = run;
  t->token = token;
  uv_timer_init(&rt->loop, &t->h);
  t->h.data = t;
  /* the loop's cached time may be behind the clock: refresh it so the timer
   * does not fire before `at` */
  uv_update_time(&rt->loop);
  int64_t now = wt_now_ms();
  uv_timer_start(&t->h, on_engine_timer, (uint64_t)(at > now ? at - now : 0), 0);
  t->next = rt->timers;
  rt->timers = t;
}

static void timer_cancel(struct runtime *rt, struct rt_run *run, uint64_t token)
{
  for (struct rt_timer **pp = &rt->timers; *pp; pp = &(*pp)->next) {
    struct rt_timer *t = *pp;
    if (t->run == run && t->token == token) {
      *pp = t->next;
      uv_timer_stop(&t->h);
      uv_close((uv_handle_t *)&t->h, on_timer_closed);
      return;
    }
  }
}

void rt_timers_cancel_run(struct runtime *rt, struct rt_run *run)
{
  struct rt_timer **pp = &rt->timers;
  while (*pp) {
    struct rt_timer *t = *pp;
    if (t->run == run) {
      *pp = t->next;
      uv_timer_stop(&t->h);
      uv_close((uv_handle_t *)&t->h, on_timer_closed);
    } else {
      pp = &t->next;
    }
  }
}

void rt_effect(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  switch (e->type) {
  case ENG_FX_START: {
    enum wf_kind k = run->wf->steps[e->step].kind;
    if (k == WF_RUN || k == WF_COMMAND) {
      start_program(rt, run, e);
    } else if (k == WF_WAIT) {
      start_wait(rt, run, e);
    } else if (k == WF_HTTP) {
      rt_start_http(rt, run, e);
    } else if (k == WF_AGENT) {
      rt_start_agent(rt, run, e);
    } else if (k == WF_WORKFLOW) {
      subflow_start(rt, run, e);
    } else if (k == WF_APPROVAL) {
      start_approval(rt, run, e);
    } else {
      char msg[160];
      snprintf(msg, sizeof msg, "%s steps are not supported by this build of weft yet",
               wf_kind_name(k));
      rt_post_result(rt, run, e->step, e->index, e->attempt, false, NULL, "validation", msg,
                     -1, 0);
    }
    break;
  }
  case ENG_FX_KILL: do_kill(rt, run, e); break;
  case ENG_FX_TIMER_ARM: timer_arm(rt, run, e->token, e->at); break;
  case ENG_FX_TIMER_CANCEL: timer_cancel(rt, run, e->token); break;
  case ENG_FX_RUN_FINISHED:
    run->finished = true;
    rt_timers_cancel_run(rt, run);
    if (run->parent_att)
      subflow_child_finished(rt, run);
    if (run->tool_att)
      rt_tool_child_finished(rt, run);
    break;
  case ENG_FX_DONE: break;
  }
}
