/* metrics.h — a small Prometheus registry: counters, gauges and histograms
 * with labels, rendered in the text exposition format 0.0.4 (SERVER.md §6).
 *
 * Families are declared once at start (metrics_family returns a handle);
 * updates come from any thread (one mutex per family, held for a lookup and
 * an add). Each family holds at most METRICS_MAX_SERIES label sets: further
 * new ones are counted in one series whose labels are all "_other", so a
 * caller that labels by something unbounded cannot grow memory without end.
 * metrics_render adds the process's own metrics (CPU, memory, open files,
 * start time) read from /proc at render time.
 *
 * Ownership: names, help texts, label names and buckets passed to
 * metrics_family are borrowed for the registry's life (string literals);
 * label values are copied. */
#ifndef WEFT_SERVER_METRICS_H
#define WEFT_SERVER_METRICS_H

#include <stddef.h>

#include "util/buf.h"

#define METRICS_MAX_SERIES 2000
#define METRICS_MAX_LABELS 4

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* labels: NULL-terminated label names (or NULL); buckets: upper bounds,
 * ascending, for histograms (+Inf is implied). Returns a handle >= 0, or -1. */
int metrics_family(struct metrics *m, const char *name, const char *help, enum metric_type t,
                   const char *const *labels, const double *buckets, size_t nbuckets);
/* values: one per label name, in order (NULL when the family has none) */
void metrics_inc(struct metrics *m, int fam, const char *const *values, double by); /* counter or gauge */
void metrics_set(struct metrics *m, int fam, const char *const *values, double v);  /* gauge */
void metrics_observe(struct metrics *m, int fam, const char *const *values, double v); /* histogram */
/* creates the series at zero (a histogram's buckets, count and sum) */
void metrics_touch(struct metrics *m, int fam, const char *const *values);
/* the whole registry plus process metrics, appended to out */
int metrics_render(struct metrics *m, struct buf *out);

#endif
