#!/usr/bin/env bash
# Alerts end to end: alert channels added with crieurctl (a Slack-compatible
# webhook on the sandbox, an e-mail address on a real SMTP server), a test
# alert raised with crieurctl, delivered by the real broker and publisher;
# the messages are read back from the sandbox ledger and the maildir, and
# crieurctl lists the deliveries. The webhook URL never shows up in
# crieurctl's output or the logs. usage: e2e_alerts.sh BUILD_DIR
T_NAME=e2e_alerts
source "$(dirname "$0")/../harness/lib.sh"

t_db
t_sandbox
t_smtp
curl -sfS -X POST "$SANDBOX/_sandbox/accounts" -H 'Content-Type: application/json' \
    -d '{"platform":"webhook","handle":"ops","token":"e2eSecretHook77"}' >/dev/null
export HOOK_URL="$SANDBOX/webhook/services/T0E2E/B0E2E/e2eSecretHook77"

ctl() { "$BIN_CTL" "$@"; }
rc=0
ctl alert channel add ops-hook --webhook-env HOOK_URL --min-severity info >"$T_DIR/ctl.log" 2>&1 || rc=$?
eq "crieurctl adds the webhook channel" 0 "$rc"
rc=0
ctl alert channel add ops-mail --email ops@example.org --smtp "$SMTP_URL" \
    --from crieur@agency.example --min-severity info >>"$T_DIR/ctl.log" 2>&1 || rc=$?
eq "crieurctl adds the e-mail channel" 0 "$rc"

t_broker --backoff-ms 300 --task-timeout-ms 5000
t_publisher pub1

ID=$(ctl alert test --severity critical --message 'E2E: <check> & deliver' 2>>"$T_DIR/ctl.log") || true
check "crieurctl raises a test alert" test -n "$ID"

hook_count() { curl -sfS "$SANDBOX/_sandbox/ledger?platform=webhook&account=ops" | jq -r .count; }
hook_arrived() { [ "$(hook_count)" -ge 1 ]; }
mail_arrived() { [ "$(t_smtp_count)" -ge 1 ]; }
wait_for "the webhook message" 30 hook_arrived || true
wait_for "the e-mail" 30 mail_arrived || true
eq "the webhook got the alert once" 1 "$(hook_count)"
eq "the SMTP server got the alert once" 1 "$(t_smtp_count)"
TEXT=$(curl -sfS "$SANDBOX/_sandbox/ledger?platform=webhook&account=ops" | jq -r '.entries[0].text')
check "webhook message: severity" grep -qF "[CRITICAL]" <<<"$TEXT"
check "webhook message: the text, mrkdwn escaped" grep -qF "E2E: &lt;check&gt; &amp; deliver" <<<"$TEXT"
MAIL=$(t_smtp_messages)
check "e-mail: to the channel's address" grep -q "^X-RcptTo: ops@example.org" <<<"$MAIL"
check "e-mail: from the channel's sender" grep -q "^From: Crieur alerts <crieur@agency.example>" <<<"$MAIL"
check "e-mail: severity in the subject" grep -q "^Subject: \[CRITICAL\]" <<<"$MAIL"
check "e-mail: the alert text" grep -qF "E2E: <check> & deliver" <<<"$MAIL"

# crieurctl lists the deliveries: none pending, one delivered, none failed
deliveries() { # NAME -> "PENDING DELIVERED FAILED" (the last columns; no LAST ERROR)
    "$BIN_CTL" alert channel list 2>/dev/null | awk -v n="$1" '$2 == n { print $(NF-2), $(NF-1), $NF }'
}
both_delivered() { [ "$(deliveries ops-hook)" = "0 1 0" ] && [ "$(deliveries ops-mail)" = "0 1 0" ]; }
wait_for "both deliveries recorded" 20 both_delivered || true
eq "crieurctl: the webhook channel delivered it" "0 1 0" "$(deliveries ops-hook)"
eq "crieurctl: the e-mail channel delivered it" "0 1 0" "$(deliveries ops-mail)"
ctl alert channel list >"$T_DIR/channels.txt" 2>&1
for f in "$T_DIR/channels.txt" "$T_DIR/ctl.log" "$T_DIR/pub1.log" "$T_DIR/broker.log"; do
    check "no webhook secret in $(basename "$f")" bash -c "! grep -q e2eSecretHook77 '$f'"
done
t_done
