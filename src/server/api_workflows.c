/* api_workflows.c — the workflow routes and `--workflows DIR` (see
 * api_workflows.h): request shapes in, ops out, and the starts waiting on
 * the loop for their commit. */
#include "server/api_workflows.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ops/ops.h"
#include "util/err.h"
#include "util/wtime.h"

#define LABEL_MAX 128
#define DIR_FILES_MAX 10000
#define DIR_FILE_MAX (64u << 20)

/* ---- answers ---- */

static void fail(struct httpd_resp *rs, const struct ops_error *e, json_t *problems)
{
  if (!problems) {
    httpd_error(rs, (enum apierr)e->kind, "%s", e->msg[0] ? e->msg : "the operation failed");
    return;
  }
  json_t *b = json_pack("{s:{s:s,s:s},s:O}", "error", "code", ops_err_code(e->kind), "message", e->msg, "problems",
                        problems);
  json_decref(problems);
  httpd_json(rs, ops_err_status(e->kind), b);
}

static bool ctx_of(struct api_wf *w, const struct httpd_req *rq, struct httpd_resp *rs, struct ops_ctx *c)
{
  struct store *db = w->db_acquire(w->ud);
  if (!db) {
    httpd_error(rs, APIERR_UNAVAILABLE, "no store connection is free; try again");
    return false;
  }
  *c = (struct ops_ctx){.store = db, .home = w->home, .user = rq->user, .role = rq->role,
                        .token_id = rq->token_id};
  return true;
}

static void ctx_done(struct api_wf *w, struct ops_ctx *c)
{
  if (c->store)
    w->db_release(w->ud, c->store);
  c->store = NULL;
}

bool api_wf_yaml_media(const char *ct)
{
  static const char *const ok[] = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml",
                                   "text/plain", NULL};
  if (!ct)
    return false;
  size_t n = strcspn(ct, "; \t");
  for (size_t i = 0; ok[i]; i++)
    if (n == strlen(ok[i]) && !strncasecmp(ct, ok[i], n))
      return true;
  return false;
}

/* ?file=NAME: how problems name the text; its last path component, printable */
static void label_of(const struct httpd_req *rq, char out[LABEL_MAX + 1])
{
  char q[1024];
  snprintf(out, LABEL_MAX + 1, "workflow.yaml");
  const char *v = httpd_query(rq, "file", q, sizeof q);
  if (!v)
    return;
  const char *base = strrchr(v, '/');
  base = base ? base + 1 : v;
  size_t n = strlen(base);
  if (n == 0 || n > LABEL_MAX)
    return;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)base[i] < 0x20 || base[i] == 0x7f)
      return;
  memcpy(out, base, n + 1);
}

static void list_workflows(struct api_wf *w, const struct httpd_req *rq, struct httpd_resp *rs)
{
  struct ops_ctx c;
  struct ops_error e = {0};
  json_t *out = NULL;
  if (!ctx_of(w, rq, rs, &c))
    return;
  enum ops_err k = ops_list_workflows(&c, &out, &e);
  ctx_done(w, &c);
  if (k)
    fail(rs, &e, NULL);
  else
    httpd_json(rs, 200, json_pack("{s:o}", "workflows", out));
}

static void deploy_workflow(struct api_wf *w, const struct httpd_req *rq, struct httpd_resp *rs)
{
  if (!api_wf_yaml_media(httpd_header(rq, "Content-Type"))) {
    httpd_error(rs, APIERR_UNSUPPORTED_MEDIA,
                "send the workflow's YAML text as Content-Type: application/yaml (or text/yaml, "
                "application/x-yaml, text/plain)");
    return;
  }
  char label[LABEL_MAX + 1];
  label_of(rq, label);
  struct ops_ctx c;
  struct ops_error e = {0};
  json_t *out = NULL, *problems = NULL;
  if (!ctx_of(w, rq, rs, &c))
    return;
  enum ops_err k = ops_deploy(&c, rq->body, rq->body_len, label, NULL, &out, &problems, &e);
  ctx_done(w, &c);
  if (k) {
    fail(rs, &e, problems);
    return;
  }
  unsigned status = json_is_true(json_object_get(out, "created")) ? 201 : 200;
  httpd_json(rs, status, out);
}

static void get_workflow(struct api_wf *w, const struct httpd_req *rq, struct httpd_resp *rs)
{
  struct ops_ctx c;
  struct ops_error e = {0};
  json_t *out = NULL;
  char q[32];
  long version = 0;
  if (httpd_has_query(rq, "version")) {
    const char *v = httpd_query(rq, "version", q, sizeof q);
    char *end = NULL;
    version = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || version < 1 || version > INT_MAX) {
      httpd_error(rs, APIERR_BAD_REQUEST, "version must be a version number (1, 2, ...), as `versions` lists them");
      return;
    }
  }
  if (!ctx_of(w, rq, rs, &c))
    return;
  enum ops_err k = ops_get_workflow_version(&c, route_param(rq->match, "name"), (int)version, wt_now_ms(), &out, &e);
  ctx_done(w, &c);
  if (k)
    fail(rs, &e, NULL);
  else
    httpd_json(rs, 200, out);
}

/* ---- starting a run: the HTTP thread's half, the loop's half ---- */

struct start_job {
  struct api_wf *w;
  struct ops_ctx ctx; /* the caller's (store: the loop's, set there) */
  struct ops_start st;
  char id[WEFT_ID_LEN + 1];
  bool created;
  enum ops_err k;
  struct ops_error e;
};

struct api_wf_pending {
  char id[WEFT_ID_LEN + 1];
  bool any; /* a run queued in its concurrency group: the next commit will do */
  struct cmdq_cmd *c;
  struct api_wf_pending *next;
};

static bool pending_has(const struct api_wf *w, const char *id)
{
  for (const struct api_wf_pending *p = w->pending; p; p = p->next)
    if (!strcmp(p->id, id))
      return true;
  return false;
}

static void start_on_loop(void *loop_ud, struct cmdq_cmd *c)
{
  (void)loop_ud;
  struct start_job *j = c->arg;
  struct api_wf *w = j->w;
  struct ops_ctx ctx = j->ctx;
  ctx.store = w->rt_store;
  j->k = ops_start_run(&ctx, w->rt, &j->st, j->id, &j->created, &j->e);
  /* a run found by its key is answered at once, unless its own creation is
   * still waiting for its commit (the same key twice in one wake-up) */
  if (j->k || (!j->created && !pending_has(w, j->id)) || (j->st.queued && !j->st.queued_in_tx)) {
    cmdq_done(c, 0);
    return;
  }
  struct api_wf_pending *p = calloc(1, sizeof *p);
  if (!p) {
    cmdq_done(c, WEFT_ENOMEM);
    return;
  }
  memcpy(p->id, j->id, sizeof p->id);
  p->any = j->st.queued;
  p->c = c;
  p->next = w->pending;
  w->pending = p;
}

void api_wf_on_commit(struct api_wf *w, const char *run_id)
{
  for (struct api_wf_pending **pp = &w->pending; *pp;) {
    struct api_wf_pending *p = *pp;
    if (run_id ? strcmp(p->id, run_id) != 0 : !p->any) {
      pp = &p->next;
      continue;
    }
    *pp = p->next;
    cmdq_done(p->c, 0);
    free(p);
  }
}

void api_wf_loop_end(struct api_wf *w)
{
  while (w->pending) {
    struct api_wf_pending *p = w->pending;
    w->pending = p->next;
    cmdq_done(p->c, WEFT_ESTATE);
    free(p);
  }
}

/* The body's member name: absent or null NULL; false (answered 400) for
 * another type than want. */
static bool member(const struct httpd_req *rq, struct httpd_resp *rs, const char *name, json_type want,
                   const json_t **out)
{
  const json_t *v = json_object_get(rq->json, name);
  *out = NULL;
  if (!v || json_is_null(v))
    return true;
  if (json_typeof(v) != want) {
    httpd_error(rs, APIERR_BAD_REQUEST, "\"%s\" must be %s", name,
                want == JSON_OBJECT ? "an object" : want == JSON_ARRAY ? "a list" : "a string");
    return false;
  }
  *out = v;
  return true;
}

static void start_run(struct api_wf *w, const struct httpd_req *rq, struct httpd_resp *rs)
{
  static const char *const keys[] = {"inputs", "input_args", "idempotency_key", NULL};
  if (rq->json && !json_is_object(rq->json)) {
    httpd_error(rs, APIERR_BAD_REQUEST, "the body must be an object {inputs, input_args, idempotency_key}");
    return;
  }
  const char *k;
  json_t *v;
  json_object_foreach(rq->json, k, v) {
    size_t i = 0;
    while (keys[i] && strcmp(keys[i], k))
      i++;
    if (!keys[i]) {
      httpd_error(rs, APIERR_BAD_REQUEST, "unknown field \"%.100s\" (give inputs, input_args, idempotency_key)", k);
      return;
    }
  }
  const json_t *inputs, *args, *key;
  if (!member(rq, rs, "inputs", JSON_OBJECT, &inputs) || !member(rq, rs, "input_args", JSON_ARRAY, &args) ||
      !member(rq, rs, "idempotency_key", JSON_STRING, &key))
    return;
  struct start_job j = {.w = w};
  json_t *problems = NULL;
  struct ops_ctx c;
  if (!ctx_of(w, rq, rs, &c))
    return;
  enum ops_err kind = ops_start_prepare(&c, route_param(rq->match, "name"), inputs, args, json_string_value(key),
                                        &j.st, &problems, &j.e);
  ctx_done(w, &c);
  if (kind) {
    fail(rs, &j.e, problems);
    return;
  }
  j.ctx = c;
  struct cmdq_cmd cmd = {.fn = start_on_loop, .arg = &j};
  int rc = w->call_loop(w->ud, &cmd);
  ops_start_clear(&j.st);
  if (rc) {
    httpd_error(rs, APIERR_UNAVAILABLE, "the server is not starting runs now (it is starting up or stopping); "
                                        "try again");
    return;
  }
  if (j.k) {
    fail(rs, &j.e, NULL);
    return;
  }
  if (!ctx_of(w, rq, rs, &c))
    return;
  struct store_run r = {0};
  json_t *out = NULL;
  struct ops_error e = {0};
  enum ops_err fk = ops_find_run(c.store, j.id, &r, &e);
  if (!fk)
    out = ops_run_json(c.store, &r, false);
  store_run_clear(&r);
  ctx_done(w, &c);
  if (fk)
    fail(rs, &e, NULL);
  else
    httpd_json(rs, j.created ? 201 : 200, out);
}

bool api_wf_dispatch(struct api_wf *w, const struct httpd_req *rq, struct httpd_resp *rs)
{
  const char *op = rq->match && rq->match->route ? rq->match->route->op : "";
  if (!strcmp(op, "list_workflows"))
    list_workflows(w, rq, rs);
  else if (!strcmp(op, "deploy_workflow"))
    deploy_workflow(w, rq, rs);
  else if (!strcmp(op, "get_workflow"))
    get_workflow(w, rq, rs);
  else if (!strcmp(op, "start_run"))
    start_run(w, rq, rs);
  else
    return false;
  return true;
}

/* ---- --workflows DIR ---- */

static void logf_(struct api_wf *w, const char *level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void logf_(struct api_wf *w, const char *level, const char *event, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (w->log)
    w->log(w->ud, level, event, msg);
}

/* the whole file, NUL-terminated; NULL with errno-ish reason in why */
static char *slurp(const char *path, size_t *len, const char **why)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    *why = strerror(errno);
    return NULL;
  }
  size_t cap = 64 * 1024, n = 0;
  char *p = malloc(cap + 1);
  while (p) {
    n += fread(p + n, 1, cap - n, f);
    if (n < cap)
      break;
    if (cap >= DIR_FILE_MAX) {
      free(p);
      p = NULL;
      *why = "over 64 MiB";
      break;
    }
    char *q = realloc(p, cap * 2 + 1);
    if (!q) {
      free(p);
      p = NULL;
      *why = "out of memory";
      break;
    }
    p = q;
    cap *= 2;
  }
  if (p && ferror(f)) {
    free(p);
    p = NULL;
    *why = "read error";
  }
  fclose(f);
  if (p) {
    p[n] = 0;
    *len = n;
  }
  return p;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int api_wf_deploy_dir(struct api_wf *w, const char *dir, const char *event)
{
  DIR *d = opendir(dir);
  if (!d) {
    logf_(w, "error", event, "--workflows %s: %s; nothing deployed from it", dir, strerror(errno));
    return -1;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) && n < DIR_FILES_MAX) {
    size_t l = strlen(de->d_name);
    if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".yaml"))
      continue;
    if (n == cap) {
      char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
      if (!nn)
        break;
      names = nn;
    }
    if (!(names[n] = strdup(de->d_name)))
      break;
    n++;
  }
  closedir(d);
  if (n)
    qsort(names, n, sizeof *names, cmp_str);
  struct store *s = NULL;
  char *serr = NULL;
  int bad = 0;
  size_t deployed = 0, same = 0;
  if (store_open(w->home, &s, &serr)) {
    logf_(w, "error", event, "--workflows %s: cannot open the store: %s", dir, serr ? serr : "failed");
    free(serr);
    bad = -1;
    goto out;
  }
  struct ops_ctx c = {.store = s, .home = w->home, .user = "server", .role = ROLE_ADMIN};
  for (size_t i = 0; i < n; i++) {
    char path[PATH_MAX], abs[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    size_t len = 0;
    const char *why = "failed";
    char *text = slurp(path, &len, &why);
    if (!text) {
      logf_(w, "error", event, "cannot read %s: %s; skipped", path, why);
      bad++;
      continue;
    }
    json_t *out = NULL, *problems = NULL;
    struct ops_error e = {0};
    enum ops_err k = ops_deploy(&c, text, len, path, realpath(path, abs) ? abs : path, &out, &problems, &e);
    free(text);
    if (k) {
      size_t j;
      json_t *p;
      json_array_foreach(problems, j, p) logf_(w, "error", event, "%s", json_string_value(p));
      logf_(w, "error", event, "%s; skipped", e.msg);
      json_decref(problems);
      bad++;
      continue;
    }
    const char *name = json_string_value(json_object_get(out, "name"));
    long long version = json_integer_value(json_object_get(out, "version"));
    if (json_is_true(json_object_get(out, "created"))) {
      logf_(w, "info", event, "deployed %s version %lld from %s", name, version, path);
      deployed++;
    } else {
      same++;
    }
    json_decref(out);
  }
  logf_(w, "info", event, "--workflows %s: %zu deployed, %zu unchanged, %d skipped", dir, deployed, same, bad);
out:
  store_close(s);
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  return bad;
}
