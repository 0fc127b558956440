"""End-to-end: hostile clients against the real `weft server` (SERVER.md §4,
§5). The route list is the server's own OpenAPI document (test_server_docs
and test_server.py check that document against the C route table route by
route), and every operation must carry its minimum role (`x-weft-role`).

Per route: no token, a malformed, an unknown, a revoked and an expired token
are 401; each role below the route's minimum is 403; at or above it the
answer is anything but 401/403/500. Then the limits: deny by default (403),
405 with Allow, traversal and undecodable ids (400/404), bodies over the cap
(413), the wrong media type (415), invalid UTF-8 / depth / duplicate keys
(400), ambiguous body framing (400, connection closed), bodies of refused
requests never kept (20 unauthenticated 64 MiB uploads), ten failed
authentications from one address (429), clients that
stall half-way through a request (closed after the connection time-out
while others are served), 1,000 idle connections at once under a 512-file
soft limit (readyz answers, RSS bounded), and a bounded wrk run. After each test:
the server is up, nothing was answered 500, `weft audit verify` passes and
the run started before the barrage succeeded.

Failed authentications are counted per client address (429 after ten a
minute), so requests that are meant to fail come from their own loopback
source address (127.0.x.y: all of 127/8 is local on Linux)."""
import http.client
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import time

from harness import BIN, WeftTest, main

LISTEN_RE = re.compile(r"server listening on 127\.0\.0\.1:(\d+) \(pid")
ROLES = ["viewer", "operator", "admin"]
RANK = {"none": 0, "signature": 0, "viewer": 1, "operator": 2, "admin": 3}
USERS = {"vera": "viewer", "otto": "operator", "ada": "admin", "rex": "admin", "eve": "admin"}
MiB = 1024 * 1024


class Addresses:
    """fresh loopback source addresses, so failures of one check never
    count against another's address"""

    def __init__(self):
        self.n = 256

    def next(self):
        self.n += 1
        return "127.0.%d.%d" % (self.n // 254 % 254 + 1, self.n % 254 + 1)


class Server:
    """A running `weft server` on 127.0.0.1:0 (the port from its start line)."""

    def __init__(self, test, env=None, nofile=None):
        self.test = test
        self.log_path = os.path.join(test.tmp, "server-%d.log" % time.time_ns())
        self.log = open(self.log_path, "w")

        def limit():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        self.proc = subprocess.Popen([BIN, "server", "--listen", "127.0.0.1:0"], cwd=test.tmp,
                                     env=env or test.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.log, preexec_fn=limit)
        test.addCleanup(self.kill)
        self.port = int(test.wait_for(self._port, "the server's start line"))

    def _port(self):
        m = LISTEN_RE.search(self.text())
        if m:
            return m.group(1)
        if self.proc.poll() is not None:
            self.test.fail("the server exited %s: %s" % (self.proc.returncode, self.text()))
        return None

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def request(self, method, path, body=None, headers=None, src="127.0.0.1", timeout=60):
        """(status, headers, body text) from one connection out of src"""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout, source_address=(src, 0))
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            # a live stream never ends: its head is the answer
            data = b"" if (r.getheader("Content-Type") or "").startswith("text/event-stream") else r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data.decode("utf-8", "replace")
        finally:
            c.close()

    def raw(self, data, src="127.0.0.1", timeout=60):
        """sends bytes as they are; (status, whole answer) once the server closes or answers"""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout, source_address=(src, 0))
        try:
            s.sendall(data)
            out = b""
            while b"\r\n\r\n" not in out:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        finally:
            s.close()
        m = re.match(rb"HTTP/1\.[01] (\d{3})", out)
        return (int(m.group(1)) if m else None), out

    def stop(self):
        self.proc.terminate()
        return self.proc.wait(timeout=60)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class HostileTest(WeftTest):
    def setUp(self):
        super().setUp()
        self.addrs = Addresses()
        self.write_users({u: {"role": r} for u, r in USERS.items()}, allow_as=None)
        self.tokens = {}
        for user in ("vera", "otto", "ada", "rex"):
            r = self.weft("token", "create", user)
            self.assertExit(r, 0)
            self.tokens[user] = r.out.strip()
        # revoked: rex's token
        tid = [t for t in self.weft("token", "list", "--json").json() if t["user"] == "rex"][0]["id"]
        self.assertExit(self.weft("token", "revoke", tid), 0)
        # expired: eve's token, made with the shortest expiry the CLI takes
        r = self.weft("token", "create", "eve", "--expires", "1s", "--json")
        self.assertExit(r, 0)
        self.tokens["eve"] = r.json()["token"]
        self.expires_at = r.json()["expires_at"]
        # a run that lives through the barrage, in the same home
        self.go = os.path.join(self.tmp, "go")
        wf = self.write("long.yaml", """
            name: long
            steps:
              wait: {run: 'while [ ! -f %s ]; do [ -d %s ] || exit 1; sleep 0.05; done; echo done'}
              after: {run: echo after, needs: [wait]}
        """ % (self.go, self.tmp))
        self.bystander = self.spawn("run", wf)
        self.addCleanup(self.stop_bystander)
        self.run = self.wait_for(lambda: self.latest(), "the bystander run to start")

    def stop_bystander(self):
        """a test that failed before finish(): the home is gone by now (cleanups
        run after tearDown), so the step's loop ends by itself; so does the run"""
        if self.bystander.poll() is None:
            try:
                self.bystander.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                self.bystander.kill()
                self.bystander.communicate()

    def finish(self, srv, answers=()):
        """the server is still up, nothing was a 500, the store is whole, the run finished"""
        for what, code in answers:
            self.assertNotEqual(code, 500, what)
            self.assertIsNotNone(code, what)
        self.assertEqual(srv.request("GET", "/healthz")[0], 200)
        self.assertEqual(srv.request("GET", "/readyz")[0], 200)
        self.assertIsNone(srv.proc.poll())
        with open(self.go, "w"):
            pass
        out, err = self.bystander.communicate(timeout=120)
        self.assertEqual(self.bystander.returncode, 0, err)
        st = self.weft("status", self.run["id"], "--json")
        self.assertExit(st, 0)
        self.assertEqual(st.json()["status"], "succeeded")
        runs = self.weft("runs", "--json").json()
        self.assertEqual(len(runs), 1 + getattr(self, "runs_after", 0))
        self.assertIn(self.run["id"], [r["id"] for r in runs])
        self.assertTrue(all(r["status"] == "succeeded" for r in runs), runs)
        self.assertEqual(srv.stop(), 0)
        self.assertNotIn(" 500 ", srv.text())
        self.assertExit(self.weft("audit", "verify"), 0)

    def bearer(self, user):
        return {"Authorization": "Bearer " + self.tokens[user]}

    def routes(self, srv):
        """(method, path pattern, minimum role, request body kind) per operation of the OpenAPI document"""
        code, _, body = srv.request("GET", "/api/v1/openapi.json")
        self.assertEqual(code, 200)
        out = []
        for path, item in json.loads(body)["paths"].items():
            for method, op in item.items():
                role = op.get("x-weft-role")
                self.assertIn(role, RANK, "%s %s has no role rule (x-weft-role)" % (method.upper(), path))
                kind = None
                if "requestBody" in op:
                    kind = "json" if "application/json" in op["requestBody"]["content"] else "text"
                out.append((method.upper(), path, role, kind))
        self.assertGreater(len(out), 20)
        return out

    def call(self, srv, method, path, kind, headers, src):
        h = dict(headers)
        body = None
        if kind == "json":
            body, h["Content-Type"] = b"{}", "application/json"
        elif kind == "text":
            body, h["Content-Type"] = b"name: x\n", "text/plain"
        return srv.request(method, path, body=body, headers=h, src=src)

    # ---- the route table ---------------------------------------------------------

    def test_every_route_denies_bad_tokens_and_low_roles(self):
        srv = Server(self)
        self.wait_for(lambda: time.time() * 1000 > self._ms(self.expires_at), "eve's token to expire")
        bad = {"none": {}, "not bearer": {"Authorization": "Basic dmVyYTp4"},
               "empty bearer": {"Authorization": "Bearer "},
               "malformed": {"Authorization": "Bearer weft_short!"},
               "unknown": {"Authorization": "Bearer weft_" + "A" * 43},
               "revoked": self.bearer("rex"), "expired": self.bearer("eve")}
        # ids in paths: a finished run of its own (the bystander must not
        # be cancelled by an operator's check), its step, an unknown token
        done = self.write("done.yaml", """
            name: done
            steps:
              a: {set: {v: 1}}
        """)
        self.assertExit(self.weft("run", done), 0)
        self.runs_after = 1
        done_id = [r["id"] for r in self.weft("runs", "--json").json() if r["workflow"] == "done"][0]
        calls = []
        for method, pattern, role, kind in self.routes(srv):
            real = (pattern.replace("{name}", "done").replace("{step}", "a")
                    .replace("{id}", "tok_nothing" if "/tokens/" in pattern else done_id))
            for path in sorted({real, re.sub(r"\{[^}]+\}", "x", pattern)}):
                calls.append((method, path, role, kind))
        answers = []
        for method, path, role, kind in calls:
            src = self.addrs.next()  # at most 7 failures from this address: never 429
            for what, h in bad.items():
                code, hdrs, body = self.call(srv, method, path, kind, h, src)
                answers.append(("%s %s %s" % (method, path, what), code))
                if role == "none":
                    self.assertNotIn(code, (401, 403, 500), "%s %s with %s: %s" % (method, path, what, body))
                elif role == "signature":
                    self.assertNotIn(code, (200, 201, 202, 403, 500), "%s %s with %s: %s" % (method, path, what, body))
                else:
                    self.assertEqual(code, 401, "%s %s with %s: %s" % (method, path, what, body))
                    self.assertEqual(json.loads(body)["error"]["code"], "unauthorized")
                    self.assertEqual(hdrs.get("www-authenticate"), "Bearer")
            for user, urole in (("vera", "viewer"), ("otto", "operator"), ("ada", "admin")):
                code, _, body = self.call(srv, method, path, kind, self.bearer(user), src)
                answers.append(("%s %s as %s" % (method, path, urole), code))
                what = "%s %s as %s: %d %s" % (method, path, urole, code, body)
                if role in ("none", "signature"):
                    self.assertNotIn(code, (403, 500), what)
                elif RANK[urole] < RANK[role]:
                    self.assertEqual(code, 403, what)
                    self.assertIn("needs the %s role" % role, body)
                else:
                    self.assertNotIn(code, (401, 403, 500), what)
        self.finish(srv, answers)

    @staticmethod
    def _ms(rfc3339):
        import datetime
        return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000

    def test_deny_by_default_and_wrong_methods(self):
        srv = Server(self)
        v = self.bearer("vera")
        answers = []
        for path in ("/api/v1/nothing", "/api/v1/runs/x/nothing", "/api/v2/runs", "/api", "/api/",
                     "/api/v1/%72uns", "/api/v1/RUNS", "/api/v1/runs/", "/api//v1/runs"):
            code, _, body = srv.request("GET", path, headers=v)
            answers.append((path, code))
            self.assertEqual(code, 403, "%s: %s" % (path, body))
            self.assertEqual(json.loads(body)["error"]["code"], "forbidden")
        # without a token, an unknown /api/ path is 401 (authentication comes first)
        self.assertEqual(srv.request("GET", "/api/v1/nothing", src=self.addrs.next())[0], 401)
        for method, path, allow in (("DELETE", "/api/v1/runs", "GET"), ("PUT", "/api/v1/runs/x", "GET"),
                                    ("GET", "/api/v1/events", "POST"), ("PATCH", "/api/v1/tokens/x", "DELETE"),
                                    ("POST", "/healthz", "GET"), ("FROB", "/api/v1/runs", "GET")):
            code, hdrs, body = srv.request(method, path, headers=v)
            answers.append((method + " " + path, code))
            self.assertEqual(code, 405, "%s %s: %s" % (method, path, body))
            self.assertEqual(hdrs.get("allow"), allow)
        # outside /api/: no page is 404, never a 403 or a 500
        for path in ("/nothing", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd"):
            code, _, _ = srv.request("GET", path)
            answers.append((path, code))
            self.assertIn(code, (400, 404), path)
        self.finish(srv, answers)

    # ---- ids, queries, headers -----------------------------------------------------

    def test_traversal_and_undecodable_ids_are_400_or_404(self):
        srv = Server(self)
        v = self.bearer("vera")
        answers = []
        ids = ["..", "%2e%2e", "..%2F..%2Fetc%2Fpasswd", "%2E%2E%2f", "a%2Fb", "%00", "a%00b", "%0a", "%7f",
               "%ff%fe", "%c3%28", "%ed%a0%80", "%", "%g1", "%2", "a\\b", "%5c..%5c", "x" * 257, "%41" * 300,
               "x" * 5000]
        for bad in ids:
            for path in ("/api/v1/runs/%s" % bad, "/api/v1/runs/%s/logs/%s" % (bad, bad),
                         "/api/v1/workflows/%s" % bad, "/api/v1/runs/r/steps/%s/approve" % bad):
                method = "POST" if path.endswith("approve") else "GET"
                code, _, body = srv.request(method, path, headers=dict(v, **{"Content-Type": "application/json"}),
                                            body=b"{}" if method == "POST" else None)
                answers.append((path[:80], code))
                self.assertIn(code, (400, 404), "%s %s: %s" % (method, path[:80], body))
        # a URL or headers too big for a connection's memory: refused, not a crash
        for req in (b"GET /api/v1/runs/" + b"x" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /api/v1/runs HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 70000 + b"\r\n\r\n",
                    b"GET /api/v1/runs HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 8000 + b"\r\n"):
            code, _ = srv.raw(req)
            answers.append(("oversized request head", code))
            self.assertIn(code, (400, 413, 414, 431), req[:60])
        # queries that do not decode, and hostile headers
        for q in ("?status=%ff", "?limit=-1", "?limit=99999999999999999999", "?cursor=%00", "?status=%",
                  "?workflow=" + "w" * 5000, "?a&b&&=&status"):
            code, _, body = srv.request("GET", "/api/v1/runs" + q, headers=v)
            answers.append((q[:40], code))
            self.assertNotEqual(code, 500, q)
        for hdrs in ({"Authorization": "Bearer " + self.tokens["vera"] + "\x7f"},
                     {"Authorization": "bearer    " + self.tokens["vera"]},
                     {"Authorization": "Bearer " + "A" * 4000}):
            code, _, _ = srv.request("GET", "/api/v1/runs", headers=hdrs, src=self.addrs.next())
            answers.append((str(hdrs)[:40], code))
            self.assertNotEqual(code, 500)
        for raw in (b"GET /api/v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n\r\n",
                    b"GET /api/v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\x00b\r\n\r\n",
                    b"GET /api/v1/runs HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                    b"GET /api/v1/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                    b"GET /api/v1/runs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
                    b"GET http://evil/api/v1/runs HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /api/v1/runs HTTP/9.9\r\nHost: x\r\n\r\n",
                    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
                    b"GET /api/v1/runs\r\n\r\n"):
            code, out = srv.raw(raw, src=self.addrs.next())
            answers.append((repr(raw[:40]), code or 0))
            self.assertNotEqual(code, 500, raw)
            self.assertNotEqual(code, 200, raw)
        self.finish(srv, answers)

    # ---- bodies ----------------------------------------------------------------------

    def test_bodies_are_checked_before_any_operation(self):
        srv = Server(self)
        o = dict(self.bearer("otto"), **{"Content-Type": "application/json"})
        answers = []

        def post(path, body, headers=o):
            code, _, text = srv.request("POST", path, body=body, headers=headers)
            answers.append((path, code))
            return code, text

        # over 1 MiB: 413, declared or chunked
        big = b'{"name":"e","data":"' + b"x" * MiB + b'"}'
        self.assertEqual(post("/api/v1/events", big)[0], 413)
        self.assertEqual(post("/api/v1/events", iter([big[:1000], big[1000:]]))[0], 413)  # chunked
        # exactly at the cap is not refused for its size
        at = b'{"name":"e","data":"' + b"x" * (MiB - 24) + b'"}'
        self.assertLessEqual(len(at), MiB)
        code, text = post("/api/v1/events", at)
        self.assertNotIn(code, (413, 500), text)
        # a workflow upload may be up to 64 MiB; over that, 413
        wf_big = b"name: big\n#" + b"x" * (2 * MiB) + b"\n"
        code, text = post("/api/v1/workflows", wf_big, dict(self.bearer("otto"), **{"Content-Type": "text/plain"}))
        self.assertNotIn(code, (413, 500), text)
        code, text = post("/api/v1/workflows", b"#" * (64 * MiB + 1),
                          dict(self.bearer("otto"), **{"Content-Type": "text/plain"}))
        self.assertEqual(code, 413, text)
        # the wrong media type: 415
        for ct in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx", "json", ""):
            code, text = post("/api/v1/events", b'{"name":"e"}', dict(self.bearer("otto"), **{"Content-Type": ct}))
            self.assertEqual(code, 415, "%r: %s" % (ct, text))
        code, text = post("/api/v1/events", b'{"name":"e"}', self.bearer("otto"))
        self.assertEqual(code, 415, text)
        # invalid UTF-8, too deep, duplicate keys, NUL, not JSON: 400
        for body in (b'{"name":"\xff"}', b'{"name":"\xc3\x28"}', b'{"name":"\xed\xa0\x80"}',
                     b"[" * 65 + b"]" * 65, b'{"a":' * 65 + b"1" + b"}" * 65, b"[" * 100000,
                     b'{"name":"e","name":"f"}', b'{"name":"a\\u0000b"}', b'{"name":', b"\x00",
                     b'{"name":"e"} trailing', b"NaN", b'"\\ud800"'):
            code, text = post("/api/v1/events", body)
            self.assertEqual(code, 400, "%r: %s" % (body[:40], text))
            self.assertEqual(json.loads(text)["error"]["code"], "bad_request")
        # 64 levels are allowed (whatever the operation then says)
        code, text = post("/api/v1/events", b"[" * 64 + b"]" * 64)
        self.assertNotIn("deeper", text)
        self.assertNotEqual(code, 500)
        # a length two headers could read differently: 400, and the connection is closed
        tok = self.tokens["otto"].encode()
        chunked = b"2\r\n{}\r\n0\r\n\r\n"
        for framing, body in ((b"Content-Length: 2\r\nContent-Length: 40\r\n", b"{}" + b" " * 38),
                              (b"Content-Length: 2\r\ncontent-length: 2\r\n", b"{}"),
                              (b"Content-Length: 14\r\nTransfer-Encoding: chunked\r\n", chunked),
                              (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", chunked)):
            code, out = srv.raw(b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                b"Authorization: Bearer " + tok + b"\r\n" + framing + b"\r\n" + body)
            answers.append((repr(framing), code))
            self.assertEqual(code, 400, out)
            self.assertIn(b"ambiguous", out)
            self.assertIn(b"Connection: close", out)
        # a body declared longer than sent, then the client goes away: no harm done
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + self.tokens["otto"].encode() + b"\r\nContent-Length: 100\r\n\r\n{")
        s.close()
        self.finish(srv, answers)

    def test_bodies_of_refused_requests_are_not_kept(self):
        # 20 clients without a token each start a 64 MiB workflow upload and
        # send a quarter of it: the server refuses them from the headers on
        # and keeps none of their bytes (it used to buffer them all first)
        srv = Server(self)
        before = srv.rss_kib()
        socks = []
        chunk = b"#" * MiB
        for i in range(20):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=120, source_address=(self.addrs.next(), 0))
            s.sendall(b"POST /api/v1/workflows HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                      b"Content-Length: %d\r\n\r\n" % (64 * MiB))
            for _ in range(16):
                s.sendall(chunk)
            socks.append(s)
        # what the server reads of them is read: a request after them on
        # each connection's thread is answered only once their bytes are in
        self.assertEqual(srv.request("GET", "/readyz")[0], 200)
        grown = srv.rss_kib() - before
        for s in socks:
            s.close()
        self.assertLess(grown, 64 * 1024, "RSS grew by %d KiB for 320 MiB of refused bodies" % grown)
        # the same for a viewer: the role is checked before the body is kept
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=120)
        s.sendall(b"POST /api/v1/workflows HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nAuthorization: Bearer "
                  + self.tokens["vera"].encode() + b"\r\nContent-Length: %d\r\n\r\n" % (32 * MiB))
        for _ in range(32):
            s.sendall(chunk)
        out = s.recv(65536)
        s.close()
        self.assertTrue(out.startswith(b"HTTP/1.1 403"), out[:200])
        # a client that waits for 100 Continue is answered at once instead:
        # no token, a low role, a declared length over the cap
        for auth, length, want in ((b"", 64 * MiB, 401), (b"Authorization: Bearer " + self.tokens["vera"].encode()
                                                          + b"\r\n", 1024, 403),
                                   (b"Authorization: Bearer " + self.tokens["otto"].encode() + b"\r\n",
                                    64 * MiB + 1, 413)):
            code, out = srv.raw(b"POST /api/v1/workflows HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n" + auth
                                + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % length,
                                src=self.addrs.next())
            self.assertEqual(code, want, out[:300])
        # and one that may go on gets its 100 Continue
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
        s.sendall(b"POST /api/v1/workflows HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nAuthorization: Bearer "
                  + self.tokens["otto"].encode() + b"\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 100"))
        s.sendall(b"x: ")
        out = b""
        while b"\r\n\r\n" not in out:
            out += s.recv(65536)
        s.close()
        code = int(out.split()[1])
        self.assertNotIn(code, (401, 403, 413, 500), out)  # it reached the operation
        self.finish(srv)

    # ---- failed authentications -------------------------------------------------------

    def test_ten_failed_authentications_from_one_address_are_429(self):
        srv = Server(self)
        src, other = self.addrs.next(), self.addrs.next()
        bad = {"Authorization": "Bearer weft_" + "B" * 43}
        for i in range(10):
            self.assertEqual(srv.request("GET", "/api/v1/runs", headers=bad, src=src)[0], 401, i)
        code, hdrs, body = srv.request("GET", "/api/v1/runs", headers=bad, src=src)
        self.assertEqual(code, 429, body)
        self.assertEqual(json.loads(body)["error"]["code"], "too_many_requests")
        self.assertTrue(0 < int(hdrs["retry-after"]) <= 60, hdrs)
        # a good token from that address waits too; other addresses are served
        self.assertEqual(srv.request("GET", "/metrics", headers=self.bearer("vera"), src=src)[0], 429)
        self.assertEqual(srv.request("GET", "/metrics", headers=self.bearer("vera"), src=other)[0], 200)
        # open routes stay open for it
        self.assertEqual(srv.request("GET", "/readyz", src=src)[0], 200)
        self.finish(srv)

    # ---- slow and idle clients -----------------------------------------------------------

    def test_clients_that_stall_are_closed_and_others_are_served(self):
        srv = Server(self, env=dict(self.env, WEFT_HTTP_TIMEOUT="2"))
        self.assertIn("connection time-out 2 s", srv.text())
        tok = self.tokens["otto"].encode()
        halves = [b"GET /readyz HTTP/1.1\r\nHost: x\r\n",
                  b"GET /api/v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bear",
                  b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + tok + b"\r\nContent-Length: 1000\r\n\r\n{\"na",
                  b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + tok + b"\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"n",
                  b"G",
                  b""]
        socks = []
        for h in halves * 5:
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=120)
            if h:
                s.sendall(h)
            socks.append(s)
        # while they stall, others are served
        for _ in range(20):
            self.assertEqual(srv.request("GET", "/readyz")[0], 200)
        self.assertEqual(srv.request("GET", "/metrics", headers=self.bearer("vera"))[0], 200)
        # each stalled connection is closed by the server (recv sees the end)
        for s in socks:
            try:
                data = s.recv(65536)
                while data:
                    data = s.recv(65536)
            except ConnectionResetError:
                pass
            s.close()
        self.finish(srv)

    def test_a_thousand_idle_connections_under_a_low_file_limit(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 4096:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        # the server itself starts with a soft limit below the crowd (it
        # raises it to the hard limit, and keeps descriptors for its runs);
        # idle connections are not dropped during the test
        srv = Server(self, nofile=512, env=dict(self.env, WEFT_HTTP_TIMEOUT="3600"))
        self.assertEqual(srv.request("GET", "/readyz")[0], 200)
        before = srv.rss_kib()
        socks = []
        for i in range(1000):
            socks.append(socket.create_connection(("127.0.0.1", srv.port), timeout=60))
        self.addCleanup(lambda: [s.close() for s in socks])
        # half of them sent half a request
        for s in socks[::2]:
            s.sendall(b"GET /readyz HTTP/1.1\r\n")
        for _ in range(10):
            self.assertEqual(srv.request("GET", "/readyz", timeout=60)[0], 200)
        code, _, body = srv.request("GET", "/api/v1/openapi.json")
        self.assertEqual(code, 200)
        self.assertEqual(srv.request("GET", "/metrics", headers=self.bearer("vera"))[0], 200)
        grown = srv.rss_kib() - before
        self.assertLess(grown, 80 * 1024, "RSS grew by %d KiB for 1,000 idle connections" % grown)
        # the home still works beside the crowd
        w = self.write("now.yaml", """
            name: now
            steps:
              a: {run: echo a}
              b: {run: echo b, needs: [a]}
        """)
        r = self.weft("run", w)
        self.assertExit(r, 0)
        self.runs_after = 1
        for s in socks:
            s.close()
        socks.clear()
        self.finish(srv)

    # ---- load ------------------------------------------------------------------------------

    def test_a_short_wrk_run_is_all_answered(self):
        wrk = shutil.which("wrk")
        self.assertIsNotNone(wrk, "wrk is needed (scripts/setup.sh installs it)")
        srv = Server(self)
        lua = self.write("h.lua", """
            wrk.headers["Authorization"] = "Bearer %s"
        """ % self.tokens["vera"])
        for path in ("/readyz", "/api/v1/runs/%s" % self.run["id"]):
            r = subprocess.run([wrk, "-t1", "-c8", "-d1s", "-s", lua, "http://127.0.0.1:%d%s" % (srv.port, path)],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            n = int(re.search(r"(\d+) requests in", r.stdout).group(1))
            self.assertGreater(n, 0, r.stdout)
            self.assertNotIn("Socket errors", r.stdout)
            self.assertNotIn("Non-2xx", r.stdout)
        # what the server counted: no 500 among them
        code, _, body = srv.request("GET", "/metrics", headers=self.bearer("vera"))
        self.assertEqual(code, 200)
        self.assertNotRegex(body, r'weft_http_requests_total\{[^}]*code="500"\}')
        self.finish(srv)


if __name__ == "__main__":
    main()
