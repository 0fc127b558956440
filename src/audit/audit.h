/* audit.h — the hash-chained audit log: verification and export (the
 * canonical form and the entry hash, which the store needs too, are the pure
 * util/audit_chain.h, included here).
 *
 * Entries live in the store (store_audit_append / store_audit_scan); this
 * module owns what makes them tamper-evident. Each entry's hash is the SHA-256
 * (hex) of a canonical serialisation of (seq, at, run, kind, data, prev_hash),
 * prev_hash being the previous entry's hash (64 zeros for seq 1). The store
 * also keeps the chain head (last seq and hash) in a separate table, updated in
 * the same transaction, so removing the last entries is detected too.
 *
 * Ownership: strings passed in are borrowed; *msg and *out results are
 * malloc'd and the caller frees them. */
#ifndef WEFT_AUDIT_AUDIT_H
#define WEFT_AUDIT_AUDIT_H

#include <stdint.h>
#include <stdio.h>

#include "util/audit_chain.h" /* the canonical form and the entry hash */
#include "util/sha256.h"

struct store;
struct store_audit;

/* A signed checkpoint of the chain head (audit/checkpoint.c), as verify
 * needs it: the chain must still have entry seq with this hash. */
struct audit_checkpoint {
  int64_t seq;
  char hash[SHA256_HEX_LEN + 1];
  char at[40]; /* when it was taken (RFC 3339), for messages */
};

/* Walks the whole chain, then (stores of ops version 3) checks the store
 * against it: every run, step instance, attempt, decision and definition in
 * the store has the entries its writer appends with it (audit/xcheck.c), and
 * the chain still extends each checkpoint. Returns 0 when intact;
 * WEFT_ECORRUPT when not, with *msg saying what and *first_bad_seq the first
 * position of the chain whose entry is wrong or missing, or 0 when the chain
 * is sound but the store has what the log lacks; another WEFT_E* code (and
 * *msg) when the store failed. msg may be NULL. */
int audit_verify_with(struct store *s, const struct audit_checkpoint *cps, size_t n_cps,
                      int64_t *first_bad_seq, char **msg);
/* The same, also giving the head it verified (store_audit_clear it; seq 0
 * and hash NULL for an empty log). */
int audit_verify_head(struct store *s, const struct audit_checkpoint *cps, size_t n_cps,
                      int64_t *first_bad_seq, char **msg, struct store_audit *head_out);
int audit_verify(struct store *s, int64_t *first_bad_seq, char **msg);

/* Prints the entries (of one run, or all when run is NULL) as JSON lines:
 * {"seq","at" (RFC 3339),"at_ms","run","kind","data","prev_hash","hash"},
 * plus "identity": "asserted" (data has asserted_by: --as was used) or
 * "verified" (the OS user) on entries whose data names a person (by,
 * started_by). */
int audit_export(struct store *s, const char *run, FILE *f);

#endif
