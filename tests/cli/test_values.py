"""End-to-end: values as users write them — reals keep their shortest
round-trip form everywhere, `-i` values are read by the declared input type,
`--inputs FILE.json` values are type-checked, a missing inputs file is named."""
from harness import WeftTest, main
import json
import os

WF = """
name: vals
inputs:
  f: {type: number}
  version: {type: string, default: "1"}
  n: {type: integer, default: 1}
  flags: {type: object, default: {}}
steps:
  a:
    set: {x: 0.83, s: "v=${{ .inputs.f }}", big: 1e21, third: 0.3333333333333333}
  b:
    needs: a
    env: {X: "${{ .steps.a.outputs.x }}"}
    run: 'echo "x=$X" && echo "y=[$X, 0.1]" >> "$WEFT_OUTPUT"'
outputs:
  x: ${{ .steps.a.outputs.x }}
  f: ${{ .inputs.f }}
  s: ${{ .steps.a.outputs.s }}
  y: ${{ .steps.b.outputs.y }}
"""


class Numbers(WeftTest):
    def test_reals_keep_their_shortest_form_everywhere(self):
        p = self.write("w.yaml", WF)
        r = self.weft("run", p, "-i", "f=0.1", "--json")
        self.assertExit(r, 0)
        for text in (r.out, self.weft("status", r.json()["id"], "--json").out):
            self.assertIn('"x": 0.83', text)
            self.assertIn('"f": 0.1', text)
            self.assertNotIn("0.82999", text)
            self.assertNotIn("0.10000", text)
            j = json.loads(text)
            self.assertEqual(j["inputs"]["f"], 0.1)
            self.assertEqual(j["outputs"]["s"], "v=0.1")
            self.assertEqual(j["outputs"]["y"], [0.83, 0.1])
            a = j["steps"]["a"]["outputs"]
            self.assertEqual(a["third"], 0.3333333333333333)  # 16 digits round-trip
            self.assertIn('"big": 1e21', text)
        run = r.json()["id"]
        self.assertEqual(self.weft("logs", run, "b").out.strip(), "x=0.83")
        # the human status and the store hold the same text
        self.assertIn("0.83", self.weft("status", run).out)
        self.assertNotIn("0.82999", self.weft("status", run).out)

    def test_for_each_items_reach_programs_in_their_shortest_form(self):
        p = self.write("fe.yaml", """
            name: fe
            steps:
              s:
                for_each: [0.1, 0.83, {r: 0.7}]
                run: 'echo "$WEFT_ITEM"; echo "item=$WEFT_ITEM" >> "$WEFT_OUTPUT"'
            outputs:
              items: ${{ [.steps.s.outputs[].item] }}
            """)
        r = self.weft("run", p, "--json")
        self.assertExit(r, 0)
        run = r.json()["id"]
        self.assertEqual([self.weft("logs", run, "s:%d" % i).out for i in range(3)],
                         ["0.1\n", "0.83\n", '{"r":0.7}\n'])
        self.assertEqual(r.json()["outputs"]["items"], [0.1, 0.83, {"r": 0.7}])
        self.assertIn('"item": 0.83', r.out)

    def test_hashes_and_the_audit_chain_keep_the_canonical_form(self):
        # what is hashed (inputs_sha256, request_sha256, the chain) stays
        # jansson's canonical text, so hashes made by earlier versions still match
        import hashlib
        p = self.write("one.yaml", "name: one\ninputs:\n  f: {type: number}\nsteps:\n  a: {run: 'true'}\n")
        self.assertExit(self.weft("run", p, "-i", "f=0.1"), 0)
        created = [json.loads(l) for l in self.weft("audit", "export").out.splitlines()
                   if '"run.created"' in l][0]
        self.assertEqual(created["data"]["inputs_sha256"],
                         hashlib.sha256(b'{"f":0.10000000000000001}').hexdigest())
        self.assertExit(self.weft("audit", "verify"), 0)

    def test_splicing_a_number_input_into_a_string(self):
        p = self.write("w.yaml", WF)
        r = self.weft("run", p, "-i", "f=0.83", "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["outputs"]["s"], "v=0.83")


class Inputs(WeftTest):
    def test_a_string_input_keeps_the_text_as_written(self):
        p = self.write("w.yaml", WF)
        r = self.weft("run", p, "-i", "f=1", "-i", "version=2.0", "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["inputs"]["version"], "2.0")
        r = self.weft("run", p, "-i", "f=1", "-i", "version=true", "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["inputs"]["version"], "true")

    def test_typed_inputs_are_parsed_as_json_and_checked(self):
        p = self.write("w.yaml", WF)
        r = self.weft("run", p, "-i", "f=2.5", "-i", "n=3", "-i", 'flags={"a":1}', "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["inputs"]["n"], 3)
        self.assertEqual(r.json()["inputs"]["flags"], {"a": 1})
        r = self.weft("run", p, "-i", "f=abc")
        self.assertExit(r, 2)
        self.assertIn('input "f" must be of type number, got "abc"', r.err)
        r = self.weft("run", p, "-i", "f=1", "-i", "n=2.5")
        self.assertExit(r, 2)
        self.assertIn('input "n" must be of type integer, got 2.5', r.err)

    def test_inputs_file_values_are_type_checked(self):
        p = self.write("w.yaml", WF)
        f = self.write("in.json", '{"f": 0.1, "version": 2}')
        r = self.weft("run", p, "--inputs", f)
        self.assertExit(r, 2)
        self.assertIn('input "version" must be of type string, got 2', r.err)
        # JSON is typed as written: a string is not a number, even "0.5"
        f = self.write("str.json", '{"f": "0.5"}')
        r = self.weft("run", p, "--inputs", f)
        self.assertExit(r, 2)
        self.assertIn('input "f" must be of type number, got "0.5" (in %s)' % f, r.err)
        r = self.weft("run", p, "--inputs", f, "-i", "f=0.5", "--json")  # -i wins
        self.assertExit(r, 0)
        self.assertEqual(r.json()["inputs"]["f"], 0.5)
        f = self.write("ok.json", '{"f": 0.1, "version": "2.0"}')
        r = self.weft("run", p, "--inputs", f, "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["inputs"]["version"], "2.0")
        self.assertEqual(r.json()["inputs"]["f"], 0.1)

    def test_a_missing_inputs_file_is_named_without_positions(self):
        p = self.write("w.yaml", WF)
        r = self.weft("run", p, "--inputs", "nope.json")
        self.assertExit(r, 4)
        self.assertEqual(r.err.strip(),
                         "weft: cannot read the inputs file nope.json: "
                         "No such file or directory (check the path)")
        self.assertNotIn(":-1", r.err)
        self.assertFalse(os.path.exists(os.path.join(self.home, "weft.db")))


if __name__ == "__main__":
    main()
