/* spec_int.h — what the files of src/spec/ share (private to the module).
 *
 * One struct sctx lives for the duration of one wf_load_*: it carries the
 * file name, the problems found so far, the workflow being built, and every
 * `${{ }}` occurrence with its position and its scope (which step, the run's
 * outputs, or a workflow-wide field), so that the reach rule and jq's compile
 * errors can be reported at the right file:line:col after the graph is known.
 *
 * The checking helpers (check.c) report a problem and return false; they
 * never stop the load, so one pass finds every problem of a file.
 *
 * Ownership: json_t results are new references owned by the caller; strings
 * returned by chk_dup() are malloc'd. ynodes are borrowed from the ytree. */
#ifndef WEFT_SPEC_SPEC_INT_H
#define WEFT_SPEC_SPEC_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "spec/model.h"
#include "spec/strmap.h"
#include "spec/ytree.h"
#include "util/diag.h"

/* Scopes of expressions besides a step index. */
#define SCOPE_OUTPUTS (UINT32_MAX - 1) /* the run's outputs: may read every step */
#define SCOPE_GLOBAL (UINT32_MAX - 2)  /* workflow env, defaults, triggers: no steps.* */

struct eocc {
  int id;
  int line, col;
  uint32_t scope;
};

/* What the module keeps behind wf->index. */
struct spec_priv {
  struct strmap ids;   /* step id -> index */
  uint32_t *edges;     /* CSR pool: every step's needs, then dependents, then reads */
  uint32_t *topo_pos;  /* position of each step in w->topo */
  uint32_t *reads_pool; /* every step's reads */
  json_t *empty_env;   /* shared by steps without env */
};

/* Per step, the YAML it came from (needed after parsing: needs names, positions). */
struct ssrc {
  const struct ynode *key;   /* the step id's key node */
  const struct ynode *needs; /* NULL, a string, a list or {any, count, cancel_rest} */
  /* the declaration, kept here until the step is converted (load.c adopt):
   * a million `struct wf_step`s are touched one by one as their YAML is
   * dropped, not all at once before it is */
  char *id;                  /* owned by the wf_step once adopted */
  struct wf_pos pos;
  bool is_finally;
  bool reads_all;            /* reads the whole .steps object */
  const struct ynode *cancel; /* `cancel:` (resolved by ctl.c after the graph) */
};

/* Step field defaults from `defaults:` (has_* false when not given). */
struct sdefaults {
  bool has_timeout, has_retry, has_coe, has_log_limit;
  int64_t timeout_ms, log_limit;
  struct wf_retry retry;
  bool coe;
  json_t *env, *cwd, *if_;
  char *shell;
};

struct sctx {
  const char *file;
  const char *src;
  size_t len;
  struct diag_list diags; /* collected here, sorted and deduplicated at the end */
  int rc;                 /* first non-validation failure (ENOMEM, ELIMIT) */
  struct wf *w;
  struct spec_priv *priv;
  struct ssrc *ss;        /* one per step */
  struct eocc *occ;
  size_t n_occ, cap_occ;
  struct sdefaults dflt;
  /* graph.c: needs resolved before the steps are converted (graph_resolve),
   * so the steps' subtrees can be dropped (ytree_release) as they are */
  struct ytree *tree;
  struct wf_pos *edge_pos; /* the needs item naming each edge */
  uint32_t n_edges;
  size_t resolve_diags;    /* problems graph_resolve found */
  bool resolved;
  const char **hint_ids;   /* step ids for did-you-mean, built on demand */
  uint32_t n_adopted;      /* load.c: steps whose declaration is in c->w->steps */
};

/* ---- check.c: reporting and typed field access ---- */
void chk_err(struct sctx *c, const struct ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void chk_err_at(struct sctx *c, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void chk_limit(struct sctx *c, const struct ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The closest of words[0..n) within edit distance 2 of s, or NULL. */
const char *chk_did_you_mean(const char *s, const char *const *words, size_t n);
/* Reports every key of map `m` not in `known` (NULL-terminated). */
void chk_keys(struct sctx *c, const struct ynode *m, const char *const *known,
                const char *where);
/* Same; with allow_x, keys starting with "x-" are allowed (a place for anchors). */
void chk_keys_x(struct sctx *c, const struct ynode *m, const char *const *known,
                  const char *where, bool allow_x);
/* Reports a type mismatch: "<field>" <where> must be <expected>, not <actual>. */
void chk_bad_type(struct sctx *c, const struct ynode *v, const char *field, const char *where,
              const char *expected);
bool chk_is_id(const char *s, size_t len); /* [a-z0-9][a-z0-9_-]{0,63} */
bool chk_is_ident(const char *s, size_t len); /* [A-Za-z_][A-Za-z0-9_]* */
char *chk_dup(struct sctx *c, const char *s);

bool chk_str(struct sctx *c, const struct ynode *v, const char *field, const char *where,
             const char **out);
bool chk_bool(struct sctx *c, const struct ynode *v, const char *field, const char *where,
              bool *out);
bool chk_int(struct sctx *c, const struct ynode *v, const char *field, const char *where,
             int64_t min, int64_t max, int64_t *out);
bool chk_num(struct sctx *c, const struct ynode *v, const char *field, const char *where,
             double min, double max, double *out);
bool chk_size(struct sctx *c, const struct ynode *v, const char *field, const char *where,
              int64_t *out);
bool chk_dur(struct sctx *c, const struct ynode *v, const char *field, const char *where,
             int64_t *out);
/* One of words (NULL-terminated); *out is its index. */
bool chk_enum(struct sctx *c, const struct ynode *v, const char *field, const char *where,
              const char *const *words, int *out);
bool chk_map(struct sctx *c, const struct ynode *v, const char *field, const char *where);
bool chk_type(struct sctx *c, const struct ynode *v, const char *field, const char *where,
              enum wf_type *out);
/* Checks a cron schedule (5 fields or a macro); why receives the problem. */
bool chk_cron(const char *s, char *why, size_t whysz);

/* ---- tmpl.c: templates and expressions ---- */
/* Copy of v as a template, registering every `${{ }}` of its strings. */
json_t *tmpl_conv(struct sctx *c, const struct ynode *v, uint32_t scope);
/* A condition field: bare string -> "${{ s }}", `${{` string as is, bool as is. */
json_t *tmpl_cond(struct sctx *c, const struct ynode *v, uint32_t scope, const char *field,
                  const char *where);
/* Position (1-based) of byte `off` of scalar v's value in the file. */
void tmpl_pos(struct sctx *c, const struct ynode *v, size_t off, int *line, int *col);
/* Compiles wf->prog and reports jq's errors at their occurrences. */
void tmpl_compile(struct sctx *c);

/* ---- foreach_form.c: for_each: {items, complete_when, withdraw_rest} ---- */
void foreach_parse_map(struct sctx *c, struct wf_step *s, const struct ynode *x,
                       const char *where, void (*items)(struct sctx *, struct wf_step *,
                                                        const struct ynode *, const char *));

/* ---- first_of_form.c: first_of: {ARM: {approval|wait|workflow}} ---- */
void first_of_parse(struct sctx *c, struct wf_step *s, const struct ynode *k,
                    const struct ynode *v, const char *where);
void first_of_free(struct wf_step *s);

/* ---- policy.c: concurrency:, notify: ---- */
void policy_parse_concurrency(struct sctx *c, const struct ynode *v);
void policy_parse_notify(struct sctx *c, const struct ynode *v);

/* ---- argv.c ---- */
/* command: lists: no `${{ }}` in the script of `sh -c` (error); a secret in
 * an element is a warning (wf->warnings). */
void argv_check(struct sctx *c, const struct ynode *v, const char *where);

/* ---- steps.c / kinds.c ---- */
void steps_parse_defaults(struct sctx *c, const struct ynode *v);
/* env: {NAME: string|number|bool}; an object of string templates, or NULL. */
json_t *steps_parse_env(struct sctx *c, const struct ynode *v, const char *where,
                        uint32_t scope);
void steps_parse(struct sctx *c, uint32_t idx, const struct ynode *key, const struct ynode *v);
void kinds_parse(struct sctx *c, struct wf_step *s, const struct ynode *kkey,
                 const struct ynode *v, const char *where);
void kinds_http(struct sctx *c, const struct ynode *v, const char *where);
void kinds_workflow(struct sctx *c, const struct ynode *v, const char *where);
void kinds_command(struct sctx *c, const struct ynode *v, const char *where);

/* ---- graph.c ---- */
/* Resolves needs, finds cycles, builds dependents, topo order; then checks
 * what expressions read and fills reads. */
void graph_build(struct sctx *c);
/* The needs of every step (ss[].needs) to edges, reported problems counted;
 * graph_build does it when it was not done before. Or step by step:
 * graph_resolve_begin (counts the edges of every ss[].needs), then
 * graph_resolve_step for each step in order, once its wf_step is adopted. */
void graph_resolve(struct sctx *c);
void graph_resolve_begin(struct sctx *c);
void graph_resolve_step(struct sctx *c, uint32_t i);
/* ---- ctl.c: `cancel:` and `mutex:` ---- */
/* Parses `mutex:`; remembers `cancel:` for ctl_resolve. */
void ctl_parse_mutex(struct sctx *c, struct wf_step *s, const struct ynode *v, const char *where);
/* Resolves every `cancel:` list once the graph is known, and checks the
 * combinations (no kind key, no end/for_each/repeat, not in finally). */
void ctl_resolve(struct sctx *c);
/* ---- refcheck.c: unknown inputs and step fields read by expressions ---- */
void refcheck_run(struct sctx *c);

#endif
