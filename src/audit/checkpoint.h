/* checkpoint.h — signed checkpoints of the audit chain head (`weft audit
 * checkpoint`, `weft audit verify --checkpoint FILE`).
 *
 * A checkpoint is one JSON line
 *   {"seq":N,"hash":"<entry N's hash>","at":"<when taken, RFC 3339>",
 *    "key":"<Ed25519 public key, hex>","sig":"<Ed25519 signature, hex>"}
 * signing the text "weft-checkpoint-1\n<seq>\n<hash>\n<at>\n" with the home's
 * key: HOME/audit.key (the 32-byte seed in hex, mode 0600, created on first
 * use) and HOME/audit.pub (the public key in hex). Kept outside the home, a
 * checkpoint proves what the chain was: verify then requires entry N to still
 * have that hash, so a chain recomputed from scratch (or emptied, or
 * replaced) no longer passes. libsodium does the signing.
 *
 * Ownership: *line, *err, *out are malloc'd; the caller frees them. */
#ifndef WEFT_AUDIT_CHECKPOINT_H
#define WEFT_AUDIT_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"

/* Signs (seq, hash) as taken at at_ms with the home's key (created when
 * absent): *line is the JSON line, without a newline. */
int audit_checkpoint_sign(const char *home, int64_t seq, const char *hash, int64_t at_ms,
                          char **line, char **err);

/* Parses one checkpoint line and checks it against the public key pub_hex
 * (lowercase hex): 0; WEFT_EPARSE (not a checkpoint), WEFT_EDENIED (signed
 * by another key), WEFT_ECORRUPT (the signature does not verify). */
int audit_checkpoint_parse(const char *line, const char *pub_hex, struct audit_checkpoint *out);

/* Reads the checkpoint lines of file (blank lines skipped) and checks each
 * signature against HOME/audit.pub. WEFT_EPARSE / WEFT_EDENIED / WEFT_EIO
 * with *err naming the file and line. */
int audit_checkpoints_read(const char *home, const char *file, struct audit_checkpoint **out,
                           size_t *n, char **err);

#endif
