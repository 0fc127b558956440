/* tz.c — time zones from TZif files (RFC 8536) and POSIX TZ rules.
 *
 * A zone is a sorted table of (instant, offset) transitions read from the
 * file's 64-bit block (the 32-bit block of a version 1 file), plus the
 * footer rule that extends it past its last transition. Lookups are binary
 * searches, or the rule's two yearly changes computed for the year asked
 * about; tz_resolve walks the changes within a day either side of a local
 * time to find the instants that show it. Nothing here reads a clock or
 * the process's TZ: see tz.h for the contract. */
#include "sched/tz.h"
#include "util/err.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OFFSET (26 * 3600)     /* no zone is further from UTC than this */
#define MAX_TRANSITIONS (1 << 16)  /* real files hold a few hundred */
#define MAX_FILE (1 << 20)

struct pdate {
  char kind; /* 'J': Jn (no Feb 29), 'n': 0-based day of year, 'M': Mm.w.d */
  int m, w, d, n;
  int32_t time; /* seconds after local midnight (may be negative or > 24h) */
};

struct rule {
  int32_t std, dst; /* offsets east of UTC */
  bool has_dst;
  struct pdate start, end;
};

struct tz {
  char name[64];
  size_t n;
  int64_t *at;
  int32_t *off;
  int32_t off0; /* before the first transition */
  bool has_rule;
  struct rule r;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
  if (!err || !errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* ---- civil calendar (Howard Hinnant's algorithms) ---- */

int64_t tz_days_from_civil(int64_t y, unsigned m, unsigned d)
{
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

void tz_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t yy = (int64_t)yoe + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned tz_days_in_month(int64_t y, unsigned m)
{
  static const unsigned dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

/* ---- POSIX TZ rules ---- */

/* [+-]hh[:mm[:ss]] with hours <= maxh; returns chars used, 0 on error */
static int parse_hms(const char *s, int maxh, int32_t *out)
{
  const char *p = s;
  int sign = 1;
  if (*p == '+' || *p == '-')
    sign = *p++ == '-' ? -1 : 1;
  if (!isdigit((unsigned char)*p))
    return 0;
  long h = 0, mi = 0, se = 0;
  for (int k = 0; isdigit((unsigned char)*p); k++, p++) {
    if (k >= 3)
      return 0;
    h = h * 10 + (*p - '0');
  }
  if (h > maxh)
    return 0;
  if (*p == ':') {
    p++;
    if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
      return 0;
    mi = (p[0] - '0') * 10 + (p[1] - '0');
    p += 2;
    if (*p == ':') {
      p++;
      if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
        return 0;
      se = (p[0] - '0') * 10 + (p[1] - '0');
      p += 2;
    }
  }
  if (mi > 59 || se > 59)
    return 0;
  *out = (int32_t)(sign * (h * 3600 + mi * 60 + se));
  return (int)(p - s);
}

static int parse_name(const char *s)
{
  const char *p = s;
  if (*p == '<') {
    p++;
    while (*p && *p != '>') {
      if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-')
        return 0;
      p++;
    }
    if (*p != '>' || p - s < 4)
      return 0;
    return (int)(p + 1 - s);
  }
  while (isalpha((unsigned char)*p))
    p++;
  return p - s >= 3 ? (int)(p - s) : 0;
}

static int parse_num(const char **pp, int lo, int hi, int *out)
{
  const char *p = *pp;
  if (!isdigit((unsigned char)*p))
    return -1;
  long v = 0;
  while (isdigit((unsigned char)*p)) {
    v = v * 10 + (*p++ - '0');
    if (v > hi)
      return -1;
  }
  if (v < lo)
    return -1;
  *out = (int)v;
  *pp = p;
  return 0;
}

static int parse_pdate(const char **pp, struct pdate *d)
{
  const char *p = *pp;
  memset(d, 0, sizeof *d);
  if (*p == 'J') {
    p++;
    d->kind = 'J';
    if (parse_num(&p, 1, 365, &d->n))
      return -1;
  } else if (*p == 'M') {
    p++;
    d->kind = 'M';
    if (parse_num(&p, 1, 12, &d->m) || *p++ != '.' || parse_num(&p, 1, 5, &d->w) || *p++ != '.' ||
        parse_num(&p, 0, 6, &d->d))
      return -1;
  } else {
    d->kind = 'n';
    if (parse_num(&p, 0, 365, &d->n))
      return -1;
  }
  d->time = 7200;
  if (*p == '/') {
    p++;
    int k = parse_hms(p, 167, &d->time);
    if (!k)
      return -1;
    p += k;
  }
  *pp = p;
  return 0;
}

static int parse_rule(const char *s, struct rule *r, bool *has_any)
{
  const char *p = s;
  memset(r, 0, sizeof *r);
  *has_any = false;
  if (!*p)
    return 0; /* an empty footer: no rule */
  int k = parse_name(p);
  if (!k)
    return -1;
  p += k;
  int32_t o;
  if (!(k = parse_hms(p, 24, &o)))
    return -1;
  p += k;
  r->std = -o;
  *has_any = true;
  if (!*p) {
    r->dst = r->std;
    return 0;
  }
  if (!(k = parse_name(p)))
    return -1;
  p += k;
  r->has_dst = true;
  r->dst = r->std + 3600;
  if (*p && *p != ',') {
    if (!(k = parse_hms(p, 24, &o)))
      return -1;
    p += k;
    r->dst = -o;
  }
  if (!*p) { /* no rule given: the US rule, as glibc does */
    const char *us = "M3.2.0,M11.1.0";
    if (parse_pdate(&us, &r->start) || *us++ != ',' || parse_pdate(&us, &r->end))
      return -1;
    return 0;
  }
  if (*p++ != ',' || parse_pdate(&p, &r->start) || *p++ != ',' || parse_pdate(&p, &r->end) || *p)
    return -1;
  if (r->std < -MAX_OFFSET || r->std > MAX_OFFSET || r->dst < -MAX_OFFSET || r->dst > MAX_OFFSET)
    return -1;
  return 0;
}

/* the local midnight (as local seconds) of rule date d in year y, plus its time */
static int64_t pdate_local(int64_t y, const struct pdate *d)
{
  int64_t days;
  if (d->kind == 'J') {
    days = tz_days_from_civil(y, 1, 1) + d->n - 1 + (is_leap(y) && d->n >= 60);
  } else if (d->kind == 'n') {
    days = tz_days_from_civil(y, 1, 1) + d->n;
  } else {
    int64_t first = tz_days_from_civil(y, (unsigned)d->m, 1);
    int wd = (int)(((first % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
    int64_t day = first + (d->d - wd + 7) % 7 + (int64_t)(d->w - 1) * 7;
    while (day >= first + tz_days_in_month(y, (unsigned)d->m))
      day -= 7;
    days = day;
  }
  return days * 86400 + d->time;
}

/* the two changes of year y, as instants: into DST and out of it */
static void rule_changes(const struct rule *r, int64_t y, int64_t *start, int64_t *end)
{
  *start = pdate_local(y, &r->start) - r->std;
  *end = pdate_local(y, &r->end) - r->dst;
}

static int64_t year_of(int64_t t)
{
  int64_t y;
  unsigned m, d;
  tz_civil_from_days(floor_div(t, 86400), &y, &m, &d);
  return y;
}

static int32_t rule_offset(const struct rule *r, int64_t t)
{
  if (!r->has_dst)
    return r->std;
  int64_t s, e;
  rule_changes(r, year_of(t + r->std), &s, &e);
  bool dst = s < e ? (t >= s && t < e) : !(t >= e && t < s);
  return dst ? r->dst : r->std;
}

/* ---- TZif ---- */

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

struct hdr {
  uint32_t isut, isstd, leap, time, type, chars;
};

static int read_hdr(const uint8_t *p, size_t len, struct hdr *h, char *ver)
{
  if (len < 44 || memcmp(p, "TZif", 4))
    return -1;
  *ver = (char)p[4];
  h->isut = be32(p + 20);
  h->isstd = be32(p + 24);
  h->leap = be32(p + 28);
  h->time = be32(p + 32);
  h->type = be32(p + 36);
  h->chars = be32(p + 40);
  if (h->time > MAX_TRANSITIONS || h->type == 0 || h->type > 256 || h->leap > 10000 || h->chars > 65536 ||
      h->isut > h->type || h->isstd > h->type)
    return -1;
  return 0;
}

static size_t block_size(const struct hdr *h, size_t tsize)
{
  return (size_t)h->time * tsize + h->time + (size_t)h->type * 6 + h->chars + (size_t)h->leap * (tsize + 4) +
         h->isstd + h->isut;
}

int tz_parse(const uint8_t *data, size_t len, struct tz **out, char *err, size_t errlen)
{
  *out = NULL;
  struct hdr h;
  char ver;
  if (read_hdr(data, len, &h, &ver)) {
    seterr(err, errlen, "not a TZif file");
    return WEFT_EPARSE;
  }
  const uint8_t *p = data + 44;
  size_t left = len - 44, tsize = 4;
  if (block_size(&h, 4) > left) {
    seterr(err, errlen, "TZif file is truncated");
    return WEFT_EPARSE;
  }
  if (ver >= '2') { /* skip the 32-bit block: the 64-bit one follows */
    size_t skip = block_size(&h, 4);
    p += skip;
    left -= skip;
    if (read_hdr(p, left, &h, &ver)) {
      seterr(err, errlen, "TZif file has a bad second header");
      return WEFT_EPARSE;
    }
    p += 44;
    left -= 44;
    tsize = 8;
    if (block_size(&h, 8) > left) {
      seterr(err, errlen, "TZif file is truncated");
      return WEFT_EPARSE;
    }
  }
  struct tz *z = calloc(1, sizeof *z);
  if (!z)
    return WEFT_ENOMEM;
  if (h.time) {
    z->at = malloc(h.time * sizeof *z->at);
    z->off = malloc(h.time * sizeof *z->off);
    if (!z->at || !z->off) {
      tz_free(z);
      return WEFT_ENOMEM;
    }
  }
  const uint8_t *times = p, *idx = p + (size_t)h.time * tsize, *types = idx + h.time;
  int32_t toff[256] = {0};
  for (uint32_t i = 0; i < h.type; i++) {
    toff[i] = (int32_t)be32(types + 6 * i);
    if (toff[i] < -MAX_OFFSET || toff[i] > MAX_OFFSET) {
      tz_free(z);
      seterr(err, errlen, "TZif file has an offset beyond 26 hours");
      return WEFT_EPARSE;
    }
  }
  z->off0 = toff[0];
  for (uint32_t i = 0; i < h.time; i++) {
    int64_t t = tsize == 8 ? (int64_t)be64(times + 8 * i) : (int64_t)(int32_t)be32(times + 4 * i);
    if (idx[i] >= h.type || (i && t <= z->at[i - 1])) {
      tz_free(z);
      seterr(err, errlen, "TZif file has unordered or bad transitions");
      return WEFT_EPARSE;
    }
    z->at[i] = t;
    z->off[i] = toff[idx[i]];
  }
  z->n = h.time;
  if (tsize == 8) { /* the footer: "\nRULE\n" */
    const uint8_t *f = p + block_size(&h, 8), *end = data + len;
    if (f < end && *f == '\n') {
      const uint8_t *nl = memchr(f + 1, '\n', (size_t)(end - f - 1));
      if (nl && nl - f - 1 < 128) {
        char rule[128];
        memcpy(rule, f + 1, (size_t)(nl - f - 1));
        rule[nl - f - 1] = 0;
        bool any;
        if (parse_rule(rule, &z->r, &any)) {
          tz_free(z);
          seterr(err, errlen, "TZif footer \"%s\" is not a POSIX TZ rule this build reads", rule);
          return WEFT_EPARSE;
        }
        z->has_rule = any;
      }
    }
  }
  snprintf(z->name, sizeof z->name, "TZif");
  *out = z;
  return 0;
}

int tz_posix(const char *rule, struct tz **out, char *err, size_t errlen)
{
  *out = NULL;
  struct tz *z = calloc(1, sizeof *z);
  if (!z)
    return WEFT_ENOMEM;
  bool any;
  if (strlen(rule) >= 128 || parse_rule(rule, &z->r, &any) || !any) {
    free(z);
    seterr(err, errlen, "\"%.60s\" is not a POSIX TZ rule", rule);
    return WEFT_EPARSE;
  }
  z->has_rule = true;
  z->off0 = z->r.std;
  snprintf(z->name, sizeof z->name, "%.63s", rule);
  *out = z;
  return 0;
}

static bool name_ok(const char *name)
{
  size_t n = strlen(name);
  if (n == 0 || n >= 64 || name[0] == '/' || name[0] == '.' || strstr(name, ".."))
    return false;
  for (const char *c = name; *c; c++)
    if (!isalnum((unsigned char)*c) && !strchr("_+-/", *c))
      return false;
  return true;
}

int tz_load(const char *name, struct tz **out, char *err, size_t errlen)
{
  *out = NULL;
  if (!strcmp(name, "UTC") || !strcmp(name, "Etc/UTC") || !strcmp(name, "Z")) {
    struct tz *z = calloc(1, sizeof *z);
    if (!z)
      return WEFT_ENOMEM;
    snprintf(z->name, sizeof z->name, "%s", name);
    *out = z;
    return 0;
  }
  if (!name_ok(name)) {
    seterr(err, errlen, "\"%.80s\" is not a time zone name (IANA names look like Europe/Berlin)", name);
    return WEFT_EINVAL;
  }
  const char *dir = getenv("TZDIR");
  if (!dir || !*dir)
    dir = "/usr/share/zoneinfo";
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOENT || errno == ENOTDIR)
      seterr(err, errlen, "unknown time zone \"%s\" (no %s; Debian's tzdata package holds them)", name, path);
    else
      seterr(err, errlen, "cannot read time zone file %s: %s", path, strerror(errno));
    return WEFT_ENOTFOUND;
  }
  uint8_t *buf = malloc(MAX_FILE);
  if (!buf) {
    fclose(f);
    return WEFT_ENOMEM;
  }
  size_t len = fread(buf, 1, MAX_FILE, f);
  fclose(f);
  char why[160];
  int rc = tz_parse(buf, len, out, why, sizeof why);
  free(buf);
  if (rc) {
    seterr(err, errlen, "time zone \"%s\": %s", name, why);
    return rc;
  }
  snprintf((*out)->name, sizeof (*out)->name, "%s", name);
  return 0;
}

void tz_free(struct tz *z)
{
  if (!z)
    return;
  free(z->at);
  free(z->off);
  free(z);
}

const char *tz_name(const struct tz *z) { return z->name; }

/* index of the last transition <= t, or -1 */
static long find(const struct tz *z, int64_t t)
{
  long lo = 0, hi = (long)z->n - 1, ans = -1;
  while (lo <= hi) {
    long mid = lo + (hi - lo) / 2;
    if (z->at[mid] <= t) {
      ans = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return ans;
}

int32_t tz_offset(const struct tz *z, int64_t t)
{
  if (z->n && t < z->at[0])
    return z->off0;
  if (z->has_rule && (!z->n || t >= z->at[z->n - 1]))
    return rule_offset(&z->r, t);
  if (!z->n)
    return z->off0;
  return z->off[find(z, t)];
}

int64_t tz_next_change(const struct tz *z, int64_t t)
{
  long i = find(z, t) + 1;
  for (; i < (long)z->n; i++) {
    int32_t before = i ? z->off[i - 1] : z->off0;
    if (z->off[i] != before)
      return z->at[i];
  }
  if (!z->has_rule || !z->r.has_dst || z->r.std == z->r.dst)
    return INT64_MAX;
  int64_t floor_t = z->n && z->at[z->n - 1] > t ? z->at[z->n - 1] : t;
  int64_t best = INT64_MAX, y0 = year_of(floor_t);
  for (int64_t y = y0 - 1; y <= y0 + 2; y++) {
    int64_t s, e;
    rule_changes(&z->r, y, &s, &e);
    if (s > floor_t && s < best)
      best = s;
    if (e > floor_t && e < best)
      best = e;
  }
  return best;
}

int tz_resolve(const struct tz *z, int64_t local, int64_t *first, int64_t *second)
{
  int64_t p = local - MAX_OFFSET, limit = local + MAX_OFFSET;
  int32_t o = tz_offset(z, p);
  int found = 0;
  int64_t gap = INT64_MIN;
  for (int guard = 0; guard < 64; guard++) {
    int64_t next = tz_next_change(z, p);
    int64_t inst = local - o;
    if (inst >= p && inst < next && found < 2) {
      if (found == 0)
        *first = inst;
      else
        *second = inst;
      found++;
    }
    if (next == INT64_MAX || next > limit)
      break;
    int32_t o2 = tz_offset(z, next);
    if (o2 > o && gap == INT64_MIN && local >= next + o && local < next + o2)
      gap = next;
    p = next;
    o = o2;
  }
  if (found)
    return found;
  *first = gap != INT64_MIN ? gap : local - o;
  return gap != INT64_MIN ? 0 : 1;
}
