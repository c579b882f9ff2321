#!/usr/bin/env bash
# Throughput of crieur-sandbox on its hot path, POST /mastodon/api/v1/statuses,
# measured with wrk (keep-alive, form-encoded body, one registered token).
#
# usage: sandbox_rps.sh [--short] [--duration S] [--threads N] [--connections N]
#                       [--server-threads N] [--latency-ms N] [--min-rps N] BINARY
#   --short        2 s run (for the test suite); default duration 10 s
#   --min-rps N    also fail when the rate is below N (default 0: report only)
# Prints wrk's report and a last line "requests/s: N". Exits non-zero if wrk
# could not run, if any response was not 2xx, if a socket error occurred, or
# if the ledger holds fewer posts than wrk completed.
set -euo pipefail

DURATION=10 THREADS=2 CONNECTIONS=50 SERVER_THREADS=2 LATENCY_MS=0 MIN_RPS=0 BIN=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --short) DURATION=2 ;;
        --duration) DURATION=$2; shift ;;
        --threads) THREADS=$2; shift ;;
        --connections) CONNECTIONS=$2; shift ;;
        --server-threads) SERVER_THREADS=$2; shift ;;
        --latency-ms) LATENCY_MS=$2; shift ;;
        --min-rps) MIN_RPS=$2; shift ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option: $1" >&2; exit 2 ;;
        *) BIN=$1 ;;
    esac
    shift
done
[[ -n "$BIN" && -x "$BIN" ]] || { echo "usage: sandbox_rps.sh [options] PATH/TO/crieur-sandbox" >&2; exit 2; }
for tool in wrk curl jq; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool (apt-get install -y wrk curl jq)" >&2; exit 2; }
done
unset "${!CRIEUR_SANDBOX_@}"

TMP=$(mktemp -d)
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# Rate limits far above anything wrk can reach: this measures the server.
"$BIN" --listen 127.0.0.1:0 --port-file "$TMP/port" --threads "$SERVER_THREADS" \
    --latency-ms "$LATENCY_MS" --mastodon-status-limit 1000000000 \
    --mastodon-request-limit 1000000000 >"$TMP/out" 2>"$TMP/err" &
SERVER_PID=$!
for _ in $(seq 1 100); do [[ -s "$TMP/port" ]] && break; sleep 0.05; done
[[ -s "$TMP/port" ]] || { echo "crieur-sandbox did not start:" >&2; cat "$TMP/err" >&2; exit 1; }
URL="http://127.0.0.1:$(tr -d '\n' <"$TMP/port")"
curl -sSf -o /dev/null -X POST "$URL/_sandbox/accounts" \
    -d '{"platform":"mastodon","handle":"bench","token":"bench-token"}'

cat >"$TMP/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "status=Benchmark+post+from+wrk+%E2%80%94+caf%C3%A9+https%3A%2F%2Fexample.com%2Fa&visibility=public"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Bearer bench-token"
LUA

echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s -s post.lua $URL/mastodon/api/v1/statuses" \
     "(server: --threads $SERVER_THREADS --latency-ms $LATENCY_MS)"
if ! wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s -s "$TMP/post.lua" \
        "$URL/mastodon/api/v1/statuses" >"$TMP/wrk" 2>&1; then
    cat "$TMP/wrk"; echo "wrk failed" >&2; exit 1
fi
cat "$TMP/wrk"

RPS=$(awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk")
DONE=$(awk '/ requests in / {print $1}' "$TMP/wrk")
NON2XX=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$TMP/wrk")
SOCKERR=$(grep -c '^  Socket errors' "$TMP/wrk" || true)
[[ -n "$RPS" && -n "$DONE" ]] || { echo "could not read wrk's report" >&2; exit 1; }
LEDGER=$(curl -sSf "$URL/_sandbox/stats" | jq -r .ledger)
echo "ledger entries: $LEDGER"
echo "requests/s: $RPS"

STATUS=0
if [[ -n "$NON2XX" && "$NON2XX" -gt 0 ]]; then echo "FAIL: $NON2XX non-2xx responses" >&2; STATUS=1; fi
if [[ "$SOCKERR" -gt 0 ]]; then echo "FAIL: socket errors" >&2; STATUS=1; fi
if [[ "$LEDGER" -lt "$DONE" ]]; then echo "FAIL: ledger has $LEDGER posts, wrk completed $DONE" >&2; STATUS=1; fi
if awk -v r="$RPS" -v m="$MIN_RPS" 'BEGIN { exit !(r < m) }'; then
    echo "FAIL: $RPS requests/s is below --min-rps $MIN_RPS" >&2; STATUS=1
fi
exit $STATUS
