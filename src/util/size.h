/* size.h — byte sizes written by people: "100MiB", "10KiB", "1GB", "512B".
 *
 * A whole number then a unit, no space: B; KiB, MiB, GiB, TiB (powers of
 * 1024); KB, MB, GB, TB (powers of 1000). Units are case-sensitive (MB is
 * not Mb: bits are not bytes). */
#ifndef WEFT_UTIL_SIZE_H
#define WEFT_UTIL_SIZE_H

#include <stdint.h>

#define WT_SIZE_MAX ((int64_t)1 << 50) /* 1 PiB: larger sizes are WEFT_ELIMIT */

/* Parses s into *out bytes: 0, WEFT_EINVAL (no number, no or unknown unit),
 * or WEFT_ELIMIT (over WT_SIZE_MAX). */
int wt_parse_size(const char *s, int64_t *out);
/* Formats bytes for people: "100 MiB" when a whole number of the largest
 * binary unit, else "N bytes". */
void wt_fmt_size(int64_t bytes, char out[32]);

#endif
