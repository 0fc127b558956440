"""End-to-end: secrets. `.secrets.NAME` from secrets.json (mode 0600 only)
and WEFT_SECRET_NAME; the values reach steps but are masked as *** in
everything weft writes or prints: a canary secret is planted and every file
under the home (store, logs, workspaces) and every command's output is
scanned for it, as is and in its JSON-escaped and URL-encoded forms."""
from harness import WeftTest, main
import json
import os
import urllib.parse

CANARY = 'cAnArY-7Qz/"s3cr3t"&k=v 9'
OTHER = "0therSecr3t-value+x"


def forms(v):
    return {v, json.dumps(v)[1:-1], urllib.parse.quote(v, safe=""),
            urllib.parse.quote_plus(v), urllib.parse.quote(v, safe="").lower()}


class Secrets(WeftTest):
    def plant(self, mode=0o600, data=None):
        os.makedirs(self.home, exist_ok=True)
        p = os.path.join(self.home, "secrets.json")
        with open(p, "w") as f:
            json.dump(data if data is not None else {"canary": CANARY}, f)
        os.chmod(p, mode)
        return p

    def test_secrets_file_must_be_0600(self):
        self.plant(0o644)
        p = self.write("w.yaml", """
            name: s
            steps: {a: {run: 'true'}}
        """)
        r = self.weft("run", p)
        self.assertExit(r, 2)
        self.assertTrue(r.err.startswith("weft: "), r.err)
        self.assertIn("chmod 600", r.err)
        self.assertIn("secrets.json", r.err)

    def test_secrets_must_be_strings(self):
        p = self.write("w.yaml", """
            name: s
            steps: {a: {run: 'true'}}
        """)
        for bad, shown in (({"db": {"user": "u", "pass": CANARY}}, "an object"),
                           ({"ok": "x", "pin": 1234}, "a number")):
            self.plant(data=bad)
            r = self.weft("run", p)
            self.assertExit(r, 2)
            self.assertTrue(r.err.startswith("weft: "), r.err)
            name = [k for k, v in bad.items() if not isinstance(v, str)][0]
            self.assertIn('secret "%s" must be a string, not %s' % (name, shown), r.err)
            self.assertIn("secrets.json", r.err)
            self.assertNotIn(CANARY, r.err)
            self.assertEqual(self.weft("runs", "--json").json(), [])

    def test_jq_builtins_cannot_print_a_secret(self):
        # jq 1.6's stderr writes its input to weft's stderr, unmasked; debug,
        # input_filename, input/inputs and halt_error are overridden too
        self.plant()
        p = self.write("w.yaml", """
            name: s
            steps:
              a:
                set:
                  n: "${{ .secrets.canary | stderr | length }}"
                  d: "${{ .secrets.canary | debug | length }}"
                  f: "${{ input_filename }}"
                  l: "${{ input_line_number }}"
              h:
                set: {x: "${{ .secrets.canary | halt_error }}"}
                continue_on_error: true
              i:
                set: {x: "${{ input }}"}
                continue_on_error: true
        """)
        r = self.weft("run", p, "--json")
        self.assertExit(r, 0)
        j = r.json()
        self.assertEqual(j["steps"]["a"]["outputs"],
                         {"n": len(CANARY), "d": len(CANARY), "f": None, "l": 0})
        self.assertIn("halt_error is not available", j["steps"]["h"]["error"]["message"])
        self.assertIn("input is not available", j["steps"]["i"]["error"]["message"])
        for b in forms(CANARY):
            self.assertNotIn(b, r.err)
            self.assertNotIn(b, r.out)
        r = self.weft("run", p)
        for b in forms(CANARY):
            self.assertNotIn(b, r.err)
            self.assertNotIn(b, r.out)

    def test_secrets_reach_steps_from_file_and_env(self):
        self.plant()
        env = dict(self.env, WEFT_SECRET_other=OTHER)
        p = self.write("w.yaml", """
            name: s
            steps:
              a:
                env: {A: "${{ .secrets.canary }}", B: "${{ .secrets.other }}"}
                run: |
                  [ "$A" = "$EXPECT_A" ] && echo "a_ok=true" >> "$WEFT_OUTPUT"
                  [ "$B" = "$EXPECT_B" ] && echo "b_ok=true" >> "$WEFT_OUTPUT"
                  echo "len=${#A}" >> "$WEFT_OUTPUT"
                  # secrets reach steps only through env:, never inherited
                  [ -z "${WEFT_SECRET_other:-}" ] && echo "inherited=false" >> "$WEFT_OUTPUT"
        """)
        env["EXPECT_A"] = CANARY
        env["EXPECT_B"] = OTHER
        r = self.weft("run", p, "--json", env=env)
        self.assertExit(r, 0)
        self.assertEqual(r.json()["steps"]["a"]["outputs"],
                         {"a_ok": True, "b_ok": True, "len": len(CANARY), "inherited": False})

    def test_canary_never_written_or_printed(self):
        self.plant()
        env = dict(self.env, WEFT_SECRET_other=OTHER)
        self.write("kid.yaml", """
            name: kid
            inputs: {t: {type: string}}
            steps:
              k:
                env: {T: "${{ .inputs.t }}"}
                run: |
                  echo "child sees $T"
                  echo "t=$T" >> "$WEFT_OUTPUT"
            outputs: {t: "${{ .steps.k.outputs.t }}"}
        """)
        p = self.write("w.yaml", """
            name: sec
            steps:
              show:
                env: {TOKEN: "${{ .secrets.canary }}", O: "${{ .secrets.other }}"}
                run: |
                  echo "token is $TOKEN and $O"
                  echo "on stderr $TOKEN" >&2
                  echo "tok=$TOKEN" >> "$WEFT_OUTPUT"
                  python3 -c 'import json,os,urllib.parse as u; t=os.environ["TOKEN"]; print(json.dumps(t)); print(u.quote(t, safe="")); print(u.quote_plus(t)); print(json.dumps({"t": t}))'
                  echo "json={\\"t\\": $(python3 -c 'import json,os; print(json.dumps(os.environ["TOKEN"]))')}" >> "$WEFT_OUTPUT"
              use:
                needs: show
                command: [sh, -c, 'echo "$1"; exit 3', x, "${{ .steps.show.outputs.tok }}"]
                continue_on_error: true
              bad_expr:
                set: {x: "${{ error(.secrets.canary) }}"}
                continue_on_error: true
              child:
                workflow: {file: kid.yaml, inputs: {t: "${{ .secrets.canary }}"}}
              gate:
                approval:
                  message: "deploy with ${{ .secrets.canary }}?"
                  timeout: 100ms
                  on_timeout: approve
            outputs:
              leaked: ${{ .secrets.canary }}
              from_child: ${{ .steps.child.outputs.t }}
        """)
        outs = []
        r = self.weft("run", p, "-v", env=env)
        outs.append(r)
        self.assertIn("***", r.out)
        r = self.weft("run", p, "--json", env=env)
        outs.append(r)
        self.assertEqual(r.code, 0, repr(r))
        j = r.json()
        rid = j["id"]
        self.assertEqual(j["outputs"]["leaked"], "***")
        self.assertEqual(j["steps"]["show"]["outputs"]["tok"], "***")
        self.assertEqual(j["steps"]["use"]["status"], "failed")
        self.assertEqual(j["steps"]["bad_expr"]["error"]["kind"], "expression")
        for args in (["status", rid], ["status", rid, "--json"], ["runs", "--json"], ["runs"],
                     ["logs", rid], ["logs", rid, "show"], ["logs", rid, "use"],
                     ["audit", "export"], ["audit", "verify"]):
            outs.append(self.weft(*args, env=env))
        for c in self.weft("status", rid, "--json").json().get("children", []):
            outs.append(self.weft("status", c["id"], "--json", env=env))
            outs.append(self.weft("logs", c["id"], env=env))
        self.assertIn("***", self.weft("logs", rid, "show").out)
        bad = set()
        for v in (CANARY, OTHER):
            bad |= forms(v)
        for res in outs:
            for b in bad:
                self.assertNotIn(b, res.out, f"{b!r} in stdout of {res!r}")
                self.assertNotIn(b, res.err, f"{b!r} in stderr of {res!r}")
        scanned = 0
        for root, dirs, files in os.walk(self.home):
            for name in files:
                path = os.path.join(root, name)
                if name == "secrets.json":
                    continue
                with open(path, "rb") as f:
                    data = f.read()
                scanned += 1
                for b in bad:
                    self.assertNotIn(b.encode(), data, f"{b!r} found in {path}")
        self.assertGreater(scanned, 5)


if __name__ == "__main__":
    main()
