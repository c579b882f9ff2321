#!/usr/bin/env bash
# End to end: 2,000 posts over 20 accounts of 5 clients, half due now and half
# due within 10 s, through a real broker, two publisher processes, and the
# sandbox platform. Every post must reach the sandbox's ledger exactly once,
# end `published` with the sandbox's id and URL, have its attempt recorded,
# and never be sent before its time.
T_NAME=e2e_publish
source "$(dirname "$0")/../harness/lib.sh"
N=${E2E_POSTS:-2000}

t_db
t_sandbox --open
t_broker
t_publisher pub1 --capacity 64
t_publisher pub2 --capacity 64
wait_for "two publishers registered" 20 \
    bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select count(*) from crieur.worker where state='connected'\")\" = 2 ]"

# 5 clients x 4 accounts
for c in 1 2 3 4 5; do
    "$BIN_CTL" client add "client$c" --timezone Europe/Paris >/dev/null
    for a in 1 2 3 4; do
        echo "token-c${c}a${a}" > "$T_DIR/tok"
        "$BIN_CTL" account add --client "client$c" --platform mastodon --handle "c${c}a${a}" \
            --instance "$SANDBOX/mastodon" --token-file "$T_DIR/tok" >/dev/null
    done
done
eq "20 accounts" 20 "$(sql "select count(*) from crieur.account")"

start_ms=$(date +%s%3N)
# One transaction through the SQL interface: half due now, half within 10 s.
sql "select crieur.schedule_post(a.id, format('post %s of the e2e test, for %s', g, a.handle),
        now() + case when g % 2 = 0 then interval '0' else (g % 10 + 0.5) * interval '1 second' end)
     from generate_series(1, $N) g
     join (select id, handle, row_number() over (order by id) - 1 as k from crieur.account) a
       on a.k = g % 20" >/dev/null
eq "posts scheduled" "$N" "$(sql "select count(*) from crieur.post")"

wait_for "all posts to finish" 90 \
    bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select count(*) from crieur.post where status <> 'scheduled'\")\" = $N ]" || true
end_ms=$(date +%s%3N)

eq "every post published" "$N" "$(sql "select count(*) from crieur.post where status='published'")"
eq "no job left in the queue" 0 "$(sql "select count(*) from crieur.job")"

# Load the sandbox's ledger into the database to compare.
curl -fsS "$SANDBOX/_sandbox/ledger" > "$T_DIR/ledger.json"
sql "create table t_ledger (seq bigint, account text, id text, url text, body text, created_at timestamptz)"
jq -r '.entries[] | [.seq, .account, .id, .url, .text, .created_at] | @tsv' "$T_DIR/ledger.json" \
    | psql "$CRIEUR_DATABASE_URL" -Xq -c "\\copy t_ledger from stdin"
eq "ledger has exactly one entry per post" "$N" "$(sql "select count(*) from t_ledger")"
eq "no post text appears twice in the ledger" 0 \
    "$(sql "select count(*) from (select body from t_ledger group by body having count(*) > 1) d")"
eq "every post row carries the sandbox's id and url" "$N" \
    "$(sql "select count(*) from crieur.post p join t_ledger l on l.body = p.body
            where l.id = p.platform_post_id and l.url = p.url")"
eq "every post has exactly one successful attempt recorded" "$N" \
    "$(sql "select count(*) from (select ref_id from crieur.attempt where outcome='ok'
            group by ref_id having count(*) = 1) x")"
eq "no post was sent before its time" 0 \
    "$(sql "select count(*) from crieur.post p join t_ledger l on l.body = p.body
            where l.created_at < date_trunc('milliseconds', p.scheduled_at)")"

# Lateness = sandbox receipt - scheduled time. Posts "due now" are due at the
# start of the scheduling transaction, so their lateness includes the time
# that transaction took to insert 2,000 posts and commit.
lateness() {
    sql "select round(percentile_cont(0.5) within group (order by ms))::int || ' ms p50, ' ||
                round(percentile_cont(0.99) within group (order by ms))::int || ' ms p99, ' || max(ms)::int || ' ms max'
         from (select extract(epoch from (l.created_at - p.scheduled_at)) * 1000 as ms
               from crieur.post p join t_ledger l on l.body = p.body where $1) x"
}
echo "# $N posts: $((end_ms - start_ms)) ms from scheduling to the last post done (the schedule spans 10 s)"
echo "# lateness of posts due in the future: $(lateness "p.scheduled_at > p.created_at + interval '100 ms'")"
echo "# lateness of posts due at once:       $(lateness "p.scheduled_at <= p.created_at + interval '100 ms'")"
t_done
