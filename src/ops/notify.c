/* notify.c — `notify:` (SERVER.md §3): who hears about which run and
 * approval events, by an outgoing HTTP POST to a URL held in a secret.
 *
 * Two halves with the store's outbox (notices table) between them, so that
 * a run never waits for a receiver and no notice is lost to a restart:
 *   ops_notify_record — on the runtime's loop, when a journal entry is an
 *     event some `notify:` entry lists: one pending row per entry, with its
 *     JSON body (Slack/Mattermost `text`, run, workflow, event, step, url);
 *   ops_notify_deliver — on the notifier's thread (server/notifier.c): the
 *     due rows, each POSTed once through the caller's post function; 2xx
 *     is delivered, anything else is tried again after a doubling delay,
 *     up to NOTIFY_ATTEMPTS, then given up. Every attempt is audited
 *     (notify.delivered, notify.retry, notify.failed).
 * The URL is a secret: it is read from the home's secrets at each attempt
 * and never stored, logged, audited or answered; errors are masked with
 * the secrets' masker and name the secret, not its value. */
#include "ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/jsonfmt.h"
#include "util/secrets.h"
#include "util/wtime.h"

static bool lists(const json_t *on, const char *event)
{
  size_t i;
  json_t *v;
  json_array_foreach(on, i, v) if (!strcmp(json_string_value(v) ? json_string_value(v) : "", event)) return true;
  return false;
}

static const char *phrase(const char *event)
{
  if (!strcmp(event, "succeeded"))
    return "succeeded";
  if (!strcmp(event, "failed"))
    return "failed";
  if (!strcmp(event, "timed_out"))
    return "timed out";
  if (!strcmp(event, "cancelled"))
    return "was cancelled";
  if (!strcmp(event, "approval_waiting"))
    return "waits for an approval";
  if (!strcmp(event, "approval_escalated"))
    return "has an approval escalated";
  return event;
}

int ops_notify_record(struct store *s, const struct wf *wf, const char *run_id, const char *event, const char *step,
                      int index, const char *ui_base, size_t *recorded)
{
  *recorded = 0;
  if (!wf->notify || !json_array_size(wf->notify))
    return 0;
  int64_t now = wt_now_ms();
  size_t i;
  json_t *n;
  int rc = 0;
  json_array_foreach(wf->notify, i, n) {
    if (!lists(json_object_get(n, "on"), event))
      continue;
    char text[600], url[400] = "", where[300] = "";
    if (step && index >= 0)
      snprintf(where, sizeof where, " (step %s[%d])", step, index);
    else if (step)
      snprintf(where, sizeof where, " (step %s)", step);
    snprintf(text, sizeof text, "weft: run %s of %s %s%s", run_id, wf->name, phrase(event), where);
    if (ui_base && *ui_base)
      snprintf(url, sizeof url, "%s/#/runs/%s", ui_base, run_id); /* the UI's run page */
    json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "text", text, "run", run_id, "workflow", wf->name, "event",
                             event, "step", step ? json_string(step) : json_null(), "url",
                             url[0] ? json_string(url) : json_null());
    if (body && step && index >= 0)
      json_object_set_new(body, "index", json_integer(index));
    char *txt = body ? wjson_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    struct store_notice no = {.run_id = (char *)run_id, .workflow = wf->name, .event = (char *)event,
                              .step = (char *)step, .secret = (char *)json_string_value(json_object_get(n, "webhook")),
                              .body = txt, .status = "pending", .next_at = now, .created_at = now};
    rc = txt && no.secret ? store_notice_put(s, &no, NULL) : WEFT_ENOMEM;
    free(txt);
    if (rc)
      return rc;
    (*recorded)++;
  }
  return 0;
}

const char *ops_notify_event(bool run_end, int status_kind, const char *error_kind)
{
  /* status_kind: 0 succeeded, 1 failed, 2 cancelled (run ends) */
  if (!run_end)
    return "approval_waiting";
  if (error_kind && !strcmp(error_kind, "timeout") && status_kind != 0)
    return "timed_out";
  return status_kind == 0 ? "succeeded" : status_kind == 1 ? "failed" : "cancelled";
}

int64_t ops_notify_backoff_ms(int attempts)
{
  int64_t d = NOTIFY_BACKOFF_MS;
  for (int i = 1; i < attempts && d < NOTIFY_BACKOFF_MAX_MS; i++)
    d *= 2;
  return d < NOTIFY_BACKOFF_MAX_MS ? d : NOTIFY_BACKOFF_MAX_MS;
}

static bool http_url(const char *u)
{
  return u && (!strncmp(u, "http://", 7) || !strncmp(u, "https://", 8)) && !strpbrk(u, " \r\n\t");
}

int ops_notify_deliver(struct store *s, const char *home, int64_t now, int64_t *next_at, ops_notify_post_fn post,
                       void *ud, ops_notify_log_fn log, void *lud)
{
  struct store_notice *v = NULL;
  size_t n = 0;
  int rc = store_notice_due(s, now, 64, &v, &n, next_at);
  if (rc || !n) {
    store_notices_free(v, n);
    return rc;
  }
  json_t *secrets = NULL;
  char *serr = NULL;
  int src = secrets_load(home, &secrets, &serr);
  struct masker *m = masker_new(secrets);
  for (size_t i = 0; i < n && !rc; i++) {
    struct store_notice *no = &v[i];
    const char *u = src ? NULL : json_string_value(json_object_get(secrets, no->secret));
    char err[512] = "";
    long code = 0;
    if (src)
      snprintf(err, sizeof err, "cannot read the home's secrets: %s", serr ? serr : "failed");
    else if (!u)
      snprintf(err, sizeof err, "no secret %s in the home's secrets (add it to secrets.json)", no->secret);
    else if (!http_url(u))
      snprintf(err, sizeof err, "secret %s does not hold an http:// or https:// URL", no->secret);
    else if (post(ud, u, no->body, &code, err, sizeof err) == 0 && code >= 200 && code < 300)
      err[0] = 0;
    else if (!err[0])
      snprintf(err, sizeof err, "the receiver answered HTTP %ld", code);
    char *masked = m && err[0] ? masker_text(m, err) : NULL;
    const char *why = masked ? masked : err;
    int attempts = no->attempts + 1;
    bool ok = !err[0], give_up = !ok && attempts >= NOTIFY_ATTEMPTS;
    const char *st = ok ? "delivered" : give_up ? "failed" : "pending";
    int64_t t = wt_now_ms(), next = ok || give_up ? t : t + ops_notify_backoff_ms(attempts);
    rc = store_begin(s);
    if (!rc)
      rc = store_notice_update(s, no->id, st, attempts, next, ok ? NULL : why);
    if (!rc) {
      json_t *a = json_pack("{s:I,s:s,s:s,s:s,s:i}", "notice", (json_int_t)no->id, "workflow", no->workflow, "event",
                            no->event, "webhook", no->secret, "attempt", attempts);
      if (a && code)
        json_object_set_new(a, "http_status", json_integer(code));
      if (a && !ok)
        json_object_set_new(a, "error", json_string(why));
      if (a && no->step)
        json_object_set_new(a, "step", json_string(no->step));
      if (a && !ok && !give_up)
        json_object_set_new(a, "retry_in_ms", json_integer(next - t));
      rc = a ? store_audit_append_json(s, t, no->run_id, ok ? "notify.delivered" : give_up ? "notify.failed"
                                                                                     : "notify.retry",
                                       a, NULL)
             : WEFT_ENOMEM;
      json_decref(a);
    }
    if (!rc)
      rc = store_commit(s);
    else if (store_in_tx(s))
      store_rollback(s);
    if (!rc && log) {
      char line[900];
      if (ok)
        snprintf(line, sizeof line, "notify: %s of run %s (%s) delivered to %s (attempt %d)", no->event,
                 no->run_id ? no->run_id : "-", no->workflow, no->secret, attempts);
      else
        snprintf(line, sizeof line, "notify: %s of run %s (%s) to %s, attempt %d: %s%s", no->event,
                 no->run_id ? no->run_id : "-", no->workflow, no->secret, attempts, why,
                 give_up ? "; given up" : "; trying again");
      log(lud, ok ? "info" : give_up ? "error" : "warning", line);
    }
    if (!rc && !ok && !give_up && next < *next_at)
      *next_at = next;
    free(masked);
  }
  masker_free(m);
  json_decref(secrets);
  free(serr);
  store_notices_free(v, n);
  return rc;
}
