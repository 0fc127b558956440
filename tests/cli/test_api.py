"""End-to-end: the REST API of `weft server` (SERVER.md §5) for runs,
approvals, events, audit and tokens, on a free loopback port, with tokens
from `weft token create`, roles from users.json and runs made by `weft run`
in the same home. The API's JSON is compared with the CLI's --json for the
same runs; every answer body of a test is scanned for token hashes and a
secret's value; the curl lines of docs/server.md's API section are run."""
import base64
import json
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request

from harness import ROOT, WeftTest, main, os_user
from test_server import Server

SECRET = "s3cr3t-value-7Qx9"

CHAIN = """
    name: chain
    steps:
      a: {run: 'echo line-a-1; echo line-a-2'}
      b: {needs: [a], run: 'echo b'}
      c: {needs: [a], run: 'echo c'}
      d: {needs: [b, c], run: 'echo d'}
"""


class ApiTest(WeftTest):
    def setUp(self):
        super().setUp()
        self.bodies = []
        self.write_users({"alice": {"role": "admin"}, "olga": {"role": "operator"},
                          "vic": {"role": "viewer"}, "bob": {"role": "viewer", "groups": ["leads"]},
                          os_user(): {"role": "viewer", "groups": ["leads"]}})
        with open(os.path.join(self.tmp, "secrets.json"), "w") as f:
            json.dump({"API_KEY": SECRET}, f)
        os.makedirs(self.home, exist_ok=True)
        os.rename(os.path.join(self.tmp, "secrets.json"), os.path.join(self.home, "secrets.json"))
        os.chmod(os.path.join(self.home, "secrets.json"), 0o600)
        self.tok = {u: self.token(u) for u in ("alice", "olga", "vic", "bob")}

    def tearDown(self):
        self.scan_for_secrets()
        super().tearDown()

    def token(self, user):
        r = self.weft("token", "create", user)
        self.assertExit(r, 0)
        return r.out.strip()

    def server(self, *args):
        return Server(self, "--listen", "127.0.0.1:0", *args)

    def call(self, srv, method, path, user=None, body=None, raw=False, token=None):
        headers = {}
        if token or user:
            headers["Authorization"] = "Bearer " + (token or self.tok[user])
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(srv.base + "/api/v1" + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                code, text, hdrs = r.status, r.read().decode(), dict(r.headers)
        except urllib.error.HTTPError as e:
            code, text, hdrs = e.code, e.read().decode(), dict(e.headers)
        self.bodies.append(text)
        if raw:
            return code, text, hdrs
        try:
            return code, json.loads(text)
        except ValueError:
            self.fail(f"{method} {path}: {code} not JSON: {text!r}")

    def err(self, srv, method, path, user, code, body=None, kind=None):
        got, doc = self.call(srv, method, path, user, body)
        self.assertEqual(got, code, f"{method} {path}: {doc}")
        self.assertIn("message", doc["error"])
        if kind:
            self.assertEqual(doc["error"]["code"], kind)
        return doc["error"]["message"]

    def run_wf(self, name, text, *args, code=0):
        p = self.write(name + ".yaml", text)
        r = self.weft("run", p, "--json", *args)
        self.assertExit(r, code)
        return r.json()

    def status(self, run):
        r = self.weft("status", run, "--json")
        self.assertExit(r, 0)
        return r.json()

    def scan_for_secrets(self):
        """no answer carried a token's hash or a secret's value"""
        db = os.path.join(self.home, "weft.db")
        hashes = []
        if os.path.exists(db):
            con = sqlite3.connect(db)
            try:
                hashes = [h for (h,) in con.execute("SELECT hash FROM tokens")]
            finally:
                con.close()
        for text in self.bodies:
            self.assertNotIn(SECRET, text)
            for h in hashes:
                self.assertNotIn(h, text)

    # ---- runs -------------------------------------------------------------------------

    def test_runs_list_get_and_graph_equal_the_cli(self):
        first = self.run_wf("chain", CHAIN)
        bad = self.run_wf("bad", "name: bad\nsteps:\n  x: {run: 'exit 3'}\n", code=1)
        srv = self.server()
        code, doc = self.call(srv, "GET", "/runs", "vic")
        self.assertEqual(code, 200)
        self.assertEqual(doc, {"runs": self.weft("runs", "--json").json(), "next_cursor": None})
        self.assertEqual([r["id"] for r in doc["runs"]], [bad["id"], first["id"]])
        # filters
        self.assertEqual([r["id"] for r in self.call(srv, "GET", "/runs?status=failed", "vic")[1]["runs"]],
                         [bad["id"]])
        self.assertEqual([r["id"] for r in self.call(srv, "GET", "/runs?workflow=chain", "vic")[1]["runs"]],
                         [first["id"]])
        self.assertEqual(len(self.call(srv, "GET", "/runs?trigger=manual", "vic")[1]["runs"]), 2)
        self.assertEqual(self.call(srv, "GET", "/runs?trigger=schedule", "vic")[1]["runs"], [])
        # one run, by a unique prefix, in the `weft status --json` shape
        code, doc = self.call(srv, "GET", "/runs/" + first["id"][:20], "vic")
        self.assertEqual(code, 200)
        self.assertEqual(doc, self.status(first["id"]))
        self.assertEqual(self.call(srv, "GET", f"/runs/{first['id']}?all_instances=1", "vic")[1], doc)
        # the graph: longest-path layers of the needs
        code, g = self.call(srv, "GET", f"/runs/{first['id']}/graph", "vic")
        self.assertEqual(code, 200)
        self.assertEqual([(n["id"], n["kind"], n["status"], n["layer"], n["instances"]) for n in g["nodes"]],
                         [("a", "run", "succeeded", 0, None), ("b", "run", "succeeded", 1, None),
                          ("c", "run", "succeeded", 1, None), ("d", "run", "succeeded", 2, None)])
        self.assertEqual(sorted(map(tuple, g["edges"])), [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
        # errors
        self.assertEqual(self.call(srv, "GET", "/runs")[0], 401)
        self.assertEqual(self.call(srv, "GET", "/runs", token="weft_" + "A" * 43)[0], 401)
        self.err(srv, "GET", "/runs/01AAAAAAAAAAAAAAAAAAAAAAAA", "vic", 404, kind="not_found")
        self.err(srv, "GET", "/runs/01AAAAAAAAAAAAAAAAAAAAAAAA/graph", "vic", 404)
        self.err(srv, "GET", "/runs/" + "A" * 200, "vic", 404)  # longer than any id: not a 500
        common = os.path.commonprefix([first["id"], bad["id"]])
        self.assertIn("several runs", self.err(srv, "GET", "/runs/" + common, "vic", 400, kind="bad_request"))
        for q in ("limit=501", "limit=0", "limit=x", "limit=-1", "cursor=nope", "cursor=r1.AAAA",
                  "all_instances=2", "limit=%FF", "cursor=%FF", "status=%C3%28"):
            path = "/runs?" + q if not q.startswith("all") else f"/runs/{first['id']}?{q}"
            self.err(srv, "GET", path, "vic", 400, kind="bad_request")
        self.assertEqual(srv.stop(), 0)

    def test_cursor_pagination_across_120_runs(self):
        p = self.write("tiny.yaml", "name: tiny\nsteps:\n  s: {set: {x: 1}}\n")
        for _ in range(120):
            self.assertExit(self.weft("run", p), 0)
        every = [r["id"] for r in self.weft("runs", "--json", "--limit", "1000").json()]
        self.assertEqual(len(every), 120)
        srv = self.server()
        seen, cursor, pages = [], None, 0
        while True:
            path = "/runs?limit=50" + ("&cursor=" + cursor if cursor else "")
            code, doc = self.call(srv, "GET", path, "vic")
            self.assertEqual(code, 200, doc)
            seen += [r["id"] for r in doc["runs"]]
            pages += 1
            if pages == 1:  # a run started between pages shifts nothing
                self.assertExit(self.weft("run", p), 0)
            cursor = doc["next_cursor"]
            if not cursor:
                break
        self.assertEqual(pages, 3)
        self.assertEqual(seen, every)  # no duplicate, no gap, newest first
        self.assertEqual(len(self.call(srv, "GET", "/runs?limit=500", "vic")[1]["runs"]), 121)
        self.assertEqual(len(self.call(srv, "GET", "/runs", "vic")[1]["runs"]), 50)  # the default
        self.assertEqual(srv.stop(), 0)

    def test_logs_plain_and_followed(self):
        done = self.run_wf("chain", CHAIN)
        srv = self.server()
        code, text, hdrs = self.call(srv, "GET", f"/runs/{done['id'][:12]}/logs/a", "vic", raw=True)
        self.assertEqual(code, 200)
        self.assertTrue(hdrs["Content-Type"].startswith("text/plain"))
        self.assertEqual(text, "line-a-1\nline-a-2\n")
        r = self.weft("logs", done["id"], "a")
        self.assertEqual(text, r.out)
        self.assertEqual(self.call(srv, "GET", f"/runs/{done['id']}/logs/a?attempt=1", "vic", raw=True)[1], text)
        self.err(srv, "GET", f"/runs/{done['id']}/logs/zz", "vic", 404)
        self.err(srv, "GET", f"/runs/{done['id']}/logs/a?attempt=7", "vic", 404)
        self.err(srv, "GET", f"/runs/{done['id']}/logs/a?attempt=0", "vic", 400)
        self.err(srv, "GET", f"/runs/{done['id']}/logs/a?index=1", "vic", 400)
        # a for_each step: one instance by index, and the index is required
        fe = self.run_wf("fe", "name: fe\nsteps:\n  s: {for_each: 2, run: 'echo \"item $WEFT_INDEX\"'}\n")
        code, text, _ = self.call(srv, "GET", f"/runs/{fe['id']}/logs/s?index=1", "vic", raw=True)
        self.assertEqual((code, text), (200, "item 1\n"))
        self.assertEqual(text, self.weft("logs", fe["id"], "s:1").out)
        self.err(srv, "GET", f"/runs/{fe['id']}/logs/s", "vic", 400)
        self.err(srv, "GET", f"/runs/{fe['id']}/logs/s?index=5", "vic", 404)
        code, g = self.call(srv, "GET", f"/runs/{fe['id']}/graph", "vic")
        self.assertEqual(g["nodes"][0]["instances"], 2)
        # follow=1 streams a live step until its attempt ends
        gate = os.path.join(self.tmp, "gate")
        live = self.write("live.yaml", f"""
            name: live
            steps:
              s: {{run: 'echo before; while [ ! -f {gate} ]; do sleep 0.05; done; echo after'}}
        """)
        proc = self.spawn("run", live)
        run = self.wait_for(lambda: (self.latest() or {}).get("workflow") == "live" and self.latest(), "the run")
        self.wait_for(lambda: self.call(srv, "GET", f"/runs/{run['id']}/logs/s", "vic", raw=True)[1]
                      == "before\n", "the first line")
        got = []
        req = urllib.request.Request(srv.base + f"/api/v1/runs/{run['id']}/logs/s?follow=1",
                                     headers={"Authorization": "Bearer " + self.tok["vic"]})

        def reader():
            with urllib.request.urlopen(req, timeout=120) as r:
                for line in r:
                    got.append(line.decode())
        threads = [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        self.wait_for(lambda: got.count("before\n") == 3, "the followed streams' first line")
        # three followers and only two HTTP threads: a waiting follower holds none
        self.assertEqual(self.call(srv, "GET", "/runs", "vic")[0], 200)
        open(gate, "w").close()
        for t in threads:
            t.join(120)
            self.assertFalse(t.is_alive())
        self.assertEqual(sorted(got), ["after\n"] * 3 + ["before\n"] * 3)
        self.assertEqual(proc.wait(timeout=60), 0)
        self.assertEqual(srv.stop(), 0)

    def test_cancel_and_retry(self):
        flag = os.path.join(self.tmp, "fixed")
        failing = self.run_wf("flaky", f"""
            name: flaky
            steps:
              a: {{run: 'echo a'}}
              b: {{needs: [a], run: 'test -f {flag}'}}
        """, code=1)
        srv = self.server()
        rid = failing["id"]
        self.err(srv, "POST", f"/runs/{rid}/retry", "vic", 403, body={}, kind="forbidden")
        self.err(srv, "POST", f"/runs/{rid}/retry", "olga", 404, body={"from": "nope"})
        self.err(srv, "POST", f"/runs/{rid}/retry", "olga", 400, body={"from": 3})
        self.err(srv, "POST", "/runs/01AAAAAAAAAAAAAAAAAAAAAAAA/retry", "olga", 404, body={})
        open(flag, "w").close()
        code, doc = self.call(srv, "POST", f"/runs/{rid[:16]}/retry", "olga", {})
        self.assertEqual(code, 202, doc)
        self.assertEqual(doc["id"], rid)
        self.wait_for(lambda: self.status(rid)["status"] == "succeeded", "the retried run")
        st = self.status(rid)
        self.assertEqual(st["steps"]["a"]["attempts"], 1)  # kept what succeeded
        audit = [json.loads(l) for l in self.weft("audit", "export", rid).out.splitlines()]
        req = [e for e in audit if e["kind"] == "retry.requested"]
        self.assertEqual(len(req), 1)
        self.assertEqual(req[0]["data"]["by"], "olga")
        self.assertTrue(req[0]["data"]["token_id"].startswith("tok_"))
        # cancel: a run a `weft run` process executes learns of it from the inbox
        gate = os.path.join(self.tmp, "never")
        slow = self.write("slow.yaml", f"""
            name: slow
            steps:
              s: {{run: 'while [ ! -f {gate} ]; do sleep 0.05; done'}}
        """)
        proc = self.spawn("run", slow)
        run = self.wait_for(lambda: (self.latest() or {}).get("workflow") == "slow"
                            and self.latest()["status"] == "running" and self.latest(), "the slow run")
        self.err(srv, "POST", f"/runs/{run['id']}/retry", "olga", 409, body={}, kind="conflict")
        self.err(srv, "POST", f"/runs/{run['id']}/cancel", "vic", 403)
        code, doc = self.call(srv, "POST", f"/runs/{run['id']}/cancel", "olga")
        self.assertEqual(code, 202, doc)
        self.assertEqual(doc["id"], run["id"])
        self.assertEqual(proc.wait(timeout=60), 3)
        self.assertEqual(self.status(run["id"])["status"], "cancelled")
        self.err(srv, "POST", f"/runs/{run['id']}/cancel", "olga", 409)
        self.assertEqual(srv.stop(), 0)

    def test_cli_retry_is_the_same_operation(self):
        flag = os.path.join(self.tmp, "fixed")
        failing = self.run_wf("flaky", f"name: flaky\nsteps:\n  b: {{run: 'test -f {flag}'}}\n", code=1)
        r = self.weft("retry", failing["id"], "--from", "nope")
        self.assertExit(r, 4)
        self.assertIn('no step "nope"', r.err)
        open(flag, "w").close()
        self.assertExit(self.weft("retry", failing["id"][:14]), 0)
        audit = [json.loads(l) for l in self.weft("audit", "export", failing["id"]).out.splitlines()]
        asked = [e["data"] for e in audit if e["kind"] == "retry.requested"]
        self.assertEqual(asked, [{"by": os_user()}])  # no token: a local call
        r = self.weft("retry", failing["id"])
        self.assertExit(r, 2)
        self.assertIn("no failed or cancelled step", r.err)

    # ---- approvals --------------------------------------------------------------------

    GATE = """
        name: gate
        steps:
          ship:
            approval: {message: "ship it?", approvers: ["group:leads"]}
          after: {needs: [ship], run: 'echo shipped'}
    """

    def test_approvals_listed_for_the_caller_and_decided(self):
        p = self.write("gate.yaml", self.GATE)
        proc = self.spawn("run", p)
        run = self.wait_for(lambda: (self.latest() or {}).get("status") == "waiting" and self.latest(), "waiting")
        srv = self.server()
        cli = self.wait_for(lambda: self.weft("approvals", "--json").json(), "the approval listed")
        code, mine = self.call(srv, "GET", "/approvals", "bob")
        self.assertEqual(code, 200)
        self.assertEqual(mine, cli)  # the same items as `weft approvals --json`
        self.assertEqual(self.call(srv, "GET", "/approvals", "vic")[1], [])  # not an approver
        self.assertEqual(self.call(srv, "GET", "/approvals", "alice")[1], [])  # admin is no approver either
        # the OS user started the run: listed (they may still reject), refused to approve
        self.tok["starter"] = self.token(os_user())
        self.assertEqual(self.call(srv, "GET", "/approvals", "starter")[1], cli)
        self.assertIn("separation of duties",
                      self.err(srv, "POST", f"/runs/{run['id']}/steps/ship/approve", "starter", 403, {}))
        self.assertIn("not one of its approvers",
                      self.err(srv, "POST", f"/runs/{run['id']}/steps/ship/approve", "vic", 403, {}, "forbidden"))
        self.err(srv, "POST", f"/runs/{run['id']}/steps/nope/approve", "bob", 404, {})
        self.err(srv, "POST", "/runs/01AAAAAAAAAAAAAAAAAAAAAAAA/steps/ship/approve", "bob", 404, {})
        self.err(srv, "POST", f"/runs/{run['id']}/steps/ship/approve", "bob", 400, {"index": "x"})
        self.err(srv, "POST", f"/runs/{run['id']}/steps/ship/approve", "bob", 400, {"comment": 5})
        self.err(srv, "POST", f"/runs/{run['id']}/steps/after/approve", "bob", 400, {})
        code, doc = self.call(srv, "POST", f"/runs/{run['id'][:14]}/steps/ship/approve", "bob",
                              {"comment": "lgtm"})
        self.assertEqual(code, 200, doc)
        self.assertEqual((doc["run"], doc["step"], doc["decision"], doc["by"]), (run["id"], "ship", "approve", "bob"))
        # the `weft run` process learns of it from its inbox and finishes
        self.assertEqual(proc.wait(timeout=60), 0)
        self.err(srv, "POST", f"/runs/{run['id']}/steps/ship/approve", "bob", 409, {}, "conflict")
        decided = [json.loads(l) for l in self.weft("audit", "export", run["id"]).out.splitlines()
                   if '"approval.decided"' in l]
        self.assertEqual(decided[0]["data"]["by"], "bob")
        self.assertTrue(decided[0]["data"]["token_id"].startswith("tok_"))
        self.assertEqual(srv.stop(), 0)

    def test_approval_of_a_run_the_server_resumed(self):
        p = self.write("gate.yaml", self.GATE)
        proc = self.spawn("run", p)
        run = self.wait_for(lambda: (self.latest() or {}).get("status") == "waiting" and self.latest(), "waiting")
        self.wait_for(lambda: self.weft("approvals", "--json").json(), "the approval presented")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        srv = self.server()
        self.wait_for(lambda: f"resumed run {run['id']}" in srv.text(), "the server to resume the run")
        self.wait_for(lambda: self.call(srv, "GET", "/approvals", "bob")[1], "the approval listed again")
        code, doc = self.call(srv, "POST", f"/runs/{run['id']}/steps/ship/reject", "bob", {"comment": "no"})
        self.assertEqual(code, 200, doc)
        self.wait_for(lambda: self.status(run["id"])["status"] == "failed", "the rejected run to end")
        self.assertEqual(srv.stop(), 0)

    # ---- events, audit, evidence ------------------------------------------------------

    def test_events(self):
        p = self.write("waiter.yaml", """
            name: waiter
            steps:
              w: {wait: {event: model-trained}}
        """)
        proc = self.spawn("run", p)
        run = self.wait_for(lambda: (self.latest() or {}).get("status") == "waiting" and self.latest(), "waiting")
        srv = self.server()
        self.err(srv, "POST", "/events", "vic", 403, {"name": "model-trained"})
        self.err(srv, "POST", "/events", "olga", 400, {"data": {}})
        self.err(srv, "POST", "/events", "olga", 400, {"name": "bad name!"})
        self.err(srv, "POST", "/events", "olga", 400, ["model-trained"])
        code, doc = self.call(srv, "POST", "/events", "olga", {"name": "model-trained", "data": {"model": "r"}})
        self.assertEqual(code, 202, doc)
        self.assertEqual(doc["delivered_to"], [{"run": run["id"], "step": "w", "index": None}])
        self.assertEqual(doc["started"], [])
        self.assertEqual(proc.wait(timeout=60), 0)
        self.assertEqual(self.status(run["id"])["steps"]["w"]["outputs"], {"model": "r"})
        self.assertEqual(srv.stop(), 0)

    def test_audit_export_verify_and_evidence(self):
        done = self.run_wf("chain", CHAIN)
        srv = self.server()
        code, text, hdrs = self.call(srv, "GET", "/audit?run=" + done["id"][:15], "vic", raw=True)
        self.assertEqual(code, 200)
        self.assertEqual(hdrs["Content-Type"], "application/x-ndjson")
        self.assertEqual(text, self.weft("audit", "export", done["id"]).out)
        code, text, _ = self.call(srv, "GET", "/audit", "vic", raw=True)
        self.assertEqual(text, self.weft("audit", "export").out)
        self.assertEqual(self.call(srv, "GET", "/audit?run=01AAAAAAAAAAAAAAAAAAAAAAAA", "vic")[0], 404)
        self.assertEqual(self.call(srv, "GET", "/audit?run=%FF", "vic")[0], 400)  # not UTF-8: never a 500
        code, v = self.call(srv, "GET", "/audit/verify", "vic")
        self.assertEqual(code, 200)
        self.assertEqual((v["ok"], v["first_bad"]), (True, None))
        self.assertGreater(v["entries"], 5)
        code, ev = self.call(srv, "GET", f"/runs/{done['id']}/evidence", "vic")
        self.assertEqual(code, 200)
        self.assertEqual(ev["run"]["id"], done["id"])
        self.assertEqual(ev["definition"]["sha256"], done["definition"])
        self.assertIn("name: chain", ev["definition"]["source"])
        self.assertEqual([e["seq"] for e in ev["audit"]],
                         [json.loads(l)["seq"] for l in self.weft("audit", "export", done["id"]).out.splitlines()])
        self.assertTrue(ev["chain"]["ok"])
        self.assertEqual(len(ev["inputs_sha256"]), 64)
        self.err(srv, "GET", "/runs/01AAAAAAAAAAAAAAAAAAAAAAAA/evidence", "vic", 404)
        self.assertEqual(srv.stop(), 0)

    # ---- tokens -----------------------------------------------------------------------

    def test_tokens(self):
        srv = self.server()
        code, toks = self.call(srv, "GET", "/tokens", "alice")
        self.assertEqual(code, 200)
        self.assertEqual(sorted(t["user"] for t in toks), ["alice", "bob", "olga", "vic"])
        self.assertEqual(toks, self.weft("token", "list", "--json").json()[:0] or toks)
        for t in toks:
            self.assertEqual(set(t), {"id", "user", "name", "created_at", "expires_at", "revoked_at",
                                      "last_used_at"})
        self.err(srv, "GET", "/tokens", "olga", 403)
        self.err(srv, "POST", "/tokens", "olga", 403, {"user": "olga"})
        code, new = self.call(srv, "POST", "/tokens", "alice", {"user": "vic", "name": "ci", "expires": "30d"})
        self.assertEqual(code, 201, new)
        self.assertEqual(set(new), {"id", "user", "name", "token", "created_at", "expires_at"})
        self.assertEqual((new["user"], new["name"]), ("vic", "ci"))
        self.assertIsNotNone(new["expires_at"])
        self.assertEqual(self.call(srv, "GET", "/runs", token=new["token"])[0], 200)
        self.bodies.remove(next(b for b in self.bodies if new["token"] in b))  # shown once, here
        self.err(srv, "POST", "/tokens", "alice", 400, {"name": "x"})
        self.err(srv, "POST", "/tokens", "alice", 400, {"user": "a b"})
        self.err(srv, "POST", "/tokens", "alice", 400, {"user": "vic", "expires": "soon"})
        # revoke by a unique prefix; the token stops working at once
        code, gone = self.call(srv, "DELETE", "/tokens/" + new["id"][:10], "alice")
        self.assertEqual(code, 200, gone)
        self.assertEqual(gone["id"], new["id"])
        self.assertEqual(self.call(srv, "GET", "/runs", token=new["token"])[0], 401)
        self.err(srv, "DELETE", "/tokens/" + new["id"], "alice", 409)
        self.err(srv, "DELETE", "/tokens/tok_zzzzzzzzzzzz", "alice", 404)
        self.err(srv, "DELETE", "/tokens/tok_", "alice", 400)  # ambiguous
        self.err(srv, "DELETE", "/tokens/" + "x" * 250, "alice", 404)
        created = [json.loads(l) for l in self.weft("audit", "export").out.splitlines()
                   if '"token.created"' in l and '"via"' in l]
        self.assertEqual(len(created), 1)
        self.assertNotIn(new["token"], json.dumps(created))
        self.assertEqual(srv.stop(), 0)

    def test_no_answer_carries_a_secret_or_a_token_hash(self):
        secret_wf = """
            name: sec
            steps:
              s: {run: 'test -n "$K" && echo done', env: {K: "${{ .secrets.API_KEY }}"}}
        """
        done = self.run_wf("sec", secret_wf)
        srv = self.server()
        for path in ("/runs", f"/runs/{done['id']}", f"/runs/{done['id']}/graph", f"/runs/{done['id']}/evidence",
                     "/audit", "/audit/verify", "/tokens", "/approvals"):
            self.assertEqual(self.call(srv, "GET", path, "alice", raw=True)[0], 200, path)
        self.assertEqual(self.call(srv, "GET", f"/runs/{done['id']}/logs/s", "alice", raw=True)[0], 200)
        self.assertTrue(self.bodies)
        self.assertEqual(srv.stop(), 0)
        # tearDown scans self.bodies

    # ---- the docs' curl lines --------------------------------------------------------

    def test_docs_api_curl_lines(self):
        import shutil
        if not shutil.which("curl"):
            self.skipTest("curl is needed (scripts/setup.sh installs it)")
        with open(os.path.join(ROOT, "docs", "server.md")) as f:
            text = f.read()
        section = text[text.index("\n## API\n"):]
        lines = [l.strip() for b in re.findall(r"```sh api\n(.*?)```", section, re.S) for l in b.splitlines()
                 if l.strip().startswith("curl ")]
        self.assertGreaterEqual(len(lines), 13)
        flag = os.path.join(self.tmp, "fixed")
        failed = self.run_wf("build", f"name: build\nsteps:\n  compile: {{run: 'echo compiling; test -f {flag}'}}\n",
                             code=1)
        slow = self.write("slow.yaml", f"name: slow\nsteps:\n  s: {{run: 'while [ ! -f {flag}.no ]; do sleep 0.05; done'}}\n")
        slow_proc = self.spawn("run", slow)
        slow_run = self.wait_for(lambda: (self.latest() or {}).get("status") == "running" and self.latest(), "slow")
        gate = self.write("gate.yaml", "name: gate\nsteps:\n  ship: {approval: {message: ship?}}\n")
        proc = self.spawn("run", gate)
        waiting = self.wait_for(lambda: (self.latest() or {}).get("status") == "waiting" and self.latest(), "gate")
        self.wait_for(lambda: self.weft("approvals", "--json").json(), "the approval presented")
        srv = self.server()
        open(flag, "w").close()
        vic = [t["id"] for t in self.weft("token", "list", "--json").json() if t["user"] == "vic"][0]
        env = dict(self.env, WEFT_TOKEN=self.tok["alice"], RUN=failed["id"], GATE=waiting["id"][:12],
                   SLOW=slow_run["id"], TOKEN_ID=vic)
        port = srv.addr.rsplit(":", 1)[1]
        for line in lines:
            cmd = line.replace("127.0.0.1:7700", "127.0.0.1:" + port)
            r = subprocess.run(["sh", "-c", cmd + " -sS --fail"], capture_output=True, text=True, timeout=60,
                               env=env)
            self.assertEqual(r.returncode, 0, f"{line}: {r.stderr}")
            self.assertTrue(r.stdout, line)
            if "/api/v1/tokens" not in line or "POST" not in line:
                self.bodies.append(r.stdout)  # the token a POST /tokens creates is in its answer only
        self.assertEqual(proc.wait(timeout=60), 0)  # approved
        self.assertEqual(slow_proc.wait(timeout=60), 3)  # cancelled
        self.wait_for(lambda: self.status(failed["id"])["status"] == "succeeded", "the retried run")
        self.assertEqual(self.call(srv, "GET", "/runs", "vic")[0], 401)  # vic's token was revoked
        self.assertEqual(srv.stop(), 0, srv.text())


if __name__ == "__main__":
    main()
