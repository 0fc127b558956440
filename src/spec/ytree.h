/* ytree.h — the YAML document as a small immutable tree (private to spec/).
 *
 * ytree_parse() runs libfyaml's parser on the source (events, aliases NOT
 * resolved by libfyaml) and builds ynodes from them: scalars typed by
 * the YAML 1.2 core schema, every node with its 1-based line:col and its span
 * in the source. Aliases become pointers to the anchored ynode (the tree is a
 * DAG), so expansion costs nothing; each node records its expanded size and
 * nesting depth, and the copy stops as soon as either passes its limit (10x
 * the source size, depth 64) -- that is how a "billion laughs" file is
 * rejected in microseconds instead of being expanded.
 *
 * Syntax errors (libfyaml's, collected through our own fy_diag so nothing is
 * printed), duplicate keys, unknown aliases and limits go into the diag_list.
 *
 * Ownership: all ynodes and their strings live in the ytree's arena and die
 * with ytree_free(); the source text is borrowed and must outlive the tree. */
#ifndef WEFT_SPEC_YTREE_H
#define WEFT_SPEC_YTREE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/diag.h"

enum ytype { Y_NULL, Y_BOOL, Y_INT, Y_FLOAT, Y_STR, Y_MAP, Y_SEQ };

struct ynode {             /* 56 bytes: a 1,000,000-step file has ~12 million */
  const char *s;      /* scalar text, NUL-terminated (also for numbers, bools) */
  union {             /* by type (t): */
    struct ynode **kids; /* Y_MAP: key,value pairs (2*n); Y_SEQ: n items */
    int64_t i;           /* Y_INT (ynum() gives it as a double) */
    double f;            /* Y_FLOAT */
  };
  uint64_t size;      /* expanded size (bytes of scalars + nodes) */
  uint32_t src_start, src_end; /* byte span in the source (scalars; files are <= 64 MiB) */
  uint32_t len;       /* of s */
  uint32_t n;         /* Y_MAP, Y_SEQ: pairs or items; 0 for scalars */
  int line, col;      /* 1-based start */
  uint16_t depth;     /* nesting depth of collections, 0 for a scalar (<= WF_MAX_DEPTH + 1) */
  uint8_t t;          /* enum ytype */
  bool quoted;        /* scalar was quoted or a block scalar (never a number) */
  bool multiline;     /* scalar spans several source lines */
  bool b;             /* Y_BOOL */
};

/* A Y_INT or Y_FLOAT node's value as a double. */
static inline double ynum(const struct ynode *n)
{
  return n->t == Y_INT ? (double)n->i : n->f;
}

struct ytree {
  struct ynode *root; /* NULL for an empty document */
  void *arena;
  bool no_aliases;    /* built by the fast path: no node is shared (ytree_release) */
  void *rel_block;    /* ytree_release's cursor: the block of its `first` */
};

/* Parses src (len bytes) named `file` in messages. Returns 0, or
 * WEFT_EPARSE/WEFT_ELIMIT/WEFT_ENOMEM with the problems added to d. */
int ytree_parse(struct ytree *t, const char *file, const char *src, size_t len,
                struct diag_list *d);
void ytree_free(struct ytree *t);
/* Frees the arena memory allocated after `first` and before `upto` (two nodes
 * of t, `first` allocated before `upto`), at the arena's block granularity:
 * nodes in between must never be read again. The loader drops the subtrees
 * of steps already converted this way (only for a tree without aliases). */
void ytree_release(struct ytree *t, const struct ynode *first, const struct ynode *upto);

/* Map lookup by key (linear); NULL when absent or m is not a map. */
struct ynode *ymap_get(const struct ynode *m, const char *key);
/* The name of a node's type for messages: "a string", "a mapping", ... */
const char *ytype_name(const struct ynode *n);
/* Plain JSON copy (new reference), NULL on allocation failure. */
json_t *ynode_to_json(const struct ynode *n);

#endif
