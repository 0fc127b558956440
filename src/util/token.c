/* token.c — token generation and hashing, constant-time comparison, HMAC. */
#include "util/token.h"

#include <string.h>
#include <sys/random.h>

#include "util/err.h"
#include "util/sha256.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int token_generate(char out[TOKEN_LEN + 1])
{
  unsigned char r[33]; /* 32 random bytes + 1 zero byte to fill the last group */
  size_t got = 0;
  while (got < 32) {
    ssize_t k = getrandom(r + got, 32 - got, 0);
    if (k <= 0)
      return WEFT_EIO;
    got += (size_t)k;
  }
  r[32] = 0;
  memcpy(out, "weft_", 5);
  char *o = out + 5;
  for (size_t i = 0; i < 33; i += 3) {
    unsigned v = (unsigned)r[i] << 16 | (unsigned)r[i + 1] << 8 | r[i + 2];
    *o++ = b64url[v >> 18 & 63];
    *o++ = b64url[v >> 12 & 63];
    *o++ = b64url[v >> 6 & 63];
    *o++ = b64url[v & 63];
  }
  out[TOKEN_LEN] = 0; /* 44 characters written; the 44th only holds padding bits */
  memset(r, 0, sizeof r);
  return 0;
}

int token_id_generate(char out[TOKEN_ID_LEN + 1])
{
  static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
  unsigned char r[12];
  size_t got = 0;
  while (got < sizeof r) {
    ssize_t k = getrandom(r + got, sizeof r - got, 0);
    if (k <= 0)
      return WEFT_EIO;
    got += (size_t)k;
  }
  memcpy(out, "tok_", 4);
  for (size_t i = 0; i < 12; i++)
    out[4 + i] = b32[r[i] & 31];
  out[TOKEN_ID_LEN] = 0;
  return 0;
}

bool token_well_formed(const char *s)
{
  if (strncmp(s, "weft_", 5) || strlen(s) != TOKEN_LEN)
    return false;
  for (const char *c = s + 5; *c; c++)
    if (!strchr(b64url, *c))
      return false;
  return true;
}

void token_hash_hex(const char *token, char out[65])
{
  struct sha256 c;
  sha256_init(&c);
  sha256_update(&c, token, strlen(token));
  sha256_final_hex(&c, out);
}

bool ct_equal(const void *a, const void *b, size_t n)
{
  const volatile unsigned char *x = a, *y = b;
  unsigned char d = 0;
  for (size_t i = 0; i < n; i++)
    d |= x[i] ^ y[i];
  return d == 0;
}

void hmac_sha256_hex(const void *key, size_t klen, const void *msg, size_t mlen, char out[65])
{
  unsigned char k[64] = {0}, inner[SHA256_LEN], pad[64];
  struct sha256 c;
  if (klen > 64) {
    sha256_init(&c);
    sha256_update(&c, key, klen);
    sha256_final(&c, k);
  } else {
    memcpy(k, key, klen);
  }
  for (int i = 0; i < 64; i++)
    pad[i] = k[i] ^ 0x36;
  sha256_init(&c);
  sha256_update(&c, pad, 64);
  sha256_update(&c, msg, mlen);
  sha256_final(&c, inner);
  for (int i = 0; i < 64; i++)
    pad[i] = k[i] ^ 0x5c;
  sha256_init(&c);
  sha256_update(&c, pad, 64);
  sha256_update(&c, inner, sizeof inner);
  sha256_final_hex(&c, out);
  memset(k, 0, sizeof k);
  memset(pad, 0, sizeof pad);
}
