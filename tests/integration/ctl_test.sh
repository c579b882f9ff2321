#!/usr/bin/env bash
# crieurctl end to end against a real PostgreSQL: migrations (repeated and
# concurrent), the secret key (generate, missing, bad mode, garbage), clients,
# accounts and their sealed tokens (refresh token, expiry, reconnect, resume),
# scheduling in every WHEN form and time zone corner (DST gap and repeated
# hour), replies and media, the database's refusals and their exit codes,
# cancel, reschedule, list filters, show, status, alerts and alert channels,
# and the exit codes 2 (usage) and 3 (no database).
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

# --- secret key ----------------------------------------------------------------
check "the harness gives every test a secret key file" test -s "${CRIEUR_SECRET_KEY_FILE:-}"
run key id
eq "key id exits 0" 0 "$RC"
KEYID=$OUT
check "key id prints 16 hex characters" grep -Eqx '[0-9a-f]{16}' "$T_DIR/out"
run key generate --out "$T_DIR/new.key"
eq "key generate exits 0" 0 "$RC"
NEWID=$OUT
check "key generate prints the new key's id" grep -Eqx '[0-9a-f]{16}' "$T_DIR/out"
eq "the key file is mode 600" 600 "$(stat -c %a "$T_DIR/new.key")"
check "key generate never prints the key" hasnt "$OUT$ERR" "$(cat "$T_DIR/new.key")"
run --secret-key-file "$T_DIR/new.key" key id
eq "--secret-key-file reads that key (same id)" "$NEWID" "$OUT"
check "a new key is not the harness's" test "$NEWID" != "$KEYID"
cp "$T_DIR/new.key" "$T_DIR/new.key.copy"
run key generate --out "$T_DIR/new.key"
eq "key generate over an existing file exits 1" 1 "$RC"
check "  saying it refuses to overwrite a key" has "$ERR" "refusing to overwrite a key"
check "  and the file is unchanged" cmp -s "$T_DIR/new.key" "$T_DIR/new.key.copy"
run key generate
eq "key generate without --out exits 2" 2 "$RC"
CRIEUR_SECRET_KEY=$(cat "$T_DIR/new.key") CRIEUR_SECRET_KEY_FILE= run key id
eq "CRIEUR_SECRET_KEY (64 hex characters) is read first" "$NEWID" "$OUT"

# --- accounts ----------------------------------------------------------------
TOKEN="tok-$(date +%s%N)-Zq8s3cr3t"
printf '%s\n' "$TOKEN" >"$T_DIR/token"
run account add --client acme --platform mastodon --handle alice --instance https://social.example/ --token-file "$T_DIR/token"
eq "account add with --token-file exits 0" 0 "$RC"
check "account add prints the new id" grep -Eq '^[0-9]+$' "$T_DIR/out"
ACC=$OUT
check "account add does not print the token" hasnt "$OUT$ERR" "$TOKEN"
eq "the token is not stored in plaintext" 0 "$(sql "select position(convert_to('$TOKEN', 'UTF8') in credentials) from crieur.account where id = $ACC")"
eq "the token is sealed: its length + 41 bytes (version, nonce, MAC), without its newline" \
    "$(( ${#TOKEN} + 41 ))" "$(sql "select length(credentials) from crieur.account where id = $ACC")"
eq "the sealing key's id is stored with it" "$KEYID" "$(sql "select credentials_key from crieur.account where id = $ACC")"
eq "no refresh token, no expiry" "t t" "$(sql "select concat_ws(' ', refresh_credentials is null, token_expires_at is null) from crieur.account where id = $ACC")"
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

# Without a usable key nothing is stored (exit 2, cr_secret's message).
NACC=$(sql "select count(*) from crieur.account")
CRIEUR_SECRET_KEY_FILE= run account add --client acme --handle nokey --instance https://social.example --token-file "$T_DIR/token"
eq "account add without a secret key exits 2" 2 "$RC"
check "  saying how to make one" has "$ERR" "no secret key: credentials are encrypted at rest; set secret-key-file (CRIEUR_SECRET_KEY_FILE) to a key made with 'crieurctl key generate --out FILE'"
check "  never echoing the token" hasnt "$ERR" "$TOKEN"
chmod 644 "$T_DIR/new.key"
run --secret-key-file "$T_DIR/new.key" account add --client acme --handle nokey --instance https://social.example --token-file "$T_DIR/token"
eq "a key file readable by others exits 2" 2 "$RC"
check "  saying chmod 600" has "$ERR" "is readable by other users (mode 644): chmod 600"
printf 'not a key at all\n' >"$T_DIR/garbage.key"
chmod 600 "$T_DIR/garbage.key"
CRIEUR_SECRET_KEY_FILE=$T_DIR/garbage.key run account add --client acme --handle nokey --instance https://social.example --token-file "$T_DIR/token"
eq "a key file with garbage exits 2" 2 "$RC"
check "  saying what a key file holds" has "$ERR" "must hold 32 bytes, or 64 hexadecimal characters"
CRIEUR_SECRET_KEY=0123abc run account add --client acme --handle nokey --instance https://social.example --token-file "$T_DIR/token"
eq "a malformed CRIEUR_SECRET_KEY exits 2" 2 "$RC"
run --secret-key-file "$T_DIR/nonexistent.key" key id
eq "a missing --secret-key-file exits 2" 2 "$RC"
check "  naming the file" has "$ERR" "cannot open secret key file $T_DIR/nonexistent.key"
eq "no account was added without a usable key" "$NACC" "$(sql "select count(*) from crieur.account")"
CRIEUR_SECRET_KEY_FILE= run account list
eq "commands that store no secret need no key (account list)" 0 "$RC"

# Refresh token and expiry: sealed too; a token_refresh job before expiry (x: 15 min).
REFRESH="ref-$(date +%s%N)-R3fr3sh"
printf '%s\n' "$REFRESH" >"$T_DIR/refresh"
run account add --client acme --platform x --handle xref --instance http://127.0.0.1:1/x --token-file "$T_DIR/token" --refresh-token-file "$T_DIR/refresh" --expires-in 7200
eq "account add with a refresh token and --expires-in exits 0" 0 "$RC"
ACC_XR=$OUT
check "  without a warning" hasnt "$ERR" "warning"
eq "the refresh token is not stored in plaintext" 0 "$(sql "select position(convert_to('$REFRESH', 'UTF8') in refresh_credentials) from crieur.account where id = $ACC_XR")"
eq "the refresh token is sealed ($(( ${#REFRESH} + 41 )) bytes)" "$(( ${#REFRESH} + 41 ))" "$(sql "select length(refresh_credentials) from crieur.account where id = $ACC_XR")"
eq "the token expires in 7200 s" t "$(sql "select abs(extract(epoch from token_expires_at - now()) - 7200) < 30 from crieur.account where id = $ACC_XR")"
eq "a token refresh is scheduled 15 minutes before it expires" t "$(sql "select abs(extract(epoch from j.run_at - (a.token_expires_at - interval '15 minutes'))) < 1 from crieur.job j join crieur.account a on a.id = j.account_id where j.kind = 'token_refresh' and j.account_id = $ACC_XR")"
run account add --client acme --platform x --handle xnoref --instance http://127.0.0.1:1/x --token-file "$T_DIR/token"
eq "an x account without a refresh token is added (exit 0)" 0 "$RC"
check "  with a warning that its token cannot be renewed" has "$ERR" "warning: no refresh token given: this x account's access token cannot be renewed automatically"
run account add --client acme --handle mref --instance https://social.example --token-file "$T_DIR/token" --refresh-token-env CTL_TEST_TOKEN --expires-at "$(( $(date -u +%Y) + 1 ))-01-15 10:00"
eq "a mastodon account with --refresh-token-env and a local --expires-at exits 0" 0 "$RC"
ACC_MR=$OUT
check "  warning that mastodon tokens are not refreshed" has "$ERR" "warning: mastodon tokens are not refreshed by Crieur"
eq "--expires-at is read in the client's zone (10:00 Paris = 09:00 UTC)" "$(( $(date -u +%Y) + 1 ))-01-15 09:00:00" "$(sql "select to_char(token_expires_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') from crieur.account where id = $ACC_MR")"
eq "  and no refresh for a platform that cannot refresh" 0 "$(sql "select count(*) from crieur.job where kind = 'token_refresh' and account_id = $ACC_MR")"
NACC=$(sql "select count(*) from crieur.account")
run account add --client acme --platform x --handle xpast --instance http://127.0.0.1:1/x --token-file "$T_DIR/token" --expires-at 2020-01-01T00:00:00Z
eq "an expiry in the past exits 1" 1 "$RC"
check "  saying so" has "$ERR" "the token's expiry 2020-01-01T00:00:00Z is in the past"
run account add --client acme --platform x --handle xbad --instance http://127.0.0.1:1/x --token-file "$T_DIR/token" --expires-in 0
eq "--expires-in 0 exits 2" 2 "$RC"
run account add --client acme --platform x --handle xbad --instance http://127.0.0.1:1/x --token-file "$T_DIR/token" --expires-in 60 --expires-at +1h
eq "--expires-in with --expires-at exits 2" 2 "$RC"
run account add --client acme --platform x --handle xbad --instance http://127.0.0.1:1/x --token-file "$T_DIR/token" --expires-at tomorrow
eq "an unreadable --expires-at exits 2" 2 "$RC"
run account add --client acme --platform x --handle xbad --instance http://127.0.0.1:1/x --token-file - --refresh-token-file - </dev/null
eq "two secrets from standard input exit 2" 2 "$RC"
printf 'ref\x01resh\n' >"$T_DIR/badref"
run account add --client acme --platform x --handle xbad --instance http://127.0.0.1:1/x --token-file "$T_DIR/token" --refresh-token-file "$T_DIR/badref"
eq "a refresh token with a control character exits 2" 2 "$RC"
check "  saying where" has "$ERR" "the refresh token contains a control character at offset 3"
eq "refused account adds added nothing" "$NACC" "$(sql "select count(*) from crieur.account")"
run account list
check "account list has a TOKEN EXPIRES column" grep -Eq '^ *ID +CLIENT +PLATFORM +HANDLE +INSTANCE +STATUS +TOKEN EXPIRES ' "$T_DIR/out"
check "  with the expiry of xref" grep -Eq "^ *$ACC_XR +acme +x +xref +\S+ +active +[0-9-]{10}T[0-9:]{8}Z " "$T_DIR/out"
check "  and - without one" grep -Eq "^ *$ACC +acme +mastodon +alice +\S+ +active +- " "$T_DIR/out"
check "account list never shows a refresh token" hasnt "$OUT" "$REFRESH"
run --json account list
check "account list --json has token_expires_at, the key id, never a token" python3 -c "
import json,sys; d={a['id']: a for a in json.loads(sys.argv[1])}
a = d[$ACC_XR]
ok = a['token_expires_at'].endswith('Z') and a['key_id'] == '$KEYID' and a['has_refresh_token'] is True \
     and d[$ACC]['token_expires_at'] is None and '$TOKEN' not in sys.argv[1] and '$REFRESH' not in sys.argv[1]
sys.exit(0 if ok else 1)" "$OUT"
sql "update crieur.account set status = 'refreshing', status_reason = 'refreshing the token: 401' where id = $ACC_XR"
run account list
check "account list shows the status refreshing" grep -Eq "^ *$ACC_XR +acme +x +xref +\S+ +refreshing " "$T_DIR/out"

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

# --- reconnect (account token) and resume ---------------------------------------
# ACC_XR's token was refused: auth_failed. One post waits (its time has come,
# its job parked 5 minutes ahead, as after a refused token); one is for next month.
sql "update crieur.account set status = 'auth_failed', status_reason = 'token refresh failed: 400' where id = $ACC_XR"
run post schedule --account "$ACC_XR" --text "waiting for the token"
P_WAIT=$(post_id)
sql "update crieur.job set run_at = now() + interval '5 minutes' where ref_id = $P_WAIT"
run post schedule --account "$ACC_XR" --text "next month" --at +30d
P_FUT=$(post_id)
FUT_RUN=$(sql "select run_at from crieur.job where ref_id = $P_FUT")
TOKEN2="tok2-$(date +%s%N)-N3wT0k3n"
printf '%s\n' "$TOKEN2" >"$T_DIR/token2"
run account token "$ACC_XR" --token-file - --refresh-token-file "$T_DIR/refresh" --expires-in 3600 <"$T_DIR/token2"
eq "account token exits 0" 0 "$RC"
check "account token says the account is active again" has "$OUT" "account $ACC_XR (xref on x) reconnected: active again (was auth_failed)"
check "  and that the waiting post is due now" has "$OUT" "1 waiting post due now"
check "  and when the token expires and is refreshed" eval "has \"\$OUT\" 'token expires at ' && has \"\$OUT\" 'next token refresh at '"
check "  never printing a token" eval "hasnt \"\$OUT\$ERR\" \"$TOKEN2\" && hasnt \"\$OUT\$ERR\" \"$REFRESH\""
eq "the account is active, its reason cleared" "active " "$(sql "select status || ' ' || coalesce(status_reason, '') from crieur.account where id = $ACC_XR")"
eq "the new token is sealed, not plaintext" "0 $(( ${#TOKEN2} + 41 )) $KEYID" "$(sql "select position(convert_to('$TOKEN2', 'UTF8') in credentials) || ' ' || length(credentials) || ' ' || credentials_key from crieur.account where id = $ACC_XR")"
eq "the waiting post's job is due now" t "$(sql "select run_at <= now() from crieur.job where ref_id = $P_WAIT")"
eq "the post for next month keeps its time (regression: 006 published it at once)" "$FUT_RUN" "$(sql "select run_at from crieur.job where ref_id = $P_FUT")"
eq "a token refresh is scheduled 15 minutes before the new expiry" t "$(sql "select abs(extract(epoch from j.run_at - (a.token_expires_at - interval '15 minutes'))) < 1 from crieur.job j join crieur.account a on a.id = j.account_id where j.kind = 'token_refresh' and j.account_id = $ACC_XR")"
run --json account token "$ACC_XR" --token-env CTL_TEST_TOKEN
check "account token --json gives the status and the posts due" python3 -c "
import json,sys; d=json.loads(sys.argv[1])
sys.exit(0 if d['id'] == $ACC_XR and d['status'] == 'active' and d['previous_status'] == 'active' and d['posts_due'] == 1 and d['token_expires_at'] is None else 1)" "$OUT"
eq "  and without a refresh token it is cleared" t "$(sql "select refresh_credentials is null from crieur.account where id = $ACC_XR")"
check "  with the warning for x" has "$ERR" "warning: no refresh token given"
run account token 999999 --token-file "$T_DIR/token2"
eq "account token for an unknown account exits 1" 1 "$RC"
check "  naming it, with a hint" has "$ERR" $'crieurctl: unknown account 999999\nhint: list accounts with: crieurctl account list'
run account token abc --token-file "$T_DIR/token2"
eq "account token with a bad id exits 2" 2 "$RC"
run account token "$ACC_XR"
eq "account token without a token exits 2" 2 "$RC"
CRIEUR_SECRET_KEY_FILE= run account token "$ACC_XR" --token-file "$T_DIR/token2"
eq "account token without a secret key exits 2" 2 "$RC"
check "  and says so" has "$ERR" "no secret key"

sql "update crieur.account set status = 'paused', status_reason = 'paused by ops' where id = $ACC_XR"
sql "update crieur.job set run_at = now() + interval '5 minutes' where ref_id = $P_WAIT"
CRIEUR_SECRET_KEY_FILE= run account resume "$ACC_XR"
eq "account resume exits 0 (and needs no key)" 0 "$RC"
check "account resume says so" has "$OUT" "account $ACC_XR (xref on x) resumed: active again (was paused)"
check "  with the post now due" has "$OUT" "1 waiting post due now"
eq "resume: the waiting post is due" t "$(sql "select run_at <= now() from crieur.job where ref_id = $P_WAIT")"
eq "resume: the future post keeps its time" "$FUT_RUN" "$(sql "select run_at from crieur.job where ref_id = $P_FUT")"
run account resume "$ACC_XR"
eq "resuming an active account exits 0" 0 "$RC"
eq "  saying it is already active" "account $ACC_XR is already active" "$OUT"
run account resume 999999
eq "account resume of an unknown account exits 1" 1 "$RC"
check "  naming it" has "$ERR" "unknown account 999999"
sql "update crieur.account set status = 'disabled' where id = $ACC_MR"
run account resume "$ACC_MR"
eq "account resume of a disabled account exits 1" 1 "$RC"
check "  saying why" has "$ERR" "account $ACC_MR is disabled: resume only restarts a paused account"
run post cancel "$P_WAIT"
run post cancel "$P_FUT"

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

# --- replies and media ------------------------------------------------------------
NPOSTS=$(sql "select count(*) from crieur.post")
run post schedule --account "$ACC" --text "Merci !" --reply-to 109372843234
eq "a reply exits 0" 0 "$RC"
P_REP=$(post_id)
eq "  stored with the id it answers" 109372843234 "$(sql "select in_reply_to from crieur.post where id = $P_REP")"
run post schedule --account "$ACC" --text "Voir aussi" --reply-to 109372843235 --link https://example.com/suite --at "$Y-03-02 09:00"
eq "a reply with a link and a local time exits 0" 0 "$RC"
P_REP2=$(post_id)
eq "  stored with its link, its reply target and its time" "109372843235 https://example.com/suite $Y-03-02 08:00:00" \
    "$(sql "select in_reply_to || ' ' || link || ' ' || to_char(scheduled_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') from crieur.post where id = $P_REP2")"
NPOSTS=$(sql "select count(*) from crieur.post")
run post schedule --account "$ACC" --text "x" --reply-to "1093 72843234"
eq "--reply-to with a space exits 2" 2 "$RC"
check "  saying why" has "$ERR" "--reply-to must be the platform id of the post answered, without spaces"
run post schedule --account "$ACC" --text "x" --reply-to ""
eq "an empty --reply-to exits 2" 2 "$RC"
run post schedule --account "$ACC_BS" --text "x" --reply-to 3k2yihcrp6f2c
eq "a Bluesky reply to a bare id exits 1" 1 "$RC"
check "  asking for the at:// URI" has "$ERR" "on Bluesky --reply-to is the at:// URI of the post answered"
run post schedule --account "$ACC_BS" --text "Thanks" --reply-to at://did:plc:abc123/app.bsky.feed.post/3k2yihcrp6f2c
eq "a Bluesky reply to an at:// URI exits 0" 0 "$RC"
NPOSTS=$(sql "select count(*) from crieur.post")

# Images: by their first bytes, whatever their names.
img() { # img FILE TYPE BYTES
    case $2 in
    jpeg) printf '\xff\xd8\xff\xe0' >"$1" ;;
    png) printf '\x89PNG\r\n\x1a\n' >"$1" ;;
    gif) printf 'GIF89a' >"$1" ;;
    webp) printf 'RIFF\x10\x00\x00\x00WEBPVP8 ' >"$1" ;;
    esac
    truncate -s "$3" "$1"
}
img "$T_DIR/a.jpg" jpeg 5000
img "$T_DIR/b.png" png 3000
img "$T_DIR/c.gif" gif 100
img "$T_DIR/d.webp" webp 200
img "$T_DIR/photo.txt" png 100
img "$T_DIR/bs-max.jpg" jpeg 2000000
img "$T_DIR/bs-over.jpg" jpeg 2000001
img "$T_DIR/x-max.png" png 5242880
img "$T_DIR/x-over.png" png 5242881
printf 'just text\n' >"$T_DIR/notimage.jpg"
run post schedule --account "$ACC" --text "Trois images" --media "$T_DIR/a.jpg" --media https://cdn.example.com/i/b.png --media "file://$T_DIR/photo.txt"
eq "three media (file, URL, file:// with a .txt name but PNG bytes) exit 0" 0 "$RC"
eq "  stored in order on the post" "{$T_DIR/a.jpg,https://cdn.example.com/i/b.png,file://$T_DIR/photo.txt}" "$(sql "select media from crieur.post where id = $(post_id)")"
run post schedule --account "$ACC_X" --text "four on x" --media "$T_DIR/a.jpg" --media "$T_DIR/b.png" --media "$T_DIR/c.gif" --media "$T_DIR/d.webp"
eq "X: 4 images (JPEG, PNG, GIF, WebP) exit 0" 0 "$RC"
eq "  all stored" 4 "$(sql "select cardinality(media) from crieur.post where id = $(post_id)")"
run post schedule --account "$ACC_X" --text "x max" --media "$T_DIR/x-max.png"
eq "X: a file of 5 MB (5242880 bytes) exits 0" 0 "$RC"
run post schedule --account "$ACC_BS" --text "bs max" --media "$T_DIR/bs-max.jpg"
eq "Bluesky: a file of 2,000,000 bytes exits 0" 0 "$RC"
NPOSTS=$(sql "select count(*) from crieur.post")
run post schedule --account "$ACC_X" --text "five" --media "$T_DIR/a.jpg" --media "$T_DIR/b.png" --media "$T_DIR/c.gif" --media "$T_DIR/d.webp" --media "$T_DIR/a.jpg"
eq "X: 5 images exit 1" 1 "$RC"
check "  saying the limit" has "$ERR" "crieurctl: 5 images: X takes at most 4 per post"
run post schedule --account "$ACC_X" --text "too big" --media "$T_DIR/x-over.png"
eq "X: a file over 5 MB exits 1" 1 "$RC"
check "  with its size and the limit" has "$ERR" "is 5242881 bytes; X takes images of at most 5242880 bytes"
run post schedule --account "$ACC_BS" --text "too big" --media "$T_DIR/bs-over.jpg"
eq "Bluesky: a file of 2,000,001 bytes exits 1" 1 "$RC"
check "  with its size and the limit" has "$ERR" "is 2000001 bytes; Bluesky takes images of at most 2000000 bytes"
run post schedule --account "$ACC" --text "five" --media "$T_DIR/a.jpg" --media "$T_DIR/a.jpg" --media "$T_DIR/a.jpg" --media "$T_DIR/a.jpg" --media "$T_DIR/a.jpg"
eq "Mastodon: 5 images exit 1" 1 "$RC"
run account add --client acme --platform instagram --handle igacc --instance http://127.0.0.1:1/graph --token-file "$T_DIR/token"
ACC_IG=$OUT
run account add --client acme --platform threads --handle thacc --instance http://127.0.0.1:1/threads --token-file "$T_DIR/token"
ACC_TH=$OUT
run account add --client acme --platform facebook --handle 2001 --instance http://127.0.0.1:1/graph --token-file "$T_DIR/token"
ACC_FB=$OUT
run account add --client acme --platform linkedin --handle 3001 --instance http://127.0.0.1:1/linkedin --token-file "$T_DIR/token"
ACC_LI=$OUT
run post schedule --account "$ACC_IG" --text "caption" --media "$T_DIR/a.jpg"
eq "Instagram: a local file exits 1" 1 "$RC"
check "  asking for a URL" has "$ERR" "Instagram fetches images by URL: media '$T_DIR/a.jpg' is a local file"
run post schedule --account "$ACC_IG" --text "caption"
eq "Instagram: no image exits 1" 1 "$RC"
check "  saying a post needs one" has "$ERR" "an Instagram post needs an image"
run post schedule --account "$ACC_IG" --text "caption" --media https://cdn.example.com/1.jpg --media https://cdn.example.com/2.jpg
eq "Instagram: 2 images exit 1" 1 "$RC"
run post schedule --account "$ACC_IG" --text "nice" --reply-to 17895695668004550 --media https://cdn.example.com/1.jpg
eq "Instagram: a reply with an image exits 1" 1 "$RC"
check "  a reply is a comment" has "$ERR" "Instagram replies are comments, which carry text only"
run post schedule --account "$ACC_FB" --text "nice" --reply-to 2001_1234 --media https://cdn.example.com/1.jpg
eq "Facebook: a reply with an image exits 1" 1 "$RC"
run post schedule --account "$ACC_TH" --text "thread" --media "$T_DIR/a.jpg"
eq "Threads: a local file exits 1" 1 "$RC"
run post schedule --account "$ACC_LI" --text "two" --media "$T_DIR/a.jpg" --media "$T_DIR/b.png"
eq "LinkedIn: 2 images exit 1" 1 "$RC"
run post schedule --account "$ACC_FB" --text "photo" --media "$T_DIR/a.jpg" --media "$T_DIR/b.png"
eq "Facebook: 2 images exit 1" 1 "$RC"
eq "no post was scheduled by the refused media" "$NPOSTS" "$(sql "select count(*) from crieur.post")"
run post schedule --account "$ACC" --text "x" --media "$T_DIR/notimage.jpg"
eq "a file that is not an image (by its bytes) exits 2" 2 "$RC"
check "  saying so" has "$ERR" "is not a JPEG, PNG, GIF or WebP image (by its first bytes, whatever its name)"
run post schedule --account "$ACC" --text "x" --media a.jpg
eq "a relative path exits 2" 2 "$RC"
check "  asking for an absolute one" has "$ERR" "neither an http(s) URL nor an absolute file path"
run post schedule --account "$ACC" --text "x" --media "$T_DIR/missing.jpg"
eq "a missing file exits 2" 2 "$RC"
check "  saying why" has "$ERR" "cannot be read: No such file or directory"
run post schedule --account "$ACC" --text "x" --media "$T_DIR"
eq "a directory exits 2" 2 "$RC"
run post schedule --account "$ACC" --text "x" --media "ftp://cdn.example.com/a.jpg"
eq "an ftp:// URL exits 2" 2 "$RC"
run post schedule --account "$ACC" --text "x" --media "https://cdn.example.com/a b.jpg"
eq "a URL with a space exits 2" 2 "$RC"
if [ "$(id -u)" != 0 ]; then
    cp "$T_DIR/a.jpg" "$T_DIR/locked.jpg"; chmod 000 "$T_DIR/locked.jpg"
    run post schedule --account "$ACC" --text "x" --media "$T_DIR/locked.jpg"
    eq "an unreadable file exits 2" 2 "$RC"
fi
eq "no post was scheduled by the unusable media" "$NPOSTS" "$(sql "select count(*) from crieur.post")"

# --- alert channels -----------------------------------------------------------------
HOOK="https://hooks.example.com/services/T0/B0/$(date +%s%N)s3cr3tH00k"
printf '%s\n' "$HOOK" >"$T_DIR/hook"
run alert channel add ops --webhook-file "$T_DIR/hook"
eq "alert channel add (webhook file) exits 0" 0 "$RC"
CH_OPS=$OUT
check "  prints the channel's id" grep -Eqx '[0-9]+' "$T_DIR/out"
check "  never the URL" hasnt "$OUT$ERR" "$HOOK"
eq "the webhook URL is sealed, not plaintext, with the key id" "webhook 0 $(( ${#HOOK} + 41 )) $KEYID warning true" \
    "$(sql "select kind || ' ' || position(convert_to('$HOOK', 'UTF8') in secret) || ' ' || length(secret) || ' ' || secret_key || ' ' || min_severity || ' ' || (client_id is null) from crieur.alert_channel where id = $CH_OPS")"
export CTL_TEST_HOOK="http://127.0.0.1:9/hook"
run alert channel add acme-crit --webhook-env CTL_TEST_HOOK --client acme --min-severity critical
eq "alert channel add (webhook env, one client, critical) exits 0" 0 "$RC"
CH_ACME=$OUT
eq "  for acme only" "$ACME critical" "$(sql "select client_id || ' ' || min_severity from crieur.alert_channel where id = $CH_ACME")"
NCH=$(sql "select count(*) from crieur.alert_channel")
run alert channel add ops --webhook-file "$T_DIR/hook"
eq "a duplicate channel name exits 1" 1 "$RC"
check "  saying it exists" has "$ERR" 'an alert channel named "ops" already exists'
printf 'hooks.example.com/services/T0/s3cr3tN0Scheme\n' >"$T_DIR/badhook"
run alert channel add bad --webhook-file "$T_DIR/badhook"
eq "a webhook that is not an http(s) URL exits 2" 2 "$RC"
check "  saying so" has "$ERR" "the webhook URL (from --webhook-file) is not an http:// or https:// URL"
check "  without echoing the secret" hasnt "$ERR" "s3cr3tN0Scheme"
printf 'https://hooks.example.com/a b\n' >"$T_DIR/badhook"
run alert channel add bad --webhook-file "$T_DIR/badhook"
eq "a webhook URL with a space exits 2" 2 "$RC"
CRIEUR_SECRET_KEY_FILE= run alert channel add nokey --webhook-file "$T_DIR/hook"
eq "a webhook channel without a secret key exits 2" 2 "$RC"
check "  saying so" has "$ERR" "no secret key"
run alert channel add "bad name" --webhook-file "$T_DIR/hook"
eq "a channel name with a space exits 2" 2 "$RC"
run alert channel add both --webhook-file "$T_DIR/hook" --email ops@example.com --smtp smtp://m:25 --from a@example.com
eq "a webhook and an e-mail address at once exit 2" 2 "$RC"
run alert channel add nothing
eq "a channel without a destination exits 2" 2 "$RC"
run alert channel add hk --webhook-file "$T_DIR/hook" --smtp smtp://m:25
eq "--smtp with a webhook exits 2" 2 "$RC"
run alert channel add hk --webhook-file "$T_DIR/hook" --min-severity loud
eq "a bad --min-severity exits 2" 2 "$RC"
run alert channel add hk --webhook-file "$T_DIR/hook" --client nobody
eq "a channel for an unknown client exits 1" 1 "$RC"
check "  naming it" has "$ERR" 'unknown client "nobody"'
for bad in "ops" "ops@" "@example.com" "ops@@example.com" "Ops <ops@example.com>" "a@b,c@d" "o ps@example.com"; do
    run alert channel add mailbad --email "$bad" --smtp smtp://mail.example.com:587 --from crieur@example.com
    eq "a bad e-mail address '$bad' exits 2" 2 "$RC"
done
check "  saying what an address is" has "$ERR" "is not an e-mail address"
run alert channel add mailbad --email ops@example.com --smtp smtp://mail.example.com:587 --from "crieur"
eq "a bad --from exits 2" 2 "$RC"
for bad in "http://mail.example.com:25" "smtp://" "smtp://mail.example.com:0" "smtp://mail.example.com:25/x" "smtp://u@mail.example.com:25"; do
    run alert channel add mailbad --email ops@example.com --smtp "$bad" --from crieur@example.com
    eq "a bad --smtp '$bad' exits 2" 2 "$RC"
done
run alert channel add mailbad --email ops@example.com --from crieur@example.com
eq "an e-mail channel without --smtp exits 2" 2 "$RC"
run alert channel add mailbad --email ops@example.com --smtp smtp://mail.example.com:587 --from crieur@example.com --smtp-user u
eq "--smtp-user without a password exits 2" 2 "$RC"
eq "refused channel adds added nothing" "$NCH" "$(sql "select count(*) from crieur.alert_channel")"
CRIEUR_SECRET_KEY_FILE= run alert channel add mail --email ops@example.com --smtp smtps://mail.example.com:465 --from crieur@example.com --min-severity info
eq "an e-mail channel without a password exits 0 (and needs no key)" 0 "$RC"
CH_MAIL=$OUT
eq "  stored without a secret or key id" "email ops@example.com smtps://mail.example.com:465 crieur@example.com t t info" \
    "$(sql "select concat_ws(' ', kind, recipient, smtp_url, mail_from, secret is null, secret_key is null, min_severity) from crieur.alert_channel where id = $CH_MAIL")"
SMTPPW="pw-$(date +%s%N)-Sm7p"
run alert channel add mail-auth --email ops@example.com --smtp smtp://mail.example.com:587 --from crieur@example.com --smtp-user crieur --smtp-password-file - <<<"$SMTPPW"
eq "an e-mail channel with a password from standard input exits 0" 0 "$RC"
CH_MAUTH=$OUT
eq "  the password is sealed, not plaintext, with the key id" "crieur 0 $(( ${#SMTPPW} + 41 )) $KEYID" \
    "$(sql "select smtp_user || ' ' || position(convert_to('$SMTPPW', 'UTF8') in secret) || ' ' || length(secret) || ' ' || secret_key from crieur.alert_channel where id = $CH_MAUTH")"

run alert channel list
eq "alert channel list exits 0" 0 "$RC"
check "alert channel list shows the webhook as (webhook), for all clients" grep -Eq "^ *$CH_OPS +ops +webhook +\(webhook\) +\(all clients\) +warning +yes +0 +0 +0" "$T_DIR/out"
check "alert channel list shows the client's channel" grep -Eq "^ *$CH_ACME +acme-crit +webhook +\(webhook\) +acme +critical +yes " "$T_DIR/out"
check "alert channel list shows the e-mail recipient" grep -Eq "^ *$CH_MAIL +mail +email +ops@example.com +\(all clients\) +info +yes " "$T_DIR/out"
check "alert channel list never shows a secret" eval "hasnt \"\$OUT\" \"$HOOK\" && hasnt \"\$OUT\" 127.0.0.1:9 && hasnt \"\$OUT\" \"$SMTPPW\""
run --json alert channel list
check "alert channel list --json: 4 channels, no secret, the key id" python3 -c "
import json,sys; d={c['name']: c for c in json.loads(sys.argv[1])}
ok = len(d) == 4 and d['ops']['key_id'] == '$KEYID' and d['mail']['key_id'] is None and d['ops']['enabled'] is True \
     and d['mail-auth']['smtp_user'] == 'crieur' and d['acme-crit']['client'] == 'acme' and 'secret' not in d['ops'] \
     and '$HOOK' not in sys.argv[1] and '$SMTPPW' not in sys.argv[1]
sys.exit(0 if ok else 1)" "$OUT"
run alert channel list --client globex
check "alert channel list --client globex leaves out acme's channel" eval "hasnt \"\$OUT\" acme-crit && has \"\$OUT\" ops"

# alert test: the database fans the alert out to the channels that take it.
run alert test
eq "alert test exits 0" 0 "$RC"
A1=$OUT
check "  prints the alert's id" grep -Eqx '[0-9]+' "$T_DIR/out"
check "  and the channels it goes to" has "$ERR" "delivering to 3 channels: mail mail-auth ops"
eq "a test alert (warning, the agency's) is a row of kind test" "test warning true" "$(sql "select kind || ' ' || severity || ' ' || (client_id is null) from crieur.alert where id = $A1")"
eq "  with one alert job per agency channel (not acme's critical one)" "$(printf '%s\n' "$CH_MAIL" "$CH_MAUTH" "$CH_OPS" | sort -n | xargs)" "$(sql "select string_agg(channel_id::text, ' ' order by channel_id) from crieur.job where kind = 'alert' and ref_id = $A1")"
run alert test --client acme --severity critical --message "Ceci est un test ☕"
eq "alert test --client --severity --message exits 0" 0 "$RC"
A2=$OUT
eq "  reaches acme's channel too" 4 "$(sql "select count(*) from crieur.job where kind = 'alert' and ref_id = $A2")"
eq "  with its message" "Ceci est un test ☕" "$(sql "select message from crieur.alert where id = $A2")"
run alert test --severity info --client globex
A3=$OUT
eq "an info alert reaches only the info channel" "$CH_MAIL" "$(sql "select string_agg(channel_id::text, ' ') from crieur.job where kind = 'alert' and ref_id = $A3")"
run alert test --severity loud
eq "alert test with a bad severity exits 2" 2 "$RC"
run alert test --client nobody
eq "alert test for an unknown client exits 1" 1 "$RC"
run alert test --message ""
eq "alert test with an empty message exits 2" 2 "$RC"

# Deliveries: the broker records them on the alert (done by hand here).
sql "delete from crieur.job where kind = 'alert' and ref_id = $A1; update crieur.alert set delivered_at = now() where id = $A1"
sql "delete from crieur.job where kind = 'alert' and ref_id = $A3; update crieur.alert set delivery_error = '535 authentication failed (after 10 attempts)' where id = $A3"
sql "update crieur.job set errors = 2, last_error = 'HTTP 404 channel_not_found' where kind = 'alert' and ref_id = $A2 and channel_id = $CH_OPS"
run alert channel list
check "ops: 1 pending (A2), 1 delivered (A1), none failed, its last error" grep -Eq "^ *$CH_OPS +ops +.* +yes +1 +1 +0 +HTTP 404 channel_not_found$" "$T_DIR/out"
check "mail: 1 pending, 1 delivered (A1), 1 failed (A3)" grep -Eq "^ *$CH_MAIL +mail +.* +yes +1 +1 +1 *$" "$T_DIR/out"
check "acme-crit: 1 pending, nothing else (A1 and A3 are outside its scope)" grep -Eq "^ *$CH_ACME +acme-crit +.* +yes +1 +0 +0 *$" "$T_DIR/out"
run alert list
check "alert list shows when an alert was delivered" grep -Eq "^ *$A1 +warning +test +.* delivered [0-9-]{10}T[0-9:]{8}Z " "$T_DIR/out"
check "alert list shows why a delivery failed" has "$OUT" "failed: 535 authentication failed"
check "alert list shows pending deliveries" grep -Eq "^ *$A2 +critical +test +acme +.* 4 pending " "$T_DIR/out"
run --json alert list
check "alert list --json has delivered_at and delivery_error" python3 -c "
import json,sys; d={a['id']: a for a in json.loads(sys.argv[1])}
ok = d[$A1]['delivered_at'].endswith('Z') and d[$A1]['delivery_error'] is None and d[$A3]['delivery_error'].startswith('535') \
     and d[$A3]['delivered_at'] is None and d[$A2]['pending_deliveries'] == 4
sys.exit(0 if ok else 1)" "$OUT"

# disable, enable, remove
run alert channel disable ops
eq "alert channel disable exits 0" 0 "$RC"
check "  telling what happens to its pending delivery" has "$OUT" "alert channel ops disabled (1 pending deliveries wait until it is enabled"
eq "the channel is disabled" f "$(sql "select enabled from crieur.alert_channel where id = $CH_OPS")"
run alert test
eq "a disabled channel gets no new alert" 0 "$(sql "select count(*) from crieur.job where kind = 'alert' and ref_id = $OUT and channel_id = $CH_OPS")"
run alert channel list
check "alert channel list shows it disabled" grep -Eq "^ *$CH_OPS +ops +.* +warning +no " "$T_DIR/out"
run alert channel enable ops
eq "alert channel enable exits 0" 0 "$RC"
eq "the channel is enabled" t "$(sql "select enabled from crieur.alert_channel where id = $CH_OPS")"
run alert channel remove ops
eq "alert channel remove exits 0" 0 "$RC"
check "  dropping its pending delivery" has "$OUT" "alert channel ops removed (1 pending deliveries dropped)"
eq "the channel is gone" 0 "$(sql "select count(*) from crieur.alert_channel where id = $CH_OPS")"
eq "  with its pending deliveries" 0 "$(sql "select count(*) from crieur.job where channel_id = $CH_OPS")"
for c in remove disable enable; do
    run alert channel $c ops
    eq "alert channel $c of an unknown channel exits 1" 1 "$RC"
done
check "  naming it, with a hint" has "$ERR" $'unknown alert channel "ops"\nhint: list them with: crieurctl alert channel list'
run alert channel frobnicate ops
eq "an unknown alert channel subcommand exits 2" 2 "$RC"
run alert channel
eq "alert channel without a subcommand exits 2" 2 "$RC"
check "  listing them" has "$ERR" "alert channel add"
run alert channel add --help
eq "alert channel add --help exits 0" 0 "$RC"
check "  shows its usage" has "$OUT" "usage: crieurctl alert channel add NAME"

t_done
