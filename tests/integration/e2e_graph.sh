#!/usr/bin/env bash
# Facebook, Instagram and Threads end to end (real broker, publisher,
# PostgreSQL, sandbox). None of the Graph APIs has idempotency. For each
# platform:
#  (a) text posts are published once each (the sandbox's ledger is the judge),
#      with the platform's id and URL;
#  (b) an expired token (Graph code 190 subcode 463) marks the account
#      auth_failed and the post waits (no attempt lost, nothing published);
#  (c) a throttling answer (HTTP 400, Graph code 4, estimated_time_to_regain_
#      access 1 minute) defers the post to the platform's reset without
#      consuming an attempt, then it is published;
#  (d) Facebook's duplicate refusal (506) fails the post at once;
#  (e) a validation refusal fails the post with the platform's message
#      (Instagram also: a container that ends in ERROR);
#  (f) the platform publishes but never answers (timeout_after_accept): the
#      attempt is indeterminate at the task deadline, the next one reads the
#      account back and finds the post: one ledger entry, the post has its id;
#  (g) Facebook: the same, but the page cannot be read back: unconfirmed, an
#      alert, never published twice.
T_NAME=e2e_graph
source "$(dirname "$0")/../harness/lib.sh"

t_db
# Requests take 20 ms as on a network; an Instagram container is processed in
# 300 ms, which the worker reads at once, then after instagram.poll_interval_ms
# (1 s by default: CR_STEP_WAIT, no request meanwhile).
t_sandbox --latency-ms 20 --instagram-container-delay-ms 300 --graph-regain-minutes 1
t_broker --backoff-ms 300 --task-timeout-ms 3000
t_publisher pub1
"$BIN_CTL" client add acme >/dev/null

PLATFORMS="facebook instagram threads"
declare -A P=([facebook]=11 [instagram]=22 [threads]=33)                       # handle prefixes
declare -A WRITE=([facebook]=/feed [instagram]=/media [threads]=/threads)      # first write
declare -A PUBLISH=([facebook]=/feed [instagram]=/media_publish [threads]=/threads_publish)
# accounts: 01 ok, 02 token expired, 03 throttled, 04 refused, 05 answer lost, 06 (facebook) blind
add_account() { # PLATFORM HANDLE [MAX_CHARS]
    echo "tok-$2" > "$T_DIR/tok"
    curl -fsS -X POST "$SANDBOX/_sandbox/accounts" -H 'content-type: application/json' \
        -d "{\"platform\":\"$1\",\"handle\":\"$2\",\"token\":\"tok-$2\"}" >/dev/null
    "$BIN_CTL" account add --client acme --platform "$1" --handle "$2" \
        --instance "$SANDBOX/$1" --token-file "$T_DIR/tok" ${3:+--max-chars $3} >/dev/null
}
fault() {
    curl -fsS -X POST "$SANDBOX/_sandbox/faults" -H 'content-type: application/json' -d "$1" >/dev/null
}
acc() { sql "select id from crieur.account where handle = '$1'"; }
post() { # HANDLE BODY [LINK] [AT]: the post's id
    local link=NULL
    [ -n "${3:-}" ] && link="\$l\$$3\$l\$"
    sql "select crieur.schedule_post($(acc "$1"), \$b\$$2\$b\$, ${4:-now()}, NULL, 'editorial', $link)"
}
link_for() { # PLATFORM N: Instagram's image is the post's link (no media forwarded yet)
    if [ "$1" = instagram ]; then echo "https://img.example/p$2.jpg"; else echo "https://shop.example/p/$2"; fi
}

for p in $PLATFORMS; do
    h=${P[$p]}
    add_account "$p" "${h}01"
    add_account "$p" "${h}02"
    add_account "$p" "${h}03"
    add_account "$p" "${h}04" 5000   # a limit set too high: the platform refuses
    add_account "$p" "${h}05"
    # (b) the token expires before the post
    curl -fsS -X POST "$SANDBOX/_sandbox/tokens/revoke" -d "{\"token\":\"tok-${h}02\"}" >/dev/null
    # (c) the first write is throttled (the sandbox answers Graph's code 4 with HTTP 400)
    fault "{\"platform\":\"$p\",\"account\":\"${h}03\",\"method\":\"POST\",\"path\":\"${WRITE[$p]}\",\"status\":429,\"count\":1}"
    # (f) the publishing request is done and never answered
    fault "{\"platform\":\"$p\",\"account\":\"${h}05\",\"method\":\"POST\",\"path\":\"${PUBLISH[$p]}\",\"mode\":\"timeout_after_accept\",\"count\":1}"
done
add_account facebook 1106
fault '{"platform":"facebook","account":"1106","method":"POST","path":"/feed","mode":"timeout_after_accept","count":1}'
fault '{"platform":"facebook","account":"1106","method":"GET","path":"/posts","status":403}'
eq "16 Graph accounts" 16 "$(sql "select count(*) from crieur.account where platform in ('facebook','instagram','threads')")"

declare -A OK1 OK2 OK3 AUTH RATE BAD LOST
for p in $PLATFORMS; do
    h=${P[$p]}
    OK1[$p]=$(post "${h}01" "First $p post of acme" "$(link_for "$p" 1)")
    OK2[$p]=$(post "${h}01" "Second $p post: 20% off & free delivery" "$(link_for "$p" 2)")
    OK3[$p]=$(post "${h}01" "Third $p post <today only>" "$(link_for "$p" 3)")
    AUTH[$p]=$(post "${h}02" "Waiting for a fresh token on $p" "$(link_for "$p" 4)")
    RATE[$p]=$(post "${h}03" "Throttled then published on $p" "$(link_for "$p" 5)")
    LOST[$p]=$(post "${h}05" "Accepted, answer lost on $p" "$(link_for "$p" 6)")
done
BAD[facebook]=$(post 1104 "A link that is not one" "not a url")
BAD[instagram]=$(post 2204 "$(printf 'x%.0s' $(seq 1 2300))" "$(link_for instagram 7)")
BAD_PNG=$(post 2204 "A picture that is not a JPEG" "https://img.example/p8.png")
BAD[threads]=$(post 3304 "$(printf 'y%.0s' $(seq 1 600))" "")
DUP1=$(post 1101 "The same words twice" "")
DUP2=$(post 1101 "The same words twice" "" "now() + interval '2 seconds'")
BLIND=$(post 1106 "Accepted, answer lost, page unreadable" "")
T0=$(date +%s)

# Everything but (b) and (c) ends within seconds.
wait_for "all posts but the waiting ones to end" 60 \
    bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select count(*) from crieur.post p
        join crieur.account a on a.id = p.account_id where p.status = 'scheduled'
        and a.handle not like '__02' and a.handle not like '__03'\")\" = 0 ]" || true
wait_for "the throttled attempts" 30 \
    bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select count(*) from crieur.attempt
        where outcome = 'rate_limited'\")\" = 3 ]" || true

load_ledger() {
    sql "drop table if exists t_ledger; create table t_ledger (seq bigint, platform text, account text, id text, url text, body text)"
    curl -fsS "$SANDBOX/_sandbox/ledger" | jq -r '.entries[] | [.seq, .platform, .account, .id, .url, .text] | @tsv' \
        | psql "$CRIEUR_DATABASE_URL" -Xq -c "\\copy t_ledger from stdin"
}
load_ledger
outcomes() { sql "select string_agg(outcome, ',' order by attempt) from crieur.attempt where ref_id = $1"; }
FOUND="found on the platform by reading back; not published again"

for p in $PLATFORMS; do
    h=${P[$p]}
    oks="${OK1[$p]},${OK2[$p]},${OK3[$p]}"
    # (a)
    eq "$p (a) 3 posts published" "published published published" \
        "$(sql "select string_agg(status, ' ') from crieur.post where id in ($oks)")"
    eq "$p (a) one ledger entry per post, each with the post's id" "3 3" \
        "$(sql "select count(*) || ' ' || count(distinct l.id) from t_ledger l join crieur.post p
                on p.platform_post_id = l.id where p.id in ($oks) and l.platform = '$p' and l.account = '${h}01'")"
    eq "$p (a) nothing else on the account but the posts (and facebook's duplicate once)" \
        "$([ "$p" = facebook ] && echo 4 || echo 3)" \
        "$(sql "select count(*) from t_ledger where platform = '$p' and account = '${h}01'")"
    eq "$p (a) one attempt each, ok" "3 ok" \
        "$(sql "select count(*) || ' ' || string_agg(distinct outcome, ',') from crieur.attempt where ref_id in ($oks)")"
    if [ "$p" = instagram ]; then
        # published in one attempt although the container takes 300 ms: its status was polled
        eq "$p (a) each attempt waited for its container (>= 300 ms)" 3 \
            "$(sql "select count(*) from crieur.attempt where ref_id in ($oks)
                    and finished_at - started_at >= interval '300 milliseconds'")"
    fi
    if [ "$p" = facebook ]; then
        eq "$p (a) URLs https://www.facebook.com/{page}_{post}" 3 \
            "$(sql "select count(*) from crieur.post where id in ($oks)
                    and url = 'https://www.facebook.com/' || platform_post_id and platform_post_id like '1101\\_%'")"
    else
        eq "$p (a) URLs are the platform's permalinks" 3 \
            "$(sql "select count(*) from crieur.post p join t_ledger l on l.id = p.platform_post_id
                    where p.id in ($oks) and p.url = l.url")"
    fi
    # (b)
    eq "$p (b) the post waits" scheduled "$(sql "select status from crieur.post where id = ${AUTH[$p]}")"
    eq "$p (b) the account is auth_failed" auth_failed "$(sql "select status from crieur.account where handle = '${h}02'")"
    eq "$p (b) one attempt: auth_expired, Graph code 190/463 with HTTP 400" "auth_expired 190/463 400" \
        "$(sql "select string_agg(outcome || ' ' || error_code || ' ' || http_status, ',') from crieur.attempt where ref_id = ${AUTH[$p]}")"
    check "$p (b) the account says why" \
        grep -q "Session has expired" <<<"$(sql "select status_reason from crieur.account where handle = '${h}02'")"
    eq "$p (b) the job is parked (not claimed while the account is auth_failed), attempt not counted" "scheduled 0 true" \
        "$(sql "select state || ' ' || errors || ' ' || (run_at > now() + interval '3 minutes') from crieur.job
                where ref_id = ${AUTH[$p]}")"
    eq "$p (b) nothing published" 0 "$(sql "select count(*) from t_ledger where account = '${h}02'")"
    # (c), while waiting
    eq "$p (c) throttled: the post waits, the attempt is not counted" "scheduled 0" \
        "$(sql "select p.status || ' ' || j.errors from crieur.post p join crieur.job j on j.ref_id = p.id where p.id = ${RATE[$p]}")"
    eq "$p (c) attempt rate_limited, Graph code 4 with HTTP 400" "rate_limited 4 400" \
        "$(sql "select string_agg(outcome || ' ' || error_code || ' ' || http_status, ',') from crieur.attempt where ref_id = ${RATE[$p]}")"
    eq "$p (c) deferred by estimated_time_to_regain_access: 1 minute" t \
        "$(sql "select j.run_at between t.finished_at + interval '55 seconds' and t.finished_at + interval '65 seconds'
                from crieur.job j join crieur.attempt t on t.job_id = j.id where j.ref_id = ${RATE[$p]}")"
    # (f)
    eq "$p (f) published" published "$(sql "select status from crieur.post where id = ${LOST[$p]}")"
    eq "$p (f) exactly one post on the platform" 1 "$(sql "select count(*) from t_ledger where account = '${h}05'")"
    eq "$p (f) the post has the ledger's id" "$(sql "select id from t_ledger where account = '${h}05'")" \
        "$(sql "select platform_post_id from crieur.post where id = ${LOST[$p]}")"
    eq "$p (f) attempts: indeterminate at the deadline (curl:28), then ok" "indeterminate curl:28,ok" \
        "$(sql "select string_agg(outcome || coalesce(' ' || error_code, ''), ',' order by attempt) from crieur.attempt where ref_id = ${LOST[$p]}")"
    eq "$p (f) the ok attempt found it by reading back" "$FOUND" \
        "$(sql "select detail from crieur.attempt where ref_id = ${LOST[$p]} and outcome = 'ok'")"
    if [ "$p" = facebook ]; then
        eq "$p (f) its URL" "https://www.facebook.com/$(sql "select id from t_ledger where account = '${h}05'")" \
            "$(sql "select url from crieur.post where id = ${LOST[$p]}")"
    else
        eq "$p (f) its permalink, read back" "$(sql "select url from t_ledger where account = '${h}05'")" \
            "$(sql "select url from crieur.post where id = ${LOST[$p]}")"
    fi
done

# (d) Facebook's duplicate refusal
eq "facebook (d) one published, one failed" "failed published" \
    "$(sql "select string_agg(status, ' ' order by status) from crieur.post where id in ($DUP1, $DUP2)")"
DUPF=$(sql "select id from crieur.post where id in ($DUP1, $DUP2) and status = 'failed'")
eq "facebook (d) one attempt: permanent, HTTP 400, duplicate; not retried" "1 permanent 400 duplicate" \
    "$(sql "select count(*) || ' ' || min(outcome) || ' ' || min(http_status) || ' ' || min(error_code)
            from crieur.attempt where ref_id = $DUPF")"
check "facebook (d) with Graph's message" \
    grep -q "^Duplicate status message" <<<"$(sql "select last_error from crieur.post where id = $DUPF")"
eq "facebook (d) one post on the platform" 1 "$(sql "select count(*) from t_ledger where body = 'The same words twice'")"

# (e) validation refusals, with the platform's words
declare -A BAD_MSG=(
    [facebook]="(#100) link URL is not properly formatted"
    [instagram]="(#100) Param caption must be at most 2200 characters long."
    [threads]="(#100) Param text must be at most 500 characters long.")
for p in $PLATFORMS; do
    eq "$p (e) refused: failed with the platform's message" "failed ${BAD_MSG[$p]}" \
        "$(sql "select status || ' ' || last_error from crieur.post where id = ${BAD[$p]}")"
    eq "$p (e) one attempt: permanent, HTTP 400, Graph code 100" "1 permanent 400 100" \
        "$(sql "select count(*) || ' ' || min(outcome) || ' ' || min(http_status) || ' ' || min(error_code)
                from crieur.attempt where ref_id = ${BAD[$p]}")"
done
eq "instagram (e) a container in ERROR: permanent, with the platform's reason" \
    "failed permanent container_error" \
    "$(sql "select p.status || ' ' || t.outcome || ' ' || t.error_code from crieur.post p
            join crieur.attempt t on t.ref_id = p.id where p.id = $BAD_PNG")"
check "instagram (e) ... which says why" \
    grep -q "Only JPEG images are supported" <<<"$(sql "select last_error from crieur.post where id = $BAD_PNG")"
eq "(e) nothing published for the refused posts" 0 \
    "$(sql "select count(*) from t_ledger where account in ('1104', '2204', '3304')")"

# (g) Facebook: the page cannot be read back
eq "facebook (g) unconfirmed" unconfirmed "$(sql "select status from crieur.post where id = $BLIND")"
eq "facebook (g) exactly one post on the platform (never a blind second publish)" 1 \
    "$(sql "select count(*) from t_ledger where account = '1106'")"
eq "facebook (g) attempts: indeterminate, then unconfirmed (readback_forbidden)" \
    "indeterminate curl:28,unconfirmed readback_forbidden" \
    "$(sql "select string_agg(outcome || ' ' || error_code, ',' order by attempt) from crieur.attempt where ref_id = $BLIND")"
eq "facebook (g) an alert for a human" "1 critical" \
    "$(sql "select count(*) || ' ' || min(severity) from crieur.alert where kind = 'post_unconfirmed' and post_id = $BLIND")"

# (c) after the reset: published, once
RATES="${RATE[facebook]},${RATE[instagram]},${RATE[threads]}"
wait_for "the throttled posts after the reset" $((T0 + 110 - $(date +%s))) \
    bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select count(*) from crieur.post where id in ($RATES) and status = 'published'\")\" = 3 ]" || true
load_ledger
for p in $PLATFORMS; do
    h=${P[$p]}
    eq "$p (c) published after the reset" published "$(sql "select status from crieur.post where id = ${RATE[$p]}")"
    eq "$p (c) attempts: rate_limited, then ok" "rate_limited,ok" "$(outcomes "${RATE[$p]}")"
    eq "$p (c) not before the platform's estimate" t \
        "$(sql "select p.published_at >= t.finished_at + interval '55 seconds' from crieur.post p
                join crieur.attempt t on t.ref_id = p.id and t.outcome = 'rate_limited' where p.id = ${RATE[$p]}")"
    eq "$p (c) one post on the platform, with the post's id" "1 1" \
        "$(sql "select count(*) || ' ' || count(*) filter (where l.id = p.platform_post_id) from t_ledger l
                join crieur.post p on p.id = ${RATE[$p]} where l.account = '${h}03'")"
done
eq "only the parked jobs are left in the queue" 3 "$(sql "select count(*) from crieur.job")"
t_done
