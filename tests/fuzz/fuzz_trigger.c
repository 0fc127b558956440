/* fuzz_trigger.c — libFuzzer entry point for the trigger parsers: backfill
 * bounds (RFC 3339 or a date), webhook signature headers and delivery ids.
 *
 * The first byte picks the parser; the rest is its input. An accepted
 * bound must give a backfill window that ends; a signature header is only
 * ever accepted when it is the body's real HMAC. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sched/cron.h"
#include "sched/plan.h"
#include "sched/trigger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1 || size > 4096)
    return 0;
  uint8_t mode = data[0] % 3;
  data++, size--;
  char *s = malloc(size + 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = 0;
  if (mode == 0) {
    int64_t t;
    if (sched_parse_bound(s, NULL, &t) == 0) {
      struct cron c;
      char err[128];
      int64_t v[16];
      size_t n;
      if (cron_parse("@hourly", &c, err, sizeof err) == 0)
        (void)sched_backfill_times(&c, NULL, t, t + 86400, v, 16, &n);
    }
  } else if (mode == 1) {
    char real[72];
    hook_signature("k", 1, "body", 4, real);
    if (hook_signature_ok("k", 1, "body", 4, s) && strcasecmp(s, real) != 0)
      abort();
  } else {
    char k[300];
    (void)hook_delivery_key("name", s, k, sizeof k);
  }
  free(s);
  return 0;
}
