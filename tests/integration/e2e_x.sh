#!/usr/bin/env bash
# X end to end (real broker, publisher, PostgreSQL, sandbox): X has no
# idempotency, so an attempt whose outcome is unknown is reconciled by reading
# the account back before any second publish.
#  (a) 50 posts on 5 X accounts are published once each;
#  (b) the platform accepts a tweet but never answers: the worker gives up at
#      the task deadline (indeterminate), the next attempt finds the tweet by
#      reading back: published with the ledger's id, one ledger entry;
#  (c) same, but the account cannot be read back (403): the post ends
#      unconfirmed with an alert, never published twice;
#  (d) a duplicate refusal fails the post at once, without retrying.
T_NAME=e2e_x
source "$(dirname "$0")/../harness/lib.sh"

t_db
t_sandbox
t_broker --backoff-ms 300 --task-timeout-ms 3000
t_publisher pub1
"$BIN_CTL" client add acme >/dev/null
for h in xa1 xa2 xa3 xa4 xa5 xb xc xd; do
    echo "tok-$h" > "$T_DIR/tok"
    curl -fsS -X POST "$SANDBOX/_sandbox/accounts" -H 'content-type: application/json' \
        -d "{\"platform\":\"x\",\"handle\":\"$h\",\"token\":\"tok-$h\"}" >/dev/null
    "$BIN_CTL" account add --client acme --platform x --handle "$h" \
        --instance "$SANDBOX/x" --token-file "$T_DIR/tok" >/dev/null
done
eq "8 X accounts" 8 "$(sql "select count(*) from crieur.account where platform = 'x'")"
acc() { sql "select id from crieur.account where handle = '$1'"; }
fault() {
    curl -fsS -X POST "$SANDBOX/_sandbox/faults" -H 'content-type: application/json' -d "$1" >/dev/null
}
# (b) xb's first tweet is accepted and never answered.
fault '{"platform":"x","account":"xb","method":"POST","path":"/2/tweets","mode":"timeout_after_accept","count":1}'
# (c) the same for xc, and xc cannot be read back (users/me and timelines: 403).
fault '{"platform":"x","account":"xc","method":"POST","path":"/2/tweets","mode":"timeout_after_accept","count":1}'
fault '{"platform":"x","account":"xc","path":"/2/users/","status":403}'

# (a) 50 posts on xa1..xa5, (b), (c), and (d): the same text twice on xd.
sql "select crieur.schedule_post(a.id, format('X post %s for %s https://shop.example/p/%s', g, a.handle, g), now())
     from generate_series(1, 50) g
     join (select id, handle, row_number() over (order by id) - 1 as k
           from crieur.account where handle like 'xa%') a on a.k = g % 5" >/dev/null
pb=$(sql "select crieur.schedule_post($(acc xb), 'Spring sale: 20% off & free delivery', now())")
pc=$(sql "select crieur.schedule_post($(acc xc), 'Autumn sale <today only>', now())")
pd1=$(sql "select crieur.schedule_post($(acc xd), 'The same words twice', now())")
pd2=$(sql "select crieur.schedule_post($(acc xd), 'The same words twice', now() + interval '2 seconds')")

wait_for "all posts to end" 60 \
    bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select count(*) from crieur.post where status in ('scheduled')\")\" = 0 ]" || true
curl -fsS "$SANDBOX/_sandbox/ledger?platform=x" > "$T_DIR/ledger.json"
sql "create table t_ledger (seq bigint, account text, id text, url text, body text)"
jq -r '.entries[] | [.seq, .account, .id, .url, .text] | @tsv' "$T_DIR/ledger.json" \
    | psql "$CRIEUR_DATABASE_URL" -Xq -c "\\copy t_ledger from stdin"

# (a)
eq "(a) 50 posts published" 50 "$(sql "select count(*) from crieur.post p join crieur.account a on a.id = p.account_id
                                       where a.handle like 'xa%' and p.status = 'published'")"
eq "(a) 50 ledger entries, one per post" "50 50" \
    "$(sql "select count(*) || ' ' || count(distinct body) from t_ledger where account like 'xa%'")"
eq "(a) every post carries its tweet's id and an x.com URL" 50 \
    "$(sql "select count(*) from crieur.post p join crieur.account a on a.id = p.account_id
            join t_ledger l on l.body = p.body and l.account = a.handle
            where a.handle like 'xa%' and l.id = p.platform_post_id
              and p.url = 'https://x.com/' || a.handle || '/status/' || l.id")"
eq "(a) one attempt each, ok" "50 ok" \
    "$(sql "select count(*) || ' ' || string_agg(distinct t.outcome, ',') from crieur.attempt t
            join crieur.post p on p.id = t.ref_id join crieur.account a on a.id = p.account_id
            where a.handle like 'xa%'")"

# (b)
eq "(b) published" published "$(sql "select status from crieur.post where id = $pb")"
eq "(b) exactly one tweet on the platform" 1 "$(sql "select count(*) from t_ledger where account = 'xb'")"
eq "(b) the post has the ledger's id" "$(sql "select id from t_ledger where account = 'xb'")" \
    "$(sql "select platform_post_id from crieur.post where id = $pb")"
eq "(b) attempts: indeterminate, then ok" "indeterminate,ok" \
    "$(sql "select string_agg(outcome, ',' order by attempt) from crieur.attempt where ref_id = $pb")"
eq "(b) the ok attempt found it by reading back" "found on the platform by reading back; not published again" \
    "$(sql "select detail from crieur.attempt where ref_id = $pb and outcome = 'ok'")"
eq "(b) the first attempt gave up at the deadline, after sending" "curl:28" \
    "$(sql "select error_code from crieur.attempt where ref_id = $pb and outcome = 'indeterminate'")"

# (c)
eq "(c) unconfirmed" unconfirmed "$(sql "select status from crieur.post where id = $pc")"
eq "(c) exactly one tweet on the platform (never a blind second publish)" 1 \
    "$(sql "select count(*) from t_ledger where account = 'xc'")"
eq "(c) attempts: indeterminate, then unconfirmed" "indeterminate,unconfirmed" \
    "$(sql "select string_agg(outcome, ',' order by attempt) from crieur.attempt where ref_id = $pc")"
eq "(c) an alert for a human" "1 critical" \
    "$(sql "select count(*) || ' ' || min(severity) from crieur.alert where kind = 'post_unconfirmed' and post_id = $pc")"
check "(c) the post says why" \
    grep -q "cannot be read back" <<<"$(sql "select last_error from crieur.post where id = $pc")"

# (d)
eq "(d) one published, one failed" "failed published" \
    "$(sql "select string_agg(status, ' ' order by status) from crieur.post where id in ($pd1, $pd2)")"
pdf=$(sql "select id from crieur.post where id in ($pd1, $pd2) and status = 'failed'")
eq "(d) one attempt: permanent 403 duplicate, not retried" "1 permanent 403 duplicate" \
    "$(sql "select count(*) || ' ' || min(outcome) || ' ' || min(http_status) || ' ' || min(error_code)
            from crieur.attempt where ref_id = $pdf")"
eq "(d) with X's message" "You are not allowed to create a Tweet with duplicate content." \
    "$(sql "select last_error from crieur.post where id = $pdf")"
eq "(d) one tweet on the platform" 1 "$(sql "select count(*) from t_ledger where account = 'xd'")"
eq "no job left in the queue" 0 "$(sql "select count(*) from crieur.job")"
t_done
