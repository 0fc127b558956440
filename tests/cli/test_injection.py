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


if __name__ == "__main__":
    main()
