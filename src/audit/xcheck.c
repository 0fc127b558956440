/* xcheck.c — the store against the audit log (see xcheck.h).
 *
 * The chain walk (audit.c) proves that the entries present were not edited,
 * reordered or removed from the middle; it cannot see entries removed from
 * the end together with the head record, or all of them. The store can: each
 * row was written in the same transaction as an entry, so each row's state
 * must be the state its latest entry records. Checked, per run (the rows and
 * the entries of one run arrive together from store_verify_scan, so memory is
 * bounded by the largest run, ~40 bytes per step instance and attempt):
 *
 *   run row            a run.created entry; when the row is past queued, its
 *                      status is the last run.status entry's
 *   step instance row  its status and attempts are the last step.status
 *                      entry's for (step, index), or the last step.instances
 *                      entry's whose from..to covers the index; a pending row with 0
 *                      attempts may have none (rows written when the run is
 *                      created or a for_each expands: a for_each instance
 *                      then needs a step.expanded entry covering its index)
 *   attempt row        running: an attempt.started entry; ended: an
 *                      attempt.finished entry with its status
 *   decision row       one approval.* entry per row (same step, index, person
 *                      and decision)
 *   definition row     a definition entry with its hash
 *   no run row         a run.pruned entry among the run's entries (weft
 *                      prune); else the run was removed by hand
 *
 * The knowledge of which entries a transition produces is in two functions:
 * note_entry() (what an entry says) and check_unit() (what a row needs). A
 * change to how runtime/rt_journal.c writes step instances (e.g. for_each
 * storage) is adapted there. */
#include "audit/xcheck.h"
#include "util/buf.h"
#include "util/err.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- statuses as small codes ---- */

static const char *const STATUS[] = {NULL,        "pending", "running", "waiting",
                                     "retrying",  "succeeded", "failed", "skipped",
                                     "cancelled", "queued"};
#define N_STATUS (int)(sizeof STATUS / sizeof STATUS[0])
#define ST_UNKNOWN 15

static uint8_t status_code(const char *s, size_t n)
{
  if (!s)
    return 0;
  for (int i = 1; i < N_STATUS; i++)
    if (strlen(STATUS[i]) == n && !memcmp(STATUS[i], s, n))
      return (uint8_t)i;
  return ST_UNKNOWN;
}

static const char *status_name(uint8_t c) { return c && c < N_STATUS ? STATUS[c] : "?"; }

/* ---- top-level members of a canonical JSON object, without parsing it ---- */

struct jm {
  const char *key, *val;
  size_t klen, vlen;
};

static const char *skip_string(const char *p) /* p at the opening quote */
{
  for (p++; *p && *p != '"'; p++)
    if (*p == '\\' && p[1])
      p++;
  return *p ? p + 1 : p;
}

static const char *skip_value(const char *p)
{
  if (*p == '"')
    return skip_string(p);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    do {
      if (*p == '"') {
        p = skip_string(p);
        continue;
      }
      if (*p == '{' || *p == '[')
        depth++;
      else if (*p == '}' || *p == ']')
        depth--;
      p++;
    } while (*p && depth > 0);
    return p;
  }
  while (*p && *p != ',' && *p != '}' && *p != ']')
    p++;
  return p;
}

/* *p: after '{' or after the previous member. false at the end. */
static bool jnext(const char **p, struct jm *m)
{
  const char *s = *p;
  while (*s == ' ' || *s == ',' || *s == '\n')
    s++;
  if (*s != '"')
    return false;
  const char *k = s;
  s = skip_string(s);
  m->key = k + 1;
  m->klen = (size_t)(s - k - 2 > 0 ? s - k - 2 : 0);
  while (*s == ' ' || *s == ':')
    s++;
  m->val = s;
  s = skip_value(s);
  m->vlen = (size_t)(s - m->val);
  *p = s;
  return true;
}

static bool key_is(const struct jm *m, const char *k)
{
  return strlen(k) == m->klen && !memcmp(m->key, k, m->klen);
}

/* The fields the check reads from an entry's data. Strings point into the
 * data, without quotes (lengths given); a string with escapes is decoded into
 * by_buf (only `by` may have them: names of people). */
struct edata {
  const char *step, *status, *by, *decision, *hash;
  size_t step_n, status_n, by_n, decision_n, hash_n;
  int64_t index, attempts, attempt, instances, from, to;
  char by_buf[256];
};

static void str_of(const struct jm *m, const char **s, size_t *n)
{
  if (m->vlen >= 2 && m->val[0] == '"') {
    *s = m->val + 1;
    *n = m->vlen - 2;
  }
}

static int64_t int_of(const struct jm *m)
{
  return m->vlen && m->val[0] != 'n' ? strtoll(m->val, NULL, 10) : -1;
}

static void parse_data(const char *data, struct edata *d)
{
  memset(d, 0, offsetof(struct edata, by_buf));
  d->index = d->attempts = d->attempt = d->instances = d->from = d->to = -1;
  if (!data || *data != '{')
    return;
  const char *p = data + 1;
  struct jm m;
  while (jnext(&p, &m)) {
    if (key_is(&m, "step"))
      str_of(&m, &d->step, &d->step_n);
    else if (key_is(&m, "status"))
      str_of(&m, &d->status, &d->status_n);
    else if (key_is(&m, "by"))
      str_of(&m, &d->by, &d->by_n);
    else if (key_is(&m, "decision"))
      str_of(&m, &d->decision, &d->decision_n);
    else if (key_is(&m, "hash"))
      str_of(&m, &d->hash, &d->hash_n);
    else if (key_is(&m, "index"))
      d->index = int_of(&m);
    else if (key_is(&m, "attempts"))
      d->attempts = int_of(&m);
    else if (key_is(&m, "attempt"))
      d->attempt = int_of(&m);
    else if (key_is(&m, "instances"))
      d->instances = int_of(&m);
    else if (key_is(&m, "from"))
      d->from = int_of(&m);
    else if (key_is(&m, "to"))
      d->to = int_of(&m);
  }
  if (d->by && memchr(d->by, '\\', d->by_n)) {
    char q[300];
    if (d->by_n + 2 < sizeof q) {
      q[0] = '"';
      memcpy(q + 1, d->by, d->by_n);
      q[d->by_n + 1] = '"';
      json_t *v = json_loadb(q, d->by_n + 2, JSON_DECODE_ANY, NULL);
      if (json_is_string(v) && json_string_length(v) < sizeof d->by_buf) {
        strcpy(d->by_buf, json_string_value(v));
        d->by = d->by_buf;
        d->by_n = strlen(d->by_buf);
      }
      json_decref(v);
    }
  }
}

/* ---- per-run records ---- */

/* One step instance (attempt 0) or one attempt of it. */
struct rec {
  uint32_t name;       /* interned step name */
  int32_t index;
  uint32_t attempt;    /* 0: the step instance */
  uint8_t row_status;  /* 0: no row */
  uint8_t log_status;  /* 0: no entry (attempt: no attempt.finished) */
  bool started;        /* attempt: an attempt.started entry */
  int32_t row_attempts, log_attempts;
  int64_t log_seq;
};

struct expn { /* the step.expanded entries of a step */
  int64_t max;      /* most instances of any (covers rows of an earlier, larger one); -1 none */
  int64_t last_n;   /* instances of the latest */
  int64_t last_seq; /* its seq: instance rows below last_n were rewritten pending then */
};

struct dec { /* a decision row (+1) or entry (-1), keyed */
  char *key;
  int delta;
  int64_t seq;
};

struct xcheck {
  /* the run being checked */
  char *run;
  uint8_t run_status;   /* 0: no row */
  bool created, pruned;
  uint8_t last_run_status;
  int64_t last_run_seq, n_entries, first_seq;
  char **names;
  size_t n_names, cap_names;
  uint32_t *name_tab;   /* open addressing: index + 1 into names; 0 empty */
  size_t name_cap;
  struct rec *recs;
  size_t n_recs, cap_recs;
  uint32_t *rec_tab;
  size_t rec_cap;
  struct expn *expanded; /* per name: its step.expanded entries */
  struct dec *decs;
  size_t n_decs, cap_decs;
  /* definitions in the chain (hashes), sorted at the first workflow row */
  char **defs;
  size_t n_defs, cap_defs;
  bool defs_sorted;
  /* the verdict */
  struct buf msg;
  int64_t bad_seq;
  bool bad;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
  uint64_t h = 1469598103934665603u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211u;
  return h;
}

static int grow(void **v, size_t *cap, size_t n, size_t elem)
{
  if (n < *cap)
    return 0;
  size_t nc = *cap ? *cap * 2 : 64;
  void *p = realloc(*v, nc * elem);
  if (!p)
    return WEFT_ENOMEM;
  *v = p;
  *cap = nc;
  return 0;
}

static int rehash_names(struct xcheck *x)
{
  size_t cap = x->name_cap ? x->name_cap * 2 : 64;
  uint32_t *t = calloc(cap, sizeof *t);
  if (!t)
    return WEFT_ENOMEM;
  for (size_t i = 0; i < x->n_names; i++) {
    size_t k = hash_bytes(x->names[i], strlen(x->names[i])) & (cap - 1);
    while (t[k])
      k = (k + 1) & (cap - 1);
    t[k] = (uint32_t)i + 1;
  }
  free(x->name_tab);
  x->name_tab = t;
  x->name_cap = cap;
  return 0;
}

/* The number of step name s (n bytes); interned on first sight. */
static int intern(struct xcheck *x, const char *s, size_t n, uint32_t *out)
{
  if (2 * (x->n_names + 1) > x->name_cap && rehash_names(x))
    return WEFT_ENOMEM;
  size_t k = hash_bytes(s, n) & (x->name_cap - 1);
  for (; x->name_tab[k]; k = (k + 1) & (x->name_cap - 1)) {
    const char *c = x->names[x->name_tab[k] - 1];
    if (strlen(c) == n && !memcmp(c, s, n)) {
      *out = x->name_tab[k] - 1;
      return 0;
    }
  }
  size_t old = x->cap_names;
  if (grow((void **)&x->names, &x->cap_names, x->n_names, sizeof *x->names))
    return WEFT_ENOMEM;
  if (x->cap_names != old) {
    struct expn *e = realloc(x->expanded, x->cap_names * sizeof *e);
    if (!e)
      return WEFT_ENOMEM;
    x->expanded = e;
  }
  if (!(x->names[x->n_names] = strndup(s, n)))
    return WEFT_ENOMEM;
  x->expanded[x->n_names] = (struct expn){.max = -1, .last_n = -1};
  x->name_tab[k] = (uint32_t)++x->n_names;
  *out = (uint32_t)x->n_names - 1;
  return 0;
}

static uint64_t rec_hash(uint32_t name, int32_t index, uint32_t attempt)
{
  uint64_t h = (uint64_t)name * 0x9e3779b97f4a7c15u;
  h ^= (uint64_t)(uint32_t)index * 0xc2b2ae3d27d4eb4fu;
  h ^= (uint64_t)attempt * 0x165667b19e3779f9u;
  return h ^ (h >> 29);
}

static int rehash_recs(struct xcheck *x)
{
  size_t cap = x->rec_cap ? x->rec_cap * 2 : 1024;
  uint32_t *t = calloc(cap, sizeof *t);
  if (!t)
    return WEFT_ENOMEM;
  for (size_t i = 0; i < x->n_recs; i++) {
    struct rec *r = &x->recs[i];
    size_t k = rec_hash(r->name, r->index, r->attempt) & (cap - 1);
    while (t[k])
      k = (k + 1) & (cap - 1);
    t[k] = (uint32_t)i + 1;
  }
  free(x->rec_tab);
  x->rec_tab = t;
  x->rec_cap = cap;
  return 0;
}

/* The record of (step, index, attempt), made on first sight. */
static int rec_of(struct xcheck *x, const char *step, size_t n, int64_t index, int64_t attempt,
                  struct rec **out)
{
  uint32_t name;
  if (intern(x, step, n, &name))
    return WEFT_ENOMEM;
  if (x->n_recs >= UINT32_MAX - 1)
    return WEFT_ELIMIT;
  if (2 * (x->n_recs + 1) > x->rec_cap && rehash_recs(x))
    return WEFT_ENOMEM;
  int32_t ix = (int32_t)index;
  uint32_t at = (uint32_t)attempt;
  size_t k = rec_hash(name, ix, at) & (x->rec_cap - 1);
  for (; x->rec_tab[k]; k = (k + 1) & (x->rec_cap - 1)) {
    struct rec *r = &x->recs[x->rec_tab[k] - 1];
    if (r->name == name && r->index == ix && r->attempt == at) {
      *out = r;
      return 0;
    }
  }
  if (grow((void **)&x->recs, &x->cap_recs, x->n_recs, sizeof *x->recs))
    return WEFT_ENOMEM;
  struct rec *r = &x->recs[x->n_recs];
  memset(r, 0, sizeof *r);
  r->name = name;
  r->index = ix;
  r->attempt = at;
  x->rec_tab[k] = (uint32_t)++x->n_recs;
  *out = r;
  return 0;
}

static int dec_add(struct xcheck *x, const char *kind, const char *step, size_t step_n,
                   int64_t index, const char *by, size_t by_n, const char *decision,
                   size_t decision_n, int delta, int64_t seq)
{
  if (grow((void **)&x->decs, &x->cap_decs, x->n_decs, sizeof *x->decs))
    return WEFT_ENOMEM;
  struct dec *d = &x->decs[x->n_decs];
  if (asprintf(&d->key, "%s %.*s[%" PRId64 "] by %.*s %.*s", kind, (int)step_n, step, index,
               (int)by_n, by ? by : "", (int)decision_n, decision ? decision : "") < 0)
    return WEFT_ENOMEM;
  d->delta = delta;
  d->seq = seq;
  x->n_decs++;
  return 0;
}

static void run_reset(struct xcheck *x)
{
  free(x->run);
  x->run = NULL;
  for (size_t i = 0; i < x->n_names; i++)
    free(x->names[i]);
  x->n_names = 0;
  if (x->name_tab)
    memset(x->name_tab, 0, x->name_cap * sizeof *x->name_tab);
  x->n_recs = 0;
  if (x->rec_tab && x->rec_cap > 4096) { /* give back a big run's table */
    free(x->rec_tab);
    x->rec_tab = NULL;
    x->rec_cap = 0;
  } else if (x->rec_tab) {
    memset(x->rec_tab, 0, x->rec_cap * sizeof *x->rec_tab);
  }
  if (x->cap_recs > 4096) {
    free(x->recs);
    x->recs = NULL;
    x->cap_recs = 0;
  }
  for (size_t i = 0; i < x->n_decs; i++)
    free(x->decs[i].key);
  x->n_decs = 0;
  x->run_status = x->last_run_status = 0;
  x->created = x->pruned = false;
  x->last_run_seq = x->n_entries = x->first_seq = 0;
}

struct xcheck *xc_new(void)
{
  struct xcheck *x = calloc(1, sizeof *x);
  if (x)
    buf_init(&x->msg, 4096);
  return x;
}

void xc_free(struct xcheck *x)
{
  if (!x)
    return;
  run_reset(x);
  free(x->names);
  free(x->name_tab);
  free(x->expanded);
  free(x->recs);
  free(x->rec_tab);
  free(x->decs);
  for (size_t i = 0; i < x->n_defs; i++)
    free(x->defs[i]);
  free(x->defs);
  buf_free(&x->msg);
  free(x);
}

const char *xc_problem(const struct xcheck *x) { return x->bad ? x->msg.p : NULL; }
int64_t xc_problem_seq(const struct xcheck *x) { return x->bad_seq; }

static int problem(struct xcheck *x, int64_t seq, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
static int problem(struct xcheck *x, int64_t seq, const char *fmt, ...)
{
  va_list ap;
  char line[1024];
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  buf_printf(&x->msg, "run %s: %s", x->run ? x->run : "?", line);
  x->bad = true;
  x->bad_seq = seq;
  return 1;
}

#define MISSING "entries were deleted from the audit log (or its tail was cut)"

/* ---- what an entry says (the writer's side: runtime/rt_journal.c,
 * runtime.c, runtime/svc_approval.c, ops/decide.c) ---- */
static int note_entry(struct xcheck *x, const struct store_audit *e)
{
  const char *k = e->kind ? e->kind : "";
  struct edata d;
  struct rec *r;
  int rc;
  x->n_entries++;
  if (!x->first_seq)
    x->first_seq = e->seq;
  if (!strcmp(k, "run.created")) {
    x->created = true;
    return 0;
  }
  if (!strcmp(k, "run.pruned")) {
    x->pruned = true;
    return 0;
  }
  if (strncmp(k, "run.", 4) && strncmp(k, "step.", 5) && strncmp(k, "attempt.", 8) &&
      strncmp(k, "approval.", 9))
    return 0; /* cancel.requested, retry, agent.turn, ...: no row of their own */
  parse_data(e->data, &d);
  if (!strcmp(k, "run.status")) {
    x->last_run_status = status_code(d.status, d.status_n);
    x->last_run_seq = e->seq;
    return 0;
  }
  if (!d.step)
    return 0;
  int64_t ix = d.index < 0 ? -1 : d.index;
  if (!strcmp(k, "step.status")) {
    /* every transition of a step instance: the row has the latest one */
    if ((rc = rec_of(x, d.step, d.step_n, ix, 0, &r)))
      return rc;
    r->log_status = status_code(d.status, d.status_n);
    r->log_attempts = (int32_t)d.attempts;
    r->log_seq = e->seq;
  } else if (!strcmp(k, "step.instances")) {
    /* one entry for the like transitions of instances from..to (rt_journal.c,
     * struct span): each of them as if it had its own step.status entry. No
     * instance lies past the largest expansion: the range is clamped to it
     * (an entry cannot make the check allocate more than the rows do). */
    uint32_t name;
    if (intern(x, d.step, d.step_n, &name))
      return WEFT_ENOMEM;
    int64_t to = d.to < x->expanded[name].max ? d.to : x->expanded[name].max - 1;
    uint8_t st = status_code(d.status, d.status_n);
    for (int64_t i = d.from < 0 ? 0 : d.from; i <= to; i++) {
      if ((rc = rec_of(x, d.step, d.step_n, i, 0, &r)))
        return rc;
      r->log_status = st;
      r->log_attempts = (int32_t)d.attempts;
      r->log_seq = e->seq;
    }
  } else if (!strcmp(k, "attempt.started") || !strcmp(k, "attempt.finished")) {
    if (d.attempt < 1)
      return 0;
    if ((rc = rec_of(x, d.step, d.step_n, ix, d.attempt, &r)))
      return rc;
    if (k[8] == 's') {
      r->started = true;
    } else {
      r->log_status = status_code(d.status, d.status_n);
      r->log_seq = e->seq;
    }
  } else if (!strcmp(k, "step.expanded")) {
    /* the pending rows of a for_each, written in bulk with this one entry */
    uint32_t name;
    if (intern(x, d.step, d.step_n, &name))
      return WEFT_ENOMEM;
    struct expn *xp = &x->expanded[name];
    if (d.instances > xp->max)
      xp->max = d.instances;
    xp->last_n = d.instances;
    xp->last_seq = e->seq;
  } else if (!strcmp(k, "approval.requested") || !strcmp(k, "approval.timeout")) {
    return dec_add(x, k, d.step, d.step_n, ix, NULL, 0, NULL, 0, -1, e->seq);
  } else if (!strcmp(k, "approval.decided")) {
    return dec_add(x, k, d.step, d.step_n, ix, d.by, d.by_n, d.decision, d.decision_n, -1,
                   e->seq);
  } else if (!strcmp(k, "approval.refused")) {
    return dec_add(x, k, d.step, d.step_n, ix, d.by, d.by_n, NULL, 0, -1, e->seq);
  }
  return 0;
}

/* ---- what a row needs ---- */
static int check_unit(struct xcheck *x, const struct rec *r)
{
  const char *step = x->names[r->name];
  char at[48] = "";
  if (r->index >= 0)
    snprintf(at, sizeof at, "[%" PRId32 "]", r->index);
  if (r->row_status == ST_UNKNOWN)
    return problem(x, 0, "step %s%s has an unknown status in the store", step, at);
  if (r->attempt == 0) {
    if (!r->row_status)
      return r->log_status ? problem(x, r->log_seq,
                                     "step %s%s has step.status entries (the last is entry %" PRId64
                                     ") but no row in the store: the store was edited",
                                     step, at, r->log_seq)
                           : 0;
    const struct expn *xp = &x->expanded[r->name];
    /* a for_each (re-)expansion rewrites its instance rows pending, 0
     * attempts (`weft retry` of the step), with one step.expanded entry */
    bool reset = r->index >= 0 && r->index < xp->last_n && r->log_seq < xp->last_seq;
    if (!r->log_status || reset) {
      /* rows that are written without an entry: pending, never attempted */
      if (r->row_status != 1 || r->row_attempts != 0)
        return problem(x, reset ? xp->last_seq : 0,
                       "step %s%s is %s (%" PRId32 " attempt(s)) in the store but the audit log "
                       "has no step.status entry for it%s: " MISSING,
                       step, at, status_name(r->row_status), r->row_attempts,
                       reset ? " since its step was expanded again" : "");
      if (r->index >= 0 && xp->max <= r->index)
        return problem(x, 0,
                       "for_each instance %s%s is in the store but no step.expanded entry "
                       "covers it: " MISSING,
                       step, at);
      return 0;
    }
    if (r->log_status != r->row_status || r->log_attempts != r->row_attempts)
      return problem(x, r->log_seq,
                     "step %s%s is %s after %" PRId32 " attempt(s) in the store, but its last "
                     "step.status entry (%" PRId64 ") says %s after %" PRId32 ": " MISSING,
                     step, at, status_name(r->row_status), r->row_attempts, r->log_seq,
                     status_name(r->log_status), r->log_attempts);
    return 0;
  }
  if (!r->row_status)
    return 0; /* attempt entries of a row rewritten in one commit (skipped row writes) */
  if (r->row_status == 2 /* running */ && !r->started)
    return problem(x, 0,
                   "attempt %" PRIu32 " of step %s%s is running in the store but has no "
                   "attempt.started entry: " MISSING,
                   r->attempt, step, at);
  /* ended: attempt.finished (a reserved attempt that never started, ended
   * `interrupted` by recovery, has no attempt.started) */
  if (r->row_status != 2 && r->log_status != r->row_status)
    return problem(x, r->log_seq,
                   "attempt %" PRIu32 " of step %s%s ended %s in the store but the audit log "
                   "has %s: " MISSING,
                   r->attempt, step, at, status_name(r->row_status),
                   r->log_status ? status_name(r->log_status) : "no attempt.finished entry");
  return 0;
}

static int dec_cmp(const void *a, const void *b)
{
  return strcmp(((const struct dec *)a)->key, ((const struct dec *)b)->key);
}

static int run_end(struct xcheck *x)
{
  if (!x->run_status) {
    if (x->pruned || !x->n_entries)
      return 0; /* pruned (its rows went with it) */
    return problem(x, x->first_seq,
                   "the audit log has %" PRId64 " entries of this run (the first is entry %" PRId64
                   ") but the store has no such run and no run.pruned entry: the run was "
                   "removed from the store without `weft prune`",
                   x->n_entries, x->first_seq);
  }
  if (x->run_status == ST_UNKNOWN)
    return problem(x, 0, "the run has an unknown status in the store");
  if (!x->created)
    return problem(x, 0, "the run is in the store but the audit log has no run.created entry "
                         "for it: " MISSING);
  if (x->run_status != 9 /* queued */ || x->last_run_status)
    if (x->last_run_status != x->run_status)
      return problem(x, x->last_run_seq,
                     "the run is %s in the store but its last run.status entry%s says %s: " MISSING,
                     status_name(x->run_status), x->last_run_seq ? "" : " (none)",
                     x->last_run_status ? status_name(x->last_run_status) : "nothing");
  for (size_t i = 0; i < x->n_recs; i++)
    if (check_unit(x, &x->recs[i]))
      return 1;
  if (x->n_decs > 1)
    qsort(x->decs, x->n_decs, sizeof *x->decs, dec_cmp);
  for (size_t i = 0; i < x->n_decs;) {
    size_t j = i;
    int sum = 0;
    while (j < x->n_decs && !strcmp(x->decs[j].key, x->decs[i].key))
      sum += x->decs[j++].delta;
    if (sum > 0)
      return problem(x, 0, "the store has %d decision(s) (%s) without their audit entry: " MISSING,
                     sum, x->decs[i].key);
    i = j;
  }
  return 0;
}

static int def_cmp(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int xc_row(struct xcheck *x, const struct store_vrow *r)
{
  struct rec *rec;
  int rc;
  switch (r->type) {
  case STORE_V_ENTRY:
    if (!r->entry->run_id && r->entry->kind && !strcmp(r->entry->kind, "definition")) {
      struct edata d;
      parse_data(r->entry->data, &d);
      if (!d.hash)
        return 0;
      if (grow((void **)&x->defs, &x->cap_defs, x->n_defs, sizeof *x->defs) ||
          !(x->defs[x->n_defs] = strndup(d.hash, d.hash_n)))
        return WEFT_ENOMEM;
      x->n_defs++;
    }
    return 0;
  case STORE_V_RUN:
    run_reset(x);
    if (!(x->run = strdup(r->run_id)))
      return WEFT_ENOMEM;
    x->run_status = r->status ? status_code(r->status, strlen(r->status)) : 0;
    return 0;
  case STORE_V_STEP:
  case STORE_V_ATTEMPT:
    if (!r->step)
      return 0;
    if ((rc = rec_of(x, r->step, strlen(r->step), r->index < 0 ? -1 : r->index,
                     r->type == STORE_V_STEP ? 0 : r->n, &rec)))
      return rc;
    rec->row_status = r->status ? status_code(r->status, strlen(r->status)) : ST_UNKNOWN;
    rec->row_attempts = (int32_t)(r->type == STORE_V_STEP ? r->n : 0);
    return 0;
  case STORE_V_DECISION: {
    const char *dc = r->decision ? r->decision : "";
    const char *st = r->step ? r->step : "";
    int64_t ix = r->index < 0 ? -1 : r->index;
    const char *u = r->user ? r->user : "";
    if (!strcmp(dc, "requested") || !strcmp(dc, "timeout"))
      return dec_add(x, dc[0] == 'r' ? "approval.requested" : "approval.timeout", st, strlen(st),
                     ix, NULL, 0, NULL, 0, 1, 0);
    if (!strcmp(dc, "approve") || !strcmp(dc, "reject"))
      return dec_add(x, "approval.decided", st, strlen(st), ix, u, strlen(u), dc, strlen(dc), 1,
                     0);
    if (!strcmp(dc, "refused"))
      return dec_add(x, "approval.refused", st, strlen(st), ix, u, strlen(u), NULL, 0, 1, 0);
    return 0;
  }
  case STORE_V_RUN_ENTRY:
    return note_entry(x, r->entry);
  case STORE_V_RUN_END:
    return run_end(x);
  case STORE_V_WORKFLOW:
    if (!x->defs_sorted) {
      if (x->n_defs > 1)
        qsort(x->defs, x->n_defs, sizeof *x->defs, def_cmp);
      x->defs_sorted = true;
    }
    if (!r->hash || !x->n_defs ||
        !bsearch(&r->hash, x->defs, x->n_defs, sizeof *x->defs, def_cmp)) {
      free(x->run);
      x->run = NULL;
      x->bad = true;
      x->bad_seq = 0;
      buf_printf(&x->msg, "definition %s is in the store but the audit log has no definition "
                          "entry for it: " MISSING, r->hash ? r->hash : "?");
      return 1;
    }
    return 0;
  }
  return 0;
}
