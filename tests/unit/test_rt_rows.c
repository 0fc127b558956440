/* test_rt_rows.c — each for_each instance row is written once
 * (src/runtime/rt_counts.c, rt_journal.c write_expand), and deferring the
 * expansion's "pending" rows to the commit loses none.
 *
 * The runtime runs over the fault-injecting store (src/store/fault.c), which
 * counts the step rows handed to the store. A for_each of `set` items settles
 * every instance in the transaction that expands it: one row each, not a
 * "pending" row and then the settled one. A for_each of processes settles
 * them in later commits: whatever write of the run fails (and stops it),
 * once the expansion is committed every instance has its row. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/runtime.h"
#include "spec/model.h"
#include "store/store.h"
#include "util/err.h"

static char base[] = "/tmp/weft-rtrows-XXXXXX";

static void base_make(void) { cr_assert_not_null(mkdtemp(base)); }
static void base_remove(void)
{
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  cr_assert_eq(system(cmd), 0);
}

static void write_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

struct shared {
  char run_id[WEFT_ID_LEN + 1];
  long step_rows;
  long writes;
  int started;
};

/* In a child process (a runtime stopped with processes in flight keeps libuv
 * handlers that must not outlive it): runs wf.yaml of `home` over the fault
 * store, failing every write after `after` of them (after < 0: none). */
static void child_run(const char *home, long after, struct shared *o)
{
  if (!freopen("/dev/null", "w", stderr))
    _exit(2);
  char path[300], *err = NULL;
  snprintf(path, sizeof path, "%s/wf.yaml", home);
  struct store *inner = NULL, *s = NULL;
  if (store_open(home, &inner, &err) != 0 || store_fault_wrap(inner, &s) != 0)
    _exit(1);
  store_fault_set(s, after, -1, WEFT_EIO);
  struct rt_opts opts = {.store = s, .user = "tester", .default_parallel = 2};
  struct runtime *rt = NULL;
  struct wf *wf = NULL;
  struct diag_list d = {0};
  if (rt_new(&opts, &rt) != 0 || wf_load_file(path, &wf, &d) != 0)
    _exit(1);
  o->started = rt_start(rt, wf, NULL, "manual", o->run_id, &err) == 0;
  if (o->started)
    rt_loop(rt);
  while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
    ;
  o->step_rows = store_fault_step_rows(s);
  o->writes = store_fault_writes(s);
  rt_free(rt);
  store_close(s);
  _exit(0);
}

static void run_child(const char *home, long after, struct shared *out)
{
  struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                           -1, 0);
  cr_assert(sh != MAP_FAILED);
  memset(sh, 0, sizeof *sh);
  fflush(NULL);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0)
    child_run(home, after, sh);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    cr_assert_eq(errno, EINTR);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child run failed (after %ld)", after);
  *out = *sh;
  munmap(sh, sizeof *sh);
}

/* the instance rows of `step` in the store, and how many are `status` */
static size_t instance_rows(const char *home, const char *run_id, const char *step,
                            const char *status, size_t *with_status, char **counts)
{
  struct store *s = NULL;
  char *err = NULL;
  cr_assert_eq(store_open(home, &s, &err), 0, "%s", err ? err : "");
  struct store_step *v = NULL;
  size_t n = 0, inst = 0;
  *with_status = 0;
  if (counts)
    *counts = NULL;
  if (store_step_list(s, run_id, step, &v, &n) == 0) {
    for (size_t i = 0; i < n; i++) {
      if (v[i].index < 0) {
        if (counts && v[i].counts)
          *counts = strdup(v[i].counts);
        continue;
      }
      inst++;
      *with_status += !strcmp(v[i].status, status);
    }
    store_steps_free(v, n);
  }
  store_close(s);
  return inst;
}

TestSuite(rt_rows, .init = base_make, .fini = base_remove, .timeout = 300);

/* 2,500 `set` instances settle in the transaction that expands them: 2,500
 * instance rows handed to the store, plus the step's own. Before, the
 * expansion put 2,500 "pending" rows first (5,000 and more). */
Test(rt_rows, set_instances_are_written_once)
{
  char home[300];
  snprintf(home, sizeof home, "%s/once", base);
  cr_assert_eq(mkdir(home, 0700), 0);
  char path[400];
  snprintf(path, sizeof path, "%s/wf.yaml", home);
  write_file(path, "name: once\nsteps:\n  each:\n    for_each: \"${{ 2500 }}\"\n"
                   "    set: {v: \"${{ .item }}\"}\n");
  struct shared o;
  run_child(home, -1, &o);
  cr_assert(o.started);
  size_t ok = 0;
  char *counts = NULL;
  cr_assert_eq(instance_rows(home, o.run_id, "each", "succeeded", &ok, &counts), 2500);
  cr_assert_eq(ok, 2500);
  cr_assert_not_null(counts);
  cr_assert_str_eq(counts, "{\"succeeded\":2500}");
  free(counts);
  cr_assert_lt(o.step_rows, 2500 + 10, "%ld step rows were put for 2,500 instances", o.step_rows);
}

/* Processes settle over later commits, two at a time: the expansion's
 * commit carries a "pending" row for every instance that has no row of its
 * own yet. Whichever write fails (and stops the runtime), a committed
 * expansion (the step's counts) has all its instance rows. */
Test(rt_rows, a_committed_expansion_has_every_instance_row)
{
  char home0[300];
  snprintf(home0, sizeof home0, "%s/full", base);
  cr_assert_eq(mkdir(home0, 0700), 0);
  static const char wf[] = "name: later\nsteps:\n  each:\n    for_each: \"${{ 6 }}\"\n"
                           "    run: \"true\"\n";
  char path[400];
  snprintf(path, sizeof path, "%s/wf.yaml", home0);
  write_file(path, wf);
  struct shared full;
  run_child(home0, -1, &full);
  size_t ok = 0;
  cr_assert_eq(instance_rows(home0, full.run_id, "each", "succeeded", &ok, NULL), 6);
  cr_assert_eq(ok, 6);
  cr_assert_gt(full.writes, 4);
  int expanded = 0;
  for (long after = 0; after < full.writes; after++) {
    char home[300];
    snprintf(home, sizeof home, "%s/k%ld", base, after);
    cr_assert_eq(mkdir(home, 0700), 0);
    snprintf(path, sizeof path, "%s/wf.yaml", home);
    write_file(path, wf);
    struct shared o;
    run_child(home, after, &o);
    if (!o.started)
      continue;
    char *counts = NULL;
    size_t pending = 0;
    size_t n = instance_rows(home, o.run_id, "each", "pending", &pending, &counts);
    if (counts) {
      expanded++;
      cr_assert_eq(n, 6, "write %ld failed: the expansion is committed with %zu instance rows",
                   after + 1, n);
    } else {
      cr_assert_eq(n, 0, "write %ld failed: %zu instance rows without their expansion", after + 1,
                   n);
    }
    free(counts);
  }
  cr_assert_gt(expanded, 0);
}
