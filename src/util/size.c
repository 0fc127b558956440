/* size.c — byte sizes written by people (see size.h). */
#include "util/size.h"

#include <stdio.h>
#include <string.h>

#include "util/err.h"

int wt_parse_size(const char *s, int64_t *out)
{
  static const struct { const char *unit; int64_t mul; } units[] = {
    {"B", 1},
    {"KiB", (int64_t)1 << 10}, {"MiB", (int64_t)1 << 20},
    {"GiB", (int64_t)1 << 30}, {"TiB", (int64_t)1 << 40},
    {"KB", 1000},              {"MB", 1000000},
    {"GB", 1000000000},        {"TB", 1000000000000},
  };
  int64_t n = 0;
  const char *p = s;
  if (!s || *p < '0' || *p > '9')
    return WEFT_EINVAL;
  for (; *p >= '0' && *p <= '9'; p++) {
    n = n * 10 + (*p - '0');
    if (n > WT_SIZE_MAX)
      return WEFT_ELIMIT;
  }
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(p, units[i].unit))
      continue;
    if (n > WT_SIZE_MAX / units[i].mul)
      return WEFT_ELIMIT;
    *out = n * units[i].mul;
    return 0;
  }
  return WEFT_EINVAL;
}

void wt_fmt_size(int64_t bytes, char out[32])
{
  static const char *const names[] = {"TiB", "GiB", "MiB", "KiB"};
  for (int i = 0; i < 4; i++) {
    int64_t mul = (int64_t)1 << (10 * (4 - i));
    if (bytes >= mul && bytes % mul == 0) {
      snprintf(out, 32, "%lld %s", (long long)(bytes / mul), names[i]);
      return;
    }
  }
  snprintf(out, 32, "%lld bytes", (long long)bytes);
}
