#!/usr/bin/env bash
# Fault 1: SIGKILL one publisher while it has tasks in flight, mid-burst.
# The brokers see it silent for heartbeat x liveness (1 s x 3), release its
# in-flight tasks as indeterminate (worker_lost) and dispatch them again at
# once to the other publishers; Mastodon's Idempotency-Key makes the second
# publication of a post the platform already accepted a no-op.
# Target: the killed worker's work is dispatched again within 5 s.
T_NAME=fault_kill_publisher
source "$(dirname "$0")/../harness/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

t_db
f_cluster
f_accounts mastodon
f_burst
f_mid_burst

t0=$(now_ms)
f_kill KILL pub1
echo "# fault: SIGKILL pub1 at +$((t0 - F_START_MS)) ms into the burst"

f_wait_done
f_verify

f_recovery "publisher death" "$t0" "a.worker = 'pub1-$$' and a.error_code = 'worker_lost'"
check "the killed publisher had tasks in flight (released as worker_lost)" [ "$F_AFFECTED" -gt 0 ]
f_below "worker death recovered within 5 s" "$F_RECOVERY_MS" 5000
f_finish
t_done
