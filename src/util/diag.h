/* diag.h — problems found in user input, printed as `file:line:col: message`.
 *
 * A diag_list collects every problem of a file (validation reports all of them,
 * not only the first). Strings passed in are copied; the list owns its entries
 * and diag_list_free() releases them. line and col are 1-based; 0 means unknown
 * (then they are left out of the printed form). */
#ifndef WEFT_UTIL_DIAG_H
#define WEFT_UTIL_DIAG_H

#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>

struct diag {
  char *file;   /* as the user named it; may be NULL */
  int line, col;
  char *msg;    /* one line, no trailing newline */
};

struct diag_list {
  struct diag *v;
  size_t n, cap;
};

void diag_add(struct diag_list *l, const char *file, int line, int col,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void diag_vadd(struct diag_list *l, const char *file, int line, int col,
               const char *fmt, va_list ap);
/* Stable sort by line, then col (problems keep their order within a position). */
void diag_sort(struct diag_list *l);
/* Prints each as `file:line:col: message\n`. */
void diag_print(FILE *f, const struct diag_list *l);
/* Formats one entry into a malloc'd string (caller frees). */
char *diag_format(const struct diag *d);
void diag_list_free(struct diag_list *l);

#endif
