/* sha256.h — SHA-256 (FIPS 180-4), written here so weft needs no crypto library.
 *
 * Used for workflow content hashes and the audit log's hash chain. Streaming
 * (init / update / final) plus one-shot helpers. No allocation: the caller owns
 * the context and every output buffer. Hex output is lower case, 64 characters
 * plus a NUL. */
#ifndef WEFT_UTIL_SHA256_H
#define WEFT_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64

struct sha256 {
  uint32_t h[8];
  uint64_t nbytes;      /* total bytes fed so far */
  unsigned char blk[64];
  size_t nblk;          /* bytes waiting in blk */
};

/* The 64 round constants of FIPS 180-4 (also used by the SHA-NI path in audit.c). */
extern const uint32_t sha256_k[64];

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t n);
void sha256_final(struct sha256 *c, unsigned char out[SHA256_LEN]);
/* Final digest as lower-case hex plus NUL. */
void sha256_final_hex(struct sha256 *c, char out[SHA256_HEX_LEN + 1]);

/* SHA-NI on (when the CPU has it) or off; returns whether it was in use.
 * For the tests, which check both paths give the same digests. */
int sha256_use_hw(int on);

void sha256(const void *data, size_t n, unsigned char out[SHA256_LEN]);
void sha256_hex(const void *data, size_t n, char out[SHA256_HEX_LEN + 1]);

#endif
