"""End-to-end: the real `weft server` on a free loopback port (port 0; the
bound address is read from its start line on stderr): health, readiness,
OpenAPI against the route table, metrics read by an independent parser
(python3-prometheus-client), the token check, one server per home, the listen
policy, TLS, unix sockets, signals and drain, SIGHUP, JSON logs, resuming the
runs a dead engine left behind, and the curl lines of docs/server.md."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

from harness import BIN, ROOT, WeftTest, main

LISTEN_RE = re.compile(r"server listening on (\S+?)(?: with TLS)? \(pid")

METRIC_NAMES = ["weft_runs_total", "weft_steps_total", "weft_step_duration_seconds", "weft_runs_active",
                "weft_approvals_waiting", "weft_queue_depth", "weft_schedule_lag_seconds",
                "weft_store_commit_seconds", "weft_http_requests_total", "weft_workers"]


def read(path):
    with open(path) as f:
        return f.read()


class Server:
    """A running `weft server`; stderr goes to a file (never a pipe that fills)."""

    def __init__(self, test, *args, env=None):
        self.test = test
        self.log_path = os.path.join(test.tmp, f"server-{time.time_ns()}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN, "server", *args], cwd=test.tmp, env=env or test.env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        test.addCleanup(self.kill)
        self.addr = test.wait_for(self._addr, "the server's start line")
        self.base = "http://" + self.addr

    def _addr(self):
        m = LISTEN_RE.search(self.text())
        if m:
            return m.group(1)
        if self.proc.poll() is not None:
            self.test.fail("the server exited %s: %s" % (self.proc.returncode, self.text()))
        return None

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def get(self, path, headers=None):
        req = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), dict(e.headers)

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class ServerTest(WeftTest):
    def server(self, *args, **kw):
        return Server(self, "--listen", "127.0.0.1:0", *args, **kw)

    def metrics(self, srv, headers=None):
        code, body, hdrs = srv.get("/metrics", headers)
        self.assertEqual(code, 200, body)
        self.assertTrue(hdrs["Content-Type"].startswith("text/plain; version=0.0.4"), hdrs)
        return {f.name: f for f in text_string_to_metric_families(body)}

    # ---- health, readiness, OpenAPI -------------------------------------------------

    def test_healthz_readyz_and_openapi(self):
        srv = self.server("--metrics-public")
        self.assertEqual(srv.get("/healthz")[:2], (200, '{"status":"ok"}'))
        self.assertEqual(srv.get("/readyz")[:2], (200, '{"status":"ready"}'))
        # a path no route has: refused under /api/ (401 before 403 without a token)
        self.assertEqual(srv.get("/api/v1/nothing-here")[0], 401)
        code, body, hdrs = srv.get("/api/v1/openapi.json")
        self.assertEqual(code, 200)
        self.assertEqual(hdrs["Content-Type"], "application/json")
        doc = json.loads(body)
        self.assertEqual(doc["openapi"], "3.1.0")
        # every path of the document reaches a route of the live server: the
        # front labels each answer with the route it matched ("none" if none)
        ops = set()
        for path, item in doc["paths"].items():
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            for method, op in item.items():
                ops.add(op["operationId"])
                req = urllib.request.Request(srv.base + concrete, method=method.upper())
                try:
                    urllib.request.urlopen(req, timeout=30).close()
                except urllib.error.HTTPError as e:
                    self.assertNotIn(e.code, (404, 405), f"{method.upper()} {path}")
        fams = self.metrics(srv)
        seen = {s.labels["route"] for s in fams["weft_http_requests"].samples}
        self.assertEqual(seen - {"none", "metrics"}, ops - {"metrics"})
        none = [s for s in fams["weft_http_requests"].samples if s.labels["route"] == "none"]
        self.assertEqual([(s.labels["code"], s.value) for s in none], [("401", 1)])
        self.assertEqual(srv.stop(), 0)

    def test_openapi_paths_are_the_route_table(self):
        # the route table as the sources have it, read from api_routes.c
        src = open(os.path.join(ROOT, "src", "server", "api_routes.c")).read()
        table = set()
        for method, pattern in re.findall(r'\{"(GET|POST|DELETE)", "([^"]+)"', src):
            table.add((method.lower(), pattern))
        srv = self.server()
        doc = json.loads(srv.get("/api/v1/openapi.json")[1])
        served = set()
        for path, ops in doc["paths"].items():
            for method in ops:
                served.add((method, path))
        self.assertEqual(served, table)

    # ---- metrics and tokens --------------------------------------------------------

    def test_metrics_need_a_viewer_token(self):
        srv = self.server()
        code, body, hdrs = srv.get("/metrics")
        self.assertEqual(code, 401)
        self.assertEqual(json.loads(body)["error"]["code"], "unauthorized")
        self.assertEqual(hdrs.get("WWW-Authenticate"), "Bearer")
        self.assertEqual(srv.get("/metrics", {"Authorization": "Bearer weft_" + "A" * 43})[0], 401)
        # a token made by `weft token create` (the server reads the same store)
        r = self.weft("token", "create", "alice")
        self.assertExit(r, 0)
        tok = r.out.strip()
        auth = {"Authorization": "Bearer " + tok}
        fams = self.metrics(srv, auth)
        self.assertIn("weft_runs_active", fams)
        # alice is a viewer: an operator's route is refused after authentication
        req = urllib.request.Request(srv.base + "/api/v1/events", data=b"{}", method="POST",
                                     headers=dict(auth, **{"Content-Type": "application/json"}))
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, timeout=30)
        self.assertEqual(cm.exception.code, 403)
        self.assertIn("needs the operator role; alice has viewer", cm.exception.read().decode())
        # SIGHUP re-reads users.json: alice made an operator gets past the role check
        self.write_users({"alice": {"role": "operator"}}, allow_as=None)
        srv.proc.send_signal(signal.SIGHUP)
        self.wait_for(lambda: "users.json read" in srv.text(), "the reload")
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, timeout=30)
        self.assertEqual(cm.exception.code, 400)  # past the role check: the body lacks the event's name
        # a revoked token is refused at once
        tid = [t for t in self.weft("token", "list", "--json").json() if t["user"] == "alice"][0]["id"]
        self.assertExit(self.weft("token", "revoke", tid), 0)
        self.assertEqual(srv.get("/metrics", auth)[0], 401)
        self.assertEqual(srv.stop(), 0)

    def test_metrics_public_parsed_by_prometheus_client(self):
        p = self.write("appr.yaml", """
            name: gate
            steps:
              ok: {approval: {message: "go?"}}
        """)
        self.write("slow.yaml", """
            name: slow
            steps:
              s: {run: 'while [ ! -f "$WEFT_WORKSPACE/go" ]; do sleep 0.05; done'}
        """)
        appr = self.spawn("run", p)
        run = self.wait_for(lambda: (self.latest() or {}).get("status") == "waiting" and self.latest(),
                            "the approval run to wait")
        srv = self.server("--metrics-public")
        srv.get("/healthz")
        srv.get("/nope")
        fams = self.metrics(srv)
        for name in METRIC_NAMES:
            self.assertIn(name.removesuffix("_total"), fams, name)
        self.assertEqual(fams["weft_runs_active"].samples[0].value, 1)
        self.assertEqual(fams["weft_approvals_waiting"].samples[0].value, 1)
        http = {(s.labels["route"], s.labels["code"]): s.value for s in fams["weft_http_requests"].samples}
        self.assertEqual(http[("healthz", "200")], 1)
        self.assertEqual(http[("none", "404")], 1)
        for name in ("process_cpu_seconds", "process_resident_memory_bytes", "process_open_fds",
                     "process_start_time_seconds"):
            self.assertIn(name, fams)
        # the next scrape counts the first one
        fams = self.metrics(srv)
        http = {(s.labels["route"], s.labels["code"]): s.value for s in fams["weft_http_requests"].samples}
        self.assertEqual(http[("metrics", "200")], 1)
        self.assertEqual(srv.stop(), 0)
        appr.kill()
        appr.wait()
        self.assertEqual(self.status(run["id"])["status"], "waiting")

    # ---- one server per home, listen policy -----------------------------------------

    def test_second_server_on_the_same_home_exits_2_naming_the_pid(self):
        srv = self.server()
        r = self.weft("server", "--listen", "127.0.0.1:0", timeout=30)
        self.assertExit(r, 2)
        self.assertIn(f"another weft server (pid {srv.proc.pid}) owns the home", r.err)
        # the CLI keeps working beside it
        p = self.write("w.yaml", """
            name: hello
            steps:
              a: {run: echo hi}
        """)
        self.assertExit(self.weft("run", p), 0)
        self.assertEqual(srv.get("/healthz")[0], 200)
        self.assertEqual(srv.stop(), 0)
        # once it stopped, a new server may own the home
        srv2 = self.server()
        self.assertEqual(srv2.get("/readyz")[0], 200)
        self.assertEqual(srv2.stop(), 0)

    def test_off_loopback_without_tls_exits_2(self):
        r = self.weft("server", "--listen", "0.0.0.0:0", timeout=30)
        self.assertExit(r, 2)
        self.assertIn("is not a loopback address", r.err)
        self.assertIn("--insecure-http", r.err)
        self.assertFalse(os.path.exists(os.path.join(self.home, "server.lock")))

    def test_insecure_http_logs_a_warning(self):
        srv = Server(self, "--listen", "0.0.0.0:0", "--insecure-http")
        self.assertIn("warning: --insecure-http", srv.text())
        port = srv.addr.rsplit(":", 1)[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as r:
            self.assertEqual(r.status, 200)
        self.assertEqual(srv.stop(), 0)

    def test_bad_flags_exit_2(self):
        for args, msg in ((["--listen", "example.com:80"], "no name lookups"),
                          (["--tls-cert", "x.pem"], "both --tls-cert"),
                          (["--drain", "soon"], "--drain soon"),
                          (["--log-format", "xml"], "--log-format xml"),
                          (["--tls-cert", "nope.pem", "--tls-key", "nope.pem"], "--tls-cert nope.pem")):
            r = self.weft("server", *args, timeout=30)
            self.assertExit(r, 2)
            self.assertIn(msg, r.err)

    def test_http_threads_flag(self):
        for bad in ("0", "65", "-2", "eight", "8x", ""):
            r = self.weft("server", "--listen", "127.0.0.1:0", "--http-threads", bad, timeout=30)
            self.assertExit(r, 2)
            self.assertIn(f"--http-threads {bad}: give a number of HTTP threads from 1 to 64", r.err)
            self.assertFalse(os.path.exists(os.path.join(self.home, "server.lock")))
        # the flag sizes libmicrohttpd's pool: two more threads, two more tasks
        counts = {}
        for n in (3, 5):
            srv = self.server("--http-threads", str(n))
            self.assertEqual(srv.get("/healthz")[:2], (200, '{"status":"ok"}'))
            counts[n] = len(os.listdir(f"/proc/{srv.proc.pid}/task"))
            self.assertEqual(srv.stop(), 0)
        self.assertEqual(counts[5] - counts[3], 2, counts)
        self.assertIn("--http-threads N", self.weft("help", "server").out)

    def test_an_invalid_users_json_stops_the_start(self):
        os.makedirs(self.home, exist_ok=True)
        with open(os.path.join(self.home, "users.json"), "w") as f:
            f.write("{not json")
        os.chmod(os.path.join(self.home, "users.json"), 0o600)
        r = self.weft("server", "--listen", "127.0.0.1:0", timeout=60)
        self.assertExit(r, 2)
        self.assertIn("users.json", r.err)
        self.assertNotIn("listening", r.err)

    # ---- TLS and unix sockets ------------------------------------------------------

    def test_tls_with_a_self_signed_certificate(self):
        if not shutil.which("openssl") or not shutil.which("curl"):
            self.skipTest("openssl and curl are needed (scripts/setup.sh installs them)")
        cert, key = os.path.join(self.tmp, "cert.pem"), os.path.join(self.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        srv = self.server("--tls-cert", cert, "--tls-key", key)
        self.assertIn("with TLS", srv.text())
        r = subprocess.run(["curl", "-sS", "--cacert", cert, f"https://{srv.addr}/healthz"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.stdout, '{"status":"ok"}', r.stderr)
        # plain HTTP on the TLS port is not served
        r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", f"http://{srv.addr}/healthz"],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.stdout, "200")
        self.assertEqual(srv.stop(), 0)
        # a key that is not the certificate's: exit 2, saying so
        other = os.path.join(self.tmp, "other.pem")
        subprocess.run(["openssl", "genrsa", "-out", other, "2048"], check=True, capture_output=True)
        r = self.weft("server", "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", other, timeout=60)
        self.assertExit(r, 2)
        self.assertIn("do they match?", r.err)
        # off loopback, TLS is enough
        srv = Server(self, "--listen", "0.0.0.0:0", "--tls-cert", cert, "--tls-key", key)
        self.assertNotIn("insecure", srv.text())
        self.assertEqual(srv.stop(), 0)

    def test_unix_socket(self):
        if not shutil.which("curl"):
            self.skipTest("curl is needed (scripts/setup.sh installs it)")
        sock = os.path.join(self.tmp, "weft.sock")
        srv = Server(self, "--listen", "unix:" + sock)
        self.assertEqual(srv.addr, "unix:" + sock)
        r = subprocess.run(["curl", "-sS", "--unix-socket", sock, "http://localhost/readyz"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.stdout, '{"status":"ready"}', r.stderr)
        self.assertEqual(srv.stop(), 0)
        self.assertFalse(os.path.exists(sock), "the socket file outlived a clean stop")
        # a socket file left by a server that died is replaced
        srv = Server(self, "--listen", "unix:" + sock)
        srv.proc.kill()
        srv.proc.wait()
        self.assertTrue(os.path.exists(sock))
        srv = Server(self, "--listen", "unix:" + sock)
        r = subprocess.run(["curl", "-sS", "--unix-socket", sock, "http://localhost/healthz"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.stdout, '{"status":"ok"}', r.stderr)
        self.assertEqual(srv.stop(), 0)

    # ---- signals, drain, logs ------------------------------------------------------

    def left_running(self, body):
        """A run left `running` by a SIGKILLed `weft run` whose step is body."""
        p = self.write("w.yaml", """
            name: left
            steps:
              a:
                run: |
                  echo "$WEFT_ATTEMPT" >> "$WEFT_WORKSPACE/a.attempts"
                  if [ "$WEFT_ATTEMPT" = 1 ]; then sleep 300; fi
                  %s
              b: {needs: a, run: 'echo b >> "$WEFT_WORKSPACE/b.count"'}
        """ % body)
        proc = self.spawn("run", p)
        run = self.wait_for(self.latest, "the run to exist")
        ws = os.path.join(self.home, "workspaces", run["id"])
        self.wait_for(lambda: os.path.exists(os.path.join(ws, "a.attempts")), "step a to start")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.assertEqual(self.weft("status", run["id"], "--json").json()["status"], "running")
        return run["id"], ws

    def status(self, rid):
        return self.weft("status", rid, "--json").json()

    def test_server_resumes_a_run_left_by_a_dead_engine(self):
        rid, ws = self.left_running("echo done")
        srv = self.server("--metrics-public")
        self.wait_for(lambda: self.status(rid)["status"] == "succeeded", "the server to finish the run")
        self.assertIn(f"resumed run {rid}", srv.text())
        self.wait_for(lambda: f"run {rid} (left) succeeded" in srv.text(), "the run's end in the log")
        fams = self.metrics(srv)
        runs = {(x.labels["workflow"], x.labels["status"]): x.value for x in fams["weft_runs"].samples}
        self.assertEqual(runs, {("left", "succeeded"): 1})
        steps = {(x.labels["workflow"], x.labels["kind"], x.labels["status"]): x.value
                 for x in fams["weft_steps"].samples}
        # a's first attempt, interrupted by the crash, a's second one and b
        self.assertEqual(steps, {("left", "run", "failed"): 1, ("left", "run", "succeeded"): 2})
        count = [x.value for x in fams["weft_step_duration_seconds"].samples
                 if x.name == "weft_step_duration_seconds_count"]
        self.assertEqual(count, [2])  # the attempts this server started
        self.assertEqual(fams["weft_runs_active"].samples[0].value, 0)
        self.assertEqual(read(os.path.join(ws, "a.attempts")), "1\n2\n")
        self.assertEqual(read(os.path.join(ws, "b.count")), "b\n")
        self.assertEqual(self.status(rid)["steps"]["a"]["attempts"], 2)
        self.assertEqual(srv.stop(), 0)

    def test_cli_cancel_reaches_a_run_the_server_executes(self):
        rid, ws = self.left_running('while [ ! -f "$WEFT_WORKSPACE/go" ]; do sleep 0.05; done')
        srv = self.server()
        self.wait_for(lambda: read(os.path.join(ws, "a.attempts")) == "1\n2\n", "the resumed attempt")
        r = self.weft("cancel", rid)
        self.assertExit(r, 0)
        self.wait_for(lambda: self.status(rid)["status"] == "cancelled", "the server to cancel the run")
        self.assertIn(f"run {rid} (left) cancelled", srv.text())
        self.assertEqual(srv.stop(), 0)

    def test_a_server_that_cannot_listen_exits_2_and_takes_no_run_over(self):
        rid, ws = self.left_running("echo done")
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            r = self.weft("server", "--listen", f"127.0.0.1:{port}", timeout=60)
        self.assertExit(r, 2)
        self.assertIn(f"cannot listen on 127.0.0.1:{port}", r.err)
        self.assertNotIn("resumed", r.err)
        self.assertEqual(self.status(rid)["status"], "running")
        self.assertEqual(read(os.path.join(ws, "a.attempts")), "1\n")
        self.assertExit(self.weft("resume"), 0)  # and it is still resumable (this also ends its sleep)

    def test_sigterm_readyz_503_then_drains_and_exits_0(self):
        rid, ws = self.left_running('while [ ! -f "$WEFT_WORKSPACE/go" ]; do sleep 0.05; done')
        srv = self.server()
        self.wait_for(lambda: read(os.path.join(ws, "a.attempts")) == "1\n2\n", "the resumed attempt")
        self.assertEqual(srv.get("/readyz")[0], 200)
        srv.proc.send_signal(signal.SIGTERM)
        # while the step drains, the server still answers: not ready
        code = self.wait_for(lambda: srv.get("/readyz")[0] == 503 and 503, "readyz to answer 503")
        self.assertEqual(code, 503)
        self.assertEqual(srv.get("/healthz")[0], 200)
        self.assertIsNone(srv.proc.poll())
        open(os.path.join(ws, "go"), "w").close()
        self.assertEqual(srv.proc.wait(timeout=60), 0)
        self.assertEqual(self.status(rid)["steps"]["a"]["status"], "succeeded")  # it was let finish
        self.assertIn("SIGTERM: stopping", srv.text())
        self.assertTrue(srv.text().rstrip().endswith("weft: stopped"), srv.text())

    def test_draining_starts_no_step_and_the_next_server_continues(self):
        rid, ws = self.left_running('while [ ! -f "$WEFT_WORKSPACE/go" ]; do sleep 0.05; done')
        srv = self.server()
        self.wait_for(lambda: read(os.path.join(ws, "a.attempts")) == "1\n2\n", "the resumed attempt")
        srv.proc.send_signal(signal.SIGTERM)
        self.wait_for(lambda: srv.get("/readyz")[0] == 503, "readyz to answer 503")
        open(os.path.join(ws, "go"), "w").close()  # a ends during the drain
        self.assertEqual(srv.proc.wait(timeout=60), 0)
        self.assertIn("1 run not finished stay resumable", srv.text())
        self.assertNotIn("drain time over", srv.text())
        st = self.status(rid)
        self.assertEqual(st["status"], "running")
        self.assertEqual(st["steps"]["a"]["status"], "succeeded")
        self.assertFalse(os.path.exists(os.path.join(ws, "b.count")), "b started while the server drained")
        srv2 = self.server()
        self.wait_for(lambda: self.status(rid)["status"] == "succeeded", "the next server to finish the run")
        self.assertEqual(read(os.path.join(ws, "a.attempts")), "1\n2\n")  # a's success was kept
        self.assertEqual(read(os.path.join(ws, "b.count")), "b\n")
        self.assertEqual(srv2.stop(), 0)

    def test_a_waiting_approval_does_not_hold_the_drain(self):
        p = self.write("appr.yaml", """
            name: gate
            steps:
              ok: {approval: {message: "go?"}}
              after: {needs: ok, run: echo after}
        """)
        appr = self.spawn("run", p)
        rid = self.wait_for(lambda: (self.latest() or {}).get("status") == "waiting" and self.latest()["id"],
                            "the approval run to wait")
        appr.kill()
        appr.wait()
        srv = self.server("--drain", "10m")
        self.wait_for(lambda: f"resumed run {rid}" in srv.text(), "the server to take the run over")
        self.wait_for(lambda: self.status(rid)["status"] == "waiting", "the approval to wait again")
        self.assertEqual(srv.stop(), 0)  # at once: --drain 10m is not waited for
        self.assertIn("1 run not finished stay resumable", srv.text())
        self.assertEqual(self.status(rid)["status"], "waiting")

    def test_drain_over_leaves_runs_for_the_next_server(self):
        rid, ws = self.left_running('while [ ! -f "$WEFT_WORKSPACE/go" ]; do sleep 0.05; done')
        srv = self.server("--drain", "0s")
        self.wait_for(lambda: read(os.path.join(ws, "a.attempts")) == "1\n2\n", "the resumed attempt")
        self.assertEqual(srv.stop(signal.SIGINT), 0)
        self.assertIn("drain time over", srv.text())
        self.assertEqual(self.status(rid)["status"], "running")
        open(os.path.join(ws, "go"), "w").close()
        srv2 = self.server()
        self.wait_for(lambda: self.status(rid)["status"] == "succeeded", "the next server to finish the run")
        self.assertEqual(srv2.stop(), 0)

    def test_a_second_signal_stops_without_waiting_for_the_drain(self):
        rid, ws = self.left_running('while [ ! -f "$WEFT_WORKSPACE/go" ]; do sleep 0.05; done')
        srv = self.server("--drain", "10m")
        self.wait_for(lambda: read(os.path.join(ws, "a.attempts")) == "1\n2\n", "the resumed attempt")
        srv.proc.send_signal(signal.SIGTERM)
        self.wait_for(lambda: srv.get("/readyz")[0] == 503, "readyz to answer 503")
        srv.proc.send_signal(signal.SIGINT)
        self.assertEqual(srv.proc.wait(timeout=60), 0)
        self.assertIn("SIGINT again: not waiting for the running steps", srv.text())
        self.assertEqual(self.status(rid)["status"], "running")
        open(os.path.join(ws, "go"), "w").close()
        srv2 = self.server()
        self.wait_for(lambda: self.status(rid)["status"] == "succeeded", "the next server to finish the run")
        self.assertEqual(read(os.path.join(ws, "a.attempts")), "1\n2\n3\n")
        self.assertEqual(srv2.stop(), 0)

    def test_idle_sigterm_exits_0_and_frees_the_port(self):
        srv = self.server()
        self.assertEqual(srv.stop(signal.SIGINT), 0)
        host, port = srv.addr.rsplit(":", 1)
        with socket.socket() as s:
            self.assertNotEqual(s.connect_ex((host, int(port))), 0)

    def test_sighup_reloads_users_json_and_json_logs(self):
        srv = self.server("--log-format", "json")
        lines = [json.loads(l) for l in srv.text().splitlines()]
        self.assertEqual(lines[0]["event"], "start")
        self.assertEqual(lines[0]["level"], "info")
        self.write_users({"alice": {}, "bob": {}})
        srv.proc.send_signal(signal.SIGHUP)
        self.wait_for(lambda: "reload" in srv.text(), "the reload line")
        rel = [json.loads(l) for l in srv.text().splitlines() if '"reload"' in l]
        self.assertIn("users.json read (2 users)", rel[0]["msg"])
        # a bad users.json is reported and kept out
        with open(os.path.join(self.home, "users.json"), "w") as f:
            f.write("{not json")
        srv.proc.send_signal(signal.SIGHUP)
        self.wait_for(lambda: '"level":"error"' in srv.text(), "the reload error")
        self.assertEqual(srv.get("/healthz")[0], 200)
        self.assertEqual(srv.stop(), 0)
        for l in srv.text().splitlines():
            json.loads(l)  # every line is JSON

    # ---- the docs' examples --------------------------------------------------------

    def test_docs_curl_lines_run_against_a_live_server(self):
        if not shutil.which("curl"):
            self.skipTest("curl is needed (scripts/setup.sh installs it)")
        text = open(os.path.join(ROOT, "docs", "server.md")).read()
        blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
        curls = [l.strip() for b in blocks for l in b.splitlines() if l.strip().startswith("curl ")]
        self.assertGreaterEqual(len(curls), 3)
        srv = Server(self, "--listen", "127.0.0.1:0", "--metrics-public")
        port = srv.addr.rsplit(":", 1)[1]
        for line in curls:
            if "--unix-socket" in line or "https://" in line:
                continue  # covered by test_unix_socket and test_tls_with_a_self_signed_certificate
            cmd = line.replace("127.0.0.1:7700", "127.0.0.1:" + port)
            r = subprocess.run(["sh", "-c", cmd + " -sS --fail"], capture_output=True, text=True, timeout=60,
                               env=self.env)
            self.assertEqual(r.returncode, 0, f"{line}: {r.stderr}")
            self.assertTrue(r.stdout, line)
        self.assertEqual(srv.stop(), 0)


if __name__ == "__main__":
    main()
