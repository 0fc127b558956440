/* users.c — reading users.json and answering "is this person in that group"
 * (see users.h). */
#include "util/users.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"

/* the role named s, or 0 */
static int role_of_name(const char *s)
{
  if (!s)
    return 0;
  if (!strcmp(s, "viewer"))
    return ROLE_VIEWER;
  if (!strcmp(s, "operator"))
    return ROLE_OPERATOR;
  if (!strcmp(s, "admin"))
    return ROLE_ADMIN;
  return 0;
}

/* Validates the parsed document root (path names it in messages) and takes
 * what u needs from it. */
static int users_from_json(json_t *root, const char *path, struct users *u, char **err)
{
  int rc = 0;
  json_t *m = json_object_get(root, "users");
  if (!json_is_object(root) || (m && !json_is_object(m))) {
    if (err && asprintf(err, "%s must be {\"users\": {\"NAME\": {\"groups\": [...]}, ...}}",
                        path) < 0)
      *err = NULL;
    rc = WEFT_EPARSE;
    goto out;
  }
  json_t *aa = json_object_get(root, "allow_as");
  if (aa && !json_is_boolean(aa)) {
    if (err && asprintf(err, "%s: \"allow_as\" must be true or false", path) < 0)
      *err = NULL;
    rc = WEFT_EPARSE;
    goto out;
  }
  u->allow_as = json_is_true(aa);
  const char *name;
  json_t *e;
  json_object_foreach(m, name, e) {
    json_t *role = json_is_object(e) ? json_object_get(e, "role") : NULL;
    if (role && role_of_name(json_string_value(role)) == 0) {
      if (err && asprintf(err, "%s: user \"%s\" has role %s%s%s; a role is \"viewer\", "
                               "\"operator\" or \"admin\"",
                          path, name, json_is_string(role) ? "\"" : "",
                          json_is_string(role) ? json_string_value(role) : "that is not a string",
                          json_is_string(role) ? "\"" : "") < 0)
        *err = NULL;
      rc = WEFT_EPARSE;
      goto out;
    }
  }
  u->map = m ? json_incref(m) : json_object();
out:
  return rc;
}

int users_load(const char *home, struct users *u, char **err)
{
  int rc = 0;
  char path[4096];
  json_t *root = NULL;
  json_error_t je;
  u->map = NULL;
  u->allow_as = false;
  snprintf(path, sizeof path, "%s/users.json", home);
  FILE *f = fopen(path, "r");
  struct stat st;
  if (f && fstat(fileno(f), &st) == 0 && (st.st_mode & 022)) {
    /* whoever may write it may make themselves anyone's approver */
    if (err && asprintf(err,
                        "%s is writable by %s (mode %03o); it decides who may approve what, so "
                        "only its owner may write it: run `chmod go-w %s` (or `chmod 600 %s`)",
                        path, (st.st_mode & 002) ? "everyone" : "its group",
                        (unsigned)(st.st_mode & 0777), path, path) < 0)
      *err = NULL;
    fclose(f);
    rc = WEFT_EDENIED;
    goto out;
  }
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
  rc = users_from_json(root, path, u, err);
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

int users_identity(const struct users *u, const char *os_user, char **out, char **err)
{
  const char *found = NULL, *name;
  json_t *e;
  *out = NULL;
  json_object_foreach(u->map, name, e) {
    const char *os = json_string_value(json_object_get(e, "os_user"));
    if (!os || strcmp(os, os_user))
      continue;
    if (found) {
      if (err && asprintf(err, "users.json maps both \"%s\" and \"%s\" to OS user %s; keep "
                               "one", found, name, os_user) < 0)
        *err = NULL;
      return WEFT_EDENIED;
    }
    found = name;
  }
  if (!found) {
    e = u->map ? json_object_get(u->map, os_user) : NULL;
    const char *os = json_string_value(json_object_get(e, "os_user"));
    if (os && strcmp(os, os_user)) {
      if (err && asprintf(err, "users.json says weft user \"%s\" is OS user %s, so OS user %s "
                               "is nobody: add an entry with \"os_user\": \"%s\"",
                          os_user, os, os_user, os_user) < 0)
        *err = NULL;
      return WEFT_EDENIED;
    }
    found = os_user;
  }
  *out = strdup(found);
  return *out ? 0 : WEFT_ENOMEM;
}

char *users_os_user(char **err)
{
  uid_t uid = geteuid();
  errno = 0;
  struct passwd *pw = getpwuid(uid);
  char *s = NULL;
  if (!pw || !pw->pw_name || !*pw->pw_name) {
    /* a uid without a passwd entry (containers): still one OS identity */
    if (asprintf(&s, "uid:%u", (unsigned)uid) < 0)
      s = NULL;
  } else {
    s = strdup(pw->pw_name);
  }
  if (!s && err)
    *err = NULL;
  return s;
}

enum role users_role(const struct users *u, const char *user, const char *home_owner_user)
{
  json_t *e = u && u->map && user ? json_object_get(u->map, user) : NULL;
  int r = role_of_name(json_string_value(json_object_get(e, "role")));
  /* SERVER.md §4: locally the owner of the home acts as admin, whatever
   * users.json says (it can read and write the store anyway) */
  if (user && home_owner_user && !strcmp(user, home_owner_user))
    return ROLE_ADMIN;
  if (r)
    return (enum role)r;
  return ROLE_VIEWER;
}

int users_home_owner(const char *home, char **out, char **err)
{
  struct stat st;
  *out = NULL;
  if (stat(home, &st) != 0) {
    if (err && asprintf(err, "cannot read %s: %s", home, strerror(errno)) < 0)
      *err = NULL;
    return WEFT_EIO;
  }
  errno = 0;
  struct passwd *pw = getpwuid(st.st_uid);
  if (pw && pw->pw_name && *pw->pw_name)
    *out = strdup(pw->pw_name);
  else if (asprintf(out, "uid:%u", (unsigned)st.st_uid) < 0)
    *out = NULL;
  return *out ? 0 : WEFT_ENOMEM;
}

int users_parse(const char *text, size_t len, const char *path, struct users *u, char **err)
{
  json_error_t je;
  u->map = NULL;
  u->allow_as = false;
  json_t *root = json_loadb(text, len, 0, &je);
  int rc = 0;
  if (!root) {
    if (err && asprintf(err, "%s:%d: %s", path, je.line, je.text) < 0)
      *err = NULL;
    return WEFT_EPARSE;
  }
  rc = users_from_json(root, path, u, err);
  json_decref(root);
  if (!rc && !u->map)
    rc = WEFT_ENOMEM;
  return rc;
}
