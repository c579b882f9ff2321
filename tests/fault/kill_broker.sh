#!/usr/bin/env bash
# Fault 2: SIGKILL one broker while it holds leases, mid-burst. The other
# broker takes its jobs over (a `lost` attempt each): when their leases
# expire (--lease-ms 4000), or sooner when it sees that the dead broker's
# database session is gone. Tasks the dead broker had sent to workers may
# have been published already: Mastodon's Idempotency-Key makes the second
# publication a no-op.
# Target: the dead broker's work is dispatched again within the lease.
T_NAME=fault_kill_broker
source "$(dirname "$0")/../harness/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

t_db
f_cluster
f_accounts mastodon
f_burst
f_mid_burst

held=$(sql "select count(*) from crieur.job where lease_owner = 'b1-$$'")
t0=$(now_ms)
f_kill KILL b1
echo "# fault: SIGKILL b1 at +$((t0 - F_START_MS)) ms into the burst, holding $held lease(s)"
F_BROKERS=(b2)

f_wait_done
f_verify

# The jobs taken over have a `lost` attempt each (by the surviving broker).
f_recovery "broker death" "$t0" "a.outcome = 'lost'"
check "the killed broker held leases that were taken over" [ "$F_AFFECTED" -gt 0 ]
eq "no job is left leased in the dead broker's name" 0 \
    "$(sql "select count(*) from crieur.job where lease_owner = 'b1-$$'")"
f_below "broker death recovered within the lease ($F_LEASE_MS ms)" "$F_RECOVERY_MS" "$F_LEASE_MS"
f_finish
t_done
