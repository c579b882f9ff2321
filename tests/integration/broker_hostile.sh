#!/usr/bin/env bash
# A misbehaving peer floods the broker with bad frames; the broker drops and
# counts them, never crashes, changes nothing in the database, and still
# serves real workers: a post scheduled afterwards is published.
T_NAME=broker_hostile
source "$(dirname "$0")/../harness/lib.sh"
t_db
t_sandbox --open
t_broker --stats-interval-s 1
broker_pid=$LAST_PID
"$BUILD/tests/hostile_peer" "$BROKER_EP" 3000 > "$T_DIR/hostile.log" 2>&1
rc=$?
cat "$T_DIR/hostile.log"
eq "the broker answers HELLO after the storm" 0 "$rc"
check "the broker process is alive" kill -0 "$broker_pid"
sleep 1.5
check "the broker counted the malformed frames" \
    bash -c "grep -Eq 'malformed=[1-9][0-9]*' '$T_DIR/broker.log'"
check "the forged results were counted stale" bash -c "grep -Eq 'stale=[1-9][0-9]*' '$T_DIR/broker.log'"
"$BIN_CTL" client add acme >/dev/null
echo tok > "$T_DIR/tok"
"$BIN_CTL" account add --client acme --platform mastodon --handle acme --instance "$SANDBOX/mastodon" \
    --token-file "$T_DIR/tok" >/dev/null
t_publisher pub1
p=$(sql "select crieur.schedule_post(1, 'after the storm', now())")
wait_for "the post to publish" 20 \
    bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select status from crieur.post where id=$p\")\" = published ]"
eq "a real post still publishes" published "$(sql "select status from crieur.post where id=$p")"
eq "no attempt was recorded from forged results" 1 "$(sql "select count(*) from crieur.attempt")"
t_done
