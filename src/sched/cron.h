/* cron.h — schedule expressions and their next fire times, as pure functions.
 *
 * Syntax (SERVER.md §3; docs/triggers.md for users):
 *   five fields "minute hour day-of-month month day-of-week", each a list of
 *   `*`, N, A-B, with an optional /STEP (`*\/15`, `9-17/2`, `5/10` = 5-59/10);
 *   month names jan..dec, weekday names sun..sat (0 and 7 are Sunday);
 *   `L` in day-of-month (the month's last day), `5L` or `L5` in day-of-week
 *   (the month's last Friday), `1#2` (its second Monday);
 *   the aliases @hourly @daily @midnight @weekly @monthly @yearly @annually;
 *   and `@every DURATION` (>= 1s; fire times are multiples of it since the
 *   Unix epoch, so they are the same on every server and after a restart).
 * Day rule (Vixie cron's): when both day fields are restricted — neither
 * starts with `*` — a day matches if either matches; otherwise both must.
 *
 * Time zones: fire times are local wall-clock minutes of the trigger's zone.
 * A local time that a DST change skips fires at the first instant after the
 * gap (once, however many skipped minutes matched); a local time that occurs
 * twice fires once, at its first occurrence.
 *
 * Ownership: struct cron is a plain value; cron_parse fills the caller's. */
#ifndef WEFT_SCHED_CRON_H
#define WEFT_SCHED_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/tz.h"

struct cron {
  uint64_t min;       /* bit m: minute m */
  uint32_t hour;      /* bit h */
  uint32_t dom;       /* bit d, 1..31 */
  uint16_t mon;       /* bit m, 1..12 */
  uint8_t dow;        /* bit w, 0 = Sunday */
  uint8_t dow_last;   /* bit w: the month's last weekday w */
  uint8_t dow_nth[7]; /* per weekday, bit k: its k-th (1..5) in the month */
  bool dom_last;      /* L: the month's last day */
  bool dom_star, dow_star; /* the field starts with '*' (Vixie's rule) */
  int64_t every;      /* @every, in seconds; 0 for a cron expression */
};

/* Parses EXPR. Returns 0, or WEFT_EPARSE with a message in err that names
 * the field and what is wrong: unknown names, values out of range, a step of
 * 0, an empty field, a wrong number of fields, and expressions that can
 * never fire (`0 0 30 feb *`) are all errors. */
int cron_parse(const char *expr, struct cron *c, char *err, size_t errlen);

/* The first fire time strictly after instant `after` (seconds since the Unix
 * epoch) in zone z (NULL: UTC). Returns 0 and *next, or WEFT_ENOTFOUND when
 * none falls within 400 years (only for an expression cron_parse refused). */
int cron_next(const struct cron *c, const struct tz *z, int64_t after, int64_t *next);

/* Whether the local civil minute (local seconds, a multiple of 60) matches. */
bool cron_matches_local(const struct cron *c, int64_t local);

#endif
