#!/usr/bin/env bash
# X (no idempotency): the platform accepts a tweet, then closes the
# connection without answering. The publisher cannot know whether the tweet
# was made: the attempt's outcome is unknown and the next attempt must read
# back before publishing again. The request must never be sent a second time
# behind the publisher's back: libcurl silently re-sends a request (POST
# included) on a fresh connection when a reused keep-alive connection dies
# without a byte of answer, unless the publisher forbids it for
# non-idempotent requests.
T_NAME=fault_x_closed_after_accept
source "$(dirname "$0")/../harness/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

t_db
# held connections are closed after 1 s (well before the task deadline)
t_sandbox --open --hold-timeout-s 1 --verbose
F_BROKERS=(b1) F_PUBLISHERS=(pub1)
F_EP_b1="tcp://127.0.0.1:$(t_free_port)"
f_broker b1 "$F_EP_b1" --task-timeout-ms 10000 --backoff-ms 200
F_BROKER_EPS=$F_EP_b1
f_publisher pub1
wait_for "the publisher joined" 20 f_all_joined
sql "select crieur.add_client('acme'); select crieur.add_account('acme', 'x', 'acme', '$SANDBOX/x', 'token-x-acme')" >/dev/null
acc=$(sql "select id from crieur.account")

# A first post opens the keep-alive connection that the next one reuses.
for i in 1 2 3; do sql "select crieur.schedule_post($acc, 'warm-up $i', now())" >/dev/null; done
wait_for "the warm-up posts" 20 f_finished_at_least 3
eq "warm-up posts published" 3 "$(sql "select count(*) from crieur.post where status = 'published'")"

curl -fsS -X POST "$SANDBOX/_sandbox/faults" -H 'content-type: application/json' \
    -d '{"platform":"x","path":"/2/tweets","method":"POST","mode":"timeout_after_accept","count":1}' >/dev/null
post=$(sql "select crieur.schedule_post($acc, 'accepted, then the connection closed', now())")
wait_for "the post to finish" 30 f_finished_at_least 4 || true

ledger=$(curl -fsS "$SANDBOX/_sandbox/ledger?platform=x")
eq "the tweet is on the platform exactly once" 1 \
    "$(jq '[.entries[] | select(.text == "accepted, then the connection closed")] | length' <<<"$ledger")"
echo "# attempts: $(sql "select string_agg(attempt || ':' || outcome || coalesce('/' || error_code, '') || coalesce(' (' || detail || ')', ''), '; ' order by attempt) from crieur.attempt where ref_id = $post")"
echo "# sandbox: $(curl -fsS "$SANDBOX/_sandbox/stats" | jq -c '{requests, by_status, ledger, faults_applied}')"
eq "the post is published" published "$(sql "select status from crieur.post where id = $post")"
eq "the unknown outcome was reconciled (found by reading back)" 1 \
    "$(sql "select count(*) from crieur.attempt where ref_id = $post and outcome = 'ok'
            and detail = 'found on the platform by reading back; not published again'")"
eq "the tweet was not sent twice (no duplicate-content refusal from the platform)" 0 \
    "$(curl -fsS "$SANDBOX/_sandbox/stats" | jq '.by_status["403"] // 0')"
f_finish
t_done
