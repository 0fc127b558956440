/* buf.c — capped growing buffers (see buf.h). */
#include "util/buf.h"
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
  b->p = NULL;
  b->len = b->cap = 0;
  b->max = max;
}

static int buf_reserve(struct buf *b, size_t extra)
{
  if (extra > b->max || b->len > b->max - extra)
    return WEFT_ELIMIT;
  size_t need = b->len + extra + 1;
  if (need <= b->cap)
    return 0;
  size_t ncap = b->cap ? b->cap : 64;
  while (ncap < need)
    ncap *= 2;
  char *np = realloc(b->p, ncap);
  if (!np)
    return WEFT_ENOMEM;
  b->p = np;
  b->cap = ncap;
  return 0;
}

int buf_append(struct buf *b, const void *data, size_t n)
{
  int rc = buf_reserve(b, n);
  if (rc)
    return rc;
  if (n)
    memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = '\0';
  return 0;
}

int buf_puts(struct buf *b, const char *s) { return buf_append(b, s, strlen(s)); }

int buf_printf(struct buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return WEFT_EINVAL;
  int rc = buf_reserve(b, (size_t)n);
  if (rc)
    return rc;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

void buf_reset(struct buf *b)
{
  b->len = 0;
  if (b->p)
    b->p[0] = '\0';
}

char *buf_take(struct buf *b)
{
  char *p = b->p ? b->p : strdup("");
  b->p = NULL;
  b->len = b->cap = 0;
  return p;
}

void buf_free(struct buf *b)
{
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}
