/* load.c — wf_load_file / wf_load_string: the top level of a workflow file.
 *
 * The pipeline: read (64 MiB cap) -> ytree_parse (YAML, aliases and depth
 * budgeted) -> top-level fields, inputs, triggers, outputs (here) -> each
 * step (steps.c, kinds.c) -> graph_build (needs, cycles, order, reach) ->
 * one expr_prog_compile -> refcheck (unknown .inputs.X, .steps.X.FIELD) ->
 * problems sorted by position, duplicates dropped.
 * Nothing stops at the first problem; the workflow is handed out only when
 * there is none. Also here: wf_free and the small lookups of model.h. */
#include "spec/spec_int.h"
#include "sched/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "expr/expr.h"
#include "util/err.h"
#include "util/utf8.h"
#include "util/sha256.h"

static const char *const top_keys[] = {
    "name",   "description", "inputs",   "env",      "defaults", "timeout", "max_parallel",
    "concurrency", "fail_fast", "triggers", "steps", "finally",  "outputs", "notify", NULL};

const char *wf_kind_name(enum wf_kind k)
{
  static const char *const names[] = {"noop",  "run",      "command", "set",     "http",
                                      "agent", "approval", "wait",    "workflow", "first_of"};
  return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}

const char *wf_type_name(enum wf_type t)
{
  static const char *const names[] = {"string", "number", "integer",
                                      "boolean", "object", "array"};
  return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}

bool wf_type_check(enum wf_type t, const json_t *v)
{
  if (!v)
    return false;
  switch (t) {
  case WF_T_STRING: return json_is_string(v);
  case WF_T_NUMBER: return json_is_number(v);
  case WF_T_INTEGER: {
    if (json_is_integer(v))
      return true;
    if (!json_is_real(v))
      return false;
    double d = json_real_value(v);
    return d == (double)(int64_t)d && d >= -9.2e18 && d <= 9.2e18;
  }
  case WF_T_BOOLEAN: return json_is_boolean(v);
  case WF_T_OBJECT: return json_is_object(v);
  case WF_T_ARRAY: return json_is_array(v);
  }
  return false;
}

uint32_t wf_step_find(const struct wf *w, const char *id)
{
  if (!w || !id || !w->index)
    return WF_NONE;
  const struct spec_priv *p = w->index;
  return strmap_get(&p->ids, id, strlen(id));
}

/* ---- top-level fields ------------------------------------------------------ */

static bool has_expr_deep(const struct ynode *v)
{
  if (v->t == Y_STR)
    return expr_has(v->s, v->len);
  uint32_t n = v->t == Y_MAP ? 2 * v->n : v->t == Y_SEQ ? v->n : 0;
  for (uint32_t i = 0; i < n; i++)
    if (has_expr_deep(v->kids[i]))
      return true;
  return false;
}

static void parse_inputs(struct sctx *c, const struct ynode *v)
{
  static const char *const keys[] = {"type", "default", "required", "description", NULL};
  struct wf *w = c->w;
  if (v->t == Y_NULL || !chk_map(c, v, "inputs", "in the workflow"))
    return;
  w->inputs = calloc(v->n ? v->n : 1, sizeof *w->inputs);
  if (!w->inputs) {
    c->rc = WEFT_ENOMEM;
    return;
  }
  for (uint32_t i = 0; i < v->n; i++) {
    const struct ynode *k = v->kids[2 * i], *d = v->kids[2 * i + 1], *x;
    struct wf_input *in = &w->inputs[w->n_inputs++];
    in->name = chk_dup(c, k->s);
    in->type = WF_T_STRING;
    in->pos.line = k->line;
    in->pos.col = k->col;
    if (!chk_is_ident(k->s, k->len))
      chk_err(c, k, "input name \"%s\" must match [A-Za-z_][A-Za-z0-9_]*", k->s);
    if (d->t == Y_NULL)
      continue;
    char where[200];
    snprintf(where, sizeof where, "in input \"%s\"", k->s);
    if (!chk_map(c, d, k->s, "in inputs"))
      continue;
    chk_keys(c, d, keys, where);
    const char *s;
    bool type_ok = true;
    if ((x = ymap_get(d, "type")))
      type_ok = chk_type(c, x, "type", where, &in->type);
    if ((x = ymap_get(d, "required")))
      chk_bool(c, x, "required", where, &in->required);
    if ((x = ymap_get(d, "description")) && chk_str(c, x, "description", where, &s))
      in->description = chk_dup(c, s);
    if ((x = ymap_get(d, "default"))) {
      if (has_expr_deep(x)) {
        chk_err(c, x, "\"default\" %s cannot contain expressions (inputs are known before the "
                   "run starts)", where);
        continue;
      }
      in->def = ynode_to_json(x);
      if (in->def && type_ok && !wf_type_check(in->type, in->def)) {
        chk_err(c, x, "\"default\" %s must be of type %s, not %s", where,
             wf_type_name(in->type), ytype_name(x));
      }
    }
  }
}

/* timezone, catch_up, overlap: a schedule's options (SERVER.md §3) */
static void parse_schedule_options(struct sctx *c, const struct ynode *t, const char *kind, const char *where)
{
  static const char *const catch_up[] = {"none", "latest", "all", NULL};
  static const char *const overlap[] = {"skip", "queue", "cancel_previous", "allow", NULL};
  static const struct {
    const char *key;
    const char *const *values;
  } opts[] = {{"catch_up", catch_up}, {"overlap", overlap}};
  bool schedule = strcmp(kind, "schedule") == 0;
  const struct ynode *x;
  const char *s;
  if ((x = ymap_get(t, "timezone")) && chk_str(c, x, "timezone", where, &s)) {
    if (!schedule) {
      chk_err(c, x, "\"timezone\" %s only applies to a schedule", where);
    } else {
      struct tz *z = NULL;
      char why[256];
      if (tz_load(s, &z, why, sizeof why))
        chk_err(c, x, "\"timezone\" %s: %s", where, why);
      tz_free(z);
    }
  }
  for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
    if (!(x = ymap_get(t, opts[i].key)) || !chk_str(c, x, opts[i].key, where, &s))
      continue;
    if (!schedule) {
      chk_err(c, x, "\"%s\" %s only applies to a schedule", opts[i].key, where);
      continue;
    }
    size_t k = 0;
    while (opts[i].values[k] && strcmp(opts[i].values[k], s))
      k++;
    if (!opts[i].values[k])
      chk_err(c, x, "\"%s\" %s is \"%s\"; use %s", opts[i].key, where, s,
              i == 0 ? "none, latest or all" : "skip, queue, cancel_previous or allow");
  }
}

static void parse_triggers(struct sctx *c, const struct ynode *v)
{
  static const char *const keys[] = {"schedule", "timezone", "catch_up", "overlap", "event",
                                     "webhook",  "match",    "if",       "secret",  "inputs", NULL};
  static const char *const kinds[] = {"schedule", "event", "webhook", NULL};
  if (v->t == Y_NULL)
    return;
  if (v->t != Y_SEQ) {
    chk_bad_type(c, v, "triggers", "in the workflow", "a list such as [{schedule: \"0 3 * * *\"}]");
    return;
  }
  json_t *arr = json_array();
  for (uint32_t i = 0; arr && i < v->n; i++) {
    const struct ynode *t = v->kids[i], *x;
    char where[64];
    snprintf(where, sizeof where, "in trigger %u", i + 1);
    if (!chk_map(c, t, "triggers", "in the workflow"))
      continue;
    chk_keys(c, t, keys, where);
    const struct ynode *kind = NULL;
    for (uint32_t j = 0; j < t->n; j++)
      for (size_t k = 0; kinds[k]; k++)
        if (strcmp(t->kids[2 * j]->s, kinds[k]) == 0) {
          if (kind)
            chk_err(c, t->kids[2 * j],
                 "trigger %u has both \"%s\" and \"%s\"; a trigger takes exactly one of "
                 "schedule, event, webhook", i + 1, kind->s, t->kids[2 * j]->s);
          else
            kind = t->kids[2 * j];
        }
    if (!kind) {
      chk_err(c, t, "trigger %u needs one of schedule, event, webhook", i + 1);
      continue;
    }
    const char *s;
    if ((x = ymap_get(t, "schedule")) && chk_str(c, x, "schedule", where, &s)) {
      char why[256];
      if (!chk_cron(s, why, sizeof why))
        chk_err(c, x, "\"schedule\" %s: %s", where, why);
    }
    parse_schedule_options(c, t, kind->s, where);
    if ((x = ymap_get(t, "event")) && chk_str(c, x, "event", where, &s) && x->len == 0)
      chk_err(c, x, "\"event\" %s is empty", where);
    if ((x = ymap_get(t, "webhook")) && chk_str(c, x, "webhook", where, &s) &&
        !chk_is_id(x->s, x->len))
      chk_err(c, x, "\"webhook\" %s must match [a-z0-9][a-z0-9_-]{0,63}, not \"%s\"", where, s);
    if ((x = ymap_get(t, "secret")) && chk_str(c, x, "secret", where, &s) &&
        strcmp(kind->s, "webhook") != 0)
      chk_err(c, x, "\"secret\" %s only applies to a webhook", where);
    json_t *match = NULL;
    if ((x = ymap_get(t, "if"))) {
      if (strcmp(kind->s, "schedule") == 0)
        chk_err(c, x, "\"if\" %s applies to a webhook or an event, not a schedule", where);
      json_decref(tmpl_cond(c, x, SCOPE_GLOBAL, "if", where));
    }
    if ((x = ymap_get(t, "match"))) {
      if (strcmp(kind->s, "event") != 0)
        chk_err(c, x, "\"match\" %s only applies to an event", where);
      match = tmpl_cond(c, x, SCOPE_GLOBAL, "match", where);
    }
    if ((x = ymap_get(t, "inputs")) && x->t != Y_NULL)
      chk_map(c, x, "inputs", where);
    json_t *o = tmpl_conv(c, t, SCOPE_GLOBAL);
    if (o && match)
      json_object_set(o, "match", match);
    json_decref(match);
    if (o)
      json_array_append_new(arr, o);
  }
  c->w->triggers = arr;
}

static void parse_outputs(struct sctx *c, const struct ynode *v)
{
  if (v->t == Y_NULL || !chk_map(c, v, "outputs", "in the workflow"))
    return;
  for (uint32_t i = 0; i < v->n; i++)
    if (!chk_is_ident(v->kids[2 * i]->s, v->kids[2 * i]->len))
      chk_err(c, v->kids[2 * i], "output name \"%s\" must match [A-Za-z_][A-Za-z0-9_]*",
           v->kids[2 * i]->s);
  c->w->outputs = tmpl_conv(c, v, SCOPE_OUTPUTS);
}

/* Registers the step ids of one section; returns false on a fatal problem. */
static void declare_steps(struct sctx *c, const struct ynode *sec, uint32_t base, bool fin)
{
  for (uint32_t i = 0; i < sec->n; i++) {
    const struct ynode *k = sec->kids[2 * i];
    struct ssrc *s = &c->ss[base + i]; /* into w->steps when converted (adopt) */
    s->is_finally = fin;
    s->id = chk_dup(c, k->s);
    s->pos.line = k->line;
    s->pos.col = k->col;
    s->key = k;
    if (!s->id)
      return;
    if (!chk_is_id(k->s, k->len)) {
      chk_err(c, k, "step id \"%s\" must match [a-z0-9][a-z0-9_-]{0,63}", k->s);
    }
    if (strmap_get(&c->priv->ids, s->id, k->len) != UINT32_MAX) {
      chk_err(c, k, "step id \"%s\" is used twice (in steps and in finally)", s->id);
      continue;
    }
    if (strmap_put(&c->priv->ids, s->id, k->len, base + i))
      c->rc = WEFT_ENOMEM;
  }
}

/* The declaration of steps [0..upto) into their wf_steps (the id's owner
 * from then on). */
static void adopt(struct sctx *c, uint32_t upto)
{
  for (; c->n_adopted < upto; c->n_adopted++) {
    uint32_t i = c->n_adopted;
    struct wf_step *s = &c->w->steps[i];
    s->index = i;
    s->is_finally = c->ss[i].is_finally;
    s->id = c->ss[i].id;
    s->pos = c->ss[i].pos;
  }
}

static void parse_steps(struct sctx *c, const struct ynode *root)
{
  struct wf *w = c->w;
  const struct ynode *steps = ymap_get(root, "steps");
  const struct ynode *fin = ymap_get(root, "finally");
  if (!steps) {
    chk_err(c, root, "missing required key \"steps\"");
    steps = NULL;
  } else if (steps->t != Y_MAP) {
    chk_bad_type(c, steps, "steps", "in the workflow", "a mapping of step id to step");
    steps = NULL;
  } else if (steps->n == 0) {
    chk_err(c, steps, "\"steps\" is empty; a workflow needs at least one step");
  }
  if (fin && fin->t != Y_MAP) {
    if (fin->t != Y_NULL)
      chk_bad_type(c, fin, "finally", "in the workflow", "a mapping of step id to step");
    fin = NULL;
  }
  uint64_t n_main = steps ? steps->n : 0, n_fin = fin ? fin->n : 0;
  if (n_main + n_fin > WF_MAX_STEPS) {
    chk_limit(c, steps, "the workflow has %llu steps, over the limit of %u",
           (unsigned long long)(n_main + n_fin), WF_MAX_STEPS);
    return;
  }
  w->n_main = (uint32_t)n_main;
  w->n_steps = (uint32_t)(n_main + n_fin);
  w->steps = calloc(w->n_steps ? w->n_steps : 1, sizeof *w->steps);
  c->ss = calloc(w->n_steps ? w->n_steps : 1, sizeof *c->ss);
  if (!w->steps || !c->ss) {
    c->rc = WEFT_ENOMEM;
    w->n_steps = 0;
    return;
  }
  if (steps)
    declare_steps(c, steps, 0, false);
  if (fin)
    declare_steps(c, fin, w->n_main, true);
  if (c->rc) {
    adopt(c, w->n_steps);
    return;
  }
  /* Step by step: its declaration into its wf_step, its fields, its needs
   * (every step's needs are counted first: one edge array); the YAML of
   * the main steps done so far is dropped as the next ones come. A
   * 1,000,000-step file: the tree is ~700 bytes a step and the wf_steps
   * 320, and the peak holds about one of the two, not both. */
  bool keep_tree = false; /* `cancel:` lists are read after the graph (ctl.c) */
  for (uint32_t i = 0; i < w->n_steps; i++) {
    const struct ynode *sec = i < w->n_main ? steps : fin;
    uint32_t j = i < w->n_main ? i : i - w->n_main;
    c->ss[i].needs = ymap_get(sec->kids[2 * j + 1], "needs");
    if (ymap_get(sec->kids[2 * j + 1], "cancel"))
      keep_tree = true;
  }
  graph_resolve_begin(c);
  for (uint32_t i = 0; i < w->n_steps; i++) {
    const struct ynode *sec = i < w->n_main ? steps : fin;
    uint32_t j = i < w->n_main ? i : i - w->n_main;
    adopt(c, i + 1);
    steps_parse(c, i, sec->kids[2 * j], sec->kids[2 * j + 1]);
    graph_resolve_step(c, i);
    c->ss[i].needs = NULL;
    c->ss[i].key = NULL;
    if (i + 1 < w->n_main && c->tree && !keep_tree && (i + 1) % 256 == 0)
      ytree_release(c->tree, steps->kids[0], steps->kids[2 * (i + 1)]);
  }
  graph_build(c);
  ctl_resolve(c);
}

static void parse_top(struct sctx *c, const struct ynode *root)
{
  struct wf *w = c->w;
  const char *where = "in the workflow";
  const struct ynode *x;
  const char *s;
  int64_t i64;
  chk_keys_x(c, root, top_keys, "at the top level", true);
  if (!(x = ymap_get(root, "name"))) {
    chk_err(c, root, "missing required key \"name\"");
  } else if ((x->t == Y_INT && x->i >= 0 && (s = x->s)) || /* name: 2024 */
             chk_str(c, x, "name", where, &s)) {
    if (!chk_is_id(x->s, x->len))
      chk_err(c, x, "name \"%s\" must match [a-z0-9][a-z0-9_-]{0,63}", s);
    w->name = chk_dup(c, s);
  }
  if ((x = ymap_get(root, "description")) && chk_str(c, x, "description", where, &s))
    w->description = chk_dup(c, s);
  if ((x = ymap_get(root, "inputs")))
    parse_inputs(c, x);
  if ((x = ymap_get(root, "env")))
    w->env = steps_parse_env(c, x, where, SCOPE_GLOBAL);
  if ((x = ymap_get(root, "defaults")))
    steps_parse_defaults(c, x);
  if ((x = ymap_get(root, "timeout")))
    chk_dur(c, x, "timeout", where, &w->timeout_ms);
  if ((x = ymap_get(root, "max_parallel")) && chk_int(c, x, "max_parallel", where, 1,
                                                       INT32_MAX, &i64))
    w->max_parallel = (int)i64;
  if ((x = ymap_get(root, "concurrency")))
    policy_parse_concurrency(c, x);
  if ((x = ymap_get(root, "notify")))
    policy_parse_notify(c, x);
  if ((x = ymap_get(root, "fail_fast")))
    chk_bool(c, x, "fail_fast", where, &w->fail_fast);
  if ((x = ymap_get(root, "triggers")))
    parse_triggers(c, x);
  if ((x = ymap_get(root, "outputs")))
    parse_outputs(c, x);
  parse_steps(c, root);
}

/* ---- problems: sorted by position, exact repeats dropped ------------------- */

static int cmp_diag(const void *a, const void *b)
{
  const struct diag *x = *(const struct diag *const *)a, *y = *(const struct diag *const *)b;
  if (x->line != y->line)
    return x->line < y->line ? -1 : 1;
  if (x->col != y->col)
    return x->col < y->col ? -1 : 1;
  return x < y ? -1 : x > y; /* stable: keep the order they were found in */
}

static void flush_diags(struct sctx *c, struct diag_list *out)
{
  size_t n = c->diags.n;
  struct diag **v = malloc((n ? n : 1) * sizeof *v);
  if (!v) {
    diag_list_free(&c->diags);
    return;
  }
  for (size_t i = 0; i < n; i++)
    v[i] = &c->diags.v[i];
  qsort(v, n, sizeof *v, cmp_diag);
  for (size_t i = 0; i < n; i++) {
    bool dup = false;
    /* repeats come from shared YAML (aliases) and defaults: drop exact ones */
    for (size_t j = i; j-- > 0 && v[j]->line == v[i]->line && v[j]->col == v[i]->col;)
      if (strcmp(v[j]->msg, v[i]->msg) == 0) {
        dup = true;
        break;
      }
    if (!dup)
      diag_add(out, v[i]->file, v[i]->line, v[i]->col, "%s", v[i]->msg);
  }
  free(v);
  diag_list_free(&c->diags);
}

/* ---- entry points ------------------------------------------------------------ */

static char *dir_of(const char *path)
{
  char *cp = strdup(path);
  if (!cp)
    return NULL;
  char *d = strdup(dirname(cp));
  free(cp);
  return d;
}

static void sdefaults_free(struct sdefaults *d)
{
  json_decref(d->env);
  json_decref(d->cwd);
  json_decref(d->if_);
  json_decref(d->retry.if_);
  free(d->shell);
}

/* Offset of the first byte that is not part of valid UTF-8 (len when all
 * are), with its 1-based line and column (in characters). */
static size_t utf8_invalid_at(const char *s, size_t len, int *line, int *col)
{
  size_t bad = utf8_invalid_offset((const unsigned char *)s, len);
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < bad; i++) {
    if (s[i] == '\n') {
      (*line)++;
      *col = 1;
    } else if (((unsigned char)s[i] & 0xc0) != 0x80) {
      (*col)++;
    }
  }
  return bad;
}

/* `own`: src was malloc'ed with a NUL after it and becomes the workflow's
 * source (freed here on failure), instead of being copied: a 60 MB file is
 * held once. */
static int load(const char *name, char *own, const char *src, size_t len, struct wf **out,
                struct diag_list *d)
{
  int rc = 0;
  struct ytree t = {0};
  struct sctx c = {0};
  struct wf *w = NULL;
  *out = NULL;
  if (!name)
    name = "<string>";
  c.file = name;
  c.src = src;
  c.len = len;
  if (len > WF_MAX_FILE_BYTES) {
    diag_add(d, name, 0, 0, "the file is %zu bytes, over the limit of 64 MiB (%u bytes)", len,
             WF_MAX_FILE_BYTES);
    free(own);
    return WEFT_ELIMIT;
  }
  /* YAML is Unicode; libfyaml 0.7.12 also loops forever on some invalid
   * UTF-8 (found by fuzz_yaml: "%+\xea"), so bad bytes are refused first */
  int bad_line, bad_col;
  size_t bad = utf8_invalid_at(src, len, &bad_line, &bad_col);
  if (bad < len) {
    diag_add(d, name, bad_line, bad_col,
             "the file is not valid UTF-8 (byte 0x%02X); save it as UTF-8",
             (unsigned)(unsigned char)src[bad]);
    free(own);
    return WEFT_EVALIDATION;
  }
  const char *nul = memchr(src, 0, len);
  if (nul) {
    (void)utf8_invalid_at(src, (size_t)(nul - src), &bad_line, &bad_col);
    diag_add(d, name, bad_line, bad_col,
             "the file holds a NUL byte (0x00); a workflow is text: remove it");
    free(own);
    return WEFT_EVALIDATION;
  }
  w = calloc(1, sizeof *w);
  c.priv = calloc(1, sizeof *c.priv);
  if (!w || !c.priv) {
    free(w);
    free(c.priv);
    free(own);
    return WEFT_ENOMEM;
  }
  c.w = w;
  w->index = c.priv;
  w->path = strdup(name);
  w->dir = dir_of(name);
  w->source = own ? own : malloc(len + 1);
  w->prog = expr_prog_new();
  c.priv->empty_env = json_object();
  if (!w->path || !w->dir || !w->source || !w->prog || !c.priv->empty_env) {
    rc = WEFT_ENOMEM;
    goto out;
  }
  if (!own)
    memcpy(w->source, src, len);
  w->source[len] = 0;
  w->source_len = len;
  sha256_hex(src, len, w->hash);

  rc = ytree_parse(&t, name, w->source, len, &c.diags);
  c.tree = &t;
  if (rc) {
    if (rc == WEFT_EPARSE)
      rc = WEFT_EVALIDATION;
    goto out;
  }
  if (!t.root || t.root->t == Y_NULL) {
    chk_err_at(&c, 1, 1, "the file is empty; a workflow needs at least name and steps");
  } else if (t.root->t != Y_MAP) {
    chk_err(&c, t.root, "a workflow must be a mapping with name and steps, not %s",
         ytype_name(t.root));
  } else {
    parse_top(&c, t.root);
    if (!c.rc) /* even with other problems: expression syntax errors are worth seeing */
      tmpl_compile(&c);
    if (!c.rc)
      refcheck_run(&c); /* unknown inputs and step fields, where nothing else was said */
  }
  if (c.rc)
    rc = c.rc;
  else if (c.diags.n)
    rc = WEFT_EVALIDATION;
out:
  flush_diags(&c, d);
  sdefaults_free(&c.dflt);
  for (uint32_t i = c.n_adopted; c.ss && w && i < w->n_steps; i++)
    free(c.ss[i].id); /* declared, never adopted (a fatal problem) */
  free(c.ss);
  free(c.occ);
  free(c.edge_pos);
  free(c.hint_ids);
  ytree_free(&t);
  if (rc) {
    wf_free(w);
    return rc;
  }
  *out = w;
  return 0;
}

int wf_load_string(const char *name, const char *src, size_t len, struct wf **out,
                   struct diag_list *d)
{
  return load(name, NULL, src, len, out, d);
}

int wf_load_file(const char *path, struct wf **out, struct diag_list *d)
{
  int rc = 0;
  char *buf = NULL;
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    diag_add(d, path, 0, 0, "cannot read: %s", strerror(errno));
    return WEFT_EIO;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    diag_add(d, path, 0, 0, "cannot read: not a regular file");
    rc = WEFT_EIO;
    goto out;
  }
  if ((uint64_t)st.st_size > WF_MAX_FILE_BYTES) {
    diag_add(d, path, 0, 0, "the file is %lld bytes, over the limit of 64 MiB (%u bytes)",
             (long long)st.st_size, WF_MAX_FILE_BYTES);
    rc = WEFT_ELIMIT;
    goto out;
  }
  size_t size = (size_t)st.st_size, got = 0;
  buf = malloc(size + 1);
  if (!buf) {
    rc = WEFT_ENOMEM;
    goto out;
  }
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      diag_add(d, path, 0, 0, "cannot read: %s", r < 0 ? strerror(errno) : "file shrank");
      rc = WEFT_EIO;
      goto out;
    }
    got += (size_t)r;
  }
  buf[size] = 0;
  rc = load(path, buf, buf, size, out, d);
  buf = NULL; /* the workflow's source now, or freed */
out:
  free(buf);
  close(fd);
  return rc;
}

void wf_free(struct wf *w)
{
  if (!w)
    return;
  diag_list_free(&w->warnings);
  free(w->name);
  free(w->description);
  free(w->path);
  free(w->dir);
  free(w->source);
  for (uint32_t i = 0; i < w->n_inputs; i++) {
    free(w->inputs[i].name);
    free(w->inputs[i].description);
    json_decref(w->inputs[i].def);
  }
  free(w->inputs);
  json_decref(w->env);
  json_decref(w->triggers);
  json_decref(w->concurrency_key);
  json_decref(w->notify);
  json_decref(w->outputs);
  for (uint32_t i = 0; w->steps && i < w->n_steps; i++) {
    struct wf_step *s = &w->steps[i];
    free(s->id);
    free(s->description);
    free(s->shell);
    json_decref(s->if_);
    json_decref(s->retry.if_);
    json_decref(s->for_each);
    json_decref(s->fe_complete_when);
    first_of_free(s);
    json_decref(s->repeat.until);
    json_decref(s->env);
    json_decref(s->cwd);
    json_decref(s->end_message);
    json_decref(s->body);
    free(s->cancel);
    free(s->mutex);
  }
  free(w->steps);
  free(w->topo);
  if (w->prog)
    expr_prog_free(w->prog);
  struct spec_priv *p = w->index;
  if (p) {
    strmap_free(&p->ids);
    free(p->edges);
    free(p->topo_pos);
    free(p->reads_pool);
    json_decref(p->empty_env);
    free(p);
  }
  free(w);
}
