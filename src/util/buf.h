/* buf.h — growing byte buffers with a cap (curl's dynbuf).
 *
 * Every buffer has a maximum size; appending past it returns WEFT_ELIMIT and
 * leaves the buffer as it was. The content is always NUL-terminated (the NUL is
 * not counted in len). The buffer owns p; buf_free() releases it, buf_take()
 * hands it to the caller. */
#ifndef WEFT_UTIL_BUF_H
#define WEFT_UTIL_BUF_H

#include <stddef.h>

struct buf {
  char *p;
  size_t len, cap, max;
};

void buf_init(struct buf *b, size_t max);
int buf_append(struct buf *b, const void *data, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
char *buf_take(struct buf *b); /* returns p ("" when empty), caller frees; b is reset */
void buf_free(struct buf *b);

#endif
