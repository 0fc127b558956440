/* utf8.c — UTF-8 well-formedness check (see utf8.h). */
#include "util/utf8.h"

size_t utf8_invalid_offset(const unsigned char *s, size_t n)
{
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t k;
    unsigned min;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      k = 1, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      k = 2, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      k = 3, min = 0x10000;
    } else {
      return i;
    }
    if (i + k >= n)
      return i;
    unsigned cp = c & (0x3f >> k);
    for (size_t j = 1; j <= k; j++) {
      unsigned d = s[i + j];
      if ((d & 0xc0) != 0x80)
        return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return i;
    i += k + 1;
  }
  return n;
}

bool utf8_valid(const unsigned char *s, size_t n) { return utf8_invalid_offset(s, n) == n; }
