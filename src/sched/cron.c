/* cron.c — parsing cron expressions and computing their next fire time.
 *
 * An expression becomes bit sets (struct cron). The next fire time is found
 * in two steps: a search over the civil calendar for the first matching
 * local minute after the start (months, then days, then hours and minutes;
 * pure arithmetic, no zone), then tz_resolve to turn that local minute into
 * an instant, applying the DST rules of cron.h: a skipped minute fires at
 * the end of the gap, a repeated one only at its first occurrence (later
 * ones are passed over and the search goes on). The Gregorian calendar
 * repeats every 400 years, so a search of 400 years answers "never" exactly;
 * cron_parse runs it once to refuse expressions that cannot fire. */
#include "sched/cron.h"
#include "util/err.h"
#include "util/wtime.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { F_MIN, F_HOUR, F_DOM, F_MON, F_DOW };

static const char *const field_name[] = {"minute", "hour", "day-of-month", "month", "day-of-week"};
static const int lo_of[] = {0, 0, 1, 1, 0};
static const int hi_of[] = {59, 23, 31, 12, 7};
static const char *const mon_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                        "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
  if (!err || !errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

/* a number or (in the month and weekday fields) a name; returns chars used */
static int read_value(int f, const char *s, size_t len, int *v)
{
  if (len && isdigit((unsigned char)s[0])) {
    int x = 0;
    size_t i = 0;
    for (; i < len && isdigit((unsigned char)s[i]); i++) {
      x = x * 10 + (s[i] - '0');
      if (x > 1000)
        return 0;
    }
    *v = x;
    return (int)i;
  }
  const char *const *names = f == F_MON ? mon_names : f == F_DOW ? dow_names : NULL;
  int n = f == F_MON ? 12 : 7;
  if (!names || len < 3)
    return 0;
  for (int k = 0; k < n; k++)
    if (!strncasecmp(s, names[k], 3) && (len == 3 || !isalpha((unsigned char)s[3]))) {
      *v = f == F_MON ? k + 1 : k;
      return 3;
    }
  return 0;
}

static void set_bit(struct cron *c, int f, int v)
{
  switch (f) {
  case F_MIN: c->min |= 1ull << v; break;
  case F_HOUR: c->hour |= 1u << v; break;
  case F_DOM: c->dom |= 1u << v; break;
  case F_MON: c->mon |= (uint16_t)(1u << v); break;
  default: c->dow |= (uint8_t)(1u << (v % 7)); break;
  }
}

/* one comma-separated element of field f */
static int parse_elem(struct cron *c, int f, const char *s, size_t len, char *err, size_t errlen)
{
  const char *fname = field_name[f];
  int lo = lo_of[f], hi = hi_of[f];
  if (len == 0) {
    seterr(err, errlen, "%s field has an empty list element", fname);
    return WEFT_EPARSE;
  }
  if (f == F_DOM && len == 1 && toupper((unsigned char)s[0]) == 'L') {
    c->dom_last = true;
    return 0;
  }
  if (f == F_DOW) { /* 5L, L5, fri#2 */
    int v, k;
    if (len >= 2 && toupper((unsigned char)s[0]) == 'L' && (k = read_value(f, s + 1, len - 1, &v)) && (size_t)k == len - 1 &&
        v <= 7) {
      c->dow_last |= (uint8_t)(1u << (v % 7));
      return 0;
    }
    if ((k = read_value(f, s, len, &v)) && v <= 7) {
      if ((size_t)k == len - 1 && toupper((unsigned char)s[k]) == 'L') {
        c->dow_last |= (uint8_t)(1u << (v % 7));
        return 0;
      }
      if ((size_t)k + 2 == len && s[k] == '#') {
        int nth = s[k + 1] - '0';
        if (nth < 1 || nth > 5) {
          seterr(err, errlen, "day-of-week \"%.*s\": the week after # must be 1 to 5", (int)len, s);
          return WEFT_EPARSE;
        }
        c->dow_nth[v % 7] |= (uint8_t)(1u << nth);
        return 0;
      }
    }
  }
  int a, b, step = 1;
  size_t i = 0;
  if (s[0] == '*') {
    a = lo;
    b = hi;
    i = 1;
  } else {
    int k = read_value(f, s, len, &a);
    if (!k) {
      seterr(err, errlen, "%s field: \"%.*s\" is not a number%s", fname, (int)len, s,
             f == F_MON ? " or a month name (jan..dec)" : f == F_DOW ? " or a weekday name (sun..sat)" : "");
      return WEFT_EPARSE;
    }
    i = (size_t)k;
    b = a;
    if (i < len && s[i] == '-') {
      k = read_value(f, s + i + 1, len - i - 1, &b);
      if (!k) {
        seterr(err, errlen, "%s field: \"%.*s\" has no end after '-'", fname, (int)len, s);
        return WEFT_EPARSE;
      }
      i += 1 + (size_t)k;
      if (f == F_DOW && b == 0 && a > 0)
        b = 7; /* fri-sun */
    } else if (i < len && s[i] == '/') {
      b = hi; /* 5/10 means 5-59/10 (in day-of-week, 1/2 reaches 7 = Sunday) */
    }
  }
  if (i < len && s[i] == '/') {
    int k = read_value(F_MIN, s + i + 1, len - i - 1, &step);
    if (!k || i + 1 + (size_t)k != len) {
      seterr(err, errlen, "%s field: \"%.*s\" needs a number after '/'", fname, (int)len, s);
      return WEFT_EPARSE;
    }
    if (step == 0) {
      seterr(err, errlen, "%s field: a step of 0 in \"%.*s\" never advances", fname, (int)len, s);
      return WEFT_EPARSE;
    }
    i = len;
  }
  if (i != len) {
    seterr(err, errlen, "%s field: cannot read \"%.*s\"", fname, (int)len, s);
    return WEFT_EPARSE;
  }
  if (a < lo || b > hi || a > hi) {
    seterr(err, errlen, "%s field: \"%.*s\" is out of range (%d-%d)", fname, (int)len, s, lo, hi);
    return WEFT_EPARSE;
  }
  if (a > b) {
    seterr(err, errlen, "%s field: the range \"%.*s\" runs backwards (write it as two ranges)", fname, (int)len, s);
    return WEFT_EPARSE;
  }
  for (int v = a; v <= b; v += step)
    set_bit(c, f, v);
  return 0;
}

static int parse_field(struct cron *c, int f, const char *s, size_t len, char *err, size_t errlen)
{
  size_t start = 0;
  for (size_t i = 0; i <= len; i++)
    if (i == len || s[i] == ',') {
      int rc = parse_elem(c, f, s + start, i - start, err, errlen);
      if (rc)
        return rc;
      start = i + 1;
    }
  if (f == F_DOM)
    c->dom_star = s[0] == '*';
  if (f == F_DOW)
    c->dow_star = s[0] == '*';
  return 0;
}

static int weekday(int64_t days) { return (int)(((days % 7) + 7 + 4) % 7); }

static bool day_ok(const struct cron *c, int64_t y, unsigned m, unsigned d)
{
  unsigned md = tz_days_in_month(y, m);
  int wd = weekday(tz_days_from_civil(y, m, d));
  bool dm = (c->dom >> d & 1) || (c->dom_last && d == md);
  bool wm = (c->dow >> wd & 1) || ((c->dow_last >> wd & 1) && d + 7 > md) || (c->dow_nth[wd] >> ((d - 1) / 7 + 1) & 1);
  if (c->dom_star || c->dow_star)
    return dm && wm;
  return dm || wm;
}

bool cron_matches_local(const struct cron *c, int64_t local)
{
  int64_t days = floor_div(local, 86400), secs = local - days * 86400;
  int64_t y;
  unsigned m, d;
  tz_civil_from_days(days, &y, &m, &d);
  return (c->mon >> m & 1) && day_ok(c, y, m, d) && (c->hour >> (secs / 3600) & 1) && (c->min >> (secs % 3600 / 60) & 1);
}

/* the first matching local minute >= start (a multiple of 60), or -1 */
static int64_t next_civil(const struct cron *c, int64_t start)
{
  int64_t days = floor_div(start, 86400), secs = start - days * 86400;
  int h = (int)(secs / 3600), mi = (int)(secs % 3600 / 60);
  int64_t y, y0;
  unsigned m, d;
  tz_civil_from_days(days, &y, &m, &d);
  y0 = y;
  while (y <= y0 + 400) {
    if (!(c->mon >> m & 1)) { /* the next month */
      d = 1, h = 0, mi = 0;
      if (++m > 12)
        m = 1, y++;
      continue;
    }
    if (day_ok(c, y, m, d)) {
      for (int hh = h; hh < 24; hh++) {
        if (!(c->hour >> hh & 1))
          continue;
        for (int mm = hh == h ? mi : 0; mm < 60; mm++)
          if (c->min >> mm & 1)
            return tz_days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60;
      }
    }
    h = 0, mi = 0;
    if (++d > tz_days_in_month(y, m)) {
      d = 1;
      if (++m > 12)
        m = 1, y++;
    }
  }
  return -1;
}

static const struct {
  const char *name, *expr;
} aliases[] = {
    {"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"}, {"@weekly", "0 0 * * 0"},
    {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"},
};

int cron_parse(const char *expr, struct cron *c, char *err, size_t errlen)
{
  memset(c, 0, sizeof *c);
  while (isspace((unsigned char)*expr))
    expr++;
  if (*expr == '@') {
    if (!strncasecmp(expr, "@every", 6) && isspace((unsigned char)expr[6])) {
      const char *d = expr + 6;
      while (isspace((unsigned char)*d))
        d++;
      char dur[64];
      size_t n = strcspn(d, " \t\r\n");
      const char *rest = d + n;
      while (isspace((unsigned char)*rest))
        rest++;
      int64_t ms;
      if (n == 0 || n >= sizeof dur || *rest) {
        seterr(err, errlen, "@every takes one duration, such as @every 90s or @every 1h30m");
        return WEFT_EPARSE;
      }
      memcpy(dur, d, n);
      dur[n] = 0;
      if (wt_parse_duration(dur, &ms) || ms < 1000 || ms % 1000 || ms > 100ll * 366 * 86400 * 1000) {
        seterr(err, errlen, "@every %s: give whole seconds from 1s to 100 years, such as 90s or 1h30m", dur);
        return WEFT_EPARSE;
      }
      c->every = ms / 1000;
      return 0;
    }
    for (size_t k = 0; k < sizeof aliases / sizeof *aliases; k++) {
      size_t n = strlen(aliases[k].name);
      if (!strncasecmp(expr, aliases[k].name, n)) {
        const char *rest = expr + n;
        while (isspace((unsigned char)*rest))
          rest++;
        if (!*rest)
          return cron_parse(aliases[k].expr, c, err, errlen);
      }
    }
    seterr(err, errlen, "unknown schedule \"%.40s\" (use @hourly @daily @weekly @monthly @yearly, @every D, or 5 fields)", expr);
    return WEFT_EPARSE;
  }
  const char *f[6];
  size_t flen[6];
  int nf = 0;
  const char *p = expr;
  while (*p) {
    while (isspace((unsigned char)*p))
      p++;
    if (!*p)
      break;
    const char *s = p;
    while (*p && !isspace((unsigned char)*p))
      p++;
    if (nf < 6) {
      f[nf] = s;
      flen[nf] = (size_t)(p - s);
    }
    nf++;
  }
  if (nf != 5) {
    seterr(err, errlen, "a schedule has 5 fields (minute hour day-of-month month day-of-week); this one has %d", nf);
    return WEFT_EPARSE;
  }
  for (int i = 0; i < 5; i++) {
    int rc = parse_field(c, i, f[i], flen[i], err, errlen);
    if (rc)
      return rc;
  }
  /* 2000-01-01: any start works, the calendar repeats every 400 years */
  if (next_civil(c, tz_days_from_civil(2000, 1, 1) * 86400) < 0) {
    seterr(err, errlen, "\"%s\" never fires (no month has that day)", expr);
    return WEFT_EPARSE;
  }
  return 0;
}

int cron_next(const struct cron *c, const struct tz *z, int64_t after, int64_t *next)
{
  if (c->every) {
    *next = (floor_div(after, c->every) + 1) * c->every;
    return 0;
  }
  int64_t local = after + (z ? tz_offset(z, after) : 0);
  int64_t start = (floor_div(local, 60) + 1) * 60;
  for (int guard = 0; guard < 100000; guard++) {
    int64_t m = next_civil(c, start);
    if (m < 0)
      return WEFT_ENOTFOUND;
    if (!z) {
      *next = m;
      return 0;
    }
    int64_t first = 0, second = 0;
    tz_resolve(z, m, &first, &second);
    if (first > after) { /* a gap resolves to its end; a repeat to its first */
      *next = first;
      return 0;
    }
    start = m + 60; /* the first occurrence has passed: the repeat does not fire */
  }
  return WEFT_ENOTFOUND;
}
