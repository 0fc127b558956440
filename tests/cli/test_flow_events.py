"""End-to-end: persistent and transient triggers (docs/language.md, "Events").

`weft event send NAME --run RUN` (and POST /events {name, data, run}) keeps the
event for that run until one of its waits consumes it: a wait that starts
later still receives it, kept events are consumed once each, oldest first,
across an engine killed with SIGKILL. An event sent without a run reaches only
the waits waiting at that moment."""
import json
import os
import signal
import sqlite3
import urllib.request

from harness import WeftTest, main
from test_server import Server


class Events(WeftTest):
    def status(self, rid):
        r = self.weft("status", rid, "--json")
        self.assertExit(r, 0)
        return r.json()

    def start(self, text):
        p = self.write("w.yaml", text)
        proc = self.spawn("run", p)
        rid = self.wait_for(lambda: (self.latest() or {}).get("id"), "the run")
        return proc, rid

    def send(self, *args, code=0):
        r = self.weft("event", "send", *args)
        self.assertExit(r, code)
        return r

    def kept_rows(self):
        db = sqlite3.connect(os.path.join(self.home, "weft.db"))
        try:
            return db.execute("SELECT name, payload, consumed_by FROM run_events ORDER BY id").fetchall()
        finally:
            db.close()

    GATED = """
        name: gated
        steps:
          gate: {run: 'while [ ! -f %(t)s/go ]; do sleep 0.05; done'}
          first: {needs: gate, wait: {event: paid}}
          second: {needs: first, wait: {event: paid, match: "${{ .event.n > 1 }}"}}
    """

    def test_a_kept_event_reaches_waits_that_start_later_once_each_in_order(self):
        proc, rid = self.start(self.GATED % {"t": self.tmp})
        self.wait_for(lambda: self.status(rid)["steps"]["gate"]["status"] == "running", "the gate")
        self.send("paid", "--data", '{"n": 0}')  # broadcast: nobody waits now, so it is gone
        r = self.send("paid", "--run", rid, "--data", '{"n": 1}')
        self.assertIn(f"kept for run {rid}", r.out)
        j = self.send("paid", "--run", rid[:12], "--data", '{"n": 2}', "--json").json()
        self.assertEqual(j["run"], rid)
        self.assertTrue(j["kept"])
        self.assertEqual(j["delivered_to"], [])
        self.send("paid", "--run", rid, "--data", '{"n": 3}')
        open(os.path.join(self.tmp, "go"), "w").close()
        self.assertEqual(proc.wait(timeout=60), 0)
        st = self.status(rid)
        self.assertEqual(st["steps"]["first"]["outputs"], {"n": 1})
        self.assertEqual(st["steps"]["second"]["outputs"], {"n": 2})
        rows = self.kept_rows()
        self.assertEqual([(json.loads(p)["n"], by) for _, p, by in rows],
                         [(1, "first#1"), (2, "second#1"), (3, None)])

    def test_a_match_looks_past_many_kept_events_it_refuses(self):
        proc, rid = self.start("""
            name: picky
            steps:
              gate: {run: 'while [ ! -f %s/go ]; do sleep 0.05; done'}
              w: {needs: gate, wait: {event: e, match: "${{ .event.n == 1 }}"}}
        """ % self.tmp)
        for _ in range(70):  # more than one page of the store's list
            self.send("e", "--run", rid, "--data", '{"n": 0}')
        self.send("e", "--run", rid, "--data", '{"n": 1}')
        open(os.path.join(self.tmp, "go"), "w").close()
        self.assertEqual(proc.wait(timeout=120), 0)
        self.assertEqual(self.status(rid)["steps"]["w"]["outputs"], {"n": 1})
        self.assertEqual(sum(1 for _, _, by in self.kept_rows() if by is None), 70)

    def test_errors(self):
        p = self.write("done.yaml", "name: done\nsteps:\n  a: {run: 'true'}\n")
        r = self.weft("run", p, "--json")
        self.assertExit(r, 0)
        rid = r.json()["id"]
        r = self.weft("event", "send", "paid", "--run", rid)
        self.assertNotEqual(r.code, 0)
        self.assertIn("already ended", r.err)
        self.assertTrue(r.err.startswith("weft: "))
        r = self.weft("event", "send", "paid", "--run", "01AAAAAAAAAAAAAAAAAAAAAAAA")
        self.assertExit(r, 4)
        r = self.weft("event", "send", "paid", "--run")
        self.assertExit(r, 2)
        self.assertEqual(self.kept_rows(), [])

    def test_sigkill_before_the_wait_consumes_it_then_resume_consumes_it_once(self):
        proc, rid = self.start("""
            name: crash
            steps:
              first: {wait: {event: paid}}
              second: {needs: first, wait: {event: paid}}
        """)
        self.wait_for(lambda: self.status(rid)["steps"]["first"]["status"] == "waiting", "the wait")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        self.send("paid", "--run", rid, "--data", '{"n": 1}')
        res = self.spawn("resume", rid)
        self.wait_for(lambda: self.status(rid)["steps"]["second"]["status"] == "waiting", "the second wait")
        self.assertEqual(self.status(rid)["steps"]["first"]["outputs"], {"n": 1})
        self.assertEqual([by for _, _, by in self.kept_rows()], ["first#1"])
        self.send("paid", "--run", rid, "--data", '{"n": 2}')
        self.assertEqual(res.wait(timeout=60), 0)
        self.assertEqual(self.status(rid)["steps"]["second"]["outputs"], {"n": 2})
        self.assertEqual([by for _, _, by in self.kept_rows()], ["first#1", "second#1"])

    def test_an_event_claimed_before_a_crash_goes_to_the_same_wait_at_resume(self):
        # the engine claimed the event, then died before committing the step's
        # success: the claim is in the store, the step still waiting
        proc, rid = self.start("""
            name: claimed
            steps:
              first: {wait: {event: paid}}
              second: {needs: first, wait: {event: paid}}
        """)
        self.wait_for(lambda: self.status(rid)["steps"]["first"]["status"] == "waiting", "the wait")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        self.send("paid", "--run", rid, "--data", '{"n": 1}')
        db = sqlite3.connect(os.path.join(self.home, "weft.db"))
        db.execute("UPDATE run_events SET consumed_at = 1, consumed_by = 'first#1'")
        db.commit()
        db.close()
        res = self.spawn("resume", rid)
        self.wait_for(lambda: self.status(rid)["steps"]["second"]["status"] == "waiting", "the second wait")
        self.assertEqual(self.status(rid)["steps"]["first"]["outputs"], {"n": 1})
        self.send("paid", "--run", rid, "--data", '{"n": 2}')
        self.assertEqual(res.wait(timeout=60), 0)
        self.assertEqual(self.status(rid)["steps"]["second"]["outputs"], {"n": 2})

    def test_api_post_events_with_a_run(self):
        self.write_users({"olga": {"role": "operator"}})
        tok = self.weft("token", "create", "olga").out.strip()
        proc, rid = self.start(self.GATED % {"t": self.tmp})
        srv = Server(self, "--listen", "127.0.0.1:0")

        def post(body):
            req = urllib.request.Request(srv.base + "/api/v1/events", data=json.dumps(body).encode(),
                                         method="POST", headers={"Authorization": "Bearer " + tok,
                                                                 "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())
        self.assertEqual(post({"name": "paid", "run": 3})[0], 400)
        self.assertEqual(post({"name": "paid", "run": "01AAAAAAAAAAAAAAAAAAAAAAAA"})[0], 404)
        code, doc = post({"name": "paid", "run": rid, "data": {"n": 5}})
        self.assertEqual(code, 202, doc)
        self.assertEqual((doc["run"], doc["started"]), (rid, []))
        env = dict(self.env, WEFT_SERVER=srv.base, WEFT_TOKEN=tok)
        r = self.weft("event", "send", "paid", "--run", rid, "--data", '{"n": 6}', env=env)
        self.assertExit(r, 0)
        self.assertIn("kept for run", r.out)
        open(os.path.join(self.tmp, "go"), "w").close()
        self.assertEqual(proc.wait(timeout=60), 0)
        st = self.status(rid)
        self.assertEqual((st["steps"]["first"]["outputs"], st["steps"]["second"]["outputs"]), ({"n": 5}, {"n": 6}))
        self.assertEqual(srv.stop(), 0)


if __name__ == "__main__":
    main()
