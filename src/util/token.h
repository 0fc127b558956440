/* token.h — API tokens: generation, the stored hash, constant-time checks.
 *
 * A token is "weft_" + 43 characters of base64url: 256 bits from the
 * kernel's CSPRNG. Only its SHA-256 (hex) is ever stored; a presented token
 * is hashed and compared with ct_equal, whose time does not depend on where
 * two strings differ. Also used for webhook HMACs. A token's record in the
 * store (store_token) has a separate public id (token_id_generate).
 *
 * Ownership: callers own every buffer. */
#ifndef WEFT_UTIL_TOKEN_H
#define WEFT_UTIL_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_LEN 48 /* "weft_" + 43 */
#define TOKEN_ID_LEN 16 /* "tok_" + 12 */

/* A token's public id: "tok_" + 12 lower-case base32 characters (60 random
 * bits). 0, or WEFT_EIO when the kernel gives no randomness. */
int token_id_generate(char out[TOKEN_ID_LEN + 1]);

/* 0, or WEFT_EIO when the kernel gives no randomness. out: TOKEN_LEN + 1 bytes. */
int token_generate(char out[TOKEN_LEN + 1]);
/* true when s has a token's shape (prefix, length, alphabet) */
bool token_well_formed(const char *s);
void token_hash_hex(const char *token, char out[65]);
/* a == b over n bytes, in time independent of the contents */
bool ct_equal(const void *a, const void *b, size_t n);
/* HMAC-SHA256(key, msg) as lower-case hex (65 bytes with the NUL) */
void hmac_sha256_hex(const void *key, size_t klen, const void *msg, size_t mlen, char out[65]);

#endif
