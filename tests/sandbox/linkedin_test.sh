#!/usr/bin/env bash
# The LinkedIn API of crieur-sandbox (/linkedin): Posts API contract (201 with
# an empty body and x-restli-id), versions and the Rest.li protocol header,
# tokens, duplicates, validation, little text, read-back, social actions,
# comments, statistics, daily rate limits without headers, fault injection
# and --open, with curl and jq. usage: linkedin_test.sh PATH/TO/crieur-sandbox
# Prints "N passed, M failed"; exits 1 on failure.
set -euo pipefail

BIN=${1:?usage: linkedin_test.sh PATH/TO/crieur-sandbox}
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
VERSION=202608
li() { # METHOD URL TOKEN [curl args...]: a LinkedIn call with the usual headers
    local method=$1 url=$2 token=$3; shift 3
    req "$method" "$url" -H "Authorization: Bearer $token" -H "LinkedIn-Version: $VERSION" \
        -H 'X-Restli-Protocol-Version: 2.0.0' -H 'Content-Type: application/json' "$@"
}
post_body() { # AUTHOR COMMENTARY (as sent): the Posts API body
    jq -cn --arg a "$1" --arg c "$2" '{author:$a, commentary:$c, visibility:"PUBLIC",
        distribution:{feedDistribution:"MAIN_FEED", targetEntities:[], thirdPartyDistributionChannels:[]},
        lifecycleState:"PUBLISHED", isReshareDisabledByAuthor:false}'
}
publish() { # URL TOKEN ORG COMMENTARY [curl args...]
    local url=$1 token=$2 org=$3 text=$4; shift 4
    li POST "$url/linkedin/rest/posts" "$token" -d "$(post_body "urn:li:organization:$org" "$text")" "$@"
}
add_account() { # URL HANDLE TOKEN
    req POST "$1/_sandbox/accounts" -H 'Content-Type: application/json' \
        -d "{\"platform\":\"linkedin\",\"handle\":\"$2\",\"token\":\"$3\"}"
}
ledger_count() { curl -sS "$1/_sandbox/ledger?platform=linkedin" | jq -r .count; }
enc() { jq -rn --arg v "$1" '$v | @uri'; }
rep() { local s="" i; for ((i = 0; i < $2; i++)); do s+=$1; done; printf '%s' "$s"; }
THROTTLED='{"status":429,"serviceErrorCode":101,"message":"Resource level throttle limit for calls to this resource is reached."}'
SHARE='^urn:li:share:[0-9]+$'

start main --seed 5 --linkedin-min-version 202601
M=$URL_main

# ---- accounts and publishing ------------------------------------------------
add_account "$M" 2414183 tokA
expect "control API accepts platform linkedin" "201 linkedin 2414183 $M/linkedin" \
    "$CODE $(j '"\(.platform) \(.handle) \(.api_base)"')"
add_account "$M" 5515715 tokB

publish "$M" tokA 2414183 'Hello LinkedIn \(launch\) {hashtag|\#|crieur}'
expect "publish: 201" 201 "$CODE"
expect "publish: an EMPTY body" "" "$BODY"
P1=$(hdr x-restli-id)
expect_match "publish: the post's URN in x-restli-id" "$SHARE" "$P1"
expect "publish: no rate-limit headers" 0 "$(grep -ci '^x-ratelimit\|^x-rate-limit\|^retry-after' "$TMP/headers" || true)"
req GET "$M/_sandbox/ledger?platform=linkedin"
expect "ledger entry: platform, account, id, no idempotency key" "1 linkedin 2414183 $P1 null" \
    "$(j '"\(.count) \(.entries[0].platform) \(.entries[0].account) \(.entries[0].id) \(.entries[0].idempotency_key)"')"
expect "ledger url: www.linkedin.com's shape on the sandbox host" "$M/linkedin/feed/update/$P1/" "$(j '.entries[0].url')"
expect "ledger text: the little text as a reader sees it" "Hello LinkedIn (launch) #crieur" "$(j '.entries[0].text')"

# ---- versions and protocol ----------------------------------------------------
BODY1=$(post_body urn:li:organization:2414183 "versions")
req POST "$M/linkedin/rest/posts" -H 'Authorization: Bearer tokA' -H 'X-Restli-Protocol-Version: 2.0.0' -d "$BODY1"
expect "no LinkedIn-Version: 400 VERSION_MISSING" "400 VERSION_MISSING" "$CODE $(j .code)"
req POST "$M/linkedin/rest/posts" -H 'Authorization: Bearer tokA' -H 'LinkedIn-Version: 202512' \
    -H 'X-Restli-Protocol-Version: 2.0.0' -d "$BODY1"
expect "a version older than --linkedin-min-version: 426, LinkedIn's body" \
    '426 {"status":426,"code":"NONEXISTENT_VERSION","message":"Requested version 20251201 is not active"}' "$CODE $BODY"
req POST "$M/linkedin/rest/posts" -H 'Authorization: Bearer tokA' -H 'LinkedIn-Version: 209912' \
    -H 'X-Restli-Protocol-Version: 2.0.0' -d "$BODY1"
expect "a version from the future: 426" "426 NONEXISTENT_VERSION" "$CODE $(j .code)"
req POST "$M/linkedin/rest/posts" -H 'Authorization: Bearer tokA' -H 'LinkedIn-Version: 2026-08' \
    -H 'X-Restli-Protocol-Version: 2.0.0' -d "$BODY1"
expect "a malformed version: 400" "400 INVALID_VERSION" "$CODE $(j .code)"
req POST "$M/linkedin/rest/posts" -H 'Authorization: Bearer tokA' -H "LinkedIn-Version: $VERSION.01" \
    -H 'X-Restli-Protocol-Version: 2.0.0' -d "$BODY1"
expect "YYYYMM.RR versions are accepted" 201 "$CODE"
req POST "$M/linkedin/rest/posts" -H 'Authorization: Bearer tokA' -H "LinkedIn-Version: $VERSION" -d "$BODY1"
expect "no X-Restli-Protocol-Version: 400" "400 ILLEGAL_ARGUMENT" "$CODE $(j .code)"
expect "refusals before the platform add nothing" 2 "$(ledger_count "$M")"

# ---- tokens ---------------------------------------------------------------------
publish "$M" nosuchtoken 2414183 "unknown token"
expect "unknown token: 401 INVALID_ACCESS_TOKEN 65600" "401 401 65600 INVALID_ACCESS_TOKEN" \
    "$CODE $(j '"\(.status) \(.serviceErrorCode) \(.code)"')"
req POST "$M/linkedin/rest/posts" -H "LinkedIn-Version: $VERSION" -H 'X-Restli-Protocol-Version: 2.0.0' -d "$BODY1"
expect "no token: 401" 401 "$CODE"
add_account "$M" 777 tokRevoked
req POST "$M/_sandbox/tokens/revoke" -d '{"token":"tokRevoked"}'
publish "$M" tokRevoked 777 "revoked"
expect "revoked token: 401 REVOKED_ACCESS_TOKEN 65601" \
    '401 {"status":401,"serviceErrorCode":65601,"code":"REVOKED_ACCESS_TOKEN","message":"The token used in the request has been revoked by the user"}' \
    "$CODE $BODY"

# ---- refusals -------------------------------------------------------------------
BEFORE=$(ledger_count "$M")
publish "$M" tokA 5515715 "as somebody else"
expect "author of another organization: 403 ACCESS_DENIED" "403 ACCESS_DENIED 100" \
    "$CODE $(j '"\(.code) \(.serviceErrorCode)"')"
publish "$M" tokA 2414183 'Hello LinkedIn \(launch\) {hashtag|\#|crieur}'
expect "duplicate: 422" 422 "$CODE"
expect "duplicate: LinkedIn's body naming the first post" \
    "com.linkedin.content.common.exception.BadRequestResponseException: Content is a duplicate of $P1 DUPLICATE_POST Duplicate post is detected 422 com.linkedin.common.error.BadRequest" \
    "$(j '"\(.message) \(.errorDetails.inputErrors[0].code) \(.errorDetails.inputErrors[0].description) \(.status) \(.errorDetailType)"')"
publish "$M" tokA 2414183 'Hello LinkedIn (launch) #crieur'
expect "duplicate: the rendered text counts, not the escapes" "422 DUPLICATE_POST" "$CODE $(j '.errorDetails.inputErrors[0].code')"
publish "$M" tokB 5515715 'Hello LinkedIn (launch) #crieur'
expect "the same text by another organization is fine" 201 "$CODE"
P_B=$(hdr x-restli-id)
publish "$M" tokA 2414183 "$(rep a 3001)"
expect "3001 characters: 422 with the reason" "422 Commentary is too long: 3001 characters, the maximum is 3000 /commentary" \
    "$CODE $(j '"\(.errorDetails.inputErrors[0].description) \(.errorDetails.inputErrors[0].input.inputPath.fieldPath)"')"
expect_match "too long: the message" "Commentary is too long" "$(j .message)"
publish "$M" tokA 2414183 "$(rep é 2998)\\(\\)"
expect "3000 characters once unescaped (escapes do not count): 201" 201 "$CODE"
publish "$M" tokA 2414183 "   "
expect "blank commentary: 422" 422 "$CODE"
li POST "$M/linkedin/rest/posts" tokA -d '{"author":"urn:li:organization:2414183","text":"x"}'
expect "schema errors: 422, one line per problem" "422 true true true" \
    "$CODE $(j '(.message | test("ERROR :: /text :: unrecognized field found but not allowed")), (.message | test("ERROR :: /commentary :: field is required")), (.message | test("/lifecycleState :: field is required"))' | tr '\n' ' ' | sed 's/ $//')"
li POST "$M/linkedin/rest/posts" tokA -d "$(post_body urn:li:organization:2414183 vis | jq -c '.visibility="SECRET"')"
expect "bad visibility: 422" 422 "$CODE"
li POST "$M/linkedin/rest/posts" tokA -d '{"author":'
expect "malformed JSON: 400 data map" "400 Request body could not be converted to data map" "$CODE $(j .message)"
expect "refusals add nothing to the ledger" "$((BEFORE + 2))" "$(ledger_count "$M")"
li GET "$M/linkedin/rest/nothing" tokA
expect "unknown resource: 404" "404 RESOURCE_NOT_FOUND" "$CODE $(j .code)"

# ---- read-back --------------------------------------------------------------------
add_account "$M" 42 tokC
for i in 1 2 3 4 5; do publish "$M" tokC 42 "post $i \\(n°$i\\)"; done
P5=$(hdr x-restli-id)
AUTH=$(enc urn:li:organization:42)
li GET "$M/linkedin/rest/posts?author=$AUTH&q=author&count=2&sortBy=LAST_MODIFIED" tokC -H 'X-RestLi-Method: FINDER'
expect "q=author: newest first, count, commentary as sent" "200 2 $P5 post 5 \\(n°5\\) post 4 \\(n°4\\)" \
    "$CODE $(j '"\(.elements | length) \(.elements[0].id) \(.elements[0].commentary) \(.elements[1].commentary)"')"
expect "paging: start, count, total, a next link" "0 2 5 next" \
    "$(j '"\(.paging.start) \(.paging.count) \(.paging.total) \(.paging.links[0].rel)"')"
expect "element shape" '["author","commentary","createdAt","distribution","id","isReshareDisabledByAuthor","lastModifiedAt","lifecycleState","lifecycleStateInfo","publishedAt","visibility"]' \
    "$(j '.elements[0] | keys | tojson')"
expect "element fields" "urn:li:organization:42 PUBLIC MAIN_FEED PUBLISHED number" \
    "$(j '.elements[0] | "\(.author) \(.visibility) \(.distribution.feedDistribution) \(.lifecycleState) \(.createdAt | type)"')"
NOWMS=$(date +%s%3N)
CREATED=$(j '.elements[0].createdAt')
expect_true "createdAt is unix ms, recent ($((NOWMS - CREATED)) ms ago)" test $((NOWMS - CREATED)) -ge 0 -a $((NOWMS - CREATED)) -lt 60000
li GET "$M/linkedin/rest/posts?author=urn:li:organization:42&q=author&count=2&start=4" tokC
expect "start: the last page, unencoded URNs too" "200 1 post 1 \\(n°1\\) 0" \
    "$CODE $(j '"\(.elements | length) \(.elements[0].commentary) \(.paging.links | length)"')"
li GET "$M/linkedin/rest/posts?author=$AUTH&q=author&count=10&sortBy=CREATED" tokC
expect "sortBy=CREATED" "200 5" "$CODE $(j '.elements | length')"
li GET "$M/linkedin/rest/posts?author=$(enc urn:li:organization:2414183)&q=author" tokC
expect "another organization's posts: 403" "403 ACCESS_DENIED" "$CODE $(j .code)"
li GET "$M/linkedin/rest/posts?author=$AUTH" tokC
expect "without q=author: 400" 400 "$CODE"
li GET "$M/linkedin/rest/posts?author=$AUTH&q=author&count=101" tokC
expect "count above 100: 400" 400 "$CODE"
li GET "$M/linkedin/rest/posts?author=$AUTH&q=author&sortBy=RANDOM" tokC
expect "bad sortBy: 400" 400 "$CODE"
li GET "$M/linkedin/rest/posts/$(enc "$P5")" tokC
expect "one post by its encoded URN" "200 $P5" "$CODE $(j .id)"
li GET "$M/linkedin/rest/posts/urn:li:share:1" tokC
expect "unknown post: 404" 404 "$CODE"

# ---- comments, social actions, statistics ---------------------------------------------
req POST "$M/_sandbox/mentions" -d "{\"platform\":\"linkedin\",\"account\":\"42\",\"from\":\"bob\",\"text\":\"Great (news)\",\"in_reply_to_id\":\"$P5\"}"
expect "inject a comment" 201 "$CODE"
req POST "$M/_sandbox/mentions" -d "{\"platform\":\"linkedin\",\"account\":\"42\",\"from\":\"eve\",\"like\":true,\"in_reply_to_id\":\"$P5\"}"
expect "inject a like" "201 1" "$CODE $(j .likes)"
req POST "$M/_sandbox/mentions" -d '{"platform":"linkedin","account":"42","from":"bob","text":"x"}'
expect "a comment needs a post of the account" 422 "$CODE"
li POST "$M/linkedin/rest/socialActions/$(enc "$P5")/comments" tokC \
    -d "{\"actor\":\"urn:li:organization:42\",\"object\":\"$P5\",\"message\":{\"text\":\"Thanks!\"}}"
expect "comment as the organization: 201" "201 urn:li:organization:42 Thanks! $P5" \
    "$CODE $(j '"\(.actor) \(.message.text) \(.object)"')"
expect_match "comment URN in x-restli-id" '^urn:li:comment:\(urn:li:share:[0-9]+,[0-9]+\)$' "$(hdr x-restli-id)"
C1=$(hdr x-restli-id)
expect "the comment's answer names it too (commentUrn, \$URN)" "$C1 $C1" "$(j '"\(.commentUrn) \(."$URN")"')"
req GET "$M/_sandbox/ledger?platform=linkedin"
expect "the organization's comment is on the ledger (a reply)" "42 Thanks! $M/linkedin/feed/update/$P5/?commentUrn=$(enc "$C1" | sed 's/(/%28/g; s/)/%29/g')" \
    "$(jq -r --arg c "$C1" '.entries[] | select(.id == $c) | "\(.account) \(.text) \(.url)"' <<<"$BODY")"
li POST "$M/linkedin/rest/socialActions/$(enc "$P5")/comments" tokC \
    -d "{\"actor\":\"urn:li:organization:1\",\"object\":\"$P5\",\"message\":{\"text\":\"x\"}}"
expect "comment as another organization: 403" 403 "$CODE"
li GET "$M/linkedin/rest/socialActions/$(enc "$P5")/comments?count=10" tokC
expect "comments, newest first" "200 2 Thanks! Great (news) urn:li:person:bob 2" \
    "$CODE $(j '"\(.elements | length) \(.elements[0].message.text) \(.elements[1].message.text) \(.elements[1].actor) \(.paging.total)"')"
li GET "$M/linkedin/rest/socialActions/$(enc "$P5")" tokC
expect "socialActions: likes and comments" "200 1 2 $P5" \
    "$CODE $(j '"\(.likesSummary.totalLikes) \(.commentsSummary.aggregatedTotalComments) \(.target)"')"
li GET "$M/linkedin/rest/socialActions/urn:li:share:1" tokC
expect "socialActions of an unknown post: 404" 404 "$CODE"
li GET "$M/linkedin/rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity=$AUTH&shares=List($(enc "$P5"),urn%3Ali%3Ashare%3A1,$(enc "$P1"))" tokC
expect "share statistics: known shares of the organization only" "200 1 $P5 1 2 0" \
    "$CODE $(j '"\(.elements | length) \(.elements[0].share) \(.elements[0].totalShareStatistics.likeCount) \(.elements[0].totalShareStatistics.commentCount) \(.elements[0].totalShareStatistics.impressionCount)"')"
expect "statistics fields" '["clickCount","commentCount","engagement","impressionCount","likeCount","shareCount","uniqueImpressionsCount"]' \
    "$(j '.elements[0].totalShareStatistics | keys | tojson')"
li GET "$M/linkedin/rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity=$AUTH" tokC
expect "organization totals" "200 1 2 null" \
    "$CODE $(j '"\(.elements[0].totalShareStatistics.likeCount) \(.elements[0].totalShareStatistics.commentCount) \(.elements[0].share)"')"
li GET "$M/linkedin/rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity=$(enc urn:li:organization:2414183)" tokC
expect "another organization's statistics: 403" 403 "$CODE"
li GET "$M/linkedin/rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity=$AUTH&shares=urn:li:share:1" tokC
expect "shares must be List(...): 400" 400 "$CODE"

# ---- images (Images API) -------------------------------------------------------------
curl -fsS "$M/_sandbox/media/pic.png" -o "$TMP/pic.png"
curl -fsS "$M/_sandbox/media/pic.webp" -o "$TMP/pic.webp"
printf 'not an image at all' > "$TMP/not.png"
img_init() { # TOKEN OWNER
    li POST "$M/linkedin/rest/images?action=initializeUpload" "$1" \
        -d "{\"initializeUploadRequest\":{\"owner\":\"$2\"}}"
}
img_post() { # TOKEN ORG COMMENTARY IMAGE_URN
    li POST "$M/linkedin/rest/posts" "$1" \
        -d "$(post_body "urn:li:organization:$2" "$3" | jq -c --arg i "$4" '.content={media:{id:$i,altText:""}}')"
}
img_init tokA urn:li:organization:2414183
expect "initializeUpload: 200 {value:{uploadUrlExpiresAt,uploadUrl,image}}" "200 true" \
    "$CODE $(j '(.value.uploadUrlExpiresAt | type == "number") and (.value.uploadUrl | startswith("'"$M"'/linkedin/dms-uploads/"))')"
expect_match "initializeUpload: an image URN" '^urn:li:image:[0-9]+$' "$(j .value.image)"
UP1=$(j .value.uploadUrl); IMG1=$(j .value.image)
img_init tokA urn:li:organization:5515715
expect "initializeUpload for another organization: 403 ACCESS_DENIED" "403 ACCESS_DENIED" "$CODE $(j .code)"
li POST "$M/linkedin/rest/images?action=initializeUpload" tokA -d '{"initializeUploadRequest":{}}'
expect "initializeUpload without an owner: 422 schema error" "422 true" \
    "$CODE $(j '.message | test("/initializeUploadRequest/owner :: field is required")')"
req POST "$M/linkedin/rest/images?action=initializeUpload" -H 'Authorization: Bearer tokA' \
    -d '{"initializeUploadRequest":{"owner":"urn:li:organization:2414183"}}'
expect "initializeUpload without LinkedIn-Version: 400" "400 VERSION_MISSING" "$CODE $(j .code)"
li GET "$M/linkedin/rest/images/$(enc "$IMG1")" tokA
expect "an initialized image waits for its upload" "200 WAITING_UPLOAD urn:li:organization:2414183" \
    "$CODE $(j '"\(.status) \(.owner)"')"
BEFORE=$(ledger_count "$M")
img_post tokA 2414183 "Picture before its upload" "$IMG1"
expect "a post naming an image not uploaded yet: 422 (Rest.li input error)" \
    "422 INVALID_VALUE /content/media/id true" \
    "$CODE $(j '"\(.errorDetails.inputErrors[0].code) \(.errorDetails.inputErrors[0].input.inputPath.fieldPath) \(.message | test("upload has not completed"))"')"
req PUT "$UP1" -H 'Authorization: Bearer tokA' --data-binary "@$TMP/not.png"
expect "upload of bytes that are no image: 400" "400 INVALID_IMAGE" "$CODE $(j .code)"
req PUT "$UP1" -H 'Authorization: Bearer tokA' --data-binary "@$TMP/pic.webp"
expect "LinkedIn takes JPEG, PNG or GIF: a WebP upload is 400" "400 INVALID_IMAGE" "$CODE $(j .code)"
req PUT "$UP1" -H 'Authorization: Bearer tokB' --data-binary "@$TMP/pic.png"
expect "upload by another organization's token: 403" 403 "$CODE"
req PUT "$UP1" --data-binary "@$TMP/pic.png"
expect "upload without a token: 401" 401 "$CODE"
req PUT "$M/linkedin/dms-uploads/1-0000" -H 'Authorization: Bearer tokA' --data-binary "@$TMP/pic.png"
expect "upload to an unknown URL: 404" 404 "$CODE"
req PUT "$UP1" -H 'Authorization: Bearer tokA' --data-binary "@$TMP/pic.png"
expect "upload: 201, empty body, no versioned-API headers needed" "201 " "$CODE $BODY"
li GET "$M/linkedin/rest/images/$(enc "$IMG1")" tokA
expect "the uploaded image is AVAILABLE" "200 AVAILABLE image/png" "$CODE $(j '"\(.status) \(.mediaType)"')"
img_post tokA 2414183 "With a picture (2)" "$IMG1"
expect "a post with the uploaded image: 201 and its URN" 201 "$CODE"
P_IMG=$(hdr x-restli-id)
expect_match "image post URN" "$SHARE" "$P_IMG"
req GET "$M/_sandbox/ledger?platform=linkedin"
expect "the ledger entry lists the image" "[\"$IMG1\"]" \
    "$(jq -c --arg p "$P_IMG" '.entries[] | select(.id == $p) | .media' <<<"$BODY")"
li GET "$M/linkedin/rest/posts/$(enc "$P_IMG")" tokA
expect "the post reads back with its content" "200 $IMG1" "$CODE $(j .content.media.id)"
img_post tokA 2414183 "" "$IMG1"
expect "an image post may have empty commentary" 201 "$CODE"
img_post tokB 5515715 "Borrowed picture" "$IMG1"
expect "another organization's image: 422" "422 INVALID_VALUE true" \
    "$CODE $(j '"\(.errorDetails.inputErrors[0].code) \(.message | test("does not exist or is not owned"))"')"
img_post tokA 2414183 "Unknown picture" "urn:li:image:123"
expect "an image never initialized: 422" "422 /content/media/id" \
    "$CODE $(j '.errorDetails.inputErrors[0].input.inputPath.fieldPath')"
li POST "$M/linkedin/rest/posts" tokA \
    -d "$(post_body urn:li:organization:2414183 "An article" | jq -c '.content={article:{source:"https://e.example"}}')"
expect "other content kinds are not imitated: 422" 422 "$CODE"
expect "refused image posts add nothing to the ledger" "$((BEFORE + 2))" "$(ledger_count "$M")"

# ---- fault injection ----------------------------------------------------------------
add_account "$M" 99 tokD
req POST "$M/_sandbox/faults" -d '{"platform":"linkedin","account":"99","path":"/rest/posts","method":"POST","status":503,"count":1}'
expect "add a LinkedIn fault rule" 201 "$CODE"
BEFORE=$(ledger_count "$M")
publish "$M" tokD 99 "first try"
expect "injected 503: LinkedIn's shape" "503 503" "$CODE $(j .status)"
expect "injected error records nothing" "$BEFORE" "$(ledger_count "$M")"
publish "$M" tokD 99 "first try"
expect "count=1: then success" 201 "$CODE"

req POST "$M/_sandbox/faults" -d '{"platform":"linkedin","account":"99","path":"/rest/posts","method":"POST","status":401,"count":1}'
publish "$M" tokD 99 "expired"
expect "injected 401: EXPIRED_ACCESS_TOKEN" "401 EXPIRED_ACCESS_TOKEN 65601" "$CODE $(j '"\(.code) \(.serviceErrorCode)"')"
req POST "$M/_sandbox/faults" -d '{"platform":"linkedin","account":"99","path":"/rest/posts","method":"GET","status":403,"count":1}'
li GET "$M/linkedin/rest/posts?author=$(enc urn:li:organization:99)&q=author" tokD
expect "injected 403 on a read: ACCESS_DENIED" "403 ACCESS_DENIED" "$CODE $(j .code)"
req POST "$M/_sandbox/faults" -d '{"platform":"linkedin","account":"99","path":"/rest/posts","status":429,"count":1}'
publish "$M" tokD 99 "throttled"
expect "injected 429: LinkedIn's body, no headers" "429 $THROTTLED 0" \
    "$CODE $BODY $(grep -ci '^x-rate\|^retry-after' "$TMP/headers" || true)"
req POST "$M/_sandbox/faults" -d '{"platform":"linkedin","account":"99","path":"/rest/posts","status":426,"count":1}'
publish "$M" tokD 99 "sunset"
expect "injected 426: NONEXISTENT_VERSION naming the version" "426 Requested version ${VERSION}01 is not active" "$CODE $(j .message)"

req POST "$M/_sandbox/faults" -d '{"platform":"linkedin","account":"99","mode":"timeout_after_accept","count":1}'
BEFORE=$(ledger_count "$M")
publish "$M" tokD 99 "accepted, never answered" --max-time 1
expect "timeout_after_accept: the client times out" "curl-exit-28" "$CODE"
req GET "$M/_sandbox/ledger?platform=linkedin&since=$BEFORE"
expect "timeout_after_accept: the post is in the ledger" "1 accepted, never answered" "$(j '"\(.count) \(.entries[0].text)"')"
li GET "$M/linkedin/rest/posts?author=$(enc urn:li:organization:99)&q=author&count=1" tokD
expect "... and can be read back" "accepted, never answered" "$(j '.elements[0].commentary')"
req POST "$M/_sandbox/faults" -d '{"platform":"linkedin","account":"99","mode":"drop","count":1}'
BEFORE=$(ledger_count "$M")
publish "$M" tokD 99 "dropped"
expect "drop: closed without an answer" "curl-exit-52" "$CODE"
expect "drop: nothing recorded" "$BEFORE" "$(ledger_count "$M")"
req POST "$M/_sandbox/faults" -d '{"platform":"x","status":500}'
publish "$M" tokD 99 "x rules leave LinkedIn alone"
expect "an X fault rule does not fire on /linkedin" 201 "$CODE"
req DELETE "$M/_sandbox/faults"

# ---- rate limits (separate instances) -------------------------------------------
# Windows are aligned on the epoch: start right after a boundary.
align() { # PERIOD_S: sleeps until just after the next multiple of PERIOD_S
    local ms
    ms=$(date +%s%3N)
    sleep "$(awk -v ms="$ms" -v p="$1" 'BEGIN { printf "%.3f", (p * 1000 - ms % (p * 1000)) / 1000 + 0.05 }')"
}
start limits --linkedin-post-limit 2 --linkedin-window-s 4
L=$URL_limits
add_account "$L" 1001 tokR
align 4
publish "$L" tokR 1001 "rl post 1"
publish "$L" tokR 1001 "rl post 2"
expect "2 posts of 2: 201" 201 "$CODE"
publish "$L" tokR 1001 "rl post 3"
expect "3rd post: 429, LinkedIn's body" "429 $THROTTLED" "$CODE $BODY"
expect "429: no rate-limit header, no Retry-After" 0 "$(grep -ci '^x-rate\|^x-ratelimit\|^ratelimit\|^retry-after' "$TMP/headers" || true)"
expect "429 adds no ledger entry" 2 "$(ledger_count "$L")"
li GET "$L/linkedin/rest/posts?author=$(enc urn:li:organization:1001)&q=author" tokR
expect "reads are not posts: 200" 200 "$CODE"
align 4
publish "$L" tokR 1001 "rl post 3"
expect "the next window: 201" 201 "$CODE"

start hinted --linkedin-post-limit 1 --linkedin-window-s 30 --linkedin-retry-after
H=$URL_hinted
add_account "$H" 1002 tokH
publish "$H" tokH 1002 "hint 1"
publish "$H" tokH 1002 "hint 2"
RA=$(hdr Retry-After)
expect_true "--linkedin-retry-after: 429 with Retry-After ($RA s) within the window" \
    test "$CODE" = 429 -a -n "$RA" -a "${RA:-0}" -ge 1 -a "${RA:-99}" -le 30
req POST "$H/_sandbox/faults" -d '{"platform":"linkedin","path":"/rest/posts","status":429,"count":1}'
li GET "$H/linkedin/rest/posts?author=$(enc urn:li:organization:1002)&q=author" tokH
expect "an injected 429 is LinkedIn's exactly: no Retry-After even then" "429 " "$CODE $(hdr Retry-After)"

start app --linkedin-app-limit 3
A=$URL_app
add_account "$A" 1003 tokP
add_account "$A" 1004 tokQ
li GET "$A/linkedin/rest/posts?author=$(enc urn:li:organization:1003)&q=author" tokP
publish "$A" tokP 1003 "app 1"
li GET "$A/linkedin/rest/posts?author=$(enc urn:li:organization:1004)&q=author" tokQ
expect "3 calls of the app: fine" 200 "$CODE"
publish "$A" tokQ 1004 "app 2"
expect "the app's 4th call, by another member: 429" 429 "$CODE"

# ---- --open ---------------------------------------------------------------------
# Any token names its account: "user" + its first 32 [a-z0-9] + FNV-1a (32 bits).
open_handle() {
    python3 -c 'import sys, re
t = sys.argv[1].encode()
h = 2166136261
for b in t: h = ((h ^ b) * 16777619) & 0xffffffff
print("user" + re.sub(rb"[^a-z0-9]", b"", t.lower())[:32].decode() + "%08x" % h)' "$1"
}
start open --open
O=$URL_open
OPEN_ORG=$(open_handle "Open-1234")
publish "$O" "Open-1234" nobody "open post"
expect "--open: a token acts as its own organization only" 403 "$CODE"
publish "$O" "Open-1234" "$OPEN_ORG" "open post"
expect "--open: publish as urn:li:organization:<open handle>" 201 "$CODE"
expect "--open: the ledger names the account" "$OPEN_ORG" \
    "$(curl -sS "$O/_sandbox/ledger?platform=linkedin" | jq -r '.entries[0].account')"
req POST "$O/_sandbox/tokens/revoke" -d '{"token":"Open-1234"}'
publish "$O" "Open-1234" "$OPEN_ORG" "after revoke"
expect "--open: a revoked token stays refused" "401 REVOKED_ACCESS_TOKEN" "$CODE $(j .code)"

# ---- reset ------------------------------------------------------------------------
req POST "$M/_sandbox/reset"
add_account "$M" 42 tokC
li GET "$M/linkedin/rest/posts?author=$AUTH&q=author" tokC
expect "reset forgets the posts" "200 0" "$CODE $(j '.elements | length')"

for name in main limits hinted app open; do
    pidvar="PID_$name"
    rc=0
    kill -TERM "${!pidvar}"
    wait "${!pidvar}" || rc=$?
    expect "$name: SIGTERM exits 0" 0 "$rc"
    [[ $rc -eq 0 ]] || sed 's/^/    | /' "$TMP/$name.err" | tail -n 40
done

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
