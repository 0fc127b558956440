"""End-to-end: `wait` steps on events and time, and `weft event send`.

An engine waiting for an event gets one sent by another process; `match`
filters payloads; the payload becomes the step's outputs; `timeout` fails the
wait; an event sent while no engine runs is delivered on `weft resume`; a
time wait that should have ended while no engine ran ends at once."""
from harness import WeftTest, main, ROOT
import json
import os
import signal
import time
from datetime import datetime


def iso_ms(t):
    return int(datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000)


class Events(WeftTest):
    def step_status(self, rid, step):
        r = self.weft("status", rid, "--json")
        return r.json()["steps"][step]["status"] if r.code == 0 else None

    def waiting_run(self, path, *args):
        proc = self.spawn("run", path, "--json", *args)
        run = self.wait_for(self.latest, "the run to exist")
        self.wait_for(lambda: self.step_status(run["id"], "ready") == "waiting",
                      "the wait step to wait")
        return proc, run["id"]

    PIPELINE = """
        name: ev
        inputs:
          want: {type: string, default: s3://bucket/new}
        steps:
          ready:
            wait:
              event: dataset-ready
              match: ${{ .event.path == .inputs.want }}
              timeout: 2m
          use:
            needs: ready
            command: [echo, "${{ .steps.ready.outputs.path }}"]
            env: {P: "${{ .steps.ready.outputs.rows }}"}
        outputs:
          path: ${{ .steps.ready.outputs.path }}
          rows: ${{ .steps.ready.outputs.rows }}
    """

    def test_event_from_another_process_with_match(self):
        p = self.write("ev.yaml", self.PIPELINE)
        proc, rid = self.waiting_run(p)
        # another event name and a payload that does not match are ignored
        self.assertExit(self.weft("event", "send", "other", "--data", '{"path": "s3://bucket/new"}'), 0)
        r = self.weft("event", "send", "dataset-ready", "--data", '{"path": "s3://bucket/old", "rows": 1}')
        self.assertExit(r, 0)
        self.assertIn("dataset-ready", r.out)
        time.sleep(0.6)
        self.assertEqual(self.step_status(rid, "ready"), "waiting")
        self.assertExit(self.weft("event", "send", "dataset-ready", "--data",
                                  '{"path": "s3://bucket/new", "rows": 42}'), 0)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        j = json.loads(out)
        self.assertEqual(j["status"], "succeeded")
        self.assertEqual(j["steps"]["ready"]["outputs"], {"path": "s3://bucket/new", "rows": 42})
        self.assertEqual(j["outputs"], {"path": "s3://bucket/new", "rows": 42})

    def test_every_waiting_run_gets_the_event(self):
        p = self.write("ev.yaml", """
            name: ev2
            steps:
              ready: {wait: {event: go}}
        """)
        p1, r1 = self.waiting_run(p)
        p2 = self.spawn("run", p, "--json")
        self.wait_for(lambda: len(self.weft("runs", "--json").json()) == 2, "two runs")
        r2 = self.latest()["id"]
        self.wait_for(lambda: self.step_status(r2, "ready") == "waiting", "second wait")
        self.assertExit(self.weft("event", "send", "go", "--data", '{"n": 7}'), 0)
        for proc in (p1, p2):
            out, err = proc.communicate(timeout=60)
            self.assertEqual(proc.returncode, 0, err)
            self.assertEqual(json.loads(out)["steps"]["ready"]["outputs"], {"n": 7})

    def test_non_object_payload_is_under_value(self):
        p = self.write("ev.yaml", """
            name: ev3
            steps:
              ready: {wait: {event: n, match: "${{ .event > 2 }}"}}
        """)
        proc, rid = self.waiting_run(p)
        self.assertExit(self.weft("event", "send", "n", "--data", "1"), 0)
        self.assertExit(self.weft("event", "send", "n", "--data", "5"), 0)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(json.loads(out)["steps"]["ready"]["outputs"], {"value": 5})

    def test_event_wait_timeout_fails_the_step(self):
        p = self.write("ev.yaml", """
            name: evt
            steps:
              ready: {wait: {event: never, timeout: 1s}}
              after: {needs: ready, run: 'true'}
        """)
        r = self.weft("run", p, "--json")
        self.assertExit(r, 1)
        j = r.json()
        self.assertEqual(j["steps"]["ready"]["status"], "failed")
        self.assertEqual(j["steps"]["ready"]["error"]["kind"], "timeout")
        self.assertIn("never", j["steps"]["ready"]["error"]["message"])
        self.assertEqual(j["steps"]["after"]["status"], "skipped")

    def test_event_sent_while_no_engine_runs_is_delivered_on_resume(self):
        p = self.write("ev.yaml", self.PIPELINE)
        proc, rid = self.waiting_run(p)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        r = self.weft("event", "send", "dataset-ready", "--data",
                      '{"path": "s3://bucket/new", "rows": 3}')
        self.assertExit(r, 0)
        r = self.weft("resume", "--json")
        self.assertExit(r, 0)
        j = r.json()
        self.assertEqual(j["id"], rid)
        self.assertEqual(j["status"], "succeeded")
        self.assertEqual(j["outputs"], {"path": "s3://bucket/new", "rows": 3})

    def test_cancel_a_waiting_run(self):
        p = self.write("ev.yaml", self.PIPELINE)
        proc, rid = self.waiting_run(p)
        self.assertExit(self.weft("cancel", rid), 0)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 3, err)
        self.assertEqual(json.loads(out)["steps"]["ready"]["status"], "cancelled")

    def test_time_wait_that_ended_while_down_ends_at_once_on_resume(self):
        p = self.write("w.yaml", """
            name: sleepy
            steps:
              ready: {wait: 4s}
              after: {needs: ready, run: 'echo done'}
        """)
        proc, rid = self.waiting_run(p)
        started = self.weft("status", rid, "--json").json()["steps"]["ready"]["started_at"]
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        time.sleep(4.5)  # the wait's end passes while no engine runs
        r = self.weft("resume", "--json")
        self.assertExit(r, 0)
        j = r.json()
        self.assertEqual(j["status"], "succeeded")
        st = j["steps"]["ready"]
        self.assertEqual(st["started_at"], started)
        self.assertEqual(st["attempts"], 1)
        # it ended when it was due (~4.5 s after its start, at the resume), not
        # 4 s after the resume (which would be over 8.5 s after its start)
        span = iso_ms(st["finished_at"]) - iso_ms(st["started_at"])
        self.assertGreaterEqual(span, 4000)
        self.assertLess(span, 8000)

    def test_time_wait_resumed_early_waits_only_the_rest(self):
        p = self.write("w.yaml", """
            name: sleepy2
            steps:
              ready: {wait: 3s}
        """)
        proc, rid = self.waiting_run(p)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        r = self.weft("resume", "--json")
        self.assertExit(r, 0)
        st = r.json()["steps"]["ready"]
        self.assertEqual(st["status"], "succeeded")

    def test_example_event_pipeline(self):
        ex = os.path.join(ROOT, "examples", "event-pipeline.yaml")
        proc, rid = self.waiting_run(ex, "-i", "dataset=sales")
        self.assertExit(self.weft("event", "send", "dataset-ready", "--data",
                                  '{"dataset": "other", "rows": 5, "files": []}'), 0)
        self.assertExit(self.weft("event", "send", "dataset-ready", "--data",
                                  '{"dataset": "sales", "rows": 1200, "files": ["a.csv", "b.csv"]}'), 0)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        j = json.loads(out)
        self.assertEqual(j["outputs"], {"dataset": "sales", "files": ["a.csv", "b.csv"],
                                        "verdict": "ok: 1200 rows",
                                        "summary": "2 files, 1200 rows"})
        self.assertEqual(len(j["children"]), 1)
        with open(os.path.join(self.home, "workspaces", rid, "loaded.txt")) as f:
            self.assertEqual(sorted(f.read().split()), ["a.csv", "b.csv"])

    def test_example_event_pipeline_refuses_a_small_dataset(self):
        ex = os.path.join(ROOT, "examples", "event-pipeline.yaml")
        proc, rid = self.waiting_run(ex)
        self.assertExit(self.weft("event", "send", "dataset-ready", "--data",
                                  '{"dataset": "sales", "rows": 3, "files": ["a.csv"]}'), 0)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 1, err)
        j = json.loads(out)
        self.assertEqual(j["steps"]["check"]["status"], "failed")
        self.assertIn("sub-workflow run", j["steps"]["check"]["error"]["message"])
        self.assertEqual(j["steps"]["load"]["status"], "skipped")
        self.assertIn("only 3 rows", err)

    def test_event_send_usage_errors(self):
        self.assertExit(self.weft("event", "send"), 2)
        self.assertExit(self.weft("event", "send", "x", "--data", "{not json"), 2)
        self.assertExit(self.weft("event", "send", "bad name!"), 2)
        self.assertExit(self.weft("event", "nope"), 2)
        r = self.weft("event", "send", "x", "--data", "{not json")
        self.assertTrue(r.err.startswith("weft: "), r.err)

    def test_event_send_is_audited(self):
        self.assertExit(self.weft("event", "send", "hello", "--data", '{"a": 1}'), 0)
        lines = [json.loads(l) for l in self.weft("audit", "export").out.splitlines()]
        self.assertIn("event.sent", [e["kind"] for e in lines])
        self.assertExit(self.weft("audit", "verify"), 0)


if __name__ == "__main__":
    main()
