/* checkpoint.c — signing and checking checkpoints of the audit chain head
 * (see checkpoint.h), with libsodium's Ed25519. */
#include "audit/checkpoint.h"
#include "util/err.h"
#include "util/wtime.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE "audit.key"
#define PUB_FILE "audit.pub"

static int fail(char **err, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char **err, int rc, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  if (err && vasprintf(err, fmt, ap) < 0)
    *err = NULL;
  va_end(ap);
  return rc;
}

static int init(char **err)
{
  if (sodium_init() < 0)
    return fail(err, WEFT_EIO, "cannot initialise libsodium");
  return 0;
}

/* Reads a hex line of exactly n bytes from path into out. */
static int read_hex(const char *path, unsigned char *out, size_t n, char **err)
{
  char text[256] = {0};
  FILE *f = fopen(path, "r");
  if (!f)
    return errno == ENOENT ? WEFT_ENOTFOUND
                           : fail(err, WEFT_EIO, "cannot read %s: %s", path, strerror(errno));
  size_t got = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[got] = '\0';
  size_t len = 0;
  if (sodium_hex2bin(out, n, text, got, " \n\r\t", &len, NULL) != 0 || len != n)
    return fail(err, WEFT_EPARSE, "%s does not hold a %zu-byte key in hex", path, n);
  return 0;
}

static int write_file(const char *path, const char *text, mode_t mode, char **err)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0)
    return fail(err, WEFT_EIO, "cannot create %s: %s", path, strerror(errno));
  size_t n = strlen(text);
  bool ok = write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  return ok ? 0 : fail(err, WEFT_EIO, "cannot write %s: %s", path, strerror(errno));
}

/* The home's key pair; created (0600 seed, public key next to it) when create
 * is set and there is none. */
static int load_key(const char *home, bool create, unsigned char pk[crypto_sign_PUBLICKEYBYTES],
                    unsigned char sk[crypto_sign_SECRETKEYBYTES], char **err)
{
  char kpath[4096], ppath[4096];
  unsigned char seed[crypto_sign_SEEDBYTES];
  snprintf(kpath, sizeof kpath, "%s/%s", home, KEY_FILE);
  snprintf(ppath, sizeof ppath, "%s/%s", home, PUB_FILE);
  struct stat st;
  if (stat(kpath, &st) == 0 && (st.st_mode & 077))
    return fail(err, WEFT_EDENIED,
                "%s is readable or writable by others (mode %03o); the audit key needs mode "
                "0600: run `chmod 600 %s`",
                kpath, (unsigned)(st.st_mode & 0777), kpath);
  int rc = read_hex(kpath, seed, sizeof seed, err);
  if (rc == WEFT_ENOTFOUND && create) {
    char hex[2 * sizeof seed + 2];
    randombytes_buf(seed, sizeof seed);
    sodium_bin2hex(hex, sizeof hex, seed, sizeof seed);
    strcat(hex, "\n");
    rc = write_file(kpath, hex, 0600, err);
    sodium_memzero(hex, sizeof hex);
    if (rc)
      return rc;
    unlink(ppath); /* a stale public key would not match the new key */
  } else if (rc == WEFT_ENOTFOUND) {
    return fail(err, WEFT_ENOTFOUND, "%s does not exist: this home never made a checkpoint",
                kpath);
  } else if (rc) {
    return rc;
  }
  crypto_sign_seed_keypair(pk, sk, seed);
  sodium_memzero(seed, sizeof seed);
  if (access(ppath, F_OK) != 0) {
    char hex[2 * crypto_sign_PUBLICKEYBYTES + 2];
    sodium_bin2hex(hex, sizeof hex, pk, crypto_sign_PUBLICKEYBYTES);
    strcat(hex, "\n");
    if ((rc = write_file(ppath, hex, 0644, err)))
      return rc;
  }
  return 0;
}

static char *message(int64_t seq, const char *hash, const char *at)
{
  char *m = NULL;
  if (asprintf(&m, "weft-checkpoint-1\n%" PRId64 "\n%s\n%s\n", seq, hash, at) < 0)
    return NULL;
  return m;
}

int audit_checkpoint_sign(const char *home, int64_t seq, const char *hash, int64_t at_ms,
                          char **line, char **err)
{
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  unsigned char sig[crypto_sign_BYTES];
  char at[32], pkh[2 * sizeof pk + 1], sigh[2 * sizeof sig + 1];
  *line = NULL;
  int rc = init(err);
  if (rc || (rc = load_key(home, true, pk, sk, err)))
    return rc;
  wt_fmt_rfc3339(at_ms, at);
  char *m = message(seq, hash, at);
  if (!m) {
    sodium_memzero(sk, sizeof sk);
    return WEFT_ENOMEM;
  }
  crypto_sign_detached(sig, NULL, (const unsigned char *)m, strlen(m), sk);
  sodium_memzero(sk, sizeof sk);
  free(m);
  sodium_bin2hex(pkh, sizeof pkh, pk, sizeof pk);
  sodium_bin2hex(sigh, sizeof sigh, sig, sizeof sig);
  json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s}", "seq", (json_int_t)seq, "hash", hash, "at", at,
                        "key", pkh, "sig", sigh);
  *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(o);
  return *line ? 0 : WEFT_ENOMEM;
}

static bool is_hex(const char *s, size_t n)
{
  if (!s || strlen(s) != n)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

int audit_checkpoint_parse(const char *line, const char *pub_hex, struct audit_checkpoint *out)
{
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sig[crypto_sign_BYTES];
  memset(out, 0, sizeof *out);
  if (sodium_init() < 0)
    return WEFT_EIO;
  json_t *o = json_loads(line, 0, NULL);
  json_t *seq = json_object_get(o, "seq");
  const char *hash = json_string_value(json_object_get(o, "hash"));
  const char *at = json_string_value(json_object_get(o, "at"));
  const char *key = json_string_value(json_object_get(o, "key"));
  const char *sigh = json_string_value(json_object_get(o, "sig"));
  int rc = 0;
  if (!json_is_integer(seq) || json_integer_value(seq) < 0 || !is_hex(hash, SHA256_HEX_LEN) ||
      !at || strlen(at) >= sizeof out->at || strchr(at, '\n') || !is_hex(key, 2 * sizeof pk) ||
      !is_hex(sigh, 2 * sizeof sig)) {
    rc = WEFT_EPARSE;
  } else if (!pub_hex || strcmp(key, pub_hex)) {
    rc = WEFT_EDENIED;
  } else {
    sodium_hex2bin(pk, sizeof pk, key, strlen(key), NULL, NULL, NULL);
    sodium_hex2bin(sig, sizeof sig, sigh, strlen(sigh), NULL, NULL, NULL);
    out->seq = (int64_t)json_integer_value(seq);
    char *m = message(out->seq, hash, at);
    if (!m)
      rc = WEFT_ENOMEM;
    else if (crypto_sign_verify_detached(sig, (const unsigned char *)m, strlen(m), pk) != 0)
      rc = WEFT_ECORRUPT;
    free(m);
    memcpy(out->hash, hash, SHA256_HEX_LEN + 1);
    snprintf(out->at, sizeof out->at, "%s", at);
  }
  json_decref(o);
  return rc;
}

int audit_checkpoints_read(const char *home, const char *file, struct audit_checkpoint **out,
                           size_t *n, char **err)
{
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  char ppath[4096], pkh[2 * sizeof pk + 1];
  struct audit_checkpoint *v = NULL;
  size_t nv = 0, cap = 0;
  char *text = NULL;
  size_t tcap = 0;
  int rc = init(err);
  *out = NULL;
  *n = 0;
  if (rc)
    return rc;
  snprintf(ppath, sizeof ppath, "%s/%s", home, PUB_FILE);
  rc = read_hex(ppath, pk, sizeof pk, err);
  if (rc == WEFT_ENOTFOUND)
    return fail(err, WEFT_ENOTFOUND,
                "%s does not exist, so checkpoint %s cannot be checked: this home never made a "
                "checkpoint, or its key was removed",
                ppath, file);
  if (rc)
    return rc;
  sodium_bin2hex(pkh, sizeof pkh, pk, sizeof pk);
  FILE *f = fopen(file, "r");
  if (!f)
    return fail(err, errno == ENOENT ? WEFT_ENOTFOUND : WEFT_EIO, "cannot read checkpoint %s: %s",
                file, strerror(errno));
  ssize_t len;
  int lineno = 0;
  while ((len = getline(&text, &tcap, f)) >= 0) {
    lineno++;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
      text[--len] = '\0';
    if (len == 0)
      continue;
    struct audit_checkpoint cp;
    rc = audit_checkpoint_parse(text, pkh, &cp);
    if (rc == WEFT_EPARSE)
      rc = fail(err, rc,
                "%s:%d: not a checkpoint (a line printed by `weft audit checkpoint` is "
                "{\"seq\",\"hash\",\"at\",\"key\",\"sig\"})",
                file, lineno);
    else if (rc == WEFT_EDENIED)
      rc = fail(err, rc,
                "%s:%d: the checkpoint was signed by another key, not by this home's key (%s, "
                "%.16s...): the home's key was replaced, or the checkpoint is of another home",
                file, lineno, ppath, pkh);
    else if (rc == WEFT_ECORRUPT)
      rc = fail(err, WEFT_EDENIED,
                "%s:%d: the checkpoint's signature does not verify: it was altered", file, lineno);
    if (rc)
      break;
    if (nv == cap) {
      size_t nc = cap ? cap * 2 : 8;
      struct audit_checkpoint *p = realloc(v, nc * sizeof *v);
      if (!p) {
        rc = WEFT_ENOMEM;
        break;
      }
      v = p;
      cap = nc;
    }
    v[nv++] = cp;
  }
  fclose(f);
  free(text);
  if (!rc && nv == 0)
    rc = fail(err, WEFT_EPARSE, "%s holds no checkpoint", file);
  if (rc) {
    free(v);
    return rc;
  }
  *out = v;
  *n = nv;
  return 0;
}
