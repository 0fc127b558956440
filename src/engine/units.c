/* units.c — the flat storage of a run: the struct-of-arrays of units, the
 * output arena (compact JSON texts in chunks that never move), the table of
 * error objects and the per-step start queues.
 *
 * Why flat: a for_each may have 1,000,000 instances; each costs the sum of
 * the per-unit array elements (engine_unit_bytes(), about 50 bytes) plus at
 * most 4 bytes in a start queue, with no malloc per instance. Outputs of
 * instances are kept as JSON text in the arena (a few bytes each) instead of
 * a jansson object (~150 bytes each), and parsed only when read. */
#include "engine/priv.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNIT_ARRAYS(X)                                                          \
  X(status) X(flags) X(attempts) X(round0) X(iteration) X(step) X(exit_code)      \
  X(err) X(out) X(started_at) X(finished_at) X(due_at)

size_t engine_unit_bytes(void)
{
  struct eng_units *u = NULL;
  size_t b = 0;
#define X(f) b += sizeof *u->f;
  UNIT_ARRAYS(X)
#undef X
  (void)u;
  return b;
}

int units_reserve(struct eng_units *u, uint32_t want)
{
  if (want <= u->cap)
    return 0;
  if (want > ENG_MAX_UNITS)
    return WEFT_ELIMIT;
  uint32_t nc = u->cap ? u->cap : 64;
  while (nc < want)
    nc = nc > ENG_MAX_UNITS / 2 ? ENG_MAX_UNITS : nc * 2;
#define X(f)                                                                    \
  {                                                                             \
    void *np = realloc(u->f, (size_t)nc * sizeof *u->f);                        \
    if (!np)                                                                    \
      return WEFT_ENOMEM;                                                       \
    u->f = np;                                                                  \
  }
  UNIT_ARRAYS(X)
#undef X
  u->cap = nc;
  return 0;
}

uint32_t units_add(struct eng_units *u, uint32_t n, uint32_t step)
{
  uint32_t first = u->n;
  for (uint32_t i = first; i < first + n; i++) {
    u->status[i] = ENG_PENDING;
    u->flags[i] = 0;
    u->attempts[i] = 0;
    u->round0[i] = 0;
    u->iteration[i] = 0;
    u->step[i] = step;
    u->exit_code[i] = ENG_NO_EXIT;
    u->err[i] = 0;
    u->out[i] = 0;
    u->started_at[i] = u->finished_at[i] = u->due_at[i] = 0;
  }
  u->n += n;
  return first;
}

void units_free(struct eng_units *u)
{
#define X(f) free(u->f);
  UNIT_ARRAYS(X)
#undef X
  memset(u, 0, sizeof *u);
}

/* ---- arena ------------------------------------------------------------- */

int arena_put(struct eng_arena *a, const char *s, size_t len, uint32_t *ref)
{
  size_t need = len + 1;
  bool big = need > ENG_ARENA_CHUNK;
  if (!a->n || big || a->used + need > ENG_ARENA_CHUNK) {
    if (a->n >= ENG_ARENA_MAX_CHUNKS)
      return WEFT_ELIMIT;
    if (a->n == a->cap) {
      uint32_t nc = a->cap ? a->cap * 2 : 16;
      char **np = realloc(a->chunks, nc * sizeof *np);
      if (!np)
        return WEFT_ENOMEM;
      a->chunks = np;
      a->cap = nc;
    }
    size_t sz = big ? need + 1 : ENG_ARENA_CHUNK;
    char *c = malloc(sz);
    if (!c)
      return WEFT_ENOMEM;
    a->chunks[a->n++] = c;
    a->bytes += sz;
    a->used = 0;
    if (a->n == 1) /* pos 0 of chunk 0 is never a ref: 0 means none */
      a->used = 1;
  }
  char *dst = a->chunks[a->n - 1] + a->used;
  memcpy(dst, s, len);
  dst[len] = '\0';
  *ref = (a->n - 1) << 20 | a->used;
  a->used = big ? ENG_ARENA_CHUNK : a->used + (uint32_t)need;
  return 0;
}

const char *arena_get(const struct eng_arena *a, uint32_t ref)
{
  if (!ref)
    return NULL;
  return a->chunks[ref >> 20] + (ref & (ENG_ARENA_CHUNK - 1));
}

void arena_free(struct eng_arena *a)
{
  for (uint32_t i = 0; i < a->n; i++)
    free(a->chunks[i]);
  free(a->chunks);
  memset(a, 0, sizeof *a);
}

/* ---- errors ------------------------------------------------------------ */

json_t *eng_err_make(enum eng_err_kind k, const char *msg, int exit_code, int sig, int http)
{
  json_t *e = json_object();
  if (!e)
    return NULL;
  json_object_set_new(e, "kind", json_string(engine_err_kind_name(k)));
  json_object_set_new(e, "message", json_string(msg ? msg : engine_err_kind_name(k)));
  if (exit_code >= 0)
    json_object_set_new(e, "exit_code", json_integer(exit_code));
  if (sig >= 0)
    json_object_set_new(e, "signal", json_integer(sig));
  if (http >= 0)
    json_object_set_new(e, "status", json_integer(http));
  return e;
}

int eng_err_add(struct eng_run *r, json_t *err, uint32_t *idx)
{
  if (!err)
    return WEFT_ENOMEM;
  if (r->n_errs == r->cap_errs) {
    if (r->cap_errs >= ENG_MAX_UNITS) {
      json_decref(err);
      return WEFT_ELIMIT;
    }
    uint32_t nc = r->cap_errs ? r->cap_errs * 2 : 16;
    json_t **np = realloc(r->errs, nc * sizeof *np);
    if (!np) {
      json_decref(err);
      return WEFT_ENOMEM;
    }
    r->errs = np;
    r->cap_errs = nc;
  }
  r->errs[r->n_errs++] = err;
  *idx = r->n_errs;
  return 0;
}

json_t *eng_err_get(const struct eng_run *r, uint32_t u)
{
  uint32_t i = r->u.err[u];
  return i ? r->errs[i - 1] : NULL;
}

/* ---- per-step start queue ---------------------------------------------- */

int sq_push(struct eng_step *s, uint32_t unit)
{
  if (s->qh && s->qh == s->qn)
    s->qh = s->qn = 0;
  if (s->qn == s->qcap) {
    if (s->qh > s->qcap / 2) { /* compact instead of growing */
      memmove(s->q, s->q + s->qh, (s->qn - s->qh) * sizeof *s->q);
      s->qn -= s->qh;
      s->qh = 0;
    } else {
      if (s->qcap >= ENG_MAX_UNITS)
        return WEFT_ELIMIT;
      uint32_t nc = s->qcap ? s->qcap * 2 : 4;
      uint32_t *np = realloc(s->q, nc * sizeof *np);
      if (!np)
        return WEFT_ENOMEM;
      s->q = np;
      s->qcap = nc;
    }
  }
  s->q[s->qn++] = unit;
  return 0;
}

bool unit_is_leaf(const struct eng_run *r, uint32_t u)
{
  return u >= r->n_steps || !r->st[u].is_fe;
}

int32_t unit_index(const struct eng_run *r, uint32_t u)
{
  if (u < r->n_steps)
    return -1;
  return (int32_t)(u - r->st[r->u.step[u]].first);
}

size_t engine_mem_bytes(const struct eng_run *r)
{
  size_t b = (size_t)r->u.cap * engine_unit_bytes() + r->arena.bytes;
  for (uint32_t s = 0; s < r->n_steps; s++)
    b += r->st[s].qcap * sizeof(uint32_t);
  b += (size_t)r->n_steps * (sizeof *r->st + 2 * sizeof(uint32_t));
  return b;
}
