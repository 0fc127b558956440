#!/usr/bin/env bash
# bench_server.sh — `weft server`: start-to-ready time, idle RSS, and GET
# /healthz throughput and p99 latency with wrk, on loopback.
#
#   bash bench/bench_server.sh [WEFT_BIN] [RUNS]
#
# Start to ready: from just before exec to the first 200 from /readyz (a
# tight poll; each start gets a fresh home, so the store is created and
# migrated every time) — and the server's own "ready in X ms" from its start
# line (from the store being open to listening).
# Idle RSS: VmRSS of the server 1 s after start, nothing running.
# wrk: 2 threads, 50 connections, 10 s, on one fresh server.
# Not a test: the numbers go to bench/README.md with the machine and date.
set -euo pipefail
WEFT=${1:-build/weft}
RUNS=${2:-10}
command -v curl >/dev/null || { echo "bench_server: curl is needed" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
pid=

now_ms() { date +%s%3N; }

start_server() { # $1: home; sets pid and port
  : >"$tmp/err"
  WEFT_HOME=$1 "$WEFT" server --listen 127.0.0.1:0 2>"$tmp/err" &
  pid=$!
  port=
  for _ in $(seq 1 5000); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/err")
    [ -n "$port" ] && return 0
    sleep 0.001
  done
  echo "bench_server: the server did not start: $(cat "$tmp/err")" >&2
  exit 1
}

# start to ready, measured by a tight poller in Python (raw socket, no
# process start per poll)
python3 - "$WEFT" "$RUNS" "$tmp" <<'PY'
import os, re, socket, subprocess, sys, time
weft, runs, tmp = sys.argv[1], int(sys.argv[2]), sys.argv[3]
print("run  exec->readyz 200 (ms)  self-reported (ms)  idle RSS (KiB)")
ready, rss_all = [], []
for i in range(runs):
    home = os.path.join(tmp, f"home{i}")
    err = open(os.path.join(tmp, f"err{i}"), "w+")
    t0 = time.perf_counter()
    p = subprocess.Popen([weft, "server", "--listen", "127.0.0.1:0"], env=dict(os.environ, WEFT_HOME=home),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    port = None
    while True:
        if port is None:
            err.seek(0)
            m = re.search(r"listening on 127\.0\.0\.1:(\d+).*ready in ([0-9.]+) ms", err.read())
            if not m:
                continue
            port, self_ms = int(m.group(1)), float(m.group(2))
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                break
    t1 = time.perf_counter()
    time.sleep(1)
    rss = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{p.pid}/status").read()).group(1))
    p.terminate()
    p.wait()
    ready.append((t1 - t0) * 1000)
    rss_all.append(rss)
    print(f"{i + 1:<4} {ready[-1]:>10.1f} {self_ms:>22.1f} {rss:>18}")
ready.sort()
print(f"median exec->ready {ready[len(ready) // 2]:.1f} ms, max {ready[-1]:.1f} ms; "
      f"idle RSS median {sorted(rss_all)[len(rss_all) // 2] / 1024:.1f} MiB")
PY

if command -v wrk >/dev/null; then
  start_server "$tmp/home-wrk"
  echo
  echo "wrk -t2 -c50 -d10s --latency http://127.0.0.1:$port/healthz"
  wrk -t2 -c50 -d10s --latency "http://127.0.0.1:$port/healthz"
  echo "RSS after wrk (KiB): $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")"
  kill -TERM "$pid"
  wait "$pid" || true
  pid=
else
  echo "bench_server: wrk is not installed (scripts/setup.sh installs it); no throughput figures" >&2
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
