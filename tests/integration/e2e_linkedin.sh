#!/usr/bin/env bash
# LinkedIn end to end (real broker, publisher, PostgreSQL, sandbox). LinkedIn
# has no idempotency, answers a creation with an empty body and the post's
# URN in x-restli-id, and resets its daily limits at midnight UTC without
# saying so in its 429.
#  (a) a text post (with reserved little-text characters and a link) is
#      published once: one ledger entry, the id from x-restli-id, the text
#      intact, and it reads back through the Posts API;
#  (b) an expired token (401): the account becomes auth_failed, the post waits;
#  (c) the member's post limit (2 per 8-second window here, a day on
#      LinkedIn): the third post is deferred without consuming an attempt and
#      published after the window, when the sandbox's Retry-After hint says;
#  (d) a 429 without any header (LinkedIn's): deferred to the next midnight
#      UTC (plus the adapter's margin), still scheduled, no error counted;
#  (e) a duplicate refusal (422 DUPLICATE_POST) fails the post at once;
#  (f) a validation refusal (over 3000 characters) fails it with LinkedIn's
#      message;
#  (g) the platform accepts a post but never answers: the attempt ends at the
#      task deadline (indeterminate) and the next one finds the post by
#      reading back: one ledger entry, the post has its URN;
#  (h) same, but the account cannot be read back (403): unconfirmed, an
#      alert, never published twice;
#  (i) a sunset API version (426): failed with an operator-facing message.
T_NAME=e2e_linkedin
source "$(dirname "$0")/../harness/lib.sh"

WINDOW=8
t_db
t_sandbox --linkedin-post-limit 2 --linkedin-window-s "$WINDOW" --linkedin-retry-after
t_broker --backoff-ms 300 --task-timeout-ms 3000
t_publisher pub1
"$BIN_CTL" client add acme >/dev/null
# handle = the organization id; LinkedIn's limit is 3000 characters, the
# account allows more so that LinkedIn itself refuses (f).
declare -A ORG=([a]=1001 [b]=1002 [c]=1003 [d]=1004 [e]=1005 [f]=1006 [g]=1007 [h]=1008 [i]=1009)
for k in "${!ORG[@]}"; do
    h=${ORG[$k]}
    echo "tok-li-$h" > "$T_DIR/tok"
    curl -fsS -X POST "$SANDBOX/_sandbox/accounts" -H 'content-type: application/json' \
        -d "{\"platform\":\"linkedin\",\"handle\":\"$h\",\"token\":\"tok-li-$h\"}" >/dev/null
    "$BIN_CTL" account add --client acme --platform linkedin --handle "$h" --max-chars 5000 \
        --instance "$SANDBOX/linkedin" --token-file "$T_DIR/tok" >/dev/null
done
eq "9 LinkedIn accounts" 9 "$(sql "select count(*) from crieur.account where platform = 'linkedin'")"
acc() { sql "select id from crieur.account where platform = 'linkedin' and handle = '$1'"; }
fault() {
    curl -fsS -X POST "$SANDBOX/_sandbox/faults" -H 'content-type: application/json' -d "$1" >/dev/null
}
# (b) the token has expired
fault '{"platform":"linkedin","account":"1002","method":"POST","path":"/rest/posts","status":401}'
# (d) a 429 as LinkedIn sends it: no header at all
fault '{"platform":"linkedin","account":"1004","method":"POST","path":"/rest/posts","status":429}'
# (g) accepted, never answered, once
fault '{"platform":"linkedin","account":"1007","method":"POST","path":"/rest/posts","mode":"timeout_after_accept","count":1}'
# (h) the same, and the posts cannot be read back
fault '{"platform":"linkedin","account":"1008","method":"POST","path":"/rest/posts","mode":"timeout_after_accept","count":1}'
fault '{"platform":"linkedin","account":"1008","method":"GET","path":"/rest/posts","status":403}'
# (i) LinkedIn no longer serves the adapter's version
fault '{"platform":"linkedin","account":"1009","method":"POST","path":"/rest/posts","status":426}'

BODY_A='Launch day (v2) [beta] *50% off* #crieur_app a_b C# ~soon~ <3 \o/ {x} @team |'
LINK_A='https://shop.example/p_1?a=(b)'
pa=$(sql "select crieur.schedule_post($(acc 1001), \$\$$BODY_A\$\$, now(), p_link => '$LINK_A')")
pb=$(sql "select crieur.schedule_post($(acc 1002), 'Token test', now())")
pd=$(sql "select crieur.schedule_post($(acc 1004), 'Throttled until midnight', now())")
pe1=$(sql "select crieur.schedule_post($(acc 1005), 'The same words twice', now())")
pe2=$(sql "select crieur.schedule_post($(acc 1005), 'The same words twice', now() + interval '2 seconds')")
pf=$(sql "select crieur.schedule_post($(acc 1006), repeat('x', 3001), now())")
pg=$(sql "select crieur.schedule_post($(acc 1007), 'Spring sale: 20% off (today) & free delivery', now())")
ph=$(sql "select crieur.schedule_post($(acc 1008), 'Autumn sale <today only>', now())")
pi=$(sql "select crieur.schedule_post($(acc 1009), 'Version test', now())")
# (c) three posts in one window of the member limit: start right after a boundary
ms=$(date +%s%3N)
sleep "$(awk -v ms="$ms" -v p="$WINDOW" 'BEGIN { printf "%.3f", (p * 1000 - ms % (p * 1000)) / 1000 + 0.05 }')"
pc=$(sql "select string_agg(crieur.schedule_post($(acc 1003), 'Member limit post ' || g, now())::text, ',')
          from generate_series(1, 3) g")

ENDED="$pa,$pc,$pe1,$pe2,$pf,$pg,$ph,$pi"
wait_for "posts to end" 90 bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select count(*)
    from crieur.post where id in ($ENDED) and status in ('published', 'failed', 'unconfirmed')\")\" = 10 ]" || true
wait_for "(b) and (d) to be tried" 30 bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \
    \"select count(*) from crieur.attempt where ref_id in ($pb, $pd)\")\" -ge 2 ]" || true

curl -fsS "$SANDBOX/_sandbox/ledger?platform=linkedin" > "$T_DIR/ledger.json"
sql "create table t_ledger (seq bigint, account text, id text, url text, body text)"
jq -r '.entries[] | [.seq, .account, .id, .url, .text] | @tsv' \
    "$T_DIR/ledger.json" | psql "$CRIEUR_DATABASE_URL" -Xq -c "\\copy t_ledger from stdin"
led() { sql "select count(*) from t_ledger where account = '$1'"; }
att() { sql "select string_agg(outcome, ',' order by attempt) from crieur.attempt where ref_id = $1"; }

# (a)
eq "(a) published" published "$(sql "select status from crieur.post where id = $pa")"
eq "(a) one post on the platform" 1 "$(led 1001)"
eq "(a) the post has the URN from x-restli-id" "$(sql "select id from t_ledger where account = '1001'")" \
    "$(sql "select platform_post_id from crieur.post where id = $pa")"
check "(a) a share URN" grep -Eq '^urn:li:share:[0-9]+$' <<<"$(sql "select platform_post_id from crieur.post where id = $pa")"
eq "(a) the LinkedIn URL" "https://www.linkedin.com/feed/update/$(sql "select platform_post_id from crieur.post where id = $pa")/" \
    "$(sql "select url from crieur.post where id = $pa")"
eq "(a) the text arrived intact (reserved characters escaped, then shown as written)" \
    "$BODY_A\n\n$LINK_A" "$(sql "select replace(body, E'\n', '\n') from t_ledger where account = '1001'")"
eq "(a) one attempt, ok" ok "$(att "$pa")"
li_get() { # PATH TOKEN
    curl -fsS "$SANDBOX/linkedin$1" -H "Authorization: Bearer $2" -H 'LinkedIn-Version: 202608' \
        -H 'X-Restli-Protocol-Version: 2.0.0'
}
RB=$(li_get "/rest/posts?author=urn%3Ali%3Aorganization%3A1001&q=author&count=10&sortBy=LAST_MODIFIED" tok-li-1001)
eq "(a) read back: the post, by its URN" "1 $(sql "select platform_post_id from crieur.post where id = $pa")" \
    "$(jq -r '"\(.elements | length) \(.elements[0].id)"' <<<"$RB")"
check "(a) read back: the commentary as sent, escaped little text" \
    grep -qF 'Launch day \(v2\) \[beta\] \*50% off\* #crieur_app a\_b C\# \~soon\~ \<3 \\o/ \{x\} \@team \|' \
    <<<"$(jq -r '.elements[0].commentary' <<<"$RB")"

# (b)
eq "(b) the post waits" scheduled "$(sql "select status from crieur.post where id = $pb")"
eq "(b) the account is auth_failed" auth_failed "$(sql "select status from crieur.account where handle = '1002'")"
eq "(b) with LinkedIn's reason" "The token used in the request has expired" \
    "$(sql "select status_reason from crieur.account where handle = '1002'")"
eq "(b) one attempt: auth_expired 401 EXPIRED_ACCESS_TOKEN" "auth_expired 401 EXPIRED_ACCESS_TOKEN" \
    "$(sql "select outcome || ' ' || http_status || ' ' || error_code from crieur.attempt where ref_id = $pb")"
eq "(b) the job is parked, no error counted" "scheduled 0 true" \
    "$(sql "select state || ' ' || errors || ' ' || (run_at > now() + interval '3 minutes') from crieur.job where ref_id = $pb")"
eq "(b) nothing on the platform" 0 "$(led 1002)"

# (c)
eq "(c) the three posts published" "3" \
    "$(sql "select count(*) from crieur.post where id in ($pc) and status = 'published'")"
eq "(c) three posts on the platform, one each" "3 3" \
    "$(sql "select count(*) || ' ' || count(distinct body) from t_ledger where account = '1003'")"
eq "(c) one post was deferred once, the others went at once" "ok ok rate_limited,ok" \
    "$(sql "select string_agg(o, ' ' order by o) from (select string_agg(outcome, ',' order by attempt) o
            from crieur.attempt where ref_id in ($pc) group by ref_id) s")"
eq "(c) the 429: LinkedIn's message" "429 Resource level throttle limit for calls to this resource is reached." \
    "$(sql "select http_status || ' ' || detail from crieur.attempt where ref_id in ($pc) and outcome = 'rate_limited'")"
eq "(c) retried in the next window (the hint), not before" t \
    "$(sql "select ok.started_at >= to_timestamp(ceil(extract(epoch from rl.finished_at) / $WINDOW) * $WINDOW) - interval '50 milliseconds'
            from crieur.attempt rl join crieur.attempt ok on ok.job_id = rl.job_id and ok.outcome = 'ok'
            where rl.ref_id in ($pc) and rl.outcome = 'rate_limited'")"

# (d)
eq "(d) the post waits" scheduled "$(sql "select status from crieur.post where id = $pd")"
eq "(d) one attempt: rate_limited 429" "rate_limited 429" \
    "$(sql "select outcome || ' ' || http_status from crieur.attempt where ref_id = $pd")"
eq "(d) deferred to the next midnight UTC + 5 minutes, no error counted" "scheduled 0 true" \
    "$(sql "select state || ' ' || errors || ' ' ||
            (abs(extract(epoch from run_at - (date_trunc('day', now() at time zone 'utc') at time zone 'utc'
                 + interval '1 day 5 minutes'))) < 2)
            from crieur.job where ref_id = $pd")"
eq "(d) nothing on the platform" 0 "$(led 1004)"

# (e)
eq "(e) one published, one failed" "failed published" \
    "$(sql "select string_agg(status, ' ' order by status) from crieur.post where id in ($pe1, $pe2)")"
pef=$(sql "select id from crieur.post where id in ($pe1, $pe2) and status = 'failed'")
pep=$(sql "select id from crieur.post where id in ($pe1, $pe2) and status = 'published'")
eq "(e) one attempt: permanent 422 duplicate, not retried" "1 permanent 422 duplicate" \
    "$(sql "select count(*) || ' ' || min(outcome) || ' ' || min(http_status) || ' ' || min(error_code)
            from crieur.attempt where ref_id = $pef")"
eq "(e) LinkedIn's message, naming the first post" \
    "Content is a duplicate of $(sql "select platform_post_id from crieur.post where id = $pep")" \
    "$(sql "select last_error from crieur.post where id = $pef")"
eq "(e) one post on the platform" 1 "$(led 1005)"

# (f)
eq "(f) failed" failed "$(sql "select status from crieur.post where id = $pf")"
eq "(f) with LinkedIn's reason" "Commentary is too long: 3001 characters, the maximum is 3000" \
    "$(sql "select last_error from crieur.post where id = $pf")"
eq "(f) one attempt: permanent 422" "1 permanent 422" \
    "$(sql "select count(*) || ' ' || min(outcome) || ' ' || min(http_status) from crieur.attempt where ref_id = $pf")"
eq "(f) nothing on the platform" 0 "$(led 1006)"

# (g)
eq "(g) published" published "$(sql "select status from crieur.post where id = $pg")"
eq "(g) exactly one post on the platform" 1 "$(led 1007)"
eq "(g) the post has the ledger's URN" "$(sql "select id from t_ledger where account = '1007'")" \
    "$(sql "select platform_post_id from crieur.post where id = $pg")"
eq "(g) attempts: indeterminate, then ok" "indeterminate,ok" "$(att "$pg")"
eq "(g) the first attempt gave up at the deadline, after sending" "curl:28" \
    "$(sql "select error_code from crieur.attempt where ref_id = $pg and outcome = 'indeterminate'")"
eq "(g) the ok attempt found it by reading back" "found on the platform by reading back; not published again" \
    "$(sql "select detail from crieur.attempt where ref_id = $pg and outcome = 'ok'")"

# (h)
eq "(h) unconfirmed" unconfirmed "$(sql "select status from crieur.post where id = $ph")"
eq "(h) exactly one post on the platform (never a blind second publish)" 1 "$(led 1008)"
eq "(h) attempts: indeterminate, then unconfirmed" "indeterminate,unconfirmed" "$(att "$ph")"
eq "(h) readback_forbidden" readback_forbidden \
    "$(sql "select error_code from crieur.attempt where ref_id = $ph and outcome = 'unconfirmed'")"
eq "(h) an alert for a human" "1 critical" \
    "$(sql "select count(*) || ' ' || min(severity) from crieur.alert where kind = 'post_unconfirmed' and post_id = $ph")"
check "(h) the post says why" \
    grep -q "cannot be read back" <<<"$(sql "select last_error from crieur.post where id = $ph")"

# (i)
eq "(i) failed at once" "failed 1 permanent 426 api_version_sunset" \
    "$(sql "select p.status || ' ' || count(*) || ' ' || min(a.outcome) || ' ' || min(a.http_status) || ' ' || min(a.error_code)
            from crieur.post p join crieur.attempt a on a.ref_id = p.id where p.id = $pi group by p.status")"
check "(i) the operator is told what to do" \
    grep -q "LinkedIn no longer serves API version 202608.*CR_LINKEDIN_API_VERSION" \
    <<<"$(sql "select last_error from crieur.post where id = $pi")"

eq "only (b) and (d) are left in the queue" "$(printf '%s\n' "$pb" "$pd" | sort -n | paste -sd,)" \
    "$(sql "select string_agg(ref_id::text, ',' order by ref_id) from crieur.job")"
eq "seven posts on the platform in all (a, 3 c, e, g, h)" 7 "$(sql "select count(*) from t_ledger")"
t_done
