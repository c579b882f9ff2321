#!/usr/bin/env bash
# crieurctl end to end against a real PostgreSQL: migrations (repeated and
# concurrent), clients, accounts and tokens, scheduling in every WHEN form and
# time zone corner (DST gap and repeated hour), the database's refusals and
# their exit codes, cancel, reschedule, list filters, show, status, and the
# exit codes 2 (usage) and 3 (no database).
source "$(dirname "$0")/../harness/lib.sh"
C=$BIN_CTL
[ -x "$C" ] || { echo "crieurctl not built at $C"; exit 1; }

# run ARGS...: runs crieurctl, keeps stdout in OUT, stderr in ERR, exit code in RC.
run() {
    set +e
    "$C" "$@" >"$T_DIR/out" 2>"$T_DIR/err"
    RC=$?
    set -e
    OUT=$(cat "$T_DIR/out")
    ERR=$(cat "$T_DIR/err")
}
has() { [[ "$1" == *"$2"* ]]; }
hasnt() { [[ "$1" != *"$2"* ]]; }
# The post id from "post 12 scheduled for ...".
post_id() { awk '/^post [0-9]+ /{print $2; exit}' <<<"$OUT"; }
utc_of() { sql "select to_char(scheduled_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') from crieur.post where id = $1"; }
json_len() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d if isinstance(d, list) else d[sys.argv[1]]))' "${1:-x}"; }

t_db
NMIG=$(ls "$SRC"/db/migrations/*.sql | wc -l)

# --- migrate -----------------------------------------------------------------
eq "t_db's migrate applied 001_init" "1" "$(grep -c '^applied 001_init$' "$T_DIR/migrate.log")"
run migrate
eq "second migrate exits 0" 0 "$RC"
check "second migrate says up to date" has "$OUT" "database is up to date (version $NMIG)"
eq "schema_version has one row per migration" "$NMIG" "$(sql 'select count(*) from crieur.schema_version')"
run migrate --status
eq "migrate --status exits 0" 0 "$RC"
check "migrate --status lists 001 as applied" grep -Eq '^ *001 +init +applied' "$T_DIR/out"

# Concurrent migrations on a fresh database: all succeed, each migration once.
CONC_DB="${T_DB}_conc"
psql "$T_ADMIN_URL" -XqAc "create database $CONC_DB" >/dev/null
CONC_URL="$(cat "$CRIEUR_PG_ENV") dbname=$CONC_DB"
pids=()
for k in 1 2 3 4; do
    "$C" --database "$CONC_URL" migrate >"$T_DIR/conc$k.out" 2>"$T_DIR/conc$k.err" &
    pids+=($!)
done
conc_fail=0
for p in "${pids[@]}"; do wait "$p" || conc_fail=$((conc_fail + 1)); done
eq "4 concurrent migrates all exit 0" 0 "$conc_fail"
eq "concurrent: one schema_version row per migration" "$NMIG" \
    "$(psql "$CONC_URL" -XqAtc 'select count(*) from crieur.schema_version')"
eq "concurrent: 001_init applied by exactly one run" 1 "$(cat "$T_DIR"/conc*.out | grep -c '^applied 001_init$')"
eq "concurrent: the others found it up to date" 3 "$(cat "$T_DIR"/conc*.out | grep -c 'up to date')"
# A changed migration file is reported; a newer database is refused.
psql "$CONC_URL" -XqAc "update crieur.schema_version set checksum = 'tampered' where version = 1"
run --database "$CONC_URL" migrate
eq "migrate with a changed checksum still exits 0" 0 "$RC"
check "migrate warns about the changed checksum" has "$ERR" "warning: migration 001_init was applied with checksum"
psql "$CONC_URL" -XqAc "insert into crieur.schema_version (version, name, checksum) values (999, 'future', 'x')"
run --database "$CONC_URL" migrate
eq "migrate on a newer database exits 1" 1 "$RC"
check "migrate on a newer database says why" has "$ERR" "newer than this crieurctl knows"
run --database "$CONC_URL" migrate --status
check "migrate --status shows the unknown version" grep -Eq '^ *999 +future +applied \(unknown\)' "$T_DIR/out"
psql "$T_ADMIN_URL" -XqAc "drop database $CONC_DB with (force)" >/dev/null

# --- clients -----------------------------------------------------------------
run client add acme --timezone Europe/Paris
eq "client add exits 0" 0 "$RC"
check "client add prints the new id" grep -Eq '^[0-9]+$' "$T_DIR/out"
ACME=$OUT
run client add globex
GLOBEX=$OUT
eq "client add without --timezone defaults to UTC" "UTC" "$(sql "select timezone from crieur.client where id = $GLOBEX")"
run client add acme
eq "duplicate client exits 1" 1 "$RC"
check "duplicate client says it exists" has "$ERR" 'crieurctl: a client named "acme" already exists'
run client add martians --timezone Mars/Olympus_Mons
eq "unknown time zone exits 1" 1 "$RC"
check "unknown time zone is named, with a hint" has "$ERR" $'unknown time zone "Mars/Olympus_Mons"\nhint: use an IANA name'
run client list
eq "client list exits 0" 0 "$RC"
check "client list shows acme in Europe/Paris" grep -Eq "^ *$ACME +acme +Europe/Paris " "$T_DIR/out"
run --json client list
eq "client list --json has 2 clients" 2 "$(json_len <<<"$OUT")"

# --- accounts ----------------------------------------------------------------
TOKEN="tok-$(date +%s%N)-Zq8s3cr3t"
printf '%s\n' "$TOKEN" >"$T_DIR/token"
run account add --client acme --platform mastodon --handle alice --instance https://social.example/ --token-file "$T_DIR/token"
eq "account add with --token-file exits 0" 0 "$RC"
check "account add prints the new id" grep -Eq '^[0-9]+$' "$T_DIR/out"
ACC=$OUT
check "account add does not print the token" hasnt "$OUT$ERR" "$TOKEN"
eq "the token is stored without its newline" "$TOKEN" "$(sql "select convert_from(credentials, 'UTF8') from crieur.account where id = $ACC")"
export CTL_TEST_TOKEN="env-$TOKEN"
run account add --client "$GLOBEX" --handle bob --instance https://other.example --token-env CTL_TEST_TOKEN --max-chars 1000
eq "account add with --token-env and a client id exits 0" 0 "$RC"
ACC2=$OUT
run account add --client acme --handle carol --instance https://social.example
eq "account add without a token exits 2" 2 "$RC"
run account add --client acme --handle carol --instance https://social.example --token-env CTL_NO_SUCH_VAR
eq "account add with an unset --token-env exits 2" 2 "$RC"
run account add --client nobody --handle carol --instance https://social.example --token-file "$T_DIR/token"
eq "account add for an unknown client exits 1" 1 "$RC"
check "account add for an unknown client says so" has "$ERR" 'unknown client "nobody"'
run account list
eq "account list exits 0" 0 "$RC"
check "account list shows alice" grep -Eq "^ *$ACC +acme +mastodon +alice +https://social.example " "$T_DIR/out"
check "account list never shows the token" hasnt "$OUT" "$TOKEN"
run --json account list
check "account list --json never shows the token" hasnt "$OUT" "$TOKEN"
eq "account list --json has 2 accounts" 2 "$(json_len <<<"$OUT")"
run account list --client globex
check "account list --client filters" eval "has \"\$OUT\" bob && hasnt \"\$OUT\" alice"

# --- schedule ------------------------------------------------------------------
Y=$(( $(date -u +%Y) + 1 ))
run post schedule --account "$ACC" --text "Bonjour à tous ☕"
eq "schedule now exits 0" 0 "$RC"
P_NOW=$(post_id)
check "schedule prints the post id" test -n "$P_NOW"
check "schedule prints UTC and the client's time" grep -Eq "^post $P_NOW scheduled for [0-9-]+T[0-9:]+Z \([0-9-]+ [0-9:]+\+0[12]:00 Europe/Paris\)$" "$T_DIR/out"
eq "schedule now: scheduled within seconds of now" t "$(sql "select abs(extract(epoch from scheduled_at - now())) < 30 from crieur.post where id = $P_NOW")"
eq "schedule now: a publish job is queued" "publish scheduled" "$(sql "select kind || ' ' || state from crieur.job where ref_id = $P_NOW")"
eq "schedule now: the text is stored as given" "Bonjour à tous ☕" "$(sql "select body from crieur.post where id = $P_NOW")"

run post schedule --account "$ACC" --text "in ten minutes" --at +10m --campaign spring
P_10M=$(post_id)
eq "schedule +10m: 600 s after creation" t "$(sql "select abs(extract(epoch from scheduled_at - created_at) - 600) < 5 from crieur.post where id = $P_10M")"

run post schedule --account "$ACC" --text "winter in Paris" --at "$Y-01-15 10:00" --campaign spring --kind promotional
eq "schedule local time (winter) exits 0" 0 "$RC"
P_WIN=$(post_id)
eq "10:00 in Paris in January is 09:00 UTC" "$Y-01-15 09:00:00" "$(utc_of "$P_WIN")"
check "the output shows the local time with +01:00" has "$OUT" "($Y-01-15 10:00:00+01:00 Europe/Paris)"
eq "--kind is stored" promotional "$(sql "select kind from crieur.post where id = $P_WIN")"

run post schedule --account "$ACC" --text "summer in Paris" --at "$Y-07-15 10:00:30"
P_SUM=$(post_id)
eq "10:00:30 in Paris in July is 08:00:30 UTC" "$Y-07-15 08:00:30" "$(utc_of "$P_SUM")"

run post schedule --account "$ACC" --text "absolute" --at "${Y}-01-15T10:00:00+05:00"
eq "ISO-8601 with an offset is absolute" "$Y-01-15 05:00:00" "$(utc_of "$(post_id)")"
run post schedule --account "$ACC" --text "absolute Z" --at "${Y}-01-15T10:00Z"
eq "ISO-8601 with Z is absolute" "$Y-01-15 10:00:00" "$(utc_of "$(post_id)")"

# Daylight saving in Europe/Paris: the last Sundays of March and October.
last_sunday() { for d in 31 30 29 28 27 26 25; do [ "$(date -u -d "$1-$d" +%u)" = 7 ] && { echo "$1-$d"; return; }; done; }
GAP=$(last_sunday "$Y-03")
run post schedule --account "$ACC" --text "in the gap" --at "$GAP 02:30"
eq "a local time skipped by DST exits 1" 1 "$RC"
check "the DST gap is explained" has "$ERR" "does not exist in time zone Europe/Paris"
REP=$(last_sunday "$Y-10")
run post schedule --account "$ACC" --text "repeated hour" --at "$REP 02:30"
eq "a repeated local time takes its first occurrence (CEST)" "$REP 00:30:00" "$(utc_of "$(post_id)")"

NPOSTS=$(sql "select count(*) from crieur.post")
run post schedule --account 999999 --text "nobody's"
eq "unknown account exits 1" 1 "$RC"
check "unknown account is named, with a hint" has "$ERR" $'crieurctl: unknown account 999999\nhint: list accounts with: crieurctl account list'
run post schedule --account 999999 --text "nobody's" --at "$Y-01-15 10:00"
eq "unknown account with a local time exits 1" 1 "$RC"
run post list --client nobody
eq "post list for an unknown client exits 1" 1 "$RC"
check "post list for an unknown client says so" has "$ERR" 'unknown client "nobody"'
run post schedule --account "$ACC" --text "too late" --at "2020-01-01 10:00"
eq "a time in the past exits 1" 1 "$RC"
check "a time in the past is explained" has "$ERR" "is in the past"

LONG=$(printf 'a%.0s' $(seq 1 501))
run post schedule --account "$ACC" --text "$LONG"
eq "501 characters exit 1" 1 "$RC"
check "the length error gives the limit" has "$ERR" "post text is 501 characters long; mastodon allows at most 500"
URL="https://example.com/$(printf 'p%.0s' $(seq 1 150))"
TXT480="$(printf 'b%.0s' $(seq 1 456)) $URL"
run post schedule --account "$ACC" --text "$TXT480"
eq "480 characters with a long URL (counted 23) are accepted" 0 "$RC"
eq "  and stored whole" "${#TXT480}" "$(sql "select char_length(body) from crieur.post where id = $(post_id)")"
run post schedule --account "$ACC" --text "$(printf 'c%.0s' $(seq 1 476)) $URL"
eq "exactly 500 counted characters are accepted" 0 "$RC"
run post schedule --account "$ACC" --text "$(printf 'c%.0s' $(seq 1 477)) $URL"
eq "501 counted characters with a URL are refused" 1 "$RC"
run post schedule --account "$ACC2" --text "$(printf 'é%.0s' $(seq 1 900))"
eq "an account's own --max-chars (1000) allows 900" 0 "$RC"
NPOSTS=$(sql "select count(*) from crieur.post")

run post schedule --account "$ACC" --text "$(printf 'ok \xff')"
eq "invalid UTF-8 in --text exits 2" 2 "$RC"
check "invalid UTF-8 gives the offset" has "$ERR" "text is not valid UTF-8 (bad byte at offset 3)"
printf 'caf\xc3\n\xa9\n' >"$T_DIR/bad.txt"
run post schedule --account "$ACC" --text-file "$T_DIR/bad.txt"
eq "invalid UTF-8 in --text-file exits 2" 2 "$RC"
printf 'from a file\nsecond line\n' >"$T_DIR/good.txt"
run post schedule --account "$ACC" --text-file - <"$T_DIR/good.txt"
eq "--text-file - reads standard input" 0 "$RC"
eq "  without the final newline" "$(printf 'from a file\nsecond line')" "$(sql "select body from crieur.post where id = $(post_id)")"
NPOSTS=$(sql "select count(*) from crieur.post")
for bad in tomorrow "+5x" "$Y-13-01 10:00" "$Y-02-30 10:00" "$Y-01-15 25:00" "15/01/$Y 10:00" "+"; do
    run post schedule --account "$ACC" --text "bad time" --at "$bad"
    eq "bad --at '$bad' exits 2" 2 "$RC"
done
check "a bad --at lists the accepted forms" has "$ERR" "accepted forms"
run post schedule --account "$ACC" --text "x" --kind advert
eq "bad --kind exits 2" 2 "$RC"
run post schedule --account abc --text "x"
eq "non-numeric --account exits 2" 2 "$RC"
run post schedule --account "$ACC"
eq "no text exits 2" 2 "$RC"
run post schedule --account "$ACC" --text x --frobnicate
eq "unknown flag exits 2" 2 "$RC"
eq "refused and unusable commands created no post" "$NPOSTS" "$(sql "select count(*) from crieur.post")"

# --- cancel, reschedule --------------------------------------------------------
run post cancel "$P_10M"
eq "cancel exits 0" 0 "$RC"
eq "cancel prints cancelled" cancelled "$OUT"
eq "the post is cancelled" cancelled "$(sql "select status from crieur.post where id = $P_10M")"
eq "its job row is gone" 0 "$(sql "select count(*) from crieur.job where ref_id = $P_10M")"
run post cancel "$P_10M"
eq "cancel twice exits 1" 1 "$RC"
check "cancel twice says why" has "$ERR" "is already cancelled"
run post cancel 999999
eq "cancel of an unknown post exits 1" 1 "$RC"
# A job already held by a broker: the cancel is requested.
sql "update crieur.job set state = 'leased', lease_owner = 'broker-t', lease_expires_at = now() + interval '1 minute' where ref_id = $P_SUM"
run post cancel "$P_SUM"
eq "cancel of a leased post exits 0" 0 "$RC"
eq "cancel of a leased post is a request" "cancel requested: the post is being dispatched; check \`crieurctl post show $P_SUM\`" "$OUT"
eq "the job is flagged" t "$(sql "select cancel_requested from crieur.job where ref_id = $P_SUM")"

run post reschedule "$P_WIN" --at "$Y-02-01 08:00"
eq "reschedule exits 0" 0 "$RC"
check "reschedule prints the new time" has "$OUT" "post $P_WIN rescheduled for $Y-02-01T07:00:00Z ($Y-02-01 08:00:00+01:00 Europe/Paris)"
eq "reschedule moved the post" "$Y-02-01 07:00:00" "$(utc_of "$P_WIN")"
eq "reschedule moved its job" "$Y-02-01 07:00:00" "$(sql "select to_char(run_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') from crieur.job where ref_id = $P_WIN")"
run post reschedule "$P_WIN" --at +2h
eq "reschedule +2h" t "$(sql "select abs(extract(epoch from scheduled_at - now()) - 7200) < 30 from crieur.post where id = $P_WIN")"
run post reschedule "$P_10M" --at +1h
eq "reschedule of a cancelled post exits 1" 1 "$RC"
run post reschedule "$P_WIN" --at "2020-01-01T00:00:00Z"
eq "reschedule into the past exits 1" 1 "$RC"
run post reschedule 999999 --at "$Y-02-01 08:00"
eq "reschedule of an unknown post exits 1" 1 "$RC"
check "  saying unknown post" has "$ERR" "unknown post 999999"
run post reschedule "$P_WIN"
eq "reschedule without --at exits 2" 2 "$RC"

# --- list, show ------------------------------------------------------------------
run post list
eq "post list exits 0" 0 "$RC"
check "post list shows the client's local time of a post" grep -Eq "^ *$P_NOW +acme +$ACC alice +[0-9-]+ [0-9:]+\+0[12]:00 +scheduled" "$T_DIR/out"
run --json post list --campaign spring
eq "post list --campaign spring: 2 posts" 2 "$(json_len <<<"$OUT")"
run --json post list --status cancelled
check "post list --status cancelled has the cancelled post" python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if [p['id'] for p in d] == [$P_10M] else 1)" "$OUT"
run --json post list --account "$ACC2"
eq "post list --account: only that account's post" 1 "$(json_len <<<"$OUT")"
run --json post list --client globex
eq "post list --client globex: 1 post" 1 "$(json_len <<<"$OUT")"
run --json post list --limit 3
eq "post list --limit 3" 3 "$(json_len <<<"$OUT")"
run post list --status bogus
eq "post list with an unknown status exits 2" 2 "$RC"
run post list --limit 0
eq "post list --limit 0 exits 2" 2 "$RC"

JOB=$(sql "select id from crieur.job where ref_id = $P_NOW")
sql "insert into crieur.attempt (job_id, attempt, kind, ref_id, account_id, broker, worker, outcome, http_status, error_code, detail) values ($JOB, 1, 'publish', $P_NOW, $ACC, 'broker-t', 'publisher-7', 'transient', 503, 'unavailable', 'Service Unavailable')"
run post show "$P_NOW"
eq "post show exits 0" 0 "$RC"
check "post show has the text" grep -Eq '^  text: +Bonjour à tous ☕$' "$T_DIR/out"
check "post show has the status and time zone" eval "has \"\$OUT\" 'status:            scheduled' && has \"\$OUT\" 'Europe/Paris'"
check "post show has the job" has "$OUT" "job (in the queue)"
check "post show has the attempt" grep -Eq "^ *$JOB +1 +transient +503 +publisher-7 +broker-t .*unavailable +Service Unavailable$" "$T_DIR/out"
run --json post show "$P_NOW"
check "post show --json has the attempt and the job" python3 -c "
import json,sys; d=json.loads(sys.argv[1])
ok = d['id'] == $P_NOW and d['job']['state'] == 'scheduled' and len(d['attempts']) == 1 \
     and d['attempts'][0]['http_status'] == 503 and d['text'] == 'Bonjour à tous ☕'
sys.exit(0 if ok else 1)" "$OUT"
run post show 999999
eq "post show of an unknown post exits 1" 1 "$RC"
run post show x1
eq "post show with a bad id exits 2" 2 "$RC"

# --- status ----------------------------------------------------------------------
sql "insert into crieur.worker (id, role, broker, capacity, in_flight) values ('pub-live', 'publisher', 'broker-t', 64, 3)"
sql "insert into crieur.worker (id, role, broker, capacity, last_seen) values ('pub-stale', 'publisher', 'broker-t', 64, now() - interval '5 minutes')"
sql "insert into crieur.broker (id, host, pid, endpoint) values ('broker-t', 'h1', 42, 'tcp://127.0.0.1:1')"
run status
eq "status exits 0" 0 "$RC"
NSCHED=$(sql "select count(*) from crieur.job where kind = 'publish' and state = 'scheduled'")
check "status counts the scheduled publish jobs" grep -Eq "^publish +scheduled +$NSCHED +[0-9]+" "$T_DIR/out"
check "status counts the leased publish job" grep -Eq "^publish +leased +1 " "$T_DIR/out"
check "status lists the broker" grep -Eq "^broker-t +h1 +42 +tcp://127.0.0.1:1 .* alive$" "$T_DIR/out"
check "status lists the connected worker" grep -Eq "^pub-live +publisher +broker-t +64 +3 +[0-9]+$" "$T_DIR/out"
check "status omits the stale worker" hasnt "$OUT" "pub-stale"
run --json status
check "status --json has the publish jobs" python3 -c "
import json,sys; d=json.loads(sys.argv[1])
sys.exit(0 if any(j['kind'] == 'publish' and j['jobs'] >= 1 for j in d['jobs']) and [w['id'] for w in d['workers']] == ['pub-live'] else 1)" "$OUT"

# --- usage and connection --------------------------------------------------------
run --help
eq "--help exits 0" 0 "$RC"
check "--help lists the commands" eval "has \"\$OUT\" 'post schedule' && has \"\$OUT\" 'migrate'"
run post schedule --help
eq "post schedule --help exits 0" 0 "$RC"
check "post schedule --help explains WHEN" has "$OUT" "WHEN is one of"
run frobnicate
eq "unknown command exits 2" 2 "$RC"
check "unknown command lists the commands" has "$ERR" "post schedule"
run post frobnicate
eq "unknown subcommand exits 2" 2 "$RC"
run client
eq "missing subcommand exits 2" 2 "$RC"
run --database "host=127.0.0.1 port=$(t_free_port) dbname=nothing connect_timeout=3" status
eq "no database reachable exits 3" 3 "$RC"
check "no database: the message says what to set" eval "has \"\$ERR\" 'cannot connect to PostgreSQL (' && has \"\$ERR\" 'set CRIEUR_DATABASE_URL or --database'"
CRIEUR_DATABASE_URL="postgresql://crieur@/nothing?host=$T_DIR/nosocket" run client list
eq "an unreachable CRIEUR_DATABASE_URL exits 3" 3 "$RC"

# --- alerts -------------------------------------------------------------------
aid=$(sql "insert into crieur.alert (kind, severity, message) values ('post_unconfirmed', 'critical', 'post 7 may or may not be on x') returning id")
run alert list
eq "alert list exits 0" 0 "$RC"
check "alert list shows the open alert" has "$OUT" "post 7 may or may not be on x"
run alert ack "$aid" --by alice
eq "alert ack exits 0" 0 "$RC"
eq "acknowledged by the named person" alice "$(sql "select acknowledged_by from crieur.alert where id=$aid")"
run alert list
check "an acknowledged alert leaves the default list" hasnt "$OUT" "post 7 may or may not be on x"
run alert list --all
check "--all shows it again" has "$OUT" "by alice"
run alert ack "$aid"
eq "acknowledging twice exits 1" 1 "$RC"
run alert ack nope
eq "a bad alert id is a usage error" 2 "$RC"

# --- platform text rules (crieurctl checks them before the database) ---------
# Scheduling never calls the platform: any instance URL will do.
run account add --client acme --platform x --handle xrules --instance http://127.0.0.1:1/x --token-file "$T_DIR/token"
eq "account add --platform x exits 0" 0 "$RC"
ACC_X=$OUT
run account add --client acme --platform bluesky --handle bsrules --instance http://127.0.0.1:1/bsky --token-file "$T_DIR/token"
eq "account add --platform bluesky exits 0" 0 "$RC"
ACC_BS=$OUT
NPOSTS=$(sql "select count(*) from crieur.post")
CJK140=$(printf '日%.0s' $(seq 1 140))
run post schedule --account "$ACC_X" --text "a$CJK140"
eq "X: 281 weighted characters (140 CJK + 1) exit 1" 1 "$RC"
check "X: the refusal gives the weighted count and the rule" has "$ERR" "crieurctl: this text is 281 weighted characters on X; X allows 280 (each link counts 23, emoji and CJK characters count 2)"
eq "X: nothing was scheduled" "$NPOSTS" "$(sql "select count(*) from crieur.post")"
run post schedule --account "$ACC_X" --text "$CJK140"
eq "X: 280 weighted characters (140 CJK) are accepted" 0 "$RC"
run post schedule --account "$ACC_X" --text "$(printf 'a%.0s' $(seq 1 281))"
eq "X: 281 ASCII characters exit 1" 1 "$RC"
check "X: 281 ASCII characters are explained" has "$ERR" "this text is 281 weighted characters on X"
run post schedule --account "$ACC_X" --text "$(printf 'a%.0s' $(seq 1 280))"
eq "X: 280 ASCII characters are accepted" 0 "$RC"
run post schedule --account "$ACC_X" --text "$(printf 'a%.0s' $(seq 1 256))" --link "$URL"
eq "X: 256 + blank line + link (23) = 281 exit 1" 1 "$RC"
check "X: the appended link is counted" has "$ERR" "this text is 281 weighted characters on X"
run post schedule --account "$ACC_X" --text "$(printf 'a%.0s' $(seq 1 255))" --link "$URL"
eq "X: 255 + blank line + link (23) = 280 are accepted" 0 "$RC"
run post schedule --account "$ACC_X" --text "$(printf '👍🏽%.0s' $(seq 1 141))"
eq "X: 141 emoji with a skin tone (282) exit 1" 1 "$RC"
check "X: emoji count 2" has "$ERR" "this text is 282 weighted characters on X"
run post schedule --account "$ACC_BS" --text "$(printf '😀%.0s' $(seq 1 300))"
eq "Bluesky: 300 emoji graphemes are accepted" 0 "$RC"
eq "  and stored whole" 300 "$(sql "select char_length(body) from crieur.post where id = $(post_id)")"
NPOSTS=$(sql "select count(*) from crieur.post")
run post schedule --account "$ACC_BS" --text "$(printf '😀%.0s' $(seq 1 301))"
eq "Bluesky: 301 emoji graphemes exit 1" 1 "$RC"
check "Bluesky: the refusal gives the grapheme count" has "$ERR" "crieurctl: this text is 301 characters (graphemes) on Bluesky; Bluesky allows 300"
run post schedule --account "$ACC_BS" --text "$(printf '👨‍👩‍👧‍👦%.0s' $(seq 1 150))"
eq "Bluesky: 150 family emoji (3750 bytes) exit 1" 1 "$RC"
check "Bluesky: the refusal gives the byte count" has "$ERR" "this text is 3750 bytes of UTF-8 on Bluesky; Bluesky allows 3000 bytes"
eq "Bluesky: nothing was scheduled" "$NPOSTS" "$(sql "select count(*) from crieur.post")"

t_done
