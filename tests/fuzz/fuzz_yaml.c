/* fuzz_yaml.c — libFuzzer target: wf_load_string on arbitrary bytes.
 *
 * Whatever the input, loading must return (no crash, hang, leak or unbounded
 * allocation): aliases, depth and size are budgeted by src/spec/ytree.c. */
#include <stddef.h>
#include <stdint.h>

#include "spec/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct wf *w = NULL;
  struct diag_list d = {0};
  if (wf_load_string("fuzz.yaml", (const char *)data, size, &w, &d) == 0)
    wf_free(w);
  diag_list_free(&d);
  return 0;
}
