#!/usr/bin/env bash
# The X API v2 of crieur-sandbox (/x): contract, errors, weighted length, rate
# limits, read-back, lookups, mentions, fault injection and --open, with curl
# and jq. usage: x_test.sh PATH/TO/crieur-sandbox
# Prints "N passed, M failed"; exits 1 on failure.
set -euo pipefail

BIN=${1:?usage: x_test.sh PATH/TO/crieur-sandbox}
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
    rm -rf "$TMP"
}
trap cleanup EXIT

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1${2:+: $2}"; }
expect() { if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi; }
expect_match() { if [[ "$3" =~ $2 ]]; then pass "$1"; else fail "$1" "'$3' does not match /$2/"; fi; }
expect_true() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }

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
j() { jq -r "$1" <<<"$BODY" 2>/dev/null || echo "<invalid json>"; }
tweet() { # URL TOKEN TEXT [curl args...]: POST /x/2/tweets {"text":TEXT}
    local url=$1 token=$2 text=$3; shift 3
    req POST "$url/x/2/tweets" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d "$(jq -cn --arg t "$text" '{text:$t}')" "$@"
}
add_account() { # URL HANDLE TOKEN
    req POST "$1/_sandbox/accounts" -H 'Content-Type: application/json' \
        -d "{\"platform\":\"x\",\"handle\":\"$2\",\"token\":\"$3\"}"
}
ledger_count() { curl -sS "$1/_sandbox/ledger?platform=x" | jq -r .count; }
rep() { local s="" i; for ((i = 0; i < $2; i++)); do s+=$1; done; printf '%s' "$s"; }
UNAUTHORIZED='{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}'
DUPLICATE='{"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403}'
TOO_MANY='{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}'
INVALID=https://api.x.com/2/problems/invalid-request
ISO_MS='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$'

start main --seed 3
M=$URL_main

# ---- accounts and publishing ------------------------------------------------
add_account "$M" alice tok1
expect "control API accepts platform x" "201 x alice $M/x" "$CODE $(j '"\(.platform) \(.handle) \(.api_base)"')"
ALICE_ID=$(j .id)
add_account "$M" bob tokb

tweet "$M" tok1 "Hello X"
expect "publish: 201" 201 "$CODE"
T1=$(j .data.id)
expect_match "tweet id is a numeric string" '^[0-9]+$' "$T1"
expect "success shape: data.id, data.text, edit_history_tweet_ids = [id]" "Hello X [\"$T1\"] string" \
    "$(j '"\(.data.text) \(.data.edit_history_tweet_ids | tojson) \(.data.id | type)"')"
expect "success: only data" '["data"]' "$(j 'keys | tojson')"
expect_match "success content type" '^application/json' "$(hdr Content-Type)"
expect "x-rate-limit-limit on a publish" 100 "$(hdr x-rate-limit-limit)"
expect "x-rate-limit-remaining on a publish" 99 "$(hdr x-rate-limit-remaining)"
RESET=$(hdr x-rate-limit-reset)
expect_match "x-rate-limit-reset is epoch seconds" '^[0-9]{10}$' "$RESET"
DELTA=$((RESET - $(date +%s)))
expect_true "x-rate-limit-reset within the 15-minute window (${DELTA}s)" test "$DELTA" -ge 0 -a "$DELTA" -le 901

req GET "$M/_sandbox/ledger?platform=x"
expect "ledger entry: platform, account, id, no idempotency key" "1 x alice $T1 null Hello X" \
    "$(j '"\(.count) \(.entries[0].platform) \(.entries[0].account) \(.entries[0].id) \(.entries[0].idempotency_key) \(.entries[0].text)"')"
expect "ledger url: x.com's shape on the sandbox host" "$M/x/alice/status/$T1" "$(j '.entries[0].url')"

# reply, and how X shows text: t.co links, HTML entities (the ledger keeps the source)
req POST "$M/x/2/tweets" -H 'Authorization: Bearer tok1' \
    -d "{\"text\":\"Q&A <live> https://example.com/a?b=1 \\ud83d\\ude80\",\"reply\":{\"in_reply_to_tweet_id\":\"$T1\"}}"
expect "reply: 201" 201 "$CODE"
T2=$(j .data.id)
expect_match "text shown with a t.co link and entities" '^Q&amp;A &lt;live&gt; https://t\.co/[A-Za-z0-9]{10} 🚀$' "$(j .data.text)"
expect "ledger keeps the source text" 'Q&A <live> https://example.com/a?b=1 🚀' \
    "$(curl -sS "$M/_sandbox/ledger?platform=x" | jq -r '.entries[-1].text')"
req POST "$M/x/2/tweets" -H 'Authorization: Bearer tok1' -d '{"text":"x","reply":{"in_reply_to_tweet_id":"42"}}'
expect "reply to a missing tweet: 403" "403 You attempted to reply to a Tweet that is deleted or not visible to you." "$CODE $(j .detail)"
req POST "$M/x/2/tweets" -H 'Authorization: Bearer tok1' -d '{"text":"with media","media":{"media_ids":["1455952740635586573"]}}'
expect "media ids never uploaded: 400 (see the media section)" "400 Your media IDs are invalid." "$CODE $(j '.errors[0].message')"
req POST "$M/x/2/tweets" -H 'Authorization: Bearer tok1' -d '{"text":"bad media","media":{"media_ids":[1,2]}}'
expect "media ids must be strings" "400 $INVALID" "$CODE $(j .type)"

# ---- errors ------------------------------------------------------------------
BEFORE=$(ledger_count "$M")
tweet "$M" nosuchtoken "hello"
expect "401: X's problem JSON" "401 $UNAUTHORIZED" "$CODE $BODY"
expect "401: problem content type" "application/problem+json" "$(hdr Content-Type)"
expect "401: no rate-limit headers (not authenticated)" "" "$(hdr x-rate-limit-limit)"
req POST "$M/x/2/tweets" -d '{"text":"no token"}'
expect "no token: 401" 401 "$CODE"

tweet "$M" tok1 "Hello X"
expect "duplicate text: 403, X's exact body" "403 $DUPLICATE" "$CODE $BODY"
expect "duplicate: rate-limit headers too" 100 "$(hdr x-rate-limit-limit)"
tweet "$M" tokb "Hello X"
expect "the same text from another user is fine" 201 "$CODE"
expect "refusals add nothing to the ledger" "$((BEFORE + 1))" "$(ledger_count "$M")"

tweet "$M" tok1 "$(rep a 281)"
expect "281 characters: 400 invalid-request" "400 $INVALID" "$CODE $(j .type)"
expect "400 has a detail and a message" "One or more parameters to your request was invalid. | Tweet text is too long: 281 weighted characters, the limit is 280" \
    "$(j '"\(.detail) | \(.errors[0].message)"')"
tweet "$M" tok1 "$(rep a 280)"
expect "280 characters: 201" 201 "$CODE"
URL="https://example.com/$(rep p 200)"   # 220 characters, weighs 23
tweet "$M" tok1 "$(rep b 256) $URL"
expect "256 + space + a 220-character URL (23) = 280: 201" 201 "$CODE"
tweet "$M" tok1 "$(rep c 257) $URL"
expect "257 + space + URL (23) = 281: 400" "400 Tweet text is too long: 281 weighted characters, the limit is 280" \
    "$CODE $(j '.errors[0].message')"
tweet "$M" tok1 "$(rep 日 140)"
expect "140 CJK characters (2 each): 201" 201 "$CODE"
tweet "$M" tok1 "$(rep 本 141)"
expect "141 CJK characters: 400" 400 "$CODE"
tweet "$M" tok1 "$(rep 🚀 140)"
expect "140 emoji (2 each): 201" 201 "$CODE"
tweet "$M" tok1 "$(rep 🎉 141)"
expect "141 emoji: 400" 400 "$CODE"
tweet "$M" tok1 "$(rep 👍🏽 140)"          # emoji + skin tone: one emoji
expect "140 emoji with skin tones (one emoji each): 201" 201 "$CODE"
tweet "$M" tok1 "$(rep 👨‍👩‍👧 140)"       # ZWJ family: one emoji
expect "140 ZWJ families (one emoji each): 201" 201 "$CODE"
tweet "$M" tok1 "$(rep 🇫🇷 140)"
expect "140 flags (one emoji each): 201" 201 "$CODE"
tweet "$M" tok1 "$(rep é 280)"
expect "280 accented Latin characters (1 each): 201" 201 "$CODE"
tweet "$M" tok1 ""
expect "empty text: 400" "400 $INVALID" "$CODE $(j .type)"
tweet "$M" tok1 "   "
expect "blank text: 400" 400 "$CODE"
req POST "$M/x/2/tweets" -H 'Authorization: Bearer tok1' -d '{"text":'
expect "malformed JSON: 400 invalid-request" "400 $INVALID" "$CODE $(j .type)"
req POST "$M/x/2/tweets" -H 'Authorization: Bearer tok1' -d '{"text":42}'
expect "text of the wrong type: 400" 400 "$CODE"
req GET "$M/x/2/nothing" -H 'Authorization: Bearer tok1'
expect "unknown route: 404 problem" "404 Not Found Error" "$CODE $(j .title)"

# ---- users/me and read-back --------------------------------------------------------
req GET "$M/x/2/users/me" -H 'Authorization: Bearer tok1'
expect "users/me" "200 $ALICE_ID alice alice" "$CODE $(j '"\(.data.id) \(.data.name) \(.data.username)"')"
expect "users/me carries rate-limit headers (75 / 15 min)" 75 "$(hdr x-rate-limit-limit)"
req GET "$M/x/2/users/me"
expect "users/me without a token: 401" 401 "$CODE"

add_account "$M" carol tokc
CAROL_ID=$(j .id)
for i in 1 2 3 4 5 6 7; do tweet "$M" tokc "carol $i"; done
sleep 1.2
SINCE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
tweet "$M" tokc "carol after & <since>"
LAST=$(j .data.id)
req GET "$M/x/2/users/$CAROL_ID/tweets?max_results=100&start_time=$SINCE&tweet.fields=created_at" -H 'Authorization: Bearer tokc'
expect "read-back with start_time: only the newer tweet" "200 1 $LAST" "$CODE $(j '"\(.meta.result_count) \(.data[0].id)"')"
expect "read-back text as X shows it" "carol after &amp; &lt;since&gt;" "$(j '.data[0].text')"
expect_match "read-back created_at" "$ISO_MS" "$(j '.data[0].created_at')"
expect "read-back item shape" '["created_at","edit_history_tweet_ids","id","text"]' "$(j '.data[0] | keys | tojson')"
expect "meta newest/oldest" "$LAST $LAST" "$(j '"\(.meta.newest_id) \(.meta.oldest_id)"')"
expect "x-rate-limit-limit of the timeline (900 / 15 min)" 900 "$(hdr x-rate-limit-limit)"
req GET "$M/x/2/users/$CAROL_ID/tweets?max_results=5&start_time=2000-01-01T00:00:00Z" -H 'Authorization: Bearer tokc'
expect "newest first, max_results, next_token" "5 carol after & <since> carol 7 true" \
    "$(j '"\(.meta.result_count) \(.data[0].text | gsub("&amp;";"&") | gsub("&lt;";"<") | gsub("&gt;";">")) \(.data[1].text) \(.meta.next_token != null)"')"
NEXT=$(j .meta.next_token)
req GET "$M/x/2/users/$CAROL_ID/tweets?max_results=5&pagination_token=$NEXT" -H 'Authorization: Bearer tokc'
expect "the next page" "3 carol 3 carol 1 null" "$(j '"\(.meta.result_count) \(.data[0].text) \(.data[2].text) \(.meta.next_token)"')"
req GET "$M/x/2/users/$CAROL_ID/tweets?max_results=5&start_time=2099-01-01T00:00:00Z" -H 'Authorization: Bearer tokc'
expect "nothing in the window: meta only" '200 {"meta":{"result_count":0}}' "$CODE $BODY"
req GET "$M/x/2/users/$CAROL_ID/tweets?max_results=3" -H 'Authorization: Bearer tokc'
expect "max_results below 5: 400" "400 $INVALID" "$CODE $(j .type)"
req GET "$M/x/2/users/$CAROL_ID/tweets?max_results=101" -H 'Authorization: Bearer tokc'
expect "max_results above 100: 400" 400 "$CODE"
req GET "$M/x/2/users/$CAROL_ID/tweets?start_time=yesterday" -H 'Authorization: Bearer tokc'
expect "bad start_time: 400" 400 "$CODE"
req GET "$M/x/2/users/$CAROL_ID/tweets?tweet.fields=created_at,bogus" -H 'Authorization: Bearer tokc'
expect "unknown tweet.fields: 400" 400 "$CODE"
req GET "$M/x/2/users/123/tweets" -H 'Authorization: Bearer tokc'
expect "unknown user: 200 with errors" "200 https://api.x.com/2/problems/resource-not-found" "$CODE $(j '.errors[0].type')"

# ---- lookups, metrics and mentions ----------------------------------------------
req POST "$M/_sandbox/mentions" -d "{\"platform\":\"x\",\"account\":\"alice\",\"from\":\"eve\",\"text\":\"nice post\",\"in_reply_to_id\":\"$T1\"}"
expect "inject a mention" 201 "$CODE"
MENTION=$(j .id)
req GET "$M/x/2/tweets?ids=$T1,$T2,999&tweet.fields=public_metrics" -H 'Authorization: Bearer tok1'
expect "lookup: found ones in data, the missing one in errors" "200 $T1,$T2 999" \
    "$CODE $(j '"\([.data[].id] | join(",")) \(.errors[0].resource_id)"')"
expect "public metrics (a reply counted)" '{"retweet_count":0,"reply_count":2,"like_count":0,"quote_count":0,"bookmark_count":0,"impression_count":0}' \
    "$(j '.data[0].public_metrics | tojson')"
req GET "$M/x/2/tweets/$T2" -H 'Authorization: Bearer tok1'
expect "single tweet" "200 $T2" "$CODE $(j .data.id)"
req GET "$M/x/2/tweets" -H 'Authorization: Bearer tok1'
expect "lookup without ids: 400" 400 "$CODE"
req GET "$M/x/2/tweets/$T1,$T2" -H 'Authorization: Bearer tok1'
expect "single-tweet path with two ids: 400" 400 "$CODE"
req GET "$M/x/2/tweets?ids=$T1,abc" -H 'Authorization: Bearer tok1'
expect "lookup with a non-numeric id: 400" 400 "$CODE"
req GET "$M/x/2/users/$ALICE_ID/mentions?max_results=10&expansions=author_id&tweet.fields=created_at,author_id" -H 'Authorization: Bearer tok1'
expect "mentions" "200 1 $MENTION @alice nice post eve" \
    "$CODE $(j '"\(.meta.result_count) \(.data[0].id) \(.data[0].text) \(.includes.users[0].username)"')"
expect "mention author_id" "$(j '.includes.users[0].id')" "$(j '.data[0].author_id')"
expect "x-rate-limit-limit of mentions (300 / 15 min)" 300 "$(hdr x-rate-limit-limit)"
req GET "$M/x/2/users/$ALICE_ID/mentions?since_id=$MENTION" -H 'Authorization: Bearer tok1'
expect "mentions since_id: none" '{"meta":{"result_count":0}}' "$BODY"

# ---- fault injection on /x --------------------------------------------------------
add_account "$M" dave tokd
req POST "$M/_sandbox/faults" -d '{"platform":"x","account":"dave","path":"/2/tweets","method":"POST","status":503,"count":1}'
expect "add an X fault rule" 201 "$CODE"
BEFORE=$(ledger_count "$M")
tweet "$M" tokd "first try"
expect "injected 503 in X's problem shape" "503 Service Unavailable about:blank" "$CODE $(j '"\(.title) \(.type)"')"
expect "injected error records nothing" "$BEFORE" "$(ledger_count "$M")"
tweet "$M" tokd "first try"
expect "count=1: then success" 201 "$CODE"

req POST "$M/_sandbox/faults" -d '{"platform":"x","account":"dave","mode":"timeout_after_accept","count":1}'
BEFORE=$(ledger_count "$M")
tweet "$M" tokd "accepted, never answered" --max-time 1
expect "timeout_after_accept: the client times out" "curl-exit-28" "$CODE"
req GET "$M/_sandbox/ledger?platform=x&since=$BEFORE"
expect "timeout_after_accept: the tweet is in the ledger" "1 accepted, never answered" "$(j '"\(.count) \(.entries[0].text)"')"

req POST "$M/_sandbox/faults" -d '{"platform":"x","account":"dave","mode":"drop","count":1}'
BEFORE=$(ledger_count "$M")
tweet "$M" tokd "dropped"
expect "drop: closed without an answer" "curl-exit-52" "$CODE"
expect "drop: nothing recorded" "$BEFORE" "$(ledger_count "$M")"

req POST "$M/_sandbox/faults" -d '{"platform":"x","account":"dave","path":"/2/users/","status":403,"count":2}'
req GET "$M/x/2/users/me" -H 'Authorization: Bearer tokd'
expect "403 on /2/users/: client-forbidden" "403 Client Forbidden https://api.x.com/2/problems/client-forbidden" \
    "$CODE $(j '"\(.title) \(.type)"')"
expect "403 problem content type" "application/problem+json" "$(hdr Content-Type)"
req GET "$M/x/2/users/123/tweets" -H 'Authorization: Bearer tokd'
expect "403 on the timeline too" 403 "$CODE"
tweet "$M" tokd "publishing is not under /2/users/"
expect "the rule leaves POST /2/tweets alone" 201 "$CODE"

req POST "$M/_sandbox/faults" -d '{"platform":"x","account":"dave","path":"/2/tweets","status":429,"count":1}'
tweet "$M" tokd "rate limited"
expect "injected 429: X's body" "429 $TOO_MANY" "$CODE $BODY"
expect "injected 429: remaining 0 and an epoch reset" "0 yes" \
    "$(hdr x-rate-limit-remaining) $([[ $(hdr x-rate-limit-reset) =~ ^[0-9]{10}$ ]] && echo yes)"

req POST "$M/_sandbox/faults" -d '{"platform":"x","latency_ms":300,"count":1,"path":"/2/users/me"}'
T0=$(date +%s%3N)
req GET "$M/x/2/users/me" -H 'Authorization: Bearer tok1'
T1=$(date +%s%3N)
expect_true "latency fault on /x ($((T1 - T0)) ms >= 300)" test "$CODE" = 200 -a $((T1 - T0)) -ge 300
req POST "$M/_sandbox/faults" -d '{"platform":"mastodon","status":500}'
tweet "$M" tok1 "mastodon rules leave X alone"
expect "a mastodon fault rule does not fire on /x" 201 "$CODE"
req DELETE "$M/_sandbox/faults"

# ---- rate limits (separate instance) ------------------------------------------
start limits --x-tweet-limit 3 --x-tweet-window-s 60
L=$URL_limits
add_account "$L" rita tokr
for i in 1 2 3; do
    tweet "$L" tokr "post $i"
    expect "tweet $i of 3: 201, limit 3, remaining $((3 - i))" "201 3 $((3 - i))" \
        "$CODE $(hdr x-rate-limit-limit) $(hdr x-rate-limit-remaining)"
done
tweet "$L" tokr "post 4"
expect "4th tweet: 429, X's body" "429 $TOO_MANY" "$CODE $BODY"
expect "429 headers: limit 3, remaining 0" "3 0" "$(hdr x-rate-limit-limit) $(hdr x-rate-limit-remaining)"
RESET=$(hdr x-rate-limit-reset)
DELTA=$((RESET - $(date +%s)))
expect_true "429 x-rate-limit-reset: epoch seconds within the 60 s window (${DELTA}s)" test "$DELTA" -ge 0 -a "$DELTA" -le 61
expect "429 adds no ledger entry" 3 "$(ledger_count "$L")"
req GET "$L/x/2/users/me" -H 'Authorization: Bearer tokr'
expect "reads have their own window" "200 75" "$CODE $(hdr x-rate-limit-limit)"

# ---- media upload -----------------------------------------------------------------
start media --x-media-limit 6 --x-media-window-s 60 --x-media-ttl-s 5 --x-media-max-bytes 2000
MD=$URL_media
add_account "$MD" mia tokm
add_account "$MD" max tokx
curl -fsS "$MD/_sandbox/media/pic.jpg?bytes=600" -o "$TMP/pic.jpg"
curl -fsS "$MD/_sandbox/media/pic.png" -o "$TMP/pic.png"
printf 'GIF89a' > "$TMP/big.gif"; head -c 2100 /dev/zero >> "$TMP/big.gif"
printf 'plain text, not an image' > "$TMP/not.jpg"
upload() { # TOKEN [curl -F args...]
    local token=$1; shift
    req POST "$MD/x/2/media/upload" -H "Authorization: Bearer $token" "$@"
}
INVALID_TYPE=https://api.x.com/2/problems/invalid-request
upload tokm -F "media=@$TMP/pic.jpg" -F media_category=tweet_image
expect "upload: 200 {data:{id,media_key,size,expires_after_secs}}" "200 3_$(j .data.id) 600 5 image/jpeg" \
    "$CODE $(j .data.media_key) $(j .data.size) $(j .data.expires_after_secs) $(j .data.image.image_type)"
expect_match "upload: a numeric id" '^[0-9]+$' "$(j .data.id)"
expect "upload: x-rate-limit headers of the media window" "6 5" "$(hdr x-rate-limit-limit) $(hdr x-rate-limit-remaining)"
M1=$(j .data.id)
upload tokm -F media_category=tweet_image
expect "upload without media: 400 invalid-request problem" "400 $INVALID_TYPE The \`media\` field is required: the image's bytes" \
    "$CODE $(j .type) $(j '.errors[0].message')"
expect "upload errors are problem JSON" "application/problem+json" "$(hdr content-type)"
upload tokm -F "media=@$TMP/not.jpg"
expect "upload of bytes that are no image: 400 invalid-request" "400 $INVALID_TYPE media" \
    "$CODE $(j .type) $(j '.errors[0].parameters | keys[0]')"
upload tokm -F "media=@$TMP/big.gif"
expect "upload over the size limit: 400 with the limit" "400 The media is too large: 2106 bytes, the limit is 2000 bytes" \
    "$CODE $(j '.errors[0].message')"
upload tokx -F "media=@$TMP/pic.png" -F media_category=subtitles
expect "unknown media_category: 400" "400 media_category" "$CODE $(j '.errors[0].parameters | keys[0]')"
upload tokx -F "media=@$TMP/pic.png"
expect "a PNG without media_category: 200" "200 image/png" "$CODE $(j .data.image.image_type)"
M2=$(j .data.id)
upload nobody -F "media=@$TMP/pic.png"
expect "upload with an unknown token: 401" "401 $UNAUTHORIZED" "$CODE $BODY"
upload tokm -F "media=@$TMP/pic.jpg"
upload tokm -F "media=@$TMP/pic.jpg"
M3=$(j .data.id)
upload tokm -F "media=@$TMP/pic.jpg"
expect "uploads over the per-user limit (refused ones count): 429 with headers" "429 $TOO_MANY 6 0" \
    "$CODE $BODY $(hdr x-rate-limit-limit) $(hdr x-rate-limit-remaining)"
upload tokx -F "media=@$TMP/pic.png"
expect "the upload limit is per user" 200 "$CODE"
media_tweet() { # TOKEN TEXT IDS_JSON
    req POST "$MD/x/2/tweets" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
        -d "$(jq -cn --arg t "$2" --argjson ids "$3" '{text:$t, media:{media_ids:$ids}}')"
}
media_tweet tokm "with a picture" "[\"$M1\",\"$M3\"]"
expect "tweet with two media ids: 201" 201 "$CODE"
expect_match "X shows a media tweet with its media link" '^with a picture https://t\.co/[A-Za-z0-9]{10}$' "$(j .data.text)"
T_MEDIA=$(j .data.id)
req GET "$MD/_sandbox/ledger?platform=x"
expect "the ledger entry lists the media ids" "[\"$M1\",\"$M3\"]" \
    "$(jq -c --arg id "$T_MEDIA" '.entries[] | select(.id == $id) | .media' <<<"$BODY")"
media_tweet tokm "only text" "[]"
expect "empty media_ids: 400" "400 $INVALID_TYPE" "$CODE $(j .type)"
media_tweet tokm "unknown media" '["123456"]'
expect "unknown media id: 400 Your media IDs are invalid." "400 $INVALID_TYPE Your media IDs are invalid. 123456" \
    "$CODE $(j .type) $(j '.errors[0].message') $(j '.errors[0].parameters["media.media_ids"][0]')"
media_tweet tokm "someone else's media" "[\"$M2\"]"
expect "another user's media id: 400 Your media IDs are invalid." "400 Your media IDs are invalid." \
    "$CODE $(j '.errors[0].message')"
media_tweet tokm "five pictures" "[\"$M1\",\"$M1\",\"$M1\",\"$M1\",\"$M1\"]"
expect "five media ids: 400" "400 $INVALID_TYPE" "$CODE $(j .type)"
media_tweet tokm "" "[\"$M1\"]"
expect "media without text: 201" 201 "$CODE"
sleep 5.1
media_tweet tokm "too late" "[\"$M3\"]"
expect "expired media id (expires_after_secs): 400 Your media IDs are invalid." "400 Your media IDs are invalid." \
    "$CODE $(j '.errors[0].message')"
expect "refused media tweets add no ledger entry" 2 "$(ledger_count "$MD")"

# ---- --open ---------------------------------------------------------------------
start open --open
O=$URL_open
req GET "$O/x/2/users/me" -H 'Authorization: Bearer Abc-123_xyz!9'
expect "--open: any token is an X account named after it" "200 userabc123xyz983349f6c" "$CODE $(j .data.username)"
tweet "$O" "Abc-123_xyz!9" "open post"
expect "--open: publish" 201 "$CODE"
req POST "$O/_sandbox/tokens/revoke" -d '{"token":"Abc-123_xyz!9"}'
tweet "$O" "Abc-123_xyz!9" "after revoke"
expect "--open: a revoked token stays refused" 401 "$CODE"

for name in main limits media open; do
    pidvar="PID_$name"
    rc=0
    kill -TERM "${!pidvar}"
    wait "${!pidvar}" || rc=$?
    expect "$name: SIGTERM exits 0" 0 "$rc"
    [[ $rc -eq 0 ]] || sed 's/^/    | /' "$TMP/$name.err" | tail -n 40
done

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
