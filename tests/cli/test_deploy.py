"""End-to-end: deployed workflows. `weft deploy` (new, identical, changed,
invalid) and `weft workflows` in a home; `workflow: {name: NAME}` steps
start the newest deployed version; then a real `weft server` with
`--workflows DIR` (a broken file skipped, SIGHUP picks up a new one) and the
API with tokens and roles: POST/GET /workflows, starting runs with typed
inputs and KEY=VALUE texts, idempotency keys, runs pinned to their version
across a redeploy, the statuses of every refusal, and the curl lines of
docs/server.md's "Deploy workflows"."""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

from harness import BIN, ROOT, WeftTest, main

LISTEN_RE = re.compile(r"server listening on (\S+?) \(pid")

HELLO = """
    name: hello
    description: says hello
    inputs:
      who: {type: string, default: world}
      n: {type: integer, default: 1}
    triggers:
      - schedule: "0 3 * * *"
      - event: go
    steps:
      greet:
        run: echo "text=hello $WHO $N" >> "$WEFT_OUTPUT"
        env: {WHO: "${{ .inputs.who }}", N: "${{ .inputs.n }}"}
    outputs:
      text: ${{ .steps.greet.outputs.text }}
"""

BROKEN = """
    name: broken
    steps:
      x:
        run: 1
        nope: 2
"""


def read(path):
    with open(path) as f:
        return f.read()


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


class Server:
    """A running `weft server` on a free loopback port; stderr to a file."""

    def __init__(self, test, *args):
        self.test = test
        self.log_path = os.path.join(test.tmp, f"server-{time.time_ns()}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN, "server", "--listen", "127.0.0.1:0", *args], cwd=test.tmp,
                                     env=test.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        test.addCleanup(self.kill)
        self.base = "http://" + test.wait_for(self._addr, "the server's start line")

    def _addr(self):
        m = LISTEN_RE.search(self.text())
        if m:
            return m.group(1)
        if self.proc.poll() is not None:
            self.test.fail("the server exited %s: %s" % (self.proc.returncode, self.text()))
        return None

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def call(self, method, path, token=None, body=None, ctype=None):
        headers = {}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str)
                                                         else json.dumps(body).encode())
            headers["Content-Type"] = ctype or ("application/json" if not isinstance(body, (str, bytes))
                                                else "application/yaml")
        if ctype == "":
            headers.pop("Content-Type", None)
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                code, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            code, text = e.code, e.read().decode()
        return code, (json.loads(text) if text else None)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class Deploy(WeftTest):
    def status(self, rid):
        r = self.weft("status", rid, "--json")
        self.assertExit(r, 0)
        return r.json()

    def wait_ended(self, rid):
        return self.wait_for(lambda: (lambda s: s if s["status"] in ("succeeded", "failed", "cancelled")
                                      else None)(self.status(rid)), "run %s to end" % rid)

    # ---- weft deploy and weft workflows in a home -------------------------------------

    def test_deploy_new_identical_changed_and_listed(self):
        path = self.write("hello.yaml", HELLO)
        v1 = read(path)
        r = self.weft("deploy", path)
        self.assertExit(r, 0)
        self.assertEqual(r.out, "deployed hello version 1 (hash %s)\n" % sha(v1)[:8])
        r = self.weft("deploy", path)
        self.assertExit(r, 0)
        self.assertEqual(r.out, "hello unchanged (version 1)\n")
        with open(path, "a") as f:
            f.write("# changed\n")
        v2 = read(path)
        r = self.weft("deploy", "--json", path)
        self.assertExit(r, 0)
        self.assertEqual(r.json(), [{"name": "hello", "version": 2, "hash": sha(v2), "created": True}])
        # back to the first content: a new version (the newest changes)
        with open(path, "w") as f:
            f.write(v1)
        self.assertEqual(self.weft("deploy", path).out, "deployed hello version 3 (hash %s)\n" % sha(v1)[:8])
        r = self.weft("workflows", "--json")
        self.assertExit(r, 0)
        [w] = r.json()
        self.assertEqual((w["name"], w["version"], w["hash"]), ("hello", 3, sha(v1)))
        self.assertTrue(w["deployed_by"])
        one = self.weft("workflows", "hello", "--json").json()
        self.assertEqual([(v["version"], v["hash"]) for v in one["versions"]],
                         [(1, sha(v1)), (2, sha(v2)), (3, sha(v1))])
        self.assertEqual(one["source"], v1)
        self.assertEqual(one["description"], "says hello")
        self.assertEqual([i["name"] for i in one["inputs"]], ["who", "n"])
        self.assertEqual(one["triggers"], [{"schedule": "0 3 * * *"}, {"event": "go"}])
        r = self.weft("workflows")
        self.assertIn("hello", r.out)
        self.assertIn(sha(v1)[:8], r.out)
        # every version is in the audit log, and the chain verifies
        r = self.weft("audit", "export")
        deployed = [json.loads(l) for l in r.out.splitlines() if '"workflow.deployed"' in l]
        self.assertEqual([(e["data"]["name"], e["data"]["version"]) for e in deployed],
                         [("hello", 1), ("hello", 2), ("hello", 3)])
        self.assertExit(self.weft("audit", "verify"), 0)

    def test_an_invalid_file_exits_2_with_file_line_col_and_deploys_nothing(self):
        bad = self.write("broken.yaml", BROKEN)
        good = self.write("hello.yaml", HELLO)
        r = self.weft("deploy", bad, good)
        self.assertExit(r, 2)
        problems = [l for l in r.err.splitlines() if not l.startswith("weft: ")]
        self.assertEqual(problems, [
            bad + ':4:10: "run" in step "x" must be a shell script (a string), not an integer',
            bad + ':5:5: unknown key "nope" in step "x"'])
        self.assertIn("weft: %s is not valid (2 problems); nothing was deployed" % bad, r.err)
        # the good file of the same command was deployed
        self.assertEqual(r.out, "deployed hello version 1 (hash %s)\n" % sha(read(good))[:8])
        self.assertEqual([w["name"] for w in self.weft("workflows", "--json").json()], ["hello"])
        r = self.weft("workflows", "broken")
        self.assertExit(r, 4)
        self.assertIn('no workflow named "broken" is deployed', r.err)
        self.assertExit(self.weft("deploy", os.path.join(self.tmp, "nope.yaml")), 4)
        self.assertExit(self.weft("deploy"), 2)

    def test_workflow_name_steps_start_the_newest_deployed_version(self):
        child = self.write("lib/child.yaml", """
            name: child
            steps:
              s:
                run: echo "v=one" >> "$WEFT_OUTPUT"
            outputs:
              v: ${{ .steps.s.outputs.v }}
        """)
        parent = self.write("parent.yaml", """
            name: parent
            steps:
              call:
                workflow: {name: child}
            outputs:
              v: ${{ .steps.call.outputs.v }}
        """)
        # not deployed yet: the step fails saying so
        r = self.weft("run", parent, "--json")
        self.assertExit(r, 1)
        self.assertIn('no workflow named \\"child\\" is deployed', r.out)
        self.assertExit(self.weft("deploy", child), 0)
        r = self.weft("run", parent, "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["outputs"], {"v": "one"})
        first_child = r.json()["children"][0]["id"]
        text = read(child)
        with open(child, "w") as f:
            f.write(text.replace("v=one", "v=two"))
        self.assertExit(self.weft("deploy", child), 0)
        r = self.weft("run", parent, "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["outputs"], {"v": "two"})
        # the first child run keeps the version it ran
        versions = {v["version"]: v["hash"] for v in self.weft("workflows", "child", "--json").json()["versions"]}
        self.assertEqual(self.status(first_child)["definition"], versions[1])
        self.assertEqual(self.status(r.json()["children"][0]["id"])["definition"], versions[2])

    # ---- the server: --workflows DIR and SIGHUP ---------------------------------------

    def tokens(self):
        self.write_users({"olga": {"role": "operator"}, "vic": {"role": "viewer"}}, allow_as=None)
        op = self.weft("token", "create", "olga")
        vi = self.weft("token", "create", "vic")
        self.assertExit(op, 0)
        self.assertExit(vi, 0)
        return op.out.strip(), vi.out.strip()

    def test_workflows_dir_skips_a_broken_file_and_sighup_deploys_a_new_one(self):
        d = os.path.join(self.tmp, "flows")
        self.write("flows/hello.yaml", HELLO)
        self.write("flows/broken.yaml", BROKEN)
        self.write("flows/notes.txt", "not a workflow")
        op, vi = self.tokens()
        srv = Server(self, "--workflows", d)
        log = srv.text()
        self.assertIn("flows/broken.yaml:4:10: \"run\" in step \"x\" must be a shell script", log)
        self.assertIn("broken.yaml is not valid (2 problems); nothing was deployed; skipped", log)
        self.assertIn("deployed hello version 1", log)
        code, body = srv.call("GET", "/api/v1/workflows", vi)
        self.assertEqual(code, 200)
        self.assertEqual([w["name"] for w in body["workflows"]], ["hello"])
        self.assertEqual(body["workflows"][0]["deployed_by"], "server")
        # a new file and a changed one, picked up by SIGHUP
        self.write("flows/second.yaml", """
            name: second
            steps:
              s: {run: "true"}
        """)
        with open(os.path.join(d, "hello.yaml"), "a") as f:
            f.write("# v2\n")
        srv.proc.send_signal(signal.SIGHUP)
        self.wait_for(lambda: "2 deployed, 0 unchanged, 1 skipped" in srv.text(), "the reload")
        code, body = srv.call("GET", "/api/v1/workflows", vi)
        self.assertEqual([(w["name"], w["version"]) for w in body["workflows"]], [("hello", 2), ("second", 1)])
        # again: nothing changed
        srv.proc.send_signal(signal.SIGHUP)
        self.wait_for(lambda: "0 deployed, 2 unchanged, 1 skipped" in srv.text(), "the second reload")
        self.assertEqual(srv.stop(), 0)
        r = self.weft("server", "--workflows", os.path.join(self.tmp, "nowhere"))
        self.assertExit(r, 2)
        self.assertIn("not a directory", r.err)

    # ---- the API: deploying ------------------------------------------------------------

    def test_api_deploy_statuses_and_roles(self):
        op, vi = self.tokens()
        srv = Server(self)
        text = HELLO.replace("\n    ", "\n").lstrip("\n")
        code, body = srv.call("POST", "/api/v1/workflows", vi, text)
        self.assertEqual(code, 403)
        self.assertEqual(body["error"]["code"], "forbidden")
        code, body = srv.call("POST", "/api/v1/workflows", None, text)
        self.assertEqual(code, 401)
        code, body = srv.call("POST", "/api/v1/workflows", op, text)
        self.assertEqual((code, body), (201, {"name": "hello", "version": 1, "hash": sha(text), "created": True}))
        for ctype in ("text/yaml", "application/x-yaml", "text/plain; charset=utf-8"):
            code, body = srv.call("POST", "/api/v1/workflows", op, text, ctype=ctype)
            self.assertEqual((code, body["version"], body["created"]), (200, 1, False), ctype)
        code, body = srv.call("POST", "/api/v1/workflows", op, text + "# v2\n")
        self.assertEqual((code, body["version"]), (201, 2))
        # problems as file:line:col, named by ?file=
        bad = BROKEN.replace("\n    ", "\n").lstrip("\n")
        code, body = srv.call("POST", "/api/v1/workflows?file=dir/broken.yaml", op, bad)
        self.assertEqual(code, 422)
        self.assertEqual(body["error"]["code"], "unprocessable")
        self.assertEqual(body["problems"], [
            'broken.yaml:4:10: "run" in step "x" must be a shell script (a string), not an integer',
            'broken.yaml:5:5: unknown key "nope" in step "x"'])
        code, body = srv.call("POST", "/api/v1/workflows", op, bad)
        self.assertTrue(body["problems"][0].startswith("workflow.yaml:4:10: "), body)
        code, body = srv.call("POST", "/api/v1/workflows", op, "name: x\nsteps:\n  a: {run: \"\x00\"}\n")
        self.assertEqual(code, 422)
        self.assertEqual(body["problems"], ["workflow.yaml:3:13: a NUL byte: a workflow is UTF-8 text"])
        code, body = srv.call("POST", "/api/v1/workflows", op, b"\xff\xfe not utf-8")
        self.assertEqual(code, 422)
        # the media type
        code, body = srv.call("POST", "/api/v1/workflows", op, text, ctype="application/json")
        self.assertEqual((code, body["error"]["code"]), (415, "unsupported_media_type"))
        code, body = srv.call("POST", "/api/v1/workflows", op, text, ctype="")
        self.assertEqual(code, 415)
        # the 64 MiB cap of the route: one byte over
        big = b"#" * (64 * 1024 * 1024 + 1)
        code, body = srv.call("POST", "/api/v1/workflows", op, big)
        self.assertEqual((code, body["error"]["code"]), (413, "payload_too_large"))
        # a version from the API has no path; deployed_by is the token's user
        code, body = srv.call("GET", "/api/v1/workflows/hello", vi)
        self.assertEqual(code, 200)
        self.assertEqual([(v["version"], v["deployed_by"]) for v in body["versions"]], [(1, "olga"), (2, "olga")])
        self.assertEqual(body["source"], text + "# v2\n")
        self.assertEqual(body["triggers"], [{"schedule": "0 3 * * *"}, {"event": "go"}])
        # the next five 03:00 UTC after now (computed here independently)
        fires = body["next_fires"]
        self.assertEqual(len(fires), 2)
        self.assertEqual(fires[1], [])
        now = datetime.now(timezone.utc)
        first = now.replace(hour=3, minute=0, second=0, microsecond=0)
        if first <= now:
            first += timedelta(days=1)
        want = [(first + timedelta(days=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z") for i in range(5)]
        self.assertIn(fires[0], (want, [(first + timedelta(days=i + 1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
                                        for i in range(5)]))  # 03:00 passing during the test
        self.assertEqual(srv.call("GET", "/api/v1/workflows/nope", vi)[0], 404)
        # the chain holds every version with who deployed it through which token
        entries = [json.loads(l) for l in self.weft("audit", "export").out.splitlines()]
        dep = [e["data"] for e in entries if e["kind"] == "workflow.deployed"]
        self.assertEqual([(d["version"], d["by"]) for d in dep], [(1, "olga"), (2, "olga")])
        self.assertTrue(all(d["token_id"].startswith("tok_") for d in dep))
        self.assertEqual(srv.stop(), 0)
        self.assertExit(self.weft("audit", "verify"), 0)

    # ---- the API: starting runs --------------------------------------------------------

    def test_api_start_run_inputs_keys_and_refusals(self):
        op, vi = self.tokens()
        self.assertExit(self.weft("deploy", self.write("hello.yaml", HELLO)), 0)
        srv = Server(self)
        path = "/api/v1/workflows/hello/runs"
        code, run = srv.call("POST", path, op, {"inputs": {"n": 5}, "idempotency_key": "k1"})
        self.assertEqual(code, 201, run)
        self.assertEqual((run["workflow"], run["trigger"], run["started_by"]), ("hello", "api", "olga"))
        self.assertEqual(run["inputs"], {"who": "world", "n": 5})
        self.assertIn(run["status"], ("queued", "running", "succeeded"))
        done = self.wait_ended(run["id"])
        self.assertEqual(done["status"], "succeeded")
        self.assertEqual(done["outputs"], {"text": "hello world 5"})
        self.assertEqual(sorted(run), sorted(done))
        self.assertEqual(sorted(run["steps"]["greet"]), sorted(done["steps"]["greet"]))
        # the same key again: 200 and the same run, as `weft status --json` shows it now
        code, again = srv.call("POST", path, op, {"inputs": {"n": 9}, "idempotency_key": "k1"})
        self.assertEqual(code, 200)
        self.assertEqual(again, self.status(run["id"]))
        # KEY=VALUE texts read by the declared types, as `weft run -i` (they win over inputs)
        code, r2 = srv.call("POST", path, op, {"inputs": {"n": 1, "who": "x"}, "input_args": ["n=7", "who=2.0"]})
        self.assertEqual(code, 201, r2)
        self.assertEqual(r2["inputs"], {"who": "2.0", "n": 7})
        self.assertNotEqual(r2["id"], run["id"])
        # no body at all: the defaults
        code, r3 = srv.call("POST", path, op)
        self.assertEqual((code, r3["inputs"]), (201, {"who": "world", "n": 1}))
        runs = self.weft("runs", "--json").json()
        self.assertEqual(len(runs), 3)
        self.assertEqual({r["trigger"] for r in runs}, {"api"})
        # refusals
        code, body = srv.call("POST", path, op, {"inputs": {"n": "five"}})
        self.assertEqual(code, 422)
        self.assertEqual(body["problems"], ['hello.yaml:5:3: input "n" must be of type integer, got "five" (in inputs)'])
        code, body = srv.call("POST", path, op, {"inputs": {"zzz": 1}})
        self.assertEqual(code, 422)
        self.assertIn("zzz", " ".join(body["problems"]))
        self.assertEqual(srv.call("POST", path, op, {"input_args": ["novalue"]})[0], 422)
        self.assertEqual(srv.call("POST", "/api/v1/workflows/nope/runs", op, {})[1]["error"]["code"], "not_found")
        self.assertEqual(srv.call("POST", path, vi, {})[0], 403)
        self.assertEqual(srv.call("POST", path, op, {"inputs": [1]})[0], 400)
        self.assertEqual(srv.call("POST", path, op, {"input_args": "n=1"})[0], 400)
        self.assertEqual(srv.call("POST", path, op, {"idempotency_key": 5})[0], 400)
        self.assertEqual(srv.call("POST", path, op, {"idempotency_key": "a\nb"})[0], 400)
        self.assertEqual(srv.call("POST", path, op, {"idempotency_key": "k" * 257})[0], 400)
        self.assertEqual(srv.call("POST", path, op, {"input": {}})[0], 400)
        self.assertEqual(srv.call("POST", path, op, [1, 2])[0], 400)
        self.assertEqual(len(self.weft("runs", "--json").json()), 3)  # none of them started a run
        for r in self.weft("runs", "--json").json():
            self.wait_ended(r["id"])
        self.assertEqual(srv.stop(), 0)
        entries = [json.loads(l) for l in self.weft("audit", "export").out.splitlines()]
        req = [e for e in entries if e["kind"] == "start.requested"]
        self.assertEqual(len(req), 3)
        self.assertEqual(req[0]["run"], run["id"])
        self.assertEqual(req[0]["data"]["idempotency_key"], "k1")
        self.assertEqual(req[0]["data"]["by"], "olga")
        self.assertExit(self.weft("audit", "verify"), 0)

    def test_concurrent_starts_with_one_key_make_one_run(self):
        op, _ = self.tokens()
        self.assertExit(self.weft("deploy", self.write("hello.yaml", HELLO)), 0)
        srv = Server(self)
        results = []

        def start(i):
            body = {"idempotency_key": "same"} if i % 2 == 0 else {"inputs": {"n": 100 + i}}
            results.append(srv.call("POST", "/api/v1/workflows/hello/runs", op, body))

        threads = [threading.Thread(target=start, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        keyed = [b for c, b in results if b.get("inputs", {}).get("n") == 1]
        self.assertEqual(len(keyed), 8)
        self.assertEqual(len({b["id"] for b in keyed}), 1)
        codes = sorted(c for c, b in results if b.get("inputs", {}).get("n") == 1)
        self.assertEqual(codes, [200] * 7 + [201])
        self.assertEqual(sorted(c for c, b in results if b["inputs"]["n"] != 1), [201] * 8)
        runs = self.weft("runs", "--json").json()
        self.assertEqual(len(runs), 9)
        for r in runs:
            self.assertEqual(self.wait_ended(r["id"])["status"], "succeeded")
        self.assertEqual(srv.stop(), 0)

    def test_a_run_keeps_its_version_across_a_redeploy(self):
        op, _ = self.tokens()
        v1 = """
            name: pinned
            steps:
              hold:
                wait: {event: release}
              say:
                needs: hold
                run: echo "said=one" >> "$WEFT_OUTPUT"
            outputs:
              said: ${{ .steps.say.outputs.said }}
        """
        path = self.write("pinned.yaml", v1)
        self.assertExit(self.weft("deploy", path), 0)
        srv = Server(self)
        code, r1 = srv.call("POST", "/api/v1/workflows/pinned/runs", op, {})
        self.assertEqual(code, 201)
        self.wait_for(lambda: self.status(r1["id"])["steps"]["hold"]["status"] == "waiting", "the wait")
        # version 2 says "two" and waits for nothing
        code, dep = srv.call("POST", "/api/v1/workflows", op,
                             "name: pinned\nsteps:\n  say:\n    run: echo \"said=two\" >> \"$WEFT_OUTPUT\"\n"
                             "outputs:\n  said: ${{ .steps.say.outputs.said }}\n")
        self.assertEqual((code, dep["version"]), (201, 2))
        code, r2 = srv.call("POST", "/api/v1/workflows/pinned/runs", op, {})
        self.assertEqual(code, 201)
        self.assertEqual(r2["definition"], dep["hash"])
        self.assertEqual(self.wait_ended(r2["id"])["outputs"], {"said": "two"})
        self.assertExit(self.weft("event", "send", "release"), 0)
        done = self.wait_ended(r1["id"])
        self.assertEqual(done["status"], "succeeded")
        self.assertEqual(done["outputs"], {"said": "one"})
        self.assertEqual(done["definition"], sha(read(path)))
        self.assertEqual(srv.stop(), 0)

    # ---- the docs' examples ------------------------------------------------------------

    def test_docs_deploy_examples_run_against_a_live_server(self):
        if not shutil.which("curl"):
            self.skipTest("curl is needed (scripts/setup.sh installs it)")
        text = read(os.path.join(ROOT, "docs", "server.md"))
        section = text.split("## Deploy workflows", 1)[1].split("\n## ", 1)[0]
        lines = [l.strip() for b in re.findall(r"```shell\n(.*?)```", section, re.S) for l in b.splitlines()
                 if l.strip().startswith(("curl ", "weft "))]
        self.assertGreaterEqual(len([l for l in lines if l.startswith("curl ")]), 4)
        op, _ = self.tokens()
        self.write("flows/hello.yaml", HELLO)
        self.write("hello.yaml", HELLO)
        srv = None
        env = dict(self.env, WEFT_TOKEN=op, PATH=os.path.dirname(BIN) + ":" + os.environ["PATH"])
        for line in lines:
            if line.startswith("weft server"):
                args = line.split()[2:]
                i = args.index("--listen")
                srv = Server(self, *(args[:i] + args[i + 2:]))  # on a free port instead
                continue
            cmd = line.replace("127.0.0.1:7700", srv.base[len("http://"):] if srv else "127.0.0.1:7700")
            if cmd.startswith("curl "):
                cmd += " -sS --fail"
            r = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=60, env=env, cwd=self.tmp)
            self.assertEqual(r.returncode, 0, f"{line}: {r.stdout} {r.stderr}")
            self.assertTrue(r.stdout, line)
        self.assertIsNotNone(srv)
        self.assertEqual(srv.stop(), 0)


if __name__ == "__main__":
    main()
