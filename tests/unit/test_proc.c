/* test_proc.c — the process executor (src/exec/proc*.c) on real processes
 * and a real libuv loop. Each test runs in its own process (Criterion), so a
 * test may switch the exit-watch mode or become a child subreaper (to see
 * how its grandchildren died) without affecting the others. No assertion
 * depends on how long anything took; waits for processes are bounded only to
 * turn a hang into a failure. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec/proc.h"
#include "exec/proc_int.h"
#include "util/buf.h"
#include "util/err.h"

/* --- harness --------------------------------------------------------------- */

struct res {
  int calls;
  bool ok;
  char kind[32];
  char message[PROC_MSG_MAX];
  int exit_code, signal;
  pid_t pid;
  int log_errno;
  json_t *outputs;
  char *captured;
  size_t captured_len;
  struct buf streamed;    /* everything on_output saw */
  const char *kill_on;    /* proc_kill when streamed output contains this */
  int kill_reason;
  struct proc *proc;
  bool killed;
  char log_at_done[4096]; /* the log's content when done ran */
  const char *log_path;
  int spawned_calls;      /* on_spawned (a start through the spawner thread) */
};

static void on_spawned(void *ud) { ((struct res *)ud)->spawned_calls++; }

static void on_done(void *ud, const struct proc_result *r)
{
  struct res *s = ud;
  s->calls++;
  s->ok = r->ok;
  snprintf(s->kind, sizeof s->kind, "%s", r->kind ? r->kind : "");
  snprintf(s->message, sizeof s->message, "%s", r->message);
  s->exit_code = r->exit_code;
  s->signal = r->signal;
  s->pid = r->pid;
  s->log_errno = r->log_errno;
  s->outputs = json_incref(r->outputs);
  s->captured = malloc(r->captured_len + 1);
  memcpy(s->captured, r->captured, r->captured_len + 1);
  s->captured_len = r->captured_len;
  if (s->log_path) {
    FILE *f = fopen(s->log_path, "r");
    if (f) {
      size_t n = fread(s->log_at_done, 1, sizeof s->log_at_done - 1, f);
      s->log_at_done[n] = '\0';
      fclose(f);
    }
  }
}

static void on_output(void *ud, const char *d, size_t n)
{
  struct res *s = ud;
  cr_assert_eq(buf_append(&s->streamed, d, n), 0);
  if (s->kill_on && !s->killed && strstr(s->streamed.p, s->kill_on)) {
    s->killed = true;
    cr_assert_eq(proc_kill(s->proc, s->kill_reason), 0);
  }
}

static void res_init(struct res *s)
{
  memset(s, 0, sizeof *s);
  buf_init(&s->streamed, 64 << 20);
}

static void res_free(struct res *s)
{
  json_decref(s->outputs);
  free(s->captured);
  buf_free(&s->streamed);
}

/* Runs one spec to completion on a fresh loop; every handle must be closed. */
static void run_spec(struct proc_spec *spec, struct res *s)
{
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  spec->on_output = on_output;
  if (!spec->capture_max)
    spec->capture_max = 1 << 20;
  s->log_path = spec->log_path;
  cr_assert_eq(proc_start(&loop, spec, on_done, s, &s->proc), 0);
  cr_assert_eq(s->calls, 0, "done is never called from inside proc_start");
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(s->calls, 1, "done called exactly once");
  cr_assert_eq(uv_loop_close(&loop), 0, "the executor left a handle open");
}

static char g_dir[64];

static void make_dir(void)
{
  snprintf(g_dir, sizeof g_dir, "/tmp/weft-test-proc-XXXXXX");
  cr_assert_not_null(mkdtemp(g_dir));
}

static void rm_dir(void)
{
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  cr_assert_eq(system(cmd), 0);
}

static char *path_in(const char *name)
{
  static char p[8][PATH_MAX];
  static int i;
  char *r = p[i++ % 8];
  snprintf(r, PATH_MAX, "%s/%s", g_dir, name);
  return r;
}

static char *slurp(const char *path)
{
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  struct buf b;
  buf_init(&b, 64 << 20);
  char tmp[8192];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
    cr_assert_eq(buf_append(&b, tmp, n), 0);
  fclose(f);
  return buf_take(&b);
}

static void expect_outputs(const struct res *s, const char *want)
{
  json_error_t je;
  json_t *w = json_loads(want, 0, &je);
  cr_assert_not_null(w);
  char *got = json_dumps(s->outputs, JSON_COMPACT | JSON_SORT_KEYS);
  cr_assert(json_equal(s->outputs, w), "outputs %s, want %s", got, want);
  free(got);
  json_decref(w);
}

/* Waits (bounded, only against hangs) for pid, a child of ours, and returns
 * its status. */
static int reap_child(pid_t pid)
{
  int st = 0;
  for (int i = 0; i < 20000; i++) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid)
      return st;
    cr_assert_eq(r, 0, "waitpid(%d): %s", (int)pid, strerror(errno));
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  cr_assert_fail("process %d did not end", (int)pid);
  return -1;
}

/* Waits (bounded) until pid, a grandchild re-parented to us (we are a child
 * subreaper), has ended; returns its status, or -1 when the kernel reaped it
 * itself (which it does when the grandchild dies while its parent is dying:
 * then only "it is gone" can be checked). */
static int grandchild_end(pid_t pid)
{
  int st = 0;
  for (int i = 0; i < 20000; i++) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid)
      return st;
    if (r < 0) {
      cr_assert_eq(errno, ECHILD);
      cr_assert_neq(kill(pid, 0), 0, "process %d is alive and not our child", (int)pid);
      return -1;
    }
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  cr_assert_fail("process %d did not end", (int)pid);
  return -1;
}

static pid_t read_pid(const char *path)
{
  char *s = slurp(path);
  pid_t p = (pid_t)atoi(s);
  free(s);
  cr_assert_gt(p, 1);
  return p;
}

#define SH(script) ((const char *const[]){"sh", "-c", script, NULL})

TestSuite(proc, .init = make_dir, .fini = rm_dir, .timeout = 60);

/* --- exit, signal, spawn ----------------------------------------------------- */

Test(proc, exit_zero_succeeds)
{
  struct res s;
  res_init(&s);
  struct proc_spec spec = {.argv = (const char *const[]){"true", NULL}};
  run_spec(&spec, &s);
  cr_assert(s.ok);
  cr_assert_str_eq(s.kind, "");
  cr_assert_str_eq(s.message, "");
  cr_assert_eq(s.exit_code, 0);
  cr_assert_eq(s.signal, 0);
  cr_assert_gt(s.pid, 0);
  expect_outputs(&s, "{}");
  res_free(&s);
}

Test(proc, exit_three_is_exit_code_error)
{
  struct res s;
  res_init(&s);
  struct proc_spec spec = {.argv = SH("exit 3")};
  run_spec(&spec, &s);
  cr_assert_not(s.ok);
  cr_assert_str_eq(s.kind, "exit_code");
  cr_assert_eq(s.exit_code, 3);
  cr_assert_str_eq(s.message, "exited with status 3");
  res_free(&s);
}

/* The exit watch is armed when the output ends (proc_watch_arm): a child
 * that closes its output long before it exits is still waited for, in both
 * watch modes. */
static void early_eof_then_exit(int mode)
{
  proc_watch_set_mode(mode);
  struct res s;
  res_init(&s);
  struct proc_spec spec = {.argv = SH("echo bye; exec >&- 2>&-; sleep 0.3; exit 4")};
  run_spec(&spec, &s);
  cr_assert_not(s.ok);
  cr_assert_str_eq(s.kind, "exit_code");
  cr_assert_eq(s.exit_code, 4);
  cr_assert_str_eq(s.captured, "bye\n");
  res_free(&s);
}
Test(proc, output_closed_early_still_waits_for_the_exit) { early_eof_then_exit(PROC_WATCH_PIDFD); }
Test(proc, output_closed_early_still_waits_for_the_exit_sigchld)
{
  early_eof_then_exit(PROC_WATCH_SIGCHLD);
}

Test(proc, death_by_signal_is_signal_error)
{
  struct res s;
  res_init(&s);
  struct proc_spec spec = {.argv = SH("kill -9 $$")};
  run_spec(&spec, &s);
  cr_assert_str_eq(s.kind, "signal");
  cr_assert_eq(s.signal, SIGKILL);
  cr_assert_eq(s.exit_code, -1);
  cr_assert_str_eq(s.message, "killed by signal 9 (SIGKILL)");
  res_free(&s);
}

Test(proc, missing_program_is_spawn_error)
{
  struct res s;
  res_init(&s);
  struct proc_spec spec = {.argv = (const char *const[]){"weft-no-such-program", NULL}};
  run_spec(&spec, &s);
  cr_assert_str_eq(s.kind, "spawn");
  cr_assert_eq(s.exit_code, -1);
  cr_assert_eq(s.pid, 0);
  cr_assert(strstr(s.message, "No such file or directory"), "%s", s.message);
  cr_assert(strstr(s.message, "weft-no-such-program"), "%s", s.message);
  expect_outputs(&s, "{}");
  res_free(&s);
}

Test(proc, missing_program_by_path_is_spawn_error)
{
  struct res s;
  res_init(&s);
  struct proc_spec spec = {.argv = (const char *const[]){"/nonexistent/prog", NULL}};
  run_spec(&spec, &s);
  cr_assert_str_eq(s.kind, "spawn");
  cr_assert(strstr(s.message, "No such file or directory"), "%s", s.message);
  res_free(&s);
}

Test(proc, missing_cwd_is_spawn_error_naming_it)
{
  struct res s;
  res_init(&s);
  struct proc_spec spec = {.argv = (const char *const[]){"true", NULL},
                           .cwd = "/nonexistent/dir"};
  run_spec(&spec, &s);
  cr_assert_str_eq(s.kind, "spawn");
  cr_assert(strstr(s.message, "/nonexistent/dir"), "%s", s.message);
  res_free(&s);
}

Test(proc, non_executable_file_is_spawn_error)
{
  struct res s;
  res_init(&s);
  char *f = path_in("plain");
  FILE *fp = fopen(f, "w");
  fputs("echo hi\n", fp);
  fclose(fp);
  struct proc_spec spec = {.argv = (const char *const[]){f, NULL}};
  run_spec(&spec, &s);
  cr_assert_str_eq(s.kind, "spawn");
  cr_assert(strstr(s.message, "Permission denied"), "%s", s.message);
  res_free(&s);
}

Test(proc, script_without_shebang_runs_through_sh)
{
  struct res s;
  res_init(&s);
  char *f = path_in("noshebang");
  FILE *fp = fopen(f, "w");
  fputs("echo from-script \"$1\"\n", fp);
  fclose(fp);
  chmod(f, 0755);
  struct proc_spec spec = {.argv = (const char *const[]){f, "arg1", NULL}};
  run_spec(&spec, &s);
  cr_assert(s.ok, "%s", s.message);
  cr_assert_str_eq(s.captured, "from-script arg1\n");
  res_free(&s);
}

Test(proc, unwritable_log_is_reported_and_the_attempt_still_runs)
{
  struct res s;
  res_init(&s);
  struct proc_spec spec = {.argv = SH("echo hi; exit 4"), .log_path = "/nonexistent/dir/log"};
  run_spec(&spec, &s);
  cr_assert_str_eq(s.kind, "exit_code");
  cr_assert_eq(s.exit_code, 4);
  cr_assert_eq(s.log_errno, ENOENT);
  cr_assert_str_eq(s.streamed.p, "hi\n", "output still streamed");
  res_free(&s);
}

Test(proc, quiet_attempt_creates_no_log_file)
{
  struct res s;
  res_init(&s);
  char *log = path_in("log");
  struct proc_spec spec = {.argv = (const char *const[]){"true", NULL}, .log_path = log};
  run_spec(&spec, &s);
  cr_assert(s.ok);
  cr_assert_eq(s.log_errno, 0);
  cr_assert_neq(access(log, F_OK), 0, "no output, no log file");
  res_free(&s);
}

/* --- environment, cwd, descriptors --------------------------------------------- */

Test(proc, env_is_exactly_the_given_one)
{
  struct res s;
  res_init(&s);
  setenv("WEFT_TEST_PARENT_ONLY", "leak", 1);
  const char *env[] = {"PATH=/usr/bin:/bin", "FOO=bar baz", NULL};
  struct proc_spec spec = {.argv = SH("printf '%s|%s' \"$FOO\" \"${WEFT_TEST_PARENT_ONLY-unset}\""),
                           .envp = env};
  run_spec(&spec, &s);
  cr_assert(s.ok, "%s", s.message);
  cr_assert_str_eq(s.captured, "bar baz|unset");
  res_free(&s);
}

Test(proc, program_is_looked_up_in_the_childs_path)
{
  struct res s;
  res_init(&s);
  char *bin = path_in("bin");
  mkdir(bin, 0755);
  char *tool = path_in("bin/weft-test-tool");
  FILE *fp = fopen(tool, "w");
  fputs("#!/bin/sh\necho tool ran\n", fp);
  fclose(fp);
  chmod(tool, 0755);
  char pathvar[PATH_MAX + 32];
  snprintf(pathvar, sizeof pathvar, "PATH=/nonexistent:%s:/usr/bin:/bin", bin);
  const char *env[] = {pathvar, NULL};
  struct proc_spec spec = {.argv = (const char *const[]){"weft-test-tool", NULL}, .envp = env};
  run_spec(&spec, &s);
  cr_assert(s.ok, "%s", s.message);
  cr_assert_str_eq(s.captured, "tool ran\n");
  res_free(&s);
}

Test(proc, cwd_is_passed)
{
  struct res s;
  res_init(&s);
  char real[PATH_MAX];
  cr_assert_not_null(realpath(g_dir, real));
  struct proc_spec spec = {.argv = (const char *const[]){"pwd", "-P", NULL}, .cwd = g_dir};
  run_spec(&spec, &s);
  cr_assert(s.ok, "%s", s.message);
  char want[PATH_MAX + 2];
  snprintf(want, sizeof want, "%s\n", real);
  cr_assert_str_eq(s.captured, want);
  res_free(&s);
}

Test(proc, stdin_is_dev_null)
{
  struct res s;
  res_init(&s);
  struct proc_spec spec = {.argv = (const char *const[]){"readlink", "/proc/self/fd/0", NULL}};
  run_spec(&spec, &s);
  cr_assert(s.ok, "%s", s.message);
  cr_assert_str_eq(s.captured, "/dev/null\n");
  res_free(&s);
}

Test(proc, inherited_descriptors_are_closed_in_the_child)
{
  struct res s;
  res_init(&s);
  int fd = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
  cr_assert_geq(fd, 3);
  char script[128];
  snprintf(script, sizeof script, "if [ -e /proc/$$/fd/%d ]; then echo open; else echo closed; fi",
           fd);
  struct proc_spec spec = {.argv = SH(script)};
  run_spec(&spec, &s);
  cr_assert_str_eq(s.captured, "closed\n");
  close(fd);
  res_free(&s);
}

Test(proc, child_runs_in_its_own_process_group)
{
  struct res s;
  res_init(&s);
  struct proc_spec spec = {.argv = SH("ps -o pgid= -p $$ | tr -d ' '; echo $$")};
  run_spec(&spec, &s);
  cr_assert(s.ok, "%s", s.message);
  int pgid = 0, pid = 0;
  cr_assert_eq(sscanf(s.captured, "%d\n%d", &pgid, &pid), 2, "%s", s.captured);
  cr_assert_eq(pgid, pid);
  cr_assert_eq(pid, s.pid);
  cr_assert_neq(pgid, getpgrp());
  res_free(&s);
}

Test(proc, ignored_signals_are_reset_in_the_child)
{
  struct res s;
  res_init(&s);
  /* ignored before the first start (an inherited nohup, say), and one that
   * is not in the list of signals weft may touch later */
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGRTMIN + 3, SIG_IGN);
  sigset_t blk, old;
  sigemptyset(&blk);
  sigaddset(&blk, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &blk, &old);
  struct proc_spec spec = {
      .argv = (const char *const[]){"grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status", NULL}};
  run_spec(&spec, &s);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  cr_assert(s.ok, "%s", s.message);
  const char *m = strstr(s.captured, "SigIgn:");
  cr_assert_not_null(m, "%s", s.captured);
  /* glibc's posix_spawn (WEFT_POSIX_SPAWN=1) leaves its own 32 and 33 ignored */
  unsigned long long ign = strtoull(m + 7, NULL, 16) & ~(3ull << 31);
  cr_assert_eq(ign, 0, "signals still ignored in the child: %s", s.captured);
  m = strstr(s.captured, "SigBlk:");
  cr_assert_not_null(m, "%s", s.captured);
  cr_assert_eq(strtoull(m + 7, NULL, 16), 0, "signals still blocked: %s", s.captured);
  res_free(&s);
}

/* --- outputs ------------------------------------------------------------------- */

static void run_with_output(const char *script, struct res *s)
{
  char envout[PATH_MAX + 16];
  char *out = path_in("out");
  snprintf(envout, sizeof envout, "WEFT_OUTPUT=%s", out);
  const char *env[] = {"PATH=/usr/bin:/bin", envout, NULL};
  struct proc_spec spec = {.argv = SH(script), .envp = env, .output_path = out};
  run_spec(&spec, s);
}

Test(proc, outputs_json_object)
{
  struct res s;
  res_init(&s);
  run_with_output("echo '{\"model\": \"m-1\", \"score\": 0.93, \"tags\": [1]}' > \"$WEFT_OUTPUT\"",
                  &s);
  cr_assert(s.ok, "%s", s.message);
  expect_outputs(&s, "{\"model\":\"m-1\",\"score\":0.93,\"tags\":[1]}");
  res_free(&s);
}

Test(proc, outputs_key_value_lines)
{
  struct res s;
  res_init(&s);
  run_with_output("echo 'count=3' >> \"$WEFT_OUTPUT\"; echo 'name=hello world' >> \"$WEFT_OUTPUT\";"
                  " echo >> \"$WEFT_OUTPUT\"; echo 'flag=true' >> \"$WEFT_OUTPUT\"",
                  &s);
  cr_assert(s.ok, "%s", s.message);
  expect_outputs(&s, "{\"count\":3,\"name\":\"hello world\",\"flag\":true}");
  res_free(&s);
}

Test(proc, invalid_output_line_is_output_error)
{
  struct res s;
  res_init(&s);
  run_with_output("printf 'a=1\\nnot a pair\\n' > \"$WEFT_OUTPUT\"", &s);
  cr_assert_not(s.ok);
  cr_assert_str_eq(s.kind, "output");
  cr_assert(strstr(s.message, "line 2"), "%s", s.message);
  cr_assert(strstr(s.message, "not a pair"), "%s", s.message);
  cr_assert_eq(s.exit_code, 0);
  expect_outputs(&s, "{}");
  res_free(&s);
}

Test(proc, output_over_one_mib_is_output_error)
{
  struct res s;
  res_init(&s);
  run_with_output("printf 'a=' > \"$WEFT_OUTPUT\"; head -c 1048576 /dev/zero | tr '\\0' x >> "
                  "\"$WEFT_OUTPUT\"",
                  &s);
  cr_assert_str_eq(s.kind, "output");
  cr_assert(strstr(s.message, "over 1 MiB"), "%s", s.message);
  res_free(&s);
}

Test(proc, stale_output_file_is_removed_before_the_spawn)
{
  struct res s;
  res_init(&s);
  FILE *fp = fopen(path_in("out"), "w");
  fputs("stale=1\n", fp);
  fclose(fp);
  run_with_output("test ! -e \"$WEFT_OUTPUT\"", &s);
  cr_assert(s.ok, "%s", s.message);
  expect_outputs(&s, "{}");
  res_free(&s);
}

/* output_fresh: the caller vouches that nothing is at the path (a new run's
 * folder), so no unlink() is spent on it: a file put there anyway is read. */
Test(proc, fresh_output_path_is_not_reset)
{
  struct res s;
  res_init(&s);
  char *out = path_in("out");
  FILE *fp = fopen(out, "w");
  fputs("kept=1\n", fp);
  fclose(fp);
  char envout[PATH_MAX + 16];
  snprintf(envout, sizeof envout, "WEFT_OUTPUT=%s", out);
  const char *env[] = {"PATH=/usr/bin:/bin", envout, NULL};
  struct proc_spec spec = {.argv = SH("test -e \"$WEFT_OUTPUT\""), .envp = env,
                           .output_path = out, .output_fresh = true};
  run_spec(&spec, &s);
  cr_assert(s.ok, "%s", s.message);
  expect_outputs(&s, "{\"kept\": 1}");
  res_free(&s);
}

Test(proc, output_create_makes_it_empty_before_the_spawn)
{
  struct res s;
  res_init(&s);
  char *out = path_in("out");
  FILE *fp = fopen(out, "w");
  fputs("stale=1\n", fp);
  fclose(fp);
  char envout[PATH_MAX + 16];
  snprintf(envout, sizeof envout, "WEFT_OUTPUT=%s", out);
  const char *env[] = {"PATH=/usr/bin:/bin", envout, NULL};
  struct proc_spec spec = {.argv = SH("test -f \"$WEFT_OUTPUT\" && test ! -s \"$WEFT_OUTPUT\""),
                           .envp = env, .output_path = out, .output_create = true};
  run_spec(&spec, &s);
  cr_assert(s.ok, "%s", s.message);
  expect_outputs(&s, "{}");
  res_free(&s);
}

Test(proc, output_path_that_cannot_be_reset_is_spawn_error)
{
  struct res s;
  res_init(&s);
  char *out = path_in("outdir");
  mkdir(out, 0755);
  mkdir(path_in("outdir/x"), 0755); /* a non-empty directory cannot be unlinked */
  struct proc_spec spec = {.argv = (const char *const[]){"true", NULL}, .output_path = out};
  run_spec(&spec, &s);
  cr_assert_str_eq(s.kind, "spawn");
  cr_assert(strstr(s.message, "WEFT_OUTPUT"), "%s", s.message);
  res_free(&s);
}

Test(proc, deleted_output_file_gives_empty_outputs)
{
  struct res s;
  res_init(&s);
  run_with_output("echo a=1 > \"$WEFT_OUTPUT\"; rm \"$WEFT_OUTPUT\"", &s);
  cr_assert(s.ok, "%s", s.message);
  expect_outputs(&s, "{}");
  res_free(&s);
}

Test(proc, exit_code_error_wins_over_output_error)
{
  struct res s;
  res_init(&s);
  run_with_output("echo garbage > \"$WEFT_OUTPUT\"; exit 2", &s);
  cr_assert_str_eq(s.kind, "exit_code");
  cr_assert_eq(s.exit_code, 2);
  res_free(&s);
}

Test(proc, outputs_are_kept_on_nonzero_exit)
{
  struct res s;
  res_init(&s);
  run_with_output("echo reason=disk > \"$WEFT_OUTPUT\"; exit 1", &s);
  cr_assert_str_eq(s.kind, "exit_code");
  expect_outputs(&s, "{\"reason\":\"disk\"}");
  res_free(&s);
}

/* --- log and streaming ------------------------------------------------------------ */

Test(proc, log_gets_stdout_and_stderr_in_order)
{
  struct res s;
  res_init(&s);
  char *log = path_in("log");
  struct proc_spec spec = {.argv = SH("echo one; echo two >&2; echo three; echo four >&2"),
                           .log_path = log};
  run_spec(&spec, &s);
  cr_assert(s.ok, "%s", s.message);
  char *got = slurp(log);
  cr_assert_str_eq(got, "one\ntwo\nthree\nfour\n");
  free(got);
  res_free(&s);
}

Test(proc, log_is_appended_to)
{
  struct res s;
  res_init(&s);
  char *log = path_in("log");
  FILE *fp = fopen(log, "w");
  fputs("before\n", fp);
  fclose(fp);
  struct proc_spec spec = {.argv = SH("echo after"), .log_path = log};
  run_spec(&spec, &s);
  char *got = slurp(log);
  cr_assert_str_eq(got, "before\nafter\n");
  free(got);
  res_free(&s);
}

Test(proc, large_output_is_streamed_to_the_log_whole)
{
  struct res s;
  res_init(&s);
  char *log = path_in("log");
  struct proc_spec spec = {.argv = SH("head -c 5000000 /dev/zero | tr '\\0' y"), .log_path = log,
                           .capture_max = 100};
  run_spec(&spec, &s);
  cr_assert(s.ok, "%s", s.message);
  struct stat st;
  cr_assert_eq(stat(log, &st), 0);
  cr_assert_eq(st.st_size, 5000000);
  cr_assert_eq(s.captured_len, 100, "capture keeps only capture_max bytes");
  cr_assert_eq(s.streamed.len, 5000000);
  res_free(&s);
}

Test(proc, on_output_receives_everything)
{
  struct res s;
  res_init(&s);
  struct proc_spec spec = {.argv = SH("echo a; echo b >&2; printf c")};
  run_spec(&spec, &s);
  cr_assert_str_eq(s.streamed.p, "a\nb\nc");
  res_free(&s);
}

/* Is pid gone (no such process, or a zombie: it runs nothing)? Polls for up
 * to 5 s: a bound against a slow machine, not a speed assertion. */
static bool gone_soon(pid_t pid)
{
  for (int i = 0; i < 500; i++) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
      return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p || p[2] == 'Z' || p[2] == 'X')
      return true;
    waitpid(pid, NULL, WNOHANG); /* ours (a subreaper test): collect it */
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  return false;
}

/* The main process exits while a background child holds stdout: the step
 * ends (it does not wait for the child), what the child wrote before is in
 * the log, and the child is killed. */
static void background_child_holding_stdout(int watch_mode)
{
  if (watch_mode)
    proc_watch_set_mode(watch_mode);
  struct res s;
  res_init(&s);
  char *log = path_in("log"), *pidf = path_in("bg"), *mark = path_in("mark");
  char script[3 * PATH_MAX + 200];
  snprintf(script, sizeof script,
           "(echo late; touch %s; exec sleep 300) & echo $! > %s;"
           " while [ ! -e %s ]; do sleep 0.01; done; echo early",
           mark, pidf, mark);
  struct proc_spec spec = {.argv = SH(script), .log_path = log};
  run_spec(&spec, &s);
  cr_assert(s.ok, "%s", s.message);
  cr_assert_str_eq(s.log_at_done, "late\nearly\n");
  cr_assert(gone_soon(read_pid(pidf)), "the background child outlived its step");
  res_free(&s);
}

Test(proc, step_ends_with_its_main_process_and_kills_a_child_holding_stdout)
{
  background_child_holding_stdout(0);
}
Test(proc, step_ends_with_its_main_process_sigchld_watch)
{
  background_child_holding_stdout(PROC_WATCH_SIGCHLD);
}

/* --- processes that leave the group ----------------------------------------- */

/* A step that starts escapes of every kind, each writing its pid to a file:
 * setsid (stdout inherited), a double fork, setsid -f (stdout closed) and a
 * plain background child (stdout inherited); then it either exits or says
 * "ready" and sleeps (to be cancelled or timed out). */
#define N_ESC 4
static const char *escapes_script(char *out, size_t outsz, char pidf[N_ESC][PATH_MAX], bool stay)
{
  for (int i = 0; i < N_ESC; i++) {
    char name[8];
    snprintf(name, sizeof name, "e%d", i);
    snprintf(pidf[i], PATH_MAX, "%s", path_in(name));
  }
  snprintf(out, outsz,
           "setsid sh -c 'echo $$ > %s; exec sleep 300' &"
           " (sh -c 'echo $$ > %s; exec sleep 300' &) ;"
           " setsid -f sh -c 'echo $$ > %s; exec sleep 300' > /dev/null 2>&1;"
           " sleep 300 & echo $! > %s;"
           " for f in %s %s %s %s; do while [ ! -s $f ]; do sleep 0.01; done; done;"
           " %s",
           pidf[0], pidf[1], pidf[2], pidf[3], pidf[0], pidf[1], pidf[2], pidf[3],
           stay ? "echo ready; exec sleep 1000" : "echo done");
  return out;
}

static void force_tree(int mode)
{
  proc_tree_set_mode(mode);
  if (proc_tree_mode() != mode)
    cr_skip_test("this mechanism is not available here");
}

static void escapes_end_with_the_step(int mode, int kill_reason)
{
  force_tree(mode);
  struct res s;
  res_init(&s);
  char pidf[N_ESC][PATH_MAX], script[9 * PATH_MAX + 512];
  escapes_script(script, sizeof script, pidf, kill_reason != 0);
  if (kill_reason) {
    s.kill_on = "ready";
    s.kill_reason = kill_reason;
  }
  struct proc_spec spec = {.argv = SH(script), .kill_grace_ms = 200};
  run_spec(&spec, &s);
  if (kill_reason == PROC_KILL_CANCEL)
    cr_assert_str_eq(s.kind, "cancelled", "%s", s.message);
  else if (kill_reason == PROC_KILL_TIMEOUT)
    cr_assert_str_eq(s.kind, "timeout", "%s", s.message);
  else
    cr_assert(s.ok, "the main process's status is the result: %s", s.message);
  for (int i = 0; i < N_ESC; i++)
    cr_assert(gone_soon(read_pid(pidf[i])), "escape %d (pid %d) outlived its step", i,
              (int)read_pid(pidf[i]));
  res_free(&s);
}

Test(proc, escapes_end_with_the_step_cgroup) { escapes_end_with_the_step(PROC_TREE_CGROUP, 0); }
Test(proc, escapes_end_on_cancel_cgroup)
{
  escapes_end_with_the_step(PROC_TREE_CGROUP, PROC_KILL_CANCEL);
}
Test(proc, escapes_end_on_timeout_cgroup)
{
  escapes_end_with_the_step(PROC_TREE_CGROUP, PROC_KILL_TIMEOUT);
}
Test(proc, escapes_end_with_the_step_subreaper)
{
  escapes_end_with_the_step(PROC_TREE_SUBREAPER, 0);
}
Test(proc, escapes_end_on_cancel_subreaper)
{
  escapes_end_with_the_step(PROC_TREE_SUBREAPER, PROC_KILL_CANCEL);
}
Test(proc, escapes_end_on_timeout_subreaper)
{
  escapes_end_with_the_step(PROC_TREE_SUBREAPER, PROC_KILL_TIMEOUT);
}

Test(proc, cgroup_mode_puts_the_child_in_a_cgroup_of_its_own)
{
  force_tree(PROC_TREE_CGROUP);
  struct res s;
  res_init(&s);
  struct proc_spec spec = {.argv = SH("cat /proc/self/cgroup")};
  run_spec(&spec, &s);
  cr_assert(s.ok, "%s", s.message);
  char want[PATH_MAX];
  snprintf(want, sizeof want, "/weft-%d/", (int)getpid());
  cr_assert(strstr(s.captured, want), "%s", s.captured);
  res_free(&s);
}

/* Subreaper mode: orphans are told apart by their $WEFT_OUTPUT. Attempt A's
 * escape dies when A ends; B's keeps running until B ends. */
Test(proc, subreaper_kills_only_the_ending_attempts_orphans)
{
  force_tree(PROC_TREE_SUBREAPER);
  struct res a, b;
  res_init(&a);
  res_init(&b);
  char *pa = path_in("ea"), *pb = path_in("eb"), *go = path_in("go");
  char sa[2 * PATH_MAX + 200], sb[3 * PATH_MAX + 200], ea[PATH_MAX + 32], eb[PATH_MAX + 32];
  snprintf(sa, sizeof sa,
           "setsid sh -c 'echo $$ > %s; exec sleep 300' > /dev/null &"
           " while [ ! -s %s ]; do sleep 0.01; done",
           pa, pa);
  snprintf(sb, sizeof sb,
           "setsid sh -c 'echo $$ > %s; exec sleep 300' > /dev/null &"
           " while [ ! -e %s ]; do sleep 0.01; done",
           pb, go);
  snprintf(ea, sizeof ea, "WEFT_OUTPUT=%s.a", g_dir);
  snprintf(eb, sizeof eb, "WEFT_OUTPUT=%s.b", g_dir);
  const char *enva[] = {"PATH=/usr/bin:/bin", ea, NULL}, *envb[] = {"PATH=/usr/bin:/bin", eb, NULL};
  struct proc_spec spa = {.argv = SH(sa), .envp = enva, .on_output = on_output};
  struct proc_spec spb = {.argv = SH(sb), .envp = envb, .on_output = on_output};
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  cr_assert_eq(proc_start(&loop, &spb, on_done, &b, &b.proc), 0);
  cr_assert_eq(proc_start(&loop, &spa, on_done, &a, &a.proc), 0);
  while (!a.calls)
    uv_run(&loop, UV_RUN_ONCE);
  cr_assert(a.ok, "%s", a.message);
  cr_assert(gone_soon(read_pid(pa)), "A's escape outlived A");
  while (!(access(pb, F_OK) == 0 && read_pid(pb) > 0))
    uv_run(&loop, UV_RUN_NOWAIT);
  pid_t eb_pid = read_pid(pb);
  cr_assert_eq(kill(eb_pid, 0), 0, "B's escape was killed when A ended");
  cr_assert_eq(b.calls, 0);
  FILE *f = fopen(go, "w");
  fclose(f);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert(b.ok, "%s", b.message);
  cr_assert(gone_soon(eb_pid), "B's escape outlived B");
  cr_assert_eq(uv_loop_close(&loop), 0);
  res_free(&a);
  res_free(&b);
}

/* --- kill ----------------------------------------------------------------------- */

Test(proc, cancel_kills_the_whole_group)
{
  struct res s;
  res_init(&s);
  prctl(PR_SET_CHILD_SUBREAPER, 1); /* orphaned grandchildren come to us */
  char *pidfile = path_in("gpid");
  char script[PATH_MAX + 128];
  snprintf(script, sizeof script, "sleep 1000 & echo $! > %s; echo ready; wait", pidfile);
  s.kill_on = "ready";
  s.kill_reason = PROC_KILL_CANCEL;
  struct proc_spec spec = {.argv = SH(script)};
  run_spec(&spec, &s);
  cr_assert_str_eq(s.kind, "cancelled");
  cr_assert_eq(s.signal, SIGTERM);
  cr_assert(strstr(s.message, "cancelled"), "%s", s.message);
  int st = grandchild_end(read_pid(pidfile));
  cr_assert(st == -1 || (WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM), "grandchild status %#x", st);
  res_free(&s);
}

Test(proc, timeout_kill_is_timeout_error)
{
  struct res s;
  res_init(&s);
  s.kill_on = "ready";
  s.kill_reason = PROC_KILL_TIMEOUT;
  struct proc_spec spec = {.argv = SH("echo ready; exec sleep 1000")};
  run_spec(&spec, &s);
  cr_assert_str_eq(s.kind, "timeout");
  cr_assert(strncmp(s.message, "timed out after ", 16) == 0, "%s", s.message);
  cr_assert_eq(s.signal, SIGTERM);
  res_free(&s);
}

Test(proc, sigterm_ignoring_group_gets_sigkill_after_grace)
{
  struct res s;
  res_init(&s);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  char *pidfile = path_in("gpid");
  char script[PATH_MAX + 128];
  snprintf(script, sizeof script,
           "trap '' TERM; sleep 1000 & echo $! > %s; echo ready; while :; do sleep 0.05; done",
           pidfile);
  s.kill_on = "ready";
  s.kill_reason = PROC_KILL_CANCEL;
  struct proc_spec spec = {.argv = SH(script), .kill_grace_ms = 100};
  run_spec(&spec, &s);
  cr_assert_str_eq(s.kind, "cancelled");
  cr_assert_eq(s.signal, SIGKILL, "%s", s.message);
  cr_assert(strstr(s.message, "SIGKILL"), "%s", s.message);
  int st = grandchild_end(read_pid(pidfile));
  cr_assert(st == -1 || (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL), "grandchild status %#x", st);
  res_free(&s);
}

static void killed_with_holder_outside_the_group(int mode)
{
  if (mode)
    force_tree(mode);
  struct res s;
  res_init(&s);
  char *pidfile = path_in("holder");
  char script[PATH_MAX + 128];
  /* setsid: the holder leaves our group, so the kill cannot reach it */
  snprintf(script, sizeof script,
           "setsid sh -c 'echo $$ > %s; exec sleep 1000' & while [ ! -s %s ]; do sleep 0.01;"
           " done; echo ready; exec sleep 1000",
           pidfile, pidfile);
  s.kill_on = "ready";
  s.kill_reason = PROC_KILL_CANCEL;
  struct proc_spec spec = {.argv = SH(script), .kill_grace_ms = 50};
  run_spec(&spec, &s);
  cr_assert_str_eq(s.kind, "cancelled");
  /* and the holder, outside the group but in the attempt's tree, is killed */
  cr_assert(gone_soon(read_pid(pidfile)), "the holder outlived its step");
  res_free(&s);
}

Test(proc, killed_attempt_ends_even_if_a_process_outside_the_group_holds_stdout)
{
  killed_with_holder_outside_the_group(0);
}
Test(proc, killed_attempt_ends_with_a_holder_outside_the_group_subreaper)
{
  killed_with_holder_outside_the_group(PROC_TREE_SUBREAPER);
}

Test(proc, kill_twice_keeps_the_first_reason)
{
  struct res s;
  res_init(&s);
  s.kill_on = "ready";
  s.kill_reason = PROC_KILL_TIMEOUT;
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct proc_spec spec = {.argv = SH("echo ready; exec sleep 1000"), .on_output = on_output};
  cr_assert_eq(proc_start(&loop, &spec, on_done, &s, &s.proc), 0);
  while (!s.killed)
    uv_run(&loop, UV_RUN_ONCE);
  cr_assert_eq(proc_kill(s.proc, PROC_KILL_CANCEL), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(uv_loop_close(&loop), 0);
  cr_assert_eq(s.calls, 1);
  cr_assert_str_eq(s.kind, "timeout");
  res_free(&s);
}

Test(proc, kill_with_bad_reason_is_refused)
{
  struct res s;
  res_init(&s);
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct proc_spec spec = {.argv = (const char *const[]){"true", NULL}};
  cr_assert_eq(proc_start(&loop, &spec, on_done, &s, &s.proc), 0);
  cr_assert_eq(proc_kill(s.proc, 0), WEFT_EINVAL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(uv_loop_close(&loop), 0);
  cr_assert(s.ok);
  res_free(&s);
}

Test(proc, pid_and_pgid_getters_name_the_child)
{
  struct res s;
  res_init(&s);
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct proc_spec spec = {.argv = SH("echo $$"), .capture_max = 64};
  cr_assert_eq(proc_start(&loop, &spec, on_done, &s, &s.proc), 0);
  pid_t pid = proc_pid(s.proc);
  cr_assert_gt(pid, 0);
  cr_assert_eq(proc_pgid(s.proc), pid);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(uv_loop_close(&loop), 0);
  cr_assert_eq(atoi(s.captured), pid);
  res_free(&s);
}

Test(proc, start_without_argv_is_invalid)
{
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct proc *p = NULL;
  struct proc_spec spec = {.argv = NULL};
  cr_assert_eq(proc_start(&loop, &spec, on_done, NULL, &p), WEFT_EINVAL);
  cr_assert_eq(uv_loop_close(&loop), 0);
}

/* --- recovery helpers ------------------------------------------------------------ */

static pid_t spawn_detached_group(const char *script)
{
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&at, 0);
  pid_t pid;
  char *argv[] = {"sh", "-c", (char *)script, NULL};
  cr_assert_eq(posix_spawn(&pid, "/bin/sh", NULL, &at, argv, NULL), 0);
  posix_spawnattr_destroy(&at);
  return pid;
}

Test(proc, group_kill_ends_a_detached_group)
{
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  pid_t pgid = spawn_detached_group("sleep 1000 & sleep 1000 & wait");
  cr_assert(proc_group_alive(pgid));
  cr_assert_eq(proc_group_kill(pgid, 5000), 0);
  cr_assert_not(proc_group_alive(pgid));
}

Test(proc, group_kill_uses_sigkill_on_a_group_ignoring_sigterm)
{
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  pid_t pgid = spawn_detached_group("trap '' TERM; sleep 1000 & while :; do sleep 0.05; done");
  cr_assert(proc_group_alive(pgid));
  cr_assert_eq(proc_group_kill(pgid, 100), 0);
  cr_assert_not(proc_group_alive(pgid));
}

Test(proc, group_kill_of_a_gone_group_succeeds)
{
  pid_t pgid = spawn_detached_group("exit 0");
  reap_child(pgid);
  cr_assert_not(proc_group_alive(pgid));
  cr_assert_eq(proc_group_kill(pgid, 100), 0);
}

Test(proc, group_kill_refuses_bad_pgid)
{
  cr_assert_eq(proc_group_kill(0, 100), WEFT_EINVAL);
  cr_assert_eq(proc_group_kill(1, 100), WEFT_EINVAL);
  cr_assert_not(proc_group_alive(0));
}

/* --- many at once, both exit-watch modes --------------------------------------------- */

#define MANY 200

static void run_many_on(bool spawner)
{
  uv_loop_t loop;
  uv_loop_init(&loop);
  if (spawner)
    cr_assert_eq(proc_async_enable(&loop), 0);
  static struct res s[MANY];
  static char envn[MANY][32];
  for (int i = 0; i < MANY; i++) {
    res_init(&s[i]);
    snprintf(envn[i], sizeof envn[i], "N=%d", i);
    const char *env[] = {"PATH=/usr/bin:/bin", envn[i], NULL};
    struct proc_spec spec = {.argv = SH("echo $N; exit $((N % 4))"), .envp = env,
                             .capture_max = 64, .on_spawned = on_spawned};
    cr_assert_eq(proc_start(&loop, &spec, on_done, &s[i], &s[i].proc), 0);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  int through_thread = 0;
  for (int i = 0; i < MANY; i++)
    through_thread += s[i].spawned_calls;
  if (spawner) {
    /* the first start had nothing else running: it stays on the loop thread */
    cr_assert_eq(s[0].spawned_calls, 0);
    cr_assert_eq(through_thread, MANY - 1, "%d of %d started by the thread", through_thread,
                 MANY - 1);
    proc_async_disable();
    uv_run(&loop, UV_RUN_NOWAIT);
  } else {
    cr_assert_eq(through_thread, 0);
  }
  cr_assert_eq(uv_loop_close(&loop), 0);
  for (int i = 0; i < MANY; i++) {
    cr_assert_eq(s[i].calls, 1, "proc %d done %d times", i, s[i].calls);
    cr_assert_eq(s[i].exit_code, i % 4, "proc %d exit %d", i, s[i].exit_code);
    cr_assert_eq(atoi(s[i].captured), i);
    cr_assert_str_eq(s[i].kind, i % 4 ? "exit_code" : "");
    res_free(&s[i]);
  }
}

static void run_many(void) { run_many_on(false); }

Test(proc, many_concurrent_processes_each_get_their_own_result) { run_many(); }

Test(proc, many_concurrent_processes_through_the_spawner_thread) { run_many_on(true); }

static int count_cgroups(const char *base)
{
  char cmd[PATH_MAX + 64];
  snprintf(cmd, sizeof cmd, "find %s -mindepth 1 -maxdepth 1 -type d | wc -l", base);
  FILE *f = popen(cmd, "r");
  int n = -1;
  cr_assert(f && fscanf(f, "%d", &n) == 1);
  pclose(f);
  return n;
}

/* Main processes that close their output before they exit are zombies for a
 * while before their exit watch reaps them: the sweeps at the ends of the
 * others must leave them alone (else "exit status unknown"). */
static void zombie_mains(bool spawner)
{
  force_tree(PROC_TREE_SUBREAPER);
  uv_loop_t loop;
  uv_loop_init(&loop);
  if (spawner)
    cr_assert_eq(proc_async_enable(&loop), 0);
  static struct res s[MANY];
  static char envn[MANY][32];
  for (int i = 0; i < MANY; i++) {
    res_init(&s[i]);
    snprintf(envn[i], sizeof envn[i], "N=%d", i);
    const char *env[] = {"PATH=/usr/bin:/bin", envn[i], NULL};
    struct proc_spec spec = {.argv = SH("exec >&- 2>&-; exit $((N % 4))"), .envp = env};
    cr_assert_eq(proc_start(&loop, &spec, on_done, &s[i], &s[i].proc), 0);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  if (spawner) {
    proc_async_disable();
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  cr_assert_eq(uv_loop_close(&loop), 0);
  for (int i = 0; i < MANY; i++) {
    cr_assert_eq(s[i].exit_code, i % 4, "proc %d: %s", i, s[i].message);
    res_free(&s[i]);
  }
}

Test(proc, subreaper_sweeps_leave_zombie_main_processes_to_their_watch) { zombie_mains(false); }
/* the spawner thread registers its fresh children before a sweep can see them */
Test(proc, subreaper_sweeps_with_the_spawner_thread) { zombie_mains(true); }

/* Each of 200 concurrent attempts gets a cgroup of its own; afterwards the
 * pool keeps at most 64 idle ones (the rest are removed, with their
 * descriptors), and those still work. */
Test(proc, cgroup_pool_after_a_burst_keeps_few_idle_cgroups)
{
  force_tree(PROC_TREE_CGROUP);
  run_many_on(true);
  int n = count_cgroups(proc_tree_cgroup_base());
  cr_assert(n >= 1 && n <= 64, "%d cgroups left", n);
  struct res s;
  res_init(&s);
  struct proc_spec spec = {.argv = SH("cat /proc/self/cgroup")};
  run_spec(&spec, &s);
  cr_assert(s.ok && strstr(s.captured, "/weft-"), "%s", s.captured);
  res_free(&s);
}

/* agent tools: stdout alone is the result; stderr still reaches the log and
 * the stream, masked; EOF of both pipes before done */
static void separate_stderr(bool spawner)
{
  uv_loop_t loop;
  uv_loop_init(&loop);
  if (spawner)
    cr_assert_eq(proc_async_enable(&loop), 0);
  const char *secrets[] = {"hunter2", NULL};
  struct res first, s;
  res_init(&first), res_init(&s);
  struct proc_spec a = {.argv = SH("sleep 0.2")};
  struct proc_spec spec = {
    .argv = SH("echo out1; echo 'err hunter2' >&2; sleep 0.05; echo out2; exec 1>&-; "
               "sleep 0.1; echo late-err >&2"),
    .log_path = path_in("t.log"), .capture_max = 4096, .separate_stderr = true,
    .on_output = on_output, .secrets = secrets};
  s.log_path = spec.log_path;
  cr_assert_eq(proc_start(&loop, &a, on_done, &first, &first.proc), 0);
  cr_assert_eq(proc_start(&loop, &spec, on_done, &s, &s.proc), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(s.calls, 1);
  cr_assert_str_eq(s.kind, "");
  cr_assert_eq(s.captured_len, strlen("out1\nout2\n"));
  cr_assert_str_eq(s.captured, "out1\nout2\n");
  char *log = slurp(spec.log_path);
  cr_assert(strstr(log, "out1") && strstr(log, "out2"), "%s", log);
  cr_assert(strstr(log, "err ***"), "stderr is logged, masked: %s", log);
  cr_assert(strstr(log, "late-err"), "stderr after stdout closed is still read: %s", log);
  cr_assert_null(strstr(log, "hunter2"));
  cr_assert(strstr(s.streamed.p, "late-err"));
  free(log);
  if (spawner) {
    proc_async_disable();
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  cr_assert_eq(uv_loop_close(&loop), 0);
  res_free(&first), res_free(&s);
}

Test(proc, separate_stderr_is_logged_but_not_captured) { separate_stderr(false); }
Test(proc, separate_stderr_through_the_spawner_thread) { separate_stderr(true); }

/* SIGCHLD watch (kernels without pidfd, and valgrind): a child started on
 * the spawner thread may exit before its watch is on the reaper's list */
Test(proc, spawner_thread_with_sigchld_watch)
{
  proc_watch_set_mode(PROC_WATCH_SIGCHLD);
  run_many_on(true);
}

/* A start handed to the spawner thread can be killed before its pid is known
 * (the kill is delivered once it is), and a failed start comes back as a
 * spawn error, as on the loop thread. */
Test(proc, spawner_thread_kill_before_the_pid_and_spawn_errors)
{
  uv_loop_t loop;
  uv_loop_init(&loop);
  cr_assert_eq(proc_async_enable(&loop), 0);
  struct res first, killed, missing;
  res_init(&first), res_init(&killed), res_init(&missing);
  struct proc_spec a = {.argv = SH("sleep 30"), .on_spawned = on_spawned};
  struct proc_spec b = {.argv = SH("sleep 30"), .on_spawned = on_spawned};
  struct proc_spec c = {.argv = (const char *const[]){"/nonexistent/weft-prog", NULL},
                        .on_spawned = on_spawned};
  cr_assert_eq(proc_start(&loop, &a, on_done, &first, &first.proc), 0);
  cr_assert_eq(proc_start(&loop, &b, on_done, &killed, &killed.proc), 0);
  cr_assert_eq(proc_pid(killed.proc), 0, "its pid is not known yet");
  cr_assert_eq(proc_kill(killed.proc, PROC_KILL_CANCEL), 0);
  cr_assert_eq(proc_start(&loop, &c, on_done, &missing, &missing.proc), 0);
  cr_assert_eq(proc_kill(first.proc, PROC_KILL_CANCEL), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(killed.calls, 1);
  cr_assert_eq(killed.spawned_calls, 1);
  cr_assert_str_eq(killed.kind, "cancelled");
  cr_assert_eq(killed.signal, SIGTERM);
  cr_assert_eq(missing.calls, 1);
  cr_assert_str_eq(missing.kind, "spawn");
  cr_assert(strstr(missing.message, "/nonexistent/weft-prog"), "%s", missing.message);
  cr_assert_str_eq(first.kind, "cancelled");
  proc_async_disable();
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_assert_eq(uv_loop_close(&loop), 0);
  res_free(&first), res_free(&killed), res_free(&missing);
}

/* A start whose output pipe cannot be read kills the child and ends as a
 * spawn failure, and done comes on a later loop turn, never from inside
 * proc_start (the caller still uses what done frees). Also through the
 * spawner thread, where on_spawned follows the start. */
static void read_start_fails(bool spawner)
{
  uv_loop_t loop;
  uv_loop_init(&loop);
  if (spawner)
    cr_assert_eq(proc_async_enable(&loop), 0);
  struct res busy, s;
  res_init(&busy), res_init(&s);
  struct proc_spec a = {.argv = SH("sleep 30")};
  struct proc_spec b = {.argv = (const char *const[]){"true", NULL}, .on_spawned = on_spawned};
  if (spawner) /* the spawner thread takes a start while another runs */
    cr_assert_eq(proc_start(&loop, &a, on_done, &busy, &busy.proc), 0);
  for (int i = 0; i < 20; i++) {
    res_free(&s);
    res_init(&s);
    proc_test_fail_read_start(1);
    cr_assert_eq(proc_start(&loop, &b, on_done, &s, &s.proc), 0);
    cr_assert_eq(s.calls, 0, "done ran inside proc_start");
    while (s.calls == 0)
      uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(s.calls, 1);
    cr_assert_str_eq(s.kind, "spawn");
    cr_assert(strstr(s.message, "cannot read the output"), "%s", s.message);
    if (spawner)
      cr_assert_eq(s.spawned_calls, 1);
  }
  if (spawner)
    cr_assert_eq(proc_kill(busy.proc, PROC_KILL_CANCEL), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (spawner)
    proc_async_disable();
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_assert_eq(uv_loop_close(&loop), 0);
  res_free(&busy), res_free(&s);
}
Test(proc, unreadable_output_pipe_ends_the_attempt_later) { read_start_fails(false); }
Test(proc, unreadable_output_pipe_through_the_spawner_thread) { read_start_fails(true); }

Test(proc, many_concurrent_processes_with_sigchld_watch)
{
  proc_watch_set_mode(PROC_WATCH_SIGCHLD);
  cr_assert_eq(proc_watch_mode(), PROC_WATCH_SIGCHLD);
  run_many();
}

Test(proc, sigchld_watch_reaps_only_its_own_children)
{
  proc_watch_set_mode(PROC_WATCH_SIGCHLD);
  pid_t other = spawn_detached_group("exit 7"); /* not ours to reap */
  struct res s;
  res_init(&s);
  struct proc_spec spec = {.argv = SH("sleep 0.1; exit 5")};
  run_spec(&spec, &s);
  cr_assert_eq(s.exit_code, 5);
  int st = reap_child(other);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 7, "status %#x", st);
  res_free(&s);
}

Test(proc, sigchld_watch_kill_and_grandchild_eof)
{
  proc_watch_set_mode(PROC_WATCH_SIGCHLD);
  struct res s;
  res_init(&s);
  char *log = path_in("log");
  char *pidf = path_in("bg"), script[2 * PATH_MAX + 64];
  snprintf(script, sizeof script, "(echo late; exec sleep 300) & echo $! > %s; echo early", pidf);
  struct proc_spec spec = {.argv = SH(script), .log_path = log};
  run_spec(&spec, &s); /* ends with its main process, not the child's EOF */
  cr_assert(strstr(s.log_at_done, "early\n"), "%s", s.log_at_done);
  cr_assert(gone_soon(read_pid(pidf)));
  res_free(&s);

  res_init(&s);
  s.kill_on = "ready";
  s.kill_reason = PROC_KILL_CANCEL;
  struct proc_spec spec2 = {.argv = SH("echo ready; exec sleep 1000")};
  run_spec(&spec2, &s);
  cr_assert_str_eq(s.kind, "cancelled");
  res_free(&s);
}

/* --- secret masking ------------------------------------------------------------- */

#include "exec/proc_mask.h"

static void collect(void *ud, const char *d, size_t n) { buf_append(ud, d, n); }

/* Feeds text split at every position in turn; each split must give want. */
static void mask_all_splits(const char *const *secrets, const char *text, const char *want)
{
  size_t n = strlen(text);
  for (size_t cut = 0; cut <= n; cut++) {
    struct proc_mask m;
    struct buf out;
    buf_init(&out, 1 << 20);
    cr_assert_eq(proc_mask_init(&m, secrets), 0);
    cr_assert_eq(proc_mask_feed(&m, text, cut, collect, &out), 0);
    cr_assert_eq(proc_mask_feed(&m, text + cut, n - cut, collect, &out), 0);
    cr_assert_eq(proc_mask_flush(&m, collect, &out), 0);
    cr_assert_str_eq(out.p ? out.p : "", want, "split at %zu", cut);
    buf_free(&out);
    proc_mask_free(&m);
  }
}

Test(mask, secret_is_replaced_wherever_the_stream_is_split)
{
  const char *sec[] = {"hunter2", NULL};
  mask_all_splits(sec, "pw=hunter2 and hunter2!", "pw=*** and ***!");
}

Test(mask, longest_of_overlapping_secrets_wins)
{
  const char *sec[] = {"abc", "abcdef", NULL};
  mask_all_splits(sec, "xabcdefy abcx abcde", "x***y ***x ***de");
}

Test(mask, partial_secret_at_the_end_is_kept_as_is)
{
  const char *sec[] = {"secret", NULL};
  mask_all_splits(sec, "the secr", "the secr");
}

Test(mask, no_secrets_passes_everything_through)
{
  const char *sec[] = {"", NULL};
  mask_all_splits(sec, "plain text", "plain text");
  mask_all_splits(NULL, "plain text", "plain text");
}

Test(mask, repeated_prefix_bytes_do_not_hide_a_secret)
{
  const char *sec[] = {"aab", NULL};
  mask_all_splits(sec, "aaab aaaab", "a*** aa***");
}

Test(mask, too_long_secret_is_refused)
{
  char *big = malloc(PROC_SECRET_MAX + 2);
  memset(big, 's', PROC_SECRET_MAX + 1);
  big[PROC_SECRET_MAX + 1] = '\0';
  const char *sec[] = {big, NULL};
  struct proc_mask m;
  cr_assert_eq(proc_mask_init(&m, sec), WEFT_ELIMIT);
  free(big);
}

Test(proc, secrets_are_masked_in_log_stream_and_capture)
{
  struct res s;
  res_init(&s);
  char *log = path_in("log");
  const char *sec[] = {"token123", NULL};
  struct proc_spec spec = {.argv = SH("printf 'x tok'; sleep 0.05; printf 'en123 y\\n' >&2"),
                           .log_path = log, .secrets = sec};
  run_spec(&spec, &s);
  cr_assert(s.ok, "%s", s.message);
  char *got = slurp(log);
  cr_assert_str_eq(got, "x *** y\n");
  free(got);
  cr_assert_str_eq(s.streamed.p, "x *** y\n");
  cr_assert_str_eq(s.captured, "x *** y\n");
  res_free(&s);
}

static void kill_inside_done(void *ud, const struct proc_result *r)
{
  struct res *s = ud;
  on_done(ud, r);
  s->exit_code = proc_kill(s->proc, PROC_KILL_CANCEL); /* reused as the rc */
}

Test(proc, kill_from_inside_done_is_refused)
{
  struct res s;
  res_init(&s);
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct proc_spec spec = {.argv = (const char *const[]){"true", NULL}};
  cr_assert_eq(proc_start(&loop, &spec, kill_inside_done, &s, &s.proc), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(uv_loop_close(&loop), 0);
  cr_assert_eq(s.calls, 1);
  cr_assert_eq(s.exit_code, WEFT_ESTATE);
  res_free(&s);
}
