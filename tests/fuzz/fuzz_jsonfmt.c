/* fuzz_jsonfmt.c — libFuzzer entry point for util/jsonfmt.c's rewrite of
 * jansson's text: for any JSON that jansson reads, wjson_dumps() (compact and
 * indented) reads back to an equal value (every real to the same double) and
 * is never longer than json_dumps(). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/jsonfmt.h"

static void check(const json_t *v, size_t flags)
{
  char *ours = wjson_dumps(v, flags), *theirs = json_dumps(v, flags);
  if (!ours || !theirs || strlen(ours) > strlen(theirs))
    abort();
  json_t *back = json_loads(ours, JSON_DECODE_ANY, NULL);
  if (!back || !json_equal(back, v))
    abort();
  json_decref(back);
  free(ours);
  free(theirs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
  if (!v)
    return 0;
  check(v, JSON_COMPACT | JSON_ENCODE_ANY);
  check(v, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_SORT_KEYS);
  json_decref(v);
  return 0;
}
