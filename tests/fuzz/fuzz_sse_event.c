/* fuzz_sse_event.c — libFuzzer entry point for server/sse_event.c: an audit
 * entry's kind and data text (anything: the store canonicalises what it
 * writes, but a damaged store is still read) as a live event. The data line
 * must be one line of JSON (a newline would end the event early on the
 * wire) holding the common fields, and the type one of the four. Input:
 * "KIND\nDATA". */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/sse_event.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = 0;
  char *nl = strchr(text, '\n');
  char *body = nl ? nl + 1 : "";
  if (nl)
    *nl = 0;
  struct store_audit e = {.seq = 1, .at = (int64_t)size * 1000, .run_id = size % 2 ? "R" : NULL, .kind = text,
                          .data = body};
  const char *t = sse_event_type(e.kind);
  if (strcmp(t, "run") && strcmp(t, "step") && strcmp(t, "approval") && strcmp(t, "audit"))
    abort();
  char *d = sse_event_data(&e, size % 3 ? "wf" : NULL);
  if (d) {
    if (strchr(d, '\n') || strchr(d, '\r'))
      abort();
    json_t *v = json_loads(d, 0, NULL);
    if (!json_is_object(v) || !json_object_get(v, "kind") || !json_object_get(v, "at") ||
        !json_object_get(v, "run") || !json_object_get(v, "workflow"))
      abort();
    json_decref(v);
    free(d);
  }
  free(text);
  return 0;
}
