"""End-to-end: values that could change what a program, a terminal or a
reader sees. NUL bytes (in step outputs, argv elements, env values, YAML
strings) are errors, never a silently shortened value; expressions inside
the script of `sh -c` are refused like inside `run:`; a secret in argv is a
validation warning; control characters shown on a terminal are escaped."""
from harness import WeftTest, main
import json


class Nul(WeftTest):
    def test_nul_in_argv_env_and_outputs_fails_the_step(self):
        p = self.write("w.yaml", r"""
            name: nul
            steps:
              argv: {command: [echo, '${{ "a\u0000b" }}'], continue_on_error: true}
              envv: {env: {X: '${{ "a\u0000b" }}'}, run: 'echo "$X"', continue_on_error: true}
              outjson:
                run: |
                  printf '{"k": "a\\u0000b"}' > "$WEFT_OUTPUT"
                continue_on_error: true
              outraw:
                run: |
                  printf 'k=a\000b\n' > "$WEFT_OUTPUT"
                continue_on_error: true
        """)
        r = self.weft("run", p, "--json")
        self.assertExit(r, 0)
        s = r.json()["steps"]
        for step, kind, text in (("argv", "validation", "command element 1 holds a NUL byte"),
                                 ("envv", "validation", "env X holds a NUL byte"),
                                 ("outjson", "output", 'output "k" contains a NUL byte'),
                                 ("outraw", "output", 'output "k" contains a NUL byte')):
            self.assertEqual(s[step]["status"], "failed", step)
            self.assertEqual(s[step]["error"]["kind"], kind, step)
            self.assertIn(text, s[step]["error"]["message"], step)
        # the program never ran with a shortened argument
        logs = self.weft("logs", r.json()["id"], "argv")
        self.assertNotIn("a\n", logs.out)

    def test_nul_in_yaml_is_a_validation_error(self):
        p = self.write("w.yaml", """
            name: nul
            steps:
              a: {command: [echo, "a\\0b"]}
        """)
        r = self.weft("validate", p)
        self.assertExit(r, 2)
        self.assertIn("w.yaml:3:", r.err)
        self.assertIn("holds a NUL byte", r.err)
        with open(p, "wb") as f:
            f.write(b'name: nul\nsteps:\n  a: {command: [echo, "a\0b"]}\n')
        r = self.weft("validate", p)
        self.assertExit(r, 2)
        self.assertIn("w.yaml:3:25: the file holds a NUL byte", r.err)


class Argv(WeftTest):
    def test_expression_in_a_shell_script_argument_is_refused(self):
        p = self.write("w.yaml", """
            name: shc
            inputs:
              who: {default: world}
            steps:
              a: {command: [/bin/bash, -e, -c, 'echo ${{ .inputs.who }}']}
        """)
        for cmd in ("validate", "run"):
            r = self.weft(cmd, p)
            self.assertExit(r, 2)
            self.assertIn("w.yaml:5:", r.err)
            self.assertIn("expressions are not allowed inside the script of /bin/bash -c; "
                          "pass the value through env:", r.err)
        self.assertEqual(self.weft("runs", "--json").json(), [])

    def test_secret_in_argv_is_a_warning(self):
        self.env["WEFT_SECRET_tok"] = "tok-value-991"
        p = self.write("w.yaml", """
            name: sec-argv
            steps:
              a: {command: [echo, "--token=${{ .secrets.tok }}"]}
              b: {command: [echo, "${{ .inputs | length }}"], env: {T: "${{ .secrets.tok }}"}}
        """)
        r = self.weft("validate", p)
        self.assertExit(r, 0)
        self.assertIn("w.yaml:3:", r.err)
        self.assertIn("warning: a secret in a command argument is visible", r.err)
        self.assertIn("env:", r.err)
        self.assertEqual(r.err.count("warning"), 1, r.err)  # b passes it through env:
        r = self.weft("run", p)
        self.assertExit(r, 0)
        self.assertIn("warning: a secret in a command argument", r.err)
        self.assertNotIn("tok-value-991", r.err + r.out)


TRICK = 'ok?\r\x1b[2K\x1b]0;pwned\x07deploy to PROD'  # CR, erase line, set title


class Terminal(WeftTest):
    """A step must not be able to rewrite what a human reads."""

    def assertNoControls(self, text, where):
        for c in ("\x1b", "\r", "\x07", "\x9b"):
            self.assertNotIn(c, text, where)

    def test_step_error_is_escaped_in_run_status_and_messages(self):
        p = self.write("w.yaml", """
            name: esc
            steps:
              bad:
                set: {x: '${{ error("ok?\\r\\u001b[2K\\u001b]0;pwned\\u0007deploy to PROD") }}'}
        """)
        r = self.weft("run", p)
        self.assertExit(r, 1)
        self.assertNoControls(r.out + r.err, repr(r))
        self.assertIn("ok?\\r\\x1b[2K\\x1b]0;pwned\\x07deploy to PROD", r.out + r.err)
        rid = self.latest()["id"]
        st = self.weft("status", rid)
        self.assertNoControls(st.out + st.err, repr(st))
        self.assertIn("\\x1b[2K", st.out)
        # --json keeps the real text, as valid JSON
        j = self.weft("status", rid, "--json")
        self.assertIn(TRICK, j.json()["steps"]["bad"]["error"]["message"])

    def test_step_outputs_in_status_text_are_escaped(self):
        p = self.write("w.yaml", """
            name: esc-out
            steps:
              a:
                run: |
                  printf 'x=a\\302\\233' >> "$WEFT_OUTPUT"
                  printf '\\n' >> "$WEFT_OUTPUT"
                  exit 0
            outputs:
              x: "${{ .steps.a.outputs.x }}"
        """)
        r = self.weft("run", p)
        self.assertExit(r, 0)
        rid = self.latest()["id"]
        st = self.weft("status", rid)
        self.assertNoControls(st.out, repr(st))
        self.assertIn("\\u009b", st.out)

    def test_validation_messages_and_usage_errors_are_escaped(self):
        p = self.write("w.yaml", 'name: x\nsteps:\n  a: {run: "true", "x\\e[2Jy": 1}\n')
        r = self.weft("validate", p)
        self.assertExit(r, 2)
        self.assertNoControls(r.err, repr(r))
        self.assertIn('unknown key "x\\x1b[2Jy"', r.err)
        r = self.weft("bogus\x1b[2J")
        self.assertExit(r, 2)
        self.assertNoControls(r.err, repr(r))
        self.assertIn("bogus\\x1b[2J", r.err)

    def test_approval_message_is_escaped_in_approvals(self):
        p = self.write("w.yaml", """
            name: esc-approval
            steps:
              gate:
                approval: {message: '${{ "ok?\\r\\u001b[2K\\u001b]0;pwned\\u0007deploy to PROD" }}'}
        """)
        proc = self.spawn("run", p)
        try:
            def listed():
                r = self.weft("approvals", "--json")
                return r.code == 0 and r.json() and r.json()[0]
            a = self.wait_for(listed, "the approval")
            self.assertEqual(a["message"], TRICK)  # --json: the real text
            r = self.weft("approvals")
            self.assertExit(r, 0)
            self.assertNoControls(r.out, repr(r))
            self.assertIn("ok?\\r\\x1b[2K\\x1b]0;pwned\\x07deploy to PROD", r.out)
        finally:
            proc.kill()
            proc.communicate(timeout=30)


if __name__ == "__main__":
    main()
