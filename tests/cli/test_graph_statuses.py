"""End-to-end: GET /runs/{id}/graph says for every step what GET /runs/{id}
says — its status, and for a for_each step the number of its instances —
for runs that succeeded, failed part-way (failed, skipped and never-started
steps, a for_each with failed instances) and one still waiting for an
approval. The graph reads step rows directly rather than building the run's
JSON (bench/README.md, the web UI), so the two must not drift apart."""
import json
import urllib.request

from harness import WeftTest, main, os_user
from test_server import Server

MIXED = """name: mixed
steps:
  a: {set: {v: 1}}
  each:
    needs: [a]
    for_each: ${{ [range(6)] }}
    run: test "$I" != 4
    env: {I: "${{ .item }}"}
  after_each: {needs: [each], set: {v: 2}}
  side: {needs: [a], run: "exit 3"}
  after_side: {needs: [side], set: {v: 3}}
  free: {set: {v: 4}}
"""
WAITING = """name: waiting
steps:
  a: {set: {v: 1}}
  fan:
    needs: [a]
    for_each: ${{ [range(3)] }}
    set: {v: "${{ .item }}"}
  ok:
    needs: [fan]
    approval: {message: go?, allow_self_approval: true}
  done: {needs: [ok], set: {v: 2}}
"""


class GraphStatusesTest(WeftTest):
    def setUp(self):
        super().setUp()
        self.write_users({os_user(): {"role": "admin"}})
        r = self.weft("token", "create", os_user())
        self.assertExit(r, 0)
        self.auth = {"Authorization": "Bearer " + r.out.strip()}

    def get(self, srv, path):
        code, body, _ = srv.get("/api/v1" + path, self.auth)
        self.assertEqual(code, 200, body)
        return json.loads(body)

    def same(self, srv, run_id):
        run = self.get(srv, "/runs/" + run_id)
        graph = self.get(srv, "/runs/%s/graph" % run_id)
        self.assertEqual([n["id"] for n in graph["nodes"]], list(run["steps"]))
        for n in graph["nodes"]:
            u = run["steps"][n["id"]]
            self.assertEqual(n["status"], u["status"], n["id"])
            want = sum(u["instance_counts"].values()) if u.get("instance_counts") is not None else None
            if n["instances"] is not None or want is not None:
                self.assertEqual(n["instances"], want or 0, n["id"])
        return {n["id"]: (n["status"], n["instances"]) for n in graph["nodes"]}

    def test_graph_and_run_agree_on_every_step(self):
        self.weft("run", self.write("mixed.yaml", MIXED))
        mixed = self.latest()["id"]
        self.assertExit(self.weft("deploy", self.write("w.yaml", WAITING)), 0)
        srv = Server(self, "--listen", "127.0.0.1:0")
        req = urllib.request.Request(srv.base + "/api/v1/workflows/waiting/runs", data=b"{}", method="POST",
                                     headers=dict(self.auth, **{"Content-Type": "application/json"}))
        with urllib.request.urlopen(req, timeout=30) as r:
            waiting = json.loads(r.read())["id"]
        self.wait_for(lambda: self.get(srv, "/runs/" + waiting)["steps"]["ok"]["status"] == "waiting" or None,
                      "the approval waits")
        got = self.same(srv, mixed)
        self.assertEqual(got["each"], ("failed", 6))
        self.assertEqual(got["side"][0], "failed")
        self.assertIn(got["after_side"][0], ("skipped", "pending", "cancelled"))
        self.assertEqual(got["free"], ("succeeded", None))
        got = self.same(srv, waiting)
        self.assertEqual(got["fan"], ("succeeded", 3))
        self.assertEqual(got["ok"], ("waiting", None))
        self.assertEqual(got["done"], ("pending", None))


if __name__ == "__main__":
    main()
