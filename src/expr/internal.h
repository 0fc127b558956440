/* internal.h — what the files of src/expr/ share and nobody else sees.
 *
 * lex.c      a scanner that reads jq 1.6 text the way jq's own lexer does
 *            (strings with `\(…)` interpolation, comments, bracket nesting);
 *            used by the balance check, expr_split() and expr_refs().
 * plain.c    recognising plain paths at add time and evaluating them on
 *            jansson values without jq.
 * conv.c     jansson <-> jv at the jq boundary.
 * prog.c     the expression table (dedup by trimmed text).
 * compile.c  one jq program for all non-plain expressions.
 * eval.c     expr_eval(); render.c: templates; refs.c: expr_refs().
 *
 * Ownership: struct expr_prog owns every item, text and segment array; plain
 * segments point into the item's own text. */
#ifndef WEFT_EXPR_INTERNAL_H
#define WEFT_EXPR_INTERNAL_H

#include "expr/expr.h"
#include "expr/mini.h"
#include "util/buf.h"

#include <jq.h>
#include <stdint.h>

#define EXPR_MAX_LEN (16u * 1024u)   /* LANGUAGE.md §1: expression 16 KiB */
#define EXPR_MAX_COUNT 1000000u      /* expressions in one program */
#define EXPR_LEX_DEPTH EXPR_MAX_NESTING /* bracket nesting the scanner follows */
#define EXPR_MAX_VALUE_DEPTH 2048    /* JSON nesting converted at the jq boundary */

/* ---- lex.c ---------------------------------------------------------- */

enum lex_kind {
  LX_EOF,
  LX_ERR,      /* unterminated string, close without open, nesting too deep */
  LX_FIELD,    /* .name            text = name */
  LX_DOT,      /* .                (identity) */
  LX_DOTDOT,   /* .. */
  LX_IDENT,    /* name, keyword or mod::name */
  LX_VAR,      /* $name            text = name */
  LX_FORMAT,   /* @name */
  LX_NUM,
  LX_STR,      /* "…" without interpolation; text = raw content, no quotes */
  LX_STR_OPEN, /* "…\(  a string up to its first interpolation */
  LX_STR_MID,  /* )…\(  between two interpolations */
  LX_STR_CLOSE,/* )…"   after the last interpolation */
  LX_OPEN,     /* ( [ {           text[0] says which */
  LX_CLOSE,    /* ) ] } */
  LX_OP,       /* any other operator or punctuation, longest match */
};

struct lex_tok {
  enum lex_kind kind;
  const char *p;      /* token text (see enum) */
  size_t len;
  size_t start;       /* byte offset of the token start */
  bool escapes;       /* LX_STR: contains a backslash escape */
};

struct lexer {
  const char *s;
  size_t len, pos;
  bool comments;      /* `#` starts a comment (jq); false in expr_split */
  bool lenient;       /* a close that matches nothing is LX_OP, not LX_ERR */
  int depth;
  int braces;         /* how many '{' are on the stack */
  char stack[EXPR_LEX_DEPTH]; /* ( [ { and 'i' for an open `\(` */
  const char *err;    /* why LX_ERR */
};

void lex_init(struct lexer *lx, const char *s, size_t len, bool comments, bool lenient);
void lex_next(struct lexer *lx, struct lex_tok *t);
/* true when the text is one well-nested jq token sequence: every bracket
 * and string closed, no close without its open. *why explains a false. */
bool lex_balanced(const char *s, size_t len, const char **why);
bool lex_is_ident_start(int c);
bool lex_is_ident_char(int c);

/* ---- plain.c -------------------------------------------------------- */

enum plain_kind {
  PLAIN_NONE = 0, /* needs jq */
  PLAIN_PATH,
  PLAIN_SUCCESS,
  PLAIN_FAILURE,
  PLAIN_ALWAYS,
  PLAIN_CANCELLED,
  PLAIN_TRUE,
  PLAIN_FALSE,
  PLAIN_NULL,
  PLAIN_NONE_FAILED,
};

struct plain_seg {
  const char *key;  /* NULL for an array index; not NUL-terminated */
  size_t klen;
  long idx;
};

/* Parses trimmed text. Returns its kind; for PLAIN_PATH *nseg is the
 * number of segments (0 for `.`). segs may be NULL or too small (cap):
 * then only the count is computed. Never allocates. */
enum plain_kind plain_parse(const char *s, size_t len, struct plain_seg *segs, size_t cap,
                            size_t *nseg);
/* Evaluates like jq would. *out is a new reference (it may share structure
 * with ctx). On a jq-style type error returns WEFT_EEXPR and writes jq's
 * message into msg (at least 96 bytes). */
int plain_eval(enum plain_kind kind, const struct plain_seg *segs, size_t nseg, const json_t *ctx,
               const struct expr_env *env, json_t **out, char *msg, size_t msgsz);

/* ---- conv.c --------------------------------------------------------- */

/* Both return 0 or WEFT_ENOMEM / WEFT_ELIMIT (nesting). to_jv: *out is a new
 * jv the caller owns. from_jv consumes v; *out is a new json_t reference. */
int conv_to_jv(const json_t *j, jv *out);
int conv_from_jv(jv v, json_t **out);

/* ---- prog.c --------------------------------------------------------- */

struct expr_item {
  char *text;              /* trimmed, NUL-terminated, owned */
  size_t len;
  uint64_t hash;
  enum plain_kind kind;
  size_t nseg;
  struct plain_seg *seg;   /* owned; keys point into text */
  int32_t shard;           /* index into prog->jq once compiled, else -1 */
  struct mini_expr *mini;  /* owned; set when mini.c evaluates it without jq */
};

struct expr_prog {
  struct expr_item *items;
  size_t n, cap;
  int32_t *slots;          /* open addressing on hash -> id, -1 free */
  size_t nslots;           /* power of two, at least 2 * n */
  size_t njq;              /* items that need jq */
  jq_state **jq;           /* compiled shards (see compile.c), njq_states of them */
  size_t njq_states;
  bool compiled;           /* expr_prog_compile() succeeded */
  bool broken;             /* expr_prog_compile() failed */
  struct buf msgs;         /* messages from jq's error callback */
};

uint64_t prog_hash(const char *s, size_t len);
/* The id of already-registered trimmed text, or -1. */
int prog_find(const struct expr_prog *p, const char *s, size_t len);
/* Trims ASCII whitespace. */
void prog_trim(const char **s, size_t *len);
/* Copies up to ~120 bytes of an expression for messages, with "…" when cut;
 * malloc'd, NULL on allocation failure. */
char *prog_snippet(const char *s, size_t len);

/* ---- compile.c / eval.c --------------------------------------------- */

/* jq's error callback target: appends messages to p->msgs. */
void compile_msg_cb(void *ud, jv msg);
/* Reduces jq's message to what a user needs: no "jq: error: ", no
 * " at <top-level>, line 1:" and the program echo. Writes into a malloc'd
 * string (NULL on allocation failure). */
char *compile_clean_msg(const char *raw);

#endif
