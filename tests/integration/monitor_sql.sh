#!/usr/bin/env bash
# Listening, straight against PostgreSQL (010_monitor): recurring monitor
# jobs on a grid of slots (no drift, no pile-up), the claim's monitor
# payload, monitor_store's fence and de-duplication, cursors, incidents (one
# alert per incident, spikes against a baseline), quiet hours, the inbox
# functions and their errors.
T_NAME=monitor_sql
source "$(dirname "$0")/../harness/lib.sh"
t_db

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
# claim OWNER: claims every due job, prints "job kind platform"
claim() { sql "select job_id || ' ' || kind || ' ' || platform from crieur.broker_cycle('$1', '[]', 100, 1000, 30000, '{}') where job_id is not null order by job_id"; }
# finish OWNER JOB ATTEMPT OUTCOME
# (no lease renewal: p_known NULL, or the broker's other leases would end)
finish() { sql "select applied from crieur.broker_cycle('$1', '[{\"j\":$2,\"a\":$3,\"o\":\"$4\",\"e\":\"boom\"}]', 0, 1000, 30000, NULL) where job_id is null"; }

sql "select crieur.add_client('acme')" >/dev/null
sql "select crieur.add_client('zeta')" >/dev/null
ACC=$(sql "select crieur.add_account('acme', 'mastodon', 'acme', 'http://127.0.0.1:1/mastodon', 'tok')")
ZACC=$(sql "select crieur.add_account('zeta', 'x', 'zeta', 'http://127.0.0.1:1/x', 'tok')")
fails "unknown client" "select crieur.add_monitor_source('nobody', 'feed', 'n', null, 'http://f/x.xml')" 'no client named nobody'
fails "another client's account" "select crieur.add_monitor_source('acme', 'account', 'z', $ZACC)" 'is not an account of client acme'
fails "a feed needs a URL" "select crieur.add_monitor_source('acme', 'feed', 'f')" 'monitor_source_check'
fails "a search needs keywords" "select crieur.add_monitor_source('acme', 'search', 's', null, 'http://f/x.xml')" 'monitor_source_check'
fails "not a URL" "select crieur.add_monitor_source('acme', 'feed', 'f', null, 'file:///etc/passwd')" 'monitor_source_url_check'
SRC=$(sql "select crieur.add_monitor_source('acme', 'account', 'acme on mastodon', $ACC)")
FEED=$(sql "select crieur.add_monitor_source('acme', 'search', 'press', null, 'http://127.0.0.1:1/feed.xml', '{acme}', '1 minute')")
sql "insert into crieur.routing_rule (client_id, name, position, labels, team, assignee)
     select id, 'complaints', 1, '{complaint}', 'customer_service', 'carla' from crieur.client where name = 'acme'" >/dev/null
eq "one job per source, due now" "2 2" "$(sql "select count(*) || ' ' || count(*) filter (where run_at <= now()) from crieur.job where kind = 'monitor'")"

# The claim carries the source, its cursor and the client's rules.
claimed=$(claim b1)
J1=$(awk '$2 == "monitor" && $3 == "mastodon" {print $1}' <<<"$claimed")
J2=$(awk '$2 == "monitor" && $3 == "feed" {print $1}' <<<"$claimed")
check "account source claimed on its platform, feed as 'feed' ($claimed)" [ -n "$J1" ] && [ -n "$J2" ]
payload=$(sql "select crieur.monitor_task($FEED)")
eq "payload: kind, url, keywords, rules" 'search http://127.0.0.1:1/feed.xml ["acme"] complaints' \
    "$(jq -r '"\(.kind) \(.url) \(.keywords | tojson) \(.rules[0].name)"' <<<"$payload")"

# monitor_store: fenced on (job, attempt, owner); a rerun stores nothing twice.
M3='[{"id":"101","kind":"mention","author":"bob","text":"ma commande est perdue","sentiment":-0.3,"polarity":"negative","labels":["complaint"],"team":"customer_service","rule":"complaints"},
     {"id":"102","author":"amy","text":"love it","sentiment":0.7,"polarity":"positive","labels":["bogus"]},
     {"id":"","text":"no id: dropped","polarity":"neutral"}]'
eq "another broker's store is fenced out" 0 "$(sql "select stored from crieur.monitor_store('b2', '[{\"j\":$J1,\"a\":1,\"cursor\":\"x\",\"mentions\":$M3}]')")"
eq "a stale attempt's store is fenced out" 0 "$(sql "select stored from crieur.monitor_store('b1', '[{\"j\":$J1,\"a\":7,\"cursor\":\"x\",\"mentions\":$M3}]')")"
eq "two mentions stored (one without id dropped)" 2 "$(sql "select stored from crieur.monitor_store('b1', '[{\"j\":$J1,\"a\":1,\"cursor\":\"102\",\"mentions\":$M3}]')")"
eq "stored again: nothing twice" 0 "$(sql "select stored from crieur.monitor_store('b1', '[{\"j\":$J1,\"a\":1,\"cursor\":\"102\",\"mentions\":$M3}]')")"
eq "a task's bad data is refused alone, the other's stored" "0 {$J2}" \
    "$(sql "select stored || ' ' || failed::text from crieur.monitor_store('b1', '[{\"j\":$J2,\"a\":1,\"mentions\":[{\"id\":\"e1\",\"text\":\"x\",\"posted_ms\":\"not a number\"}]}]')")"
eq "the cursor moved" "102 2" "$(sql "select cursor || ' ' || collected from crieur.monitor_source where id = $SRC")"
eq "routed with its rule's assignee; unknown labels dropped" "customer_service carla assigned {complaint}|community_manager  new {}" \
    "$(sql "select string_agg(team || ' ' || coalesce(assignee, '') || ' ' || status || ' ' || labels::text, '|' order by external_id) from crieur.mention")"

# Recurrence: done -> the next slot of the grid; failed -> retried; slots
# missed while nothing ran are skipped.
eq "result applied" 1 "$(finish b1 "$J1" 1 ok)"
eq "next run one interval after the slot" 300 \
    "$(sql "select round(extract(epoch from j.run_at - s.created_at) / 10) * 10 from crieur.job j join crieur.monitor_source s on s.id = j.ref_id where j.kind = 'monitor' and s.id = $SRC")"
eq "transient failure: retried, the same job" 1 "$(finish b1 "$J2" 1 transient)"
eq "still one job for the feed" 1 "$(sql "select count(*) from crieur.job where unique_key = 'monitor:$FEED'")"
sql "update crieur.monitor_source set due_at = now() - interval '10 minutes 30 seconds' where id = $FEED" >/dev/null
sql "delete from crieur.job where unique_key = 'monitor:$FEED'" >/dev/null
eq "after downtime: the next slot after now, not ten runs" "1 30" \
    "$(sql "select count(*) || ' ' || round(extract(epoch from min(run_at) - now()) / 10) * 10 from crieur.job where unique_key = 'monitor:$FEED'")"
eq "its error kept on the source" "boom" "$(sql "select last_error from crieur.monitor_source where id = $FEED")"
sql "select crieur.set_monitor_source_enabled($FEED, false)" >/dev/null
eq "disabled: its job is cancelled" t "$(sql "select cancel_requested from crieur.job where unique_key = 'monitor:$FEED'")"
fails "unknown source" "select crieur.set_monitor_source_enabled(999, true)" 'no monitor source 999'

# Alerts: urgent and strongly negative mentions open one incident each, later
# ones join it; a burst of negative mentions raises one spike.
sql "update crieur.job set run_at = now() where unique_key = 'monitor:$SRC'" >/dev/null
store_batch() { # OWNER FIRST_ID COUNT SENTIMENT LABELS -> job leased and stored, then finished
    local j a
    read -r j a < <(sql "select job_id, attempt from crieur.broker_cycle('$1', '[]', 10, 1000, 30000, '{}') where kind = 'monitor' and platform = 'mastodon'" | tr '|' ' ')
    local ms
    ms=$(python3 -c "import json,sys; f,n,s,l=int(sys.argv[1]),int(sys.argv[2]),float(sys.argv[3]),sys.argv[4]; print(json.dumps([{'id':str(f+i),'text':'bad %d'%i,'sentiment':s,'polarity':'negative' if s<0 else 'neutral','labels':[x for x in l.split(',') if x]} for i in range(n)]))" "$2" "$3" "$4" "$5")
    sql "select stored from crieur.monitor_store('$1', '[{\"j\":$j,\"a\":$a,\"mentions\":$ms}]')" >/dev/null
    finish "$1" "$j" "$a" ok >/dev/null
    sql "update crieur.job set run_at = now() where unique_key = 'monitor:$SRC'" >/dev/null
}
store_batch b1 200 2 -0.9 urgent
store_batch b1 300 1 -0.9 urgent
eq "two urgent batches: one incident, one alert" "1 1 3" \
    "$(sql "select count(distinct i.id) || ' ' || count(distinct a.id) || ' ' || max(i.mentions) from crieur.incident i join crieur.alert a on a.id = i.alert_id where i.kind = 'mention_urgent'")"
eq "urgent alerts are critical" critical "$(sql "select severity from crieur.alert where kind = 'mention_urgent'")"
store_batch b1 400 3 -0.4 ''
eq "3 mildly negative in the window (with 3 urgent, 1 complaint): spike (min 5)" 1 \
    "$(sql "select count(*) from crieur.alert where kind = 'negative_spike'")"
store_batch b1 500 10 -0.4 ''
eq "10 more: still one spike alert, the incident grows" "1 17" \
    "$(sql "select count(*) || ' ' || max(i.mentions) from crieur.alert a join crieur.incident i on i.alert_id = a.id where a.kind = 'negative_spike'")"
# a baseline: the same count every window of the past week is no spike
sql "insert into crieur.mention (client_id, source_id, account_id, platform, external_id, kind, body, polarity, collected_at)
     select client_id, id, account_id, 'x', 'old' || g, 'mention', 'meh', 'negative', now() - interval '20 minutes' - g * interval '1 minute'
     from crieur.monitor_source, generate_series(1, 7 * 24 * 60 - 30) g where id = $SRC" >/dev/null
sql "update crieur.incident set last_at = now() - interval '2 hours' where kind = 'negative_spike'" >/dev/null
store_batch b1 600 6 -0.4 ''
eq "with a baseline of 15 per window, 6 more are no spike" 1 "$(sql "select count(*) from crieur.alert where kind = 'negative_spike'")"

# Quiet hours: warnings wait for their end, critical alerts do not.
sql "insert into crieur.alert_channel (name, client_id, kind, secret, min_severity)
     select 'hook', id, 'webhook', '\\x00', 'info' from crieur.client where name = 'acme'" >/dev/null
sql "update crieur.client set timezone = 'UTC', quiet_start = (now() at time zone 'UTC' - interval '1 hour')::time,
     quiet_end = (now() at time zone 'UTC' + interval '2 hours')::time where name = 'acme'" >/dev/null
sql "insert into crieur.alert (client_id, kind, severity, message) select id, 'mention_negative', 'warning', 'w' from crieur.client where name = 'acme'" >/dev/null
sql "insert into crieur.alert (client_id, kind, severity, message) select id, 'mention_urgent', 'critical', 'c' from crieur.client where name = 'acme'" >/dev/null
eq "in quiet hours: the warning waits ~2 h, the critical goes now" "7200 0" \
    "$(sql "select string_agg((round(extract(epoch from j.run_at - now()) / 600) * 600)::text, ' ' order by a.severity desc) from crieur.job j join crieur.alert a on a.id = j.ref_id where j.kind = 'alert' and a.message in ('w', 'c')")"

# Inbox: assign, reply with a saved reply (placeholders), close; errors.
MID=$(sql "select id from crieur.mention where external_id = '102'")
sql "insert into crieur.saved_reply (client_id, name, body) select id, 'thanks', 'Merci {author} ! L''équipe {client}' from crieur.client where name = 'acme'" >/dev/null
sql "insert into crieur.saved_reply (client_id, name, body) values (null, 'sorry', 'Sorry {author}')" >/dev/null
sql "select crieur.mention_assign($MID, 'dan', 'sales')" >/dev/null
eq "assigned" "assigned dan sales" "$(sql "select status || ' ' || assignee || ' ' || team from crieur.mention where id = $MID")"
POST=$(sql "select crieur.mention_reply($MID, 'thanks')")
eq "the reply is a post answering the mention, from its account" "Merci amy ! L'équipe acme|102|$ACC|replied" \
    "$(sql "select p.body || '|' || p.in_reply_to || '|' || p.account_id || '|' || m.status from crieur.post p join crieur.mention m on m.reply_post_id = p.id where p.id = $POST")"
P2=$(sql "select crieur.mention_reply((select id from crieur.mention where external_id = '101'), 'sorry')")
eq "an agency-wide saved reply works for every client" "Sorry bob" "$(sql "select body from crieur.post where id = $P2")"
fails "unknown saved reply" "select crieur.mention_reply($MID, 'nope')" 'no saved reply named nope for client acme'
fails "saved reply and text together" "select crieur.mention_reply($MID, 'thanks', 'hi')" 'either a saved reply or a text'
fails "unknown mention" "select crieur.mention_close(424242)" 'no mention 424242'
sql "insert into crieur.mention (client_id, source_id, platform, external_id, kind, body, polarity)
     select client_id, $FEED, 'feed', 'https://news/1', 'entry', 'acme in the news', 'neutral' from crieur.monitor_source where id = $FEED" >/dev/null
fails "a feed entry cannot be answered" "select crieur.mention_reply((select id from crieur.mention where external_id = 'https://news/1'), null, 'hi')" 'comes from a feed'
sql "select crieur.mention_close($MID)" >/dev/null
eq "closed" closed "$(sql "select status from crieur.mention where id = $MID")"
t_done
