#!/usr/bin/env bash
# Starts and stops one member of a Patroni-managed PostgreSQL cluster (Debian's `patroni` and
# `postgresql`) on loopback, keeping its state in ZooKeeper, for `make cluster`, the fault test
# and benchmarks. The first member to start initialises the cluster and becomes its primary; the
# others copy it (pg_basebackup) and stream from it; Patroni promotes a standby when the primary
# is lost, and makes a lost primary that comes back a standby of the new one (pg_rewind).
#
#   scripts/patroni.sh start NAME DIR ZK_HOSTS [MODE] start (or restart) member NAME in DIR; prints
#                                                    "port=PG api=API pid=PID dir=DIR" once it runs
#                                                    as primary or streaming standby
#   scripts/patroni.sh stop PID                      stop the member (Patroni stops its PostgreSQL)
#   scripts/patroni.sh kill DIR                      kill -9 the member's Patroni and PostgreSQL, as
#                                                    when its machine is lost
#   scripts/patroni.sh role DIR                      prints the member's role as Patroni's REST API
#                                                    says (primary, replica, ...; "down" if silent)
#
# ZK_HOSTS is the ZooKeeper connection string (h:p,h:p,...). MODE, read when the cluster is first
# initialised, is `sync` (the default: Patroni's synchronous mode, a COMMIT returns once the
# synchronous standby flushed it) or `async` (standbys stream, commits wait for none). Ports are chosen free on first start and
# kept in DIR/ports. Failover timing: ttl 8 s (the ZooKeeper session Patroni holds the leader
# key with), loop_wait 1 s, retry_timeout 3 s. With HA_PARENT_PID set, the member is
# stopped when that process ends. As root, Patroni and PostgreSQL run as the `postgres` user.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
SCOPE="${HA_SCOPE:-weevent}"

# bindir, as_postgres, free_port: the same as for a throw-away server.
. "$HERE/postgres.sh"

role() { # DIR
    local api
    read -r _ api <"$1/ports"
    curl -s -m 2 "http://127.0.0.1:$api/patroni" 2>/dev/null \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("role","?"), d.get("state","?"))' 2>/dev/null || echo "down"
}

start() {
    local name="${1:?usage: patroni.sh start NAME DIR ZK_HOSTS [MODE]}" dir="${2:?DIR}" zk="${3:?ZK_HOSTS}" mode="${4:-sync}"
    local bin pg api hosts sync
    command -v patroni >/dev/null || { echo "Patroni is not installed: apt-get install -y patroni python3-kazoo" >&2; return 1; }
    bin="$(bindir)"
    case "$mode" in
        sync) sync=true ;;
        async) sync=false ;;
        *) echo "MODE must be sync or async" >&2; return 2 ;;
    esac
    mkdir -p "$dir"
    [ -f "$dir/ports" ] || echo "$(free_port) $(free_port)" >"$dir/ports"
    read -r pg api <"$dir/ports"
    hosts=$(echo "$zk" | sed 's/,/", "/g')
    cat >"$dir/patroni.yml" <<YAML
scope: $SCOPE
namespace: /service/
name: $name
log:
  level: WARNING
restapi:
  listen: 127.0.0.1:$api
  connect_address: 127.0.0.1:$api
zookeeper:
  hosts: ["$hosts"]
bootstrap:
  dcs:
    ttl: 8
    loop_wait: 1
    retry_timeout: 3
    maximum_lag_on_failover: 1048576
    synchronous_mode: $sync
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 300
        wal_keep_size: 256MB
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - auth: trust
postgresql:
  listen: 127.0.0.1:$pg
  connect_address: 127.0.0.1:$pg
  data_dir: $dir/data
  bin_dir: $bin
  pgpass: $dir/pgpass
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
  authentication:
    superuser: {username: postgres}
    replication: {username: postgres}
    rewind: {username: postgres}
  parameters:
    unix_socket_directories: $dir
YAML
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres:postgres "$dir"
        as_postgres test -r "$dir/patroni.yml" || {
            echo "the postgres user cannot read $dir/patroni.yml: a directory above $dir is not searchable by it" >&2
            return 1
        }
    fi
    if [ "$(id -u)" -eq 0 ]; then
        python3 "$DETACH" setpriv --reuid=postgres --regid=postgres --init-groups patroni "$dir/patroni.yml" \
            >>"$dir/patroni.log" 2>&1 </dev/null &
    else
        python3 "$DETACH" patroni "$dir/patroni.yml" >>"$dir/patroni.log" 2>&1 </dev/null &
    fi
    local pid=$!
    echo "$pid" >"$dir/patroni.pid"
    if [ -n "${HA_PARENT_PID:-}" ]; then
        python3 "$DETACH" bash -c 'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; kill -TERM "$2" 2>/dev/null' \
            patroni-watchdog "$HA_PARENT_PID" "$pid" >/dev/null 2>&1 </dev/null &
    fi
    for _ in $(seq 1 1200); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "patroni exited during start-up; see $dir/patroni.log" >&2
            tail -n 20 "$dir/patroni.log" >&2 || true
            kill_member "$dir"
            return 1
        fi
        case "$(role "$dir")" in
            "primary running" | "master running" | "replica running" | "replica streaming")
                echo "port=$pg api=$api pid=$pid dir=$dir"
                return 0
                ;;
        esac
        sleep 0.1
    done
    echo "patroni member $name did not run within 120 s; see $dir/patroni.log" >&2
    kill_member "$dir"
    return 1
}

postmaster() { # DIR: the pid of its PostgreSQL, if one runs
    [ -f "$1/data/postmaster.pid" ] && head -n 1 "$1/data/postmaster.pid" || true
}

stop() {
    local pid="${1:?usage: patroni.sh stop PID}"
    kill -TERM "$pid" 2>/dev/null || return 0  # Patroni stops its PostgreSQL (fast) and leaves the cluster
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

kill_member() {
    local dir="${1:?usage: patroni.sh kill DIR}" pid pm children="" child
    pid=$(cat "$dir/patroni.pid" 2>/dev/null || true)
    pm=$(postmaster "$dir")
    # Every process of the member at once, as when its machine is lost: Patroni, the postmaster
    # and the postmaster's children (backends, walsender, checkpointer...).
    [ -n "$pm" ] && children=$(pgrep -P "$pm" 2>/dev/null || true)
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    [ -n "$pm" ] && kill -9 "$pm" 2>/dev/null || true
    for child in $children; do kill -9 "$child" 2>/dev/null || true; done
    for _ in $(seq 1 100); do
        local alive=0
        for child in $pid $pm $children; do kill -0 "$child" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && return 0
        sleep 0.1
    done
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) shift; stop "$@" ;;
    kill) shift; kill_member "$@" ;;
    role) shift; role "${1:?usage: patroni.sh role DIR}" ;;
    *) echo "usage: $0 start NAME DIR ZK_HOSTS [MODE] | stop PID | kill DIR | role DIR" >&2; exit 2 ;;
esac
