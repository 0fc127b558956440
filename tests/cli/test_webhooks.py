"""End-to-end: webhook and event triggers under the real `weft server`
(SERVER.md §3, §5).

Webhooks: POST /api/v1/hooks/{name} with GitHub's push payload and headers,
signed here with Python's hmac (independently of weft's libsodium):
X-Hub-Signature-256 and X-Weft-Signature; no token needed; a bad, missing or
unsigned request is 401 and audited (webhook.refused); `if:` and `inputs:`
over `.trigger.body/headers`; 202 {"run": ID} or 200 {"run": null, "reason":
"if was false"}; a repeated delivery id starts no second run. Events: `weft
event send` and POST /events start the runs of matching event triggers and
say which (started) next to the waits that got it (delivered_to)."""
import hashlib
import hmac
import json
import os
import uuid

import re

from harness import ROOT, WeftTest, main
from test_schedules import Server

HOOK_SECRET = "It's a Secret to Everybody"

PUSH = {
    "ref": "refs/heads/main",
    "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    "after": "0000000000000000000000000000000000000000",
    "repository": {"id": 186853002, "name": "hello-world", "full_name": "octocat/hello-world",
                   "private": False, "owner": {"name": "octocat", "login": "octocat"},
                   "default_branch": "main", "clone_url": "https://github.com/octocat/hello-world.git"},
    "pusher": {"name": "octocat", "email": "octocat@github.com"},
    "sender": {"login": "octocat", "id": 1, "type": "User"},
    "created": False, "deleted": False, "forced": False,
    "compare": "https://github.com/octocat/hello-world/compare/6113728f27ae...000000000000",
    "commits": [{"id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", "message": "Update README.md",
                 "timestamp": "2026-12-03T10:00:00+01:00", "author": {"name": "Mona", "username": "octocat"},
                 "added": [], "removed": [], "modified": ["README.md"]}],
    "head_commit": {"id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", "message": "Update README.md"},
}

DEPLOY = """
    name: deploy-site
    triggers:
      - webhook: github-push
        secret: GITHUB_HOOK_SECRET
        if: ${{ .trigger.body.ref == "refs/heads/main" }}
        inputs:
          ref: "${{ .trigger.body.ref }}"
          sha: "${{ .trigger.body.head_commit.id }}"
          event: "${{ .trigger.headers[\\"x-github-event\\"] }}"
    inputs:
      ref: {type: string}
      sha: {type: string}
      event: {type: string}
    steps:
      build:
        run: echo "$REF $SHA $EV $WHO"
        env:
          REF: "${{ .inputs.ref }}"
          SHA: "${{ .inputs.sha }}"
          EV: "${{ .inputs.event }}"
          WHO: "${{ .trigger.body.pusher.name }}/${{ .event.repository.full_name }}/${{ .trigger.type }}"
"""


def sign(body, secret=HOOK_SECRET):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class HookBase(WeftTest):
    def setUp(self):
        super().setUp()
        os.makedirs(self.home, exist_ok=True)
        path = os.path.join(self.home, "secrets.json")
        with open(path, "w") as f:
            json.dump({"GITHUB_HOOK_SECRET": HOOK_SECRET}, f)
        os.chmod(path, 0o600)

    def deploy(self, text, name="wf.yaml"):
        r = self.weft("deploy", self.write(name, text))
        self.assertExit(r, 0)

    def post_hook(self, srv, name, payload, sig=True, header="X-Hub-Signature-256", delivery=None, secret=None):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/7a3e1f2",
                   "X-GitHub-Event": "push", "X-GitHub-Hook-ID": "292430182"}
        if sig:
            headers[header] = sign(body, secret or HOOK_SECRET) if sig is True else sig
        if delivery:
            headers["X-GitHub-Delivery" if header == "X-Hub-Signature-256" else "X-Weft-Delivery"] = delivery
        code, text = srv.request("POST", "/api/v1/hooks/" + name, body, headers)
        return code, json.loads(text)

    def audit_kinds(self):
        r = self.weft("audit", "export")
        return [json.loads(line) for line in r.out.splitlines()]

    def ended(self, run):
        st = self.weft("status", run, "--json")
        return st.code == 0 and st.json()["status"] in ("succeeded", "failed", "cancelled") and st.json()

class WebhookTest(HookBase):
    def test_github_push_starts_a_run_with_inputs_from_the_body(self):
        self.deploy(DEPLOY)
        srv = Server(self)
        code, out = self.post_hook(srv, "github-push", PUSH, delivery=str(uuid.uuid4()))
        self.assertEqual(code, 202, out)
        run = out["run"]
        st = self.wait_for(lambda: self.ended(run), "the run")
        srv.stop()
        self.assertEqual(st["status"], "succeeded", st)
        self.assertEqual(st["trigger"], "webhook")
        self.assertEqual(st["inputs"], {"ref": "refs/heads/main", "sha": PUSH["head_commit"]["id"], "event": "push"})
        log = self.weft("logs", run, "build").out.strip()
        self.assertEqual(log, "refs/heads/main %s push octocat/octocat/hello-world/webhook" % PUSH["head_commit"]["id"])

    def test_weft_signature_header_works_too(self):
        self.deploy(DEPLOY)
        srv = Server(self)
        code, out = self.post_hook(srv, "github-push", PUSH, header="X-Weft-Signature", delivery="d-1")
        srv.stop()
        self.assertEqual(code, 202, out)

    def test_bad_or_missing_signatures_are_401_and_audited(self):
        self.deploy(DEPLOY)
        srv = Server(self)
        body = json.dumps(PUSH).encode()
        cases = [("missing", False, None), ("wrong secret", True, "not the secret"),
                 ("flipped", sign(body)[:-1] + ("0" if sign(body)[-1] != "0" else "1"), None),
                 ("sha1 form", "sha1=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha1).hexdigest(), None),
                 ("garbage", "sha256=zz", None)]
        for what, sig, secret in cases:
            code, out = self.post_hook(srv, "github-push", body, sig=sig, secret=secret)
            self.assertEqual(code, 401, what)
            self.assertEqual(out["error"]["code"], "unauthorized", what)
        # the signature covers the raw bytes: the same JSON re-serialised does not pass
        other = json.dumps(PUSH, indent=1).encode()
        code, _ = self.post_hook(srv, "github-push", other, sig=sign(body))
        self.assertEqual(code, 401)
        code, out = self.post_hook(srv, "no-such-hook", PUSH)  # not told apart from a bad signature
        self.assertEqual(code, 401, out)
        srv.stop()
        refused = [e for e in self.audit_kinds() if e["kind"] == "webhook.refused"]
        self.assertEqual(len(refused), len(cases) + 2)
        self.assertEqual({e["data"]["hook"] for e in refused}, {"github-push", "no-such-hook"})
        self.assertIn("no signature header", [e["data"]["reason"] for e in refused])
        self.assertEqual([e for e in self.audit_kinds() if e["kind"] == "run.created"], [])
        # the secret never shows in the audit log
        self.assertNotIn(HOOK_SECRET, self.weft("audit", "export").out)

    def test_if_false_answers_200_with_the_reason(self):
        self.deploy(DEPLOY)
        srv = Server(self)
        code, out = self.post_hook(srv, "github-push", dict(PUSH, ref="refs/heads/feature"))
        srv.stop()
        self.assertEqual((code, out), (200, {"run": None, "reason": "if was false"}))
        self.assertEqual(self.weft("runs", "--json").json(), [])

    def test_a_repeated_delivery_starts_no_second_run(self):
        self.deploy(DEPLOY)
        srv = Server(self)
        d = str(uuid.uuid4())
        code1, out1 = self.post_hook(srv, "github-push", PUSH, delivery=d)
        code2, out2 = self.post_hook(srv, "github-push", PUSH, delivery=d)
        code3, out3 = self.post_hook(srv, "github-push", PUSH, delivery=str(uuid.uuid4()))
        self.wait_for(lambda: self.ended(out1["run"]) and self.ended(out3["run"]), "the runs")
        srv.stop()
        self.assertEqual((code1, code2, code3), (202, 200, 202))
        self.assertEqual(out2["run"], out1["run"])
        self.assertNotEqual(out3["run"], out1["run"])
        self.assertEqual(len(self.weft("runs", "--json").json()), 2)

    def test_a_hook_without_a_secret_refuses_everything(self):
        self.deploy("""
            name: open
            triggers:
              - webhook: open-hook
            steps:
              a: {run: "true"}
            """)
        srv = Server(self)
        code, out = self.post_hook(srv, "open-hook", {"a": 1}, sig=False)
        srv.stop()
        self.assertEqual(code, 401, out)
        self.assertIn("no secret", out["error"]["message"])

    # ---- event triggers -------------------------------------------------------------------

    EVENTS = """
        name: retrain
        triggers:
          - event: model-trained
            match: ${{ .event.model == "ranker" }}
            inputs: {model: "${{ .event.model }}"}
        inputs:
          model: {type: string}
        steps:
          a:
            run: echo "$M $T"
            env: {M: "${{ .inputs.model }}", T: "${{ .trigger.event.score }}"}
    """

    def test_event_send_starts_matching_triggers(self):
        self.deploy(self.EVENTS)
        r = self.weft("event", "send", "model-trained", "--data", '{"model": "ranker", "score": 0.91}', "--json")
        self.assertExit(r, 0)
        out = r.json()
        self.assertEqual(out["delivered_to"], [])
        self.assertEqual(len(out["started"]), 1)
        self.assertEqual(out["started"][0]["workflow"], "retrain")
        run = out["started"][0]["run"]
        miss = self.weft("event", "send", "model-trained", "--data", '{"model": "other"}', "--json")
        self.assertEqual(miss.json()["started"], [])
        text = self.weft("event", "send", "model-trained", "--data", '{"model": "ranker", "score": 1}')
        self.assertIn("started run ", text.out)
        srv = Server(self)  # starts the runs the events recorded
        st = self.wait_for(lambda: self.ended(run), "the run")
        self.wait_for(lambda: all(self.ended(x["id"]) for x in self.weft("runs", "--json").json()), "the runs")
        srv.stop()
        self.assertEqual(st["trigger"], "event")
        self.assertEqual(st["inputs"], {"model": "ranker"})
        self.assertEqual(self.weft("logs", run, "a").out.strip(), "ranker 0.91")
        self.assertEqual(len(self.weft("runs", "--json").json()), 2)

    def test_event_trigger_if_and_match_both_decide(self):
        self.deploy("""
            name: gated
            triggers:
              - event: deploy-done
                match: ${{ .event.env == "prod" }}
                if: ${{ .trigger.event.ok }}
            steps:
              a: {run: "true"}
            """)
        started = []
        for data in ['{"env": "prod", "ok": true}', '{"env": "prod", "ok": false}', '{"env": "dev", "ok": true}']:
            r = self.weft("event", "send", "deploy-done", "--data", data, "--json")
            self.assertExit(r, 0)
            started.append(len(r.json()["started"]))
        self.assertEqual(started, [1, 0, 0])

    def test_post_events_lists_started_and_delivered_to(self):
        self.write_users({"olga": {"role": "operator"}})
        tok = self.weft("token", "create", "olga")
        self.assertExit(tok, 0)
        self.deploy(self.EVENTS)
        self.deploy("""
            name: waiter
            steps:
              w:
                wait: {event: model-trained, timeout: 60s}
            """, "waiter.yaml")
        srv = Server(self)
        code, out = srv.request("POST", "/api/v1/workflows/waiter/runs", b"{}",
                                {"Authorization": "Bearer " + tok.out.strip(), "Content-Type": "application/json"})
        self.assertEqual(code, 201, out)
        waiter = json.loads(out)["id"]
        self.wait_for(lambda: self.weft("status", waiter, "--json").json()["steps"]["w"]["status"] == "waiting",
                      "the wait")
        code, out = srv.request("POST", "/api/v1/events", json.dumps({"name": "model-trained",
                                                                      "data": {"model": "ranker"}}).encode(),
                                {"Authorization": "Bearer " + tok.out.strip(), "Content-Type": "application/json"})
        self.assertEqual(code, 202, out)
        out = json.loads(out)
        self.assertEqual(out["delivered_to"], [{"run": waiter, "step": "w", "index": None}])
        self.assertEqual([s["workflow"] for s in out["started"]], ["retrain"])
        started = out["started"][0]["run"]
        self.wait_for(lambda: self.ended(started) and self.ended(waiter), "both runs")
        srv.stop()
        self.assertEqual(self.ended(started)["status"], "succeeded")
        self.assertEqual(self.ended(waiter)["status"], "succeeded")


def doc_block(tag):
    """the ```yaml TAG block of docs/triggers.md"""
    with open(os.path.join(ROOT, "docs", "triggers.md")) as f:
        text = f.read()
    m = re.search(r"```yaml %s\n(.*?)```" % re.escape(tag), text, re.S)
    assert m, tag
    return m.group(1)


class DocsTest(HookBase):
    """The examples of docs/triggers.md, run as written."""

    def test_nightly_pipeline_example(self):
        self.deploy(doc_block("nightly"))
        r = self.weft("schedules", "--json")
        s = r.json()["schedules"][0]
        self.assertEqual((s["workflow"], s["timezone"], s["catch_up"], s["overlap"]),
                         ("nightly-report", "Europe/Berlin", "all", "queue"))
        r = self.weft("backfill", "nightly-report", "--from", "2026-01-01", "--to", "2026-01-03", "--max-runs-at-once",
                      "4", "--json")
        self.assertExit(r, 0)
        runs = [x["run"] for x in r.json()["started"]]
        self.assertEqual([x["scheduled_for"] for x in r.json()["started"]],
                         ["2026-01-01T01:30:00Z", "2026-01-02T01:30:00Z"])  # 02:30 in Berlin (CET)
        srv = Server(self)
        for run in runs:
            self.wait_for(lambda: self.ended(run), "the run")
        srv.stop()
        self.assertEqual(self.weft("logs", runs[0], "report").out.strip(),
                         "report for 2026-01-01 (scheduled for 2026-01-01T01:30:00Z)")

    def test_github_push_example(self):
        self.deploy(doc_block("github-push"))
        srv = Server(self)
        code, out = self.post_hook(srv, "github-push", PUSH, delivery=str(uuid.uuid4()))
        self.assertEqual(code, 202, out)
        self.wait_for(lambda: self.ended(out["run"]), "the run")
        code2, out2 = self.post_hook(srv, "github-push", dict(PUSH, ref="refs/heads/dev"))
        srv.stop()
        self.assertEqual((code2, out2), (200, {"run": None, "reason": "if was false"}))
        self.assertEqual(self.weft("logs", out["run"], "deploy").out.strip(),
                         "deploying %s of refs/heads/main for octocat" % PUSH["head_commit"]["id"])

    def test_retrain_event_example(self):
        self.deploy(doc_block("retrain"))
        r = self.weft("event", "send", "model-trained", "--data", '{"model": "ranker"}', "--json")
        self.assertExit(r, 0)
        run = r.json()["started"][0]["run"]
        srv = Server(self)
        self.wait_for(lambda: self.ended(run), "the run")
        srv.stop()
        self.assertEqual(self.weft("logs", run, "evaluate").out.strip(), "evaluating ranker")


if __name__ == "__main__":
    main()
