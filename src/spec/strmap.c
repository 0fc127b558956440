/* strmap.c — string -> uint32 open-addressing hash map (FNV-1a, mixed,
 * linear probing, grown at half load). Keys are borrowed. Each slot keeps
 * its key's hash, so a probe compares bytes only when the hashes agree:
 * generated ids (s1, s2, ...) would otherwise cost a memcmp (a cache miss
 * into the YAML arena) per probe. */
#include "spec/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

static uint32_t hash(const char *s, size_t len)
{
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  /* FNV's low bits follow the last bytes closely: mix (murmur3's fmix64) */
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return (uint32_t)h;
}

static size_t slot_h(const struct strmap *m, const char *key, size_t len, uint32_t h)
{
  size_t i = h & (m->cap - 1);
  while (m->keys[i] &&
         !(m->hs[i] == h && m->lens[i] == len && memcmp(m->keys[i], key, len) == 0))
    i = (i + 1) & (m->cap - 1);
  return i;
}

static int grow(struct strmap *m)
{
  size_t ncap = m->cap ? m->cap * 2 : 16;
  struct strmap nm = {0};
  nm.cap = ncap;
  nm.keys = calloc(ncap, sizeof *nm.keys);
  nm.lens = calloc(ncap, sizeof *nm.lens);
  nm.vals = calloc(ncap, sizeof *nm.vals);
  nm.hs = calloc(ncap, sizeof *nm.hs);
  if (!nm.keys || !nm.lens || !nm.vals || !nm.hs) {
    strmap_free(&nm);
    return WEFT_ENOMEM;
  }
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->keys[i])
      continue;
    size_t j = m->hs[i] & (ncap - 1);
    while (nm.keys[j])
      j = (j + 1) & (ncap - 1);
    nm.keys[j] = m->keys[i];
    nm.hs[j] = m->hs[i];
    nm.lens[j] = m->lens[i];
    nm.vals[j] = m->vals[i];
    nm.n++;
  }
  strmap_free(m);
  *m = nm;
  return 0;
}

int strmap_put(struct strmap *m, const char *key, size_t len, uint32_t val)
{
  if ((m->n + 1) * 2 > m->cap) {
    int rc = grow(m);
    if (rc)
      return rc;
  }
  uint32_t h = hash(key, len);
  size_t i = slot_h(m, key, len, h);
  if (!m->keys[i]) {
    m->keys[i] = key;
    m->lens[i] = len;
    m->hs[i] = h;
    m->n++;
  }
  m->vals[i] = val;
  return 0;
}

uint32_t strmap_get(const struct strmap *m, const char *key, size_t len)
{
  if (!m->cap)
    return UINT32_MAX;
  size_t i = slot_h(m, key, len, hash(key, len));
  return m->keys[i] ? m->vals[i] : UINT32_MAX;
}

void strmap_free(struct strmap *m)
{
  free(m->keys);
  free(m->lens);
  free(m->vals);
  free(m->hs);
  m->hs = NULL;
  m->keys = NULL;
  m->lens = NULL;
  m->vals = NULL;
  m->cap = m->n = 0;
}
