/* ids.c — ULID generation for run ids. */
#include "util/ids.h"

#include <string.h>
#include <sys/random.h>

static const char B32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void ids_ulid(char out[WEFT_ID_LEN + 1], int64_t ms)
{
  static int64_t last_ms = -1;
  static unsigned char last_rand[10];
  unsigned char r[10];
  if (ms == last_ms) {
    /* monotonic within one millisecond: increment the random part */
    memcpy(r, last_rand, sizeof r);
    for (int i = 9; i >= 0 && ++r[i] == 0; i--)
      ;
  } else if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
    for (int i = 0; i < 10; i++)
      r[i] = (unsigned char)(ms >> (i % 6)) ^ (unsigned char)(i * 37);
  }
  last_ms = ms;
  memcpy(last_rand, r, sizeof r);
  uint64_t t = (uint64_t)ms;
  for (int i = 9; i >= 0; i--) {
    out[i] = B32[t & 31];
    t >>= 5;
  }
  /* 80 random bits -> 16 characters */
  int bit = 0;
  for (int i = 0; i < 16; i++) {
    int v = 0;
    for (int k = 0; k < 5; k++, bit++)
      v = (v << 1) | ((r[bit / 8] >> (7 - bit % 8)) & 1);
    out[10 + i] = B32[v];
  }
  out[WEFT_ID_LEN] = '\0';
}
