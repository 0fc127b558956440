/* approval.h — a forwarding header, nothing of its own. Approvals moved out
 * of exec/ (which holds effectors only): the rules are engine/approval.h and
 * the waiting service is runtime/svc_approval.h. This file stays only because
 * tests/unit/test_approval.c includes it; tests/tools/check_layers.py lists
 * it as its one exception. Include the two headers above instead. */
#ifndef WEFT_EXEC_APPROVAL_H
#define WEFT_EXEC_APPROVAL_H

#include "engine/approval.h"
#include "runtime/svc_approval.h"

#endif
