/* fuzz_audit.c — libFuzzer entry point for the two parsers of `weft audit
 * verify`: the top-level scanner that reads audit entry data in the store
 * cross-check (audit/xcheck.c, fed through xc_row as entries of every kind
 * it reads, then the run's end), and the checkpoint line parser
 * (audit_checkpoint_parse). Neither may crash, leak or read past the text;
 * a problem the check finds must come with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/checkpoint.h"
#include "audit/xcheck.h"

static const char *const KINDS[] = {"run.created",       "run.status",       "step.status",
                                    "step.expanded",     "attempt.started",  "attempt.finished",
                                    "approval.requested", "approval.decided", "approval.refused",
                                    "approval.timeout",  "run.pruned",       "definition"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';

  struct audit_checkpoint cp;
  audit_checkpoint_parse(text, "00", &cp);

  struct xcheck *x = xc_new();
  if (!x) {
    free(text);
    return 0;
  }
  struct store_audit e = {.seq = 1, .run_id = (char *)"R", .data = text};
  struct store_vrow r = {.type = STORE_V_ENTRY, .entry = &e};
  e.run_id = NULL;
  e.kind = (char *)"definition";
  int rc = xc_row(x, &r);
  e.run_id = (char *)"R";
  r = (struct store_vrow){.type = STORE_V_RUN, .run_id = "R", .status = "running"};
  rc = rc ? rc : xc_row(x, &r);
  r = (struct store_vrow){.type = STORE_V_STEP, .run_id = "R", .step = "a", .index = 2,
                          .status = "succeeded", .n = 1};
  rc = rc ? rc : xc_row(x, &r);
  for (size_t k = 0; !rc && k < sizeof KINDS / sizeof KINDS[0]; k++) {
    e.seq = (int64_t)k + 1;
    e.kind = (char *)KINDS[k];
    r = (struct store_vrow){.type = STORE_V_RUN_ENTRY, .run_id = "R", .entry = &e};
    rc = xc_row(x, &r);
  }
  if (!rc) {
    r = (struct store_vrow){.type = STORE_V_RUN_END, .run_id = "R"};
    rc = xc_row(x, &r);
  }
  if (rc == 1 && !xc_problem(x))
    abort();
  xc_free(x);
  free(text);
  return 0;
}
