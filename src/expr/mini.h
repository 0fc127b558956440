/* mini.h — a small evaluator for the subset of jq that workflows use most
 * (conditions, defaults, comparisons), so that these never cost a
 * jq_compile (~25 ms in libjq 1.6, which re-parses its builtins each time).
 *
 * The subset (everything else is "not mini" and goes to jq as before):
 *   literals   numbers as jq's lexer reads them (`1`, `2.5`, `1e3`), strings
 *              without backslashes or control characters (valid UTF-8),
 *              true false null
 *   paths      `.`, and every plain path of plain.c (`.a.b`, `.a["k"]`, `.a[0]`)
 *   helpers    success failure always cancelled; `not`, `length`
 *   operators  `|`  `//`  `or`  `and`  == != < <= > >=  + -  * /  unary -
 *              and parentheses, with jq 1.6's precedence and associativity
 * Refused at parse time so jq keeps its own behaviour: `%` (jq casts to
 * intmax_t), `*` unless one side is a number literal (string repetition),
 * an arithmetic or comparison operator between two literals (jq 1.6 folds
 * constants), chained comparisons (a jq syntax error), comments, `?`, `$`,
 * `[`/`{` constructors, function calls other than the above, and more than
 * MINI_MAX_NODES nodes or MINI_MAX_DEPTH nesting.
 *
 * Evaluation is done on libjq's own jv values with libjq's own functions
 * (jv_get, jv_equal, jv_cmp, jv_string_concat, …), so results and error
 * messages are jq's: tests/unit/test_expr_mini.c compares both ways over
 * hundreds of generated expressions. Operands are evaluated in jq's order
 * (the right operand of a binary operator first; `and`/`or`/`//` left to
 * right). Like libjq 1.6 (jq issue #1859), `//` does NOT catch an error on
 * its left: `[1] | .a // 2` fails with "Cannot index array with …". Paths on the context are
 * walked on the jansson value (plain.c) and only the node reached is
 * converted to jv. The result goes back through conv.c exactly as a jq
 * result does.
 *
 * Ownership: struct mini_expr owns its nodes and literal jvs; path segment
 * keys point into the text given to mini_parse(), which must outlive it
 * (prog.c passes the item's own text). */
#ifndef WEFT_EXPR_MINI_H
#define WEFT_EXPR_MINI_H

#include "expr/expr.h"

#include <jansson.h>
#include <stddef.h>

#define MINI_MAX_NODES 512
#define MINI_MAX_DEPTH 64

struct mini_expr;

/* Parses trimmed text. Returns 0 and a new *out when the text is in the
 * subset; WEFT_EINVAL (not mini: hand it to jq) or WEFT_ENOMEM otherwise,
 * with *out NULL. */
int mini_parse(const char *s, size_t len, struct mini_expr **out);
void mini_free(struct mini_expr *m);

/* Evaluates like jq 1.6 would with `.` = ctx (NULL is null) and the helpers
 * from env (NULL: success only). Returns 0 with *out a new value (converted
 * from jv like a jq result), or WEFT_EEXPR / WEFT_ELIMIT / WEFT_ENOMEM with
 * a message in msg (jq's own for EEXPR). */
int mini_eval(const struct mini_expr *m, const json_t *ctx, const struct expr_env *env,
              json_t **out, char *msg, size_t msgsz);

#endif
