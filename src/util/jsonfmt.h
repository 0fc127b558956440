/* jsonfmt.h — JSON text with numbers as users write them.
 *
 * jansson prints every real with "%.17g", so 0.83 comes out as
 * 0.82999999999999996. These print each real in its shortest form that reads
 * back as the same double (%.15g, %.16g or %.17g, the first that round-trips),
 * keeping jansson's other rules: a real always carries a '.' or an exponent
 * ("1.0", "1e21"), exponents carry no '+' and no leading zeros. Integers are
 * printed exactly. Everything else is jansson's own output.
 *
 * Use wjson_dumps() wherever JSON text is made for a user, the store or a
 * child (outputs, status --json, inputs, logs). What is hashed keeps
 * jansson's canonical form, so hashes made by earlier versions still match:
 * the audit chain, inputs_sha256 and approval request_sha256. */
#ifndef WEFT_UTIL_JSONFMT_H
#define WEFT_UTIL_JSONFMT_H

#include <jansson.h>
#include <stddef.h>

/* The shortest round-trip text of d into out (at least 32 bytes); with
 * as_real, a '.0' is added when the text would read back as an integer.
 * Returns the length. */
size_t wjson_real(double d, int as_real, char out[32]);

/* json_dumps() with reals in their shortest form; same flags, same result
 * otherwise. NULL on allocation failure (or where json_dumps gives NULL). */
char *wjson_dumps(const json_t *v, size_t flags);

/* json_dumpf() likewise: 0, or -1 on failure. */
int wjson_dumpf(const json_t *v, FILE *f, size_t flags);

#endif
