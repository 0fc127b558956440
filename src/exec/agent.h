/* agent.h — one attempt of an `agent` step: calls an OpenAI-compatible
 * `POST {endpoint}/chat/completions` through the http client, runs the tool
 * loop, checks `output: json` replies against `schema`, and reports outputs
 * {text, json, turns, usage} or a failure of kind "agent".
 *
 * Durability: every model reply and every tool result is written to the
 * transcript (the host's save_turn: the runtime puts it in the store,
 * committed, before it returns) BEFORE the next call, and each reply gets an
 * "agent.turn" audit entry (host->audit: model, token counts, SHA-256 of the
 * request sent and of the answer). The agent itself includes no store: it is
 * an effector (the model call and the tool loop), and what it keeps goes
 * through its host. An attempt that starts
 * where the previous attempt of the same instance ended with kind
 * "interrupted" (the engine died) takes over that transcript and goes on from
 * it without calling the model again for the turns recorded.
 *
 * The host (the runtime, rt_services.c) renders tool templates against
 * `.args`, runs command tools with the process executor and receives the
 * result. Callbacks: host->done is called exactly once, never from inside
 * agent_start() or agent_kill() (those return the result instead), and the
 * agent must not be used after it (the host frees it).
 *
 * Ownership: agent_start copies the body; agent_free releases everything (it
 * cancels a request in flight, never calls back). */
#ifndef WEFT_EXEC_AGENT_H
#define WEFT_EXEC_AGENT_H

#include <jansson.h>
#include <stdbool.h>

#include "exec/http.h"

#define AGENT_DEFAULT_MAX_TURNS 10
#define AGENT_TOOL_OUTPUT_MAX (64u << 10) /* stdout of a program tool, LANGUAGE.md */

struct agent;

/* How an attempt ended. */
struct agent_result {
  bool ok;
  json_t *outputs;      /* owned; NULL on failure */
  const char *kind;     /* !ok: "agent", "timeout", "cancelled", "validation", ... */
  char message[512];
  int http_status;      /* of the model endpoint when it failed with one, else -1 */
};

struct agent_host {
  void *ud;
  struct http_client *http;
  const char *run_id, *step;  /* borrowed for the agent's life */
  int index;                  /* -1 (STORE_NO_INDEX) for a plain step */
  int attempt;
  /* The transcript: save_turn writes entry seq of attempt (JSON text),
   * durably, before it returns (0, or a WEFT_E* code); load_turns gives the
   * entries of attempt in seq order (*rows and each string malloc'd: the
   * agent frees them); interrupted says whether attempt ended with kind
   * "interrupted" (its transcript is then taken over). */
  int (*save_turn)(void *ud, int attempt, int seq, const char *text);
  int (*load_turns)(void *ud, int attempt, char ***rows, size_t *n);
  bool (*interrupted)(void *ud, int attempt);
  /* An audit entry of the run (data: JSON text). */
  void (*audit)(void *ud, const char *kind, const char *data);
  const char *default_endpoint, *default_api_key; /* WEFT_LLM_URL, WEFT_LLM_API_KEY */
  /* Renders a tool's template with `.args` = args. 0, or an error with *err (malloc'd). */
  int (*render)(void *ud, const json_t *tmpl, const json_t *args, json_t **out, char **err);
  /* Starts a program tool (argv rendered, args as JSON text for WEFT_TOOL_ARGS);
   * the host calls agent_tool_done() later. 0, or an error with msg filled. */
  int (*run_command)(void *ud, struct agent *ag, const json_t *argv, const char *args_json,
                     int seq, char *msg, size_t n);
  /* Starts a workflow tool: the rendered {file, inputs} as a child run; the
   * host calls agent_tool_done() with the child's outputs (or {error}) when
   * it ends. 0, or an error with msg filled. */
  int (*run_workflow)(void *ud, struct agent *ag, const json_t *wf_body, char *msg, size_t n);
  /* Stops the program or workflow tool in flight (it still ends with
   * agent_tool_done). */
  void (*kill_command)(void *ud, bool timeout);
  /* Asks a human before a tool call with `approval: true` (runtime/svc_approval.h:
   * body {message, tool, args}); the host calls agent_approval_done() when
   * decided. resumed: the request was recorded before a restart (keep it).
   * 0, or an error with msg filled. */
  int (*request_approval)(void *ud, struct agent *ag, const json_t *body, bool resumed,
                          char *msg, size_t n);
  /* Stops waiting for the decision (may call agent_approval_done at once). */
  void (*stop_approval)(void *ud, const char *kind, const char *message);
  void (*done)(void *ud, const struct agent_result *r);
  /* Optional: the text with secret values masked (malloc'd), for what is
   * stored (the transcript); NULL = store as is. */
  char *(*mask)(void *ud, const char *text);
};

/* Starts the attempt. Returns 0 when it goes on asynchronously, 1 when it
 * ended at once (*now filled: replayed to the end, or a bad body). */
int agent_start(const struct agent_host *h, const json_t *body, struct agent **out,
                struct agent_result *now);
/* The program tool started by run_command ended: value is what goes back to
 * the model (borrowed). May call host->done. */
void agent_tool_done(struct agent *ag, const json_t *value);
/* The decision on the tool call waiting for approval: approved (ok) runs the
 * tool; rejected (kind "rejected") gives the model the refusal as the tool's
 * result; anything else (timeout, ...) fails the step with that kind. May
 * call host->done. */
void agent_approval_done(struct agent *ag, bool ok, const char *kind, const char *message);
/* Stop (step timeout or cancel). Returns true when ended now (*now filled;
 * host->done will not be called), false when a program tool must end first
 * (host->done comes then, with this kind). */
bool agent_kill(struct agent *ag, const char *kind, const char *message,
                struct agent_result *now);
void agent_free(struct agent *ag);
void agent_result_clear(struct agent_result *r);

/* The JSON-schema subset of `schema`: type (string, number, integer, boolean,
 * object, array, null, or a list of them), required, properties, items,
 * enum. Returns true when v matches; else msg says where and why. */
bool agent_schema_check(const json_t *schema, const json_t *v, char *msg, size_t n);

#endif
