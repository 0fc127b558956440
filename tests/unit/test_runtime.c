/* test_runtime.c — the runtime's durability rule (src/runtime/): nothing a
 * tick decided happens before that tick's transitions are committed.
 *
 * Each case runs a two-step workflow (`first`, then the step under test,
 * which needs it, so its start comes from a later tick than the run's
 * creation) on the real runtime over the fault-injecting store
 * (src/store/fault.c), once per store write: run k lets k writes pass and
 * fails write k+1 (only that one), which stops the loop. Each run is a child
 * process; after it the store is reopened and every effect that took place
 * must be covered by a committed record:
 *   - every attempt an executor held (rt_each_attempt: a process, an http
 *     request, an approval, a wait's timer) has its step row committed with
 *     that attempt started (or reserved, for an early start);
 *   - the step's own visible effect: the process's marker file, a request
 *     at the test's HTTP server, the approval request in the decisions
 *     table.
 * The sweep ends with the first run in which the step's effect took place
 * after its start was committed (or the run ended); it must have passed
 * through runs that failed the commit of that start. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/rt_sync.h"
#include "runtime/runtime.h"
#include "spec/model.h"
#include "store/store.h"
#include "util/err.h"

/* ---- a tiny HTTP server: counts requests, answers 200 {} ------------------ */

struct server {
  int fd, port;
  atomic_int requests;
  pthread_t th;
};

static void *serve(void *arg)
{
  struct server *sv = arg;
  for (;;) {
    int c = accept(sv->fd, NULL, NULL);
    if (c < 0) {
      if (errno == EINTR)
        continue;
      return NULL; /* shut down */
    }
    char buf[4096];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof buf - 1 && (n = read(c, buf + got, sizeof buf - 1 - got)) > 0) {
      got += (size_t)n;
      buf[got] = 0;
      if (strstr(buf, "\r\n\r\n"))
        break;
    }
    if (got)
      atomic_fetch_add(&sv->requests, 1);
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
    if (write(c, reply, sizeof reply - 1) < 0) {
      /* the client went away */
    }
    close(c);
  }
}

static void server_start(struct server *sv)
{
  memset(sv, 0, sizeof *sv);
  sv->fd = socket(AF_INET, SOCK_STREAM, 0);
  cr_assert(sv->fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(sv->fd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(listen(sv->fd, 16), 0);
  socklen_t len = sizeof a;
  cr_assert_eq(getsockname(sv->fd, (struct sockaddr *)&a, &len), 0);
  sv->port = ntohs(a.sin_port);
  cr_assert_eq(pthread_create(&sv->th, NULL, serve, sv), 0);
}

static void server_stop(struct server *sv)
{
  shutdown(sv->fd, SHUT_RDWR);
  pthread_join(sv->th, NULL);
  close(sv->fd);
}

/* ---- one run with write number `after` + 1 failing ------------------------ */

#define MAX_FLIGHT 16

struct flight {
  char step[64];
  uint32_t attempt;
};

struct outcome {
  char run_id[WEFT_ID_LEN + 1];
  bool started;       /* rt_start succeeded */
  int loop_rc;
  struct flight fl[MAX_FLIGHT]; /* attempts in flight when the loop stopped */
  int n_fl;
  char err[256];      /* the child could not set the run up */
  bool first_committed;  /* `first` has a committed start */
  bool step_committed;   /* the step under test has a committed start */
  bool marker;           /* the process's marker file exists */
  int decisions;         /* approval requests recorded for the step */
  int timeouts;          /* ... and "timeout" rows */
  char step_error[300];  /* the step's stored error (JSON), or "" */
};

static void note_flight(void *ud, const struct rt_flight *f)
{
  struct outcome *o = ud;
  if (o->n_fl == MAX_FLIGHT)
    return;
  snprintf(o->fl[o->n_fl].step, sizeof o->fl[0].step, "%s", f->step);
  o->fl[o->n_fl].attempt = f->attempt;
  o->n_fl++;
}

static void rm_rf(const char *dir)
{
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

/* the attempt of `step` that the store says was started (or reserved) */
static uint32_t committed_attempt(struct store *s, const char *run_id, const char *step)
{
  struct store_step row = {0};
  uint32_t a = 0;
  if (store_step_get(s, run_id, step, STORE_NO_INDEX, &row) == 0) {
    a = row.attempts > 0 ? (uint32_t)row.attempts : 0;
    if (row.reserved > row.attempts)
      a = (uint32_t)row.reserved;
  }
  store_step_clear(&row);
  return a;
}

/* In a child process (a runtime left with work in flight keeps libuv signal
 * handlers that must not outlive it into the next run): runs the workflow
 * until the store fails or the run ends, notes what is in flight, waits for
 * every process it started, and exits. */
static void child_run(const char *home, const char *path, long after, struct outcome *o)
{
  if (!freopen("/dev/null", "w", stderr)) /* "weft: the store failed: ..." */
    _exit(2);
  struct store *inner = NULL, *s = NULL;
  char *err = NULL;
  if (store_open(home, &inner, &err) != 0 || store_fault_wrap(inner, &s) != 0) {
    snprintf(o->err, sizeof o->err, "store: %s", err ? err : "?");
    _exit(1);
  }
  store_fault_set(s, after, 1, WEFT_EIO);
  struct rt_opts opts = {.store = s, .user = "tester", .default_parallel = 4};
  struct runtime *rt = NULL;
  struct wf *wf = NULL;
  struct diag_list d = {0};
  if (rt_new(&opts, &rt) != 0 || wf_load_file(path, &wf, &d) != 0) {
    snprintf(o->err, sizeof o->err, "setup: %s", d.n ? d.v[0].msg : "rt_new");
    _exit(1);
  }
  o->started = rt_start(rt, wf, NULL, "manual", o->run_id, &err) == 0;
  if (o->started) {
    o->loop_rc = rt_loop(rt);
    rt_each_attempt(rt, note_flight, o);
  }
  /* the processes started end by themselves: wait for them, so that a
   * process that was started is sure to have left its marker */
  while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
    ;
  rt_free(rt);
  store_close(s);
  _exit(0);
}

/* every run's home is a folder in `base`, removed after the test even when
 * it fails */
static char base[] = "/tmp/weft-rt-XXXXXX";

static void base_make(void) { cr_assert_not_null(mkdtemp(base)); }
static void base_remove(void) { rm_rf(base); }

static void run_once(const char *steps_yaml, const char *step, long after, struct outcome *o)
{
  memset(o, 0, sizeof *o);
  char home[64];
  snprintf(home, sizeof home, "%s/run-XXXXXX", base);
  cr_assert_not_null(mkdtemp(home));
  char path[256], marker[256];
  snprintf(path, sizeof path, "%s/wf.yaml", home);
  snprintf(marker, sizeof marker, "%s/marker", home);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fprintf(f, "name: commit-first\nsteps:\n  first: {run: \"true\"}\n%s", steps_yaml);
  fclose(f);

  struct outcome *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                            -1, 0);
  cr_assert(sh != MAP_FAILED);
  memset(sh, 0, sizeof *sh);
  fflush(NULL);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0)
    child_run(home, path, after, sh);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    cr_assert_eq(errno, EINTR);
  *o = *sh;
  munmap(sh, sizeof *sh);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
            "write %ld failed: the run ended with %s %d (%s)", after + 1,
            WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
            o->err);
  o->marker = access(marker, F_OK) == 0;

  struct store *s = NULL;
  char *err = NULL;
  cr_assert_eq(store_open(home, &s, &err), 0, "%s", err ? err : "");
  if (o->started) {
    o->first_committed = committed_attempt(s, o->run_id, "first") > 0;
    o->step_committed = committed_attempt(s, o->run_id, step) > 0;
    for (int k = 0; k < o->n_fl; k++) {
      uint32_t c = committed_attempt(s, o->run_id, o->fl[k].step);
      cr_assert_geq(c, o->fl[k].attempt,
                    "write %ld failed: %s attempt %u was in flight, but the store has %u started",
                    after + 1, o->fl[k].step, o->fl[k].attempt, c);
    }
    struct store_decision *dv = NULL;
    size_t n = 0;
    if (store_decision_list(s, o->run_id, step, STORE_NO_INDEX, &dv, &n) == 0) {
      for (size_t k = 0; k < n; k++) {
        o->decisions += !strcmp(dv[k].decision, "requested");
        o->timeouts += !strcmp(dv[k].decision, "timeout");
      }
      store_decisions_free(dv, n);
    }
    struct store_step row = {0};
    if (store_step_get(s, o->run_id, step, STORE_NO_INDEX, &row) == 0 && row.error)
      snprintf(o->step_error, sizeof o->step_error, "%s", row.error);
    store_step_clear(&row);
  }
  store_close(s);
  rm_rf(home);
}

/* Sweeps the failing write over the run (see the top of the file).
 * `visible` says whether the step's own effect shows (marker, server,
 * decisions) in an outcome. */
static void sweep(const char *steps_yaml, const char *step,
                  bool (*visible)(const struct outcome *o, void *ud), void *ud)
{
  int hit = 0; /* runs that failed the commit of the step's start */
  long after;
  for (after = 0; after < 400; after++) {
    struct outcome o;
    run_once(steps_yaml, step, after, &o);
    bool seen = visible(&o, ud);
    cr_assert(!seen || o.step_committed,
              "write %ld failed: %s's effect took place, but its start is not committed",
              after + 1, step);
    if (o.started && o.loop_rc == WEFT_ESTORE && o.first_committed && !o.step_committed)
      hit++;
    /* done once the effect took place after its commit (or the run ended),
     * past a run that failed that commit */
    if (hit && o.step_committed && (seen || (o.started && o.loop_rc == 0)))
      break;
  }
  cr_assert_lt(after, 400, "the step never started");
  cr_assert_gt(hit, 0, "no run failed between the first commit and the step's start");
}

static bool marker_seen(const struct outcome *o, void *ud)
{
  (void)ud;
  return o->marker;
}

static bool request_seen(const struct outcome *o, void *ud)
{
  (void)o;
  struct server *sv = ud;
  return atomic_exchange(&sv->requests, 0) > 0;
}

static bool decision_seen(const struct outcome *o, void *ud)
{
  (void)ud;
  return o->decisions > 0;
}

static bool nothing_else(const struct outcome *o, void *ud)
{
  (void)o;
  (void)ud;
  return false; /* a wait's timer shows only as an attempt in flight */
}

Test(commit_first, no_process_starts_before_its_start_is_committed, .init = base_make, .fini = base_remove)
{
  sweep("  mark: {needs: first, run: \"touch marker\"}\n", "mark", marker_seen, NULL);
}

Test(commit_first, no_http_request_before_its_start_is_committed, .init = base_make, .fini = base_remove)
{
  struct server sv;
  server_start(&sv);
  char y[256];
  snprintf(y, sizeof y, "  call: {needs: first, http: {url: \"http://127.0.0.1:%d/ping\"}}\n",
           sv.port);
  sweep(y, "call", request_seen, &sv);
  server_stop(&sv);
}

Test(commit_first, no_approval_request_before_its_start_is_committed, .init = base_make, .fini = base_remove)
{
  sweep("  gate:\n    needs: first\n    approval: {message: ship?, timeout: 10s}\n", "gate",
        decision_seen, NULL);
}

Test(commit_first, no_wait_timer_before_its_start_is_committed, .init = base_make, .fini = base_remove)
{
  sweep("  pause: {needs: first, wait: 10ms}\n", "pause", nothing_else, NULL);
}

/* The approval service's rows ("requested", "timeout" and their audit
 * entries) are records posted to the engine and written in the runtime's
 * commit (svc_approval.h). So a store write that fails while one is written
 * stops the runtime like any failed commit, and the run stays resumable: it
 * never turns into a failed step. (When the service wrote them itself, a
 * failed write of the request failed the step with "cannot record the
 * approval request", and a failed write of the timeout row with "the store
 * failed while reading decisions": one transient write error lost the run.)
 * The sweep goes from the first write to the run's end (the approval times
 * out after 300 ms); the step may fail only by its timeout. */
Test(approval_records, a_failed_write_of_a_request_or_timeout_never_fails_the_step,
     .init = base_make, .fini = base_remove)
{
  const char *y = "  gate:\n    needs: first\n    approval: {message: ship?, timeout: 300ms}\n";
  int lost_request = 0, lost_timeout = 0, ended = 0;
  long after;
  for (after = 0; after < 400; after++) {
    struct outcome o;
    run_once(y, "gate", after, &o);
    cr_assert(!o.step_error[0] || strstr(o.step_error, "\"timeout\""),
              "write %ld failed: step gate failed with %s", after + 1, o.step_error);
    /* the fault stopped the runtime while the request or the timeout row
     * was being written */
    if (o.loop_rc == WEFT_ESTORE && o.step_committed && !o.decisions)
      lost_request++;
    if (o.loop_rc == WEFT_ESTORE && o.decisions && !o.timeouts && !o.step_error[0])
      lost_timeout++;
    /* no write failed: the run ended. How many writes a run makes depends
     * on how its commits were grouped, which depends on timing: on a loaded
     * machine a run can make fewer writes than the one before it, so one
     * that ended is not the end of the sweep. It stops once both faults
     * were seen and the run ended three times in a row, or after twenty
     * ends in a row (then the asserts below say which fault was missed). */
    ended = o.started && o.loop_rc == 0 ? ended + 1 : 0;
    if ((ended >= 3 && lost_request && lost_timeout) || ended == 20)
      break;
  }
  cr_assert_lt(after, 400, "the run never ended");
  cr_assert_gt(lost_request, 0, "no run failed while the request was written");
  cr_assert_gt(lost_timeout, 0, "no run failed while the timeout was written");
}

/* ---- the sync thread at the end of a failed run --------------------------- */

static void on_synced_nop(void *ud) { (void)ud; }

/* When the store fails the loop stops at once, possibly with an fdatasync in
 * flight on the sync thread; rt_free then closes the loop. The thread must be
 * stopped before its async handle is closed: a uv_async_send on a closed
 * loop aborts (found by the sweeps above: `weft run` died of SIGABRT instead
 * of reporting the store failure). Many rounds, because the race is a
 * matter of microseconds. */
Test(sync, a_sync_in_flight_when_the_loop_closes_does_not_abort, .init = base_make,
     .fini = base_remove)
{
  char path[128];
  snprintf(path, sizeof path, "%s/wal", base);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs("x", f);
  fclose(f);
  for (int i = 0; i < 300; i++) {
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    struct rt_sync *s = NULL;
    cr_assert_eq(rt_sync_new(&loop, path, on_synced_nop, NULL, &s), 0);
    cr_assert_eq(rt_sync_request(s, 1, false), 0); /* on the thread */
    rt_sync_close_handle(s);
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(uv_loop_close(&loop), 0);
    rt_sync_free(s);
  }
}
