"""End-to-end: approval steps and the human commands (weft approvals,
approve, reject) against the real binary — quorum over distinct people,
separation of duties, outsiders refused and audited, every on_timeout,
escalation, edited fields flowing downstream, decisions from another process
while `weft run` waits, decisions while no engine runs followed by `weft
resume`, SIGKILL of a waiting engine, and the `weft approvals --json` shape.

Runs are started by the OS user running the tests (harness.os_user()); deciders
act with --as, which users.json allows here ("allow_as": true)."""
from harness import WeftTest, main, ROOT, os_user
import json
import os
import signal
import time

USERS = {"users": {"alice": {"groups": ["leads", "ml-leads"]},
                   "bob": {"groups": ["leads", "ml-leads"]},
                   "carol": {"groups": ["directors"]}, "dana": {"groups": ["writers"]},
                   "mallory": {}},
         "allow_as": True}  # --as is refused without it (tests/cli/test_identity.py)

SHAPE = {"run", "step", "message", "approvers", "min_approvals", "approved_by", "fields",
         "waiting_since", "deadline"}


class Approvals(WeftTest):
    def setUp(self):
        super().setUp()
        os.makedirs(self.home, exist_ok=True)
        with open(os.path.join(self.home, "users.json"), "w") as f:
            json.dump(USERS, f)

    def approvals(self):
        r = self.weft("approvals", "--json")
        self.assertExit(r, 0)
        return r.json()

    def waiting(self, step="ok"):
        """the run id once `step` is listed by weft approvals"""
        def find():
            for a in self.approvals():
                if a["step"] == step:
                    return a
            return None
        return self.wait_for(find, step + " in weft approvals")

    def status(self, rid):
        r = self.weft("status", rid, "--json")
        self.assertExit(r, 0)
        return r.json()

    def kill(self, proc):
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)

    def finish(self, proc, timeout=60):
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err

    def audit(self, rid):
        r = self.weft("audit", "export", rid)
        self.assertExit(r, 0)
        return [json.loads(line) for line in r.out.splitlines() if line.strip()]

    def audit_of(self, rid, kind):
        return [e for e in self.audit(rid) if e.get("kind") == kind]

    def start(self, yaml_text, name="w.yaml"):
        p = self.write(name, yaml_text)
        proc = self.spawn("run", p)
        return proc

    # ---- quorum ----------------------------------------------------------

    def test_two_distinct_approvers_needed_same_person_counts_once(self):
        proc = self.start("""
            name: quorum
            steps:
              ok:
                approval:
                  message: "Deploy ${{ .inputs.v }}?"
                  approvers: ["group:leads"]
                  min_approvals: 2
              after:
                needs: ok
                run: echo "by=$BY" >> "$WEFT_OUTPUT"
                env: {BY: "${{ .steps.ok.outputs.by | join(\\",\\") }}"}
            inputs:
              v: {type: string, default: "1.2"}
            """)
        a = self.waiting()
        rid = a["run"]
        self.assertEqual(a["message"], "Deploy 1.2?")
        self.assertEqual(a["min_approvals"], 2)
        r = self.weft("approve", rid, "ok", "--as", "alice", "--comment", "lgtm")
        self.assertExit(r, 0)
        self.assertIn("1 of 2", r.out)
        # alice again: refused, still one approval
        r = self.weft("approve", rid, "ok", "--as", "alice")
        self.assertExit(r, 2)
        self.assertIn("already approved", r.err)
        self.assertTrue(r.err.startswith("weft: "))
        self.assertEqual(self.waiting()["approved_by"], ["alice"])
        self.assertEqual(self.status(rid)["steps"]["ok"]["status"], "waiting")
        text = self.weft("status", rid)
        self.assertExit(text, 0)  # the text view says how to move a waiting step on
        self.assertIn("weft approve %s STEP" % rid, text.out)
        r = self.weft("approve", rid, "ok", "--as", "bob")
        self.assertExit(r, 0)
        code, out, err = self.finish(proc)
        self.assertEqual(code, 0, err)
        st = self.status(rid)
        self.assertEqual(st["status"], "succeeded")
        outs = st["steps"]["ok"]["outputs"]
        self.assertEqual(outs["decision"], "approved")
        self.assertEqual(outs["by"], ["alice", "bob"])
        self.assertEqual(outs["comment"], "lgtm")
        self.assertIn("decided_at", outs)
        self.assertEqual(st["steps"]["after"]["outputs"]["by"], "alice,bob")
        self.assertEqual(len(self.audit_of(rid, "approval.decided")), 2)
        self.assertEqual(len(self.audit_of(rid, "approval.refused")), 1)

    # ---- separation of duties -------------------------------------------

    def test_self_approval_refused_then_allowed_by_the_flag(self):
        proc = self.start("""
            name: selfish
            steps:
              ok: {approval: {message: "mine?"}}
            """)
        rid = self.waiting()["run"]
        r = self.weft("approve", rid, "ok")  # as the OS user, who started it
        self.assertExit(r, 2)
        self.assertIn("separation of duties", r.err)
        refused = self.audit_of(rid, "approval.refused")
        self.assertEqual(len(refused), 1)
        self.assertEqual(refused[0]["data"]["by"], os_user())
        r = self.weft("approve", rid, "ok", "--as", "mallory")  # anyone else may
        self.assertExit(r, 0)
        code, _, err = self.finish(proc)
        self.assertEqual(code, 0, err)

        proc = self.start("""
            name: selfish-ok
            steps:
              ok: {approval: {message: "mine?", allow_self_approval: true}}
            """, "w2.yaml")
        rid = self.waiting()["run"]
        r = self.weft("approve", rid, "ok")
        self.assertExit(r, 0)
        code, _, err = self.finish(proc)
        self.assertEqual(code, 0, err)
        self.assertEqual(self.status(rid)["steps"]["ok"]["outputs"]["by"], [os_user()])

    def test_outsider_refused_and_audited(self):
        proc = self.start("""
            name: outsider
            steps:
              ok: {approval: {message: "ship?", approvers: [alice, "group:directors"]}}
            """)
        rid = self.waiting()["run"]
        r = self.weft("approve", rid, "ok", "--as", "mallory", "--comment", "let me")
        self.assertExit(r, 2)
        self.assertIn("not one of its approvers", r.err)
        r = self.weft("reject", rid, "ok", "--as", "bob")
        self.assertExit(r, 2)
        refused = self.audit_of(rid, "approval.refused")
        self.assertEqual([e["data"]["by"] for e in refused], ["mallory", "bob"])
        self.assertEqual(refused[0]["data"]["comment"], "let me")
        self.assertEqual(refused[0]["data"]["decision"], "approve")
        self.assertEqual(self.status(rid)["steps"]["ok"]["status"], "waiting")
        self.assertExit(self.weft("approve", rid, "ok", "--as", "carol"), 0)  # via group
        code, _, err = self.finish(proc)
        self.assertEqual(code, 0, err)
        self.assertExit(self.weft("audit", "verify"), 0)

    # ---- timeouts --------------------------------------------------------

    def test_every_on_timeout_outcome(self):
        for outcome, code, status, kind in [("fail", 1, "failed", "timeout"),
                                            ("approve", 0, "succeeded", None),
                                            ("reject", 1, "failed", "rejected")]:
            p = self.write(f"t-{outcome}.yaml", f"""
                name: t-{outcome}
                steps:
                  ok:
                    approval: {{message: "?", timeout: 300ms, on_timeout: {outcome}}}
                    retry: {{attempts: 3}}
                """)
            r = self.weft("run", p, "--json")
            self.assertExit(r, code)
            st = r.json()
            step = st["steps"]["ok"]
            self.assertEqual(step["status"], status, outcome)
            if kind:
                self.assertEqual(step["error"]["kind"], kind)
            else:
                self.assertEqual(step["outputs"]["decision"], "approved")
                self.assertEqual(step["outputs"]["by"], [])
            if outcome == "reject":
                self.assertEqual(step["attempts"], 1)  # rejected: never retried
            self.assertEqual(len(self.audit_of(st["id"], "approval.timeout")), step["attempts"])

    def test_escalation_widens_approvers_after_its_delay(self):
        proc = self.start("""
            name: escalate
            steps:
              ok:
                approval:
                  message: "?"
                  approvers: [alice]
                  escalation: [{after: 3s, approvers: ["group:directors"]}]
            """)
        a = self.waiting()
        rid = a["run"]
        self.assertEqual(a["approvers"], ["alice"])
        r = self.weft("approve", rid, "ok", "--as", "carol")
        self.assertExit(r, 2)  # not yet: the escalation has not started
        self.wait_for(lambda: "group:directors" in self.waiting()["approvers"],
                      "the escalation")
        self.assertExit(self.weft("approve", rid, "ok", "--as", "carol"), 0)
        code, _, err = self.finish(proc)
        self.assertEqual(code, 0, err)
        self.assertEqual(self.status(rid)["steps"]["ok"]["outputs"]["by"], ["carol"])

    # ---- fields ----------------------------------------------------------

    def test_edited_fields_flow_into_a_downstream_step(self):
        proc = self.start("""
            name: fields
            steps:
              draft:
                run: echo "text=draft notes" >> "$WEFT_OUTPUT"
              ok:
                needs: draft
                approval:
                  message: "Release?"
                  approvers: ["group:leads"]
                  fields:
                    notes: {type: string, default: "${{ .steps.draft.outputs.text }}"}
                    risk: {type: integer, default: 1}
                    ticket: {type: string}
              publish:
                needs: ok
                run: printf '%s|%s|%s' "$NOTES" "$RISK" "$T" > "$WEFT_WORKSPACE/published"
                env:
                  NOTES: "${{ .steps.ok.outputs.fields.notes }}"
                  RISK: "${{ .steps.ok.outputs.fields.risk }}"
                  T: "${{ .steps.ok.outputs.fields.ticket }}"
            """)
        a = self.waiting()
        rid = a["run"]
        self.assertEqual(a["fields"]["notes"]["default"], "draft notes")
        self.assertEqual(a["fields"]["notes"]["type"], "string")
        r = self.weft("approve", rid, "ok", "--as", "alice", "--field", "risk=high")
        self.assertExit(r, 2)  # typed: not an integer
        self.assertIn("integer", r.err)
        r = self.weft("approve", rid, "ok", "--as", "alice", "--field", "nope=1")
        self.assertExit(r, 2)
        r = self.weft("approve", rid, "ok", "--as", "alice", "--field", "notes=edited by alice",
                      "--field", "risk=3")
        self.assertExit(r, 0)
        code, _, err = self.finish(proc)
        self.assertEqual(code, 0, err)
        with open(os.path.join(self.home, "workspaces", rid, "published")) as f:
            self.assertEqual(f.read(), "edited by alice|3|")
        outs = self.status(rid)["steps"]["ok"]["outputs"]
        self.assertEqual(outs["fields"], {"notes": "edited by alice", "risk": 3, "ticket": None})
        d = self.audit_of(rid, "approval.decided")[0]["data"]
        self.assertEqual(d["fields"], {"notes": "edited by alice", "risk": 3})
        self.assertEqual(d["by"], "alice")
        self.assertEqual(len(d["definition_sha256"]), 64)
        self.assertEqual(len(d["inputs_sha256"]), 64)
        self.assertEqual(d["fields_shown"]["notes"], "draft notes")

    # ---- reject ----------------------------------------------------------

    def test_reject_fails_the_step_with_kind_rejected_never_retried(self):
        proc = self.start("""
            name: rejected
            steps:
              ok:
                approval: {message: "?", approvers: [bob]}
                retry: {attempts: 3}
              after: {needs: ok, run: "true"}
            """)
        # decide as soon as `weft status` says waiting (the request may not be
        # presented yet: weft approve waits for the live engine to catch up)
        rid = self.wait_for(lambda: (self.weft("runs", "--json").json() or [None])[0],
                            "the run")["id"]
        self.wait_for(lambda: self.status(rid)["steps"]["ok"]["status"] == "waiting",
                      "the step to wait")
        r = self.weft("reject", rid, "ok", "--as", "bob", "--comment", "not today")
        self.assertExit(r, 0)
        code, _, err = self.finish(proc)
        self.assertEqual(code, 1, err)
        st = self.status(rid)
        ok = st["steps"]["ok"]
        self.assertEqual(ok["status"], "failed")
        self.assertEqual(ok["error"]["kind"], "rejected")
        self.assertIn("not today", ok["error"]["message"])
        self.assertEqual(ok["attempts"], 1)
        self.assertEqual(st["steps"]["after"]["status"], "skipped")

    # ---- errors ----------------------------------------------------------

    def test_deciding_twice_or_on_a_step_not_waiting_is_a_clear_error(self):
        proc = self.start("""
            name: errors
            steps:
              first: {approval: {message: "1?"}}
              second: {needs: first, approval: {message: "2?"}}
              prog: {run: "true"}
            """)
        rid = self.waiting("first")["run"]
        r = self.weft("approve", rid, "second", "--as", "alice")
        self.assertExit(r, 2)
        self.assertIn("not waiting", r.err)
        r = self.weft("approve", rid, "prog", "--as", "alice")
        self.assertExit(r, 2)
        self.assertIn("not an approval", r.err)
        self.assertExit(self.weft("approve", rid, "nope", "--as", "alice"), 4)
        self.assertExit(self.weft("approve", "ZZZZZZZZ", "first", "--as", "alice"), 4)
        self.assertExit(self.weft("approve", rid, "--as", "alice"), 2)
        self.assertExit(self.weft("approve", rid, "first", "--as", "alice"), 0)
        r = self.weft("reject", rid, "first", "--as", "bob")
        self.assertExit(r, 2)  # decided (quorum 1), whether applied yet or not
        self.waiting("second")
        self.assertExit(self.weft("approve", rid, "second", "--as", "bob"), 0)
        code, _, err = self.finish(proc)
        self.assertEqual(code, 0, err)
        r = self.weft("approve", rid, "first", "--as", "carol")
        self.assertExit(r, 2)
        self.assertIn("not waiting", r.err)
        kinds = [e["data"].get("refused") for e in self.audit_of(rid, "approval.refused")]
        self.assertEqual(len(kinds), 3)

    # ---- durability ------------------------------------------------------

    def test_sigkill_while_waiting_decide_without_engine_then_resume(self):
        proc = self.start("""
            name: durable
            steps:
              ok: {approval: {message: "?", approvers: ["group:leads"], min_approvals: 2}}
              after: {needs: ok, run: echo done >> "$WEFT_WORKSPACE/after"}
            """)
        rid = self.waiting()["run"]
        self.assertExit(self.weft("approve", rid, "ok", "--as", "alice"), 0)
        self.wait_for(lambda: self.waiting()["approved_by"] == ["alice"], "alice's approval")
        self.kill(proc)
        st = self.status(rid)
        self.assertEqual(st["status"], "waiting")
        self.assertEqual(st["steps"]["ok"]["status"], "waiting")
        r = self.weft("approve", rid, "ok", "--as", "bob")
        self.assertExit(r, 0)
        self.assertIn("weft resume", r.out)
        self.assertEqual(self.status(rid)["status"], "waiting")  # nobody applied it yet
        r = self.weft("resume", rid)
        self.assertExit(r, 0)
        st = self.status(rid)
        self.assertEqual(st["status"], "succeeded")
        self.assertEqual(st["steps"]["ok"]["outputs"]["by"], ["alice", "bob"])
        with open(os.path.join(self.home, "workspaces", rid, "after")) as f:
            self.assertEqual(f.read(), "done\n")
        self.assertExit(self.weft("audit", "verify"), 0)

    def test_timeout_that_passed_while_no_engine_ran_applies_on_resume(self):
        proc = self.start("""
            name: late
            steps:
              ok: {approval: {message: "?", timeout: 1s, on_timeout: approve}}
            """)
        a = self.waiting()
        self.assertIsNotNone(a["deadline"])
        self.kill(proc)
        time.sleep(1.5)  # let the deadline pass with no engine (not an assertion on time)
        self.assertEqual(self.status(a["run"])["status"], "waiting")
        r = self.weft("resume", a["run"])
        self.assertExit(r, 0)
        ok = self.status(a["run"])["steps"]["ok"]
        self.assertEqual(ok["outputs"]["decision"], "approved")
        self.assertTrue(ok["outputs"]["timed_out"])

    # ---- listing ---------------------------------------------------------

    def test_approvals_json_shape(self):
        self.assertEqual(self.approvals(), [])
        proc = self.start("""
            name: shape
            steps:
              ok:
                approval:
                  message: "Publish ${{ .inputs.what }}?"
                  approvers: [alice, "group:leads"]
                  min_approvals: 1
                  timeout: 1h
                  fields: {notes: {type: string, default: "n"}}
            inputs:
              what: {type: string, default: shape}
            """)
        a = self.waiting()
        self.assertTrue(SHAPE <= set(a), a)
        self.assertEqual(a["message"], "Publish shape?")
        self.assertEqual(a["approvers"], ["alice", "group:leads"])
        self.assertEqual(a["min_approvals"], 1)
        self.assertEqual(a["approved_by"], [])
        self.assertTrue(a["waiting_since"].endswith("Z"))
        self.assertTrue(a["deadline"].endswith("Z"))
        self.assertGreater(a["deadline"], a["waiting_since"])
        r = self.weft("approvals")
        self.assertExit(r, 0)
        self.assertIn("Publish shape?", r.out)
        self.assertExit(self.weft("cancel", a["run"]), 0)
        code, _, err = self.finish(proc)
        self.assertEqual(code, 3, err)
        self.assertEqual(self.approvals(), [])

    def test_for_each_approvals_are_decided_per_instance(self):
        proc = self.start("""
            name: regions
            steps:
              ok:
                for_each: [eu, us]
                approval: {message: "Region ${{ .item }}?"}
              after: {needs: ok, set: {by: "${{ [.steps.ok.outputs[].by[0]] }}"}}
            outputs:
              by: ${{ .steps.after.outputs.by }}
            """)
        def both():
            v = [a for a in self.approvals() if a["step"] == "ok"]
            return v if len(v) == 2 else None
        v = self.wait_for(both, "two instances")
        rid = v[0]["run"]
        self.assertEqual(sorted((a["index"], a["message"]) for a in v),
                         [(0, "Region eu?"), (1, "Region us?")])
        r = self.weft("approve", rid, "ok", "--as", "alice")
        self.assertExit(r, 2)
        self.assertIn("ok:INDEX", r.err)
        self.assertExit(self.weft("approve", rid, "ok:1", "--as", "bob"), 0)
        self.assertExit(self.weft("approve", rid, "ok[0]", "--as", "alice"), 0)
        code, _, err = self.finish(proc)
        self.assertEqual(code, 0, err)
        self.assertEqual(self.status(rid)["outputs"]["by"], ["alice", "bob"])

    # ---- the example and the evidence ----------------------------------

    def test_model_release_example_and_its_audit_record(self):
        proc = self.spawn("run", os.path.join(ROOT, "examples", "model-release.yaml"),
                          "-i", "version=2.0.0")
        a = self.waiting("notes")
        rid = a["run"]
        self.assertIn("model-2.0.0", a["message"])
        self.assertIn("accuracy", a["fields"]["notes"]["default"])
        self.assertExit(self.weft("approve", rid, "notes", "--as", "dana", "--field",
                                  "notes=Model 2.0.0: better on every benchmark.",
                                  "--comment", "tightened the wording"), 0)
        a = self.waiting("deploy_ok")
        self.assertEqual(a["min_approvals"], 2)
        self.assertExit(self.weft("approve", rid, "deploy_ok", "--as", "dana"), 2)
        self.assertExit(self.weft("approve", rid, "deploy_ok", "--as", "alice"), 0)
        self.assertExit(self.weft("approve", rid, "deploy_ok", "--as", "bob"), 0)
        code, out, err = self.finish(proc)
        self.assertEqual(code, 0, err)
        st = self.status(rid)
        self.assertEqual(st["outputs"]["notes"], "Model 2.0.0: better on every benchmark.")
        self.assertEqual(st["outputs"]["deployed_by"], ["alice", "bob"])
        with open(os.path.join(self.home, "workspaces", rid, "RELEASE_NOTES.txt")) as f:
            self.assertEqual(f.read(), "Model 2.0.0: better on every benchmark.\n")
        # the complete record: definition, inputs, transitions, requests,
        # decisions and the refusal
        kinds = [e["kind"] for e in self.audit(rid)]
        for k in ["run.created", "step.status", "approval.requested", "approval.decided",
                  "approval.refused"]:
            self.assertIn(k, kinds)
        self.assertEqual(kinds.count("approval.decided"), 3)
        self.assertExit(self.weft("audit", "verify"), 0)
        # editing a decision in the store directly is detected
        self.verify_at_end = False
        (seq,), = self.query("SELECT seq FROM audit WHERE kind = 'approval.decided' "
                             "ORDER BY seq LIMIT 1")
        self.query(f"UPDATE audit SET data = replace(data, 'dana', 'erin') WHERE seq = {seq}")
        r = self.weft("audit", "verify")
        self.assertExit(r, 1)
        self.assertIn(str(seq), r.out + r.err)


if __name__ == "__main__":
    main()
