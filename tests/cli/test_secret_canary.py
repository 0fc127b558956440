"""End-to-end: one canary secret pushed through every sink weft has, and
looked for everywhere afterwards, in every form weft masks (as is,
JSON-escaped, URL-encoded, base64 at every alignment and alphabet, hex, each
line of a multi-line secret):

- step logs (`weft logs`, `-v`), $WEFT_OUTPUT files, step and run outputs;
- `weft status` (text and --json), `weft runs`, weft's own stdout/stderr
  (progress lines, the failure summary and its log tail);
- error messages: an expression failing with the secret in its message, a
  program failing after printing it;
- an http step sending it to a local server that echoes it back (body and
  headers: the http outputs);
- an agent step against a fake model server that echoes it back (the
  transcript in the store, the outputs) and a tool that prints it;
- an approval message holding it;
- the audit and evidence export (`weft audit export`);
- every file under the weft home, raw bytes: weft.db and its -wal/-shm, logs,
  output files, workspaces.
"""
from harness import WeftTest, main
import pgcluster
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import base64
import json
import os
import subprocess
import threading
import urllib.parse

CANARY = 'cNry-4417/"q"+z=Tk'
PEM = ("-----BEGIN TEST KEY-----\nQ2FuYXJ5TGluZU9uZXh4eA\nQ2FuYXJ5TGluZVR3b3l5eQ\n"
       "-----END TEST KEY-----")


def forms(v):
    b = v.encode()
    out = {v, json.dumps(v)[1:-1], urllib.parse.quote(v, safe=""), urllib.parse.quote_plus(v),
           urllib.parse.quote(v, safe="").lower(), b.hex(), b.hex().upper()}
    for a in range(3):  # the base64 characters that depend on the secret alone
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            e = enc(b"\0" * a + b).decode()
            start, end = (8 * a + 5) // 6, 8 * (a + len(b)) // 6
            out.add(e[start:end])
    return out


BAD = forms(CANARY) | {line for line in PEM.split("\n") if len(line) >= 8} | {
    json.dumps(PEM)[1:-1]}


class Echo(BaseHTTPRequestHandler):
    """/echo returns what it was sent (header and body) in its body and in a
    header; /v1/chat/completions answers with the last message echoed, after
    asking once for the `peek` tool."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, status, body, extra=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode()
        with self.server.lock:
            self.server.seen.append(raw)
        if self.path == "/echo":
            key = self.headers.get("X-Key", "")
            return self.send(200, {"key": key, "body": raw}, {"X-Echo": key})
        body = json.loads(raw)
        last = body["messages"][-1]
        if last["role"] == "user":
            msg = {"role": "assistant", "content": None,
                   "tool_calls": [{"id": "c1", "type": "function",
                                   "function": {"name": "peek", "arguments": "{}"}}]}
        else:
            msg = {"role": "assistant", "content": "echo: " + last["content"]}
        return self.send(200, {"id": "x", "object": "chat.completion", "model": "fake",
                               "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}],
                               "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                         "total_tokens": 2}})


class Canary(WeftTest):
    def setUp(self):
        super().setUp()
        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
        self.srv.daemon_threads = True
        self.srv.lock = threading.Lock()
        self.srv.seen = []
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.base = "http://127.0.0.1:%d" % self.srv.server_address[1]
        os.makedirs(self.home, exist_ok=True)
        p = os.path.join(self.home, "secrets.json")
        with open(p, "w") as f:
            json.dump({"canary": CANARY, "pem": PEM}, f)
        os.chmod(p, 0o600)
        self.env["WEFT_LLM_URL"] = self.base + "/v1"
        self.env["WEFT_LLM_API_KEY"] = "sk-test"

    def tearDown(self):
        self.srv.shutdown()
        self.srv.server_close()
        super().tearDown()

    def assertClean(self, text, where):
        for b in BAD:
            self.assertNotIn(b, text, "%r found in %s" % (b, where))

    def test_canary_appears_nowhere(self):
        p = self.write("w.yaml", """
            name: canary
            steps:
              show:
                env: {TOKEN: "${{ .secrets.canary }}", PEM: "${{ .secrets.pem }}"}
                run: |
                  echo "raw $TOKEN"
                  echo "stderr $TOKEN" >&2
                  python3 - <<'EOF'
                  import base64, json, os, urllib.parse as u
                  t = os.environ["TOKEN"].encode()
                  print(json.dumps(os.environ["TOKEN"]), u.quote(t, safe=""), t.hex())
                  for pre in (b"", b"u", b"us"):  # inside a longer base64 text
                      print(base64.b64encode(pre + t + b"!").decode(),
                            base64.urlsafe_b64encode(pre + t).decode().rstrip("="))
                  print("auth", base64.b64encode(b"user:" + t).decode())
                  print("pem line", os.environ["PEM"].split("\\n")[2])
                  with open(os.environ["WEFT_OUTPUT"], "a") as f:
                      f.write("tok=%s\\nb64=%s\\nhex=%s\\n" % (t.decode(),
                              base64.b64encode(t).decode(), t.hex()))
                  EOF
              bad_expr:
                set: {x: '${{ error("bad token " + .secrets.canary) }}'}
                continue_on_error: true
              call:
                http:
                  method: POST
                  url: "BASE/echo"
                  headers: {X-Key: "${{ .secrets.canary }}"}
                  json: {token: "${{ .secrets.canary }}"}
              ask:
                agent:
                  prompt: "the token is ${{ .secrets.canary }}"
                  tools:
                    peek:
                      description: Print the token
                      command: [sh, -c, 'echo "peek $T"']
              gate:
                approval:
                  message: "deploy with ${{ .secrets.canary }}?"
                  timeout: 100ms
                  on_timeout: approve
              boom:
                needs: [show, call, ask, gate, bad_expr]
                env: {T: "${{ .secrets.canary }}"}
                run: |
                  echo "failing with $T" >&2
                  exit 3
            outputs:
              leaked: "${{ .secrets.canary }}"
              echoed: "${{ .steps.call.outputs.body }}"
              said: "${{ .steps.ask.outputs.text }}"
        """.replace("BASE", self.base))
        # the agent tool's command needs T: give it through the environment
        # of weft (tools inherit it), so that the tool really prints the secret
        env = dict(self.env, T=CANARY)
        outs = []
        r = self.weft("run", p, "-v", env=env)
        outs.append(("run -v", r))
        self.assertExit(r, 1)
        self.assertIn("***", r.out + r.err)
        rid = self.latest()["id"]
        j = self.weft("status", rid, "--json").json()
        # the sinks really carried the secret (so finding none means masking)
        self.assertTrue(any(json.dumps(CANARY)[1:-1] in s for s in self.srv.seen))  # sent
        self.assertEqual(j["outputs"]["leaked"], "***")
        self.assertEqual(j["steps"]["show"]["outputs"]["tok"], "***")
        self.assertEqual(j["steps"]["show"]["outputs"]["b64"], "***")
        self.assertEqual(j["steps"]["call"]["outputs"]["headers"]["x-echo"], "***")
        self.assertEqual(j["steps"]["call"]["outputs"]["body"]["key"], "***")
        self.assertIn("***", j["steps"]["ask"]["outputs"]["text"])
        self.assertIn("***", j["steps"]["bad_expr"]["error"]["message"])
        self.assertEqual(j["steps"]["boom"]["status"], "failed")
        for args in (["status", rid], ["status", rid, "--json"], ["runs"], ["runs", "--json"],
                     ["logs", rid], ["logs", rid, "show"], ["logs", rid, "boom"],
                     ["logs", rid, "ask"], ["audit", "export"], ["audit", "export", rid],
                     ["audit", "verify"], ["approvals", "--json"]):
            outs.append((" ".join(args), self.weft(*args)))
        self.assertIn("***", self.weft("logs", rid, "show").out)
        for what, res in outs:
            self.assertClean(res.out, "stdout of weft " + what)
            self.assertClean(res.err, "stderr of weft " + what)
        scanned = []
        for root, _, files in os.walk(self.home):
            for name in files:
                if name == "secrets.json":
                    continue
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    data = f.read().decode("latin-1")
                scanned.append(name)
                self.assertClean(data, path)
        if self.pg is None:
            self.assertIn("weft.db", scanned)
        else:  # WEFT_TEST_STORE=postgres: the whole database, as pg_dump writes it
            db = self.env["WEFT_STORE"].split("/")[3].split("?")[0]
            dump = subprocess.run([os.path.join(pgcluster.PG_BIN, "pg_dump"), "-h", self.pg.dir,
                                   "-U", "weft", "-d", db], capture_output=True, text=True,
                                  timeout=120)
            self.assertEqual(dump.returncode, 0, dump.stderr)
            self.assertIn("CREATE TABLE public.audit", dump.stdout)
            self.assertClean(dump.stdout, "the PostgreSQL database (pg_dump)")


if __name__ == "__main__":
    main()
