#!/usr/bin/env bash
# Raw no-op queue throughput of Crieur next to Graphile Worker and pg-boss, on
# the same PostgreSQL server in the same run, with durable commits
# (synchronous_commit as the server has it, on by default; printed).
#
# usage: bench/compare.sh [--short] [--runs N] [--jobs N] BUILD_DIR
#   --short    one run of 5,000 jobs (Graphile Worker's default settings:
#              1,000), no target asserted: the test suite's form
#   --runs N   runs of every configuration, interleaved (default 3)
#   --jobs N   jobs per run (default 200,000; Graphile Worker's default
#              settings get a tenth, at least 1,000: it runs ~1,500 jobs/s)
#
# Configurations, each on a fresh database (created and dropped here):
#   graphile default   Graphile Worker, library defaults, 1 process
#   graphile batched   Graphile Worker with its performance test's settings
#                      (local queue 500, batched completion, 24 concurrent
#                      jobs), 1 and 2 processes
#   pg-boss            work() with batchSize 500, localConcurrency 4,
#                      burstWhenBatchFull, 1 process
#   bare SQL           no library: claim 1,000 rows FOR UPDATE SKIP LOCKED and
#                      delete them by id array, one committed transaction per
#                      batch, in a PL/pgSQL procedure and from a Node client
#   crieur             bench/throughput.sh --jobs N BUILD_DIR, with one broker
#                      and with two (active-active); the better is the ratio's
# Every system enqueues its N jobs in bulk first, then the table is VACUUM
# ANALYZEd (as throughput.sh does for Crieur), then the clock runs from the
# start of the worker processes to the last job done; every job must be done
# (counted in the database) or the configuration fails.
#
# The Node packages (bench/compare/package.json and package-lock.json: pinned
# graphile-worker, pg-boss and pg) are installed with `npm ci` into
# data/npm-bench of the project (git-ignored), once; the drivers
# bench/compare/*.mjs are copied there and run from it.
#
# Prints one line per run and a table: median, min and max jobs/s of every
# configuration, and crieur / that configuration; then the line
# "crieur / best graphile worker: X.XX (target >= 1.5)".
# Exit status: 0; 1 if a configuration failed (jobs not all done, a process
# failed or timed out) or npm could not install the packages; 2 usage;
# 3 (full runs only) the target was missed. Each run of a configuration is
# killed after 60 s + 1 s per 500 jobs (CRIEUR_COMPARE_LIMIT_S overrides).
set -euo pipefail

SHORT=0 RUNS=3 JOBS="" BUILD=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --short) SHORT=1 ;;
        --runs) RUNS=$2; shift ;;
        --jobs) JOBS=$2; shift ;;
        -h|--help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option: $1" >&2; exit 2 ;;
        *) BUILD=$1 ;;
    esac
    shift
done
[ -n "$BUILD" ] || { echo "usage: bench/compare.sh [--short] [--runs N] [--jobs N] BUILD_DIR" >&2; exit 2; }
if [ "$SHORT" = 1 ]; then
    RUNS=1
    JOBS=${JOBS:-5000}
else
    JOBS=${JOBS:-200000}
fi
[[ "$RUNS" =~ ^[1-9][0-9]*$ && "$JOBS" =~ ^[1-9][0-9]*$ ]] || { echo "compare: --runs and --jobs take positive integers" >&2; exit 2; }
JOBS_GW_DEFAULT=$((JOBS / 10 > 1000 ? JOBS / 10 : 1000))
[ "$JOBS_GW_DEFAULT" -gt "$JOBS" ] && JOBS_GW_DEFAULT=$JOBS
TARGET=1.5
BUILD=$(cd "$BUILD" && pwd)
B_NAME=compare
. "$(dirname "$0")/lib.sh"
HERE=$SRC/bench
NPM_DIR=$SRC/data/npm-bench

CMP_DBS=()
cmp_cleanup() {
    local rc=$? d
    set +e
    b_stop_all
    for d in "${CMP_DBS[@]}"; do
        if [ "$B_KEEP" = 0 ] && [ -n "${B_ADMIN_URL:-}" ]; then
            psql "$B_ADMIN_URL" -XqAc "drop database if exists $d with (force)" >/dev/null 2>&1
        fi
    done
    (exit "$rc")   # b_cleanup reads the status from $?
    b_cleanup
}
trap cmp_cleanup EXIT
trap 'echo "compare: interrupted" >&2; exit 130' INT TERM

fail_setup() { echo "compare: $*" >&2; exit 1; }

# --- Node and the packages -------------------------------------------------
command -v node >/dev/null && command -v npm >/dev/null ||
    fail_setup "node and npm are needed (Debian: apt-get install -y nodejs npm)"
NODE_VERSION=$(node --version)

npm_install() {
    local stamp
    stamp=$(cat "$HERE/compare/package.json" "$HERE/compare/package-lock.json" | sha256sum | cut -c1-16)
    mkdir -p "$NPM_DIR"
    exec 9>"$NPM_DIR/.lock"
    flock -w 600 9 || fail_setup "another compare.sh holds $NPM_DIR/.lock for more than 10 minutes"
    if [ "$(cat "$NPM_DIR/.installed" 2>/dev/null)" = "$stamp" ] &&
       [ -f "$NPM_DIR/node_modules/graphile-worker/package.json" ] &&
       [ -f "$NPM_DIR/node_modules/pg-boss/package.json" ] &&
       [ -f "$NPM_DIR/node_modules/pg/package.json" ]; then
        echo "# npm packages: cached in $NPM_DIR"
    else
        echo "# npm packages: installing into $NPM_DIR (npm ci)"
        rm -f "$NPM_DIR/.installed"
        cp "$HERE/compare/package.json" "$HERE/compare/package-lock.json" "$NPM_DIR/"
        if ! (cd "$NPM_DIR" && timeout -k 10 300 npm ci --no-audit --no-fund --loglevel=error) \
                >"$B_DIR/npm-install.log" 2>&1; then
            fail_setup "npm ci could not install graphile-worker, pg-boss and pg into $NPM_DIR
  (registry $(npm config get registry 2>/dev/null); npm's output: npm-install.log below).
  Fix: make the npm registry reachable (proxy, or 'npm config set registry URL'),
  then rerun; 'rm -rf $NPM_DIR' starts the install afresh."
        fi
        echo "$stamp" >"$NPM_DIR/.installed"
    fi
    cp "$HERE"/compare/*.mjs "$NPM_DIR/"
    flock -u 9
    exec 9>&-
}
npm_install
pkg_version() { node -p "require('$NPM_DIR/node_modules/$1/package.json').version"; }
pkg_engine() { node -p "(require('$NPM_DIR/node_modules/$1/package.json').engines || {}).node || 'any'"; }
GW_VERSION=$(pkg_version graphile-worker)
PGBOSS_VERSION=$(pkg_version pg-boss)
PG_VERSION=$(pkg_version pg)
[ "$GW_VERSION" = 0.18.0 ] || echo "# note: graphile-worker $GW_VERSION, not 0.18.0"

# --- the server --------------------------------------------------------------
b_server
# psql reaches the server with $B_BASE_URL; Node (pg) reads the same from the
# libpq environment variables
NODE_PGENV=()
for kv in $B_BASE_URL; do
    v=${kv#*=}; v=${v#\'}; v=${v%\'}
    case "$kv" in
        host=*) NODE_PGENV+=("PGHOST=$v") ;;
        port=*) NODE_PGENV+=("PGPORT=$v") ;;
        user=*) NODE_PGENV+=("PGUSER=$v") ;;
        password=*) NODE_PGENV+=("PGPASSWORD=$v") ;;
        sslmode=*) NODE_PGENV+=("PGSSLMODE=$v") ;;
    esac
done
asql() { psql "$B_ADMIN_URL" -XqAt -v ON_ERROR_STOP=1 -c "$1"; }
SYNC_COMMIT=$(asql "show synchronous_commit")
FSYNC=$(asql "show fsync")
SERVER_VERSION=$(asql "show server_version")
# throughput.sh finds the same server (CRIEUR_PG_ENV is inherited when set)
if [ -z "${CRIEUR_PG_ENV:-}" ] || [ ! -f "$CRIEUR_PG_ENV" ]; then export CRIEUR_BENCH_PG=$B_BASE_URL; fi

echo "# compare: PostgreSQL $SERVER_VERSION, synchronous_commit=$SYNC_COMMIT, fsync=$FSYNC; $(nproc) CPUs; node $NODE_VERSION"
echo "# graphile-worker $GW_VERSION (declares node $(pkg_engine graphile-worker)), pg-boss $PGBOSS_VERSION (declares node $(pkg_engine pg-boss)), pg $PG_VERSION"
echo "# crieur: $BUILD (built from the source tree, now at commit $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$SRC" diff --quiet HEAD -- broker db lib workers 2>/dev/null || echo ' + uncommitted changes in broker/db/lib/workers'))"
echo "# $JOBS jobs per run (Graphile Worker default settings: $JOBS_GW_DEFAULT), $RUNS run(s) per configuration, interleaved"
echo "# each: bulk enqueue, VACUUM ANALYZE, then timed from the worker processes' start to the last job done"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine or the server skews every figure)"

# --- configurations ----------------------------------------------------------
# name|label|jobs|driver and arguments (or "crieur")
CONFIGS=(
    "gw_default|Graphile Worker, default settings (concurrency 1)|$JOBS_GW_DEFAULT|graphile.mjs --mode default --procs 1"
    "gw_batched_1|Graphile Worker, perfTest batching, 1 process|$JOBS|graphile.mjs --mode batched --procs 1"
    "gw_batched_2|Graphile Worker, perfTest batching, 2 processes|$JOBS|graphile.mjs --mode batched --procs 2"
    "pgboss|pg-boss, batchSize 500 x localConcurrency 4|$JOBS|pgboss.mjs --procs 1 --batch-size 500 --local-concurrency 4"
    "bare_plpgsql|bare SQL loop, PL/pgSQL procedure (no client)|$JOBS|bare.mjs --mode plpgsql --batch 1000"
    "bare_client|bare SQL loop, Node pg client|$JOBS|bare.mjs --mode client --batch 1000"
    "crieur|Crieur, bench/throughput.sh (1 broker, 1 publisher)|$JOBS|crieur"
    "crieur_2|Crieur, bench/throughput.sh (2 brokers, 1 publisher)|$JOBS|crieur --brokers 2"
)
declare -A RATES=() FAILS=()
STATUS=0

# run_one NAME JOBS RUN ARGS...: sets RATE (jobs/s) or returns non-zero
run_one() {
    local name=$1 jobs=$2 run=$3; shift 3
    local log="$B_DIR/$name-run$run.log" limit=$((60 + jobs / 500)) rc=0 db="" pid
    limit=${CRIEUR_COMPARE_LIMIT_S:-$limit}   # a test of the time bound may lower it
    RATE=""
    if [ "$1" = crieur ]; then
        shift
        timeout -k 10 "$limit" bash "$HERE/throughput.sh" --jobs "$jobs" "$@" "$BUILD" >"$log" 2>&1 &
    else
        db="bench_compare_${name}_$$_$run"
        CMP_DBS+=("$db")
        asql "drop database if exists $db with (force)" >/dev/null 2>&1 || true
        asql "create database $db" >/dev/null
        (cd "$NPM_DIR" && exec env "${NODE_PGENV[@]}" PGDATABASE="$db" NO_LOG_SUCCESS=1 \
            timeout -k 10 "$limit" node "$@" --jobs "$jobs" --timeout-s $((limit - 5))) >"$log" 2>&1 &
    fi
    pid=$!
    B_PIDS=("$pid")
    wait "$pid" || rc=$?
    B_PIDS=()
    if [ -n "$db" ] && [ "$B_KEEP" = 0 ]; then
        asql "drop database if exists $db with (force)" >/dev/null 2>&1 || true
    fi
    [ "$rc" = 124 ] && echo "compare: $name run $run: killed after $limit s (stuck?); log $log" >&2
    if [ -z "$db" ]; then
        RATE=$(sed -n 's/^crieur jobs\/s: \([0-9][0-9]*\).*/\1/p' "$log" | tail -1)
    else
        RATE=$(sed -n 's/^RESULT .* rate=\([0-9][0-9]*\) .*ok=1$/\1/p' "$log" | tail -1)
    fi
    if [ "$rc" != 0 ] || [ -z "$RATE" ]; then
        echo "compare: $name run $run failed (exit $rc): $(grep -E '^(FAILED|crieur|throughput:|compare:)|[Ee]rror' "$log" | tail -3 | tr '\n' ' ')" >&2
        echo "--- $log (last 20 lines)" >&2
        tail -20 "$log" >&2
        mkdir -p "$B_DIR/failed" && mv "$log" "$B_DIR/failed/"
        RATE=""
        return 1
    fi
    mkdir -p "$B_DIR/ok" && mv "$log" "$B_DIR/ok/"
}

for run in $(seq 1 "$RUNS"); do
    for c in "${CONFIGS[@]}"; do
        IFS='|' read -r name label jobs cmd <<<"$c"
        # shellcheck disable=SC2086 # cmd holds the driver and its arguments
        if run_one "$name" "$jobs" "$run" $cmd; then
            RATES[$name]="${RATES[$name]:-} $RATE"
            printf 'run %d: %-52s %8d jobs: %8d jobs/s\n' "$run" "$label" "$jobs" "$RATE"
        else
            FAILS[$name]=$(( ${FAILS[$name]:-0} + 1 ))
            printf 'run %d: %-52s %8d jobs: FAILED\n' "$run" "$label" "$jobs"
            STATUS=1
        fi
    done
done

# --- the table ---------------------------------------------------------------
mm() { printf '%s\n' $1 | sort -g | awk -v w="$2" '{a[NR]=$1} END {if (w=="min") print a[1]; else print a[NR]}'; }
CRIEUR_MED=""
# Crieur's best configuration (one broker or two), as Graphile Worker's best
for c in crieur crieur_2; do
    [ -n "${RATES[$c]:-}" ] || continue
    m=$(b_median ${RATES[$c]})
    if [ -z "$CRIEUR_MED" ] || awk -v a="$m" -v b="$CRIEUR_MED" 'BEGIN {exit !(a > b)}'; then CRIEUR_MED=$m; fi
done
echo
printf '%-52s %8s %10s %9s %9s %9s\n' "configuration (synchronous_commit=$SYNC_COMMIT)" "jobs/run" "median/s" "min/s" "max/s" "crieur/x"
BEST_GW="" BEST_GW_LABEL=""
for c in "${CONFIGS[@]}"; do
    IFS='|' read -r name label jobs _ <<<"$c"
    if [ -z "${RATES[$name]:-}" ]; then
        printf '%-52s %8d %10s\n' "$label" "$jobs" "FAILED"
        continue
    fi
    med=$(b_median ${RATES[$name]})
    ratio="-"
    [ -n "$CRIEUR_MED" ] && ratio=$(awk -v a="$CRIEUR_MED" -v b="$med" 'BEGIN {printf "%.2f", a / b}')
    fails=""
    [ -n "${FAILS[$name]:-}" ] && fails="  (${FAILS[$name]} run(s) failed)"
    printf '%-52s %8d %10.0f %9d %9d %9s%s\n' "$label" "$jobs" "$med" \
        "$(mm "${RATES[$name]}" min)" "$(mm "${RATES[$name]}" max)" "$ratio" "$fails"
    if [[ $name == gw_* ]] && { [ -z "$BEST_GW" ] || awk -v a="$med" -v b="$BEST_GW" 'BEGIN {exit !(a > b)}'; }; then
        BEST_GW=$med BEST_GW_LABEL=$label
    fi
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
if [ -n "$CRIEUR_MED" ] && [ -n "$BEST_GW" ]; then
    R=$(awk -v a="$CRIEUR_MED" -v b="$BEST_GW" 'BEGIN {printf "%.2f", a / b}')
    echo "crieur / best graphile worker: $R (target >= $TARGET)   [best: $BEST_GW_LABEL]"
    if [ "$SHORT" = 0 ] && awk -v r="$R" -v t="$TARGET" 'BEGIN {exit !(r < t)}'; then
        echo "compare: target missed: crieur / best graphile worker = $R < $TARGET" >&2
        [ "$STATUS" = 0 ] && STATUS=3
    fi
else
    echo "crieur / best graphile worker: n/a (a configuration failed) (target >= $TARGET)"
fi
if [ "$STATUS" = 1 ]; then
    echo "compare: FAILED: $(for n in "${!FAILS[@]}"; do printf '%s (%s run(s)) ' "$n" "${FAILS[$n]}"; done)- see the messages above" >&2
fi
exit $STATUS
