/* outputs.c — the $WEFT_OUTPUT parser (see outputs.h for the format).
 *
 * One pass over the bytes: decide the form by the first non-blank byte ('{'
 * means one JSON object, anything else means lines), then either hand the
 * whole buffer to jansson or walk it line by line. Nothing here does I/O or
 * keeps state between calls; the executor (proc.c) reads the file and calls
 * this, and the fuzzer calls it with arbitrary bytes. Messages quote at most
 * EXCERPT bytes of the offending line, escaped to printable ASCII so that they
 * are always valid UTF-8 (they end up inside JSON error objects). */
#include "exec/outputs.h"
#include "util/buf.h"
#include "util/err.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXCERPT 60

static int set_err(char **err, int rc, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

static int set_err(char **err, int rc, const char *fmt, ...)
{
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  for (char *c = tmp; *c; c++) /* jansson's texts may quote raw input bytes */
    if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
      *c = '?';
  *err = strdup(tmp);
  return *err ? rc : WEFT_ENOMEM;
}

/* Escapes up to EXCERPT bytes of s into out (printable ASCII, others \xNN). */
static void excerpt(const char *s, size_t n, char out[EXCERPT * 4 + 4])
{
  size_t o = 0;
  for (size_t i = 0; i < n && i < EXCERPT; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f && c != '\\')
      out[o++] = (char)c;
    else
      o += (size_t)sprintf(out + o, "\\x%02x", c);
  }
  if (n > EXCERPT) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
}

/* Strict UTF-8 check (no overlongs, no surrogates, max U+10FFFF, no NUL:
 * jansson keys are C strings). */
static bool utf8_ok(const char *p, size_t n, bool allow_nul)
{
  const unsigned char *s = (const unsigned char *)p;
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      if (c == 0 && !allow_nul)
        return false;
      i++;
      continue;
    }
    size_t len;
    unsigned cp, min;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i < len)
      return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Trims spaces and tabs on both sides of [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
  while (*n && (**s == ' ' || **s == '\t'))
    (*s)++, (*n)--;
  while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
    (*n)--;
}

/* Finds "<<" in [s, s + n); returns its offset or n. */
static size_t find_heredoc(const char *s, size_t n)
{
  for (size_t i = 0; i + 1 < n; i++)
    if (s[i] == '<' && s[i + 1] == '<')
      return i;
  return n;
}

/* Stores key (checked) = val (consumed) in obj. */
static int put(json_t *obj, const char *key, size_t klen, json_t *val, size_t lineno,
               const char *line, size_t linelen, char **err)
{
  char ex[EXCERPT * 4 + 4];
  int rc = 0;
  char *k = NULL;
  if (!val)
    return WEFT_ENOMEM;
  if (klen == 0) {
    excerpt(line, linelen, ex);
    rc = set_err(err, WEFT_EPARSE, "$WEFT_OUTPUT line %zu has an empty key: %s", lineno, ex);
    goto out;
  }
  if (!utf8_ok(key, klen, false)) {
    excerpt(line, linelen, ex);
    rc = set_err(err, WEFT_EPARSE,
                 "$WEFT_OUTPUT line %zu has a key that is not valid UTF-8: %s", lineno, ex);
    goto out;
  }
  k = strndup(key, klen);
  if (!k) {
    rc = WEFT_ENOMEM;
    goto out;
  }
  rc = json_object_set(obj, k, val) ? WEFT_ENOMEM : 0;
out:
  free(k);
  json_decref(val);
  return rc;
}

/* A string value, or an error naming the line when it is not UTF-8. */
static json_t *string_value(const char *v, size_t n, size_t lineno, const char *line,
                            size_t linelen, char **err, int *rc)
{
  char ex[EXCERPT * 4 + 4];
  if (!utf8_ok(v, n, true)) {
    excerpt(line, linelen, ex);
    *rc = set_err(err, WEFT_EPARSE,
                  "$WEFT_OUTPUT line %zu has a value that is not valid UTF-8: %s", lineno, ex);
    return NULL;
  }
  json_t *s = json_stringn(v, n);
  *rc = s ? 0 : WEFT_ENOMEM;
  return s;
}

static int parse_lines(const char *buf, size_t len, json_t *obj, char **err)
{
  char ex[EXCERPT * 4 + 4];
  size_t pos = 0, lineno = 0;
  int rc = 0;
  while (pos < len && rc == 0) {
    const char *line = buf + pos;
    const char *nl = memchr(line, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - line) : len - pos;
    pos += n + (nl ? 1 : 0);
    lineno++;
    if (n && line[n - 1] == '\r')
      n--;
    size_t i = 0;
    while (i < n && is_blank(line[i]))
      i++;
    if (i == n)
      continue; /* blank line */

    const char *eq = memchr(line, '=', n);
    size_t eqi = eq ? (size_t)(eq - line) : n;
    size_t hd = find_heredoc(line, n);
    if (hd < eqi) {
      /* key<<DELIM ... DELIM */
      const char *key = line;
      size_t klen = hd;
      trim(&key, &klen);
      const char *delim = line + hd + 2;
      size_t dlen = n - hd - 2;
      size_t start_line = lineno;
      if (dlen == 0) {
        excerpt(line, n, ex);
        rc = set_err(err, WEFT_EPARSE,
                     "$WEFT_OUTPUT line %zu has \"<<\" without a delimiter: %s", lineno, ex);
        break;
      }
      struct buf val;
      buf_init(&val, OUTPUTS_MAX);
      bool closed = false, first = true;
      while (pos < len) {
        const char *l2 = buf + pos;
        const char *nl2 = memchr(l2, '\n', len - pos);
        size_t n2 = nl2 ? (size_t)(nl2 - l2) : len - pos;
        pos += n2 + (nl2 ? 1 : 0);
        lineno++;
        if (n2 && l2[n2 - 1] == '\r')
          n2--;
        if (n2 == dlen && memcmp(l2, delim, dlen) == 0) {
          closed = true;
          break;
        }
        if ((!first && buf_append(&val, "\n", 1)) || buf_append(&val, l2, n2)) {
          rc = WEFT_ENOMEM; /* the input is capped, so only allocation fails */
          break;
        }
        first = false;
      }
      if (rc == 0 && !closed) {
        excerpt(line, n, ex);
        rc = set_err(err, WEFT_EPARSE,
                     "$WEFT_OUTPUT line %zu starts a multi-line value that is never closed: %s",
                     start_line, ex);
      }
      if (rc == 0) {
        json_t *v = string_value(val.p ? val.p : "", val.len, start_line, line, n, err, &rc);
        if (rc == 0)
          rc = put(obj, key, klen, v, start_line, line, n, err);
      }
      buf_free(&val);
      continue;
    }
    if (!eq) {
      excerpt(line, n, ex);
      rc = set_err(err, WEFT_EPARSE,
                   "$WEFT_OUTPUT line %zu has no \"=\" (expected key=value): %s", lineno, ex);
      break;
    }
    const char *key = line;
    size_t klen = eqi;
    trim(&key, &klen);
    const char *v = eq + 1;
    size_t vlen = n - eqi - 1;
    json_error_t jerr;
    json_t *val = vlen ? json_loadb(v, vlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr) : NULL;
    if (!val)
      val = string_value(v, vlen, lineno, line, n, err, &rc);
    if (rc == 0)
      rc = put(obj, key, klen, val, lineno, line, n, err);
  }
  return rc;
}

/* The first string inside v that holds a NUL (U+0000): its path from the
 * top object goes into path ("key", "key[2].x"). A NUL would silently cut
 * the value short wherever weft or a program reads it as a C string. */
static bool has_nul(const json_t *v, char *path, size_t n, size_t at)
{
  if (at >= n)
    at = n - 1;
  if (json_is_string(v))
    return strlen(json_string_value(v)) != json_string_length(v);
  if (json_is_object(v)) {
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) {
      size_t w = (size_t)snprintf(path + at, n - at, at ? ".%s" : "%s", k);
      if (has_nul(x, path, n, at + w))
        return true;
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      size_t w = (size_t)snprintf(path + at, n - at, "[%zu]", i);
      if (has_nul(x, path, n, at + w))
        return true;
    }
  }
  path[at] = '\0';
  return false;
}

int outputs_parse(const char *buf, size_t len, json_t **out, char **err)
{
  int rc = 0;
  json_t *obj = NULL;
  *out = NULL;
  *err = NULL;
  if (len > OUTPUTS_MAX) {
    rc = set_err(err, WEFT_ELIMIT, "$WEFT_OUTPUT is over 1 MiB (%zu bytes)", len);
    goto out;
  }
  size_t i = 0;
  while (i < len && (is_blank(buf[i]) || buf[i] == '\n'))
    i++;
  if (i < len && buf[i] == '{') {
    json_error_t jerr;
    obj = json_loadb(buf, len, JSON_ALLOW_NUL, &jerr);
    if (!obj) {
      rc = set_err(err, WEFT_EPARSE, "$WEFT_OUTPUT is not a valid JSON object: %s (line %d, column %d)",
                   jerr.text, jerr.line, jerr.column);
      goto out;
    }
    if (!json_is_object(obj)) { /* cannot happen after '{', kept as a guard */
      rc = set_err(err, WEFT_EPARSE, "$WEFT_OUTPUT is JSON but not an object");
      goto out;
    }
    goto out;
  }
  obj = json_object();
  if (!obj) {
    rc = WEFT_ENOMEM;
    goto out;
  }
  rc = parse_lines(buf, len, obj, err);
out:
  if (!rc && obj) {
    char path[200] = "";
    if (has_nul(obj, path, sizeof path, 0)) {
      char ex[EXCERPT * 4 + 4];
      excerpt(path, strlen(path), ex);
      rc = set_err(err, WEFT_EPARSE,
                   "$WEFT_OUTPUT: output \"%s\" contains a NUL byte (\\u0000 or a raw 0 byte); "
                   "outputs are text: encode binary data (e.g. base64) first",
                   ex);
    }
  }
  if (rc) {
    json_decref(obj);
    obj = NULL;
  }
  *out = obj;
  return rc;
}
