/* test_expr_mini.c — src/expr/mini.c, the jq subset evaluated without jq.
 *
 * The central test generates hundreds of expressions in the subset (seeded,
 * so every run is the same), registers each one as is (mini.c) and wrapped
 * as `. as $x | (EXPR)` (outside the subset: jq), evaluates both on varied
 * contexts and helper settings, and requires the same outcome: the same
 * JSON value (integer vs real included) or the same error text. The other
 * tests pin what the subset accepts and what it leaves to jq. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "expr/internal.h"
#include "expr/mini.h"
#include "util/err.h"

static json_t *J(const char *text)
{
  json_error_t je;
  json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
  cr_assert(v, "bad JSON in test: %s (%s)", text, je.text);
  return v;
}

static bool is_mini(const char *s)
{
  struct mini_expr *m = NULL;
  int rc = mini_parse(s, strlen(s), &m);
  mini_free(m);
  cr_assert(rc == 0 || rc == WEFT_EINVAL, "mini_parse `%s` -> %d", s, rc);
  return rc == 0;
}

struct errs {
  int n;
  char msg[512];
};

static void collect(void *ud, int id, const char *msg)
{
  (void)id;
  struct errs *e = ud;
  if (!e->n)
    snprintf(e->msg, sizeof e->msg, "%s", msg);
  e->n++;
}

/* ---- the generator -------------------------------------------------- */

static unsigned long long rng = 0x9e3779b97f4a7c15ull;

static unsigned pick(unsigned n)
{
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (unsigned)((rng >> 33) % n);
}

static const char *const root_atoms[] = {
    ".a",     ".b.c",        ".n",       ".s",       ".arr[0]", ".arr[-1]", ".o",
    ".x.y.z", ".missing",    ".",        ".f",       ".t",      ".big",      ".neg",
    ".e",     ".arr",        ".o.k",     ".s.x",     ".n[0]",   ".z",       ".steps.s1.status",
    ".steps.s1.outputs.v",  ".u",       ".[\"a\"]", ".arr[5]",
};
static const char *const lits[] = {"1",    "0",    "2.5",  "-3",  "1e3",   "\"a\"", "\"abc\"", "\"\"",
                                   "true", "false", "null", "4",  "0.1",   "\"b,c\"", "\"\xc3\xa9t\xc3\xa9\"",
                                   "100",  "1e400", "3"};
static const char *const rel[] = {".",      ".x",    ".k",      "length", "not",  ". > 4",
                                  ". == \"a\"", ". + 1", ". // 7",  ".[0]",  "-.",   ". * 2"};
static const char *const helpers[] = {"success", "failure", "always", "cancelled"};
static const char *const binops[] = {"==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/",
                                     "and", "or", "//"};

static void cat(char *b, size_t cap, const char *s)
{
  size_t n = strlen(b);
  snprintf(b + n, cap - n, "%s", s);
}

static void gen(char *b, size_t cap, int depth)
{
  unsigned r = depth <= 0 ? pick(4) : pick(12);
  switch (r) {
  case 0:
  case 1: cat(b, cap, root_atoms[pick(sizeof root_atoms / sizeof *root_atoms)]); return;
  case 2: cat(b, cap, lits[pick(sizeof lits / sizeof *lits)]); return;
  case 3:
    cat(b, cap, pick(3) ? root_atoms[pick(sizeof root_atoms / sizeof *root_atoms)]
                        : helpers[pick(4)]);
    return;
  case 4:
  case 5:
  case 6:
  case 7: {
    const char *op = binops[pick(sizeof binops / sizeof *binops)];
    if (strcmp(op, "*") == 0) { /* the subset wants a literal count */
      gen(b, cap, depth - 1);
      cat(b, cap, pick(2) ? " * 2" : " * 0.5");
      return;
    }
    gen(b, cap, depth - 1);
    cat(b, cap, pick(4) ? " " : "");
    cat(b, cap, op);
    cat(b, cap, " ");
    gen(b, cap, depth - 1);
    return;
  }
  case 8:
    cat(b, cap, "(");
    gen(b, cap, depth - 1);
    cat(b, cap, ")");
    return;
  case 9:
    cat(b, cap, "-");
    gen(b, cap, depth - 1);
    return;
  case 10:
    gen(b, cap, depth - 1);
    cat(b, cap, " | ");
    cat(b, cap, rel[pick(sizeof rel / sizeof *rel)]);
    return;
  default:
    cat(b, cap, "(");
    gen(b, cap, depth - 1);
    cat(b, cap, ") | ");
    gen(b, cap, depth - 1);
    return;
  }
}

/* "expression `TEXT` failed: MSG" -> "failed: MSG" */
static const char *after_text(const char *err)
{
  const char *p = err ? strstr(err, "` ") : NULL;
  return p ? p + 2 : (err ? err : "");
}

Test(mini, generated_expressions_equal_jq_results)
{
  enum { WANT = 600, MAXTRY = 6000 };
  static const char *ctxs[] = {
      "{\"a\": 1, \"b\": {\"c\": \"x\"}, \"n\": 5, \"s\": \"abc\", \"arr\": [1, \"a\", null],"
      " \"o\": {\"k\": 2, \"j\": [1]}, \"f\": false, \"t\": true, \"big\": 9007199254740993,"
      " \"neg\": -2.5, \"e\": \"\", \"z\": 0, \"u\": \"b,c\","
      " \"steps\": {\"s1\": {\"status\": \"succeeded\", \"outputs\": {\"v\": 3}}}}",
      "{\"a\": \"a\", \"b\": [1, 2], \"n\": 4, \"s\": {\"x\": 1}, \"arr\": [], \"o\": {},"
      " \"x\": {\"y\": {\"z\": [2]}}, \"f\": null, \"t\": 0, \"neg\": \"-\", \"z\": [0],"
      " \"steps\": {\"s1\": {\"status\": \"failed\", \"outputs\": {}}}}",
      "{\"a\": [1, 2, 3], \"b\": null, \"n\": \"5\", \"s\": \"\xc3\xa9t\xc3\xa9\", \"arr\": [[1], {\"k\": 1}],"
      " \"o\": {\"k\": {\"x\": 1}}, \"t\": [true], \"e\": {}, \"z\": 0.5, \"u\": null}",
      "{\"a\": {\"k\": 1}, \"n\": 3.75, \"s\": 1, \"arr\": \"xyz\", \"o\": [1], \"neg\": -0,"
      " \"b\": {\"c\": {\"d\": 1}}, \"x\": {\"y\": null}, \"z\": 100}",
      "{}",
      "null",
      "[1, 2]",
      "\"str\"",
      "7",
  };
  static const struct expr_env envs[] = {
      {.success = true}, {.failure = true}, {.cancelled = true, .failure = true}};
  size_t nc = sizeof ctxs / sizeof *ctxs;
  const char *seed = getenv("WEFT_MINI_SEED"); /* other seeds: more coverage by hand */
  if (seed)
    rng = strtoull(seed, NULL, 0);
  struct expr_prog *p = expr_prog_new();
  static int mini_id[WANT], jq_id[WANT];
  int n = 0, tries = 0, values = 0, errors = 0;
  char b[1024], w[1200];
  while (n < WANT && tries++ < MAXTRY) {
    b[0] = '\0';
    gen(b, sizeof b, 1 + (int)pick(4));
    size_t nseg;
    if (!is_mini(b) || plain_parse(b, strlen(b), NULL, 0, &nseg) != PLAIN_NONE)
      continue; /* plain paths are plain.c's (and compared in test_expr) */
    size_t had = expr_prog_count(p);
    int a = expr_prog_add(p, b, strlen(b));
    cr_assert(a >= 0, "add `%s`", b);
    if ((size_t)a < had)
      continue; /* generated before */
    snprintf(w, sizeof w, ". as $x | (%s)", b);
    cr_assert(!is_mini(w));
    int j = expr_prog_add(p, w, strlen(w));
    cr_assert(j >= 0, "add `%s`", w);
    mini_id[n] = a;
    jq_id[n] = j;
    n++;
  }
  cr_assert_geq(n, 400, "only %d distinct generated expressions were in the subset", n);
  struct errs e = {0};
  unsigned long before = expr_debug_compile_count();
  cr_assert_eq(expr_prog_compile(p, collect, &e), 0, "compile: %s", e.msg);
  cr_assert_eq(expr_debug_compile_count() - before, (unsigned long)(n + 255) / 256,
               "only the wrapped forms went to jq");
  for (size_t k = 0; k < nc; k++) {
    json_t *c = J(ctxs[k]);
    for (size_t v = 0; v < sizeof envs / sizeof *envs; v++) {
      for (int i = 0; i < n; i++) {
        json_t *ra = NULL, *rb = NULL;
        char *ea = NULL, *eb = NULL;
        int ca = expr_eval(p, mini_id[i], c, &envs[v], &ra, &ea);
        int cb = expr_eval(p, jq_id[i], c, &envs[v], &rb, &eb);
        const char *text = expr_prog_text(p, mini_id[i]);
        cr_assert_eq(ca, cb, "`%s` on %s: mini %d (%s), jq %d (%s)", text, ctxs[k], ca,
                     ea ? ea : "", cb, eb ? eb : "");
        if (ca == 0) {
          char *da = json_dumps(ra, JSON_ENCODE_ANY | JSON_COMPACT);
          char *db = json_dumps(rb, JSON_ENCODE_ANY | JSON_COMPACT);
          cr_assert(json_equal(ra, rb) && json_typeof(ra) == json_typeof(rb),
                    "`%s` on %s: mini %s, jq %s", text, ctxs[k], da, db);
          free(da);
          free(db);
          values++;
        } else {
          cr_assert_str_eq(after_text(ea), after_text(eb), "`%s` on %s: mini [%s] jq [%s]", text,
                           ctxs[k], ea, eb);
          errors++;
        }
        json_decref(ra);
        json_decref(rb);
        free(ea);
        free(eb);
      }
    }
    json_decref(c);
  }
  /* both outcomes must be well represented, or the comparison proves little */
  cr_log_info("%d expressions, %d equal values, %d equal errors", n, values, errors);
  cr_assert_geq(values, n * 5, "values %d", values);
  cr_assert_geq(errors, n, "errors %d", errors);
  expr_prog_free(p);
}

/* Each text must be in the subset, and give jq's result on every context. */
static void check_equal(const char *const *exprs, size_t n, const char *const *ctxs, size_t nc)
{
  struct expr_prog *p = expr_prog_new();
  int *ids = calloc(2 * n, sizeof *ids);
  char w[1200];
  cr_assert(ids);
  for (size_t i = 0; i < n; i++) {
    cr_assert(is_mini(exprs[i]), "`%s` should be in the subset", exprs[i]);
    snprintf(w, sizeof w, ". as $x | (%s)", exprs[i]);
    ids[2 * i] = expr_prog_add(p, exprs[i], strlen(exprs[i]));
    ids[2 * i + 1] = expr_prog_add(p, w, strlen(w));
    cr_assert(ids[2 * i] >= 0 && ids[2 * i + 1] >= 0);
  }
  struct errs e = {0};
  cr_assert_eq(expr_prog_compile(p, collect, &e), 0, "compile: %s", e.msg);
  for (size_t k = 0; k < nc; k++) {
    json_t *c = J(ctxs[k]);
    for (size_t i = 0; i < n; i++) {
      json_t *ra = NULL, *rb = NULL;
      char *ea = NULL, *eb = NULL;
      int ca = expr_eval(p, ids[2 * i], c, NULL, &ra, &ea);
      int cb = expr_eval(p, ids[2 * i + 1], c, NULL, &rb, &eb);
      cr_assert_eq(ca, cb, "`%s` on %s: mini %d (%s), jq %d (%s)", exprs[i], ctxs[k], ca,
                   ea ? ea : "", cb, eb ? eb : "");
      if (ca == 0) {
        char *da = json_dumps(ra, JSON_ENCODE_ANY | JSON_COMPACT);
        char *db = json_dumps(rb, JSON_ENCODE_ANY | JSON_COMPACT);
        cr_assert(json_equal(ra, rb) && json_typeof(ra) == json_typeof(rb),
                  "`%s` on %s: mini %s, jq %s", exprs[i], ctxs[k], da, db);
        free(da);
        free(db);
      } else {
        cr_assert_str_eq(after_text(ea), after_text(eb), "`%s` on %s", exprs[i], ctxs[k]);
      }
      json_decref(ra);
      json_decref(rb);
      free(ea);
      free(eb);
    }
    json_decref(c);
  }
  free(ids);
  expr_prog_free(p);
}

/* The corners the generator reaches rarely or not at all. */
Test(mini, handwritten_corners_equal_jq_results)
{
  static const char *const exprs[] = {
      /* the benchmark's shapes */
      ".steps.s3.status == \"succeeded\" and (.inputs.n | . > 4)",
      ".steps.s0.outputs.x // 5",
      /* number syntax */
      "1. + .n", ".n * 1.5e+2", ".n > 1E3", ".n + 1e-2", ".n + 00012", ".n - 1e400",
      "(.n + 1e400) - 1e400", "((.n + 1e400) - 1e400) < 1", "((.n + 1e400) - 1e400) == .x",
      /* string repetition, split, concatenation, unicode length */
      ".s * 3", ".s * 0", ".s * 0.5", ".s * 1", "2 * .s", ".s * 1000", ".s / \",\"", ".s / \"\"",
      ".s + \"\xc3\xa9\"", ".s | length", "\"\xc3\xa9t\xc3\xa9\" == .s",
      /* arrays and objects */
      ".a - .b", ".a + .b", ".o + .p", ".o * 2", ".o == .p", ".o < .q", ".a < .o", ".a == .b",
      ".o | length", ".a | length", ".t | length", ".n | length", ".neg | length",
      ".a[1] + .a[-1]", ".a[9] // \"none\"",
      /* unary minus and its precedence */
      "-.n", "-.s", "-.n * 2", "-.s * 2", "-.n + 2", "- -.n", ".n - -1", "-(.n) / 2",
      "-.n == -5", "-1 + .n", "-.n // 3",
      /* division */
      ".n / 0", ".n / .z", ".n / 3", ".n / 2",
      /* truth, alternatives, helpers */
      ".f | not", "not", ".x | not", ".n and .f", ".f or .x", ".x // .f // 3", ".f // .x",
      "success and .n > 1", "failure or cancelled", "always and (.s | length > 2)",
      ".s.x // 1", ".x.y // 1", "(.s.x // 1) // 2", ".x // .s.x",
      /* comparisons across types: jq's total order */
      ".x < false", ".f < .t", ".t < .n", ".n < .s", ".s < .a", ".a < .o", ".x == null",
      ".big == 9007199254740992", ".big + 0", ".n != \"5\"", ".n >= 5", ".n <= 4.999",
      /* whitespace jq accepts */
      ".n\t>\n4", "(\n.n\n)",
  };
  static const char *const ctxs[] = {
      "{\"n\": 5, \"s\": \"a,b\", \"a\": [1, 2, 2, 3], \"b\": [2], \"o\": {\"k\": 1, \"m\": 2},"
      " \"p\": {\"m\": 2, \"k\": 1}, \"q\": {\"k\": 2}, \"f\": false, \"t\": true, \"z\": 0,"
      " \"big\": 9007199254740993, \"neg\": -4.5,"
      " \"steps\": {\"s3\": {\"status\": \"succeeded\"}, \"s0\": {\"outputs\": {}}}, \"inputs\": {\"n\": 5}}",
      "{\"n\": \"x\", \"s\": \"\xc3\xa9t\xc3\xa9\", \"a\": \"str\", \"b\": null, \"o\": [1], \"p\": {},"
      " \"q\": null, \"f\": null, \"t\": {}, \"z\": -0, \"neg\": true, \"x\": {\"y\": 0},"
      " \"steps\": {\"s3\": {\"status\": \"failed\"}, \"s0\": {\"outputs\": {\"x\": 0}}}, \"inputs\": {\"n\": 9}}",
      "{\"n\": 2.5, \"s\": 7, \"a\": {}, \"b\": {}, \"o\": \"o\", \"p\": \"p\", \"x\": [1],"
      " \"steps\": null, \"inputs\": []}",
      "null",
      "[]",
  };
  check_equal(exprs, sizeof exprs / sizeof *exprs, ctxs, sizeof ctxs / sizeof *ctxs);
}

/* What the subset leaves to jq: jq then compiles it (or reports its error)
 * exactly as before mini.c existed. */
Test(mini, everything_else_is_left_to_jq)
{
  static const char *const jq_only[] = {
      ".n % 2",              /* jq casts to intmax_t */
      ".n * .m",             /* string * number without a literal count */
      ".s * 1001",           /* count outside ±1000 */
      ".s * -1",             /* the count is not a plain literal */
      "1 + 2", "\"a\" == \"a\"", "-1 + -2", "null + 1", /* jq folds constants */
      ".a == .b == .c",      /* a syntax error in jq */
      ".a < .b > .c",
      ".a?", ".[]", ".a[]", "..", ".a.[\"b\"]", ".[.i]", "$x", "$__loc__", ".a as $v | $v",
      "\"a\\(.b)\"", "\"a\\n\"", "\"tab\there\"", "# c\n.a", ".a # c",
      "[.a]", "{a: 1}", ".a |= 1", ".a += 1", ".a //= 1", ".a = 1", ".5 + .a", ".a, .b",
      "if .a then 1 else 2 end", ".a | tostring", "length(.a)", "not(.a)", "empty",
      "error(\"x\")", ".a | select(. > 1)", "@base64", "1 as $x | 2", "reduce .[] as $x (0; .)",
      ".a\r== 1", "1e", "1.2.3", ".a and", "or .a", "(.a", ".a)", "", "- ", ".a +",
      "success()", "lengthx", ".a::b", "true | false", /* the last one is fine, see below */
  };
  size_t n = sizeof jq_only / sizeof *jq_only;
  for (size_t i = 0; i + 1 < n; i++)
    cr_assert(!is_mini(jq_only[i]), "`%s` must be left to jq", jq_only[i]);
  cr_assert(is_mini("true | false"), "the control case is in the subset");

  /* deep nesting is left to jq too */
  char deep[400] = "";
  for (int i = 0; i < MINI_MAX_DEPTH + 1; i++)
    strcat(deep, "(");
  strcat(deep, ".a");
  for (int i = 0; i < MINI_MAX_DEPTH + 1; i++)
    strcat(deep, ")");
  cr_assert(!is_mini(deep));
  deep[strlen(deep) - 1] = '\0';
  cr_assert(is_mini(deep + 1), "%d levels are fine", MINI_MAX_DEPTH);

  /* a jq syntax error in the subset's shape still gets jq's message */
  struct expr_prog *p = expr_prog_new();
  cr_assert_geq(expr_prog_add(p, ".a == .b == .c", 14), 0);
  struct errs e = {0};
  cr_assert_eq(expr_prog_compile(p, collect, &e), WEFT_EEXPR);
  cr_assert_eq(e.n, 1);
  cr_assert(strstr(e.msg, "syntax error"), "%s", e.msg);
  expr_prog_free(p);
}

/* The subset needs no jq_compile at all, and may be added after compiling,
 * like a plain path. */
Test(mini, subset_never_calls_jq_compile)
{
  struct expr_prog *p = expr_prog_new();
  char buf[160];
  for (int i = 1; i < 100; i++) {
    snprintf(buf, sizeof buf, ".steps.s%d.status == \"succeeded\" and (.inputs.n | . > %d)", i - 1, i);
    cr_assert_geq(expr_prog_add(p, buf, strlen(buf)), 0);
    snprintf(buf, sizeof buf, ".steps.s0.outputs.x // %d", i);
    cr_assert_geq(expr_prog_add(p, buf, strlen(buf)), 0);
  }
  unsigned long before = expr_debug_compile_count();
  cr_assert_eq(expr_prog_compile(p, NULL, NULL), 0);
  cr_assert_eq(expr_debug_compile_count(), before);
  int late = expr_prog_add(p, ".n + 1", 6);
  cr_assert_geq(late, 0);
  json_t *c = J("{\"n\": 41}"), *out = NULL;
  char *err = NULL;
  cr_assert_eq(expr_eval(p, late, c, NULL, &out, &err), 0, "%s", err);
  cr_assert(json_is_integer(out) && json_integer_value(out) == 42);
  json_decref(out);
  json_decref(c);
  expr_prog_free(p);
}

/* Errors are reported like jq's, with the expression quoted. */
Test(mini, error_message_quotes_the_expression)
{
  struct expr_prog *p = expr_prog_new();
  int id = expr_prog_add(p, ".a.b + 1", 8);
  cr_assert_geq(id, 0);
  cr_assert_eq(expr_prog_compile(p, NULL, NULL), 0);
  json_t *c = J("{\"a\": \"s\"}"), *out = NULL;
  char *err = NULL;
  cr_assert_eq(expr_eval(p, id, c, NULL, &out, &err), WEFT_EEXPR);
  cr_assert_str_eq(err, "expression `.a.b + 1` failed: Cannot index string with string \"b\"");
  free(err);
  json_decref(c);
  expr_prog_free(p);
}

/* Token soup: random sequences of tokens, glued with or without spaces.
 * Whatever the subset accepts must compile in jq (the subset never accepts
 * what jq refuses) and give jq's results. */
Test(mini, token_soup_accepted_only_when_jq_agrees)
{
  static const char *const toks[] = {
      ".a", ".b", ".", ".[0]", ".a[1]", "1", "2.5", "0", "\"x\"", "\"\"", "true", "null",
      "false", "not", "length", "success", "and", "or", "//", "|", "==", "<", ">=", "!=",
      "+", "-", "*", "/", "(", ")", "1.", "..", "?", "%", "=", "e", "[", "]", "2",
      "$x", ",", ".a.b", ".\"k\"", "1e2", "-",
  };
  static const char *const ctxs[] = {
      "{\"a\": 3, \"b\": [1, 2]}", "{\"a\": \"s\", \"b\": {\"k\": null}}", "null", "[true, 1]",
  };
  enum { N = 20000, MAXKEEP = 600 };
  const char *seed = getenv("WEFT_MINI_SEED");
  rng = seed ? strtoull(seed, NULL, 0) ^ 0x5bd1e995u : 0x2545f4914f6cdd1dull;
  static const char *kept[MAXKEEP];
  static char store[MAXKEEP][256];
  size_t nk = 0;
  for (int i = 0; i < N && nk < MAXKEEP; i++) {
    char b[256] = "";
    int len = 1 + (int)pick(7);
    for (int k = 0; k < len; k++) {
      if (k && pick(3))
        cat(b, sizeof b, " ");
      cat(b, sizeof b, toks[pick(sizeof toks / sizeof *toks)]);
    }
    size_t nseg;
    if (!is_mini(b) || plain_parse(b, strlen(b), NULL, 0, &nseg) != PLAIN_NONE)
      continue;
    bool dup = false;
    for (size_t k = 0; k < nk && !dup; k++)
      dup = strcmp(kept[k], b) == 0;
    if (dup)
      continue;
    snprintf(store[nk], sizeof store[nk], "%s", b);
    kept[nk] = store[nk];
    nk++;
  }
  cr_assert_geq(nk, 200, "only %zu accepted", nk);
  /* one by one first: a text jq refuses is named, not lost in a shard */
  for (size_t k = 0; k < nk; k++) {
    struct expr_prog *p = expr_prog_new();
    char w[400];
    snprintf(w, sizeof w, ". as $x | (%s)", kept[k]);
    cr_assert_geq(expr_prog_add(p, w, strlen(w)), 0);
    struct errs e = {0};
    cr_assert_eq(expr_prog_compile(p, collect, &e), 0, "mini accepts `%s`, jq says: %s", kept[k],
                 e.msg);
    expr_prog_free(p);
    if (k == 40)
      break; /* the rest compile together below (each jq_compile costs ~25 ms) */
  }
  check_equal(kept, nk, ctxs, sizeof ctxs / sizeof *ctxs);
}
