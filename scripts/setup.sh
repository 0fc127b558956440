#!/usr/bin/env bash
# setup.sh — one command for a newcomer on Debian 12 (as root, or with sudo):
# installs what is missing (apt, skipped when everything is there), builds weft,
# and runs a real example workflow. `scripts/setup.sh --deps` only installs;
# `scripts/setup.sh --configure` installs and configures build/ (no build).
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS="pkg-config cmake make gcc clang python3 git libuv1-dev libcurl4-openssl-dev libjq-dev
libfyaml-dev libsqlite3-dev libpq-dev libmicrohttpd-dev libjansson-dev libcriterion-dev valgrind
python3-croniter python3-prometheus-client tzdata libsodium-dev
curl openssl wrk
chromium nodejs postgresql-15"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# npm: part of nodejs from NodeSource, its own package in Debian (the browser tests' npm ci)
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
  echo "setup: installing:$missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  # postgresql-15 is for the tests' throwaway clusters (tests/cli/pgcluster.py):
  # no system cluster on port 5432 is created or started for it
  if [[ " $missing " == *" postgresql-15 "* ]]; then
    $SUDO mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/weft.conf >/dev/null
  fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=600 $missing
else
  echo "setup: all packages present"
fi
[ "${1:-}" = "--deps" ] && exit 0

bash scripts/fresh_build_dir.sh build  # a build/ copied from another checkout

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
[ "${1:-}" = "--configure" ] && { echo "setup: configured build/"; exit 0; }
cmake --build build -j"$(nproc)" --target weft
echo
echo "setup: built build/weft; running examples/hello.yaml"
export WEFT_HOME="${WEFT_HOME:-$PWD/.weft}"
./build/weft validate examples/hello.yaml
./build/weft run examples/hello.yaml -i who=newcomer
