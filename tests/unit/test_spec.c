/* test_spec.c — loading and validating workflows (src/spec/).
 *
 * Data-driven parts: every tests/invalid/<rule>.yaml starts with
 * `# expect: <file>:<line>:<col>: <message>` lines and must produce exactly
 * those diagnostics, in order (paths relative to the repo root, loaded after
 * chdir(WEFT_SOURCE_DIR)); every file in tests/valid/ must load; every ```yaml
 * block of docs/language.md must validate (```yaml invalid blocks must not).
 * The rest checks the model built from valid files and the limits. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec/model.h"
#include "util/err.h"
#include "util/sha256.h"

static void to_root(void)
{
  const char *root = getenv("WEFT_SOURCE_DIR");
  if (!root)
    root = WEFT_SOURCE_DIR;
  cr_assert_eq(chdir(root), 0, "chdir %s", root);
}

struct path_param {
  char path[256];
};

static struct path_param *glob_params(const char *pattern, size_t *n)
{
  char full[512];
  const char *root = getenv("WEFT_SOURCE_DIR");
  if (!root)
    root = WEFT_SOURCE_DIR;
  snprintf(full, sizeof full, "%s/%s", root, pattern);
  glob_t g;
  *n = 0;
  if (glob(full, 0, NULL, &g) != 0)
    return NULL;
  struct path_param *v = cr_malloc(sizeof *v * (g.gl_pathc ? g.gl_pathc : 1));
  for (size_t i = 0; i < g.gl_pathc; i++)
    snprintf(v[i].path, sizeof v[i].path, "%s", g.gl_pathv[i] + strlen(root) + 1);
  *n = g.gl_pathc;
  globfree(&g);
  return v;
}

static void free_params(struct criterion_test_params *crp)
{
  cr_free(crp->params);
}

static char *slurp(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)n + 1);
  cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
  p[n] = 0;
  fclose(f);
  if (len)
    *len = (size_t)n;
  return p;
}

static struct wf *load_ok(const char *path)
{
  to_root();
  struct diag_list d = {0};
  struct wf *w = NULL;
  int rc = wf_load_file(path, &w, &d);
  for (size_t i = 0; i < d.n; i++) {
    char *s = diag_format(&d.v[i]);
    cr_log_error("%s", s);
    free(s);
  }
  cr_assert_eq(rc, 0, "%s does not load: %s", path, weft_strerror(rc));
  cr_assert_eq(d.n, 0);
  diag_list_free(&d);
  return w;
}

static int load_str(const char *src, struct wf **w, struct diag_list *d)
{
  return wf_load_string("t.yaml", src, strlen(src), w, d);
}

/* ---- the invalid corpus --------------------------------------------------- */

ParameterizedTestParameters(invalid, reports_exactly_the_expected_problems)
{
  size_t n;
  struct path_param *v = glob_params("tests/invalid/*.yaml", &n);
  return cr_make_param_array(struct path_param, v, n, free_params);
}

ParameterizedTest(struct path_param *p, invalid, reports_exactly_the_expected_problems)
{
  to_root();
  char *src = slurp(p->path, NULL);
  /* expected lines */
  char *exp[128];
  size_t ne = 0;
  for (char *line = src; line && *line == '#'; ) {
    char *nl = strchr(line, '\n');
    if (strncmp(line, "# expect: ", 10) == 0 && ne < 128)
      exp[ne++] = strndup(line + 10, nl ? (size_t)(nl - line - 10) : strlen(line + 10));
    line = nl ? nl + 1 : NULL;
  }
  cr_assert_gt(ne, 0, "%s has no # expect: lines", p->path);
  struct diag_list d = {0};
  struct wf *w = NULL;
  int rc = wf_load_file(p->path, &w, &d);
  cr_expect_neq(rc, 0, "%s loaded but should not", p->path);
  cr_expect_null(w);
  size_t n = d.n > ne ? d.n : ne;
  for (size_t i = 0; i < n; i++) {
    char *got = i < d.n ? diag_format(&d.v[i]) : NULL;
    const char *want = i < ne ? exp[i] : NULL;
    cr_expect(got && want && strcmp(got, want) == 0, "%s problem %zu:\n  want: %s\n  got:  %s",
              p->path, i + 1, want ? want : "(nothing)", got ? got : "(nothing)");
    free(got);
  }
  for (size_t i = 0; i < ne; i++)
    free(exp[i]);
  diag_list_free(&d);
  wf_free(w);
  free(src);
}

/* ---- valid files ---------------------------------------------------------- */

ParameterizedTestParameters(valid, loads_without_problems)
{
  size_t n;
  struct path_param *v = glob_params("tests/valid/*.yaml", &n);
  return cr_make_param_array(struct path_param, v, n, free_params);
}

ParameterizedTest(struct path_param *p, valid, loads_without_problems)
{
  struct wf *w = load_ok(p->path);
  cr_assert_gt(w->n_steps, 0);
  /* the order respects needs, main steps before finally steps */
  uint32_t *pos = calloc(w->n_steps, sizeof *pos);
  for (uint32_t k = 0; k < w->n_steps; k++)
    pos[w->topo[k]] = k + 1;
  for (uint32_t i = 0; i < w->n_steps; i++) {
    cr_assert_neq(pos[i], 0, "step %u missing from topo", i);
    for (uint32_t k = 0; k < w->steps[i].n_needs; k++)
      cr_assert_lt(pos[w->steps[i].needs[k]], pos[i]);
    if (w->steps[i].is_finally)
      cr_assert_gt(pos[i], w->n_main);
  }
  free(pos);
  wf_free(w);
}

static struct wf *full(void)
{
  return load_ok("tests/valid/full.yaml");
}

static const struct wf_step *step(const struct wf *w, const char *id)
{
  uint32_t i = wf_step_find(w, id);
  cr_assert_neq(i, WF_NONE, "no step %s", id);
  return &w->steps[i];
}

Test(model, top_level_fields_are_parsed)
{
  struct wf *w = full();
  cr_expect_str_eq(w->name, "nightly-training");
  cr_expect_str_eq(w->description, "Retrain and publish the ranking model");
  cr_expect_eq(w->timeout_ms, 6 * 3600 * 1000LL);
  cr_expect_eq(w->max_parallel, 8);
  cr_expect_eq(w->concurrency, 1);
  cr_expect_eq(w->fail_fast, false);
  cr_expect_eq(json_array_size(w->triggers), 6);
  cr_expect_str_eq(json_string_value(json_object_get(json_array_get(w->triggers, 2), "match")),
                   "${{ .event.size > 0 }}");
  cr_expect_eq(json_object_size(w->outputs), 2);
  cr_expect_str_eq(w->path, "tests/valid/full.yaml");
  cr_expect_str_eq(w->dir, "tests/valid");
  wf_free(w);
}

Test(model, inputs_keep_type_default_and_required)
{
  struct wf *w = full();
  cr_assert_eq(w->n_inputs, 7);
  cr_expect_str_eq(w->inputs[1].name, "epochs");
  cr_expect_eq(w->inputs[1].type, WF_T_INTEGER);
  cr_expect_eq(json_integer_value(w->inputs[1].def), 3);
  cr_expect_eq(w->inputs[3].required, true);
  cr_expect_null(w->inputs[3].def);
  cr_expect_str_eq(w->inputs[0].description, "source file");
  cr_expect_eq(w->inputs[6].type, WF_T_STRING, "an input without declaration is a string");
  wf_free(w);
}

Test(model, needs_are_indices_and_dependents_mirror_them)
{
  struct wf *w = full();
  const struct wf_step *join = step(w, "join");
  cr_assert_eq(join->n_needs, 2);
  cr_expect_eq(join->needs[0], wf_step_find(w, "evaluate"));
  cr_expect_eq(join->needs[1], wf_step_find(w, "poll"));
  const struct wf_step *train = step(w, "train");
  cr_assert_eq(train->n_needs, 1, "needs as a string");
  cr_expect_eq(train->needs[0], wf_step_find(w, "fetch"));
  cr_assert_eq(train->n_dependents, 2);
  cr_expect_eq(train->dependents[0], wf_step_find(w, "evaluate"));
  cr_expect_eq(train->dependents[1], wf_step_find(w, "poll"));
  cr_expect_eq(w->n_main, 5);
  cr_expect(step(w, "report")->is_finally);
  cr_expect_not(step(w, "join")->is_finally);
  wf_free(w);
}

Test(model, upstream_is_transitive_needs)
{
  struct wf *w = full();
  uint32_t fetch = wf_step_find(w, "fetch"), join = wf_step_find(w, "join"),
           poll = wf_step_find(w, "poll"), eval = wf_step_find(w, "evaluate");
  cr_expect(wf_is_upstream(w, fetch, join));
  cr_expect(wf_is_upstream(w, poll, join));
  cr_expect_not(wf_is_upstream(w, join, fetch));
  cr_expect_not(wf_is_upstream(w, eval, poll));
  cr_expect_not(wf_is_upstream(w, join, join));
  cr_expect_eq(wf_step_find(w, "nope"), WF_NONE);
  wf_free(w);
}

Test(model, defaults_are_merged_and_the_step_wins)
{
  struct wf *w = full();
  const struct wf_step *fetch = step(w, "fetch"), *train = step(w, "train");
  cr_expect_eq(fetch->timeout_ms, 30 * 60 * 1000, "timeout from defaults");
  cr_expect_eq(train->timeout_ms, 2 * 3600 * 1000, "own timeout wins");
  cr_expect_eq(fetch->retry.attempts, 3);
  cr_expect_eq(fetch->retry.delay_ms, 2000);
  cr_expect_eq(fetch->retry.backoff, WF_BACKOFF_EXPONENTIAL);
  cr_expect_eq(fetch->retry.factor, 2);
  cr_expect_eq(fetch->retry.max_delay_ms, 300000);
  cr_expect_str_eq(fetch->shell, "bash -e");
  cr_expect_str_eq(json_string_value(fetch->cwd), "/tmp");
  /* env: workflow, then defaults, then step */
  cr_expect_str_eq(json_string_value(json_object_get(fetch->env, "SHARED")), "step");
  cr_expect_str_eq(json_string_value(json_object_get(fetch->env, "FROM_DEFAULTS")), "yes");
  cr_expect_str_eq(json_string_value(json_object_get(fetch->env, "PYTHONUNBUFFERED")), "1");
  cr_expect_str_eq(json_string_value(json_object_get(fetch->env, "LEVEL")), "2");
  cr_expect_str_eq(json_string_value(json_object_get(train->env, "SHARED")), "defaults");
  cr_expect_str_eq(json_string_value(json_object_get(fetch->env, "DATASET")),
                   "${{ .inputs.dataset }}");
  wf_free(w);
}

Test(model, retry_fields_and_fixed_backoff)
{
  struct wf *w = full();
  const struct wf_step *t = step(w, "train");
  cr_expect_eq(t->retry.attempts, 5);
  cr_expect_eq(t->retry.delay_ms, 10000);
  cr_expect_eq(t->retry.backoff, WF_BACKOFF_FIXED);
  cr_expect_eq(t->retry.factor, 1, "fixed backoff has factor 1");
  cr_expect_eq(t->retry.max_delay_ms, 60000);
  cr_expect(t->retry.jitter);
  cr_expect_str_eq(json_string_value(t->retry.if_), "${{ .error.kind == \"exit_code\" }}");
  wf_free(w);
}

Test(model, retry_defaults_without_any_retry)
{
  struct wf *w = NULL;
  struct diag_list d = {0};
  cr_assert_eq(load_str("name: x\nsteps:\n  a: {run: echo}\n", &w, &d), 0);
  const struct wf_step *a = &w->steps[0];
  cr_expect_eq(a->retry.attempts, 1);
  cr_expect_eq(a->retry.delay_ms, 1000);
  cr_expect_eq(a->retry.backoff, WF_BACKOFF_EXPONENTIAL);
  cr_expect_eq(a->retry.factor, 2);
  cr_expect_eq(a->retry.max_delay_ms, 300000);
  cr_expect_not(a->retry.jitter);
  cr_expect_null(a->retry.if_);
  cr_expect_null(a->if_);
  cr_expect_eq(a->timeout_ms, 0);
  cr_expect_not_null(a->env);
  cr_expect_eq(json_object_size(a->env), 0);
  wf_free(w);
}

Test(model, conditions_are_normalised_to_templates)
{
  struct wf *w = full();
  cr_expect_str_eq(json_string_value(step(w, "evaluate")->if_), "${{ success }}");
  cr_expect_str_eq(json_string_value(step(w, "notify")->if_), "${{ always }}");
  const struct wf_step *poll = step(w, "poll");
  cr_expect(poll->repeat.set);
  cr_expect_str_eq(json_string_value(poll->repeat.until), "${{ .outputs.done }}");
  cr_expect_eq(poll->repeat.max, 10);
  cr_expect_eq(poll->repeat.delay_ms, 30000);
  const struct wf_step *ev = step(w, "evaluate");
  cr_expect(json_is_array(ev->for_each));
  cr_expect_eq(ev->max_parallel, 2);
  wf_free(w);
}

Test(model, repeat_max_defaults_to_100)
{
  struct wf *w = NULL;
  struct diag_list d = {0};
  cr_assert_eq(load_str("name: x\nsteps:\n  a: {run: echo, repeat: {until: .outputs.ok}}\n",
                        &w, &d), 0);
  cr_expect_eq(w->steps[0].repeat.max, 100);
  cr_expect_eq(w->steps[0].repeat.delay_ms, 0);
  wf_free(w);
}

Test(model, reads_lists_the_steps_expressions_read)
{
  struct wf *w = full();
  const struct wf_step *poll = step(w, "poll");
  cr_assert_eq(poll->n_reads, 1);
  cr_expect_eq(poll->reads[0], wf_step_find(w, "train"));
  const struct wf_step *notify = step(w, "notify");
  cr_assert_eq(notify->n_reads, 2);
  cr_expect_eq(notify->reads[0], wf_step_find(w, "poll"));
  cr_expect_eq(notify->reads[1], wf_step_find(w, "report"));
  cr_expect_eq(step(w, "fetch")->n_reads, 0);
  wf_free(w);
}

Test(model, every_kind_is_recognised_with_its_body)
{
  struct wf *w = load_ok("tests/valid/kinds.yaml");
  cr_expect_eq(step(w, "noop")->kind, WF_NOOP);
  cr_expect_null(step(w, "noop")->body);
  cr_expect_eq(step(w, "script")->kind, WF_RUN);
  cr_expect_str_eq(step(w, "script")->script, "echo \"hello\"\necho \"$NAME\"\n");
  const struct wf_step *argv = step(w, "argv");
  cr_expect_eq(argv->kind, WF_COMMAND);
  cr_expect_str_eq(json_string_value(json_array_get(argv->body, 2)), "42", "argv is strings");
  cr_expect_eq(step(w, "data")->kind, WF_SET);
  cr_expect_eq(step(w, "call")->kind, WF_HTTP);
  cr_expect_eq(step(w, "review")->kind, WF_AGENT);
  cr_expect_eq(step(w, "publish")->kind, WF_APPROVAL);
  cr_expect_eq(step(w, "publish")->approval_timeout_ms, 48 * 3600 * 1000LL);
  cr_expect(json_is_object(step(w, "anyone")->body));
  cr_expect_eq(step(w, "pause")->kind, WF_WAIT);
  cr_expect_eq(step(w, "pause")->wait_ms, 600000);
  const struct wf_step *ev = step(w, "event");
  cr_expect_eq(ev->wait_timeout_ms, 24 * 3600 * 1000LL);
  cr_expect_str_eq(json_string_value(json_object_get(ev->body, "match")),
                   "${{ .event.name == \"x\" }}");
  cr_expect_eq(step(w, "child")->kind, WF_WORKFLOW);
  cr_expect_str_eq(wf_kind_name(WF_WORKFLOW), "workflow");
  cr_expect_str_eq(wf_kind_name(WF_NOOP), "noop");
  cr_expect_eq(step(w, "review")->kind_pos.line, 29);
  cr_expect_eq(step(w, "review")->kind_pos.col, 5);
  wf_free(w);
}

Test(model, defaults_if_applies_to_steps_without_their_own)
{
  struct wf *w = NULL;
  struct diag_list d = {0};
  cr_assert_eq(load_str("name: x\ndefaults: {if: always}\nsteps:\n  a: {run: echo}\n"
                        "  b: {run: echo, if: failure}\nfinally:\n  c: {run: echo}\n",
                        &w, &d), 0);
  cr_expect_str_eq(json_string_value(w->steps[0].if_), "${{ always }}");
  cr_expect_str_eq(json_string_value(w->steps[1].if_), "${{ failure }}");
  cr_expect_str_eq(json_string_value(w->steps[2].if_), "${{ always }}");
  wf_free(w);
}

Test(model, reading_the_whole_steps_object_sets_reads_all)
{
  struct wf *w = NULL;
  struct diag_list d = {0};
  cr_assert_eq(load_str("name: x\nsteps:\n  a: {run: echo}\n"
                        "  b: {needs: a, set: {n: \"${{ .steps | length }}\"}}\n", &w, &d), 0);
  cr_expect(w->steps[1].reads_all);
  cr_expect_not(w->steps[0].reads_all);
  wf_free(w);
}

Test(model, a_string_without_a_name_is_called_string)
{
  struct wf *w = NULL;
  struct diag_list d = {0};
  const char *src = "name: x\nsteps:\n  a: {}\n";
  cr_assert_eq(wf_load_string(NULL, src, strlen(src), &w, &d), 0);
  cr_expect_str_eq(w->path, "<string>");
  cr_expect_eq(w->steps[0].kind, WF_NOOP);
  wf_free(w);
}

Test(model, hash_is_sha256_of_the_source)
{
  struct wf *w = full();
  char want[65];
  sha256_hex(w->source, w->source_len, want);
  cr_expect_str_eq(w->hash, want);
  cr_expect_eq(strlen(w->hash), 64);
  wf_free(w);
}

Test(model, merge_keys_copy_what_the_mapping_does_not_set)
{
  struct wf *w = load_ok("tests/valid/anchors.yaml");
  const struct wf_step *c = step(w, "c"), *d = step(w, "d");
  cr_expect_eq(c->kind, WF_RUN);
  cr_expect_str_eq(c->script, "echo base");
  cr_expect_eq(c->timeout_ms, 600000, "the mapping's own key wins");
  cr_expect_eq(d->timeout_ms, 300000);
  cr_expect_str_eq(json_string_value(json_object_get(d->env, "A")), "1");
  cr_expect_eq(step(w, "b")->retry.attempts, 2);
  wf_free(w);
}

Test(model, json_files_are_accepted)
{
  struct wf *w = load_ok("tests/valid/json.yaml");
  cr_expect_eq(w->n_steps, 2);
  cr_expect_eq(w->steps[1].reads[0], 0);
  wf_free(w);
}

Test(model, type_check_follows_json_types)
{
  json_t *i = json_integer(3), *r = json_real(2.5), *ri = json_real(4.0), *s = json_string("x");
  cr_expect(wf_type_check(WF_T_INTEGER, i));
  cr_expect(wf_type_check(WF_T_INTEGER, ri));
  cr_expect_not(wf_type_check(WF_T_INTEGER, r));
  cr_expect(wf_type_check(WF_T_NUMBER, i));
  cr_expect(wf_type_check(WF_T_NUMBER, r));
  cr_expect_not(wf_type_check(WF_T_STRING, i));
  cr_expect(wf_type_check(WF_T_STRING, s));
  cr_expect(wf_type_check(WF_T_BOOLEAN, json_true()));
  cr_expect_not(wf_type_check(WF_T_OBJECT, NULL));
  cr_expect_str_eq(wf_type_name(WF_T_ARRAY), "array");
  json_decref(i);
  json_decref(r);
  json_decref(ri);
  json_decref(s);
}

/* ---- limits --------------------------------------------------------------- */

static void expect_problem(const struct diag_list *d, const char *needle)
{
  bool found = false;
  for (size_t i = 0; i < d->n && !found; i++)
    found = strstr(d->v[i].msg, needle) != NULL;
  cr_expect(found, "no problem mentions \"%s\" (first: %s)", needle,
            d->n ? d->v[0].msg : "none");
}

Test(limits, file_over_64_mib_is_rejected)
{
  size_t n = WF_MAX_FILE_BYTES + 1;
  char *src = malloc(n);
  memset(src, '#', n);
  struct wf *w = NULL;
  struct diag_list d = {0};
  cr_expect_eq(wf_load_string("big.yaml", src, n, &w, &d), WEFT_ELIMIT);
  expect_problem(&d, "over the limit of 64 MiB (67108864 bytes)");
  diag_list_free(&d);
  free(src);
}

/* The file limit was 4 MiB and the step limit 100,000 (LANGUAGE.md §1 now
 * allows 64 MiB and 1,000,000 steps): a 5 MiB file of 150,000 steps loads. */
Test(limits, file_of_150000_steps_over_4_mib_loads)
{
  size_t cap = 8u << 20, o = 0;
  char *src = malloc(cap);
  o += (size_t)snprintf(src, cap, "name: many\nsteps:\n");
  for (unsigned i = 0; i < 150000; i++)
    o += (size_t)snprintf(src + o, cap - o, "  s%u:\n    set: {v: %u}\n", i, i);
  cr_assert_gt(o, 4u << 20);
  struct wf *w = NULL;
  struct diag_list d = {0};
  cr_expect_eq(wf_load_string("many.yaml", src, o, &w, &d), 0, "%s", d.n ? d.v[0].msg : "");
  if (w)
    cr_expect_eq(w->n_steps, 150000);
  wf_free(w);
  diag_list_free(&d);
  free(src);
}

Test(limits, more_than_1000000_steps_is_rejected)
{
  size_t cap = 16u << 20, o = 0;
  char *src = malloc(cap);
  o += (size_t)snprintf(src, cap, "name: many\nsteps:\n");
  for (unsigned i = 0; i <= WF_MAX_STEPS; i++)
    o += (size_t)snprintf(src + o, cap - o, " s%u: {}\n", i);
  cr_assert_lt(o, (size_t)WF_MAX_FILE_BYTES);
  struct wf *w = NULL;
  struct diag_list d = {0};
  cr_expect_eq(wf_load_string("many.yaml", src, o, &w, &d), WEFT_ELIMIT);
  expect_problem(&d, "the workflow has 1000001 steps, over the limit of 1000000");
  diag_list_free(&d);
  free(src);
}

Test(limits, expression_over_16_kib_is_rejected)
{
  size_t n = WF_MAX_EXPR_BYTES + 100;
  char *src = malloc(n + 200);
  int o = sprintf(src, "name: x\nsteps:\n  a: {set: {v: \"${{ ");
  for (size_t i = 0; i <= WF_MAX_EXPR_BYTES; i++) /* one byte over */
    src[o++] = '1';
  o += sprintf(src + o, " }}\"}}\n");
  struct wf *w = NULL;
  struct diag_list d = {0};
  cr_expect_eq(wf_load_string("long.yaml", src, (size_t)o, &w, &d), WEFT_ELIMIT);
  expect_problem(&d, "over the limit of 16 KiB");
  cr_expect_eq(d.v[0].line, 3);
  cr_expect_eq(d.v[0].col, 17);
  diag_list_free(&d);
  free(src);
}

Test(limits, alias_bomb_of_2_kib_is_rejected)
{
  char src[2048];
  int o = sprintf(src, "name: lol\nx-0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
  for (int i = 1; i < 20; i++)
    o += sprintf(src + o, "x-%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
                 i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
  o += sprintf(src + o, "steps:\n  a: {set: {x: *a19}}\n");
  struct wf *w = NULL;
  struct diag_list d = {0};
  cr_expect_eq(wf_load_string("lol.yaml", src, (size_t)o, &w, &d), WEFT_ELIMIT);
  expect_problem(&d, "expand past the limit of 10x");
  diag_list_free(&d);
}

Test(limits, nesting_deeper_than_64_is_rejected)
{
  char src[512];
  int o = sprintf(src, "name: x\nsteps:\n  a:\n    set:\n      x: ");
  for (int i = 0; i < 65; i++)
    src[o++] = '[';
  for (int i = 0; i < 65; i++)
    src[o++] = ']';
  src[o++] = '\n';
  src[o] = 0;
  struct wf *w = NULL;
  struct diag_list d = {0};
  cr_expect_eq(wf_load_string("deep.yaml", src, (size_t)o, &w, &d), WEFT_ELIMIT);
  expect_problem(&d, "nesting depth exceeds the limit of 64");
  diag_list_free(&d);
}

/* The tree is built recursively from parser events: 200,000 open brackets
 * (and an unclosed one) stop at the 64th level, not in a stack overflow;
 * the depth problem is reported alone, as libfyaml's builder did. */
Test(limits, nesting_200000_deep_stops_at_64)
{
  size_t n = 200000;
  char *src = malloc(n + 64);
  cr_assert_not_null(src);
  int o = sprintf(src, "name: x\nsteps:\n  a: {set: {x: ");
  memset(src + o, '[', n);
  size_t len = (size_t)o + n;
  src[len] = 0;
  struct wf *w = NULL;
  struct diag_list d = {0};
  cr_expect_eq(wf_load_string("deep.yaml", src, len, &w, &d), WEFT_ELIMIT);
  cr_expect_eq(d.n, 1);
  expect_problem(&d, "nesting depth exceeds the limit of 64");
  diag_list_free(&d);
  free(src);
}

/* A second document is reported at its first scalar; a syntax error after
 * it is not looked at (what the earlier document-based parse reported). */
Test(errors, a_second_document_is_reported_at_its_first_scalar)
{
  struct wf *w = NULL;
  struct diag_list d = {0};
  const char *src = "name: x\nsteps:\n  a: {set: {x: 1}}\n---\nmore: 1\n";
  cr_expect_neq(load_str(src, &w, &d), 0);
  cr_assert_eq(d.n, 1);
  cr_expect_eq(d.v[0].line, 5);
  cr_expect_eq(d.v[0].col, 1);
  expect_problem(&d, "a workflow file holds one YAML document; this is a second one");
  diag_list_free(&d);
}

Test(limits, a_chain_of_10000_steps_loads)
{
  size_t cap = 2u << 20, o = 0;
  char *src = malloc(cap);
  o += (size_t)snprintf(src, cap, "name: chain\nsteps:\n  s0: {run: echo}\n");
  for (unsigned i = 1; i < 10000; i++)
    o += (size_t)snprintf(src + o, cap - o,
                          "  s%u: {needs: s%u, command: [echo, \"${{ .steps.s0.status }}\"]}\n",
                          i, i - 1);
  struct wf *w = NULL;
  struct diag_list d = {0};
  cr_assert_eq(wf_load_string("chain.yaml", src, o, &w, &d), 0);
  cr_expect_eq(w->n_steps, 10000);
  cr_expect(wf_is_upstream(w, 0, 9999));
  cr_expect_not(wf_is_upstream(w, 9999, 0));
  cr_expect_eq(w->topo[9999], 9999);
  wf_free(w);
  free(src);
}

Test(errors, missing_file_is_an_io_error)
{
  to_root();
  struct wf *w = NULL;
  struct diag_list d = {0};
  cr_expect_eq(wf_load_file("tests/valid/does-not-exist.yaml", &w, &d), WEFT_EIO);
  cr_expect_eq(d.n, 1);
  cr_expect_null(w);
  diag_list_free(&d);
}

Test(errors, every_problem_of_a_file_is_reported_sorted)
{
  struct wf *w = NULL;
  struct diag_list d = {0};
  const char *src = "name: Bad Name\nsteps:\n  a: {needs: zz, run: echo}\n  b: {timeout: 5}\n";
  cr_expect_eq(load_str(src, &w, &d), WEFT_EVALIDATION);
  cr_assert_eq(d.n, 3);
  cr_expect_eq(d.v[0].line, 1);
  cr_expect_eq(d.v[1].line, 3);
  cr_expect_eq(d.v[2].line, 4);
  diag_list_free(&d);
}

/* ---- docs/language.md ----------------------------------------------------- */

Test(docs, yaml_examples_in_the_language_reference_validate)
{
  to_root();
  char *md = slurp("docs/language.md", NULL);
  int blocks = 0, line = 1;
  char *p = md;
  while (*p) {
    char *eol = strchr(p, '\n');
    size_t ll = eol ? (size_t)(eol - p) : strlen(p);
    if (strncmp(p, "```yaml", 7) == 0) {
      bool invalid = strstr(p, "invalid") && strstr(p, "invalid") < p + ll;
      int start = line + 1;
      char *body = eol ? eol + 1 : p + ll;
      char *end = strstr(body, "\n```");
      cr_assert_not_null(end, "unterminated block at docs/language.md:%d", line);
      size_t blen = (size_t)(end - body) + 1;
      char name[64];
      snprintf(name, sizeof name, "docs/language.md@%d", start);
      struct wf *w = NULL;
      struct diag_list d = {0};
      int rc = wf_load_string(name, body, blen, &w, &d);
      if (invalid) {
        cr_expect_neq(rc, 0, "block at line %d is marked invalid but validates", start);
      } else {
        for (size_t i = 0; i < d.n; i++)
          cr_log_error("%s:%d: %s (block line %d)", "docs/language.md", start + d.v[i].line - 1,
                       d.v[i].msg, d.v[i].line);
        cr_expect_eq(rc, 0, "block at docs/language.md:%d does not validate", start);
      }
      wf_free(w);
      diag_list_free(&d);
      blocks++;
      for (char *q = p; q < end + 1; q++)
        line += *q == '\n';
      p = end + 1;
      continue;
    }
    line++;
    p = eol ? eol + 1 : p + ll;
  }
  cr_expect_gt(blocks, 10, "only %d yaml blocks found", blocks);
  free(md);
}

/* needs: {any, count, cancel_rest} and end: (src/engine/join.c runs them) */
Test(spec, partial_joins_and_end_steps_are_in_the_model)
{
  struct wf *w = load_ok("tests/valid/control_flow.yaml");
  const struct wf_step *first = &w->steps[wf_step_find(w, "first")];
  const struct wf_step *two = &w->steps[wf_step_find(w, "two")];
  const struct wf_step *plain = &w->steps[wf_step_find(w, "plain")];
  const struct wf_step *stop = &w->steps[wf_step_find(w, "stop")];
  cr_assert_eq(first->n_needs, 3);
  cr_assert_eq(first->join_count, 1);
  cr_assert(!first->join_cancel_rest);
  cr_assert_eq(two->join_count, 2);
  cr_assert(two->join_cancel_rest);
  cr_assert_eq(plain->join_count, 0);
  cr_assert_eq(plain->n_needs, 2);
  cr_assert_eq(stop->kind, WF_NOOP);
  cr_assert_eq(stop->end_status, WF_END_FAILED);
  cr_assert(json_is_string(stop->end_message));
  cr_assert_eq(w->steps[wf_step_find(w, "a")].n_dependents, 3);
  wf_free(w);
}

Test(model, concurrency_map_and_notify_are_kept)
{
  struct wf *w = NULL;
  struct diag_list d = {0};
  int rc = load_str("name: p\n"
                    "inputs: {env: {type: string}}\n"
                    "concurrency: {key: \"${{ .inputs.env }}\", limit: 3, on_full: cancel_in_progress}\n"
                    "notify:\n"
                    "  - {on: [failed, approval_waiting], webhook: HOOK}\n"
                    "  - {on: succeeded, webhook: OTHER}\n"
                    "steps: {a: {run: echo}}\n",
                    &w, &d);
  cr_assert_eq(rc, 0, "%s", d.n ? d.v[0].msg : "");
  cr_expect_eq(w->concurrency, 3);
  cr_expect_eq(w->concurrency_on_full, WF_ON_FULL_CANCEL);
  cr_expect_str_eq(json_string_value(w->concurrency_key), "${{ .inputs.env }}");
  cr_assert_eq(json_array_size(w->notify), 2);
  cr_expect_str_eq(json_string_value(json_object_get(json_array_get(w->notify, 0), "webhook")), "HOOK");
  cr_expect_eq(json_array_size(json_object_get(json_array_get(w->notify, 0), "on")), 2);
  cr_expect_str_eq(json_string_value(json_array_get(json_object_get(json_array_get(w->notify, 1), "on"), 0)),
                   "succeeded");
  wf_free(w);
  diag_list_free(&d);
}

Test(model, concurrency_number_is_one_group_that_queues)
{
  struct wf *w = NULL;
  struct diag_list d = {0};
  cr_assert_eq(load_str("name: p\nconcurrency: 2\nsteps: {a: {run: echo}}\n", &w, &d), 0);
  cr_expect_eq(w->concurrency, 2);
  cr_expect_eq(w->concurrency_on_full, WF_ON_FULL_QUEUE);
  cr_expect_null(w->concurrency_key);
  cr_expect_null(w->notify);
  wf_free(w);
  diag_list_free(&d);
}
