/* xcheck.h — `weft audit verify`'s second half: the store against the log
 * (audit/xcheck.c). audit_verify feeds it the rows of store_verify_scan();
 * it says whether every run, step transition and decision in the store has
 * the audit entries its writer appends with it, so a log whose entries were
 * deleted (in the middle, its tail with the head moved, or all of them) no
 * longer passes as intact. Internal to src/audit/. */
#ifndef WEFT_AUDIT_XCHECK_H
#define WEFT_AUDIT_XCHECK_H

#include <stdint.h>

#include "store/store.h"

struct xcheck;

struct xcheck *xc_new(void);
void xc_free(struct xcheck *x);
/* One row of store_verify_scan (STORE_V_ENTRY rows too: definitions are
 * taken from them). 0 to go on; 1 when a problem was found (then
 * xc_problem() says what); WEFT_ENOMEM. */
int xc_row(struct xcheck *x, const struct store_vrow *r);
/* The first problem (NULL when none), and the seq of the entry it concerns
 * (0 when it concerns no entry). */
const char *xc_problem(const struct xcheck *x);
int64_t xc_problem_seq(const struct xcheck *x);

#endif
