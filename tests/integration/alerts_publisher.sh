#!/usr/bin/env bash
# Alerts on the worker side, end to end without a database: the real
# crieur-publisher, driven by a fake broker (tests/tools/fake_broker.c),
# delivers alert tasks to the real sandbox's Slack-compatible webhooks and to
# a real SMTP server (aiosmtpd); the results are checked as the broker gets
# them and the messages are read back from the sandbox ledger and the
# maildir. Also: the secret webhook URL appears in no log and no result.
# usage: alerts_publisher.sh BUILD_DIR
T_NAME=alerts_publisher
source "$(dirname "$0")/../harness/lib.sh"
FAKE=$BUILD/tests/fake_broker
PY=${CRIEUR_SMTP_PYTHON:-/usr/bin/python3}

t_sandbox --webhook-burst 2 --webhook-interval-ms 60000
t_smtp
hook_add() { # HANDLE SECRET [extra JSON members]
    curl -sfS -X POST "$SANDBOX/_sandbox/accounts" -H 'Content-Type: application/json' \
        -d "{\"platform\":\"webhook\",\"handle\":\"$1\",\"token\":\"$2\"${3:+,$3}}" >/dev/null
}
hook_add ops secretOpsHook42
hook_add gone secretGoneHook42 '"archived":true'
hook_add busy secretBusyHook42
hook_add flaky secretFlakyHook42
curl -sfS -X POST "$SANDBOX/_sandbox/faults" -H 'Content-Type: application/json' \
    -d '{"platform":"webhook","account":"flaky","status":500,"count":1}' >/dev/null
CLOSED_PORT=$(t_free_port)
H=$SANDBOX/webhook/services/T0CRIEUR/B0ALERTS

jq -n --arg h "$H" --arg smtp "$SMTP_URL" --arg closed "smtp://127.0.0.1:$CLOSED_PORT" '
def alert($id; $sev; $subject; $text): {alert_id: $id, severity: $sev, kind: "post_failed",
    subject: $subject, text: $text, client: "acme", post_id: 42,
    mail_from: "crieur@agency.example", smtp_user: ""};
def hook($job; $handle; $url; $a): {job_id: $job, attempt: 1, platform: "webhook",
    handle: $handle, token: $url, alert: $a};
def mail($job; $to; $server; $a): {job_id: $job, attempt: 1, platform: "email", handle: $to,
    api_base: $server, token: "", alert: $a};
[ hook(1; "ops"; "\($h)/secretOpsHook42";
       alert(11; "critical"; "Post 42 failed on X"; "X said: <duplicate> & more\nsecond line")),
  hook(2; "nobody"; "\($h)/secretUnknownHook42"; alert(12; "info"; "s"; "t")),
  hook(3; "gone"; "\($h)/secretGoneHook42"; alert(13; "info"; "s"; "t")),
  hook(4; "typo"; "ftp://hooks.example.test/services/secretTypoHook42"; alert(14; "info"; "s"; "t")),
  hook(5; "busy"; "\($h)/secretBusyHook42"; alert(15; "warning"; "busy 1"; "t")),
  hook(6; "busy"; "\($h)/secretBusyHook42"; alert(16; "warning"; "busy 2"; "t")),
  hook(7; "busy"; "\($h)/secretBusyHook42"; alert(17; "warning"; "busy 3"; "t")),
  hook(8; "flaky"; "\($h)/secretFlakyHook42"; alert(18; "info"; "s"; "t")),
  mail(20; "ops@example.org"; $smtp;
       alert(21; "warning"; "Échec de publication ✓"; "Line one\r\nBcc: victim@example.net\n.\nFrom the end")),
  mail(22; "reject@example.org"; $smtp; alert(22; "info"; "s"; "t")),
  mail(23; "defer@example.org"; $smtp; alert(23; "info"; "s"; "t")),
  mail(24; "ops@example.org"; $smtp; alert(24; "info"; "s"; "t") + {smtp_user: "crieur"}),
  mail(25; "ops@example.org"; $closed; alert(25; "info"; "s"; "t"))
]' >"$T_DIR/tasks.json"

BROKER_EP="tcp://127.0.0.1:$(t_free_port)"
"$FAKE" "$BROKER_EP" "$T_DIR/tasks.json" 40 >"$T_DIR/results.jsonl" 2>"$T_DIR/fake_broker.log" &
FAKE_PID=$!
T_PIDS+=($FAKE_PID)
t_publisher pub --log-level debug --request-timeout-ms 10000
PUB_PID=$LAST_PID
rc=0
wait "$FAKE_PID" || rc=$?
eq "every alert task got a result" "0 13" "$rc $(wc -l <"$T_DIR/results.jsonl")"

res() { jq -r --argjson j "$1" "select(.job_id == \$j) | $2" "$T_DIR/results.jsonl"; }
eq "webhook: delivered" "ok 200" "$(res 1 '"\(.outcome) \(.http_status)"')"
eq "webhook: unknown hook is permanent (Slack's string)" "permanent no_service" "$(res 2 '"\(.outcome) \(.error_code)"')"
eq "webhook: archived channel is permanent" "permanent channel_is_archived" "$(res 3 '"\(.outcome) \(.error_code)"')"
eq "webhook: a non-http URL is permanent" "permanent bad_webhook_url" "$(res 4 '"\(.outcome) \(.error_code)"')"
check "webhook: the bad URL's message says how to fix the channel" \
    grep -q "set the channel's URL" <(res 4 .error)
eq "webhook: a burst of 3 on a 2-message hook: 2 delivered, 1 rate limited" "ok ok rate_limited" \
    "$(jq -r 'select(.job_id >= 5 and .job_id <= 7) | .outcome' "$T_DIR/results.jsonl" | sort | xargs)"
NOW_MS=$(($(date +%s) * 1000))
check "webhook: rate limited until Retry-After (about a minute)" \
    test "$(jq -r 'select(.outcome == "rate_limited") | .retry_at_ms' "$T_DIR/results.jsonl")" -gt $((NOW_MS + 30000))
eq "webhook: 500 rollup_error is transient" "transient rollup_error" "$(res 8 '"\(.outcome) \(.error_code)"')"
eq "email: delivered" "ok 250" "$(res 20 '"\(.outcome) \(.http_status)"')"
eq "email: 550 is permanent with the server's reply" "permanent smtp_550" "$(res 22 '"\(.outcome) \(.error_code)"')"
check "email: the 550 reply text is in the error" grep -q "550 5.1.1 mailbox unavailable" <(res 22 .error)
eq "email: 451 is transient" "transient smtp_451" "$(res 23 '"\(.outcome) \(.error_code)"')"
# aiosmtpd offers no AUTH on a plain connection: libcurl then sends without
# logging in (the password never leaves); a refused login (535) is covered by
# test_email with canned replies.
eq "email: a login the server does not offer: sent without it" "ok" "$(res 24 .outcome)"
eq "email: server not reachable is transient" "transient" "$(res 25 .outcome)"
eq "no alert is ever indeterminate" "0" "$(grep -c indeterminate "$T_DIR/results.jsonl" || true)"

# ---- what the platforms received ----------------------------------------------------
L=$(curl -sfS "$SANDBOX/_sandbox/ledger?platform=webhook")
eq "sandbox ledger: ops got one message" 1 "$(jq '[.entries[] | select(.account == "ops")] | length' <<<"$L")"
TEXT=$(jq -r '.entries[] | select(.account == "ops") | .text' <<<"$L")
check "webhook text: severity and subject" grep -qF "[CRITICAL] Post 42 failed on X" <<<"$TEXT"
check "webhook text: mrkdwn escaped" grep -qF "X said: &lt;duplicate&gt; &amp; more" <<<"$TEXT"
eq "sandbox ledger: busy got two messages" 2 "$(jq '[.entries[] | select(.account == "busy")] | length' <<<"$L")"
eq "sandbox ledger: nothing for archived or failing hooks" 0 \
    "$(jq '[.entries[] | select(.account == "gone" or .account == "flaky")] | length' <<<"$L")"

eq "SMTP server stored the two delivered messages" 2 "$(t_smtp_count)"
MSG=$(grep -l "X-Crieur-Alert: 21" "$SMTP_DIR"/new/* | head -1)
MSG=$(basename "$MSG")
"$PY" - "$SMTP_DIR/new/$MSG" >"$T_DIR/parsed.txt" <<'PYEOF'
import sys, email, email.policy
raw = open(sys.argv[1], "rb").read()
m = email.message_from_bytes(raw, policy=email.policy.default)
print("subject=" + str(m["Subject"]))
print("from=" + str(m["From"]))
print("to=" + str(m["To"]))
print("rcpt=" + str(m["X-RcptTo"]))
print("mailfrom=" + str(m["X-MailFrom"]))
print("msgid=" + str(m["Message-ID"]))
print("bcc=" + str(m["Bcc"]))
print("ctype=" + m.get_content_type() + " " + str(m.get_content_charset()))
print("cte=" + str(m["Content-Transfer-Encoding"]))
print("date=" + ("yes" if m["Date"] and m["Date"].datetime else "no"))
print("body=" + m.get_content().replace("\n", "|"))
PYEOF
P() { sed -n "s/^$1=//p" "$T_DIR/parsed.txt"; }
eq "e-mail: Subject decoded (RFC 2047)" "[WARNING] Échec de publication ✓" "$(P subject)"
eq "e-mail: From" "Crieur alerts <crieur@agency.example>" "$(P from)"
eq "e-mail: To" "ops@example.org" "$(P to)"
eq "e-mail: envelope" "crieur@agency.example ops@example.org" "$(P mailfrom) $(P rcpt)"
eq "e-mail: Message-ID" "<crieur-alert-21-20-1@agency.example>" "$(P msgid)"
eq "e-mail: no injected Bcc" "None" "$(P bcc)"
eq "e-mail: text/plain utf-8, quoted-printable" "text/plain utf-8 quoted-printable" "$(P ctype) $(P cte)"
eq "e-mail: a readable Date" "yes" "$(P date)"
check "e-mail: the alert text, lines and dots kept" \
    grep -qF "body=Line one|Bcc: victim@example.net|.|From the end||-- |severity: warning|kind: post_failed|client: acme|post: 42|alert: #21" "$T_DIR/parsed.txt"

# ---- secrets -----------------------------------------------------------------------------
for f in "$T_DIR/pub.log" "$T_DIR/results.jsonl"; do
    check "no webhook secret in $(basename "$f")" bash -c "! grep -q 'Hook42' '$f'"
done
check "the publisher log shows the alert tasks (debug)" grep -q "kind=KIND_ALERT" "$T_DIR/pub.log"
# SIGTERM: the publisher stops cleanly (and, in a sanitizer build, without
# any report)
kill -TERM "$PUB_PID"
prc=0
wait "$PUB_PID" || prc=$?
eq "publisher exits 0" 0 "$prc"
check "no sanitizer report from the publisher" bash -c "! grep -q Sanitizer '$T_DIR/pub.log'"
t_done
