/* eval.c — running one expression: expr_eval() and expr_truthy().
 *
 * Plain expressions are walked on the jansson context (plain.c). The others
 * run in the prog's one jq_state: jq_start with [id, ctx, [success, failure,
 * cancelled]], then jq_next until it gives jv_invalid. Exactly one value is
 * required; an error (jv_invalid with a message, or a halt), no value or a
 * second value become WEFT_EEXPR with a message that quotes the expression
 * (cut to ~120 bytes). Messages that jq sends to the error callback while
 * running are collected in p->msgs and used when jq returns no message. */
#include "expr/internal.h"
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_err(char **err, const struct expr_item *it, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char **err, const struct expr_item *it, const char *fmt, ...)
{
  if (!err)
    return;
  struct buf b;
  buf_init(&b, 64 * 1024);
  char *snip = it ? prog_snippet(it->text, it->len) : NULL;
  if (it)
    (void)buf_printf(&b, "expression `%s` ", snip ? snip : "?");
  free(snip);
  char tmp[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  (void)buf_puts(&b, tmp);
  free(*err);
  *err = buf_take(&b);
}

/* The text of an error value: strings as they are, others as JSON. */
static void msg_text(jv msg, char *out, size_t n)
{
  if (jv_get_kind(msg) == JV_KIND_STRING) {
    snprintf(out, n, "%s", jv_string_value(msg));
  } else {
    jv d = jv_dump_string(jv_copy(msg), 0);
    snprintf(out, n, "%s (not a string)", jv_string_value(d));
    jv_free(d);
  }
  jv_free(msg);
}

static int eval_jq(struct expr_prog *p, int id, const json_t *ctx, const struct expr_env *env,
                   json_t **out, char **err)
{
  static const struct expr_env defaults = {.success = true, .none_failed = true};
  const struct expr_item *it = &p->items[id];
  char m[2048];
  jv cj;
  int rc = conv_to_jv(ctx, &cj);
  if (rc) {
    set_err(err, it, "failed: the context is nested too deeply");
    return rc;
  }
  if (!env)
    env = &defaults;
  jv helpers = jv_array();
  helpers = jv_array_append(helpers, jv_bool(env->success));
  helpers = jv_array_append(helpers, jv_bool(env->failure));
  helpers = jv_array_append(helpers, jv_bool(env->cancelled));
  helpers = jv_array_append(helpers, jv_bool(env->none_failed));
  jv in = jv_array();
  in = jv_array_append(in, jv_number(id));
  in = jv_array_append(in, cj);
  in = jv_array_append(in, helpers);

  jq_state *jq = p->jq[it->shard];
  buf_reset(&p->msgs);
  jq_start(jq, in, 0);
  jv r = jq_next(jq);
  if (!jv_is_valid(r)) {
    rc = WEFT_EEXPR;
    if (jv_invalid_has_msg(jv_copy(r))) {
      msg_text(jv_invalid_get_msg(r), m, sizeof m);
      set_err(err, it, "failed: %s", m);
      return rc;
    }
    jv_free(r);
    if (jq_halted(jq)) {
      jv em = jq_get_error_message(jq);
      jv_kind k = jv_get_kind(em);
      if (k == JV_KIND_INVALID || k == JV_KIND_NULL) {
        jv_free(em);
        set_err(err, it, "failed: halted");
      } else {
        msg_text(em, m, sizeof m);
        set_err(err, it, "failed: halted: %s", m);
      }
    } else if (p->msgs.len) {
      char *c = compile_clean_msg(p->msgs.p);
      set_err(err, it, "failed: %s", c ? c : "error");
      free(c);
    } else {
      set_err(err, it, "yielded no value");
    }
    return rc;
  }
  jv r2 = jq_next(jq);
  if (jv_is_valid(r2)) {
    jv_free(r2);
    jv_free(r);
    set_err(err, it, "yielded more than one value");
    return WEFT_EEXPR;
  }
  if (jv_invalid_has_msg(jv_copy(r2))) {
    jv_free(r);
    msg_text(jv_invalid_get_msg(r2), m, sizeof m);
    set_err(err, it, "failed: %s", m);
    return WEFT_EEXPR;
  }
  jv_free(r2);
  rc = conv_from_jv(r, out);
  if (rc == WEFT_ELIMIT)
    set_err(err, it, "failed: its result is nested too deeply");
  else if (rc)
    set_err(err, it, "failed: %s", rc == WEFT_ENOMEM ? "out of memory" : "invalid result");
  return rc;
}

int expr_eval(struct expr_prog *p, int id, const json_t *ctx, const struct expr_env *env,
              json_t **out, char **err)
{
  *out = NULL;
  if (err)
    *err = NULL;
  if (id < 0 || (size_t)id >= p->n) {
    set_err(err, NULL, "no expression with id %d", id);
    return WEFT_EINVAL;
  }
  const struct expr_item *it = &p->items[id];
  if (it->kind != PLAIN_NONE) {
    char m[160];
    int rc = plain_eval(it->kind, it->seg, it->nseg, ctx, env, out, m, sizeof m);
    if (rc)
      set_err(err, it, "failed: %s", m);
    return rc;
  }
  if (it->mini) { /* the jq subset of mini.c: jq's results without jq */
    char m[2048];
    int rc = mini_eval(it->mini, ctx, env, out, m, sizeof m);
    if (rc)
      set_err(err, it, "failed: %s", m);
    return rc;
  }
  if (!p->compiled || it->shard < 0) {
    set_err(err, it, "is not compiled (call expr_prog_compile first)");
    return WEFT_ESTATE;
  }
  return eval_jq(p, id, ctx, env, out, err);
}

bool expr_truthy(const json_t *v) { return v && !json_is_null(v) && !json_is_false(v); }
