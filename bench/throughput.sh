#!/usr/bin/env bash
# Raw queue throughput: no-op jobs through the whole path (PostgreSQL claim,
# broker, ZeroMQ, a publisher that acknowledges them, results written back),
# with durable commits (synchronous_commit on, the server's default).
#
# usage: bench/throughput.sh [--short] [--jobs N] [--runs N] [--workers N]
#                            [--capacity N] [--claim-batch N] [--task-batch N]
#                            [--future N] [--history N] BUILD_DIR
#   --short        20,000 jobs, one run (the test suite's form)
#   --jobs N       no-op jobs due now, per run (default 300,000)
#   --runs N       runs; the table shows each and the median (default 1)
#   --future N     also N jobs due in a year (a full queue) ...
#   --history N    ... and N finished jobs in the history (attempt rows)
# Prints one line per run and a summary line "crieur jobs/s: N (median)".
# Exits non-zero if a job was lost (not done), done twice, or a process failed.
set -euo pipefail

JOBS=300000 RUNS=1 WORKERS=1 CAPACITY=5000 CLAIM_BATCH=2000 TASK_BATCH=500 FUTURE=0 HISTORY=0
BUILD=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --short) JOBS=20000 ;;
        --jobs) JOBS=$2; shift ;;
        --runs) RUNS=$2; shift ;;
        --workers) WORKERS=$2; shift ;;
        --capacity) CAPACITY=$2; shift ;;
        --claim-batch) CLAIM_BATCH=$2; shift ;;
        --task-batch) TASK_BATCH=$2; shift ;;
        --future) FUTURE=$2; shift ;;
        --history) HISTORY=$2; shift ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option: $1" >&2; exit 2 ;;
        *) BUILD=$1 ;;
    esac
    shift
done
[ -n "$BUILD" ] || { echo "usage: bench/throughput.sh [options] BUILD_DIR" >&2; exit 2; }
BUILD=$(cd "$BUILD" && pwd)
B_NAME=throughput
. "$(dirname "$0")/lib.sh"

b_db
sync_commit=$(bsql "show synchronous_commit")
if [ "$FUTURE" -gt 0 ] || [ "$HISTORY" -gt 0 ]; then
    echo "# filling: $FUTURE future jobs, $HISTORY finished jobs in the history" >&2
    # future jobs: a year ahead, never claimed during the run
    bsql "insert into crieur.job (kind, run_at, max_attempts)
          select 'noop', now() + interval '365 days' + g * interval '1 ms', 3
          from generate_series(1, $FUTURE) g"
    # history: what finished jobs leave behind (their job rows are gone)
    bsql "insert into crieur.attempt (job_id, attempt, kind, broker, worker, dispatched_at,
                                      started_at, finished_at, outcome)
          select -g, 1, 'noop', 'history', 'history', now() - interval '1 day',
                 now() - interval '1 day', now() - interval '1 day', 'ok'
          from generate_series(1, $HISTORY) g"
    bsql "vacuum analyze crieur.job; vacuum analyze crieur.attempt" 2>/dev/null || true
fi

rates=()
status=0
for run in $(seq 1 "$RUNS"); do
    bsql "insert into crieur.job (kind, run_at, max_attempts)
          select 'noop', now(), 3 from generate_series(1, $JOBS)"
    bsql "vacuum analyze crieur.job" 2>/dev/null || true
    first=$(bsql "select min(id) from crieur.job where kind = 'noop' and run_at < now() + interval '1 day'")
    t0=$(b_now_ms)
    b_broker broker --claim-batch "$CLAIM_BATCH" --task-batch "$TASK_BATCH" --stats-interval-s 1
    broker_pid=$LAST_PID
    wpids=()
    for w in $(seq 1 "$WORKERS"); do
        b_publisher "worker$w" --capacity "$CAPACITY"
        wpids+=($LAST_PID)
    done
    # until no due job is left (bounded: 10 minutes)
    end=$((SECONDS + 600))
    while :; do
        left=$(bsql "select count(*) from crieur.job where id >= $first and run_at < now() + interval '1 day'")
        [ "$left" = 0 ] && break
        if [ $SECONDS -ge $end ]; then echo "$B_NAME: $left jobs still queued after 10 minutes" >&2; status=1; break; fi
        for p in "$broker_pid" "${wpids[@]}"; do
            kill -0 "$p" 2>/dev/null || { echo "$B_NAME: process $p exited during the run" >&2; exit 1; }
        done
        sleep 0.05
    done
    t1=$(b_now_ms)
    broker_kb=$(b_peak_kb "$broker_pid")
    worker_kb=0
    for p in "${wpids[@]}"; do k=$(b_peak_kb "$p"); [ "$k" -gt "$worker_kb" ] && worker_kb=$k; done
    b_stop_all
    # every job done exactly once, from the history the broker wrote
    read -r done dup span_ms < <(bsql "select count(*), count(*) - count(distinct job_id),
              coalesce((extract(epoch from max(finished_at) - min(dispatched_at)) * 1000)::bigint, 0)
            from crieur.attempt where job_id >= $first and outcome = 'ok'" | tr '|' ' ')
    if [ "$done" != "$JOBS" ] || [ "$dup" != 0 ]; then
        echo "$B_NAME: run $run: $done of $JOBS jobs done, $dup twice" >&2
        status=1
    fi
    wall_ms=$((t1 - t0))
    rate=$(awk -v n="$JOBS" -v ms="$wall_ms" 'BEGIN {printf "%d", n * 1000 / (ms > 0 ? ms : 1)}')
    steady=$(awk -v n="$JOBS" -v ms="$span_ms" 'BEGIN {printf "%d", n * 1000 / (ms > 0 ? ms : 1)}')
    printf 'run %d: %d jobs in %d ms: %d jobs/s (first dispatch to last result: %d jobs/s); peak RSS broker %d kB, worker %d kB; synchronous_commit=%s\n' \
        "$run" "$JOBS" "$wall_ms" "$rate" "$steady" "$broker_kb" "$worker_kb" "$sync_commit"
    rates+=("$rate")
    bsql "delete from crieur.attempt where job_id >= $first"
done
echo "crieur jobs/s: $(b_median "${rates[@]}") (median of $RUNS)"
exit $status
