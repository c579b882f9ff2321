#!/usr/bin/env bash
# Rate-limit headers reach the broker: the real crieur-publisher, driven by a
# fake broker (tests/tools/fake_broker.c, no database), publishes to the real
# sandbox on every platform, and each Result carries the window the
# platform's rate-limit headers reported (Result.rate_known, rate_limit,
# rate_remaining, rate_reset_ms; workers/runtime/cr_ratehdr.h):
#  - Mastodon: the status family's window (300 per 3 h by default), and a
#    burst over a 2-per-window limit: the 429 carries remaining 0 and the
#    reset the adapter retries at; an injected 429 carries the token's window;
#  - X: POST /2/tweets' 15-minute window; Bluesky: the write points (a post
#    costs 3 of 5000 an hour); Facebook: X-App-Usage as 100 - percentage;
#  - LinkedIn sends no rate-limit headers: rate_known false.
# usage: ratelimit_publisher.sh BUILD_DIR
T_NAME=ratelimit_publisher
source "$(dirname "$0")/../harness/lib.sh"
FAKE=$BUILD/tests/fake_broker

# mastodon-status-limit 2: the burst account's third post is refused
t_sandbox --mastodon-status-limit 2
acct() { # PLATFORM HANDLE TOKEN
    curl -fsS -X POST "$SANDBOX/_sandbox/accounts" -H 'content-type: application/json' \
        -d "{\"platform\":\"$1\",\"handle\":\"$2\",\"token\":\"$3\"}" >/dev/null
}
acct mastodon mrate tok-mrate
acct mastodon mburst tok-mburst
acct mastodon minject tok-minject
acct x xrate tok-xrate
acct bluesky brate app-brate
acct facebook 1101 tok-1101
acct linkedin 4242 tok-li-4242
curl -fsS -X POST "$SANDBOX/_sandbox/faults" -H 'content-type: application/json' \
    -d '{"platform":"mastodon","account":"minject","status":429,"count":1}' >/dev/null

jq -n --arg sb "$SANDBOX" '
def pub($job; $platform; $handle; $token; $body): {job_id: $job, attempt: 1, kind: "publish",
    platform: $platform, handle: $handle, token: $token, api_base: "\($sb)/\($platform)",
    body: $body, idempotency_key: "rate-key-\($job)"};
[ pub(1; "mastodon"; "mrate"; "tok-mrate"; "Mastodon post with rate headers"),
  pub(2; "mastodon"; "mburst"; "tok-mburst"; "burst 1"),
  pub(3; "mastodon"; "mburst"; "tok-mburst"; "burst 2"),
  pub(4; "mastodon"; "mburst"; "tok-mburst"; "burst 3"),
  pub(5; "mastodon"; "minject"; "tok-minject"; "injected 429"),
  pub(6; "x"; "xrate"; "tok-xrate"; "X post with rate headers"),
  pub(7; "bluesky"; "brate.bsky.social"; "app-brate"; "Bluesky post with rate headers"),
  pub(8; "facebook"; "1101"; "tok-1101"; "Facebook post with usage headers"),
  pub(9; "linkedin"; "4242"; "tok-li-4242"; "LinkedIn post, no rate headers")
]' >"$T_DIR/tasks.json"

BROKER_EP="tcp://127.0.0.1:$(t_free_port)"
T0_MS=$(($(date +%s) * 1000))
"$FAKE" "$BROKER_EP" "$T_DIR/tasks.json" 40 >"$T_DIR/results.jsonl" 2>"$T_DIR/fake_broker.log" &
FAKE_PID=$!
T_PIDS+=($FAKE_PID)
t_publisher pub --log-level debug --request-timeout-ms 10000
rc=0
wait "$FAKE_PID" || rc=$?
T1_MS=$((($(date +%s) + 1) * 1000))
eq "every task got a result" "0 9" "$rc $(wc -l <"$T_DIR/results.jsonl")"

res() { jq -r --argjson j "$1" "select(.job_id == \$j) | $2" "$T_DIR/results.jsonl"; }
rate() { res "$1" '"\(.outcome) \(.rate_known) \(.rate_limit) \(.rate_remaining)"'; }
# reset_within JOB MIN_S MAX_S: the reset lies between start + MIN_S and end + MAX_S
reset_within() {
    local r
    r=$(res "$1" .rate_reset_ms)
    [ "$r" -ge $((T0_MS + $2 * 1000)) ] && [ "$r" -le $((T1_MS + $3 * 1000)) ]
}

eq "mastodon: the status family's window" "ok true 2 1" "$(rate 1)"
check "mastodon: reset about 3 h ahead (ISO 8601 header)" reset_within 1 10700 10800
eq "mastodon burst: 2 published (1 then 0 left), the third refused with 0 left" \
    "ok true 2 0|ok true 2 1|rate_limited true 2 0" \
    "$(jq -r 'select(.job_id >= 2 and .job_id <= 4) | "\(.outcome) \(.rate_known) \(.rate_limit) \(.rate_remaining)"' \
        "$T_DIR/results.jsonl" | sort | paste -sd'|')"
BURST_429=$(jq -r 'select(.job_id >= 2 and .job_id <= 4 and .outcome == "rate_limited") | .job_id' \
    "$T_DIR/results.jsonl")
check "mastodon burst: the 429's reset is the window's (about 3 h)" reset_within "$BURST_429" 10700 10800
eq "mastodon burst: the adapter retries at that reset" "$(res "$BURST_429" .rate_reset_ms)" \
    "$(res "$BURST_429" .retry_at_ms)"
eq "mastodon: an injected 429 carries the token's window, none left" \
    "rate_limited true 300 0" "$(rate 5)"
check "mastodon: the token's window resets within 5 min" reset_within 5 0 300
eq "x: POST /2/tweets' window" "ok true 100 99" "$(rate 6)"
check "x: reset within 15 min (epoch seconds)" reset_within 6 890 901
eq "bluesky: write points (3 of 5000)" "ok true 5000 4997" "$(rate 7)"
check "bluesky: reset within the hour (epoch seconds)" reset_within 7 3590 3601
eq "facebook: usage as a percentage" "ok true 100" "$(res 8 '"\(.outcome) \(.rate_known) \(.rate_limit)"')"
check "facebook: some of it left, no reset before throttling" \
    test "$(res 8 .rate_remaining)" -ge 90 -a "$(res 8 .rate_reset_ms)" = 0
eq "linkedin: no rate-limit headers, nothing known" "ok false 0 0" "$(rate 9)"
eq "linkedin: no reset" 0 "$(res 9 .rate_reset_ms)"

t_done
