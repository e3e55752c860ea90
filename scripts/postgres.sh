#!/usr/bin/env bash
# Starts and stops a throw-away PostgreSQL server from Debian's `postgresql` package on loopback,
# for tests, `make cluster` and benchmarks.
#
#   scripts/postgres.sh start [PORT] [DIR]  start (or restart on the same PORT and DIR; PORT may be "");
#                                           prints "port=PORT pid=PID dir=DIR" on stdout
#   scripts/postgres.sh stop PID            stop the server started with that pid (fast shutdown)
#   scripts/postgres.sh url PORT [DB]       prints the ledger.postgresql.url for that server
#   scripts/postgres.sh standby PRIMARY_PORT NAME [PORT] [DIR]
#                                           copies the server on PRIMARY_PORT (pg_basebackup) and starts
#                                           the copy as its streaming standby, whose application_name is
#                                           NAME (for synchronous_standby_names); prints like start
#   scripts/postgres.sh promote DIR         promotes the standby whose directory is DIR to a primary
#
# PORT defaults to a free loopback port, DIR to a new temporary directory. The cluster trusts
# local connections as user `postgres` (a throw-away server on 127.0.0.1 only). PostgreSQL refuses
# to run as root: when started by root, initdb and the server run as the `postgres` user.
# With PG_PARENT_PID set, the server is stopped when that process ends.
set -euo pipefail

DETACH="$(cd "$(dirname "$0")" && pwd)/detach.py"

bindir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [ -z "$dir" ] || [ ! -x "$dir/postgres" ]; then
        echo "PostgreSQL is not installed: apt-get install -y postgresql" >&2
        return 1
    fi
    echo "$dir"
}

as_postgres() { # COMMAND...: runs it as `postgres` when we are root, else as ourselves
    if [ "$(id -u)" -eq 0 ]; then
        setpriv --reuid=postgres --regid=postgres --init-groups "$@"
    else
        "$@"
    fi
}

port_in_use() { # PORT
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' port-in-use "$1" 2>/dev/null
}

free_port() { # below the ephemeral range: a restart on the same port finds it free
    python3 "$(dirname "${BASH_SOURCE[0]}")/free-port.py"
}

start() {
    local port="${1:-}" dir="${2:-}" bin
    bin="$(bindir)"
    [ -n "$port" ] || port="$(free_port)"
    [ -n "$dir" ] || dir="$(mktemp -d "${TMPDIR:-/tmp}/weevent-pg.XXXXXX")"
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; fi
    if port_in_use "$port"; then
        echo "port $port is already in use" >&2
        return 1
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync \
            >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
    fi
    # fsync and synchronous_commit stay on (their defaults): the broker's durability claims rest on them.
    if [ "$(id -u)" -eq 0 ]; then
        python3 "$DETACH" setpriv --reuid=postgres --regid=postgres --init-groups \
            "$bin/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 -c max_connections=300 \
            >>"$dir/postgres.log" 2>&1 </dev/null &
    else
        python3 "$DETACH" "$bin/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 -c max_connections=300 \
            >>"$dir/postgres.log" 2>&1 </dev/null &
    fi
    local pid=$!
    if [ -n "${PG_PARENT_PID:-}" ]; then
        python3 "$DETACH" bash -c 'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; kill -INT "$2" 2>/dev/null' \
            pg-watchdog "$PG_PARENT_PID" "$pid" >/dev/null 2>&1 </dev/null &
    fi
    for _ in $(seq 1 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "postgres exited during start-up; see $dir/postgres.log" >&2
            tail -n 20 "$dir/postgres.log" >&2 || true
            return 1
        fi
        if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres 2>/dev/null; then
            echo "port=$port pid=$pid dir=$dir"
            return 0
        fi
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    echo "postgres did not answer on port $port within 30 s; see $dir/postgres.log" >&2
    return 1
}

standby() {
    local primary="${1:?usage: postgres.sh standby PRIMARY_PORT NAME [PORT] [DIR]}" name="${2:?standby NAME}" port="${3:-}" dir="${4:-}" bin
    bin="$(bindir)"
    [ -n "$dir" ] || dir="$(mktemp -d "${TMPDIR:-/tmp}/weevent-pg.XXXXXX")"
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_postgres "$bin/pg_basebackup" -h 127.0.0.1 -p "$primary" -U postgres -D "$dir/data" -R -X stream --no-sync \
            >"$dir/basebackup.log" 2>&1 || { cat "$dir/basebackup.log" >&2; return 1; }
        # Last one wins: the same connection as -R wrote, named so the primary can wait for it.
        echo "primary_conninfo = 'host=127.0.0.1 port=$primary user=postgres application_name=$name'" >>"$dir/data/postgresql.auto.conf"
    fi
    start "$port" "$dir"
}

promote() {
    local dir="${1:?usage: postgres.sh promote DIR}" bin
    bin="$(bindir)"
    as_postgres "$bin/pg_ctl" promote -w -t 30 -D "$dir/data" >/dev/null
}

stop() {
    local pid="${1:?usage: postgres.sh stop PID}"
    kill -INT "$pid" 2>/dev/null || return 0  # fast shutdown: roll back open transactions, checkpoint, exit
    for _ in $(seq 1 200); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

# Sourced (scripts/patroni.sh does, for bindir, as_postgres and free_port), it only defines.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
        start)
            shift
            if [ -n "${1:-}" ]; then
                start "$@"
            else
                for attempt in 1 2 3; do
                    if start "" "${2:-}"; then exit 0; fi
                    echo "postgres start attempt $attempt failed; trying another port" >&2
                done
                exit 1
            fi
            ;;
        stop) shift; stop "$@" ;;
        url) shift; echo "postgres://postgres@127.0.0.1:${1:?port}/${2:-postgres}" ;;
        standby) shift; standby "$@" ;;
        promote) shift; promote "$@" ;;
        *) echo "usage: $0 start [PORT] [DIR] | stop PID | url PORT [DB] | standby PRIMARY_PORT NAME [PORT] [DIR] | promote DIR" >&2; exit 2 ;;
    esac
fi
