/* fuzz_users.c — libFuzzer entry point for util/users.c's reading of
 * users.json (users_parse: shape, allow_as, roles) and the questions asked
 * of it afterwards: users_role is always one of the three roles, and
 * identity mapping, group and approver matching never crash. */
#include <stdint.h>
#include <stdlib.h>

#include "util/users.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct users u = {0};
  char *err = NULL;
  if (users_parse((const char *)data, size, "users.json", &u, &err) != 0) {
    free(err);
    users_free(&u);
    return 0;
  }
  static const char *const who[] = {"alice", "bob", "root", "", "uid:0"};
  json_t *approvers = json_pack("[s,s]", "alice", "group:ml-leads");
  for (size_t i = 0; i < sizeof who / sizeof who[0]; i++) {
    enum role r = users_role(&u, who[i], "root");
    if (r != ROLE_VIEWER && r != ROLE_OPERATOR && r != ROLE_ADMIN)
      abort();
    char *me = NULL;
    if (users_identity(&u, who[i], &me, &err) != 0)
      free(err);
    err = NULL;
    free(me);
    (void)users_match(&u, who[i], approvers);
  }
  json_decref(approvers);
  users_free(&u);
  return 0;
}
