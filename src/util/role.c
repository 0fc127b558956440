/* role.c — role names (role.h). */
#include "util/role.h"

#include <string.h>

static const char *const role_names[] = {"none", "viewer", "operator", "admin", "signature"};

const char *role_name(enum role r) { return (unsigned)r < sizeof role_names / sizeof *role_names ? role_names[r] : "?"; }

int role_parse(const char *s)
{
  for (int i = ROLE_VIEWER; s && i <= ROLE_ADMIN; i++)
    if (!strcmp(s, role_names[i]))
      return i;
  return -1;
}
