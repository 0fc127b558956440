"""End-to-end, without a browser: what `weft server` does for the web UI.
The embedded files at / and /ui/ (content types, ETag and 304, the
Content-Security-Policy, 404 for anything else, no token needed) while every
/api/ route still needs one; GET /api/v1/me (who is signed in, with which
role); and GET /runs's time window (since=, until=) with cursor paging.
The browser itself is tested in tests/ui/."""
import json
import os
import time
import urllib.error
import urllib.request

from harness import ROOT, WeftTest, main, os_user
from test_server import Server

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid_ms(rid):
    t = 0
    for ch in rid[:10]:
        t = t * 32 + CROCKFORD.index(ch)
    return t


def rfc3339(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


class UiServerTest(WeftTest):
    def setUp(self):
        super().setUp()
        self.write_users({"vic": {"role": "viewer"}, "olga": {"role": "operator"}, os_user(): {"role": "admin"}})
        self.assertExit(self.weft("runs"), 0)
        self.srv = Server(self, "--listen", "127.0.0.1:0")

    def get(self, path, headers=None):
        return self.srv.get(path, headers)

    def api(self, path, user):
        r = self.weft("token", "create", user)
        self.assertExit(r, 0)
        code, body, _ = self.get("/api/v1" + path, {"Authorization": "Bearer " + r.out.strip()})
        return code, json.loads(body)

    def test_the_ui_files_are_served_typed_with_etag_and_csp(self):
        code, body, h = self.get("/")
        self.assertEqual(code, 200)
        self.assertIn('<script type="module" src="/ui/app.js">', body)
        self.assertEqual(h["Content-Type"], "text/html; charset=utf-8")
        csp = h["Content-Security-Policy"]
        for part in ("default-src 'self'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"):
            self.assertIn(part, csp)
        self.assertNotIn("unsafe", csp)
        self.assertEqual(h["X-Content-Type-Options"], "nosniff")
        self.assertEqual(h["Cache-Control"], "no-cache")
        code, login, _ = self.get("/login")
        self.assertEqual((code, login), (200, body))
        with open(os.path.join(ROOT, "ui", "app.js")) as f:
            app = f.read()
        code, js, h = self.get("/ui/app.js")
        self.assertEqual((code, js), (200, app))
        self.assertEqual(h["Content-Type"], "text/javascript; charset=utf-8")
        code, _, h2 = self.get("/ui/app.js", {"If-None-Match": h["ETag"]})
        self.assertEqual(code, 304)
        self.assertEqual(h2["ETag"], h["ETag"])
        code, _, h3 = self.get("/ui/style.css")
        self.assertEqual((code, h3["Content-Type"]), (200, "text/css; charset=utf-8"))
        self.assertNotEqual(h3["ETag"], h["ETag"])
        for p in ("/ui/nope.js", "/ui/", "/ui/../weft.db", "/ui/%2e%2e/users.json", "/nope", "/weft.db"):
            code, _, _ = self.get(p)
            self.assertEqual(code, 404, p)
        # /metrics counts the UI's files as "fallback", a page no one has as "none"
        r = self.weft("token", "create", "vic")
        code, text, _ = self.get("/metrics", {"Authorization": "Bearer " + r.out.strip()})
        self.assertEqual(code, 200)
        self.assertRegex(text, r'weft_http_requests_total\{route="fallback",code="200"\} [1-9]')
        self.assertRegex(text, r'weft_http_requests_total\{route="fallback",code="304"\} 1\n')
        self.assertRegex(text, r'weft_http_requests_total\{route="none",code="404"\} [1-9]')
        self.assertNotIn('route="fallback",code="404"', text)
        # the API is not opened by any of this
        for p in ("/api/v1/runs", "/api/v1/me", "/api/", "/api/v1/ui/app.js"):
            code, _, _ = self.get(p)
            self.assertIn(code, (401, 403), p)

    def test_another_method_on_a_page_is_405_with_allow_not_404(self):
        for path in ("/", "/login", "/ui/app.js"):
            for method in ("POST", "PUT", "DELETE"):
                req = urllib.request.Request(self.srv.base + path, data=b"x" if method != "DELETE" else None,
                                             method=method)
                with self.assertRaises(urllib.error.HTTPError) as cm:
                    urllib.request.urlopen(req, timeout=60)
                self.assertEqual(cm.exception.code, 405, (method, path))
                self.assertEqual(cm.exception.headers["Allow"], "GET, HEAD", (method, path))
                body = json.loads(cm.exception.read())
                self.assertIn("allowed: GET, HEAD", body["error"]["message"])
        # a page no one has stays 404, whatever the method
        req = urllib.request.Request(self.srv.base + "/nope", data=b"x", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, timeout=60)
        self.assertEqual(cm.exception.code, 404)

    def test_me_says_who_and_which_role(self):
        self.assertEqual(self.api("/me", "vic")[1]["role"], "viewer")
        code, me = self.api("/me", "olga")
        self.assertEqual(code, 200)
        self.assertEqual((me["user"], me["role"]), ("olga", "operator"))
        self.assertTrue(me["token_id"].startswith("tok_"))
        code, doc, _ = self.get("/api/v1/openapi.json")
        self.assertEqual(json.loads(doc)["paths"]["/api/v1/me"]["get"]["operationId"], "whoami")

    def test_runs_time_window_since_until_and_paging(self):
        wf = self.write("w.yaml", "name: w\nsteps:\n  a: {run: 'true'}\n")
        ids = []
        for _ in range(3):
            self.assertExit(self.weft("run", wf), 0)
            ids.append(self.latest()["id"])
            time.sleep(0.005)  # distinct creation milliseconds (not asserted on)
        ms = [ulid_ms(i) for i in ids]
        self.assertTrue(ms[0] < ms[1] < ms[2], ms)

        def page(q):
            code, body = self.api("/runs?" + q, "vic")
            self.assertEqual(code, 200, body)
            return [r["id"] for r in body["runs"]], body["next_cursor"]

        self.assertEqual(page("since=" + rfc3339(ms[1]))[0], [ids[2], ids[1]])
        self.assertEqual(page("until=" + rfc3339(ms[1]))[0], [ids[1], ids[0]])
        self.assertEqual(page("since=%s&until=%s" % (rfc3339(ms[1]), rfc3339(ms[1])))[0], [ids[1]])
        self.assertEqual(page("since=" + rfc3339(ms[2] + 1))[0], [])
        # paging inside the window: the page that reaches since= is the last
        got, cur = page("limit=1&since=" + rfc3339(ms[1]))
        self.assertEqual(got, [ids[2]])
        self.assertIsNotNone(cur)
        got, cur = page("limit=1&since=%s&cursor=%s" % (rfc3339(ms[1]), cur))
        self.assertEqual((got, cur), ([ids[1]], None))
        # until with a cursor: the tighter bound wins
        got, cur = page("limit=1&until=" + rfc3339(ms[2]))
        self.assertEqual(got, [ids[2]])
        got, _ = page("limit=5&until=%s&cursor=%s" % (rfc3339(ms[0]), cur))
        self.assertEqual(got, [ids[0]])
        for bad in ("since=yesterday", "until=2026-13-01T00:00:00Z"):
            code, body = self.api("/runs?" + bad, "vic")
            self.assertEqual(code, 400, bad)
            self.assertIn("RFC 3339", body["error"]["message"])

    def call(self, method, path, user, body=None, ctype="application/json"):
        r = self.weft("token", "create", user)
        self.assertExit(r, 0)
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.srv.base + "/api/v1" + path, data=data, method=method,
                                     headers={"Authorization": "Bearer " + r.out.strip(), "Content-Type": ctype})
        try:
            with urllib.request.urlopen(req, timeout=60) as res:
                text = res.read().decode()
                code = res.status
        except urllib.error.HTTPError as e:
            code, text = e.code, e.read().decode()
        try:
            return code, json.loads(text)
        except ValueError:
            return code, text

    def test_retry_a_run_this_server_executed_and_a_silent_steps_log(self):
        # the UI's retry buttons act on runs the server itself ran: its
        # runtime kept the ended run and answered 409 "owned by another live
        # engine"; and a step that printed nothing had a 404 log ("pruned?")
        flag = os.path.join(self.tmp, "flag")
        yaml = ("name: flaky\nsteps:\n  one: {run: 'echo one'}\n"
                "  two: {needs: one, run: 'test -f %s'}\n  three: {needs: two, run: 'echo three'}\n" % flag)
        code, _ = self.call("POST", "/workflows", "olga", yaml.encode(), "application/yaml")
        self.assertEqual(code, 201)
        code, run = self.call("POST", "/workflows/flaky/runs", "olga", {})
        self.assertEqual(code, 201, run)
        rid = run["id"]
        self.wait_for(lambda: self.call("GET", "/runs/" + rid, "vic")[1]["status"] == "failed", "the failed run")
        code, log = self.call("GET", "/runs/%s/logs/two?attempt=1" % rid, "vic")
        self.assertEqual((code, log), (200, ""))
        code, log = self.call("GET", "/runs/%s/logs/one" % rid, "vic")
        self.assertEqual((code, log), (200, "one\n"))
        code, err = self.call("GET", "/runs/%s/logs/two?attempt=2" % rid, "vic")
        self.assertEqual(code, 404, err)
        open(flag, "w").close()
        code, doc = self.call("POST", "/runs/%s/retry" % rid, "olga", {"from": "two"})
        self.assertEqual(code, 202, doc)
        done = self.wait_for(lambda: (lambda r: r if r["status"] in ("succeeded", "failed") and r["steps"]["three"]["status"] != "pending" else None)(
            self.call("GET", "/runs/" + rid, "vic")[1]), "the retried run")
        self.assertEqual(done["status"], "succeeded", done)
        self.assertEqual(done["steps"]["one"]["attempts"], 1)
        self.assertEqual(done["steps"]["two"]["attempts"], 2)
        # and again, from the start (the run ended here twice now)
        code, doc = self.call("POST", "/runs/%s/retry" % rid, "olga", {"from": "one"})
        self.assertEqual(code, 202, doc)
        self.wait_for(lambda: self.call("GET", "/runs/" + rid, "vic")[1]["steps"]["one"]["attempts"] == 2
                      and self.call("GET", "/runs/" + rid, "vic")[1]["status"] == "succeeded", "the second retry")


if __name__ == "__main__":
    main()
