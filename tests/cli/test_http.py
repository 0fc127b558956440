"""End-to-end: `http` steps against real HTTP servers that this test starts on
127.0.0.1 (Python http.server in a thread): a flaky service (503, 503, 200)
with retry, a slow one (timeout), a large body (10 MiB cap), a redirect, a JSON
API whose answer feeds the next step, methods/headers/query/json, expect,
transport errors and non-http URLs."""
from harness import WeftTest, main, ROOT
import signal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import os
import threading
import time
import urllib.parse


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, status, body, ctype="application/json", extra=None):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_any(self):
        srv = self.server
        u = urllib.parse.urlparse(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        with srv.lock:
            srv.requests.append({"method": self.command, "path": u.path,
                                 "query": urllib.parse.parse_qs(u.query),
                                 "headers": {k.lower(): v for k, v in self.headers.items()},
                                 "body": body})
            srv.counts[u.path] = srv.counts.get(u.path, 0) + 1
            count = srv.counts[u.path]
        if u.path == "/flaky":
            if count <= 2:
                return self.send(503, '{"error":"busy"}')
            return self.send(200, '{"ok":true,"calls":%d}' % count)
        if u.path == "/slow":
            time.sleep(5)
            return self.send(200, "{}")
        if u.path == "/big":
            return self.send(200, b"x" * (11 << 20), "application/octet-stream")
        if u.path == "/redirect":
            return self.send(302, "", "text/plain", {"Location": "/job/7"})
        if u.path == "/xredir":  # a redirect to wherever ?to= says (another origin)
            return self.send(int(urllib.parse.parse_qs(u.query).get("code", ["302"])[0]), "",
                             "text/plain",
                             {"Location": urllib.parse.parse_qs(u.query)["to"][0]})
        if u.path == "/loop":
            return self.send(302, "", "text/plain", {"Location": "/loop"})
        if u.path.startswith("/job/"):
            job = u.path.split("/")[-1]
            return self.send(200, json.dumps({"id": int(job), "state": "done",
                                              "next": "/result/" + job}))
        if u.path.startswith("/result/"):
            return self.send(200, "result of " + u.path.split("/")[-1], "text/plain")
        if u.path == "/echo":
            return self.send(201, json.dumps({"method": self.command, "body": body,
                                              "query": urllib.parse.parse_qs(u.query)}),
                             "application/json", {"X-Echo": "yes", "Set-Cookie": "a=1"})
        # the job service of examples/service-orchestration.yaml
        if u.path == "/jobs" and self.command == "POST":
            return self.send(201, json.dumps({"id": 7, "status_url": "/jobs/7/status"}))
        if u.path == "/jobs/7/status":
            if count <= 2:
                return self.send(503, '{"state":"busy"}')
            return self.send(200, '{"state":"done","result_url":"/results/7"}')
        if u.path == "/results/7":
            return self.send(200, json.dumps({"rows": 42, "format": u.query}))
        if u.path == "/hang":  # the first call never answers in time (the engine is killed)
            if count == 1:
                time.sleep(30)
            return self.send(200, '{"ok":true,"calls":%d}' % count)
        if u.path == "/notify":
            return self.send(202, "{}")
        if u.path == "/notfound":
            return self.send(404, '{"error":"no such thing"}')
        return self.send(200, "plain text", "text/plain")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any


def serve():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.handle_error = lambda *a: None  # clients that hang up (the cap) are fine
    srv.lock = threading.Lock()
    srv.requests = []
    srv.counts = {}
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, "http://127.0.0.1:%d" % srv.server_address[1]


class Http(WeftTest):
    def setUp(self):
        super().setUp()
        self.srv, self.base = serve()
        self.other = None  # a second origin (another port), made by tests that need it

    def tearDown(self):
        for s in (self.srv, self.other):
            if s:
                s.shutdown()
                s.server_close()
        super().tearDown()

    def run_wf(self, text, code=0):
        p = self.write("w.yaml", text.replace("BASE", self.base))
        r = self.weft("run", p, "--json")
        self.assertExit(r, code)
        return r.json()

    def test_libcurl_is_loaded_only_by_http_steps(self):
        # every other command starts without mapping libcurl and its ~30
        # libraries (src/exec/curl_dl.c); http steps load it and work
        import subprocess
        from harness import BIN
        linked = subprocess.run(["ldd", BIN], capture_output=True, text=True).stdout
        self.assertNotIn("libcurl", linked)
        j = self.run_wf("""
            name: loads-curl
            steps:
              call: {http: {url: "BASE/flaky"}, retry: {attempts: 3, delay: 10ms}}
        """)
        self.assertEqual(j["steps"]["call"]["status"], "succeeded")

    def test_flaky_service_with_retry(self):
        j = self.run_wf("""
            name: flaky
            steps:
              call:
                http: {url: "BASE/flaky"}
                retry: {attempts: 3, delay: 10ms}
        """)
        s = j["steps"]["call"]
        self.assertEqual(s["status"], "succeeded")
        self.assertEqual(s["attempts"], 3)
        self.assertEqual(s["outputs"]["status"], 200)
        self.assertEqual(s["outputs"]["body"], {"ok": True, "calls": 3})
        self.assertEqual(self.srv.counts["/flaky"], 3)

    def test_http_status_failure_keeps_outputs(self):
        j = self.run_wf("""
            name: flaky-once
            steps:
              call: {http: {url: "BASE/flaky"}}
        """, code=1)
        s = j["steps"]["call"]
        self.assertEqual(s["status"], "failed")
        self.assertEqual(s["error"]["kind"], "http_status")
        self.assertEqual(s["error"].get("status"), 503)
        self.assertIn("503", s["error"]["message"])
        self.assertEqual(s["outputs"]["status"], 503)
        self.assertEqual(s["outputs"]["body"], {"error": "busy"})

    def test_slow_service_times_out(self):
        t0 = time.monotonic()
        j = self.run_wf("""
            name: slow
            steps:
              call: {http: {url: "BASE/slow"}, timeout: 300ms}
        """, code=1)
        self.assertEqual(j["steps"]["call"]["error"]["kind"], "timeout")
        self.assertLess(time.monotonic() - t0, 60)  # generous: it must not wait forever

    def test_large_body_is_capped(self):
        j = self.run_wf("""
            name: big
            steps:
              call: {http: {url: "BASE/big"}}
        """, code=1)
        e = j["steps"]["call"]["error"]
        self.assertEqual(e["kind"], "output")
        self.assertIn("10485760", e["message"])

    def test_redirect_followed_and_json_feeds_next_step(self):
        j = self.run_wf("""
            name: chain
            steps:
              job: {http: {url: "BASE/redirect"}}
              result:
                needs: job
                http: {url: "BASE${{ .steps.job.outputs.body.next }}"}
              use:
                needs: result
                set: {text: "${{ .steps.result.outputs.body }}", id: "${{ .steps.job.outputs.body.id }}"}
        """)
        self.assertEqual(j["steps"]["job"]["outputs"]["body"]["state"], "done")
        self.assertEqual(j["steps"]["job"]["outputs"]["status"], 200)
        self.assertEqual(j["steps"]["use"]["outputs"], {"text": "result of 7", "id": 7})
        self.assertEqual(self.srv.counts["/redirect"], 1)
        self.assertEqual(self.srv.counts["/job/7"], 1)

    def test_redirect_loop_is_a_transport_error(self):
        j = self.run_wf("""
            name: loop
            steps:
              call: {http: {url: "BASE/loop"}}
        """, code=1)
        self.assertEqual(j["steps"]["call"]["error"]["kind"], "http_transport")
        self.assertLessEqual(self.srv.counts["/loop"], 12)

    def test_crlf_in_header_value_or_name_fails_and_sends_nothing(self):
        # an input holding CR LF must not add a header (or a request)
        p = self.write("w.yaml", """
            name: inject
            inputs:
              p: {type: string}
            steps:
              val:
                http: {url: "BASE/echo", headers: {X-Trace: "${{ .inputs.p }}"}}
              lf:
                http: {url: "BASE/echo", headers: {X-Trace: "a\\nX-Injected: yes"}}
        """.replace("BASE", self.base))
        r = self.weft("run", p, "--json", "-i", "p=t1\r\nX-Injected: yes")
        self.assertExit(r, 1)
        j = r.json()
        for step in ("val", "lf"):
            e = j["steps"][step]["error"]
            self.assertEqual(e["kind"], "validation", e)
            self.assertIn('header "X-Trace"', e["message"])
            self.assertIn("line break", e["message"])
            self.assertEqual(j["steps"][step]["attempts"], 1)
        self.assertEqual(self.srv.requests, [])  # nothing was sent at all
        self.assertNotIn("X-Injected", json.dumps(self.srv.requests))

    def test_crlf_in_a_header_name_fails(self):
        j = self.run_wf("""
            name: inject-name
            inputs:
              n: {type: string, default: "X-A: 1\\r\\nX-Injected"}
            steps:
              call:
                http: {url: "BASE/echo", headers: {"${{ .inputs.n }}": "v"}}
        """, code=1)
        e = j["steps"]["call"]["error"]
        self.assertEqual(e["kind"], "validation", e)
        self.assertIn("cannot be sent", e["message"])
        self.assertEqual(self.srv.requests, [])

    def test_headers_never_follow_a_redirect_to_another_origin(self):
        self.other, other = serve()
        j = self.run_wf("""
            name: xorigin
            steps:
              away:
                http:
                  url: "BASE/xredir?to=OTHER/job/3"
                  headers: {X-Api-Key: k-123, Authorization: "Bearer t-123"}
              away307:
                http:
                  method: PUT
                  url: "BASE/xredir?code=307&to=OTHER/job/4"
                  headers: {X-Api-Key: k-123}
                  body: payload
              see_other:
                http:
                  method: POST
                  url: "BASE/xredir?code=303&to=OTHER/job/5"
                  headers: {X-Api-Key: k-123, Content-Type: application/json}
                  json: {a: 1}
              home:
                http: {url: "BASE/redirect", headers: {X-Api-Key: k-123}}
        """.replace("OTHER", other))
        self.assertEqual(j["steps"]["away"]["outputs"]["body"]["id"], 3)
        self.assertEqual(j["steps"]["away307"]["outputs"]["body"]["id"], 4)
        self.assertEqual(len(self.other.requests), 3)
        get = [q for q in self.other.requests if q["path"] == "/job/5"][0]
        self.assertEqual((get["method"], get["body"]), ("GET", ""))  # 303: GET, no body
        self.assertNotIn("content-type", get["headers"])
        for req in self.other.requests:
            self.assertNotIn("x-api-key", req["headers"])
            self.assertNotIn("authorization", req["headers"])
        self.assertNotIn("k-123", json.dumps(self.other.requests))
        put = [q for q in self.other.requests if q["path"] == "/job/4"][0]
        self.assertEqual((put["method"], put["body"]), ("PUT", "payload"))  # 307 keeps both
        # the same origin keeps them
        first = [q for q in self.srv.requests if q["path"] == "/xredir"]
        self.assertTrue(all(q["headers"]["x-api-key"] == "k-123" for q in first))
        same = [q for q in self.srv.requests if q["path"] == "/job/7"][0]
        self.assertEqual(same["headers"]["x-api-key"], "k-123")

    def test_follow_redirects_false_returns_the_3xx(self):
        j = self.run_wf("""
            name: nofollow
            steps:
              call: {http: {url: "BASE/redirect", follow_redirects: false, expect: 302}}
              strict: {http: {url: "BASE/redirect", follow_redirects: false}}
        """, code=1)
        o = j["steps"]["call"]["outputs"]
        self.assertEqual(o["status"], 302)
        self.assertEqual(o["headers"]["location"], "/job/7")
        self.assertEqual(j["steps"]["strict"]["error"]["kind"], "http_status")
        self.assertEqual(j["steps"]["strict"]["error"]["status"], 302)
        self.assertNotIn("/job/7", self.srv.counts)

    def test_method_headers_query_json_expect(self):
        j = self.run_wf("""
            name: echo
            inputs:
              who: {type: string, default: "a b&c"}
            steps:
              post:
                http:
                  method: PUT
                  url: "BASE/echo"
                  headers: {X-Token: "t-${{ .inputs.who }}", X-Num: 5}
                  query: {q: "${{ .inputs.who }}", n: 2}
                  json: {name: "${{ .inputs.who }}", tags: [1, 2]}
                  expect: [201]
              raw:
                http: {method: POST, url: "BASE/echo", body: "hello", expect: 201}
        """)
        o = j["steps"]["post"]["outputs"]
        self.assertEqual(o["status"], 201)
        self.assertEqual(o["headers"]["x-echo"], "yes")
        self.assertEqual(o["headers"]["content-type"], "application/json")
        self.assertEqual(o["body"]["method"], "PUT")
        self.assertEqual(json.loads(o["body"]["body"]), {"name": "a b&c", "tags": [1, 2]})
        self.assertEqual(o["body"]["query"], {"q": ["a b&c"], "n": ["2"]})
        req = [r for r in self.srv.requests if r["method"] == "PUT"][0]
        self.assertEqual(req["headers"]["x-token"], "t-a b&c")
        self.assertEqual(req["headers"]["x-num"], "5")
        self.assertEqual(req["headers"]["content-type"], "application/json")
        self.assertEqual(j["steps"]["raw"]["outputs"]["body"]["body"], "hello")

    def test_expect_mismatch_and_text_body(self):
        j = self.run_wf("""
            name: expect
            steps:
              ok404: {http: {url: "BASE/notfound", expect: [404]}}
              text: {http: {url: "BASE/other"}}
              strict: {http: {url: "BASE/other", expect: 204}}
        """, code=1)
        self.assertEqual(j["steps"]["ok404"]["status"], "succeeded")
        self.assertEqual(j["steps"]["ok404"]["outputs"]["body"], {"error": "no such thing"})
        self.assertEqual(j["steps"]["text"]["outputs"]["body"], "plain text")
        self.assertEqual(j["steps"]["strict"]["error"]["kind"], "http_status")

    def test_transport_error_and_bad_scheme(self):
        # a port nobody listens on: bind one, close it
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        j = self.run_wf("""
            name: down
            steps:
              call: {http: {url: "http://127.0.0.1:%d/x"}, retry: {attempts: 2, delay: 10ms}}
              file: {http: {url: "file:///etc/passwd"}}
        """ % port, code=1)
        self.assertEqual(j["steps"]["call"]["error"]["kind"], "http_transport")
        self.assertEqual(j["steps"]["call"]["attempts"], 2)
        self.assertEqual(j["steps"]["file"]["error"]["kind"], "validation")
        self.assertIn("http", j["steps"]["file"]["error"]["message"])

    def test_fan_out_keeps_connections(self):
        j = self.run_wf("""
            name: fan
            max_parallel: 8
            steps:
              call:
                for_each: "${{ [range(40)] }}"
                http: {url: "BASE/job/${{ .item }}"}
              sum:
                needs: call
                set: {n: "${{ [.steps.call.outputs[].body.id] | add }}"}
        """)
        self.assertEqual(j["steps"]["sum"]["outputs"]["n"], sum(range(40)))
        self.assertEqual(sum(v for k, v in self.srv.counts.items() if k.startswith("/job/")), 40)

    def test_service_orchestration_example(self):
        r = self.weft("run", os.path.join(ROOT, "examples", "service-orchestration.yaml"),
                      "--json", "-i", "base_url=" + self.base, "-i", "dataset=d1")
        self.assertExit(r, 0)
        j = r.json()
        self.assertEqual(j["outputs"], {"job": 7, "rows": 42, "status_attempts": 3})
        self.assertEqual(self.srv.counts["/jobs/7/status"], 3)
        sub = [q for q in self.srv.requests if q["path"] == "/jobs"][0]
        self.assertEqual(json.loads(sub["body"]), {"dataset": "d1", "priority": 1})
        self.assertEqual(sub["headers"]["x-request-id"], j["id"])
        note = [q for q in self.srv.requests if q["path"] == "/notify"][0]
        self.assertEqual(json.loads(note["body"]), {"text": "job 7 done: 42 rows"})

    def test_secret_header_is_sent_but_never_stored(self):
        canary = "canary-http-4417"
        self.env["WEFT_SECRET_api_token"] = canary
        j = self.run_wf("""
            name: secret
            steps:
              call:
                http:
                  method: POST
                  url: "BASE/echo"
                  headers: {Authorization: "Bearer ${{ .secrets.api_token }}"}
                  query: {t: "${{ .secrets.api_token }}"}
                  body: "token=${{ .secrets.api_token }}"
                  expect: 201
        """)
        req = [r for r in self.srv.requests if r["path"] == "/echo"][0]
        self.assertEqual(req["headers"]["authorization"], "Bearer " + canary)
        self.assertEqual(req["body"], "token=" + canary)
        self.assertNotIn(canary, json.dumps(j))
        for root, _, files in os.walk(self.home):
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    self.assertNotIn(canary.encode(), fh.read(), os.path.join(root, f))

    def test_sigkill_during_a_call_then_resume(self):
        """The engine dies while a call is in flight: resume re-attempts it
        (kind interrupted) and never calls again a step recorded as done."""
        p = self.write("w.yaml", """
            name: httpcrash
            steps:
              first: {http: {url: "BASE/job/1"}}
              hang: {needs: first, http: {url: "BASE/hang"}}
              after: {needs: hang, set: {calls: "${{ .steps.hang.outputs.body.calls }}"}}
        """.replace("BASE", self.base))
        proc = self.spawn("run", p)
        self.wait_for(lambda: self.srv.counts.get("/hang"), "the call to /hang")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        rid = self.latest()["id"]
        r = self.weft("resume", rid, "--json")
        self.assertExit(r, 0)
        j = r.json()
        self.assertEqual(j["steps"]["hang"]["attempts"], 2)
        self.assertEqual(j["steps"]["after"]["outputs"], {"calls": 2})
        self.assertEqual(self.srv.counts["/job/1"], 1)
        audit = [json.loads(l) for l in self.weft("audit", "export", rid).out.splitlines()]
        kinds = [e["data"].get("error", {}).get("kind") for e in audit
                 if e["kind"] == "attempt.finished"]
        self.assertIn("interrupted", kinds)
        self.assertExit(self.weft("audit", "verify"), 0)

    def test_retry_if_only_on_503(self):
        j = self.run_wf("""
            name: only503
            steps:
              call:
                http: {url: "BASE/notfound"}
                retry: {attempts: 3, delay: 10ms, if: "${{ .error.status == 503 }}"}
        """, code=1)
        self.assertEqual(j["steps"]["call"]["attempts"], 1)
        self.assertEqual(j["steps"]["call"]["error"]["status"], 404)


if __name__ == "__main__":
    main()
