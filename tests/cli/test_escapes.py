"""End-to-end: no process a step started outlives it, also those that left
its process group (setsid, a double fork, setsid -f) and a background child
that keeps stdout open; a step ends with its main process. Each test runs
under both mechanisms of docs/running.md ("When a step ends"): a cgroup per
attempt (skipped where this machine cannot make one) and the subreaper
fallback, chosen with WEFT_PROC_TREE."""
from harness import WeftTest, main
import os
import signal
import time

MODES = ["cgroup", "subreaper"]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie runs nothing
    except FileNotFoundError:
        return False


def gone_soon(pid, seconds=5):
    """True once pid is gone. The bound only turns a survivor into a failure
    on a slow machine: it is not a speed assertion."""
    end = time.time() + seconds
    while time.time() < end:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)


# Children of every kind, each writing its pid to $WEFT_WORKSPACE/kN:
# k1 a background job holding stdout, k2 setsid holding stdout, k3 a double
# fork, k4 setsid -f with stdout closed; then it waits for all four files.
KIDS = ["k1", "k2", "k3", "k4"]
KIDS_SH = r"""
sleep 300 & echo $! > "$WEFT_WORKSPACE/k1"
setsid sh -c 'echo $$ > "$WEFT_WORKSPACE/k2"; exec sleep 300' &
(sh -c 'echo $$ > "$WEFT_WORKSPACE/k3"; exec sleep 300' &)
setsid -f sh -c 'echo $$ > "$WEFT_WORKSPACE/k4"; exec sleep 300' > /dev/null 2>&1
for k in k1 k2 k3 k4; do while [ ! -s "$WEFT_WORKSPACE/$k" ]; do sleep 0.01; done; done
"""


def block(text, indent):
    return "\n".join(" " * indent + l for l in text.strip().splitlines())


class Escapes(WeftTest):
    def use(self, mode):
        """A home of its own per mechanism (latest() must not see the other's run)."""
        self.home = os.path.join(self.tmp, "home-" + mode)
        self.env = dict(self.env, WEFT_HOME=self.home, WEFT_PROC_TREE=mode)
        if self.pg is not None:  # and a store of its own (WEFT_TEST_STORE=postgres)
            self.env["WEFT_STORE"] = self.pg.new_database()

    def cgroup_usable(self):
        # what weft itself checks: cgroup v2 mounted and writable by us
        with open("/proc/self/mountinfo") as f:
            return any(" - cgroup2 " in l and os.access(l.split()[4], os.W_OK) for l in f)

    def modes(self):
        return [m for m in MODES if m != "cgroup" or self.cgroup_usable()]

    def pids(self, rid, names):
        ws = os.path.join(self.home, "workspaces", rid)
        out = []
        for k in names:
            with open(os.path.join(ws, k)) as f:
                out.append(int(f.read()))
        return out

    def assertAllGone(self, names, pids, mode):
        for k, pid in zip(names, pids):
            self.assertTrue(gone_soon(pid), f"{mode}: {k} (pid {pid}) outlived its step")

    def run_json(self, path, mode, code):
        r = self.weft("run", path, "--json", timeout=60)
        self.assertExit(r, code)
        return r.json()

    def test_escapes_die_when_the_step_ends(self):
        for mode in self.modes():
            with self.subTest(mode=mode):
                self.use(mode)
                p = self.write(f"{mode}.yaml", """
                    name: esc
                    steps:
                      s:
                        run: |
%s
                          echo done
                """ % block(KIDS_SH, 26))
                j = self.run_json(p, mode, 0)
                self.assertEqual(j["steps"]["s"]["status"], "succeeded")
                self.assertAllGone(KIDS, self.pids(j["id"], KIDS), mode)

    def test_escapes_die_when_the_step_times_out(self):
        for mode in self.modes():
            with self.subTest(mode=mode):
                self.use(mode)
                p = self.write(f"{mode}.yaml", """
                    name: esct
                    steps:
                      s:
                        timeout: 1s
                        run: |
%s
                          sleep 300
                """ % block(KIDS_SH, 26))
                j = self.run_json(p, mode, 1)
                self.assertEqual(j["steps"]["s"]["error"]["kind"], "timeout")
                self.assertAllGone(KIDS, self.pids(j["id"], KIDS), mode)

    def test_escapes_die_when_the_run_is_cancelled(self):
        for mode in self.modes():
            with self.subTest(mode=mode):
                self.use(mode)
                p = self.write(f"{mode}.yaml", """
                    name: escc
                    steps:
                      s:
                        run: |
%s
                          touch "$WEFT_WORKSPACE/ready"
                          sleep 300
                """ % block(KIDS_SH, 26))
                proc = self.spawn("run", p)
                run = self.wait_for(self.latest, "the run")
                ws = os.path.join(self.home, "workspaces", run["id"])
                self.wait_for(lambda: os.path.exists(os.path.join(ws, "ready")), "the children")
                pids = self.pids(run["id"], KIDS)
                self.assertExit(self.weft("cancel", run["id"]), 0)
                proc.communicate(timeout=60)
                self.assertEqual(proc.returncode, 3)
                self.assertAllGone(KIDS, pids, mode)

    def test_background_child_holding_stdout_does_not_stall_the_run(self):
        # the step ends when its main process exits (after a short grace for
        # output); its result is the main process's status
        for mode in self.modes():
            with self.subTest(mode=mode):
                self.use(mode)
                p = self.write(f"{mode}.yaml", """
                    name: bg
                    steps:
                      ok: {run: 'sleep 300 & echo $! > "$WEFT_WORKSPACE/bg1"; echo hi'}
                      bad: {run: 'sleep 300 & echo $! > "$WEFT_WORKSPACE/bg2"; exit 3'}
                """)
                j = self.run_json(p, mode, 1)
                self.assertEqual(j["steps"]["ok"]["status"], "succeeded")
                self.assertEqual(j["steps"]["bad"]["error"]["kind"], "exit_code")
                self.assertEqual(j["steps"]["bad"]["error"]["exit_code"], 3)
                self.assertAllGone(["bg1", "bg2"], self.pids(j["id"], ["bg1", "bg2"]), mode)
                log = self.weft("logs", j["id"], "ok")
                self.assertIn("hi", log.out)

    def test_resume_kills_the_escapes_of_an_interrupted_step(self):
        # k5 also clears its environment: only its cgroup ties it to the run,
        # so the subreaper fallback cannot find it after a crash (documented)
        k5 = ('S=$(command -v sleep); setsid env -i /bin/sh -c '
              '"echo \\$\\$ > \'$WEFT_WORKSPACE/k5\'; exec $S 300" &\n'
              'while [ ! -s "$WEFT_WORKSPACE/k5" ]; do sleep 0.01; done')
        for mode in self.modes():
            with self.subTest(mode=mode):
                self.use(mode)
                p = self.write(f"{mode}.yaml", """
                    name: crash
                    steps:
                      s:
                        run: |
                          if [ "$WEFT_ATTEMPT" = 1 ]; then
%s
%s
                            touch "$WEFT_WORKSPACE/ready"
                            wait
                          fi
                """ % (block(KIDS_SH, 28), block(k5, 28)))
                proc = self.spawn("run", p)
                run = self.wait_for(self.latest, "the run")
                ws = os.path.join(self.home, "workspaces", run["id"])
                self.wait_for(lambda: os.path.exists(os.path.join(ws, "ready")), "the children")
                names = KIDS + ["k5"]
                pids = self.pids(run["id"], names)
                proc.send_signal(signal.SIGKILL)
                proc.communicate()
                self.assertTrue(all(alive(x) for x in pids))  # the engine died, they did not
                r = self.weft("resume", run["id"], "--json")
                self.assertExit(r, 0)
                if mode == "cgroup":
                    self.assertAllGone(names, pids, mode)
                else:
                    self.assertAllGone(KIDS, pids[:4], mode)
                    os.kill(pids[4], signal.SIGKILL)  # ours to clean up


if __name__ == "__main__":
    main()
