/* runview.h — reading a stored run for people and programs: the
 * store opened with clear errors, run-id resolution printed as `weft: ...`
 * (the rules are ops_find_run's), and the tail of a step's log. The status
 * object itself is built by ops/ (ops_run_json).
 *
 * Ownership: returned json_t are new references; strings are malloc'd. */
#ifndef WEFT_CLI_RUNVIEW_H
#define WEFT_CLI_RUNVIEW_H

#include <jansson.h>
#include <stdio.h>

#include "spec/model.h"
#include "ops/ops.h"
#include "store/store.h"

/* Opens the home's store, printing `weft: ...` on failure. */
int rv_open_store(const char *home, struct store **out);
/* Opens the store for a command that writes (run, retry, resume, cancel,
 * approve, event): rv_open_store(), then rv_home_writable(). */
int rv_open_store_rw(const char *home, struct store **out);
/* homecheck.c: when rc/err from store_open() is a damaged store, a full disk
 * or a home that cannot be written, prints what to do and returns the exit
 * code; 0 for anything else. */
int rv_home_problem(const char *home, int rc, const char *err);
/* Prints what to do and returns EXIT_USAGE when s's home or store file
 * cannot be written (read-only mount, no permission); 0 otherwise. */
int rv_home_writable(struct store *s);
/* Finds a run by id or unique prefix; prints the error (not found, ambiguous)
 * and returns the exit code (0, EXIT_NOT_FOUND or EXIT_USAGE). */
int rv_find_run(struct store *s, const char *id_or_prefix, struct store_run *out);
/* Prints the last n lines of a file, each prefixed. */
void rv_print_tail(FILE *out, const char *path, int n, const char *prefix);
/* The same, of buf[0..len) (buf has room for a NUL at buf[len]; it is
 * changed): what a server sent. */
void rv_print_tail_buf(FILE *out, char *buf, size_t len, int n, const char *prefix);
/* Exit code for a final run status word. */
int rv_exit_code(const char *status);

#endif
