#!/usr/bin/env python3
"""test_readme.py — README.md's "A first session" block, run as written by a
newcomer would run it (in a fresh folder with the examples, the default home
./.weft, a scratch $HOME), with only what a test must change: the server's
port (a free one instead of 7700), a wait for readiness after `weft server &`,
the run id placeholders, and a time limit on the endless event stream."""
import os
import re
import shutil
import socket
import subprocess

from harness import WeftTest, main, ROOT, BIN


def first_session():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    m = re.search(r"## A first session\s+```sh\n(.*?)```", text, re.S)
    assert m, "README.md has a '## A first session' sh block"
    return m.group(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Readme(WeftTest):
    def test_first_session_runs_as_written(self):
        block = first_session()
        for must in ("weft run examples/hello.yaml", "weft server &", "weft start hello", "events/stream"):
            self.assertIn(must, block)
        work = os.path.join(self.tmp, "project")
        shutil.copytree(os.path.join(ROOT, "examples"), os.path.join(work, "examples"))
        port = free_port()
        lines = []
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line)  # the comments (none of the commands has " # ")
            line = line.replace("$PWD/build", os.path.dirname(os.path.abspath(BIN)))
            line = line.replace("127.0.0.1:7700", "127.0.0.1:%d" % port)
            line = line.replace("weft start ", "weft --server http://127.0.0.1:%d start " % port)
            line = line.replace("<RUN-ID-PREFIX>", "$(lastrun)").replace("<RUN>", "$(lastrun)")
            if re.match(r"weft server &", line):
                line = ("weft server --listen 127.0.0.1:%d >/dev/null 2>server.log &\n"
                        "trap 'kill %%1 2>/dev/null || true' EXIT\n"
                        "until curl -sf http://127.0.0.1:%d/readyz >/dev/null; do sleep 0.05; done" % (port, port))
            if line.startswith("kill -HUP"):
                line += "\nsleep 0.5"  # the reload is asynchronous
            if line.startswith("curl -N"):
                line = "timeout 3 " + line + " > events.txt || true"
            lines.append(line)
        script = ("set -euo pipefail\n"
                  "lastrun() { weft runs --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1][\"id\"][:8])'; }\n"
                  + "\n".join(lines) + "\nkill %1; wait %1 || true\n")
        env = {k: v for k, v in self.env.items() if k not in ("WEFT_HOME",)}
        env["HOME"] = self.tmp
        p = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True,
                           timeout=120)
        log = ""
        if os.path.exists(os.path.join(work, "server.log")):
            with open(os.path.join(work, "server.log")) as f:
                log = f.read()
        self.assertEqual(p.returncode, 0, "stdout:\n%s\nstderr:\n%s\nserver:\n%s" % (p.stdout, p.stderr, log))
        self.assertIn('{"status":"ready"}', p.stdout)
        self.assertEqual(len(re.findall(r"^run \S+ succeeded in", p.stdout, re.M)), 2, p.stdout)  # run + start --wait
        with open(os.path.join(work, "events.txt")) as f:
            events = f.read()
        self.assertIn("event: run", events)
        self.assertTrue(os.path.isdir(os.path.join(work, ".weft", "logs")))
        if self.pg is None:  # on PostgreSQL (WEFT_TEST_STORE) the home holds no database
            self.assertTrue(os.path.isfile(os.path.join(work, ".weft", "weft.db")))


if __name__ == "__main__":
    main()
