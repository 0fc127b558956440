/* rt_services.h — http and agent steps in the runtime (rt_services.c). */
#ifndef WEFT_RUNTIME_RT_SERVICES_H
#define WEFT_RUNTIME_RT_SERVICES_H

#include <stdbool.h>

#include "runtime/rt_int.h"

/* Start an attempt of an http / agent step (START effect). Failures to start
 * are reported with rt_post_result. */
void rt_start_http(struct runtime *rt, struct rt_run *run, const struct eng_effect *e);
void rt_start_agent(struct runtime *rt, struct rt_run *run, const struct eng_effect *e);
/* Kill effect for an attempt of those kinds: true when a was one (it may be
 * freed by now), false when a is not an http or agent attempt. */
bool rt_kill_service(struct runtime *rt, struct rt_attempt *a, enum eng_kill_reason reason);
/* A child run started by an agent's workflow tool ended (RUN_FINISHED). */
void rt_tool_child_finished(struct runtime *rt, struct rt_run *child);

#endif
