/* policy.c — the workflow-level keys that act on whole runs under a home
 * (SERVER.md §3): `concurrency:` (a number, or {key, limit, on_full}) and
 * `notify:` (who hears about which run and approval events, by a webhook
 * URL held in a secret). Only checked and kept here; ops/concurrency.c and
 * ops/notify.c act on them. */
#include "spec/spec_int.h"

#include <stdio.h>
#include <string.h>

const char *const wf_on_full_names[] = {"queue", "skip", "cancel_in_progress", NULL};
const char *const wf_notify_events[] = {"succeeded", "failed", "timed_out", "cancelled",
                                        "approval_waiting", "approval_escalated", NULL};

void policy_parse_concurrency(struct sctx *c, const struct ynode *v)
{
  static const char *const keys[] = {"key", "limit", "on_full", NULL};
  const char *where = "in the workflow";
  struct wf *w = c->w;
  int64_t i64;
  if (v->t != Y_MAP) {
    if (chk_int(c, v, "concurrency", where, 1, INT32_MAX, &i64))
      w->concurrency = (int)i64;
    return;
  }
  chk_keys(c, v, keys, "in concurrency");
  const struct ynode *x;
  w->concurrency = 1;
  if ((x = ymap_get(v, "limit")) && chk_int(c, x, "limit", "in concurrency", 1, INT32_MAX, &i64))
    w->concurrency = (int)i64;
  int k = 0;
  if ((x = ymap_get(v, "on_full")) && chk_enum(c, x, "on_full", "in concurrency", wf_on_full_names, &k))
    w->concurrency_on_full = k;
  if ((x = ymap_get(v, "key"))) {
    if (x->t == Y_MAP || x->t == Y_SEQ || x->t == Y_NULL)
      chk_bad_type(c, x, "key", "in concurrency", "a string such as \"${{ .inputs.env }}\"");
    else
      w->concurrency_key = tmpl_conv(c, x, SCOPE_GLOBAL);
  }
}

void policy_parse_notify(struct sctx *c, const struct ynode *v)
{
  static const char *const keys[] = {"on", "webhook", NULL};
  if (v->t == Y_NULL)
    return;
  if (v->t != Y_SEQ) {
    chk_bad_type(c, v, "notify", "in the workflow", "a list such as [{on: [failed], webhook: HOOK_URL}]");
    return;
  }
  json_t *arr = json_array();
  for (uint32_t i = 0; arr && i < v->n; i++) {
    const struct ynode *t = v->kids[i], *x;
    char where[64];
    snprintf(where, sizeof where, "in notify %u", i + 1);
    if (!chk_map(c, t, "notify", "in the workflow"))
      continue;
    chk_keys(c, t, keys, where);
    json_t *on = json_array(), *o = NULL;
    const char *s;
    if (!(x = ymap_get(t, "on"))) {
      chk_err(c, t, "notify %u needs \"on\": a list of events (%s)", i + 1,
              "succeeded, failed, timed_out, cancelled, approval_waiting, approval_escalated");
    } else {
      const struct ynode *one = x->t == Y_SEQ ? NULL : x;
      uint32_t n = x->t == Y_SEQ ? x->n : 1;
      if (x->t == Y_SEQ && n == 0)
        chk_err(c, x, "\"on\" %s is empty; name at least one event", where);
      for (uint32_t j = 0; j < n; j++) {
        const struct ynode *ev = one ? one : x->kids[j];
        int k;
        if (chk_enum(c, ev, "on", where, wf_notify_events, &k))
          json_array_append_new(on, json_string(wf_notify_events[k]));
      }
    }
    if (!(x = ymap_get(t, "webhook")))
      chk_err(c, t, "notify %u needs \"webhook\": the name of a secret holding the URL", i + 1);
    else if (chk_str(c, x, "webhook", where, &s)) {
      if (!chk_is_ident(x->s, x->len))
        chk_err(c, x, "\"webhook\" %s is the NAME of a secret holding the URL ([A-Za-z_][A-Za-z0-9_]*), not \"%s\"",
                where, s);
      else
        o = json_pack("{s:O,s:s}", "on", on, "webhook", s);
    }
    json_decref(on);
    if (o)
      json_array_append_new(arr, o);
  }
  c->w->notify = arr;
}
