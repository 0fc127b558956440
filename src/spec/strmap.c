/* strmap.c — string -> uint32 open-addressing hash map (FNV-1a, linear
 * probing, grown at half load). Keys are borrowed. */
#include "spec/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"

static uint64_t hash(const char *s, size_t len)
{
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

static size_t slot(const struct strmap *m, const char *key, size_t len)
{
  size_t i = (size_t)hash(key, len) & (m->cap - 1);
  while (m->keys[i] && !(m->lens[i] == len && memcmp(m->keys[i], key, len) == 0))
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
  if (!nm.keys || !nm.lens || !nm.vals) {
    strmap_free(&nm);
    return WEFT_ENOMEM;
  }
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->keys[i])
      continue;
    size_t j = slot(&nm, m->keys[i], m->lens[i]);
    nm.keys[j] = m->keys[i];
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
  size_t i = slot(m, key, len);
  if (!m->keys[i]) {
    m->keys[i] = key;
    m->lens[i] = len;
    m->n++;
  }
  m->vals[i] = val;
  return 0;
}

uint32_t strmap_get(const struct strmap *m, const char *key, size_t len)
{
  if (!m->cap)
    return UINT32_MAX;
  size_t i = slot(m, key, len);
  return m->keys[i] ? m->vals[i] : UINT32_MAX;
}

void strmap_free(struct strmap *m)
{
  free(m->keys);
  free(m->lens);
  free(m->vals);
  m->keys = NULL;
  m->lens = NULL;
  m->vals = NULL;
  m->cap = m->n = 0;
}
