"""End-to-end: dynamic instances (docs/language.md, "Control flow").

`for_each: {items, complete_when, withdraw_rest}`: the for_each is decided the
moment complete_when holds over `.instances`; the remaining instances are
withdrawn (not started: skipped; running: the real process is killed, status
cancelled, kind withdrawn) and the step succeeds with the per-index outputs
(null where withdrawn); with `withdraw_rest: false` its dependents start while
the rest run on, and the run ends only after them; a SIGKILL of the engine
after the decision and `weft resume` neither loses nor repeats an instance."""
from harness import WeftTest, main
import json
import os
import signal
import time


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def gone_soon(pid, seconds=5):
    """True once pid is gone; the bound only turns a survivor into a failure."""
    end = time.time() + seconds
    while time.time() < end:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)


class ForEachMap(WeftTest):
    def run_json(self, path, code):
        r = self.weft("run", path, "--json")
        self.assertExit(r, code)
        return r.json()

    def status(self, rid):
        r = self.weft("status", rid, "--json")
        self.assertExit(r, 0)
        return r.json()

    def test_complete_when_withdraws_the_rest_and_kills_their_processes(self):
        p = self.write("w.yaml", """
            name: three-good-trials
            steps:
              trials:
                for_each:
                  items: [0.9, 0.1, 0.8, 0.7, 0.95, 0.2]
                  complete_when: "${{ .instances.succeeded >= 2 }}"
                max_parallel: 4
                env: {SCORE: "${{ .item }}"}
                run: |
                  case "$WEFT_INDEX" in
                    0|2) echo "score=$SCORE" >> "$WEFT_OUTPUT" ;;
                    1) exit 3 ;;
                    *) sleep 300 & echo $! > "$WEFT_WORKSPACE/tmp-$WEFT_INDEX"
                       mv "$WEFT_WORKSPACE/tmp-$WEFT_INDEX" "$WEFT_WORKSPACE/sleeper-$WEFT_INDEX"
                       wait ;;
                  esac
              pick:
                needs: trials
                set: {scores: "${{ [.steps.trials.outputs[] | .score? // empty] }}"}
        """)
        j = self.run_json(p, 0)
        t = j["steps"]["trials"]
        self.assertEqual(t["status"], "succeeded")
        self.assertEqual(j["steps"]["pick"]["outputs"]["scores"], [0.9, 0.8])
        inst = {i["index"]: i for i in t["instances"]}
        self.assertEqual(inst[0]["status"], "succeeded")
        # 1 fails at once, usually before the decision; on a loaded machine 0
        # and 2 may both end first, and then 1 is withdrawn (the engine trace
        # foreach_complete_when pins a failure before the decision)
        self.assertIn(inst[1]["status"], ("failed", "cancelled"))
        if inst[1]["status"] == "cancelled":
            self.assertEqual(inst[1]["error"]["kind"], "withdrawn")
        self.assertEqual(inst[2]["status"], "succeeded")
        # 3 was started (4 at once); 4 and 5 may or may not have started
        self.assertEqual(inst[3]["status"], "cancelled")
        self.assertEqual(inst[3]["error"]["kind"], "withdrawn")
        for i in (4, 5):
            self.assertIn(inst[i]["status"], ("cancelled", "skipped"))
            if inst[i]["status"] == "skipped":
                self.assertIsNone(inst[i]["started_at"])
        self.assertEqual(t["outputs"][3], None)
        ws = os.path.join(self.home, "workspaces", j["id"])
        for f in os.listdir(ws):
            if f.startswith("sleeper-"):
                with open(os.path.join(ws, f)) as fh:
                    pid = int(fh.read())
                self.assertTrue(gone_soon(pid), f"withdrawn instance's process {pid} survived")

    def test_complete_when_never_holding_is_a_plain_for_each(self):
        p = self.write("w.yaml", """
            name: never
            steps:
              fan:
                for_each: {items: 3, complete_when: "${{ .instances.succeeded > 5 }}"}
                run: '[ "$WEFT_INDEX" != 1 ]'
        """)
        j = self.run_json(p, 1)
        self.assertEqual(j["steps"]["fan"]["status"], "failed")
        self.assertIn("1 of 3 instances failed", j["steps"]["fan"]["error"]["message"])

    def test_withdraw_rest_false_starts_dependents_while_the_rest_run_on(self):
        # instance 1 finishes only once `early` (a dependent of the for_each)
        # has run: if dependents waited for every instance this would fail
        p = self.write("w.yaml", """
            name: first-shard-then-go
            steps:
              shards:
                for_each: {items: 2, complete_when: "${{ .instances.succeeded >= 1 }}",
                           withdraw_rest: false}
                run: |
                  if [ "$WEFT_INDEX" = 1 ]; then
                    i=0
                    while [ ! -e "$WEFT_WORKSPACE/go" ]; do
                      i=$((i+1)); [ $i -lt 1200 ] || exit 7; sleep 0.05
                    done
                  fi
                  echo "shard=$WEFT_INDEX" >> "$WEFT_OUTPUT"
              early: {needs: shards, run: 'touch "$WEFT_WORKSPACE/go"'}
            finally:
              report: {set: {outs: "${{ .steps.shards.outputs }}"}}
        """)
        j = self.run_json(p, 0)
        s = j["steps"]
        self.assertEqual(s["early"]["status"], "succeeded")
        inst = {i["index"]: i["status"] for i in s["shards"]["instances"]}
        self.assertEqual(inst, {0: "succeeded", 1: "succeeded"})
        # the finally step ran after the trailing instance and sees its outputs
        self.assertEqual(s["report"]["outputs"]["outs"], [{"shard": 0}, {"shard": 1}])

    def test_sigkill_around_the_decision_then_resume(self):
        # instance 0 ends when the test says so, which decides; instance 1
        # runs a sleeper and must be withdrawn. The engine is SIGKILLed a
        # moment after instance 0 is told to end (before the decision, between
        # its commit and the kill of instance 1, or after); `weft resume`
        # finishes: instance 1 never completes and its process is gone, the
        # dependent ran once.
        p = self.write("w.yaml", """
            name: crash-decided
            steps:
              trials:
                for_each: {items: 2, complete_when: "${{ .instances.succeeded >= 1 }}"}
                run: |
                  echo x >> "$WEFT_WORKSPACE/t$WEFT_INDEX.count"
                  if [ "$WEFT_INDEX" = 1 ]; then
                    sleep 300 & echo $! > "$WEFT_WORKSPACE/sleeper.tmp"
                    mv "$WEFT_WORKSPACE/sleeper.tmp" "$WEFT_WORKSPACE/sleeper"; wait
                    echo x >> "$WEFT_WORKSPACE/t1.done"
                  else
                    while [ ! -e "$WEFT_WORKSPACE/finish0" ]; do sleep 0.02; done
                  fi
              use: {needs: trials, set: {t: "${{ .steps.trials.status }}"}}
              hold:
                needs: use
                run: 'while [ ! -e "$WEFT_WORKSPACE/release" ]; do sleep 0.02; done'
        """)
        for delay in (0.0, 0.05, 0.4):
            with self.subTest(delay=delay):
                proc = self.spawn("run", p)
                rid = self.wait_for(lambda: (self.latest() or {}).get("id") not in
                                    (None, *getattr(self, "_seen", ())) and self.latest()["id"],
                                    "the run to exist")
                self._seen = (*getattr(self, "_seen", ()), rid)
                ws = os.path.join(self.home, "workspaces", rid)
                sleeper_file = os.path.join(ws, "sleeper")
                self.wait_for(lambda: os.path.exists(sleeper_file), "instance 1 to start")
                with open(sleeper_file) as f:
                    sleeper = int(f.read())
                open(os.path.join(ws, "finish0"), "w").close()
                time.sleep(delay)
                proc.send_signal(signal.SIGKILL)
                proc.communicate()
                open(os.path.join(ws, "release"), "w").close()
                r = self.weft("resume", rid)
                self.assertExit(r, 0)
                after = self.status(rid)
                self.assertEqual(after["status"], "succeeded", json.dumps(after, indent=1))
                inst = {i["index"]: i for i in after["steps"]["trials"]["instances"]}
                self.assertEqual(inst[0]["status"], "succeeded")
                self.assertEqual(inst[1]["status"], "cancelled")
                self.assertEqual(inst[1]["error"]["kind"], "withdrawn")
                self.assertEqual(after["steps"]["use"]["outputs"], {"t": "succeeded"})
                self.assertFalse(os.path.exists(os.path.join(ws, "t1.done")))
                self.assertTrue(gone_soon(sleeper), "instance 1's process survived")
        self.assertExit(self.weft("audit", "verify"), 0)

if __name__ == "__main__":
    main()
