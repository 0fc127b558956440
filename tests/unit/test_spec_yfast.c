/* test_spec_yfast.c — the fast YAML path (src/spec/yfast.c) gives exactly
 * the tree libfyaml's path gives, on every YAML file of the repository and
 * on snippets around each edge of its subset; outside the subset it declines. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "spec/model.h"
#include "spec/ytree_int.h"
#include "util/diag.h"

#ifndef WEFT_SOURCE_DIR
#define WEFT_SOURCE_DIR "."
#endif

static void dump(const struct ynode *y, int ind)
{
  if (!y) {
    fprintf(stderr, "%*s(null)\n", ind, "");
    return;
  }
  fprintf(stderr, "%*st=%d q=%d ml=%d %d:%d [%u,%u) len=%u s=\"%s\" n=%u depth=%u size=%llu\n",
          ind, "", (int)y->t, y->quoted, y->multiline, y->line, y->col, y->src_start,
          y->src_end, y->len, y->s, y->n, y->depth, (unsigned long long)y->size);
  uint32_t n = y->t == Y_MAP ? 2 * y->n : y->t == Y_SEQ ? y->n : 0;
  for (uint32_t i = 0; i < n; i++)
    dump(y->kids[i], ind + 2);
}

/* 1: the fast path took it and matches; 0: declined; -1: differs. */
static int compare(const char *src, size_t len)
{
  struct ytree a = {0}, b = {0};
  struct diag_list d = {0};
  int fr = yfast_parse(&a, src, len);
  cr_assert(fr >= 0);
  if (fr == 0) {
    cr_expect_null(a.root);
    return 0;
  }
  int rc = ytree_parse_fy(&b, "x.yaml", src, len, &d);
  int same = rc == 0 && ynode_same(a.root, b.root);
  if (!same && getenv("YFAST_DUMP")) {
    fprintf(stderr, "--- fast\n");
    dump(a.root, 0);
    fprintf(stderr, "--- libfyaml (rc %d)\n", rc);
    dump(b.root, 0);
  }
  ytree_free(&a);
  ytree_free(&b);
  diag_list_free(&d);
  return same ? 1 : -1;
}

static int cmp_str(const char *s)
{
  return compare(s, strlen(s));
}

static int n_files, n_fast;

static void walk(const char *dir)
{
  DIR *dh = opendir(dir);
  if (!dh)
    return;
  struct dirent *e;
  while ((e = readdir(dh))) {
    if (e->d_name[0] == '.')
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(path, &st) != 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      walk(path);
      continue;
    }
    size_t nl = strlen(e->d_name);
    if (nl < 5 || (strcmp(e->d_name + nl - 5, ".yaml") && strcmp(e->d_name + nl - 4, ".yml")))
      continue;
    FILE *fp = fopen(path, "rb");
    if (!fp)
      continue;
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = fread(buf, 1, (size_t)st.st_size, fp);
    fclose(fp);
    int r = compare(buf, got);
    cr_expect_neq(r, -1, "the fast path's tree differs from libfyaml's for %s", path);
    n_files++;
    n_fast += r == 1;
    free(buf);
  }
  closedir(dh);
}

Test(yfast, every_yaml_file_of_the_repository_gives_libfyamls_tree)
{
  walk(WEFT_SOURCE_DIR "/tests");
  walk(WEFT_SOURCE_DIR "/examples");
  cr_expect_gt(n_files, 50);
  cr_expect_gt(n_fast, n_files / 3, "the fast path took only %d of %d files", n_fast, n_files);
}

Test(yfast, the_subset_is_parsed_and_matches)
{
  static const char *const ok[] = {
    "name: x\n",
    "name: x",
    "a: 1\nb: -2\nc: 3.5\nd: true\ne: null\nf: ~\ng: 0x1F\nh: 0o17\ni: .inf\nj: -.inf\nk: 1e3\n",
    "a: hello world   \nb: http://x.y/z#frag\nc: a#b\n",
    "a: x # comment\n# line comment\n\n   \nb: y\n",
    "# leading comment\n\nname: x\n",
    "  name: x\n  b: y\n",
    "a:\n  b:\n    c: 1\n  d: 2\ne: 3\n",
    "a:\nb: 2\n",
    "a:\n",
    "a:   # nothing\nb: 1\n",
    "steps:\n  s0:\n    set: {v: 0}\n  s1:\n    needs: [s0]\n    set: {v: 1}\n",
    "a: []\nb: {}\nc: [ ]\nd: {  }\n",
    "a: [1, \"two\", 'three', [4, [5]], {x: y}]\n",
    "a: {k: v, \"q\": 'it', n: [1,2]}\n",
    "a: {k: v}   # c\n",
    "a: \"${{ .item }}\"\nb: '${{ 1 }}'\n",
    "\"a b\": 1\n'c': 2\n",
    "l:\n  - a\n  - 2\n  - [x]\n  - {k: v}\n  - \"q\"\n",
    "- a\n- b\n",
    "- a: 1\n  b: 2\n- c: 3\n",
    "l:\n  - a: 1\n    b:\n      - x\n  - c\n",
    "l:\n  -\n    a: 1\n",
    "l:\n  - # c\n    - x\n",
    "a: -1\nb: -x\nc: x-\nd: [-1, -a]\n",
    "a: x:y\nb: 'x: y'\n",
    "a: x ]\nb: x}\nc: x, y\n",
    "true: 1\n1: 2\nnull: 3\n",
    "a: \"\"\nb: ''\nc: \"x\"\n",
    "run: echo 'hi' && ls | wc -l > /dev/null\n",
    "a: {b: {c: {d: [e]}}}\n",
    NULL,
  };
  for (size_t i = 0; ok[i]; i++)
    cr_expect_eq(cmp_str(ok[i]), 1, "case %zu: %s", i, ok[i]);
}

Test(yfast, outside_the_subset_it_declines)
{
  static const char *const no[] = {
    "",
    "# only a comment\n",
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "a: |\n  text\n",
    "a: >\n  text\n",
    "a: \"x\\ny\"\n",
    "a: \"x\n  y\"\n",
    "a: x\n  y\n",
    "a: [1,\n  2]\n",
    "a: {x: 1,}\n",
    "a:\t1\n",
    "a: 1\r\n",
    "a: caf\xc3\xa9\n",
    "---\na: 1\n",
    "a: 1\n...\n",
    "%YAML 1.2\n---\na: 1\n",
    "a: 1\na: 2\n",
    "<<: {a: 1}\nb: 2\n",
    "? a\n: 1\n",
    "a: b: c\n",
    "a:\n- x\n",
    "l:\n  -\n  - x\n",
    "- - a\n",
    "a\n",
    "[1, 2]\n",
    "a: 1\n b: 2\n",
    "  a: 1\nb: 2\n",
    "a: \"x\"y\n",
    "a: [x]#c\n",
    "a: {x}\n",
    "a: {x:1}\n",
    "a: [x: 1]\n",
    "a: @x\n",
    "a: `x\n",
    "a: -\n",
    "a: [a # c\n  ]\n",
    "a: 'it''s'\n",
    NULL,
  };
  for (size_t i = 0; no[i]; i++)
    cr_expect_eq(cmp_str(no[i]), 0, "case %zu: %s", i, no[i]);
}

Test(yfast, nesting_near_the_depth_limit_declines)
{
  static char buf[65536];
  size_t o = 0;
  for (int i = 0; i < 70; i++)
    o += (size_t)snprintf(buf + o, sizeof buf - o, "%*sk:\n", 2 * i, "");
  o += (size_t)snprintf(buf + o, sizeof buf - o, "%*sk: 1\n", 140, "");
  cr_expect_eq(compare(buf, o), 0);
  /* 60 levels are taken, and match */
  o = 0;
  for (int i = 0; i < 60; i++)
    o += (size_t)snprintf(buf + o, sizeof buf - o, "%*sk:\n", 2 * i, "");
  o += (size_t)snprintf(buf + o, sizeof buf - o, "%*sk: 1\n", 120, "");
  cr_expect_eq(compare(buf, o), 1);
}

Test(yfast, a_big_generated_file_matches)
{
  size_t cap = 1 << 20, o = 0;
  char *buf = malloc(cap);
  o += (size_t)snprintf(buf, cap, "name: big\nsteps:\n");
  for (int i = 0; i < 5000; i++) {
    o += (size_t)snprintf(buf + o, cap - o, "  s%d:\n", i);
    if (i)
      o += (size_t)snprintf(buf + o, cap - o, "    needs: [s%d, s%d]\n", i - 1, i / 2);
    o += (size_t)snprintf(buf + o, cap - o, "    set: {v: %d, w: \"${{ .x }}\"}\n", i);
  }
  cr_expect_eq(compare(buf, o), 1);
  free(buf);
}

/* A 1,000,000-step file is ~12 million ynodes: each is 56 bytes (was 80),
 * with the integer, the float and the kids of a collection in one union.
 * The integer of a number field is still read as a number (ynum). */
Test(yfast, a_node_is_56_bytes_and_integers_are_numbers)
{
  cr_assert_leq(sizeof(struct ynode), 56);
  static const char src[] = "name: n\nsteps:\n  a:\n    run: \"true\"\n"
                            "    retry: {attempts: 3, factor: 3}\n";
  struct wf *w = NULL;
  struct diag_list d = {0};
  cr_assert_eq(wf_load_string("n.yaml", src, sizeof src - 1, &w, &d), 0, "%s",
               d.n ? d.v[0].msg : "");
  cr_assert_eq(w->steps[0].retry.attempts, 3);
  cr_assert_float_eq(w->steps[0].retry.factor, 3.0, 1e-12);
  wf_free(w);
  diag_list_free(&d);
}

/* The arena hands out 8-byte granules: `a: [b, c]` is 5 nodes of 56 bytes,
 * two kid arrays of 2 pointers and three 2-byte texts: 336 bytes (400 with
 * the 16-byte granules it had). */
Test(yfast, the_arena_packs_nodes_and_text_in_8_byte_granules)
{
  static const char src[] = "a: [b, c]\n";
  struct ytree t = {0};
  cr_assert_eq(yfast_parse(&t, src, sizeof src - 1), 1);
  cr_assert_eq(yarena_used(t.arena), 5 * sizeof(struct ynode) + 2 * 16 + 3 * 8);
  ytree_free(&t);
}

/* ytree_release frees the arena between two nodes, block by block: the
 * loader drops the YAML of the steps it has converted. */
Test(yfast, release_frees_the_blocks_between_two_nodes)
{
  enum { N = 20000 };
  size_t cap = (size_t)N * 48 + 64, len = 0;
  char *src = malloc(cap);
  cr_assert_not_null(src);
  len += (size_t)snprintf(src + len, cap - len, "steps:\n");
  for (int i = 0; i < N; i++)
    len += (size_t)snprintf(src + len, cap - len, "  s%d:\n    set: {v: %d}\n", i, i);
  struct ytree t = {0};
  cr_assert_eq(yfast_parse(&t, src, len), 1);
  const struct ynode *steps = t.root->kids[1];
  cr_assert_eq(steps->n, N);
  size_t before = yarena_used(t.arena);
  ytree_release(&t, steps->kids[0], steps->kids[2 * (N / 2)]);
  size_t after = yarena_used(t.arena);
  cr_assert_lt(after, before - before / 4, "%zu -> %zu bytes", before, after);
  /* what comes from the upper bound on is still there */
  cr_assert_str_eq(steps->kids[2 * (N / 2)]->s, "s10000");
  cr_assert_str_eq(steps->kids[2 * (N - 1)]->s, "s19999");
  cr_assert_str_eq(steps->kids[0]->s, "s0");
  ytree_free(&t);
  free(src);
}

static char *problems_of(const char *src, size_t len)
{
  struct wf *w = NULL;
  struct diag_list d = {0};
  cr_assert_neq(wf_load_string("big.yaml", src, len, &w, &d), 0);
  size_t cap = 1 << 16, n = 0;
  char *out = calloc(cap, 1);
  cr_assert_not_null(out);
  for (size_t i = 0; i < d.n; i++) {
    char *m = diag_format(&d.v[i]);
    n += (size_t)snprintf(out + n, cap - n, "%s\n", m ? m : "?");
    free(m);
  }
  diag_list_free(&d);
  return out;
}

/* A big file with problems in needs after thousands of steps (their YAML
 * dropped by then) reports what the libfyaml path, which keeps the whole
 * tree, reports: the same problems at the same positions. */
Test(yfast, problems_after_dropped_steps_are_the_same_as_with_the_whole_tree)
{
  enum { N = 6000 };
  size_t cap = (size_t)N * 64 + 1024, len = 0;
  char *src = malloc(cap);
  cr_assert_not_null(src);
  len += (size_t)snprintf(src + len, cap - len,
                          "name: big\nfinally:\n  fin:\n    needs: [s1]\n    set: {a: 1}\nsteps:\n");
  for (int i = 0; i < N; i++)
    len += (size_t)snprintf(src + len, cap - len, "  s%d:\n%s    set: {v: %d}\n", i,
                            i ? "    needs: [s0]\n" : "", i);
  len += (size_t)snprintf(src + len, cap - len,
                          "  bad:\n    needs: [nosuch, fin, s5999, s5999]\n    set: {x: 1}\n"
                          "  c1:\n    needs: [c2]\n    set: {x: 1}\n"
                          "  c2:\n    needs: [c1]\n    set: {x: 1}\n"
                          "defaults:\n  timeout: 5s\n");
  char *fast = problems_of(src, len);
  /* a non-ASCII comment at the end: the fast path declines, libfyaml parses */
  len += (size_t)snprintf(src + len, cap - len, "# caf\xc3\xa9\n");
  struct ytree t = {0};
  cr_assert_eq(yfast_parse(&t, src, len), 0);
  char *whole = problems_of(src, len);
  cr_assert_str_eq(fast, whole);
  cr_assert_not_null(strstr(fast, "needs unknown step \"nosuch\""));
  cr_assert_not_null(strstr(fast, "cycle in needs: c1 -> c2 -> c1"));
  free(fast);
  free(whole);
  free(src);
}

/* `cancel:` lists are resolved after the graph, from their YAML (ctl.c):
 * a big file with a cancel step keeps its whole tree, and its cancel list is
 * read intact (under ASan, a dropped tree would be a use after free). */
Test(yfast, a_big_file_with_a_cancel_step_keeps_its_tree)
{
  enum { N = 4000 };
  size_t cap = (size_t)N * 48 + 1024, len = 0;
  char *src = malloc(cap);
  cr_assert_not_null(src);
  len += (size_t)snprintf(src + len, cap - len, "name: big\nsteps:\n");
  for (int i = 0; i < N; i++) {
    len += (size_t)snprintf(src + len, cap - len, "  s%d:\n    set: {v: %d}\n", i, i);
    if (i == 1000) /* early: its block would be dropped long before the graph */
      len += (size_t)snprintf(src + len, cap - len, "  stop:\n    cancel: [s3999]\n");
  }
  struct wf *w = NULL;
  struct diag_list d = {0};
  cr_assert_eq(wf_load_string("big.yaml", src, len, &w, &d), 0, "%s", d.n ? d.v[0].msg : "");
  uint32_t stop = wf_step_find(w, "stop");
  cr_assert_eq(stop, 1001);
  cr_assert_eq(w->steps[stop].n_cancel, 1);
  cr_assert_eq(w->steps[stop].cancel[0], wf_step_find(w, "s3999"));
  wf_free(w);
  diag_list_free(&d);
  free(src);
}
