/* inputs.h — a run's inputs: parsing `-i KEY=VALUE` / `--inputs FILE.json`,
 * applying defaults and checking types against the workflow's declarations.
 *
 * Ownership: inputs_parse_kv() adds to the caller's object; inputs_resolve()
 * returns a new object in *out (caller decrefs) and borrows everything else. */
#ifndef WEFT_RUNTIME_INPUTS_H
#define WEFT_RUNTIME_INPUTS_H

#include <jansson.h>

#include "spec/model.h"

/* "key=value": the value is kept as the string written; inputs_read_cli()
 * reads it by the declared type once the workflow is known. Returns 0, or
 * WEFT_EINVAL with *err (malloc'd) when there is no '='. */
int inputs_parse_kv(json_t *obj, const char *arg, char **err);
/* Reads the strings of inputs_parse_kv() by w's declarations, in place: a
 * `type: string` input keeps the text as written (`-i version=2.0` is "2.0");
 * any other input, declared or not, is parsed as JSON when it parses, else
 * stays a string (inputs_resolve() then checks the type). */
int inputs_read_cli(const struct wf *w, json_t *obj);
/* Reads a JSON object file into obj (keys already present are overwritten). */
int inputs_load_file(json_t *obj, const char *path, char **err);
/* Checks the values of an --inputs file (JSON, so typed as written: "3" is not
 * an integer) against w's declarations; adds a problem per value to d. */
int inputs_check_file(const struct wf *w, const json_t *file, const char *file_path,
                      struct diag_list *d);
/* Applies defaults, checks that required inputs are given, that no unknown
 * input is given and that every value has its declared type. A string given
 * for a number/integer/boolean input that parses as one is converted (so
 * `-i epochs=3` and `-i epochs="3"` both work). Every problem is added to d
 * (file is the workflow's path, line:col the declaration's). */
int inputs_resolve(const struct wf *w, const json_t *given, json_t **out, struct diag_list *d);

#endif
