# Shared helpers of the benchmarks. Source it after setting BUILD (the build
# folder) and B_NAME (the benchmark's name).
#
# The database: the cluster named by CRIEUR_PG_ENV (a file holding a conninfo,
# as the test suite's fixture writes it), else CRIEUR_BENCH_PG (a conninfo of
# a server where we may create databases), else a private cluster started in
# data/bench-pg of the project (dev/pgcluster.sh; kept between runs, stopped
# with `dev/pgcluster.sh stop data/bench-pg`). Each run gets a fresh database,
# dropped at the end.
set -euo pipefail
SRC=${CRIEUR_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN_BROKER=$BUILD/broker/crieur-broker
BIN_PUBLISHER=$BUILD/workers/publisher/crieur-publisher
BIN_SANDBOX=$BUILD/sandbox/crieur-sandbox
BIN_CTL=$BUILD/ctl/crieurctl
for b in "$BIN_BROKER" "$BIN_PUBLISHER" "$BIN_SANDBOX" "$BIN_CTL"; do
    [ -x "$b" ] || { echo "$B_NAME: $b is missing: build first (cmake --build $BUILD)" >&2; exit 2; }
done
B_DIR=$(mktemp -d "/tmp/crieur-bench-$B_NAME.XXXXXX")
export CRIEUR_SECRET_KEY_FILE=$B_DIR/secret.key
(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$CRIEUR_SECRET_KEY_FILE")
unset CRIEUR_SECRET_KEY
B_PIDS=()
B_KEEP=${B_KEEP:-0}

b_stop_all() {
    local i p
    for ((i = ${#B_PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${B_PIDS[$i]}" 2>/dev/null || true; done
    local end=$((SECONDS + 10))
    for p in "${B_PIDS[@]}"; do
        while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.05; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    B_PIDS=()
}

b_cleanup() {
    local rc=$?
    b_stop_all
    if [ -n "${B_DB:-}" ] && [ -n "${B_ADMIN_URL:-}" ] && [ "$B_KEEP" = 0 ]; then
        psql "$B_ADMIN_URL" -XqAc "drop database if exists $B_DB with (force)" >/dev/null 2>&1 || true
    fi
    if [ "$rc" != 0 ]; then
        echo "--- $B_NAME failed; logs in $B_DIR ---" >&2
        for f in "$B_DIR"/*.log; do [ -f "$f" ] && { echo "== $f (last 30 lines)" >&2; tail -30 "$f" >&2; }; done
    elif [ "$B_KEEP" = 0 ]; then
        rm -rf "$B_DIR"
    fi
}
trap b_cleanup EXIT

# The server's base conninfo (without dbname), in B_BASE_URL.
b_server() {
    if [ -n "${CRIEUR_PG_ENV:-}" ] && [ -f "$CRIEUR_PG_ENV" ]; then
        B_BASE_URL=$(cat "$CRIEUR_PG_ENV")
    elif [ -n "${CRIEUR_BENCH_PG:-}" ]; then
        B_BASE_URL=$CRIEUR_BENCH_PG
    else
        echo "$B_NAME: starting the private PostgreSQL cluster in $SRC/data/bench-pg" >&2
        B_BASE_URL=$("$SRC/dev/pgcluster.sh" start "$SRC/data/bench-pg")
    fi
    B_ADMIN_URL="$B_BASE_URL dbname=postgres"
}

# A fresh, migrated database: sets B_DB and exports CRIEUR_DATABASE_URL.
b_db() {
    [ -n "${B_BASE_URL:-}" ] || b_server
    B_DB="bench_$(echo "$B_NAME" | tr -c 'a-z0-9\n' '_')_$$"
    psql "$B_ADMIN_URL" -XqAc "drop database if exists $B_DB" >/dev/null
    psql "$B_ADMIN_URL" -XqAc "create database $B_DB" >/dev/null
    export CRIEUR_DATABASE_URL="$B_BASE_URL dbname=$B_DB"
    "$BIN_CTL" migrate >"$B_DIR/migrate.log" 2>&1 || { cat "$B_DIR/migrate.log" >&2; exit 1; }
}

bsql() { psql "$CRIEUR_DATABASE_URL" -XqAt -v ON_ERROR_STOP=1 -c "$1"; }

b_free_port() {
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

# b_broker NAME [args...]: starts a broker on a free port; sets BROKER_EP, LAST_PID.
b_broker() {
    local name=$1; shift
    BROKER_EP="tcp://127.0.0.1:$(b_free_port)"
    "$BIN_BROKER" --bind "$BROKER_EP" --broker-id "$name-$$" "$@" >"$B_DIR/$name.log" 2>&1 &
    LAST_PID=$!
    B_PIDS+=($LAST_PID)
}

# b_publisher NAME [args...]: a publisher connected to BROKER_EP (or --broker in args).
b_publisher() {
    local name=$1; shift
    "$BIN_PUBLISHER" --broker "$BROKER_EP" --worker-id "$name-$$" "$@" >"$B_DIR/$name.log" 2>&1 &
    LAST_PID=$!
    B_PIDS+=($LAST_PID)
}

# Peak resident set of a running process, in kB (VmHWM).
b_peak_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

b_now_ms() { date +%s%3N; }

# median of the numbers given as arguments
b_median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
