"""End-to-end: every workflow of docs/patterns.md runs as its `# expect:` says.

Each ```yaml block starts with `# expect: RUN_STATUS [step=STATUS ...]`; the
block is written to its own directory, run with `weft run --json`, and the
run's status and the named steps' statuses are compared."""
from harness import WeftTest, main, ROOT
import os
import re

DOC = os.path.join(ROOT, "docs", "patterns.md")
EXIT = {"succeeded": 0, "failed": 1, "cancelled": 3}


def blocks():
    with open(DOC) as f:
        text = f.read()
    for m in re.finditer(r"```yaml\n(.*?)```", text, re.S):
        body = m.group(1)
        head = body.splitlines()[0]
        name = re.search(r"^name: (\S+)", body, re.M).group(1)
        yield name, head, body


class Patterns(WeftTest):
    def test_every_block_says_what_it_expects(self):
        found = list(blocks())
        self.assertGreaterEqual(len(found), 15)
        for name, head, _ in found:
            self.assertTrue(head.startswith("# expect: "), name)

    def test_every_pattern_runs_as_documented(self):
        for name, head, body in blocks():
            with self.subTest(pattern=name):
                words = head[len("# expect: "):].split()
                d = os.path.join(self.tmp, name)
                os.makedirs(d)
                path = os.path.join(d, "w.yaml")
                with open(path, "w") as f:
                    f.write(body)
                r = self.weft("run", path, "--json")
                self.assertExit(r, EXIT[words[0]])
                j = r.json()
                self.assertEqual(j["status"], words[0])
                for w in words[1:]:
                    step, want = w.split("=")
                    self.assertEqual(j["steps"][step]["status"], want, f"{name}: {step}")


if __name__ == "__main__":
    main()
