/* server.c — the `weft server` process (server.h): the home's lock, the HTTP
 * front's handlers for health, readiness, OpenAPI and metrics, the runtime
 * thread, signals and the log lines.
 *
 * Threads: the main thread waits for signals (a self-pipe written by the
 * handlers, so no signal mask is inherited by the steps' processes);
 * libmicrohttpd's threads answer requests with a store connection each from
 * the pool (dbpool.h; /metrics still reads through db under db_mu) and hand
 * the API's routes to api.h; the runtime thread runs the libuv loop with the
 * runtime's connection. Hand-offs to the loop: stop_async and the command
 * queue (cmdq.h: the API's retry and inbox poke), both woken with
 * uv_async_send, the one libuv call that is safe from another thread. */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "ops/defcache.h"
#include "runtime/runtime.h"
#include "server/api.h"
#include "server/api_routes.h"
#include "server/api_workflows.h"
#include "server/dbpool.h"
#include "server/cmdq.h"
#include "server/httpd.h"
#include "server/metrics.h"
#include "server/openapi.h"
#include "server/sse.h"
#include "server/uiserve.h"
#include "server/sse_pump.h"
#include "server/sse_stream.h"
#include "server/sched_loop.h"
#include "server/api_triggers.h"
#include "server/notifier.h"
#include "server/hookrec.h"
#include "spec/model.h"
#include "store/tokens.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/jsonfmt.h"
#include "util/users.h"
#include "util/wtime.h"

#define LOCK_NAME "server.lock"

struct server {
  const struct server_opts *o;
  pthread_mutex_t log_mu;

  struct metrics *m;
  int f_http, f_runs_active, f_approvals, f_runs, f_steps, f_step_dur, f_sched_lag;
  struct sse_hub *hub;
  struct cmdq q;  /* commands for the loop (start, retry...): cmdq.h */
  bool q_inited;
  struct api_wf wfa; /* the workflow routes and --workflows DIR (api_workflows.h) */
  struct sched_loop sl; /* schedules and queued runs of triggers (sched_loop.h) */
  struct api_trig trig; /* GET /schedules, POST /hooks/{name} (api_triggers.h) */
  struct notifier nt;   /* notify: deliveries (notifier.h) */
  struct hookrec hr;    /* webhook runs, many per transaction (hookrec.h) */
  char ui_base[200];    /* http://HOST:PORT of the UI, for notify: links */
  struct httpd *h;
  struct route *routes; /* api_routes, /metrics at ROLE_NONE with --metrics-public */
  char *openapi;        /* the document, built once */

  pthread_mutex_t db_mu; /* /metrics' reads */
  struct store *db;
  struct dbpool pool;        /* the HTTP threads' connections (dbpool.h) */
  bool pool_inited;
  struct api api;            /* the API's routes (api.h) */
  pthread_mutex_t users_mu; /* users.json as last read (start, SIGHUP) */
  struct users users;
  atomic_bool ready;

  /* the runtime thread */
  struct store *rt_store;
  struct runtime *rt;
  uv_async_t stop_async;
  pthread_t rt_thread;
  bool rt_started;
  pthread_mutex_t mu;
  bool rt_done;
  int rt_rc;
  size_t resumed;
  json_t *starts; /* loop thread: "run/step/index/attempt" -> start ms of attempts in flight */

  /* live events and the metrics that go with them (sse_pump.h) */
  struct sse_pump *pump;
  int f_commit, f_queue, f_sse_subs, f_sse_dropped;
  json_t *queued;             /* loop thread: run id -> engine_queued of its engine */
  char queued_run[WEFT_ID_LEN + 1]; /* loop thread: the run last counted this tick */
  atomic_long queued_total;   /* the sum of queued, for /metrics */
};

/* ---- logs ------------------------------------------------------------------ */

static void slog(struct server *s, const char *level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void slog(struct server *s, const char *level, const char *event, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pthread_mutex_lock(&s->log_mu);
  if (s->o->log_format == SERVER_LOG_JSON) {
    char t[32];
    wt_fmt_rfc3339(wt_now_ms(), t);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "time", t, "level", level, "event", event, "msg", msg);
    char *txt = j ? wjson_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    fprintf(stderr, "%s\n", txt ? txt : "{}");
    free(txt);
    json_decref(j);
  } else if (!strcmp(level, "info")) {
    fprintf(stderr, "weft: %s\n", msg);
  } else {
    fprintf(stderr, "weft: %s: %s\n", level, msg);
  }
  fflush(stderr);
  pthread_mutex_unlock(&s->log_mu);
}

/* ---- one server per home ------------------------------------------------------ */

int server_lock(const char *home, int *fd, long *owner_pid)
{
  *fd = -1;
  *owner_pid = 0;
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", home, LOCK_NAME);
  int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (f < 0)
    return WEFT_EIO;
  if (flock(f, LOCK_EX | LOCK_NB)) {
    int e = errno;
    if (e == EWOULDBLOCK) {
      char b[32] = "";
      ssize_t n = pread(f, b, sizeof b - 1, 0);
      if (n > 0) {
        b[n] = 0;
        *owner_pid = strtol(b, NULL, 10);
      }
    }
    close(f);
    return e == EWOULDBLOCK ? WEFT_EBUSY : WEFT_EIO;
  }
  char b[32];
  int n = snprintf(b, sizeof b, "%ld\n", (long)getpid());
  if (ftruncate(f, 0) || pwrite(f, b, (size_t)n, 0) != n) {
    close(f);
    return WEFT_EIO;
  }
  *fd = f;
  return 0;
}

/* ---- HTTP handlers ------------------------------------------------------------ */

static void answer_text(struct httpd_resp *rs, unsigned status, const char *ctype, const char *text, size_t len)
{
  rs->body = malloc(len + 1);
  if (!rs->body)
    return; /* the front answers 500 */
  memcpy(rs->body, text, len);
  rs->body[len] = 0;
  rs->len = len;
  rs->status = status;
  rs->ctype = ctype;
}

/* waiting approval steps: waiting rows whose step is an approval in the
 * run's definition (one definition loaded per run) */
static long approvals_waiting(struct store *db)
{
  struct store_step *v = NULL;
  size_t n = 0;
  if (store_step_list_waiting(db, &v, &n) != 0)
    return -1;
  long count = 0;
  const struct wf *wf = NULL; /* shared, from the definition cache */
  char *run = NULL;
  for (size_t i = 0; i < n; i++) {
    if (!run || strcmp(run, v[i].run_id)) { /* rows come by run */
      free(run);
      run = strdup(v[i].run_id);
      if (wf)
        ops_def_put(wf);
      wf = NULL;
      struct store_run r = {0};
      if (store_run_get(db, v[i].run_id, &r) == 0)
        wf = ops_def_get(db, &r);
      store_run_clear(&r);
    }
    uint32_t k = wf ? wf_step_find(wf, v[i].step) : WF_NONE;
    const struct wf_arm *arm = k != WF_NONE ? wf_step_arm(&wf->steps[k], v[i].index) : NULL;
    if (k != WF_NONE && (wf->steps[k].kind == WF_APPROVAL || (arm && arm->kind == WF_APPROVAL)))
      count++; /* a first_of's approval arm waits as an approval does */
  }
  free(run);
  if (wf)
    ops_def_put(wf);
  store_steps_free(v, n);
  return count;
}

static void handle_metrics(struct server *s, struct httpd_resp *rs)
{
  pthread_mutex_lock(&s->db_mu);
  struct store_run *v = NULL;
  size_t n = 0;
  if (s->db->ops->run_list_active(s->db, &v, &n) == 0)
    metrics_set(s->m, s->f_runs_active, NULL, (double)n);
  store_runs_free(v, n);
  long a = approvals_waiting(s->db);
  if (a >= 0)
    metrics_set(s->m, s->f_approvals, NULL, (double)a);
  int64_t inbox = 0;
  long cmds = atomic_load(&s->ready) && s->q_inited ? (long)cmdq_depth(&s->q) : 0; /* ready: q is set up */
  if (store_inbox_pending(s->db, &inbox) == 0)
    metrics_set(s->m, s->f_queue, NULL, (double)(inbox + atomic_load(&s->queued_total) + cmds));
  pthread_mutex_unlock(&s->db_mu);
  metrics_set(s->m, s->f_sse_subs, NULL, (double)sse_subscribers(s->hub));
  metrics_set(s->m, s->f_sse_dropped, NULL, (double)sse_dropped_total(s->hub));
  struct buf out;
  buf_init(&out, 64u * 1024 * 1024);
  if (metrics_render(s->m, &out)) {
    buf_free(&out);
    httpd_error(rs, APIERR_INTERNAL, "the metrics could not be rendered");
    return;
  }
  rs->len = out.len;
  rs->body = buf_take(&out);
  rs->status = 200;
  rs->ctype = "text/plain; version=0.0.4; charset=utf-8";
}

static void handler(void *ud, const struct httpd_req *rq, struct httpd_resp *rs)
{
  struct server *s = ud;
  const char *op = rq->match->route->op;
  if (!strcmp(op, "healthz")) {
    static const char ok[] = "{\"status\":\"ok\"}";
    answer_text(rs, 200, "application/json", ok, sizeof ok - 1);
  } else if (!strcmp(op, "readyz")) {
    if (atomic_load(&s->ready)) {
      static const char ok[] = "{\"status\":\"ready\"}";
      answer_text(rs, 200, "application/json", ok, sizeof ok - 1);
    } else {
      httpd_error(rs, APIERR_UNAVAILABLE, "not ready: the server is starting or stopping");
    }
  } else if (!strcmp(op, "openapi")) {
    answer_text(rs, 200, "application/json", s->openapi, strlen(s->openapi));
  } else if (!strcmp(op, "metrics")) {
    handle_metrics(s, rs);
  } else if (!strcmp(op, "whoami")) {
    httpd_json(rs, 200, json_pack("{s:s,s:s,s:s?}", "user", rq->user ? rq->user : "", "role", role_name(rq->role),
                                  "token_id", rq->token_id));
  } else if (!strcmp(op, "event_stream")) {
    struct sse_source src = {s->hub, &s->pool};
    sse_stream_answer(&src, rq, rs);
  } else if (api_wf_dispatch(&s->wfa, rq, rs)) {
    /* answered: a workflow route */
  } else if (api_trig_dispatch(&s->trig, rq, rs)) {
    /* answered: schedules or a webhook */
  } else if (!api_dispatch(&s->api, rq, rs)) {
    httpd_error(rs, APIERR_UNAVAILABLE, "%s is not available in this build yet", op);
  }
}

/* ---- the workflow routes' hooks (api_workflows.h) ---- */

static struct store *wf_db_acquire(void *ud)
{
  struct server *s = ud;
  char *why = NULL;
  struct store *db = dbpool_get(&s->pool, &why);
  if (!db)
    slog(s, "error", "store", "no store connection for a request: %s", why ? why : "the pool is closed");
  free(why);
  return db;
}

static void wf_db_release(void *ud, struct store *db)
{
  struct server *s = ud;
  dbpool_put(&s->pool, db);
}

static int wf_call_loop(void *ud, struct cmdq_cmd *c)
{
  struct server *s = ud;
  if (!atomic_load(&s->ready)) /* the loop is not there yet, or stopping */
    return WEFT_ESTATE;
  return cmdq_call(&s->q, c);
}

static void wf_log(void *ud, const char *level, const char *event, const char *msg)
{
  slog(ud, level, event, "%s", msg);
}

/* ---- the API's hooks on the loop (api.h), through the command queue ---- */

struct retry_cmd {
  const char *run, *from;
  char *err;
};

static void retry_on_loop(void *loop_ud, struct cmdq_cmd *c)
{
  struct server *s = loop_ud;
  struct retry_cmd *r = c->arg;
  cmdq_done(c, rt_retry(s->rt, r->run, r->from, &r->err));
}

static int api_retry(void *ud, const char *run_id, const char *from, char **err)
{
  struct server *s = ud;
  struct retry_cmd r = {run_id, from, NULL};
  struct cmdq_cmd c = {.fn = retry_on_loop, .arg = &r};
  if (!atomic_load(&s->ready)) /* the loop is not there yet, or stopping */
    return WEFT_ESTATE;
  int rc = cmdq_call(&s->q, &c);
  *err = r.err;
  return rc;
}

static void poke_on_loop(void *loop_ud, struct cmdq_cmd *c)
{
  struct server *s = loop_ud;
  rt_poke(s->rt);
  cmdq_done(c, 0);
}

static void api_poke(void *ud)
{
  struct server *s = ud;
  struct cmdq_cmd c = {.fn = poke_on_loop};
  if (atomic_load(&s->ready))
    cmdq_call(&s->q, &c); /* closed (stopping): the next engine reads the inbox */
}

/* Bearer tokens: tokens_authenticate against the store (through a pool
 * connection), the role from users.json as last read. Unknown,
 * malformed, expired and revoked tokens are all refused alike. */
static int auth(void *ud, const char *token, enum role *role, char *user, size_t ulen, char *token_id, size_t tlen)
{
  struct server *s = ud;
  char *why = NULL;
  struct store *db = dbpool_get(&s->pool, &why);
  if (!db) {
    slog(s, "error", "auth", "cannot open the store to check a token: %s", why ? why : "failed");
    free(why);
    return HTTPD_AUTH_UNAVAILABLE;
  }
  int rc = tokens_authenticate(db, token, wt_now_ms(), user, ulen, token_id, tlen);
  dbpool_put(&s->pool, db);
  if (rc) {
    if (rc == WEFT_ENOTFOUND || rc == WEFT_EDENIED || rc == WEFT_ELIMIT)
      return 1;
    slog(s, "error", "auth", "cannot check a token: %s", weft_strerror(rc));
    return HTTPD_AUTH_UNAVAILABLE;
  }
  pthread_mutex_lock(&s->users_mu);
  *role = users_role(&s->users, user, NULL); /* over the API no one is the home's owner */
  pthread_mutex_unlock(&s->users_mu);
  return 0;
}

/* Reads users.json: 0, or nonzero with the old list kept and the reason
 * logged. */
static int load_users(struct server *s, const char *event)
{
  struct users u = {0};
  char *err = NULL;
  int rc = users_load(s->o->home, &u, &err);
  if (rc) {
    slog(s, "error", event, "users.json kept as it was: %s", err ? err : "cannot read it");
    free(err);
    return rc;
  }
  pthread_mutex_lock(&s->users_mu);
  struct users old = s->users;
  s->users = u;
  pthread_mutex_unlock(&s->users_mu);
  users_free(&old);
  return 0;
}

static void on_answer(void *ud, const char *op, unsigned status)
{
  struct server *s = ud;
  char code[8];
  snprintf(code, sizeof code, "%u", status);
  const char *v[] = {op, code};
  metrics_inc(s->m, s->f_http, v, 1);
  if (!strcmp(op, "deploy_workflow") && status == 201)
    ops_hooks_invalidate(); /* a new version may add, change or drop a hook */
  /* runs recorded by a trigger, or a new version: the loop acts at once */
  if ((!strcmp(op, "deploy_workflow") && status == 201) ||
      ((!strcmp(op, "webhook") || !strcmp(op, "send_event")) && status == 202))
    sched_loop_kick(&s->sl, !strcmp(op, "deploy_workflow"));
}

static int setup_metrics(struct server *s)
{
  static const char *const wf_status[] = {"workflow", "status", NULL};
  static const char *const steps[] = {"workflow", "kind", "status", NULL};
  static const char *const kind[] = {"kind", NULL};
  static const char *const http[] = {"route", "code", NULL};
  static const double dur[] = {0.01, 0.1, 0.5, 1, 5, 30, 120, 600, 3600};
  static const double commit[] = {0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1};
  struct metrics *m = s->m = metrics_new();
  if (!m)
    return WEFT_ENOMEM;
  int fams[14];
  fams[0] = s->f_runs = metrics_family(m, "weft_runs_total", "Runs this server executed that ended, by workflow and status.", METRIC_COUNTER, wf_status,
                           NULL, 0);
  fams[1] = s->f_steps = metrics_family(m, "weft_steps_total", "Step attempts this server executed that ended, by workflow, kind and status.",
                           METRIC_COUNTER, steps, NULL, 0);
  fams[2] = s->f_step_dur = metrics_family(m, "weft_step_duration_seconds", "Step attempt durations, by kind.", METRIC_HISTOGRAM, kind,
                           dur, sizeof dur / sizeof *dur);
  fams[3] = s->f_runs_active = metrics_family(m, "weft_runs_active", "Runs queued, running or waiting (all owners).",
                                              METRIC_GAUGE, NULL, NULL, 0);
  fams[4] = s->f_approvals = metrics_family(m, "weft_approvals_waiting", "Approval steps waiting for a decision.",
                                            METRIC_GAUGE, NULL, NULL, 0);
  fams[5] = s->f_queue = metrics_family(m, "weft_queue_depth",
                                        "Step units ready to start but not started (held by a parallel limit), plus "
                                        "API commands waiting for the loop and requests (cancel, approve, ...) "
                                        "not yet taken by an engine.",
                                        METRIC_GAUGE, NULL, NULL, 0);
  fams[6] = s->f_sched_lag = metrics_family(m, "weft_schedule_lag_seconds",
                                            "How late the last scheduled trigger fired (0 while no trigger has fired).",
                                            METRIC_GAUGE, NULL, NULL, 0);
  fams[7] = s->f_commit = metrics_family(m, "weft_store_commit_seconds",
                                         "Durations of the runtime's store transactions, begin to commit.",
                                         METRIC_HISTOGRAM, NULL, commit, sizeof commit / sizeof *commit);
  fams[8] = s->f_http = metrics_family(m, "weft_http_requests_total", "HTTP answers, by route and status code.",
                                       METRIC_COUNTER, http, NULL, 0);
  fams[9] = metrics_family(m, "weft_workers",
                           "Engines executing runs from this store (with SQLite: 1, this server).", METRIC_GAUGE,
                           NULL, NULL, 0);
  fams[10] = s->f_sse_subs = metrics_family(m, "weft_sse_subscribers", "Clients of the live event stream.",
                                            METRIC_GAUGE, NULL, NULL, 0);
  fams[11] = s->f_sse_dropped = metrics_family(m, "weft_sse_dropped_total",
                                               "Live event clients disconnected for reading too slowly.",
                                               METRIC_COUNTER, NULL, NULL, 0);
  for (int i = 0; i < 12; i++)
    if (fams[i] < 0)
      return WEFT_ENOMEM;
  /* gauges without labels have their one series from the start */
  metrics_set(m, fams[3], NULL, 0);
  metrics_set(m, fams[4], NULL, 0);
  metrics_set(m, fams[5], NULL, 0);
  metrics_set(m, fams[6], NULL, 0);
  metrics_set(m, fams[9], NULL, 1);
  metrics_set(m, fams[10], NULL, 0);
  metrics_set(m, fams[11], NULL, 0);
  metrics_touch(m, fams[7], NULL); /* and the commit histogram its zeros */
  return 0;
}

/* ---- the runtime thread -------------------------------------------------------- */

static int sig_pipe[2] = {-1, -1}; /* signals, and a 0 byte when the runtime thread ends */
static void reload(struct server *s);

/* on the loop's thread: the units run_id's engine holds ready (once per run
 * and tick: the engine is already past the entries being reported) */
static void count_queued(struct server *s, const char *run_id, const struct eng_run *eng, bool ended)
{
  if (!ended && !strcmp(s->queued_run, run_id))
    return;
  snprintf(s->queued_run, sizeof s->queued_run, "%s", ended ? "" : run_id);
  json_t *old = json_object_get(s->queued, run_id);
  long was = old ? (long)json_integer_value(old) : 0;
  long now = ended ? 0 : (long)engine_queued(eng);
  if (ended)
    json_object_del(s->queued, run_id);
  else if (now != was)
    json_object_set_new(s->queued, run_id, json_integer(now));
  atomic_fetch_add(&s->queued_total, now - was);
}

/* after each tick's commits are performed: the next journal entries of a run
 * count its queue again */
static void on_tick(void *ud)
{
  struct server *s = ud;
  s->queued_run[0] = 0;
}

/* after each commit of the runtime (loop thread): its time, and the pump
 * reads the audit entries it added */
static void on_commit(void *ud, double seconds)
{
  struct server *s = ud;
  metrics_observe(s->m, s->f_commit, NULL, seconds);
  sse_pump_wake(s->pump);
  if (s->wfa.pending) /* starts queued in their concurrency group in that transaction */
    api_wf_on_commit(&s->wfa, NULL);
}

static void notify_log(void *ud, const char *level, const char *line);
static void addr_text(const struct server *s, char *out, size_t len);

/* notify: the events of wf's notify list (ops/notify.c): recorded here,
 * delivered by the notifier's thread */
static void notify(struct server *s, const char *run_id, const struct wf *wf, const struct eng_jent *e, bool ended)
{
  const char *ev = NULL, *step = NULL;
  if (ended) {
    const char *ek = json_string_value(json_object_get(e->error, "kind"));
    ev = ops_notify_event(true, e->status == ENG_RUN_SUCCEEDED ? 0 : e->status == ENG_RUN_FAILED ? 1 : 2, ek);
  } else if (e->type == ENG_J_UNIT && e->status == ENG_WAITING && e->step < wf->n_steps &&
             wf->steps[e->step].kind == WF_APPROVAL) {
    ev = ops_notify_event(false, 0, NULL);
    step = wf->steps[e->step].id;
  }
  size_t n = 0;
  if (!ev || !wf->notify)
    return;
  if (ops_notify_record(s->rt_store, wf, run_id, ev, step, e->index, s->ui_base, &n))
    slog(s, "error", "notify", "cannot record the %s notification of run %s: %s", ev, run_id,
         store_errmsg(s->rt_store));
  else if (n)
    notifier_kick(&s->nt);
}

/* after each commit, on the loop's thread: runs and attempts that ended */
static void on_journal(void *ud, const char *run_id, const struct wf *wf, const struct eng_run *eng,
                       const struct eng_jent *e)
{
  struct server *s = ud;
  if (s->wfa.pending) /* starts waiting for their run's creation to be committed */
    api_wf_on_commit(&s->wfa, run_id);
  bool ended = e->type == ENG_J_RUN && (e->status == ENG_RUN_SUCCEEDED || e->status == ENG_RUN_FAILED ||
                                        e->status == ENG_RUN_CANCELLED);
  count_queued(s, run_id, eng, ended);
  notify(s, run_id, wf, e, ended);
  if (ended) {
    const char *st = engine_run_status_name((enum eng_run_status)e->status);
    const char *v[] = {wf->name, st};
    metrics_inc(s->m, s->f_runs, v, 1);
    slog(s, "info", "run", "run %s (%s) %s", run_id, wf->name, st);
    sched_loop_run_ended(&s->sl); /* a queued run may wait for this one */
    return;
  }
  if ((e->type != ENG_J_ATTEMPT_START && e->type != ENG_J_ATTEMPT_END) || e->step >= wf->n_steps)
    return;
  char key[WEFT_ID_LEN + 300];
  snprintf(key, sizeof key, "%s/%s/%d/%u", run_id, wf->steps[e->step].id, (int)e->index, (unsigned)e->attempts);
  if (e->type == ENG_J_ATTEMPT_START) {
    json_object_set_new(s->starts, key, json_integer(e->at));
    return;
  }
  const char *kind = wf_kind_name(wf->steps[e->step].kind);
  const char *v[] = {wf->name, kind, engine_status_name((enum eng_status)e->status)};
  metrics_inc(s->m, s->f_steps, v, 1);
  json_t *t0 = json_object_get(s->starts, key);
  if (t0) { /* an attempt this server started (not one interrupted before it) */
    const char *k[] = {kind};
    int64_t ms = e->finished_at - json_integer_value(t0);
    metrics_observe(s->m, s->f_step_dur, k, (double)(ms > 0 ? ms : 0) / 1000.0);
    json_object_del(s->starts, key);
  }
}

static void notify_log(void *ud, const char *level, const char *line)
{
  slog(ud, level, "notify", "%s", line);
}

static void sched_log(void *ud, const char *level, const char *event, const char *msg)
{
  slog(ud, level, event, "%s", msg);
}

static void sched_lag(void *ud, double seconds)
{
  struct server *s = ud;
  metrics_set(s->m, s->f_sched_lag, NULL, seconds);
}

static void on_stop_async(uv_async_t *a)
{
  struct server *s = a->data;
  cmdq_close(&s->q); /* commands from now on answer "stopping" */
  sched_loop_close(&s->sl);
  rt_drain(s->rt);
  uv_close((uv_handle_t *)a, NULL);
}

static void *rt_main(void *arg)
{
  struct server *s = arg;
  /* resume every run a dead engine left behind */
  struct store_run *v = NULL;
  size_t n = 0;
  if (store_run_orphans(s->rt_store, &v, &n) != 0)
    slog(s, "error", "resume", "cannot list the runs to resume: %s", store_errmsg(s->rt_store));
  for (size_t i = 0; i < n; i++) {
    char *err = NULL;
    if (!strcmp(v[i].status, "queued") && v[i].owner_pid <= 0)
      continue; /* recorded by a trigger, never started: sched_loop starts it (its hold permitting) */
    if (rt_resume(s->rt, v[i].id, &err))
      slog(s, "error", "resume", "cannot resume run %s: %s", v[i].id, err ? err : "failed");
    else {
      slog(s, "info", "resume", "resumed run %s (%s), left behind by a dead engine", v[i].id, v[i].workflow);
      s->resumed++;
    }
    free(err);
  }
  store_runs_free(v, n);
  s->sl.on_lag = sched_lag;
  if (sched_loop_start(&s->sl, rt_uv_loop(s->rt), s->rt_store, s->rt, sched_log, s))
    slog(s, "error", "schedule", "cannot start the schedules' timer: out of memory");
  int rc = rt_loop(s->rt);
  cmdq_close(&s->q); /* the loop ended (stopped, or the store failed): no caller waits forever */
  api_wf_loop_end(&s->wfa);
  pthread_mutex_lock(&s->mu);
  s->rt_done = true;
  s->rt_rc = rc;
  pthread_mutex_unlock(&s->mu);
  unsigned char zero = 0;
  if (write(sig_pipe[1], &zero, 1) < 0) { /* full: the main thread polls rt_done every second anyway */
  }
  if (rc) {
    atomic_store(&s->ready, false);
    slog(s, "error", "runtime", "the runtime stopped: the store failed; its runs stay resumable");
  }
  return NULL;
}

static int start_runtime(struct server *s)
{
  struct rt_opts ro = {.store = s->rt_store, .user = "server", .keep_alive = true,
                       .obs = {.on_journal = on_journal, .on_tick = on_tick, .on_commit = on_commit, .ud = s}};
  if (!(s->starts = json_object()) || !(s->queued = json_object()))
    return WEFT_ENOMEM;
  int rc = rt_new(&ro, &s->rt);
  if (rc)
    return rc;
  if ((rc = cmdq_init(&s->q, rt_uv_loop(s->rt), s)) != 0)
    return rc;
  s->wfa.rt = s->rt;
  s->wfa.rt_store = s->rt_store;
  s->q_inited = true;
  uv_async_init(rt_uv_loop(s->rt), &s->stop_async, on_stop_async);
  s->stop_async.data = s;
  if (pthread_create(&s->rt_thread, NULL, rt_main, s)) {
    uv_close((uv_handle_t *)&s->stop_async, NULL);
    cmdq_close(&s->q);
    return WEFT_ENOMEM;
  }
  s->rt_started = true;
  return 0;
}

/* Asks the loop to stop and waits up to drain_ms: true when it ended (the
 * thread is joined), false when steps were still running, or when a second
 * SIGTERM/SIGINT said not to wait. The runtime thread's end and signals both
 * arrive on the self-pipe (a 0 byte: the thread ended). */
static bool stop_runtime(struct server *s, int64_t drain_ms)
{
  uv_async_send(&s->stop_async);
  int64_t deadline = wt_mono_ms() + drain_ms;
  bool done = false;
  for (;;) {
    pthread_mutex_lock(&s->mu);
    done = s->rt_done;
    pthread_mutex_unlock(&s->mu);
    int64_t left = deadline - wt_mono_ms();
    if (done || left <= 0)
      break;
    struct pollfd p = {sig_pipe[0], POLLIN, 0};
    if (poll(&p, 1, left > 1000 ? 1000 : (int)left) <= 0)
      continue;
    unsigned char c = 0xff;
    if (read(sig_pipe[0], &c, 1) != 1)
      continue;
    if (c == SIGHUP) {
      reload(s);
    } else if (c == SIGTERM || c == SIGINT) {
      slog(s, "info", "stop", "%s again: not waiting for the running steps", c == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
  }
  if (done)
    pthread_join(s->rt_thread, NULL);
  return done;
}

/* ---- signals ------------------------------------------------------------------- */


static void on_signal(int sig)
{
  int e = errno;
  unsigned char c = (unsigned char)sig;
  if (write(sig_pipe[1], &c, 1) < 0) { /* full: a signal is already pending */
  }
  errno = e;
}

static int install_signals(void)
{
  if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK))
    return WEFT_EIO;
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  return 0;
}

static void reload(struct server *s)
{
  if (s->o->workflows_dir)
    api_wf_deploy_dir(&s->wfa, s->o->workflows_dir, "reload");
  sched_loop_kick(&s->sl, true); /* the schedules follow the newest versions */
  if (load_users(s, "reload") == 0) {
    pthread_mutex_lock(&s->users_mu);
    size_t n = json_object_size(s->users.map);
    pthread_mutex_unlock(&s->users_mu);
    slog(s, "info", "reload", "reload: users.json read (%zu users)", n);
  }
}

/* ---- live events ---------------------------------------------------------------- */

static void pump_log(void *ud, const char *msg) { slog(ud, "error", "events", "%s", msg); }

/* The pump reads the audit log through a connection of its own. */
static int start_pump(struct server *s)
{
  struct store *db = NULL;
  char *err = NULL;
  int rc = store_open(s->o->home, &db, &err);
  if (rc) {
    slog(s, "error", "start", "cannot open a connection to the store for live events: %s", err ? err : "failed");
    free(err);
    return rc;
  }
  struct sse_pump_cfg pc = {.store = db, .hub = s->hub, .log = pump_log, .ud = s};
  return sse_pump_start(&pc, &s->pump);
}

/* ---- the process --------------------------------------------------------------- */

/* WEFT_SSE_HEARTBEAT_MS: for tests only, a shorter heartbeat (0 or unset:
 * every 15 s) */
static unsigned heartbeat_ms(void)
{
  const char *v = getenv("WEFT_SSE_HEARTBEAT_MS");
  long ms = v ? strtol(v, NULL, 10) : 0;
  return ms > 0 && ms <= 3600000 ? (unsigned)ms : 0;
}

/* Connection time-out: 30 s, or WEFT_HTTP_TIMEOUT seconds (1..3600; for
 * tests of clients that stall). 0 when unset or unusable: httpd's default. */
static unsigned conn_timeout_s(void)
{
  const char *e = getenv("WEFT_HTTP_TIMEOUT");
  char *end = NULL;
  long v = e && *e ? strtol(e, &end, 10) : 0;
  return end && !*end && v >= 1 && v <= 3600 ? (unsigned)v : 0;
}

/* Open files: the soft limit is raised to the hard one (idle clients cost
 * one descriptor each), and HTTP connections may use all but a reserve, so
 * a crowd of clients never leaves the runtime without descriptors for its
 * steps' pipes and the store. The connection cap: 4096 at most. */
#define FD_RESERVE 256
static unsigned conn_limit(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl))
    return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
    if (want > rl.rlim_cur) {
      struct rlimit up = {want, rl.rlim_max};
      if (setrlimit(RLIMIT_NOFILE, &up) == 0)
        rl.rlim_cur = want;
    }
  }
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= 4096 + 2 * FD_RESERVE)
    return 4096;
  return rl.rlim_cur > 2 * FD_RESERVE ? (unsigned)(rl.rlim_cur - FD_RESERVE) : (unsigned)(rl.rlim_cur / 2);
}

static void addr_text(const struct server *s, char *out, size_t len)
{
  const struct listen_addr *a = &s->o->addr;
  if (a->kind == LISTEN_UNIX) {
    snprintf(out, len, "%s", a->text);
    return;
  }
  /* the host as written, the port as bound (port 0 picks a free one) */
  char host[128];
  snprintf(host, sizeof host, "%s", a->text);
  char *colon = strrchr(host, ':');
  if (colon)
    *colon = 0;
  snprintf(out, len, "%s:%u", host, httpd_port(s->h));
}

int server_run(const struct server_opts *o, struct store *store)
{
  int64_t t0 = wt_mono_us();
  struct server sv = {.o = o, .rt_store = store};
  struct server *s = &sv;
  pthread_mutex_init(&s->log_mu, NULL);
  pthread_mutex_init(&s->db_mu, NULL);
  pthread_mutex_init(&s->users_mu, NULL);
  pthread_mutex_init(&s->mu, NULL);
  int code = 2, lock_fd = -1;
  char err[512] = "";
  long owner = 0;
  int rc = server_lock(o->home, &lock_fd, &owner);
  if (rc == WEFT_EBUSY) {
    if (owner > 0)
      slog(s, "error", "start",
           "another weft server (pid %ld) owns the home %s; stop it, or give this one another --home", owner,
           o->home);
    else
      slog(s, "error", "start", "another weft server owns the home %s; stop it, or give this one another --home",
           o->home);
    goto out;
  }
  if (rc) {
    slog(s, "error", "start", "cannot lock %s/%s: %s (check the home's permissions)", o->home, LOCK_NAME,
         strerror(errno));
    goto out;
  }
  if (install_signals() || setup_metrics(s)) {
    slog(s, "error", "start", "cannot set the server up (out of memory or file descriptors)");
    goto out;
  }
  char *serr = NULL;
  if (store_open(o->home, &s->db, &serr)) {
    slog(s, "error", "start", "cannot open a second connection to the store: %s", serr ? serr : "failed");
    free(serr);
    goto out;
  }
  if (load_users(s, "start")) /* a users.json that is not valid: fix it first */
    goto out;
  dbpool_init(&s->pool, o->home);
  s->pool_inited = true;
  s->api = (struct api){.pool = &s->pool, .home = o->home, .follow = logfollow_new(), .retry = api_retry,
                        .poke = api_poke, .ud = s};
  s->trig.api = &s->api;
  if (hookrec_start(&s->hr, o->home) == 0) {
    s->trig.record = hookrec_record;
    s->trig.record_ud = &s->hr;
  }
  /* before the front starts: its threads may call the workflow routes at once */
  s->wfa = (struct api_wf){.ud = s, .db_acquire = wf_db_acquire, .db_release = wf_db_release,
                           .call_loop = wf_call_loop, .log = wf_log, .home = o->home};
  json_t *doc = openapi_document(api_routes, api_route_docs, api_routes_count);
  s->openapi = doc ? wjson_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(doc);
  s->routes = malloc(api_routes_count * sizeof *s->routes);
  s->hub = sse_hub_new(heartbeat_ms());
  if (!s->openapi || !s->routes || !s->hub) {
    slog(s, "error", "start", "out of memory");
    goto out;
  }
  memcpy(s->routes, api_routes, api_routes_count * sizeof *s->routes);
  for (size_t i = 0; i < api_routes_count; i++)
    if (o->metrics_public && !strcmp(s->routes[i].op, "metrics"))
      s->routes[i].role = ROLE_NONE;
  if ((rc = start_pump(s)) != 0) {
    slog(s, "error", "start", "cannot start the live events: %s", weft_strerror(rc));
    goto out;
  }
  /* HTTP first: a server that cannot listen takes no run over */
  struct httpd_config hc = {.addr = &o->addr, .tls_cert_pem = o->tls_cert_pem, .tls_key_pem = o->tls_key_pem,
                            .routes = s->routes, .nroutes = api_routes_count, .handler = handler, .auth = auth,
                            .fallback = uiserve_answer,
                            .fallback_has = uiserve_has,
                            .ud = s, .on_answer = on_answer, .timeout_s = conn_timeout_s(),
                            .max_conns = conn_limit(),
                            .threads = o->http_threads ? o->http_threads : SERVER_HTTP_THREADS};
  if (httpd_start(&hc, &s->h, err, sizeof err)) {
    slog(s, "error", "start", "%s", err);
    goto out;
  }
  if (o->workflows_dir) /* before the loop: triggers and starts see them */
    api_wf_deploy_dir(&s->wfa, o->workflows_dir, "start");
  if (o->addr.kind != LISTEN_UNIX) {
    char at0[160];
    addr_text(s, at0, sizeof at0);
    snprintf(s->ui_base, sizeof s->ui_base, "%s://%s", o->tls_cert_pem ? "https" : "http", at0);
  }
  if (notifier_start(&s->nt, o->home, notify_log, s))
    slog(s, "error", "start", "cannot start the notifications' thread: out of memory");
  if ((rc = start_runtime(s)) != 0) {
    slog(s, "error", "start", "cannot start the runtime: %s", weft_strerror(rc));
    goto stop;
  }
  atomic_store(&s->ready, true);
  char at[160];
  addr_text(s, at, sizeof at);
  slog(s, "info", "start", "server listening on %s%s (pid %ld, home %s, ready in %.1f ms)", at,
       o->tls_cert_pem ? " with TLS" : "", (long)getpid(), o->home, (double)(wt_mono_us() - t0) / 1000.0);
  if (hc.timeout_s)
    slog(s, "info", "start", "connection time-out %u s (WEFT_HTTP_TIMEOUT, meant for tests)", hc.timeout_s);
  if (o->insecure_warn)
    slog(s, "warning", "start",
         "--insecure-http: serving %s without TLS off loopback; tokens travel in clear text", o->addr.text);

  code = 0;
  for (;;) {
    struct pollfd p = {sig_pipe[0], POLLIN, 0};
    if (poll(&p, 1, -1) < 0)
      continue;
    unsigned char c = 0;
    if (read(sig_pipe[0], &c, 1) != 1)
      continue;
    if (c == SIGHUP) {
      reload(s);
      continue;
    }
    if (c != SIGTERM && c != SIGINT)
      continue; /* the runtime thread ended (the store failed): logged, readyz 503 */
    slog(s, "info", "stop", "%s: stopping (readyz answers 503, no step starts; running steps get up to %lld ms)",
         c == SIGINT ? "SIGINT" : "SIGTERM", (long long)o->drain_ms);
    break;
  }
stop:
  atomic_store(&s->ready, false);
  sse_hub_close(s->hub); /* before httpd_stop: no connection stays suspended */
  logfollow_close(s->api.follow);
  bool done = !s->rt_started || stop_runtime(s, o->drain_ms);
  if (s->h && o->addr.kind == LISTEN_UNIX) /* ours: no other server can have bound it meanwhile */
    unlink(((const struct sockaddr_un *)&o->addr.sa)->sun_path);
  httpd_stop(s->h);
  s->h = NULL;
  if (!done) {
    /* the runtime thread still holds runs: they stay resumable, and the next
     * server resumes them; its memory goes with the process */
    slog(s, "warning", "stop", "drain time over: the runs still going stay resumable by the next server");
    fflush(stderr);
    _exit(code);
  }
  if (s->rt_rc)
    code = 1;
  size_t left = s->rt ? rt_active_count(s->rt) : 0;
  if (left) {
    /* approvals, waits and sub-workflow steps still hold the loop's handles:
     * everything they decided is durable (rt_drain), so the process ends as
     * after a crash and the next engine takes the runs over */
    slog(s, "info", "stop", "%zu run%s not finished stay resumable: the next server continues %s", left,
         left == 1 ? "" : "s", left == 1 ? "it" : "them");
    slog(s, "info", "stop", "stopped");
    _exit(code);
  }
  slog(s, "info", "stop", "stopped");
out:
  logfollow_close(s->api.follow);
  httpd_stop(s->h);
  logfollow_free(s->api.follow);
  if (s->pool_inited)
    dbpool_close(&s->pool);
  if (s->rt) {
    rt_free(s->rt);
    s->rt = NULL;
  }
  notifier_stop(&s->nt); /* after the runtime: what it recorded and did not deliver waits in the store */
  hookrec_stop(&s->hr);  /* after the HTTP front: no delivery waits for it any more */
  sse_pump_stop(s->pump); /* after the runtime: its commits wake the pump */
  if (s->q_inited)
    cmdq_destroy(&s->q);
  if (s->hub)
    sse_hub_free(s->hub);
  free(s->routes);
  free(s->openapi);
  store_close(s->db);
  store_close(store);
  metrics_free(s->m);
  json_decref(s->starts);
  json_decref(s->queued);
  users_free(&s->users);
  if (lock_fd >= 0)
    close(lock_fd); /* the pid stays in the file: the lock, not the file, says who owns the home */
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->db_mu);
  pthread_mutex_destroy(&s->users_mu);
  pthread_mutex_destroy(&s->log_mu);
  return code;
}
