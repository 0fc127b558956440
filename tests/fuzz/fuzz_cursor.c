/* fuzz_cursor.c — libFuzzer entry point for the run list's page cursor
 * (ops_cursor_decode, src/ops/runlist.c), which GET /runs?cursor= reads from
 * any client: it may not crash or read past the text, accepts only a
 * ULID, and what it accepts encodes back to the same cursor. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  char id[WEFT_ID_LEN + 1];
  if (ops_cursor_decode(text, id) == 0) {
    if (strlen(id) != WEFT_ID_LEN)
      abort();
    char back[OPS_CURSOR_MAX], again[WEFT_ID_LEN + 1];
    ops_cursor_encode(id, back);
    if (ops_cursor_decode(back, again) != 0 || strcmp(id, again))
      abort();
  }
  free(text);
  return 0;
}
