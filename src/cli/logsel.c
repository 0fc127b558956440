/* logsel.c — strict parsing of `weft logs` step and attempt arguments, and
 * the not-found message for an index past a for_each's instances (see logsel.h). */
#include "cli/logsel.h"
#include "cli/cli.h"
#include "cli/cmds.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Plain decimal digits, no sign, no space, at most INT_MAX. */
static int parse_uint(const char *s, size_t len, int *out)
{
  long long v = 0;
  if (len == 0)
    return -1;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
    if (v > INT_MAX)
      return -1;
  }
  *out = (int)v;
  return 0;
}

int logsel_parse_attempt(const char *arg, int *out)
{
  int v;
  if (!arg || parse_uint(arg, strlen(arg), &v) || v < 1)
    return -1;
  *out = v;
  return 0;
}

int logsel_parse_step(const char *arg, char step[65], int *index, bool *has_index, char *err,
                      size_t errsz)
{
  size_t n = strcspn(arg, ":[");
  *has_index = false;
  if (n == 0 || n > 64) {
    snprintf(err, errsz, "\"%s\" is not a step: name a step id, optionally with :INDEX", arg);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    char ch = arg[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '_' || ch == '-')) {
      snprintf(err, errsz,
               "\"%.*s\" is not a step id (letters, digits, '_' and '-'); name a step as "
               "`weft status RUN` lists it", (int)n, arg);
      return -1;
    }
  }
  memcpy(step, arg, n);
  step[n] = '\0';
  if (!arg[n])
    return 0;
  const char *ix = arg + n + 1;
  size_t len = strlen(ix);
  if (arg[n] == '[') {
    if (len == 0 || ix[len - 1] != ']') {
      snprintf(err, errsz, "\"%s\": an instance is written STEP:INDEX or STEP[INDEX]", arg);
      return -1;
    }
    len--;
  }
  if (parse_uint(ix, len, index)) {
    snprintf(err, errsz,
             "\"%s\": the instance index must be a number from 0 (STEP:INDEX, e.g. %s:0)", arg,
             step);
    return -1;
  }
  *has_index = true;
  return 0;
}

/* `weft logs RUN step:99` past a for_each's instances: says how many there
 * are (exit 4); 0 when index is within them (or the count is not known). */
int logsel_past_instances(struct store *s, const struct store_run *r, const struct wf *wf,
                               const char *step, int index)
{
  uint32_t k = wf ? wf_step_find(wf, step) : WF_NONE;
  if (k == WF_NONE || !wf->steps[k].for_each)
    return 0;
  struct store_step *rows = NULL;
  size_t n = 0, count = 0;
  if (store_step_list(s, r->id, step, &rows, &n) != 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (rows[i].index >= 0)
      count++;
  store_steps_free(rows, n);
  if ((size_t)index < count)
    return 0;
  if (count == 0)
    cli_err("step \"%s\" of run %.8s has no instances yet; `weft status %.8s` shows it", step,
            r->id, r->id);
  else
    cli_err("step \"%s\" of run %.8s has %zu instance%s (%s:0 to %s:%zu); there is no %s:%d",
            step, r->id, count, count == 1 ? "" : "s", step, step, count - 1, step, index);
  return EXIT_NOT_FOUND;
}
