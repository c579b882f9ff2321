#!/usr/bin/env bash
# Fault 6: pause a publisher (SIGSTOP) mid-burst for longer than the heartbeat
# limit (1 s x 3), then resume it (SIGCONT). The brokers declare it dead and
# dispatch its tasks again elsewhere (attempt + 1); when it wakes up, its
# results for the old attempts are fenced out (the brokers' stale counter)
# and change nothing: no second ok attempt, no duplicate on the platform.
# Target: as for a dead worker, its work is dispatched again within 5 s.
T_NAME=fault_pause_publisher
source "$(dirname "$0")/../harness/lib.sh"
source "$(dirname "$0")/fault_lib.sh"
PAUSE_S=${FAULT_PAUSE_S:-5}

t_db
f_cluster
f_accounts mastodon
f_burst
f_mid_burst

t0=$(now_ms)
f_kill STOP pub1
echo "# fault: SIGSTOP pub1 at +$((t0 - F_START_MS)) ms into the burst, for $PAUSE_S s"
sleep "$PAUSE_S"
f_kill CONT pub1

f_wait_done
f_verify

f_recovery "paused publisher" "$t0" "a.worker = 'pub1-$$' and a.error_code = 'worker_lost'"
check "the paused publisher had tasks in flight (released as worker_lost)" [ "$F_AFFECTED" -gt 0 ]
# The brokers log their counters every second: give the late results 5 s to
# show (not all of them always come: see below).
for _ in $(seq 1 25); do [ "$(f_broker_stat stale)" -ge "$F_AFFECTED" ] && break; sleep 0.2; done
stale=$(f_broker_stat stale)
echo "# late results fenced out by the brokers: stale=$stale (of $F_AFFECTED tasks released)"
# When the worker wakes up it may first presume the brokers dead (silent for
# longer than the limit) and close its sockets without linger: the results it
# had just written to them are lost, only those produced afterwards wait for
# the next WELCOME. Either way, none may change anything.
check "its late results were fenced out (brokers' stale counter > 0)" [ "$stale" -gt 0 ]
eq "no attempt of the paused worker is recorded after its release" 0 \
    "$(sql "select count(*) from crieur.attempt a where a.worker = 'pub1-$$' and a.dispatched_at < to_timestamp($t0 / 1000.0)
            and a.outcome <> 'indeterminate' and a.finished_at > to_timestamp(($t0 + 3000) / 1000.0)")"
rejoined() { kill -0 "$F_PID_pub1" && [ "$(f_log_count "$T_DIR/b1.log" "worker=pub1-$$ joined")" -ge 2 ] \
    && [ "$(f_log_count "$T_DIR/b2.log" "worker=pub1-$$ joined")" -ge 2 ]; }
check "the resumed publisher is alive and joined both brokers again" rejoined
f_below "paused worker's work dispatched again within 5 s" "$F_RECOVERY_MS" 5000
f_finish
t_done
