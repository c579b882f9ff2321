#!/usr/bin/env bash
# Platform refusals: a 422 (text too long for the instance) fails the post
# with the platform's message and no retry; a 500 once is retried and yields
# exactly one published post.
T_NAME=e2e_failures
source "$(dirname "$0")/../harness/lib.sh"

t_db
# The instance allows 100 characters; Crieur's default for Mastodon is 500,
# so the post passes scheduling checks and the platform refuses it.
t_sandbox --max-characters 100
t_broker --backoff-ms 300
t_publisher pub1
"$BIN_CTL" client add acme >/dev/null
for h in longtext flaky; do
    echo "tok-$h" > "$T_DIR/tok"
    curl -fsS -X POST "$SANDBOX/_sandbox/accounts" -H 'content-type: application/json' \
        -d "{\"platform\":\"mastodon\",\"handle\":\"$h\",\"token\":\"tok-$h\"}" >/dev/null
    "$BIN_CTL" account add --client acme --platform mastodon --handle "$h" \
        --instance "$SANDBOX/mastodon" --token-file "$T_DIR/tok" >/dev/null
done
a_long=$(sql "select id from crieur.account where handle='longtext'")
a_flaky=$(sql "select id from crieur.account where handle='flaky'")
# The flaky account's next status creation answers 500 once.
curl -fsS -X POST "$SANDBOX/_sandbox/faults" -H 'content-type: application/json' \
    -d '{"platform":"mastodon","account":"flaky","path":"/api/v1/statuses","status":500,"count":1}' >/dev/null

# A post whose image the worker cannot read: the broker forwards the media
# list, and the worker fails the post with the reason instead of publishing
# it without its image (uploads themselves: e2e_media_mastodon_bluesky).
sql "begin; select crieur.schedule_post($a_flaky, 'with a picture', now() + interval '2 seconds');
     update crieur.post set media = '{/srv/img/croissant.jpg}' where body = 'with a picture'; commit;" >/dev/null
media=$(sql "select id from crieur.post where body = 'with a picture'")
long=$(sql "select crieur.schedule_post($a_long, repeat('x', 150), now())")
flaky=$(sql "select crieur.schedule_post($a_flaky, 'flaky but fine', now())")
wait_for "the three posts to finish" 30 \
    bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select count(*) from crieur.post where status in ('published','failed')\")\" = 3 ]"
eq "a missing image fails the post with the reason, never published without it" \
    "failed|cannot read media file /srv/img/croissant.jpg on worker: No such file or directory (the file must be visible to the worker, e.g. on a shared volume)" \
    "$(sql "select status || '|' || last_error from crieur.post where id=$media")"

eq "422: the post failed" failed "$(sql "select status from crieur.post where id=$long")"
eq "422: with the platform's message" "Validation failed: Text character limit of 100 exceeded" \
    "$(sql "select last_error from crieur.post where id=$long")"
eq "422: one attempt, no retry" "1 permanent 422" \
    "$(sql "select count(*) || ' ' || min(outcome) || ' ' || min(http_status) from crieur.attempt where ref_id=$long")"
eq "500 once: published" published "$(sql "select status from crieur.post where id=$flaky")"
eq "500 once: a transient attempt then a successful one" "transient,ok" \
    "$(sql "select string_agg(outcome, ',' order by attempt) from crieur.attempt where ref_id=$flaky")"
ledger=$(curl -fsS "$SANDBOX/_sandbox/ledger")
eq "500 once: exactly one post in the ledger" 1 "$(jq '[.entries[] | select(.text == "flaky but fine")] | length' <<<"$ledger")"
eq "422: nothing in the ledger" 0 "$(jq '[.entries[] | select(.text | startswith("xxx"))] | length' <<<"$ledger")"
eq "the platform id is recorded" "$(jq -r '.entries[] | select(.text == "flaky but fine") | .id' <<<"$ledger")" \
    "$(sql "select platform_post_id from crieur.post where id=$flaky")"
t_done
