/* test_engine.c — the engine's tests: trace cases played by a fake runtime,
 * the transition tables, and the memory bound of a 1,000,000-item for_each.
 *
 * A trace case is a directory tests/traces/<case>/ with
 *   workflow.yaml  the workflow (loaded with wf_load_file)
 *   script.txt     what the fake executors do and when, one directive a line:
 *                    seed N | max_parallel N | inputs JSON
 *                    reserve   (the driver calls engine_reserve before each
 *                               commit and engine_durable after it, as the
 *                               runtime does; an early start must find its
 *                               reservation committed by an earlier call)
 *                    result STEP[#I] ATTEMPT|* ok [after=MS] [outputs=JSON]
 *                    result STEP[#I] ATTEMPT|* fail KIND [exit=N] [signal=N]
 *                           [status=N] [after=MS] [message=TEXT...]
 *                    result STEP[#I] ATTEMPT|* hang       (ends only when killed)
 *                    at MS cancel | at MS crash | at MS retry [STEP]
 *                    at MS withdraw STEP   (engine_withdraw, as `weft cancel
 *                               --step`; the request is durable: a later crash
 *                               hands it back with engine_restore_withdraw)
 *                    crash_on_kill  (the first call that kills an attempt to
 *                               stop it commits its journal, then the engine
 *                               dies before performing any effect)
 *                  An attempt with no matching line succeeds after 1000 ms with
 *                  outputs {}. `STEP` without #I matches every instance.
 *   expected.txt   the trace: `t=MS <line>` per journal entry and effect (see
 *                  src/engine/trace.c), then `final run S` and `final step X S`.
 * The driver is the runtime in miniature: it applies journal entries to a
 * fake store (used by `crash`, which rebuilds the run with engine_restore_*),
 * performs effects (killed attempts end at once with signal 15), and advances
 * a fake clock to the next attempt end, timer or scripted command (in that
 * order on ties). WEFT_TRACE_UPDATE=1 rewrites expected.txt from the actual
 * trace (review the diff before committing it). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "spec/model.h"
#include "util/buf.h"
#include "util/err.h"

#ifndef WEFT_SOURCE_DIR
#define WEFT_SOURCE_DIR "."
#endif

/* ---- script ------------------------------------------------------------- */

enum res_kind { RES_OK, RES_FAIL, RES_HANG };

struct result {
  char step[72];
  int index;   /* -2: any */
  int attempt; /* 0: any */
  enum res_kind kind;
  int64_t after;
  json_t *outputs;
  enum eng_err_kind ekind;
  int exit_code, sig, status;
  char message[256];
};

struct command {
  int64_t at;
  char what[16];
  char arg[72];
  bool done;
};

struct script {
  uint64_t seed;
  int max_parallel;
  bool reserve;
  bool crash_on_kill;
  json_t *inputs;
  struct result res[128];
  int n_res;
  struct command cmd[16];
  int n_cmd;
};

static char *slurp(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  struct buf b;
  buf_init(&b, 1 << 24);
  char tmp[4096];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
    buf_append(&b, tmp, n);
  fclose(f);
  return buf_take(&b);
}

static void parse_target(const char *t, char *step, int *index)
{
  const char *h = strchr(t, '#');
  size_t n = h ? (size_t)(h - t) : strlen(t);
  snprintf(step, 72, "%.*s", (int)n, t);
  *index = h ? atoi(h + 1) : -2;
}

static void parse_script(const char *text, struct script *sc)
{
  memset(sc, 0, sizeof *sc);
  sc->max_parallel = 4;
  char *copy = strdup(text), *save = NULL;
  for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    while (*line == ' ')
      line++;
    if (!*line || *line == '#')
      continue;
    char w[32] = "";
    int off = 0;
    sscanf(line, "%31s %n", w, &off);
    char *rest = line + off;
    if (!strcmp(w, "seed")) {
      sc->seed = strtoull(rest, NULL, 10);
    } else if (!strcmp(w, "reserve")) {
      sc->reserve = true;
    } else if (!strcmp(w, "crash_on_kill")) {
      sc->crash_on_kill = true;
    } else if (!strcmp(w, "max_parallel")) {
      sc->max_parallel = atoi(rest);
    } else if (!strcmp(w, "inputs")) {
      sc->inputs = json_loads(rest, 0, NULL);
      cr_assert(sc->inputs, "bad inputs JSON: %s", rest);
    } else if (!strcmp(w, "at")) {
      struct command *c = &sc->cmd[sc->n_cmd++];
      long long at = 0;
      sscanf(rest, "%lld %15s %71s", &at, c->what, c->arg);
      c->at = at;
    } else if (!strcmp(w, "result")) {
      cr_assert(sc->n_res < 128);
      struct result *r = &sc->res[sc->n_res++];
      char target[80], att[16], kind[16];
      int n = 0;
      cr_assert(sscanf(rest, "%79s %15s %15s %n", target, att, kind, &n) >= 3, "bad line: %s",
                line);
      parse_target(target, r->step, &r->index);
      r->attempt = strcmp(att, "*") ? atoi(att) : 0;
      r->after = 1000;
      r->exit_code = r->sig = r->status = -1;
      r->kind = !strcmp(kind, "ok") ? RES_OK : !strcmp(kind, "hang") ? RES_HANG : RES_FAIL;
      char *p = rest + n;
      if (r->kind == RES_FAIL) {
        char k[32];
        int m = 0;
        sscanf(p, "%31s %n", k, &m);
        int ek = engine_err_kind_parse(k);
        cr_assert(ek > 0, "unknown error kind %s", k);
        r->ekind = (enum eng_err_kind)ek;
        p += m;
      }
      while (*p) {
        while (*p == ' ')
          p++;
        if (!strncmp(p, "message=", 8)) {
          snprintf(r->message, sizeof r->message, "%s", p + 8);
          break;
        }
        char opt[1024];
        int m = 0;
        if (sscanf(p, "%1023s%n", opt, &m) < 1)
          break;
        p += m;
        if (!strncmp(opt, "after=", 6))
          r->after = atoll(opt + 6);
        else if (!strncmp(opt, "exit=", 5))
          r->exit_code = atoi(opt + 5);
        else if (!strncmp(opt, "signal=", 7))
          r->sig = atoi(opt + 7);
        else if (!strncmp(opt, "status=", 7))
          r->status = atoi(opt + 7);
        else if (!strncmp(opt, "outputs=", 8)) {
          r->outputs = json_loads(opt + 8, JSON_DECODE_ANY, NULL);
          cr_assert(r->outputs, "bad outputs: %s", opt);
        } else
          cr_assert_fail("unknown option %s", opt);
      }
      if (r->kind == RES_FAIL && !r->message[0]) {
        if (r->ekind == ENG_E_EXIT_CODE)
          snprintf(r->message, sizeof r->message, "exited with status %d", r->exit_code);
        else
          snprintf(r->message, sizeof r->message, "%s", engine_err_kind_name(r->ekind));
      }
    } else {
      cr_assert_fail("unknown directive %s", w);
    }
  }
  free(copy);
}

static void free_script(struct script *sc)
{
  json_decref(sc->inputs);
  for (int i = 0; i < sc->n_res; i++)
    json_decref(sc->res[i].outputs);
}

/* ---- fake store ----------------------------------------------------------- */

struct row {
  bool set;
  int status;
  uint32_t attempts, iteration, n;
  int32_t exit_code;
  int64_t started_at, finished_at, due_at;
  json_t *error, *outputs;
  uint32_t reserved; /* ENG_J_RESERVE: kept by status changes, as the real store does */
  long reserved_call; /* the process() call that committed it */
};

struct store {
  long calls; /* process() calls so far (each one a commit) */
  int run_status;
  int64_t started_at;
  struct row *steps;
  struct row **inst; /* per step */
  uint32_t *n_inst;
  uint32_t n_steps;
};

static void row_clear(struct row *r)
{
  json_decref(r->error);
  json_decref(r->outputs);
  memset(r, 0, sizeof *r);
}

static void store_apply(struct store *s, const struct eng_jent *e)
{
  if (e->type == ENG_J_RUN) {
    s->run_status = e->status;
    s->started_at = e->started_at;
    return;
  }
  if (e->type == ENG_J_EXPAND) {
    for (uint32_t i = 0; i < s->n_inst[e->step]; i++)
      row_clear(&s->inst[e->step][i]);
    free(s->inst[e->step]);
    s->inst[e->step] = calloc(e->n ? e->n : 1, sizeof(struct row));
    s->n_inst[e->step] = e->n;
    for (uint32_t i = 0; i < e->n; i++) {
      s->inst[e->step][i].set = true;
      s->inst[e->step][i].attempts = e->attempts;
      s->inst[e->step][i].exit_code = ENG_NO_EXIT;
    }
    s->steps[e->step].n = e->n;
    return;
  }
  if (e->type == ENG_J_RESERVE) {
    struct row *r = e->index < 0 ? &s->steps[e->step] : &s->inst[e->step][e->index];
    if (!r->set) /* a pending row, as the store inserts it */
      *r = (struct row){.set = true, .status = ENG_PENDING, .exit_code = ENG_NO_EXIT};
    r->reserved = e->attempts;
    r->reserved_call = s->calls;
    return;
  }
  if (e->type != ENG_J_UNIT)
    return;
  struct row *r = e->index < 0 ? &s->steps[e->step] : &s->inst[e->step][e->index];
  uint32_t n = r->n, reserved = r->reserved;
  long reserved_call = r->reserved_call;
  row_clear(r);
  r->set = true;
  r->n = n;
  r->reserved = reserved;
  r->reserved_call = reserved_call;
  r->status = e->status;
  r->attempts = e->attempts;
  r->iteration = e->iteration;
  r->exit_code = e->exit_code;
  r->started_at = e->started_at;
  r->finished_at = e->finished_at;
  r->due_at = e->due_at;
  r->error = json_incref(e->error);
  if (e->outputs)
    r->outputs = json_incref(e->outputs);
  else if (e->outputs_text)
    r->outputs = json_loads(e->outputs_text, JSON_DECODE_ANY, NULL);
}

static void store_free(struct store *s)
{
  for (uint32_t i = 0; i < s->n_steps; i++) {
    row_clear(&s->steps[i]);
    for (uint32_t k = 0; k < s->n_inst[i]; k++)
      row_clear(&s->inst[i][k]);
    free(s->inst[i]);
  }
  free(s->steps);
  free(s->inst);
  free(s->n_inst);
}

static struct eng_saved_unit saved(uint32_t step, int32_t index, const struct row *r)
{
  struct eng_saved_unit u = {
    .step = step,
    .index = index,
    .status = (enum eng_status)r->status,
    .attempts = r->attempts,
    .iteration = r->iteration,
    .n_instances = r->n,
    .exit_code = r->set ? r->exit_code : ENG_NO_EXIT, /* a row never written */
    .error = r->error,
    .outputs = r->outputs,
    .started_at = r->started_at,
    .finished_at = r->finished_at,
    .due_at = r->due_at,
    .reserved = r->reserved,
  };
  return u;
}

/* ---- the fake runtime ------------------------------------------------------ */

struct inflight {
  uint32_t step;
  int32_t index;
  uint32_t attempt;
  int64_t end;       /* -1: hangs */
  const struct result *res;
  bool killed;
  long seq;
};

struct timer {
  uint64_t token;
  int64_t at;
  long seq;
};

struct sim {
  const struct wf *wf;
  struct script sc;
  struct eng_config cfg;
  struct eng_run *run;
  struct eng_effects fx;
  struct store store;
  struct inflight fl[4096];
  int n_fl;
  struct timer tm[4096];
  int n_tm;
  long seq;
  int64_t now;
  bool finished;
  struct buf out;
  uint32_t owed[16]; /* requested withdrawals since the last retry (the audit log) */
  int n_owed;
};

static const struct result *find_result(struct sim *s, uint32_t step, int32_t index,
                                        uint32_t attempt)
{
  const char *id = s->wf->steps[step].id;
  for (int i = 0; i < s->sc.n_res; i++) {
    const struct result *r = &s->sc.res[i];
    if (strcmp(r->step, id))
      continue;
    if (r->index != -2 && r->index != index)
      continue;
    if (r->attempt && (uint32_t)r->attempt != attempt)
      continue;
    return r;
  }
  return NULL;
}

/* max_parallel holds: slot-taking attempts in flight, and a step's own limit */
static void check_parallel(struct sim *s, uint32_t step)
{
  int limit = s->wf->max_parallel > 0 ? s->wf->max_parallel : s->sc.max_parallel;
  int step_limit = s->wf->steps[step].max_parallel > 0 ? s->wf->steps[step].max_parallel : limit;
  int all = 0, mine = 0;
  for (int k = 0; k < s->n_fl; k++) {
    enum wf_kind kind = s->wf->steps[s->fl[k].step].kind;
    if (kind != WF_APPROVAL && kind != WF_WAIT)
      all++;
    mine += s->fl[k].step == step;
  }
  cr_assert_leq(all, limit, "t=%lld: %d attempts in flight, max_parallel %d", (long long)s->now,
                all, limit);
  cr_assert_leq(mine, step_limit, "t=%lld: step %s has %d in flight, max_parallel %d",
                (long long)s->now, s->wf->steps[step].id, mine, step_limit);
}

static void emit(struct sim *s, const char *line)
{
  buf_printf(&s->out, "t=%lld %s\n", (long long)s->now, line);
}

static bool lose_effects(struct sim *s);

static void process(struct sim *s, int rc)
{
  cr_assert_eq(rc, 0, "engine call failed at t=%lld: %s", (long long)s->now,
               weft_strerror(rc));
  cr_assert(engine_check(s->run), "engine invariants broken at t=%lld", (long long)s->now);
  if (lose_effects(s))
    return;
  char line[4096];
  s->store.calls++;
  if (s->sc.reserve)
    cr_assert_eq(engine_reserve(s->run, s->now, (uint64_t)s->store.calls, &s->fx), 0);
  for (size_t i = 0; i < s->fx.nj; i++) {
    store_apply(&s->store, &s->fx.j[i]);
    if (engine_trace_jent(s->run, &s->fx.j[i], line, sizeof line))
      emit(s, line);
  }
  for (size_t i = 0; i < s->fx.n; i++) {
    const struct eng_effect *e = &s->fx.v[i];
    if (engine_trace_fx(s->run, e, line, sizeof line))
      emit(s, line);
    switch (e->type) {
    case ENG_FX_START: {
      if (e->early) {
        const struct row *rw = e->index < 0 ? &s->store.steps[e->step]
                                            : &s->store.inst[e->step][e->index];
        cr_assert(s->sc.reserve, "t=%lld: an early start without reservations",
                  (long long)s->now);
        cr_assert(rw->reserved == e->attempt && rw->reserved_call < s->store.calls,
                  "t=%lld: early start of attempt %u without a committed reservation",
                  (long long)s->now, e->attempt);
      }
      cr_assert(s->n_fl < 4096);
      struct inflight *f = &s->fl[s->n_fl++];
      f->step = e->step;
      f->index = e->index;
      f->attempt = e->attempt;
      f->res = find_result(s, e->step, e->index, e->attempt);
      f->killed = false;
      f->seq = s->seq++;
      f->end = f->res && f->res->kind == RES_HANG ? -1 : s->now + (f->res ? f->res->after : 1000);
      check_parallel(s, e->step);
      break;
    }
    case ENG_FX_KILL:
      for (int k = 0; k < s->n_fl; k++) {
        struct inflight *f = &s->fl[k];
        if (f->step == e->step && f->index == e->index && f->attempt == e->attempt) {
          f->killed = true;
          f->end = s->now;
        }
      }
      break;
    case ENG_FX_TIMER_ARM:
      cr_assert(s->n_tm < 4096);
      s->tm[s->n_tm++] = (struct timer){e->token, e->at, s->seq++};
      break;
    case ENG_FX_TIMER_CANCEL:
      for (int k = 0; k < s->n_tm; k++)
        if (s->tm[k].token == e->token) {
          s->tm[k] = s->tm[--s->n_tm];
          break;
        }
      break;
    case ENG_FX_DONE: break;
    case ENG_FX_RUN_FINISHED:
      s->finished = true;
      cr_assert_eq(s->n_tm, 0, "run finished with %d timers armed", s->n_tm);
      cr_assert_eq(s->n_fl, 0, "run finished with %d attempts in flight", s->n_fl);
      break;
    }
  }
  engine_fx_reset(&s->fx);
  if (s->sc.reserve)
    engine_durable(s->run, (uint64_t)s->store.calls); /* the journal above is committed */
}

static void crash(struct sim *s);

/* crash_on_kill: true when this call's effects are lost (the journal was
 * committed, then the engine died) */
static bool lose_effects(struct sim *s)
{
  if (!s->sc.crash_on_kill)
    return false;
  bool kill = false;
  for (size_t i = 0; i < s->fx.n; i++)
    kill |= s->fx.v[i].type == ENG_FX_KILL && s->fx.v[i].reason == ENG_KILL_STOP;
  if (!kill)
    return false;
  char line[4096];
  s->store.calls++;
  for (size_t i = 0; i < s->fx.nj; i++) {
    store_apply(&s->store, &s->fx.j[i]);
    if (engine_trace_jent(s->run, &s->fx.j[i], line, sizeof line))
      emit(s, line);
  }
  emit(s, "crash: after the commit, before the kill");
  engine_fx_reset(&s->fx);
  s->sc.crash_on_kill = false;
  crash(s);
  return true;
}

static void crash(struct sim *s)
{
  engine_free(s->run);
  s->run = NULL;
  s->n_fl = s->n_tm = 0; /* the processes and timers died with the engine */
  int rc = engine_restore_begin(s->wf, &s->cfg, (enum eng_run_status)s->store.run_status,
                                s->store.started_at, &s->run);
  cr_assert_eq(rc, 0);
  for (uint32_t i = 0; i < s->store.n_steps; i++) {
    struct eng_saved_unit u = saved(i, -1, &s->store.steps[i]);
    cr_assert_eq(engine_restore_unit(s->run, &u), 0);
  }
  for (uint32_t i = 0; i < s->store.n_steps; i++)
    for (uint32_t k = 0; k < s->store.n_inst[i]; k++) {
      struct eng_saved_unit u = saved(i, (int32_t)k, &s->store.inst[i][k]);
      cr_assert_eq(engine_restore_unit(s->run, &u), 0);
    }
  for (int i = 0; i < s->n_owed; i++)
    cr_assert_eq(engine_restore_withdraw(s->run, s->owed[i]), 0);
  emit(s, "crash: engine restored from the store");
  process(s, engine_restore_end(s->run, s->now, &s->fx));
}

static void run_command(struct sim *s, struct command *c)
{
  c->done = true;
  if (!strcmp(c->what, "cancel")) {
    if (engine_run_status(s->run) >= ENG_RUN_SUCCEEDED) {
      emit(s, "command cancel: the run is finished");
      cr_assert_eq(engine_cancel(s->run, s->now, &s->fx), WEFT_ESTATE);
      return;
    }
    emit(s, "command cancel");
    process(s, engine_cancel(s->run, s->now, &s->fx));
  } else if (!strcmp(c->what, "crash")) {
    crash(s);
  } else if (!strcmp(c->what, "withdraw")) {
    uint32_t k = wf_step_find(s->wf, c->arg);
    cr_assert_neq(k, WF_NONE, "withdraw: unknown step %s", c->arg);
    char l[128];
    int rc = engine_withdraw(s->run, k, s->now, &s->fx);
    if (rc == WEFT_ESTATE) {
      snprintf(l, sizeof l, "command withdraw %s: it has ended", c->arg);
      emit(s, l);
      return;
    }
    cr_assert(s->n_owed < 16);
    s->owed[s->n_owed++] = k; /* recorded before the engine acts (the audit entry) */
    snprintf(l, sizeof l, "command withdraw %s", c->arg);
    emit(s, l);
    process(s, rc);
  } else if (!strcmp(c->what, "retry")) {
    uint32_t from = WF_NONE;
    if (c->arg[0]) {
      from = wf_step_find(s->wf, c->arg);
      cr_assert_neq(from, WF_NONE, "retry: unknown step %s", c->arg);
    }
    char l[128];
    if (engine_run_status(s->run) < ENG_RUN_SUCCEEDED) {
      emit(s, "command retry: the run is not finished");
      cr_assert_eq(engine_retry(s->run, from, s->now, &s->fx), WEFT_ESTATE);
      return;
    }
    snprintf(l, sizeof l, "command retry%s%s", c->arg[0] ? " --from " : "", c->arg);
    emit(s, l);
    s->finished = false;
    s->n_owed = 0; /* a retry ends what was requested before it */
    int rc = engine_retry(s->run, from, s->now, &s->fx);
    if (rc == WEFT_ESTATE && from == WF_NONE) {
      emit(s, "retry: no step failed or was cancelled: nothing to retry");
      rc = 0;
    }
    process(s, rc);
  } else {
    cr_assert_fail("unknown command %s", c->what);
  }
}

/* One step of fake time. Returns false when nothing is left to happen. */
static bool advance(struct sim *s)
{
  int fi = -1, ti = -1, ci = -1;
  for (int k = 0; k < s->n_fl; k++)
    if (s->fl[k].end >= 0 &&
        (fi < 0 || s->fl[k].end < s->fl[fi].end ||
         (s->fl[k].end == s->fl[fi].end && s->fl[k].seq < s->fl[fi].seq)))
      fi = k;
  for (int k = 0; k < s->n_tm; k++)
    if (ti < 0 || s->tm[k].at < s->tm[ti].at ||
        (s->tm[k].at == s->tm[ti].at && s->tm[k].seq < s->tm[ti].seq))
      ti = k;
  for (int k = 0; k < s->sc.n_cmd; k++)
    if (!s->sc.cmd[k].done && (ci < 0 || s->sc.cmd[k].at < s->sc.cmd[ci].at))
      ci = k;
  int64_t tf = fi >= 0 ? s->fl[fi].end : INT64_MAX;
  int64_t tt = ti >= 0 ? s->tm[ti].at : INT64_MAX;
  int64_t tc = ci >= 0 ? s->sc.cmd[ci].at : INT64_MAX;
  if (tf == INT64_MAX && tt == INT64_MAX && tc == INT64_MAX)
    return false;
  if (tf <= tt && tf <= tc) {
    struct inflight f = s->fl[fi];
    s->fl[fi] = s->fl[--s->n_fl];
    s->now = f.end;
    struct eng_event ev = {.type = ENG_EV_ATTEMPT_ENDED, .step = f.step, .index = f.index,
                           .attempt = f.attempt, .exit_code = -1, .signal = -1,
                           .http_status = -1};
    if (f.killed) {
      ev.kind = ENG_E_SIGNAL;
      ev.message = "killed by signal 15";
      ev.signal = 15;
    } else if (!f.res || f.res->kind == RES_OK) {
      ev.ok = true;
      ev.outputs = f.res ? f.res->outputs : NULL;
      ev.exit_code = s->wf->steps[f.step].kind <= WF_COMMAND ? 0 : -1;
    } else {
      ev.kind = f.res->ekind;
      ev.message = f.res->message;
      ev.exit_code = f.res->exit_code;
      ev.signal = f.res->sig;
      ev.http_status = f.res->status;
    }
    process(s, engine_apply(s->run, &ev, s->now, &s->fx));
  } else if (tt <= tc) {
    struct timer t = s->tm[ti];
    s->tm[ti] = s->tm[--s->n_tm];
    s->now = t.at > s->now ? t.at : s->now;
    struct eng_event ev = {.type = ENG_EV_TIMER, .token = t.token};
    process(s, engine_apply(s->run, &ev, s->now, &s->fx));
  } else {
    s->now = tc > s->now ? tc : s->now;
    run_command(s, &s->sc.cmd[ci]);
  }
  return true;
}

/* Plays `script` against wf; returns the trace (malloc'd). Checks the
 * invariants every case must keep: when the run finishes no attempt is in
 * flight and no timer is armed; at the end the run is terminal unless some
 * attempt hangs forever, and then every step and instance is terminal too. */
static char *simulate(const struct wf *wf, const char *script)
{
  struct sim *s = calloc(1, sizeof *s);
  cr_assert(s);
  parse_script(script, &s->sc);
  s->wf = wf;
  s->cfg = (struct eng_config){.run_id = "RUN1", .trigger = "manual", .inputs = s->sc.inputs,
                               .max_parallel = s->sc.max_parallel, .seed = s->sc.seed};
  s->store.n_steps = wf->n_steps;
  s->store.steps = calloc(wf->n_steps ? wf->n_steps : 1, sizeof(struct row));
  s->store.inst = calloc(wf->n_steps ? wf->n_steps : 1, sizeof(struct row *));
  s->store.n_inst = calloc(wf->n_steps ? wf->n_steps : 1, sizeof(uint32_t));
  buf_init(&s->out, 1 << 24);
  engine_fx_init(&s->fx);
  cr_assert_eq(engine_new(wf, &s->cfg, &s->run), 0);
  process(s, engine_start(s->run, 0, &s->fx));
  int guard = 0;
  while (advance(s))
    cr_assert(++guard < 100000, "simulation does not end");

  enum eng_run_status rs = engine_run_status(s->run);
  bool hangs = false;
  for (int k = 0; k < s->n_fl; k++)
    hangs |= s->fl[k].end < 0;
  cr_assert(rs >= ENG_RUN_SUCCEEDED || hangs, "run left %s with nothing to wait for:\n%s",
            engine_run_status_name(rs), s->out.p);
  buf_printf(&s->out, "final run %s\n", engine_run_status_name(rs));
  for (uint32_t i = 0; i < wf->n_steps; i++) {
    enum eng_status st = engine_unit_status(s->run, i, -1);
    cr_assert(hangs || engine_status_terminal(st), "step %s left %s", wf->steps[i].id,
              engine_status_name(st));
    buf_printf(&s->out, "final step %s %s", wf->steps[i].id, engine_status_name(st));
    uint32_t n = engine_instance_count(s->run, i);
    for (uint32_t k = 0; k < n; k++) {
      enum eng_status is = engine_unit_status(s->run, i, (int32_t)k);
      cr_assert(hangs || engine_status_terminal(is));
      buf_printf(&s->out, "%s%s", k ? "," : " [", engine_status_name(is));
    }
    buf_printf(&s->out, "%s\n", n ? "]" : "");
  }
  /* the journal is complete: the store built from it agrees with the engine */
  for (uint32_t i = 0; i < wf->n_steps; i++) {
    cr_assert_eq(s->store.steps[i].status, (int)engine_unit_status(s->run, i, -1),
                 "store and engine disagree on step %s", wf->steps[i].id);
    cr_assert_eq(s->store.steps[i].attempts, engine_unit_attempts(s->run, i, -1));
    uint32_t n = engine_instance_count(s->run, i);
    if (!n)
      continue;
    cr_assert_eq(s->store.n_inst[i], n, "instances of %s", wf->steps[i].id);
    for (uint32_t k = 0; k < n; k++) {
      cr_assert_eq(s->store.inst[i][k].status, (int)engine_unit_status(s->run, i, (int32_t)k),
                   "store and engine disagree on %s#%u", wf->steps[i].id, k);
      cr_assert_eq(s->store.inst[i][k].attempts, engine_unit_attempts(s->run, i, (int32_t)k));
    }
  }
  char *out = buf_take(&s->out);
  engine_free(s->run);
  engine_fx_free(&s->fx);
  store_free(&s->store);
  free_script(&s->sc);
  free(s);
  return out;
}

static void run_case(const char *name)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/traces/%s/script.txt", WEFT_SOURCE_DIR, name);
  char *script = slurp(path);
  cr_assert(script, "cannot read %s", path);
  struct wf *wf = NULL;
  struct diag_list d = {0};
  snprintf(path, sizeof path, "%s/tests/traces/%s/workflow.yaml", WEFT_SOURCE_DIR, name);
  int rc = wf_load_file(path, &wf, &d);
  if (rc)
    diag_print(stderr, &d);
  diag_list_free(&d);
  cr_assert_eq(rc, 0, "cannot load %s", path);
  char *got = simulate(wf, script);
  free(script);

  snprintf(path, sizeof path, "%s/tests/traces/%s/expected.txt", WEFT_SOURCE_DIR, name);
  const char *upd = getenv("WEFT_TRACE_UPDATE");
  if (upd && *upd == '1') {
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(got, f);
    fclose(f);
  }
  char *want = slurp(path);
  cr_assert(want, "no %s (run with WEFT_TRACE_UPDATE=1 to create it)", path);
  if (strcmp(want, got)) {
    char apath[1100];
    snprintf(apath, sizeof apath, "/tmp/trace_%s.actual", name);
    FILE *f = fopen(apath, "w");
    if (f) {
      fputs(got, f);
      fclose(f);
    }
    cr_assert_fail("trace %s differs from expected (actual in %s):\n%s", name, apath, got);
  }
  free(want);
  free(got);
  wf_free(wf);
}

#define TRACE(name) \
  Test(traces, name) { run_case(#name); }

TRACE(approval_waiting)
TRACE(approvals_need_no_slot)
TRACE(attempt_timeout)
TRACE(cancel)
TRACE(cancel_during_finally)
TRACE(continue_on_error)
TRACE(expression_error)
TRACE(expression_errors_elsewhere)
TRACE(fail_fast_cancels)
TRACE(finally_after_failure)
TRACE(finally_failure_fails_run)
TRACE(for_each_fail_fast)
TRACE(for_each_failure)
TRACE(for_each_set_outputs)
TRACE(global_max_parallel_for_each)
TRACE(if_failure_always)
TRACE(kinds_and_bodies)
TRACE(linear_chain)
TRACE(max_parallel_limits)
TRACE(outputs_expression_fails_run)
TRACE(recovery_for_each)
TRACE(recovery_interrupted)
TRACE(reserve_dispatch)
TRACE(reserve_crash)
TRACE(repeat_iteration_fails)
TRACE(repeat_set_and_delay)
TRACE(retry_after_restore)
TRACE(retry_backoff_factors)
TRACE(retry_for_each)
TRACE(retry_from)
TRACE(retry_if_and_jitter)
TRACE(retry_in_for_each)
TRACE(run_timeout_during_backoff)
TRACE(run_timeout_kills_running)
TRACE(skip_through_join)
/* control flow beyond plain joins (src/engine/join.c) */
TRACE(skip_carries_down)
TRACE(join_discriminator)
TRACE(join_discriminator_crash)
TRACE(join_partial)
TRACE(join_unreachable)
TRACE(end_failed)
TRACE(end_crash)
TRACE(join_waits_for_slot_crash)
/* cancel: steps and withdrawal on request (src/engine/withdraw.c) */
TRACE(cancel_region)
TRACE(cancel_for_each)
TRACE(cancel_waiting)
TRACE(cancel_crash_before_kill)
TRACE(withdraw_request)
TRACE(withdraw_request_crash)

/* ---- transition tables ------------------------------------------------------ */

Test(tables, step_transitions_are_exactly_the_documented_ones)
{
  /* rows: from; columns: to (pending running waiting retrying succeeded failed skipped cancelled) */
  static const char *const want[ENG_ST__N] = {
    [ENG_PENDING] = "01101111",
    [ENG_RUNNING] = "01111101",
    [ENG_WAITING] = "01111101",
    [ENG_RETRYING] = "01100101",
    [ENG_SUCCEEDED] = "10000000",
    [ENG_FAILED] = "10000000",
    [ENG_SKIPPED] = "10000000",
    [ENG_CANCELLED] = "10000000",
  };
  for (int f = 0; f < ENG_ST__N; f++)
    for (int t = 0; t < ENG_ST__N; t++)
      cr_expect_eq(engine_step_transition_ok(f, t), want[f][t] == '1', "%s -> %s",
                   engine_status_name(f), engine_status_name(t));
  cr_expect(!engine_step_transition_ok(ENG_ST__N, ENG_PENDING));
}

Test(tables, run_transitions_are_exactly_the_documented_ones)
{
  /* columns: queued running waiting succeeded failed cancelled */
  static const char *const want[ENG_RUN__N] = {
    [ENG_RUN_QUEUED] = "010001",    [ENG_RUN_RUNNING] = "001111",
    [ENG_RUN_WAITING] = "010111",   [ENG_RUN_SUCCEEDED] = "010000",
    [ENG_RUN_FAILED] = "010000",    [ENG_RUN_CANCELLED] = "010000",
  };
  for (int f = 0; f < ENG_RUN__N; f++)
    for (int t = 0; t < ENG_RUN__N; t++)
      cr_expect_eq(engine_run_transition_ok(f, t), want[f][t] == '1', "%s -> %s",
                   engine_run_status_name(f), engine_run_status_name(t));
}

Test(tables, names_parse_back)
{
  for (int i = 0; i < ENG_ST__N; i++)
    cr_expect_eq(engine_status_parse(engine_status_name(i)), i);
  for (int i = 0; i < ENG_RUN__N; i++)
    cr_expect_eq(engine_run_status_parse(engine_run_status_name(i)), i);
  for (int i = 0; i < ENG_E__N; i++)
    cr_expect_eq(engine_err_kind_parse(engine_err_kind_name(i)), i);
  cr_expect_eq(engine_status_parse("nope"), -1);
}

/* ---- scale ------------------------------------------------------------------ */

/* CPU time: the machines are shared, wall time says more about the neighbours */
static int64_t cpu_us(void)
{
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static struct wf *load_str(const char *src)
{
  struct wf *wf = NULL;
  struct diag_list d = {0};
  int rc = wf_load_string("<test>", src, strlen(src), &wf, &d);
  if (rc)
    diag_print(stderr, &d);
  diag_list_free(&d);
  cr_assert_eq(rc, 0);
  return wf;
}

/* ---- retry delays ---------------------------------------------------------- */

/* Full jitter: each delay is uniform in [0, the backoff delay]. Played over
 * 200 seeds (deterministic): every delay lies within its bound, and together
 * they cover the whole range (some near 0, some near the bound, mean near
 * half of it), so a jitter that ignores the factor, the cap or the fixed
 * backoff, or one that never jitters, fails. */
Test(retry, jitter_stays_within_the_backoff_delay)
{
  static const char *const steps[] = {"exp", "fix", "capped"};
  /* bound[step][k-1]: delay before attempt k+1 without jitter */
  static const int64_t bound[3][3] = {{1000, 3000, 9000}, {2000, 2000, 0}, {1000, 2500, 2500}};
  struct wf *wf = load_str(
    "name: jitter\nsteps:\n"
    "  exp: {run: call, retry: {attempts: 4, delay: 1s, factor: 3, jitter: true, max_delay: 1h}}\n"
    "  fix: {run: call, retry: {attempts: 3, delay: 2s, backoff: fixed, jitter: true}}\n"
    "  capped: {run: call, retry: {attempts: 4, delay: 1s, factor: 3, jitter: true,"
    " max_delay: 2500ms}}\n");
  int64_t lo[3][3], hi[3][3], sum[3][3];
  int cnt[3][3] = {{0}};
  for (int s = 0; s < 3; s++)
    for (int k = 0; k < 3; k++) {
      lo[s][k] = INT64_MAX;
      hi[s][k] = -1;
      sum[s][k] = 0;
    }
  for (unsigned seed = 1; seed <= 200; seed++) {
    char script[512];
    snprintf(script, sizeof script,
             "seed %u\nmax_parallel 3\nresult exp * fail exit_code exit=1 after=100\n"
             "result fix * fail exit_code exit=1 after=100\n"
             "result capped * fail exit_code exit=1 after=100\n", seed);
    char *trace = simulate(wf, script);
    for (char *line = trace; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
      long long t, due;
      unsigned att;
      char step[32];
      if (sscanf(line, "t=%lld step %31s retrying attempt=%u due=%lld", &t, step, &att, &due) != 4)
        continue;
      int s = 0;
      while (s < 3 && strcmp(step, steps[s]))
        s++;
      cr_assert(s < 3 && att >= 1 && att <= 3 && bound[s][att - 1] > 0, "unexpected: %.80s", line);
      int64_t d = (int64_t)(due - t);
      cr_assert(d >= 0 && d <= bound[s][att - 1], "seed %u: %s attempt %u waits %lld ms, not in [0, %lld]",
                seed, step, att, (long long)d, (long long)bound[s][att - 1]);
      lo[s][att - 1] = d < lo[s][att - 1] ? d : lo[s][att - 1];
      hi[s][att - 1] = d > hi[s][att - 1] ? d : hi[s][att - 1];
      sum[s][att - 1] += d;
      cnt[s][att - 1]++;
    }
    free(trace);
  }
  for (int s = 0; s < 3; s++)
    for (int k = 0; k < 3; k++) {
      int64_t b = bound[s][k];
      if (!b)
        continue;
      cr_assert_eq(cnt[s][k], 200, "%s attempt %d retried %d times", steps[s], k + 1, cnt[s][k]);
      double mean = (double)sum[s][k] / cnt[s][k];
      cr_expect(lo[s][k] <= b / 10 && hi[s][k] >= b - b / 10 && mean > 0.4 * (double)b &&
                  mean < 0.6 * (double)b,
                "%s before attempt %d: delays in [%lld, %lld], mean %.0f; want the whole [0, %lld]",
                steps[s], k + 2, (long long)lo[s][k], (long long)hi[s][k], mean, (long long)b);
    }
  wf_free(wf);
}

Test(scale, million_item_for_each_stays_within_64_bytes_per_instance)
{
  /* scheduling state per instance: the unit arrays plus at most one start-queue slot */
  size_t per = engine_unit_bytes() + sizeof(uint32_t);
  cr_assert_leq(per, 64, "unit arrays cost %zu bytes per instance", per);

  struct wf *wf = load_str("name: big\nsteps:\n"
                           "  fan: {for_each: 1000000, max_parallel: 4, command: [work]}\n");
  struct eng_config cfg = {.run_id = "R", .max_parallel = 4};
  struct eng_run *run = NULL;
  struct eng_effects fx;
  engine_fx_init(&fx);
  cr_assert_eq(engine_new(wf, &cfg, &run), 0);
  size_t before = engine_mem_bytes(run);
  cr_assert_eq(engine_start(run, 0, &fx), 0);
  cr_assert_eq(engine_instance_count(run, 0), 1000000u);
  size_t measured = (engine_mem_bytes(run) - before) / 1000000u;
  fprintf(stderr, "for_each 1,000,000: %zu bytes/instance allocated (%zu in arrays)\n",
          measured, per);
  cr_assert_leq(measured, 64);
  /* the instances run: finish the 4 started ones and check the next 4 start */
  size_t starts = 0;
  for (size_t i = 0; i < fx.n; i++)
    starts += fx.v[i].type == ENG_FX_START;
  cr_assert_eq(starts, 4);
  struct eng_effect first = fx.v[0];
  engine_fx_reset(&fx);
  struct eng_event ev = {.type = ENG_EV_ATTEMPT_ENDED, .step = 0, .index = first.index,
                         .attempt = 1, .ok = true, .exit_code = 0, .signal = -1,
                         .http_status = -1};
  cr_assert_eq(engine_apply(run, &ev, 10, &fx), 0);
  cr_assert_eq(engine_unit_status(run, 0, first.index), ENG_SUCCEEDED);
  cr_assert_eq(engine_unit_status(run, 0, 4), ENG_RUNNING);
  cr_assert_eq(engine_unit_status(run, 0, 5), ENG_PENDING);
  engine_fx_free(&fx);
  engine_free(run);
  wf_free(wf);
}

Test(scale, million_set_instances_keep_outputs_as_text)
{
  struct wf *wf = load_str("name: big\nsteps:\n"
                           "  fan: {for_each: 1000000, set: {i: '${{ .index }}'}}\n"
                           "  last: {needs: fan, set: {n: '${{ .steps.fan.outputs | length }}',"
                           " x: '${{ .steps.fan.outputs[999999].i }}'}}\n");
  int64_t t0 = cpu_us();
  struct eng_config cfg = {.run_id = "R", .max_parallel = 4};
  struct eng_run *run = NULL;
  struct eng_effects fx;
  engine_fx_init(&fx);
  cr_assert_eq(engine_new(wf, &cfg, &run), 0);
  size_t before = engine_mem_bytes(run);
  cr_assert_eq(engine_start(run, 0, &fx), 0);
  size_t after = engine_mem_bytes(run);
  cr_assert_eq(engine_run_status(run), ENG_RUN_SUCCEEDED);
  fprintf(stderr, "for_each 1,000,000 set instances: %zu bytes/instance incl. outputs, %.2f s cpu\n",
          (after - before) / 1000000u, (double)(cpu_us() - t0) / 1e6);
  const json_t *last = NULL;
  for (size_t i = 0; i < fx.nj; i++)
    if (fx.j[i].type == ENG_J_UNIT && fx.j[i].step == 1 && fx.j[i].status == ENG_SUCCEEDED)
      last = fx.j[i].outputs;
  cr_assert(last);
  cr_expect_eq(json_integer_value(json_object_get(last, "n")), 1000000);
  cr_expect_eq(json_integer_value(json_object_get(last, "x")), 999999);
  engine_fx_free(&fx);
  engine_free(run);
  wf_free(wf);
}

/* Throughput of pure steps: prints the time (no timed assertion; bench numbers
 * are in docs/internals/engine.md). shape 0: a chain; 1: layers of 100 steps,
 * each needing two steps of the layer before. */
static void set_steps_run(int shape, int n)
{
  struct buf y;
  buf_init(&y, 1 << 24);
  buf_printf(&y, "name: many\nsteps:\n  s0: {set: {v: 0}}\n");
  for (int i = 1; i < n; i++) {
    if (shape == 0) {
      buf_printf(&y, "  s%d: {needs: s%d, set: {v: '${{ .steps.s%d.outputs.v }}'}}\n", i,
                 i - 1, i - 1);
    } else if (i < 100) {
      buf_printf(&y, "  s%d: {set: {v: %d}}\n", i, i);
    } else {
      int a = i - 100, b = (i / 100 - 1) * 100 + (i + 37) % 100;
      if (a == b)
        b = (i / 100 - 1) * 100 + (i + 1) % 100;
      buf_printf(&y, "  s%d: {needs: [s%d, s%d], set: {v: '${{ .steps.s%d.outputs.v }}'}}\n",
                 i, a, b, a);
    }
  }
  struct wf *wf = load_str(y.p);
  buf_free(&y);
  struct eng_config cfg = {.run_id = "R", .max_parallel = 4};
  struct eng_run *run = NULL;
  struct eng_effects fx;
  engine_fx_init(&fx);
  cr_assert_eq(engine_new(wf, &cfg, &run), 0);
  int64_t t0 = cpu_us();
  cr_assert_eq(engine_start(run, 0, &fx), 0);
  int64_t t1 = cpu_us();
  cr_assert_eq(engine_run_status(run), ENG_RUN_SUCCEEDED);
  cr_assert_eq(engine_unit_status(run, (uint32_t)n - 1, -1), ENG_SUCCEEDED);
  fprintf(stderr, "%s of %d set steps: %.2f us/step, %.0f steps/s (cpu), %zu journal entries\n",
          shape ? "layered DAG" : "chain", n, (double)(t1 - t0) / n,
          n * 1e6 / (double)(t1 - t0 ? t1 - t0 : 1), fx.nj);
  engine_fx_free(&fx);
  engine_free(run);
  wf_free(wf);
}

Test(scale, chain_of_10000_set_steps_succeeds) { set_steps_run(0, 10000); }
Test(scale, layered_dag_of_10000_set_steps_succeeds) { set_steps_run(1, 10000); }

/* ---- effects ------------------------------------------------------------------ */

Test(effects, start_carries_idempotency_key_item_and_attempt)
{
  struct wf *wf = load_str("name: k\nsteps:\n"
                           "  fan: {for_each: '${{ [\"x\", {\"y\": 1}] }}', command: [w]}\n"
                           "  one: {run: echo}\n");
  struct eng_config cfg = {.run_id = "01RUN", .max_parallel = 8};
  struct eng_run *run = NULL;
  struct eng_effects fx;
  engine_fx_init(&fx);
  cr_assert_eq(engine_new(wf, &cfg, &run), 0);
  cr_assert_eq(engine_start(run, 5, &fx), 0);
  int seen = 0;
  for (size_t i = 0; i < fx.n; i++) {
    const struct eng_effect *e = &fx.v[i];
    if (e->type != ENG_FX_START)
      continue;
    seen++;
    cr_expect_eq(e->attempt, 1);
    if (e->index == 1) {
      cr_expect_str_eq(e->idem_key, "01RUN/fan/1");
      cr_expect_eq(json_integer_value(json_object_get(e->item, "y")), 1);
    } else if (e->index == 0) {
      cr_expect_str_eq(e->idem_key, "01RUN/fan/0");
      cr_expect_str_eq(json_string_value(e->item), "x");
    } else {
      cr_expect_str_eq(e->idem_key, "01RUN/one");
      cr_expect_null(e->item);
    }
  }
  cr_expect_eq(seen, 3);
  engine_fx_free(&fx);
  engine_free(run);
  wf_free(wf);
}

/* Durable dispatch: with 2 slots the engine keeps 2 + 16 units reserved and
 * asks for a commit once fewer than 2 + 8 committed ones are left, i.e.
 * before the exits run out of early starts, not after; and never just
 * because fewer units wait than that. */
Test(effects, reservations_ask_for_a_commit_while_some_are_left)
{
  struct buf y;
  buf_init(&y, 1 << 20);
  buf_printf(&y, "name: r\nmax_parallel: 2\nsteps:\n");
  for (int i = 0; i < 30; i++)
    buf_printf(&y, "  s%d: {command: [t]}\n", i);
  struct wf *wf = load_str(y.p);
  buf_free(&y);
  struct eng_config cfg = {.run_id = "01RUN", .max_parallel = 2};
  struct eng_run *run = NULL;
  struct eng_effects fx;
  engine_fx_init(&fx);
  cr_assert_eq(engine_new(wf, &cfg, &run), 0);
  cr_assert_eq(engine_start(run, 0, &fx), 0);
  cr_assert_eq(engine_reserve(run, 0, 1, &fx), 0);
  size_t reserved = 0;
  for (size_t i = 0; i < fx.nj; i++)
    reserved += fx.j[i].type == ENG_J_RESERVE;
  cr_assert_eq(reserved, 18, "reserved %zu", reserved);
  cr_assert(engine_reserve_low(run, 0), "nothing committed yet");
  cr_assert_not(engine_reserve_low(run, 1), "18 committed");
  engine_durable(run, 1);
  /* finish attempts one by one: each exit starts the next unit early */
  uint32_t running[2];
  int n_running = 0;
  for (size_t i = 0; i < fx.n; i++)
    if (fx.v[i].type == ENG_FX_START)
      running[n_running++] = fx.v[i].step;
  cr_assert_eq(n_running, 2);
  int ended = 0;
  bool low = false;
  while (!low) {
    engine_fx_reset(&fx);
    struct eng_event ev = {.type = ENG_EV_ATTEMPT_ENDED, .step = running[0], .index = -1,
                           .attempt = 1, .ok = true, .exit_code = 0, .signal = -1,
                           .http_status = -1};
    cr_assert_eq(engine_apply(run, &ev, 1, &fx), 0);
    ended++;
    running[0] = running[1];
    for (size_t i = 0; i < fx.n; i++)
      if (fx.v[i].type == ENG_FX_START) {
        cr_assert(fx.v[i].early, "exit %d: the next unit starts early", ended);
        running[1] = fx.v[i].step;
      }
    low = engine_reserve_low(run, 1);
    cr_assert_leq(ended, 18);
  }
  /* 18 reserved beyond the 2 running; low once fewer than 10 are left (the
   * slots alone, 2, would have waited for 17 exits: too late for the sync) */
  cr_assert_eq(ended, 9, "asked for a commit after %d exits", ended);
  engine_fx_free(&fx);
  engine_free(run);
  wf_free(wf);

  /* 7 steps: 2 run, the 5 waiting are all reserved and committed */
  buf_init(&y, 1 << 20);
  buf_printf(&y, "name: r\nmax_parallel: 2\nsteps:\n");
  for (int i = 0; i < 7; i++)
    buf_printf(&y, "  s%d: {command: [t]}\n", i);
  wf = load_str(y.p);
  buf_free(&y);
  engine_fx_init(&fx);
  cr_assert_eq(engine_new(wf, &cfg, &run), 0);
  cr_assert_eq(engine_start(run, 0, &fx), 0);
  cr_assert_eq(engine_reserve(run, 0, 1, &fx), 0);
  cr_assert(engine_reserve_low(run, 0));
  cr_assert_not(engine_reserve_low(run, 1), "all 5 waiting units are reserved");
  engine_fx_free(&fx);
  engine_free(run);
  wf_free(wf);
}

/* Every repeat iteration is an attempt; repeat.max goes to 2^31, so attempt
 * numbers must not stop at 65,535 (they did, as u16: a long repeat then
 * showed one attempt number and one log path for all later iterations). */
Test(effects, a_long_repeat_counts_every_attempt)
{
  struct wf *wf = load_str("name: r\nsteps:\n"
                           "  poll: {set: {x: 1}, repeat: {until: '${{ .iteration == 70000 }}',"
                           " max: 100000}}\n");
  struct eng_config cfg = {.run_id = "01RUN", .max_parallel = 1};
  struct eng_run *run = NULL;
  struct eng_effects fx;
  engine_fx_init(&fx);
  cr_assert_eq(engine_new(wf, &cfg, &run), 0);
  cr_assert_eq(engine_start(run, 0, &fx), 0);
  cr_assert_eq(engine_unit_status(run, 0, -1), ENG_SUCCEEDED);
  cr_assert_eq(engine_unit_attempts(run, 0, -1), 70000);
  const struct eng_jent *last = NULL;
  for (size_t i = 0; i < fx.nj; i++)
    if (fx.j[i].type == ENG_J_UNIT && fx.j[i].step == 0)
      last = &fx.j[i];
  cr_assert_not_null(last);
  cr_assert_eq(last->attempts, 70000);
  cr_assert_eq(last->iteration, 70000);
  engine_fx_free(&fx);
  engine_free(run);
  wf_free(wf);
}

Test(effects, secrets_inputs_and_event_reach_expressions)
{
  struct wf *wf = load_str("name: k\ninputs:\n  n: {type: integer, default: 2}\nsteps:\n"
                           "  s: {set: {tok: '${{ .secrets.token }}', n: '${{ .inputs.n }}',"
                           " ev: '${{ .event.id }}'}}\n");
  json_t *sec = json_pack("{s:s}", "token", "abc"), *ev = json_pack("{s:i}", "id", 9);
  struct eng_config cfg = {.run_id = "R", .secrets = sec, .event = ev};
  struct eng_run *run = NULL;
  struct eng_effects fx;
  engine_fx_init(&fx);
  cr_assert_eq(engine_new(wf, &cfg, &run), 0);
  json_decref(sec);
  json_decref(ev);
  cr_assert_eq(engine_start(run, 0, &fx), 0);
  cr_assert_eq(engine_run_status(run), ENG_RUN_SUCCEEDED);
  const json_t *outs = NULL;
  for (size_t i = 0; i < fx.nj; i++)
    if (fx.j[i].type == ENG_J_UNIT && fx.j[i].status == ENG_SUCCEEDED)
      outs = fx.j[i].outputs;
  cr_assert(outs);
  cr_expect_str_eq(json_string_value(json_object_get(outs, "tok")), "abc");
  cr_expect_eq(json_integer_value(json_object_get(outs, "n")), 2);
  cr_expect_eq(json_integer_value(json_object_get(outs, "ev")), 9);
  engine_fx_free(&fx);
  engine_free(run);
  wf_free(wf);
}

Test(effects, stale_events_are_ignored)
{
  struct wf *wf = load_str("name: k\nsteps:\n  a: {run: a}\n");
  struct eng_config cfg = {.run_id = "R"};
  struct eng_run *run = NULL;
  struct eng_effects fx;
  engine_fx_init(&fx);
  cr_assert_eq(engine_new(wf, &cfg, &run), 0);
  cr_assert_eq(engine_start(run, 0, &fx), 0);
  engine_fx_reset(&fx);
  struct eng_event ev = {.type = ENG_EV_ATTEMPT_ENDED, .step = 0, .index = -1, .attempt = 7,
                         .ok = true, .exit_code = 0, .signal = -1, .http_status = -1};
  cr_assert_eq(engine_apply(run, &ev, 1, &fx), 0); /* wrong attempt */
  cr_expect_eq(fx.nj, 0);
  ev.index = 3; /* not a for_each */
  ev.attempt = 1;
  cr_assert_eq(engine_apply(run, &ev, 1, &fx), 0);
  cr_expect_eq(fx.nj, 0);
  struct eng_event tm = {.type = ENG_EV_TIMER, .token = 12345};
  cr_assert_eq(engine_apply(run, &tm, 1, &fx), 0);
  cr_expect_eq(fx.nj, 0);
  cr_expect_eq(engine_unit_status(run, 0, -1), ENG_RUNNING);
  engine_fx_free(&fx);
  engine_free(run);
  wf_free(wf);
}

/* ---- random workflows ------------------------------------------------------------ */

static uint64_t rnd_state;
static uint32_t rnd(uint32_t n)
{
  rnd_state ^= rnd_state << 13;
  rnd_state ^= rnd_state >> 7;
  rnd_state ^= rnd_state << 17;
  return n ? (uint32_t)(rnd_state % n) : 0;
}

/* A random workflow and script; every hang is bounded by a timeout or a cancel. */
static void random_case(uint64_t seed, struct buf *y, struct buf *sc)
{
  rnd_state = seed * 2654435761u + 1;
  int n = 3 + (int)rnd(10), nf = (int)rnd(3);
  bool run_timeout = rnd(3) == 0, cancel = rnd(5) == 0, crash = rnd(4) == 0;
  buf_printf(y, "name: random\nmax_parallel: %u\ninputs: {x: {type: integer}}\n", 1 + rnd(4));
  if (rnd(4) == 0)
    buf_printf(y, "fail_fast: true\n");
  if (run_timeout)
    buf_printf(y, "timeout: %us\n", 5 + rnd(20));
  buf_printf(sc, "seed %llu\n", (unsigned long long)seed);
  if (seed % 2) /* half of them with durable dispatch (engine_reserve) */
    buf_printf(sc, "reserve\n");
  for (int i = 0; i < n + nf; i++) {
    if (i == 0)
      buf_printf(y, "steps:\n");
    if (i == n)
      buf_printf(y, "finally:\n");
    bool fin = i >= n;
    buf_printf(y, "  s%d:\n", i);
    int lo = fin ? n : 0, k = (int)rnd(3);
    /* partial joins and end steps (join.c) from bits of the seed, so the rnd()
     * sequence, and every other case, stays what it was before they existed */
    uint64_t fl = (seed * 0x9E3779B97F4A7C15ull) >> ((unsigned)i % 16 * 4);
    bool end = !fin && (fl & 3) == 0;
    /* cancel steps (withdraw.c) the same way: a join that withdraws a later
     * main step (never upstream of it) */
    uint64_t cb = (seed * 0xC2B2AE3D27D4EB4Full) >> ((unsigned)i % 8 * 8);
    bool cancel_step = !fin && !end && i + 1 < n && (cb & 3) == 0;
    if (i > lo && k) {
      uint32_t a = lo + rnd((uint32_t)(i - lo)), b = lo + rnd((uint32_t)(i - lo));
      if (k == 2 && a != b && !fin && ((fl >> 2) & 3) == 0)
        buf_printf(y, "    needs: {any: [s%u, s%u], count: %u, cancel_rest: %s}\n", a, b,
                   1 + (unsigned)((fl >> 4) & 1), (fl >> 5) & 1 ? "true" : "false");
      else if (k == 1 || a == b)
        buf_printf(y, "    needs: [s%u]\n", a);
      else
        buf_printf(y, "    needs: [s%u, s%u]\n", a, b);
    }
    uint32_t kind = rnd(20);
    bool timeout = rnd(3) == 0, fe = kind >= 17;
    bool can_hang = timeout || run_timeout || cancel;
    if (kind < 4)
      buf_printf(y, "    set: {v: '${{ .inputs.x // %d }}'}\n", i);
    else if (kind < 5 && end)
      buf_printf(y, "    end: {status: %s}\n", (fl >> 6) & 1 ? "failed" : "succeeded");
    else if (kind < 5 && cancel_step)
      buf_printf(y, "    cancel: [s%u]\n", (unsigned)(i + 1 + (int)((cb >> 2) % (uint64_t)(n - 1 - i))));
    else if (kind < 5)
      buf_printf(y, "    description: a join\n");
    else if (kind < 6)
      buf_printf(y, "    approval: {message: ok?}\n");
    else if (kind < 9)
      buf_printf(y, "    command: [work, '${{ .run.status }}']\n");
    else
      buf_printf(y, "    run: work\n");
    if (fe)
      buf_printf(y, "    for_each: %u\n    max_parallel: %u\n", 1 + rnd(4), 1 + rnd(3));
    if (rnd(3) == 0)
      buf_printf(y, "    retry: {attempts: %u, delay: %ums%s}\n", 1 + rnd(3), rnd(3000),
                 rnd(2) ? ", jitter: true" : "");
    if (timeout)
      buf_printf(y, "    timeout: %us\n", 1 + rnd(3));
    if (rnd(7) == 0)
      buf_printf(y, "    continue_on_error: true\n");
    uint32_t cond = rnd(10);
    if (cond == 0)
      buf_printf(y, "    if: '${{ failure }}'\n");
    else if (cond == 1)
      buf_printf(y, "    if: always\n");
    if (rnd(8) == 0 && kind >= 4 && !(kind < 5 && (end || cancel_step)))
      buf_printf(y, "    repeat: {until: '${{ .iteration >= 2 }}', max: 3, delay: %ums}\n",
                 rnd(2) * 500);
    for (int a = 1; a <= 4; a++) {
      uint32_t o = rnd(10);
      if (o < 6)
        buf_printf(sc, "result s%d %d ok after=%u\n", i, a, 10 + rnd(2000));
      else if (o < 9 || !can_hang)
        buf_printf(sc, "result s%d %d fail exit_code exit=%u after=%u\n", i, a, 1 + rnd(3),
                   10 + rnd(2000));
      else
        buf_printf(sc, "result s%d %d hang\n", i, a);
    }
  }
  if (cancel)
    buf_printf(sc, "at %u cancel\n", rnd(8000));
  if (crash)
    buf_printf(sc, "at %u crash\n", rnd(8000));
  if (crash && rnd(2))
    buf_printf(sc, "at %u crash\n", rnd(8000));
  uint32_t again = rnd(6);
  if (again == 0)
    buf_printf(sc, "at 1000000 retry\n");
  else if (again == 1)
    buf_printf(sc, "at 1000000 retry s%u\n", rnd((uint32_t)(n + nf)));
  if (again <= 1 && rnd(2))
    buf_printf(sc, "at %u crash\n", 1000000 + rnd(3000));
  uint64_t wb = seed * 0xD6E8FEB86659FD93ull >> 40; /* seed bits again, not rnd() */
  if ((wb & 3) == 0) /* `weft cancel --step` of a main step */
    buf_printf(sc, "at %u withdraw s%u\n", (unsigned)((wb >> 2) % 6000), (unsigned)((wb >> 16) % (uint64_t)n));
}

Test(random, random_workflows_end_terminal_and_replay_identically)
{
  int played = 0;
  const char *only = getenv("WEFT_RANDOM_SEED"), *many = getenv("WEFT_RANDOM_N");
  uint64_t n_seeds = many ? strtoull(many, NULL, 10) : 300;
  for (uint64_t seed = 1; seed <= n_seeds; seed++) {
    if (only && strtoull(only, NULL, 10) != seed) {
      played++;
      continue;
    }
    struct buf y, sc;
    buf_init(&y, 1 << 20);
    buf_init(&sc, 1 << 20);
    random_case(seed, &y, &sc);
    struct wf *wf = NULL;
    struct diag_list d = {0};
    int rc = wf_load_string("<random>", y.p, y.len, &wf, &d);
    if (rc) {
      diag_print(stderr, &d);
      fprintf(stderr, "%s", y.p);
    }
    diag_list_free(&d);
    cr_assert_eq(rc, 0, "seed %llu: generated workflow does not load",
                 (unsigned long long)seed);
    if (getenv("WEFT_RANDOM_VERBOSE"))
      fprintf(stderr, "seed %llu\n%s\n%s\n", (unsigned long long)seed, y.p, sc.p);
    char *a = simulate(wf, sc.p);
    char *b = simulate(wf, sc.p);
    cr_assert_str_eq(a, b, "seed %llu: two plays differ", (unsigned long long)seed);
    played++;
    free(a);
    free(b);
    wf_free(wf);
    buf_free(&y);
    buf_free(&sc);
  }
  cr_assert_eq((uint64_t)played, n_seeds);
}

/* The journal spill (engine_set_spill): a call whose journal grows long hands
 * it over every ENG_JOURNAL_SPILL new entries; what was spilled plus what is
 * left is the very journal a call without a spill gives, in the same order. */
struct spilled {
  struct eng_jent *v;
  size_t n, calls;
  bool fail;
};

static int record_spill(void *ud, struct eng_effects *fx)
{
  struct spilled *s = ud;
  cr_expect_eq(fx->nj - fx->nj_written, (size_t)ENG_JOURNAL_SPILL);
  s->calls++;
  if (s->fail)
    return WEFT_EIO;
  for (size_t i = fx->nj_written; i < fx->nj; i++) {
    s->v = realloc(s->v, (s->n + 1) * sizeof *s->v);
    s->v[s->n] = fx->j[i];
    s->v[s->n].error = s->v[s->n].outputs = NULL;
    s->v[s->n++].outputs_text = NULL;
    json_decref(fx->j[i].error);
    json_decref(fx->j[i].outputs);
  }
  fx->nj = fx->nj_written = 0; /* all written, none kept */
  return 0;
}

static bool same_entry(const struct eng_jent *a, const struct eng_jent *b)
{
  return a->type == b->type && a->step == b->step && a->index == b->index &&
         a->status == b->status && a->attempts == b->attempts && a->n == b->n;
}

Test(scale, a_long_journal_is_spilled_in_order)
{
  struct wf *wf = load_str("name: big\nsteps:\n"
                           "  fan: {for_each: 40000, set: {i: '${{ .index }}'}}\n"
                           "  last: {needs: fan, set: {n: 1}}\n");
  struct eng_config cfg = {.run_id = "R", .max_parallel = 4};
  struct eng_run *plain = NULL, *run = NULL;
  struct eng_effects all, fx;
  engine_fx_init(&all);
  engine_fx_init(&fx);
  cr_assert_eq(engine_new(wf, &cfg, &plain), 0);
  cr_assert_eq(engine_start(plain, 0, &all), 0);
  cr_assert_gt(all.nj, 2 * (size_t)ENG_JOURNAL_SPILL);

  struct spilled s = {0};
  cr_assert_eq(engine_new(wf, &cfg, &run), 0);
  engine_set_spill(run, record_spill, &s);
  cr_assert_eq(engine_start(run, 0, &fx), 0);
  cr_assert_eq(engine_run_status(run), ENG_RUN_SUCCEEDED);
  cr_expect_eq(s.calls, all.nj / ENG_JOURNAL_SPILL);
  cr_assert_eq(s.n + fx.nj, all.nj);
  for (size_t i = 0; i < all.nj; i++)
    cr_assert(same_entry(i < s.n ? &s.v[i] : &fx.j[i - s.n], &all.j[i]), "entry %zu", i);
  free(s.v);
  engine_fx_free(&fx);
  engine_free(run);

  /* a spill that fails fails the call */
  struct spilled bad = {.fail = true};
  cr_assert_eq(engine_new(wf, &cfg, &run), 0);
  engine_set_spill(run, record_spill, &bad);
  engine_fx_init(&fx);
  cr_expect_neq(engine_start(run, 0, &fx), 0);
  cr_expect_eq(bad.calls, 1);
  engine_fx_free(&fx);
  engine_free(run);
  engine_fx_free(&all);
  engine_free(plain);
  wf_free(wf);
}
