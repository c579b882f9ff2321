#!/usr/bin/env bash
# Integration test of crieur-sandbox (the local platform imitation).
# usage: sandbox_test.sh PATH/TO/crieur-sandbox
# Starts the binary on free ports (port 0 + --port-file) in a temp dir and
# checks the Mastodon API contract, the control API, rate limits and fault
# injection with curl and jq. Prints "N passed, M failed"; exits 1 on failure.
set -euo pipefail

BIN=${1:?usage: sandbox_test.sh PATH/TO/crieur-sandbox}
[[ -x "$BIN" ]] || { echo "not executable: $BIN" >&2; exit 2; }
for tool in curl jq; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done

# the binary reads CRIEUR_SANDBOX_* settings: do not inherit any
unset "${!CRIEUR_SANDBOX_@}"

TMP=$(mktemp -d)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1${2:+: $2}"; }
# expect NAME EXPECTED ACTUAL
expect() { if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi; }
# expect_match NAME REGEX ACTUAL
expect_match() { if [[ "$3" =~ $2 ]]; then pass "$1"; else fail "$1" "'$3' does not match /$2/"; fi; }
# expect_true NAME COMMAND...
expect_true() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }

# start NAME [options...]: runs the sandbox, sets URL_NAME and PID_NAME
start() {
    local name=$1; shift
    "$BIN" --listen 127.0.0.1:0 --port-file "$TMP/$name.port" "$@" \
        >"$TMP/$name.out" 2>"$TMP/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    local i
    for i in $(seq 1 100); do
        [[ -s "$TMP/$name.port" ]] && break
        kill -0 "$pid" 2>/dev/null || { echo "sandbox '$name' died:" >&2; cat "$TMP/$name.err" >&2; exit 1; }
        sleep 0.05
    done
    [[ -s "$TMP/$name.port" ]] || { echo "sandbox '$name' did not start" >&2; exit 1; }
    printf -v "URL_$name" 'http://127.0.0.1:%s' "$(tr -d '\n' <"$TMP/$name.port")"
    printf -v "PID_$name" '%s' "$pid"
}

# req METHOD URL [curl args...]: sets CODE and BODY, headers in $TMP/headers
req() {
    local method=$1 url=$2; shift 2
    : >"$TMP/body"
    CODE=$(curl -sS -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' -X "$method" "$url" "$@" \
        2>"$TMP/curl.err") || CODE="curl-exit-$?"
    BODY=$(cat "$TMP/body")
}
hdr() { grep -i "^$1:" "$TMP/headers" | tail -n 1 | cut -d' ' -f2- | tr -d '\r' || true; }
# j FILTER: jq on BODY, "<invalid json>" instead of failing the script
j() { jq -r "$1" <<<"$BODY" 2>/dev/null || echo "<invalid json>"; }
now_ms() { date +%s%3N; }
post_status() { # URL TOKEN TEXT [curl args...]
    local url=$1 token=$2 text=$3; shift 3
    req POST "$url/mastodon/api/v1/statuses" -H "Authorization: Bearer $token" \
        --data-urlencode "status=$text" "$@"
}
add_account() { # URL HANDLE TOKEN
    req POST "$1/_sandbox/accounts" -H 'Content-Type: application/json' \
        -d "{\"platform\":\"mastodon\",\"handle\":\"$2\",\"token\":\"$3\"}"
}
ledger_count() { curl -sS "$1/_sandbox/ledger" | jq -r .count; }
ISO_US='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$'
ISO_MS='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$'

start main --ledger-file "$TMP/ledger.jsonl" --seed 7
M=$URL_main
expect_match "startup line" '^crieur-sandbox listening on http://127\.0\.0\.1:[0-9]+$' \
    "$(head -n 1 "$TMP/main.out")"
expect "startup line names the port file's port" "$M" \
    "$(sed -n 's/^crieur-sandbox listening on //p' "$TMP/main.out")"

req GET "$M/_sandbox/health"
expect "health" "200 true" "$CODE $(j .ok)"

# ---- accounts and publishing ------------------------------------------------
add_account "$M" alice tok1
expect "create account" "201 alice" "$CODE $(j .handle)"
ALICE_ID=$(j .id)

post_status "$M" tok1 "Hello <b>world</b> & friends"
expect "publish status" "200" "$CODE"
S1=$(j .id)
expect_match "status id is numeric" '^[0-9]+$' "$S1"
expect "status content is html-escaped" '<p>Hello &lt;b&gt;world&lt;/b&gt; &amp; friends</p>' "$(j .content)"
expect "status url" "$M/mastodon/@alice/$S1" "$(j .url)"
expect "status uri" "$M/mastodon/users/alice/statuses/$S1" "$(j .uri)"
expect "status counters and visibility" "public 0 0 0 null" \
    "$(j '"\(.visibility) \(.replies_count) \(.reblogs_count) \(.favourites_count) \(.in_reply_to_id)"')"
expect "status account" "alice alice $ALICE_ID" "$(j '"\(.account.username) \(.account.acct) \(.account.id)"')"
expect "status media_attachments" "0" "$(j '.media_attachments | length')"
expect_match "status created_at (ms)" "$ISO_MS" "$(j .created_at)"
expect "publish carries X-RateLimit-Limit" "300" "$(hdr X-RateLimit-Limit)"
expect "publish carries X-RateLimit-Remaining" "299" "$(hdr X-RateLimit-Remaining)"
expect_match "publish carries X-RateLimit-Reset" "$ISO_US" "$(hdr X-RateLimit-Reset)"

req GET "$M/_sandbox/ledger"
expect "ledger has the post" "1 1 mastodon alice $S1 null" \
    "$(j '"\(.count) \(.entries[0].seq) \(.entries[0].platform) \(.entries[0].account) \(.entries[0].id) \(.entries[0].idempotency_key)"')"
expect "ledger keeps the source text" 'Hello <b>world</b> & friends' "$(j '.entries[0].text')"
expect "ledger url" "$M/mastodon/@alice/$S1" "$(j '.entries[0].url')"

# JSON body, reply, language, spoiler
req POST "$M/mastodon/api/v1/statuses" -H 'Authorization: Bearer tok1' -H 'Content-Type: application/json' \
    -d "{\"status\":\"a reply\\nline two\",\"in_reply_to_id\":\"$S1\",\"language\":\"fr\",\"visibility\":\"unlisted\",\"spoiler_text\":\"cw\"}"
expect "publish JSON reply" "200 $S1 fr unlisted true cw" \
    "$(j '"\(.in_reply_to_id) \(.language) \(.visibility) \(.sensitive) \(.spoiler_text)"' | sed "s/^/$CODE /")"
S2=$(j .id)
expect "newline becomes <br />" '<p>a reply<br />line two</p>' "$(j .content)"
expect_true "ids increase" test "$S2" \> "$S1"
req GET "$M/mastodon/api/v1/statuses/$S1"
expect "get status: replies_count" "200 1" "$CODE $(j .replies_count)"
req GET "$M/mastodon/api/v1/statuses/$S1/context"
expect "context descendants" "200 $S2" "$CODE $(j '.descendants[0].id')"
req POST "$M/mastodon/api/v1/statuses" -H 'Authorization: Bearer tok1' -d "status=x&in_reply_to_id=999"
expect "reply to missing status" "404" "$CODE"

# idempotency
post_status "$M" tok1 "idempotent post" -H 'Idempotency-Key: key-123'
expect "idempotent first" "200" "$CODE"
ID1=$(j .id)
BEFORE=$(ledger_count "$M")
post_status "$M" tok1 "idempotent post (retry, different text)" -H 'Idempotency-Key: key-123'
expect "idempotent repeat returns the original id" "200 $ID1" "$CODE $(j .id)"
expect "idempotent repeat returns the original text" '<p>idempotent post</p>' "$(j .content)"
expect "idempotent repeat adds no ledger entry" "$BEFORE" "$(ledger_count "$M")"
req GET "$M/_sandbox/ledger?since=$((BEFORE - 1))"
expect "ledger since + idempotency_key" "1 key-123" "$(j '"\(.count) \(.entries[0].idempotency_key)"')"
add_account "$M" bob tokb
post_status "$M" tokb "same key, other account" -H 'Idempotency-Key: key-123'
expect_true "same key on another account is a new status" test "$(j .id)" != "$ID1"

# validation
post_status "$M" tok1 ""
expect "blank status" "422 Validation failed: Text can't be blank" "$CODE $(j .error)"
post_status "$M" tok1 "   "
expect "whitespace-only status" "422" "$CODE"
LONG=$(printf 'a%.0s' $(seq 1 501))
post_status "$M" tok1 "$LONG"
expect "too long status" "422 Validation failed: Text character limit of 500 exceeded" "$CODE $(j .error)"
post_status "$M" tok1 "$(printf 'é%.0s' $(seq 1 500))"
expect "500 two-byte characters fit (code points, not bytes)" "200" "$CODE"
URLS="$(printf 'https://example.com/%0200d ' 0 0 0)"   # 3 URLs of 221 chars: 3*23+3 = 72
post_status "$M" tok1 "$URLS"
expect "URLs count as 23 characters" "200" "$CODE"
req GET "$M/mastodon/api/v2/instance"
expect "instance configuration" "200 500 4 23" \
    "$CODE $(j '"\(.configuration.statuses.max_characters) \(.configuration.statuses.max_media_attachments) \(.configuration.statuses.characters_reserved_per_url)"')"

# authentication
post_status "$M" nosuchtoken "hello"
expect "unknown token" "401 The access token is invalid" "$CODE $(j .error)"
req POST "$M/mastodon/api/v1/statuses" -d "status=hello"
expect "no token" "401" "$CODE"
add_account "$M" carol tokc
post_status "$M" tokc "before revoke"
expect "token works before revoke" "200" "$CODE"
req POST "$M/_sandbox/tokens/revoke" -d '{"token":"tokc"}'
expect "revoke" "200" "$CODE"
post_status "$M" tokc "after revoke"
expect "revoked token" "401 The access token is invalid" "$CODE $(j .error)"

# reading back
req GET "$M/mastodon/api/v1/accounts/verify_credentials" -H 'Authorization: Bearer tok1'
expect "verify_credentials" "200 alice $ALICE_ID" "$CODE $(j '"\(.username) \(.id)"')"
expect "read requests carry rate headers" "300" "$(hdr X-RateLimit-Limit)"
req GET "$M/mastodon/api/v1/accounts/$ALICE_ID/statuses?limit=2" -H 'Authorization: Bearer tok1'
expect "account statuses newest first, limit" "200 2" "$CODE $(j length)"
expect_true "account statuses ordered newest first" test "$(j '.[0].id')" \> "$(j '.[1].id')"
req GET "$M/mastodon/api/v1/statuses?id[]=$S1&id[]=12345&id[]=$ID1"
expect "batch get omits missing ids" "200 $S1 $ID1" "$CODE $(j '[.[].id] | join(" ")')"
req DELETE "$M/mastodon/api/v1/statuses/$ID1" -H 'Authorization: Bearer tokb'
expect "cannot delete another account's status" "404" "$CODE"
req DELETE "$M/mastodon/api/v1/statuses/$ID1" -H 'Authorization: Bearer tok1'
expect "delete own status" "200 $ID1 idempotent post" "$CODE $(j '"\(.id) \(.text)"')"
req GET "$M/mastodon/api/v1/statuses/$ID1"
expect "deleted status is gone" "404 Record not found" "$CODE $(j .error)"
req GET "$M/mastodon/api/v1/nothing/here"
expect "unknown platform path: 404 JSON" "404 Record not found" "$CODE $(j .error)"
req GET "$M/nowhere"
expect "unknown prefix: 404 JSON" "404 Not found" "$CODE $(j .error)"

# media: upload, then a status with only media
printf '\x89PNG\r\n\x1a\nfake image' >"$TMP/img.png"
req POST "$M/mastodon/api/v2/media" -H 'Authorization: Bearer tok1' -F "file=@$TMP/img.png" -F 'description=alt text'
expect "media upload" "200 image alt text" "$CODE $(j '"\(.type) \(.description)"')"
MEDIA=$(j .id)
req POST "$M/mastodon/api/v1/statuses" -H 'Authorization: Bearer tok1' -d "media_ids[]=$MEDIA"
expect "status with media and no text" "200 $MEDIA" "$CODE $(j '.media_attachments[0].id')"
req POST "$M/mastodon/api/v1/statuses" -H 'Authorization: Bearer tok1' \
    -d 'status=x&media_ids[]=1&media_ids[]=2&media_ids[]=3&media_ids[]=4&media_ids[]=5'
expect "more than 4 media" "422 Cannot attach more than 4 files" "$CODE $(j .error)"
req GET "$M/_sandbox/ledger?platform=mastodon"
expect "ledger lists the status's media" "$MEDIA" "$(j '.entries[-1].media | join(",")')"
expect "ledger: a text-only status has no media" "0" "$(j '.entries[0].media | length')"
printf 'plain text' >"$TMP/notimg.txt"
req POST "$M/mastodon/api/v2/media" -H 'Authorization: Bearer tok1' -F "file=@$TMP/notimg.txt"
expect_match "upload of no image: 422" '^422 Validation failed: File content type is invalid' \
    "$CODE $(j .error)"
req POST "$M/mastodon/api/v1/statuses" -H 'Authorization: Bearer tok1' -d 'status=x&media_ids[]=999'
expect "unknown media id: 422" "422 Media 999 not found or already attached to another post" \
    "$CODE $(j .error)"
req POST "$M/mastodon/api/v1/statuses" -H 'Authorization: Bearer tok1' -d "status=x&media_ids[]=$MEDIA"
expect "already attached media id: 422" \
    "422 Media $MEDIA not found or already attached to another post" "$CODE $(j .error)"
req GET "$M/mastodon/api/v1/media/$MEDIA" -H 'Authorization: Bearer tok1'
expect "processed media: 200 with url" "200 true" "$CODE $(j '.url != null')"

# generated images (control API) upload as what they are
for ext in jpg png gif webp; do
    curl -sS -o "$TMP/gen.$ext" "$M/_sandbox/media/pic.$ext?bytes=5000"
    req POST "$M/mastodon/api/v2/media" -H 'Authorization: Bearer tok1' -F "file=@$TMP/gen.$ext"
    type=image; [[ $ext == gif ]] && type=gifv
    expect "generated $ext: 5000 bytes, uploads as an image" "5000 200 $type" \
        "$(stat -c %s "$TMP/gen.$ext") $CODE $(j .type)"
done
req GET "$M/_sandbox/media/pic.png"
expect "generated image: content type" "200 image/png" "$CODE $(hdr Content-Type)"
req GET "$M/_sandbox/media/pic.bin?bytes=10"
expect "bin: no image" "200 application/octet-stream 10" "$CODE $(hdr Content-Type) ${#BODY}"
req GET "$M/_sandbox/media/pic.png?status=404"
expect "status=: that error" "404" "$CODE"
req GET "$M/_sandbox/media/pic.png?bytes=10"
expect "below the smallest image: 422" "422" "$CODE"
req GET "$M/_sandbox/media/pic.tiff"
expect "unknown type: 404" "404" "$CODE"

# processing delay: 202 with url null, 206 while processing, 422 if attached, then 200
start slowmedia --mastodon-media-delay-ms 1500 --mastodon-media-limit 3 --mastodon-media-window-s 60
SM=$URL_slowmedia
add_account "$SM" alice tokm
req POST "$SM/mastodon/api/v2/media" -H 'Authorization: Bearer tokm' -F "file=@$TMP/gen.jpg"
expect "v2 upload while processing: 202, url null" "202 null" "$CODE $(j .url)"
SLOW=$(j .id)
req GET "$SM/mastodon/api/v1/media/$SLOW" -H 'Authorization: Bearer tokm'
expect "poll while processing: 206" "206 null" "$CODE $(j .url)"
req POST "$SM/mastodon/api/v1/statuses" -H 'Authorization: Bearer tokm' -d "status=x&media_ids[]=$SLOW"
expect "attaching unprocessed media: 422" \
    "422 Cannot attach files that have not finished processing. Try again in a moment!" \
    "$CODE $(j .error)"
req POST "$SM/mastodon/api/v1/media" -H 'Authorization: Bearer tokm' -F "file=@$TMP/gen.jpg"
expect "v1 upload is processed before the answer: 200" "200 false" "$CODE $(j '.url == null')"
sleep 1.6
req GET "$SM/mastodon/api/v1/media/$SLOW" -H 'Authorization: Bearer tokm'
expect "poll once processed: 200 with url" "200 false" "$CODE $(j '.url == null')"
req POST "$SM/mastodon/api/v1/statuses" -H 'Authorization: Bearer tokm' -d "status=x&media_ids[]=$SLOW"
expect "processed media attaches" "200 $SLOW" "$CODE $(j '.media_attachments[0].id')"
req POST "$SM/mastodon/api/v2/media" -H 'Authorization: Bearer tokm' -F "file=@$TMP/gen.jpg"
expect "third upload within the limit" "202" "$CODE"
req POST "$SM/mastodon/api/v2/media" -H 'Authorization: Bearer tokm' -F "file=@$TMP/gen.jpg"
expect "media upload limit: 429 with reset" "429 Too many requests 0" \
    "$CODE $(j .error) $(hdr X-RateLimit-Remaining)"

# bad input never crashes
req POST "$M/mastodon/api/v1/statuses" -H 'Authorization: Bearer tok1' -H 'Content-Type: application/json' \
    -d '{"status": "unterminated'
expect_match "malformed JSON body: 400 JSON error" '^400 .+' "$CODE $(j .error)"
req POST "$M/mastodon/api/v1/statuses" -H 'Authorization: Bearer tok1' -d 'status=%FF%FEbad'
expect_match "invalid UTF-8 form: 400 JSON error" '^400 .+' "$CODE $(j .error)"
req POST "$M/mastodon/api/v1/statuses" -H 'Authorization: Bearer tok1' -H 'Content-Type: application/json' \
    --data-binary $'{"status":"\xff\xfe"}'
expect "invalid UTF-8 JSON: 400" "400" "$CODE"
req POST "$M/_sandbox/faults" -d '{not json'
expect_match "control API malformed JSON: 400 JSON error" '^400 invalid JSON' "$CODE $(j .error)"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' a >"$TMP/big"
req POST "$M/mastodon/api/v1/statuses" -H 'Authorization: Bearer tok1' --data-binary "@$TMP/big"
expect "oversized body: 413" "413" "$CODE"
req POST "$M/mastodon/api/v1/statuses" -H 'Authorization: Bearer tok1' -H 'Transfer-Encoding: chunked' \
    --data-binary "@$TMP/big"
expect "oversized chunked body: 413" "413" "$CODE"
req GET "$M/_sandbox/health"
expect "still healthy after bad input" "200" "$CODE"

# ---- fault injection ---------------------------------------------------------
add_account "$M" dave tokd
req POST "$M/_sandbox/faults" -d '{"platform":"mastodon","account":"dave","path":"/api/v1/statuses","status":500,"count":1}'
expect "add fault rule" "201" "$CODE"
BEFORE=$(ledger_count "$M")
post_status "$M" tokd "first try"
expect "fault count=1: injected 500" "500" "$CODE"
expect "injected error has the platform's shape" "string" "$(j '.error | type')"
expect "injected error records nothing" "$BEFORE" "$(ledger_count "$M")"
post_status "$M" tokd "second try"
expect "fault count=1: then success" "200" "$CODE"
post_status "$M" tok1 "other account unaffected"
expect "per-account rule leaves others alone" "200" "$CODE"

req POST "$M/_sandbox/faults" -d '{"platform":"mastodon","account":"dave","mode":"timeout_after_accept","count":1}'
BEFORE=$(ledger_count "$M")
T0=$(now_ms)
post_status "$M" tokd "accepted but never answered" --max-time 1
T1=$(now_ms)
expect "timeout_after_accept: the client times out" "curl-exit-28" "$CODE"
req GET "$M/_sandbox/ledger?since=$BEFORE"
expect "timeout_after_accept: the post is in the ledger" "1 accepted but never answered" \
    "$(j '"\(.count) \(.entries[0].text)"')"

req POST "$M/_sandbox/faults" -d '{"platform":"*","account":"dave","mode":"drop","count":1}'
BEFORE=$(ledger_count "$M")
post_status "$M" tokd "dropped"
expect "drop: connection closed without an answer" "curl-exit-52" "$CODE"
expect "drop: nothing recorded" "$BEFORE" "$(ledger_count "$M")"

req POST "$M/_sandbox/faults" -d '{"platform":"mastodon","account":"dave","latency_ms":400,"count":1}'
T0=$(now_ms)
post_status "$M" tokd "slow"
T1=$(now_ms)
expect "latency fault: request succeeds" "200" "$CODE"
expect_true "latency fault: took >= 400 ms ($((T1 - T0)) ms)" test $((T1 - T0)) -ge 400

req POST "$M/_sandbox/faults" -d '{"platform":"mastodon","status":503,"rate":0.5,"path":"/api/v2/instance"}'
HITS=0
for i in $(seq 1 40); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$M/mastodon/api/v2/instance") == 503 ]] && HITS=$((HITS + 1))
done
expect_true "rate=0.5 fires sometimes ($HITS/40)" test "$HITS" -gt 5 -a "$HITS" -lt 35
req GET "$M/_sandbox/faults"
expect "list fault rules" "200" "$CODE"
req POST "$M/_sandbox/faults" -d '{"platform":"mastodon","stauts":500}'
expect "fault rule with unknown field is refused" "422" "$CODE"
req DELETE "$M/_sandbox/faults"
expect "clear fault rules" "200 0" "$CODE $(curl -s "$M/_sandbox/faults" | jq '.faults | length')"

# ---- notifications -----------------------------------------------------------
N=()
for i in 1 2 3; do
    req POST "$M/_sandbox/mentions" -d "{\"platform\":\"mastodon\",\"account\":\"alice\",\"from\":\"eve\",\"text\":\"@alice ping $i\",\"in_reply_to_id\":\"$S1\"}"
    expect "inject mention $i" "201" "$CODE"
    N+=("$(j .id)")
done
req GET "$M/mastodon/api/v1/notifications?types[]=mention" -H 'Authorization: Bearer tok1'
expect "notifications newest first" "200 ${N[2]} ${N[1]} ${N[0]}" "$CODE $(j '[.[].id] | join(" ")')"
expect "notification shape" "mention eve" "$(j '"\(.[0].type) \(.[0].account.username)"')"
expect_match "notification status mentions alice" 'ping 3' "$(j '.[0].status.content')"
expect_match "Link header" 'rel="next".*min_id=.*rel="prev"' "$(hdr Link)"
req GET "$M/mastodon/api/v1/notifications?types[]=mention&min_id=${N[0]}" -H 'Authorization: Bearer tok1'
expect "notifications after min_id" "${N[2]} ${N[1]}" "$(j '[.[].id] | join(" ")')"
req GET "$M/mastodon/api/v1/notifications?types[]=mention&min_id=${N[0]}&limit=1" -H 'Authorization: Bearer tok1'
expect "min_id pages forward from min_id" "${N[1]}" "$(j '[.[].id] | join(" ")')"
req GET "$M/mastodon/api/v1/notifications?types[]=mention&min_id=${N[2]}" -H 'Authorization: Bearer tok1'
expect "nothing after the newest" "200 0" "$CODE $(j length)"
req GET "$M/mastodon/api/v1/notifications?types[]=follow" -H 'Authorization: Bearer tok1'
expect "types filter" "0" "$(j length)"
req GET "$M/mastodon/api/v1/notifications" -H 'Authorization: Bearer tokb'
expect "other accounts see no notifications" "0" "$(j length)"
req GET "$M/mastodon/api/v1/statuses/$S1"
expect "mention replies count on the parent" "4" "$(j .replies_count)"

# ---- ledger file, stats, reset --------------------------------------------------
expect "ledger file has one line per entry" "$(ledger_count "$M")" "$(jq -s length "$TMP/ledger.jsonl")"
req GET "$M/_sandbox/stats"
expect_true "stats count requests and statuses" \
    test "$(j .requests)" -gt 10 -a "$(j '.by_status["200"]')" -gt 5 -a "$(j '.by_status["422"]')" -ge 2 \
    -a "$(j .faults_applied)" -ge 4
req POST "$M/_sandbox/faults" -d '{"platform":"mastodon","status":500}'
req POST "$M/_sandbox/reset"
expect "reset" "200" "$CODE"
req GET "$M/_sandbox/stats"
expect "reset clears ledger and stats" "0 0 0" "$(j '"\(.ledger) \(.requests) \(.accounts)"')"
post_status "$M" tok1 "after reset"
expect "reset clears accounts (and faults)" "401" "$CODE"
add_account "$M" alice tok1
post_status "$M" tok1 "after reset"
expect "reset clears faults" "200 1" "$CODE $(ledger_count "$M")"

# ---- rate limits (separate instance) ------------------------------------------
start limits --mastodon-status-limit 3 --mastodon-status-window-s 60 \
    --mastodon-request-limit 8 --mastodon-request-window-s 60
L=$URL_limits
add_account "$L" rita tokr
for i in 1 2 3; do
    post_status "$L" tokr "post $i"
    expect "status $i of 3: 200, Remaining $((3 - i))" "200 3 $((3 - i))" \
        "$CODE $(hdr X-RateLimit-Limit) $(hdr X-RateLimit-Remaining)"
done
post_status "$L" tokr "post 4"
expect "4th status: 429" "429 Too many requests" "$CODE $(j .error)"
expect "429 headers: Limit 3, Remaining 0" "3 0" "$(hdr X-RateLimit-Limit) $(hdr X-RateLimit-Remaining)"
RESET=$(hdr X-RateLimit-Reset)
expect_match "429 X-RateLimit-Reset is ISO-8601 with microseconds" "$ISO_US" "$RESET"
DELTA=$(($(date -d "$RESET" +%s) - $(date +%s)))
expect_true "X-RateLimit-Reset within the 60 s window (${DELTA}s)" test "$DELTA" -ge 0 -a "$DELTA" -le 61
expect "429 has no Retry-After" "" "$(hdr Retry-After)"
expect "429 adds no ledger entry" "3" "$(ledger_count "$L")"
# per-token request limit (8 per window): 4 posts used 4, 4 more pass, the 9th is refused
for i in 5 6 7 8; do
    req GET "$L/mastodon/api/v1/accounts/verify_credentials" -H 'Authorization: Bearer tokr'
done
expect "request $i of 8: Remaining 0" "200 8 0" "$CODE $(hdr X-RateLimit-Limit) $(hdr X-RateLimit-Remaining)"
req GET "$L/mastodon/api/v1/accounts/verify_credentials" -H 'Authorization: Bearer tokr'
expect "9th request: 429 per token" "429 Too many requests 8" "$CODE $(j .error) $(hdr X-RateLimit-Limit)"

# ---- --open and global latency (separate instance) ---------------------------------
start open --open --latency-ms 200
O=$URL_open
T0=$(now_ms)
req GET "$O/mastodon/api/v1/accounts/verify_credentials" -H 'Authorization: Bearer Abc-123_xyz!9'
T1=$(now_ms)
expect "--open: any token creates an account (named after the whole token)" "200 userabc123xyz983349f6c" "$CODE $(j .username)"
expect_true "--latency-ms 200: took >= 200 ms ($((T1 - T0)) ms)" test $((T1 - T0)) -ge 200
req GET "$O/_sandbox/health"
expect "control API has no latency" "200" "$CODE"
# 40 concurrent delayed requests on 2 threads must overlap (suspended, not blocking)
T0=$(now_ms)
CURLS=()
for i in $(seq 1 40); do
    curl -s -o /dev/null -X POST "$O/mastodon/api/v1/statuses" -H "Authorization: Bearer t$i" -d "status=p$i" &
    CURLS+=($!)
done
for pid in "${CURLS[@]}"; do wait "$pid" || true; done
T1=$(now_ms)
expect_true "40 delayed requests overlap ($((T1 - T0)) ms < 2000)" test $((T1 - T0)) -lt 2000
expect "40 delayed posts recorded" "40" "$(ledger_count "$O")"
req POST "$O/_sandbox/tokens/revoke" -d '{"token":"t1"}'
post_status "$O" t1 "revoked in open mode"
expect "--open: revoked token stays refused" "401" "$CODE"

# ---- idempotency under concurrency (separate instance) ------------------------------
# Regression: two simultaneous requests with one Idempotency-Key could create two
# statuses with --threads >= 2 (a request reads its clock before it waits for the
# lock, so the winner's record looked like it came from the future, i.e. expired).
# 20 parallel requests per key, half with a ~900 KB body so that they read their
# clock early and take the lock late; 10 keys. Every answer must be 200 with the
# first status, and the ledger must hold one entry per key.
start race --threads 4 --max-characters 1000000
R=$URL_race
add_account "$R" rosa tokrace
printf '{"status":"same post %s"}' "$(head -c 900000 /dev/zero | tr '\0' a)" >"$TMP/big_race_body.json"
RACE_BAD=""
for round in $(seq 1 10); do
    CURLS=()
    for i in $(seq 1 20); do
        if (( i % 2 )); then data='{"status":"same post"}'; else data="@$TMP/big_race_body.json"; fi
        curl -s -o "$TMP/race_$i.json" -w '%{http_code}\n' -X POST "$R/mastodon/api/v1/statuses" \
            -H 'Authorization: Bearer tokrace' -H "Idempotency-Key: race-$round" \
            -H 'Content-Type: application/json' --data-binary "$data" >"$TMP/race_$i.code" &
        CURLS+=($!)
    done
    for pid in "${CURLS[@]}"; do wait "$pid" || true; done
    codes=$(cat "$TMP"/race_*.code | sort -u | tr '\n' ' ')
    ids=$(jq -r .id "$TMP"/race_*.json 2>/dev/null | sort -u | wc -l)
    entries=$(curl -sS "$R/_sandbox/ledger" | jq "[.entries[] | select(.idempotency_key == \"race-$round\")] | length")
    [[ "$codes" == "200 " && "$ids" == 1 && "$entries" == 1 ]] ||
        RACE_BAD+=" key race-$round: codes [$codes] distinct ids $ids ledger $entries;"
    rm -f "$TMP"/race_*.code "$TMP"/race_*.json
done
expect "20 simultaneous requests per Idempotency-Key: one status, all 200 with it (10 keys)" "" "$RACE_BAD"
expect "idempotency race: one ledger entry per key" "10" "$(ledger_count "$R")"

# ---- clean stop ------------------------------------------------------------------
# stop NAME: SIGTERM, expect exit 0 (sanitizer reports make it non-zero)
stop() {
    local name=$1 pidvar="PID_$1" rc=0
    kill -TERM "${!pidvar}"
    wait "${!pidvar}" || rc=$?
    expect "$name: SIGTERM exits 0" "0" "$rc"
    if [[ $rc -ne 0 ]]; then sed 's/^/    | /' "$TMP/$name.err" | tail -n 40; fi
}
# held and delayed requests must not prevent a clean stop
req POST "$M/_sandbox/faults" -d '{"platform":"mastodon","mode":"timeout_after_accept"}'
curl -s -o /dev/null --max-time 10 -X POST "$M/mastodon/api/v1/statuses" -H 'Authorization: Bearer tok1' -d status=held &
HELD_CURL=$!
curl -s -o /dev/null --max-time 10 -X POST "$O/mastodon/api/v1/statuses" -H 'Authorization: Bearer t2' -d status=delayed &
DELAYED_CURL=$!
sleep 0.1
stop main
stop open
stop limits
stop race
wait "$HELD_CURL" "$DELAYED_CURL" 2>/dev/null || true

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
