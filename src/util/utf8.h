/* utf8.h — UTF-8 well-formedness (RFC 3629: no overlongs, no surrogates,
 * nothing past U+10FFFF), shared by the expression lexers and the loader. */
#ifndef WEFT_UTIL_UTF8_H
#define WEFT_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* true when the n bytes at s are well-formed UTF-8 (s is borrowed). */
bool utf8_valid(const unsigned char *s, size_t n);
/* Offset of the first byte that does not start a well-formed sequence, or n. */
size_t utf8_invalid_offset(const unsigned char *s, size_t n);

#endif
