/* users.h — identities: the users.json file in the weft home.
 *
 *   {"users": {"alice": {"groups": ["ml-leads"], "os_user": "alice2",
 *                        "role": "operator"}, "bob": {}},
 *    "allow_as": false}
 *
 * People write this file; weft only reads it, and refuses it when it is
 * group- or world-writable (anyone could then make themselves an approver).
 * Unknown keys are ignored. "role" is one of viewer, operator, admin
 * (users_role says what a user's role is when the file gives none).
 * A missing file is an empty user list: plain names in `approvers` still
 * match those users, group references (`group:NAME`) match nobody.
 *
 * Identity (users_identity): a local command acts as the operating-system
 * user of the process's effective uid, mapped to a weft user by "os_user"
 * (by default the names are equal). `--as` is allowed only with top-level
 * "allow_as": true.
 *
 * Ownership: struct users owns the parsed JSON; strings returned point into
 * it and live until users_free(). */
#ifndef WEFT_UTIL_USERS_H
#define WEFT_UTIL_USERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/role.h" /* enum role: ROLE_VIEWER < ROLE_OPERATOR < ROLE_ADMIN */

struct users {
  json_t *map;   /* the "users" object (owned reference); never NULL after load */
  bool allow_as; /* top-level "allow_as": true (`--as USER` accepted) */
};

/* Loads HOME/users.json. 0 on success (also when the file does not exist);
 * WEFT_EPARSE with *err (malloc'd, caller frees) naming the file and the
 * problem when it is not valid (a "role" other than viewer, operator or
 * admin names the user); WEFT_EDENIED when it is group- or
 * world-writable (*err says which chmod fixes it). */
int users_load(const char *home, struct users *u, char **err);
void users_free(struct users *u);
/* users_load's checks on text already read (len bytes; path names it in
 * messages): the fuzz target's entry (tests/fuzz/fuzz_users.c). */
int users_parse(const char *text, size_t len, const char *path, struct users *u, char **err);

/* true when user is in group NAME according to users.json. */
bool users_in_group(const struct users *u, const char *user, const char *group);
/* true when user matches one entry of approvers: a user name, or
 * "group:NAME" with the user in that group. approvers is a JSON array of
 * strings (other elements are ignored). */
bool users_match(const struct users *u, const char *user, const json_t *approvers);


/* The weft user that OS user os_user is: the entry whose "os_user" is
 * os_user, else the entry named os_user when it has no "os_user" of its
 * own, else os_user itself (not listed: names are equal). *out is malloc'd.
 * WEFT_EDENIED with *err (malloc'd) when two entries claim os_user, or when
 * the entry of that name is mapped to another OS user. */
int users_identity(const struct users *u, const char *os_user, char **out, char **err);

/* The OS user name of the process's effective uid (getpwuid(geteuid()),
 * never $USER), malloc'd; "uid:N" when the uid has no passwd entry (a
 * container); NULL only when out of memory. */
char *users_os_user(char **err);

/* The effective role of weft user `user`: ROLE_ADMIN when user is
 * home_owner_user (the weft user the owner of the home maps to, who can read
 * and write its store anyway; pass NULL over the API, where no one is the
 * owner); else the "role" users.json gives it (checked at load); else
 * ROLE_VIEWER (also for a user users.json does not list). SERVER.md §4. */
enum role users_role(const struct users *u, const char *user, const char *home_owner_user);

/* The OS user name owning the folder home (stat's st_uid; "uid:N" without a
 * passwd entry), malloc'd. WEFT_EIO with *err (malloc'd) when home cannot
 * be stat'ed, WEFT_ENOMEM. */
int users_home_owner(const char *home, char **out, char **err);

#endif
