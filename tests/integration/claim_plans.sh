#!/usr/bin/env bash
# The broker's cycle reaches the queue by primary key, whatever the planner
# believes about the queue's size (migration 009).
#
# One session, as a broker's: cycles run while the queue is empty and its
# statistics say so (ANALYZE of the empty queue, as autovacuum does after a
# burst), so that PL/pgSQL keeps plans made for an empty table; then 10,000
# jobs come due and the same session claims 1,000, applies their results
# with its known jobs, renews 1,000 leases and takes over 1,000 expired
# leases of another broker. auto_explain prints the plans that ran, with
# their actual row counts, and they are checked, not timed:
#   - no scan of crieur.job repeated per row (loops > 1) reads more than the
#     row it looks for (before 009: the whole queue once per claimed job,
#     once per result);
#   - no nested loop discards a queue's worth of pairs in its join filter
#     (before 009: the queue against the 1,000 claimed ids, 10 million pairs);
#   - the claim's UPDATE reads crieur.job through job_pkey only.
T_NAME=claim_plans
source "$(dirname "$0")/../harness/lib.sh"
t_db

QUEUE=10000
BATCH=1000
sql "select crieur.add_client('acme', 'UTC')" >/dev/null
acc=$(sql "select crieur.add_account('acme', 'mastodon', 'alice', 'http://127.0.0.1:1/mastodon', 'tok')")

# A marker in the same stream as auto_explain's notices.
step() { echo "do \$\$ begin raise notice 'STEP $1'; end \$\$;"; }
{
    echo "\\set ON_ERROR_STOP 1"
    echo "set client_min_messages = notice;"
    # the queue is empty, and ANALYZE says so
    echo "analyze crieur.job;"
    # a broker's quiet cycles: claims, results (for a job that does not
    # exist: fenced out), lease renewal and reaping, on the empty queue
    for _ in $(seq 1 8); do
        echo "select count(*) from crieur.broker_cycle('b1', '[{\"j\":0,\"a\":1,\"o\":\"ok\"}]', $BATCH, 0, 60000, '{}', 2000, true);"
    done
    # the burst: QUEUE posts due in a second
    echo "select count(crieur.schedule_post($acc, 'post ' || g, now() + interval '1 second')) from generate_series(1, $QUEUE) g;"
    echo "select pg_sleep(1.1);"
    echo "load 'auto_explain';"
    echo "set auto_explain.log_min_duration = 0;"
    echo "set auto_explain.log_analyze = on;"
    echo "set auto_explain.log_timing = off;"
    echo "set auto_explain.log_nested_statements = on;"
    echo "set auto_explain.log_level = notice;"
    step claim
    echo "select count(*) as claimed from crieur.broker_cycle('b1', null, $BATCH, 0, 60000, null) where job_id is not null \\gset"
    step end
    # results for the claimed jobs, half published, half to retry
    echo "select json_agg(json_build_object('j', id, 'a', attempt, 'o', case when id % 2 = 0 then 'ok' else 'transient' end))::text as res
          from crieur.job where state = 'leased' and lease_owner = 'b1' \\gset"
    step results
    echo "select applied || ' ' || stale as applied from crieur.broker_cycle('b1', :'res', 0, 0, 60000, '{}', 2000, false) where job_id is null \\gset"
    step end
    echo "select count(*) as claimed2 from crieur.broker_cycle('b1', null, $BATCH, 0, 1000, null) where job_id is not null \\gset"
    echo "select array_agg(id)::text as known from crieur.job where state = 'leased' and lease_owner = 'b1' \\gset"
    step renew
    echo "select count(*) from crieur.broker_cycle('b1', null, 0, 0, 60000, :'known', 2000, false);"
    step end
    # another broker's leases expire: b1 takes them over
    echo "update crieur.job set lease_owner = 'b-lost', lease_expires_at = now() - interval '1 second' where state = 'leased';"
    step reap
    echo "select count(*) from crieur.broker_cycle('b1', null, 0, 0, 60000, '{}', 2000, true);"
    step end
    echo "\\echo claimed=:claimed applied=:applied claimed2=:claimed2"
} >"$T_DIR/session.sql"

start=$SECONDS
psql "$CRIEUR_DATABASE_URL" -XqAt -f "$T_DIR/session.sql" >"$T_DIR/session.out" 2>"$T_DIR/plans.log" ||
    { cat "$T_DIR/session.out" "$T_DIR/plans.log" | tail -40; exit 1; }
echo "# the session took $((SECONDS - start)) s"

eq "the session claimed a batch, applied its results and claimed another" \
    "claimed=$BATCH applied=$BATCH 0 claimed2=$BATCH" "$(tail -1 "$T_DIR/session.out")"
eq "half the posts published" $((BATCH / 2)) "$(sql "select count(*) from crieur.post where status = 'published'")"
eq "the other half recorded as transient failures, their jobs kept" "$((BATCH / 2)) $((QUEUE - BATCH / 2))" \
    "$(sql "select (select count(*) from crieur.attempt where outcome = 'transient') || ' ' || count(*) from crieur.job")"
eq "the expired leases were taken over, each recorded as a lost attempt of its broker" \
    "$BATCH b-lost" "$(sql "select count(*) || ' ' || min(broker) from crieur.attempt where outcome = 'lost'")"
eq "no job is leased any more" 0 "$(sql "select count(*) from crieur.job where state = 'leased'")"

# The plans, step by step.
python3 - "$T_DIR/plans.log" "$QUEUE" >"$T_DIR/check.out" <<'PY' || true
import re, sys
log, queue = sys.argv[1], int(sys.argv[2])
steps = {}          # step -> list of (query text, [plan lines])
step, cur = None, None
for line in open(log, encoding='utf-8', errors='replace'):
    line = line.rstrip('\n')
    m = re.search(r'NOTICE:\s+(.*)$', line)
    if m:
        cur = None
        body = m.group(1)
        s = re.match(r'STEP (\w+)', body)
        if s:
            step = None if s.group(1) == 'end' else s.group(1)
            if step:
                steps.setdefault(step, [])
        elif body.startswith('duration:') and step:
            cur = ['', []]
            steps[step].append(cur)
        continue
    if cur is None:
        continue
    if not cur[1] and not re.search(r'\(cost=', line):
        cur[0] += line + '\n'       # the query text
    else:
        cur[1].append(line)

scan = re.compile(r'(Seq Scan|Index Scan using (\w+)|Index Only Scan using (\w+)|Bitmap Heap Scan|Tid Scan) on job\b')
actual = re.compile(r'\(actual (?:time=\S+ )?rows=(\d+) loops=(\d+)\)')
problems = []
for name, plans in steps.items():
    nplans = 0
    for text, lines in plans:
        if not lines:
            continue
        nplans += 1
        head = text.strip().splitlines()[0][:70] if text.strip() else '?'
        node = None      # (description, rows, loops, is job scan)
        joinfilter = 0
        def close(node):
            if node and node[3] and node[2] > 1 and node[1] + node[4] > 1:
                problems.append(f'{name}: {node[0]!r} reads {node[1] + node[4]} rows per loop, {node[2]} loops  [{head}]')
        for l in lines:
            if '(cost=' in l:
                close(node)
                a = actual.search(l)
                rows, loops = (int(a.group(1)), int(a.group(2))) if a else (0, 0)
                node = [l.strip(), rows, loops, bool(scan.search(l)), 0]
                continue
            f = re.search(r'Rows Removed by Filter: (\d+)', l)
            if f and node:
                node[4] = int(f.group(1))
            j = re.search(r'Rows Removed by Join Filter: (\d+)', l)
            if j and node:
                joinfilter += int(j.group(1)) * max(node[2], 1)
        close(node)
        if joinfilter >= queue:
            problems.append(f'{name}: nested loops discard {joinfilter} pairs in their join filters  [{head}]')
        if name == 'claim' and "state = 'leased'" in text and 'UPDATE crieur.job' in text:
            reads = [l.strip() for l in lines if scan.search(l)]
            print(f'claim update reads crieur.job by: {reads}')
            if not reads or any('job_pkey' not in r and 'Bitmap Heap Scan' not in r for r in reads) \
               or ('Bitmap Heap Scan' in ' '.join(reads) and 'Bitmap Index Scan on job_pkey' not in '\n'.join(lines)):
                problems.append(f'claim: the UPDATE does not read crieur.job through job_pkey: {reads}')
            print('claim update plan found')
    print(f'{name}: {nplans} plans')
for p in problems:
    print('PROBLEM ' + p)
PY
cat "$T_DIR/check.out"
for s in claim results renew reap; do
    check "plans of the $s step were captured" grep -Eq "^$s: [1-9][0-9]* plans" "$T_DIR/check.out"
done
check "the claim's UPDATE was seen" grep -q '^claim update plan found' "$T_DIR/check.out"
eq "no scan of the queue per row, no quadratic join filter, the claim by job_pkey" "" \
    "$(grep '^PROBLEM' "$T_DIR/check.out" | head -20)"
t_done
