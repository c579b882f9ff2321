#!/usr/bin/env bash
# ctest fixture: starts (or stops) the private PostgreSQL cluster of a test run
# and writes its conninfo to DIR/env for the integration tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=$1 dir=$2
case "$cmd" in
start)
    "$here/../../dev/pgcluster.sh" stop "$dir" 2>/dev/null || true
    url=$("$here/../../dev/pgcluster.sh" start "$dir")
    echo "$url" > "$dir/env"
    echo "postgres ready: $url"
    ;;
stop)
    "$here/../../dev/pgcluster.sh" stop "$dir"
    ;;
esac
