/* rt_mask.c — secrets in the runtime: loading them once per runtime (for
 * the `.secrets` context) and masking their values in everything the
 * runtime writes or shows.
 *
 * The engine keeps the real values (downstream expressions need them); the
 * journal of each tick is masked in place before it is committed, so the
 * store rows, the audit log and the observers (progress, errors) all see
 * `***`. Step logs are masked by the process executor (proc_spec.secrets)
 * and the $WEFT_OUTPUT file is rewritten masked after the attempt. With no
 * secrets all of this is skipped. */
#include "runtime/rt_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

int rt_secrets_init(struct runtime *rt, char **err)
{
  if (rt->masker)
    return 0;
  json_t *s = NULL;
  char *msg = NULL;
  int rc = secrets_load(store_home(rt->store), &s, &msg);
  if (rc) {
    if (err)
      *err = msg;
    else
      free(msg);
    return rc;
  }
  rc = masker_make(s, &rt->masker);
  if (rc) {
    if (err && rc == WEFT_ELIMIT &&
        asprintf(err, "%zu secrets need more masked forms than weft keeps (16384); keep fewer "
                      "secrets in %s/%s and WEFT_SECRET_*", json_object_size(s),
                 store_home(rt->store), SECRETS_FILE) < 0)
      *err = NULL;
    json_decref(s);
    return rc;
  }
  rt->secrets = s;
  return 0;
}

static void mask_ref(const struct masker *m, json_t **v)
{
  if (!*v)
    return;
  json_t *x = masker_json(m, *v);
  json_decref(*v);
  *v = x;
}

void rt_mask_fx(struct runtime *rt, struct rt_run *run)
{
  rt_mask_fx_from(rt, run, 0);
}

void rt_mask_fx_from(struct runtime *rt, struct rt_run *run, size_t from)
{
  const struct masker *m = rt->masker;
  if (masker_empty(m))
    return;
  for (size_t i = from; i < run->fx.nj; i++) {
    struct eng_jent *e = &run->fx.j[i];
    mask_ref(m, &e->error);
    mask_ref(m, &e->outputs);
    if (e->outputs_text && !e->outputs) {
      char *t = masker_text(m, e->outputs_text);
      if (t) {
        e->outputs = json_loads(t, JSON_DECODE_ANY, NULL);
        if (!e->outputs)
          e->outputs = json_string(SECRETS_MASK);
        e->outputs_text = NULL;
        free(t);
      }
    }
    if (e->type == ENG_J_RUN && !e->outputs &&
        (e->status == ENG_RUN_SUCCEEDED || e->status == ENG_RUN_FAILED ||
         e->status == ENG_RUN_CANCELLED)) {
      const json_t *o = engine_run_outputs(run->eng);
      if (o)
        e->outputs = masker_json(m, (json_t *)o);
    }
  }
}

void rt_mask_file(struct runtime *rt, const char *path)
{
  if (masker_empty(rt->masker) || !path)
    return;
  FILE *f = fopen(path, "rb");
  if (!f)
    return;
  struct buf b;
  buf_init(&b, 64 << 20);
  char tmp[8192];
  size_t n;
  bool ok = true;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
    if (buf_append(&b, tmp, n) != 0) {
      ok = false;
      break;
    }
  fclose(f);
  char *t = ok && b.p ? masker_text(rt->masker, b.p) : NULL;
  if (t) {
    f = fopen(path, "wb");
    if (f) {
      fputs(t, f);
      fclose(f);
    }
  } else if (!ok) {
    remove(path); /* too big to mask: do not keep it */
  }
  free(t);
  buf_free(&b);
}
