/* api_routes.c — the route table of api_routes.h. Order matters only where
 * two patterns could match the same path (none do today). */
#include "server/api_routes.h"

#define MiB (1024u * 1024u)

const struct route api_routes[] = {
    /* outside /api/v1 */
    {"GET", "/healthz", ROLE_NONE, "healthz", BODY_JSON, 0},
    {"GET", "/readyz", ROLE_NONE, "readyz", BODY_JSON, 0},
    {"GET", "/metrics", ROLE_VIEWER, "metrics", BODY_JSON, 0},
    {"GET", "/api/v1/openapi.json", ROLE_NONE, "openapi", BODY_JSON, 0},
    /* workflows */
    {"GET", "/api/v1/workflows", ROLE_VIEWER, "list_workflows", BODY_JSON, 0},
    {"POST", "/api/v1/workflows", ROLE_OPERATOR, "deploy_workflow", BODY_RAW, 64 * MiB},
    {"GET", "/api/v1/workflows/{name}", ROLE_VIEWER, "get_workflow", BODY_JSON, 0},
    {"POST", "/api/v1/workflows/{name}/runs", ROLE_OPERATOR, "start_run", BODY_JSON, 0},
    /* runs */
    {"GET", "/api/v1/runs", ROLE_VIEWER, "list_runs", BODY_JSON, 0},
    {"GET", "/api/v1/runs/{id}", ROLE_VIEWER, "get_run", BODY_JSON, 0},
    {"GET", "/api/v1/runs/{id}/graph", ROLE_VIEWER, "get_run_graph", BODY_JSON, 0},
    {"GET", "/api/v1/runs/{id}/logs/{step}", ROLE_VIEWER, "get_logs", BODY_JSON, 0},
    {"POST", "/api/v1/runs/{id}/cancel", ROLE_OPERATOR, "cancel_run", BODY_JSON, 0},
    {"POST", "/api/v1/runs/{id}/retry", ROLE_OPERATOR, "retry_run", BODY_JSON, 0},
    {"GET", "/api/v1/runs/{id}/evidence", ROLE_VIEWER, "get_evidence", BODY_JSON, 0},
    /* approvals: deciding needs no role beyond viewer; the step's approvers rule decides */
    {"GET", "/api/v1/approvals", ROLE_VIEWER, "list_approvals", BODY_JSON, 0},
    {"POST", "/api/v1/runs/{id}/steps/{step}/approve", ROLE_VIEWER, "approve", BODY_JSON, 0},
    {"POST", "/api/v1/runs/{id}/steps/{step}/reject", ROLE_VIEWER, "reject", BODY_JSON, 0},
    /* events, hooks, live stream */
    {"POST", "/api/v1/events", ROLE_OPERATOR, "send_event", BODY_JSON, 0},
    {"POST", "/api/v1/hooks/{name}", ROLE_SIGNATURE, "webhook", BODY_RAW, 0},
    {"GET", "/api/v1/events/stream", ROLE_VIEWER, "event_stream", BODY_JSON, 0},
    /* audit, schedules, tokens */
    {"GET", "/api/v1/audit", ROLE_VIEWER, "audit_export", BODY_JSON, 0},
    {"GET", "/api/v1/audit/verify", ROLE_VIEWER, "audit_verify", BODY_JSON, 0},
    {"GET", "/api/v1/schedules", ROLE_VIEWER, "list_schedules", BODY_JSON, 0},
    {"GET", "/api/v1/tokens", ROLE_ADMIN, "list_tokens", BODY_JSON, 0},
    {"POST", "/api/v1/tokens", ROLE_ADMIN, "create_token", BODY_JSON, 0},
    {"DELETE", "/api/v1/tokens/{id}", ROLE_ADMIN, "revoke_token", BODY_JSON, 0},
    /* the caller (the web UI shows who is signed in and hides what the role cannot do) */
    {"GET", "/api/v1/me", ROLE_VIEWER, "whoami", BODY_JSON, 0},
};

const struct api_route_doc api_route_docs[] = {
    {"200 while the process lives", NULL, "200", "json"},
    {"200 once the store is open and migrated", NULL, "200", "json"},
    {"Prometheus metrics", NULL, "200", "prometheus"},
    {"this document", NULL, "200", "json"},
    {"deployed workflows", NULL, "200", "json"},
    {"deploy a new version (the YAML text as the body); 201 new, 200 identical, 422 with problems", "file", "201", "json"},
    {"one workflow with its versions, newest source, triggers and next fire times (version=N: that version's)", "version", "200", "json"},
    {"start a run ({inputs, idempotency_key}); the same key again answers 200 with the same run", NULL, "201", "json"},
    {"runs, newest first, at most 500 a page", "status,workflow,trigger,since,until,limit,cursor", "200", "json"},
    {"one run in the `weft status --json` shape", "all_instances", "200", "json"},
    {"the run's step graph, laid out in layers", NULL, "200", "json"},
    {"a step's log; follow=1 streams until the attempt ends", "index,attempt,follow", "200", "text"},
    {"cancel the run; with {\"steps\": [...]}, withdraw only those steps", NULL, "202", "json"},
    {"run failed steps again ({from: STEP})", NULL, "202", "json"},
    {"the run's evidence pack", NULL, "200", "json"},
    {"approvals the caller may decide", NULL, "200", "json"},
    {"approve ({comment, fields, index})", NULL, "200", "json"},
    {"reject ({comment, index})", NULL, "200", "json"},
    {"deliver an event ({name, data, run})", NULL, "202", "json"},
    {"a webhook delivery, authenticated by its HMAC-SHA256 signature", NULL, "202", "json"},
    {"live events (server-sent events); Last-Event-ID or after= replays", "run,after", "200", "sse"},
    {"audit entries as JSON lines", "run", "200", "ndjson"},
    {"verify the audit chain", NULL, "200", "json"},
    {"every trigger with its next fire times", NULL, "200", "json"},
    {"token metadata (never a token or its hash)", NULL, "200", "json"},
    {"create a token ({user, name, expires}); the token is in this answer only", NULL, "201", "json"},
    {"revoke a token", NULL, "200", "json"},
    {"the caller: {user, role, token_id}", NULL, "200", "json"},
};

const size_t api_routes_count = sizeof api_routes / sizeof *api_routes;

_Static_assert(sizeof api_routes / sizeof *api_routes == sizeof api_route_docs / sizeof *api_route_docs,
               "every route has its documentation entry");
