#!/usr/bin/env bash
# Campaign burst: N posts of many clients, all due at the same second, through
# the whole system (PostgreSQL, crieur-broker, crieur-publisher, crieur-sandbox
# answering as seven platforms with a latency on every request). The sandbox's
# ledger (what the platforms received, with the arrival time in ms) and the
# database are the judges.
#
# usage: bench/burst.sh [--short] [--posts N] [--clients N] [--accounts-per-client N]
#                       [--latency-ms N] [--workers N] [--capacity N]
#                       [--sandbox-threads N] [--window-s N] [--interleave]
#                       [--empty-queue-stats] BUILD_DIR
#   (default)      three bursts: 1,000, 10,000 and 100,000 posts, 100 clients x 10 accounts
#   --short        300 and 2,000 posts, 20 clients (the test suite's form)
#   --posts N      one burst of N posts instead
#   --latency-ms N latency the sandbox adds to every platform request (default 50)
#   --workers N    publisher processes (default 3), --capacity N tasks each (default 600)
#   --window-s N   the platforms' rate windows, shortened to N s (default 30: at
#                  this machine's rate, Instagram's 50 posts per account are
#                  reached during the 100,000-post burst); the per-account
#                  limits keep the platforms' real numbers
#   --interleave   schedule the posts client after client interleaved (default: the
#                  posts of each client together, as one campaign after another)
#   --empty-queue-stats  ANALYZE the queue while it is empty before each burst, as
#                  autovacuum does after a burst or a quiet period: the claims then
#                  run on statistics that say crieur.job has no rows
# Environment: BURST_BROKER_ARGS, BURST_PUBLISHER_ARGS (extra options), B_KEEP=1
# (keep the database and the logs).
#
# Prints one table: burst size, last post published after the due second,
# lateness p50/p99/max (arrival of the publishing request at the sandbox minus
# the due time), p99 of the first request leaving (the worker starting the
# task), fairness between clients, duplicates, posts not published, 429
# answers / rate-limited attempts, peak RSS of the broker and the publishers,
# the burst's rate against the sandbox's own capacity (wrk, measured alone),
# and which targets are met. Missed targets are reported, not fatal; the exit
# status is non-zero on a duplicate, a lost post or a crashed process.
set -euo pipefail

SIZES="1000 10000 100000" CLIENTS=100 APC=10 LATENCY_MS=50 WORKERS=3 CAPACITY=600
SB_THREADS=4 WINDOW_S=30 INTERLEAVE=0 EMPTY_STATS=0 SHORT=0 BUILD=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --short) SHORT=1; SIZES="300 2000"; CLIENTS=20 ;;
        --posts) SIZES=$2; shift ;;
        --clients) CLIENTS=$2; shift ;;
        --accounts-per-client) APC=$2; shift ;;
        --latency-ms) LATENCY_MS=$2; shift ;;
        --workers) WORKERS=$2; shift ;;
        --capacity) CAPACITY=$2; shift ;;
        --sandbox-threads) SB_THREADS=$2; shift ;;
        --window-s) WINDOW_S=$2; shift ;;
        --interleave) INTERLEAVE=1 ;;
        --empty-queue-stats) EMPTY_STATS=1 ;;
        -h|--help) sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option: $1" >&2; exit 2 ;;
        *) BUILD=$1 ;;
    esac
    shift
done
[ -n "$BUILD" ] || { echo "usage: bench/burst.sh [options] BUILD_DIR" >&2; exit 2; }
for v in CLIENTS APC LATENCY_MS WORKERS CAPACITY SB_THREADS WINDOW_S; do
    [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 -o "$v" = LATENCY_MS ] ||
        { echo "burst: bad value for $v: ${!v}" >&2; exit 2; }
done
for n in $SIZES; do [[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] || { echo "burst: bad --posts $n" >&2; exit 2; }; done
for tool in curl jq psql; do
    command -v "$tool" >/dev/null || { echo "burst: missing tool: $tool" >&2; exit 2; }
done
BUILD=$(cd "$BUILD" && pwd)
B_NAME=burst
. "$(dirname "$0")/lib.sh"
unset "${!CRIEUR_SANDBOX_@}"
STATUS=0
say() { echo "# $*"; }

# ---- the platforms, their limits (real numbers, shortened windows) -----------
# One client's accounts cycle through the seven platforms, the same mix for
# every client (so that fairness compares the broker's treatment, not mixes).
PLATFORMS=(mastodon x bluesky facebook linkedin threads instagram)
W=$WINDOW_S
declare -A LIMIT=(   # posts per account per window, as the sandbox enforces them
    [mastodon]=300   # statuses per account (Mastodon: 300 / 3 h)
    [x]=100          # POST /2/tweets per user (X: 100 / 15 min)
    [bluesky]=1666   # 5000 write points, a post costs 3 (Bluesky: per hour)
    [facebook]=4800  # Graph calls per page, one per text post (per hour)
    [linkedin]=150   # posts per member (LinkedIn: per day)
    [threads]=250    # publications per account (Threads: rolling 24 h)
    [instagram]=50)  # publications per account (Instagram: rolling 24 h)
SB_LIMITS=(--mastodon-status-limit 300 --mastodon-status-window-s "$W"
           --mastodon-request-limit 300 --mastodon-request-window-s "$W"
           --x-tweet-limit 100 --x-tweet-window-s "$W"
           --bluesky-write-points 5000 --bluesky-write-window-s "$W" --bluesky-session-window-s "$W"
           --graph-call-limit 4800 --graph-call-window-s "$W"
           --linkedin-post-limit 150 --linkedin-app-limit 100000 --linkedin-window-s "$W" --linkedin-retry-after
           --threads-publish-limit 250 --threads-publish-window-s "$W"
           --instagram-publish-limit 50 --instagram-publish-window-s "$W"
           --instagram-container-delay-ms 0 --threads-container-delay-ms 0)

# ---- the sandbox's own capacity, measured alone --------------------------------
CONC=$((WORKERS * CAPACITY))
WRK_CONN=$((CONC > 1000 ? 1000 : CONC))
WRK_S=5; [ "$SHORT" = 1 ] && WRK_S=2
CAP_RPS=""
if command -v wrk >/dev/null; then
    if bash "$SRC/bench/sandbox_rps.sh" --duration "$WRK_S" --threads 2 --connections "$WRK_CONN" \
            --server-threads "$SB_THREADS" --latency-ms "$LATENCY_MS" "$BIN_SANDBOX" \
            >"$B_DIR/wrk.log" 2>&1; then :; else
        say "sandbox_rps.sh reported a failure (see below); its rate is kept as measured"
        tail -5 "$B_DIR/wrk.log" | sed 's/^/#   /'
    fi
    CAP_RPS=$(awk '/^requests\/s:/ {printf "%d", $2}' "$B_DIR/wrk.log")
fi
say "sandbox capacity alone: ${CAP_RPS:-n/a} requests/s (wrk -t2 -c$WRK_CONN -d${WRK_S}s, keep-alive," \
    "POST /mastodon/api/v1/statuses, --threads $SB_THREADS --latency-ms $LATENCY_MS)"

# ---- database, clients, accounts ------------------------------------------------
b_db
LIMITS_IN_DB=0
if [ "$(bsql "select count(*) from information_schema.columns where table_schema = 'crieur'
              and table_name = 'platform' and column_name in ('post_limit', 'post_window')")" = 2 ]; then
    for p in "${PLATFORMS[@]}"; do
        bsql "update crieur.platform set post_limit = ${LIMIT[$p]}, post_window = interval '$W seconds'
              where name = '$p'"
    done
    LIMITS_IN_DB=1
    # limits of the whole application, where the schema has them: the
    # sandbox has LinkedIn's (all members' calls), not X's
    if [ "$(bsql "select count(*) from information_schema.columns where table_schema = 'crieur'
                  and table_name = 'platform' and column_name in ('app_limit', 'app_window')")" = 2 ]; then
        bsql "update crieur.platform set app_limit = NULL, app_window = NULL;
              update crieur.platform set app_limit = 100000, app_window = interval '$W seconds' where name = 'linkedin'"
        LIMITS_IN_DB=2
    fi
fi
bsql "create table bench_account (cidx int, aidx int, id bigint, platform text, handle text,
                                  sb_handle text, token text, primary key (cidx, aidx));
      create table bench_ledger (burst int, platform text, account text, text text, idem text,
                                 created_at timestamptz);
      create table bench_burst (burst int primary key, size int, due timestamptz)"
bsql "select count(crieur.add_client(format('client%s', c))) from generate_series(0, $CLIENTS - 1) c" >/dev/null

t0=$(b_now_ms)
SB_PORT=$(b_free_port)
SANDBOX="http://127.0.0.1:$SB_PORT"
: >"$B_DIR/accounts.tsv"
for ((c = 0; c < CLIENTS; c++)); do
    for ((a = 0; a < APC; a++)); do
        if [ "$APC" -ge ${#PLATFORMS[@]} ]; then k=$((a % ${#PLATFORMS[@]})); else k=$(((a + c) % ${#PLATFORMS[@]})); fi
        p=${PLATFORMS[$k]}
        n=$((c * APC + a))
        sbh=$((100000 + n))          # numeric: a page, user or organization id
        handle=$sbh
        [ "$p" = bluesky ] && handle="$sbh.bsky.social"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$a" "$p" "$handle" "$sbh" "tok-$p-$sbh" >>"$B_DIR/accounts.tsv"
    done
done
# crieurctl seals each token (two at a time: one process per account)
awk -F'\t' '{print $1, $3, $4, $6}' "$B_DIR/accounts.tsv" |
    xargs -P 2 -L 1 sh -c 'TOK=$4 "$0" account add --client "client$1" --platform "$2" --handle "$3" \
        --instance "'"$SANDBOX"'/$2" --token-env TOK 2>&1 >/dev/null | grep -v "no refresh token given" || true' \
        "$BIN_CTL"
psql "$CRIEUR_DATABASE_URL" -Xq -v ON_ERROR_STOP=1 \
    -c "create temp table t (cidx int, aidx int, platform text, handle text, sb_handle text, token text)" \
    -c "\\copy t from '$B_DIR/accounts.tsv'" \
    -c "insert into bench_account select t.cidx, t.aidx, a.id, t.platform, t.handle, t.sb_handle, t.token
        from t join crieur.account a on a.platform = t.platform and a.handle = t.handle"
NACC=$(bsql "select count(*) from bench_account")
[ "$NACC" = $((CLIENTS * APC)) ] || { echo "burst: $NACC of $((CLIENTS * APC)) accounts created" >&2; exit 1; }
say "$CLIENTS clients x $APC accounts ($(bsql "select string_agg(platform || ' ' || n, ', ' order by platform)
     from (select platform, count(*) n from bench_account group by 1) x")) created with crieurctl in $(( ($(b_now_ms) - t0) / 1000 )) s"
if [ "$LIMITS_IN_DB" -ge 1 ]; then
    say "crieur.platform.post_limit/post_window set to the sandbox's limits (window $W s)$(
        [ "$LIMITS_IN_DB" = 2 ] && echo "; app_limit: LinkedIn 100000 per $W s, none elsewhere")"
else
    say "crieur.platform has no post_limit/post_window columns: limits not written to the database"
fi
say "per-account limits per ${W} s window: $(for p in "${PLATFORMS[@]}"; do printf '%s %s, ' "$p" "${LIMIT[$p]}"; done | sed 's/, $//')"
say "  (and Mastodon 300 requests per token, Bluesky 30 sessions per identifier; Instagram and Threads"
say "  containers ready at once; LinkedIn's 429s carry the sandbox's Retry-After hint)"

# The sandbox's accounts, registered by one curl process (keep-alive).
sb_register() {
    local cfg=$B_DIR/sb-accounts.curl
    awk -F'\t' -v url="$SANDBOX/_sandbox/accounts" '{
        if (NR > 1) print "next"
        printf "url = \"%s\"\nheader = \"content-type: application/json\"\n", url
        printf "data = \"{\\\"platform\\\":\\\"%s\\\",\\\"handle\\\":\\\"%s\\\",\\\"token\\\":\\\"%s\\\"}\"\n", $3, $5, $6
        printf "output = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\n" }' "$B_DIR/accounts.tsv" >"$cfg"
    local bad
    bad=$(curl -sS -K "$cfg" | grep -vc '^201$' || true)
    [ "$bad" = 0 ] || { echo "burst: $bad sandbox accounts were refused" >&2; exit 1; }
}

# CPU time (user + system, in clock ticks) of processes.
cpu_ticks() {
    local p t=0 v
    for p in "$@"; do
        v=$(awk '{sub(/^[0-9]+ \([^)]*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null || echo 0)
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
# The PostgreSQL backends serving this benchmark's database (the broker's).
db_pids() {
    bsql "select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()" | tr '\n' ' '
}
# Busy ticks of the whole machine (every process, ours or not).
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
HZ=$(getconf CLK_TCK)

declare -A PNAME=()   # pid -> name, for the messages
alive() { # PID...: all running, else report and fail
    local p
    for p in "$@"; do
        if ! kill -0 "$p" 2>/dev/null; then
            echo "burst: process $p (${PNAME[$p]:-?}) exited during the run" >&2
            return 1
        fi
    done
}

# ---- one burst -------------------------------------------------------------------
ROWS=()
NOTES=()
BURST=0
run_burst() {
    local n=$1 i
    BURST=$((BURST + 1))
    local tag="burst-$BURST-$n"
    say "burst $BURST: $n posts"
    # a fresh sandbox (rate windows, ledger), broker and publishers for each burst
    "$BIN_SANDBOX" --listen "127.0.0.1:$SB_PORT" --port-file "$B_DIR/sandbox-$BURST.port" \
        --threads "$SB_THREADS" --latency-ms "$LATENCY_MS" --ledger-file "$B_DIR/ledger-$BURST.jsonl" \
        "${SB_LIMITS[@]}" >"$B_DIR/sandbox-$BURST.log" 2>&1 &
    local sb_pid=$!
    B_PIDS+=($sb_pid)
    PNAME[$sb_pid]=sandbox
    for _ in $(seq 1 100); do [ -s "$B_DIR/sandbox-$BURST.port" ] && break; sleep 0.05; done
    [ -s "$B_DIR/sandbox-$BURST.port" ] || { echo "burst: the sandbox did not start" >&2; cat "$B_DIR/sandbox-$BURST.log" >&2; exit 1; }
    sb_register
    # shellcheck disable=SC2086
    b_broker "b$BURST-broker" --stats-interval-s 1 ${BURST_BROKER_ARGS:-}
    local broker_pid=$LAST_PID wpids=()
    PNAME[$broker_pid]=broker
    for ((i = 1; i <= WORKERS; i++)); do
        # shellcheck disable=SC2086
        b_publisher "b$BURST-worker$i" --capacity "$CAPACITY" ${BURST_PUBLISHER_ARGS:-}
        wpids+=($LAST_PID)
        PNAME[$LAST_PID]=publisher$i
    done
    local end=$((SECONDS + 30))
    until [ "$(bsql "select count(*) from crieur.worker where state = 'connected' and id like 'b$BURST-worker%'")" = "$WORKERS" ]; do
        alive "$sb_pid" "$broker_pid" "${wpids[@]}" || exit 1
        [ $SECONDS -lt $end ] || { echo "burst: the publishers did not connect in 30 s" >&2; exit 1; }
        sleep 0.1
    done

    # Schedule: every post due at the same whole second, a few seconds after
    # scheduling ends (scheduling runs at roughly 10,000 posts/s here).
    [ "$EMPTY_STATS" = 0 ] || bsql "analyze crieur.job"
    say "  crieur.job statistics before scheduling: $(bsql "select format('%s, %s',
        case when c.reltuples < 0 then 'no row estimate' else c.reltuples::bigint || ' rows estimated' end,
        coalesce('last analyzed ' || to_char(greatest(s.last_analyze, s.last_autoanalyze), 'HH24:MI:SS'), 'never analyzed'))
        from pg_class c join pg_stat_user_tables s on s.relid = c.oid where c.oid = 'crieur.job'::regclass")"
    local margin=$((5 + n / 5000))
    local due_s=$(( $(date +%s) + margin ))
    local order="g"
    [ "$INTERLEAVE" = 1 ] && order="g % $CLIENTS, g"
    local ts0 ts1 cpu0 pg_pids
    pg_pids=$(db_pids)
    # shellcheck disable=SC2086
    cpu0="$(cpu_ticks "$sb_pid") $(cpu_ticks "$broker_pid") $(cpu_ticks "${wpids[@]}") $(cpu_ticks $pg_pids) $(machine_ticks)"
    ts0=$(b_now_ms)
    bsql "select count(crieur.schedule_post(s.id,
                 format('Spring campaign, burst %s: post %s of client %s on %s %s', $BURST, s.g, s.cidx, s.platform, s.handle),
                 to_timestamp($due_s), '$tag', 'editorial',
                 case when s.platform = 'instagram' then format('https://img.example/burst/%s/%s.jpg', $BURST, s.g) end))
          from (select g, a.* from generate_series(0, $n - 1) g
                join bench_account a
                  on a.cidx = case when $INTERLEAVE = 1 then g % $CLIENTS else (g::bigint * $CLIENTS / $n)::int end
                 and a.aidx = case when $INTERLEAVE = 1 then (g / $CLIENTS) % $APC else g % $APC end
                order by $order) s" >/dev/null
    ts1=$(b_now_ms)
    bsql "insert into bench_burst values ($BURST, $n, to_timestamp($due_s))"
    local slack=$((due_s * 1000 - ts1))
    say "  scheduled $n posts in $((ts1 - ts0)) ms ($(( n * 1000 / (ts1 - ts0 > 0 ? ts1 - ts0 : 1) )) posts/s, one statement over crieur.schedule_post);" \
        "due $(date -u -d "@$due_s" +%H:%M:%S), $slack ms after the commit"
    [ "$slack" -ge 1000 ] || say "  WARNING: scheduling ended less than 1 s (the broker's look-ahead) before the due time"

    # Wait until no post of the burst is scheduled any more (bounded).
    local deadline=$((due_s + 120 + n / 1000)) left=1
    while :; do
        alive "$sb_pid" "$broker_pid" "${wpids[@]}" || { STATUS=1; break; }
        # (the queue holds only live jobs, and earlier bursts are over)
        left=$(bsql "select count(*) from crieur.job where kind = 'publish'")
        [ "$left" = 0 ] && break
        if [ "$(date +%s)" -ge "$deadline" ]; then
            say "  $left posts still scheduled $((deadline - due_s)) s after the due time: giving up"
            break
        fi
        sleep 0.5   # (the end is measured from the ledger: polling less costs less CPU)
    done
    local broker_kb worker_kb=0 wk=() k sbstats cpu1 wall_ms
    # shellcheck disable=SC2086
    cpu1="$(cpu_ticks "$sb_pid") $(cpu_ticks "$broker_pid") $(cpu_ticks "${wpids[@]}") $(cpu_ticks $pg_pids) $(machine_ticks)"
    wall_ms=$(($(b_now_ms) - ts0))
    CPU_NOTE=$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$HZ" -v ms="$wall_ms" -v ncpu="$(nproc)" 'BEGIN {
        split(a, x, " "); split(b, y, " "); split("sandbox broker publishers postgres-backend", nm, " ")
        printf "CPU seconds from scheduling to the end (%.1f s wall, %d cores): ", ms / 1000, ncpu
        ours = 0
        for (i = 1; i <= 4; i++) { d = (y[i] - x[i]) / hz; ours += d; printf "%s%s %.1f", (i > 1 ? ", " : ""), nm[i], d }
        all = (y[5] - x[5]) / hz
        printf "; the machine was busy %.1f s, %.1f s of it in other processes (this script, other work on the machine)", all, all - ours }')
    broker_kb=$(b_peak_kb "$broker_pid")
    for p in "${wpids[@]}"; do k=$(b_peak_kb "$p"); wk+=("$((k / 1024))"); [ "$k" -gt "$worker_kb" ] && worker_kb=$k; done
    sbstats=$(curl -fsS "$SANDBOX/_sandbox/stats" || echo '{}')
    b_stop_all
    # the broker's own rate-limit counters (if it has them), from its last stats line
    BROKER_RATE=$(grep ' stats: ' "$B_DIR/b$BURST-broker.log" | tail -1 | grep -o 'rate_[a-z_]*=[0-9]*' | tr '\n' ' ' || true)

    # The ledger: what the platforms received, with the arrival time.
    jq -r --arg b "$BURST" '[$b, .platform, .account, .text, (.idempotency_key // ""), .created_at] | @tsv' \
        "$B_DIR/ledger-$BURST.jsonl" | psql "$CRIEUR_DATABASE_URL" -Xq -c "\\copy bench_ledger from stdin"
    local s429 requests
    s429=$(jq -r '.by_status."429" // 0' <<<"$sbstats")
    requests=$(jq -r '.requests // 0' <<<"$sbstats")
    measure "$BURST" "$n" "$tag" "$broker_kb" "$worker_kb" "$s429" "$requests" "${wk[*]}"
}

# ---- measures of one burst --------------------------------------------------------
measure() {
    local b=$1 n=$2 tag=$3 broker_kb=$4 worker_kb=$5 s429=$6 requests=$7 wk=$8
    # the burst's posts and ledger entries as tables with fresh statistics (a
    # plan made on the previous burst's sizes can take minutes)
    bsql "set client_min_messages = warning; drop table if exists bench_p, bench_l, bench_j;
          create table bench_p as select id, client_id, account_id, body, status, last_error, scheduled_at as due
          from crieur.post where campaign = '$tag';
          create table bench_l as select text, min(created_at) as at, count(*) as n
          from bench_ledger where burst = $b group by text;
          analyze bench_ledger; analyze bench_p; analyze bench_l;
          create table bench_j as select p.id, p.client_id, extract(epoch from l.at - p.due) * 1000 as ms,
                 p.account_id in (select q.account_id from crieur.attempt a join bench_p q on q.id = a.ref_id
                                  where a.outcome = 'rate_limited') as limited
          from bench_p p join bench_l l on l.text = p.body;
          analyze bench_j"
    local published pub_ok last p50 p99 pmax p99n leave99 fair dup_text dup_key no_ledger ledger_only stuck rl peak
    IFS='|' read -r published pub_ok last p50 p99 pmax p99n < <(bsql "
        select (select count(*) from bench_p where status = 'published'),
               (select count(*) from bench_j),
               coalesce(round((select max(ms) from bench_j)::numeric / 1000, 2), 0),
               coalesce(round(percentile_cont(0.5) within group (order by ms)), 0),
               coalesce(round(percentile_cont(0.99) within group (order by ms)), 0),
               coalesce(round(max(ms)), 0),
               coalesce((select round(percentile_cont(0.99) within group (order by ms)) from bench_j where not limited), 0)
        from bench_j")
    leave99=$(bsql "select coalesce(round(percentile_cont(0.99) within group (order by ms)), 0)
        from (select extract(epoch from min(a.started_at) - min(p.due)) * 1000 as ms
              from crieur.attempt a join bench_p p on p.id = a.ref_id group by a.ref_id) x")
    local fair_min fair_max
    IFS='|' read -r fair fair_min fair_max < <(bsql "select coalesce(round((max(med) / greatest(min(med), 1))::numeric, 2), 0),
               coalesce(round(min(med)), 0), coalesce(round(max(med)), 0)
        from (select client_id, percentile_cont(0.5) within group (order by ms) as med
              from bench_j group by client_id) x")
    IFS='|' read -r dup_text dup_key < <(bsql "select count(*) - count(distinct text),
        count(nullif(idem, '')) - count(distinct nullif(idem, '')) from bench_ledger where burst = $b")
    no_ledger=$(bsql "select count(*) from bench_p p where status = 'published'
                      and not exists (select 1 from bench_l l where l.text = p.body)")
    ledger_only=$(bsql "select count(*) from bench_l l where not exists
                        (select 1 from bench_p p where p.body = l.text and p.status = 'published')")
    # still scheduled at the end with a job in the queue: deferred (counted as
    # not published, with the reason); without a job: lost
    stuck=$(bsql "select count(*) from bench_p p where status = 'scheduled'
                  and not exists (select 1 from crieur.job j where j.ref_id = p.id and j.kind = 'publish')")
    rl=$(bsql "select count(*) from crieur.attempt a join bench_p p on p.id = a.ref_id where a.outcome = 'rate_limited'")
    peak=$(bsql "select coalesce(max(c), 0) from (select count(*) c from bench_l group by date_trunc('second', at)) x")
    local span_ms rate req_rate frac
    span_ms=$(awk -v s="$last" 'BEGIN {printf "%d", s * 1000}')
    rate=$(awk -v n="$pub_ok" -v ms="$span_ms" 'BEGIN {printf "%d", (ms > 0 ? n * 1000 / ms : 0)}')
    req_rate=$(awk -v n="$requests" -v ms="$span_ms" 'BEGIN {printf "%d", (ms > 0 ? n * 1000 / ms : 0)}')
    frac="n/a"
    [ -n "$CAP_RPS" ] && [ "$CAP_RPS" -gt 0 ] && frac=$(awk -v r="$peak" -v c="$CAP_RPS" 'BEGIN {printf "%d%%", 100 * r / c}')
    local notpub=$((n - published))
    local dups=$((dup_text + dup_key)) lost=$((no_ledger + ledger_only + stuck))
    [ "$dups" = 0 ] && [ "$lost" = 0 ] || STATUS=1

    # targets: lateness by size, fairness, memory
    local met=() missed=() lat_t lat_v lat_name
    if [ "$n" -le 1000 ]; then lat_t=100; lat_v=$leave99; lat_name="left p99<=100ms"
    elif [ "$n" -le 10000 ]; then lat_t=1000; lat_v=$p99; lat_name="p99<1s"
    else lat_t=10000; lat_v=$p99; lat_name="p99<10s"; fi
    if [ "$n" -le 1000 ]; then
        if awk -v v="$lat_v" -v t="$lat_t" 'BEGIN {exit !(v <= t)}'; then met+=("$lat_name"); else missed+=("$lat_name"); fi
    else
        if awk -v v="$lat_v" -v t="$lat_t" 'BEGIN {exit !(v < t)}'; then met+=("$lat_name"); else missed+=("$lat_name"); fi
    fi
    if awk -v f="$fair" 'BEGIN {exit !(f < 1.5)}'; then met+=("fair<1.5"); else missed+=("fair<1.5"); fi
    if [ "$broker_kb" -lt 65536 ] && [ "$worker_kb" -lt 65536 ]; then met+=("mem<64MB"); else missed+=("mem<64MB"); fi
    local targets
    targets="met: $(IFS=,; echo "${met[*]:-none}")"
    [ ${#missed[@]} -gt 0 ] && targets+="; NOT met: $(IFS=,; echo "${missed[*]}")"
    ROWS+=("$(printf '%7d %8s %6s %6s %7s %7s %6s %5s %7s %9s %11s %7s %6s %5s  %s' \
        "$n" "$last" "$p50" "$p99" "$pmax" "$leave99" "$fair" "$dups" "$notpub" "$s429/$rl" \
        "$((broker_kb / 1024))/$((worker_kb / 1024))" "$rate" "$peak" "$frac" "$targets")")

    NOTES+=("$n posts: p99 of the posts of accounts never rate-limited ${p99n} ms; $requests platform requests ($req_rate/s, $(
        awk -v r="$requests" -v n="$pub_ok" 'BEGIN {printf "%.1f", (n ? r / n : 0)}') per post); workers' peak RSS: $wk MB")
    NOTES+=("$n posts: $CPU_NOTE")
    NOTES+=("$n posts: clients' median lateness from $fair_min ms (fastest client) to $fair_max ms (slowest)")
    [ -z "$BROKER_RATE" ] || NOTES+=("$n posts: the broker's rate limiting: ${BROKER_RATE% }")
    NOTES+=("$n posts: first requests left (tasks started) by +0.1/+0.5/+1/+2/+5 s after the due time: $(bsql "
        select string_agg(c::text, '/' order by t) from (select t, (select count(*) from
          (select min(a.started_at) - min(p.due) d from crieur.attempt a join bench_p p on p.id = a.ref_id
           group by a.ref_id) x where d <= t * interval '1 ms') c
          from unnest(array[100, 500, 1000, 2000, 5000]) t) y") of $n")
    if [ "$notpub" -gt 0 ]; then
        NOTES+=("$n posts: not published: $(bsql "
            select string_agg(format('%s %s%s%s', c, status, coalesce(' (' || e || ')', ''),
                                     case when nmin is not null then format(', next try %s..%s s after the due time', nmin, nmax) else '' end),
                              '; ' order by c desc)
            from (select status, e, count(*) c, min(next_s) nmin, max(next_s) nmax
                  from (select p.status,
                               coalesce((select format('%s %s: %s', ac.platform, a.outcome, left(a.detail, 60))
                                         from crieur.attempt a join crieur.account ac on ac.id = a.account_id
                                         where a.ref_id = p.id order by a.finished_at desc limit 1),
                                        left(p.last_error, 100)) e,
                               (select round(extract(epoch from j.run_at - p.due))
                                from crieur.job j where j.ref_id = p.id and j.kind = 'publish' limit 1) next_s
                        from bench_p p where p.status <> 'published') y
                  group by 1, 2 order by 3 desc limit 5) x")")
    fi
    [ "$dups" = 0 ] || NOTES+=("$n posts: FAIL: $dup_text texts and $dup_key idempotency keys twice in the ledger")
    [ "$lost" = 0 ] || NOTES+=("$n posts: FAIL: $no_ledger published without reaching the platform, $ledger_only on the platform but not published in the database, $stuck still scheduled")
    if [ "$rl" -gt 0 ]; then
        NOTES+=("$n posts: rate-limited attempts by platform: $(bsql "select string_agg(platform || ' ' || c, ', ')
                from (select ac.platform, count(*) c from crieur.attempt a join bench_p p on p.id = a.ref_id
                      join crieur.account ac on ac.id = p.account_id where a.outcome = 'rate_limited'
                      group by 1 order by 1) x")")
    fi
}

for n in $SIZES; do
    run_burst "$n"
    [ "$STATUS" = 0 ] || break
done

echo
echo "campaign burst: $CLIENTS clients x $APC accounts, latency ${LATENCY_MS} ms, $WORKERS publishers x capacity $CAPACITY," \
     "sandbox --threads $SB_THREADS, rate windows $W s"
printf '%7s %8s %6s %6s %7s %7s %6s %5s %7s %9s %11s %7s %6s %5s  %s\n' \
    posts last_s p50ms p99ms max_ms left99 fair dups not_pub 429/rl rss_b/w_MB post/s peak/s %cap targets
for r in "${ROWS[@]}"; do echo "$r"; done
echo "last_s: due second -> last post received by the sandbox; p50/p99/max: arrival of the publishing"
echo "request minus the due time; left99: p99 of the worker starting the task (first request leaving)"
echo "minus the due time; fair: slowest client's median lateness / fastest's (floor 1 ms; when the"
echo "medians are tens of ms, the ratio mostly shows the platforms' request chains); 429/rl: 429"
echo "answers of the sandbox / rate_limited attempts in crieur.attempt (Graph quotas answer 400);"
echo "post/s: posts over due -> last; peak/s: most posts received in one second, and as a share of"
echo "the sandbox's capacity alone (${CAP_RPS:-n/a} requests/s with wrk keep-alive; the publishers open a fresh"
echo "connection for every write to a platform without idempotency)."
for note in "${NOTES[@]}"; do echo "- $note"; done
[ "$STATUS" = 0 ] || echo "burst: FAILED (duplicates, lost posts or a crashed process)"
exit $STATUS
