/* users.h — identities: the users.json file in the weft home.
 *
 *   {"users": {"alice": {"groups": ["ml-leads"]}, "bob": {}}}
 *
 * People write this file; weft only reads it. Later issues add tokens and
 * roles per user here (unknown keys are ignored). A missing file is an empty
 * user list: plain names in `approvers` still match those users, group
 * references (`group:NAME`) match nobody.
 *
 * Ownership: struct users owns the parsed JSON; strings returned point into
 * it and live until users_free(). */
#ifndef WEFT_UTIL_USERS_H
#define WEFT_UTIL_USERS_H

#include <jansson.h>
#include <stdbool.h>

struct users {
  json_t *map; /* the "users" object (owned reference); never NULL after load */
};

/* Loads HOME/users.json. 0 on success (also when the file does not exist);
 * WEFT_EPARSE with *err (malloc'd, caller frees) naming the file and the
 * problem when it is not valid. */
int users_load(const char *home, struct users *u, char **err);
void users_free(struct users *u);

/* true when user is in group NAME according to users.json. */
bool users_in_group(const struct users *u, const char *user, const char *group);
/* true when user matches one entry of approvers: a user name, or
 * "group:NAME" with the user in that group. approvers is a JSON array of
 * strings (other elements are ignored). */
bool users_match(const struct users *u, const char *user, const json_t *approvers);

#endif
