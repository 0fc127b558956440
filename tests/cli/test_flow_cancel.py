"""End-to-end: withdrawal (docs/language.md, "Control flow"): `cancel:` steps and
`weft cancel RUN --step STEP` (and POST /runs/{id}/cancel {"steps": [...]}).

A withdrawn running step's process is really killed; a withdrawn for_each
takes its instances with it; a withdrawn approval is closed (no longer listed)
and audited; a waiting event step is dropped; the withdrawn steps end
cancelled with error kind withdrawn (pending ones skipped) and the run goes on.
A request made while no engine runs the run, or taken by an engine that died
before acting, is applied at `weft resume` (the process the dead engine left
is killed first)."""
import json
import os
import signal
import time
import urllib.request

from harness import WeftTest, main, os_user
from test_server import Server


def slurp(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except OSError:
        return False


class Cancel(WeftTest):
    def run_json(self, path, code):
        r = self.weft("run", path, "--json")
        self.assertExit(r, code)
        return r.json()

    def status(self, rid):
        r = self.weft("status", rid, "--json")
        self.assertExit(r, 0)
        return r.json()

    def read_pid(self, name):
        p = os.path.join(self.tmp, name)
        return int(self.wait_for(lambda: slurp(p), name))

    def audit(self, rid):
        return [json.loads(l) for l in self.weft("audit", "export", rid).out.splitlines()]

    def test_cancel_step_withdraws_a_region_and_a_for_each_and_the_run_goes_on(self):
        t = self.tmp
        p = self.write("w.yaml", f"""
            name: order
            steps:
              fulfil: {{run: 'echo $$ > {t}/fulfil.pid; exec sleep 60'}}
              ship: {{needs: fulfil, run: 'touch {t}/shipped'}}
              lines:
                for_each: 4
                max_parallel: 2
                run: 'echo $$ > {t}/line-$WEFT_INDEX.pid; exec sleep 60'
              check: {{run: 'while [ ! -f {t}/fulfil.pid ] || [ ! -f {t}/line-1.pid ]; do sleep 0.05; done'}}
              stop: {{needs: check, cancel: [fulfil, ship, lines]}}
              notify: {{needs: stop, set: {{withdrawn: "${{{{ .steps.stop.outputs.withdrawn }}}}"}}}}
              after_ship: {{needs: ship, run: 'touch {t}/after'}}
        """)
        j = self.run_json(p, 0)
        s = j["steps"]
        self.assertEqual(j["status"], "succeeded")
        self.assertEqual(s["fulfil"]["status"], "cancelled")
        self.assertEqual(s["fulfil"]["error"]["kind"], "withdrawn")
        self.assertIn('cancel step "stop"', s["fulfil"]["error"]["message"])
        self.assertEqual(s["ship"]["status"], "skipped")
        self.assertEqual(s["after_ship"]["status"], "skipped")
        self.assertEqual(s["lines"]["status"], "cancelled")
        self.assertEqual(s["lines"]["error"]["kind"], "withdrawn")
        self.assertEqual({i["status"] for i in s["lines"]["instances"]}, {"cancelled"})
        self.assertEqual(s["notify"]["outputs"], {"withdrawn": ["fulfil", "ship", "lines"]})
        for f in ("fulfil.pid", "line-0.pid", "line-1.pid"):
            self.assertFalse(alive(self.read_pid(f)), f)
        self.assertFalse(os.path.exists(os.path.join(t, "line-2.pid")))  # never started
        self.assertFalse(os.path.exists(os.path.join(t, "shipped")))

    def test_a_withdrawn_workflow_step_cancels_its_child_run(self):
        t = self.tmp
        self.write("child.yaml", f"""
            name: child
            steps:
              work: {{run: 'echo $$ > {t}/child.pid; exec sleep 60'}}
        """)
        p = self.write("w.yaml", f"""
            name: parent
            steps:
              sub: {{workflow: {{file: child.yaml}}}}
              check: {{run: 'while [ ! -f {t}/child.pid ]; do sleep 0.05; done'}}
              stop: {{needs: check, cancel: [sub]}}
        """)
        j = self.run_json(p, 0)
        self.assertEqual(j["steps"]["sub"]["status"], "cancelled")
        self.assertEqual(j["steps"]["sub"]["error"]["kind"], "withdrawn")
        self.assertFalse(alive(self.read_pid("child.pid")))
        child = [r for r in self.weft("runs", "--json").json() if r["workflow"] == "child"]
        self.assertEqual([r["status"] for r in child], ["cancelled"])

    def test_graph_shows_what_a_cancel_step_withdraws_and_mutexes(self):
        p = self.write("w.yaml", """
            name: g
            steps:
              a: {run: 'true', mutex: {name: prod, scope: global}}
              b: {run: 'true', mutex: m}
              c: {cancel: [a, b]}
        """)
        r = self.weft("graph", p)
        self.assertExit(r, 0)
        self.assertIn("a [run] mutex prod (global)\n", r.out)
        self.assertIn("b [run] mutex m\n", r.out)
        self.assertIn("c [cancel] withdraws a, b\n", r.out)

    def waiting_run(self):
        t = self.tmp
        p = self.write("w.yaml", f"""
            name: order
            steps:
              sign: {{approval: {{message: sign the order}}}}
              paid: {{wait: {{event: payment-received}}}}
              pack: {{run: 'echo $$ > {t}/pack.pid; exec sleep 60'}}
              ship: {{needs: [sign, paid, pack], if: "${{{{ none_failed }}}}", run: 'touch {t}/shipped'}}
              other: {{run: 'while [ ! -f {t}/go ]; do sleep 0.05; done'}}
            finally:
              report: {{run: 'echo done'}}
        """)
        proc = self.spawn("run", p)
        run = self.wait_for(lambda: self.latest(), "the run")
        rid = run["id"]
        self.wait_for(lambda: self.status(rid)["steps"]["sign"]["status"] == "waiting"
                      and self.status(rid)["steps"]["paid"]["status"] == "waiting", "the waits")
        return proc, rid

    def test_weft_cancel_step_withdraws_waiting_and_running_steps(self):
        proc, rid = self.waiting_run()
        pid = self.read_pid("pack.pid")
        self.assertEqual(len(self.weft("approvals", "--json").json()), 1)
        r = self.weft("cancel", rid, "--step", "sign", "--step", "paid", "--step", "pack")
        self.assertExit(r, 0)
        for k in ("sign", "paid", "pack"):
            self.assertIn(f"step {k} of run {rid} cancelled", r.out)
        st = self.status(rid)
        self.assertIn(st["status"], ("running", "waiting"))  # the run goes on
        for k in ("sign", "paid", "pack"):
            self.assertEqual(st["steps"][k]["status"], "cancelled", k)
            self.assertEqual(st["steps"][k]["error"]["kind"], "withdrawn", k)
        self.assertFalse(alive(pid))
        self.assertEqual(self.weft("approvals", "--json").json(), [])  # the request is closed
        # an event sent now reaches nobody: the wait was dropped
        ev = self.weft("event", "send", "payment-received", "--json")
        self.assertExit(ev, 0)
        self.assertEqual(ev.json()["delivered_to"], [])
        open(os.path.join(self.tmp, "go"), "w").close()
        self.assertEqual(proc.wait(timeout=60), 0)
        st = self.status(rid)
        self.assertEqual(st["status"], "succeeded")
        self.assertEqual(st["steps"]["ship"]["status"], "succeeded")  # none_failed: withdrawn is skipped
        a = self.audit(rid)
        req = [e for e in a if e["kind"] == "withdraw.requested"]
        self.assertEqual(len(req), 1)
        self.assertEqual(req[0]["data"]["steps"], ["sign", "paid", "pack"])
        self.assertEqual(req[0]["data"]["by"], os_user())
        closed = [e for e in a if e["kind"] == "approval.withdrawn"]
        self.assertEqual([e["data"]["step"] for e in closed], ["sign"])

    def test_cancel_step_errors(self):
        proc, rid = self.waiting_run()
        r = self.weft("cancel", rid, "--step", "nope")
        self.assertExit(r, 4)
        self.assertIn('has no step "nope"', r.err)
        self.assertTrue(r.err.startswith("weft: "))
        r = self.weft("cancel", rid, "--step", "report")
        self.assertExit(r, 2)
        self.assertIn("finally step", r.err)
        r = self.weft("cancel", rid, "--step")
        self.assertExit(r, 2)
        r = self.weft("cancel", rid, "--step", "pack")
        self.assertExit(r, 0)
        r = self.weft("cancel", rid, "--step", "pack")  # it has ended now
        self.assertNotEqual(r.code, 0)
        self.assertIn("already ended", r.err)
        self.weft("cancel", rid)
        self.assertEqual(proc.wait(timeout=60), 3)
        r = self.weft("cancel", rid, "--step", "other")
        self.assertNotEqual(r.code, 0)
        self.assertIn("already ended", r.err)

    def test_a_withdrawal_while_no_engine_runs_is_applied_at_resume(self):
        proc, rid = self.waiting_run()
        pid = self.read_pid("pack.pid")
        os.kill(proc.pid, signal.SIGKILL)  # the engine dies; its process group lives on
        proc.wait()
        self.assertTrue(alive(pid))
        self.wait_for(lambda: "no weft process" in self.weft("cancel", rid, "--step", "pack",
                                                               "--step", "sign", "--step", "paid").out
                      or None, "an unowned run")
        open(os.path.join(self.tmp, "go"), "w").close()
        res = self.spawn("resume", rid)
        # pack ends at once (its attempt was interrupted); sign once its approval is closed
        self.wait_for(lambda: all(self.status(rid)["steps"][k]["status"] == "cancelled"
                                  for k in ("pack", "sign", "paid")), "the withdrawals")
        st = self.status(rid)
        self.assertEqual(st["steps"]["pack"]["error"]["kind"], "withdrawn")
        self.assertEqual(st["steps"]["sign"]["status"], "cancelled")
        self.assertEqual(st["steps"]["pack"]["attempts"], 1)  # not attempted again
        self.assertFalse(alive(pid))  # the dead engine's process was killed
        self.assertEqual(res.wait(timeout=60), 0)
        self.assertEqual(self.status(rid)["status"], "succeeded")


class CancelApi(WeftTest):
    def setUp(self):
        super().setUp()
        self.write_users({"olga": {"role": "operator"}, "vic": {"role": "viewer"}})
        self.tok = {}
        for u in ("olga", "vic"):
            r = self.weft("token", "create", u)
            self.assertExit(r, 0)
            self.tok[u] = r.out.strip()

    def call(self, srv, path, user, body):
        req = urllib.request.Request(srv.base + "/api/v1" + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": "Bearer " + self.tok[user],
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_api_and_cli_over_the_server_withdraw_steps(self):
        t = self.tmp
        p = self.write("w.yaml", f"""
            name: api
            steps:
              a: {{run: 'echo $$ > {t}/a.pid; exec sleep 60'}}
              b: {{run: 'echo $$ > {t}/b.pid; exec sleep 60'}}
              c: {{run: 'while [ ! -f {t}/go ]; do sleep 0.05; done'}}
        """)
        proc = self.spawn("run", p)
        rid = self.wait_for(lambda: (self.latest() or {}).get("id"), "the run")
        for f in ("a.pid", "b.pid"):
            self.wait_for(lambda: slurp(os.path.join(t, f)), f)
        srv = Server(self, "--listen", "127.0.0.1:0")
        code, doc = self.call(srv, f"/runs/{rid}/cancel", "vic", {"steps": ["a"]})
        self.assertEqual(code, 403, doc)
        code, doc = self.call(srv, f"/runs/{rid}/cancel", "olga", {"steps": "a"})
        self.assertEqual(code, 400, doc)
        code, doc = self.call(srv, f"/runs/{rid}/cancel", "olga", {"steps": ["zz"]})
        self.assertEqual(code, 404, doc)
        code, doc = self.call(srv, f"/runs/{rid}/cancel", "olga", {"steps": ["a"]})
        self.assertEqual(code, 202, doc)
        self.assertEqual(doc["id"], rid)
        self.wait_for(lambda: self.status_of(rid)["steps"]["a"]["status"] == "cancelled", "a withdrawn")
        env = dict(self.env, WEFT_SERVER=srv.base, WEFT_TOKEN=self.tok["olga"])
        r = self.weft("cancel", rid, "--step", "b", env=env)
        self.assertExit(r, 0)
        self.assertIn(f"step b of run {rid} cancelled", r.out)
        open(os.path.join(t, "go"), "w").close()
        self.assertEqual(proc.wait(timeout=60), 0)
        st = self.status_of(rid)
        self.assertEqual(st["status"], "succeeded")
        self.assertEqual(st["steps"]["b"]["error"]["kind"], "withdrawn")
        code, doc = self.call(srv, f"/runs/{rid}/cancel", "olga", {"steps": ["a"]})
        self.assertEqual(code, 409, doc)
        self.assertEqual(srv.stop(), 0)

    def test_a_run_the_server_executes(self):
        t = self.tmp
        srv = Server(self, "--listen", "127.0.0.1:0")
        text = f"""name: served
steps:
  a: {{run: 'echo $$ > {t}/a.pid; exec sleep 60'}}
  b: {{needs: a, run: 'true'}}
  c: {{run: 'while [ ! -f {t}/go ]; do sleep 0.05; done'}}
"""
        req = urllib.request.Request(srv.base + "/api/v1/workflows", data=text.encode(), method="POST",
                                     headers={"Authorization": "Bearer " + self.tok["olga"],
                                              "Content-Type": "application/yaml"})
        with urllib.request.urlopen(req, timeout=60) as r:
            self.assertIn(r.status, (200, 201))
        code, run = self.call(srv, "/workflows/served/runs", "olga", {})
        self.assertEqual(code, 201, run)
        rid = run["id"]
        pid = int(self.wait_for(lambda: slurp(os.path.join(t, "a.pid")), "a running"))
        code, doc = self.call(srv, f"/runs/{rid}/cancel", "olga", {"steps": ["a"]})
        self.assertEqual(code, 202, doc)
        self.wait_for(lambda: self.status_of(rid)["steps"]["a"]["status"] == "cancelled", "a withdrawn")
        self.assertFalse(alive(pid))
        open(os.path.join(t, "go"), "w").close()
        self.wait_for(lambda: self.status_of(rid)["status"] == "succeeded", "the run to go on and end")
        st = self.status_of(rid)
        self.assertEqual((st["steps"]["a"]["error"]["kind"], st["steps"]["b"]["status"]), ("withdrawn", "skipped"))
        self.assertEqual(srv.stop(), 0)

    def status_of(self, rid):
        r = self.weft("status", rid, "--json")
        self.assertExit(r, 0)
        return r.json()


if __name__ == "__main__":
    main()
