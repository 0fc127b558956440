/* test_expr.c — the expression module (src/expr/): registration, the one
 * jq compile, plain paths against jq, evaluation errors, templates, the
 * reference scan. One test per behaviour. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "expr/expr.h"
#include "util/err.h"

/* ---- helpers -------------------------------------------------------- */

struct errs {
  int n;
  int id[64];
  char msg[64][512];
};

static void collect(void *ud, int id, const char *msg)
{
  struct errs *e = ud;
  if (e->n < 64) {
    e->id[e->n] = id;
    snprintf(e->msg[e->n], sizeof e->msg[0], "%s", msg);
  }
  e->n++;
}

static json_t *J(const char *text)
{
  json_error_t je;
  json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
  cr_assert(v, "bad JSON in test: %s (%s)", text, je.text);
  return v;
}

static int add(struct expr_prog *p, const char *s)
{
  int id = expr_prog_add(p, s, strlen(s));
  cr_assert(id >= 0, "add `%s` -> %d", s, id);
  return id;
}

static void compile_ok(struct expr_prog *p)
{
  struct errs e = {0};
  int rc = expr_prog_compile(p, collect, &e);
  cr_assert_eq(rc, 0, "compile failed: %d: %s", e.n ? e.id[0] : -1, e.n ? e.msg[0] : "");
}

/* Evaluates one expression on a fresh program. */
static int eval1(const char *src, const char *ctx, const struct expr_env *env, json_t **out,
                 char **err)
{
  struct expr_prog *p = expr_prog_new();
  int id = add(p, src);
  compile_ok(p);
  json_t *c = J(ctx);
  int rc = expr_eval(p, id, c, env, out, err);
  json_decref(c);
  expr_prog_free(p);
  return rc;
}

static void assert_json_eq(const json_t *got, const char *want, const char *what)
{
  json_t *w = J(want);
  char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
  cr_assert(json_equal(got, w), "%s: got %s, want %s", what, g, want);
  /* json_equal treats 4 and 4.0 as different, which is what we want */
  free(g);
  json_decref(w);
}

/* ---- registration --------------------------------------------------- */

Test(expr, add_dedups_by_trimmed_text)
{
  struct expr_prog *p = expr_prog_new();
  int a = add(p, ".a | length");
  int b = add(p, "  .a | length\n ");
  int c = add(p, ".b");
  cr_assert_eq(a, b);
  cr_assert_neq(a, c);
  cr_assert_eq(expr_prog_count(p), 2);
  cr_assert_str_eq(expr_prog_text(p, a), ".a | length");
  cr_assert_null(expr_prog_text(p, 7));
  expr_prog_free(p);
}

Test(expr, add_refuses_over_16_kib)
{
  struct expr_prog *p = expr_prog_new();
  size_t n = 16 * 1024;
  char *s = malloc(n + 2);
  memset(s, '1', n + 1);
  s[n + 1] = '\0';
  cr_assert_eq(expr_prog_add(p, s, n + 1), WEFT_ELIMIT);
  cr_assert_geq(expr_prog_add(p, s, n), 0, "exactly 16 KiB is allowed");
  free(s);
  expr_prog_free(p);
}

Test(expr, add_after_compile_takes_plain_paths_only)
{
  struct expr_prog *p = expr_prog_new();
  add(p, ".a | floor"); /* not plain, not mini.c's subset: needs jq */
  compile_ok(p);
  cr_assert_geq(expr_prog_add(p, ".b.c", 4), 0);
  cr_assert_geq(expr_prog_add(p, ".b + 1", 6), 0, "mini.c's subset needs no compile");
  cr_assert_eq(expr_prog_add(p, ".b | floor", 10), WEFT_ESTATE);
  cr_assert_eq(expr_prog_add(p, ".a | floor", 10), 0, "a text already compiled keeps its id");
  expr_prog_free(p);
}

Test(expr, eval_before_compile_is_a_state_error)
{
  struct expr_prog *p = expr_prog_new();
  int id = add(p, ".a | floor");
  json_t *out = NULL, *c = J("{\"a\":1}");
  char *err = NULL;
  cr_assert_eq(expr_eval(p, id, c, NULL, &out, &err), WEFT_ESTATE);
  cr_assert_not_null(err);
  free(err);
  json_decref(c);
  expr_prog_free(p);
}

/* ---- compile -------------------------------------------------------- */

Test(expr, two_hundred_expressions_compile_in_one_jq_compile)
{
  struct expr_prog *p = expr_prog_new();
  char buf[64];
  int ids[200];
  for (int i = 0; i < 200; i++) {
    snprintf(buf, sizeof buf, ".n + %d | floor", i); /* `| floor`: not mini.c's */
    ids[i] = add(p, buf);
  }
  unsigned long before = expr_debug_compile_count();
  compile_ok(p);
  cr_assert_eq(expr_debug_compile_count() - before, 1);
  json_t *c = J("{\"n\": 1000}");
  for (int i = 0; i < 200; i += 37) {
    json_t *out = NULL;
    char *err = NULL;
    cr_assert_eq(expr_eval(p, ids[i], c, NULL, &out, &err), 0, "%s", err);
    cr_assert_eq(json_integer_value(out), 1000 + i, "id %d selects its own expression", ids[i]);
    json_decref(out);
  }
  json_decref(c);
  expr_prog_free(p);
}

Test(expr, many_expressions_stay_under_jq_function_size_limit)
{
  /* jq 1.6 refuses one function over 64 KiB of bytecode ("function compiled
   * to N bytes which is too long"): 256 expressions of 40 array elements
   * would overflow a single if-tree, so the dispatch is cut into defs. */
  struct expr_prog *p = expr_prog_new();
  char buf[1024];
  for (int i = 0; i < 256; i++) {
    int n = snprintf(buf, sizeof buf, "[");
    for (int k = 0; k < 40; k++)
      n += snprintf(buf + n, sizeof buf - (size_t)n, "%s.x%d", k ? ", " : "", k);
    snprintf(buf + n, sizeof buf - (size_t)n, "] | length + %d", i);
    add(p, buf);
  }
  compile_ok(p);
  json_t *c = J("{}");
  int probe[] = {0, 137, 255};
  for (size_t k = 0; k < 3; k++) {
    json_t *out = NULL;
    char *err = NULL;
    cr_assert_eq(expr_eval(p, probe[k], c, NULL, &out, &err), 0, "%s", err);
    cr_assert_eq(json_integer_value(out), 40 + probe[k]);
    json_decref(out);
  }
  json_decref(c);
  expr_prog_free(p);
}

Test(expr, thousands_of_expressions_compile_in_shards)
{
  /* jq 1.6's compile time grows faster than linearly with program size, so
   * programs are compiled in shards of 256 expressions: 1000 expressions
   * take 4 compiles, and every id still selects its own expression. */
  struct expr_prog *p = expr_prog_new();
  char buf[64];
  for (int i = 0; i < 1000; i++) {
    snprintf(buf, sizeof buf, ".x%d | tostring", i);
    add(p, buf);
  }
  unsigned long before = expr_debug_compile_count();
  compile_ok(p);
  cr_assert_eq(expr_debug_compile_count() - before, 4);
  json_t *c = J("{\"x999\": 5, \"x0\": 1, \"x256\": 2}");
  int probe[] = {0, 256, 999};
  const char *want[] = {"\"1\"", "\"2\"", "\"5\""};
  for (size_t k = 0; k < 3; k++) {
    json_t *out = NULL;
    char *err = NULL;
    cr_assert_eq(expr_eval(p, probe[k], c, NULL, &out, &err), 0, "%s", err);
    assert_json_eq(out, want[k], "probe");
    json_decref(out);
  }
  json_decref(c);
  expr_prog_free(p);
}

Test(expr, all_plain_program_never_calls_jq)
{
  struct expr_prog *p = expr_prog_new();
  add(p, ".inputs.x");
  add(p, "success");
  add(p, ".steps[\"a-b\"].outputs.list[0]");
  unsigned long before = expr_debug_compile_count();
  compile_ok(p);
  cr_assert_eq(expr_debug_compile_count(), before);
  expr_prog_free(p);
}

Test(expr, syntax_error_reported_for_the_right_id_among_many)
{
  struct expr_prog *p = expr_prog_new();
  char buf[64];
  int bad1 = -1, bad2 = -1;
  for (int i = 0; i < 60; i++) {
    if (i == 17) {
      bad1 = add(p, ".a +");
    } else if (i == 41) {
      bad2 = add(p, ".x | nosuchfn");
    } else {
      snprintf(buf, sizeof buf, ".v | . * %d", i);
      add(p, buf);
    }
  }
  struct errs e = {0};
  cr_assert_eq(expr_prog_compile(p, collect, &e), WEFT_EEXPR);
  cr_assert_eq(e.n, 2, "exactly the two bad ones are reported (got %d)", e.n);
  cr_assert_eq(e.id[0], bad1);
  cr_assert_eq(e.id[1], bad2);
  cr_assert(strstr(e.msg[0], "syntax error"), "%s", e.msg[0]);
  cr_assert(!strstr(e.msg[0], "jq: error"), "jq's decoration is removed: %s", e.msg[0]);
  cr_assert(!strstr(e.msg[0], "top-level"), "%s", e.msg[0]);
  cr_assert(strstr(e.msg[1], "nosuchfn/0 is not defined"), "%s", e.msg[1]);
  expr_prog_free(p);
}

Test(expr, unexpected_character_message_keeps_its_essence)
{
  struct expr_prog *p = expr_prog_new();
  int id = add(p, ".a )");
  struct errs e = {0};
  cr_assert_eq(expr_prog_compile(p, collect, &e), WEFT_EEXPR);
  cr_assert_eq(e.n, 1);
  cr_assert_eq(e.id[0], id);
  cr_assert(strstr(e.msg[0], "syntax error, unexpected INVALID_CHARACTER"), "%s", e.msg[0]);
  cr_assert(!strstr(e.msg[0], "Unix shell"), "%s", e.msg[0]);
  expr_prog_free(p);
}

Test(expr, error_in_multi_line_expression_names_its_line)
{
  struct expr_prog *p = expr_prog_new();
  add(p, ".a |\n  .b |\n  nosuch");
  struct errs e = {0};
  cr_assert_eq(expr_prog_compile(p, collect, &e), WEFT_EEXPR);
  cr_assert_eq(e.n, 1);
  cr_assert_str_eq(e.msg[0], "nosuch/0 is not defined (line 3 of the expression)");
  expr_prog_free(p);
}

Test(expr, nul_byte_in_expression_is_an_error)
{
  struct expr_prog *p = expr_prog_new();
  int id = expr_prog_add(p, ".a | tostring\0) | .b", 20);
  cr_assert_geq(id, 0);
  struct errs e = {0};
  cr_assert_eq(expr_prog_compile(p, collect, &e), WEFT_EEXPR);
  cr_assert_eq(e.n, 1);
  cr_assert_eq(e.id[0], id);
  cr_assert(strstr(e.msg[0], "NUL"), "%s", e.msg[0]);
  expr_prog_free(p);
}

Test(expr, empty_expression_is_an_error)
{
  struct expr_prog *p = expr_prog_new();
  int id = add(p, "   ");
  struct errs e = {0};
  cr_assert_eq(expr_prog_compile(p, collect, &e), WEFT_EEXPR);
  cr_assert_eq(e.n, 1);
  cr_assert_eq(e.id[0], id);
  expr_prog_free(p);
}

Test(expr, import_and_include_are_refused_without_abort)
{
  const char *srcs[] = {"import \"a\" as a; a::f", "include \"x\"; 1",
                        "import \"./rel\" as $d; $d", "1 | import \"a\" as a; ."};
  for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
    struct expr_prog *p = expr_prog_new();
    int id = add(p, srcs[i]);
    struct errs e = {0};
    cr_assert_eq(expr_prog_compile(p, collect, &e), WEFT_EEXPR, "%s", srcs[i]);
    cr_assert_eq(e.n, 1, "%s", srcs[i]);
    cr_assert_eq(e.id[0], id);
    expr_prog_free(p);
  }
}

Test(expr, home_jq_file_is_not_loaded)
{
  char dir[] = "/tmp/weft-expr-home-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char path[128];
  snprintf(path, sizeof path, "%s/.jq", dir);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs("def broken: ;;; syntax error here\n", f);
  fclose(f);
  setenv("HOME", dir, 1);
  json_t *out = NULL;
  char *err = NULL;
  cr_assert_eq(eval1(".a + 1", "{\"a\":1}", NULL, &out, &err), 0, "%s", err);
  assert_json_eq(out, "2", "result");
  cr_assert_str_eq(getenv("HOME"), dir, "HOME is restored");
  json_decref(out);
  unlink(path);
  rmdir(dir);
}

/* ---- injection ------------------------------------------------------ */

Test(expr, injection_cannot_escape_its_parentheses)
{
  const char *attacks[] = {
      ".a) | (.secrets",            /* closes the wrapper early */
      "1 else .secrets end",        /* keywords of the dispatch tree */
      "\"\\(.a) | (.b",             /* a string that never closes */
      ".a ] | .b [",                /* wrong bracket kinds */
      "\"unterminated",
  };
  for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
    struct expr_prog *p = expr_prog_new();
    int a = add(p, ".x");
    int b = add(p, ".y | tostring");
    int bad = add(p, attacks[i]);
    int c = add(p, ".z | tostring");
    struct errs e = {0};
    cr_assert_eq(expr_prog_compile(p, collect, &e), WEFT_EEXPR, "%s", attacks[i]);
    cr_assert_eq(e.n, 1, "only the attack is blamed: %s (%d errors)", attacks[i], e.n);
    cr_assert_eq(e.id[0], bad, "%s", attacks[i]);
    (void)a, (void)b, (void)c;
    expr_prog_free(p);
  }
}

Test(expr, trailing_comment_cannot_eat_the_closing_paren)
{
  struct expr_prog *p = expr_prog_new();
  int a = add(p, ".a # a comment )");
  int b = add(p, ".b | tostring");
  compile_ok(p);
  json_t *c = J("{\"a\": 1, \"b\": 2}");
  json_t *out = NULL;
  char *err = NULL;
  cr_assert_eq(expr_eval(p, a, c, NULL, &out, &err), 0, "%s", err);
  assert_json_eq(out, "1", "commented");
  json_decref(out);
  cr_assert_eq(expr_eval(p, b, c, NULL, &out, &err), 0, "%s", err);
  assert_json_eq(out, "\"2\"", "neighbour");
  json_decref(out);
  json_decref(c);
  expr_prog_free(p);
}

Test(expr, definitions_stay_inside_their_expression)
{
  struct expr_prog *p = expr_prog_new();
  int a = add(p, "def success: false; def env: {x: 1}; [success, env]");
  int b = add(p, "[success, env, $ENV]");
  compile_ok(p);
  json_t *c = J("{}");
  struct expr_env env = {.success = true};
  json_t *out = NULL;
  char *err = NULL;
  cr_assert_eq(expr_eval(p, a, c, &env, &out, &err), 0, "%s", err);
  assert_json_eq(out, "[false, {\"x\": 1}]", "redefined inside");
  json_decref(out);
  cr_assert_eq(expr_eval(p, b, c, &env, &out, &err), 0, "%s", err);
  assert_json_eq(out, "[true, {}, {}]", "untouched outside");
  json_decref(out);
  json_decref(c);
  expr_prog_free(p);
}

/* ---- evaluation ----------------------------------------------------- */

Test(expr, single_expression_keeps_its_json_type)
{
  const char *t[] = {"${{ .inputs.epochs }}", "${{ .inputs.epochs * 2 }}", "${{ .inputs.flag }}",
                     "${{ .inputs.list | map(. + 1) }}", "${{ .inputs.none }}"};
  const char *want[] = {"3", "6", "true", "[2, 3]", "null"};
  struct expr_prog *p = expr_prog_new();
  add(p, ".inputs.epochs");
  add(p, ".inputs.epochs * 2");
  add(p, ".inputs.flag");
  add(p, ".inputs.list | map(. + 1)");
  add(p, ".inputs.none");
  compile_ok(p);
  json_t *c = J("{\"inputs\": {\"epochs\": 3, \"flag\": true, \"list\": [1, 2]}}");
  for (size_t i = 0; i < 5; i++) {
    json_t *out = NULL;
    char *err = NULL;
    cr_assert_eq(expr_render_str(p, t[i], c, NULL, &out, &err), 0, "%s: %s", t[i], err);
    assert_json_eq(out, want[i], t[i]);
    json_decref(out);
  }
  json_decref(c);
  expr_prog_free(p);
}

Test(expr, splicing_strings_numbers_json_and_null)
{
  struct expr_prog *p = expr_prog_new();
  add(p, ".s");
  add(p, ".n");
  add(p, ".o");
  add(p, ".z");
  add(p, ".f");
  add(p, ".r / 10");
  compile_ok(p);
  json_t *c = J("{\"s\": \"x y\", \"n\": 3, \"o\": {\"k\": [1, \"a\"]}, \"z\": null, "
                "\"f\": false, \"r\": 1}");
  json_t *out = NULL;
  char *err = NULL;
  cr_assert_eq(expr_render_str(p, "s=${{ .s }} n=${{.n}} o=${{ .o }} z=[${{ .z }}] f=${{ .f }} "
                                  "r=${{ .r / 10 }}",
                               c, NULL, &out, &err),
               0, "%s", err);
  cr_assert_str_eq(json_string_value(out), "s=x y n=3 o={\"k\":[1,\"a\"]} z=[] f=false r=0.1");
  json_decref(out);
  /* one expression with text around it is a string too */
  cr_assert_eq(expr_render_str(p, " ${{ .n }}", c, NULL, &out, &err), 0, "%s", err);
  assert_json_eq(out, "\" 3\"", "leading space");
  json_decref(out);
  json_decref(c);
  expr_prog_free(p);
}

Test(expr, render_copies_templates_and_leaves_keys_alone)
{
  struct expr_prog *p = expr_prog_new();
  add(p, ".a");
  add(p, ".b | length");
  compile_ok(p);
  json_t *t = J("{\"${{ .a }}\": [\"${{ .a }}\", \"n=${{ .b | length }}\", 1.5, null, "
                "{\"k\": \"plain\"}]}");
  json_t *c = J("{\"a\": 7, \"b\": [1, 2]}");
  json_t *out = NULL;
  char *err = NULL;
  cr_assert_eq(expr_render(p, t, c, NULL, &out, &err), 0, "%s", err);
  assert_json_eq(out, "{\"${{ .a }}\": [7, \"n=2\", 1.5, null, {\"k\": \"plain\"}]}", "render");
  cr_assert_neq(json_object_get(out, "${{ .a }}"), json_object_get(t, "${{ .a }}"),
                "a deep copy");
  json_decref(out);
  json_decref(t);
  json_decref(c);
  expr_prog_free(p);
}

Test(expr, render_of_string_without_expression_evaluates_nothing)
{
  struct expr_prog *p = expr_prog_new(); /* nothing registered, nothing compiled */
  json_t *out = NULL;
  char *err = NULL;
  cr_assert_eq(expr_render_str(p, "just text with $ and {{ }}", NULL, NULL, &out, &err), 0);
  cr_assert_str_eq(json_string_value(out), "just text with $ and {{ }}");
  json_decref(out);
  expr_prog_free(p);
}

Test(expr, render_of_unregistered_expression)
{
  struct expr_prog *p = expr_prog_new();
  compile_ok(p);
  json_t *c = J("{\"a\": {\"b\": 5}}");
  json_t *out = NULL;
  char *err = NULL;
  cr_assert_eq(expr_render_str(p, "${{ .a.b }}", c, NULL, &out, &err), 0, "plain needs no jq");
  assert_json_eq(out, "5", "plain");
  json_decref(out);
  cr_assert_eq(expr_render_str(p, "${{ .a.b + 1 }}", c, NULL, &out, &err), WEFT_ENOTFOUND);
  cr_assert(err && strstr(err, "never registered"), "%s", err);
  free(err);
  json_decref(c);
  expr_prog_free(p);
}

Test(expr, render_reports_the_failing_expression)
{
  struct expr_prog *p = expr_prog_new();
  add(p, ".a");
  add(p, ".a | error(\"boom\")");
  compile_ok(p);
  json_t *t = J("{\"k\": [\"ok ${{ .a }}\", \"x=${{ .a | error(\\\"boom\\\") }}\"]}");
  json_t *c = J("{\"a\": 1}");
  json_t *out = NULL;
  char *err = NULL;
  cr_assert_eq(expr_render(p, t, c, NULL, &out, &err), WEFT_EEXPR);
  cr_assert_null(out);
  cr_assert_str_eq(err, "expression `.a | error(\"boom\")` failed: boom");
  free(err);
  err = NULL;
  cr_assert_eq(expr_render_str(p, "a ${{ .a", c, NULL, &out, &err), WEFT_EPARSE);
  cr_assert(err && strstr(err, "offset 2"), "%s", err);
  free(err);
  json_decref(t);
  json_decref(c);
  expr_prog_free(p);
}

Test(expr, runtime_error_names_the_expression)
{
  json_t *out = NULL;
  char *err = NULL;
  cr_assert_eq(eval1(".a | error(\"x\")", "{\"a\":1}", NULL, &out, &err), WEFT_EEXPR);
  cr_assert_null(out);
  cr_assert_str_eq(err, "expression `.a | error(\"x\")` failed: x");
  free(err);
  err = NULL;
  cr_assert_eq(eval1("error({\"code\": 2})", "{}", NULL, &out, &err), WEFT_EEXPR);
  cr_assert_str_eq(err, "expression `error({\"code\": 2})` failed: {\"code\":2} (not a string)");
  free(err);
}

Test(expr, no_value_is_an_error)
{
  json_t *out = NULL;
  char *err = NULL;
  cr_assert_eq(eval1(".a[]", "{\"a\": []}", NULL, &out, &err), WEFT_EEXPR);
  cr_assert_str_eq(err, "expression `.a[]` yielded no value");
  free(err);
}

Test(expr, several_values_are_an_error)
{
  json_t *out = NULL;
  char *err = NULL;
  cr_assert_eq(eval1(".a[]", "{\"a\": [1, 2]}", NULL, &out, &err), WEFT_EEXPR);
  cr_assert_str_eq(err, "expression `.a[]` yielded more than one value");
  free(err);
}

Test(expr, halt_is_an_error)
{
  json_t *out = NULL;
  char *err = NULL;
  cr_assert_eq(eval1("\"bye\" | halt_error", "{}", NULL, &out, &err), WEFT_EEXPR);
  cr_assert(strstr(err, "halt_error is not available"), "%s", err);
  free(err);
  err = NULL;
  cr_assert_eq(eval1("halt", "{}", NULL, &out, &err), WEFT_EEXPR);
  cr_assert(strstr(err, "halt is not available"), "%s", err);
  free(err);
}

Test(expr, program_is_reusable_after_errors)
{
  struct expr_prog *p = expr_prog_new();
  int bad = add(p, ".a | error(\"boom\")");
  int many = add(p, ".a[]");
  int good = add(p, ".a | length");
  compile_ok(p);
  json_t *c = J("{\"a\": [1, 2, 3]}");
  json_t *out = NULL;
  char *err = NULL;
  for (int round = 0; round < 3; round++) {
    cr_assert_eq(expr_eval(p, bad, c, NULL, &out, &err), WEFT_EEXPR);
    free(err), err = NULL;
    cr_assert_eq(expr_eval(p, many, c, NULL, &out, &err), WEFT_EEXPR);
    free(err), err = NULL;
    cr_assert_eq(expr_eval(p, good, c, NULL, &out, &err), 0, "%s", err);
    assert_json_eq(out, "3", "after errors");
    json_decref(out);
  }
  json_decref(c);
  expr_prog_free(p);
}

Test(expr, helpers_read_the_env_in_plain_and_jq_forms)
{
  struct expr_prog *p = expr_prog_new();
  int s = add(p, "success"), f = add(p, "failure"), a = add(p, "always"),
      c = add(p, "cancelled"), n = add(p, "none_failed");
  int js = add(p, "success | not | not"), jf = add(p, "[failure][0]"),
      jc = add(p, "cancelled and always"), jn = add(p, "[none_failed][0] | not | not"),
      mn = add(p, "none_failed and true");
  compile_ok(p);
  struct expr_env envs[] = {{true, false, false, false}, {false, true, true, true}};
  json_t *ctx = J("{}");
  for (int i = 0; i < 2; i++) {
    struct expr_env *e = &envs[i];
    struct {
      int id;
      bool want;
    } cases[] = {{s, e->success}, {f, e->failure}, {a, true},           {c, e->cancelled},
                 {js, e->success}, {jf, e->failure}, {jc, e->cancelled},
                 {n, e->none_failed}, {jn, e->none_failed}, {mn, e->none_failed}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
      json_t *out = NULL;
      char *err = NULL;
      cr_assert_eq(expr_eval(p, cases[k].id, ctx, e, &out, &err), 0, "%s", err);
      cr_assert_eq(json_is_true(out), cases[k].want, "`%s` with env %d",
                   expr_prog_text(p, cases[k].id), i);
      json_decref(out);
    }
  }
  json_decref(ctx);
  expr_prog_free(p);
}

Test(expr, call_syntax_for_helpers_is_not_jq)
{
  struct expr_prog *p = expr_prog_new();
  int id = add(p, "success()");
  struct errs e = {0};
  cr_assert_eq(expr_prog_compile(p, collect, &e), WEFT_EEXPR);
  cr_assert_eq(e.n, 1);
  cr_assert_eq(e.id[0], id);
  expr_prog_free(p);
}

Test(expr, builtins_that_need_host_callbacks_are_safe)
{
  /* jq 1.6 leaves the input and debug callbacks uninitialised (ASan fills
   * them with garbage): they must be set to NULL before anything runs */
  struct {
    const char *src, *want; /* want NULL: an expression error */
  } cases[] = {{"debug | 1", "1"}, {"[inputs]", "[]"}, {"input", NULL},
               {"input_filename", "null"}, {"get_search_list", "[]"},
               {"input_line_number", "0"}, {"\"x\" | stderr", "\"x\""}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *out = NULL;
    char *err = NULL;
    int rc = eval1(cases[i].src, "{}", NULL, &out, &err);
    if (cases[i].want) {
      cr_assert_eq(rc, 0, "%s: %s", cases[i].src, err);
      assert_json_eq(out, cases[i].want, cases[i].src);
    } else {
      cr_assert_eq(rc, WEFT_EEXPR, "%s", cases[i].src);
    }
    json_decref(out);
    free(err);
  }
}

Test(expr, env_and_dollar_env_are_empty)
{
  const char *srcs[] = {"env", "$ENV", "env.HOME", "$ENV.HOME", "env | length"};
  const char *want[] = {"{}", "{}", "null", "null", "0"};
  for (size_t i = 0; i < 5; i++) {
    json_t *out = NULL;
    char *err = NULL;
    cr_assert_eq(eval1(srcs[i], "{}", NULL, &out, &err), 0, "%s: %s", srcs[i], err);
    assert_json_eq(out, want[i], srcs[i]);
    json_decref(out);
  }
}

Test(expr, dashed_step_name_is_jq_subtraction)
{
  struct expr_prog *p = expr_prog_new();
  int bad = add(p, ".steps.my-step");
  int good = add(p, ".steps[\"my-step\"].status");
  struct errs e = {0};
  cr_assert_eq(expr_prog_compile(p, collect, &e), WEFT_EEXPR);
  cr_assert_eq(e.n, 1);
  cr_assert_eq(e.id[0], bad);
  cr_assert(strstr(e.msg[0], "step/0 is not defined"), "%s", e.msg[0]);
  /* the bracket form is a plain path and works without jq */
  json_t *c = J("{\"steps\": {\"my-step\": {\"status\": \"succeeded\"}}}");
  json_t *out = NULL;
  char *err = NULL;
  cr_assert_eq(expr_eval(p, good, c, NULL, &out, &err), 0, "%s", err);
  assert_json_eq(out, "\"succeeded\"", "bracket form");
  json_decref(out);
  json_decref(c);
  expr_prog_free(p);
}

/* Plain paths must give exactly what jq gives: each path is registered as
 * is (plain, no jq) and as `. as $x | PATH` (jq), and both are evaluated on the
 * same contexts; values and error messages must agree. */
Test(expr, plain_paths_equal_jq_results)
{
  const char *paths[] = {
      ".",         ".a",          ".a.b",          ".a.b.c",         ".a[\"b\"]",
      ".[\"a\"]",  ".a[0]",       ".a[-1]",        ".a[5]",          ".a[-9]",
      ".[0]",      ".a.b[1].c",   ".\"a\"",        ".a.\"b\"",       ".steps.x.outputs.y",
      ".item",     ".index",      ".a[\"\xc3\xa9t\xc3\xa9\"]",      ".a.if",
      ".a.end",    ".long_key_abcdefghijklmnopqrstuvwxyz",          ".a[00001]",
      ".a.b.abcdefghijabcdefghijabcdefghij",
  };
  const char *ctxs[] = {
      "{\"a\": {\"b\": {\"c\": 1}, \"if\": 2, \"end\": [3]}}",
      "{\"a\": [10, 20, {\"c\": 30}]}",
      "{\"a\": [\"x\", {\"c\": \"y\"}], \"item\": {\"k\": 1}, \"index\": 4}",
      "{\"a\": null}",
      "{\"a\": \"str\"}",
      "{\"a\": {\"b\": 5}}",
      "{\"a\": {\"b\": true}}",
      "{\"a\": {\"\xc3\xa9t\xc3\xa9\": \"summer\"}}",
      "[1, 2]",
      "{\"steps\": {\"x\": {\"outputs\": {\"y\": [1]}}}}",
      "{}",
      "null",
      "\"s\"",
      "7",
  };
  size_t np = sizeof paths / sizeof paths[0], nc = sizeof ctxs / sizeof ctxs[0];
  struct expr_prog *p = expr_prog_new();
  int plain[64], viajq[64];
  char buf[256];
  for (size_t i = 0; i < np; i++) {
    plain[i] = add(p, paths[i]);
    snprintf(buf, sizeof buf, ". as $x | %s", paths[i]); /* jq, not mini.c */
    viajq[i] = add(p, buf);
  }
  unsigned long before = expr_debug_compile_count();
  compile_ok(p);
  cr_assert_eq(expr_debug_compile_count() - before, 1, "only the `. as $x | …` forms went to jq");
  for (size_t k = 0; k < nc; k++) {
    json_t *c = J(ctxs[k]);
    for (size_t i = 0; i < np; i++) {
      json_t *a = NULL, *b = NULL;
      char *ea = NULL, *eb = NULL;
      int ra = expr_eval(p, plain[i], c, NULL, &a, &ea);
      int rb = expr_eval(p, viajq[i], c, NULL, &b, &eb);
      cr_assert_eq(ra, rb, "`%s` on %s: plain %d (%s), jq %d (%s)", paths[i], ctxs[k], ra,
                   ea ? ea : "", rb, eb ? eb : "");
      if (ra == 0) {
        char *sa = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
        char *sb = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
        cr_assert(json_equal(a, b), "`%s` on %s: plain %s, jq %s", paths[i], ctxs[k], sa, sb);
        free(sa);
        free(sb);
      } else {
        const char *ma = strstr(ea, "failed: "), *mb = strstr(eb, "failed: ");
        cr_assert(ma && mb, "%s / %s", ea, eb);
        cr_assert_str_eq(ma, mb, "`%s` on %s: error messages differ", paths[i], ctxs[k]);
      }
      json_decref(a);
      json_decref(b);
      free(ea);
      free(eb);
    }
    json_decref(c);
  }
  expr_prog_free(p);
}

Test(expr, plain_path_results_keep_exact_64_bit_integers)
{
  json_t *out = NULL;
  char *err = NULL;
  cr_assert_eq(eval1(".n", "{\"n\": 9223372036854775807}", NULL, &out, &err), 0);
  cr_assert(json_is_integer(out));
  cr_assert_eq(json_integer_value(out), INT64_MAX);
  json_decref(out);
  cr_assert_eq(eval1(".n", "{\"n\": 9007199254740993}", NULL, &out, &err), 0);
  cr_assert_eq(json_integer_value(out), 9007199254740993LL);
  json_decref(out);
}

Test(expr, jq_numbers_come_back_as_integers_when_exact)
{
  struct {
    const char *src, *want;
    bool integer;
  } cases[] = {
      {".n + 1", "4", true},
      {".n / 3", "1", true},
      {".n / 2", "1.5", false},
      {"pow(2; 60)", "1152921504606846976", true},
      {"pow(2; 70)", "1.1805916207174113e21", false},
      {"-.n", "-3", true},
      {".big + 0", "9007199254740992", true}, /* 2^53+1 rounds in jq 1.6 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *out = NULL;
    char *err = NULL;
    cr_assert_eq(eval1(cases[i].src, "{\"n\": 3, \"big\": 9007199254740993}", NULL, &out, &err),
                 0, "%s: %s", cases[i].src, err);
    cr_assert_eq(json_is_integer(out), cases[i].integer, "%s", cases[i].src);
    assert_json_eq(out, cases[i].want, cases[i].src);
    json_decref(out);
  }
}

Test(expr, jq_nan_and_infinity_convert_like_jq_prints_them)
{
  json_t *out = NULL;
  char *err = NULL;
  cr_assert_eq(eval1("nan", "{}", NULL, &out, &err), 0, "%s", err);
  cr_assert(json_is_null(out));
  json_decref(out);
  cr_assert_eq(eval1("infinite", "{}", NULL, &out, &err), 0, "%s", err);
  cr_assert(json_is_real(out) && json_real_value(out) > 1e308);
  json_decref(out);
}

Test(expr, strings_with_nul_and_unicode_survive_jq)
{
  json_t *out = NULL;
  char *err = NULL;
  cr_assert_eq(eval1(".s + \"\\u0000\\u00e9\"", "{\"s\": \"a\"}", NULL, &out, &err), 0, "%s",
               err);
  cr_assert_eq(json_string_length(out), 4);
  cr_assert(memcmp(json_string_value(out), "a\0\xc3\xa9", 4) == 0);
  json_decref(out);
}

Test(expr, truthiness_follows_jq)
{
  json_t *f = json_false(), *n = json_null(), *z = json_integer(0), *e = json_string("");
  cr_assert_not(expr_truthy(f));
  cr_assert_not(expr_truthy(n));
  cr_assert_not(expr_truthy(NULL));
  cr_assert(expr_truthy(z));
  cr_assert(expr_truthy(e));
  json_decref(z);
  json_decref(e);
}

/* ---- split ---------------------------------------------------------- */

struct segs {
  int n;
  struct expr_seg s[16];
};

static int seg_cb(void *ud, const struct expr_seg *seg)
{
  struct segs *s = ud;
  if (s->n < 16)
    s->s[s->n] = *seg;
  s->n++;
  return 0;
}

static bool seg_is(const struct expr_seg *s, bool is_expr, const char *text, size_t offset)
{
  return s->is_expr == is_expr && s->len == strlen(text) && memcmp(s->p, text, s->len) == 0 &&
         s->offset == offset;
}

Test(expr, split_gives_literals_and_trimmed_expressions_with_offsets)
{
  const char *s = "a ${{ .x }}b${{.y}}";
  struct segs g = {0};
  cr_assert_eq(expr_split(s, strlen(s), seg_cb, &g, NULL), 0);
  cr_assert_eq(g.n, 4);
  cr_assert(seg_is(&g.s[0], false, "a ", 0));
  cr_assert(seg_is(&g.s[1], true, ".x", 2));
  cr_assert(seg_is(&g.s[2], false, "b", 11));
  cr_assert(seg_is(&g.s[3], true, ".y", 12));
}

Test(expr, split_skips_braces_and_strings_inside_expressions)
{
  const char *s = "${{ {a: {b: \"}}\"}} }}!${{ \"\\(1 + 2)}}\" }}";
  struct segs g = {0};
  cr_assert_eq(expr_split(s, strlen(s), seg_cb, &g, NULL), 0);
  cr_assert_eq(g.n, 3);
  cr_assert(seg_is(&g.s[0], true, "{a: {b: \"}}\"}}", 0));
  cr_assert(seg_is(&g.s[1], false, "!", 21));
  cr_assert(seg_is(&g.s[2], true, "\"\\(1 + 2)}}\"", 22));
}

Test(expr, split_reports_unclosed_expression_offset)
{
  const char *s = "ok ${{ .a }} then ${{ .b ";
  struct segs g = {0};
  size_t bad = 0;
  cr_assert_eq(expr_split(s, strlen(s), seg_cb, &g, &bad), WEFT_EPARSE);
  cr_assert_eq(bad, 18);
  cr_assert_eq(g.n, 3, "segments before the broken tail are delivered");
}

Test(expr, split_of_text_without_expressions_is_one_literal)
{
  struct segs g = {0};
  cr_assert_eq(expr_split("", 0, seg_cb, &g, NULL), 0);
  cr_assert_eq(g.n, 1);
  cr_assert(seg_is(&g.s[0], false, "", 0));
  cr_assert_not(expr_has("a $ {{ }}", 9));
  cr_assert(expr_has("x${{", 4));
}

/* ---- refs ----------------------------------------------------------- */

struct refs {
  char got[1024];
};

static void ref_cb(void *ud, const char *root, const char *name, size_t len)
{
  struct refs *r = ud;
  size_t l = strlen(r->got);
  snprintf(r->got + l, sizeof r->got - l, "%s%s:%.*s", l ? " " : "", root,
           name ? (int)len : 1, name ? name : "*");
}

Test(expr, refs_scan_cases)
{
  struct {
    const char *src, *want;
  } cases[] = {
      {".steps.a.outputs.x + .steps.b.outputs.y", "steps:a steps:b"},
      {"[.steps[\"c-d\"].status]", "steps:c-d"},
      {".steps.\"e\".outputs", "steps:e"},
      {".needs.build.status == \"succeeded\"", "needs:build"},
      {"\".steps.x\" + \"\\(.steps.y.outputs.z)\"", "steps:y"},
      {".steps | keys", "steps:*"},
      {".steps[] | .status", "steps:*"},
      {".a.steps.x", ""},
      {".inputs.x | ascii_downcase", ""},
      {"{name: .steps.a.outputs.n, n: 1}", "steps:a"},
      {"if .inputs.f then .steps.t.outputs.v else .steps[\"e\"].outputs.v end",
       "steps:t steps:e"},
      {"tojson", "steps:* needs:*"},
      {". as $c | $c.steps.q", "steps:* needs:* steps:q"},
      {".[\"steps\"].w", "steps:w"},
      {"success and (.steps.k.outputs.list | map(.) | length) > 0", "steps:k"},
      {"# .steps.commented\n.steps.real", "steps:real"},
      {"..", "steps:* needs:*"},
      {"def f: .steps.g.outputs; f | .x", "steps:g"},
      {"def f: .; f", "steps:* needs:*"},
      {"now | todate", ""},
      {"{steps}", "steps:*"},
      {"reduce .steps.a.outputs.list[] as $x (0; . + $x)", "steps:a"},
      {"reduce .steps.a.outputs.list[] as [$x] (.; . + $x)", "steps:a steps:* needs:*"},
      {"(reduce .inputs.l[] as $x (0; . + $x)) | . + 1", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct refs r = {{0}};
    expr_refs(cases[i].src, strlen(cases[i].src), ref_cb, &r);
    cr_assert_str_eq(r.got, cases[i].want, "refs of `%s`", cases[i].src);
  }
}
