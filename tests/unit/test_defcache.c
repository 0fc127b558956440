/* test_defcache.c — the cache of parsed definitions (ops/defcache.h): a
 * second get of a key is a hit with the same shared struct, the path is part
 * of the key, a failed parse is not cached, the least recently used entry is
 * evicted at DEFCACHE_CAP and past DEFCACHE_BYTES of sources, an evicted definition still referenced stays
 * alive until its last put (ASan checks the frees), and many threads getting
 * and putting keys beyond the capacity all read the right definition and
 * leave no reference behind. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/defcache.h"
#include "spec/model.h"

static atomic_int loads;

/* arg: the key; the definition's one step is named after it */
static struct wf *load_key(void *arg)
{
  atomic_fetch_add(&loads, 1);
  char src[200];
  snprintf(src, sizeof src, "name: w\nsteps:\n  s_%s: {}\n", (const char *)arg);
  struct wf *w = NULL;
  struct diag_list d = {0};
  wf_load_string("t.yaml", src, strlen(src), &w, &d);
  diag_list_free(&d);
  return w;
}

static struct wf *load_none(void *arg)
{
  (void)arg;
  atomic_fetch_add(&loads, 1);
  return NULL;
}

static void fresh(void)
{
  defcache_clear();
  atomic_store(&loads, 0);
}

static bool is_def_of(const struct wf *w, const char *key)
{
  char id[64];
  snprintf(id, sizeof id, "s_%s", key);
  return w && w->n_steps == 1 && !strcmp(w->steps[0].id, id);
}

TestSuite(defcache, .init = fresh, .fini = defcache_clear);

Test(defcache, second_get_is_a_hit_sharing_one_parse)
{
  const struct wf *a = defcache_get("h1", "p", load_key, "a");
  const struct wf *b = defcache_get("h1", "p", load_key, "a");
  cr_assert(is_def_of(a, "a"));
  cr_expect_eq(a, b);
  cr_expect_eq(atomic_load(&loads), 1);
  struct defcache_stats st;
  defcache_stats(&st);
  cr_expect_eq(st.hits, 1);
  cr_expect_eq(st.misses, 1);
  cr_expect_eq(st.entries, 1);
  defcache_put(a);
  defcache_put(b);
}

Test(defcache, path_is_part_of_the_key_and_null_is_empty)
{
  const struct wf *a = defcache_get("h1", "p", load_key, "a");
  const struct wf *b = defcache_get("h1", "q", load_key, "b");
  const struct wf *c = defcache_get("h1", NULL, load_key, "c");
  const struct wf *d = defcache_get("h1", "", load_key, "d");
  cr_expect(is_def_of(a, "a"));
  cr_expect(is_def_of(b, "b"));
  cr_expect(is_def_of(c, "c"));
  cr_expect_eq(c, d);
  cr_expect_eq(atomic_load(&loads), 3);
  defcache_put(a);
  defcache_put(b);
  defcache_put(c);
  defcache_put(d);
}

Test(defcache, failed_parse_is_not_cached)
{
  cr_expect_null(defcache_get("bad", "p", load_none, NULL));
  cr_expect_null(defcache_get("bad", "p", load_none, NULL));
  cr_expect_eq(atomic_load(&loads), 2);
  struct defcache_stats st;
  defcache_stats(&st);
  cr_expect_eq(st.entries, 0);
  cr_expect_null(defcache_get(NULL, "p", load_key, "x"));
  defcache_put(NULL); /* harmless */
}

Test(defcache, least_recently_used_is_evicted)
{
  char keys[DEFCACHE_CAP + 1][16];
  for (int i = 0; i < DEFCACHE_CAP; i++) {
    snprintf(keys[i], sizeof keys[i], "k%d", i);
    defcache_put(defcache_get(keys[i], "p", load_key, keys[i]));
  }
  defcache_put(defcache_get(keys[0], "p", load_key, keys[0])); /* k0 used again: k1 is oldest */
  cr_expect_eq(atomic_load(&loads), DEFCACHE_CAP);
  snprintf(keys[DEFCACHE_CAP], sizeof keys[0], "new");
  defcache_put(defcache_get(keys[DEFCACHE_CAP], "p", load_key, keys[DEFCACHE_CAP]));
  struct defcache_stats st;
  defcache_stats(&st);
  cr_expect_eq(st.evictions, 1);
  cr_expect_eq(st.entries, DEFCACHE_CAP);
  cr_expect_eq(st.retired, 0);
  int before = atomic_load(&loads);
  defcache_put(defcache_get(keys[0], "p", load_key, keys[0]));
  cr_expect_eq(atomic_load(&loads), before, "k0 was used recently: still cached");
  defcache_put(defcache_get(keys[1], "p", load_key, keys[1]));
  cr_expect_eq(atomic_load(&loads), before + 1, "k1 was the least recently used: parsed again");
}

Test(defcache, evicted_but_referenced_stays_alive_until_put)
{
  const struct wf *held = defcache_get("held", "p", load_key, "held");
  cr_assert(is_def_of(held, "held"));
  char k[DEFCACHE_CAP][16];
  for (int i = 0; i < DEFCACHE_CAP; i++) { /* pushes "held" out */
    snprintf(k[i], sizeof k[i], "k%d", i);
    defcache_put(defcache_get(k[i], "p", load_key, k[i]));
  }
  struct defcache_stats st;
  defcache_stats(&st);
  cr_expect_eq(st.retired, 1);
  cr_expect(is_def_of(held, "held"), "still readable after its eviction");
  defcache_put(held);
  defcache_stats(&st);
  cr_expect_eq(st.retired, 0);
}

/* arg: the key; the source carries 6 MiB of comment */
static struct wf *load_big(void *arg)
{
  atomic_fetch_add(&loads, 1);
  size_t pad = 6u << 20;
  char *src = malloc(pad + 200);
  cr_assert_not_null(src);
  int k = snprintf(src, 200, "name: w\nsteps:\n  s_%s: {}\n#", (const char *)arg);
  memset(src + k, 'x', pad);
  src[k + pad] = '\n';
  src[k + pad + 1] = 0;
  struct wf *w = NULL;
  struct diag_list d = {0};
  wf_load_string("t.yaml", src, k + pad + 1, &w, &d);
  diag_list_free(&d);
  free(src);
  return w;
}

Test(defcache, big_sources_are_evicted_past_the_byte_budget)
{
  const char *keys[] = {"b0", "b1", "b2"};
  for (int i = 0; i < 3; i++) {
    const struct wf *w = defcache_get(keys[i], "p", load_big, (void *)keys[i]);
    cr_assert(is_def_of(w, keys[i]));
    defcache_put(w);
  }
  struct defcache_stats st;
  defcache_stats(&st);
  cr_expect_eq(st.entries, 2, "three 6 MiB sources do not fit in 16 MiB");
  cr_expect_eq(st.evictions, 1);
  cr_expect_leq(st.bytes, DEFCACHE_BYTES);
  int before = atomic_load(&loads);
  defcache_put(defcache_get("b2", "p", load_big, (void *)"b2"));
  cr_expect_eq(atomic_load(&loads), before, "the newest stays");
  defcache_put(defcache_get("b0", "p", load_big, (void *)"b0"));
  cr_expect_eq(atomic_load(&loads), before + 1, "the oldest was evicted");
}

#define THREADS 8
#define ROUNDS 3000
#define KEYS (DEFCACHE_CAP + DEFCACHE_CAP / 2)

static char tkeys[KEYS][16];
static atomic_int wrong;

static void *worker(void *arg)
{
  unsigned seed = (unsigned)(uintptr_t)arg;
  for (int i = 0; i < ROUNDS; i++) {
    seed = seed * 1103515245u + 12345u;
    const char *key = tkeys[(seed >> 8) % KEYS];
    const struct wf *a = defcache_get(key, "p", load_key, (void *)key);
    const struct wf *b = (i & 1) ? defcache_get(key, "p", load_key, (void *)key) : NULL;
    if (!is_def_of(a, key) || ((i & 1) && !is_def_of(b, key)))
      atomic_fetch_add(&wrong, 1);
    defcache_put(b);
    defcache_put(a);
  }
  return NULL;
}

Test(defcache, many_threads_share_it_and_leave_no_reference)
{
  for (int i = 0; i < KEYS; i++)
    snprintf(tkeys[i], sizeof tkeys[i], "t%d", i);
  pthread_t t[THREADS];
  for (uintptr_t i = 0; i < THREADS; i++)
    cr_assert_eq(pthread_create(&t[i], NULL, worker, (void *)(i + 1)), 0);
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  cr_expect_eq(atomic_load(&wrong), 0);
  struct defcache_stats st;
  defcache_stats(&st);
  cr_expect_eq(st.retired, 0, "every evicted definition was freed by its last put");
  cr_expect_leq(st.entries, DEFCACHE_CAP);
  cr_expect_gt(st.evictions, 0);
  cr_expect_gt(st.hits, 0);
  defcache_clear();
  defcache_stats(&st);
  cr_expect_eq(st.entries, 0, "no reference left: clear empties the table");
}

/* ---- through the store: GET /runs/{id}'s object parses a definition once */

#include <unistd.h>

#include "ops/ops.h"
#include "store/store.h"

Test(defcache, run_json_reads_the_definition_from_the_cache)
{
  char home[64];
  snprintf(home, sizeof home, "/tmp/weft-test-defcache-XXXXXX");
  cr_assert_not_null(mkdtemp(home));
  struct store *s = NULL;
  char *err = NULL;
  cr_assert_eq(store_open(home, &s, &err), 0, "%s", err ? err : "");
  const char *src = "name: w\nsteps:\n  greet:\n    description: says hi\n    set: {a: 1}\n";
  char hash[SHA256_HEX_LEN + 1];
  cr_assert_eq(store_workflow_put(s, "w", "/x/w.yaml", src, 1000, hash, NULL), 0, "%s", store_errmsg(s));
  struct store_run r = {.id = "01M8YC0000000000000000000A", .workflow = "w", .workflow_hash = hash,
                        .path = "/x/w.yaml", .status = "succeeded", .parent_index = STORE_NO_INDEX,
                        .created_at = 1000};
  cr_assert_eq(store_run_put(s, &r), 0, "%s", store_errmsg(s));
  for (int i = 0; i < 3; i++) {
    json_t *o = ops_run_json(s, &r, false);
    cr_assert_not_null(o);
    const char *d = json_string_value(json_object_get(json_object_get(json_object_get(o, "steps"), "greet"),
                                                      "description"));
    cr_expect_str_eq(d ? d : "", "says hi");
    json_decref(o);
  }
  struct defcache_stats stt;
  defcache_stats(&stt);
  cr_expect_eq(stt.misses, 1, "parsed once");
  cr_expect_eq(stt.hits, 2);
  struct store_run gone = r;
  gone.workflow_hash = "0000000000000000000000000000000000000000000000000000000000000000";
  cr_expect_null(ops_def_get(s, &gone), "a definition the store does not have: NULL, nothing cached");
  defcache_stats(&stt);
  cr_expect_eq(stt.entries, 1);
  store_close(s);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  cr_expect_eq(system(cmd), 0);
}
