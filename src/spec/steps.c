/* steps.c — the fields every step takes, and `defaults:`.
 *
 * steps_parse() fills one struct wf_step from its YAML mapping: needs are
 * only remembered here (graph.c resolves them once every id is known), the
 * kind key is handed to kinds.c, and the step's own fields win over
 * `defaults:` (env merged by key: workflow env, then defaults, then step).
 * Condition fields are normalised to "${{ ... }}" templates (tmpl.c). */
#include "spec/spec_int.h"

#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "util/err.h"

static const char *const kind_keys[] = {"run",      "command", "set",  "http",
                                        "agent",    "approval", "wait", "workflow",
                                        NULL};

static const char *const step_keys[] = {
    "needs",  "if",          "timeout", "retry",    "continue_on_error", "for_each",
    "max_parallel", "repeat", "env",    "cwd",      "shell",             "description",
    "run",    "command",     "set",     "http",     "agent",             "approval",
    "wait",   "workflow",    "log_limit", "end",
    "cancel", "mutex", NULL};

static const char *const default_keys[] = {"timeout", "retry", "env", "shell", "cwd",
                                           "continue_on_error", "if", "log_limit", NULL};

static bool key_is(const struct ynode *k, const char *s)
{
  return strlen(s) == k->len && memcmp(k->s, s, k->len) == 0;
}

static void retry_defaults(struct wf_retry *r)
{
  r->attempts = 1;
  r->delay_ms = 1000;
  r->backoff = WF_BACKOFF_EXPONENTIAL;
  r->factor = 2;
  r->max_delay_ms = 300000;
  r->jitter = false;
  r->if_ = NULL;
}

static void parse_retry(struct sctx *c, const struct ynode *v, const char *owner,
                        uint32_t scope, struct wf_retry *r)
{
  static const char *const keys[] = {"attempts",  "delay",  "backoff", "factor",
                                     "max_delay", "jitter", "if",      NULL};
  static const char *const backoffs[] = {"exponential", "fixed", NULL};
  char where[200], in_owner[200];
  snprintf(where, sizeof where, "in retry of %s", owner);
  snprintf(in_owner, sizeof in_owner, "in %s", owner);
  retry_defaults(r);
  int64_t i64;
  if (v->t == Y_INT) { /* retry: 3 means attempts: 3 */
    if (chk_int(c, v, "retry", in_owner, 1, 1000000, &i64))
      r->attempts = (int)i64;
    return;
  }
  if (v->t != Y_MAP) {
    chk_bad_type(c, v, "retry", in_owner, "a mapping such as {attempts: 3, delay: 2s}");
    return;
  }
  chk_keys(c, v, keys, where);
  bool factor_set = false;
  for (uint32_t i = 0; i < v->n; i++) {
    const struct ynode *k = v->kids[2 * i], *x = v->kids[2 * i + 1];
    if (key_is(k, "attempts")) {
      if (chk_int(c, x, "attempts", where, 1, 1000000, &i64))
        r->attempts = (int)i64;
    } else if (key_is(k, "delay")) {
      chk_dur(c, x, "delay", where, &r->delay_ms);
    } else if (key_is(k, "backoff")) {
      int b;
      if (chk_enum(c, x, "backoff", where, backoffs, &b))
        r->backoff = (enum wf_backoff)b;
    } else if (key_is(k, "factor")) {
      factor_set = chk_num(c, x, "factor", where, 1, 1e308, &r->factor);
    } else if (key_is(k, "max_delay")) {
      chk_dur(c, x, "max_delay", where, &r->max_delay_ms);
    } else if (key_is(k, "jitter")) {
      chk_bool(c, x, "jitter", where, &r->jitter);
    } else if (key_is(k, "if")) {
      json_decref(r->if_);
      r->if_ = tmpl_cond(c, x, scope, "if", where);
    }
  }
  if (r->backoff == WF_BACKOFF_FIXED && !factor_set)
    r->factor = 1;
}

/* env: {NAME: scalar}; values become string templates. */
json_t *steps_parse_env(struct sctx *c, const struct ynode *v, const char *where,
                        uint32_t scope)
{
  if (v->t == Y_NULL)
    return NULL;
  if (!chk_map(c, v, "env", where))
    return NULL;
  json_t *o = json_object();
  if (!o) {
    c->rc = WEFT_ENOMEM;
    return NULL;
  }
  for (uint32_t i = 0; i < v->n; i++) {
    const struct ynode *k = v->kids[2 * i], *x = v->kids[2 * i + 1];
    if (!chk_is_ident(k->s, k->len)) {
      chk_err(c, k, "environment variable name \"%s\" %s must match [A-Za-z_][A-Za-z0-9_]*",
           k->s, where);
      continue;
    }
    json_t *val = NULL;
    if (x->t == Y_STR)
      val = tmpl_conv(c, x, scope);
    else if (x->t == Y_INT || x->t == Y_FLOAT || x->t == Y_BOOL)
      val = json_string(x->s);
    else {
      char field[160];
      snprintf(field, sizeof field, "env.%s", k->s);
      chk_bad_type(c, x, field, where, "a string, number or boolean");
      continue;
    }
    if (val)
      json_object_set_new(o, k->s, val);
  }
  return o;
}

void steps_parse_defaults(struct sctx *c, const struct ynode *v)
{
  struct sdefaults *d = &c->dflt;
  const char *where = "in defaults";
  if (v->t == Y_NULL || !chk_map(c, v, "defaults", "in the workflow"))
    return;
  chk_keys(c, v, default_keys, where);
  for (uint32_t i = 0; i < v->n; i++) {
    const struct ynode *k = v->kids[2 * i], *x = v->kids[2 * i + 1];
    if (key_is(k, "timeout")) {
      d->has_timeout = chk_dur(c, x, "timeout", where, &d->timeout_ms);
    } else if (key_is(k, "log_limit")) {
      d->has_log_limit = chk_size(c, x, "log_limit", where, &d->log_limit);
    } else if (key_is(k, "retry")) {
      parse_retry(c, x, "defaults", SCOPE_GLOBAL, &d->retry);
      d->has_retry = true;
    } else if (key_is(k, "env")) {
      d->env = steps_parse_env(c, x, where, SCOPE_GLOBAL);
    } else if (key_is(k, "shell")) {
      const char *s;
      if (chk_str(c, x, "shell", where, &s))
        d->shell = chk_dup(c, s);
    } else if (key_is(k, "cwd")) {
      const char *s;
      if (chk_str(c, x, "cwd", where, &s))
        d->cwd = tmpl_conv(c, x, SCOPE_GLOBAL);
    } else if (key_is(k, "continue_on_error")) {
      d->has_coe = chk_bool(c, x, "continue_on_error", where, &d->coe);
    } else if (key_is(k, "if")) {
      d->if_ = tmpl_cond(c, x, SCOPE_GLOBAL, "if", where);
    }
  }
}

static void parse_for_each(struct sctx *c, struct wf_step *s, const struct ynode *x,
                           const char *where)
{
  if (x->t == Y_STR) {
    s->for_each = tmpl_cond(c, x, s->index, "for_each", where);
  } else if (x->t == Y_SEQ) {
    if (x->n > WF_MAX_FOR_EACH)
      chk_limit(c, x, "\"for_each\" %s has %u items, over the limit of %u", where, x->n,
             WF_MAX_FOR_EACH);
    else
      s->for_each = tmpl_conv(c, x, s->index);
  } else if (x->t == Y_INT) {
    int64_t n;
    if (chk_int(c, x, "for_each", where, 0, WF_MAX_FOR_EACH, &n))
      s->for_each = json_integer(n);
  } else {
    chk_bad_type(c, x, "for_each", where, "an expression, a list or an integer");
  }
}

static void parse_repeat(struct sctx *c, struct wf_step *s, const struct ynode *k,
                         const struct ynode *x, const char *owner)
{
  static const char *const keys[] = {"until", "max", "delay", NULL};
  char where[200];
  snprintf(where, sizeof where, "in repeat of %s", owner);
  char in_owner[200];
  snprintf(in_owner, sizeof in_owner, "in %s", owner);
  if (!chk_map(c, x, "repeat", in_owner))
    return;
  chk_keys(c, x, keys, where);
  s->repeat.set = true;
  s->repeat.max = 100;
  s->repeat.delay_ms = 0;
  const struct ynode *until = ymap_get(x, "until");
  if (!until)
    chk_err(c, k, "missing required key \"until\" %s", where);
  else
    s->repeat.until = tmpl_cond(c, until, s->index, "until", where);
  const struct ynode *m = ymap_get(x, "max");
  int64_t i64;
  if (m && chk_int(c, m, "max", where, 1, INT32_MAX, &i64))
    s->repeat.max = (int)i64;
  const struct ynode *dl = ymap_get(x, "delay");
  if (dl)
    chk_dur(c, dl, "delay", where, &s->repeat.delay_ms);
}

static void merge_defaults(struct sctx *c, struct wf_step *s, bool has_timeout,
                           bool has_retry, bool has_coe, json_t *env)
{
  struct sdefaults *d = &c->dflt;
  if (!has_timeout && d->has_timeout)
    s->timeout_ms = d->timeout_ms;
  if (!s->log_limit)
    s->log_limit = d->has_log_limit ? d->log_limit : WF_DEFAULT_LOG_LIMIT;
  if (!has_retry) {
    if (d->has_retry) {
      s->retry = d->retry;
      if (s->retry.if_)
        json_incref(s->retry.if_);
    } else {
      retry_defaults(&s->retry);
    }
  }
  if (!has_coe && d->has_coe)
    s->continue_on_error = d->coe;
  if (!s->if_ && d->if_)
    s->if_ = json_incref(d->if_);
  if (!s->cwd && d->cwd)
    s->cwd = json_incref(d->cwd);
  if (!s->shell && d->shell)
    s->shell = chk_dup(c, d->shell);
  /* env: workflow, then defaults, then the step's own */
  if (!env && !d->env && !c->w->env) {
    s->env = json_incref(c->priv->empty_env);
    return;
  }
  if (!env && !d->env) {
    s->env = json_incref(c->w->env);
    return;
  }
  json_t *m = json_object();
  if (!m) {
    c->rc = WEFT_ENOMEM;
    json_decref(env);
    return;
  }
  if (c->w->env)
    json_object_update(m, c->w->env);
  if (d->env)
    json_object_update(m, d->env);
  if (env)
    json_object_update(m, env);
  json_decref(env);
  s->env = m;
}

/* end: {status: succeeded|failed, message: TEXT} */
static void parse_end(struct sctx *c, struct wf_step *s, uint32_t idx, const struct ynode *v,
                      const char *where)
{
  static const char *const keys[] = {"status", "message", NULL};
  char in_end[200];
  snprintf(in_end, sizeof in_end, "in end of step \"%s\"", s->id);
  if (v->t != Y_MAP) {
    chk_bad_type(c, v, "end", where, "a mapping {status: succeeded|failed, message: TEXT}");
    return;
  }
  chk_keys(c, v, keys, in_end);
  s->end_status = WF_END_SUCCEEDED;
  for (uint32_t i = 0; i < v->n; i++) {
    const struct ynode *k = v->kids[2 * i], *x = v->kids[2 * i + 1];
    const char *str;
    if (key_is(k, "status")) {
      if (!chk_str(c, x, "status", in_end, &str))
        continue;
      if (!strcmp(str, "succeeded"))
        s->end_status = WF_END_SUCCEEDED;
      else if (!strcmp(str, "failed"))
        s->end_status = WF_END_FAILED;
      else
        chk_err(c, x, "end.status of step \"%s\" must be succeeded or failed, not \"%s\"",
                s->id, str);
    } else if (key_is(k, "message")) {
      if (chk_str(c, x, "message", in_end, &str))
        s->end_message = tmpl_conv(c, x, idx);
    }
  }
}

void steps_parse(struct sctx *c, uint32_t idx, const struct ynode *key, const struct ynode *v)
{
  struct wf_step *s = &c->w->steps[idx];
  char where[160];
  snprintf(where, sizeof where, "in step \"%s\"", s->id);
  char owner[160];
  snprintf(owner, sizeof owner, "step \"%s\"", s->id);
  bool has_timeout = false, has_retry = false, has_coe = false;
  json_t *env = NULL;
  const struct ynode *kind_key = NULL, *kind_val = NULL, *end_key = NULL;

  if (v->t != Y_NULL && v->t != Y_MAP) {
    chk_err(c, v, "step \"%s\" must be a mapping, not %s", s->id, ytype_name(v));
    goto defaults;
  }
  if (v->t == Y_MAP)
    chk_keys(c, v, step_keys, where);
  for (uint32_t i = 0; v->t == Y_MAP && i < v->n; i++) {
    const struct ynode *k = v->kids[2 * i], *x = v->kids[2 * i + 1];
    int64_t i64;
    if (key_is(k, "needs")) {
      c->ss[idx].needs = x;
    } else if (key_is(k, "if")) {
      s->if_ = tmpl_cond(c, x, idx, "if", where);
    } else if (key_is(k, "timeout")) {
      has_timeout = chk_dur(c, x, "timeout", where, &s->timeout_ms);
    } else if (key_is(k, "log_limit")) {
      if (!chk_size(c, x, "log_limit", where, &s->log_limit))
        s->log_limit = 0;
    } else if (key_is(k, "retry")) {
      parse_retry(c, x, owner, idx, &s->retry);
      has_retry = true;
    } else if (key_is(k, "continue_on_error")) {
      has_coe = chk_bool(c, x, "continue_on_error", where, &s->continue_on_error);
    } else if (key_is(k, "for_each")) {
      parse_for_each(c, s, x, where);
    } else if (key_is(k, "max_parallel")) {
      if (chk_int(c, x, "max_parallel", where, 1, INT32_MAX, &i64))
        s->max_parallel = (int)i64;
    } else if (key_is(k, "repeat")) {
      parse_repeat(c, s, k, x, owner);
    } else if (key_is(k, "env")) {
      env = steps_parse_env(c, x, where, idx);
    } else if (key_is(k, "cwd")) {
      const char *str;
      if (chk_str(c, x, "cwd", where, &str))
        s->cwd = tmpl_conv(c, x, idx);
    } else if (key_is(k, "shell")) {
      const char *str;
      if (chk_str(c, x, "shell", where, &str))
        s->shell = chk_dup(c, str);
    } else if (key_is(k, "end")) {
      end_key = k;
      parse_end(c, s, idx, x, where);
    } else if (key_is(k, "cancel")) {
      c->ss[idx].cancel = x; /* ctl.c, once every id is known */
    } else if (key_is(k, "mutex")) {
      ctl_parse_mutex(c, s, x, where);
    } else if (key_is(k, "description")) {
      const char *str;
      if (chk_str(c, x, "description", where, &str))
        s->description = chk_dup(c, str);
    } else {
      for (size_t j = 0; kind_keys[j]; j++) {
        if (!key_is(k, kind_keys[j]))
          continue;
        if (kind_key) {
          chk_err(c, k,
               "step \"%s\" has both \"%s\" and \"%s\"; a step takes exactly one of run, "
               "command, set, http, agent, approval, wait, workflow",
               s->id, kind_key->s, k->s);
        } else {
          kind_key = k;
          kind_val = x;
        }
      }
    }
  }
  if (kind_key)
    kinds_parse(c, s, kind_key, kind_val, where);
  if (end_key && kind_key)
    chk_err(c, end_key,
            "step \"%s\" has both \"end\" and \"%s\"; an end step takes no kind key "
            "(put the work in a step it needs)",
            s->id, kind_key->s);
  else if (end_key && s->is_finally)
    chk_err(c, end_key, "finally step \"%s\" cannot take \"end\" (the run is ending already)",
            s->id);
  else if (end_key && (s->for_each || s->repeat.set))
    chk_err(c, end_key, "step \"%s\" cannot take both \"end\" and \"%s\"", s->id,
            s->for_each ? "for_each" : "repeat");

defaults:
  merge_defaults(c, s, has_timeout, has_retry, has_coe, env);
  (void)key;
}
