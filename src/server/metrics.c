/* metrics.c — the registry of metrics.h and the text exposition format.
 *
 * A family is a fixed array of series, found by a linear scan over their
 * joined label values (families hold tens of series in practice; the cap
 * keeps the worst case bounded). Numbers are printed with %.17g trimmed to
 * the shortest form that reads back the same, as Prometheus expects floats. */
#include "server/metrics.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_FAMILIES 64
#define MAX_BUCKETS 24

struct series {
  char key[256]; /* label values joined by \x1f */
  double v;      /* counter/gauge value; histogram sum */
  double count;  /* histogram */
  double b[MAX_BUCKETS];
};

struct family {
  const char *name, *help;
  enum metric_type type;
  const char *labels[METRICS_MAX_LABELS];
  int nlabels;
  double bucket[MAX_BUCKETS];
  size_t nb;
  pthread_mutex_t mu;
  struct series *s;
  size_t n, cap;
};

struct metrics {
  struct family f[MAX_FAMILIES];
  int n;
  double start_time;
};

struct metrics *metrics_new(void)
{
  struct metrics *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  m->start_time = (double)ts.tv_sec + ts.tv_nsec / 1e9;
  return m;
}

void metrics_free(struct metrics *m)
{
  if (!m)
    return;
  for (int i = 0; i < m->n; i++) {
    pthread_mutex_destroy(&m->f[i].mu);
    free(m->f[i].s);
  }
  free(m);
}

int metrics_family(struct metrics *m, const char *name, const char *help, enum metric_type t,
                   const char *const *labels, const double *buckets, size_t nbuckets)
{
  if (m->n >= MAX_FAMILIES || nbuckets > MAX_BUCKETS)
    return -1;
  struct family *f = &m->f[m->n];
  memset(f, 0, sizeof *f);
  f->name = name;
  f->help = help;
  f->type = t;
  for (; labels && labels[f->nlabels]; f->nlabels++)
    if (f->nlabels >= METRICS_MAX_LABELS)
      return -1;
  for (int i = 0; i < f->nlabels; i++)
    f->labels[i] = labels[i];
  for (size_t i = 0; i < nbuckets; i++)
    f->bucket[i] = buckets[i];
  f->nb = nbuckets;
  pthread_mutex_init(&f->mu, NULL);
  return m->n++;
}

/* the series for these values (created), with f->mu held */
static struct series *series_of(struct family *f, const char *const *values)
{
  char key[256];
  size_t k = 0;
  for (int i = 0; i < f->nlabels; i++) {
    const char *v = values && values[i] ? values[i] : "";
    size_t n = strlen(v);
    /* each value gets an equal share of the key (with its separator; the
     * final NUL aside), so a long value never takes the room of the next
     * ones: names are at most 64 bytes (LANGUAGE.md), longer values are
     * cut to their share */
    size_t share = (sizeof key - 1) / (size_t)f->nlabels - 1;
    if (n > share)
      n = share;
    memcpy(key + k, v, n);
    k += n;
    key[k++] = '\x1f';
  }
  key[k] = 0;
  for (size_t i = 0; i < f->n; i++)
    if (!strcmp(f->s[i].key, key))
      return &f->s[i];
  if (f->n >= METRICS_MAX_SERIES) { /* the overflow series */
    k = 0;
    for (int i = 0; i < f->nlabels; i++)
      k += (size_t)snprintf(key + k, sizeof key - k, "_other\x1f");
    for (size_t i = 0; i < f->n; i++)
      if (!strcmp(f->s[i].key, key))
        return &f->s[i];
    if (f->n > METRICS_MAX_SERIES)
      return NULL;
  }
  if (f->n == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 8;
    struct series *s = realloc(f->s, cap * sizeof *s);
    if (!s)
      return NULL;
    f->s = s;
    f->cap = cap;
  }
  struct series *s = &f->s[f->n++];
  memset(s, 0, sizeof *s);
  snprintf(s->key, sizeof s->key, "%s", key);
  return s;
}

static void update(struct metrics *m, int fam, const char *const *values, double v, int how)
{
  if (fam < 0 || fam >= m->n)
    return;
  struct family *f = &m->f[fam];
  pthread_mutex_lock(&f->mu);
  struct series *s = series_of(f, values);
  if (s) {
    if (how == 0)
      s->v += v;
    else if (how == 1)
      s->v = v;
    else if (how == 2) { /* 3: only create the series */
      s->v += v;
      s->count += 1;
      for (size_t i = 0; i < f->nb; i++)
        if (v <= f->bucket[i])
          s->b[i] += 1;
    }
  }
  pthread_mutex_unlock(&f->mu);
}

void metrics_inc(struct metrics *m, int fam, const char *const *values, double by) { update(m, fam, values, by, 0); }
void metrics_set(struct metrics *m, int fam, const char *const *values, double v) { update(m, fam, values, v, 1); }
void metrics_observe(struct metrics *m, int fam, const char *const *values, double v) { update(m, fam, values, v, 2); }
void metrics_touch(struct metrics *m, int fam, const char *const *values) { update(m, fam, values, 0, 3); }

static void num(struct buf *o, double v)
{
  if (isnan(v)) {
    buf_puts(o, "NaN");
    return;
  }
  if (isinf(v)) {
    buf_puts(o, v > 0 ? "+Inf" : "-Inf");
    return;
  }
  char s[40];
  if (v == floor(v) && fabs(v) < 9007199254740992.0) { /* integers as integers */
    snprintf(s, sizeof s, "%.0f", v);
    buf_puts(o, s);
    return;
  }
  for (int p = 1; p <= 17; p++) {
    snprintf(s, sizeof s, "%.*g", p, v);
    if (strtod(s, NULL) == v)
      break;
  }
  buf_puts(o, s);
}

/* label block {a="x",b="y"} from a series key, plus an optional extra label */
static void labels(struct buf *o, const struct family *f, const char *key, const char *extra, const char *extra_v)
{
  if (!f->nlabels && !extra)
    return;
  buf_puts(o, "{");
  const char *p = key;
  for (int i = 0; i < f->nlabels; i++) {
    if (i)
      buf_puts(o, ",");
    buf_printf(o, "%s=\"", f->labels[i]);
    for (; *p && *p != '\x1f'; p++) {
      if (*p == '\\' || *p == '"')
        buf_printf(o, "\\%c", *p);
      else if (*p == '\n')
        buf_puts(o, "\\n");
      else
        buf_append(o, p, 1);
    }
    if (*p)
      p++;
    buf_puts(o, "\"");
  }
  if (extra)
    buf_printf(o, "%s%s=\"%s\"", f->nlabels ? "," : "", extra, extra_v);
  buf_puts(o, "}");
}

static void help_line(struct buf *o, const char *name, const char *help, const char *type)
{
  buf_printf(o, "# HELP %s ", name);
  for (const char *c = help; *c; c++) {
    if (*c == '\\')
      buf_puts(o, "\\\\");
    else if (*c == '\n')
      buf_puts(o, "\\n");
    else
      buf_append(o, c, 1);
  }
  buf_printf(o, "\n# TYPE %s %s\n", name, type);
}

static void one(struct buf *o, const char *name, const char *help, const char *type, double v)
{
  help_line(o, name, help, type);
  buf_printf(o, "%s ", name);
  num(o, v);
  buf_puts(o, "\n");
}

static void process_metrics(struct metrics *m, struct buf *o)
{
  long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
  FILE *f = fopen("/proc/self/stat", "r");
  unsigned long ut = 0, st = 0, vsize = 0;
  long rss = 0;
  if (f) {
    char line[1024];
    if (fgets(line, sizeof line, f)) {
      const char *p = strrchr(line, ')');
      /* fields after the command: state(3) ... utime(14) stime(15) ... vsize(23) rss(24) */
      if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %*u %lu %ld",
                      &ut, &st, &vsize, &rss) != 4)
        ut = st = vsize = 0, rss = 0;
    }
    fclose(f);
  }
  int fds = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    for (struct dirent *e; (e = readdir(d));)
      fds += e->d_name[0] != '.';
    closedir(d);
    fds--; /* the directory's own descriptor */
  }
  one(o, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter",
      tick > 0 ? (double)(ut + st) / (double)tick : 0);
  one(o, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", (double)rss * (double)page);
  one(o, "process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge", (double)vsize);
  one(o, "process_open_fds", "Number of open file descriptors.", "gauge", fds);
  one(o, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge",
      m->start_time);
}

int metrics_render(struct metrics *m, struct buf *o)
{
  static const char *const tname[] = {"counter", "gauge", "histogram"};
  for (int i = 0; i < m->n; i++) {
    struct family *f = &m->f[i];
    help_line(o, f->name, f->help, tname[f->type]);
    pthread_mutex_lock(&f->mu);
    for (size_t k = 0; k < f->n; k++) {
      const struct series *s = &f->s[k];
      if (f->type != METRIC_HISTOGRAM) {
        buf_puts(o, f->name);
        labels(o, f, s->key, NULL, NULL);
        buf_puts(o, " ");
        num(o, s->v);
        buf_puts(o, "\n");
        continue;
      }
      for (size_t b = 0; b <= f->nb; b++) {
        char le[40];
        if (b < f->nb) {
          struct buf t;
          buf_init(&t, sizeof le);
          num(&t, f->bucket[b]);
          snprintf(le, sizeof le, "%s", t.p ? t.p : "0");
          buf_free(&t);
        } else {
          snprintf(le, sizeof le, "+Inf");
        }
        buf_printf(o, "%s_bucket", f->name);
        labels(o, f, s->key, "le", le);
        buf_puts(o, " ");
        num(o, b < f->nb ? s->b[b] : s->count);
        buf_puts(o, "\n");
      }
      buf_printf(o, "%s_sum", f->name);
      labels(o, f, s->key, NULL, NULL);
      buf_puts(o, " ");
      num(o, s->v);
      buf_printf(o, "\n%s_count", f->name);
      labels(o, f, s->key, NULL, NULL);
      buf_puts(o, " ");
      num(o, s->count);
      buf_puts(o, "\n");
    }
    pthread_mutex_unlock(&f->mu);
  }
  process_metrics(m, o);
  return 0;
}
