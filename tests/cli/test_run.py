"""End-to-end: weft run on real processes — control flow, outputs, inputs,
exit codes, --json, -v, logs, runs, retry."""
from harness import WeftTest, main, ROOT
import json
import os


class Run(WeftTest):
    def run_json(self, path, *args, code=0):
        r = self.weft("run", path, "--json", *args)
        self.assertExit(r, code)
        return r.json()

    def test_fan_out_with_and_without_the_spawner_thread(self):
        # the same results whether starts stay on the loop thread (default),
        # go through the spawner thread (WEFT_SPAWNER=1) or wait for their
        # commit (WEFT_NO_EARLY_START=1)
        steps = "\n".join(
            '  s%d: {command: [sh, -c, "echo n=%d >> $WEFT_OUTPUT"]}' % (i, i) for i in range(30))
        p = self.write("w.yaml", "name: fan\nmax_parallel: 3\nsteps:\n" + steps +
                       "\noutputs:\n  total: ${{ [.steps[].outputs.n] | add }}\n")
        for extra in ({}, {"WEFT_SPAWNER": "1"}, {"WEFT_NO_EARLY_START": "1"}):
            r = self.weft("run", p, "--json", env=dict(self.env, **extra))
            self.assertExit(r, 0)
            j = r.json()
            self.assertEqual(j["outputs"]["total"], sum(range(30)), extra)
            self.assertTrue(all(st["attempts"] == 1 for st in j["steps"].values()), extra)

    def test_relative_home_and_a_workflow_in_another_folder(self):
        """Steps run in their workflow's folder, so the default home ./.weft
        (relative to where weft was started) must reach them as an absolute
        path: `weft run examples/hello.yaml` from a project's root."""
        self.write("flows/w.yaml", """
            name: rel
            steps:
              a:
                run: echo "n=1" >> "$WEFT_OUTPUT"; echo kept > "$WEFT_WORKSPACE/f"
              b:
                needs: a
                run: echo "m=$(cat "$WEFT_WORKSPACE/f")" >> "$WEFT_OUTPUT"
            outputs: {n: "${{ .steps.a.outputs.n }}", m: "${{ .steps.b.outputs.m }}"}
            """)
        env = {k: v for k, v in self.env.items() if k != "WEFT_HOME"}
        r = self.weft("run", "flows/w.yaml", "--json", env=env)
        self.assertExit(r, 0)
        self.assertEqual(r.json()["outputs"], {"n": 1, "m": "kept"})
        self.assertTrue(os.path.isdir(os.path.join(self.tmp, ".weft", "logs")))
        if self.pg is None:
            self.assertTrue(os.path.isfile(os.path.join(self.tmp, ".weft", "weft.db")))
        self.assertExit(self.weft("logs", r.json()["id"], "a", env=env), 0)

    def test_a_finished_attempt_keeps_its_start_time(self):
        p = self.write("w.yaml", "name: t\nsteps:\n  slow: {run: 'sleep 0.3'}\n")
        self.assertExit(self.weft("run", p), 0)
        (start, end), = self.query(
            "SELECT started_at, finished_at FROM attempts WHERE step = 'slow'")
        self.assertGreaterEqual(end - start, 300)

    def test_hello_example_outputs(self):
        j = self.run_json(os.path.join(ROOT, "examples", "hello.yaml"), "-i", "who=ada")
        self.assertEqual(j["status"], "succeeded")
        self.assertEqual(j["outputs"], {"summary": "HELLO, ADA (2 words)"})
        self.assertEqual(j["steps"]["count"]["outputs"], {"words": 2})
        self.assertEqual(j["inputs"], {"who": "ada"})

    def test_status_json_shape(self):
        p = self.write("w.yaml", """
            name: shape
            steps:
              a: {run: "exit 0"}
        """)
        j = self.run_json(p)
        for k in ["id", "workflow", "status", "trigger", "parent", "started_at", "finished_at",
                  "inputs", "outputs", "steps"]:
            self.assertIn(k, j)
        self.assertIsNone(j["parent"])
        self.assertEqual(j["trigger"], "manual")
        self.assertRegex(j["started_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        a = j["steps"]["a"]
        for k in ["status", "attempts", "exit_code", "error", "started_at", "finished_at",
                  "outputs", "instances"]:
            self.assertIn(k, a)
        self.assertEqual(a["exit_code"], 0)
        self.assertIsNone(a["instances"])
        self.assertIsNone(a["error"])

    def test_failure_exit_code_error_and_log_tail(self):
        p = self.write("w.yaml", """
            name: fails
            steps:
              bad:
                run: |
                  for i in $(seq 1 30); do echo "line $i"; done
                  exit 3
              after: {needs: bad, run: "true"}
        """)
        r = self.weft("run", p)
        self.assertExit(r, 1)
        self.assertIn("line 30", r.out)
        self.assertIn("line 11", r.out)
        self.assertNotIn("line 10\n", r.out)
        r = self.weft("run", p, "--json")
        j = r.json()
        self.assertEqual(j["status"], "failed")
        bad = j["steps"]["bad"]
        self.assertEqual(bad["status"], "failed")
        self.assertEqual(bad["exit_code"], 3)
        self.assertEqual(bad["error"]["kind"], "exit_code")
        self.assertEqual(bad["error"]["exit_code"], 3)
        self.assertEqual(j["steps"]["after"]["status"], "skipped")

    def test_independent_branch_runs_on_after_failure(self):
        p = self.write("w.yaml", """
            name: branches
            steps:
              bad: {run: "exit 1"}
              good: {run: "true"}
              after_good: {needs: good, run: "true"}
        """)
        j = self.run_json(p, code=1)
        self.assertEqual(j["steps"]["after_good"]["status"], "succeeded")

    def test_retry_until_success_counts_attempts(self):
        p = self.write("w.yaml", """
            name: flaky
            steps:
              flaky:
                retry: {attempts: 4, delay: 10ms}
                run: |
                  n=$(cat "$WEFT_WORKSPACE/n" 2>/dev/null || echo 0)
                  n=$((n+1)); echo $n > "$WEFT_WORKSPACE/n"
                  echo "attempt=$WEFT_ATTEMPT" >> "$WEFT_OUTPUT"
                  [ $n -ge 3 ]
        """)
        j = self.run_json(p)
        self.assertEqual(j["steps"]["flaky"]["attempts"], 3)
        self.assertEqual(j["steps"]["flaky"]["outputs"], {"attempt": 3})

    def test_retry_exhausted_fails(self):
        p = self.write("w.yaml", """
            name: exhausted
            steps:
              s: {retry: {attempts: 2, delay: 10ms}, run: "exit 7"}
        """)
        j = self.run_json(p, code=1)
        self.assertEqual(j["steps"]["s"]["attempts"], 2)
        self.assertEqual(j["steps"]["s"]["exit_code"], 7)

    def test_retry_if_stops_retrying(self):
        p = self.write("w.yaml", """
            name: retryif
            steps:
              s:
                retry: {attempts: 5, delay: 10ms, if: "${{ .error.exit_code == 75 }}"}
                run: "exit 2"
        """)
        j = self.run_json(p, code=1)
        self.assertEqual(j["steps"]["s"]["attempts"], 1)

    def test_timeout_kills_and_reports_kind(self):
        p = self.write("w.yaml", """
            name: slow
            steps:
              s: {timeout: 300ms, run: "sleep 30"}
        """)
        j = self.run_json(p, code=1)
        self.assertEqual(j["steps"]["s"]["error"]["kind"], "timeout")

    def test_continue_on_error_keeps_run_green(self):
        p = self.write("w.yaml", """
            name: coe
            steps:
              s: {continue_on_error: true, run: "exit 1"}
              t: {needs: s, run: "true"}
        """)
        j = self.run_json(p)
        self.assertEqual(j["status"], "succeeded")
        self.assertEqual(j["steps"]["s"]["status"], "failed")
        self.assertEqual(j["steps"]["t"]["status"], "succeeded")

    def test_if_false_skips_and_failure_helper(self):
        p = self.write("w.yaml", """
            name: conds
            inputs:
              go: {type: boolean, default: false}
            steps:
              maybe: {if: "${{ .inputs.go }}", run: "true"}
              bad: {run: "exit 1"}
              on_fail: {needs: bad, if: "${{ failure }}", run: "true"}
              always_: {needs: bad, if: "${{ always }}", run: "true"}
        """)
        j = self.run_json(p, code=1)
        self.assertEqual(j["steps"]["maybe"]["status"], "skipped")
        self.assertEqual(j["steps"]["on_fail"]["status"], "succeeded")
        self.assertEqual(j["steps"]["always_"]["status"], "succeeded")

    def test_for_each_instances_and_outputs(self):
        p = self.write("w.yaml", """
            name: fan
            steps:
              sq:
                for_each: ${{ [1, 2, 3] }}
                max_parallel: 2
                run: echo "v=$((WEFT_ITEM * WEFT_ITEM))" >> "$WEFT_OUTPUT"
              total:
                needs: sq
                set: {sum: "${{ [.steps.sq.outputs[].v] | add }}"}
        """)
        j = self.run_json(p)
        sq = j["steps"]["sq"]
        self.assertEqual(len(sq["instances"]), 3)
        self.assertEqual(sq["outputs"], [{"v": 1}, {"v": 4}, {"v": 9}])
        self.assertEqual(j["steps"]["total"]["outputs"], {"sum": 14})

    def test_for_each_integer_and_index(self):
        p = self.write("w.yaml", """
            name: fan2
            steps:
              s:
                for_each: 3
                command: [sh, -c, 'echo "i=$WEFT_INDEX" >> "$WEFT_OUTPUT"']
        """)
        j = self.run_json(p)
        self.assertEqual(j["steps"]["s"]["outputs"], [{"i": 0}, {"i": 1}, {"i": 2}])

    def test_finally_runs_after_failure_and_sees_status(self):
        p = self.write("w.yaml", """
            name: fin
            steps:
              bad: {run: "exit 1"}
            finally:
              report:
                run: echo "seen=$S" >> "$WEFT_OUTPUT"
                env: {S: "${{ .run.status }}"}
        """)
        j = self.run_json(p, code=1)
        self.assertEqual(j["steps"]["report"]["status"], "succeeded")
        self.assertEqual(j["steps"]["report"]["outputs"], {"seen": "failed"})

    def test_finally_failure_fails_the_run(self):
        p = self.write("w.yaml", """
            name: fin2
            steps:
              ok: {run: "true"}
            finally:
              report: {run: "exit 4"}
        """)
        j = self.run_json(p, code=1)
        self.assertEqual(j["status"], "failed")

    def test_fail_fast_cancels_running_steps(self):
        p = self.write("w.yaml", """
            name: ff
            fail_fast: true
            steps:
              slow: {run: "sleep 30"}
              bad: {run: "sleep 0.2; exit 1"}
        """)
        j = self.run_json(p, code=1)
        self.assertEqual(j["steps"]["slow"]["status"], "cancelled")

    def test_run_timeout(self):
        p = self.write("w.yaml", """
            name: rt
            timeout: 500ms
            steps:
              slow: {run: "sleep 30"}
        """)
        j = self.run_json(p, code=1)
        self.assertEqual(j["status"], "failed")
        self.assertNotEqual(j["steps"]["slow"]["status"], "succeeded")

    def test_repeat_until(self):
        p = self.write("w.yaml", """
            name: rep
            steps:
              poll:
                repeat: {until: "${{ .outputs.n >= 3 }}", max: 10}
                run: |
                  n=$(cat "$WEFT_WORKSPACE/n" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$WEFT_WORKSPACE/n"
                  echo "n=$n" >> "$WEFT_OUTPUT"
        """)
        j = self.run_json(p)
        self.assertEqual(j["steps"]["poll"]["outputs"], {"n": 3})

    def test_repeat_exhausted(self):
        p = self.write("w.yaml", """
            name: rep2
            steps:
              poll: {repeat: {until: "${{ false }}", max: 2}, run: "true"}
        """)
        j = self.run_json(p, code=1)
        self.assertEqual(j["steps"]["poll"]["error"]["kind"], "repeat_exhausted")

    def test_weft_env_variables(self):
        p = self.write("w.yaml", """
            name: envs
            steps:
              s:
                run: |
                  {
                    echo "run=$WEFT_RUN_ID"; echo "step=$WEFT_STEP"; echo "attempt=$WEFT_ATTEMPT"
                    echo "key=$WEFT_IDEMPOTENCY_KEY"; echo "ws=$WEFT_WORKSPACE"; echo "mine=$MINE"
                  } >> "$WEFT_OUTPUT"
                env: {MINE: "${{ .inputs.x }}"}
            inputs:
              x: {type: integer, default: 5}
        """)
        j = self.run_json(p)
        o = j["steps"]["s"]["outputs"]
        self.assertEqual(o["run"], j["id"])
        self.assertEqual(o["step"], "s")
        self.assertEqual(o["attempt"], 1)
        self.assertEqual(o["mine"], 5)
        self.assertIn(j["id"], o["key"])
        self.assertTrue(os.path.isdir(o["ws"]))

    def test_values_never_become_shell_text(self):
        p = self.write("w.yaml", """
            name: safe
            inputs:
              evil: {type: string}
            steps:
              s:
                command: [sh, -c, 'printf "%s" "$1" > "$WEFT_WORKSPACE/got"', x, "${{ .inputs.evil }}"]
              t:
                needs: s
                run: cat "$WEFT_WORKSPACE/got"; printf '%s' "$E" > "$WEFT_WORKSPACE/got2"
                env: {E: "${{ .inputs.evil }}"}
        """)
        evil = "$(touch pwned); `touch pwned2`; ' \" ;"
        j = self.run_json(p, "-i", "evil=" + evil)
        self.assertEqual(j["status"], "succeeded")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "pwned")))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "pwned2")))

    def test_output_over_one_mib_fails(self):
        p = self.write("w.yaml", """
            name: big
            steps:
              s: {run: "head -c 1100000 /dev/zero | tr '\\\\0' a | sed 's/^/x=/' >> \\"$WEFT_OUTPUT\\""}
        """)
        j = self.run_json(p, code=1)
        self.assertEqual(j["steps"]["s"]["error"]["kind"], "output")

    def test_json_output_file(self):
        p = self.write("w.yaml", """
            name: jout
            steps:
              s: {run: 'echo "{\\"a\\": [1, 2], \\"b\\": {\\"c\\": true}}" > "$WEFT_OUTPUT"'}
              t: {needs: s, set: {c: "${{ .steps.s.outputs.b.c }}", n: "${{ .steps.s.outputs.a | length }}"}}
        """)
        j = self.run_json(p)
        self.assertEqual(j["steps"]["s"]["outputs"], {"a": [1, 2], "b": {"c": True}})
        self.assertEqual(j["steps"]["t"]["outputs"], {"c": True, "n": 2})

    def test_spawn_failure(self):
        p = self.write("w.yaml", """
            name: nospawn
            steps:
              s: {command: [definitely-not-a-program-weft]}
        """)
        j = self.run_json(p, code=1)
        self.assertEqual(j["steps"]["s"]["error"]["kind"], "spawn")

    def test_expression_error_fails_step_without_retry(self):
        p = self.write("w.yaml", """
            name: experr
            steps:
              s:
                retry: {attempts: 3, delay: 10ms}
                set: {x: "${{ error(\\"boom\\") }}"}
        """)
        j = self.run_json(p, code=1)
        self.assertEqual(j["steps"]["s"]["error"]["kind"], "expression")
        self.assertLessEqual(j["steps"]["s"]["attempts"], 1)

    def test_verbose_prefixes_output(self):
        p = self.write("w.yaml", """
            name: verbose
            steps:
              hello: {run: "echo one; echo two"}
        """)
        r = self.weft("run", p, "-v")
        self.assertExit(r, 0)
        self.assertIn("[hello] one\n", r.out)
        self.assertIn("[hello] two\n", r.out)

    def test_transition_lines_start_with_run_id(self):
        p = self.write("w.yaml", "name: lines\nsteps: {a: {run: 'true'}}\n")
        r = self.weft("run", p)
        self.assertExit(r, 0)
        lines = [l for l in r.out.splitlines() if " a " in l]
        self.assertTrue(lines)
        rid = lines[0].split()[0]
        self.assertEqual(len(rid), 26)


class Inputs(WeftTest):
    def setUp(self):
        super().setUp()
        self.p = self.write("w.yaml", """
            name: typed
            inputs:
              n: {type: integer, required: true}
              tags: {type: array, default: []}
              name: {type: string, default: x}
            steps:
              s: {set: {n: "${{ .inputs.n }}", tags: "${{ .inputs.tags }}", name: "${{ .inputs.name }}"}}
        """)

    def test_required_missing_is_usage_error(self):
        r = self.weft("run", self.p)
        self.assertExit(r, 2)
        self.assertIn('"n" is required', r.err)
        self.assertEqual(self.weft("runs", "--json").json(), [])

    def test_wrong_type_is_error_before_running(self):
        r = self.weft("run", self.p, "-i", "n=abc")
        self.assertExit(r, 2)
        self.assertIn("integer", r.err)

    def test_json_values_and_inputs_file(self):
        f = self.write("in.json", '{"n": 4, "tags": ["a"], "name": "from-file"}')
        r = self.weft("run", self.p, "--inputs", f, "-i", "name=cli", "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["steps"]["s"]["outputs"], {"n": 4, "tags": ["a"], "name": "cli"})

    def test_unknown_input_rejected(self):
        r = self.weft("run", self.p, "-i", "n=1", "-i", "nope=2")
        self.assertExit(r, 2)
        self.assertIn("nope", r.err)

    def test_invalid_workflow_runs_nothing(self):
        bad = self.write("bad.yaml", "name: bad\nsteps: {a: {run: 'x', nedds: []}}\n")
        r = self.weft("run", bad)
        self.assertExit(r, 2)
        self.assertIn(bad + ":2:", r.err)

    def test_missing_file(self):
        r = self.weft("run", "nope.yaml")
        self.assertExit(r, 4)


class Inspect(WeftTest):
    def test_runs_newest_first_and_filters(self):
        ok = self.write("ok.yaml", "name: okwf\nsteps: {a: {run: 'true'}}\n")
        bad = self.write("bad.yaml", "name: badwf\nsteps: {a: {run: 'false'}}\n")
        self.assertExit(self.weft("run", ok), 0)
        self.assertExit(self.weft("run", bad), 1)
        runs = self.weft("runs", "--json").json()
        self.assertEqual([r["workflow"] for r in runs], ["badwf", "okwf"])
        self.assertEqual(set(runs[0]), {"id", "workflow", "status", "trigger", "started_at", "finished_at"})
        self.assertEqual([r["workflow"] for r in self.weft("runs", "--status", "failed", "--json").json()], ["badwf"])
        self.assertEqual([r["workflow"] for r in self.weft("runs", "--workflow", "okwf", "--json").json()], ["okwf"])
        self.assertEqual(len(self.weft("runs", "--limit", "1", "--json").json()), 1)

    def test_status_by_prefix_and_not_found(self):
        p = self.write("w.yaml", "name: pre\nsteps: {a: {run: 'true'}}\n")
        rid = self.weft("run", p, "--json").json()["id"]
        r = self.weft("status", rid[:10], "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["id"], rid)
        self.assertExit(self.weft("status", "ZZZZZZ"), 4)
        r = self.weft("status", rid[:10])
        self.assertExit(r, 0)
        self.assertIn("succeeded", r.out)

    def test_logs_per_step_and_attempt(self):
        p = self.write("w.yaml", """
            name: logs
            steps:
              s:
                retry: {attempts: 2, delay: 10ms}
                run: echo "attempt $WEFT_ATTEMPT"; [ "$WEFT_ATTEMPT" = 2 ]
              t: {needs: s, run: "echo from t"}
        """)
        rid = self.weft("run", p, "--json").json()["id"]
        r = self.weft("logs", rid, "s")
        self.assertExit(r, 0)
        self.assertEqual(r.out, "attempt 2\n")
        r = self.weft("logs", rid, "s", "--attempt", "1")
        self.assertEqual(r.out, "attempt 1\n")
        r = self.weft("logs", rid)
        self.assertIn("[s] attempt 2", r.out)
        self.assertIn("[t] from t", r.out)
        self.assertExit(self.weft("logs", rid, "nosuch"), 4)

    def test_logs_of_for_each_instance(self):
        p = self.write("w.yaml", """
            name: flogs
            steps:
              s: {for_each: 2, run: 'echo "item $WEFT_INDEX"'}
        """)
        rid = self.weft("run", p, "--json").json()["id"]
        self.assertEqual(self.weft("logs", rid, "s:1").out, "item 1\n")


class Retry(WeftTest):
    def test_retry_reruns_failed_keeps_succeeded(self):
        p = self.write("w.yaml", """
            name: retry
            steps:
              first: {run: 'echo x >> "$WEFT_WORKSPACE/first"'}
              flaky: {needs: first, run: 'test -f "$WEFT_WORKSPACE/fixed"'}
              last: {needs: flaky, run: "true"}
        """)
        r = self.weft("run", p, "--json")
        self.assertExit(r, 1)
        j = r.json()
        ws = os.path.join(self.home, "workspaces", j["id"])
        open(os.path.join(ws, "fixed"), "w").close()
        r = self.weft("retry", j["id"][:12], "--json")
        self.assertExit(r, 0)
        j2 = r.json()
        self.assertEqual(j2["id"], j["id"])
        self.assertEqual(j2["status"], "succeeded")
        self.assertEqual(j2["steps"]["last"]["status"], "succeeded")
        with open(os.path.join(ws, "first")) as f:
            self.assertEqual(f.read(), "x\n")  # first did not run again

    def test_retry_from_reruns_downstream(self):
        p = self.write("w.yaml", """
            name: retryfrom
            steps:
              a: {run: 'echo a >> "$WEFT_WORKSPACE/log"'}
              b: {needs: a, run: 'echo b >> "$WEFT_WORKSPACE/log"'}
        """)
        j = self.weft("run", p, "--json").json()
        self.assertExit(self.weft("retry", j["id"], "--from", "b"), 0)
        with open(os.path.join(self.home, "workspaces", j["id"], "log")) as f:
            self.assertEqual(f.read(), "a\nb\nb\n")

    def test_retry_of_unknown_run(self):
        self.assertExit(self.weft("retry", "NOPE"), 4)


if __name__ == "__main__":
    main()
