"""End-to-end: every workflow of docs/patterns.md runs as its `# expect:` says.

Each ```yaml block starts with `# expect: RUN_STATUS [step=STATUS ...]`; the
block is written to its own directory, run with `weft run --json`, and the
run's status and the named steps' statuses are compared. A block may say, on
the lines after it, `# send: NAME JSON --run` (the test sends the event to the
run as soon as the run exists: a persistent trigger) or `# send: NAME JSON when
STEP` (a broadcast once STEP is waiting: a transient trigger)."""
from harness import WeftTest, main, ROOT
import json
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
                sends = [l[len("# send: "):] for l in body.splitlines() if l.startswith("# send: ")]
                j = self.run_with_events(path, sends, EXIT[words[0]]) if sends else None
                if j is None:
                    r = self.weft("run", path, "--json")
                    self.assertExit(r, EXIT[words[0]])
                    j = r.json()
                self.assertEqual(j["status"], words[0])
                for w in words[1:]:
                    step, want = w.split("=")
                    self.assertEqual(j["steps"][step]["status"], want, f"{name}: {step}")


    def run_with_events(self, path, sends, code):
        before = {r["id"] for r in (self.weft("runs", "--json").json() or [])}
        proc = self.spawn("run", path)
        rid = self.wait_for(lambda: next((r["id"] for r in self.weft("runs", "--json").json()
                                          if r["id"] not in before), None), "the run")
        for s in sends:
            m = re.match(r"(\S+) (\{.*\}) (--run|when (\S+))$", s)
            self.assertTrue(m, s)
            name, data = m.group(1), m.group(2)
            if m.group(3) == "--run":
                self.assertExit(self.weft("event", "send", name, "--data", data, "--run", rid), 0)
            else:
                step = m.group(4)
                self.wait_for(lambda: json.loads(self.weft("status", rid, "--json").out)["steps"][step]["status"]
                              == "waiting", f"{step} waiting")
                self.assertExit(self.weft("event", "send", name, "--data", data), 0)
        self.assertEqual(proc.wait(timeout=120), code)
        proc.stdout.close()
        proc.stderr.close()
        r = self.weft("status", rid, "--json")
        self.assertExit(r, 0)
        return r.json()


if __name__ == "__main__":
    main()
