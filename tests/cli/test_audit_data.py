"""test_audit_data.py — the audit data the runtime writes is canonical JSON.

The runtime writes step and attempt audit entries as canonical text directly
(src/runtime/rt_journal.c) and other entries through a canonical dump
(audit_canonical_json), skipping the parse of the store's text path. Here
every stored entry of runs with retries, errors, for_each instances and
non-ASCII outputs must equal its own canonical form (sorted keys, compact,
ASCII with \\uXXXX escapes as jansson writes them), carry the fields of its
kind, and the chain must verify.
"""
import json
import os
import re

from harness import WeftTest, main

WF = r"""name: mix
inputs:
  who:
    type: string
    default: "\u00e9\u4e2d\U0001F600\t\"x"
steps:
  a: {run: "exit 3", retry: {attempts: 2, delay: 0s}, continue_on_error: true}
  b-x: {for_each: [1, 2, 3], command: ["true"]}
  c: {needs: [a], set: {x: "\u00e9\"q\t"}}
  d: {run: "echo hi; exit 1", needs: [c]}
"""


def canonical(text):
    v = json.loads(text)
    out = json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    # jansson writes \\u escapes with upper-case hex digits
    return re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), out)


class AuditData(WeftTest):
    def test_entries_are_canonical(self):
        self.write("mix.yaml", WF)
        res = self.weft("run", "mix.yaml")
        self.assertExit(res, 1)
        rows = self.query("SELECT kind, data FROM audit ORDER BY seq")
        kinds = {}
        for kind, data in rows:
            self.assertEqual(data, canonical(data), f"{kind} entry not canonical")
            kinds.setdefault(kind, []).append(json.loads(data))
        for k in ("step.status", "attempt.started", "attempt.finished", "run.status",
                  "step.expanded", "run.created"):
            self.assertIn(k, kinds)
        # errors are embedded as objects, indexes only for instances
        failed = [d for d in kinds["step.status"] if d["status"] == "failed"]
        self.assertEqual(sorted(d["step"] for d in failed), ["a", "d"])
        self.assertTrue(all(d["error"]["kind"] == "exit_code" for d in failed))
        inst = [d for d in kinds["attempt.started"] if d["step"] == "b-x"]
        self.assertEqual(sorted(d["index"] for d in inst), [0, 1, 2])
        self.assertTrue(all("index" not in d for d in kinds["attempt.started"] if d["step"] != "b-x"))
        self.assertEqual([d["attempt"] for d in kinds["attempt.finished"] if d["step"] == "a"],
                         [1, 2])
        created = kinds["run.created"][0]
        self.assertEqual(created["inputs"]["who"], "\u00e9\u4e2d\U0001F600\t\"x")
        self.assertExit(self.weft("audit", "verify"), 0)


if __name__ == "__main__":
    main()
