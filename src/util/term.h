/* term.h — making untrusted text safe to show on a terminal.
 *
 * A step controls its error message, its outputs, an approval message, a
 * log line: printed raw, an ESC sequence or a CR could move the cursor,
 * erase or overwrite what an approver reads ("deploy to staging?\r\033[K
 * deploy to prod?"). Everything weft prints for a human that came from a
 * step or a workflow goes through term_safe(): C0 controls and DEL become
 * visible escapes (`\n`, `\r`, `\t`, `\x1b`, `\x7f`), as do the C1 controls
 * U+0080..U+009F (`\u009b`, a one-character CSI on some terminals).
 * Backslashes and other text (UTF-8 included) are kept as they are.
 * `--json` output needs none of this: JSON escapes control characters. */
#ifndef WEFT_UTIL_TERM_H
#define WEFT_UTIL_TERM_H

#include <stdbool.h>
#include <stddef.h>

/* True when s (len bytes) holds a character term_escape() would change. */
bool term_needs_escape(const char *s, size_t len);
/* A malloc'd escaped copy of s (len bytes), or NULL when out of memory. */
char *term_escape(const char *s, size_t len);
/* s itself when it needs no escaping, else an escaped copy that stays valid
 * until 8 more term_safe() calls of this thread (so several may be used in
 * one printf). NULL stays NULL; "?" when out of memory. */
const char *term_safe(const char *s);

#endif
