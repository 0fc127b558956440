/* proc_mask.h — replace secret values by "***" in a byte stream.
 *
 * LANGUAGE.md §2: secrets are masked as *** in every log. A step's output
 * arrives in chunks of any size, so a secret may be split across two chunks:
 * the masker holds back the tail of a chunk that could still be the start of
 * a secret and decides when the next chunk (or the end) comes. When several
 * secrets match at one position the longest wins.
 *
 * Ownership: proc_mask_init() copies the secrets (empty strings are ignored);
 * proc_mask_free() releases them. Output goes to the emit callback; the data it
 * gets is borrowed for the call. Per thread one scratch buffer is shared by
 * all maskers (they are fed one chunk at a time on the loop's thread). */
#ifndef WEFT_EXEC_PROC_MASK_H
#define WEFT_EXEC_PROC_MASK_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define PROC_SECRET_MAX (64u << 10) /* longer secrets are an error */

typedef void (*proc_mask_emit_cb)(void *ud, const char *data, size_t len);

struct proc_mask {
  char **secret;
  size_t *len;
  size_t n, maxlen;
  bool first[256];   /* bytes that start some secret */
  struct buf hold;   /* undecided tail of the stream so far */
};

/* secrets: NULL-terminated (or NULL). Returns 0, WEFT_ENOMEM or WEFT_ELIMIT. */
int proc_mask_init(struct proc_mask *m, const char *const *secrets);
bool proc_mask_active(const struct proc_mask *m);
/* Feeds a chunk; emits what is decided. Returns 0, or WEFT_ENOMEM when a
 * scratch buffer cannot grow (then that part of the chunk is dropped, never
 * emitted unmasked). */
int proc_mask_feed(struct proc_mask *m, const char *d, size_t n, proc_mask_emit_cb emit, void *ud);
/* End of stream: emits the held tail (masking complete secrets in it). */
int proc_mask_flush(struct proc_mask *m, proc_mask_emit_cb emit, void *ud);
void proc_mask_free(struct proc_mask *m);

#endif
