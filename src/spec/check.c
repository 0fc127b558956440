/* check.c — reporting problems and reading typed fields from ynodes.
 *
 * Every helper reports what is wrong with the field (where it is, what was
 * expected, what was found) and returns false; callers carry on so that one
 * load reports all problems. Messages follow one pattern:
 *   "<field>" <where> must be <expected>, not <what it is>
 * and unknown keys / enum values get a "did you mean" hint when a known word
 * is within edit distance 2 (computed only on error paths). */
#include "spec/spec_int.h"
#include "sched/cron.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/size.h"
#include "util/wtime.h"

void chk_err_at(struct sctx *c, int line, int col, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  diag_vadd(&c->diags, c->file, line, col, fmt, ap);
  va_end(ap);
}

void chk_err(struct sctx *c, const struct ynode *at, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  diag_vadd(&c->diags, c->file, at ? at->line : 0, at ? at->col : 0, fmt, ap);
  va_end(ap);
}

void chk_limit(struct sctx *c, const struct ynode *at, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  diag_vadd(&c->diags, c->file, at ? at->line : 0, at ? at->col : 0, fmt, ap);
  va_end(ap);
  if (!c->rc)
    c->rc = WEFT_ELIMIT;
}

/* Levenshtein distance, giving up (returning 3) past 2. */
static int edit2(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  if (la > lb + 2 || lb > la + 2 || la > 64 || lb > 64)
    return 3;
  int prev[66], cur[66];
  for (size_t j = 0; j <= lb; j++)
    prev[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    cur[0] = (int)i;
    int best = cur[0];
    for (size_t j = 1; j <= lb; j++) {
      int d = prev[j - 1] + (a[i - 1] != b[j - 1]);
      if (prev[j] + 1 < d)
        d = prev[j] + 1;
      if (cur[j - 1] + 1 < d)
        d = cur[j - 1] + 1;
      cur[j] = d;
      if (d < best)
        best = d;
    }
    if (best > 2)
      return 3;
    memcpy(prev, cur, sizeof(int) * (lb + 1));
  }
  return prev[lb];
}

const char *chk_did_you_mean(const char *s, const char *const *words, size_t n)
{
  const char *best = NULL;
  int bd = 3;
  for (size_t i = 0; i < n; i++) {
    int d = edit2(s, words[i]);
    if (d < bd) {
      bd = d;
      best = words[i];
    }
  }
  return best;
}

void chk_keys(struct sctx *c, const struct ynode *m, const char *const *known,
                const char *where)
{
  chk_keys_x(c, m, known, where, false);
}

void chk_keys_x(struct sctx *c, const struct ynode *m, const char *const *known,
                  const char *where, bool allow_x)
{
  size_t nk = 0;
  while (known[nk])
    nk++;
  for (uint32_t i = 0; i < m->n; i++) {
    const struct ynode *k = m->kids[2 * i];
    bool ok = false;
    for (size_t j = 0; j < nk && !ok; j++)
      ok = strlen(known[j]) == k->len && memcmp(known[j], k->s, k->len) == 0;
    if (ok || (allow_x && k->len > 2 && k->s[0] == 'x' && k->s[1] == '-'))
      continue;
    const char *hint = chk_did_you_mean(k->s, known, nk);
    if (hint)
      chk_err(c, k, "unknown key \"%s\" %s (did you mean \"%s\"?)", k->s, where, hint);
    else
      chk_err(c, k, "unknown key \"%s\" %s", k->s, where);
  }
}

static const char *what(const struct ynode *v)
{
  return ytype_name(v);
}

void chk_bad_type(struct sctx *c, const struct ynode *v, const char *field, const char *where,
              const char *expected)
{
  chk_err(c, v, "\"%s\" %s must be %s, not %s", field, where, expected, what(v));
}

bool chk_is_id(const char *s, size_t len)
{
  if (len == 0 || len > 64)
    return false;
  for (size_t i = 0; i < len; i++) {
    char ch = s[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              (i > 0 && (ch == '_' || ch == '-'));
    if (!ok)
      return false;
  }
  return true;
}

bool chk_is_ident(const char *s, size_t len)
{
  if (len == 0 || len > 128)
    return false;
  for (size_t i = 0; i < len; i++) {
    char ch = s[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
              (i > 0 && ch >= '0' && ch <= '9');
    if (!ok)
      return false;
  }
  return true;
}

char *chk_dup(struct sctx *c, const char *s)
{
  char *p = strdup(s ? s : "");
  if (!p && !c->rc)
    c->rc = WEFT_ENOMEM;
  return p;
}

bool chk_str(struct sctx *c, const struct ynode *v, const char *field, const char *where,
             const char **out)
{
  if (v->t != Y_STR) {
    chk_bad_type(c, v, field, where, "a string");
    return false;
  }
  *out = v->s;
  return true;
}

bool chk_bool(struct sctx *c, const struct ynode *v, const char *field, const char *where,
              bool *out)
{
  if (v->t != Y_BOOL) {
    static const char *const yaml11[] = {"yes", "no", "on", "off", "y", "n", NULL};
    bool old_bool = false;
    for (size_t i = 0; v->t == Y_STR && yaml11[i] && !old_bool; i++)
      old_bool = strcasecmp(v->s, yaml11[i]) == 0;
    if (old_bool) /* YAML 1.1 habits */
      chk_err(c, v, "\"%s\" %s must be true or false, not \"%s\" (YAML 1.2 reads it as a "
           "string)", field, where, v->s);
    else
      chk_bad_type(c, v, field, where, "true or false");
    return false;
  }
  *out = v->b;
  return true;
}

bool chk_int(struct sctx *c, const struct ynode *v, const char *field, const char *where,
             int64_t min, int64_t max, int64_t *out)
{
  if (v->t != Y_INT) {
    chk_bad_type(c, v, field, where, "an integer");
    return false;
  }
  if (v->i < min || v->i > max) {
    if (max == INT64_MAX || max == INT32_MAX)
      chk_err(c, v, "\"%s\" %s must be >= %lld, not %lld", field, where, (long long)min,
           (long long)v->i);
    else
      chk_err(c, v, "\"%s\" %s must be between %lld and %lld, not %lld", field, where,
           (long long)min, (long long)max, (long long)v->i);
    return false;
  }
  *out = v->i;
  return true;
}

bool chk_num(struct sctx *c, const struct ynode *v, const char *field, const char *where,
             double min, double max, double *out)
{
  if (v->t != Y_INT && v->t != Y_FLOAT) {
    chk_bad_type(c, v, field, where, "a number");
    return false;
  }
  double d = ynum(v);
  if (!(d >= min && d <= max)) {
    if (max > 1e300)
      chk_err(c, v, "\"%s\" %s must be >= %g, not %s", field, where, min, v->s);
    else
      chk_err(c, v, "\"%s\" %s must be between %g and %g, not %s", field, where, min, max, v->s);
    return false;
  }
  *out = d;
  return true;
}

/* A byte size (util/size.h): a string such as "100MiB", at least 1 KiB (the
 * truncation marker has to fit). */
bool chk_size(struct sctx *c, const struct ynode *v, const char *field, const char *where,
              int64_t *out)
{
  if (v->t == Y_INT) {
    chk_err(c, v, "\"%s\" %s: a size needs a unit, e.g. 10MiB", field, where);
    return false;
  }
  if (v->t != Y_STR) {
    chk_bad_type(c, v, field, where, "a size such as 10MiB");
    return false;
  }
  int rc = wt_parse_size(v->s, out);
  if (rc == WEFT_ELIMIT) {
    chk_err(c, v, "\"%s\" %s: size \"%s\" is too large (at most 1PiB)", field, where, v->s);
    return false;
  }
  if (rc) {
    chk_err(c, v, "\"%s\" %s: invalid size \"%s\" (a whole number and a unit: B, KiB, MiB, "
            "GiB, TiB, or KB, MB, GB, TB; e.g. 10MiB)", field, where, v->s);
    return false;
  }
  if (*out < 1024) {
    chk_err(c, v, "\"%s\" %s: size \"%s\" is below the minimum of 1KiB", field, where, v->s);
    return false;
  }
  return true;
}

bool chk_dur(struct sctx *c, const struct ynode *v, const char *field, const char *where,
             int64_t *out)
{
  if (v->t == Y_INT || v->t == Y_FLOAT) {
    chk_err(c, v, "\"%s\" %s: duration needs a unit, e.g. 30s", field, where);
    return false;
  }
  if (v->t != Y_STR) {
    chk_bad_type(c, v, field, where, "a duration such as 30s");
    return false;
  }
  int rc = wt_parse_duration(v->s, out);
  if (rc == WEFT_ELIMIT) {
    chk_err(c, v, "\"%s\" %s: duration \"%s\" is too long", field, where, v->s);
    return false;
  }
  if (rc) {
    bool digits = v->len > 0;
    for (size_t i = 0; i < v->len; i++)
      digits = digits && v->s[i] >= '0' && v->s[i] <= '9';
    if (digits)
      chk_err(c, v, "\"%s\" %s: duration needs a unit, e.g. 30s", field, where);
    else
      chk_err(c, v, "\"%s\" %s: invalid duration \"%s\" (use ms, s, m, h, d, e.g. 1h30m)",
           field, where, v->s);
    return false;
  }
  return true;
}

static void join_words(const char *const *words, char *buf, size_t sz)
{
  size_t o = 0;
  buf[0] = 0;
  for (size_t i = 0; words[i] && o < sz; i++)
    o += (size_t)snprintf(buf + o, sz - o, "%s%s", i ? ", " : "", words[i]);
}

bool chk_enum(struct sctx *c, const struct ynode *v, const char *field, const char *where,
              const char *const *words, int *out)
{
  char list[256];
  join_words(words, list, sizeof list);
  if (v->t != Y_STR) {
    char exp[300];
    snprintf(exp, sizeof exp, "one of %s", list);
    chk_bad_type(c, v, field, where, exp);
    return false;
  }
  size_t n = 0;
  for (; words[n]; n++)
    if (strcmp(words[n], v->s) == 0) {
      *out = (int)n;
      return true;
    }
  const char *hint = NULL;
  for (size_t i = 0; i < n && !hint; i++)
    if (strcasecmp(words[i], v->s) == 0)
      hint = words[i];
  if (!hint)
    hint = chk_did_you_mean(v->s, words, n);
  if (hint)
    chk_err(c, v, "\"%s\" %s must be one of %s, not \"%s\" (did you mean \"%s\"?)", field, where,
         list, v->s, hint);
  else
    chk_err(c, v, "\"%s\" %s must be one of %s, not \"%s\"", field, where, list, v->s);
  return false;
}

bool chk_map(struct sctx *c, const struct ynode *v, const char *field, const char *where)
{
  if (v->t != Y_MAP) {
    chk_bad_type(c, v, field, where, "a mapping");
    return false;
  }
  return true;
}

bool chk_type(struct sctx *c, const struct ynode *v, const char *field, const char *where,
              enum wf_type *out)
{
  static const char *const types[] = {"string", "number", "integer", "boolean",
                                      "object", "array",  NULL};
  int k;
  if (!chk_enum(c, v, field, where, types, &k))
    return false;
  *out = (enum wf_type)k;
  return true;
}

/* ---- cron ---- */

/* The whole schedule syntax and the "can it ever fire" check live in
 * sched/cron.c, which the server's scheduler uses too: one parser. */
bool chk_cron(const char *s, char *why, size_t whysz)
{
  struct cron cr;
  return cron_parse(s, &cr, why, whysz) == 0;
}
