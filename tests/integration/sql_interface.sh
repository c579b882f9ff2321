#!/usr/bin/env bash
# The SQL interface and the broker's cycle function, straight against
# PostgreSQL: input checks, time zones, claims, fencing, leases, retries.
T_NAME=sql_interface
source "$(dirname "$0")/../harness/lib.sh"
t_db

# fails "what" SQL [expected message part]: the statement must raise.
fails() {
    local out
    if out=$(psql "$CRIEUR_DATABASE_URL" -XqAt -v ON_ERROR_STOP=1 -c "$2" 2>&1); then
        T_FAIL=$((T_FAIL + 1)); echo "FAIL - $1: statement succeeded: $out"
    elif [ -n "${3:-}" ] && ! grep -qF -- "$3" <<<"$out"; then
        T_FAIL=$((T_FAIL + 1)); echo "FAIL - $1: message '$out' lacks '$3'"
    else
        T_PASS=$((T_PASS + 1)); echo "ok - $1"
    fi
}

sql "select crieur.add_client('acme', 'Europe/Paris')" >/dev/null
sql "select crieur.add_account('acme', 'mastodon', 'alice', 'http://127.0.0.1:1/mastodon', 'tok')" >/dev/null
fails "unknown time zone" "select crieur.add_client('x', 'Mars/Olympus')" 'unknown time zone "Mars/Olympus"'
fails "duplicate client" "select crieur.add_client('acme')" 'already exists'
fails "unknown client" "select crieur.add_account('nobody', 'mastodon', 'a', 'http://x', 't')" 'unknown client "nobody"'
fails "unknown platform" "select crieur.add_account('acme', 'myspace', 'a', 'http://x', 't')" 'unknown platform "myspace"'
fails "bad instance URL" "select crieur.add_account('acme', 'mastodon', 'a', 'ftp://x', 't')" 'not an http(s) URL'
fails "unknown account" "select crieur.schedule_post(999, 'x', now())" 'unknown account 999'
fails "empty text" "select crieur.schedule_post(1, '  ', now())" 'must not be empty'
fails "time in the past" "select crieur.schedule_post(1, 'x', now() - interval '1 hour')" 'is in the past'
fails "text too long" "select crieur.schedule_post(1, repeat('é', 501), now())" 'is 501 characters long; mastodon allows at most 500'
eq "a URL counts as 23 characters" 1 \
    "$(sql "select count(*) from (select crieur.schedule_post(1, repeat('a', 470) || ' https://example.org/' || repeat('p', 200), now() + interval '1 hour')) x")"
sql "delete from crieur.job; delete from crieur.post" >/dev/null

# Time zones: wall time of the client, DST gap refused, repeated hour = first.
eq "Paris winter" "2026-01-15 06:00:00+00" "$(sql "set timezone='UTC'; select crieur.local_to_utc('2026-01-15 07:00', 'Europe/Paris')")"
eq "Paris summer" "2026-07-15 05:00:00+00" "$(sql "set timezone='UTC'; select crieur.local_to_utc('2026-07-15 07:00', 'Europe/Paris')")"
eq "New York" "2026-07-01 16:00:00+00" "$(sql "set timezone='UTC'; select crieur.local_to_utc('2026-07-01 12:00', 'America/New_York')")"
eq "repeated hour takes the first" "2026-10-25 00:30:00+00" "$(sql "set timezone='UTC'; select crieur.local_to_utc('2026-10-25 02:30', 'Europe/Paris')")"
fails "skipped hour refused" "select crieur.local_to_utc('2026-03-29 02:30', 'Europe/Paris')" 'does not exist in time zone Europe/Paris'

# Claims: due jobs only, in time order, leased to the caller, attempt counted.
p1=$(sql "select crieur.schedule_post(1, 'one', now())")
p2=$(sql "select crieur.schedule_post(1, 'two', now())")
p3=$(sql "select crieur.schedule_post(1, 'later', now() + interval '1 hour')")
claim="select job_id || ':' || attempt from crieur.broker_cycle('b1', null, 10, 1000, 10000, null) where job_id is not null order by job_id"
got=$(sql "$claim" | tr '\n' ' ')
j1=$(sql "select id from crieur.job where ref_id=$p1")
j2=$(sql "select id from crieur.job where ref_id=$p2")
eq "claims the two due jobs with attempt 1" "$j1:1 $j2:1 " "$got"
eq "a second broker claims nothing (SKIP LOCKED / leased)" "" "$(sql "select job_id from crieur.broker_cycle('b2', null, 10, 1000, 10000, null) where job_id is not null")"
eq "summary row gives the next due time" 1 \
    "$(sql "select count(*) from crieur.broker_cycle('b2', null, 0, 1000, 10000, null) where job_id is null and next_due_ms between extract(epoch from now() + interval '59 minutes') * 1000 and extract(epoch from now() + interval '61 minutes') * 1000")"

# cycle OWNER RESULTS-JSON CLAIM [KNOWN]: prints "applied stale" of the summary row.
cycle() {
    local known=${4:-null} results=null reap=false
    [ "$known" != null ] && known="'$known'" && reap=true
    [ -n "$2" ] && results="'$2'"
    sql "select applied || ' ' || stale from crieur.broker_cycle('$1', $results, $3, 1000, 10000, $known, 2000, $reap) where job_id is null"
}
# Fencing: wrong attempt, wrong owner -> nothing changes, counted stale.
eq "wrong attempt is fenced out" "0 1" "$(cycle b1 "[{\"j\":$j1,\"a\":2,\"o\":\"ok\"}]" 0)"
eq "another broker's result is fenced out" "0 1" "$(cycle b2 "[{\"j\":$j1,\"a\":1,\"o\":\"ok\"}]" 0)"
eq "job still leased to b1" "leased b1" "$(sql "select state || ' ' || lease_owner from crieur.job where id=$j1")"
eq "the right result applies" "1 0" \
    "$(cycle b1 "[{\"j\":$j1,\"a\":1,\"o\":\"ok\",\"p\":\"P1\",\"u\":\"http://u/1\",\"w\":\"w1\",\"h\":200}]" 0)"
eq "post published with platform id and url" "published P1 http://u/1" \
    "$(sql "select status || ' ' || platform_post_id || ' ' || url from crieur.post where id=$p1")"
eq "finished job left the queue" 0 "$(sql "select count(*) from crieur.job where id=$j1")"
eq "attempt recorded" "ok w1 200" "$(sql "select outcome || ' ' || worker || ' ' || http_status from crieur.attempt where job_id=$j1")"
eq "a duplicate result changes nothing" "0 1" "$(cycle b1 "[{\"j\":$j1,\"a\":1,\"o\":\"permanent\"}]" 0)"
eq "post still published" published "$(sql "select status from crieur.post where id=$p1")"

# Transient: back to the queue with backoff, error counted.
eq "transient applied" "1 0" "$(cycle b1 "[{\"j\":$j2,\"a\":1,\"o\":\"transient\",\"e\":\"HTTP 503\"}]" 0)"
eq "retry scheduled later with one error" "scheduled 1 true" \
    "$(sql "select state || ' ' || errors || ' ' || (run_at > now()) from crieur.job where id=$j2")"
eq "post still scheduled, error noted" "scheduled HTTP 503" "$(sql "select status || ' ' || last_error from crieur.post where id=$p2")"
# Rate limited: waits for the reset, attempt not counted.
sql "update crieur.job set run_at = now() where id=$j2" >/dev/null
eq "claimed again as attempt 2" "$j2:2" "$(sql "$claim" | tr -d '\n')"
reset_ms=$(sql "select (extract(epoch from now() + interval '90 seconds') * 1000)::bigint")
eq "rate limit applied" "1 0" "$(cycle b1 "[{\"j\":$j2,\"a\":2,\"o\":\"rate_limited\",\"r\":$reset_ms}]" 0)"
eq "deferred to the platform's reset, errors unchanged" "1 true" \
    "$(sql "select errors || ' ' || (abs(extract(epoch from run_at) * 1000 - $reset_ms) < 2) from crieur.job where id=$j2")"
# Dead after max attempts.
sql "update crieur.job set run_at = now(), max_attempts = 2 where id=$j2" >/dev/null
eq "claimed as attempt 3" "$j2:3" "$(sql "$claim" | tr -d '\n')"
cycle b1 "[{\"j\":$j2,\"a\":3,\"o\":\"indeterminate\",\"e\":\"timeout\"}]" 0 >/dev/null
eq "dead: post failed with the count" "failed|gave up after 2 attempts: timeout" \
    "$(sql "select status || '|' || last_error from crieur.post where id=$p2")"
eq "dead job left the queue" 0 "$(sql "select count(*) from crieur.job where id=$j2")"

# Expired lease: any broker puts it back, recording a lost attempt.
j3=$(sql "select id from crieur.job where ref_id=$p3")
sql "update crieur.job set run_at = now() where id=$j3" >/dev/null
sql "select count(*) from crieur.broker_cycle('b1', null, 10, 0, 1000, null)" >/dev/null
sleep 1.2
cycle b2 "" 0 "{}" >/dev/null
eq "expired lease returned to the queue" "scheduled" "$(sql "select state from crieur.job where id=$j3")"
eq "lost attempt recorded" "lost" "$(sql "select outcome from crieur.attempt where job_id=$j3 and attempt=1")"
# Orphan: leased in b1's name but unknown to b1 -> released unchanged.
sql "select count(*) from crieur.broker_cycle('b1', null, 10, 0, 10000, null)" >/dev/null
cycle b1 "" 0 "{}" >/dev/null
eq "orphan lease released" "scheduled 1" "$(sql "select state || ' ' || errors from crieur.job where id=$j3")"
eq "released attempt recorded" "released" "$(sql "select outcome from crieur.attempt where job_id=$j3 and attempt=2")"
# Known jobs keep their lease.
sql "select count(*) from crieur.broker_cycle('b1', null, 10, 0, 10000, null)" >/dev/null
cycle b1 "" 0 "{$j3}" >/dev/null
eq "known job keeps its lease" "leased" "$(sql "select state from crieur.job where id=$j3")"
# A broker whose session is gone loses its leases at once (no waiting for expiry).
sql "select crieur.broker_recover('b1')" >/dev/null
sql "select count(*) from crieur.broker_cycle('b-gone', null, 10, 0, 600000, null)" >/dev/null
eq "leased by a broker with no session" "leased b-gone" "$(sql "select state || ' ' || lease_owner from crieur.job where id=$j3")"
cycle b2 "" 0 "{}" >/dev/null
eq "taken over although its lease has 10 minutes left" "scheduled" "$(sql "select state from crieur.job where id=$j3")"
eq "the takeover is recorded as a lost attempt of the lost broker" "lost b-gone" \
    "$(sql "select outcome || ' ' || broker from crieur.attempt where job_id=$j3 order by attempt desc limit 1")"
# A live broker (a psql session announcing itself as crieur-broker:b-live) keeps its leases.
( echo "select count(*) from crieur.broker_cycle('b-live', null, 10, 0, 600000, null);"; sleep 4 ) \
    | PGAPPNAME=crieur-broker:b-live psql "$CRIEUR_DATABASE_URL" -XqAt >/dev/null &
live_pid=$!
wait_for "b-live to lease the job" 5 \
    bash -c "[ \"\$(psql \"$CRIEUR_DATABASE_URL\" -XqAtc \"select lease_owner from crieur.job where id=$j3\")\" = b-live ]"
cycle b2 "" 0 "{}" >/dev/null
eq "a live broker keeps its leases" "leased b-live" "$(sql "select state || ' ' || lease_owner from crieur.job where id=$j3")"
wait "$live_pid"
cycle b2 "" 0 "{}" >/dev/null
eq "once its session ends they are taken over" "scheduled" "$(sql "select state from crieur.job where id=$j3")"
sql "update crieur.job set run_at = now() where id=$j3" >/dev/null
sql "select count(*) from crieur.broker_cycle('b1', null, 10, 0, 10000, null)" >/dev/null
# Start-up recovery.
eq "broker_recover returns what the id held" 1 "$(sql "select crieur.broker_recover('b1')")"
eq "recovered job is back in the queue" "scheduled" "$(sql "select state from crieur.job where id=$j3")"
# Cancel of a leased job whose broker died: ends cancelled when the lease expires.
sql "select count(*) from crieur.broker_cycle('b9', null, 10, 0, 1000, null)" >/dev/null
eq "cancel of a leased job is a request" cancel_requested "$(sql "select crieur.cancel_post($p3)")"
sleep 1.2
cycle b2 "" 0 "{}" >/dev/null
eq "cancelled once its lease expired" "cancelled 0" \
    "$(sql "select p.status || ' ' || (select count(*) from crieur.job where ref_id=$p3) from crieur.post p where id=$p3")"
# auth_expired: the account is flagged and its jobs wait.
p4=$(sql "select crieur.schedule_post(1, 'auth', now())")
j4=$(sql "select id from crieur.job where ref_id=$p4")
sql "select count(*) from crieur.broker_cycle('b1', null, 10, 0, 10000, null)" >/dev/null
cycle b1 "[{\"j\":$j4,\"a\":1,\"o\":\"auth_expired\",\"e\":\"The access token is invalid\"}]" 0 >/dev/null
eq "account flagged" "auth_failed|The access token is invalid" "$(sql "select status || '|' || status_reason from crieur.account where id=1")"
sql "update crieur.job set run_at = now() where id=$j4" >/dev/null
eq "jobs of a flagged account are not claimed" "" "$(sql "$claim")"
eq "post waits instead of failing" scheduled "$(sql "select status from crieur.post where id=$p4")"
# Per-kind retry limits.
eq "publish jobs get the kind's max attempts" 8 "$(sql "select max_attempts from crieur.job where id=$j4")"

# Reconciliation flag: an unknown outcome on a non-idempotent platform.
sql "update crieur.account set status='active' where id=1" >/dev/null
sql "select crieur.add_account('acme', 'x', 'bob', 'http://127.0.0.1:1/x', 'tokx')" >/dev/null
ax=$(sql "select id from crieur.account where platform='x'")
px=$(sql "select crieur.schedule_post($ax, 'on x', now())")
jx=$(sql "select id from crieur.job where ref_id=$px")
sql "delete from crieur.job where id <> $jx" >/dev/null
eq "first attempt does not reconcile" "$jx false" \
    "$(sql "select job_id || ' ' || reconcile from crieur.broker_cycle('b1', null, 10, 0, 10000, null) where job_id is not null")"
cycle b1 "[{\"j\":$jx,\"a\":1,\"o\":\"indeterminate\",\"e\":\"timeout after sending\"}]" 0 >/dev/null
sql "update crieur.job set run_at = now() where id=$jx" >/dev/null
eq "after an unknown outcome the next attempt reconciles" "$jx true" \
    "$(sql "select job_id || ' ' || reconcile from crieur.broker_cycle('b1', null, 10, 0, 10000, null) where job_id is not null")"
cycle b1 "[{\"j\":$jx,\"a\":2,\"o\":\"ok\",\"p\":\"X1\",\"u\":\"http://x/1\",\"rc\":true}]" 0 >/dev/null
eq "a reconciled success is recorded as such" "published|found on the platform by reading back; not published again" \
    "$(sql "select p.status || '|' || a.detail from crieur.post p join crieur.attempt a on a.ref_id = p.id and a.outcome='ok' where p.id=$px")"
# Giving up while the platform may have the post: unconfirmed, not failed.
px2=$(sql "select crieur.schedule_post($ax, 'on x, unlucky', now())")
jx2=$(sql "select id from crieur.job where ref_id=$px2")
sql "update crieur.job set max_attempts = 2 where id=$jx2" >/dev/null
sql "select count(*) from crieur.broker_cycle('b1', null, 10, 0, 10000, null)" >/dev/null
cycle b1 "[{\"j\":$jx2,\"a\":1,\"o\":\"indeterminate\",\"e\":\"timeout after sending\"}]" 0 >/dev/null
sql "update crieur.job set run_at = now() where id=$jx2" >/dev/null
sql "select count(*) from crieur.broker_cycle('b1', null, 10, 0, 10000, null)" >/dev/null
cycle b1 "[{\"j\":$jx2,\"a\":2,\"o\":\"transient\",\"e\":\"read-back failed: HTTP 503\"}]" 0 >/dev/null
eq "gave up with an unknown outcome: unconfirmed" unconfirmed "$(sql "select status from crieur.post where id=$px2")"
eq "critical alert naming the platform" "critical|true" \
    "$(sql "select severity || '|' || (message like '%may or may not be on x%') from crieur.alert where post_id=$px2")"
# Mastodon is idempotent: never reconciles.
pm=$(sql "select crieur.schedule_post(1, 'on mastodon', now())")
jm=$(sql "select id from crieur.job where ref_id=$pm")
sql "select count(*) from crieur.broker_cycle('b1', null, 10, 0, 10000, null)" >/dev/null
cycle b1 "[{\"j\":$jm,\"a\":1,\"o\":\"indeterminate\"}]" 0 >/dev/null
sql "update crieur.job set run_at = now() where id=$jm" >/dev/null
eq "idempotent platforms retry without reconciling" "$jm false" \
    "$(sql "select job_id || ' ' || reconcile from crieur.broker_cycle('b1', null, 10, 0, 10000, null) where job_id is not null")"
# Unconfirmed: the post says so and a critical alert is raised.
cycle b1 "[{\"j\":$jm,\"a\":2,\"o\":\"unconfirmed\",\"e\":\"cannot read back\"}]" 0 >/dev/null
eq "unconfirmed post" unconfirmed "$(sql "select status from crieur.post where id=$pm")"
eq "critical alert raised" "post_unconfirmed critical" "$(sql "select kind || ' ' || severity from crieur.alert where post_id=$pm")"

# Text rules as the platform counts: X weighs, Bluesky counts graphemes.
sql "select crieur.add_account('acme', 'bluesky', 'dan.bsky.social', 'http://127.0.0.1:1/bluesky', 'pw')" >/dev/null
ab=$(sql "select id from crieur.account where platform='bluesky'")
fam=$(printf '\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7')   # family: 5 code points
thumb=$(printf '\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd')                                        # thumbs up, skin tone
eq "X: 140 family emoji weigh 280 and are accepted" 1 \
    "$(sql "select count(*) from (select crieur.schedule_post($ax, repeat('$fam', 140), now() + interval '1 hour')) x")"
fails "X: 141 family emoji weigh 282 and are refused" "select crieur.schedule_post($ax, repeat('$fam', 141), now())" \
    'is 282 characters long; x allows at most 280'
eq "Bluesky: 300 emoji with skin tones are 300 graphemes" 1 \
    "$(sql "select count(*) from (select crieur.schedule_post($ab, repeat('$thumb', 300), now() + interval '1 hour')) x")"
fails "Bluesky: 301 are refused" "select crieur.schedule_post($ab, repeat('$thumb', 301), now())" \
    'is 301 characters long; bluesky allows at most 300'
sql "delete from crieur.job where run_at > now() + interval '30 minutes'" >/dev/null

# Missed posts: later than the client's tolerance -> missed + alert, not published.
sql "select crieur.add_client('late', 'UTC')" >/dev/null
sql "select crieur.add_account('late', 'mastodon', 'carol', 'http://127.0.0.1:1/mastodon', 'tok3')" >/dev/null
al=$(sql "select id from crieur.account where handle='carol'")
pl=$(sql "select crieur.schedule_post($al, 'too late', now())")
sql "update crieur.post set scheduled_at = now() - interval '3 hours' where id=$pl;
     update crieur.job set run_at = now() - interval '3 hours' where ref_id=$pl" >/dev/null
eq "a missed post is not claimed" "" "$(sql "select job_id from crieur.broker_cycle('b1', null, 10, 0, 10000, '{}') where job_id is not null")"
eq "it is marked missed" missed "$(sql "select status from crieur.post where id=$pl")"
eq "with an alert" post_missed "$(sql "select kind from crieur.alert where post_id=$pl")"
# A job deferred (rate limit, retries) until long after its post's time is missed too.
pl3=$(sql "select crieur.schedule_post($al, 'deferred too long', now())")
sql "update crieur.post set scheduled_at = now() - interval '3 hours' where id=$pl3;
     update crieur.job set run_at = now() - interval '1 second' where ref_id=$pl3" >/dev/null
sql "select count(*) from crieur.broker_cycle('b1', null, 0, 0, 10000, '{}')" >/dev/null
eq "a post whose job came due long after its time is missed" missed "$(sql "select status from crieur.post where id=$pl3")"
# ... unless the client allows late publication.
sql "update crieur.client set policy = '{\"allow_late\": true}' where name='late'" >/dev/null
pl2=$(sql "select crieur.schedule_post($al, 'late but allowed', now())")
sql "update crieur.post set scheduled_at = now() - interval '3 hours' where id=$pl2;
     update crieur.job set run_at = now() - interval '3 hours' where ref_id=$pl2" >/dev/null
eq "allowed late post is claimed" 1 "$(sql "select count(*) from crieur.broker_cycle('b1', null, 10, 0, 10000, '{}') where job_id is not null")"
t_done
