/* audit_chain.h — the pure piece of the hash-chained audit log: the canonical
 * form of an entry's data and the entry hash. Used by the store backends when
 * they append (store/sqlite_audit.c) and by audit/audit.c when it verifies;
 * it includes nothing of either, so the store does not include audit/ and
 * the folders have no circle (docs/internals/README.md, layers).
 *
 * Each entry's hash is the SHA-256 (hex) of a canonical serialisation of
 * (seq, at, run, kind, data, prev_hash), prev_hash being the previous
 * entry's hash (AUDIT_GENESIS for seq 1).
 *
 * Ownership: strings passed in are borrowed; *out results are malloc'd and
 * the caller frees them. */
#ifndef WEFT_UTIL_AUDIT_CHAIN_H
#define WEFT_UTIL_AUDIT_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "util/sha256.h"

#define AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

/* Canonical form of an entry's data: compact JSON with sorted keys and ASCII
 * escapes. json NULL gives "null"; text that is not JSON is WEFT_EPARSE. */
int audit_canonical(const char *json, char **out);
/* The same canonical form of a value (NULL gives "null"), without the parse:
 * audit_canonical(json_dumps(v)) == audit_canonical_json(v). */
struct json_t;
int audit_canonical_json(const struct json_t *v, char **out);

/* The hash of an entry (run may be NULL; data must already be canonical). The
 * serialisation is "weft-audit-1\n" followed by each field as a netstring
 * `LEN:BYTES,` (integers in decimal), a NULL run as `~,`. */
void audit_entry_hash(int64_t seq, int64_t at, const char *run, const char *kind,
                      const char *data, const char *prev_hash, char out[SHA256_HEX_LEN + 1]);

/* SHA-256 (hex) of a buffer: SHA-NI when the CPU has it (WEFT_NO_SHA_NI=1
 * forces the portable util/sha256.c), the same digest either way. */
void audit_sha256_hex(const void *data, size_t n, char out[SHA256_HEX_LEN + 1]);

#endif
