/* logsel.c — strict parsing of `weft logs` step and attempt arguments (see logsel.h). */
#include "cli/logsel.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Plain decimal digits, no sign, no space, at most INT_MAX. */
static int parse_uint(const char *s, size_t len, int *out)
{
  long long v = 0;
  if (len == 0)
    return -1;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
    if (v > INT_MAX)
      return -1;
  }
  *out = (int)v;
  return 0;
}

int logsel_parse_attempt(const char *arg, int *out)
{
  int v;
  if (!arg || parse_uint(arg, strlen(arg), &v) || v < 1)
    return -1;
  *out = v;
  return 0;
}

int logsel_parse_step(const char *arg, char step[65], int *index, bool *has_index, char *err,
                      size_t errsz)
{
  size_t n = strcspn(arg, ":[");
  *has_index = false;
  if (n == 0 || n > 64) {
    snprintf(err, errsz, "\"%s\" is not a step: name a step id, optionally with :INDEX", arg);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    char ch = arg[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '_' || ch == '-')) {
      snprintf(err, errsz,
               "\"%.*s\" is not a step id (letters, digits, '_' and '-'); name a step as "
               "`weft status RUN` lists it", (int)n, arg);
      return -1;
    }
  }
  memcpy(step, arg, n);
  step[n] = '\0';
  if (!arg[n])
    return 0;
  const char *ix = arg + n + 1;
  size_t len = strlen(ix);
  if (arg[n] == '[') {
    if (len == 0 || ix[len - 1] != ']') {
      snprintf(err, errsz, "\"%s\": an instance is written STEP:INDEX or STEP[INDEX]", arg);
      return -1;
    }
    len--;
  }
  if (parse_uint(ix, len, index)) {
    snprintf(err, errsz,
             "\"%s\": the instance index must be a number from 0 (STEP:INDEX, e.g. %s:0)", arg,
             step);
    return -1;
  }
  *has_index = true;
  return 0;
}
