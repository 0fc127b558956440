"""test_bigrun.py — big runs stay inspectable: `weft status` of a for_each step
summarises its instances (counts per status, the first 1,000 with the failed
ones first, --all-instances for all), durations and times are right, the
audit log of instance spans verifies, and `weft logs RUN STEP:INDEX` works."""
import json
import os
import re
import subprocess
from datetime import datetime

from harness import BIN, WeftTest, main

# 1,500 instances; items 7, 507 and 1007 fail (an expression error)
FAILING = """
    name: many
    steps:
      s:
        for_each: 1500
        continue_on_error: true
        set: {v: "${{ if .item % 500 == 7 then error(\\"bad item \\\\(.item)\\") else .item end }}"}
"""


def ms(t):
    return datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000


class BigRunTest(WeftTest):
    def run_json(self, text, code=0):
        res = self.weft("run", self.write("w.yaml", text), "--json")
        self.assertExit(res, code)
        return res.json()

    def test_status_truncates_with_failed_first(self):
        rid = self.run_json(FAILING)["id"]
        res = self.weft("status", rid, "--json")
        self.assertExit(res, 0)
        s = res.json()["steps"]["s"]
        self.assertEqual(s["instance_counts"], {"succeeded": 1497, "failed": 3})
        self.assertIs(s["instances_truncated"], True)
        self.assertEqual(len(s["instances"]), 1000)
        self.assertEqual(len(s["outputs"]), 1000)
        idx = [i["index"] for i in s["instances"]]
        self.assertEqual(idx[:3], [7, 507, 1007])
        self.assertEqual([i["status"] for i in s["instances"][:3]], ["failed"] * 3)
        self.assertIn("bad item 507", s["instances"][1]["error"]["message"])
        # then the others by index, the failed ones not again
        self.assertEqual(idx[3:], [i for i in range(1500) if i not in (7, 507, 1007)][:997])
        self.assertEqual(s["outputs"][3], {"v": 0})
        self.assertEqual(s["outputs"][10], {"v": 8})
        for k in ("status", "attempts", "exit_code", "error", "started_at", "finished_at",
                  "outputs"):
            self.assertIn(k, s["instances"][5])

    def test_status_all_instances(self):
        rid = self.run_json(FAILING)["id"]
        s = self.weft("status", rid, "--json", "--all-instances").json()["steps"]["s"]
        self.assertNotIn("instances_truncated", s)
        self.assertEqual(s["instance_counts"], {"succeeded": 1497, "failed": 3})
        self.assertEqual([i["index"] for i in s["instances"]], list(range(1500)))
        self.assertEqual(len(s["outputs"]), 1500)
        self.assertEqual(s["instances"][507]["status"], "failed")
        self.assertEqual(s["outputs"][1499], {"v": 1499})

    def test_status_small_step_lists_all_by_index(self):
        rid = self.run_json("""
            name: few
            steps:
              s:
                for_each: 20
                continue_on_error: true
                set: {v: "${{ if .item == 3 then error(\\"no\\") else .item end }}"}
        """)["id"]
        s = self.weft("status", rid, "--json").json()["steps"]["s"]
        self.assertNotIn("instances_truncated", s)
        self.assertEqual([i["index"] for i in s["instances"]], list(range(20)))
        self.assertEqual(s["instance_counts"], {"succeeded": 19, "failed": 1})

    def test_status_counts_rows_written_before_counts_were_kept(self):
        # a run recorded before migration 6 has no counts on its step row:
        # status counts the instance rows instead
        rid = self.run_json(FAILING)["id"]
        with self.store_db() as con:  # either store (WEFT_TEST_STORE)
            con.execute("UPDATE steps SET counts = NULL")
            con.commit()
        s = self.weft("status", rid, "--json").json()["steps"]["s"]
        self.assertEqual(s["instance_counts"], {"failed": 3, "succeeded": 1497})
        self.assertEqual([i["index"] for i in s["instances"][:4]], [7, 507, 1007, 0])

    def test_status_text_summarises(self):
        rid = self.run_json(FAILING)["id"]
        res = self.weft("status", rid)
        self.assertExit(res, 0)
        self.assertIn("1500 instances: 1497 succeeded, 3 failed", res.out)
        self.assertIn("[7] failed:", res.out)
        self.assertIn("bad item 1007", res.out)
        self.assertLess(len(res.out.splitlines()), 30, res.out)

    def test_audit_of_instance_spans_verifies(self):
        rid = self.run_json(FAILING)["id"]
        self.assertExit(self.weft("audit", "verify"), 0)
        entries = [json.loads(l) for l in self.weft("audit", "export", rid).out.splitlines()]
        spans = [e["data"] for e in entries if e["kind"] == "step.instances"]
        self.assertIn({"attempts": 1, "from": 0, "status": "succeeded", "step": "s", "to": 6},
                      spans)
        self.assertIn({"attempts": 1, "from": 1008, "status": "succeeded", "step": "s",
                       "to": 1499}, spans)
        failed = [e["data"]["index"] for e in entries
                  if e["kind"] == "step.status" and e["data"].get("status") == "failed"
                  and "index" in e["data"]]
        self.assertEqual(failed, [7, 507, 1007])

    def test_journal_spilled_within_one_call_is_all_written(self):
        # 40,000 instances settle in one engine call: the journal goes to the
        # store in chunks of 16,384 entries (engine_set_spill); every row and
        # audit entry is there, in order, and the first 1,000 lines printed
        res = self.weft("run", self.write("w.yaml", """
            name: wide
            steps:
              s:
                for_each: 40000
                continue_on_error: true
                set: {v: "${{ if .item == 30007 then error(\\"bad\\") else .item end }}"}
              t:
                needs: [s]
                set: {n: "${{ .steps.s.outputs | length }}"}
        """))
        self.assertExit(res, 0)
        self.assertIn(" s[999] succeeded", res.out)
        self.assertNotIn(" s[1000] ", res.out)
        rid = self.latest()["id"]
        con = self.store_db()
        rows = dict(con.execute("SELECT status, count(*) FROM steps WHERE run_id = ? AND "
                                "step = 's' AND idx >= 0 GROUP BY status", (rid,)).fetchall())
        con.close()
        self.assertEqual(rows, {"succeeded": 39999, "failed": 1})
        s = self.weft("status", rid, "--json").json()["steps"]
        self.assertEqual(s["s"]["instance_counts"], {"succeeded": 39999, "failed": 1})
        self.assertEqual(s["t"]["outputs"], {"n": 40000})
        self.assertExit(self.weft("audit", "verify"), 0)
        entries = [json.loads(l) for l in self.weft("audit", "export", rid).out.splitlines()]
        done = sum(e["data"]["to"] - e["data"]["from"] + 1 for e in entries
                   if e["kind"] == "step.instances" and e["data"]["status"] == "succeeded")
        single = [e["data"]["index"] for e in entries if e["kind"] == "step.status"
                  and "index" in e["data"] and e["data"].get("status") in ("succeeded", "failed")]
        self.assertEqual(done + len(single), 40000)
        self.assertIn(30007, single)

    def test_cancel_of_a_wide_step_audits_one_span(self):
        # its progress lines go to /dev/null: a pipe nobody reads would block it
        proc = subprocess.Popen([BIN, "run", self.write("w.yaml", """
            name: wide-cancel
            steps:
              s:
                for_each: 3000
                max_parallel: 2
                run: sleep 30
        """)], cwd=self.tmp, env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run = self.wait_for(self.latest, "the run to exist")
        self.wait_for(lambda: self.weft("status", run["id"], "--json").json()["steps"]["s"]
                      .get("instance_counts", {}).get("running") == 2, "two instances to run")
        self.assertExit(self.weft("cancel", run["id"]), 0)
        self.assertEqual(proc.wait(timeout=60), 3)
        j = self.weft("status", run["id"], "--json").json()
        self.assertEqual(j["status"], "cancelled")
        self.assertEqual(j["steps"]["s"]["instance_counts"], {"cancelled": 3000})
        entries = [json.loads(l) for l in self.weft("audit", "export", run["id"]).out.splitlines()]
        spans = [e["data"] for e in entries if e["kind"] == "step.instances"]
        self.assertEqual(spans, [{"attempts": 0, "error": {"kind": "cancelled",
                                  "message": "the run was cancelled"}, "from": 2,
                                  "status": "cancelled", "step": "s", "to": 2999}])
        self.assertLess(len(entries), 30)
        self.assertExit(self.weft("audit", "verify"), 0)

    def test_logs_of_one_instance(self):
        rid = self.run_json("""
            name: echo
            steps:
              s:
                for_each: [a, b, c]
                env: {ITEM: "${{ .item }}"}
                run: echo "hello $ITEM"
        """)["id"]
        res = self.weft("logs", rid, "s:1")
        self.assertExit(res, 0)
        self.assertEqual(res.out, "hello b\n")
        res = self.weft("logs", rid, "s:7")
        self.assertExit(res, 4)

    def test_durations_of_a_sleeping_run(self):
        j = self.run_json("""
            name: slow
            steps:
              a: {run: sleep 0.2}
              b:
                needs: [a]
                for_each: 2
                run: sleep 0.2
        """)
        run0, run1 = ms(j["started_at"]), ms(j["finished_at"])
        self.assertGreaterEqual(run1 - run0, 400)  # two sleeps one after the other
        a, b = j["steps"]["a"], j["steps"]["b"]
        self.assertGreaterEqual(ms(a["finished_at"]) - ms(a["started_at"]), 200)
        for u in [a, b] + b["instances"]:
            t0, t1 = ms(u["started_at"]), ms(u["finished_at"])
            self.assertLessEqual(run0, t0)
            self.assertLessEqual(t0, t1)
            self.assertLessEqual(t1, run1)
        for i in b["instances"]:
            self.assertGreaterEqual(ms(i["finished_at"]) - ms(i["started_at"]), 200)
            self.assertLessEqual(ms(b["started_at"]), ms(i["started_at"]))
            self.assertLessEqual(ms(i["finished_at"]), ms(b["finished_at"]))
        res = self.weft("status", j["id"])
        m = re.search(r"  slow  succeeded  (\d+(?:\.\d+)?)(ms|s)\n", res.out)
        self.assertTrue(m, res.out)
        self.assertGreaterEqual(float(m.group(1)) * (1 if m.group(2) == "ms" else 1000), 400)

    def test_big_fanout_is_not_done_in_0ms(self):
        # 20,000 instances settle in one engine call (one `now`); writing
        # their rows takes real time, which the run's duration must show
        res = self.weft("run", self.write("w.yaml", """
            name: wide
            steps:
              s:
                for_each: 20000
                set: {v: "${{ .item }}"}
        """))
        self.assertExit(res, 0)
        self.assertNotIn("succeeded in 0ms", res.out)
        j = self.weft("status", self.latest()["id"], "--json").json()
        self.assertLess(ms(j["started_at"]), ms(j["finished_at"]))
        s = j["steps"]["s"]
        self.assertLess(ms(s["started_at"]), ms(s["finished_at"]))
        self.assertLessEqual(ms(s["finished_at"]), ms(j["finished_at"]))
        self.assertEqual(s["instance_counts"], {"succeeded": 20000})


class LogLimitTest(WeftTest):
    def log_of(self, rid, step):
        import glob
        import os
        [path] = glob.glob(os.path.join(self.home, "logs", rid, step + ".1.log"))
        with open(path, "rb") as f:
            return f.read()

    def test_log_is_capped_and_the_step_succeeds(self):
        # 100 KB of output (more than a pipe holds), a 1 KiB cap from
        # defaults:, a 2 KiB cap of the step's own; the program is not blocked
        res = self.weft("run", self.write("w.yaml", """
            name: caps
            defaults:
              log_limit: 1KiB
            steps:
              big:
                run: |
                  head -c 100000 /dev/zero | tr '\\0' x | fold -w 99
                  echo done=1 > "$WEFT_OUTPUT"
              own:
                log_limit: 2KiB
                run: yes hello | head -n 20000
              small:
                run: echo just this
        """), "--json")
        self.assertExit(res, 0)
        j = res.json()
        self.assertEqual(j["steps"]["big"]["status"], "succeeded")
        self.assertEqual(j["steps"]["big"]["outputs"], {"done": 1})
        big = self.log_of(j["id"], "big")
        marker = b"[weft: log truncated at 1 KiB; further output discarded]\n"
        self.assertTrue(big.endswith(marker), big[-200:])
        self.assertEqual(len(big), 1024 + 1 + len(marker))  # the cut line ends first
        self.assertEqual(big[:1024], (b"x" * 99 + b"\n") * 10 + b"x" * 24)
        own = self.log_of(j["id"], "own")
        self.assertEqual(own[:2048], (b"hello\n" * 342)[:2048])
        self.assertTrue(own.endswith(b"\n[weft: log truncated at 2 KiB; further output "
                                     b"discarded]\n"), own[-100:])
        self.assertEqual(self.log_of(j["id"], "small"), b"just this\n")
        # and `weft logs` shows the capped log
        out = self.weft("logs", j["id"], "big").out
        self.assertIn("[weft: log truncated at 1 KiB", out)

    def test_bad_size_is_a_validation_error(self):
        res = self.weft("validate", self.write("w.yaml", """
            name: bad
            steps:
              a: {run: "true", log_limit: 10mb}
        """))
        self.assertExit(res, 2)
        self.assertIn('"log_limit" in step "a": invalid size "10mb"', res.out + res.err)


if __name__ == "__main__":
    main()
