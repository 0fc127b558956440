/* route.c — matching request paths against the route table (route.h).
 *
 * Segment by segment: a literal must be equal byte for byte (no decoding:
 * "/api/v1/%72uns" is not "/api/v1/runs"), a {param} takes the segment
 * percent-decoded and checked. Tables are small (a few dozen routes), so a
 * linear scan is both simplest and fast; the first match in table order wins. */
#include "server/route.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/utf8.h"

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* decodes seg[0..len) into out; false when it is not an acceptable id */
static bool decode_param(const char *seg, size_t len, char *out)
{
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)seg[i];
    if (c == '%') {
      if (i + 2 >= len)
        return false;
      int h = hexval(seg[i + 1]), l = hexval(seg[i + 2]);
      if (h < 0 || l < 0)
        return false;
      c = (unsigned char)(h * 16 + l);
      i += 2;
    }
    if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
      return false;
    if (o >= ROUTE_PARAM_MAX)
      return false;
    out[o++] = (char)c;
  }
  out[o] = 0;
  if (o == 0 || !strcmp(out, ".") || !strcmp(out, ".."))
    return false;
  return utf8_valid((const unsigned char *)out, o);
}

/* matches path against pattern; 1 match, 0 no match, -1 a bad parameter */
static int match(const char *pattern, const char *path, struct route_match *m)
{
  const char *p = pattern, *s = path;
  m->nparams = 0;
  while (*p && *s) {
    if (*p != '/' || *s != '/')
      return 0;
    p++, s++;
    size_t pl = strcspn(p, "/"), sl = strcspn(s, "/");
    if (*p == '{') {
      if (m->nparams >= ROUTE_MAX_PARAMS)
        return 0;
      struct route_param *rp = &m->params[m->nparams];
      snprintf(rp->name, sizeof rp->name, "%.*s", (int)(pl - 2), p + 1);
      if (sl == 0)
        return 0;
      if (!decode_param(s, sl, rp->value))
        return -1;
      m->nparams++;
    } else if (pl != sl || memcmp(p, s, pl)) {
      return 0;
    }
    p += pl, s += sl;
  }
  return !*p && !*s;
}

int route_find(const struct route *table, size_t n, const char *method, const char *path, struct route_match *m)
{
  memset(m, 0, sizeof *m);
  bool bad = false, other_method = false;
  size_t alen = 0;
  for (size_t i = 0; i < n; i++) {
    struct route_match tmp;
    int r = match(table[i].pattern, path, &tmp);
    if (r < 0) {
      bad = true;
      continue;
    }
    if (!r)
      continue;
    if (!strcmp(table[i].method, method)) {
      *m = tmp;
      m->route = &table[i];
      return 0;
    }
    other_method = true;
    if (!strstr(m->allow, table[i].method)) {
      int k = snprintf(m->allow + alen, sizeof m->allow - alen, "%s%s", alen ? ", " : "", table[i].method);
      if (k > 0 && (size_t)k < sizeof m->allow - alen)
        alen += (size_t)k;
    }
  }
  if (other_method)
    return ROUTE_E_METHOD;
  return bad ? ROUTE_E_BADPATH : ROUTE_E_NOPATH;
}

const char *route_param(const struct route_match *m, const char *name)
{
  for (int i = 0; i < m->nparams; i++)
    if (!strcmp(m->params[i].name, name))
      return m->params[i].value;
  return NULL;
}
