/* tz.h — IANA time zones from the system's tzdata, as a pure lookup.
 *
 * A zone is loaded once from its TZif file (RFC 8536, versions 1 to 4;
 * $TZDIR, else /usr/share/zoneinfo) into a table of transitions plus the
 * file's footer rule (a POSIX TZ string) for instants past the last listed
 * transition. After loading, every call is a pure function of its
 * arguments: no global state, no TZ variable, no localtime(), so a zone can
 * be shared by threads and the schedule code can be tested with any instant.
 *
 * Instants are int64 seconds since the Unix epoch (UTC). "Local seconds"
 * are the civil date-time of a zone counted as if it were UTC: the local
 * wall clock as a number, so civil arithmetic is plain integer arithmetic.
 *
 * Ownership: tz_load returns a zone the caller frees with tz_free. Error
 * messages are written into the caller's buffer. */
#ifndef WEFT_SCHED_TZ_H
#define WEFT_SCHED_TZ_H

#include <stddef.h>
#include <stdint.h>

struct tz;

/* Loads NAME ("UTC", "Europe/Berlin", ...). A name with "..", a leading
 * '/', or characters outside [A-Za-z0-9_+-/] is refused (it names a file).
 * Returns 0, or WEFT_ENOTFOUND (no such zone), WEFT_EPARSE (not a TZif
 * file, or a footer this code cannot read), WEFT_ENOMEM; err says which. */
int tz_load(const char *name, struct tz **out, char *err, size_t errlen);
/* The same from TZif bytes already in memory (tests, fuzzing). */
int tz_parse(const uint8_t *data, size_t len, struct tz **out, char *err, size_t errlen);
/* A zone from a POSIX TZ string alone ("CET-1CEST,M3.5.0,M10.5.0/3"). */
int tz_posix(const char *rule, struct tz **out, char *err, size_t errlen);
void tz_free(struct tz *z);
const char *tz_name(const struct tz *z);

/* The UTC offset in seconds (east positive) in force at instant t. */
int32_t tz_offset(const struct tz *z, int64_t t);
/* The first instant > t at which the offset changes; INT64_MAX if none. */
int64_t tz_next_change(const struct tz *z, int64_t t);

/* How the local time L (local seconds) maps to instants:
 *   1: exactly one, in *first;
 *   2: twice (a clock set back): the earlier in *first, the later in *second;
 *   0: never (a clock set forward skipped it): *first is the instant at
 *      which the clock jumped over L (the first instant after the gap). */
int tz_resolve(const struct tz *z, int64_t local, int64_t *first, int64_t *second);

/* Civil calendar helpers (proleptic Gregorian). */
int64_t tz_days_from_civil(int64_t y, unsigned m, unsigned d);
void tz_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
unsigned tz_days_in_month(int64_t y, unsigned m);

#endif
