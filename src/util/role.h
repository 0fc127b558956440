/* role.h — the roles of SERVER.md §4 (viewer < operator < admin) and their
 * names. Shared by the operations layer (ops/, which decides who may do
 * what) and the server (which names the role a route needs); it lives in
 * util/ so that neither includes the other.
 *
 * Ownership: names are static strings. */
#ifndef WEFT_UTIL_ROLE_H
#define WEFT_UTIL_ROLE_H

enum role {
  ROLE_NONE = 0,  /* no token needed (health, OpenAPI) */
  ROLE_VIEWER,
  ROLE_OPERATOR,
  ROLE_ADMIN,
  ROLE_SIGNATURE, /* no token; the body's HMAC signature is checked instead */
};

/* "viewer", "operator", ...; "?" for a value outside the enum. */
const char *role_name(enum role r);
/* "viewer" -> ROLE_VIEWER (only viewer, operator, admin); -1 for any other name. */
int role_parse(const char *s);

#endif
