"""End-to-end: concurrency groups (SERVER.md §3, `concurrency:`) under the
real `weft server` and `weft run`.

Every start of a workflow goes through one decision (ops/concurrency.c):
the API, event and webhook triggers, schedules and `weft run` all count in
the same group of the home's store. The steps append to a file and wait for
a release file this test writes, so the order of starts and ends is read
from the file, never from timing."""
import json
import os
import signal
import subprocess

from harness import BIN, WeftTest, main
from test_schedules import Server

GATED = """
    name: gated
    concurrency: %s
    inputs:
      n: {type: string}
      env: {type: string, default: prod}
    triggers:
      - event: go
        inputs: {n: "${{ .event.n }}"}
    steps:
      work:
        run: |
          echo "start $N" >> "$LOG"
          while [ ! -e "$REL/release-$N" ]; do sleep 0.05; done
          echo "end $N" >> "$LOG"
        env: {N: "${{ .inputs.n }}", LOG: "%s", REL: "%s"}
"""


class ConcurrencyBase(WeftTest):
    def setUp(self):
        super().setUp()
        self.log = os.path.join(self.tmp, "order.log")
        self.rel = os.path.join(self.tmp, "rel")
        os.makedirs(self.rel)
        self.write_users({"olga": {"role": "operator"}})
        tok = self.weft("token", "create", "olga")
        self.assertExit(tok, 0)
        self.tok = tok.out.strip()

    def deploy(self, conc, name="gated.yaml", text=GATED):
        r = self.weft("deploy", self.write(name, text % (conc, self.log, self.rel)))
        self.assertExit(r, 0)

    def start(self, srv, n, env="prod", wf="gated"):
        inputs = {"n": str(n), "env": env} if wf == "gated" else {"env": env}
        code, out = srv.request("POST", "/api/v1/workflows/%s/runs" % wf, json.dumps({"inputs": inputs}).encode(),
                                {"Authorization": "Bearer " + self.tok, "Content-Type": "application/json"})
        return code, json.loads(out)

    def release(self, n):
        open(os.path.join(self.rel, "release-%s" % n), "w").close()

    def lines(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return f.read().split("\n")[:-1]

    def status(self, run):
        r = self.weft("status", run, "--json")
        self.assertExit(r, 0)
        return r.json()["status"]

    def ended(self, *runs):
        return all(self.status(r) in ("succeeded", "failed", "cancelled") for r in runs)

    def audit(self, kind):
        r = self.weft("audit", "export")
        return [e for e in map(json.loads, r.out.splitlines()) if e["kind"] == kind]


class ConcurrencyTest(ConcurrencyBase):
    def test_api_starts_wait_in_the_group_and_start_in_order(self):
        self.deploy("1")
        srv = Server(self)
        runs = []
        for n in (1, 2, 3):
            code, out = self.start(srv, n)
            self.assertEqual(code, 201, out)
            runs.append(out["id"])
        self.wait_for(lambda: self.lines() == ["start 1"], "run 1's start")
        self.assertEqual([self.status(r) for r in runs[1:]], ["queued", "queued"])
        self.release(1)
        self.wait_for(lambda: self.lines()[-1:] == ["start 2"], "run 2's start")
        self.assertEqual(self.status(runs[2]), "queued")
        self.release(2)
        self.release(3)
        self.wait_for(lambda: self.ended(*runs), "the runs")
        srv.stop()
        self.assertEqual(self.lines(), ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"])
        self.assertEqual([self.status(r) for r in runs], ["succeeded"] * 3)

    def test_a_key_makes_one_group_per_value_with_its_limit(self):
        self.deploy('{key: "${{ .inputs.env }}", limit: 2}')
        srv = Server(self)
        a = [self.start(srv, "a%d" % i, "prod")[1]["id"] for i in (1, 2, 3)]
        b = self.start(srv, "b1", "staging")[1]["id"]
        self.wait_for(lambda: sorted(self.lines()) == ["start a1", "start a2", "start b1"], "three starts")
        self.assertEqual(self.status(a[2]), "queued")
        self.release("a1")
        self.wait_for(lambda: "start a3" in self.lines(), "a3's start")
        for n in ("a2", "a3", "b1"):
            self.release(n)
        self.wait_for(lambda: self.ended(*a, b), "the runs")
        srv.stop()
        lines = self.lines()
        self.assertLess(lines.index("end a1"), lines.index("start a3"))

    def test_event_triggered_runs_share_the_group_with_api_starts(self):
        self.deploy("1")
        srv = Server(self)
        first = self.start(srv, 1)[1]["id"]
        self.wait_for(lambda: self.lines() == ["start 1"], "run 1's start")
        r = self.weft("event", "send", "go", "--data", '{"n": "2"}', "--json")
        self.assertExit(r, 0)
        second = r.json()["started"][0]["run"]
        self.assertEqual(self.status(second), "queued")
        self.release(1)
        self.release(2)
        self.wait_for(lambda: self.ended(first, second), "the runs")
        srv.stop()
        self.assertEqual(self.lines(), ["start 1", "end 1", "start 2", "end 2"])

    def test_on_full_skip_starts_nothing_and_says_why(self):
        self.deploy("{limit: 1, on_full: skip}")
        srv = Server(self)
        first = self.start(srv, 1)[1]["id"]
        code, out = self.start(srv, 2)
        self.assertEqual(code, 409, out)
        self.assertIn("concurrency group gated is full", out["error"]["message"])
        self.assertIn("on_full: skip", out["error"]["message"])
        r = self.weft("event", "send", "go", "--data", '{"n": "3"}', "--json")
        self.assertEqual(r.json()["started"], [])
        self.assertIn("skipped", r.json()["trigger_errors"][0]["error"])
        self.release(1)
        self.wait_for(lambda: self.ended(first), "run 1")
        srv.stop()
        self.assertEqual(len(self.weft("runs", "--json").json()), 1)
        skipped = self.audit("run.skipped")
        self.assertEqual([e["data"]["trigger"] for e in skipped], ["api", "event"])
        self.assertEqual(self.lines(), ["start 1", "end 1"])

    def test_on_full_cancel_in_progress_cancels_the_older_run(self):
        self.deploy("{limit: 1, on_full: cancel_in_progress}")
        srv = Server(self)
        first = self.start(srv, 1)[1]["id"]
        self.wait_for(lambda: self.lines() == ["start 1"], "run 1's start")
        code, out = self.start(srv, 2)
        self.assertEqual(code, 201, out)
        second = out["id"]
        self.wait_for(lambda: self.status(first) == "cancelled", "run 1's cancel")
        self.wait_for(lambda: self.lines()[-1:] == ["start 2"], "run 2's start")
        self.release(2)
        self.wait_for(lambda: self.ended(second), "run 2")
        srv.stop()
        self.assertEqual(self.status(second), "succeeded")
        self.assertEqual(self.lines(), ["start 1", "start 2", "end 2"])
        reqs = self.audit("cancel.requested")
        self.assertEqual([(e["run"], e["data"]["reason"]) for e in reqs], [(first, "concurrency")])

    def test_weft_run_waits_for_a_slot_of_its_group(self):
        path = self.write("local.yaml", GATED % ("1", self.log, self.rel))
        one = self.spawn("run", path, "-i", "n=1")
        self.wait_for(lambda: self.lines() == ["start 1"], "run 1's start")
        errf = os.path.join(self.tmp, "two.err")
        with open(errf, "w") as ef:
            two = subprocess.Popen([BIN, "run", path, "-i", "n=2"], cwd=self.tmp, env=self.env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=ef)
        # the second says it waits (stderr), and does not start
        def note():
            with open(errf) as f:
                return "waiting: concurrency group gated is full" in f.read()
        self.wait_for(note, "the second run's waiting note")
        self.assertEqual(self.lines(), ["start 1"])
        self.release(1)
        self.release(2)
        one.communicate(timeout=60)
        self.assertEqual(one.returncode, 0)
        self.assertEqual(two.wait(timeout=60), 0)
        self.assertEqual(self.lines(), ["start 1", "end 1", "start 2", "end 2"])

    def test_weft_run_skip_exits_3(self):
        path = self.write("local.yaml", GATED % ("{limit: 1, on_full: skip}", self.log, self.rel))
        one = self.spawn("run", path, "-i", "n=1")
        self.wait_for(lambda: self.lines() == ["start 1"], "run 1's start")
        r = self.weft("run", path, "-i", "n=2")
        self.assertExit(r, 3)
        self.assertIn("concurrency group gated is full", r.err)
        self.release(1)
        one.communicate(timeout=60)
        self.assertEqual(one.returncode, 0)

    def test_queued_runs_survive_a_sigkilled_server(self):
        self.deploy("1")
        srv = Server(self)
        runs = [self.start(srv, n)[1]["id"] for n in (1, 2, 3)]
        self.wait_for(lambda: self.lines() == ["start 1"], "run 1's start")
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        self.assertEqual([self.status(r) for r in runs[1:]], ["queued", "queued"])
        srv2 = Server(self)
        self.release(1)
        self.wait_for(lambda: "start 2" in self.lines(), "run 2's start after the restart")
        self.assertEqual(self.status(runs[2]), "queued")
        self.release(2)
        self.release(3)
        self.wait_for(lambda: self.ended(*runs), "the runs")
        srv2.stop()
        lines = [ln for ln in self.lines() if ln != "start 1"]  # run 1's step may start again after the kill
        self.assertEqual(lines[-4:], ["start 2", "end 2", "start 3", "end 3"])
        self.assertIn("end 1", lines)
        self.assertLess(self.lines().index("end 1"), self.lines().index("start 2"))
        self.assertEqual([self.status(r) for r in runs], ["succeeded"] * 3)



class DocsTest(ConcurrencyBase):
    """docs/triggers.md's concurrency example, as written."""

    def test_deploys_example(self):
        from test_webhooks import doc_block
        self.write("deploy.sh", """
            #!/bin/sh
            echo "start $1" >> "%s"
            while [ ! -e "%s/release" ]; do sleep 0.05; done
            echo "end $1" >> "%s"
            """ % (self.log, self.rel, self.log))
        os.chmod(os.path.join(self.tmp, "deploy.sh"), 0o755)
        r = self.weft("deploy", self.write("deploys.yaml", doc_block("deploys")))
        self.assertExit(r, 0)
        srv = Server(self)
        p1 = self.start(srv, 0, "prod", "deploy-env")[1]["id"]
        self.wait_for(lambda: self.lines() == ["start prod"], "prod's start")
        p2 = self.start(srv, 0, "prod", "deploy-env")[1]["id"]
        st = self.start(srv, 0, "staging", "deploy-env")[1]["id"]
        self.wait_for(lambda: "start staging" in self.lines(), "staging's start")
        self.assertEqual(self.status(p2), "queued")
        open(os.path.join(self.rel, "release"), "w").close()
        self.wait_for(lambda: self.ended(p1, p2, st), "the runs")
        srv.stop()
        lines = self.lines()
        self.assertEqual(lines.count("start prod"), 2)
        self.assertLess(lines.index("end prod"), len(lines) - 1 - lines[::-1].index("start prod"))


if __name__ == "__main__":
    main()
