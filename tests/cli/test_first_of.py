"""End-to-end: `first_of` (docs/language.md, "Control flow"), the deferred
choice: "approve, or the customer cancels (an event), or the time runs out".

The first arm to end wins; the others are withdrawn: an approval request is
closed and audited as withdrawn (`weft approvals` no longer lists it and a late
decision is refused with a clear message), a wait is dropped, a child run is
cancelled. An approval arm is listed and decided as STEP.ARM; `weft status
--json` shows `arms`; the step's outputs are {winner, outputs}. The time arm
is short here (no assertion depends on how long anything takes)."""
from harness import WeftTest, main
import json
import os
import signal
import urllib.error
import urllib.request

USERS = {"users": {"alice": {"groups": ["leads"], "role": "viewer"}, "bob": {"role": "viewer"}},
         "allow_as": True}

WF = """
name: order-decision
steps:
  order: {set: {id: 42}}
  decide:
    needs: order
    first_of:
      approved: {approval: {message: "Ship order ${{ .steps.order.outputs.id }}?"}}
      cancelled:
        wait: {event: order-cancelled, match: "${{ .event.id == 42 }}"}
      expired: {wait: %s}
  ship:
    needs: decide
    if: "${{ .steps.decide.outputs.winner == \\"approved\\" }}"
    run: echo shipping
  report: {needs: decide, set: {winner: "${{ .steps.decide.outputs.winner }}"}}
"""


class FirstOf(WeftTest):
    def setUp(self):
        super().setUp()
        os.makedirs(self.home, exist_ok=True)
        with open(os.path.join(self.home, "users.json"), "w") as f:
            json.dump(USERS, f)

    def approvals(self):
        r = self.weft("approvals", "--json")
        self.assertExit(r, 0)
        return r.json()

    def listed(self, step):
        def find():
            for a in self.approvals():
                if a["step"] == step:
                    return a
            return None
        return self.wait_for(find, step + " in weft approvals")

    def status(self, rid):
        r = self.weft("status", rid, "--json")
        self.assertExit(r, 0)
        return r.json()

    def audit_kinds(self, rid):
        r = self.weft("audit", "export", rid)
        self.assertExit(r, 0)
        return [json.loads(l)["kind"] for l in r.out.splitlines() if l.strip()]

    def finish(self, proc):
        out, err = proc.communicate(timeout=120)
        return proc.returncode, out, err

    def test_approval_wins_the_others_are_withdrawn(self):
        p = self.write("w.yaml", WF % "1h")
        proc = self.spawn("run", p)
        a = self.listed("decide.approved")
        self.assertEqual(a["message"], "Ship order 42?")
        self.assertIsNone(a["index"])
        rid = a["run"]
        st = self.status(rid)["steps"]["decide"]
        self.assertEqual(st["status"], "waiting")
        self.assertEqual(set(st["arms"]), {"approved", "cancelled", "expired"})
        self.assertEqual(st["arms"]["approved"]["status"], "waiting")
        self.assertExit(self.weft("approve", rid, "decide.approved", "--as", "alice",
                                  "--comment", "go"), 0)
        code, out, err = self.finish(proc)
        self.assertEqual(code, 0, err)
        j = self.status(rid)
        d = j["steps"]["decide"]
        self.assertEqual(d["status"], "succeeded")
        self.assertEqual(d["outputs"]["winner"], "approved")
        self.assertEqual(d["outputs"]["outputs"]["decision"], "approved")
        self.assertEqual(d["outputs"]["outputs"]["by"], ["alice"])
        for arm in ("cancelled", "expired"):
            self.assertEqual(d["arms"][arm]["status"], "cancelled", arm)
            self.assertEqual(d["arms"][arm]["error"]["kind"], "withdrawn", arm)
        self.assertEqual(j["steps"]["ship"]["status"], "succeeded")
        self.assertEqual(j["steps"]["report"]["outputs"], {"winner": "approved"})
        self.assertExit(self.weft("audit", "verify"), 0)

    def test_the_event_wins_the_approval_is_closed_and_audited_as_withdrawn(self):
        p = self.write("w.yaml", WF % "1h")
        proc = self.spawn("run", p)
        rid = self.listed("decide.approved")["run"]
        # an event for another order does not match
        self.assertExit(self.weft("event", "send", "order-cancelled", "--data", '{"id": 7}'), 0)
        self.assertExit(self.weft("event", "send", "order-cancelled", "--data",
                                  '{"id": 42, "reason": "changed mind"}'), 0)
        code, out, err = self.finish(proc)
        self.assertEqual(code, 0, err)
        j = self.status(rid)
        d = j["steps"]["decide"]
        self.assertEqual(d["outputs"], {"winner": "cancelled",
                                        "outputs": {"id": 42, "reason": "changed mind"}})
        self.assertEqual(d["arms"]["approved"]["status"], "cancelled")
        self.assertEqual(d["arms"]["approved"]["error"]["kind"], "withdrawn")
        self.assertEqual(j["steps"]["ship"]["status"], "skipped")
        # the request is gone from the inbox, and audited as withdrawn
        self.assertEqual([a for a in self.approvals() if a["run"] == rid], [])
        r = self.weft("audit", "export", rid)
        w = [json.loads(l)["data"] for l in r.out.splitlines()
             if json.loads(l)["kind"] == "approval.withdrawn"]
        self.assertEqual(len(w), 1)
        self.assertEqual((w[0]["step"], w[0]["arm"]), ("decide", "approved"))
        self.assertIn('arm "cancelled"', w[0]["reason"])
        # a late decision is refused, saying why
        r = self.weft("approve", rid, "decide.approved", "--as", "alice")
        self.assertNotEqual(r.code, 0)
        self.assertIn("closed", r.err)
        self.assertIn("withdrawn", r.err)
        self.assertExit(self.weft("audit", "verify"), 0)

    def test_time_runs_out_first(self):
        p = self.write("w.yaml", WF % "200ms")
        r = self.weft("run", p, "--json")
        self.assertExit(r, 0)
        j = r.json()
        d = j["steps"]["decide"]
        self.assertEqual(d["outputs"]["winner"], "expired")
        self.assertEqual(d["arms"]["approved"]["status"], "cancelled")
        self.assertEqual(d["arms"]["cancelled"]["status"], "cancelled")
        self.assertEqual(j["steps"]["report"]["outputs"], {"winner": "expired"})
        self.assertIn("approval.withdrawn", self.audit_kinds(j["id"]))
        self.assertExit(self.weft("audit", "verify"), 0)

    def test_progress_names_the_arms_and_says_how_to_decide(self):
        p = self.write("w.yaml", WF % "200ms")
        r = self.weft("run", p)
        self.assertExit(r, 0)
        rid = self.weft("runs", "--json").json()[0]["id"]
        self.assertIn(f"{rid} decide waits for the first of 3 arms\n", r.out)
        self.assertIn(f"{rid} decide.approved waits for a decision: weft approvals; "
                      f"weft approve {rid} decide.approved\n", r.out)
        self.assertIn(f"{rid} decide.expired succeeded", r.out)
        self.assertIn(f"{rid} decide.approved cancelled (attempt 1): withdrawn: arm \"expired\"",
                      r.out)
        st = self.weft("status", rid)
        self.assertExit(st, 0)
        self.assertIn("arm approved: cancelled\n", st.out)
        self.assertIn("arm expired: succeeded (winner)\n", st.out)

    def test_a_rejection_wins_and_fails_the_step(self):
        p = self.write("w.yaml", WF % "1h")
        proc = self.spawn("run", p)
        rid = self.listed("decide.approved")["run"]
        self.assertExit(self.weft("reject", rid, "decide.approved", "--as", "bob",
                                  "--comment", "no stock"), 0)
        code, out, err = self.finish(proc)
        self.assertEqual(code, 1, err)
        d = self.status(rid)["steps"]["decide"]
        self.assertEqual(d["status"], "failed")
        self.assertEqual(d["error"]["kind"], "rejected")
        self.assertIn('arm "approved"', d["error"]["message"])

    def test_retry_after_a_rejection_opens_every_arm_again(self):
        p = self.write("w.yaml", WF % "1h")
        proc = self.spawn("run", p)
        rid = self.listed("decide.approved")["run"]
        self.assertExit(self.weft("reject", rid, "decide.approved", "--as", "bob"), 0)
        self.assertEqual(self.finish(proc)[0], 1)
        proc = self.spawn("retry", rid)
        self.listed("decide.approved")  # the request again, for the new attempt
        self.assertExit(self.weft("approve", rid, "decide.approved", "--as", "alice"), 0)
        code, out, err = self.finish(proc)
        self.assertEqual(code, 0, err)
        d = self.status(rid)["steps"]["decide"]
        self.assertEqual(d["status"], "succeeded")
        self.assertEqual(d["outputs"]["winner"], "approved")
        self.assertEqual(d["arms"]["expired"]["status"], "cancelled")
        self.assertExit(self.weft("audit", "verify"), 0)

    def test_a_workflow_arm_loses_and_its_child_run_is_cancelled(self):
        self.write("slow.yaml", """
            name: slow-check
            steps:
              check: {run: 'sleep 300 & echo $! > "$WEFT_WORKSPACE/../child-sleeper"; wait'}
        """)
        p = self.write("w.yaml", """
            name: check-or-timeout
            steps:
              decide:
                first_of:
                  checked: {workflow: {file: slow.yaml}}
                  expired: {wait: 300ms}
        """)
        r = self.weft("run", p, "--json")
        self.assertExit(r, 0)
        j = r.json()
        d = j["steps"]["decide"]
        self.assertEqual(d["outputs"]["winner"], "expired")
        self.assertEqual(d["arms"]["checked"]["status"], "cancelled")
        self.assertEqual(d["arms"]["checked"]["error"]["kind"], "withdrawn")
        runs = self.weft("runs", "--json").json()
        child = [x for x in runs if x["id"] != j["id"]]
        self.assertEqual(len(child), 1)
        self.assertEqual(child[0]["status"], "cancelled")

    def test_decide_a_first_of_step_without_its_arm_is_a_usage_error(self):
        p = self.write("w.yaml", WF % "1h")
        proc = self.spawn("run", p)
        rid = self.listed("decide.approved")["run"]
        r = self.weft("approve", rid, "decide", "--as", "alice")
        self.assertNotEqual(r.code, 0)
        self.assertIn("decide.ARM", r.err)
        r = self.weft("approve", rid, "decide.expired", "--as", "alice")
        self.assertNotEqual(r.code, 0)
        self.assertIn("not an approval", r.err)
        r = self.weft("approve", rid, "decide.nope", "--as", "alice")
        self.assertNotEqual(r.code, 0)
        self.assertIn('no first_of arm "nope"', r.err)
        self.assertExit(self.weft("cancel", rid), 0)
        self.finish(proc)

    def test_sigkill_while_waiting_then_the_event_then_resume(self):
        p = self.write("w.yaml", WF % "1h")
        proc = self.spawn("run", p)
        rid = self.listed("decide.approved")["run"]
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        # the event is sent while no engine runs: resume delivers it
        self.assertExit(self.weft("event", "send", "order-cancelled", "--data", '{"id": 42}'), 0)
        r = self.weft("resume", rid)
        self.assertExit(r, 0)
        j = self.status(rid)
        self.assertEqual(j["status"], "succeeded")
        self.assertEqual(j["steps"]["decide"]["outputs"]["winner"], "cancelled")
        self.assertEqual(j["steps"]["decide"]["arms"]["approved"]["status"], "cancelled")
        self.assertExit(self.weft("audit", "verify"), 0)

    def test_through_the_api_listed_and_decided_as_step_dot_arm(self):
        from test_server import Server
        p = self.write("w.yaml", """
            name: api-first-of
            steps:
              decide:
                first_of:
                  approved: {approval: {message: Ship?, approvers: [alice]}}
                  expired: {wait: 1h}
        """)
        proc = self.spawn("run", p)
        rid = self.listed("decide.approved")["run"]
        tok = self.weft("token", "create", "alice").out.strip()
        srv = Server(self, "--listen", "127.0.0.1:0")

        def call(method, path, body=None):
            req = urllib.request.Request(
                srv.base + "/api/v1" + path, method=method,
                data=json.dumps(body).encode() if body is not None else None,
                headers={"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    return r.status, json.loads(r.read().decode())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read().decode())

        code, lst = call("GET", "/approvals")
        self.assertEqual(code, 200)
        self.assertEqual([a["step"] for a in lst], ["decide.approved"])
        code, doc = call("POST", f"/runs/{rid}/steps/decide.approved/approve", {"comment": "ok"})
        self.assertEqual(code, 200, doc)
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err)
        d = self.status(rid)["steps"]["decide"]
        self.assertEqual(d["outputs"]["winner"], "approved")
        self.assertEqual(d["arms"]["expired"]["error"]["kind"], "withdrawn")
        code, doc = call("POST", f"/runs/{rid}/steps/decide.approved/approve", {})
        self.assertEqual(code, 409, doc)
        self.assertEqual(srv.stop(), 0)


if __name__ == "__main__":
    main()
