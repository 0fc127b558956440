"""End-to-end: notify: (SERVER.md §3) under the real `weft server`, against
a local HTTP receiver this test starts (python's http.server on loopback).

A notification is a POST of {"text", "run", "workflow", "event", "step",
"url"} to the URL a secret holds; it is recorded in the store's outbox when
the event happens and delivered by the server's notifier thread, retried
with a doubling delay, each attempt audited (notify.delivered, notify.retry,
notify.failed), the URL never shown: the audit, the server's log, the API
and the errors name the secret, not its value. The receiver's answers are
scripted (fail twice, then accept) and the test waits on what it received
and on the audit log, never on timing."""
import http.server
import json
import os
import threading

from harness import WeftTest, main
from test_schedules import Server

SECRET_PATH = "/hook/T0KEN-s3cr3t-path"


class Receiver:
    """A loopback HTTP receiver: answers[i] is the status of request i
    (the last one repeats); hold: an Event the handler waits for first."""

    def __init__(self, test, answers=(200,), hold=None):
        self.requests = []
        self.answers = list(answers)
        self.hold = hold
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                i = len(rec.requests)
                rec.requests.append({"path": self.path, "body": json.loads(body),
                                     "type": self.headers.get("Content-Type")})
                if rec.hold is not None:
                    rec.hold.wait(60)
                code = rec.answers[min(i, len(rec.answers) - 1)]
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.url = "http://127.0.0.1:%d%s" % (self.srv.server_address[1], SECRET_PATH)
        self.th = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.th.start()
        test.addCleanup(self.close)

    def close(self):
        if self.hold is not None:
            self.hold.set()
        self.srv.shutdown()
        self.srv.server_close()


class NotifyBase(WeftTest):
    def setUp(self):
        super().setUp()
        self.write_users({"olga": {"role": "operator"}})
        tok = self.weft("token", "create", "olga")
        self.assertExit(tok, 0)
        self.tok = tok.out.strip()

    def secrets(self, **kv):
        path = os.path.join(self.home, "secrets.json")
        with open(path, "w") as f:
            json.dump(kv, f)
        os.chmod(path, 0o600)

    def deploy(self, text, name="wf.yaml"):
        r = self.weft("deploy", self.write(name, text))
        self.assertExit(r, 0)

    def start(self, srv, wf):
        code, out = srv.request("POST", "/api/v1/workflows/%s/runs" % wf, b"{}",
                                {"Authorization": "Bearer " + self.tok, "Content-Type": "application/json"})
        self.assertEqual(code, 201, out)
        return json.loads(out)["id"]

    def audit(self, prefix="notify."):
        r = self.weft("audit", "export")
        self.assertExit(r, 0)
        return [e for e in map(json.loads, r.out.splitlines()) if e["kind"].startswith(prefix)]


FAILING = """
    name: nightly
    notify:
      - on: [failed, timed_out]
        webhook: HOOK_URL
      - on: [succeeded]
        webhook: OTHER_URL
    steps:
      a: {run: "exit 3"}
"""


class NotifyTest(NotifyBase):
    def test_a_failed_run_posts_a_slack_message_and_hides_the_url(self):
        rec = Receiver(self)
        self.secrets(HOOK_URL=rec.url, OTHER_URL=rec.url + "/other")
        self.deploy(FAILING)
        srv = Server(self)
        run = self.start(srv, "nightly")
        self.wait_for(lambda: self.audit(), "the delivery's audit entry")
        self.assertEqual(len(rec.requests), 1)
        q = rec.requests[0]
        self.assertEqual(q["path"], SECRET_PATH)
        self.assertEqual(q["type"], "application/json")
        b = q["body"]
        self.assertEqual((b["run"], b["workflow"], b["event"], b["step"]), (run, "nightly", "failed", None))
        self.assertEqual(b["text"], "weft: run %s of nightly failed" % run)
        self.assertEqual(b["url"], "http://%s/#/runs/%s" % (srv.addr, run))
        [a] = self.audit()
        self.assertEqual(a["kind"], "notify.delivered")
        self.assertEqual(a["run"], run)
        self.assertEqual((a["data"]["webhook"], a["data"]["event"], a["data"]["attempt"], a["data"]["http_status"]),
                         ("HOOK_URL", "failed", 1, 200))
        code, out = srv.request("GET", "/api/v1/runs/" + run, None, {"Authorization": "Bearer " + self.tok})
        srv.stop()
        # the URL (its secret path) is nowhere: audit log, API, server log
        for where, text in (("audit", self.weft("audit", "export").out), ("api", out), ("log", srv.text())):
            self.assertNotIn("T0KEN-s3cr3t-path", text, where)
        self.assertIn("notify: failed of run %s (nightly) delivered to HOOK_URL" % run, srv.text())

    def test_a_receiver_failing_twice_gets_it_the_third_time(self):
        rec = Receiver(self, answers=(500, 503, 200))
        self.secrets(HOOK_URL=rec.url, OTHER_URL=rec.url)
        self.deploy(FAILING)
        srv = Server(self)
        run = self.start(srv, "nightly")
        self.wait_for(lambda: [a for a in self.audit() if a["kind"] == "notify.delivered"], "the delivery")
        srv.stop()
        kinds = [(a["kind"], a["data"]["attempt"], a["data"].get("http_status")) for a in self.audit()]
        self.assertEqual(kinds, [("notify.retry", 1, 500), ("notify.retry", 2, 503), ("notify.delivered", 3, 200)])
        retry = self.audit()[0]["data"]
        self.assertEqual(retry["error"], "the receiver answered HTTP 500")
        self.assertEqual(retry["retry_in_ms"], 500)
        self.assertEqual(self.audit()[1]["data"]["retry_in_ms"], 1000)
        self.assertEqual(len(rec.requests), 3)
        self.assertEqual([q["body"] for q in rec.requests], [rec.requests[0]["body"]] * 3)
        self.assertEqual(rec.requests[0]["body"]["run"], run)
        self.assertNotIn("T0KEN-s3cr3t-path", srv.text())

    def test_only_the_listed_events_are_sent(self):
        rec = Receiver(self)
        self.secrets(HOOK_URL=rec.url + "/failed", OTHER_URL=rec.url + "/ok")
        self.deploy(FAILING.replace("exit 3", "true"))
        srv = Server(self)
        run = self.start(srv, "nightly")
        self.wait_for(lambda: self.audit(), "the delivery")
        srv.stop()
        self.assertEqual([(a["kind"], a["data"]["webhook"], a["data"]["event"]) for a in self.audit()],
                         [("notify.delivered", "OTHER_URL", "succeeded")])
        self.assertEqual([q["path"] for q in rec.requests], [SECRET_PATH + "/ok"])
        self.assertEqual(rec.requests[0]["body"]["run"], run)

    def test_an_approval_waiting_is_told_and_a_hanging_receiver_blocks_nothing(self):
        hold = threading.Event()
        rec = Receiver(self, hold=hold)
        self.secrets(HOOK_URL=rec.url)
        self.deploy("""
            name: release
            notify:
              - {on: [approval_waiting, succeeded], webhook: HOOK_URL}
            steps:
              ship: {approval: {message: "ship it?"}}
              after: {needs: ship, run: echo shipped}
            """)
        srv = Server(self)
        run = self.start(srv, "release")
        self.wait_for(lambda: rec.requests, "the approval_waiting notification")
        b = rec.requests[0]["body"]
        self.assertEqual((b["event"], b["step"], b["run"]), ("approval_waiting", "ship", run))
        self.assertEqual(b["text"], "weft: run %s of release waits for an approval (step ship)" % run)
        # the receiver has not answered: the run goes on all the same
        r = self.weft("approve", run, "ship")
        self.assertExit(r, 0)
        self.wait_for(lambda: self.weft("status", run, "--json").json()["status"] == "succeeded", "the run's end")
        self.assertEqual(len(rec.requests), 1)
        self.assertEqual(self.audit(), [])
        hold.set()
        self.wait_for(lambda: len([a for a in self.audit() if a["kind"] == "notify.delivered"]) == 2, "both deliveries")
        srv.stop()
        self.assertEqual([q["body"]["event"] for q in rec.requests], ["approval_waiting", "succeeded"])

    def test_a_run_that_times_out_is_told_as_timed_out(self):
        rec = Receiver(self)
        self.secrets(HOOK_URL=rec.url, OTHER_URL=rec.url)
        self.deploy(FAILING.replace('a: {run: "exit 3"}', 'a: {run: "sleep 60"}').replace(
            "name: nightly", "name: nightly\n    timeout: 1s"))
        srv = Server(self)
        run = self.start(srv, "nightly")
        self.wait_for(lambda: self.audit(), "the delivery")
        srv.stop()
        self.assertEqual([q["body"]["event"] for q in rec.requests], ["timed_out"])
        self.assertEqual(rec.requests[0]["body"]["text"], "weft: run %s of nightly timed out" % run)

    def test_a_missing_secret_is_retried_and_named_not_shown(self):
        self.secrets(OTHER_URL="http://127.0.0.1:9/x")
        self.deploy(FAILING)
        srv = Server(self)
        self.start(srv, "nightly")
        self.wait_for(lambda: self.audit(), "the first attempt")
        srv.stop()
        a = self.audit()[0]
        self.assertEqual(a["kind"], "notify.retry")
        self.assertEqual(a["data"]["error"], "no secret HOOK_URL in the home's secrets (add it to secrets.json)")

    def test_a_pending_notification_survives_a_restart(self):
        rec = Receiver(self, answers=(500, 200))
        self.secrets(HOOK_URL=rec.url, OTHER_URL=rec.url)
        self.deploy(FAILING)
        srv = Server(self)
        run = self.start(srv, "nightly")
        self.wait_for(lambda: self.audit(), "the first attempt")
        srv.stop()
        self.assertEqual([a["kind"] for a in self.audit()], ["notify.retry"])
        srv2 = Server(self)
        self.wait_for(lambda: [a for a in self.audit() if a["kind"] == "notify.delivered"], "the delivery")
        srv2.stop()
        self.assertEqual([q["body"]["run"] for q in rec.requests], [run, run])



class DocsTest(NotifyBase):
    """docs/triggers.md's notify example, as written."""

    def test_release_example(self):
        from test_webhooks import doc_block
        rec = Receiver(self)
        self.secrets(SLACK_HOOK_URL=rec.url)
        self.deploy(doc_block("release"), "release.yaml")
        srv = Server(self)
        run = self.start(srv, "release")
        self.wait_for(lambda: rec.requests, "the approval_waiting notification")
        b = rec.requests[0]["body"]
        self.assertEqual((b["event"], b["step"], b["workflow"]), ("approval_waiting", "ship", "release"))
        self.assertExit(self.weft("approve", run, "ship"), 0)
        self.wait_for(lambda: self.weft("status", run, "--json").json()["status"] == "succeeded", "the run's end")
        srv.stop()
        self.assertEqual(len(rec.requests), 1)  # succeeded is not listed


if __name__ == "__main__":
    main()
