"""End-to-end: the webhook lookup cache (ops/hooks.c) follows deploys.

A delivery finds its workflow through a cache of every deployed hook, not by
parsing every deployed workflow; a deploy made through the API drops the
cache at once, one made beside the server (`weft deploy`) is seen by the
definition version of the hit (the same hook) or by the server's next look
at the deployed versions (a hook that moved to another workflow)."""
import json
import textwrap

from test_schedules import Server
from test_webhooks import HookBase, PUSH, main

V = """
    name: site
    triggers:
      - webhook: push
        secret: GITHUB_HOOK_SECRET
        inputs: {tag: "%s"}
    inputs:
      tag: {type: string}
    steps:
      a: {run: echo}
"""


class HookCacheTest(HookBase):
    def run_inputs(self, run):
        return self.weft("status", run, "--json").json()["inputs"]

    def test_a_new_version_beside_the_server_is_used_at_once(self):
        self.deploy(V % "v1")
        srv = Server(self)
        code, out = self.post_hook(srv, "push", PUSH, delivery="d-1")
        self.assertEqual(code, 202, out)
        self.assertEqual(self.run_inputs(out["run"]), {"tag": "v1"})
        self.deploy(V % "v2")  # weft deploy: another process
        code, out = self.post_hook(srv, "push", PUSH, delivery="d-2")
        self.assertEqual(code, 202, out)
        self.assertEqual(self.run_inputs(out["run"]), {"tag": "v2"})
        srv.stop()

    def test_a_hook_moved_by_an_api_deploy_is_found_in_its_new_workflow(self):
        self.write_users({"olga": {"role": "operator"}})
        tok = self.weft("token", "create", "olga").out.strip()
        self.deploy(V % "v1")
        srv = Server(self)
        code, out = self.post_hook(srv, "push", PUSH, delivery="d-1")
        self.assertEqual(code, 202, out)
        # site drops the hook, other takes it
        for text in (V.replace("webhook: push", "webhook: push-old") % "v2",
                     V.replace("name: site", "name: other") % "other"):
            code, body = srv.request("POST", "/api/v1/workflows", textwrap.dedent(text).encode(),
                                     {"Authorization": "Bearer " + tok, "Content-Type": "application/yaml"})
            self.assertEqual(code, 201, body)
        code, out = self.post_hook(srv, "push", PUSH, delivery="d-2")
        self.assertEqual(code, 202, out)
        st = self.weft("status", out["run"], "--json").json()
        self.assertEqual((st["workflow"], st["inputs"]), ("other", {"tag": "other"}))
        srv.stop()

    def test_a_new_hook_deployed_through_the_api_answers_at_once(self):
        self.write_users({"olga": {"role": "operator"}})
        tok = self.weft("token", "create", "olga").out.strip()
        self.deploy(V % "v1")
        srv = Server(self)
        code, out = self.post_hook(srv, "push", PUSH, delivery="d-1")  # the cache is built now
        self.assertEqual(code, 202, out)
        text = V.replace("name: site", "name: fresh").replace("webhook: push", "webhook: fresh") % "f"
        code, body = srv.request("POST", "/api/v1/workflows", textwrap.dedent(text).encode(),
                                 {"Authorization": "Bearer " + tok, "Content-Type": "application/yaml"})
        self.assertEqual(code, 201, body)
        code, out = self.post_hook(srv, "fresh", PUSH, delivery="d-2")
        srv.stop()
        self.assertEqual(code, 202, out)


if __name__ == "__main__":
    main()
