/* test_cron.c — sched: cron expressions (parse errors, fields, day rules,
 * aliases, @every) and time zones (TZif files, POSIX rules, DST resolution).
 * The large comparison against python3-croniter is tests/cli/test_cron_croniter.py. */
#include <criterion/criterion.h>
#include <string.h>

#include "sched/cron.h"
#include "sched/tz.h"
#include "util/err.h"

static int64_t utc(int y, unsigned mo, unsigned d, int h, int mi)
{
  return tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static int64_t next_of(const char *expr, const struct tz *z, int64_t after)
{
  struct cron c;
  char err[256];
  cr_assert_eq(cron_parse(expr, &c, err, sizeof err), 0, "%s: %s", expr, err);
  int64_t n = 0;
  cr_assert_eq(cron_next(&c, z, after, &n), 0);
  return n;
}

static void refused(const char *expr, const char *needle)
{
  struct cron c;
  char err[256] = "";
  cr_assert_eq(cron_parse(expr, &c, err, sizeof err), WEFT_EPARSE, "%s was accepted", expr);
  cr_assert(strstr(err, needle), "%s: message \"%s\" lacks \"%s\"", expr, err, needle);
}

Test(cron, impossible_and_malformed_expressions_are_refused_with_the_field)
{
  refused("0 0 30 feb *", "never fires");
  refused("0 0 31 apr,jun,sep,nov *", "never fires");
  refused("0 0 * *", "5 fields");
  refused("0 0 * * * *", "5 fields");
  refused("60 * * * *", "minute field");
  refused("* 24 * * *", "hour field");
  refused("* * 0 * *", "day-of-month field");
  refused("* * * 13 *", "month field");
  refused("* * * * 8", "day-of-week field");
  refused("*/0 * * * *", "step of 0");
  refused("5-1 * * * *", "runs backwards");
  refused("* * * foo *", "month name");
  refused("* * * * funday", "weekday name");
  refused("1,,2 * * * *", "empty list element");
  refused("* * * * 1#6", "1 to 5");
  refused("@fortnightly", "unknown schedule");
  refused("@every 500ms", "whole seconds");
  refused("@every 0s", "whole seconds");
  refused("@every", "unknown schedule");
  refused("@every 1m extra", "one duration");
}

Test(cron, fields_lists_ranges_steps_and_names)
{
  int64_t t = utc(2026, 12, 3, 10, 7);
  cr_assert_eq(next_of("*/15 * * * *", NULL, t), utc(2026, 12, 3, 10, 15));
  cr_assert_eq(next_of("5/20 * * * *", NULL, t), utc(2026, 12, 3, 10, 25));
  cr_assert_eq(next_of("0 9-17/4 * * *", NULL, t), utc(2026, 12, 3, 13, 0));
  cr_assert_eq(next_of("0 0 1 jan,JUL *", NULL, t), utc(2027, 1, 1, 0, 0));
  cr_assert_eq(next_of("0 12 * * sat-sun", NULL, t), utc(2026, 12, 5, 12, 0)); /* 2026-12-03 is a Thursday */
  cr_assert_eq(next_of("0 12 * * fri-0", NULL, t), utc(2026, 12, 4, 12, 0));
  cr_assert_eq(next_of("0 12 * * 7", NULL, t), utc(2026, 12, 6, 12, 0)); /* 7 is Sunday */
  /* strictly after: a time exactly on a fire time gives the next one */
  cr_assert_eq(next_of("0 * * * *", NULL, utc(2026, 12, 3, 10, 0)), utc(2026, 12, 3, 11, 0));
  cr_assert_eq(next_of("0 * * * *", NULL, utc(2026, 12, 3, 10, 0) + 30), utc(2026, 12, 3, 11, 0));
}

Test(cron, last_day_last_weekday_and_nth_weekday)
{
  int64_t t = utc(2027, 2, 1, 0, 0);
  cr_assert_eq(next_of("0 0 L * *", NULL, t), utc(2027, 2, 28, 0, 0));
  cr_assert_eq(next_of("0 0 L * *", NULL, utc(2028, 2, 1, 0, 0)), utc(2028, 2, 29, 0, 0));
  cr_assert_eq(next_of("0 0 * * 5L", NULL, t), utc(2027, 2, 26, 0, 0)); /* last Friday */
  cr_assert_eq(next_of("0 0 * * L5", NULL, t), utc(2027, 2, 26, 0, 0));
  cr_assert_eq(next_of("0 0 * * mon#2", NULL, t), utc(2027, 2, 8, 0, 0));
  /* Feb 29 on its own: the search reaches the next leap year */
  cr_assert_eq(next_of("0 0 29 2 *", NULL, t), utc(2028, 2, 29, 0, 0));
}

Test(cron, vixie_day_rule_either_day_when_both_are_restricted)
{
  int64_t t = utc(2026, 12, 3, 0, 0); /* a Thursday */
  /* both restricted: the 15th OR a Monday */
  cr_assert_eq(next_of("0 0 15 * mon", NULL, t), utc(2026, 12, 7, 0, 0));
  /* day-of-month starts with '*': both must match (odd days that are Mondays) */
  cr_assert_eq(next_of("0 0 */2 * mon", NULL, t), utc(2026, 12, 7, 0, 0));
  cr_assert_eq(next_of("0 0 */2 * tue", NULL, t), utc(2026, 12, 15, 0, 0));
  /* a full list without '*' is restricted: 1-31 OR Monday is every day */
  cr_assert_eq(next_of("0 0 1-31 * mon", NULL, t), utc(2026, 12, 3, 0, 0) + 86400);
}

Test(cron, aliases_and_every)
{
  int64_t t = utc(2026, 12, 3, 10, 7);
  cr_assert_eq(next_of("@hourly", NULL, t), utc(2026, 12, 3, 11, 0));
  cr_assert_eq(next_of("@daily", NULL, t), utc(2026, 12, 4, 0, 0));
  cr_assert_eq(next_of("@weekly", NULL, t), utc(2026, 12, 6, 0, 0));
  cr_assert_eq(next_of("@monthly", NULL, t), utc(2027, 1, 1, 0, 0));
  cr_assert_eq(next_of("@YEARLY", NULL, t), utc(2027, 1, 1, 0, 0));
  /* @every: multiples of the period since the epoch, the same on every server */
  cr_assert_eq(next_of("@every 90s", NULL, 100), 180);
  cr_assert_eq(next_of("@every 90s", NULL, 180), 270);
  cr_assert_eq(next_of("@every 1h30m", NULL, t) % 5400, 0);
}

Test(tz, posix_rules_and_dst_resolution)
{
  struct tz *z;
  char err[128];
  cr_assert_eq(tz_posix("CET-1CEST,M3.5.0,M10.5.0/3", &z, err, sizeof err), 0, "%s", err);
  /* 2021-03-28 01:00 UTC: 02:00 CET becomes 03:00 CEST */
  int64_t spring = utc(2021, 3, 28, 1, 0);
  cr_assert_eq(tz_offset(z, spring - 1), 3600);
  cr_assert_eq(tz_offset(z, spring), 7200);
  cr_assert_eq(tz_next_change(z, spring - 3600), spring);
  int64_t a = 0, b = 0;
  cr_assert_eq(tz_resolve(z, utc(2021, 3, 28, 2, 30), &a, &b), 0); /* skipped */
  cr_assert_eq(a, spring);
  int64_t autumn = utc(2021, 10, 31, 1, 0); /* 03:00 CEST becomes 02:00 CET */
  cr_assert_eq(tz_resolve(z, utc(2021, 10, 31, 2, 30), &a, &b), 2); /* repeated */
  cr_assert_eq(a, autumn - 1800);
  cr_assert_eq(b, autumn + 1800);
  cr_assert_eq(tz_resolve(z, utc(2021, 7, 1, 12, 0), &a, &b), 1);
  cr_assert_eq(a, utc(2021, 7, 1, 10, 0));
  /* the cron rule on top: skipped fires at the gap's end, repeated once */
  struct cron c;
  cr_assert_eq(cron_parse("30 2 * * *", &c, err, sizeof err), 0);
  int64_t n;
  cr_assert_eq(cron_next(&c, z, spring - 7200, &n), 0);
  cr_assert_eq(n, spring);
  cr_assert_eq(cron_next(&c, z, autumn - 7200, &n), 0);
  cr_assert_eq(n, autumn - 1800);
  cr_assert_eq(cron_next(&c, z, n, &n), 0);
  cr_assert_eq(n, utc(2021, 11, 1, 1, 30));
  tz_free(z);
  /* a southern rule (DST across new year) and a rule with no DST */
  cr_assert_eq(tz_posix("AEST-10AEDT,M10.1.0,M4.1.0/3", &z, err, sizeof err), 0);
  cr_assert_eq(tz_offset(z, utc(2027, 1, 15, 0, 0)), 11 * 3600);
  cr_assert_eq(tz_offset(z, utc(2027, 7, 15, 0, 0)), 10 * 3600);
  tz_free(z);
  cr_assert_eq(tz_posix("<+0530>-5:30", &z, err, sizeof err), 0);
  cr_assert_eq(tz_offset(z, 0), 5 * 3600 + 1800);
  cr_assert_eq(tz_next_change(z, 0), INT64_MAX);
  tz_free(z);
  cr_assert_neq(tz_posix("CET", &z, err, sizeof err), 0);
  cr_assert_neq(tz_posix("CET-1CEST,M13.5.0,M10.5.0", &z, err, sizeof err), 0);
}

Test(tz, system_zones_load_and_bad_names_are_refused)
{
  struct tz *z;
  char err[256];
  cr_assert_eq(tz_load("America/New_York", &z, err, sizeof err), 0, "%s", err);
  cr_assert_eq(tz_offset(z, utc(2026, 1, 15, 12, 0)), -5 * 3600);
  cr_assert_eq(tz_offset(z, utc(2026, 7, 15, 12, 0)), -4 * 3600);
  /* past the file's table, the footer rule goes on */
  cr_assert_eq(tz_offset(z, utc(2090, 7, 15, 12, 0)), -4 * 3600);
  cr_assert_eq(tz_offset(z, utc(2090, 1, 15, 12, 0)), -5 * 3600);
  tz_free(z);
  cr_assert_eq(tz_load("UTC", &z, err, sizeof err), 0);
  cr_assert_eq(tz_offset(z, 12345), 0);
  tz_free(z);
  cr_assert_eq(tz_load("../../etc/passwd", &z, err, sizeof err), WEFT_EINVAL);
  cr_assert_eq(tz_load("/etc/passwd", &z, err, sizeof err), WEFT_EINVAL);
  cr_assert_eq(tz_load("Mars/Olympus_Mons", &z, err, sizeof err), WEFT_ENOTFOUND);
  cr_assert(strstr(err, "unknown time zone"), "%s", err);
  static const uint8_t junk[] = "TZif2 but not really a zone file at all, just bytes";
  cr_assert_eq(tz_parse(junk, sizeof junk, &z, err, sizeof err), WEFT_EPARSE);
}
