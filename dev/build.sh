#!/usr/bin/env bash
# Configures and builds into DIR (default build/). Extra args go to cmake.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build}
shift || true
mkdir -p "$dir"
if ! cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir/cmake-configure.log" 2>&1; then
    cat "$dir/cmake-configure.log"
    echo "build: cmake configure failed (log: $dir/cmake-configure.log)" >&2
    exit 1
fi
cmake --build "$dir" -j"$(nproc)"
