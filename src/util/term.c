/* term.c — escaping control characters for the terminal (see term.h). */
#include "util/term.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RING 8

static bool is_c1(const unsigned char *p, size_t left)
{
  return left >= 2 && p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
}

bool term_needs_escape(const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < len; i++)
    if (p[i] < 0x20 || p[i] == 0x7f || is_c1(p + i, len - i))
      return true;
  return false;
}

char *term_escape(const char *s, size_t len)
{
  char *out = malloc(len * 6 + 1), *o = out;
  if (!out)
    return NULL;
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = p[i];
    if (c == '\n') {
      memcpy(o, "\\n", 2), o += 2;
    } else if (c == '\r') {
      memcpy(o, "\\r", 2), o += 2;
    } else if (c == '\t') {
      memcpy(o, "\\t", 2), o += 2;
    } else if (c < 0x20 || c == 0x7f) {
      o += sprintf(o, "\\x%02x", c);
    } else if (is_c1(p + i, len - i)) {
      o += sprintf(o, "\\u%04x", p[i + 1]);
      i++;
    } else {
      *o++ = (char)c;
    }
  }
  *o = '\0';
  return out;
}

const char *term_safe(const char *s)
{
  static _Thread_local char *ring[RING];
  static _Thread_local unsigned next;
  if (!s)
    return NULL;
  size_t len = strlen(s);
  if (!term_needs_escape(s, len))
    return s;
  char *e = term_escape(s, len);
  if (!e)
    return "?";
  unsigned k = next++ % RING;
  free(ring[k]);
  ring[k] = e;
  return e;
}
