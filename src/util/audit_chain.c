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
 * The serialisation is built in one buffer and hashed at once with
 * util/sha256.c, which runs the blocks through SHA-NI where the CPU has it
 * (hashing ~200 bytes per transition was a quarter of the runtime's CPU time
 * before). */

void audit_sha256_hex(const void *data, size_t n, char out[SHA256_HEX_LEN + 1])
{
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
