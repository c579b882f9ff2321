#!/usr/bin/env bash
# Bluesky sessions under a burst (real broker, publisher, PostgreSQL,
# sandbox). The publisher runs up to 256 tasks at once; the posts of one
# account dispatched together must not each ask for a session: the first
# task gets it (createSession, or refreshSession once it expired), the others
# wait for it and use it (single flight per account). The sandbox counts the
# session calls of each account (GET /_sandbox/sessions) and keeps the real
# limit: 30 createSession per 5 minutes per identifier.
#  (a) 40 posts of one account and 3 of another, due at the same second,
#      with no session yet: exactly one createSession per account, none
#      refused, all 43 published by their first attempt, no rate_limited
#      attempt (one createSession per task would spend 40 of the 30 allowed);
#  (b) the second account's access token has expired (3 s tokens): 20 more
#      of its posts at the same second: one refreshSession (refresh tokens
#      rotate: never two at once), no new createSession, all published by
#      their first attempt.
T_NAME=e2e_bluesky_sessions
source "$(dirname "$0")/../harness/lib.sh"

t_db
t_sandbox --bluesky-access-ttl-s 3
t_broker
t_publisher pub1
"$BIN_CTL" client add acme >/dev/null

account() { # HANDLE: registered on the sandbox (app password "app-HANDLE") and in Crieur
    echo "app-$1" >"$T_DIR/tok"
    curl -fsS -X POST "$SANDBOX/_sandbox/accounts" -H 'content-type: application/json' \
        -d "{\"platform\":\"bluesky\",\"handle\":\"$1\",\"token\":\"app-$1\"}" >/dev/null
    "$BIN_CTL" account add --client acme --platform bluesky --handle "$1.bsky.social" \
        --instance "$SANDBOX/bluesky" --token-file "$T_DIR/tok" >/dev/null
}
account burst
account calm
acc() { sql "select id from crieur.account where handle = '$1.bsky.social'"; }
sessions() { # HANDLE: "create_calls created create_limited refresh_calls refreshed"
    curl -fsS "$SANDBOX/_sandbox/sessions?platform=bluesky&account=$1" |
        jq -r '"\(.create_calls) \(.created) \(.create_limited) \(.refresh_calls) \(.refreshed)"'
}
# Every post of the account has ended (published or not).
settled() { # HANDLE COUNT
    [ "$(sql "select count(*) from crieur.post p join crieur.account a on a.id = p.account_id
              where a.handle = '$1.bsky.social' and p.status <> 'scheduled'")" = "$2" ]
}
published() { # HANDLE
    sql "select count(*) from crieur.post p join crieur.account a on a.id = p.account_id
         where a.handle = '$1.bsky.social' and p.status = 'published'"
}
# Attempts of the account's posts: "N outcome,outcome,.." (distinct outcomes)
# and how many posts needed more than one.
attempts() { # HANDLE
    sql "select count(*) || ' ' || string_agg(distinct t.outcome, ',') || ' ' ||
                (select count(*) from (select t2.ref_id from crieur.attempt t2
                   join crieur.post p2 on p2.id = t2.ref_id join crieur.account a2 on a2.id = p2.account_id
                   where a2.handle = '$1.bsky.social' group by t2.ref_id having count(*) > 1) x)
         from crieur.attempt t join crieur.post p on p.id = t.ref_id
         join crieur.account a on a.id = p.account_id where a.handle = '$1.bsky.social'"
}
ledger_count() { curl -fsS "$SANDBOX/_sandbox/ledger?platform=bluesky&account=$1" | jq .count; }

# ---- (a) a burst with no session ------------------------------------------------
# Due at the same second, a little ahead: the broker claims them ahead of
# time (look-ahead) and dispatches them together when they are due.
due=$(sql "select date_trunc('second', now()) + interval '3 seconds'")
sql "select crieur.schedule_post($(acc burst), 'Burst post ' || g, '$due') from generate_series(1, 40) g" >/dev/null
sql "select crieur.schedule_post($(acc calm), 'Calm post ' || g, '$due') from generate_series(1, 3) g" >/dev/null
wait_for "(a) the 43 posts to end" 30 bash -c "$(declare -f sql settled); settled burst 40 && settled calm 3" || true

eq "(a) one createSession for the 40 posts, none refused, no refresh" "1 1 0 0 0" "$(sessions burst)"
eq "(a) one createSession for the other account's 3 posts" "1 1 0 0 0" "$(sessions calm)"
eq "(a) the 40 posts published" 40 "$(published burst)"
eq "(a) the 3 posts published" 3 "$(published calm)"
eq "(a) one attempt per post, all ok (no rate_limited)" "40 ok 0" "$(attempts burst)"
eq "(a) the other account: one attempt per post, ok" "3 ok 0" "$(attempts calm)"
eq "(a) 40 records on the platform" 40 "$(ledger_count burst)"
eq "(a) they were dispatched together (first to last within 2 s)" t \
    "$(sql "select max(t.dispatched_at) - min(t.dispatched_at) < interval '2 seconds'
            from crieur.attempt t join crieur.post p on p.id = t.ref_id
            join crieur.account a on a.id = p.account_id where a.handle = 'burst.bsky.social'")"

# ---- (b) a burst after the access token expired ------------------------------------
# The second account: its session is cached, and (a) did not touch its limits.
before=$(sessions calm)
sleep 4 # the 3 s access token is now expired (under the worker's 60 s skew: it is tried)
due=$(sql "select date_trunc('second', now()) + interval '3 seconds'")
sql "select crieur.schedule_post($(acc calm), 'Later post ' || g, '$due') from generate_series(1, 20) g" >/dev/null
wait_for "(b) the 20 posts to end" 30 bash -c "$(declare -f sql settled); settled calm 23" || true
read -r c0 _ _ r0 rok0 <<<"$before"
read -r c1 _ lim1 r1 rok1 <<<"$(sessions calm)"
eq "(b) no new createSession, none refused" "$c0 0" "$c1 $lim1"
eq "(b) exactly one refreshSession, and it succeeded" "1 1" "$((r1 - r0)) $((rok1 - rok0))"
eq "(b) the 20 posts published" 23 "$(published calm)"
eq "(b) one attempt per post, all ok" "23 ok 0" "$(attempts calm)"
eq "(b) 23 records on the platform" 23 "$(ledger_count calm)"

eq "no job left in the queue" 0 "$(sql "select count(*) from crieur.job")"
t_done
