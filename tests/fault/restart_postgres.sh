#!/usr/bin/env bash
# Fault 4: restart PostgreSQL (fast shutdown) mid-burst. The brokers lose
# their connection: workers stay connected, results wait in the brokers'
# memory and are written after reconnection, claims whose answer was lost are
# released by the next lease maintenance. Uses a private cluster (not the
# ctest fixture, which other tests share while running in parallel).
# Recovery = from the restart to the first dispatch of a job that could only
# have been claimed after it (due later than the restart + the look-ahead).
T_NAME=fault_restart_postgres
source "$(dirname "$0")/../harness/lib.sh"
source "$(dirname "$0")/fault_lib.sh"

# A private cluster in the test's folder (reachable by the server's user when
# the test runs as root), stopped before lib.sh's cleanup removes the folder.
chmod 755 "$T_DIR"
F_PGDIR=$T_DIR/pg
"$SRC/dev/pgcluster.sh" start "$F_PGDIR" >"$T_DIR/pg.env"
export CRIEUR_PG_ENV=$T_DIR/pg.env
trap 'f_rc=$?; "$SRC/dev/pgcluster.sh" stop "$F_PGDIR" >/dev/null 2>&1 || true
      cp "$F_PGDIR/server.log" "$T_DIR/postgres.log" 2>/dev/null || true; (exit $f_rc); t_cleanup' EXIT

t_db
f_cluster
f_accounts mastodon
f_burst
f_mid_burst

t0=$(now_ms)
"$SRC/dev/pgcluster.sh" restart "$F_PGDIR"
t_up=$(now_ms)
echo "# fault: PostgreSQL restarted (fast) at +$((t0 - F_START_MS)) ms into the burst; down for $((t_up - t0)) ms"

f_wait_done
f_verify

# Jobs due after the restart began + the look-ahead cannot have been claimed
# before it: their first dispatch shows when the brokers work again.
first=$(sql "select coalesce((extract(epoch from min(a.dispatched_at)) * 1000)::bigint - $t0, -1)
             from crieur.attempt a join crieur.post p on p.id = a.ref_id
             where p.scheduled_at > to_timestamp(($t0 + $F_LOOKAHEAD_MS) / 1000.0)")
echo "# PostgreSQL restart: recovery (restart -> first dispatch of work claimed after it): $first ms"
check "both brokers lost their connection and connected again" \
    [ "$(f_log_count "$T_DIR/b1.log" "database connection lost")" -ge 1 -a "$(f_log_count "$T_DIR/b1.log" "database connected")" -ge 2 \
      -a "$(f_log_count "$T_DIR/b2.log" "database connection lost")" -ge 1 -a "$(f_log_count "$T_DIR/b2.log" "database connected")" -ge 2 ]
# Jobs a broker held but had not dispatched when it lost the database are
# released (it may no longer own them); they are claimed again.
f_recovery "PostgreSQL restart, jobs released by the brokers" "$t0" "a.outcome = 'released'"
# Not one of the issue's targets: a sanity bound (reconnection backs off up to 5 s).
f_below "work dispatched again after the restart" "$first" 10000
f_finish
t_done
