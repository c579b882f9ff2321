#!/usr/bin/env bash
# Rate limits in the broker (real broker, publisher, PostgreSQL, sandbox):
# a burst larger than an account's limit waits in the broker or in the queue
# instead of collecting 429s from the platform.
#  (a) X: 4 tweets per 6 s per user (the sandbox and crieur.platform agree);
#      10 tweets due at once on one account are all published, none refused
#      with a 429, and the last ones at least one window after the first;
#  (b) another X account is not slowed by the first one's spent limit: its 3
#      tweets go at once;
#  (c) Mastodon: 3 statuses per 4 s; 7 statuses due at once, all published,
#      none refused;
#  (d) the broker says what it did (held or deferred publications), and a
#      deferral is in the history as the broker's, not the platform's;
#  (e) without the broker's limits (post_limit NULL), the same X burst is
#      refused by the platform (429s): the check above can fail.
T_NAME=e2e_ratelimit
source "$(dirname "$0")/../harness/lib.sh"

t_db
t_sandbox --x-tweet-limit 4 --x-tweet-window-s 6 --mastodon-status-limit 3 --mastodon-status-window-s 4
sql "update crieur.platform set post_limit = 4, post_window = '6 s' where name = 'x'"
sql "update crieur.platform set post_limit = 3, post_window = '4 s' where name = 'mastodon'"
t_broker --backoff-ms 300 --stats-interval-s 1
B1=$LAST_PID
t_publisher pub1
P1=$LAST_PID
"$BIN_CTL" client add acme >/dev/null
for h in xa xb xc; do
    echo "tok-$h" > "$T_DIR/tok"
    curl -fsS -X POST "$SANDBOX/_sandbox/accounts" -H 'content-type: application/json' \
        -d "{\"platform\":\"x\",\"handle\":\"$h\",\"token\":\"tok-$h\"}" >/dev/null
    "$BIN_CTL" account add --client acme --platform x --handle "$h" \
        --instance "$SANDBOX/x" --token-file "$T_DIR/tok" >/dev/null
done
echo "tok-ma" > "$T_DIR/tok"
curl -fsS -X POST "$SANDBOX/_sandbox/accounts" -H 'content-type: application/json' \
    -d '{"platform":"mastodon","handle":"ma","token":"tok-ma"}' >/dev/null
"$BIN_CTL" account add --client acme --platform mastodon --handle ma \
    --instance "$SANDBOX/mastodon" --token-file "$T_DIR/tok" >/dev/null
acc() { sql "select id from crieur.account where handle = '$1'"; }
wait_for "broker ready" 20 grep -q "worker=pub1" "$T_DIR/broker.log"

due=$(sql "select now() + interval '1 s'")
sql "select crieur.schedule_post($(acc xa), 'burst xa ' || g, '$due') from generate_series(1, 10) g" >/dev/null
sql "select crieur.schedule_post($(acc xb), 'burst xb ' || g, '$due') from generate_series(1, 3) g" >/dev/null
sql "select crieur.schedule_post($(acc ma), 'burst ma ' || g, '$due') from generate_series(1, 7) g" >/dev/null
wait_for "20 posts published" 60 \
    bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select count(*) from crieur.post where status = 'published'\")\" = 20 ]"

eq "(a) no 429 from the platform" 0 "$(sql "select count(*) from crieur.attempt where http_status = 429")"
eq "(a) 10 tweets of xa on X, once each" "10 10" \
    "$(curl -fsS "$SANDBOX/_sandbox/ledger?platform=x" | jq -r '[.entries[] | select(.account == "xa")] | "\(length) \(map(.text) | unique | length)"')"
spread=$(sql "select (extract(epoch from max(published_at) - min(published_at)) * 1000)::int
              from crieur.post p join crieur.account a on a.id = p.account_id where a.handle = 'xa'")
check "(a) xa's burst spread over more than one window (${spread} ms >= 6000)" [ "$spread" -ge 6000 ]
lag_xb=$(sql "select (extract(epoch from max(published_at) - '$due'::timestamptz) * 1000)::int
              from crieur.post p join crieur.account a on a.id = p.account_id where a.handle = 'xb'")
check "(b) xb's 3 tweets went at once (${lag_xb} ms after their time)" [ "$lag_xb" -lt 3000 ]
eq "(c) 7 statuses of ma on Mastodon" 7 \
    "$(curl -fsS "$SANDBOX/_sandbox/ledger?platform=mastodon" | jq '[.entries[] | select(.account == "ma")] | length')"
held=$(grep -o 'rate_held=[0-9]*' "$T_DIR/broker.log" | tail -1 | cut -d= -f2)
deferred=$(grep -o 'rate_deferred=[0-9]*' "$T_DIR/broker.log" | tail -1 | cut -d= -f2)
check "(d) the broker held or deferred publications (held ${held:-0}, deferred ${deferred:-0})" \
    [ $((${held:-0} + ${deferred:-0})) -gt 0 ]
eq "(d) deferrals are the broker's in the history" \
    "$(sql "select count(*) from crieur.attempt where outcome = 'rate_limited'")" \
    "$(sql "select count(*) from crieur.attempt where outcome = 'rate_limited' and error_code = 'broker_rate_limit' and http_status is null")"

# (e) the same burst without the broker's limits: the platform refuses some
sql "update crieur.platform set post_limit = NULL, post_window = NULL where name = 'x'"
kill -TERM "$P1" "$B1"
wait "$P1" "$B1" 2>/dev/null || true
BROKER_NAME=broker2 t_broker --backoff-ms 300 --stats-interval-s 1
t_publisher pub2
sleep 7 # a fresh window for xc
due=$(sql "select now() + interval '1 s'")
sql "select crieur.schedule_post($(acc xc), 'burst xc ' || g, '$due') from generate_series(1, 8) g" >/dev/null
wait_for "xc's 8 tweets published" 60 \
    bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select count(*) from crieur.post p join crieur.account a on a.id = p.account_id where a.handle = 'xc' and p.status = 'published'\")\" = 8 ]"
check "(e) without the limits, the platform refused some with 429" \
    [ "$(sql "select count(*) from crieur.attempt a join crieur.account c on c.id = a.account_id where c.handle = 'xc' and a.http_status = 429")" -gt 0 ]
t_done
