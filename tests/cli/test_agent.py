"""End-to-end: `agent` steps against a scripted mock of an OpenAI-compatible
chat-completions server that this test starts on 127.0.0.1. The mock records
every request and replays scripted answers: text, JSON, tool calls, malformed
JSON, 429 and 500. Also: the tool loop (command and http tools), max_turns,
the schema check with retry, the audit entries, and a SIGKILL in the middle of
the tool loop followed by `weft resume`, which must not ask the model again for
the turn already recorded (counted at the mock)."""
from harness import WeftTest, main, ROOT
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import hashlib
import json
import os
import signal
import threading
import time
import unittest


def reply(content=None, tool_calls=None, usage=(10, 5)):
    msg = {"role": "assistant", "content": content}
    if tool_calls:
        msg["tool_calls"] = [{"id": "call_%d" % i, "type": "function",
                              "function": {"name": n, "arguments": json.dumps(a)}}
                             for i, (n, a) in enumerate(tool_calls)]
    return {"status": 200, "body": {"id": "x", "object": "chat.completion", "model": "mock-1",
                                    "choices": [{"index": 0, "message": msg,
                                                 "finish_reason": "stop"}],
                                    "usage": {"prompt_tokens": usage[0],
                                              "completion_tokens": usage[1],
                                              "total_tokens": usage[0] + usage[1]}}}


class Mock(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, status, data, ctype="application/json"):
        data = data.encode() if isinstance(data, str) else data
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        srv = self.server
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        if self.path == "/tool/lookup":
            with srv.lock:
                srv.tool_calls.append(json.loads(raw or b"null"))
            return self.send(200, json.dumps({"found": True, "echo": json.loads(raw or b"null")}))
        if self.path != "/v1/chat/completions":
            return self.send(404, "{}")
        with srv.lock:
            srv.requests.append({"body": json.loads(raw), "raw": raw,
                                 "auth": self.headers.get("Authorization")})
            item = srv.script.pop(0) if srv.script else reply("default answer")
        if "raw" in item:
            return self.send(item["status"], item["raw"])
        return self.send(item["status"], json.dumps(item["body"]))


class Agent(WeftTest):
    def setUp(self):
        super().setUp()
        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Mock)
        self.srv.daemon_threads = True
        self.srv.lock = threading.Lock()
        self.srv.requests = []
        self.srv.tool_calls = []
        self.srv.script = []
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.base = "http://127.0.0.1:%d" % self.srv.server_address[1]
        self.env["WEFT_LLM_URL"] = self.base + "/v1"
        self.env["WEFT_LLM_API_KEY"] = "sk-test"
        self.write_users()  # "allow_as": true: the tests decide tool calls --as alice

    def tearDown(self):
        self.srv.shutdown()
        self.srv.server_close()
        super().tearDown()

    def run_wf(self, text, code=0):
        p = self.write("w.yaml", text.replace("BASE", self.base))
        r = self.weft("run", p, "--json")
        self.assertExit(r, code)
        return r.json()

    def test_text_reply_and_request_shape(self):
        self.srv.script = [reply("Looks good.", usage=(12, 3))]
        j = self.run_wf("""
            name: review
            inputs:
              diff: {type: string, default: "+ added a line"}
            steps:
              review:
                agent:
                  model: gpt-4o-mini
                  system: You are a meticulous reviewer.
                  prompt: "Review this diff: ${{ .inputs.diff }}"
                  temperature: 0.2
                  max_tokens: 100
        """)
        o = j["steps"]["review"]["outputs"]
        self.assertEqual(o["text"], "Looks good.")
        self.assertEqual(o["turns"], 1)
        self.assertEqual(o["usage"], {"prompt_tokens": 12, "completion_tokens": 3,
                                      "total_tokens": 15})
        self.assertNotIn("json", o)
        req = self.srv.requests[0]
        self.assertEqual(req["auth"], "Bearer sk-test")
        b = req["body"]
        self.assertEqual(b["model"], "gpt-4o-mini")
        self.assertEqual(b["temperature"], 0.2)
        self.assertEqual(b["max_tokens"], 100)
        self.assertEqual(b["messages"], [
            {"role": "system", "content": "You are a meticulous reviewer."},
            {"role": "user", "content": "Review this diff: + added a line"}])
        self.assertNotIn("tools", b)
        # the audit log has the model, the tokens and the hashes of prompt and reply
        audit = [json.loads(l) for l in
                 self.weft("audit", "export", j["id"]).out.splitlines()]
        turns = [e["data"] for e in audit if e["kind"] == "agent.turn"]
        self.assertEqual(len(turns), 1)
        t = turns[0]
        self.assertEqual(t["model"], "mock-1")
        self.assertEqual((t["prompt_tokens"], t["completion_tokens"]), (12, 3))
        self.assertEqual(t["prompt_sha256"], hashlib.sha256(req["raw"]).hexdigest())
        self.assertRegex(t["reply_sha256"], "^[0-9a-f]{64}$")
        self.assertExit(self.weft("audit", "verify"), 0)

    def test_json_output_schema_failure_is_retried(self):
        self.srv.script = [reply('{"verdict": 3}'), reply("```json\n{\"verdict\": \"ok\", \"n\": [1]}\n```")]
        j = self.run_wf("""
            name: judge
            steps:
              judge:
                retry: {attempts: 2, delay: 10ms}
                agent:
                  prompt: Judge it
                  output: json
                  schema:
                    type: object
                    required: [verdict]
                    properties:
                      verdict: {type: string, enum: [ok, bad]}
                      n: {type: array, items: {type: integer}}
        """)
        s = j["steps"]["judge"]
        self.assertEqual(s["attempts"], 2)
        self.assertEqual(s["outputs"]["json"], {"verdict": "ok", "n": [1]})
        self.assertEqual(self.srv.requests[0]["body"]["response_format"], {"type": "json_object"})
        self.assertEqual(len(self.srv.requests), 2)

    def test_schema_and_model_failures_have_kind_agent(self):
        cases = [
            (reply('{"other": 1}'), "required"),
            (reply("not json at all"), "not JSON"),
            ({"status": 200, "raw": "{malformed"}, "chat completion"),
            ({"status": 429, "raw": '{"error":"rate limited"}'}, "429"),
            ({"status": 500, "raw": "oops"}, "500"),
        ]
        for item, words in cases:
            with self.subTest(words=words):
                self.srv.script = [item]
                j = self.run_wf("""
                    name: fails
                    steps:
                      a: {agent: {prompt: hi, output: json, schema: {required: [verdict]}}}
                """, code=1)
                e = j["steps"]["a"]["error"]
                self.assertEqual(e["kind"], "agent", e)
                self.assertIn(words, e["message"])

    def test_429_then_success_with_retry(self):
        self.srv.script = [{"status": 429, "raw": "{}"}, {"status": 500, "raw": "{}"},
                           reply("fine")]
        j = self.run_wf("""
            name: retry
            steps:
              a: {agent: {prompt: hi}, retry: {attempts: 3, delay: 10ms}}
        """)
        self.assertEqual(j["steps"]["a"]["outputs"]["text"], "fine")
        self.assertEqual(len(self.srv.requests), 3)

    def test_tool_loop_command_and_http_tools(self):
        self.srv.script = [
            reply(None, [("count", {"word": "weft"})]),
            reply(None, [("lookup", {"key": "k1"}), ("nope", {})]),
            reply("All done"),
        ]
        j = self.run_wf("""
            name: tools
            steps:
              a:
                agent:
                  prompt: Use the tools
                  max_turns: 5
                  tools:
                    count:
                      description: Count letters
                      parameters: {type: object, properties: {word: {type: string}}}
                      command: [sh, -c, 'printf "n=%s\\n" "$(printf %s "$1" | wc -c)" > "$WEFT_OUTPUT"; echo "args=$WEFT_TOOL_ARGS"', sh, "${{ .args.word }}"]
                    lookup:
                      description: Look up a key
                      http: {method: POST, url: "BASE/tool/lookup", json: {key: "${{ .args.key }}"}}
        """)
        o = j["steps"]["a"]["outputs"]
        self.assertEqual(o["text"], "All done")
        self.assertEqual(o["turns"], 3)
        self.assertEqual(o["usage"]["total_tokens"], 45)
        self.assertEqual(len(self.srv.requests), 3)
        first = self.srv.requests[0]["body"]
        names = sorted(t["function"]["name"] for t in first["tools"])
        self.assertEqual(names, ["count", "lookup"])
        msgs = self.srv.requests[1]["body"]["messages"]
        self.assertEqual(msgs[-2]["role"], "assistant")
        self.assertEqual(msgs[-1]["role"], "tool")
        self.assertEqual(msgs[-1]["tool_call_id"], "call_0")
        self.assertEqual(json.loads(msgs[-1]["content"]), {"n": 4})
        msgs = self.srv.requests[2]["body"]["messages"]
        self.assertEqual(json.loads(msgs[-2]["content"])["body"],
                         {"found": True, "echo": {"key": "k1"}})
        self.assertIn("no tool named", msgs[-1]["content"])
        self.assertEqual(self.srv.tool_calls, [{"key": "k1"}])

    def test_stdout_goes_back_when_no_outputs(self):
        self.srv.script = [reply(None, [("hello", {"x": 1})]), reply("ok")]
        self.run_wf("""
            name: stdout
            steps:
              a:
                agent:
                  prompt: go
                  tools:
                    hello: {command: [sh, -c, 'echo "got $WEFT_TOOL_ARGS"; echo "noise" >&2']}
        """)
        msgs = self.srv.requests[1]["body"]["messages"]
        # stdout alone goes back to the model (LANGUAGE.md); stderr is logged
        self.assertEqual(msgs[-1]["content"], 'got {"x":1}\n')

    def test_max_turns(self):
        self.srv.script = [reply(None, [("t", {})]) for _ in range(5)]
        j = self.run_wf("""
            name: turns
            steps:
              a:
                agent:
                  prompt: go
                  max_turns: 2
                  tools:
                    t: {command: ["true"]}
        """, code=1)
        e = j["steps"]["a"]["error"]
        self.assertEqual(e["kind"], "agent")
        self.assertIn("max_turns", e["message"])
        self.assertEqual(len(self.srv.requests), 2)

    APPROVAL_WF = """
        name: appr
        steps:
          a:
            agent:
              prompt: go
              tools:
                deploy:
                  description: Deploy a version
                  command: [sh, -c, 'echo "deployed $0" >> "$WEFT_WORKSPACE/deploys"; echo ok=1 > "$WEFT_OUTPUT"', "${{ .args.version }}"]
                  approval: true
    """

    def approvals(self):
        r = self.weft("approvals", "--json")
        self.assertExit(r, 0)
        return r.json()

    def waiting_tool(self):
        return self.wait_for(lambda: next((x for x in self.approvals() if x["step"] == "a"), None),
                             "the tool call in weft approvals")

    def test_approval_tool_waits_for_a_human_then_runs(self):
        self.srv.script = [reply(None, [("deploy", {"version": "v2"})]), reply("deployed")]
        proc = self.spawn("run", self.write("w.yaml", self.APPROVAL_WF), "--json")
        w = self.waiting_tool()
        self.assertEqual(w.get("tool"), "deploy")
        self.assertIn("v2", w["message"])
        time.sleep(0.3)
        self.assertEqual(len(self.srv.requests), 1)  # waiting: nothing else happens
        self.assertIsNone(proc.poll())
        r = self.weft("approve", w["run"], "a", "--as", "alice")
        self.assertExit(r, 0)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        j = json.loads(out)
        self.assertEqual(j["steps"]["a"]["outputs"]["text"], "deployed")
        ws = os.path.join(self.home, "workspaces", j["id"])
        self.assertEqual(open(os.path.join(ws, "deploys")).read(), "deployed v2\n")
        self.assertEqual(json.loads(self.srv.requests[1]["body"]["messages"][-1]["content"]),
                         {"ok": 1})

    def test_rejected_tool_call_is_told_to_the_model(self):
        self.srv.script = [reply(None, [("deploy", {"version": "v3"})]), reply("ok, not deploying")]
        proc = self.spawn("run", self.write("w.yaml", self.APPROVAL_WF), "--json")
        w = self.waiting_tool()
        r = self.weft("reject", w["run"], "a", "--as", "alice", "--comment", "not today")
        self.assertExit(r, 0)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        j = json.loads(out)
        self.assertEqual(j["steps"]["a"]["outputs"]["text"], "ok, not deploying")
        content = json.loads(self.srv.requests[1]["body"]["messages"][-1]["content"])
        self.assertIn("rejected", content["error"])
        self.assertIn("not today", content["error"])
        ws = os.path.join(self.home, "workspaces", j["id"])
        self.assertFalse(os.path.exists(os.path.join(ws, "deploys")))

    def test_approval_survives_a_crash(self):
        self.srv.script = [reply(None, [("deploy", {"version": "v4"})]), reply("done")]
        proc = self.spawn("run", self.write("w.yaml", self.APPROVAL_WF))
        w = self.waiting_tool()
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        # decided while no engine runs; the resumed run takes the decision up
        r = self.weft("approve", w["run"], "a", "--as", "alice")
        self.assertExit(r, 0)
        r = self.weft("resume", "--json")
        self.assertExit(r, 0)
        j = r.json()
        self.assertEqual(j["steps"]["a"]["outputs"]["text"], "done")
        self.assertEqual(len(self.srv.requests), 2)
        ws = os.path.join(self.home, "workspaces", j["id"])
        self.assertEqual(open(os.path.join(ws, "deploys")).read(), "deployed v4\n")

    def test_secrets_reach_the_model_but_not_the_store(self):
        canary = "canary-5ecret-9731"
        self.env["WEFT_SECRET_llm_key"] = "sk-" + canary
        self.env["WEFT_SECRET_token"] = canary
        self.srv.script = [reply(None, [("echo", {})]), reply("said " + canary)]
        j = self.run_wf("""
            name: secret
            steps:
              a:
                agent:
                  api_key: "${{ .secrets.llm_key }}"
                  prompt: "the token is ${{ .secrets.token }}"
                  tools:
                    echo: {command: [sh, -c, 'echo "$0"', "${{ .secrets.token }}"]}
        """)
        self.assertEqual(self.srv.requests[0]["auth"], "Bearer sk-" + canary)
        self.assertIn(canary, self.srv.requests[0]["body"]["messages"][-1]["content"])
        # a program tool's output is masked like its log: the model gets ***
        self.assertEqual(self.srv.requests[1]["body"]["messages"][-1]["content"], "***\n")
        self.assertNotIn(canary, json.dumps(j))
        for root, _, files in os.walk(self.home):
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    self.assertNotIn(canary.encode(), fh.read(), os.path.join(root, f))

    def test_workflow_tool_runs_a_child_run(self):
        self.write("lookup.yaml", """
            name: lookup
            inputs:
              key: {type: string, required: true}
            steps:
              find: {set: {value: "value-of-${{ .inputs.key }}"}}
            outputs:
              value: ${{ .steps.find.outputs.value }}
        """)
        self.srv.script = [reply(None, [("lookup", {"key": "k9"}), ("lookup", {})]),
                           reply("found it")]
        j = self.run_wf("""
            name: wftool
            steps:
              a:
                agent:
                  prompt: go
                  tools:
                    lookup:
                      parameters: {type: object, properties: {key: {type: string}}}
                      workflow: {file: lookup.yaml, inputs: {key: "${{ .args.key }}"}}
        """)
        self.assertEqual(j["steps"]["a"]["outputs"]["text"], "found it")
        msgs = self.srv.requests[1]["body"]["messages"]
        self.assertEqual(json.loads(msgs[-2]["content"]), {"value": "value-of-k9"})
        # missing required input: the model is told, the loop goes on
        self.assertIn("inputs", json.loads(msgs[-1]["content"])["error"])
        kids = [r for r in self.weft("runs", "--json").json() if r["workflow"] == "lookup"]
        self.assertEqual(len(kids), 1)

    def test_workflow_tool_by_name_runs_the_newest_deployed_version(self):
        lookup = self.write("lookup.yaml", """
            name: lookup
            inputs:
              key: {type: string, required: true}
            steps:
              find: {set: {value: "v1-${{ .inputs.key }}"}}
            outputs:
              value: ${{ .steps.find.outputs.value }}
        """)
        self.assertExit(self.weft("deploy", lookup), 0)
        with open(lookup) as f:
            text = f.read()
        with open(lookup, "w") as f:
            f.write(text.replace("v1-", "v2-"))
        self.assertExit(self.weft("deploy", lookup), 0)
        self.srv.script = [reply(None, [("lookup", {"key": "k9"}), ("other", {})]), reply("found it")]
        j = self.run_wf("""
            name: wfname
            steps:
              a:
                agent:
                  prompt: go
                  tools:
                    lookup:
                      parameters: {type: object, properties: {key: {type: string}}}
                      workflow: {name: lookup, inputs: {key: "${{ .args.key }}"}}
                    other:
                      parameters: {type: object}
                      workflow: {name: never-deployed}
        """)
        self.assertEqual(j["steps"]["a"]["outputs"]["text"], "found it")
        msgs = self.srv.requests[1]["body"]["messages"]
        self.assertEqual(json.loads(msgs[-2]["content"]), {"value": "v2-k9"})
        # a name never deployed: the model is told, the loop goes on
        self.assertIn('no workflow named "never-deployed" is deployed', json.loads(msgs[-1]["content"])["error"])

    def test_no_endpoint(self):
        del self.env["WEFT_LLM_URL"]
        j = self.run_wf("""
            name: noep
            steps:
              a: {agent: {prompt: hi}}
        """, code=1)
        self.assertIn("WEFT_LLM_URL", j["steps"]["a"]["error"]["message"])

    def test_timeout_while_waiting_for_the_model(self):
        # a model that never answers in time: the mock sleeps
        orig = Mock.do_POST

        def slow(h):
            time.sleep(3)
            return orig(h)
        Mock.do_POST = slow
        try:
            j = self.run_wf("""
                name: slowmodel
                steps:
                  a: {agent: {prompt: hi}, timeout: 200ms}
            """, code=1)
        finally:
            Mock.do_POST = orig
        self.assertEqual(j["steps"]["a"]["error"]["kind"], "timeout")

    def test_timeout_while_a_tool_runs_kills_it(self):
        self.srv.script = [reply(None, [("slow", {})])]
        pidfile = os.path.join(self.tmp, "tool.pid")
        j = self.run_wf("""
            name: slowtool
            steps:
              a:
                timeout: 3s
                agent:
                  prompt: go
                  tools:
                    slow: {command: [sh, -c, 'echo $$ > "$0"; exec sleep 300', PIDFILE]}
        """.replace("PIDFILE", pidfile), code=1)
        self.assertEqual(j["steps"]["a"]["error"]["kind"], "timeout")
        pid = int(open(pidfile).read())
        self.wait_for(lambda: not os.path.exists("/proc/%d" % pid) or
                      open("/proc/%d/stat" % pid).read().split(")")[-1].split()[0] == "Z",
                      "the tool process to be gone")
        self.assertEqual(len(self.srv.requests), 1)

    def test_sigkill_in_tool_loop_resumes_without_asking_again(self):
        self.srv.script = [reply(None, [("work", {"n": 1})], usage=(7, 1)),
                           reply("finished", usage=(9, 2))]
        marker = os.path.join(self.tmp, "tool-started")
        p = self.write("w.yaml", """
            name: crashy
            steps:
              a:
                agent:
                  prompt: go
                  tools:
                    work:
                      command:
                        - sh
                        - -c
                        - |
                          if [ -e "$0" ]; then echo "second" >> "$0.runs"; echo 'r=2' > "$WEFT_OUTPUT"; exit 0; fi
                          touch "$0"; sleep 300
                        - MARKER
        """.replace("MARKER", marker))
        proc = self.spawn("run", p)
        self.wait_for(lambda: os.path.exists(marker), "the tool to start")
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        self.assertEqual(len(self.srv.requests), 1)
        r = self.weft("resume", "--json")
        self.assertExit(r, 0)
        j = r.json()
        a = j["steps"]["a"]
        self.assertEqual(a["status"], "succeeded")
        self.assertEqual(a["attempts"], 2)
        self.assertEqual(a["outputs"]["text"], "finished")
        self.assertEqual(a["outputs"]["turns"], 2)
        self.assertEqual(a["outputs"]["usage"]["total_tokens"], 19)
        # the model was asked twice in all: the recorded first turn was not asked again
        self.assertEqual(len(self.srv.requests), 2)
        msgs = self.srv.requests[1]["body"]["messages"]
        self.assertEqual(json.loads(msgs[-1]["content"]), {"r": 2})
        self.assertExit(self.weft("audit", "verify"), 0)

    def test_writer_critic_example(self):
        self.srv.script = [
            reply("Draft one."), reply('{"approved": false, "feedback": "too short"}'),
            reply("Draft two, longer."), reply('{"approved": true, "feedback": "good"}'),
        ]
        r = self.weft("run", os.path.join(ROOT, "examples", "writer-critic.yaml"), "--json",
                      "-i", "topic=queues")
        self.assertExit(r, 0)
        j = r.json()
        self.assertEqual(j["outputs"]["text"], "Draft two, longer.")
        self.assertEqual(j["outputs"]["feedback"], "good")
        self.assertEqual(j["outputs"]["rounds"], 2)  # was always null (.steps.round.iteration)
        self.assertEqual(len(self.srv.requests), 4)
        critic = self.srv.requests[3]["body"]["messages"]
        self.assertIn("Draft two, longer.", critic[-1]["content"])
        self.assertIn("queues", self.srv.requests[0]["body"]["messages"][-1]["content"])


if __name__ == "__main__":
    main()
