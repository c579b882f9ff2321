#!/usr/bin/env bash
# A private PostgreSQL cluster in a folder of the project, for the demo and the tests.
#
#   dev/pgcluster.sh start DIR [PORT]   initialise (first time) and start; prints the conninfo
#   dev/pgcluster.sh stop DIR           fast shutdown
#   dev/pgcluster.sh url DIR            prints the conninfo of a started cluster
#
# PostgreSQL refuses to run as root: as root, the cluster runs as the
# unprivileged 'postgres' system user (created by Debian's package), or as
# 'nobody' when that user does not exist. The server listens only on a Unix
# socket inside DIR and on 127.0.0.1:PORT, with trust authentication, so it is
# reachable only from this machine.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|url DIR [PORT]" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# As root, the server runs as an unprivileged user that must reach the
# folder; when a parent folder is private (a home directory), the cluster
# lives under /var/tmp instead and DIR/location says where.
if [ -f "$dir/location" ]; then
    dir=$(cat "$dir/location")
    mkdir -p "$dir"
elif [ "$(id -u)" = 0 ] && [ "$cmd" = start ]; then
    u=postgres; id -u postgres >/dev/null 2>&1 || u=nobody
    if ! runuser -u "$u" -- test -x "$dir" 2>/dev/null; then
        alt=/var/tmp/crieur-pg-$(echo "$dir" | md5sum | cut -c1-12)
        echo "pgcluster: $u cannot reach $dir (a parent folder is private); the cluster lives in $alt" >&2
        echo "$alt" > "$dir/location"
        dir=$alt
        mkdir -p "$dir"
    fi
fi

pgbin=""
for v in 17 16 15; do
    if [ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ]; then pgbin=/usr/lib/postgresql/$v/bin; break; fi
done
[ -n "$pgbin" ] || { echo "pgcluster: PostgreSQL server binaries not found; install postgresql-15 (apt-get install postgresql-15)" >&2; exit 3; }

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        local u=postgres
        id -u postgres >/dev/null 2>&1 || u=nobody
        runuser -u "$u" -- "$@"
    else
        "$@"
    fi
}

url() {
    local port
    port=$(cat "$dir/port")
    echo "host=$dir/run port=$port user=crieur dbname=crieur"
}

case "$cmd" in
start)
    port=${3:-}
    if [ -z "$port" ]; then
        if [ -f "$dir/port" ]; then port=$(cat "$dir/port"); else
            # a free port: ask the kernel
            port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
        fi
    fi
    echo "$port" > "$dir/port"
    if [ "$(id -u)" = 0 ]; then
        owner=postgres; id -u postgres >/dev/null 2>&1 || owner=nobody
        chown "$owner" "$dir"
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner mkdir -p "$dir/data" "$dir/run"
        as_owner "$pgbin/initdb" -D "$dir/data" -U crieur -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { echo "pgcluster: initdb failed, see $dir/initdb.log" >&2; cat "$dir/initdb.log" >&2; exit 3; }
    fi
    as_owner mkdir -p "$dir/run"
    if as_owner "$pgbin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        url; exit 0
    fi
    as_owner "$pgbin/pg_ctl" -D "$dir/data" -w -t 60 -l "$dir/server.log" \
        -o "-p $port -k $dir/run -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB -c fsync=on -c synchronous_commit=on" \
        start >/dev/null || { echo "pgcluster: server did not start, see $dir/server.log" >&2; tail -20 "$dir/server.log" >&2; exit 3; }
    for _ in $(seq 1 50); do
        if psql "$(url) dbname=postgres" -XtAqc 'select 1' >/dev/null 2>&1; then break; fi
        sleep 0.1
    done
    psql "$(url) dbname=postgres" -XtAqc "select 1 from pg_database where datname='crieur'" | grep -q 1 \
        || psql "$(url) dbname=postgres" -XqAc "create database crieur" >/dev/null
    url
    ;;
stop)
    [ -f "$dir/data/PG_VERSION" ] || exit 0
    as_owner "$pgbin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
restart)
    as_owner "$pgbin/pg_ctl" -D "$dir/data" -m fast -w -l "$dir/server.log" restart >/dev/null
    ;;
url)
    url
    ;;
*)
    echo "usage: $0 start|stop|restart|url DIR [PORT]" >&2; exit 2;;
esac
