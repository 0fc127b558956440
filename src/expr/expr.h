/* expr.h — `${{ EXPR }}` expressions: jq 1.6 programs over a JSON context.
 *
 * One struct expr_prog holds every expression of a workflow. Expressions are
 * registered with expr_prog_add() (same text, same id) and compiled together by
 * expr_prog_compile() in ONE jq_compile (it costs ~25 ms each in jq 1.6) per
 * 256 non-plain expressions (jq's compile time grows faster than linearly).
 * Plain paths such as `.inputs.x`, `.steps.a.outputs.b`, `.item` and the bare
 * helpers `success`/`failure`/`always`/`cancelled`/`none_failed` are recognised at add time
 * and evaluated without jq; a program whose expressions are all plain is never
 * handed to jq at all.
 *
 * Safety (ARCHITECTURE.md §3): JQ_LIBRARY_PATH is set to [] before compiling so
 * `import`/`include` fail cleanly, `env` and `$ENV` are empty, the error
 * callback is installed before compiling and errors are captured as text.
 * Expressions are trusted code: jq 1.6 has no time limit.
 *
 * Values cross this API as jansson json_t; conversion to jv happens only here.
 * Ownership: inputs are borrowed; *out results are new references the caller
 * must json_decref(); they may share structure with ctx (a plain path returns
 * the context's own node), so never modify a result in place: json_deep_copy()
 * it first. *err is set to NULL on entry and, on error, to a malloc'd string
 * the caller frees. Not thread-safe: one prog is used by one thread at a time
 * (it owns jq states). */
#ifndef WEFT_EXPR_EXPR_H
#define WEFT_EXPR_EXPR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct expr_prog;

/* The helper functions' values for one evaluation. */
struct expr_env {
  bool success;   /* no direct need failed or was cancelled (skipped is fine) */
  bool failure;   /* some direct need failed */
  bool cancelled; /* the run is being cancelled */
  bool none_failed; /* no direct need failed or was cancelled (all skipped is fine) */
};

struct expr_prog *expr_prog_new(void);
void expr_prog_free(struct expr_prog *p);

/* Registers the text between `${{` and `}}` (surrounding spaces ignored).
 * Returns the id (>= 0) or WEFT_ELIMIT (over 16 KiB) / WEFT_ENOMEM. Must be
 * called before expr_prog_compile(); afterwards only plain paths and texts
 * already present are accepted (others: WEFT_ESTATE). */
int expr_prog_add(struct expr_prog *p, const char *src, size_t len);
size_t expr_prog_count(const struct expr_prog *p);
const char *expr_prog_text(const struct expr_prog *p, int id);

/* Compiles all registered non-plain expressions at once. For each expression
 * that does not compile, calls cb(ud, id, message) with jq's message and
 * returns WEFT_EEXPR; the program is then unusable. Returns 0 when all compile. */
typedef void (*expr_error_cb)(void *ud, int id, const char *msg);
int expr_prog_compile(struct expr_prog *p, expr_error_cb cb, void *ud);

/* Evaluates expression `id` with `.` = ctx. Exactly one value is required:
 * an error, no value or several values return WEFT_EEXPR with *err set.
 * env may be NULL: success and none_failed true, failure and cancelled false. A non-plain
 * expression before a successful compile is WEFT_ESTATE. */
int expr_eval(struct expr_prog *p, int id, const json_t *ctx, const struct expr_env *env,
              json_t **out, char **err);

/* Bracket nesting ( [ { and \( an expression may have; deeper is an error
 * ("nests brackets more than 1024 deep"), never a crash. */
#define EXPR_MAX_NESTING 1024

/* Splitting a string into literal text and `${{ }}` segments. */
struct expr_seg {
  bool is_expr;
  const char *p;   /* literal text, or the expression text (trimmed) */
  size_t len;
  size_t offset;   /* byte offset of the segment start (of `${{`) in the string */
};
/* Calls cb for each segment in order. Returns 0, or WEFT_EPARSE when a `${{`
 * has no closing `}}`, WEFT_ELIMIT when its brackets nest more than 1024
 * deep before one (cb is not called for the broken tail; *bad_offset, when
 * not NULL, receives its offset). A string without `${{` is one literal.
 * An expression ends at the first `}}` outside jq strings and outside any `{`
 * it opened, so `${{ {a: {b: 1}} }}` and `${{ "}}" }}` work. */
int expr_split(const char *s, size_t len,
               int (*cb)(void *ud, const struct expr_seg *seg), void *ud,
               size_t *bad_offset);
/* true when the string contains `${{`. */
bool expr_has(const char *s, size_t len);

/* Renders a template: returns a deep copy of tmpl in which every string that
 * contains `${{ }}` is evaluated. A string that is exactly one `${{ }}` takes
 * the result's JSON type; inside a longer string each result is spliced in
 * (strings as they are, other values as compact JSON). Object keys are not
 * templated. Every expression must have been registered in p (an
 * unregistered plain path is still evaluated; anything else unregistered is
 * WEFT_ENOTFOUND). null splices as the empty string (as in GitHub Actions);
 * `"${{ x }}"` with spaces around it is a splice, hence a string. */
int expr_render(struct expr_prog *p, const json_t *tmpl, const json_t *ctx,
                const struct expr_env *env, json_t **out, char **err);
/* Same for one string; the result is a json_t (string or any type when the
 * string is exactly one expression). */
int expr_render_str(struct expr_prog *p, const char *s, const json_t *ctx,
                    const struct expr_env *env, json_t **out, char **err);
/* Truthiness for conditions: false and null are false, everything else true (jq). */
bool expr_truthy(const json_t *v);

/* Lexical scan of an expression for what it reads of the context: calls
 * cb(ud, root, name, name_len) for each `.steps.NAME`, `.steps["NAME"]`,
 * `.needs.NAME` ... found (root is "steps" or "needs"), and for a reference to
 * the whole `.steps`/`.needs` object with name NULL. Used by validation for the
 * reach rule and by the engine to build small contexts. */
void expr_refs(const char *src, size_t len,
               void (*cb)(void *ud, const char *root, const char *name, size_t name_len),
               void *ud);

/* What expr_refs_fields() reports: `.inputs.NAME` (root "inputs", field
 * NULL), `.steps.NAME[.FIELD]` and `.needs.NAME[.FIELD]`. Pointers are into
 * the scanned text. Used by validation to name unknown inputs and fields. */
struct expr_ref {
  const char *root;
  const char *name;
  size_t name_len;
  const char *field; /* NULL when nothing is read of the step */
  size_t field_len;
};
void expr_refs_fields(const char *src, size_t len,
                      void (*cb)(void *ud, const struct expr_ref *ref), void *ud);

/* Number of jq_compile calls made by this module in this process (tests and
 * benchmarks use it to check that a workflow costs one compile). */
unsigned long expr_debug_compile_count(void);

#endif
