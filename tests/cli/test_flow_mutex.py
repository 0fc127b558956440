"""End-to-end: `mutex:` (docs/language.md, "Control flow"): steps holding the
same mutex never overlap, in one run (default scope) or across the runs of a
home (`scope: global`); the mutex is let go when the holder ends in any way,
and a holder whose engine was SIGKILLed frees it on recovery, not before its
left-behind process is gone. Overlap is checked from files the steps append
to (each critical section writes `start ID` then `end ID`), never by timing."""
import os
import signal
import time

from harness import WeftTest, main


def sections(path):
    """[(id, complete)] in file order; fails on an overlap: a line of another
    section between a start and its end. A section cut short (its process
    killed) has no end: the next start closes it, and any later line of it
    is an overlap (its process ticks while it lives)"""
    with open(path) as f:
        lines = [l.split() for l in f.read().splitlines() if l.strip()]
    out, cur = [], None
    for word, sid in lines:
        if word == "start":
            if cur is not None:
                out.append((cur, False))
            cur = sid
        elif sid != cur or any(o == sid for o, _ in out):
            raise AssertionError(f"{word} {sid} inside {cur}: {lines}")
        elif word == "end":
            out.append((cur, True))
            cur = None
    if cur is not None:
        out.append((cur, False))
    return out


CRIT = ('echo "start $ID" >> %(f)s; for i in 1 2 3 4 5; do echo "tick $ID" >> %(f)s; sleep 0.02; done; '
        'echo "end $ID" >> %(f)s')


class Mutex(WeftTest):
    def status(self, rid):
        r = self.weft("status", rid, "--json")
        self.assertExit(r, 0)
        return r.json()

    def test_run_scope_instances_and_steps_never_overlap(self):
        f = os.path.join(self.tmp, "log")
        p = self.write("w.yaml", f"""
            name: crit
            steps:
              many:
                for_each: 6
                max_parallel: 6
                mutex: db
                env: {{ID: "m${{{{ .index }}}}"}}
                run: '{CRIT % {"f": f}}'
              other: {{mutex: {{name: db}}, env: {{ID: other}}, run: '{CRIT % {"f": f}}'}}
              free: {{env: {{ID: free}}, run: 'echo free > {self.tmp}/free'}}
        """)
        r = self.weft("run", p, "--json")
        self.assertExit(r, 0)
        got = sections(f)
        self.assertEqual(sorted(s for s, _ in got), sorted([f"m{i}" for i in range(6)] + ["other"]))
        self.assertTrue(all(done for _, done in got))

    def test_a_failing_holder_lets_go(self):
        f = os.path.join(self.tmp, "log")
        p = self.write("w.yaml", f"""
            name: crit
            steps:
              a: {{mutex: m, env: {{ID: a}}, run: 'echo "start a" >> {f}; echo "end a" >> {f}; exit 3'}}
              b: {{mutex: m, env: {{ID: b}}, run: '{CRIT % {"f": f}}'}}
              c: {{mutex: m, env: {{ID: c}}, run: '{CRIT % {"f": f}}', timeout: 10m}}
        """)
        r = self.weft("run", p, "--json")
        self.assertExit(r, 1)
        self.assertEqual(sorted(s for s, _ in sections(f)), ["a", "b", "c"])

    def test_a_start_refused_by_its_executor_lets_go(self):
        p = self.write("w.yaml", """
            name: refused
            steps:
              a: {mutex: m, wait: {until: '${{ "not a time" }}'}}
              b: {needs: a, if: always, mutex: m, run: 'true'}
        """)
        r = self.weft("run", p, "--json", timeout=60)
        self.assertExit(r, 1)
        s = r.json()["steps"]
        self.assertEqual((s["a"]["status"], s["b"]["status"]), ("failed", "succeeded"))

    def test_global_scope_two_runs_never_overlap(self):
        f = os.path.join(self.tmp, "log")
        text = """
            name: deploy-%(n)s
            steps:
              deploy:
                for_each: 3
                mutex: {name: production, scope: global}
                env: {ID: "%(n)s${{ .index }}"}
                run: '%(crit)s'
        """
        procs = [self.spawn("run", self.write(f"{n}.yaml", text % {"n": n, "crit": CRIT % {"f": f}}))
                 for n in ("x", "y")]
        for pr in procs:
            self.assertEqual(pr.wait(timeout=120), 0)
        got = sections(f)
        self.assertEqual(sorted(s for s, _ in got), ["x0", "x1", "x2", "y0", "y1", "y2"])

    def test_sigkill_while_holding_frees_on_recovery_after_the_old_process_is_gone(self):
        f = os.path.join(self.tmp, "log")
        gate = os.path.join(self.tmp, "gate")
        holder = self.write("a.yaml", f"""
            name: holder
            steps:
              hold:
                mutex: {{name: production, scope: global}}
                run: 'echo "start a$WEFT_ATTEMPT" >> {f}; while [ ! -f {gate} ]; do echo "tick a$WEFT_ATTEMPT" >> {f}; sleep 0.05; done; echo "end a$WEFT_ATTEMPT" >> {f}'
        """)
        other = self.write("b.yaml", f"""
            name: other
            steps:
              take: {{mutex: {{name: production, scope: global}}, env: {{ID: b}}, run: '{CRIT % {"f": f}}'}}
        """)
        a = self.spawn("run", holder)
        self.wait_for(lambda: os.path.exists(f) and "tick a1" in open(f).read(), "the holder inside")
        rid = self.latest()["id"]
        os.kill(a.pid, signal.SIGKILL)  # the engine dies; `hold`'s process goes on holding
        a.wait()
        b = self.spawn("run", other)
        self.wait_for(lambda: (self.latest() or {}).get("workflow") == "other"
                      and self.status(self.latest()["id"])["steps"]["take"]["status"] == "running",
                      "the other run waiting for the mutex")
        time.sleep(0.5)  # several of its polls: it must still wait (checked by the file below)
        self.assertNotIn("start b", open(f).read())
        r = self.spawn("resume", rid)  # kills the old process group, re-attempts `hold`
        self.wait_for(lambda: "start b" in open(f).read() or "start a2" in open(f).read(),
                      "the mutex to be taken again")
        open(gate, "w").close()
        self.assertEqual(b.wait(timeout=120), 0)
        self.assertEqual(r.wait(timeout=120), 0)
        got = sections(f)  # a1 was killed inside; nobody else got in while it lived
        self.assertEqual(got[0], ("a1", False))
        self.assertEqual(sorted(got[1:]), [("a2", True), ("b", True)])
        self.assertEqual(self.status(rid)["steps"]["hold"]["attempts"], 2)


if __name__ == "__main__":
    main()
