/* ex_proc.c — the executor of `run` and `command` steps (executor.h): an
 * attempt is a process group started with exec/proc.h; its live output goes
 * to the observer (-v), its end to rt_attempt_end, and its pid to the
 * running row (for crash recovery). Also the paths of an attempt's files
 * under the home (logs/RUN/STEP[.INDEX].ATTEMPT.{log,out}).
 *
 * Program steps get the environment of weft itself, then the step's `env`,
 * then the WEFT_* variables of LANGUAGE.md §3. Values reach programs only as
 * argv elements and environment variables, never as shell text. */
#include "runtime/rt_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/err.h"
#include "util/jsonfmt.h"

/* *created: the last component did not exist before */
int rt_mkdirs(const char *path, bool *created)
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

char *rt_unit_file(const char *home, const char *run_id, const char *step, int index,
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
  return rt_unit_file(home, run_id, step, index, attempt, "log");
}

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
  if (r->log_errno)
    rt_disk_log_failed(rt, a->run, a->run->wf->steps[a->step].id, a->index, a->attempt,
                       r->log_errno);
  char why[PROC_MSG_MAX + 300];
  const char *msg = r->ok ? r->message : rt_disk_explain(rt, r->message, why, sizeof why);
  rt_attempt_end(a, &(struct rt_result){.ok = r->ok, .outputs = r->outputs, .kind = r->kind,
                                        .message = msg, .exit_code = r->exit_code,
                                        .signal = r->signal, .http_status = -1});
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
        char *t = wjson_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
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
    char *item = e->item ? wjson_dumps(e->item, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
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

static void process_start(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  const struct wf_step *ws = &run->wf->steps[e->step];
  const char *home = store_home(rt->store);
  char *log = rt_log_path(home, run->id, ws->id, e->index, e->attempt);
  char *outp = rt_unit_file(home, run->id, ws->id, e->index, e->attempt, "out");
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
    if (rt_mkdirs(logdir, &run->logdir_new) != 0) {
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
  if (!argv || !env || !cwd) {
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
  a = rt_attempt_new(rt, run, e, ws->kind);
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
    .log_limit = ws->log_limit,
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
  rt_attempt_link(a);
  /* remember the process group durably (next commit) for crash recovery;
   * an early start's row is written after it (runtime.c notes it then) */
  rt_note_pid_row(rt, run, e->step, e->index);
  a = NULL;
out:
  if (fail && a)
    rt_attempt_end(a, &(struct rt_result){.ok = false, .kind = fail_kind, .message = fail,
                                          .exit_code = -1, .http_status = -1});
  else if (fail)
    rt_start_failed(rt, run, e, fail_kind, fail);
  free(argv);
  strv_free(env);
  free(cwd);
  free(log);
  free(outp);
  free(logdir);
}

static void process_kill(struct rt_attempt *a, bool timeout)
{
  if (a->proc)
    proc_kill(a->proc, timeout ? PROC_KILL_TIMEOUT : PROC_KILL_CANCEL);
}

const struct executor_ops rt_ex_process = {
  .version = EXECUTOR_OPS_VERSION,
  .name = "process",
  .start = process_start,
  .kill = process_kill,
};
