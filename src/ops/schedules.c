/* schedules.c — schedule triggers over the store (ops.h, SERVER.md §3):
 * the schedules table kept in step with the newest deployed versions
 * (sync), firing the due rows (fire: one transaction per scheduled time,
 * holding the run's creation and the row's advance), `weft schedules` /
 * GET /schedules (list) and `weft backfill` (backfill). The pure rules are
 * sched/plan.h; the server's timer is server/sched_loop.c. */
#include "ops/ops.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/deployed.h"
#include "sched/cron.h"
#include "sched/plan.h"
#include "sched/trigger.h"
#include "sched/tz.h"
#include "util/wtime.h"

/* A schedule trigger's rules, parsed. */
struct sdef {
  struct cron cron;
  struct tz *tz; /* NULL: UTC */
  enum sched_catch_up catch_up;
  enum sched_overlap overlap;
};

static int sdef_load(const json_t *def, struct sdef *d, char *msg, size_t msglen)
{
  memset(d, 0, sizeof *d);
  const char *expr = json_string_value(json_object_get(def, "schedule"));
  const char *zone = json_string_value(json_object_get(def, "timezone"));
  int rc;
  if (!expr)
    return WEFT_EINVAL;
  if ((rc = cron_parse(expr, &d->cron, msg, msglen)) != 0)
    return rc;
  if (zone && strcmp(zone, "UTC") && (rc = tz_load(zone, &d->tz, msg, msglen)) != 0)
    return rc;
  sched_catch_up_parse(json_string_value(json_object_get(def, "catch_up")), &d->catch_up);
  sched_overlap_parse(json_string_value(json_object_get(def, "overlap")), &d->overlap);
  return 0;
}

static void fmt_time(int64_t t, char out[32])
{
  wt_fmt_rfc3339(t * 1000, out);
  char *dot = strchr(out, '.');
  if (dot)
    memmove(dot, dot + 4, strlen(dot + 4) + 1);
}

static bool same_text(const char *a, const char *b)
{
  return (!a && !b) || (a && b && !strcmp(a, b));
}

/* ---- sync ---- */

struct sync_ud {
  struct store *s;
  int64_t now;
  json_t *seen; /* "workflow\nidx" -> true */
  char *msg;
  size_t msglen;
};

static int sync_each(void *ud, struct wf *wf, int version, size_t i, json_t *def)
{
  struct sync_ud *u = ud;
  const char *expr = json_string_value(json_object_get(def, "schedule"));
  if (!expr)
    return 0;
  const char *zone = json_string_value(json_object_get(def, "timezone"));
  char key[300];
  snprintf(key, sizeof key, "%s\n%zu", wf->name, i + 1);
  json_object_set_new(u->seen, key, json_true());
  struct store_schedule *v = NULL;
  size_t n = 0;
  int rc = store_schedule_list(u->s, wf->name, INT64_MAX, 0, &v, &n);
  if (rc)
    return rc;
  struct store_schedule *old = NULL;
  for (size_t k = 0; k < n; k++)
    if (v[k].idx == (int)i + 1)
      old = &v[k];
  struct store_schedule row = {.workflow = wf->name, .idx = (int)i + 1, .version = version, .expr = (char *)expr,
                               .timezone = (char *)zone};
  if (old && !strcmp(old->expr, expr) && same_text(old->timezone, zone)) {
    if (old->version == version)
      goto out; /* nothing changed */
    row.next_at = old->next_at; /* the new version takes over where the old one was */
    row.last_at = old->last_at;
    row.last_run = old->last_run;
  } else {
    struct sdef d;
    if (sdef_load(def, &d, u->msg, u->msglen) == 0) {
      rc = cron_next(&d.cron, d.tz, u->now, &row.next_at);
      tz_free(d.tz);
    } else {
      rc = WEFT_EINVAL;
    }
    if (rc)
      goto out; /* validation refused it already; nothing to keep */
    if (old) {
      row.last_at = old->last_at;
      row.last_run = old->last_run;
    }
  }
  rc = store_schedule_put(u->s, &row);
out:
  store_schedules_free(v, n);
  return rc;
}

int ops_schedules_sync(struct store *s, int64_t now, char *msg, size_t msglen)
{
  struct sync_ud u = {.s = s, .now = now, .seen = json_object(), .msg = msg, .msglen = msglen};
  if (!u.seen)
    return WEFT_ENOMEM;
  int rc = store_in_tx(s) ? 0 : store_begin(s);
  if (!rc)
    rc = ops_trigger_each(s, sync_each, &u);
  /* rows of schedules no longer there */
  struct store_schedule *v = NULL;
  size_t n = 0;
  if (!rc)
    rc = store_schedule_list(s, NULL, INT64_MAX, 0, &v, &n);
  for (size_t k = 0; !rc && k < n; k++) {
    char key[300];
    snprintf(key, sizeof key, "%s\n%d", v[k].workflow, v[k].idx);
    if (!json_object_get(u.seen, key))
      rc = store_schedule_delete(s, v[k].workflow, v[k].idx);
  }
  store_schedules_free(v, n);
  json_decref(u.seen);
  if (!rc)
    rc = store_commit(s);
  if (rc && store_in_tx(s))
    store_rollback(s);
  if (rc && msg && !*msg)
    snprintf(msg, msglen, "%s", store_errmsg(s));
  return rc;
}

/* ---- fire ---- */

static bool run_active(struct store *s, const char *id)
{
  struct store_run r = {0};
  bool active = id && store_run_get(s, id, &r) == 0 && !ops_status_terminal(r.status);
  store_run_clear(&r);
  return active;
}

#define SCHED_LOG(level, ...)                                                                      \
  do {                                                                                             \
    char m_[600];                                                                                  \
    snprintf(m_, sizeof m_, __VA_ARGS__);                                                          \
    if (log)                                                                                       \
      log(ud, level, m_);                                                                          \
  } while (0)

/* Fires committed together: a burst of due schedules (10,000 at one
 * minute) pays one commit per FIRE_BATCH fires, not one each. A failure
 * rolls back only what is not committed yet: those rows did not advance and
 * fire at the next look, still exactly once. */
#define FIRE_BATCH 256

/* One scheduled time t of row: the run (or the decision not to run it) and
 * the row's advance to next_at, in one transaction (committed when commit,
 * else left open for the next fires of the batch). */
static int fire_one(struct store *s, struct wf *wf, int version, const json_t *def, const struct sdef *d,
                    struct store_schedule *row, int64_t t, int64_t next_at, bool in_batch, bool commit,
                    size_t *fired, void (*log)(void *ud, const char *level, const char *msg), void *ud)
{
  char key[64], sf[32], id[WEFT_ID_LEN + 1] = "";
  sched_run_key(row->idx, t, key, sizeof key);
  fmt_time(t, sf);
  /* on the server's loop a run's creation may still be open (it commits with
   * its first transitions): this joins and commits it, which is safe (a
   * queued run is started afresh after a crash) */
  int rc = store_in_tx(s) ? 0 : store_begin(s);
  if (rc)
    return rc;
  char *have = NULL;
  if (store_run_by_key(s, wf->name, key, &have) == 0) {
    /* fired before (another server, or a backfill): only the row moves */
  } else {
    enum sched_action a = sched_overlap_decide(d->overlap, run_active(s, row->last_run));
    /* the times of one catch-up are not skipped or cancelled because of
     * each other: they run one after another */
    if (in_batch && (a == SCHED_ACT_SKIP || a == SCHED_ACT_CANCEL_AND_FIRE))
      a = SCHED_ACT_QUEUE;
    if (a == SCHED_ACT_SKIP) {
      SCHED_LOG("info", "%s trigger %d: %s skipped: run %s of the previous time is still active (overlap: skip)",
                wf->name, row->idx, sf, row->last_run);
      json_t *au = json_pack("{s:s,s:i,s:s,s:s,s:s}", "workflow", wf->name, "trigger", row->idx, "scheduled_for",
                             sf, "reason", "overlap", "active_run", row->last_run);
      rc = au ? store_audit_append_json(s, wt_now_ms(), NULL, "schedule.skipped", au, NULL) : WEFT_ENOMEM;
      json_decref(au);
    } else {
      if (a == SCHED_ACT_CANCEL_AND_FIRE) {
        struct store_inbox m = {.kind = "cancel", .run_id = row->last_run, .index = STORE_NO_INDEX,
                                .user = "scheduler", .created_at = wt_now_ms()};
        rc = store_inbox_post(s, &m, NULL);
        json_t *au = json_pack("{s:s,s:s}", "by", "scheduler", "reason", "overlap: cancel_previous");
        if (!rc)
          rc = au ? store_audit_append_json(s, wt_now_ms(), row->last_run, "cancel.requested", au, NULL)
                  : WEFT_ENOMEM;
        json_decref(au);
      }
      json_t *trig = sched_trigger_json("schedule", wt_now_ms(), t, row->expr, NULL, NULL, NULL);
      json_t *hold = a == SCHED_ACT_QUEUE ? json_pack("{s:s}", "after", row->last_run) : NULL;
      struct ops_ctx c = {.store = s, .user = "scheduler", .role = ROLE_ADMIN};
      struct ops_error e = {0};
      if (!rc && trig && ops_trigger_enqueue(&c, wf, version, def, trig, key, hold, id, &e) == OPS_OK) {
        if (id[0])
          (*fired)++;
        else /* its concurrency group is full (on_full: skip) */
          SCHED_LOG("info", "%s trigger %d: %s: %s", wf->name, row->idx, sf, e.msg);
      } else if (!rc) {
        /* the time is handled all the same: a definition that cannot start
         * (its inputs) must not fire again and again */
        SCHED_LOG("error", "%s trigger %d: the run of %s cannot be recorded: %s", wf->name, row->idx, sf, e.msg);
        if (store_in_tx(s))
          store_rollback(s);
        if ((rc = store_begin(s)) != 0)
          goto out;
        id[0] = 0;
      }
      json_decref(trig);
      json_decref(hold);
    }
  }
  if (!rc) {
    row->next_at = next_at;
    if (id[0]) {
      free(row->last_run);
      row->last_run = strdup(id);
      row->last_at = t;
    }
    rc = store_schedule_put(s, row);
  }
  if (!rc && commit)
    rc = store_commit(s);
out:
  free(have);
  if (rc && store_in_tx(s))
    store_rollback(s);
  return rc;
}

static int fire_rows(struct store *s, int64_t now, int64_t up_since, size_t *fired, int64_t *next,
                     void (*log)(void *ud, const char *level, const char *msg), void *ud, bool may_sync)
{
  *fired = 0;
  *next = INT64_MAX;
  struct store_schedule *v = NULL;
  size_t n = 0;
  int rc = store_schedule_list(s, NULL, now, 0, &v, &n);
  if (rc)
    return rc;
  struct wf *wf = NULL; /* the last row's workflow: the due rows of one come together */
  int version = 0;
  size_t batch = 0;
  for (size_t k = 0; k < n && !rc; k++) {
    struct store_schedule *row = &v[k];
    char msg[512] = "";
    struct sdef d = {0};
    const json_t *def = NULL;
    if (wf && strcmp(wf->name, row->workflow)) {
      wf_free(wf);
      wf = NULL;
    }
    if (wf || rt_deployed_load(s, row->workflow, &wf, &version, msg, sizeof msg) == 0)
      def = json_array_get(wf->triggers, (size_t)row->idx - 1);
    const char *expr = json_string_value(json_object_get(def, "schedule"));
    if (!def || !expr || strcmp(expr, row->expr) || sdef_load(def, &d, msg, sizeof msg)) {
      tz_free(d.tz);
      d.tz = NULL;
      if (!may_sync) { /* synced already: leave this row alone */
        wf_free(wf);
        wf = NULL;
        continue;
      }
      /* the deployed version changed under the row: sync it */
      SCHED_LOG("info", "%s trigger %d: the deployed version changed; the schedules follow it", row->workflow,
                row->idx);
      wf_free(wf);
      wf = NULL;
      if (store_in_tx(s) && (rc = store_commit(s)) != 0)
        break;
      rc = ops_schedules_sync(s, now, msg, sizeof msg);
      if (!rc) { /* and fire what is due of the new rows on the next call */
        store_schedules_free(v, n);
        size_t more = 0;
        rc = fire_rows(s, now, up_since, &more, next, log, ud, false);
        *fired += more;
        return rc;
      }
      break;
    }
    json_object_set_new((json_t *)def, "_index", json_integer(row->idx));
    int64_t times[SCHED_CATCH_UP_MAX + 1], nx = 0;
    size_t nt = 0;
    uint64_t dropped = 0;
    rc = sched_plan(&d.cron, d.tz, row->next_at, up_since, now, d.catch_up, times, SCHED_CATCH_UP_MAX + 1, &nt,
                    &dropped, &nx);
    if (!rc && dropped)
      SCHED_LOG("info", "%s trigger %d: %" PRIu64 " scheduled time%s missed while no server ran (catch_up: %s)",
                row->workflow, row->idx, dropped, dropped == 1 ? "" : "s", sched_catch_up_name(d.catch_up));
    size_t before = *fired;
    for (size_t i = 0; !rc && i < nt; i++)
      rc = fire_one(s, wf, version, def, &d, row, times[i], i + 1 < nt ? times[i + 1] : nx, *fired > before,
                    ++batch % FIRE_BATCH == 0, fired, log, ud);
    if (!rc && nt == 0) { /* only dropped times: the row moves on */
      row->next_at = nx;
      rc = store_schedule_put(s, row); /* joins an open transaction, else its own */
    }
    tz_free(d.tz);
  }
  wf_free(wf);
  if (!rc && store_in_tx(s))
    rc = store_commit(s);
  else if (rc && store_in_tx(s))
    store_rollback(s);
  store_schedules_free(v, n);
  if (rc)
    return rc;
  /* the earliest of every row now */
  v = NULL;
  n = 0;
  if ((rc = store_schedule_list(s, NULL, INT64_MAX, 1, &v, &n)) == 0 && n)
    *next = v[0].next_at;
  store_schedules_free(v, n);
  return rc;
}

int ops_schedules_fire(struct store *s, int64_t now, int64_t up_since, size_t *fired, int64_t *next,
                       void (*log)(void *ud, const char *level, const char *msg), void *ud)
{
  return fire_rows(s, now, up_since, fired, next, log, ud, true);
}

/* ---- list ---- */

struct list_ud {
  struct store *s;
  int64_t now;
  json_t *out;
};

static int list_each(void *ud, struct wf *wf, int version, size_t i, json_t *def)
{
  (void)version;
  struct list_ud *u = ud;
  const char *expr = json_string_value(json_object_get(def, "schedule"));
  if (!expr)
    return 0;
  struct sdef d;
  char msg[256];
  if (sdef_load(def, &d, msg, sizeof msg))
    return 0;
  struct store_schedule *v = NULL;
  size_t n = 0;
  store_schedule_list(u->s, wf->name, INT64_MAX, 0, &v, &n);
  struct store_schedule *row = NULL;
  for (size_t k = 0; k < n; k++)
    if (v[k].idx == (int)i + 1 && !strcmp(v[k].expr, expr))
      row = &v[k];
  json_t *next = json_array();
  /* from the row's next time when it is still ahead (a time due now is next) */
  int64_t t = 0, from = u->now;
  int rc = 0;
  if (row && row->next_at > u->now) {
    t = row->next_at;
  } else {
    rc = cron_next(&d.cron, d.tz, from, &t);
  }
  for (int k = 0; !rc && k < 5; k++) {
    char buf[32];
    fmt_time(t, buf);
    json_array_append_new(next, json_string(buf));
    rc = cron_next(&d.cron, d.tz, t, &t);
  }
  char last[32] = "";
  if (row && row->last_at)
    fmt_time(row->last_at, last);
  const char *zone = json_string_value(json_object_get(def, "timezone"));
  json_array_append_new(u->out, json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:o,s:o,s:o}", "workflow", wf->name, "trigger",
                                          (int)i + 1, "schedule", expr, "timezone", zone ? zone : "UTC", "catch_up",
                                          sched_catch_up_name(d.catch_up), "overlap", sched_overlap_name(d.overlap),
                                          "next", next, "last_fired", *last ? json_string(last) : json_null(),
                                          "last_run", row && row->last_run ? json_string(row->last_run) : json_null()));
  store_schedules_free(v, n);
  tz_free(d.tz);
  return 0;
}

enum ops_err ops_list_schedules(const struct ops_ctx *c, int64_t now, json_t **out, struct ops_error *e)
{
  *out = NULL;
  enum ops_err k = ops_authorize(c, "list_schedules", e);
  if (k)
    return k;
  struct list_ud u = {.s = c->store, .now = now, .out = json_array()};
  if (!u.out)
    return ops_fail(e, OPS_E_INTERNAL, "out of memory");
  if (ops_trigger_each(c->store, list_each, &u)) {
    json_decref(u.out);
    return ops_fail(e, OPS_E_UNAVAILABLE, "cannot read the schedules: %s", store_errmsg(c->store));
  }
  *out = u.out;
  return OPS_OK;
}

/* ---- backfill ---- */

struct bf_ud {
  const struct ops_ctx *c;
  const char *name, *from, *to;
  int trigger, max_at_once;
  bool found;
  json_t *started, *group;
  size_t times, existing;
  struct ops_error *e;
  enum ops_err k;
};

static int bf_each(void *ud, struct wf *wf, int version, size_t i, json_t *def)
{
  struct bf_ud *u = ud;
  if (strcmp(wf->name, u->name))
    return 0;
  const char *expr = json_string_value(json_object_get(def, "schedule"));
  if (u->trigger > 0 && (int)i + 1 != u->trigger)
    return 0;
  if (!expr) {
    if (u->trigger > 0) {
      u->k = ops_fail(u->e, OPS_E_BAD_REQUEST, "trigger %d of %s is not a schedule; `weft schedules` lists them",
                      u->trigger, wf->name);
      return 1;
    }
    return 0;
  }
  u->found = true;
  struct sdef d;
  char msg[256];
  if (sdef_load(def, &d, msg, sizeof msg))
    return 0;
  int64_t from, to;
  if (sched_parse_bound(u->from, d.tz, &from) || sched_parse_bound(u->to, d.tz, &to)) {
    tz_free(d.tz);
    u->k = ops_fail(u->e, OPS_E_BAD_REQUEST, "--from and --to take RFC 3339 times (2026-01-01T00:00:00Z) or dates "
                                            "(2026-01-01), not \"%s\"",
                    sched_parse_bound(u->from, d.tz, &from) ? u->from : u->to);
    u->e->usage = true;
    return 1;
  }
  int64_t *times = malloc(SCHED_BACKFILL_MAX * sizeof *times);
  size_t n = 0;
  int rc = times ? sched_backfill_times(&d.cron, d.tz, from, to, times, SCHED_BACKFILL_MAX, &n) : WEFT_ENOMEM;
  tz_free(d.tz);
  if (rc == WEFT_EINVAL) {
    u->k = ops_fail(u->e, OPS_E_BAD_REQUEST, "--to must be after --from");
    u->e->usage = true;
  } else if (rc == WEFT_ELIMIT) {
    u->k = ops_fail(u->e, OPS_E_BAD_REQUEST, "the window holds more than %d scheduled times of trigger %zu; "
                                            "backfill a shorter window at a time",
                    SCHED_BACKFILL_MAX, i + 1);
  } else if (rc) {
    u->k = ops_fail(u->e, OPS_E_INTERNAL, "out of memory");
  }
  json_object_set_new(def, "_index", json_integer((json_int_t)i + 1));
  for (size_t k = 0; !u->k && k < n; k++) {
    char key[64], sf[32], *have = NULL, id[WEFT_ID_LEN + 1];
    sched_run_key((int)i + 1, times[k], key, sizeof key);
    u->times++;
    if (store_run_by_key(u->c->store, wf->name, key, &have) == 0) {
      free(have);
      u->existing++;
      continue;
    }
    fmt_time(times[k], sf);
    json_t *trig = sched_trigger_json("schedule", wt_now_ms(), times[k], expr, NULL, NULL, NULL);
    enum ops_err k2 = trig ? ops_trigger_enqueue(u->c, wf, version, def, trig, key, u->group, id, u->e)
                           : ops_fail(u->e, OPS_E_INTERNAL, "out of memory");
    json_decref(trig);
    if (k2 == OPS_E_CONFLICT || (!k2 && !id[0])) { /* fired meanwhile; or skipped by its concurrency group */
      u->existing++;
      continue;
    }
    if (k2) {
      u->k = k2;
      break;
    }
    json_array_append_new(u->started, json_pack("{s:s,s:i,s:s}", "run", id, "trigger", (int)i + 1,
                                                "scheduled_for", sf));
  }
  free(times);
  return u->k ? 1 : 0;
}

enum ops_err ops_backfill(const struct ops_ctx *c, const char *name, const char *from, const char *to, int trigger,
                          int max_at_once, json_t **out, struct ops_error *e)
{
  *out = NULL;
  enum ops_err k = ops_authorize(c, "backfill", e);
  if (k)
    return k;
  struct store_deployment dep = {0};
  int rc = store_deploy_newest(c->store, name, &dep);
  store_deployment_clear(&dep);
  if (rc == WEFT_ENOTFOUND)
    return ops_fail(e, OPS_E_NOT_FOUND, "no workflow named %s is deployed; `weft workflows` lists them", name);
  if (rc)
    return ops_fail(e, OPS_E_UNAVAILABLE, "cannot read the deployed workflows: %s", store_errmsg(c->store));
  struct bf_ud u = {.c = c, .name = name, .from = from, .to = to, .trigger = trigger, .max_at_once = max_at_once,
                    .started = json_array(), .e = e};
  if (max_at_once > 0) {
    char g[64];
    ids_ulid(g, wt_now_ms());
    u.group = json_pack("{s:s,s:i}", "group", g, "max", max_at_once);
  }
  rc = store_begin(c->store);
  if (!rc)
    rc = ops_trigger_each(c->store, bf_each, &u);
  if (!rc && !u.k && !u.found)
    u.k = trigger > 0 ? ops_fail(e, OPS_E_BAD_REQUEST, "%s has no trigger %d; `weft schedules` lists them", name,
                                 trigger)
                      : ops_fail(e, OPS_E_BAD_REQUEST, "%s has no schedule trigger to backfill", name);
  if (!rc && !u.k)
    rc = store_commit(c->store);
  if (store_in_tx(c->store))
    store_rollback(c->store);
  json_decref(u.group);
  if (rc && !u.k)
    u.k = ops_fail(e, OPS_E_UNAVAILABLE, "cannot record the backfill: %s", store_errmsg(c->store));
  if (u.k) {
    json_decref(u.started);
    return u.k;
  }
  *out = json_pack("{s:s,s:I,s:I,s:o}", "workflow", name, "times", (json_int_t)u.times, "existing",
                   (json_int_t)u.existing, "started", u.started);
  return OPS_OK;
}
