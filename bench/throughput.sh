#!/usr/bin/env bash
# Raw queue throughput: no-op jobs through the whole path (PostgreSQL claim,
# broker, ZeroMQ, a publisher that acknowledges them, results written back),
# with durable commits (synchronous_commit on, the server's default).
#
# usage: bench/throughput.sh [--short] [--jobs N] [--runs N] [--brokers N] [--workers N]
#                            [--capacity N] [--claim-batch N] [--task-batch N]
#                            [--future N] [--history N] BUILD_DIR
#   --short        20,000 jobs, one run (the test suite's form)
#   --jobs N       no-op jobs due now, per run (default 300,000)
#   --runs N       runs; the table shows each and the median (default 1)
#   --brokers N    brokers sharing the queue (active-active), each with its own
#                  database session; every worker connects to all of them
#   --workers N    publishers (default 1)
#   --future N     also N jobs due in a year (a full queue) ...
#   --history N    ... and N finished jobs in the history (attempt rows)
#   --hot-table N  runs on the empty database, then fills N future jobs and N
#                  finished ones and runs again: prints both and the ratio
# Prints one line per run and a summary line "crieur jobs/s: N (median)".
# Exits non-zero if a job was lost (not done), done twice, or a process failed.
set -euo pipefail

JOBS=300000 RUNS=1 BROKERS=1 WORKERS=1 CAPACITY=5000 CLAIM_BATCH=2000 TASK_BATCH=500 FUTURE=0 HISTORY=0 HOT=0
BUILD=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --short) JOBS=20000 ;;
        --jobs) JOBS=$2; shift ;;
        --runs) RUNS=$2; shift ;;
        --brokers) BROKERS=$2; shift ;;
        --workers) WORKERS=$2; shift ;;
        --capacity) CAPACITY=$2; shift ;;
        --claim-batch) CLAIM_BATCH=$2; shift ;;
        --task-batch) TASK_BATCH=$2; shift ;;
        --future) FUTURE=$2; shift ;;
        --history) HISTORY=$2; shift ;;
        --hot-table) HOT=$2; shift ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
# fill FUTURE HISTORY: a full queue and a long history
fill() {
    echo "# filling: $1 future jobs, $2 finished jobs in the history (takes a while)" >&2
    local t0
    t0=$(b_now_ms)
    # history: what finished jobs leave behind (their job rows are gone);
    # the queue's ids continue after them, as they would have
    bsql "insert into crieur.attempt (job_id, attempt, kind, broker, worker, dispatched_at,
                                      started_at, finished_at, outcome)
          select g, 1, 'noop', 'history', 'history', now() - interval '1 day',
                 now() - interval '1 day', now() - interval '1 day', 'ok'
          from generate_series(1, $2) g"
    bsql "select setval(pg_get_serial_sequence('crieur.job', 'id'),
                        greatest((select coalesce(max(job_id), 1) from crieur.attempt),
                                 (select coalesce(max(id), 1) from crieur.job)))" >/dev/null
    # future jobs: a year ahead, never claimed during the run
    bsql "insert into crieur.job (kind, run_at, max_attempts)
          select 'noop', now() + interval '365 days' + g * interval '1 ms', 3
          from generate_series(1, $1) g"
    bsql "vacuum analyze crieur.job; vacuum analyze crieur.attempt" 2>/dev/null || true
    # the gigabytes just written are flushed now, not by a checkpoint during the run
    bsql "checkpoint" 2>/dev/null || echo "# (could not run CHECKPOINT: not a superuser; the next run may pay for it)" >&2
    echo "# filled in $(( ($(b_now_ms) - t0) / 1000 )) s: $(bsql "select pg_size_pretty(pg_total_relation_size('crieur.job'))") of queue, $(bsql "select pg_size_pretty(pg_total_relation_size('crieur.attempt'))") of history" >&2
}
if [ "$FUTURE" -gt 0 ] || [ "$HISTORY" -gt 0 ]; then fill "$FUTURE" "$HISTORY"; fi

# measure LABEL: RUNS runs; sets MEDIAN
measure() {
local label=$1 run rates=()
for run in $(seq 1 "$RUNS"); do
    bsql "insert into crieur.job (kind, run_at, max_attempts)
          select 'noop', now(), 3 from generate_series(1, $JOBS)"
    bsql "vacuum analyze crieur.job" 2>/dev/null || true
    first=$(bsql "select min(id) from crieur.job where kind = 'noop' and run_at < now() + interval '1 day'")
    t0=$(b_now_ms)
    bpids=() eps=()
    for b in $(seq 1 "$BROKERS"); do
        b_broker "broker$b" --claim-batch "$CLAIM_BATCH" --task-batch "$TASK_BATCH" --stats-interval-s 1
        bpids+=($LAST_PID)
        eps+=("$BROKER_EP")
    done
    wpids=()
    for w in $(seq 1 "$WORKERS"); do
        BROKER_EP=$(IFS=,; echo "${eps[*]}")
        b_publisher "worker$w" --capacity "$CAPACITY"
        wpids+=($LAST_PID)
    done
    # until no due job is left (bounded: 10 minutes)
    end=$((SECONDS + 600))
    while :; do
        # an index probe, not a count: the poll must not load the server
        left=$(bsql "select exists (select 1 from crieur.job where id >= $first and run_at < now() + interval '1 day')")
        [ "$left" = f ] && break
        if [ $SECONDS -ge $end ]; then echo "$B_NAME: jobs still queued after 10 minutes" >&2; status=1; break; fi
        for p in "${bpids[@]}" "${wpids[@]}"; do
            kill -0 "$p" 2>/dev/null || { echo "$B_NAME: process $p exited during the run" >&2; exit 1; }
        done
        sleep 0.1
    done
    t1=$(b_now_ms)
    # CPU time of the broker's database session (a server on this host): the
    # cost of the SQL per job, whatever else the machine was doing
    ticks=0 db_us="?"
    for spid in $(bsql "select pid from pg_stat_activity where application_name like 'crieur-broker:broker%-$$'"); do
        [ -r "/proc/$spid/stat" ] || { ticks=""; break; }
        ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$spid/stat")))
    done
    [ -n "$ticks" ] && db_us=$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$JOBS" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}')
    broker_kb=0
    for p in "${bpids[@]}"; do k=$(b_peak_kb "$p"); [ "$k" -gt "$broker_kb" ] && broker_kb=$k; done
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
    printf '%s run %d (%d broker(s), %d worker(s)): %d jobs in %d ms: %d jobs/s (first dispatch to last result: %d jobs/s); database sessions CPU %s us/job; peak RSS broker %d kB, worker %d kB; synchronous_commit=%s\n' \
        "$label" "$run" "$BROKERS" "$WORKERS" "$JOBS" "$wall_ms" "$rate" "$steady" "$db_us" "$broker_kb" "$worker_kb" "$sync_commit"
    rates+=("$rate")
    bsql "delete from crieur.attempt where job_id >= $first"
done
MEDIAN=$(b_median "${rates[@]}")
}

status=0
if [ "$HOT" -gt 0 ]; then
    measure "empty database:"
    empty=$MEDIAN
    fill "$HOT" "$HOT"
    measure "$HOT future + $HOT finished:"
    full=$MEDIAN
    echo "crieur jobs/s: $empty on an empty database, $full with $HOT future jobs and $HOT finished ones (median of $RUNS each)"
    awk -v e="$empty" -v f="$full" 'BEGIN {printf "hot table: %.1f %% of the empty database'"'"'s throughput (target: within 10 %%)\n", 100 * f / (e > 0 ? e : 1)}'
else
    measure ""
    echo "crieur jobs/s: $MEDIAN (median of $RUNS)"
fi
exit $status
