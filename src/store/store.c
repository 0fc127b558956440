/* store.c — backend-independent parts of the store: the home folder,
 * process liveness (who owns a run), orphan detection for `weft resume`, and
 * freeing of rows. The backends are store/sqlite*.c. */
#include "store/store.h"
#include "util/audit_chain.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/jsonfmt.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOME_MAX 4096

static const char *url_set;

void store_set_url(const char *url) { url_set = url; }

const char *store_url(void)
{
  const char *u = url_set && *url_set ? url_set : getenv("WEFT_STORE");
  return u && *u ? u : NULL;
}

char *store_home_resolve(const char *home)
{
  if (!home || !*home)
    home = getenv("WEFT_HOME");
  if (!home || !*home)
    home = ".weft";
  return strdup(home);
}

/* mkdir -p for one path (components created with mode 0700: the home holds
 * logs and workspaces that may contain secrets). */
static int mkdirs(const char *path)
{
  char p[HOME_MAX];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof p)
    return WEFT_EINVAL;
  memcpy(p, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != '\0')
      continue;
    char c = p[i];
    p[i] = '\0';
    if (mkdir(p, 0700) != 0 && errno != EEXIST)
      return WEFT_EIO;
    p[i] = c;
  }
  struct stat sb;
  if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return WEFT_EIO;
  return 0;
}

int store_open(const char *home, struct store **out, char **err)
{
  int rc = 0;
  struct buf path;
  char *h = store_home_resolve(home);
  *out = NULL;
  if (err)
    *err = NULL;
  buf_init(&path, HOME_MAX);
  if (!h)
    return WEFT_ENOMEM;
  static const char *const sub[] = {"", "/logs", "/workspaces"};
  for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
    buf_reset(&path);
    if ((rc = buf_printf(&path, "%s%s", h, sub[i])) || (rc = mkdirs(path.p))) {
      if (err && asprintf(err, "cannot create the weft home folder %s: %s", path.p ? path.p : h,
                          rc == WEFT_EIO ? strerror(errno) : weft_strerror(rc)) < 0)
        *err = NULL;
      goto out;
    }
  }
  const char *url = store_url();
  if (url) {
    if (!store_url_is_pg(url)) {
      rc = WEFT_EINVAL;
      if (err && asprintf(err, "store: not a postgres:// or postgresql:// URL; "
                               "unset it to use the SQLite store in the home folder") < 0)
        *err = NULL;
      goto out;
    }
    if ((rc = store_pg_open(url, out, err)))
      goto out;
  } else {
    buf_reset(&path);
    if ((rc = buf_printf(&path, "%s/%s", h, STORE_DB_NAME)))
      goto out;
    if ((rc = store_sqlite_open(path.p, out, err)))
      goto out;
  }
  /* the home as an absolute path: steps run in their workflow's folder, so
   * $WEFT_OUTPUT, $WEFT_WORKSPACE and the logs must not be relative to the
   * folder weft was started in (`weft run examples/x.yaml` with ./.weft) */
  char *abs = h[0] == '/' ? NULL : realpath(h, NULL);
  if (abs) {
    free(h);
    h = abs;
  }
  (*out)->home = h;
  h = NULL;
out:
  free(h);
  buf_free(&path);
  return rc;
}

int store_proc_start(int pid, int64_t *start)
{
  char path[64], text[1024];
  if (pid <= 0)
    return WEFT_ENOTFOUND;
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return WEFT_ENOTFOUND;
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  /* "pid (comm) state ppid ..." — comm may hold spaces and parens, so
   * fields are counted from the last ')': field 3 is state, 22 starttime */
  char *p = strrchr(text, ')');
  if (!p)
    return WEFT_ENOTFOUND;
  p++;
  long long v = 0;
  for (int field = 3; field <= 22; field++) {
    while (*p == ' ')
      p++;
    if (field == 3 && *p == 'Z')
      return WEFT_ENOTFOUND; /* a zombie runs nothing */
    if (field == 22) {
      if (sscanf(p, "%lld", &v) != 1)
        return WEFT_ENOTFOUND;
      break;
    }
    while (*p && *p != ' ')
      p++;
    if (!*p)
      return WEFT_ENOTFOUND;
  }
  *start = (int64_t)v;
  return 0;
}

bool store_run_owner_alive(const struct store_run *r)
{
  int64_t start;
  if (r->owner_pid <= 0)
    return false;
  if (store_proc_start(r->owner_pid, &start) != 0)
    return false;
  return start == r->owner_start;
}

int store_run_orphans(struct store *s, struct store_run **out, size_t *n)
{
  struct store_run *v = NULL;
  size_t m = 0, k = 0;
  *out = NULL;
  *n = 0;
  int rc = s->ops->run_list_active(s, &v, &m);
  if (rc)
    return rc;
  for (size_t i = 0; i < m; i++) {
    if (store_run_owner_alive(&v[i])) {
      store_run_clear(&v[i]);
      continue;
    }
    v[k++] = v[i];
  }
  *out = v;
  *n = k;
  if (k == 0) {
    free(v);
    *out = NULL;
  }
  return 0;
}

/* ---- freeing rows ---- */

void store_workflow_clear(struct store_workflow *w)
{
  free(w->hash);
  free(w->name);
  free(w->path);
  free(w->source);
  memset(w, 0, sizeof *w);
}

void store_run_clear(struct store_run *r)
{
  free(r->id);
  free(r->workflow);
  free(r->workflow_hash);
  free(r->path);
  free(r->status);
  free(r->trigger);
  free(r->parent_id);
  free(r->parent_step);
  free(r->started_by);
  free(r->inputs);
  free(r->outputs);
  free(r->error);
  memset(r, 0, sizeof *r);
}

void store_step_clear(struct store_step *st)
{
  free(st->run_id);
  free(st->step);
  free(st->status);
  free(st->error);
  free(st->outputs);
  free(st->counts);
  memset(st, 0, sizeof *st);
}

void store_attempt_clear(struct store_attempt *a)
{
  free(a->run_id);
  free(a->step);
  free(a->status);
  free(a->error);
  free(a->log_path);
  memset(a, 0, sizeof *a);
}

void store_inbox_clear(struct store_inbox *m)
{
  free(m->kind);
  free(m->name);
  free(m->run_id);
  free(m->step);
  free(m->user);
  free(m->payload);
  memset(m, 0, sizeof *m);
}

void store_mutex_clear(struct store_mutex *m)
{
  free(m->name);
  free(m->run_id);
  free(m->step);
  memset(m, 0, sizeof *m);
}

void store_decision_clear(struct store_decision *d)
{
  free(d->run_id);
  free(d->step);
  free(d->user);
  free(d->decision);
  free(d->comment);
  free(d->fields);
  memset(d, 0, sizeof *d);
}

void store_token_clear(struct store_token *t)
{
  free(t->id);
  free(t->user);
  free(t->name);
  free(t->hash);
  memset(t, 0, sizeof *t);
}

void store_deployment_clear(struct store_deployment *d)
{
  free(d->name);
  free(d->hash);
  free(d->path);
  free(d->deployed_by);
  memset(d, 0, sizeof *d);
}

void store_audit_clear(struct store_audit *e)
{
  free(e->run_id);
  free(e->kind);
  free(e->data);
  free(e->prev_hash);
  free(e->hash);
  memset(e, 0, sizeof *e);
}

#define FREE_ARRAY(fn, type, clear)                                                      \
  void fn(type *v, size_t n)                                                             \
  {                                                                                      \
    for (size_t i = 0; i < n; i++)                                                       \
      clear(&v[i]);                                                                      \
    free(v);                                                                             \
  }
FREE_ARRAY(store_runs_free, struct store_run, store_run_clear)
FREE_ARRAY(store_steps_free, struct store_step, store_step_clear)
FREE_ARRAY(store_attempts_free, struct store_attempt, store_attempt_clear)
FREE_ARRAY(store_inbox_free, struct store_inbox, store_inbox_clear)
FREE_ARRAY(store_decisions_free, struct store_decision, store_decision_clear)
FREE_ARRAY(store_tokens_free, struct store_token, store_token_clear)
FREE_ARRAY(store_deployments_free, struct store_deployment, store_deployment_clear)

void store_schedule_clear(struct store_schedule *r)
{
  free(r->workflow);
  free(r->expr);
  free(r->timezone);
  free(r->last_run);
  memset(r, 0, sizeof *r);
}
FREE_ARRAY(store_schedules_free, struct store_schedule, store_schedule_clear)

int store_deploy_newest(struct store *s, const char *name, struct store_deployment *out)
{
  struct store_deployment *v = NULL;
  size_t n = 0;
  memset(out, 0, sizeof *out);
  int rc = store_deploy_list(s, name, &v, &n);
  if (!rc && n == 0)
    rc = WEFT_ENOTFOUND;
  if (!rc) {
    *out = v[n - 1];
    memset(&v[n - 1], 0, sizeof v[n - 1]);
  }
  store_deployments_free(v, n);
  return rc;
}
FREE_ARRAY(store_audits_free, struct store_audit, store_audit_clear)

int store_audit_append_json(struct store *s, int64_t at, const char *run_id, const char *kind,
                            const struct json_t *data, int64_t *seq_out)
{
  char *txt = NULL;
  int rc;
  if (s->ops->version >= 2 && s->ops->audit_append_canon) {
    if ((rc = audit_canonical_json(data, &txt)) == 0)
      rc = s->ops->audit_append_canon(s, at, run_id, kind, txt, seq_out);
  } else {
    txt = data ? wjson_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    rc = data && !txt ? WEFT_ENOMEM : store_audit_append(s, at, run_id, kind, txt, seq_out);
  }
  free(txt);
  return rc;
}

int store_audit_append_canon(struct store *s, int64_t at, const char *run_id, const char *kind,
                             const char *canon, int64_t *seq_out)
{
  if (s->ops->version >= 2 && s->ops->audit_append_canon)
    return s->ops->audit_append_canon(s, at, run_id, kind, canon, seq_out);
  return store_audit_append(s, at, run_id, kind, canon, seq_out);
}
