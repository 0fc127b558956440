/* strmap.h — string -> uint32 hash map, open addressing (private to spec/).
 *
 * Used for step ids and YAML anchors, so lookups stay O(1) on 100,000 steps.
 * Keys are borrowed (they must outlive the map; the spec module keeps them in
 * the workflow or the YAML arena). A later strmap_put of the same key replaces
 * the value. */
#ifndef WEFT_SPEC_STRMAP_H
#define WEFT_SPEC_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap {
  const char **keys;
  size_t *lens;
  uint32_t *vals;
  uint32_t *hs;   /* each slot's key hash */
  size_t cap, n; /* cap is 0 or a power of two */
};

int strmap_put(struct strmap *m, const char *key, size_t len, uint32_t val);
/* Returns the value or UINT32_MAX. */
uint32_t strmap_get(const struct strmap *m, const char *key, size_t len);
void strmap_free(struct strmap *m);

#endif
