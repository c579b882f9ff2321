#!/usr/bin/env bash
# Fault 3: SIGKILL every broker mid-burst, then start them again with the same
# --broker-id and --bind. Start-up recovery (crieur.broker_recover) puts back
# in the queue at once what each id held (a `lost` attempt each) instead of
# waiting for the leases to expire (a broker that comes back first may also
# take over the other's jobs, its session being gone); the publishers
# reconnect to the same endpoints by themselves. Tasks already on workers may
# have been published: Mastodon's Idempotency-Key makes the second
# publication a no-op.
# Target: the work is dispatched again within the lease (start-up recovery
# does not wait for it).
T_NAME=fault_kill_all_brokers
source "$(dirname "$0")/../harness/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

t_db
f_cluster
f_accounts mastodon
f_burst
f_mid_burst

held=$(sql "select count(*) from crieur.job where state = 'leased'")
t0=$(now_ms)
f_kill KILL b1 b2
echo "# fault: SIGKILL b1 and b2 at +$((t0 - F_START_MS)) ms into the burst, holding $held lease(s)"
f_broker b1 "$F_EP_b1" "${F_BROKER_ARGS[@]}"
f_broker b2 "$F_EP_b2" "${F_BROKER_ARGS[@]}"
t_up=$(now_ms)
echo "# brokers started again $((t_up - t0)) ms after the kill"

f_wait_done
f_verify

f_recovery "death of every broker" "$t0" "a.outcome = 'lost'"
check "the brokers held leases that were taken back" [ "$F_AFFECTED" -gt 0 ]
echo "# lost attempts: $(sql "select string_agg(detail || ' = ' || n, '; ') from (select detail, count(*) n from crieur.attempt where outcome = 'lost' group by 1) x")"
check "start-up recovery took jobs back" [ "$(sql "select count(*) from crieur.attempt where outcome = 'lost' and detail = 'broker restarted while holding the job'")" -gt 0 ]
took=$(sql "select coalesce((extract(epoch from max(finished_at)) * 1000)::bigint - $t0, -1) from crieur.attempt where outcome = 'lost'")
f_below "every job held was taken back without waiting for its lease" "$took" "$F_LEASE_MS"
check "the publishers joined the restarted brokers" f_all_joined
f_below "restart of every broker recovered within the lease ($F_LEASE_MS ms)" "$F_RECOVERY_MS" "$F_LEASE_MS"
f_finish
t_done
