/* model.h — the workflow model: one immutable, validated workflow definition.
 *
 * wf_load_file()/wf_load_string() (spec/load.c) read YAML with libfyaml, check
 * every rule of LANGUAGE.md and build a struct wf. Everything later (engine,
 * runtime, CLI) reads this model and never the YAML.
 *
 * Values that may hold expressions are kept as jansson "templates": ordinary
 * JSON values in which any string may contain `${{ EXPR }}`. The expression
 * texts of the whole workflow are registered in wf->prog (expr/expr.h) and
 * compiled once; expr_render() turns a template plus a context into a value.
 * Condition-like fields (`if`, `for_each`, `repeat.until`, `retry.if`,
 * `wait.match`) are normalised by the loader: a bare string without `${{` is
 * treated as one whole expression and stored as "${{ ... }}", so the runtime
 * only ever deals with templates.
 *
 * Ownership: the struct wf owns everything it points to (strings, arrays, json
 * references, the expression program); wf_free() releases it all. Pointers
 * handed out (steps, names) are borrowed and live as long as the wf. */
#ifndef WEFT_SPEC_MODEL_H
#define WEFT_SPEC_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/diag.h"

struct expr_prog;

#define WF_NONE UINT32_MAX

/* Limits of LANGUAGE.md §1 (each an error naming the limit). */
#define WF_MAX_FILE_BYTES (64u << 20)
#define WF_MAX_STEPS 1000000u
#define WF_MAX_FOR_EACH 1000000u
#define WF_MAX_DEPTH 64
#define WF_MAX_EXPR_BYTES (16u << 10)
#define WF_MAX_ALIAS_FACTOR 10

enum wf_kind {
  WF_NOOP = 0,   /* no kind key: a join */
  WF_RUN,        /* run: SCRIPT (shell -c) */
  WF_COMMAND,    /* command: [argv...] */
  WF_SET,        /* set: {k: v} */
  WF_HTTP,
  WF_AGENT,
  WF_APPROVAL,
  WF_WAIT,
  WF_WORKFLOW,
};
const char *wf_kind_name(enum wf_kind k); /* "run", "command", ..., "noop" */

enum wf_type { WF_T_STRING, WF_T_NUMBER, WF_T_INTEGER, WF_T_BOOLEAN, WF_T_OBJECT, WF_T_ARRAY };
const char *wf_type_name(enum wf_type t);
/* true when v (not NULL) is of type t; integer accepts only integral values,
 * number accepts integers and reals. */
bool wf_type_check(enum wf_type t, const json_t *v);

struct wf_pos {
  int line, col; /* 1-based position in the file of the key or value */
};

struct wf_input {
  char *name;
  enum wf_type type;
  json_t *def;        /* default value or NULL (plain JSON, no expressions) */
  bool required;
  char *description;  /* may be NULL */
  struct wf_pos pos;
};

enum wf_backoff { WF_BACKOFF_EXPONENTIAL = 0, WF_BACKOFF_FIXED };

struct wf_retry {
  int attempts;          /* counts the first try; default 1 */
  int64_t delay_ms;      /* default 1000 */
  enum wf_backoff backoff; /* default exponential */
  double factor;         /* default 2 (1 when fixed) */
  int64_t max_delay_ms;  /* default 300000 */
  bool jitter;           /* default false: full jitter, uniform in [0, delay] */
  json_t *if_;           /* template or NULL; sees .error */
};

struct wf_repeat {
  bool set;              /* false: the step has no repeat */
  json_t *until;         /* template; sees .outputs and .iteration */
  int max;               /* default 100 */
  int64_t delay_ms;      /* default 0 */
};

/* Per-kind fields. Values are templates unless said otherwise. The later
 * executors (http, agent, approval, wait, workflow) read `body`, the whole
 * validated value of the kind key, plus the parsed fields below. */
/* log_limit when neither the step nor `defaults:` gives one: 100 MiB */
#define WF_DEFAULT_LOG_LIMIT ((int64_t)100 << 20)

struct wf_step {
  char *id;
  uint32_t index;        /* position in wf->steps */
  struct wf_pos pos;     /* of the step's key */
  enum wf_kind kind;
  struct wf_pos kind_pos;
  bool is_finally;       /* declared under `finally:` */
  char *description;

  uint32_t *needs;       /* indices into wf->steps, as written */
  uint32_t n_needs;
  uint32_t *dependents;  /* steps whose needs contain this one */
  uint32_t n_dependents;

  json_t *if_;           /* template or NULL (= ${{ success }}) */
  int64_t timeout_ms;    /* per attempt; 0 = none */
  int64_t log_limit;     /* bytes of log per attempt (WF_DEFAULT_LOG_LIMIT unless given) */
  struct wf_retry retry;
  bool continue_on_error;
  json_t *for_each;      /* template or NULL */
  int max_parallel;      /* with for_each: instances at once; 0 = workflow's */
  struct wf_repeat repeat;

  json_t *env;           /* object of templates: workflow env merged with the step's */
  json_t *cwd;           /* template or NULL */
  char *shell;           /* for run:; NULL = "sh -e" */

  json_t *body;          /* the kind key's value (template); NULL for noop */
  /* run: the script, verbatim (never contains ${{, validation ensures it) */
  const char *script;    /* borrowed from body */

  /* approval */
  int64_t approval_timeout_ms;
  /* wait */
  int64_t wait_ms;       /* wait: DURATION, or 0 */
  int64_t wait_timeout_ms;

  /* every expression id this step's templates use, and the steps they read */
  uint32_t *reads;       /* step indices read through steps.X / needs.X */
  uint32_t n_reads;
  bool reads_all;        /* (added) an expression reads the whole .steps or .needs */

  /* `needs: {any: [...], count: N, cancel_rest: B}` (join.c in the engine):
   * join_count 0 = the plain list (all needs); N = ready once N of them
   * succeeded or once that can no longer happen. */
  uint32_t join_count;
  bool join_cancel_rest;
  /* `end: {status, message}`: 0 none, else enum wf_end_status */
  int end_status;
  json_t *end_message;   /* template (string) or NULL */
  /* `cancel: [step, ...]` (withdraw.c in the engine): the main steps it
   * withdraws when it runs; n_cancel 0 = not a cancel step */
  uint32_t *cancel;
  uint32_t n_cancel;
  /* `mutex: NAME` or `{name: NAME, scope: run|global}` (spec/ctl.c; held by
   * the runtime, runtime/rt_mutex.c); NULL = none */
  char *mutex;
  bool mutex_global;
};

enum wf_end_status { WF_END_SUCCEEDED = 1, WF_END_FAILED = 2 };

struct wf {
  char *name;
  char *description;
  char *path;            /* file as given; "<string>" for wf_load_string */
  char *dir;             /* directory of path (for sub-workflow files) */
  char *source;          /* the file's text */
  size_t source_len;
  char hash[65];         /* SHA-256 hex of source: the definition version */

  struct wf_input *inputs;
  uint32_t n_inputs;
  json_t *env;           /* object of templates or NULL */
  int64_t timeout_ms;    /* whole run; 0 = none */
  int max_parallel;      /* 0 = default (2 x cores) */
  int concurrency;       /* 0 = unlimited */
  bool fail_fast;
  json_t *triggers;      /* as written, validated; NULL when absent */
  json_t *outputs;       /* object of templates or NULL */

  struct wf_step *steps; /* main steps first, then finally steps */
  uint32_t n_steps;
  uint32_t n_main;       /* steps[0..n_main) are `steps:`, the rest `finally:` */
  uint32_t *topo;        /* all step indices in a topological order */

  struct expr_prog *prog; /* every expression of the workflow, compiled */
  void *index;           /* id -> step lookup (private to spec/) */
  struct diag_list warnings; /* "warning: ..." problems that do not fail validation
                                (a secret in argv); printed by validate and run */
  /* concurrency: {key, limit, on_full} (spec/policy.c; the limit is
   * `concurrency` above) and notify: */
  json_t *concurrency_key;  /* template of the group's key; NULL: one group per workflow */
  int concurrency_on_full;  /* index into wf_on_full_names: 0 queue, 1 skip, 2 cancel_in_progress */
  json_t *notify;           /* [{on: [EVENT, ...], webhook: SECRET_NAME}]; NULL when absent */
};

enum { WF_ON_FULL_QUEUE = 0, WF_ON_FULL_SKIP = 1, WF_ON_FULL_CANCEL = 2 };
extern const char *const wf_on_full_names[];   /* NULL-terminated */
extern const char *const wf_notify_events[];   /* NULL-terminated */

/* Loads and validates. On success returns 0 and *out; otherwise returns
 * WEFT_EVALIDATION (or WEFT_EIO, WEFT_ELIMIT) with every problem in d, and
 * *out is NULL. `path` is used both to read and in messages. */
int wf_load_file(const char *path, struct wf **out, struct diag_list *d);
/* Same, from memory; `name` stands for the file in messages. */
int wf_load_string(const char *name, const char *src, size_t len, struct wf **out,
                   struct diag_list *d);
void wf_free(struct wf *w);

/* Step index by id, or WF_NONE. */
uint32_t wf_step_find(const struct wf *w, const char *id);
/* true when `up` is in the transitive needs of `step`. */
bool wf_is_upstream(const struct wf *w, uint32_t up, uint32_t step);

#endif
