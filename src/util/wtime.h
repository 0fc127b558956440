/* wtime.h — clocks, RFC 3339 times and durations.
 *
 * Times are int64 milliseconds since the Unix epoch (UTC). Durations are int64
 * milliseconds. The engine never reads a clock itself: the runtime passes
 * wt_now_ms() in. */
#ifndef WEFT_UTIL_WTIME_H
#define WEFT_UTIL_WTIME_H

#include <stdint.h>
#include <stddef.h>

int64_t wt_now_ms(void);   /* wall clock */
int64_t wt_mono_ms(void);  /* monotonic, for measuring */
int64_t wt_mono_us(void);

/* "2026-11-25T10:00:00.123Z" into out (at least 25 bytes). */
void wt_fmt_rfc3339(int64_t ms, char out[32]);
/* Accepts "YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm|-hh:mm]" (also a space for T).
 * Returns 0 and sets *ms, or WEFT_EPARSE. */
int wt_parse_rfc3339(const char *s, int64_t *ms);

/* Durations: "250ms", "30s", "10m", "2h", "1d" and sums such as "1h30m".
 * A bare number, an empty string or an unknown unit is WEFT_EPARSE.
 * Overflow past ~292 years is WEFT_ELIMIT. */
int wt_parse_duration(const char *s, int64_t *ms);
/* Short human form: "1.2s", "3m04s", "2h05m", "850ms". out >= 32 bytes. */
void wt_fmt_duration(int64_t ms, char out[32]);

#endif
