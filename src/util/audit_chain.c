/* audit_chain.c — the pure piece of the audit chain: the canonical form of
 * an entry's data and the entry hash (util/audit_chain.h). No store, no I/O:
 * the store backends hash what they append with it (store/sqlite_audit.c)
 * and audit/audit.c re-hashes what it verifies with it, so both agree by
 * construction. Moved here from audit/audit.c so that the store does not
 * include audit/ (which reads the store): the include graph has no circle. */
#include "util/audit_chain.h"
#include "util/err.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_MAX_DATA (16u << 20)

int audit_canonical(const char *json, char **out)
{
  *out = NULL;
  if (!json) {
    *out = strdup("null");
    return *out ? 0 : WEFT_ENOMEM;
  }
  json_error_t e;
  json_t *v = json_loads(json, JSON_DECODE_ANY, &e);
  if (!v)
    return WEFT_EPARSE;
  *out = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
  json_decref(v);
  if (!*out)
    return WEFT_ENOMEM;
  if (strlen(*out) > AUDIT_MAX_DATA) {
    free(*out);
    *out = NULL;
    return WEFT_ELIMIT;
  }
  return 0;
}

int audit_canonical_json(const json_t *v, char **out)
{
  *out = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII | JSON_ENCODE_ANY)
           : strdup("null");
  if (!*out)
    return WEFT_ENOMEM;
  if (strlen(*out) > AUDIT_MAX_DATA) {
    free(*out);
    *out = NULL;
    return WEFT_ELIMIT;
  }
  return 0;
}

/* ---- the entry hash ----
 *
 * The serialisation is built in one buffer and hashed at once. On x86-64
 * CPUs with the SHA extensions the blocks go through SHA-NI (~10x faster
 * than util/sha256.c, which hashing ~200 bytes per transition made a quarter
 * of the runtime's CPU time); otherwise, and for entries larger than the
 * buffer, util/sha256.c. Both give the same digest (tests/unit/test_audit.c
 * compares them). */

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI 1


__attribute__((target("sha,sse4.1,ssse3"))) static void sha_ni_blocks(uint32_t h[8],
                                                                      const unsigned char *p,
                                                                      size_t nblocks)
{
  const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
  __m128i tmp = _mm_loadu_si128((const __m128i *)&h[0]);
  __m128i st1 = _mm_loadu_si128((const __m128i *)&h[4]);
  tmp = _mm_shuffle_epi32(tmp, 0xB1);        /* CDAB */
  st1 = _mm_shuffle_epi32(st1, 0x1B);        /* EFGH */
  __m128i st0 = _mm_alignr_epi8(tmp, st1, 8); /* ABEF */
  st1 = _mm_blend_epi16(st1, tmp, 0xF0);     /* CDGH */
  for (; nblocks; nblocks--, p += 64) {
    __m128i abef = st0, cdgh = st1, w[16];
    for (int g = 0; g < 16; g++) {
      if (g < 4)
        w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), mask);
      else
        w[g] = _mm_sha256msg2_epu32(
          _mm_add_epi32(_mm_sha256msg1_epu32(w[g - 4], w[g - 3]),
                        _mm_alignr_epi8(w[g - 1], w[g - 2], 4)),
          w[g - 1]);
      __m128i m = _mm_add_epi32(w[g], _mm_loadu_si128((const __m128i *)&sha256_k[4 * g]));
      st1 = _mm_sha256rnds2_epu32(st1, st0, m);
      st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(m, 0x0E));
    }
    st0 = _mm_add_epi32(st0, abef);
    st1 = _mm_add_epi32(st1, cdgh);
  }
  tmp = _mm_shuffle_epi32(st0, 0x1B);      /* FEBA */
  st1 = _mm_shuffle_epi32(st1, 0xB1);      /* DCHG */
  st0 = _mm_blend_epi16(tmp, st1, 0xF0);   /* DCBA */
  st1 = _mm_alignr_epi8(st1, tmp, 8);      /* ABEF */
  _mm_storeu_si128((__m128i *)&h[0], st0);
  _mm_storeu_si128((__m128i *)&h[4], st1);
}

static int sha_ni_usable(void)
{
  static int known = -1;
  if (known < 0) {
    unsigned a, b, c, d;
    int sha = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 29 & 1);
    int sse = __get_cpuid(1, &a, &b, &c, &d) && (c >> 19 & 1) && (c >> 9 & 1);
    known = sha && sse && !getenv("WEFT_NO_SHA_NI");
  }
  return known;
}
#endif

void audit_sha256_hex(const void *data, size_t n, char out[SHA256_HEX_LEN + 1])
{
#ifdef HAVE_SHA_NI
  if (sha_ni_usable()) {
    static const char hex[] = "0123456789abcdef";
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const unsigned char *p = data;
    unsigned char tail[128] = {0};
    size_t full = n / 64, rest = n % 64;
    sha_ni_blocks(h, p, full);
    memcpy(tail, p + full * 64, rest);
    tail[rest] = 0x80;
    size_t tn = rest + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int i = 0; i < 8; i++)
      tail[tn - 1 - i] = (unsigned char)(bits >> (8 * i));
    sha_ni_blocks(h, tail, tn / 64);
    for (int i = 0; i < 8; i++)
      for (int k = 0; k < 4; k++) {
        unsigned char byte = (unsigned char)(h[i] >> (24 - 8 * k));
        out[8 * i + 2 * k] = hex[byte >> 4];
        out[8 * i + 2 * k + 1] = hex[byte & 15];
      }
    out[SHA256_HEX_LEN] = '\0';
    return;
  }
#endif
  sha256_hex(data, n, out);
}

/* Decimal of v at p (no terminator); returns the length. */
static size_t put_i64(char *p, int64_t v)
{
  char t[24];
  size_t n = 0;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do
    t[n++] = (char)('0' + u % 10);
  while ((u /= 10));
  size_t k = 0;
  if (v < 0)
    p[k++] = '-';
  while (n)
    p[k++] = t[--n];
  return k;
}

/* One netstring field appended to b (or counted when b is NULL). */
static size_t field(char *b, const char *s, size_t n)
{
  if (!s) {
    if (b)
      memcpy(b, "~,", 2);
    return 2;
  }
  char len[24];
  size_t k = put_i64(len, (int64_t)n);
  if (b) {
    memcpy(b, len, k);
    b[k] = ':';
    memcpy(b + k + 1, s, n);
    b[k + 1 + n] = ',';
  }
  return k + 2 + n;
}

void audit_entry_hash(int64_t seq, int64_t at, const char *run, const char *kind,
                      const char *data, const char *prev_hash, char out[SHA256_HEX_LEN + 1])
{
  static const char magic[] = "weft-audit-1\n";
  char seqs[24], ats[24], stack[1024];
  size_t nseq = put_i64(seqs, seq), nat = put_i64(ats, at);
  size_t nrun = run ? strlen(run) : 0, nkind = kind ? strlen(kind) : 0;
  size_t ndata = data ? strlen(data) : 0, nprev = prev_hash ? strlen(prev_hash) : 0;
  size_t total = sizeof magic - 1 + field(NULL, seqs, nseq) + field(NULL, ats, nat) +
                 field(NULL, run, nrun) + field(NULL, kind, nkind) +
                 field(NULL, data, ndata) + field(NULL, prev_hash, nprev);
  char *b = total <= sizeof stack ? stack : malloc(total);
  if (!b) {
    /* out of memory for a huge entry: stream it through util/sha256.c */
    struct sha256 c;
    char num[24];
    const char *f[6] = {seqs, ats, run, kind, data, prev_hash};
    size_t nf[6] = {nseq, nat, nrun, nkind, ndata, nprev};
    sha256_init(&c);
    sha256_update(&c, magic, sizeof magic - 1);
    for (int i = 0; i < 6; i++) {
      if (!f[i]) {
        sha256_update(&c, "~,", 2);
        continue;
      }
      size_t k = put_i64(num, (int64_t)nf[i]);
      num[k++] = ':';
      sha256_update(&c, num, k);
      sha256_update(&c, f[i], nf[i]);
      sha256_update(&c, ",", 1);
    }
    sha256_final_hex(&c, out);
    return;
  }
  size_t k = 0;
  memcpy(b, magic, sizeof magic - 1);
  k += sizeof magic - 1;
  k += field(b + k, seqs, nseq);
  k += field(b + k, ats, nat);
  k += field(b + k, run, nrun);
  k += field(b + k, kind, nkind);
  k += field(b + k, data, ndata);
  k += field(b + k, prev_hash, nprev);
  audit_sha256_hex(b, k, out);
  if (b != stack)
    free(b);
}
