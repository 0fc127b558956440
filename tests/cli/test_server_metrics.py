"""End-to-end: every /metrics family of SERVER.md §6 from the real `weft
server`, read by an independent parser (python3-prometheus-client): each name
with its type, and the values moving as a run the server executes goes
(runs, steps, durations, commits, the queue of units held by max_parallel),
as runs wait beside it, and as clients open the live event stream."""
import os
import signal
import urllib.request

from test_server import Server, read, text_string_to_metric_families
from harness import WeftTest, main

# name as the parser gives it (counters without _total) -> type
FAMILIES = {
    "weft_runs": "counter", "weft_steps": "counter", "weft_step_duration_seconds": "histogram",
    "weft_runs_active": "gauge", "weft_approvals_waiting": "gauge", "weft_queue_depth": "gauge",
    "weft_schedule_lag_seconds": "gauge", "weft_store_commit_seconds": "histogram",
    "weft_http_requests": "counter", "weft_workers": "gauge", "weft_sse_subscribers": "gauge",
    "weft_sse_dropped": "counter", "process_cpu_seconds": "counter", "process_resident_memory_bytes": "gauge",
    "process_open_fds": "gauge", "process_start_time_seconds": "gauge",
}


class ServerMetricsTest(WeftTest):
    def scrape(self, srv):
        code, body, hdrs = srv.get("/metrics")
        self.assertEqual(code, 200, body)
        return {f.name: f for f in text_string_to_metric_families(body)}

    def value(self, fams, name, suffix="", **labels):
        """the sample name+suffix with these labels (0 when absent)"""
        for s in fams[name].samples:
            if s.name == name + suffix and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
        return 0

    def test_every_family_with_its_type_and_values_that_move(self):
        # a run left by a dead engine with a for_each held by max_parallel: 1
        self.write("w.yaml", """
            name: held
            steps:
              fan:
                for_each: [1, 2, 3, 4, 5]
                max_parallel: 1
                run: |
                  echo x >> "$WEFT_WORKSPACE/starts"
                  while [ ! -f "$WEFT_WORKSPACE/go" ]; do sleep 0.05; done
              after: {needs: fan, run: 'true'}
        """)
        proc = self.spawn("run", "w.yaml")
        run = self.wait_for(self.latest, "the run to exist")
        ws = os.path.join(self.home, "workspaces", run["id"])
        self.wait_for(lambda: os.path.exists(os.path.join(ws, "starts")), "the first instance")
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        # and an approval waiting beside the server, in a `weft run` of its own
        self.write("gate.yaml", """
            name: gate
            steps:
              ok: {approval: {message: "go?"}}
        """)
        gate = self.spawn("run", "gate.yaml")
        self.wait_for(lambda: any(r["status"] == "waiting" for r in self.weft("runs", "--json").json()),
                      "the gate to wait")

        srv = Server(self, "--listen", "127.0.0.1:0", "--metrics-public")
        self.addCleanup(srv.kill)
        # the server resumed the run: instance 0 again, 1..4 held
        self.wait_for(lambda: read(os.path.join(ws, "starts")) == "x\nx\n", "the resumed instance")
        fams = self.wait_for(lambda: (lambda f: self.value(f, "weft_queue_depth") == 4 and f)(self.scrape(srv)),
                             "the queue depth of the held instances")
        for name, typ in FAMILIES.items():
            self.assertIn(name, fams)
            self.assertEqual(fams[name].type, typ, name)
        self.assertEqual(self.value(fams, "weft_runs_active"), 2)
        self.assertEqual(self.value(fams, "weft_approvals_waiting"), 1)
        self.assertEqual(self.value(fams, "weft_workers"), 1)
        self.assertEqual(self.value(fams, "weft_schedule_lag_seconds"), 0)
        self.assertEqual(self.value(fams, "weft_sse_subscribers"), 0)
        self.assertEqual(self.value(fams, "weft_sse_dropped", "_total"), 0)
        commits = self.value(fams, "weft_store_commit_seconds", "_count")
        self.assertGreater(commits, 0)  # the resume and the instance's start were committed
        self.assertEqual(self.value(fams, "weft_store_commit_seconds", "_bucket", le="+Inf"), commits)
        self.assertEqual(self.value(fams, "weft_runs", "_total"), 0)
        self.assertGreater(self.value(fams, "process_resident_memory_bytes"), 0)
        self.assertGreater(self.value(fams, "process_open_fds"), 0)

        # a live event client is counted while it is connected
        r = self.weft("token", "create", "watcher")
        req = urllib.request.Request(srv.base + "/api/v1/events/stream",
                                     headers={"Authorization": "Bearer " + r.out.strip()})
        stream = urllib.request.urlopen(req, timeout=60)
        self.assertEqual(self.value(self.scrape(srv), "weft_sse_subscribers"), 1)

        # let it go: the instances run one by one, then `after`
        open(os.path.join(ws, "go"), "w").close()
        self.wait_for(lambda: self.weft("status", run["id"], "--json").json()["status"] == "succeeded",
                      "the run to succeed")
        fams = self.wait_for(lambda: (lambda f: self.value(f, "weft_runs", "_total") and f)(self.scrape(srv)),
                             "the run's end in the metrics")
        self.assertEqual(self.value(fams, "weft_runs", "_total", workflow="held", status="succeeded"), 1)
        # instance 0's interrupted attempt, the five instances and `after`
        self.assertEqual(self.value(fams, "weft_steps", "_total", workflow="held", kind="run", status="succeeded"), 6)
        self.assertEqual(self.value(fams, "weft_steps", "_total", workflow="held", kind="run", status="failed"), 1)
        self.assertEqual(self.value(fams, "weft_step_duration_seconds", "_count", kind="run"), 6)
        self.assertEqual(self.value(fams, "weft_queue_depth"), 0)
        self.assertEqual(self.value(fams, "weft_runs_active"), 1)
        self.assertGreater(self.value(fams, "weft_store_commit_seconds", "_count"), commits)
        self.assertGreaterEqual(self.value(fams, "weft_http_requests", "_total", route="metrics", code="200"), 2)
        stream.close()
        self.assertEqual(srv.stop(), 0)
        gate.kill()
        gate.communicate()


if __name__ == "__main__":
    main()
