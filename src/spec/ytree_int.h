/* ytree_int.h — what ytree.c (libfyaml's events) and yfast.c (the fast path)
 * share to build the same ynode tree (private to spec/ytree*.c, yfast.c).
 *
 * ytree_parse() first tries yfast_parse(); only when the source holds
 * something outside the fast path's subset (see yfast.c) does libfyaml parse
 * it, so every error message and every unusual construct stays libfyaml's. */
#ifndef WEFT_SPEC_YTREE_INT_H
#define WEFT_SPEC_YTREE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "spec/ytree.h"

/* Where a collection's first child is (for placing the collection). */
struct fpos {
  int line, col;
  size_t start;
};

/* 8-byte aligned bump allocation in the tree's arena; NULL when out of memory. */
void *yarena_alloc(void **arena, size_t n);
void yarena_free(void *arena);
/* Bytes handed out by yarena_alloc so far (granules included; for the tests). */
size_t yarena_used(const void *arena);
/* Types a plain scalar (y->s, y->len) by the YAML 1.2 core schema. */
void ytype_plain(struct ynode *y);
/* Places collection y: at its `{`, `[` or first `- ` found from its first
 * child (NULL when empty: at kline:kcol, or the bracket after `key`). */
void ycoll_pos(const char *src, size_t len, struct ynode *y, const struct fpos *first, bool map,
               int kline, int kcol, const struct ynode *key);

/* The fast path: 1 with t built, 0 when the source is outside the subset
 * (t untouched: use ytree_parse_fy), WEFT_ENOMEM. */
int yfast_parse(struct ytree *t, const char *src, size_t len);
/* libfyaml's path: what ytree_parse() does when the fast path declines. */
int ytree_parse_fy(struct ytree *t, const char *file, const char *src, size_t len,
                   struct diag_list *d);

/* Same type, text, value, position, span, size, depth and kids (the tests
 * compare the fast path with libfyaml's through it). */
bool ynode_same(const struct ynode *a, const struct ynode *b);

#endif
