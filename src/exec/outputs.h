/* outputs.h — parse what a process wrote to its $WEFT_OUTPUT file.
 *
 * LANGUAGE.md §3 (run / command): the file holds either one JSON object, or
 * lines `key=value` whose value is parsed as JSON when it parses and kept as a
 * string otherwise. Blank lines are ignored; a later key replaces an earlier
 * one. As in GitHub Actions' $GITHUB_OUTPUT, a line `key<<DELIM` starts a
 * multi-line string value that ends at a line equal to DELIM (the lines in
 * between, joined with "\n", kept as a string). A line with neither `=` nor
 * `<<` is an error that names the line. An empty (or all-whitespace) file is
 * the empty object. More than OUTPUTS_MAX bytes is an error.
 *
 * outputs_parse() is a pure function of its input (no I/O), so it is fuzzed
 * (tests/fuzz/fuzz_outputs.c).
 *
 * Ownership: buf is borrowed (need not be NUL-terminated; may contain NULs).
 * On success *out is a new reference the caller must json_decref(), and *err
 * is NULL. On failure *out is NULL and *err is a malloc'd one-line message
 * ("$WEFT_OUTPUT line 3 has no \"=\": hello") that the caller frees (it is
 * NULL only for WEFT_ENOMEM). */
#ifndef WEFT_EXEC_OUTPUTS_H
#define WEFT_EXEC_OUTPUTS_H

#include <jansson.h>
#include <stddef.h>

#define OUTPUTS_MAX ((size_t)1 << 20) /* 1 MiB */

/* Returns 0, WEFT_EPARSE (malformed), WEFT_ELIMIT (over OUTPUTS_MAX) or
 * WEFT_ENOMEM. */
int outputs_parse(const char *buf, size_t len, json_t **out, char **err);

#endif
