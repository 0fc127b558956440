/* jsonfmt.c — shortest round-trip reals in JSON text (see jsonfmt.h).
 *
 * wjson_dumps() lets jansson write the text (all its flags keep their
 * meaning), then rewrites each number token outside strings that carries a
 * '.' or an exponent: "%.17g" reads back exactly, so strtod() of the token is
 * the original double, which is then printed in its shortest form. */
#include "util/jsonfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* jansson's clean-up of a printed exponent: "1e+21" -> "1e21", "1e-07" -> "1e-7". */
static size_t tidy_exponent(char *s, size_t n)
{
  char *e = strchr(s, 'e');
  if (!e)
    return n;
  char *p = e + 1;
  char *q = p;
  if (*q == '+')
    q++;
  else if (*q == '-')
    *p++ = *q++;
  while (*q == '0' && q[1])
    q++;
  memmove(p, q, strlen(q) + 1);
  return strlen(s);
}

size_t wjson_real(double d, int as_real, char out[32])
{
  int n = 0;
  for (int prec = 15; prec <= 17; prec++) {
    n = snprintf(out, 32, "%.*g", prec, d);
    if (prec == 17 || strtod(out, NULL) == d)
      break;
  }
  if (n < 0 || n >= 32) { /* cannot happen for %.17g of a double */
    out[0] = '\0';
    return 0;
  }
  size_t len = tidy_exponent(out, (size_t)n);
  if (as_real && !strpbrk(out, ".eEni") && len + 2 < 32) {
    memcpy(out + len, ".0", 3);
    len += 2;
  }
  return len;
}

/* Rewrites the reals of jansson's text t (owned, malloc'd) in place: the
 * shortest form is never longer than "%.17g"'s. */
static char *shorten(char *t)
{
  if (!t)
    return NULL;
  char *r = t, *w = t;
  int in_str = 0;
  while (*r) {
    char c = *r;
    if (in_str) {
      *w++ = *r++;
      if (c == '\\' && *r)
        *w++ = *r++;
      else if (c == '"')
        in_str = 0;
      continue;
    }
    if (c == '"') {
      in_str = 1;
      *w++ = *r++;
      continue;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      size_t n = strspn(r, "-+0123456789.eE");
      if (memchr(r, '.', n) || memchr(r, 'e', n) || memchr(r, 'E', n)) {
        char tok[40], out[32];
        if (n < sizeof tok) {
          memcpy(tok, r, n);
          tok[n] = '\0';
          size_t m = wjson_real(strtod(tok, NULL), 1, out);
          if (m > 0 && m <= n) {
            memmove(w, out, m);
            w += m;
            r += n;
            continue;
          }
        }
      }
      memmove(w, r, n);
      w += n;
      r += n;
      continue;
    }
    *w++ = *r++;
  }
  *w = '\0';
  return t;
}

char *wjson_dumps(const json_t *v, size_t flags) { return shorten(json_dumps(v, flags)); }

int wjson_dumpf(const json_t *v, FILE *f, size_t flags)
{
  char *t = wjson_dumps(v, flags);
  if (!t)
    return -1;
  size_t n = strlen(t);
  int rc = fwrite(t, 1, n, f) == n ? 0 : -1;
  free(t);
  return rc;
}
