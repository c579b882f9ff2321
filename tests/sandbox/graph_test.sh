#!/usr/bin/env bash
# The Graph APIs of crieur-sandbox (/facebook, /instagram, /threads): publishing
# and read-back, photos by URL and by upload, comments and replies, containers
# and their states (Threads IMAGE processing), Graph error objects keyed by
# code, usage headers and throttling, publishing quotas, token expiry, fault
# injection and --open, with curl and jq.
# usage: graph_test.sh PATH/TO/crieur-sandbox
# Prints "N passed, M failed"; exits 1 on failure.
set -euo pipefail

BIN=${1:?usage: graph_test.sh PATH/TO/crieur-sandbox}
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

start() { # NAME [options...]: sets URL_NAME
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
gerr() { j '"\(.error.code)/\(.error.error_subcode // "-") \(.error.type) \(.error.is_transient)"'; }
add_account() { # URL PLATFORM HANDLE TOKEN
    req POST "$1/_sandbox/accounts" -H 'Content-Type: application/json' \
        -d "{\"platform\":\"$2\",\"handle\":\"$3\",\"token\":\"$4\"}"
}
fault() { # URL RULE
    curl -fsS -X POST "$1/_sandbox/faults" -H 'Content-Type: application/json' -d "$2" >/dev/null
}
ledger() { curl -sS "$1/_sandbox/ledger?platform=$2"; }
rep() { local s="" i; for ((i = 0; i < $2; i++)); do s+=$1; done; printf '%s' "$s"; }
TIME_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\+0000$'

start main --instagram-container-delay-ms 400 --graph-regain-minutes 2 --seed 5
M=$URL_main

# ---- Facebook ---------------------------------------------------------------
add_account "$M" facebook 1001 fbtok
expect "control API accepts facebook" "201 facebook 1001 $M/facebook" \
    "$CODE $(j '"\(.platform) \(.handle) \(.api_base)"')"
add_account "$M" facebook 1002 fbtok2

FB=$M/facebook
req POST "$FB/v21.0/1001/feed" -H 'Authorization: Bearer fbtok' \
    --data-urlencode 'message=Spring sale: 20% off & more' --data-urlencode 'link=https://shop.example/s'
expect_match "feed: 200 {id: page_post} (version segment ignored)" '^200 1001_[0-9]+$' "$CODE $(j .id)"
P1=$(j .id)
expect_match "every answer carries X-App-Usage" '^\{"call_count":[0-9]+,"total_cputime":[0-9]+,"total_time":[0-9]+\}$' \
    "$(hdr X-App-Usage)"
expect "X-Business-Use-Case-Usage names the page, type pages" "pages 0" \
    "$(hdr X-Business-Use-Case-Usage | jq -r '."1001"[0] | "\(.type) \(.estimated_time_to_regain_access)"')"
req POST "$FB/1001/feed" -d 'access_token=fbtok' --data-urlencode 'message=Token as a form field'
expect "access_token as a form field" 200 "$CODE"
req POST "$FB/me/feed?access_token=fbtok&message=Token%20in%20the%20query"
expect "access_token in the query, node me" 200 "$CODE"
P3=$(j .id)
req POST "$FB/1001/feed" -H 'Authorization: Bearer fbtok' -H 'Content-Type: application/json' \
    -d '{"message":"JSON body works too"}'
expect "JSON body" 200 "$CODE"

req GET "$FB/1001/posts?fields=id,message,created_time&limit=2" -H 'Authorization: Bearer fbtok'
expect "posts: newest first, limit" "2 JSON body works too|Token in the query" \
    "$(j '"\(.data | length) \(.data | map(.message) | join("|"))"')"
expect_match "created_time in Graph's format" "$TIME_RE" "$(j '.data[0].created_time')"
NEXT=$(j '.paging.next')
expect_match "paging: cursors and next (without the token)" '^http://127\.0\.0\.1:[0-9]+/facebook/1001/posts\?limit=2&fields=id%2Cmessage%2Ccreated_time&after=[0-9a-f]+$' "$NEXT"
req GET "$NEXT" -H 'Authorization: Bearer fbtok'
expect "next page: the two older posts, no next" "Token as a form field|Spring sale: 20% off & more null" \
    "$(j '"\(.data | map(.message) | join("|")) \(.paging.next)"')"
req GET "$FB/1001/feed?since=$(($(date +%s) + 3600))" -H 'Authorization: Bearer fbtok'
expect "feed since the future: empty data" "200 []" "$CODE $(jq -c .data <<<"$BODY")"
req GET "$FB/1001/posts?since=2001-01-01T00:00:00%2B0000&fields=id" -H 'Authorization: Bearer fbtok'
expect "since as a time, fields=id" "4 null" "$(j '"\(.data | length) \(.data[0].message)"')"

# duplicate, validation
req POST "$FB/1001/feed" -H 'Authorization: Bearer fbtok' --data-urlencode 'message=Spring sale: 20% off & more'
expect "same message on the same page: 400 code 506" "400 506/1455006 OAuthException false" "$CODE $(gerr)"
expect "duplicate: Graph's words" "Duplicate status message" "$(j .error.message)"
expect_match "errors carry an fbtrace_id" '^A[0-9A-Za-z]{10}$' "$(j .error.fbtrace_id)"
req POST "$FB/1002/feed" -H 'Authorization: Bearer fbtok2' --data-urlencode 'message=Spring sale: 20% off & more'
expect "the same message on another page is fine" 200 "$CODE"
req POST "$FB/1001/feed" -H 'Authorization: Bearer fbtok' -d 'message=Look&link=not%20a%20url'
expect "bad link: 400 code 100 with Graph's message" "400 100/- (#100) link URL is not properly formatted" \
    "$CODE $(j '"\(.error.code)/\(.error.error_subcode // "-") \(.error.message)"')"
req POST "$FB/1001/feed" -H 'Authorization: Bearer fbtok' -d 'message=%20%20'
expect "neither message nor link: code 100" "400 100" "$CODE $(j .error.code)"
req POST "$FB/1001/feed" -H 'Authorization: Bearer fbtok' --data-urlencode "message=$(rep a 63207)"
expect "message over 63206 characters: code 100" "400 100" "$CODE $(j .error.code)"
req POST "$FB/1002/feed" -H 'Authorization: Bearer fbtok' -d 'message=not my page'
expect "another account's page: 403 code 200" "403 200" "$CODE $(j .error.code)"
req GET "$FB/999999/posts" -H 'Authorization: Bearer fbtok'
expect "unknown node: 400 code 100 subcode 33" "400 100/33 GraphMethodException false" "$CODE $(gerr)"
req GET "$FB/1001/nope" -H 'Authorization: Bearer fbtok'
expect_match "unknown edge: code 100 nonexisting field" '^400 \(#100\) Tried accessing nonexisting field \(nope\)' \
    "$CODE $(j .error.message)"

# photos, comments, metrics
req POST "$FB/1001/photos" -H 'Authorization: Bearer fbtok' --data-urlencode 'url=https://img.example/p.jpg' \
    --data-urlencode 'caption=A photo'
expect_match "photos: {id, post_id}" '^200 [0-9]+ 1001_[0-9]+$' "$CODE $(j '"\(.id) \(.post_id)"')"
req POST "$FB/$P1/comments" -H 'Authorization: Bearer fbtok2' -d 'message=First!'
expect_match "comment on a post" '^200 [0-9]+_[0-9]+$' "$CODE $(j .id)"
C1=$(j .id)
req POST "$FB/$C1/comments" -H 'Authorization: Bearer fbtok' -d 'message=Thanks'
expect "reply to the comment" 200 "$CODE"
req POST "$FB/$P1/comments" -H 'Authorization: Bearer fbtok' -d 'message=Second'
req GET "$FB/$P1/comments?summary=true&order=reverse_chronological&fields=id,message,from,created_time" \
    -H 'Authorization: Bearer fbtok'
expect "comments: top level, newest first, summary" "Second|First! 2 reverse_chronological 1001" \
    "$(j '"\(.data | map(.message) | join("|")) \(.summary.total_count) \(.summary.order) \(.data[0].from.id)"')"
req GET "$FB/$P1/comments?filter=stream&summary=true&fields=message,parent" -H 'Authorization: Bearer fbtok'
expect "comments: filter=stream has the replies, with parent" "First!|Thanks|Second 3 $C1" \
    "$(j '"\(.data | map(.message) | join("|")) \(.summary.total_count) \(.data[1].parent.id)"')"
req GET "$FB/$P1?fields=shares,reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)" \
    -H 'Authorization: Bearer fbtok'
expect "metrics fields" "200 0 0 2" \
    "$CODE $(j '"\(.shares.count) \(.reactions.summary.total_count) \(.comments.summary.total_count)"')"
req GET "$FB/$P3?fields=id,message,permalink_url" -H 'Authorization: Bearer fbtok'
expect "a post by id" "200 Token in the query $M/facebook/$P3" "$CODE $(j '"\(.message) \(.permalink_url)"')"
req GET "$FB/$P3?fields=id,bogus" -H 'Authorization: Bearer fbtok'
expect "unknown field: code 100" "400 100" "$CODE $(j .error.code)"

# tokens
req POST "$FB/1001/feed" -d 'message=no token'
expect "no token: 400 code 104" "400 104/- OAuthException false" "$CODE $(gerr)"
expect "X-App-Usage even without a token" '{"call_count":0,"total_cputime":0,"total_time":0}' "$(hdr X-App-Usage)"
req POST "$FB/1001/feed" -H 'Authorization: Bearer nope' -d 'message=bad token'
expect "unknown token: 400 code 190" "400 190/- OAuthException false" "$CODE $(gerr)"
curl -fsS -X POST "$M/_sandbox/tokens/revoke" -d '{"token":"fbtok2"}' >/dev/null
req POST "$FB/1002/feed" -H 'Authorization: Bearer fbtok2' -d 'message=after expiry'
expect "a revoked token is expired: 400 code 190 subcode 463" "400 190/463 OAuthException false" "$CODE $(gerr)"
expect_match "with Graph's words" '^Error validating access token: Session has expired' "$(j .error.message)"

# ledger
LEDGER=$(ledger "$M" facebook)
expect "ledger: posts, photo and comments, nothing refused" "9" "$(jq -r .count <<<"$LEDGER")"
expect "ledger entry: id, url, text" "$P1 $M/facebook/$P1 Spring sale: 20% off & more" \
    "$(jq -r '.entries[0] | "\(.id) \(.url) \(.text)"' <<<"$LEDGER")"

# ---- Instagram --------------------------------------------------------------
add_account "$M" instagram 2001 igtok
IG=$M/instagram
AUTH=(-H 'Authorization: Bearer igtok')
req POST "$IG/v21.0/2001/media" "${AUTH[@]}" --data-urlencode 'image_url=https://img.example/a.jpg' \
    --data-urlencode 'caption=New in store #spring'
expect_match "media: a container id" '^200 [0-9]+$' "$CODE $(j .id)"
CT=$(j .id)
req GET "$IG/$CT?fields=status_code,status" "${AUTH[@]}"
expect "container: IN_PROGRESS at first" "IN_PROGRESS" "$(j .status_code)"
req POST "$IG/2001/media_publish" "${AUTH[@]}" -d "creation_id=$CT"
expect "publishing an unfinished container: 9007/2207027" "400 9007/2207027 OAuthException false" "$CODE $(gerr)"
expect "ledger: nothing yet" 0 "$(ledger "$M" instagram | jq -r .count)"
sleep 0.5
req GET "$IG/$CT?fields=status_code" "${AUTH[@]}"
expect "container: FINISHED after the delay" "FINISHED" "$(j .status_code)"
req POST "$IG/2001/media_publish" "${AUTH[@]}" -d "creation_id=$CT"
expect_match "media_publish: the media id" '^200 [0-9]+$' "$CODE $(j .id)"
MID=$(j .id)
req GET "$IG/$CT?fields=status_code" "${AUTH[@]}"
expect "container: PUBLISHED" "PUBLISHED" "$(j .status_code)"
req POST "$IG/2001/media_publish" "${AUTH[@]}" -d "creation_id=$CT"
expect "a container publishes once" "400 100" "$CODE $(j .error.code)"
req GET "$IG/2001/media?fields=id,caption,timestamp,permalink,media_type" "${AUTH[@]}"
expect "media: read back with caption" "$MID New in store #spring IMAGE" \
    "$(j '.data[0] | "\(.id) \(.caption) \(.media_type)"')"
expect_match "timestamp and permalink" "^[0-9T:+-]+ $M/instagram/p/[0-9A-Za-z]{11}/\$" \
    "$(j '.data[0] | "\(.timestamp) \(.permalink)"')"
PERMA=$(j '.data[0].permalink')
req GET "$IG/$MID?fields=permalink" "${AUTH[@]}"
expect "a media by id: permalink" "$PERMA" "$(j .permalink)"
expect "ledger: the media with its permalink" "$MID $PERMA New in store #spring" \
    "$(ledger "$M" instagram | jq -r '.entries[0] | "\(.id) \(.url) \(.text)"')"
expect "X-Business-Use-Case-Usage type instagram" instagram \
    "$(hdr X-Business-Use-Case-Usage | jq -r '."2001"[0].type')"
req GET "$IG/2001/content_publishing_limit?fields=quota_usage,config" "${AUTH[@]}"
expect "content_publishing_limit" "1 50 86400" \
    "$(j '.data[0] | "\(.quota_usage) \(.config.quota_total) \(.config.quota_duration)"')"

req POST "$IG/2001/media" "${AUTH[@]}" --data-urlencode 'image_url=https://img.example/a.png' -d 'caption=png'
CP=$(j .id)
sleep 0.5
req GET "$IG/$CP?fields=status_code,status" "${AUTH[@]}"
expect_match "not a JPEG: ERROR with the reason" '^ERROR Error: Only JPEG images are supported' \
    "$(j '"\(.status_code) \(.status)"')"
req POST "$IG/2001/media_publish" "${AUTH[@]}" -d "creation_id=$CP"
expect "publishing an ERROR container: 100/2207032" "400 100/2207032" "$CODE $(j '"\(.error.code)/\(.error.error_subcode)"')"
req POST "$IG/2001/media" "${AUTH[@]}" -d 'image_url=ftp%3A%2F%2Fx' -d 'caption=x'
expect "image_url not http(s): 9004/2207052" "400 9004/2207052" "$CODE $(j '"\(.error.code)/\(.error.error_subcode)"')"
req POST "$IG/2001/media" "${AUTH[@]}" -d 'caption=no image'
expect "no image_url: code 100" "400 100" "$CODE $(j .error.code)"
req POST "$IG/2001/media" "${AUTH[@]}" --data-urlencode 'image_url=https://img.example/a.jpg' \
    --data-urlencode "caption=$(rep é 2201)"
expect "caption of 2201 characters: code 100" "400 100 (#100) Param caption must be at most 2200 characters long." \
    "$CODE $(j '"\(.error.code) \(.error.message)"')"
req POST "$IG/2001/media" "${AUTH[@]}" --data-urlencode 'image_url=https://img.example/a.jpg' \
    --data-urlencode "caption=$(rep é 2200)"
expect "caption of 2200 characters (not bytes): accepted" 200 "$CODE"
req GET "$IG/$CT?fields=status_code" -H 'Authorization: Bearer fbtok'
expect "instagram tokens are per platform: a facebook token is unknown here" "400 190" "$CODE $(j .error.code)"

# ---- Threads ----------------------------------------------------------------
add_account "$M" threads 3001 thtok
TH=$M/threads
TAUTH=(-H 'Authorization: Bearer thtok')
req POST "$TH/v1.0/3001/threads" "${TAUTH[@]}" -d 'media_type=TEXT' --data-urlencode 'text=Hello Threads'
expect_match "threads: a container" '^200 [0-9]+$' "$CODE $(j .id)"
TC=$(j .id)
req GET "$TH/$TC?fields=status,error_message" "${TAUTH[@]}"
expect "a text container is FINISHED at once" FINISHED "$(j .status)"
req POST "$TH/3001/threads_publish" "${TAUTH[@]}" -d "creation_id=$TC"
expect_match "threads_publish: {id}" '^200 [0-9]+$' "$CODE $(j .id)"
TID=$(j .id)
req GET "$TH/3001/threads?fields=id,text,timestamp,permalink&since=$(($(date +%s) - 60))" "${TAUTH[@]}"
expect "threads: read back" "$TID Hello Threads" "$(j '.data[0] | "\(.id) \(.text)"')"
expect_match "threads permalink" "^$M/threads/@3001/post/[0-9A-Za-z]{11}\$" "$(j '.data[0].permalink')"
req POST "$TH/3001/threads" "${TAUTH[@]}" -d 'media_type=TEXT' --data-urlencode "text=$(rep x 501)"
expect "501 characters: code 100 with the limit" "400 100 (#100) Param text must be at most 500 characters long." \
    "$CODE $(j '"\(.error.code) \(.error.message)"')"
req POST "$TH/3001/threads" "${TAUTH[@]}" --data-urlencode 'text=no type'
expect "no media_type: code 100" "400 100" "$CODE $(j .error.code)"
req GET "$TH/3001/threads_publishing_limit?fields=quota_usage,config" "${TAUTH[@]}"
expect "threads_publishing_limit" "1 250" "$(j '.data[0] | "\(.quota_usage) \(.config.quota_total)"')"
expect "ledger: threads" "1 $TID Hello Threads" \
    "$(ledger "$M" threads | jq -r '"\(.count) \(.entries[0].id) \(.entries[0].text)"')"

# ---- images and replies (a sandbox of their own) ---------------------------
start media --instagram-container-delay-ms 0 --threads-container-delay-ms 300
D=$URL_media
add_account "$D" facebook 1001 fbm
add_account "$D" instagram 2001 igm
add_account "$D" threads 3001 thm
add_account "$D" threads 3002 thm2
# Facebook: a photo by URL, one uploaded (multipart "source", checked by its bytes)
req POST "$D/facebook/1001/photos" -H 'Authorization: Bearer fbm' \
    --data-urlencode "url=$D/_sandbox/media/p.jpg" --data-urlencode 'caption=By URL'
expect_match "photo by url: {id, post_id}" '^200 [0-9]+ 1001_[0-9]+$' "$CODE $(j '"\(.id) \(.post_id)"')"
FP1=$(j .post_id)
curl -fsS -o "$TMP/up.png" "$D/_sandbox/media/up.png?bytes=2000"
req POST "$D/facebook/1001/photos" -H 'Authorization: Bearer fbm' -F "source=@$TMP/up.png;type=image/png" \
    -F 'caption=Uploaded'
expect_match "photo by multipart source: {id, post_id}" '^200 [0-9]+ 1001_[0-9]+$' "$CODE $(j '"\(.id) \(.post_id)"')"
PHOTO2=$(j .id)
FP2=$(j .post_id)
printf 'not an image at all' >"$TMP/bad.jpg"
req POST "$D/facebook/1001/photos" -H 'Authorization: Bearer fbm' -F "source=@$TMP/bad.jpg;type=image/jpeg"
expect "source that is no image: code 324" "400 324 (#324) Missing or invalid image file" \
    "$CODE $(j '"\(.error.code) \(.error.message)"')"
req POST "$D/facebook/1001/photos" -H 'Authorization: Bearer fbm' -d 'caption=nothing'
expect "neither url nor source: code 324" "400 324" "$CODE $(j .error.code)"
req GET "$D/facebook/1001/posts?fields=id,message" -H 'Authorization: Bearer fbm'
expect "photo posts are in the page's posts with their caption" "$FP2 Uploaded|$FP1 By URL" \
    "$(j '.data | map("\(.id) \(.message)") | join("|")')"
req POST "$D/facebook/$FP1/comments" -H 'Authorization: Bearer fbm' -d 'message=A reply'
expect_match "comment on a photo post" '^200 [0-9]+_[0-9]+$' "$CODE $(j .id)"
req POST "$D/facebook/1001_999999/comments" -H 'Authorization: Bearer fbm' -d 'message=nowhere'
expect "comment on an unknown post: 100/33" "400 100/33" "$CODE $(j '"\(.error.code)/\(.error.error_subcode)"')"
expect "ledger: photos carry their media (URL, uploaded photo id); comments none" \
    "$D/_sandbox/media/p.jpg|$PHOTO2|" \
    "$(ledger "$D" facebook | jq -r '.entries | map(.media | join(",")) | join("|")')"

# Instagram: comments on a media
req POST "$D/instagram/2001/media" -H 'Authorization: Bearer igm' \
    --data-urlencode "image_url=$D/_sandbox/media/i.jpg" -d 'caption=Pic'
req POST "$D/instagram/2001/media_publish" -H 'Authorization: Bearer igm' -d "creation_id=$(j .id)"
IGM=$(j .id)
req POST "$D/instagram/$IGM/comments" -H 'Authorization: Bearer igm' -d 'message=First comment'
expect_match "instagram comment: {id}" '^200 [0-9]+$' "$CODE $(j .id)"
IGC1=$(j .id)
req POST "$D/instagram/$IGM/comments" -H 'Authorization: Bearer igm' -d 'message=Second comment'
IGC2=$(j .id)
req GET "$D/instagram/$IGM/comments?fields=id,text,timestamp" -H 'Authorization: Bearer igm'
expect "instagram comments: newest first, with text" "$IGC2 Second comment|$IGC1 First comment" \
    "$(j '.data | map("\(.id) \(.text)") | join("|")')"
expect_match "... and a timestamp" "$TIME_RE" "$(j '.data[0].timestamp')"
req GET "$D/instagram/$IGM?fields=comments_count" -H 'Authorization: Bearer igm'
expect "comments_count" 2 "$(j .comments_count)"
req POST "$D/instagram/999999/comments" -H 'Authorization: Bearer igm' -d 'message=nowhere'
expect "comment on an unknown media: 100/33" "400 100/33" "$CODE $(j '"\(.error.code)/\(.error.error_subcode)"')"
req POST "$D/instagram/$IGM/comments" -H 'Authorization: Bearer igm' -d 'message='
expect "comment without message: code 100" "400 100" "$CODE $(j .error.code)"
expect "ledger: the media with its image, then the comments" "Pic $D/_sandbox/media/i.jpg|First comment |Second comment " \
    "$(ledger "$D" instagram | jq -r '.entries | map("\(.text) \(.media | join(","))") | join("|")')"

# Threads: an IMAGE container is processed first
req POST "$D/threads/3001/threads" -H 'Authorization: Bearer thm' -d 'media_type=IMAGE' \
    --data-urlencode "image_url=$D/_sandbox/media/t.jpg" -d 'text=With an image'
TIC=$(j .id)
req GET "$D/threads/$TIC?fields=status,error_message" -H 'Authorization: Bearer thm'
expect "an IMAGE container is IN_PROGRESS first" IN_PROGRESS "$(j .status)"
req POST "$D/threads/3001/threads_publish" -H 'Authorization: Bearer thm' -d "creation_id=$TIC"
expect "publishing it then: 9007/2207027, nothing published" "400 9007/2207027" \
    "$CODE $(j '"\(.error.code)/\(.error.error_subcode)"')"
sleep 0.35
req GET "$D/threads/$TIC?fields=status" -H 'Authorization: Bearer thm'
expect "FINISHED after --threads-container-delay-ms" FINISHED "$(j .status)"
req POST "$D/threads/3001/threads_publish" -H 'Authorization: Bearer thm' -d "creation_id=$TIC"
expect_match "then published" '^200 [0-9]+$' "$CODE $(j .id)"
TIP=$(j .id)
req POST "$D/threads/3001/threads" -H 'Authorization: Bearer thm' -d 'media_type=IMAGE' \
    --data-urlencode "image_url=$D/_sandbox/media/t.png" -d 'text=png'
TPC=$(j .id)
sleep 0.35
req GET "$D/threads/$TPC?fields=status,error_message" -H 'Authorization: Bearer thm'
expect "a non-JPEG image: ERROR with error_message" "ERROR $(printf 'Only JPEG images are supported: the image at image_url is not a JPEG')" \
    "$(j '"\(.status) \(.error_message)"')"
# Threads replies: reply_to_id, checked
req POST "$D/threads/3002/threads" -H 'Authorization: Bearer thm2' -d 'media_type=TEXT' \
    -d 'text=A reply' -d "reply_to_id=$TIP"
req POST "$D/threads/3002/threads_publish" -H 'Authorization: Bearer thm2' -d "creation_id=$(j .id)"
expect_match "a reply from another account" '^200 [0-9]+$' "$CODE $(j .id)"
TR1=$(j .id)
req POST "$D/threads/3001/threads" -H 'Authorization: Bearer thm' -d 'media_type=TEXT' \
    -d 'text=unknown' -d 'reply_to_id=424242'
expect "reply_to_id unknown: code 100" "400 100 (#100) Param reply_to_id must be the id of a Threads post" \
    "$CODE $(j '"\(.error.code) \(.error.message)"')"
req POST "$D/threads/3001/threads" -H 'Authorization: Bearer thm' -d 'media_type=TEXT' \
    -d 'text=to a container' -d "reply_to_id=$TPC"
expect "reply_to_id naming a container: code 100" "400 100" "$CODE $(j .error.code)"
req GET "$D/threads/$TIP/replies?fields=id,text,timestamp,permalink" -H 'Authorization: Bearer thm'
expect "replies of a thread" "$TR1 A reply" "$(j '.data | map("\(.id) \(.text)") | join("|")')"
req GET "$D/threads/3002/threads?fields=id,text" -H 'Authorization: Bearer thm2'
expect "a reply is not in its author's threads" 0 "$(j '.data | length')"
expect "ledger: the image post with its URL, the reply" "With an image $D/_sandbox/media/t.jpg|A reply " \
    "$(ledger "$D" threads | jq -r '.entries | map("\(.text) \(.media | join(","))") | join("|")')"

# ---- fault injection --------------------------------------------------------
fault "$M" '{"platform":"facebook","account":"1001","path":"/feed","method":"POST","status":429,"count":1}'
req POST "$FB/1001/feed" -d 'access_token=fbtok&message=throttled'
expect "injected 429: Graph's throttle, HTTP 400 code 4 (account found from a form token)" \
    "400 4/- OAuthException true" "$CODE $(gerr)"
expect "with the usage at 100 % and --graph-regain-minutes" "pages 100 2" \
    "$(hdr X-Business-Use-Case-Usage | jq -r '."1001"[0] | "\(.type) \(.call_count) \(.estimated_time_to_regain_access)"')"
expect "X-App-Usage at 100 %" 100 "$(hdr X-App-Usage | jq -r .call_count)"
req POST "$FB/1001/feed" -d 'access_token=fbtok&message=throttled'
expect "the rule fired once" 200 "$CODE"
fault "$M" '{"platform":"instagram","path":"/media","status":401,"count":1}'
req POST "$IG/2001/media" "${AUTH[@]}" -d 'image_url=https://img.example/b.jpg'
expect "injected 401: code 190 subcode 463 (HTTP 400)" "400 190/463" "$CODE $(j '"\(.error.code)/\(.error.error_subcode)"')"
fault "$M" '{"platform":"threads","path":"/threads","method":"GET","status":403,"count":1}'
req GET "$TH/3001/threads" "${TAUTH[@]}"
expect "injected 403: code 10" "403 10" "$CODE $(j .error.code)"
fault "$M" '{"platform":"threads","status":503,"count":1}'
req GET "$TH/3001/threads" "${TAUTH[@]}"
expect "injected 503: code 2, is_transient" "503 2/- OAuthException true" "$CODE $(gerr)"
fault "$M" '{"platform":"facebook","status":500,"count":1}'
req GET "$FB/1001/posts" -H 'Authorization: Bearer fbtok'
expect "injected 500: code 1" "500 1" "$CODE $(j .error.code)"
fault "$M" '{"platform":"threads","path":"/threads_publish","mode":"timeout_after_accept","count":1}'
req POST "$TH/3001/threads" "${TAUTH[@]}" -d 'media_type=TEXT' --data-urlencode 'text=Lost answer'
TC2=$(j .id)
req POST "$TH/3001/threads_publish" "${TAUTH[@]}" -d "creation_id=$TC2" --max-time 1
expect "timeout_after_accept: no answer" curl-exit-28 "$CODE"
expect "... but the thread is published" "2 Lost answer" \
    "$(ledger "$M" threads | jq -r '"\(.count) \(.entries[1].text)"')"

# ---- usage windows, throttling and quotas -----------------------------------
start lim --graph-call-limit 3 --graph-call-window-s 600
L=$URL_lim
add_account "$L" facebook 1001 t1
req POST "$L/facebook/1001/feed" -H 'Authorization: Bearer t1' -d 'message=one'
req POST "$L/facebook/1001/feed" -H 'Authorization: Bearer t1' -d 'message=two'
expect "usage: 2 of 3 calls = 66 %" "66 66 0" \
    "$(hdr X-Business-Use-Case-Usage | jq -r '."1001"[0] | "\(.call_count) \(.call_count) \(.estimated_time_to_regain_access)"')"
req GET "$L/facebook/1001/posts" -H 'Authorization: Bearer t1'
req GET "$L/facebook/1001/posts" -H 'Authorization: Bearer t1'
expect "beyond the window's calls: HTTP 400 code 32, transient" "400 32/- OAuthException true" "$CODE $(gerr)"
REGAIN=$(hdr X-Business-Use-Case-Usage | jq -r '."1001"[0].estimated_time_to_regain_access')
if ((REGAIN >= 1 && REGAIN <= 10)); then pass "estimated_time_to_regain_access: minutes to the window's end ($REGAIN)"
else fail "estimated_time_to_regain_access" "$REGAIN"; fi
expect "X-App-Usage at 100 %" 100 "$(hdr X-App-Usage | jq -r .call_count)"
start quota --instagram-publish-limit 1 --threads-publish-limit 1 --instagram-container-delay-ms 0
L=$URL_quota
add_account "$L" instagram 2001 t2
for i in 1 2; do
    req POST "$L/instagram/2001/media" -H 'Authorization: Bearer t2' \
        --data-urlencode 'image_url=https://img.example/q.jpg' -d "caption=q$i"
    req POST "$L/instagram/2001/media_publish" -H 'Authorization: Bearer t2' -d "creation_id=$(j .id)"
done
expect "Instagram over its publishing quota: 9/2207042" "400 9/2207042" \
    "$CODE $(j '"\(.error.code)/\(.error.error_subcode)"')"
expect "the quota error says when: ~24 h" 1440 \
    "$(hdr X-Business-Use-Case-Usage | jq -r '."2001"[0].estimated_time_to_regain_access')"
add_account "$L" threads 3001 t3
for i in 1 2; do
    req POST "$L/threads/3001/threads" -H 'Authorization: Bearer t3' -d 'media_type=TEXT' -d "text=t$i"
    req POST "$L/threads/3001/threads_publish" -H 'Authorization: Bearer t3' -d "creation_id=$(j .id)"
done
expect "Threads over its publishing quota: 9/2207042" "400 9/2207042" \
    "$CODE $(j '"\(.error.code)/\(.error.error_subcode)"')"
expect "ledger: one publication each" "1 1" \
    "$(ledger "$L" instagram | jq -r .count) $(ledger "$L" threads | jq -r .count)"

# A shortened rolling window (benchmarks): the quota frees itself after it.
start qwin --instagram-publish-limit 1 --instagram-publish-window-s 2 \
    --threads-publish-limit 1 --threads-publish-window-s 2 --instagram-container-delay-ms 0
L=$URL_qwin
add_account "$L" instagram 2001 t2
add_account "$L" threads 3001 t3
ig_publish() { # CAPTION: sets CODE and BODY of media_publish
    req POST "$L/instagram/2001/media" -H 'Authorization: Bearer t2' \
        --data-urlencode 'image_url=https://img.example/w.jpg' -d "caption=$1"
    req POST "$L/instagram/2001/media_publish" -H 'Authorization: Bearer t2' -d "creation_id=$(j .id)"
}
th_publish() { # TEXT
    req POST "$L/threads/3001/threads" -H 'Authorization: Bearer t3' -d 'media_type=TEXT' -d "text=$1"
    req POST "$L/threads/3001/threads_publish" -H 'Authorization: Bearer t3' -d "creation_id=$(j .id)"
}
ig_publish w1
expect "--instagram-publish-window-s: the first publication passes" 200 "$CODE"
ig_publish w2
expect "... the second within the window is over the quota" "400 9/2207042" \
    "$CODE $(j '"\(.error.code)/\(.error.error_subcode)"')"
expect "... regain in whole minutes, at least 1" 1 \
    "$(hdr X-Business-Use-Case-Usage | jq -r '."2001"[0].estimated_time_to_regain_access')"
th_publish w1
th_publish w2
expect "--threads-publish-window-s: the second within the window is over the quota" "400 9/2207042" \
    "$CODE $(j '"\(.error.code)/\(.error.error_subcode)"')"
req GET "$L/instagram/2001/content_publishing_limit?fields=quota_usage,config" -H 'Authorization: Bearer t2'
expect "content_publishing_limit names the window" "1 1 2" \
    "$(j '.data[0] | "\(.quota_usage) \(.config.quota_total) \(.config.quota_duration)"')"
sleep 2.2
ig_publish w3
expect "after the window, Instagram publishes again" 200 "$CODE"
th_publish w3
expect "after the window, Threads publishes again" 200 "$CODE"
expect "ledger: two publications each" "2 2" \
    "$(ledger "$L" instagram | jq -r .count) $(ledger "$L" threads | jq -r .count)"

# ---- reset --------------------------------------------------------------------
req POST "$M/_sandbox/reset"
add_account "$M" facebook 1001 fbtok
req GET "$FB/$P1" -H 'Authorization: Bearer fbtok'
expect "reset forgets posts" "400 100/33" "$CODE $(j '"\(.error.code)/\(.error.error_subcode)"')"
req GET "$FB/1001/posts" -H 'Authorization: Bearer fbtok'
expect "... timelines and the ledger" "0 0" "$(j '.data | length') $(ledger "$M" facebook | jq -r .count)"

# ---- --open -----------------------------------------------------------------
start open --open
O=$URL_open
req POST "$O/facebook/424242/feed" -H 'Authorization: Bearer any-token' -d 'message=open'
expect_match "--open: any token, its page under any id" '^200 useranytoken[0-9a-f]{8}_[0-9]+$' "$CODE $(j .id)"
req GET "$O/facebook/me" -H 'Authorization: Bearer any-token'
expect_match "--open: the page is named from the token" '^useranytoken[0-9a-f]{8}$' "$(j .id)"

echo "$PASSED passed, $FAILED failed"
[[ $FAILED == 0 ]]
