#!/usr/bin/env bash
# Bluesky (AT Protocol, XRPC) of crieur-sandbox (/bluesky): sessions (expiry,
# rotation, revocation), createRecord (client rkeys, a repeated rkey, the
# post lexicon: graphemes, bytes, facets, dates, languages), read-back
# (getRecord, listRecords), getPosts counts, notifications, blobs, write
# points and their headers, fault injection and --open, with curl and jq.
# usage: bluesky_test.sh PATH/TO/crieur-sandbox
# Prints "N passed, M failed"; exits 1 on failure.
set -euo pipefail

BIN=${1:?usage: bluesky_test.sh PATH/TO/crieur-sandbox}
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
xrpc() { # URL NSID [curl args...]: POST with a JSON body given by -d
    local url=$1 nsid=$2; shift 2
    req POST "$url/bluesky/xrpc/$nsid" -H 'Content-Type: application/json' "$@"
}
xget() { # URL NSID?QUERY [curl args...]
    local url=$1 q=$2; shift 2
    req GET "$url/bluesky/xrpc/$q" "$@"
}
add_account() { # URL HANDLE APP_PASSWORD
    req POST "$1/_sandbox/accounts" -H 'Content-Type: application/json' \
        -d "{\"platform\":\"bluesky\",\"handle\":\"$2\",\"token\":\"$3\"}"
}
login() { # URL IDENTIFIER PASSWORD: sets ACCESS REFRESH DID
    xrpc "$1" com.atproto.server.createSession -d "$(jq -cn --arg i "$2" --arg p "$3" '{identifier:$i,password:$p}')"
    ACCESS=$(j .accessJwt); REFRESH=$(j .refreshJwt); DID=$(j .did)
}
post() { # URL ACCESS REPO RECORD_JSON [RKEY [curl args...]]
    local url=$1 access=$2 repo=$3 record=$4 rkey=${5:-} body
    shift $(($# < 5 ? $# : 5))
    if [[ -n "$rkey" ]]; then
        body=$(jq -cn --arg r "$repo" --argjson rec "$record" --arg k "$rkey" '{repo:$r,collection:"app.bsky.feed.post",rkey:$k,record:$rec}')
    else
        body=$(jq -cn --arg r "$repo" --argjson rec "$record" '{repo:$r,collection:"app.bsky.feed.post",record:$rec}')
    fi
    xrpc "$url" com.atproto.repo.createRecord -H "Authorization: Bearer $access" -d "$body" "$@"
}
rec() { # TEXT [extra JSON merged]: a post record
    jq -cn --arg t "$1" --argjson x "${2:-{\}}" '{"$type":"app.bsky.feed.post",text:$t,createdAt:"2025-03-01T12:00:00.000Z"} + $x'
}
ledger() { curl -sS "$1/_sandbox/ledger?platform=bluesky"; }
rep() { local s="" i; for ((i = 0; i < $2; i++)); do s+=$1; done; printf '%s' "$s"; }
jwt_payload() { # JWT: the decoded payload JSON
    local p
    p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
    while (( ${#p} % 4 )); do p+="="; done
    base64 -d <<<"$p" 2>/dev/null
}
TOO_LONG='Invalid app.bsky.feed.post record: Record/text must not be longer than 300 graphemes'
TID_RE='^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$'

start main --seed 5
M=$URL_main

# ---- accounts and sessions ---------------------------------------------------
add_account "$M" alice app-pw-alice
expect "control API registers a Bluesky account" "201 bluesky alice $M/bluesky" \
    "$CODE $(j '"\(.platform) \(.handle) \(.api_base)"')"
add_account "$M" bob app-pw-bob
login "$M" alice app-pw-alice
expect "createSession with the handle" "200 alice.bsky.social true" "$CODE $(j '"\(.handle) \(.active)"')"
expect_match "did is did:plc" '^did:plc:[a-z2-7]{24}$' "$DID"
expect_match "accessJwt is a JWT" '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' "$ACCESS"
expect "access token claims" "com.atproto.appPass $DID 7200" \
    "$(jwt_payload "$ACCESS" | jq -r '"\(.scope) \(.sub) \(.exp - .iat)"')"
expect "refresh token claims" "com.atproto.refresh 7776000" \
    "$(jwt_payload "$REFRESH" | jq -r '"\(.scope) \(.exp - .iat)"')"
ALICE_DID=$DID; ALICE_ACCESS=$ACCESS; ALICE_REFRESH=$REFRESH
expect "createSession carries rate headers" "30 29 30;w=300" \
    "$(hdr RateLimit-Limit) $(hdr RateLimit-Remaining) $(hdr RateLimit-Policy)"
login "$M" alice.bsky.social app-pw-alice
expect "createSession with the full handle, same did" "200 $ALICE_DID" "$CODE $(j .did)"
login "$M" "$ALICE_DID" app-pw-alice
expect "createSession with the did" "200 alice.bsky.social" "$CODE $(j .handle)"
login "$M" alice wrong
expect "wrong app password: 401 AuthenticationRequired" "401 AuthenticationRequired Invalid identifier or password" \
    "$CODE $(j '"\(.error) \(.message)"')"
login "$M" nobody app-pw-alice
expect "unknown identifier: 401" "401 AuthenticationRequired" "$CODE $(j .error)"
xrpc "$M" com.atproto.server.createSession -d '{"identifier":"alice"}'
expect "missing password: 400 InvalidRequest" "400 InvalidRequest" "$CODE $(j .error)"
xget "$M" com.atproto.server.getSession -H "Authorization: Bearer $ALICE_ACCESS"
expect "getSession with the access token" "200 $ALICE_DID" "$CODE $(j .did)"
xget "$M" com.atproto.server.getSession -H "Authorization: Bearer $ALICE_REFRESH"
expect "a refresh token is not an access token" "400 InvalidToken Bad token scope" "$CODE $(j '"\(.error) \(.message)"')"
xget "$M" com.atproto.server.getSession -H "Authorization: Bearer nonsense"
expect "unknown token: 400 InvalidToken" "400 InvalidToken" "$CODE $(j .error)"
xget "$M" com.atproto.server.getSession
expect "no token: 401 AuthenticationRequired" "401 AuthenticationRequired" "$CODE $(j .error)"
xrpc "$M" com.atproto.server.refreshSession -H "Authorization: Bearer $ALICE_ACCESS"
expect "refreshSession wants the refresh token" "400 InvalidToken" "$CODE $(j .error)"

# ---- createRecord ------------------------------------------------------------
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'Hello from the sandbox')"
expect "post without rkey: 200, valid" "200 valid" "$CODE $(j .validationStatus)"
expect_match "uri at://did/app.bsky.feed.post/<TID>" "^at://$ALICE_DID/app\.bsky\.feed\.post/[234567a-z]{13}$" "$(j .uri)"
expect_match "cid and commit" '^bafyrei[a-z2-7]{52} bafyrei[a-z2-7]{52} [234567a-z]{13}$' "$(j '"\(.cid) \(.commit.cid) \(.commit.rev)"')"
expect "write points: limit, remaining, policy" "5000 4997 5000;w=3600" \
    "$(hdr RateLimit-Limit) $(hdr RateLimit-Remaining) $(hdr RateLimit-Policy)"
expect_match "RateLimit-Reset is epoch seconds, an hour away" '^[0-9]{10}$' "$(hdr RateLimit-Reset)"
URI1=$(j .uri); RKEY1=${URI1##*/}
expect "ledger entry" "1 alice $URI1 $M/bluesky/profile/alice.bsky.social/post/$RKEY1 Hello from the sandbox null" \
    "$(ledger "$M" | jq -r '"\(.count) \(.entries[0].account) \(.entries[0].id) \(.entries[0].url) \(.entries[0].text) \(.entries[0].idempotency_key)"')"
RKEY=3kabcdefghij2
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'With my own key')" "$RKEY"
expect "client rkey: 200, the uri ends with it" "200 at://$ALICE_DID/app.bsky.feed.post/$RKEY" "$CODE $(j .uri)"
expect "ledger keeps the client's rkey" "$RKEY" "$(ledger "$M" | jq -r '.entries[1].idempotency_key')"
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'With my own key, again')" "$RKEY"
expect "repeated rkey: 400 InvalidRequest Record already exists" "400 InvalidRequest Record already exists" \
    "$CODE $(j '"\(.error) \(.message)"')"
expect "repeated rkey: nothing written" 2 "$(ledger "$M" | jq .count)"
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'Bad key')" "not-a-tid"
expect "a post's rkey must be a TID" "400 InvalidRequest" "$CODE $(j .error)"
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'Bad key')" "kzzzzzzzzzzzz"
expect "a TID's first character keeps the top bit 0" "400" "$CODE"

# graphemes: é as e + combining accent, a skin-toned emoji, a ZWJ family, a flag
G300="$(rep 'é' 290)👍🏽👨‍👩‍👧🇫🇷$(rep 'x' 7)"
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec "$G300")"
expect "300 graphemes (combining marks, emoji sequences) are accepted" 200 "$CODE"
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec "${G300}y")"
expect "301 graphemes: the PDS's message" "400 InvalidRequest $TOO_LONG" "$CODE $(j '"\(.error) \(.message)"')"
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec "$(rep '€' 1001)")"
expect "over 3000 bytes" "400 Invalid app.bsky.feed.post record: Record/text must not be longer than 3000 characters" \
    "$CODE $(j .message)"
post "$M" "$ALICE_ACCESS" "$ALICE_DID" '{"$type":"app.bsky.feed.post","text":"no date"}'
expect "createdAt is required" "400 Invalid app.bsky.feed.post record: Record must have the property \"createdAt\"" \
    "$CODE $(j .message)"
post "$M" "$ALICE_ACCESS" "$ALICE_DID" '{"$type":"app.bsky.feed.post","text":"bad date","createdAt":"2025-03-01 12:00"}'
expect "createdAt must be an atproto datetime" 400 "$CODE"
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'langs' '{"langs":["fr","en","de","it"]}')"
expect "at most 3 langs" "400 Invalid app.bsky.feed.post record: Record/langs must not have more than 3 elements" \
    "$CODE $(j .message)"
post "$M" "$ALICE_ACCESS" "$ALICE_DID" '{"$type":"app.bsky.feed.like","text":"x","createdAt":"2025-03-01T12:00:00Z"}'
expect "\$type must match the collection" "400 Invalid \$type: expected app.bsky.feed.post, got app.bsky.feed.like" "$CODE $(j .message)"
xrpc "$M" com.atproto.repo.createRecord -H "Authorization: Bearer $ALICE_ACCESS" -d '{"collection":"app.bsky.feed.post","record":{}}'
expect "repo is required" "400 Input must have the property \"repo\"" "$CODE $(j .message)"
login "$M" bob app-pw-bob
BOB_DID=$DID; BOB_ACCESS=$ACCESS
post "$M" "$ALICE_ACCESS" "$BOB_DID" "$(rec 'in bob repo')"
expect "writing another account's repo: 401" "401 AuthenticationRequired" "$CODE $(j .error)"
post "$M" "$ALICE_ACCESS" "did:plc:nobody" "$(rec 'nowhere')"
expect "unknown repo: 400" "400 Could not find repo: did:plc:nobody" "$CODE $(j .message)"
post "$M" "$ALICE_ACCESS" "alice.bsky.social" "$(rec 'repo by handle')"
expect "repo may be given as the handle" 200 "$CODE"

# facets: "Café ☕ https://ex.am/p #tag": é is 2 bytes, ☕ 3: the link is
# bytes [10, 25), the tag [26, 30) of 30
FTEXT='Café ☕ https://ex.am/p #tag'
FACETS='{"facets":[{"index":{"byteStart":10,"byteEnd":25},"features":[{"$type":"app.bsky.richtext.facet#link","uri":"https://ex.am/p"}]},
 {"index":{"byteStart":26,"byteEnd":30},"features":[{"$type":"app.bsky.richtext.facet#tag","tag":"tag"}]}]}'
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec "$FTEXT" "$FACETS")" 3kabcdefghij3
expect "facets at UTF-8 byte offsets: 200" 200 "$CODE"
FURI=$(j .uri)
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec "$FTEXT" '{"facets":[{"index":{"byteStart":26,"byteEnd":31},"features":[{"$type":"app.bsky.richtext.facet#tag","tag":"tag"}]}]}')"
expect_match "a facet past the end of the text: 400" '^400 Invalid app.bsky.feed.post record: Record/facets/0/index' "$CODE $(j .message)"
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec "$FTEXT" '{"facets":[{"index":{"byteStart":0,"byteEnd":4},"features":[{"$type":"app.bsky.richtext.facet#tag","tag":"x"}]}]}')"
expect "a facet that splits a character: 400" 400 "$CODE"
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec "$FTEXT" '{"facets":[{"index":{"byteStart":0,"byteEnd":3},"features":[{"$type":"app.bsky.richtext.facet#bold"}]}]}')"
expect "an unknown facet feature: 400" 400 "$CODE"

# ---- read-back ---------------------------------------------------------------
xget "$M" "com.atproto.repo.getRecord?repo=$ALICE_DID&collection=app.bsky.feed.post&rkey=3kabcdefghij3"
expect "getRecord (no auth needed): the record as written" "200 $FURI $FTEXT 10 25 https://ex.am/p" \
    "$CODE $(j '"\(.uri) \(.value.text) \(.value.facets[0].index.byteStart) \(.value.facets[0].index.byteEnd) \(.value.facets[0].features[0].uri)"')"
xget "$M" "com.atproto.repo.getRecord?repo=alice.bsky.social&collection=app.bsky.feed.post&rkey=3kabcdefghij7" \
    -H "Authorization: Bearer $ALICE_ACCESS"
expect "getRecord of a missing key: 400 RecordNotFound" \
    "400 RecordNotFound Could not locate record: at://$ALICE_DID/app.bsky.feed.post/3kabcdefghij7" "$CODE $(j '"\(.error) \(.message)"')"
xget "$M" "com.atproto.repo.getRecord?repo=$ALICE_DID&collection=app.bsky.feed.post&rkey=3kabcdefghij3" -H "Authorization: Bearer junk"
expect "getRecord with a bad token: 400 InvalidToken" "400 InvalidToken" "$CODE $(j .error)"
xget "$M" "com.atproto.repo.listRecords?repo=$ALICE_DID&collection=app.bsky.feed.post&limit=2"
N_POSTS=$(ledger "$M" | jq '[.entries[] | select(.account == "alice")] | length')
expect "listRecords: newest key first, a cursor" "200 2 true" \
    "$CODE $(j '"\(.records | length) \(.records[0].uri > .records[1].uri)"')"
CURSOR=$(j .cursor)
xget "$M" "com.atproto.repo.listRecords?repo=$ALICE_DID&collection=app.bsky.feed.post&limit=100&cursor=$CURSOR"
expect "listRecords: the cursor pages on" "$((N_POSTS - 2))" "$(j '.records | length')"
xget "$M" "com.atproto.repo.listRecords?repo=$ALICE_DID&collection=app.bsky.feed.post&reverse=true&limit=1"
expect "listRecords reverse: oldest key first" "at://$ALICE_DID/app.bsky.feed.post/3kabcdefghij2" "$(j '.records[0].uri')"

# ---- metrics and notifications -----------------------------------------------
mention() { req POST "$M/_sandbox/mentions" -H 'Content-Type: application/json' -d "$1"; }
mention "{\"platform\":\"bluesky\",\"account\":\"alice\",\"from\":\"carol\",\"reason\":\"like\",\"subject\":\"$URI1\"}"
expect "inject a like" "201 like" "$CODE $(j .reason)"
mention "{\"platform\":\"bluesky\",\"account\":\"alice\",\"from\":\"carol\",\"reason\":\"repost\",\"subject\":\"$URI1\"}"
mention "{\"platform\":\"bluesky\",\"account\":\"alice\",\"from\":\"dave\",\"reason\":\"reply\",\"subject\":\"$URI1\",\"text\":\"nice\"}"
REPLY_URI=$(j .uri)
mention "{\"platform\":\"bluesky\",\"account\":\"alice\",\"from\":\"dave\",\"reason\":\"quote\",\"subject\":\"$URI1\",\"text\":\"look\"}"
mention "{\"platform\":\"bluesky\",\"account\":\"alice\",\"from\":\"erin\",\"text\":\"hello there\"}"
expect "inject a mention" "201 mention" "$CODE $(j .reason)"
mention '{"platform":"bluesky","account":"alice","from":"erin","reason":"like","subject":"at://nope"}'
expect "a like needs a subject of the account" 422 "$CODE"
xget "$M" "app.bsky.feed.getPosts?uris=$URI1&uris=$FURI&uris=at://did:plc:x/app.bsky.feed.post/none" -H "Authorization: Bearer $ALICE_ACCESS"
expect "getPosts: counts, missing posts left out" "200 2 1 1 1 1 0 alice.bsky.social" \
    "$CODE $(j '"\(.posts | length) \(.posts[0].likeCount) \(.posts[0].repostCount) \(.posts[0].replyCount) \(.posts[0].quoteCount) \(.posts[1].likeCount) \(.posts[0].author.handle)"')"
URIS=$(for i in $(seq 1 26); do printf '&uris=%s' "$URI1"; done)
xget "$M" "app.bsky.feed.getPosts?${URIS#&}"
expect "getPosts takes at most 25 uris" "400 InvalidRequest" "$CODE $(j .error)"
xget "$M" "app.bsky.notification.listNotifications?limit=50" -H "Authorization: Bearer $ALICE_ACCESS"
expect "listNotifications: newest first" "200 5 mention quote reply repost like" \
    "$CODE $(j '"\(.notifications | length) \([.notifications[].reason] | join(" "))"')"
expect "a mention starts with the handle and carries a mention facet" "@alice.bsky.social hello there $ALICE_DID" \
    "$(j '.notifications[0].record.text + " " + .notifications[0].record.facets[0].features[0].did')"
expect "a reply names its subject and the author" "$URI1 dave.bsky.social $REPLY_URI" \
    "$(j '.notifications[2] | "\(.reasonSubject) \(.author.handle) \(.uri)"')"
xget "$M" "app.bsky.notification.listNotifications?reasons=mention&reasons=reply" -H "Authorization: Bearer $ALICE_ACCESS"
expect "reasons filter" "mention reply" "$(j '[.notifications[].reason] | join(" ")')"
xget "$M" "app.bsky.notification.listNotifications?limit=2" -H "Authorization: Bearer $ALICE_ACCESS"
C=$(j .cursor)
xget "$M" "app.bsky.notification.listNotifications?limit=2&cursor=$C" -H "Authorization: Bearer $ALICE_ACCESS"
expect "cursor pages to older notifications" "reply repost" "$(j '[.notifications[].reason] | join(" ")')"
xget "$M" "app.bsky.notification.listNotifications" -H "Authorization: Bearer $BOB_ACCESS"
expect "bob has none" 0 "$(j '.notifications | length')"

# ---- blobs -------------------------------------------------------------------
head -c 1000 /dev/urandom >"$TMP/img"
req POST "$M/bluesky/xrpc/com.atproto.repo.uploadBlob" -H "Authorization: Bearer $ALICE_ACCESS" \
    -H 'Content-Type: image/jpeg' --data-binary @"$TMP/img"
expect "uploadBlob: a blob ref" "200 blob image/jpeg 1000" "$CODE $(j '"\(.blob["$type"]) \(.blob.mimeType) \(.blob.size)"')"
BLOB=$(jq -c .blob <<<"$BODY")
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'with a picture' "{\"embed\":{\"\$type\":\"app.bsky.embed.images\",\"images\":[{\"alt\":\"a\",\"image\":$BLOB}]}}")"
expect "a post embedding the uploaded image" 200 "$CODE"
post "$M" "$BOB_ACCESS" "$BOB_DID" "$(rec 'not my picture' "{\"embed\":{\"\$type\":\"app.bsky.embed.images\",\"images\":[{\"alt\":\"a\",\"image\":$BLOB}]}}")"
expect "another account's blob is not found" "400 InvalidRequest" "$CODE $(j .error)"
# the PDS types a blob by its bytes; the record must name that type
curl -sS -o "$TMP/gen.png" "$M/_sandbox/media/pic.png?bytes=3000"
req POST "$M/bluesky/xrpc/com.atproto.repo.uploadBlob" -H "Authorization: Bearer $ALICE_ACCESS" \
    -H 'Content-Type: image/jpeg' --data-binary @"$TMP/gen.png"
expect "uploadBlob: the type sniffed from the bytes wins" "200 image/png 3000" \
    "$CODE $(j '"\(.blob.mimeType) \(.blob.size)"')"
PNG_BLOB=$(jq -c .blob <<<"$BODY")
PNG_CID=$(j '.blob.ref["$link"]')
WRONG=$(jq -c '.mimeType = "image/jpeg"' <<<"$PNG_BLOB")
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'wrong type' "{\"embed\":{\"\$type\":\"app.bsky.embed.images\",\"images\":[{\"alt\":\"\",\"image\":$WRONG}]}}")"
expect_match "a record naming another type than the blob's: 400" \
    '^400 InvalidRequest Referenced Mimetype does not match stored blob. Expected: image/png, Got: image/jpeg$' \
    "$CODE $(j .error) $(j .message)"
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'no alt' "{\"embed\":{\"\$type\":\"app.bsky.embed.images\",\"images\":[{\"image\":$PNG_BLOB}]}}")"
expect "an image without alt: 400" "400" "$CODE"
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'a png' "{\"embed\":{\"\$type\":\"app.bsky.embed.images\",\"images\":[{\"alt\":\"\",\"image\":$PNG_BLOB}]}}")"
expect "empty alt is allowed" "200" "$CODE"
expect "the ledger lists the post's blob" "$PNG_CID" "$(ledger "$M" | jq -r '.entries[-1].media | join(",")')"
printf 'just some text' >"$TMP/txt"
req POST "$M/bluesky/xrpc/com.atproto.repo.uploadBlob" -H "Authorization: Bearer $ALICE_ACCESS" \
    -H 'Content-Type: text/plain' --data-binary @"$TMP/txt"
TXT_BLOB=$(jq -c .blob <<<"$BODY")
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'text as image' "{\"embed\":{\"\$type\":\"app.bsky.embed.images\",\"images\":[{\"alt\":\"\",\"image\":$TXT_BLOB}]}}")"
expect "a blob that is no image in an images embed: 400" "400 InvalidRequest" "$CODE $(j .error)"
FIVE=$(jq -cn --argjson b "$PNG_BLOB" '[range(5)] | map({alt:"",image:$b})')
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'five' "{\"embed\":{\"\$type\":\"app.bsky.embed.images\",\"images\":$FIVE}}")"
expect "five images: 400" "400 InvalidRequest" "$CODE $(j .error)"

# ---- replies: strong refs to existing posts, current cids --------------------
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'thread root')"
ROOT_URI=$(j .uri); ROOT_CID=$(j .cid)
strong() { jq -cn --arg u "$1" --arg c "$2" '{uri:$u,cid:$c}'; }
post "$M" "$BOB_ACCESS" "$BOB_DID" "$(rec 'first reply' "{\"reply\":{\"root\":$(strong "$ROOT_URI" "$ROOT_CID"),\"parent\":$(strong "$ROOT_URI" "$ROOT_CID")}}")"
expect "a reply to an existing post" 200 "$CODE"
R1_URI=$(j .uri); R1_CID=$(j .cid)
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'nested' "{\"reply\":{\"root\":$(strong "$ROOT_URI" "$ROOT_CID"),\"parent\":$(strong "$R1_URI" "$R1_CID")}}")"
expect "a reply to a reply" 200 "$CODE"
xget "$M" "com.atproto.repo.getRecord?repo=$BOB_DID&collection=app.bsky.feed.post&rkey=${R1_URI##*/}"
expect "the reply's record holds its refs" "$ROOT_URI $ROOT_CID" \
    "$(j '"\(.value.reply.root.uri) \(.value.reply.root.cid)"')"
GONE="at://$ALICE_DID/app.bsky.feed.post/3kaaaaaaaaaa2"
post "$M" "$BOB_ACCESS" "$BOB_DID" "$(rec 'to nothing' "{\"reply\":{\"root\":$(strong "$GONE" "$ROOT_CID"),\"parent\":$(strong "$GONE" "$ROOT_CID")}}")"
expect "a reply to a missing post: 400" \
    "400 InvalidRequest Invalid app.bsky.feed.post record: Record/reply/parent not found: $GONE" \
    "$CODE $(j .error) $(j .message)"
post "$M" "$BOB_ACCESS" "$BOB_DID" "$(rec 'stale' "{\"reply\":{\"root\":$(strong "$ROOT_URI" "$ROOT_CID"),\"parent\":$(strong "$R1_URI" "$ROOT_CID")}}")"
expect_match "a reply with the wrong cid: 400" "^400 .*parent has a stale cid" "$CODE $(j .message)"
post "$M" "$BOB_ACCESS" "$BOB_DID" "$(rec 'no root' "{\"reply\":{\"root\":$(strong "$GONE" "$ROOT_CID"),\"parent\":$(strong "$ROOT_URI" "$ROOT_CID")}}")"
expect_match "a reply whose root is missing: 400" "^400 .*root not found" "$CODE $(j .message)"

req POST "$M/bluesky/xrpc/com.atproto.repo.uploadBlob" -H "Authorization: Bearer $ALICE_ACCESS" -H 'Content-Type: image/png' --data-binary ''
expect "an empty blob: 400" 400 "$CODE"
head -c 1100000 /dev/zero >"$TMP/big"
req POST "$M/bluesky/xrpc/com.atproto.repo.uploadBlob" -H "Authorization: Bearer $ALICE_ACCESS" -H 'Content-Type: image/png' --data-binary @"$TMP/big"
expect "a body over the sandbox's 1 MiB cap: 413" 413 "$CODE"

# ---- routing -----------------------------------------------------------------
xget "$M" "app.bsky.feed.getTimeline"
expect "unknown method: 501 MethodNotImplemented" "501 MethodNotImplemented" "$CODE $(j .error)"
xget "$M" "com.atproto.repo.createRecord"
expect "a procedure called with GET: 501" 501 "$CODE"
req GET "$M/bluesky/profile/alice"
expect "outside /xrpc: 404" 404 "$CODE"

# ---- faults ------------------------------------------------------------------
fault() { req POST "$M/_sandbox/faults" -H 'Content-Type: application/json' -d "$1"; }
fault '{"platform":"bluesky","account":"alice","path":"createRecord","status":503,"count":1}'
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'during an outage')"
expect "injected 503 in XRPC's shape" "503 ServiceUnavailable" "$CODE $(j .error)"
post "$M" "$BOB_ACCESS" "$BOB_DID" "$(rec 'bob is not alice')"
expect "the rule names alice only" 200 "$CODE"
fault '{"platform":"bluesky","account":"alice","path":"createSession","status":500,"count":1}'
login "$M" alice app-pw-alice
expect "createSession faults match the identifier's account" "500 InternalServerError" "$CODE $(j .error)"
fault '{"platform":"bluesky","account":"alice","path":"createRecord","status":429,"count":1}'
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'throttled')"
expect "injected 429: RateLimitExceeded, remaining 0, a reset" "429 RateLimitExceeded 0 5000;w=3600" \
    "$CODE $(j .error) $(hdr RateLimit-Remaining) $(hdr RateLimit-Policy)"
BEFORE=$(ledger "$M" | jq .count)
fault '{"platform":"bluesky","account":"alice","path":"createRecord","mode":"timeout_after_accept","count":1}'
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'accepted, never answered')" 3kabcdefghij4 -m 2
expect "timeout_after_accept: no answer" "curl-exit-28" "$CODE"
expect "timeout_after_accept: the record was written" "$((BEFORE + 1)) 3kabcdefghij4" \
    "$(ledger "$M" | jq -r '"\(.count) \(.entries[-1].idempotency_key)"')"
post "$M" "$ALICE_ACCESS" "$ALICE_DID" "$(rec 'accepted, never answered')" 3kabcdefghij4
expect "the retry with the same rkey is refused, not duplicated" "400 $((BEFORE + 1))" "$CODE $(ledger "$M" | jq .count)"
req DELETE "$M/_sandbox/faults"

# ---- revocation --------------------------------------------------------------
add_account "$M" frank app-pw-frank
login "$M" frank app-pw-frank
F_ACCESS=$ACCESS; F_REFRESH=$REFRESH
req POST "$M/_sandbox/tokens/revoke" -H 'Content-Type: application/json' -d '{"token":"app-pw-frank"}'
xget "$M" com.atproto.server.getSession -H "Authorization: Bearer $F_ACCESS"
expect "revoking the app password revokes its sessions" "400 ExpiredToken Token has been revoked" "$CODE $(j '"\(.error) \(.message)"')"
xrpc "$M" com.atproto.server.refreshSession -H "Authorization: Bearer $F_REFRESH"
expect "... and their refresh tokens" "400 ExpiredToken" "$CODE $(j .error)"
login "$M" frank app-pw-frank
expect "... and createSession" 401 "$CODE"

# ---- expiry and rotation (1 s access tokens) ---------------------------------
start short --bluesky-access-ttl-s 1
S=$URL_short
add_account "$S" alice app-pw-alice
login "$S" alice app-pw-alice
A1=$ACCESS; R1=$REFRESH; D=$DID
post "$S" "$A1" "$D" "$(rec 'fresh token')"
expect "a fresh access token works" 200 "$CODE"
sleep 2.1
post "$S" "$A1" "$D" "$(rec 'stale token')"
expect "an expired access token: 400 ExpiredToken (not 401)" "400 ExpiredToken Token has expired" "$CODE $(j '"\(.error) \(.message)"')"
expect "nothing written with it" 1 "$(ledger "$S" | jq .count)"
xrpc "$S" com.atproto.server.refreshSession -H "Authorization: Bearer $R1"
expect "refreshSession: a new pair" "200 alice.bsky.social $D" "$CODE $(j '"\(.handle) \(.did)"')"
A2=$(j .accessJwt); R2=$(j .refreshJwt)
expect "the pair rotated" "true true" "$([[ $A2 != "$A1" ]] && echo true) $([[ $R2 != "$R1" ]] && echo true)"
post "$S" "$A2" "$D" "$(rec 'refreshed token')"
expect "the new access token works" 200 "$CODE"
xrpc "$S" com.atproto.server.refreshSession -H "Authorization: Bearer $R1"
expect "the used refresh token stops working" "400 ExpiredToken Token has been revoked" "$CODE $(j '"\(.error) \(.message)"')"
xrpc "$S" com.atproto.server.refreshSession -H "Authorization: Bearer $R2"
expect "the new refresh token works" 200 "$CODE"

# ---- write points (6 points = 2 posts per 3 s) and the session limit ----------
start rl --bluesky-write-points 6 --bluesky-write-window-s 3
R=$URL_rl
add_account "$R" alice app-pw-alice
login "$R" alice app-pw-alice
RL_REFRESH=$REFRESH
post "$R" "$ACCESS" "$DID" "$(rec one)"
expect "first post: 3 points left" "200 6 3" "$CODE $(hdr RateLimit-Limit) $(hdr RateLimit-Remaining)"
post "$R" "$ACCESS" "$DID" "$(rec two)"
expect "second post: 0 left" "200 0" "$CODE $(hdr RateLimit-Remaining)"
post "$R" "$ACCESS" "$DID" "$(rec three)"
RESET=$(hdr RateLimit-Reset)
expect "third: 429 RateLimitExceeded" "429 RateLimitExceeded 0 6;w=3" "$CODE $(j .error) $(hdr RateLimit-Remaining) $(hdr RateLimit-Policy)"
NOW=$(date +%s)
expect "the reset is within the window" true "$([[ $RESET -ge $NOW && $RESET -le $((NOW + 4)) ]] && echo true || echo "$RESET vs $NOW")"
expect "refused posts are not written" 2 "$(ledger "$R" | jq .count)"
while [[ $(date +%s) -lt $RESET ]]; do sleep 0.2; done
sleep 0.2
post "$R" "$ACCESS" "$DID" "$(rec four)"
expect "after the reset: accepted" 200 "$CODE"
for _ in $(seq 1 29); do login "$R" alice app-pw-alice; done
expect "30 sessions in 5 minutes" 200 "$CODE"
login "$R" alice app-pw-alice
expect "the 31st: 429" "429 RateLimitExceeded 0" "$CODE $(j .error) $(hdr RateLimit-Remaining)"
xrpc "$R" com.atproto.server.refreshSession -H "Authorization: Bearer $RL_REFRESH"
xrpc "$R" com.atproto.server.refreshSession -H "Authorization: Bearer $RL_REFRESH"
expect "a refresh token used twice: the second refused" 400 "$CODE"
sessions() { # URL ACCOUNT: "create_calls created create_limited refresh_calls refreshed"
    req GET "$1/_sandbox/sessions?platform=bluesky&account=$2"
    echo "$CODE $(j '"\(.account) \(.create_calls) \(.created) \(.create_limited) \(.refresh_calls) \(.refreshed)"')"
}
expect "/_sandbox/sessions counts every createSession and refreshSession, answered or refused" \
    "200 alice 31 30 1 2 1" "$(sessions "$R" alice)"
expect "/_sandbox/sessions of an account that asked none: zeros" "200 bob 0 0 0 0 0" "$(sessions "$R" bob)"
req GET "$R/_sandbox/sessions?platform=bluesky"
expect "/_sandbox/sessions needs an account" 400 "$CODE"
req GET "$R/_sandbox/sessions?platform=mastodon&account=alice"
expect "/_sandbox/sessions of a platform without sessions: 404" 404 "$CODE"

# ---- a shortened session window (benchmarks) ---------------------------------
start sesswin --bluesky-session-window-s 4
S=$URL_sesswin
add_account "$S" alice app-pw-alice
for _ in $(seq 1 29); do  # plain curl: the 30 sessions fit in the window
    curl -sS -o /dev/null -X POST "$S/bluesky/xrpc/com.atproto.server.createSession" \
        -H 'Content-Type: application/json' -d '{"identifier":"alice","password":"app-pw-alice"}'
done
login "$S" alice app-pw-alice
expect "--bluesky-session-window-s: 30 sessions, the window in the policy" "200 30;w=4" \
    "$CODE $(hdr RateLimit-Policy)"
login "$S" alice app-pw-alice
expect "... the 31st within the window: 429" "429 RateLimitExceeded" "$CODE $(j .error)"
sleep 4.2
login "$S" alice app-pw-alice
expect "... after the window: a session again" 200 "$CODE"

# ---- a repeated rkey answered 500, as the reference PDS probably does --------
start dup --bluesky-duplicate-status 500
U=$URL_dup
add_account "$U" alice app-pw-alice
login "$U" alice app-pw-alice
post "$U" "$ACCESS" "$DID" "$(rec 'once')" 3kabcdefghij5
post "$U" "$ACCESS" "$DID" "$(rec 'twice')" 3kabcdefghij5
expect "--bluesky-duplicate-status 500" "500 InternalServerError 1" "$CODE $(j .error) $(ledger "$U" | jq .count)"

# ---- --open ------------------------------------------------------------------
start open --open
O=$URL_open
login "$O" newcomer.bsky.social anything
expect "--open: createSession makes the account" "200 newcomer.bsky.social" "$CODE $(j .handle)"
post "$O" "$ACCESS" "$DID" "$(rec 'open post')"
expect "--open: and it posts" "200 newcomer" "$CODE $(ledger "$O" | jq -r '.entries[0].account')"
xget "$O" com.atproto.server.getSession -H "Authorization: Bearer some-bench-token"
expect_match "--open: any bearer token names an account" '^200 user' "$CODE $(j .handle)"
req POST "$O/_sandbox/reset"
xget "$O" "com.atproto.repo.getRecord?repo=newcomer&collection=app.bsky.feed.post&rkey=3kabcdefghij2"
expect "reset forgets accounts and records" 400 "$CODE"

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
