# Shared steps of the fault-injection tests (tests/fault/*.sh). Source it after
# tests/harness/lib.sh.
#
# Every test runs the same shape: a burst of F_POSTS posts over F_CLIENTS x
# F_PER_CLIENT accounts, due over F_SPREAD_MS, through 2 brokers and 3
# publishers (each connected to both brokers), against the sandbox with
# latency so that work is in flight when the fault hits. The sandbox's ledger
# is the judge: every post published exactly once, nothing lost, nothing
# duplicated, every attempt recorded.
#
# Figures are printed as lines starting with "# ".

F_POSTS=${FAULT_POSTS:-5000}
F_CLIENTS=${FAULT_CLIENTS:-5}
F_PER_CLIENT=${FAULT_PER_CLIENT:-10}
F_ACCOUNTS=$((F_CLIENTS * F_PER_CLIENT))
F_SPREAD_MS=${FAULT_SPREAD_MS:-5000}
F_LATENCY_MS=${FAULT_LATENCY_MS:-50}
F_LEASE_MS=${FAULT_LEASE_MS:-4000}
F_LOOKAHEAD_MS=${FAULT_LOOKAHEAD_MS:-500}
F_CAPACITY=${FAULT_CAPACITY:-128}
F_DONE_TIMEOUT_S=${FAULT_DONE_TIMEOUT_S:-60}

now_ms() { date +%s%3N; }
declare -A F_NAME_OF=()

# A number as a psql query gives it, or the fallback when the query fails
# (the database may be restarting).
sql_or() {
    local fallback=$1 v
    v=$(psql "$CRIEUR_DATABASE_URL" -XqAt -c "$2" 2>/dev/null) || v=$fallback
    echo "${v:-$fallback}"
}

# f_broker NAME EP [ARGS...]: starts (or restarts) broker NAME on endpoint EP
# with broker id NAME-$$; the log is appended to, so a restart keeps the
# history. Sets F_PID_<NAME>.
f_broker() {
    local name=$1 ep=$2; shift 2
    echo "=== start $(date +%T.%3N) ===" >>"$T_DIR/$name.log"
    "$BIN_BROKER" --bind "$ep" --broker-id "$name-$$" --stats-interval-s 1 "$@" >>"$T_DIR/$name.log" 2>&1 &
    T_PIDS+=($!)
    F_NAME_OF[$!]=$name
    printf -v "F_PID_$name" %s "$!"
}

# f_publisher NAME [ARGS...]: a publisher connected to every broker of
# F_BROKER_EPS (comma separated). Sets F_PID_<NAME>.
f_publisher() {
    local name=$1; shift
    "$BIN_PUBLISHER" --broker "$F_BROKER_EPS" --worker-id "$name-$$" --capacity "$F_CAPACITY" "$@" \
        >>"$T_DIR/$name.log" 2>&1 &
    T_PIDS+=($!)
    F_NAME_OF[$!]=$name
    printf -v "F_PID_$name" %s "$!"
}

# Number of lines of FILE matching the fixed string S since the last start
# marker (a restarted broker's log is appended to).
f_log_count() {
    [ -f "$1" ] || { echo 0; return; }
    awk -v s="$2" '/^=== start /{n=0} index($0, s){n++} END{print n+0}' "$1"
}

# True when every publisher has joined every running broker.
f_all_joined() {
    local b p
    for b in "${F_BROKERS[@]}"; do
        for p in "${F_PUBLISHERS[@]}"; do
            [ "$(f_log_count "$T_DIR/$b.log" "worker=$p-$$ joined")" -ge 1 ] || return 1
        done
    done
}

# f_cluster [BROKER ARGS...]: sandbox, 2 brokers, 3 publishers, all joined.
# Broker arguments come after the test's defaults (lease, look-ahead).
f_cluster() {
    t_sandbox --open --latency-ms "$F_LATENCY_MS" ${F_SANDBOX_ARGS:-}
    wait_for "the sandbox" 10 curl -fsS "$SANDBOX/_sandbox/health"
    F_BROKERS=(b1 b2)
    F_PUBLISHERS=(pub1 pub2 pub3)
    F_EP_b1="tcp://127.0.0.1:$(t_free_port)"
    F_EP_b2="tcp://127.0.0.1:$(t_free_port)"
    F_BROKER_ARGS=(--lease-ms "$F_LEASE_MS" --lookahead-ms "$F_LOOKAHEAD_MS" "$@")
    f_broker b1 "$F_EP_b1" "${F_BROKER_ARGS[@]}"
    f_broker b2 "$F_EP_b2" "${F_BROKER_ARGS[@]}"
    F_BROKER_EPS="$F_EP_b1,$F_EP_b2"
    f_publisher pub1
    f_publisher pub2
    f_publisher pub3
    if ! wait_for "3 publishers joined to both brokers" 20 f_all_joined; then
        echo "publisher --help says:"; "$BIN_PUBLISHER" --help 2>&1 | grep -A1 -- '--broker' || true
        exit 1
    fi
}

# f_accounts PLATFORM...: F_CLIENTS clients with F_PER_CLIENT accounts each,
# the platforms taken in turn. Accounts are added through the SQL interface
# (crieurctl does the same, one process per account).
f_accounts() {
    local plats=("$@") c a i=0 p
    [ ${#plats[@]} -gt 0 ] || plats=(mastodon)
    local q="begin;"
    for ((c = 1; c <= F_CLIENTS; c++)); do
        q+="select crieur.add_client('client$c', 'Europe/Paris');"
        for ((a = 1; a <= F_PER_CLIENT; a++)); do
            p=${plats[$((i % ${#plats[@]}))]}
            q+="select crieur.add_account('client$c', '$p', 'c${c}a${a}', '$SANDBOX/$p', 'token-$p-c${c}a${a}');"
            i=$((i + 1))
        done
    done
    q+="commit;"
    sql "$q" >/dev/null
    eq "$F_ACCOUNTS accounts" "$F_ACCOUNTS" "$(sql "select count(*) from crieur.account")"
}

# f_burst: schedules F_POSTS posts in one transaction, due evenly over
# F_SPREAD_MS from now, spread over every account. Sets F_START_MS.
f_burst() {
    F_START_MS=$(now_ms)
    sql "select crieur.schedule_post(a.id, format('fault test %s: post %s for %s', '$T_NAME', g, a.handle),
            now() + (g - 1) * ($F_SPREAD_MS.0 / $F_POSTS) * interval '1 millisecond')
         from generate_series(1, $F_POSTS) g
         join (select id, handle, row_number() over (order by id) - 1 as k from crieur.account) a
           on a.k = g % $F_ACCOUNTS" >/dev/null
    eq "$F_POSTS posts scheduled" "$F_POSTS" "$(sql "select count(*) from crieur.post")"
}

# f_wait_finished N S: waits up to S seconds until at least N posts are no
# longer scheduled.
f_finished_at_least() {
    [ "$(sql_or 0 "select count(*) from crieur.post where status <> 'scheduled'")" -ge "$1" ]
}
f_published_at_least() {
    [ "$(sql_or 0 "select count(*) from crieur.post where status = 'published'")" -ge "$1" ]
}

# f_mid_burst: waits until a fifth of the burst is published (the fault hits
# while most of it is due or in flight).
f_mid_burst() {
    wait_for "a fifth of the burst published" 30 f_published_at_least $((F_POSTS / 5))
}

# f_wait_done: waits until every post is finished (or the timeout). Sets
# F_END_MS and prints the burst time.
f_wait_done() {
    if ! wait_for "every post to finish" "$F_DONE_TIMEOUT_S" f_finished_at_least "$F_POSTS"; then
        echo "# posts not finished, by account, last error and when their job runs next:"
        sql_or "" "select a.handle, count(*), max(p.last_error), min(j.run_at) - now(), max(j.state)
                   from crieur.post p join crieur.account a on a.id = p.account_id
                   left join crieur.job j on j.ref_id = p.id and j.kind = 'publish'
                   where p.status = 'scheduled' group by 1 order by 2 desc limit 10" | sed 's/^/#   /'
    fi
    F_END_MS=$(now_ms)
    local last
    last=$(sql "select coalesce((extract(epoch from max(updated_at)) * 1000)::bigint, 0) from crieur.post where status <> 'scheduled'")
    F_BURST_MS=$((last - F_START_MS))
    echo "# burst: $F_POSTS posts over $F_ACCOUNTS accounts, due over $F_SPREAD_MS ms: $F_BURST_MS ms from scheduling to the last post done"
}

# Loads the sandbox's ledger into the test database as t_ledger.
f_load_ledger() {
    curl -fsS "$SANDBOX/_sandbox/ledger" >"$T_DIR/ledger.json"
    sql "set client_min_messages = warning; drop table if exists t_ledger;
         create table t_ledger (seq bigint, platform text, account text, id text, url text, body text, created_at timestamptz)"
    jq -r '.entries[] | [.seq, .platform, .account, .id, .url, .text, .created_at] | @tsv' "$T_DIR/ledger.json" \
        | psql "$CRIEUR_DATABASE_URL" -Xq -c "\\copy t_ledger from stdin"
}

# The judge. $1 (optional): SQL condition on crieur.post p of the posts that
# may end unpublished (the test made the platform refuse them: failed, or
# unconfirmed when the last outcome was unknown); all others must be
# published.
f_verify() {
    local may_fail=${1:-false}
    f_load_ledger
    local published refused unconfirmed_there
    published=$(sql "select count(*) from crieur.post where status = 'published'")
    refused=$(sql "select count(*) from crieur.post p where status <> 'published' and ($may_fail)")
    unconfirmed_there=$(sql "select count(*) from crieur.post p join t_ledger l on l.body = p.body where p.status = 'unconfirmed'")
    eq "every post published (or refused where the platform was made to refuse)" "$F_POSTS" $((published + refused))
    eq "no post left scheduled or in another state" 0 \
        "$(sql "select count(*) from crieur.post p where status <> 'published' and not ($may_fail)")"
    eq "no job left in the queue" 0 "$(sql "select count(*) from crieur.job")"
    eq "the ledger holds exactly the published posts (and unconfirmed ones it has)" $((published + unconfirmed_there)) \
        "$(sql "select count(*) from t_ledger")"
    eq "no post text appears twice in the ledger" 0 \
        "$(sql "select count(*) from (select body from t_ledger group by body having count(*) > 1) d")"
    # X's API returns no URL: the publisher builds it from the id
    eq "every published post is in the ledger with its id and url" "$published" \
        "$(sql "select count(*) from crieur.post p join t_ledger l on l.body = p.body
                where p.status = 'published' and l.id = p.platform_post_id
                  and (l.url = p.url or (l.platform = 'x' and p.url like 'https://%/status/' || l.id))")"
    eq "no failed post is in the ledger" 0 \
        "$(sql "select count(*) from crieur.post p join t_ledger l on l.body = p.body where p.status = 'failed'")"
    eq "every published post has exactly one ok attempt" "$published" \
        "$(sql "select count(*) from crieur.post p where p.status = 'published'
                and (select count(*) from crieur.attempt a where a.ref_id = p.id and a.outcome = 'ok') = 1")"
    eq "ok attempts are exactly the published posts" "$published" \
        "$(sql "select count(*) from crieur.attempt where outcome = 'ok'")"
    eq "every post has attempts recorded" "$F_POSTS" "$(sql "select count(distinct ref_id) from crieur.attempt")"
    eq "attempts are numbered 1..max without gaps, per job" 0 \
        "$(sql "select count(*) from (select job_id from crieur.attempt group by job_id
                having min(attempt) <> 1 or count(*) <> max(attempt)) x")"
    eq "each job's last attempt is the one that ended it" 0 \
        "$(sql "select count(*) from crieur.post p join lateral (select outcome from crieur.attempt a
                where a.ref_id = p.id order by attempt desc limit 1) l on true
                where (p.status = 'published') <> (l.outcome = 'ok')")"
    eq "no post was sent before its time" 0 \
        "$(sql "select count(*) from crieur.post p join t_ledger l on l.body = p.body
                where l.created_at < date_trunc('milliseconds', p.scheduled_at)")"
    echo "# lateness (platform receipt - due time): $(sql "select round(percentile_cont(0.5) within group (order by ms))::int || ' ms p50, '
            || round(percentile_cont(0.99) within group (order by ms))::int || ' ms p99, ' || max(ms)::int || ' ms max'
            from (select extract(epoch from (l.created_at - p.scheduled_at)) * 1000 as ms
                  from crieur.post p join t_ledger l on l.body = p.body) x")"
    if [ "$refused" != 0 ]; then
        echo "# $refused post(s) not published where the platform was made to refuse:"
        sql "select '#   ' || status || ': ' || last_error || ' (' || count(*) || ')' from crieur.post p
             where status <> 'published' group by status, last_error order by count(*) desc limit 5"
    fi
    echo "# attempts by outcome: $(sql "select string_agg(outcome || coalesce('/' || error_code, '') || '=' || n, ' ' order by n desc)
                                    from (select outcome, error_code, count(*) n from crieur.attempt group by 1, 2) x")"
}

# f_recovery WHAT T0 COND: the recovery time of the attempts selected by COND
# (on crieur.attempt a): the first dispatch of any next attempt of their jobs,
# minus T0 (ms). Sets F_AFFECTED (jobs) and F_RECOVERY_MS (-1: no next
# dispatch found).
f_recovery() {
    local what=$1 t0=$2 cond=$3
    F_AFFECTED=$(sql "select count(distinct a.job_id) from crieur.attempt a where $cond")
    F_RECOVERY_MS=$(sql "select coalesce((extract(epoch from min(n.dispatched_at)) * 1000)::bigint - $t0, -1)
                         from crieur.attempt a join crieur.attempt n on n.job_id = a.job_id and n.attempt > a.attempt
                         where $cond")
    local last
    last=$(sql "select coalesce((extract(epoch from max(f.d)) * 1000)::bigint - $t0, -1) from (
                  select min(n.dispatched_at) d from crieur.attempt a
                  join crieur.attempt n on n.job_id = a.job_id and n.attempt > a.attempt
                  where $cond group by a.job_id) f")
    echo "# $what: $F_AFFECTED job(s) affected; recovery (fault -> first dispatch of affected work again): $F_RECOVERY_MS ms; last affected job dispatched again after $last ms"
}

# Sum over the brokers' logs of the last value of a stats counter.
f_broker_stat() {
    local key=$1 total=0 b v
    for b in "${F_BROKERS[@]}"; do
        v=$(grep -o "stats: .* $key=[0-9]*" "$T_DIR/$b.log" 2>/dev/null | tail -1 | sed "s/.* $key=//")
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# f_kill SIGNAL NAME...: signals the processes started as NAME (f_broker,
# f_publisher); with KILL, also reaps them.
f_kill() {
    local sig=$1 n pid; shift
    for n in "$@"; do
        pid=F_PID_$n
        kill -"$sig" "${!pid}" 2>/dev/null || true
    done
    if [ "$sig" = KILL ]; then
        for n in "$@"; do pid=F_PID_$n; wait "${!pid}" 2>/dev/null || true; done
    fi
}

# f_finish: stops every process still running (workers, then brokers, then
# the sandbox) with SIGTERM and checks that each exits 0 and that no log holds
# a sanitizer report (with -DCRIEUR_SANITIZE=ON, leaks are reported at exit).
f_finish() {
    local i pid rc end bad="" alive=()
    for ((i = ${#T_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${T_PIDS[$i]}
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null || true
        alive+=("$pid")
    done
    for pid in "${alive[@]}"; do
        end=$((SECONDS + 20))
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.05; done
        kill -KILL "$pid" 2>/dev/null || true
        rc=0
        wait "$pid" 2>/dev/null || rc=$?
        [ "$rc" = 0 ] || bad+=" ${F_NAME_OF[$pid]:-sandbox}:exit=$rc"
    done
    eq "every process still running stopped cleanly on SIGTERM" "" "$bad"
    eq "no sanitizer report in any log" "" \
        "$(grep -l 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$T_DIR"/*.log 2>/dev/null | xargs -r -n1 basename | tr '\n' ' ')"
}

# A check on a number: f_below WHAT VALUE LIMIT (0 <= VALUE < LIMIT).
f_below() {
    local what=$1 v=$2 lim=$3
    if [ "$v" -ge 0 ] && [ "$v" -lt "$lim" ]; then
        T_PASS=$((T_PASS + 1)); echo "ok - $what ($v ms < $lim ms)"
    else
        T_FAIL=$((T_FAIL + 1)); echo "FAIL - $what: $v ms, target < $lim ms"
    fi
}
