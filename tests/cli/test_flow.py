"""End-to-end: control flow beyond plain joins (docs/language.md, "Control flow").

A skip carries down a chain while a join after exclusive branches runs
(`success`, `none_failed`); partial joins `needs: {any, count, cancel_rest}`
decide the moment enough succeeded or failed and withdraw the rest (status
cancelled, kind withdrawn: the real process is killed); `end:` ends the run
with its status after `finally`; a step that never started has started_at
null; a failed or cancelled child workflow passes its outputs to the step."""
from harness import WeftTest, main
import json


class Flow(WeftTest):
    def run_json(self, path, code):
        r = self.weft("run", path, "--json")
        self.assertExit(r, code)
        return r.json()

    def status(self, rid):
        r = self.weft("status", rid, "--json")
        self.assertExit(r, 0)
        return r.json()

    def test_skip_carries_down_and_a_join_after_exclusive_branches_runs(self):
        p = self.write("w.yaml", """
            name: exclusive
            steps:
              choose: {set: {big: false}}
              big: {needs: choose, if: "${{ .steps.choose.outputs.big }}", run: echo big}
              small: {needs: choose, if: "${{ .steps.choose.outputs.big | not }}", run: echo small}
              after_big: {needs: big, run: echo after}
              after_after: {needs: after_big, run: echo after2}
              merge: {needs: [big, small], run: echo merge}
              tolerant: {needs: after_big, if: "${{ none_failed }}", set: {ran: true}}
        """)
        j = self.run_json(p, 0)
        st = {k: v["status"] for k, v in j["steps"].items()}
        self.assertEqual(st, {"choose": "succeeded", "big": "skipped", "small": "succeeded",
                              "after_big": "skipped", "after_after": "skipped",
                              "merge": "succeeded", "tolerant": "succeeded"})

    def test_none_failed_is_false_after_a_failure(self):
        p = self.write("w.yaml", """
            name: nf
            steps:
              bad: {run: exit 3}
              skipped: {needs: bad, run: echo never}
              nf: {needs: skipped, if: "${{ none_failed }}", set: {x: 1}}
              f: {needs: skipped, if: "${{ failure }}", set: {x: 2}}
        """)
        j = self.run_json(p, 1)
        st = {k: v["status"] for k, v in j["steps"].items()}
        self.assertEqual(st["skipped"], "skipped")
        self.assertEqual(st["nf"], "skipped")
        self.assertEqual(st["f"], "succeeded")

    def test_discriminator_withdraws_the_rest_and_kills_their_processes(self):
        p = self.write("w.yaml", """
            name: first-mirror
            steps:
              fast: {run: 'echo "url=fast" >> "$WEFT_OUTPUT"'}
              slow: {run: 'sleep 60; touch "$WEFT_WORKSPACE/../slow-finished"'}
              waits: {run: exit 1, retry: {attempts: 5, delay: 1h}}
              first:
                needs: {any: [fast, slow, waits], cancel_rest: true}
                set: {url: "${{ .needs.fast.outputs.url }}", slow: "${{ .needs.slow.status }}"}
              after_slow: {needs: slow, run: echo never}
        """)
        j = self.run_json(p, 0)
        s = j["steps"]
        self.assertEqual(s["first"]["status"], "succeeded")
        self.assertEqual(s["first"]["outputs"]["url"], "fast")
        # .needs shows the listed steps as they were when the join decided
        self.assertIn(s["first"]["outputs"]["slow"], ("running", "pending"))
        for k in ("slow", "waits"):
            self.assertEqual(s[k]["status"], "cancelled", k)
            self.assertEqual(s[k]["error"]["kind"], "withdrawn", k)
        self.assertEqual(s["after_slow"]["status"], "skipped")
        self.assertEqual(j["status"], "succeeded")

    def test_partial_join_n_of_m_and_unreachable(self):
        p = self.write("w.yaml", """
            name: partial
            steps:
              t1: {run: exit 1}
              t2: {run: echo}
              t3: {run: echo}
              t4: {run: exit 1}
              two: {needs: {any: [t1, t2, t3, t4], count: 2}, set: {ok: true}}
              three: {needs: {any: [t1, t2, t3, t4], count: 3}, set: {ok: true}}
              after_three: {needs: three, if: "${{ always }}", set: {x: "${{ .steps.three.status }}"}}
            outputs:
              two: ${{ .steps.two.status }}
        """)
        j = self.run_json(p, 1)
        s = j["steps"]
        self.assertEqual(s["two"]["status"], "succeeded")
        self.assertEqual(s["three"]["status"], "skipped")
        self.assertIsNone(s["three"]["started_at"])
        self.assertEqual(s["after_three"]["outputs"], {"x": "skipped"})

    def test_end_failed_withdraws_the_rest_and_runs_finally(self):
        p = self.write("w.yaml", """
            name: cache
            steps:
              check: {run: 'echo "hit=true" >> "$WEFT_OUTPUT"'}
              hit:
                needs: check
                if: "${{ .steps.check.outputs.hit }}"
                end: {status: failed, message: "cache hit"}
              long: {run: sleep 60}
              build: {needs: check, run: echo build}
            finally:
              report: {run: 'echo "s=$S" >> "$WEFT_OUTPUT"', env: {S: "${{ .run.status }}"}}
        """)
        j = self.run_json(p, 1)
        self.assertEqual(j["status"], "failed")
        self.assertEqual(j["error"]["kind"], "ended")
        self.assertIn("cache hit", j["error"]["message"])
        s = j["steps"]
        self.assertEqual(s["hit"]["status"], "succeeded")
        self.assertEqual(s["long"]["status"], "cancelled")
        self.assertEqual(s["long"]["error"]["kind"], "withdrawn")
        self.assertIn(s["build"]["status"], ("skipped", "cancelled"))
        self.assertEqual(s["report"]["outputs"], {"s": "failed"})

    def test_end_succeeded_wins_over_an_earlier_failure(self):
        p = self.write("w.yaml", """
            name: done-early
            steps:
              broken: {run: exit 2}
              stop: {needs: broken, if: "${{ always }}", end: {status: succeeded}}
        """)
        j = self.run_json(p, 0)
        self.assertEqual(j["status"], "succeeded")
        self.assertEqual(j["steps"]["stop"]["outputs"]["status"], "succeeded")

    def test_a_step_that_never_started_has_started_at_null(self):
        p = self.write("w.yaml", """
            name: never
            steps:
              a: {run: exit 1}
              b: {needs: a, run: echo b}
              c: {if: "${{ false }}", run: echo c}
        """)
        j = self.run_json(p, 1)
        for k in ("b", "c"):
            st = self.status(j["id"])["steps"][k]
            self.assertEqual(st["status"], "skipped")
            self.assertIsNone(st["started_at"], k)
            self.assertIsNotNone(st["finished_at"], k)
        self.assertIsNotNone(j["steps"]["a"]["started_at"])

    def write_child(self, step):
        self.write("child.yaml", f"""
            name: child
            steps:
              part: {{set: {{x: 7}}}}
              rest: {{needs: part, {step}}}
            outputs:
              x: ${{{{ .steps.part.outputs.x }}}}
        """)

    def test_a_failed_child_passes_its_outputs(self):
        self.write_child("run: exit 5")
        p = self.write("p.yaml", """
            name: parent
            steps:
              sub: {workflow: {file: child.yaml}}
              salvage: {needs: sub, if: "${{ failure }}", set: {x: "${{ .steps.sub.outputs.x }}"}}
        """)
        j = self.run_json(p, 1)
        self.assertEqual(j["steps"]["sub"]["status"], "failed")
        self.assertEqual(j["steps"]["sub"]["outputs"], {"x": 7})
        self.assertEqual(j["steps"]["salvage"]["outputs"], {"x": 7})

    def test_a_failed_child_whose_outputs_cannot_render_gives_an_empty_object(self):
        self.write("child.yaml", """
            name: child
            steps:
              part: {set: {x: "text"}}
              rest: {needs: part, run: exit 3}
            outputs:
              x: ${{ .steps.part.outputs.x.y }}
        """)
        p = self.write("p.yaml", """
            name: parent
            steps:
              sub: {workflow: {file: child.yaml}}
              look: {needs: sub, if: failure, set: {o: "${{ .steps.sub.outputs }}"}}
        """)
        j = self.run_json(p, 1)
        self.assertEqual(j["steps"]["sub"]["outputs"], {})
        self.assertEqual(j["steps"]["look"]["outputs"], {"o": {}})

    def test_a_cancelled_child_passes_its_outputs(self):
        self.write_child("wait: {event: never}")
        p = self.write("p.yaml", """
            name: parent
            steps:
              sub: {workflow: {file: child.yaml}}
        """)
        proc = self.spawn("run", p, "--json")

        def child():
            for r in self.weft("runs", "--json").json():
                if r["workflow"] == "child":
                    st = self.status(r["id"])
                    if st["steps"]["rest"]["status"] == "waiting":
                        return r["id"]
            return None
        cid = self.wait_for(child, "the child to wait")
        self.assertExit(self.weft("cancel", cid), 0)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 1, err)
        sub = json.loads(out)["steps"]["sub"]
        self.assertEqual(sub["status"], "failed")
        self.assertEqual(sub["error"]["kind"], "cancelled")
        self.assertEqual(sub["outputs"], {"x": 7})

    def test_cancelling_the_parent_keeps_the_childs_outputs_on_the_step(self):
        self.write_child("wait: {event: never}")
        p = self.write("p.yaml", """
            name: parent
            steps:
              sub: {workflow: {file: child.yaml}}
        """)
        proc = self.spawn("run", p, "--json")

        def parent():
            for r in self.weft("runs", "--json").json():
                if r["workflow"] == "child" and \
                        self.status(r["id"])["steps"]["rest"]["status"] == "waiting":
                    return self.status(r["id"])["parent"]
            return None
        pid = self.wait_for(parent, "the child to wait")
        self.assertExit(self.weft("cancel", pid), 0)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 3, err)
        sub = json.loads(out)["steps"]["sub"]
        self.assertEqual(sub["status"], "cancelled")
        self.assertEqual(sub["outputs"], {"x": 7})


if __name__ == "__main__":
    main()
