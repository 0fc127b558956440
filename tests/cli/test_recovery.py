"""End-to-end: durability. The real `weft run` is killed with SIGKILL at
random moments and `weft resume` must finish every run without running a
step whose success was recorded again; cancel and Ctrl-C from outside; several
weft processes on one home.

WEFT_CRASH_ITERATIONS sets how many random kills (default 8; more on demand)."""
from harness import WeftTest, main
import json
from collections import Counter
import os
import random
import signal
import subprocess
import time

ITERATIONS = int(os.environ.get("WEFT_CRASH_ITERATIONS", "8"))


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def gone_soon(pid, seconds=5):
    """True once pid is gone (or a zombie). The bound only turns a survivor
    into a failure on a slow machine: it is not a speed assertion."""
    end = time.time() + seconds
    while time.time() < end:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)


# A step body that starts children of every kind and writes each one's pid to
# $WEFT_WORKSPACE/kN: two in its process group (a background job and a child
# shell), two that leave it (setsid, and a double fork into a new session
# with stdout closed); then it waits.
KIDS = ["k1", "k2", "k3", "k4"]
KIDS_STEP = r"""
    sleep 300 & echo $! > "$WEFT_WORKSPACE/k1"
    sh -c 'echo $$ > "$WEFT_WORKSPACE/k2"; exec sleep 300' &
    setsid sh -c 'echo $$ > "$WEFT_WORKSPACE/k3"; exec sleep 300' &
    (setsid sh -c 'echo $$ > "$WEFT_WORKSPACE/k4"; exec sleep 300' > /dev/null 2>&1 &)
    wait
"""


def kids_step(indent):
    return "\n".join(" " * indent + l.strip() for l in KIDS_STEP.strip().splitlines())


class Recovery(WeftTest):
    def kid_pids(self, rid):
        """Waits until the step has written all its children's pids."""
        ws = os.path.join(self.home, "workspaces", rid)

        def read():
            pids = []
            for k in KIDS:
                try:
                    with open(os.path.join(ws, k)) as f:
                        t = f.read().strip()
                except FileNotFoundError:
                    return None
                if not t:
                    return None
                pids.append(int(t))
            return pids
        return self.wait_for(read, "the step's children to start")

    def assertAllGone(self, pids):
        for k, pid in zip(KIDS, pids):
            self.assertTrue(gone_soon(pid), f"the step's child {k} (pid {pid}) outlived it")

    def status(self, rid):
        r = self.weft("status", rid, "--json")
        self.assertExit(r, 0)
        return r.json()

    def test_sigkill_then_resume_reattempts_interrupted_and_kills_old_group(self):
        p = self.write("w.yaml", """
            name: crash
            steps:
              a: {run: 'echo x >> "$WEFT_WORKSPACE/a.count"'}
              b:
                needs: a
                run: |
                  echo x >> "$WEFT_WORKSPACE/b.count"
                  if [ "$WEFT_ATTEMPT" = 1 ]; then
                    sleep 300 & echo $! > "$WEFT_WORKSPACE/b.sleeper"; wait
                  fi
                  echo "attempt=$WEFT_ATTEMPT" >> "$WEFT_OUTPUT"
              c: {needs: b, run: 'echo x >> "$WEFT_WORKSPACE/c.count"'}
        """)
        proc = self.spawn("run", p)
        run = self.wait_for(self.latest, "the run to exist")
        ws = os.path.join(self.home, "workspaces", run["id"])
        sleeper_file = os.path.join(ws, "b.sleeper")
        self.wait_for(lambda: os.path.exists(sleeper_file) and open(sleeper_file).read().strip(),
                      "step b to start")
        sleeper = int(open(sleeper_file).read())
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.assertTrue(alive(sleeper))  # the step's group outlives the engine
        self.assertEqual(self.status(run["id"])["status"], "running")

        r = self.weft("resume", "--json")
        self.assertExit(r, 0)
        j = r.json()
        self.assertEqual(j["status"], "succeeded")
        self.assertFalse(alive(sleeper), "the dead engine's process group was not killed")
        b = j["steps"]["b"]
        self.assertEqual(b["attempts"], 2)
        self.assertEqual(b["outputs"], {"attempt": 2})
        self.assertEqual(open(os.path.join(ws, "a.count")).read(), "x\n")
        self.assertEqual(open(os.path.join(ws, "c.count")).read(), "x\n")
        # the interrupted attempt is recorded with its kind
        audit = [json.loads(l) for l in self.weft("audit", "export", run["id"]).out.splitlines()]
        kinds = [e["data"].get("error", {}).get("kind") for e in audit
                 if e["kind"] == "attempt.finished"]
        self.assertIn("interrupted", kinds)
        self.assertExit(self.weft("audit", "verify"), 0)

    def test_random_sigkill_and_resume(self):
        p = self.write("w.yaml", """
            name: chaos
            steps:
              start: {run: 'echo x >> "$WEFT_WORKSPACE/start.count"; sleep 0.05'}
              fan:
                needs: start
                for_each: 6
                max_parallel: 3
                run: 'echo x >> "$WEFT_WORKSPACE/fan-$WEFT_INDEX.count"; sleep 0.0$WEFT_INDEX'
              mid: {needs: fan, run: 'echo x >> "$WEFT_WORKSPACE/mid.count"; sleep 0.05'}
              pure: {needs: mid, set: {v: "${{ .steps.mid.status }}"}}
              end: {needs: pure, run: 'echo x >> "$WEFT_WORKSPACE/end.count"'}
        """)
        rng = random.Random(int(os.environ.get("WEFT_CRASH_SEED", "12345")))
        for it in range(ITERATIONS):
            with self.subTest(iteration=it):
                proc = self.spawn("run", p)
                time.sleep(rng.uniform(0.0, 0.6))
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                run = self.latest()
                if run is None:
                    continue  # killed before the run was recorded: nothing to check
                rid = run["id"]
                before = self.status(rid)
                ws = os.path.join(self.home, "workspaces", rid)

                def count(name):
                    try:
                        with open(os.path.join(ws, name + ".count")) as f:
                            return len(f.read().splitlines())
                    except FileNotFoundError:
                        return 0
                recorded = {}
                for sid, st in before["steps"].items():
                    if st["instances"]:
                        for i, inst in enumerate(st["instances"]):
                            if inst["status"] == "succeeded":
                                recorded[f"fan-{i}"] = count(f"fan-{i}")
                    elif st["status"] == "succeeded" and sid != "pure":
                        recorded[sid] = count(sid)
                if before["status"] in ("running", "waiting", "queued"):
                    r = self.weft("resume", rid)
                    self.assertIn(r.code, (0,), repr(r))
                after = self.status(rid)
                self.assertEqual(after["status"], "succeeded", json.dumps(after, indent=1))
                # the kept instance counts agree with the rows, before and after
                for st in (before["steps"]["fan"], after["steps"]["fan"]):
                    if st["instances"]:
                        self.assertEqual(st["instance_counts"],
                                         dict(Counter(i["status"] for i in st["instances"])))
                self.assertEqual(after["steps"]["fan"]["instance_counts"], {"succeeded": 6})
                for name, n in recorded.items():
                    self.assertEqual(count(name), n, f"{name} ran again after its success was recorded")
                for name in ["start", "mid", "end"] + [f"fan-{i}" for i in range(6)]:
                    self.assertGreaterEqual(count(name), 1)
        self.assertExit(self.weft("audit", "verify"), 0)

    def test_backoff_keeps_its_due_time_across_sigkill(self):
        p = self.write("w.yaml", """
            name: backoff
            steps:
              s:
                retry: {attempts: 2, delay: 3s, backoff: fixed}
                run: '[ "$WEFT_ATTEMPT" = 2 ]'
        """)
        proc = self.spawn("run", p)
        run = self.wait_for(self.latest, "the run")
        self.wait_for(lambda: self.status(run["id"])["steps"]["s"]["status"] == "retrying",
                      "the backoff")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        r = self.weft("resume", run["id"])
        self.assertExit(r, 0)
        audit = [json.loads(l) for l in self.weft("audit", "export", run["id"]).out.splitlines()]
        ended = [e["at_ms"] for e in audit if e["kind"] == "attempt.finished"]
        started = [e["at_ms"] for e in audit if e["kind"] == "attempt.started"]
        self.assertEqual(len(started), 2)
        # the second attempt waited out the recorded backoff, though the
        # engine that armed it died
        # (milliseconds are truncated on both sides: allow a few of them)
        self.assertGreaterEqual(started[1] - ended[0], 2990)

    def test_cancel_from_another_process(self):
        p = self.write("w.yaml", """
            name: cancelme
            steps:
              slow:
                run: |
%s
              never: {needs: slow, run: "true"}
        """ % kids_step(18))
        proc = self.spawn("run", p)
        run = self.wait_for(self.latest, "the run")
        self.wait_for(lambda: self.status(run["id"])["steps"]["slow"]["status"] == "running",
                      "slow to run")
        kids = self.kid_pids(run["id"])
        r = self.weft("cancel", run["id"][:8])
        self.assertExit(r, 0)
        proc.wait(timeout=60)
        self.assertEqual(proc.returncode, 3)
        j = self.status(run["id"])
        self.assertEqual(j["status"], "cancelled")
        self.assertEqual(j["steps"]["slow"]["status"], "cancelled")
        self.assertIn(j["steps"]["never"]["status"], ("cancelled", "skipped"))
        self.assertExit(self.weft("cancel", run["id"]), 2)  # already ended
        # every process the step started is gone, in its group or not
        self.assertAllGone(kids)

    def test_cancel_while_no_engine_runs_applies_on_resume(self):
        p = self.write("w.yaml", """
            name: cancelorphan
            steps:
              slow: {run: "sleep 300"}
        """)
        proc = self.spawn("run", p)
        run = self.wait_for(self.latest, "the run")
        self.wait_for(lambda: self.status(run["id"])["steps"]["slow"]["status"] == "running",
                      "slow to run")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        r = self.weft("cancel", run["id"])
        self.assertExit(r, 0)
        self.assertIn("weft resume", r.out)
        r = self.weft("resume", run["id"])
        self.assertExit(r, 3)
        self.assertEqual(self.status(run["id"])["status"], "cancelled")

    def test_cancel_taken_by_an_engine_that_died_is_finished_by_resume(self):
        p = self.write("w.yaml", """
            name: halfcancel
            steps:
              stubborn: {run: "trap '' TERM; sleep 300"}
              next: {needs: stubborn, run: "true"}
        """)
        proc = self.spawn("run", p)
        run = self.wait_for(self.latest, "the run")
        self.wait_for(lambda: self.status(run["id"])["steps"]["stubborn"]["status"] == "running",
                      "the step to run")
        canceller = self.spawn("cancel", run["id"])
        # the engine takes the request (the pending step is cancelled at once)
        # and sends SIGTERM, which the step ignores; it dies during the 10 s
        # grace, before the cancel completes
        self.wait_for(lambda: self.status(run["id"])["steps"]["next"]["status"] == "cancelled",
                      "the engine to take the cancel")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        canceller.kill()
        canceller.wait()
        r = self.weft("resume", run["id"])
        self.assertExit(r, 3)
        j = self.status(run["id"])
        self.assertEqual(j["status"], "cancelled")
        self.assertNotEqual(j["steps"]["next"]["status"], "succeeded")

    def test_reserved_steps_count_as_interrupted_after_a_crash(self):
        # a and b run; c and d wait for a slot and are reserved (durable
        # dispatch): after SIGKILL nothing says whether they had started, so
        # resume counts an interrupted attempt for them too and runs them
        # again; the counter file shows that each ran once
        p = self.write("w.yaml", """
            name: reserved
            max_parallel: 2
            steps:
              a: {run: "echo a >> ran; [ -e go ] || sleep 300"}
              b: {run: "echo b >> ran; [ -e go ] || sleep 300"}
              c: {run: "echo c >> ran"}
              d: {run: "echo d >> ran"}
        """)
        ran = os.path.join(os.path.dirname(p), "ran")

        def lines():
            if not os.path.exists(ran):
                return []
            with open(ran) as f:
                return f.read().split()
        proc = self.spawn("run", p)
        self.wait_for(lambda: len(lines()) == 2, "a and b to start")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        run = self.latest()
        open(os.path.join(os.path.dirname(p), "go"), "w").close()
        r = self.weft("resume", run["id"])
        self.assertExit(r, 0)
        j = self.status(run["id"])
        self.assertEqual(j["status"], "succeeded")
        for s in "abcd":
            self.assertEqual(j["steps"][s]["status"], "succeeded")
            self.assertEqual(j["steps"][s]["attempts"], 2, s)
        self.assertEqual(sorted(lines()), ["a", "a", "b", "b", "c", "d"])
        self.assertExit(self.weft("audit", "verify"), 0)

    def test_cancel_gets_through_a_busy_fan_out(self):
        # thousands of short steps keep the engine committing all the time;
        # another process's cancel must still get its write in (the engine
        # holds the write lock only while it commits), so the run ends
        # cancelled long before the last step
        steps = "\n".join('  s%d: {command: ["true"]}' % i for i in range(4000))
        p = self.write("w.yaml", "name: busy\nmax_parallel: 2\nsteps:\n" + steps + "\n")
        from harness import BIN  # its 8,000 progress lines must not fill a pipe
        proc = subprocess.Popen([BIN, "run", p], cwd=self.tmp, env=self.env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        run = self.wait_for(self.latest, "the run")
        self.wait_for(lambda: any(st["status"] == "succeeded"
                                  for st in self.status(run["id"])["steps"].values()),
                      "steps to run")
        self.assertExit(self.weft("cancel", run["id"]), 0)
        proc.wait(timeout=120)
        j = self.status(run["id"])
        self.assertEqual(j["status"], "cancelled")
        left = sum(1 for st in j["steps"].values() if st["status"] == "cancelled")
        self.assertGreater(left, 0)

    def test_ctrl_c_cancels_the_run(self):
        p = self.write("w.yaml", """
            name: ctrlc
            steps:
              slow:
                run: |
%s
        """ % kids_step(18))
        proc = self.spawn("run", p)
        run = self.wait_for(self.latest, "the run")
        self.wait_for(lambda: self.status(run["id"])["steps"]["slow"]["status"] == "running",
                      "slow to run")
        kids = self.kid_pids(run["id"])
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        self.assertEqual(proc.returncode, 130)
        self.assertEqual(self.status(run["id"])["status"], "cancelled")
        self.assertAllGone(kids)

    def test_resume_with_nothing_to_do(self):
        r = self.weft("resume")
        self.assertExit(r, 0)
        self.assertIn("nothing to resume", r.out)

    def test_resume_refuses_a_live_owner(self):
        p = self.write("w.yaml", "name: live\nsteps: {slow: {run: 'sleep 300'}}\n")
        proc = self.spawn("run", p)
        try:
            run = self.wait_for(self.latest, "the run")
            r = self.weft("resume", run["id"])
            self.assertExit(r, 2)
            self.assertIn("another weft process", r.err)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)

    def test_many_processes_on_one_home(self):
        p = self.write("w.yaml", """
            name: busy
            steps:
              s: {for_each: 20, max_parallel: 4, run: "true"}
              t: {needs: s, set: {n: "${{ .steps.s.outputs | length }}"}}
        """)
        procs = [self.spawn("run", p) for _ in range(4)]
        readers = 0
        while any(pr.poll() is None for pr in procs):
            self.weft("runs", "--json")  # readers at the same time
            readers += 1
        for pr in procs:
            out, err = pr.communicate()
            self.assertEqual(pr.returncode, 0, err)
            self.assertNotIn("locked", err)
        runs = self.weft("runs", "--json").json()
        self.assertEqual(len(runs), 4)
        self.assertTrue(all(r["status"] == "succeeded" for r in runs))


if __name__ == "__main__":
    main()
