#!/usr/bin/env bash
# Bluesky end to end (real broker, publisher, PostgreSQL, sandbox). The
# account's token is its app password; the publisher makes and caches the
# session; the record key is derived from the post, so a retry cannot write a
# second record.
#  (a) a text post: published with its at:// URI and a bsky.app URL, one
#      attempt, a TID rkey;
#  (b) a post with a link, a hashtag, accents and an emoji: the record read
#      back from the platform carries link and tag facets at exact UTF-8
#      byte offsets;
#  (c) the access token expires (2 s tokens): the next post refreshes the
#      session within its task (one refreshSession, no new createSession)
#      and is published by its first attempt;
#  (d) write points (2 posts per 5 s): the third post is rate limited
#      (attempt rate_limited, with the platform's reset) and published after
#      the reset;
#  (e) the platform writes the record and never answers: the task gives up
#      at its deadline (indeterminate), the next attempt reads the record
#      back: published, exactly one record;
#  (f) 301 graphemes: refused with the platform's message, one attempt, no
#      retry; 300 graphemes of combining accents and emoji sequences pass.
T_NAME=e2e_bluesky
source "$(dirname "$0")/../harness/lib.sh"

t_db
t_sandbox --bluesky-access-ttl-s 2
# A second sandbox with a small write budget for (d).
"$BIN_SANDBOX" --listen 127.0.0.1:0 --port-file "$T_DIR/sandbox-rl.port" \
    --bluesky-write-points 6 --bluesky-write-window-s 5 >"$T_DIR/sandbox-rl.log" 2>&1 &
T_PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$T_DIR/sandbox-rl.port" ] && break; sleep 0.05; done
SANDBOX_RL="http://127.0.0.1:$(cat "$T_DIR/sandbox-rl.port")"
t_broker --backoff-ms 300 --task-timeout-ms 3000
t_publisher pub1
"$BIN_CTL" client add acme >/dev/null

# account SANDBOX HANDLE [crieurctl args...]: registered on the sandbox (app
# password "app-HANDLE") and in Crieur as HANDLE.bsky.social
account() {
    local sb=$1 h=$2; shift 2
    echo "app-$h" >"$T_DIR/tok"
    curl -fsS -X POST "$sb/_sandbox/accounts" -H 'content-type: application/json' \
        -d "{\"platform\":\"bluesky\",\"handle\":\"$h\",\"token\":\"app-$h\"}" >/dev/null
    "$BIN_CTL" account add --client acme --platform bluesky --handle "$h.bsky.social" \
        --instance "$sb/bluesky" --token-file "$T_DIR/tok" "$@" >/dev/null
}
for h in btext blink bexp btimeout; do account "$SANDBOX" "$h"; done
account "$SANDBOX" bval --max-chars 1000 # Crieur counts code points; Bluesky graphemes
account "$SANDBOX_RL" brl
eq "6 Bluesky accounts" 6 "$(sql "select count(*) from crieur.account where platform = 'bluesky'")"
acc() { sql "select id from crieur.account where handle = '$1.bsky.social'"; }
fault() { # SANDBOX RULE
    curl -fsS -X POST "$1/_sandbox/faults" -H 'content-type: application/json' -d "$2" >/dev/null
}
applied() { # SANDBOX PATH-FRAGMENT ACCOUNT: how often the probe rule fired
    curl -fsS "$1/_sandbox/faults" |
        jq -r --arg p "$2" --arg a "$3" '[.faults[] | select(.path == $p and .account == $a)][0].applied'
}
ledger_of() { # SANDBOX HANDLE
    curl -fsS "$1/_sandbox/ledger?platform=bluesky&account=$2"
}
status_is() { # POST STATUS...
    local s
    s=$(psql "$CRIEUR_DATABASE_URL" -XqAtc "select status from crieur.post where id = $1")
    shift
    for want in "$@"; do [ "$s" = "$want" ] && return 0; done
    return 1
}
attempts() { sql "select string_agg(outcome, ',' order by attempt) from crieur.attempt where ref_id = $1"; }
# Probes for (c): fire on every call of these methods by bexp, adding 1 ms.
for m in createSession refreshSession createRecord; do
    fault "$SANDBOX" "{\"platform\":\"bluesky\",\"account\":\"bexp\",\"path\":\"$m\",\"mode\":\"latency\",\"latency_ms\":1}"
done
# (e) btimeout's first write is done and never answered.
fault "$SANDBOX" '{"platform":"bluesky","account":"btimeout","path":"createRecord","mode":"timeout_after_accept","count":1}'

# ---- (a) a text post ---------------------------------------------------------
pa=$(sql "select crieur.schedule_post($(acc btext), 'Hello from Crieur', now())")
# ---- (b) link, hashtag, accents, emoji ---------------------------------------
pb=$(sql "select crieur.schedule_post($(acc blink), 'Café ☕ nouvelle carte 👍🏽 #soldes!', now(),
                                      p_link => 'https://shop.example/menu/été?x=1')")
# ---- (e) accepted, never answered --------------------------------------------
pe=$(sql "select crieur.schedule_post($(acc btimeout), 'Written once, answered never', now())")
# ---- (f) 301 graphemes refused, 300 accepted ---------------------------------
g301=$(printf 'a%.0s' $(seq 1 301))
pf=$(sql "select crieur.schedule_post($(acc bval), '$g301', now())")
g300="$(printf 'e\xcc\x81%.0s' $(seq 1 290))👍🏽👨‍👩‍👧🇫🇷1234567"
pf300=$(sql "select crieur.schedule_post($(acc bval), '$g300', now())")
# ---- (c) first post of bexp: a session is created ----------------------------
pc1=$(sql "select crieur.schedule_post($(acc bexp), 'Before the token expires', now())")
# ---- (d) three posts at once on a 2-posts-per-5-s budget ---------------------
sql "select crieur.schedule_post($(acc brl), 'Budget post ' || g, now()) from generate_series(1, 3) g" >/dev/null

wait_for "(c) the first bexp post" 20 status_is "$pc1" published
sleep 3 # the 2 s access token is now expired (under the worker's 60 s skew: it tries it)
pc2=$(sql "select crieur.schedule_post($(acc bexp), 'After the token expired', now())")

wait_for "every post to end" 60 \
    bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select count(*) from crieur.post where status = 'scheduled'\")\" = 0 ]" || true

# (a)
led=$(ledger_of "$SANDBOX" btext)
uri=$(jq -r '.entries[0].id' <<<"$led")
rkey=${uri##*/}
eq "(a) published" published "$(sql "select status from crieur.post where id = $pa")"
eq "(a) one record on the platform" 1 "$(jq .count <<<"$led")"
eq "(a) the post carries the record's at:// URI" "$uri" "$(sql "select platform_post_id from crieur.post where id = $pa")"
check "(a) the URI is at://<did>/app.bsky.feed.post/<TID>" \
    grep -Eq '^at://did:plc:[a-z2-7]{24}/app\.bsky\.feed\.post/[234567a-j][234567a-z]{12}$' <<<"$uri"
eq "(a) the rkey was chosen by Crieur" "$rkey" "$(jq -r '.entries[0].idempotency_key' <<<"$led")"
eq "(a) the URL is bsky.app's" "https://bsky.app/profile/btext.bsky.social/post/$rkey" \
    "$(sql "select url from crieur.post where id = $pa")"
eq "(a) one attempt, ok" "ok" "$(attempts "$pa")"
eq "(a) the text as written" "Hello from Crieur" "$(jq -r '.entries[0].text' <<<"$led")"

# (b)
led=$(ledger_of "$SANDBOX" blink)
uri=$(jq -r '.entries[0].id' <<<"$led")
eq "(b) published" published "$(sql "select status from crieur.post where id = $pb")"
eq "(b) the text: body, blank line, link" 'Café ☕ nouvelle carte 👍🏽 #soldes!

https://shop.example/menu/été?x=1' "$(jq -r '.entries[0].text' <<<"$led")"
did=${uri#at://}; did=${did%%/*}
curl -fsS -G "$SANDBOX/bluesky/xrpc/com.atproto.repo.getRecord" --data-urlencode "repo=$did" \
    --data-urlencode "collection=app.bsky.feed.post" --data-urlencode "rkey=${uri##*/}" >"$T_DIR/record.json"
eq "(b) read back: the record's uri" "$uri" "$(jq -r .uri "$T_DIR/record.json")"
# Every facet's byte range must cover exactly its link or #tag in the UTF-8 text.
facets=$(python3 - "$T_DIR/record.json" <<'EOF'
import json, sys
rec = json.load(open(sys.argv[1]))["value"]
text = rec["text"].encode("utf-8")
out = []
for f in rec.get("facets", []):
    s, e = f["index"]["byteStart"], f["index"]["byteEnd"]
    piece = text[s:e].decode("utf-8")
    feat = f["features"][0]
    kind = feat["$type"].split("#")[1]
    value = feat.get("uri") or ("#" + feat.get("tag", ""))
    out.append(f"{kind}:{s}-{e}:{'same' if piece == value else 'DIFFERENT ' + piece + ' vs ' + value}")
print(" ".join(out))
EOF
)
# "Café ☕ nouvelle carte 👍🏽 " is 34 bytes (é 2, ☕ 3, the toned thumb 8):
# "#soldes" is [34, 41); the link starts after "!\n\n" at byte 44 and is 35
# bytes long ("é" is 2).
eq "(b) a tag facet and a link facet at exact UTF-8 byte offsets" \
    "tag:34-41:same link:44-79:same" "$facets"
eq "(b) the record has the post's createdAt and no langs" "true null" \
    "$(jq -r '"\(.value.createdAt | test("^[0-9-]{10}T[0-9:]{8}\\.[0-9]{3}Z$")) \(.value.langs)"' "$T_DIR/record.json")"

# (c)
eq "(c) both posts published" "published published" \
    "$(sql "select string_agg(status, ' ' order by id) from crieur.post where id in ($pc1, $pc2)")"
eq "(c) the post after expiry: one attempt, ok (the refresh consumed none)" "ok" "$(attempts "$pc2")"
eq "(c) one createSession, one refreshSession, three createRecord (one refused as expired)" "1 1 3" \
    "$(applied "$SANDBOX" createSession bexp) $(applied "$SANDBOX" refreshSession bexp) $(applied "$SANDBOX" createRecord bexp)"
eq "(c) two records" 2 "$(ledger_of "$SANDBOX" bexp | jq .count)"

# (d)
eq "(d) the three posts published" "3 published" \
    "$(sql "select count(*) || ' ' || string_agg(distinct p.status, ',') from crieur.post p
            join crieur.account a on a.id = p.account_id where a.handle = 'brl.bsky.social'")"
eq "(d) three records, three keys" "3 3" \
    "$(ledger_of "$SANDBOX_RL" brl | jq -r '"\(.count) \([.entries[].idempotency_key] | unique | length)"')"
eq "(d) attempts: two ok at once, one rate limited then ok" "ok ok rate_limited,ok" \
    "$(sql "select string_agg(o, ' ' order by o) from (
              select string_agg(t.outcome, ',' order by t.attempt) o from crieur.attempt t
              join crieur.post p on p.id = t.ref_id join crieur.account a on a.id = p.account_id
              where a.handle = 'brl.bsky.social' group by t.ref_id) x")"
eq "(d) the rate-limited attempt: 429 RateLimitExceeded" "429 RateLimitExceeded" \
    "$(sql "select t.http_status || ' ' || t.error_code from crieur.attempt t
            join crieur.post p on p.id = t.ref_id join crieur.account a on a.id = p.account_id
            where a.handle = 'brl.bsky.social' and t.outcome = 'rate_limited'")"
eq "(d) published after the platform's reset (seconds later, not at once)" t \
    "$(sql "select p.published_at >= t.finished_at + interval '2 seconds' from crieur.attempt t
            join crieur.post p on p.id = t.ref_id join crieur.account a on a.id = p.account_id
            where a.handle = 'brl.bsky.social' and t.outcome = 'rate_limited'")"

# (e)
led=$(ledger_of "$SANDBOX" btimeout)
eq "(e) published" published "$(sql "select status from crieur.post where id = $pe")"
eq "(e) exactly one record on the platform" 1 "$(jq .count <<<"$led")"
eq "(e) the post has that record" "$(jq -r '.entries[0].id' <<<"$led")" \
    "$(sql "select platform_post_id from crieur.post where id = $pe")"
eq "(e) attempts: indeterminate (deadline), then ok" "indeterminate,ok" "$(attempts "$pe")"
eq "(e) the first gave up after sending" "curl:28" \
    "$(sql "select error_code from crieur.attempt where ref_id = $pe and outcome = 'indeterminate'")"
eq "(e) the second found it by reading back" "found on the platform by reading back; not published again" \
    "$(sql "select detail from crieur.attempt where ref_id = $pe and outcome = 'ok'")"
did=$(jq -r '.entries[0].id' <<<"$led"); did=${did#at://}; did=${did%%/*}
eq "(e) listRecords shows one record" 1 \
    "$(curl -fsS "$SANDBOX/bluesky/xrpc/com.atproto.repo.listRecords?repo=$did&collection=app.bsky.feed.post" | jq '.records | length')"

# (f)
eq "(f) 301 graphemes: failed" failed "$(sql "select status from crieur.post where id = $pf")"
eq "(f) with the platform's message" \
    "Invalid app.bsky.feed.post record: Record/text must not be longer than 300 graphemes" \
    "$(sql "select last_error from crieur.post where id = $pf")"
eq "(f) one attempt: permanent 400 InvalidRequest" "1 permanent 400 InvalidRequest" \
    "$(sql "select count(*) || ' ' || min(outcome) || ' ' || min(http_status) || ' ' || min(error_code)
            from crieur.attempt where ref_id = $pf")"
eq "(f) 300 graphemes (combining accents, emoji sequences): published" published \
    "$(sql "select status from crieur.post where id = $pf300")"
eq "(f) one record for bval" 1 "$(ledger_of "$SANDBOX" bval | jq .count)"

eq "no job left in the queue" 0 "$(sql "select count(*) from crieur.job")"
t_done
