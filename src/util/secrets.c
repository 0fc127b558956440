/* secrets.c — loading secrets.json and WEFT_SECRET_* (see secrets.h) and
 * masking their values in text and JSON. */
#include "util/secrets.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/err.h"

extern char **environ;

#define SECRETS_MAX_FORMS 16384 /* ~30 forms per secret: ~500 secrets */
#define SECRETS_LINE_MIN 8 /* bytes of a line of a multi-line secret masked alone */
#define SECRETS_ENC_MIN 6  /* bytes of a secret whose base64 and hex are masked */
#define SECRETS_ENC_MAX 8192 /* ... up to: its hex must stay under PROC_SECRET_MAX */

struct masker {
  char **forms; /* NULL-terminated, longest first */
  size_t n, cap;
  size_t cur;   /* forms[cur..n) belong to the value being added (deduplicated) */
};

int secrets_load(const char *home, json_t **out, char **err)
{
  int rc = 0;
  char *path = NULL;
  json_t *o = NULL;
  *out = NULL;
  *err = NULL;
  if (asprintf(&path, "%s/%s", home ? home : ".", SECRETS_FILE) < 0) {
    path = NULL;
    rc = WEFT_ENOMEM;
    goto out;
  }
  struct stat st;
  if (stat(path, &st) == 0) {
    if (st.st_mode & 077) {
      if (asprintf(err, "%s is readable or writable by others (mode %03o); secrets need mode "
                        "0600: run `chmod 600 %s`", path, (unsigned)(st.st_mode & 0777), path) < 0)
        *err = NULL;
      rc = WEFT_EDENIED;
      goto out;
    }
    json_error_t je;
    o = json_load_file(path, 0, &je);
    if (!o || !json_is_object(o)) {
      if (asprintf(err, "%s:%d:%d: %s (it must be a JSON object {\"NAME\": \"value\", ...})",
                   path, je.line, je.column, o ? "not an object" : je.text) < 0)
        *err = NULL;
      rc = WEFT_EPARSE;
      goto out;
    }
    const char *bad;
    json_t *bv;
    json_object_foreach(o, bad, bv) {
      if (json_is_string(bv))
        continue;
      static const char *const tn[] = {"an object", "a list", "a string", "a number",
                                       "a number", "true", "false", "null"};
      if (asprintf(err, "%s: secret \"%s\" must be a string, not %s (write it as "
                        "\"%s\": \"...\"; a secret is masked as text)",
                   path, bad, tn[json_typeof(bv)], bad) < 0)
        *err = NULL;
      rc = WEFT_EPARSE;
      goto out;
    }
  } else if (errno != ENOENT) {
    if (asprintf(err, "cannot read %s: %s", path, strerror(errno)) < 0)
      *err = NULL;
    rc = WEFT_EIO;
    goto out;
  } else {
    o = json_object();
  }
  for (char **e = environ; e && *e; e++) {
    static const char pfx[] = "WEFT_SECRET_";
    if (strncmp(*e, pfx, sizeof pfx - 1))
      continue;
    const char *name = *e + sizeof pfx - 1, *eq = strchr(name, '=');
    if (!eq || eq == name)
      continue;
    char *k = strndup(name, (size_t)(eq - name));
    if (k)
      json_object_set_new(o, k, json_string(eq + 1));
    free(k);
  }
out:
  free(path);
  if (rc)
    json_decref(o);
  else
    *out = o;
  return rc;
}

static int add_form(struct masker *m, const char *s, size_t len)
{
  if (len == 0)
    return 0;
  if (m->n + 1 >= SECRETS_MAX_FORMS)
    return WEFT_ELIMIT; /* never mask less than asked: refuse */
  /* duplicates among one value's forms are common (raw == JSON-escaped);
   * across values they are rare and harmless, so only these are looked at */
  for (size_t i = m->cur; i < m->n; i++)
    if (strlen(m->forms[i]) == len && !memcmp(m->forms[i], s, len))
      return 0;
  if (m->n + 2 > m->cap) {
    size_t nc = m->cap ? 2 * m->cap : 64;
    char **nv = realloc(m->forms, nc * sizeof *nv);
    if (!nv)
      return WEFT_ENOMEM;
    m->forms = nv;
    m->cap = nc;
  }
  if (!(m->forms[m->n] = strndup(s, len)))
    return WEFT_ENOMEM;
  m->forms[++m->n] = NULL;
  return 0;
}

static int add_url_form(struct masker *m, const char *s, bool plus)
{
  size_t len = strlen(s);
  char *u = malloc(len * 3 + 1), *p = u;
  if (!u)
    return WEFT_ENOMEM;
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
        *c == '-' || *c == '_' || *c == '.' || *c == '~')
      *p++ = (char)*c;
    else if (plus && *c == ' ')
      *p++ = '+';
    else
      p += sprintf(p, "%%%02X", *c);
  }
  *p = '\0';
  int rc = add_form(m, u, (size_t)(p - u));
  /* lower-case hex too (some encoders use it) */
  for (char *q = u; !rc && *q; q++)
    if (*q == '%' && q[1] && q[2]) {
      for (int k = 1; k <= 2; k++)
        if (q[k] >= 'A' && q[k] <= 'F')
          q[k] = (char)(q[k] - 'A' + 'a');
    }
  if (!rc)
    rc = add_form(m, u, (size_t)(p - u));
  free(u);
  return rc;
}

static int add_lines(struct masker *m, const char *s);
static int add_base64(struct masker *m, const unsigned char *s, size_t n);
static int add_hex(struct masker *m, const unsigned char *s, size_t n);

static int add_value(struct masker *m, const char *s)
{
  m->cur = m->n;
  int rc = add_form(m, s, strlen(s));
  json_t *j = json_string(s);
  char *esc = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
  json_decref(j);
  if (!rc && esc && strlen(esc) >= 2)
    rc = add_form(m, esc + 1, strlen(esc) - 2);
  free(esc);
  j = json_string(s);
  esc = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
  json_decref(j);
  if (!rc && esc && strlen(esc) >= 2)
    rc = add_form(m, esc + 1, strlen(esc) - 2);
  free(esc);
  if (!rc)
    rc = add_url_form(m, s, false);
  if (!rc)
    rc = add_url_form(m, s, true);
  if (!rc)
    rc = add_lines(m, s);
  size_t n = strlen(s);
  bool enc = n >= SECRETS_ENC_MIN && n <= SECRETS_ENC_MAX;
  if (!rc && enc)
    rc = add_base64(m, (const unsigned char *)s, n);
  if (!rc && enc)
    rc = add_hex(m, (const unsigned char *)s, n);
  return rc;
}

/* Each line of a multi-line secret (a PEM key: one line may be logged alone),
 * when it has at least SECRETS_LINE_MIN bytes (shorter ones, like an empty
 * line or "}", would mask unrelated text). */
static int add_lines(struct masker *m, const char *s)
{
  if (!strpbrk(s, "\r\n"))
    return 0;
  int rc = 0;
  for (const char *p = s; !rc && *p;) {
    size_t n = strcspn(p, "\r\n");
    if (n >= SECRETS_LINE_MIN) {
      char *line = strndup(p, n);
      if (!line)
        return WEFT_ENOMEM;
      rc = add_form(m, line, n);
      json_t *j = json_string(line);
      char *esc = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
      json_decref(j);
      if (!rc && esc && strlen(esc) >= 2)
        rc = add_form(m, esc + 1, strlen(esc) - 2);
      free(esc);
      free(line);
    }
    p += n;
    p += strspn(p, "\r\n");
  }
  return rc;
}

/* The secret's base64 wherever it may start in an encoded stream: for each of
 * the three alignments (0, 1 or 2 bytes before it in its 3-byte group) the
 * characters that depend on the secret only (the core), and the whole tail
 * with and without `=` padding (the secret ends the stream); standard and
 * URL-safe alphabets. Only for secrets of SECRETS_ENC_MIN bytes or more. */
static int add_base64(struct masker *m, const unsigned char *s, size_t n)
{
  static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t tot = n + 2, cap = (tot + 2) / 3 * 4 + 1;
  unsigned char *in = calloc(1, tot);
  char *out = malloc(cap);
  int rc = in && out ? 0 : WEFT_ENOMEM;
  for (size_t a = 0; !rc && a < 3; a++) {
    memset(in, 0, a);
    memcpy(in + a, s, n);
    size_t len = a + n, o = 0;
    for (size_t i = 0; i < len; i += 3) {
      unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0) |
                   (i + 2 < len ? in[i + 2] : 0);
      out[o++] = std[v >> 18 & 63];
      out[o++] = std[v >> 12 & 63];
      out[o++] = i + 1 < len ? std[v >> 6 & 63] : '=';
      out[o++] = i + 2 < len ? std[v & 63] : '=';
    }
    out[o] = '\0';
    size_t start = (8 * a + 5) / 6, full = 8 * len / 6; /* chars of the secret only */
    size_t unpadded = strcspn(out, "=");
    for (int url = 0; !rc && url < 2; url++) {
      if (url)
        for (size_t i = 0; i < o; i++)
          out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
      rc = add_form(m, out + start, full - start);
      if (!rc)
        rc = add_form(m, out + start, unpadded - start);
      if (!rc)
        rc = add_form(m, out + start, o - start);
    }
  }
  free(in);
  free(out);
  return rc;
}

static int add_hex(struct masker *m, const unsigned char *s, size_t n)
{
  char *h = malloc(2 * n + 1);
  if (!h)
    return WEFT_ENOMEM;
  int rc = 0;
  for (int up = 0; !rc && up < 2; up++) {
    for (size_t i = 0; i < n; i++)
      sprintf(h + 2 * i, up ? "%02X" : "%02x", s[i]);
    rc = add_form(m, h, 2 * n);
  }
  free(h);
  return rc;
}

static int by_len_desc(const void *a, const void *b)
{
  size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
  return la < lb ? 1 : la > lb ? -1 : 0;
}

struct masker *masker_new(const json_t *secrets)
{
  struct masker *m = NULL;
  return masker_make(secrets, &m) == 0 ? m : NULL;
}

int masker_make(const json_t *secrets, struct masker **out)
{
  *out = NULL;
  struct masker *m = calloc(1, sizeof *m);
  if (!m)
    return WEFT_ENOMEM;
  m->forms = calloc(1, sizeof *m->forms);
  m->cap = 1;
  if (!m->forms) {
    free(m);
    return WEFT_ENOMEM;
  }
  const char *k;
  json_t *v;
  int rc = 0;
  if (json_is_object(secrets))
    json_object_foreach((json_t *)secrets, k, v) {
      if (rc)
        break;
      if (json_is_string(v)) {
        rc = add_value(m, json_string_value(v));
      } else if (!json_is_null(v)) {
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (t)
          rc = add_value(m, t);
        free(t);
      }
    }
  if (rc) {
    masker_free(m);
    return rc;
  }
  qsort(m->forms, m->n, sizeof *m->forms, by_len_desc);
  *out = m;
  return 0;
}

void masker_free(struct masker *m)
{
  if (!m)
    return;
  for (size_t i = 0; i < m->n; i++)
    free(m->forms[i]);
  free(m->forms);
  free(m);
}

bool masker_empty(const struct masker *m) { return !m || m->n == 0; }

const char *const *masker_forms(const struct masker *m)
{
  return m && m->n ? (const char *const *)m->forms : NULL;
}

char *masker_text(const struct masker *m, const char *s)
{
  if (masker_empty(m) || !s)
    return NULL;
  bool any = false;
  for (size_t i = 0; i < m->n && !any; i++)
    any = strstr(s, m->forms[i]) != NULL;
  if (!any)
    return NULL;
  char *cur = strdup(s);
  for (size_t i = 0; cur && i < m->n; i++) {
    const char *f = m->forms[i];
    size_t fl = strlen(f), ml = strlen(SECRETS_MASK);
    if (!strstr(cur, f))
      continue;
    size_t count = 0;
    for (const char *p = cur; (p = strstr(p, f)); p += fl)
      count++;
    size_t nl = strlen(cur) - count * fl + count * ml;
    char *nv = malloc(nl + 1), *o = nv;
    if (!nv) {
      free(cur);
      return NULL;
    }
    const char *p = cur, *q;
    while ((q = strstr(p, f))) {
      memcpy(o, p, (size_t)(q - p));
      o += q - p;
      memcpy(o, SECRETS_MASK, ml);
      o += ml;
      p = q + fl;
    }
    strcpy(o, p);
    free(cur);
    cur = nv;
  }
  return cur;
}

void masker_inplace(const struct masker *m, char **s)
{
  char *t = s && *s ? masker_text(m, *s) : NULL;
  if (t) {
    free(*s);
    *s = t;
  }
}

static bool is_form(const struct masker *m, const char *s)
{
  for (size_t i = 0; i < m->n; i++)
    if (!strcmp(m->forms[i], s))
      return true;
  return false;
}

json_t *masker_json(const struct masker *m, json_t *v)
{
  if (!v)
    return NULL;
  if (masker_empty(m))
    return json_incref(v);
  switch (json_typeof(v)) {
  case JSON_STRING: {
    char *t = masker_text(m, json_string_value(v));
    if (!t)
      return json_incref(v);
    json_t *r = json_string(t);
    free(t);
    return r;
  }
  case JSON_INTEGER:
  case JSON_REAL: {
    char *t = json_dumps(v, JSON_ENCODE_ANY);
    bool hit = t && is_form(m, t);
    free(t);
    return hit ? json_string(SECRETS_MASK) : json_incref(v);
  }
  case JSON_OBJECT: {
    json_t *r = json_object();
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
      char *mk = masker_text(m, k);
      json_object_set_new(r, mk ? mk : k, masker_json(m, x));
      free(mk);
    }
    return r;
  }
  case JSON_ARRAY: {
    json_t *r = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) json_array_append_new(r, masker_json(m, x));
    return r;
  }
  default: return json_incref(v);
  }
}
