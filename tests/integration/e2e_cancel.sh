#!/usr/bin/env bash
# A post cancelled before its time never reaches the platform: both while its
# job is still in the queue, and after a broker has claimed it ahead of time
# (look-ahead) and holds it.
T_NAME=e2e_cancel
source "$(dirname "$0")/../harness/lib.sh"

t_db
t_sandbox --open
# A long look-ahead so that jobs are claimed and held 5 s before they are due.
t_broker --lookahead-ms 5000 --lease-ms 20000
t_publisher pub1
"$BIN_CTL" client add acme >/dev/null
echo tok-acme > "$T_DIR/tok"
acc=$("$BIN_CTL" account add --client acme --platform mastodon --handle acme \
      --instance "$SANDBOX/mastodon" --token-file "$T_DIR/tok" | grep -o '[0-9]\+' | head -1)

# Queue path: due in 30 s, cancelled at once (still scheduled in PostgreSQL).
q1=$(sql "select crieur.schedule_post($acc, 'queued then cancelled', now() + interval '30 seconds')")
eq "cancel of a queued post is immediate" cancelled "$(sql "select crieur.cancel_post($q1)")"
eq "its job is gone" 0 "$(sql "select count(*) from crieur.job where ref_id = $q1")"

# Held path: due in 4 s, so the broker claims it within a second; cancel it then.
h1=$(sql "select crieur.schedule_post($acc, 'held then cancelled', now() + interval '4 seconds')")
keep=$(sql "select crieur.schedule_post($acc, 'held and published', now() + interval '4 seconds')")
wait_for "the broker to lease the held posts" 5 \
    bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select count(*) from crieur.job where state='leased'\")\" = 2 ]"
eq "cancel of a leased post is requested" cancel_requested "$(sql "select crieur.cancel_post($h1)")"
wait_for "the kept post to publish" 20 \
    bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select status from crieur.post where id=$keep\")\" = published ]"
wait_for "the held post to be cancelled" 10 \
    bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select status from crieur.post where id=$h1\")\" = cancelled ]"
eq "held post ends cancelled" cancelled "$(sql "select status from crieur.post where id=$h1")"
eq "queued post ends cancelled" cancelled "$(sql "select status from crieur.post where id=$q1")"
eq "the kept post is published" published "$(sql "select status from crieur.post where id=$keep")"
ledger=$(curl -fsS "$SANDBOX/_sandbox/ledger")
eq "the sandbox received only the kept post" 1 "$(jq '.count' <<<"$ledger")"
eq "and it is the kept one" "held and published" "$(jq -r '.entries[0].text' <<<"$ledger")"
eq "the cancellation is recorded as an attempt" cancelled \
    "$(sql "select outcome from crieur.attempt where ref_id = $h1")"
if psql "$CRIEUR_DATABASE_URL" -XqAt -v ON_ERROR_STOP=1 -c "select crieur.cancel_post($h1)" >/dev/null 2>&1
then twice=accepted; else twice=refused; fi
eq "cancelling a cancelled post is refused" refused "$twice"
t_done
