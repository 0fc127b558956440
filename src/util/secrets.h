/* secrets.h — named secrets and the masker that hides their values.
 *
 * Secrets come from `secrets.json` in the weft home (an object of NAME ->
 * value; the file must be mode 0600, i.e. not readable or writable by group
 * or others, and every value a string, else loading fails with a message
 * saying how to fix it) and
 * from the environment variables WEFT_SECRET_<NAME> (which win). They are
 * the `.secrets` context of expressions.
 *
 * A masker holds every secret value in the forms it may take in text weft
 * writes: as is, JSON-escaped (inside a JSON string), URL-encoded (both
 * `%20` and `+` for spaces), each line of a multi-line value alone, and its
 * base64 (3 alignments, standard and URL-safe, padded or not) and hex. Every occurrence of any form is replaced by
 * `***` (longest forms first). A masker with no secrets masks nothing and
 * costs nothing: callers may skip work when masker_empty() is true.
 *
 * Ownership: secrets_load() returns a new object in *out (caller decrefs)
 * and on failure a malloc'd message in *err. A masker copies what it keeps;
 * masker_text() returns NULL (nothing to mask) or a malloc'd string the
 * caller frees; masker_json() returns a new reference (the same value,
 * increfed, when nothing was masked). */
#ifndef WEFT_UTIL_SECRETS_H
#define WEFT_UTIL_SECRETS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define SECRETS_FILE "secrets.json"
#define SECRETS_MASK "***"

int secrets_load(const char *home, json_t **out, char **err);

struct masker;

/* From an object of NAME -> value (non-strings are masked in their compact
 * JSON form). NULL secrets: an empty masker. NULL only when out of memory. */
struct masker *masker_new(const json_t *secrets);
/* The same, saying why not: WEFT_ENOMEM, or WEFT_ELIMIT when the secrets
 * need more than 16384 masked forms (about 500 secrets): refused rather
 * than masking some of them only. */
int masker_make(const json_t *secrets, struct masker **out);
void masker_free(struct masker *m);
bool masker_empty(const struct masker *m);
/* NULL-terminated list of every form (for proc_spec.secrets); borrowed. */
const char *const *masker_forms(const struct masker *m);
/* s with every form replaced by ***, or NULL when s contains none. */
char *masker_text(const struct masker *m, const char *s);
/* A copy of v whose strings (and numbers equal to a secret) are masked. */
json_t *masker_json(const struct masker *m, json_t *v);
/* Masks a malloc'd string in place of *s (frees the old one). */
void masker_inplace(const struct masker *m, char **s);

#endif
