/* ids.h — run ids: ULIDs (26 Crockford base32 characters, time-ordered). */
#ifndef WEFT_UTIL_IDS_H
#define WEFT_UTIL_IDS_H

#include <stdint.h>

#define WEFT_ID_LEN 26
/* Writes a new ULID for time ms plus a NUL into out. Random bits come from
 * getrandom(); ids made in the same process and millisecond still sort. */
void ids_ulid(char out[WEFT_ID_LEN + 1], int64_t ms);

#endif
