/* cron_probe.c — a test tool: next fire times of cron expressions, for the
 * comparison against python3-croniter (tests/cli/test_cron_croniter.py).
 *
 * Reads lines "EXPR|ZONE|EPOCH|N" on stdin and answers each with one line:
 * the next N fire times after EPOCH (seconds, space-separated), or
 * "ERR message" when the expression or zone is refused. Zones are cached. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/cron.h"
#include "sched/tz.h"

struct zc {
  char name[64];
  struct tz *z;
};

int main(void)
{
  static struct zc cache[64];
  int ncache = 0;
  char line[1024];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    char *expr = strtok(line, "|"), *zone = strtok(NULL, "|"), *ep = strtok(NULL, "|"), *ns = strtok(NULL, "|");
    if (!expr || !zone || !ep || !ns) {
      printf("ERR bad probe line\n");
      continue;
    }
    char err[256];
    struct cron c;
    if (cron_parse(expr, &c, err, sizeof err)) {
      printf("ERR %s\n", err);
      fflush(stdout);
      continue;
    }
    struct tz *z = NULL;
    for (int i = 0; i < ncache; i++)
      if (!strcmp(cache[i].name, zone))
        z = cache[i].z;
    if (!z) {
      if (tz_load(zone, &z, err, sizeof err)) {
        printf("ERR %s\n", err);
        fflush(stdout);
        continue;
      }
      if (ncache < 64) {
        snprintf(cache[ncache].name, sizeof cache[ncache].name, "%s", zone);
        cache[ncache++].z = z;
      }
    }
    long long t = atoll(ep);
    int n = atoi(ns);
    for (int i = 0; i < n; i++) {
      int64_t next;
      if (cron_next(&c, z, t, &next)) {
        printf("%sNONE", i ? " " : "");
        break;
      }
      printf("%s%lld", i ? " " : "", (long long)next);
      t = next;
    }
    printf("\n");
    fflush(stdout);
  }
  for (int i = 0; i < ncache; i++)
    tz_free(cache[i].z);
  return 0;
}
