#!/usr/bin/env bash
# Tokens and alerts end to end: PostgreSQL, broker, publisher, sandbox, a real
# SMTP server. Checks that
#  (a) a token near expiry is refreshed ahead of time by a token_refresh job
#      (X rotates its refresh token), and the post then goes out with the new one;
#  (b) a post meeting an expired token starts a refresh, waits, and is published
#      with the new token, without an attempt counted against it;
#  (c) a refresh that fails for good pauses the account with a critical alert,
#      and its post waits instead of failing;
#  (d) a revoked token on a platform without refresh (Mastodon) pauses the
#      account with an alert; its post waits;
#  (e) those alerts reach a Slack-compatible webhook and an e-mail address;
#  (f) credentials are sealed in the database (never the plaintext), and the
#      refreshed ones too.
T_NAME=e2e_tokens_alerts
source "$(dirname "$0")/../harness/lib.sh"

t_db
t_sandbox --token-ttl-s 3600
t_smtp
export CRIEUR_X_CLIENT_ID=crieur-test-client
t_broker --tick-ms 100 --backoff-ms 200
t_publisher pub1 --capacity 16

reg() { curl -fsS -X POST "$SANDBOX/_sandbox/accounts" -H 'Content-Type: application/json' -d "$1" >/dev/null; }
reg '{"platform":"x","handle":"xa","token":"xa-tok1","expires_in":4,"refresh_token":"xa-ref1"}'
reg '{"platform":"x","handle":"xb","token":"xb-tok1","expires_in":0,"refresh_token":"xb-ref1"}'
reg '{"platform":"x","handle":"xc","token":"xc-tok1","expires_in":0,"refresh_token":"xc-ref1"}'
reg '{"platform":"mastodon","handle":"md","token":"md-tok1"}'
reg '{"platform":"webhook","handle":"ops","token":"hook-secret-123"}'
curl -fsS -X POST "$SANDBOX/_sandbox/tokens/revoke" -H 'Content-Type: application/json' \
    -d '{"token":"xc-ref1"}' >/dev/null
curl -fsS -X POST "$SANDBOX/_sandbox/tokens/revoke" -H 'Content-Type: application/json' \
    -d '{"token":"md-tok1"}' >/dev/null

# Accounts through the SQL interface (plaintext; the broker seals them).
sql "select crieur.add_client('acme')" >/dev/null
XA=$(sql "select crieur.add_account('acme', 'x', 'xa', '$SANDBOX/x', 'xa-tok1')")
XB=$(sql "select crieur.add_account('acme', 'x', 'xb', '$SANDBOX/x', 'xb-tok1')")
XC=$(sql "select crieur.add_account('acme', 'x', 'xc', '$SANDBOX/x', 'xc-tok1')")
MD=$(sql "select crieur.add_account('acme', 'mastodon', 'md', '$SANDBOX/mastodon', 'md-tok1')")
sql "update crieur.account set refresh_credentials = convert_to('xa-ref1', 'UTF8'),
            token_expires_at = now() + interval '4 seconds' where id = $XA;
     update crieur.account set refresh_credentials = convert_to('xb-ref1', 'UTF8') where id = $XB;
     update crieur.account set refresh_credentials = convert_to('xc-ref1', 'UTF8') where id = $XC;
     select crieur.schedule_refresh($XA)" >/dev/null
eq "(a) a refresh job is scheduled before the token expires" 1 \
    "$(sql "select count(*) from crieur.job where kind = 'token_refresh' and account_id = $XA
            and run_at < (select token_expires_at from crieur.account where id = $XA)")"

# Alert channels: the agency's webhook (sealed secrets come from crieurctl;
# the SQL interface may hold a plaintext one) and an e-mail address.
sql "insert into crieur.alert_channel (name, kind, secret, min_severity)
       values ('ops-hook', 'webhook', convert_to('$SANDBOX/webhook/services/T0/B0/hook-secret-123', 'UTF8'), 'warning');
     insert into crieur.alert_channel (name, kind, recipient, smtp_url, mail_from, min_severity)
       values ('ops-mail', 'email', 'ops@agency.example', '$SMTP_URL', 'crieur@agency.example', 'critical')" >/dev/null

# (a) due after the refresh; (b), (c), (d) due now.
PA=$(sql "select crieur.schedule_post($XA, 'after the ahead-of-time refresh', now() + interval '6 seconds')")
PB=$(sql "select crieur.schedule_post($XB, 'after an expired token', now())")
PC=$(sql "select crieur.schedule_post($XC, 'refresh token revoked', now())")
PD=$(sql "select crieur.schedule_post($MD, 'mastodon token revoked', now())")

st() { sql "select status from crieur.post where id = $1"; }
wait_for "post (a) published" 40 test "$(st "$PA")" = published || true
wait_for "post (b) published" 40 test "$(st "$PB")" = published || true
wait_for "account (c) paused" 40 test "$(sql "select status from crieur.account where id = $XC")" = auth_failed || true
wait_for "account (d) paused" 40 test "$(sql "select status from crieur.account where id = $MD")" = auth_failed || true

eq "(a) published" published "$(st "$PA")"
eq "(a) the refresh ran before the post, ahead of expiry" "token_refresh:ok publish:ok" \
    "$(sql "select string_agg(kind || ':' || outcome, ' ' order by finished_at) from crieur.attempt
            where account_id = $XA and outcome <> 'released'")"
eq "(a) the next refresh is scheduled, a margin (or half the token's life) before the new expiry" 1 \
    "$(sql "select count(*) from crieur.job j join crieur.account a on a.id = j.account_id
            where j.kind = 'token_refresh' and a.id = $XA and j.state = 'scheduled'
              and j.run_at < a.token_expires_at and a.token_expires_at > now() + interval '30 minutes'")"
eq "(b) published" published "$(st "$PB")"
eq "(b) expired token, refresh, then success" "publish:auth_expired token_refresh:ok publish:ok" \
    "$(sql "select string_agg(kind || ':' || outcome, ' ' order by finished_at) from crieur.attempt
            where account_id = $XB and outcome <> 'released'")"
eq "(b) the auth error consumed no attempt" 0 \
    "$(sql "select count(*) from crieur.attempt where account_id = $XB and kind = 'publish' and outcome in ('transient','permanent')")"
eq "(b) account active again" active "$(sql "select status from crieur.account where id = $XB")"
eq "(a)(b) both posts on the platform, one each" "1 1" \
    "$(curl -fsS "$SANDBOX/_sandbox/ledger?platform=x" | jq -r --arg a "after the ahead-of-time refresh" --arg b "after an expired token" \
        '[([.entries[] | select(.text == $a)] | length), ([.entries[] | select(.text == $b)] | length)] | join(" ")')"
eq "(a)(b) X refresh tokens rotated twice on the platform" 2 \
    "$(curl -fsS "$SANDBOX/_sandbox/stats" | jq '.refreshes.x // .refreshes // 0')"

eq "(c) account paused after its refresh failed" auth_failed "$(sql "select status from crieur.account where id = $XC")"
eq "(c) the post waits (not failed)" scheduled "$(st "$PC")"
eq "(c) a critical alert says to reconnect it" "token_refresh_failed critical 1" \
    "$(sql "select concat_ws(' ', kind, severity, (message like '%crieurctl account token%')::int) from crieur.alert where account_id = $XC")"
eq "(c) no second post attempt while paused" 1 \
    "$(sql "select count(*) from crieur.attempt where account_id = $XC and kind = 'publish'")"
eq "(d) mastodon account paused with an alert" "auth_failed account_auth_failed critical" \
    "$(sql "select concat_ws(' ', a.status, al.kind, al.severity) from crieur.account a join crieur.alert al on al.account_id = a.id where a.id = $MD")"
eq "(d) the post waits" scheduled "$(st "$PD")"

# (e) alerts delivered: both critical alerts to the webhook (min warning) and by mail (min critical).
wait_for "two webhook messages" 30 test "$(curl -fsS "$SANDBOX/_sandbox/ledger?platform=webhook" | jq '.entries | length')" -ge 2 || true
wait_for "two e-mails" 30 test "$(t_smtp_count)" -ge 2 || true
eq "(e) webhook messages, one per alert" 2 "$(curl -fsS "$SANDBOX/_sandbox/ledger?platform=webhook" | jq '.entries | length')"
check "(e) the webhook message names the account to reconnect" \
    bash -c "curl -fsS '$SANDBOX/_sandbox/ledger?platform=webhook' | jq -r '.entries[].text' | grep -q 'crieurctl account token $XC'"
eq "(e) e-mails, one per alert" 2 "$(t_smtp_count)"
check "(e) the e-mail goes to the channel's address with the alert in it" \
    bash -c "cat '$SMTP_DIR'/new/* | grep -q '^To: .*ops@agency.example' && cat '$SMTP_DIR'/new/* | grep -q 'token could not be refreshed'"
wait_for "alerts marked delivered" 20 test "$(sql "select count(*) from crieur.alert where delivered_at is not null")" = 2 || true
eq "(e) both alerts marked delivered" 2 "$(sql "select count(*) from crieur.alert where delivered_at is not null")"
eq "(e) no alert job left" 0 "$(sql "select count(*) from crieur.job where kind = 'alert'")"

# (f) sealed at rest.
KEYID=$(grep -o 'secret key loaded (id [0-9a-f]*' "$T_DIR/broker.log" | grep -o '[0-9a-f]\{16\}$')
eq "(f) every account's credentials sealed by the broker's key" 4 \
    "$(sql "select count(*) from crieur.account where credentials_key = '$KEYID'")"
eq "(f) no plaintext token left in the database" 0 \
    "$(sql "select count(*) from crieur.account where position(convert_to(handle || '-tok', 'UTF8') in credentials) > 0
              or position(convert_to(handle || '-ref', 'UTF8') in coalesce(refresh_credentials, ''::bytea)) > 0")"
eq "(f) the refreshed token differs from the first one and is sealed" 1 \
    "$(sql "select count(*) from crieur.account where id = $XB and credentials_key = '$KEYID'
              and length(credentials) > 41 and refresh_credentials is not null")"
check "(f) no token in the broker's or publisher's logs" \
    bash -c "! grep -E 'xa-tok|xb-tok|xa-ref|xb-ref|hook-secret-123' '$T_DIR/broker.log' '$T_DIR/pub1.log'"
t_done
