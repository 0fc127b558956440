/* fuzz_yfast.c — libFuzzer target: the fast YAML path (src/spec/yfast.c)
 * against libfyaml's path on arbitrary bytes. Whenever the fast path takes
 * an input, libfyaml's path must accept it too and give the very same tree
 * (types, text, positions, spans, sizes, depths); otherwise the target aborts.
 *
 * Leak checking is off here: libfyaml itself leaks 512 bytes on some valid
 * input with long runs of '' in a single-quoted scalar inside nested flow
 * sequences, which this target feeds it whenever the fast path takes such
 * a file. Leaks of the fast path are caught by fuzz_yaml (which goes
 * through it) and by the unit tests under ASan. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "spec/ytree_int.h"
#include "util/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int __lsan_is_turned_off(void);

int __lsan_is_turned_off(void)
{
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct ytree a = {0}, b = {0};
  struct diag_list d = {0};
  int fr = yfast_parse(&a, (const char *)data, size);
  if (fr == 1) {
    int rc = ytree_parse_fy(&b, "fuzz.yaml", (const char *)data, size, &d);
    if (rc != 0 || !ynode_same(a.root, b.root))
      abort();
    ytree_free(&a);
    ytree_free(&b);
  }
  diag_list_free(&d);
  return 0;
}
