/* test_executor.c — the runtime's executor interface (src/runtime/executor.h):
 * the built-in table by step kind, what rt_set_executor accepts, and a fake
 * executor put in place of the process executor on a real runtime and store:
 * the engine's START reaches its start, its result (through rt_attempt_end)
 * becomes the step's outputs, the step's timeout reaches its kill, and no
 * process runs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/rt_int.h"
#include "store/store.h"
#include "util/err.h"

Test(executor, the_builtin_table_by_step_kind)
{
  static const struct { enum wf_kind k; const char *name; bool waits; bool polls; } want[] = {
    {WF_RUN, "process", false, false},     {WF_COMMAND, "process", false, false},
    {WF_HTTP, "http", false, false},       {WF_AGENT, "agent", false, false},
    {WF_APPROVAL, "approval", true, false}, {WF_WAIT, "wait", true, true},
    {WF_WORKFLOW, "workflow", true, false},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    const struct executor_ops *x = rt_executor_default(want[i].k);
    cr_assert_not_null(x, "%s", wf_kind_name(want[i].k));
    cr_assert_eq(x->version, EXECUTOR_OPS_VERSION);
    cr_assert_str_eq(x->name, want[i].name);
    cr_assert_not_null(x->start);
    cr_assert_not_null(x->kill);
    cr_assert_eq(x->waits, want[i].waits, "%s", x->name);
    cr_assert_eq(x->poll != NULL, want[i].polls, "%s", x->name);
  }
  /* the engine does these itself: no executor */
  cr_assert_null(rt_executor_default(WF_NOOP));
  cr_assert_null(rt_executor_default(WF_SET));
  cr_assert_null(rt_executor_default((enum wf_kind)1000));
}

/* ---- a fake executor ------------------------------------------------------- */

static char home[] = "/tmp/weft-test-exec-XXXXXX";

static void mk_home(void) { cr_assert_not_null(mkdtemp(home)); }

static void rm_home(void)
{
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  cr_assert_eq(system(cmd), 0);
}

static struct {
  int starts, kills, releases;
  bool kill_timeout;
} F;

static void on_closed(uv_handle_t *h) { free(h); }

/* ends the attempt with outputs {"fake": <attempt>} on the next loop turn */
static void on_fire(uv_timer_t *h)
{
  struct rt_attempt *a = h->data;
  json_t *o = json_pack("{s:i}", "fake", (int)a->attempt);
  rt_attempt_end(a, &(struct rt_result){.ok = true, .outputs = o, .exit_code = -1,
                                        .http_status = -1});
  json_decref(o);
}

static void fake_start(struct runtime *rt, struct rt_run *run, const struct eng_effect *e)
{
  F.starts++;
  struct rt_attempt *a = rt_attempt_add(rt, run, e, WF_RUN);
  if (strcmp(run->wf->steps[e->step].id, "quick"))
    return; /* "stuck": ends only when killed */
  uv_timer_t *t = calloc(1, sizeof *t);
  cr_assert_not_null(t);
  uv_timer_init(&rt->loop, t);
  t->data = a;
  a->x = t;
  uv_timer_start(t, on_fire, 0, 0);
}

static void fake_kill(struct rt_attempt *a, bool timeout)
{
  F.kills++;
  F.kill_timeout = timeout;
  rt_attempt_end(a, &(struct rt_result){.ok = false, .kind = timeout ? "timeout" : "cancelled",
                                        .message = "stopped by the fake", .exit_code = -1,
                                        .http_status = -1});
}

static void fake_release(struct rt_attempt *a)
{
  F.releases++;
  if (a->x)
    uv_close(a->x, on_closed);
  a->x = NULL;
}

static const struct executor_ops fake = {
  .version = EXECUTOR_OPS_VERSION,
  .name = "fake",
  .start = fake_start,
  .kill = fake_kill,
  .release = fake_release,
};

Test(executor, set_executor_checks_what_it_is_given, .init = mk_home, .fini = rm_home)
{
  struct store *s = NULL;
  char *err = NULL;
  cr_assert_eq(store_open(home, &s, &err), 0, "%s", err ? err : "");
  struct rt_opts opts = {.store = s, .user = "tester"};
  struct runtime *rt = NULL;
  cr_assert_eq(rt_new(&opts, &rt), 0);
  cr_assert_eq(rt_executor(rt, WF_HTTP), rt_executor_default(WF_HTTP));
  struct executor_ops old = fake;
  old.version = EXECUTOR_OPS_VERSION + 1;
  cr_assert_eq(rt_set_executor(rt, WF_RUN, &old), WEFT_EINVAL);
  struct executor_ops nokill = fake;
  nokill.kill = NULL;
  cr_assert_eq(rt_set_executor(rt, WF_RUN, &nokill), WEFT_EINVAL);
  cr_assert_eq(rt_set_executor(rt, (enum wf_kind)1000, &fake), WEFT_EINVAL);
  cr_assert_eq(rt_executor(rt, WF_RUN), rt_executor_default(WF_RUN));
  cr_assert_eq(rt_set_executor(rt, WF_RUN, &fake), 0);
  cr_assert_eq(rt_executor(rt, WF_RUN), &fake);
  cr_assert_eq(rt_executor(rt, WF_COMMAND), rt_executor_default(WF_COMMAND));
  rt_free(rt);
  store_close(s);
}

Test(executor, a_fake_process_executor_runs_the_steps, .init = mk_home, .fini = rm_home)
{
  char path[300], marker[300];
  snprintf(path, sizeof path, "%s/wf.yaml", home);
  snprintf(marker, sizeof marker, "%s/marker", home);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fprintf(f, "name: fake\nsteps:\n"
             "  quick: {run: \"touch %s\"}\n"
             "  stuck: {run: \"touch %s\", needs: [quick], timeout: 100ms}\n",
          marker, marker);
  fclose(f);

  struct store *s = NULL;
  char *err = NULL;
  cr_assert_eq(store_open(home, &s, &err), 0, "%s", err ? err : "");
  struct rt_opts opts = {.store = s, .user = "tester"};
  struct runtime *rt = NULL;
  struct wf *wf = NULL;
  struct diag_list d = {0};
  cr_assert_eq(rt_new(&opts, &rt), 0);
  cr_assert_eq(wf_load_file(path, &wf, &d), 0, "%s", d.n ? d.v[0].msg : "");
  cr_assert_eq(rt_set_executor(rt, WF_RUN, &fake), 0);
  char id[WEFT_ID_LEN + 1];
  cr_assert_eq(rt_start(rt, wf, NULL, "manual", id, &err), 0, "%s", err ? err : "");
  cr_assert_eq(rt_loop(rt), 0);
  cr_assert_eq(rt_run_status(rt, 0), ENG_RUN_FAILED);
  rt_free(rt);

  cr_assert_eq(F.starts, 2);
  cr_assert_eq(F.kills, 1);
  cr_assert(F.kill_timeout, "the step's timeout reached the executor's kill");
  cr_assert_eq(F.releases, 2, "every attempt was released");
  cr_assert_neq(access(marker, F_OK), 0, "no process ran");

  struct store_step row = {0};
  cr_assert_eq(store_step_get(s, id, "quick", STORE_NO_INDEX, &row), 0);
  cr_assert_str_eq(row.status, "succeeded");
  json_t *o = json_loads(row.outputs ? row.outputs : "null", 0, NULL);
  cr_assert_eq(json_integer_value(json_object_get(o, "fake")), 1, "%s", row.outputs);
  json_decref(o);
  store_step_clear(&row);
  cr_assert_eq(store_step_get(s, id, "stuck", STORE_NO_INDEX, &row), 0);
  cr_assert_str_eq(row.status, "failed");
  cr_assert_not_null(row.error);
  cr_assert_not_null(strstr(row.error, "timeout"), "%s", row.error);
  store_step_clear(&row);
  store_close(s);
}
