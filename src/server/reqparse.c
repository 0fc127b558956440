/* reqparse.c — request-head parsing without a connection (reqparse.h). */
#include "server/reqparse.h"

#include <errno.h>
#include <stdlib.h>
#include <strings.h>

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  c = (char)(c | 0x20);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

const char *reqparse_query(const char *raw, char *out, size_t outlen)
{
  if (!raw || !outlen)
    return NULL;
  size_t o = 0;
  for (const char *p = raw; *p; p++) {
    int c = (unsigned char)*p;
    if (c == '+') {
      c = ' ';
    } else if (c == '%') {
      int h = p[1] ? hexval(p[1]) : -1, l = h >= 0 && p[2] ? hexval(p[2]) : -1;
      if (h < 0 || l < 0)
        return NULL;
      c = h * 16 + l;
      p += 2;
    }
    if (c == 0 || o + 1 >= outlen)
      return NULL;
    out[o++] = (char)c;
  }
  out[o] = 0;
  return out;
}

const char *reqparse_bearer(const char *a)
{
  if (!a || strncasecmp(a, "Bearer ", 7))
    return NULL;
  const char *tok = a + 7;
  while (*tok == ' ' || *tok == '\t')
    tok++;
  return *tok ? tok : NULL;
}

bool reqparse_json_media(const char *ct)
{
  if (!ct)
    return false;
  size_t n = 0;
  while (ct[n] && ct[n] != ';' && ct[n] != ' ' && ct[n] != '\t')
    n++;
  return n == 16 && !strncasecmp(ct, "application/json", 16);
}

bool reqparse_declared_over(const char *cl, size_t max)
{
  if (!cl)
    return false;
  while (*cl == ' ' || *cl == '\t')
    cl++;
  if (*cl < '0' || *cl > '9')
    return true;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(cl, &end, 10);
  return errno == ERANGE || v > max;
}
