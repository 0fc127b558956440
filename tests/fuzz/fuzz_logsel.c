/* fuzz_logsel.c — libFuzzer entry point for the `weft logs` argument parsers
 * (cli/logsel.c): on any bytes, a step that parses is a step id (letters,
 * digits, '_' and '-', 1..64 of them: never a path), an index is >= 0, an
 * attempt is >= 1, and a refusal comes with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/logsel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *s = malloc(size + 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  char step[65], err[300] = "";
  int index = -1;
  bool has = false;
  if (logsel_parse_step(s, step, &index, &has, err, sizeof err) == 0) {
    size_t n = strlen(step);
    if (n == 0 || n > 64 || strspn(step, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789_-") != n)
      abort();
    if (has && index < 0)
      abort();
  } else if (!err[0]) {
    abort();
  }
  int a = 0;
  if (logsel_parse_attempt(s, &a) == 0 && a < 1)
    abort();
  free(s);
  return 0;
}
