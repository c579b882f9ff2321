#!/usr/bin/env bash
# Expiring access tokens and the refresh endpoints of crieur-sandbox (X,
# Threads, LinkedIn; sandbox/sb_oauth.h): registration with expires_in and
# refresh_token, each platform's expired-token answer, X's rotating refresh
# tokens, Threads' refresh_access_token, LinkedIn's accessToken (refresh token
# kept), client checks, --token-ttl-s, revocation, the refresh counters, with
# curl and jq. usage: oauth_test.sh PATH/TO/crieur-sandbox
# Prints "N passed, M failed"; exits 1 on failure.
set -euo pipefail

BIN=${1:?usage: oauth_test.sh PATH/TO/crieur-sandbox}
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
register() { # URL JSON
    req POST "$1/_sandbox/accounts" -H 'Content-Type: application/json' -d "$2"
}
refreshes() { curl -sS "$1/_sandbox/stats" | jq -r ".refreshes.$2"; }
x_me() { req GET "$1/x/2/users/me" -H "Authorization: Bearer $2"; }
x_token() { # URL FORM [curl args...]
    local url=$1 form=$2; shift 2
    req POST "$url/x/2/oauth2/token" -H 'Content-Type: application/x-www-form-urlencoded' -d "$form" "$@"
}
th_refresh() { req GET "$1/threads/refresh_access_token?grant_type=${3:-th_refresh_token}&access_token=$2"; }
th_me() { req GET "$1/threads/v1.0/me?fields=id,username" -H "Authorization: Bearer $2"; }
li_posts() {
    req GET "$1/linkedin/rest/posts?author=urn%3Ali%3Aorganization%3A2414183&q=author" \
        -H "Authorization: Bearer $2" -H 'LinkedIn-Version: 202608' -H 'X-Restli-Protocol-Version: 2.0.0'
}
li_token() { # URL FORM [curl args...]
    local url=$1 form=$2; shift 2
    req POST "$url/linkedin/oauth/v2/accessToken" -H 'Content-Type: application/x-www-form-urlencoded' \
        -d "$form" "$@"
}
X_UNAUTHORIZED='{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}'
X_BAD_TOKEN='{"error":"invalid_request","error_description":"Value passed for the token was invalid."}'

start main
start short --token-ttl-s 1 --x-client-id app1 --x-client-secret s3cret \
    --linkedin-client-id lid --linkedin-client-secret lsec
start open --open
M=$URL_main S=$URL_short O=$URL_open

# ---- registration -----------------------------------------------------------------
register "$M" '{"platform":"mastodon","handle":"m1","token":"tm","expires_in":60}'
expect "expires_in on a platform whose tokens never expire: 422" 422 "$CODE"
register "$M" '{"platform":"x","handle":"acme","token":"t1","expires_in":-1}'
expect "negative expires_in: 422" 422 "$CODE"
register "$M" '{"platform":"x","handle":"acme","token":"t1","expires_in":"60"}'
expect "expires_in as a string: 422" 422 "$CODE"
register "$M" '{"platform":"threads","handle":"1789","token":"t1","refresh_token":"r"}'
expect "a refresh_token on Threads (refreshes with the access token): 422" 422 "$CODE"
expect_match "  says why" "access token itself" "$(j .error)"
register "$M" '{"platform":"linkedin","handle":"acme","token":"t1","refresh_token":""}'
expect "an empty refresh_token: 422" 422 "$CODE"

# ---- X ------------------------------------------------------------------------------
x_me "$M" nosuchtoken
UNKNOWN_BODY=$BODY
register "$M" '{"platform":"x","handle":"acme","token":"xOld","expires_in":0}'
expect "X: registered with expires_in 0" 201 "$CODE"
x_me "$M" xOld
expect "X: expired token: 401 problem JSON, as for any bad token" "401 $X_UNAUTHORIZED" "$CODE $BODY"
expect "X: same body as an unknown token" "$UNKNOWN_BODY" "$BODY"
register "$M" '{"platform":"x","handle":"acme","token":"xA","expires_in":3600,"refresh_token":"xR1"}'
x_me "$M" xA
expect "X: an unexpired token works" "200 acme" "$CODE $(j .data.username)"
x_token "$M" 'grant_type=refresh_token&refresh_token=xR1&client_id=anyclient'
expect "X: refresh 200 bearer 7200 (X's lifetime by default)" "200 bearer 7200" \
    "$CODE $(j .token_type) $(j .expires_in)"
expect "X: scope given" "true" "$(j '.scope | test("offline.access")')"
expect "X: Cache-Control no-store" "no-store" "$(hdr Cache-Control)"
XA2=$(j .access_token) XR2=$(j .refresh_token)
expect "X: a new refresh token (rotation)" "true" "$([[ -n $XR2 && $XR2 != xR1 ]] && echo true || echo false)"
x_me "$M" "$XA2"
expect "X: the new access token works, same account" "200 acme" "$CODE $(j .data.username)"
x_token "$M" 'grant_type=refresh_token&refresh_token=xR1&client_id=anyclient'
expect "X: the used refresh token is refused" "400 $X_BAD_TOKEN" "$CODE $BODY"
x_token "$M" "grant_type=refresh_token&refresh_token=$XR2&client_id=anyclient"
expect "X: the rotated refresh token works once" 200 "$CODE"
XR3=$(j .refresh_token)
x_token "$M" 'grant_type=refresh_token&refresh_token=nosuch&client_id=anyclient'
expect "X: an unknown refresh token: the same 400" "400 $X_BAD_TOKEN" "$CODE $BODY"
x_token "$M" "grant_type=refresh_token&refresh_token=$XR3"
expect "X: no client_id: 400 invalid_request" "400 invalid_request Missing required parameter [client_id]." \
    "$CODE $(j .error) $(j .error_description)"
x_token "$M" "grant_type=password&refresh_token=$XR3&client_id=c"
expect "X: another grant type: 400" "400 invalid_request" "$CODE $(j .error)"
req GET "$M/x/2/oauth2/token"
expect "X: GET on the token endpoint is not served" 404 "$CODE"
req POST "$M/_sandbox/tokens/revoke" -d "{\"token\":\"$XR3\"}"
expect "X: revoking a refresh token counts its binding" 1 "$(j .bindings)"
x_token "$M" "grant_type=refresh_token&refresh_token=$XR3&client_id=c"
expect "X: a revoked refresh token is refused" "400 $X_BAD_TOKEN" "$CODE $BODY"
expect "X: two refreshes counted" 2 "$(refreshes "$M" x)"

# confidential client, configured id, short lifetime
register "$S" '{"platform":"x","handle":"acme","token":"sA","refresh_token":"sR1"}'
x_token "$S" 'grant_type=refresh_token&refresh_token=sR1&client_id=other'
expect "X: --x-client-id refuses another client id" "400 Value passed for the client id was invalid." \
    "$CODE $(j .error_description)"
x_token "$S" 'grant_type=refresh_token&refresh_token=sR1&client_id=app1'
expect "X: a confidential client without Basic auth: 401 unauthorized_client" "401 unauthorized_client" \
    "$CODE $(j .error)"
x_token "$S" 'grant_type=refresh_token&refresh_token=sR1' -u app1:wrong
expect "X: a wrong secret: 401" 401 "$CODE"
x_token "$S" 'grant_type=refresh_token&refresh_token=sR1' -u app1:s3cret
expect "X: Basic id:secret: 200, --token-ttl-s 1" "200 1" "$CODE $(j .expires_in)"
SA2=$(j .access_token)
x_me "$S" "$SA2"
expect "X: the short-lived token works at first" 200 "$CODE"

# --open never turns an expired token into a new account
register "$O" '{"platform":"x","handle":"acme","token":"oExpired","expires_in":0}'
x_me "$O" oExpired
expect "X --open: an expired token stays refused" 401 "$CODE"

# ---- Threads --------------------------------------------------------------------------
register "$M" '{"platform":"threads","handle":"1789","token":"thA","expires_in":3600}'
th_refresh "$M" thA
expect "Threads: refresh 200 bearer 60 days" "200 bearer 5184000" "$CODE $(j .token_type) $(j .expires_in)"
THA2=$(j .access_token)
expect "Threads: no refresh token in the answer" "null" "$(j .refresh_token)"
th_me "$M" "$THA2"
expect "Threads: the new token works, same account" "200 1789" "$CODE $(j .id)"
th_me "$M" thA
expect "Threads: the old token stays valid until its own expiry" 200 "$CODE"
req GET "$M/threads/v1.0/refresh_access_token?grant_type=th_refresh_token&access_token=$THA2"
expect "Threads: the versioned path works too" 200 "$CODE"
register "$M" '{"platform":"threads","handle":"1789","token":"thE","expires_in":0}'
th_refresh "$M" thE
expect "Threads: an expired token cannot be refreshed: 190/463" "400 190 463 OAuthException" \
    "$CODE $(j .error.code) $(j .error.error_subcode) $(j .error.type)"
expect_match "  Graph's words" "^Error validating access token: Session has expired" "$(j .error.message)"
th_me "$M" thE
expect "Threads: an expired token on any call: 190/463" "400 190 463" \
    "$CODE $(j .error.code) $(j .error.error_subcode)"
th_refresh "$M" nosuch
expect "Threads: an unknown token: 190 without subcode" "400 190 null" \
    "$CODE $(j .error.code) $(j .error.error_subcode)"
th_refresh "$M" thA ig_refresh_token
expect "Threads: another grant_type: 400 code 100" "400 100" "$CODE $(j .error.code)"
expect "Threads: two refreshes counted" 2 "$(refreshes "$M" threads)"
register "$S" '{"platform":"threads","handle":"1789","token":"sth","expires_in":3600}'
th_refresh "$S" sth
expect "Threads: --token-ttl-s 1" "200 1" "$CODE $(j .expires_in)"
STH2=$(j .access_token)

# ---- LinkedIn --------------------------------------------------------------------------
register "$M" '{"platform":"linkedin","handle":"2414183","token":"liA","expires_in":0,"refresh_token":"lrA"}'
li_posts "$M" liA
expect "LinkedIn: expired token: 401 EXPIRED_ACCESS_TOKEN 65601" \
    '401 {"status":401,"serviceErrorCode":65601,"code":"EXPIRED_ACCESS_TOKEN","message":"The token used in the request has expired"}' \
    "$CODE $BODY"
li_token "$M" 'grant_type=refresh_token&refresh_token=lrA&client_id=c&client_secret=s'
expect "LinkedIn: refresh 200, 60 days, the refresh token kept" "200 5184000 lrA" \
    "$CODE $(j .expires_in) $(j .refresh_token)"
expect "LinkedIn: refresh_token_expires_in counts down from a year" "true" \
    "$(j '.refresh_token_expires_in <= 31536000 and .refresh_token_expires_in > 31535000')"
LIA2=$(j .access_token)
li_posts "$M" "$LIA2"
expect "LinkedIn: the new token works" 200 "$CODE"
li_token "$M" 'grant_type=refresh_token&refresh_token=lrA&client_id=c&client_secret=s'
expect "LinkedIn: the same refresh token works again (no rotation)" "200 lrA" "$CODE $(j .refresh_token)"
li_token "$M" 'grant_type=refresh_token&refresh_token=lrA&client_id=c'
expect "LinkedIn: no client_secret: 400" '400 invalid_request A required parameter "client_secret" is missing' \
    "$CODE $(j .error) $(j .error_description)"
req POST "$M/linkedin/oauth/v2/accessToken" -H 'Content-Type: application/json' \
    -d '{"grant_type":"refresh_token","refresh_token":"lrA","client_id":"c","client_secret":"s"}'
expect "LinkedIn: a JSON body is refused" "400 invalid_request" "$CODE $(j .error)"
li_token "$M" 'grant_type=refresh_token&refresh_token=nosuch&client_id=c&client_secret=s'
expect "LinkedIn: an unknown refresh token: 400 invalid_request" "400 invalid_request" "$CODE $(j .error)"
register "$M" '{"platform":"linkedin","handle":"2414183","token":"liB","refresh_token":"lrOld","refresh_expires_in":0}'
li_token "$M" 'grant_type=refresh_token&refresh_token=lrOld&client_id=c&client_secret=s'
expect "LinkedIn: an expired refresh token: 400 invalid_grant" "400 invalid_grant" "$CODE $(j .error)"
expect "LinkedIn: two refreshes counted" 2 "$(refreshes "$M" linkedin)"
register "$S" '{"platform":"linkedin","handle":"2414183","token":"sli","refresh_token":"slr"}'
li_token "$S" 'grant_type=refresh_token&refresh_token=slr&client_id=lid&client_secret=bad'
expect "LinkedIn: a wrong client secret: 401 invalid_client" "401 invalid_client" "$CODE $(j .error)"
li_token "$S" 'grant_type=refresh_token&refresh_token=slr&client_id=lid&client_secret=lsec'
expect "LinkedIn: configured client: 200, --token-ttl-s 1" "200 1" "$CODE $(j .expires_in)"
SLI2=$(j .access_token)

# ---- the short-lived tokens expire ---------------------------------------------------
sleep 1.2
x_me "$S" "$SA2"
expect "X: a refreshed token expires after --token-ttl-s" 401 "$CODE"
th_me "$S" "$STH2"
expect "Threads: a refreshed token expires after --token-ttl-s: 190/463" "400 190 463" \
    "$CODE $(j .error.code) $(j .error.error_subcode)"
li_posts "$S" "$SLI2"
expect "LinkedIn: a refreshed token expires after --token-ttl-s" "401 EXPIRED_ACCESS_TOKEN" "$CODE $(j .code)"
register "$S" '{"platform":"x","handle":"acme","token":"sA"}'
x_me "$S" sA
expect "registering a token again without expires_in: never expires" 200 "$CODE"

# ---- reset ------------------------------------------------------------------------------
req POST "$M/_sandbox/reset"
expect "reset forgets the refresh counts" "0 0 0" "$(refreshes "$M" x) $(refreshes "$M" threads) $(refreshes "$M" linkedin)"
li_token "$M" 'grant_type=refresh_token&refresh_token=lrA&client_id=c&client_secret=s'
expect "reset forgets the refresh tokens" 400 "$CODE"

for name in main short open; do
    pidvar="PID_$name"
    rc=0
    kill -TERM "${!pidvar}"
    wait "${!pidvar}" || rc=$?
    expect "$name: SIGTERM exits 0" 0 "$rc"
    [[ $rc -eq 0 ]] || sed 's/^/    | /' "$TMP/$name.err" | tail -n 40
done

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
