/* wtime.c — clocks, RFC 3339 formatting/parsing, duration strings. */
#include "util/wtime.h"
#include "util/err.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t wt_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t wt_mono_ms(void) { return wt_mono_us() / 1000; }

int64_t wt_mono_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void wt_fmt_rfc3339(int64_t ms, char out[32])
{
  time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  int frac = (int)(ms - (int64_t)secs * 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  /* years are clamped to 4 digits so the text always fits; written by hand,
   * not with snprintf: every time in every API answer goes through here (a
   * twentieth of a GET /runs/{id}) */
  unsigned y = (unsigned)(tm.tm_year + 1900) % 10000u, f = (unsigned)frac % 1000u;
  unsigned v[] = {(unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u,
                  (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u};
  static const char sep[] = "-T::.";
  char *p = out;
  *p++ = (char)('0' + y / 1000);
  *p++ = (char)('0' + y / 100 % 10);
  *p++ = (char)('0' + y / 10 % 10);
  *p++ = (char)('0' + y % 10);
  for (int i = 0; i < 5; i++) {
    *p++ = i ? sep[i - 1] : '-';
    *p++ = (char)('0' + v[i] / 10);
    *p++ = (char)('0' + v[i] % 10);
  }
  *p++ = '.';
  *p++ = (char)('0' + f / 100);
  *p++ = (char)('0' + f / 10 % 10);
  *p++ = (char)('0' + f % 10);
  *p++ = 'Z';
  *p = '\0';
}

static int digits(const char **p, int n, int *out)
{
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)**p))
      return -1;
    v = v * 10 + (**p - '0');
    (*p)++;
  }
  *out = v;
  return 0;
}

int wt_parse_rfc3339(const char *s, int64_t *ms)
{
  int Y, M, D, h, m, sec, frac = 0;
  const char *p = s;
  if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
      digits(&p, 2, &D))
    return WEFT_EPARSE;
  if (*p != 'T' && *p != 't' && *p != ' ')
    return WEFT_EPARSE;
  p++;
  if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' ||
      digits(&p, 2, &sec))
    return WEFT_EPARSE;
  if (*p == '.') {
    p++;
    int n = 0, scale = 100;
    if (!isdigit((unsigned char)*p))
      return WEFT_EPARSE;
    while (isdigit((unsigned char)*p)) {
      if (n < 3)
        frac += (*p - '0') * scale, scale /= 10;
      n++;
      p++;
    }
  }
  int offset_min = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p == '-' ? -1 : 1, oh, om;
    p++;
    if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
      return WEFT_EPARSE;
    offset_min = sign * (oh * 60 + om);
  } else {
    return WEFT_EPARSE;
  }
  if (*p)
    return WEFT_EPARSE;
  if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
    return WEFT_EPARSE;
  /* days from civil (Howard Hinnant) */
  int y = Y - (M <= 2);
  int era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (unsigned)((153 * (M + (M > 2 ? -3 : 9)) + 2) / 5 + D - 1);
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = (int64_t)era * 146097 + (int64_t)doe - 719468;
  *ms = ((days * 86400 + h * 3600 + m * 60 + sec) - (int64_t)offset_min * 60) * 1000 + frac;
  return 0;
}

int wt_parse_duration(const char *s, int64_t *ms)
{
  int64_t total = 0;
  const char *p = s;
  if (!*p)
    return WEFT_EPARSE;
  while (*p) {
    if (!isdigit((unsigned char)*p))
      return WEFT_EPARSE;
    int64_t n = 0;
    while (isdigit((unsigned char)*p)) {
      if (n > (INT64_MAX - 9) / 10)
        return WEFT_ELIMIT;
      n = n * 10 + (*p - '0');
      p++;
    }
    int64_t unit;
    if (p[0] == 'm' && p[1] == 's') unit = 1, p += 2;
    else if (*p == 's') unit = 1000, p++;
    else if (*p == 'm') unit = 60000, p++;
    else if (*p == 'h') unit = 3600000, p++;
    else if (*p == 'd') unit = 86400000, p++;
    else return WEFT_EPARSE;
    if (n > (INT64_MAX - total) / unit)
      return WEFT_ELIMIT;
    total += n * unit;
  }
  *ms = total;
  return 0;
}

void wt_fmt_duration(int64_t ms, char out[32])
{
  if (ms < 0)
    ms = 0;
  if (ms < 1000)
    snprintf(out, 32, "%dms", (int)ms);
  else if (ms < 60000)
    snprintf(out, 32, "%.1fs", (double)ms / 1000.0);
  else if (ms < 3600000)
    snprintf(out, 32, "%dm%02ds", (int)(ms / 60000), (int)(ms / 1000 % 60));
  else
    snprintf(out, 32, "%dh%02dm", (int)(ms / 3600000), (int)(ms / 60000 % 60));
}
