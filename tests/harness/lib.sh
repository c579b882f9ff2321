# Shared helpers for the bash integration tests. Source it; it expects $1 =
# the build dir and CRIEUR_PG_ENV from ctest.
set -euo pipefail
BUILD=${BUILD:-$1}
SRC=${CRIEUR_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN_BROKER=$BUILD/broker/crieur-broker
BIN_PUBLISHER=$BUILD/workers/publisher/crieur-publisher
BIN_SANDBOX=$BUILD/sandbox/crieur-sandbox
BIN_CTL=$BUILD/ctl/crieurctl
T_NAME=${T_NAME:-$(basename "$0" .sh)}
T_DIR=$(mktemp -d "/tmp/crieur-$T_NAME.XXXXXX")
# Credentials are sealed at rest: crieurctl and the brokers of a test share
# one secret key (64 hex characters, mode 0600).
export CRIEUR_SECRET_KEY_FILE=$T_DIR/secret.key
(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$CRIEUR_SECRET_KEY_FILE")
unset CRIEUR_SECRET_KEY
T_PIDS=()
T_PASS=0
T_FAIL=0

t_cleanup() {
    local rc=$?
    # workers first, then brokers, then the sandbox (reverse start order)
    local i
    for ((i = ${#T_PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${T_PIDS[$i]}" 2>/dev/null || true; done
    local end=$((SECONDS + 5))
    for p in "${T_PIDS[@]}"; do
        while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.05; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ -n "${T_DB:-}" ] && [ -n "${T_ADMIN_URL:-}" ]; then
        psql "$T_ADMIN_URL" -XqAc "drop database if exists $T_DB with (force)" >/dev/null 2>&1 || true
    fi
    if [ "$rc" != 0 ] || [ "$T_FAIL" != 0 ]; then
        echo "--- logs of $T_NAME in $T_DIR ---"
        for f in "$T_DIR"/*.log; do [ -f "$f" ] && { echo "== $f (last 40 lines)"; tail -40 "$f"; }; done
    else
        rm -rf "$T_DIR"
    fi
}
trap t_cleanup EXIT

# A fresh database for this test, migrated. Sets CRIEUR_DATABASE_URL.
t_db() {
    local base
    base=$(cat "$CRIEUR_PG_ENV")
    T_ADMIN_URL="$base dbname=postgres"
    T_DB="t_$(echo "$T_NAME" | tr -c 'a-z0-9\n' '_')_$$"
    psql "$T_ADMIN_URL" -XqAc "create database $T_DB" >/dev/null
    export CRIEUR_DATABASE_URL="$base dbname=$T_DB"
    "$BIN_CTL" migrate >"$T_DIR/migrate.log" 2>&1 || { cat "$T_DIR/migrate.log"; exit 1; }
}

sql() { psql "$CRIEUR_DATABASE_URL" -XqAt -v ON_ERROR_STOP=1 -c "$1"; }

# Starts the sandbox on a free port; sets SANDBOX (base URL).
t_sandbox() {
    "$BIN_SANDBOX" --listen 127.0.0.1:0 --port-file "$T_DIR/sandbox.port" "$@" >"$T_DIR/sandbox.log" 2>&1 &
    T_PIDS+=($!)
    for _ in $(seq 1 100); do [ -s "$T_DIR/sandbox.port" ] && break; sleep 0.05; done
    SANDBOX="http://127.0.0.1:$(cat "$T_DIR/sandbox.port")"
}

t_free_port() {
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

# Starts a broker on a free port; sets BROKER_EP. Extra args pass through.
t_broker() {
    local name=${BROKER_NAME:-broker}
    local port
    port=$(t_free_port)
    BROKER_EP="tcp://127.0.0.1:$port"
    "$BIN_BROKER" --bind "$BROKER_EP" --broker-id "$name-$$" "$@" >"$T_DIR/$name.log" 2>&1 &
    T_PIDS+=($!)
    LAST_PID=$!
}

t_publisher() {
    local name=$1; shift
    "$BIN_PUBLISHER" --broker "$BROKER_EP" --worker-id "$name-$$" "$@" >"$T_DIR/$name.log" 2>&1 &
    T_PIDS+=($!)
    LAST_PID=$!
}

# wait_for "description" TIMEOUT_S command...: polls until the command succeeds.
wait_for() {
    local what=$1 limit=$2; shift 2
    local end=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $end ]; then echo "timed out after ${limit}s waiting for: $what"; return 1; fi
        sleep 0.2
    done
}

check() {
    local what=$1; shift
    if "$@"; then T_PASS=$((T_PASS + 1)); echo "ok - $what";
    else T_FAIL=$((T_FAIL + 1)); echo "FAIL - $what"; fi
}

# eq "what" expected actual
eq() {
    if [ "$2" == "$3" ]; then T_PASS=$((T_PASS + 1)); echo "ok - $1";
    else T_FAIL=$((T_FAIL + 1)); echo "FAIL - $1: expected '$2', got '$3'"; fi
}

t_done() {
    echo "$T_PASS passed, $T_FAIL failed"
    [ "$T_FAIL" = 0 ]
}

# Starts a real SMTP server (Debian's python3-aiosmtpd, run by the system
# python: a pyenv or venv python on the PATH does not see Debian's modules)
# on a free port. Every accepted message is a file in the maildir
# $SMTP_DIR/new; recipients reject...@ get 550 and defer...@ get 451
# (tests/harness/crieur_smtp.py). Sets SMTP_URL (smtp://127.0.0.1:PORT),
# SMTP_PORT and SMTP_DIR; stopped with the other processes at exit.
t_smtp() {
    local py=${CRIEUR_SMTP_PYTHON:-/usr/bin/python3}
    if ! "$py" -c 'import aiosmtpd' 2>/dev/null; then
        echo "t_smtp: $py cannot import aiosmtpd: install python3-aiosmtpd (dev/deps.sh)"
        exit 1
    fi
    SMTP_DIR=$T_DIR/maildir
    SMTP_PORT=$(t_free_port)
    SMTP_URL="smtp://127.0.0.1:$SMTP_PORT"
    # -n: never setuid to nobody (as root it would, and lose the maildir)
    PYTHONPATH="$SRC/tests/harness${PYTHONPATH:+:$PYTHONPATH}" \
        "$py" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c crieur_smtp.RefusingMailbox "$SMTP_DIR" \
        >"$T_DIR/smtp.log" 2>&1 &
    T_PIDS+=($!)
    local pid=$! end=$((SECONDS + 15))
    until (exec 3<>"/dev/tcp/127.0.0.1/$SMTP_PORT") 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null || [ $SECONDS -ge $end ]; then
            echo "t_smtp: the SMTP server did not start:"; cat "$T_DIR/smtp.log"; exit 1
        fi
        sleep 0.1
    done
}

# Number of messages the SMTP server has stored.
t_smtp_count() {
    find "$SMTP_DIR/new" -type f 2>/dev/null | wc -l
}

# Prints every stored message (maildir files, oldest first), separated by a
# line "----".
t_smtp_messages() {
    local f
    for f in $(ls -tr "$SMTP_DIR/new" 2>/dev/null); do cat "$SMTP_DIR/new/$f"; echo "----"; done
}
