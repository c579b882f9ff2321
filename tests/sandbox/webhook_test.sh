#!/usr/bin/env bash
# The Slack-compatible incoming webhooks of crieur-sandbox (/webhook): hooks
# registered as accounts, Slack's path shape, plain-text answers (ok,
# invalid_payload, no_text, invalid_blocks, no_service, channel_is_archived,
# rate_limited with Retry-After), the per-hook rate (burst then one per
# interval), the ledger, fault injection, revocation, reset and --open, with
# curl and jq. usage: webhook_test.sh PATH/TO/crieur-sandbox
# Prints "N passed, M failed"; exits 1 on failure.
set -euo pipefail

BIN=${1:?usage: webhook_test.sh PATH/TO/crieur-sandbox}
[[ -x "$BIN" ]] || { echo "not executable: $BIN" >&2; exit 2; }
for tool in curl jq; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done
unset "${!CRIEUR_SANDBOX_@}"

TMP=$(mktemp -d)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    [[ -n "${KEEP_TMP:-}" ]] || rm -rf "$TMP"
}
trap cleanup EXIT

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1${2:+: $2}"; }
expect() { if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi; }

start() { # NAME [options...]: sets URL_NAME and PID_NAME
    local name=$1; shift
    "$BIN" --listen 127.0.0.1:0 --port-file "$TMP/$name.port" "$@" \
        >"$TMP/$name.out" 2>"$TMP/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 100); do
        [[ -s "$TMP/$name.port" ]] && break
        kill -0 "$pid" 2>/dev/null || { echo "sandbox '$name' died:" >&2; cat "$TMP/$name.err" >&2; exit 1; }
        sleep 0.05
    done
    [[ -s "$TMP/$name.port" ]] || { echo "sandbox '$name' did not start" >&2; exit 1; }
    printf -v "URL_$name" 'http://127.0.0.1:%s' "$(tr -d '\n' <"$TMP/$name.port")"
    printf -v "PID_$name" '%s' "$pid"
}
req() { # METHOD URL [curl args...]: sets CODE and BODY, headers in $TMP/headers
    local method=$1 url=$2; shift 2
    : >"$TMP/body"
    CODE=$(curl -sS -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' -X "$method" "$url" "$@" \
        2>"$TMP/curl.err") || CODE="curl-exit-$?"
    BODY=$(cat "$TMP/body")
}
hdr() { grep -i "^$1:" "$TMP/headers" | tail -n 1 | cut -d' ' -f2- | tr -d '\r' || true; }
hook() { # URL SECRET BODY [T B]: POST to the hook
    req POST "$1/webhook/services/${4:-T0}/${5:-B0}/$2" -H 'Content-Type: application/json' -d "$3"
}
add_hook() { # URL HANDLE SECRET [extra JSON members]
    req POST "$1/_sandbox/accounts" -H 'Content-Type: application/json' \
        -d "{\"platform\":\"webhook\",\"handle\":\"$2\",\"token\":\"$3\"${4:+,$4}}"
}
ledger() { curl -sS "$1/_sandbox/ledger?platform=webhook${2:+&account=$2}"; }

start main --webhook-burst 1000
M=$URL_main

# ---- unknown hooks and paths ----------------------------------------------------
hook "$M" s3cret '{"text":"hi"}'
expect "unknown hook: 404 no_service" "404 no_service" "$CODE $BODY"
expect "answers are plain text (text/html)" "text/html" "$(hdr Content-Type)"
add_hook "$M" ops s3cret
expect "register a hook" 201 "$CODE"
for path in services/X0/B0/s3cret services/T0/s3cret services/T0/B0/ services/T0/B0/s3cret/x \
    services/T0/B-0/s3cret other/T0/B0/s3cret; do
    req POST "$M/webhook/$path" -d '{"text":"hi"}'
    expect "malformed path /webhook/$path: 404 no_service" "404 no_service" "$CODE $BODY"
done

# ---- accepted messages -------------------------------------------------------------
hook "$M" s3cret '{"text":"Post 42 failed: <b> & co"}'
expect "text: 200 ok" "200 ok" "$CODE $BODY"
expect "ok is text/html" "text/html" "$(hdr Content-Type)"
hook "$M" s3cret '{"text":"any team and bot ids"}' T9ZZ Babc123
expect "any T.../B... segments reach the hook" "200 ok" "$CODE $BODY"
hook "$M" s3cret '{"blocks":[{"type":"header","text":{"type":"plain_text","text":"Head"}},
    {"type":"section","text":{"type":"mrkdwn","text":"Body *bold*"}},
    {"type":"context","elements":[{"type":"mrkdwn","text":"ctx"}]}]}'
expect "blocks only: 200 ok" "200 ok" "$CODE $BODY"
L=$(ledger "$M" ops)
expect "each accepted message is a ledger entry" 3 "$(jq -r .count <<<"$L")"
expect "ledger: platform and channel" "webhook ops" "$(jq -r '.entries[0] | "\(.platform) \(.account)"' <<<"$L")"
expect "ledger: the text as sent" "Post 42 failed: <b> & co" "$(jq -r '.entries[0].text' <<<"$L")"
expect "ledger: blocks' texts when there is no text" $'Head\nBody *bold*\nctx' "$(jq -r '.entries[2].text' <<<"$L")"
expect "ledger ids" "msg-" "$(jq -r '.entries[0].id[0:4]' <<<"$L")"

# ---- refused payloads (nothing recorded) --------------------------------------------
check_refused() { # NAME BODY EXPECTED
    hook "$M" s3cret "$2"
    expect "$1" "$3" "$CODE $BODY"
}
check_refused "not JSON: invalid_payload" 'text=hi' "400 invalid_payload"
check_refused "not an object: invalid_payload" '["hi"]' "400 invalid_payload"
check_refused "empty object: no_text" '{}' "400 no_text"
check_refused "empty text: no_text" '{"text":""}' "400 no_text"
check_refused "empty blocks: no_text" '{"blocks":[]}' "400 no_text"
check_refused "text not a string: invalid_payload" '{"text":5}' "400 invalid_payload"
check_refused "blocks not an array: invalid_payload" '{"blocks":{"type":"x"}}' "400 invalid_payload"
check_refused "block without type: invalid_blocks" '{"text":"x","blocks":[{"text":"y"}]}' "400 invalid_blocks"
req GET "$M/webhook/services/T0/B0/s3cret"
expect "GET: 405 invalid_method" "405 invalid_method" "$CODE $BODY"
expect "refused payloads are not in the ledger" 3 "$(ledger "$M" ops | jq -r .count)"

# ---- archived channels ---------------------------------------------------------------
add_hook "$M" ops s3cret '"archived":true'
expect "archive through the control API" 201 "$CODE"
hook "$M" s3cret '{"text":"to the archive"}'
expect "archived channel: 410 channel_is_archived" "410 channel_is_archived" "$CODE $BODY"
add_hook "$M" ops s3cret '"archived":"yes"'
expect "archived must be a boolean" 422 "$CODE"
add_hook "$M" ops s3cret
hook "$M" s3cret '{"text":"back"}'
expect "registered again without archived: delivered" "200 ok" "$CODE $BODY"
expect "archived messages are not in the ledger" 4 "$(ledger "$M" ops | jq -r .count)"

# ---- fault injection ------------------------------------------------------------------
fault() { req POST "$M/_sandbox/faults" -H 'Content-Type: application/json' -d "$1"; }
for f in "500 rollup_error" "403 action_prohibited" "404 channel_not_found" "410 channel_is_archived"; do
    fault "{\"platform\":\"webhook\",\"account\":\"ops\",\"status\":${f%% *},\"count\":1}"
    hook "$M" s3cret '{"text":"faulty"}'
    expect "injected ${f%% *}: Slack's string" "$f" "$CODE $BODY"
done
fault '{"platform":"webhook","status":429,"count":1}'
hook "$M" s3cret '{"text":"faulty"}'
expect "injected 429: rate_limited with Retry-After" "429 rate_limited 1" "$CODE $BODY $(hdr Retry-After)"
add_hook "$M" other0 otherSecret
fault '{"platform":"webhook","account":"ops","status":500,"count":1}'
hook "$M" otherSecret '{"text":"other channel"}'
expect "an account's fault spares other hooks" "200 ok" "$CODE $BODY"
hook "$M" s3cret '{"text":"x"}'
expect "...and hits its own" "500 rollup_error" "$CODE $BODY"
fault '{"platform":"webhook","mode":"drop","count":1}'
hook "$M" s3cret '{"text":"dropped"}'
expect "dropped connection: no answer" "curl-exit-52" "$CODE"
expect "faults are not in the ledger" 4 "$(ledger "$M" ops | jq -r .count)"

# ---- revocation and reset --------------------------------------------------------------
req POST "$M/_sandbox/tokens/revoke" -H 'Content-Type: application/json' -d '{"token":"s3cret"}'
hook "$M" s3cret '{"text":"revoked"}'
expect "revoked hook: 404 no_service" "404 no_service" "$CODE $BODY"
add_hook "$M" ops s3cret '"archived":true'
req POST "$M/_sandbox/reset"
add_hook "$M" ops s3cret
hook "$M" s3cret '{"text":"after reset"}'
expect "reset forgets archived flags and messages" "200 ok 1" "$CODE $BODY $(ledger "$M" ops | jq -r .count)"

# ---- rate: a burst, then one message per interval per hook ------------------------------------
start rate --webhook-burst 2 --webhook-interval-ms 1000
R=$URL_rate
add_hook "$R" ops s3cret
add_hook "$R" dev devSecret
hook "$R" s3cret '{"text":"1"}'; c1=$CODE
hook "$R" s3cret '{"text":"2"}'; c2=$CODE
expect "the burst goes through" "200 200" "$c1 $c2"
hook "$R" s3cret '{"text":"3"}'
expect "over the rate: 429 rate_limited" "429 rate_limited" "$CODE $BODY"
expect "Retry-After in seconds" 1 "$(hdr Retry-After)"
hook "$R" devSecret '{"text":"other hook"}'
expect "the rate is per hook" "200 ok" "$CODE $BODY"
sleep 1.1
hook "$R" s3cret '{"text":"4"}'
expect "one more after the interval" "200 ok" "$CODE $BODY"
hook "$R" s3cret '{"text":"5"}'
expect "...and only one" 429 "$CODE"
expect "rate-limited messages are not in the ledger" "1 2 4" \
    "$(ledger "$R" ops | jq -r '[.entries[].text] | join(" ")')"

# ---- --open: any secret is a hook ---------------------------------------------------------
start open --open
hook "$URL_open" AnySecret123 '{"text":"open"}'
expect "--open: any secret works" "200 ok" "$CODE $BODY"
expect "--open: its own channel in the ledger" "useranysecret123" \
    "$(ledger "$URL_open" | jq -r '.entries[0].account[0:16]')"

for name in main rate open; do
    pidvar="PID_$name"
    rc=0
    kill -TERM "${!pidvar}"
    wait "${!pidvar}" || rc=$?
    expect "$name: SIGTERM exits 0" 0 "$rc"
    [[ $rc -eq 0 ]] || sed 's/^/    | /' "$TMP/$name.err" | tail -n 40
done

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
