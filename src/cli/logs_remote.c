/* logs_remote.c — `weft logs` against a server: GET /api/v1/runs/{id}/logs/
 * {step}?index=&attempt=&follow=1, one call per step (or instance), printed
 * as the local command prints the same logs: with `[step] ` / `[step[i]] `
 * before each line when more than one log is shown or no step was named.
 *
 * Which logs: with STEP, that step (every instance of a for_each step
 * without :INDEX); without, every step of the run with an attempt, in the
 * order `weft status` lists them (steps that run no program answer 404 and
 * are skipped). -f follows one named step: its attempts until the run ends. */
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/logs_remote.h"
#include "cli/runsrc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/ops.h"

static void nap(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* One log: 0 printed, EXIT_NOT_FOUND none (quiet), else the exit code (printed). */
static int one(struct runsrc *x, const char *run, const char *step, int index, int attempt, bool follow,
               bool quiet_404, const char *prefix)
{
  char *er = remote_escape(run), *es = remote_escape(step), *path = NULL;
  char q[96] = "";
  size_t n = 0;
  if (index >= 0)
    n += (size_t)snprintf(q + n, sizeof q - n, "%sindex=%d", n ? "&" : "?", index);
  if (attempt > 0)
    n += (size_t)snprintf(q + n, sizeof q - n, "%sattempt=%d", n ? "&" : "?", attempt);
  if (follow)
    snprintf(q + n, sizeof q - n, "%sfollow=1", n ? "&" : "?");
  int code = EXIT_USAGE;
  if (er && es && asprintf(&path, "/api/v1/runs/%s/logs/%s%s", er, es, q) >= 0)
    code = remote_stream(&x->r, path, prefix, quiet_404, NULL);
  else
    cli_err("out of memory");
  free(er);
  free(es);
  free(path);
  return code;
}

/* The logs of one step of the status object j: its own, or each instance's. */
static int step_logs(struct runsrc *x, const char *run, const char *step, const json_t *st, int attempt,
                     bool prefix, bool *any)
{
  const json_t *inst = json_object_get(st, "instances");
  if (!json_is_array(inst)) {
    if (json_integer_value(json_object_get(st, "attempts")) < 1)
      return 0;
    char pre[200];
    snprintf(pre, sizeof pre, "[%s] ", step);
    int code = one(x, run, step, -1, attempt, false, true, prefix ? pre : NULL);
    if (code == 0)
      *any = true;
    return code == EXIT_NOT_FOUND ? 0 : code;
  }
  size_t i;
  const json_t *v;
  json_array_foreach(inst, i, v) {
    if (json_integer_value(json_object_get(v, "attempts")) < 1)
      continue;
    int ix = (int)json_integer_value(json_object_get(v, "index"));
    char pre[200];
    snprintf(pre, sizeof pre, "[%s[%d]] ", step, ix);
    int code = one(x, run, step, ix, attempt, false, true, prefix ? pre : NULL);
    if (code == 0)
      *any = true;
    else if (code != EXIT_NOT_FOUND)
      return code;
  }
  return 0;
}

/* attempts of a step (index < 0) or of one of its instances in a status object */
static int attempts_of(const json_t *j, const char *step, int index)
{
  const json_t *st = json_object_get(json_object_get(j, "steps"), step);
  if (index < 0)
    return (int)json_integer_value(json_object_get(st, "attempts"));
  size_t i;
  const json_t *v;
  json_array_foreach(json_object_get(st, "instances"), i, v)
    if (json_integer_value(json_object_get(v, "index")) == index)
      return (int)json_integer_value(json_object_get(v, "attempts"));
  return 0;
}

/* STEP:INDEX past a for_each step's instances: said as cli/logsel.c's
 * logsel_past_instances says it locally (from instance_counts); true then. */
static bool past_instances(const char *run, const char *step, const json_t *st, int index)
{
  size_t count = 0;
  const char *k;
  json_t *v;
  json_object_foreach(json_object_get(st, "instance_counts"), k, v)
    count += (size_t)json_integer_value(v);
  if ((size_t)index < count)
    return false;
  if (count == 0)
    cli_err("step \"%s\" of run %.8s has no instances yet; `weft status %.8s` shows it", step, run, run);
  else
    cli_err("step \"%s\" of run %.8s has %zu instance%s (%s:0 to %s:%zu); there is no %s:%d", step, run, count,
            count == 1 ? "" : "s", step, step, count - 1, step, index);
  return true;
}

/* ---- -f of several logs -------------------------------------------------- */

struct seen {
  char key[200]; /* step[index]#attempt */
  size_t off;    /* bytes printed */
};

/* New bytes of one log since its last look, each line prefixed (a last
 * line without its newline gets one, as the local copy does). */
static void tail_new(struct runsrc *x, const char *run, const char *step, int index, int attempt,
                     struct seen **v, size_t *n)
{
  char key[200];
  snprintf(key, sizeof key, "%s[%d]#%d", step, index, attempt);
  struct seen *e = NULL;
  for (size_t i = 0; i < *n; i++)
    if (!strcmp((*v)[i].key, key))
      e = &(*v)[i];
  if (!e) {
    struct seen *g = realloc(*v, (*n + 1) * sizeof *g);
    if (!g)
      return;
    *v = g;
    e = &g[(*n)++];
    memset(e, 0, sizeof *e);
    snprintf(e->key, sizeof e->key, "%s", key);
  }
  char *er = remote_escape(run), *es = remote_escape(step), *path = NULL, *body = NULL;
  size_t len = 0;
  char q[64];
  if (index >= 0)
    snprintf(q, sizeof q, "?index=%d&attempt=%d", index, attempt);
  else
    snprintf(q, sizeof q, "?attempt=%d", attempt);
  x->r.quiet = true;
  if (er && es && asprintf(&path, "/api/v1/runs/%s/logs/%s%s", er, es, q) >= 0 &&
      remote_call(&x->r, "GET", path, NULL, NULL, 0, NULL, &body, &len) == 0 && len > e->off) {
    char pre[200];
    if (index >= 0)
      snprintf(pre, sizeof pre, "[%s[%d]] ", step, index);
    else
      snprintf(pre, sizeof pre, "[%s] ", step);
    for (size_t i = e->off; i < len;) {
      const char *nl = memchr(body + i, '\n', len - i);
      size_t end = nl ? (size_t)(nl - body) + 1 : len;
      fputs(pre, stdout);
      fwrite(body + i, 1, end - i, stdout);
      if (!nl)
        fputc('\n', stdout);
      i = end;
    }
    e->off = len;
    fflush(stdout);
  }
  x->r.quiet = false;
  free(er);
  free(es);
  free(path);
  free(body);
}

/* -f of every step (only = NULL) or of every instance of one for_each step:
 * as the local command, each log's new lines prefixed, the newest attempt of
 * each, until the run ends (then read once more). */
static int follow_many(struct runsrc *x, const char *run, const char *only, int attempt)
{
  struct seen *v = NULL;
  size_t n = 0;
  int code = 0;
  for (bool last = false;;) {
    json_t *j = NULL;
    if ((code = runsrc_get(x, run, true, true, &j)) != 0) {
      code = 0;
      break;
    }
    bool ended = ops_status_terminal(json_string_value(json_object_get(j, "status")));
    const char *k;
    json_t *st;
    json_object_foreach(json_object_get(j, "steps"), k, st) {
      if (only && strcmp(k, only))
        continue;
      const json_t *inst = json_object_get(st, "instances");
      if (!json_is_array(inst)) {
        int att = attempt ? attempt : (int)json_integer_value(json_object_get(st, "attempts"));
        if (att >= 1)
          tail_new(x, run, k, -1, att, &v, &n);
        continue;
      }
      size_t i;
      json_t *in;
      json_array_foreach(inst, i, in) {
        int att = attempt ? attempt : (int)json_integer_value(json_object_get(in, "attempts"));
        if (att >= 1)
          tail_new(x, run, k, (int)json_integer_value(json_object_get(in, "index")), att, &v, &n);
      }
    }
    json_decref(j);
    if (last)
      break;
    last = ended; /* everything is read once more after the run ended */
    if (!ended)
      nap(500);
  }
  free(v);
  return code;
}

int logs_remote(struct cli *c, const char *run_arg, const char *step_arg, const char *step, int index,
                bool has_index, int attempt, bool follow)
{
  struct runsrc x;
  int code = runsrc_open(c, &x);
  if (code)
    return code;
  json_t *j = NULL;
  if ((code = runsrc_get(&x, run_arg, true, false, &j)) != 0)
    goto out;
  const char *run = json_string_value(json_object_get(j, "id"));
  const json_t *steps = json_object_get(j, "steps");
  if (!step) {
    if (follow) {
      code = follow_many(&x, run, NULL, attempt);
      goto out;
    }
    bool any = false;
    const char *k;
    json_t *st;
    json_object_foreach((json_t *)steps, k, st) {
      if ((code = step_logs(&x, run, k, st, attempt, true, &any)) != 0)
        goto out;
    }
    if (!any)
      printf("run %.8s has no step output yet\n", run);
    goto out;
  }
  const json_t *st = json_object_get(steps, step);
  if (!st) {
    cli_err("run %.8s has no step \"%s\"; `weft status %.8s` lists its steps", run, step, run);
    code = EXIT_NOT_FOUND;
    goto out;
  }
  if (!follow) {
    if (!has_index && json_is_array(json_object_get(st, "instances"))) {
      /* prefixed as locally: when more than one instance has run */
      size_t i, ran = 0;
      const json_t *v;
      json_array_foreach(json_object_get(st, "instances"), i, v)
        ran += json_integer_value(json_object_get(v, "attempts")) >= 1;
      bool any = false;
      if ((code = step_logs(&x, run, step, st, attempt, ran > 1, &any)) == 0 && !any) {
        cli_err("no output recorded for %s in run %.8s%s", step_arg, run,
                attempt ? " at that attempt" : " (it has not run a program yet)");
        code = EXIT_NOT_FOUND;
      }
      goto out;
    }
    if (has_index && json_is_array(json_object_get(st, "instances")) && past_instances(run, step, st, index)) {
      code = EXIT_NOT_FOUND;
      goto out;
    }
    code = one(&x, run, step, has_index ? index : -1, attempt, false, false, NULL);
    goto out;
  }
  if (!has_index && json_is_array(json_object_get(st, "instances"))) {
    code = follow_many(&x, run, step, attempt); /* every instance of a for_each step */
    goto out;
  }
  /* -f: the attempt named (or the last), then each newer one until the run ends */
  int idx = has_index ? index : -1;
  int latest = attempts_of(j, step, idx);
  int att = attempt ? attempt : latest > 0 ? latest : 1;
  for (;;) {
    code = one(&x, run, step, idx, att, true, true, NULL);
    if (code && code != EXIT_NOT_FOUND)
      goto out;
    bool got = code == 0;
    if (attempt)
      break;
    for (;;) {
      json_t *now = NULL;
      if (runsrc_get(&x, run, false, true, &now) != 0)
        goto done;
      bool ended = ops_status_terminal(json_string_value(json_object_get(now, "status")));
      latest = attempts_of(now, step, idx);
      json_decref(now);
      if (latest > att) { /* a newer attempt started */
        att++;
        break;
      }
      if (!got && latest == att)
        break; /* the attempt waited for has started */
      if (ended)
        goto done; /* everything was read after the run ended */
      nap(500);
    }
  }
done:
  code = 0;
out:
  json_decref(j);
  runsrc_close(&x);
  return code;
}
