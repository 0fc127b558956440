/* inputs.c — parsing and checking a run's inputs (see inputs.h). */
#include "runtime/inputs.h"
#include "util/err.h"
#include "util/jsonfmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int inputs_parse_kv(json_t *obj, const char *arg, char **err)
{
  const char *eq = strchr(arg, '=');
  if (!eq || eq == arg) {
    if (asprintf(err, "input \"%s\" must look like KEY=VALUE", arg) < 0)
      *err = NULL;
    return WEFT_EINVAL;
  }
  char *key = strndup(arg, (size_t)(eq - arg));
  json_t *v = json_string(eq + 1);
  if (!key || !v) {
    free(key);
    json_decref(v);
    *err = NULL;
    return WEFT_ENOMEM;
  }
  json_object_set_new(obj, key, v);
  free(key);
  return 0;
}

int inputs_read_cli(const struct wf *w, json_t *obj)
{
  const char *key;
  json_t *val;
  json_object_foreach(obj, key, val) {
    if (!json_is_string(val))
      continue;
    const struct wf_input *in = NULL;
    for (uint32_t i = 0; i < w->n_inputs; i++)
      if (!strcmp(w->inputs[i].name, key))
        in = &w->inputs[i];
    if (in && in->type == WF_T_STRING)
      continue; /* `-i version=2.0` is the string "2.0" */
    json_t *p = json_loads(json_string_value(val), JSON_DECODE_ANY, NULL);
    if (p)
      json_object_set_new(obj, key, p); /* replacing a value keeps the iteration valid */
  }
  return 0;
}

int inputs_load_file(json_t *obj, const char *path, char **err)
{
  json_error_t je;
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    int e = errno;
    if (asprintf(err, "cannot read the inputs file %s: %s (check the path)", path,
                 strerror(e)) < 0)
      *err = NULL;
    return e == ENOENT ? WEFT_ENOTFOUND : WEFT_EIO;
  }
  json_t *f = json_loadf(fp, 0, &je);
  fclose(fp);
  if (!f) {
    if (je.line > 0 ? asprintf(err, "%s:%d:%d: %s", path, je.line, je.column, je.text) < 0
                    : asprintf(err, "%s: %s", path, je.text) < 0)
      *err = NULL;
    return WEFT_EPARSE;
  }
  if (!json_is_object(f)) {
    json_decref(f);
    if (asprintf(err, "%s: inputs must be a JSON object", path) < 0)
      *err = NULL;
    return WEFT_EPARSE;
  }
  json_object_update(obj, f);
  json_decref(f);
  return 0;
}

int inputs_check_file(const struct wf *w, const json_t *file, const char *file_path,
                      struct diag_list *d)
{
  size_t before = d->n;
  for (uint32_t i = 0; i < w->n_inputs; i++) {
    const struct wf_input *in = &w->inputs[i];
    json_t *v = json_object_get(file, in->name);
    if (!v || wf_type_check(in->type, v))
      continue;
    char *txt = wjson_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    diag_add(d, w->path, in->pos.line, in->pos.col,
             "input \"%s\" must be of type %s, got %s (in %s)", in->name,
             wf_type_name(in->type), txt ? txt : "?", file_path);
    free(txt);
  }
  return d->n > before ? WEFT_EVALIDATION : 0;
}

/* A string given on the command line for a typed input: convert when it
 * reads as that type (quotes on the shell would otherwise get in the way). */
static json_t *coerce(enum wf_type t, json_t *v)
{
  if (!json_is_string(v))
    return json_incref(v);
  const char *s = json_string_value(v);
  if (t == WF_T_BOOLEAN) {
    if (!strcmp(s, "true")) return json_true();
    if (!strcmp(s, "false")) return json_false();
  } else if (t == WF_T_INTEGER || t == WF_T_NUMBER || t == WF_T_ARRAY || t == WF_T_OBJECT) {
    json_t *p = json_loads(s, JSON_DECODE_ANY, NULL);
    if (p && wf_type_check(t, p))
      return p;
    json_decref(p);
  }
  return json_incref(v);
}

int inputs_resolve(const struct wf *w, const json_t *given, json_t **out, struct diag_list *d)
{
  json_t *res = json_object();
  size_t before = d->n;
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)given, key, val) {
    uint32_t i;
    for (i = 0; i < w->n_inputs; i++)
      if (!strcmp(w->inputs[i].name, key))
        break;
    if (i == w->n_inputs) {
      struct buf_names { char s[512]; size_t n; } names = {{0}, 0};
      for (uint32_t k = 0; k < w->n_inputs && names.n < sizeof names.s - 70; k++)
        names.n += (size_t)snprintf(names.s + names.n, sizeof names.s - names.n, "%s%s",
                                    k ? ", " : "", w->inputs[k].name);
      diag_add(d, w->path, 0, 0, "unknown input \"%s\" (this workflow takes: %s)", key,
               w->n_inputs ? names.s : "no inputs");
      continue;
    }
    json_t *v = coerce(w->inputs[i].type, val);
    if (!wf_type_check(w->inputs[i].type, v)) {
      char *txt = wjson_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
      diag_add(d, w->path, w->inputs[i].pos.line, w->inputs[i].pos.col,
               "input \"%s\" must be of type %s, got %s", key,
               wf_type_name(w->inputs[i].type), txt ? txt : "?");
      free(txt);
      json_decref(v);
      continue;
    }
    json_object_set_new(res, key, v);
  }
  for (uint32_t i = 0; i < w->n_inputs; i++) {
    const struct wf_input *in = &w->inputs[i];
    if (json_object_get(res, in->name) || json_object_get(given, in->name))
      continue;
    if (in->def)
      json_object_set(res, in->name, in->def);
    else if (in->required)
      diag_add(d, w->path, in->pos.line, in->pos.col,
               "input \"%s\" is required: pass it with -i %s=VALUE", in->name, in->name);
    else
      json_object_set_new(res, in->name, json_null());
  }
  if (d->n > before) {
    json_decref(res);
    *out = NULL;
    return WEFT_EVALIDATION;
  }
  *out = res;
  return 0;
}
