/* deployed.h — loading the newest deployed version of a workflow name
 * (SERVER.md §2) from the store: what `POST /workflows/{name}/runs` and
 * `workflow: {name: NAME}` steps start. The loaded definition's hash is the
 * version's (the run is pinned to it); its path is the file the version was
 * deployed from (so `workflow: {file: ...}` inside it resolves next to that
 * file), or "NAME.yaml" for a version deployed through the API.
 *
 * Ownership: *out is the caller's (wf_free, or given to rt_start). */
#ifndef WEFT_RUNTIME_DEPLOYED_H
#define WEFT_RUNTIME_DEPLOYED_H

#include <stddef.h>

#include "spec/model.h"
#include "store/store.h"

/* 0 with *out and *version; WEFT_ENOTFOUND (name never deployed) or another
 * failure, with a message for people in msg either way. */
int rt_deployed_load(struct store *s, const char *name, struct wf **out, int *version, char *msg,
                     size_t msglen);

#endif
