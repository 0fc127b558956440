"""End-to-end: the live event stream of the real `weft server` (GET
/api/v1/events/stream), fed by the committed audit log: runs executed by
`weft run` beside the server (the same home) arrive once each, in order, with
the audit seqs as ids; ?after= and Last-Event-ID replay exactly the missed
ones; the run filter; the viewer token; a client that never reads is dropped
while the run finishes and other clients receive everything; heartbeats;
the end of the streams at SIGTERM; and the docs' curl -N line."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

from test_server import Server, text_string_to_metric_families
from harness import ROOT, WeftTest, main

TYPES = {"run": "run", "step": "step", "attempt": "step", "approval": "approval"}


class Stream:
    """One client of the stream: a thread parses the events as they come."""

    def __init__(self, test, srv, query="", headers=None):
        self.test = test
        self.events, self.comments = [], []
        self.ended = False
        self.mu = threading.Lock()
        req = urllib.request.Request(srv.base + "/api/v1/events/stream" + query, headers=headers or {})
        self.resp = urllib.request.urlopen(req, timeout=120)
        test.addCleanup(self.close)
        self.status = self.resp.status
        self.ctype = self.resp.headers["Content-Type"]
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        cur = {}
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                line = line.decode().rstrip("\n")
                if line.startswith(":"):
                    with self.mu:
                        self.comments.append(line)
                elif line == "":
                    if cur:
                        with self.mu:
                            self.events.append(cur)
                        cur = {}
                else:
                    k, _, v = line.partition(": ")
                    cur[k] = v
        except (OSError, ValueError):
            pass
        self.ended = True

    def got(self):
        with self.mu:
            return [dict(e) for e in self.events]

    def wait(self, pred, what):
        return self.test.wait_for(lambda: pred(self.got()), what)

    def close(self):
        try:
            self.resp.close()
        except OSError:
            pass


def ids(events):
    return [int(e["id"]) for e in events]


class SSETest(WeftTest):
    def setUp(self):
        super().setUp()
        self.write("w.yaml", """
            name: demo
            steps:
              a: {run: 'echo hi'}
              b: {needs: a, for_each: [1, 2, 3], run: 'true'}
              c: {needs: b, run: 'exit 3', retry: {attempts: 2}}
              d: {needs: c, if: '${{ false }}', run: 'true'}
        """)

    def server(self, *args, env=None):
        return Server(self, "--listen", "127.0.0.1:0", *args, env=env)

    def token(self, user="viewer1"):
        r = self.weft("token", "create", user)
        self.assertExit(r, 0)
        return {"Authorization": "Bearer " + r.out.strip()}

    def audit(self):
        """every entry of the home's audit log, by seq"""
        r = self.weft("audit", "export")
        self.assertExit(r, 0)
        return [json.loads(l) for l in r.out.splitlines()]

    def run_demo(self):
        r = self.weft("run", "w.yaml")
        self.assertEqual(r.code, 1, repr(r))  # c fails
        return self.latest()["id"]

    def ended(self, run_id):
        return lambda evs: any(e.get("event") == "run" and json.loads(e["data"])["run"] == run_id
                               and json.loads(e["data"])["status"] in ("succeeded", "failed", "cancelled")
                               for e in evs)

    def check_against_audit(self, events, entries):
        """the events are exactly these audit entries, as SERVER.md §6 shapes them"""
        self.assertEqual(ids(events), [e["seq"] for e in entries])
        for ev, en in zip(events, entries):
            d = json.loads(ev["data"])
            self.assertEqual(ev["event"], TYPES.get(en["kind"].split(".")[0], "audit"), en)
            self.assertEqual(d["kind"], en["kind"])
            self.assertEqual(d["run"], en["run"])
            self.assertEqual(d["at"], en["at"])
            for k in ("step", "status"):
                self.assertEqual(d[k], en["data"].get(k), en)
            if en["run"]:
                self.assertEqual(d["workflow"], "demo")

    # ---- every transition once, in order -------------------------------------------

    def test_every_transition_arrives_once_in_commit_order(self):
        auth = self.token()
        srv = self.server()
        before = self.audit()[-1]["seq"]  # the token's entry, before the server
        st = Stream(self, srv, "", auth)
        self.assertEqual(st.status, 200)
        self.assertEqual(st.ctype, "text/event-stream")
        rid = self.run_demo()
        st.wait(self.ended(rid), "the run's end on the stream")
        entries = [e for e in self.audit() if e["seq"] > before]
        self.check_against_audit(st.got(), entries)
        kinds = {e["kind"] for e in entries}
        self.assertTrue({"run.created", "run.status", "step.status", "attempt.started",
                         "attempt.finished", "step.expanded", "definition"} <= kinds, kinds)
        statuses = [(json.loads(e["data"])["step"], json.loads(e["data"])["status"]) for e in st.got()
                    if json.loads(e["data"])["kind"] == "step.status"]
        self.assertIn(("c", "retrying"), statuses)
        self.assertIn(("d", "skipped"), statuses)
        a = [json.loads(e["data"]) for e in st.got() if json.loads(e["data"])["kind"] == "attempt.finished"
             and json.loads(e["data"])["step"] == "b"]
        self.assertEqual(sorted(x["index"] for x in a), [0, 1, 2])
        self.assertEqual(srv.stop(), 0)

    def test_runs_the_server_executes_are_streamed(self):
        """a run left by a SIGKILLed `weft run`, resumed and finished by the
        server itself (its commits wake the pump)"""
        self.write("left.yaml", """
            name: demo
            steps:
              a: {run: 'echo x >> "$WEFT_WORKSPACE/a"; if [ "$WEFT_ATTEMPT" = 1 ]; then sleep 300; fi'}
              b: {needs: a, for_each: [1, 2], run: 'true'}
        """)
        auth = self.token()
        proc = self.spawn("run", "left.yaml")
        rid = self.wait_for(lambda: (self.latest() or {}).get("id"), "the run")
        ws = os.path.join(self.home, "workspaces", rid)
        self.wait_for(lambda: os.path.exists(os.path.join(ws, "a")), "step a to start")
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        before = self.audit()[-1]["seq"]
        srv = self.server()
        st = Stream(self, srv, "?after=%d" % before, auth)
        st.wait(self.ended(rid), "the run's end")
        entries = [e for e in self.audit() if e["seq"] > before]
        self.check_against_audit(st.got(), entries)
        self.assertIn("run.resumed", {e["kind"] for e in entries})
        self.assertEqual(json.loads(st.got()[-1]["data"])["status"], "succeeded")
        self.assertEqual(srv.stop(), 0)

    def test_a_run_started_through_the_api_is_streamed(self):
        """POST /workflows/{name}/runs: the server executes it, its commits
        wake the pump"""
        self.write_users({"op": {"role": "operator"}}, allow_as=None)
        op = self.token("op")
        viewer = self.token()
        srv = self.server()
        st = Stream(self, srv, "", viewer)
        with open(os.path.join(self.tmp, "w.yaml"), "rb") as f:
            body = f.read()
        req = urllib.request.Request(srv.base + "/api/v1/workflows", data=body, method="POST",
                                     headers=dict(op, **{"Content-Type": "application/yaml"}))
        with urllib.request.urlopen(req, timeout=60) as r:
            self.assertEqual(r.status, 201)
        req = urllib.request.Request(srv.base + "/api/v1/workflows/demo/runs", data=b"{}", method="POST",
                                     headers=dict(op, **{"Content-Type": "application/json"}))
        with urllib.request.urlopen(req, timeout=60) as r:
            rid = json.loads(r.read())["id"]
        st.wait(self.ended(rid), "the run's end")
        mine = [e for e in st.got() if json.loads(e["data"])["run"] == rid]
        self.check_against_audit(mine, [e for e in self.audit() if e["run"] == rid])
        self.assertEqual(json.loads(mine[-1]["data"])["status"], "failed")  # c fails
        self.assertEqual(srv.stop(), 0)

    # ---- replay ------------------------------------------------------------------------

    def test_after_and_last_event_id_replay_exactly_the_missed_ones(self):
        auth = self.token()
        self.run_demo()  # before the server: only a replay has it
        srv = self.server()
        log = self.audit()
        mid = log[len(log) // 2]["seq"]
        last3 = log[-3]["seq"]
        st = Stream(self, srv, "?after=%d" % mid, auth)
        st.wait(lambda evs: evs and int(evs[-1]["id"]) == log[-1]["seq"], "the replay")
        self.check_against_audit(st.got(), [e for e in log if e["seq"] > mid])
        # Last-Event-ID wins over after= (EventSource sends it on reconnect)
        st2 = Stream(self, srv, "?after=1", dict(auth, **{"Last-Event-ID": str(last3)}))
        st2.wait(lambda evs: len(evs) >= 2, "the replay of the last two")
        # then the live ones, after the replay, nothing twice, nothing missed
        r2 = self.run_demo()
        st.wait(self.ended(r2), "the second run live")
        st2.wait(self.ended(r2), "the second run live (Last-Event-ID)")
        log = self.audit()
        self.check_against_audit(st.got(), [e for e in log if e["seq"] > mid])
        self.check_against_audit(st2.got(), [e for e in log if e["seq"] > last3])
        self.assertEqual(srv.stop(), 0)

    def test_replay_while_runs_commit_has_no_gap_and_no_duplicate(self):
        """a client joining with after=0 while a run is committing: the seam
        between its replay and the live events"""
        self.write("long.yaml", """
            name: demo
            steps:
              many: {for_each: '${{ [range(0; 300)] }}', max_parallel: 4, run: 'true'}
        """)
        auth = self.token()
        srv = self.server()
        proc = self.spawn("run", "long.yaml")
        self.wait_for(lambda: len(self.audit()) > 100, "the run to be under way")
        st = Stream(self, srv, "?after=0", auth)
        out, err = proc.communicate(timeout=300)
        self.assertEqual(proc.returncode, 0, err)
        rid = self.latest()["id"]
        st.wait(self.ended(rid), "the run's end")
        self.check_against_audit(st.got(), self.audit())
        self.assertEqual(srv.stop(), 0)

    def test_large_entries_replayed_and_live(self):
        """runs with 900 KB of inputs: their run.created entries are larger
        than a client's buffer in the server, and six of them more than any
        one read of the replay"""
        self.write("bigin.yaml", """
            name: demo
            inputs: {blob: {type: string}}
            steps:
              a: {run: 'true'}
        """)
        with open(os.path.join(self.tmp, "in.json"), "w") as f:
            json.dump({"blob": "x" * 900000}, f)
        auth = self.token()
        for _ in range(6):
            self.assertExit(self.weft("run", "bigin.yaml", "--inputs", "in.json"), 0)
        srv = self.server()
        st = Stream(self, srv, "?after=0", auth)
        live = Stream(self, srv, "", auth)
        before = self.audit()[-1]["seq"]
        self.assertExit(self.weft("run", "bigin.yaml", "--inputs", "in.json"), 0)
        rid = self.latest()["id"]
        st.wait(self.ended(rid), "the replay and the live run")
        live.wait(self.ended(rid), "the live run")
        log = self.audit()
        self.check_against_audit(st.got(), log)
        created = [json.loads(e["data"]) for e in st.got() if e["event"] == "run"
                   and json.loads(e["data"])["kind"] == "run.created"]
        self.assertEqual([len(c["inputs"]["blob"]) for c in created], [900000] * 7)
        self.check_against_audit(live.got(), [e for e in log if e["seq"] > before])
        self.assertEqual(self.value(srv, auth, "weft_sse_dropped"), 0)
        self.assertEqual(srv.stop(), 0)

    def value(self, srv, auth, name):
        code, body, _ = srv.get("/metrics", auth)
        return {f.name: f for f in text_string_to_metric_families(body)}[name].samples[0].value

    def test_bad_after_and_unknown_run_are_refused(self):
        auth = self.token()
        srv = self.server()
        for q, code in (("?after=x", 400), ("?after=-1", 400), ("?after=", 400), ("?after=1e3", 400),
                        ("?after=9223372036854775808", 400), ("?after=99999999999999999999", 400),
                        ("?run=NOSUCHRUN", 404), ("?run=", 404)):
            c, body, _ = srv.get("/api/v1/events/stream" + q, auth)
            self.assertEqual(c, code, q + " " + body)
            self.assertIn("error", json.loads(body))
        c, body, _ = srv.get("/api/v1/events/stream", dict(auth, **{"Last-Event-ID": "abc"}))
        self.assertEqual(c, 400, body)
        self.assertIn("Last-Event-ID", body)
        self.assertEqual(srv.stop(), 0)

    # ---- filter, tokens ------------------------------------------------------------------

    def test_run_filter(self):
        self.write("gate.yaml", """
            name: demo
            steps:
              ok: {approval: {message: "go?"}}
              after: {needs: ok, run: 'true'}
        """)
        self.write_users({"alice": {}}, allow_as=True)
        auth = self.token()
        srv = self.server()
        gate = self.spawn("run", "gate.yaml")
        run = self.wait_for(lambda: (self.latest() or {}).get("status") == "waiting" and self.latest(), "the gate")
        # a prefix of the id names the run; the replay has its entries only
        st = Stream(self, srv, "?after=0&run=" + run["id"][:20], auth)
        other = self.run_demo()
        self.assertExit(self.weft("approve", run["id"], "ok", "--as", "alice"), 0)
        gate.communicate(timeout=120)
        st.wait(self.ended(run["id"]), "the gated run's end")
        got = st.got()
        self.assertTrue(got)
        self.assertEqual({json.loads(e["data"])["run"] for e in got}, {run["id"]})
        self.check_against_audit(got, [e for e in self.audit() if e["run"] == run["id"]])
        self.assertIn("approval", {e["event"] for e in got})
        self.assertNotEqual(other, run["id"])
        self.assertEqual(srv.stop(), 0)

    def test_a_viewer_token_is_needed(self):
        srv = self.server()
        code, body, hdrs = srv.get("/api/v1/events/stream")
        self.assertEqual(code, 401)
        self.assertEqual(hdrs.get("WWW-Authenticate"), "Bearer")
        self.assertEqual(srv.get("/api/v1/events/stream", {"Authorization": "Bearer weft_" + "A" * 43})[0], 401)
        st = Stream(self, srv, "", self.token("someone"))  # not in users.json: a viewer
        self.assertEqual(st.status, 200)
        self.assertEqual(srv.stop(), 0)

    # ---- slow clients, heartbeats, stop ------------------------------------------------

    def metrics(self, srv, auth):
        code, body, _ = srv.get("/metrics", auth)
        self.assertEqual(code, 200)
        return {f.name: f for f in text_string_to_metric_families(body)}

    def test_a_client_that_never_reads_is_dropped_and_nothing_waits_for_it(self):
        self.write("big.yaml", """
            name: demo
            steps:
              many: {for_each: '${{ [range(0; 2000)] }}', run: 'true'}
        """)
        auth = self.token()
        srv = self.server()
        slow = socket.socket()
        self.addCleanup(slow.close)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", int(srv.addr.rsplit(":", 1)[1])))
        slow.sendall(("GET /api/v1/events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n"
                      % auth["Authorization"]).encode())
        fast = Stream(self, srv, "", auth)
        self.wait_for(lambda: self.metrics(srv, auth)["weft_sse_subscribers"].samples[0].value == 2,
                      "both clients subscribed")
        runs = []
        # each run is ~1.6 MB of events: more than the slow client's buffers
        # (its 64 KiB in the server and the kernel's socket buffers)
        for _ in range(10):
            r = self.weft("run", "big.yaml", timeout=300)
            self.assertExit(r, 0)  # the run is not held back by the client
            runs.append(self.latest()["id"])
            if self.metrics(srv, auth)["weft_sse_dropped"].samples[0].value:
                break
        self.assertEqual(self.metrics(srv, auth)["weft_sse_dropped"].samples[0].value, 1)
        fast.wait(self.ended(runs[-1]), "the fast client to see every run end")
        log = self.audit()
        first = [e["seq"] for e in log if e["run"] == runs[0]][0] - 1  # the definition before it
        self.assertEqual(ids(fast.got()), [e["seq"] for e in log if e["seq"] >= first])
        self.assertEqual(srv.stop(), 0)

    def test_heartbeat_comment(self):
        env = dict(self.env, WEFT_SSE_HEARTBEAT_MS="200")
        auth = self.token()
        srv = self.server(env=env)
        st = Stream(self, srv, "", auth)
        self.wait_for(lambda: ": heartbeat" in st.comments, "a heartbeat")
        self.assertEqual(st.got(), [])
        self.assertEqual(srv.stop(), 0)

    def test_streams_end_at_sigterm(self):
        auth = self.token()
        srv = self.server()
        streams = [Stream(self, srv, "", auth), Stream(self, srv, "?after=0", auth)]
        streams[1].wait(lambda evs: len(evs) == 1, "the replay of the token's entry")
        srv.proc.send_signal(signal.SIGTERM)
        self.assertEqual(srv.proc.wait(timeout=60), 0)
        for st in streams:
            st.thread.join(timeout=60)
            self.assertTrue(st.ended)
        self.assertTrue(srv.text().rstrip().endswith("weft: stopped"), srv.text())

    # ---- the docs ------------------------------------------------------------------------

    def test_docs_curl_line(self):
        if not shutil.which("curl"):
            self.skipTest("curl is needed (scripts/setup.sh installs it)")
        with open(os.path.join(ROOT, "docs", "server.md")) as f:
            text = f.read()
        lines = [l.strip() for l in text.splitlines() if l.strip().startswith("curl -N")]
        self.assertTrue(lines, "docs/server.md has a curl -N line")
        auth = self.token()
        srv = self.server()
        self.run_demo()
        port = srv.addr.rsplit(":", 1)[1]
        env = dict(self.env, TOKEN=auth["Authorization"].split()[1])
        for line in lines:
            cmd = line.replace("127.0.0.1:7700", "127.0.0.1:" + port)
            # the stream does not end by itself: curl stops after 3 s
            r = subprocess.run(["sh", "-c", cmd + " -sS --max-time 3"], capture_output=True, text=True,
                               timeout=60, env=env)
            self.assertEqual(r.returncode, 28, r.stderr)  # curl's time-out, after the events
            self.assertRegex(r.stdout, r"id: \d+\nevent: run\ndata: \{\"kind\":\"run.created\"")
        self.assertEqual(srv.stop(), 0)


if __name__ == "__main__":
    main()
