#!/usr/bin/env bash
# fresh_build_dir.sh DIR... — run from the source root: a build folder copied
# from another checkout (its CMakeCache.txt names another source folder, so
# cmake refuses to configure it) is removed, to be configured afresh.
set -euo pipefail
for dir in "$@"; do
  cache="$dir/CMakeCache.txt"
  [ -f "$cache" ] || continue
  home=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$cache")
  if [ -n "$home" ] && [ "$(cd "$home" 2>/dev/null && pwd -P)" != "$(pwd -P)" ]; then
    echo "setup: $dir/ was configured for $home, not for $(pwd -P); starting $dir/ afresh"
    rm -rf "$dir"
  fi
done
