/* users.c — reading users.json and answering "is this person in that group"
 * (see users.h). */
#include "util/users.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

int users_load(const char *home, struct users *u, char **err)
{
  int rc = 0;
  char path[4096];
  json_t *root = NULL;
  json_error_t je;
  u->map = NULL;
  snprintf(path, sizeof path, "%s/users.json", home);
  FILE *f = fopen(path, "r");
  if (!f) {
    if (errno != ENOENT) {
      if (err && asprintf(err, "cannot read %s: %s", path, strerror(errno)) < 0)
        *err = NULL;
      rc = WEFT_EIO;
      goto out;
    }
    u->map = json_object();
    goto out;
  }
  root = json_loadf(f, 0, &je);
  fclose(f);
  if (!root) {
    if (err && asprintf(err, "%s:%d: %s", path, je.line, je.text) < 0)
      *err = NULL;
    rc = WEFT_EPARSE;
    goto out;
  }
  json_t *m = json_object_get(root, "users");
  if (!json_is_object(root) || (m && !json_is_object(m))) {
    if (err && asprintf(err, "%s must be {\"users\": {\"NAME\": {\"groups\": [...]}, ...}}",
                        path) < 0)
      *err = NULL;
    rc = WEFT_EPARSE;
    goto out;
  }
  u->map = m ? json_incref(m) : json_object();
out:
  json_decref(root);
  if (!rc && !u->map)
    rc = WEFT_ENOMEM;
  return rc;
}

void users_free(struct users *u)
{
  json_decref(u->map);
  u->map = NULL;
}

bool users_in_group(const struct users *u, const char *user, const char *group)
{
  json_t *e = u->map ? json_object_get(u->map, user) : NULL;
  json_t *g = json_is_object(e) ? json_object_get(e, "groups") : NULL;
  size_t i;
  json_t *x;
  json_array_foreach(g, i, x) {
    if (json_is_string(x) && !strcmp(json_string_value(x), group))
      return true;
  }
  return false;
}

bool users_match(const struct users *u, const char *user, const json_t *approvers)
{
  size_t i;
  json_t *x;
  json_array_foreach(approvers, i, x) {
    const char *a = json_string_value(x);
    if (!a)
      continue;
    if (!strncmp(a, "group:", 6)) {
      if (users_in_group(u, user, a + 6))
        return true;
    } else if (!strcmp(a, user)) {
      return true;
    }
  }
  return false;
}
