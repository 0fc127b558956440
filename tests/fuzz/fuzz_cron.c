/* fuzz_cron.c — libFuzzer entry point for the schedule parsers: cron
 * expressions, POSIX TZ rules and TZif files.
 *
 * The first byte picks the parser; the rest is its input. An accepted cron
 * expression must yield a next time after an arbitrary instant (cron_parse
 * refuses what can never fire), and an accepted zone must answer offset,
 * next-change and resolve queries without crashing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sched/cron.h"
#include "sched/tz.h"

static void exercise(const struct tz *z, int64_t t)
{
  int64_t a, b;
  (void)tz_offset(z, t);
  (void)tz_next_change(z, t);
  (void)tz_resolve(z, t, &a, &b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1 || size > 4096)
    return 0;
  char err[256];
  uint8_t mode = data[0] % 3;
  data++, size--;
  if (mode == 2) {
    struct tz *z;
    if (tz_parse(data, size, &z, err, sizeof err) == 0) {
      exercise(z, 0);
      exercise(z, 4102444800); /* 2100 */
      exercise(z, -2208988800);
      tz_free(z);
    }
    return 0;
  }
  char *s = malloc(size + 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = 0;
  if (mode == 0) {
    struct cron c;
    if (cron_parse(s, &c, err, sizeof err) == 0) {
      int64_t n;
      if (cron_next(&c, NULL, 1700000000, &n) || n <= 1700000000)
        abort();
    }
  } else {
    struct tz *z;
    if (tz_posix(s, &z, err, sizeof err) == 0) {
      exercise(z, 1700000000);
      exercise(z, 4102444800);
      tz_free(z);
    }
  }
  free(s);
  return 0;
}
