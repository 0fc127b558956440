#!/usr/bin/env bash
# valgrind.sh — the weft binary under valgrind (memcheck) on real commands:
# validate (valid and invalid files), graph, run (with retries, for_each,
# failure), status, runs, logs, audit, token, deploy, workflows, the server with
# its workflow routes and triggers. Any memory error or definite leak fails.
# Usage: scripts/valgrind.sh [path/to/weft]   (default build-test/weft)
set -euo pipefail
cd "$(dirname "$0")/.."
W=$(realpath "${1:-build-test/weft}")
tmp=$(mktemp -d)
trap 'if [ -n "${sp:-}" ]; then kill "$sp" 2>/dev/null || true; fi; rm -rf "$tmp"' EXIT
export WEFT_HOME="$tmp/home" USER=valgrind
VG=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --track-fds=no)
vg() { # vg EXPECTED_EXIT ARGS...
  local want=$1; shift
  local rc=0
  "${VG[@]}" "$W" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  if [ "$rc" != "$want" ]; then
    echo "valgrind: weft $* exited $rc (wanted $want)"; tail -40 "$tmp/err"; exit 1
  fi
  echo "ok: weft $*"
}
cat > "$tmp/bad.yaml" <<'YAML'
name: Bad
steps:
  a: {run: "echo ${{ .inputs.x }}", nedds: [b]}
  b: {needs: [a], retry: {attempts: 0}}
YAML
cat > "$tmp/mixed.yaml" <<'YAML'
name: mixed
steps:
  fan: {for_each: 3, run: 'echo "v=$WEFT_INDEX" >> "$WEFT_OUTPUT"'}
  flaky: {retry: {attempts: 2, delay: 10ms}, run: '[ "$WEFT_ATTEMPT" = 2 ]'}
  join: {needs: [fan, flaky], set: {sum: "${{ [.steps.fan.outputs[].v] | add }}"}}
  bad: {needs: join, run: "echo failing; exit 3"}
finally:
  report: {run: "echo done"}
YAML
vg 0 validate examples/hello.yaml examples/data-pipeline.yaml examples/model-training.yaml
vg 2 validate "$tmp/bad.yaml"
vg 0 graph examples/data-pipeline.yaml --format mermaid
vg 0 run examples/hello.yaml -i who=valgrind
vg 1 run "$tmp/mixed.yaml" --json
id=$("$W" runs --limit 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
vg 0 status "$id" --json
vg 0 runs
vg 0 logs "$id"
vg 1 retry "$id" --from fan --json
vg 0 audit verify
vg 0 audit export "$id"
# approvals: an engine under valgrind waits (a timeout applied, then a person
# decides from other processes, also under valgrind)
cat > "$tmp/appr.yaml" <<'YAML'
name: appr
steps:
  t: {approval: {message: auto, timeout: 200ms, on_timeout: approve}}
  ok: {needs: t, approval: {message: "ok?", approvers: [alice], fields: {n: {type: integer, default: 1}}}}
YAML
"${VG[@]}" "$W" run "$tmp/appr.yaml" >"$tmp/bgout" 2>"$tmp/bgerr" & bg=$!
for _ in $(seq 1 600); do
  "$W" approvals --json | grep -q '"ok?"' && break
  sleep 0.1
done
aid=$("$W" runs --limit 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
vg 0 approvals --json
vg 0 approvals
vg 2 approve "$aid" ok --as alice  # --as is refused without "allow_as"
printf '{"allow_as": true, "users": {"alice": {}, "bob": {}}}' > "$WEFT_HOME/users.json"
chmod 600 "$WEFT_HOME/users.json"
vg 2 approve "$aid" ok --as bob
vg 0 approve "$aid" ok --as alice --field n=2 --comment fine
brc=0; wait "$bg" || brc=$?
if [ "$brc" != 0 ]; then echo "valgrind: weft run appr.yaml exited $brc"; tail -40 "$tmp/bgerr"; exit 1; fi
echo "ok: weft run appr.yaml (decided from another process)"
vg 0 audit export "$aid"
vg 0 audit checkpoint --out "$tmp/cp.jsonl"
vg 0 audit verify --checkpoint "$tmp/cp.jsonl"
vg 0 prune --older-than 1d --dry-run
# deployed workflows: versions, an invalid file, the list and one workflow
mkdir -p "$tmp/flows"
cp examples/hello.yaml "$tmp/flows/hello.yaml"
cp "$tmp/bad.yaml" "$tmp/flows/bad.yaml"
vg 0 deploy "$tmp/flows/hello.yaml"
vg 0 deploy "$tmp/flows/hello.yaml" --json
vg 2 deploy "$tmp/bad.yaml"
vg 0 workflows
vg 0 workflows hello --json
# API tokens (users.json above allows --as; this user owns the home: admin)
vg 0 token create alice --name ci --expires 30d
vg 0 token create bob --json
vg 0 token create bob --login
vg 2 --as bob token create alice   # bob is a viewer: refused
vg 0 token list
vg 0 token list --json
tid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["id"])' "$tmp/out")
vg 0 token revoke "${tid:0:10}"
vg 2 token revoke "$tid"           # revoked already
vg 2 token revoke tok_             # several match
vg 4 token revoke tok_nosuch
vg 2 --as bob token revoke tok_    # bob's own two match
vg 0 audit verify
# events, sub-workflows and secrets: an engine under valgrind waits for an
# event sent (under valgrind) from another process, then runs a child workflow;
# a secret from secrets.json is masked
printf '{"tok": "vg-s3cret/x"}' > "$WEFT_HOME/secrets.json"
chmod 600 "$WEFT_HOME/secrets.json"
cat > "$tmp/kid.yaml" <<'YAML'
name: kid
inputs: {n: {type: integer, default: 1}}
steps:
  k: {env: {N: "${{ .inputs.n }}"}, run: 'echo "twice=$((N * 2))" >> "$WEFT_OUTPUT"'}
outputs: {twice: "${{ .steps.k.outputs.twice }}"}
YAML
cat > "$tmp/ev.yaml" <<'YAML'
name: ev
steps:
  ready: {wait: {event: vg-ready, match: "${{ .event.n > 1 }}", timeout: 5m}}
  sub: {needs: ready, workflow: {file: kid.yaml, inputs: {n: "${{ .steps.ready.outputs.n }}"}}}
  show: {needs: sub, env: {T: "${{ .secrets.tok }}"}, run: 'echo "token $T"; echo "t=$T" >> "$WEFT_OUTPUT"'}
  quick: {wait: 10ms}
YAML
"${VG[@]}" "$W" run "$tmp/ev.yaml" --json >"$tmp/evout" 2>"$tmp/everr" & bg=$!
for _ in $(seq 1 600); do
  "$W" status "$("$W" runs --limit 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" --json | grep -q '"waiting"' && break
  sleep 0.1
done
vg 0 event send vg-ready --data '{"n": 1}'
vg 0 event send vg-ready --data '{"n": 21}'
brc=0; wait "$bg" || brc=$?
if [ "$brc" != 0 ]; then echo "valgrind: weft run ev.yaml exited $brc"; tail -40 "$tmp/everr"; exit 1; fi
grep -q '"twice": 42' "$tmp/evout" || { echo "valgrind: ev.yaml: wrong outputs"; cat "$tmp/evout"; exit 1; }
echo "ok: weft run ev.yaml (event from another process, sub-workflow, secret)"
eid=$("$W" runs --limit 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
vg 0 status "$eid"
# the server under valgrind: health, readiness, OpenAPI, metrics (with a
# token; refused without), a run left by a SIGKILLed engine resumed at start, then SIGTERM
cat > "$tmp/left.yaml" <<'YAML'
name: left
steps:
  a: {run: 'if [ "$WEFT_ATTEMPT" = 1 ]; then echo started > "$WEFT_WORKSPACE/a"; sleep 300; fi'}
YAML
"$W" run "$tmp/left.yaml" >/dev/null 2>&1 & lp=$!
lid=
for _ in $(seq 1 600); do
  lid=$("$W" runs --limit 1 --json | python3 -c 'import json,sys; r=json.load(sys.stdin)[0]; print(r["id"] if r["workflow"] == "left" else "")')
  [ -n "$lid" ] && [ -f "$WEFT_HOME/workspaces/$lid/a" ] && break
  sleep 0.1
done
kill -KILL "$lp"; wait "$lp" 2>/dev/null || true
stok=$("$W" token create vg-scraper)
printf '{"allow_as": true, "users": {"alice": {}, "bob": {}, "vg-op": {"role": "operator"}}}' > "$WEFT_HOME/users.json"
optok=$("$W" token create vg-op)
: >"$tmp/srverr"  # exists before sed reads it (the redirection happens in the child)
"${VG[@]}" "$W" server --listen 127.0.0.1:0 --workflows "$tmp/flows" >"$tmp/srvout" 2>"$tmp/srverr" & sp=$!
port=
for _ in $(seq 1 600); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/srverr")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "valgrind: weft server did not start"; cat "$tmp/srverr"; exit 1; }
for path in /healthz /readyz /api/v1/openapi.json; do
  curl -sf -o /dev/null "http://127.0.0.1:$port$path" || { echo "valgrind: GET $path failed"; exit 1; }
done
curl -sf -o /dev/null -H "Authorization: Bearer $stok" "http://127.0.0.1:$port/metrics" ||
  { echo "valgrind: GET /metrics with a token failed"; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/runs")" = 401 ] ||
  { echo "valgrind: GET /api/v1/runs without a token is not 401"; exit 1; }
# the web UI's files (server/uiserve.c): served, revalidated (304), 404 beside them
for path in / /login /ui/app.js; do
  curl -sf -o /dev/null "http://127.0.0.1:$port$path" || { echo "valgrind: GET $path failed"; exit 1; }
done
etag=$(curl -sI "http://127.0.0.1:$port/ui/app.js" | tr -d '\r' | sed -n 's/^ETag: //Ip')
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "http://127.0.0.1:$port/ui/app.js")" = 304 ] ||
  { echo "valgrind: GET /ui/app.js with its ETag is not 304"; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ui/nope.js")" = 404 ] ||
  { echo "valgrind: GET /ui/nope.js is not 404"; exit 1; }
for path in "/runs?limit=1" "/runs?since=2020-01-01T00:00:00Z&until=2100-01-01T00:00:00Z" /me "/runs/$eid" "/runs/$eid/graph" "/runs/$eid/evidence" /approvals /audit/verify "/audit?run=$eid"; do
  curl -sf -o /dev/null -H "Authorization: Bearer $stok" "http://127.0.0.1:$port/api/v1$path" ||
    { echo "valgrind: GET /api/v1$path failed"; exit 1; }
done
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $stok" "http://127.0.0.1:$port/api/v1/runs?limit=501")" = 400 ] ||
  { echo "valgrind: GET /api/v1/runs?limit=501 is not 400"; exit 1; }
# the CLI against the server (cli/remote.c: libcurl, the error JSON back to an exit code)
WEFT_TOKEN=$stok vg 0 --server "http://127.0.0.1:$port" status "$eid"
WEFT_TOKEN=$stok vg 0 --server "http://127.0.0.1:$port" runs --json
WEFT_TOKEN=$stok vg 0 --server "http://127.0.0.1:$port" logs "$eid"
WEFT_TOKEN=$stok vg 4 --server "http://127.0.0.1:$port" status 01NOSUCHRUN
WEFT_TOKEN=weft_bad vg 2 --server "http://127.0.0.1:$port" runs
# live events: a replay from the start, then the resumed run's transitions
curl -sN --max-time 300 -H "Authorization: Bearer $stok" "http://127.0.0.1:$port/api/v1/events/stream?after=0" \
  >"$tmp/sse" 2>&1 & cp=$!
for _ in $(seq 1 600); do
  "$W" status "$lid" --json | grep -q '"status": "succeeded"' && break
  sleep 0.1
done
"$W" status "$lid" --json | grep -q '"status": "succeeded"' || { echo "valgrind: the server did not finish $lid"; exit 1; }
for _ in $(seq 1 600); do
  grep -q "\"run\":\"$lid\",\"workflow\":\"left\",.*\"status\":\"succeeded\"" "$tmp/sse" && break
  sleep 0.1
done
grep -q "\"run\":\"$lid\",\"workflow\":\"left\",.*\"status\":\"succeeded\"" "$tmp/sse" ||
  { echo "valgrind: the event stream lacks the run's end"; cat "$tmp/sse"; exit 1; }
# the workflow routes: deploy (new, invalid), list, one, start twice with one key
api() { # api EXPECTED_CODE METHOD PATH [curl args...]
  local want=$1 m=$2 p=$3; shift 3
  local code
  code=$(curl -s -o "$tmp/api" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $optok" "$@" "http://127.0.0.1:$port$p")
  [ "$code" = "$want" ] || { echo "valgrind: $m $p answered $code (wanted $want): $(cat "$tmp/api")"; exit 1; }
}
{ cat examples/hello.yaml; echo "# v2"; } > "$tmp/hello2.yaml"
api 201 POST /api/v1/workflows -H 'Content-Type: application/yaml' --data-binary @"$tmp/hello2.yaml"
api 422 POST '/api/v1/workflows?file=bad.yaml' -H 'Content-Type: text/yaml' --data-binary @"$tmp/bad.yaml"
api 415 POST /api/v1/workflows -H 'Content-Type: application/json' --data-binary @"$tmp/bad.yaml"
api 200 GET /api/v1/workflows
api 200 GET /api/v1/workflows/hello
api 404 GET /api/v1/workflows/nope
api 201 POST /api/v1/workflows/hello/runs -H 'Content-Type: application/json' -d '{"inputs": {"who": "vg"}, "idempotency_key": "k"}'
sid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$tmp/api")
api 200 POST /api/v1/workflows/hello/runs -H 'Content-Type: application/json' -d '{"idempotency_key": "k"}'
api 422 POST /api/v1/workflows/hello/runs -H 'Content-Type: application/json' -d '{"inputs": {"zz": 1}}'
for _ in $(seq 1 600); do
  "$W" status "$sid" --json | grep -q '"status": "succeeded"' && break
  sleep 0.1
done
"$W" status "$sid" --json | grep -q '"status": "succeeded"' || { echo "valgrind: run $sid (API) did not succeed"; exit 1; }
for _ in $(seq 1 600); do # the run the server started is on the event stream too
  grep -q "\"run\":\"$sid\",\"workflow\":\"hello\",.*\"status\":\"succeeded\"" "$tmp/sse" && break
  sleep 0.1
done
grep -q "\"run\":\"$sid\",\"workflow\":\"hello\",.*\"status\":\"succeeded\"" "$tmp/sse" ||
  { echo "valgrind: the event stream lacks the API run's end"; exit 1; }
# triggers: a schedule fires, a signed webhook starts a run, GET /schedules,
# weft schedules / backfill / event send beside the server
printf '{"tok": "vg-s3cret/x", "HOOK": "vg-hook-key"}' > "$WEFT_HOME/secrets.json"
cat > "$tmp/trig.yaml" <<'YAML'
name: trig
triggers:
  - {schedule: "@every 1s", inputs: {at: "${{ .trigger.scheduled_for }}"}}
  - {webhook: vg-hook, secret: HOOK, if: "${{ .trigger.body.go }}"}
  - {event: vg-go, match: "${{ .event.go }}"}
inputs:
  at: {type: string, default: ""}
steps:
  a: {run: 'echo "$AT"', env: {AT: "${{ .inputs.at }}"}}
YAML
api 201 POST /api/v1/workflows -H 'Content-Type: application/yaml' --data-binary @"$tmp/trig.yaml"
vg 0 schedules
vg 0 schedules --json
vg 0 backfill trig --from 2026-01-01T00:00:00Z --to 2026-01-01T00:00:03Z --max-runs-at-once 2
vg 0 event send vg-go --data '{"go": true}' --json
body='{"go": true}'
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac vg-hook-key | sed 's/^.* //')
api 202 POST /api/v1/hooks/vg-hook -H "X-Hub-Signature-256: sha256=$sig" -H 'X-GitHub-Delivery: d1' -H 'Content-Type: application/json' -d "$body"
api 200 POST /api/v1/hooks/vg-hook -H "X-Hub-Signature-256: sha256=$sig" -H 'X-GitHub-Delivery: d1' -H 'Content-Type: application/json' -d "$body"
api 401 POST /api/v1/hooks/vg-hook -H 'X-Hub-Signature-256: sha256=00' -H 'Content-Type: application/json' -d "$body"
api 200 GET /api/v1/schedules
for _ in $(seq 1 600); do
  [ "$("$W" runs --workflow trig --status succeeded --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" -ge 8 ] && break
  sleep 0.1
done
"$W" audit export > "$tmp/trig-audit"
python3 -c 'import json,sys
fired = [e for e in map(json.loads, open(sys.argv[1])) if e["kind"] == "run.created"
         and e["data"].get("scheduled_for", "2026-01-01").startswith("2026-01-01") is False]
sys.exit(0 if fired else 1)' "$tmp/trig-audit" || { echo "valgrind: the schedule did not fire"; exit 1; }
kill -HUP "$sp"
for _ in $(seq 1 600); do [ "$(grep -c -- '--workflows' "$tmp/srverr")" -ge 2 ] && break; sleep 0.1; done
kill -TERM "$sp"
src=0; wait "$sp" || src=$?
if [ "$src" != 0 ]; then echo "valgrind: weft server exited $src"; tail -40 "$tmp/srverr"; exit 1; fi
crc=0; wait "$cp" || crc=$?  # the stream ends with the server
[ "$crc" = 0 ] || { echo "valgrind: the event stream ended with curl exit $crc"; exit 1; }
echo "ok: weft server (resumed a run, deployed and started workflows, fired triggers, served, streamed events, stopped on SIGTERM)"
echo "valgrind: clean"
