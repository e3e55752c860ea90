#!/usr/bin/env bash
# Starts and stops a standalone ZooKeeper server from Debian's `zookeeper`
# package on loopback, for tests and local runs.
#
#   scripts/zookeeper.sh start [PORT] [DIR]  start (or restart on the same PORT and DIR; PORT may be "");
#                                            prints "port=PORT pid=PID dir=DIR" on stdout
#   scripts/zookeeper.sh stop PID            stop the server started with that pid
#   scripts/zookeeper.sh cmd PORT WORD       send a four-letter word (ruok, stat, wchp, ...)
#   scripts/zookeeper.sh ensemble N DIR      start (or restart) an ensemble of N servers under DIR/zk1..zkN
#                                            on free loopback ports; prints "port=.. pid=.. dir=.." per server,
#                                            then "hosts=H:P,H:P,..." (the connection string)
#   scripts/zookeeper.sh member DIR          restart one server of an ensemble from its directory
#                                            (DIR/zkI) after it stopped; prints like start
#
# PORT defaults to a free loopback port, DIR to a new temporary directory.
# With ZK_PARENT_PID set, the server is stopped when that process ends.
# tickTime is 500 ms so sessions between 1 s and 60 s are allowed.
set -euo pipefail

CLASSPATH_ZK="${ZOOKEEPER_CLASSPATH:-/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar}"
JAVA="${JAVA:-java}"
DETACH="$(cd "$(dirname "$0")" && pwd)/detach.py"

four_letter_word() { # PORT WORD; gives up after 3 s (a server still starting may not answer)
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "%s" "$2" >&3
        cat <&3
    ' four-letter-word "$1" "$2"
}

port_in_use() { # PORT
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' port-in-use "$1" 2>/dev/null
}

free_port() {
    # A port nobody is bound to (probing with connect() does not see ports held by outgoing
    # connections, which then fail the server's bind), below the ephemeral range, so that no
    # outgoing connection takes it while a member is down for a restart.
    python3 "$(dirname "${BASH_SOURCE[0]}")/free-port.py"
}

# Launches the server configured by DIR/zoo.cfg (QuorumPeerMain: standalone or one of an
# ensemble, as the file says) without waiting for it; echoes its pid.
launch() { # DIR
    local dir="$1" pid
    # detach.py: the server must not die with the shell (or test process group) that started it,
    # nor keep open a descriptor inherited from it (a test's pipe would never see end-of-file).
    python3 "$DETACH" "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dzookeeper.admin.enableServer=false \
        -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
        -cp "$CLASSPATH_ZK" org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" \
        >>"$dir/zookeeper.log" 2>&1 </dev/null &
    pid=$!
    if [ -n "${ZK_PARENT_PID:-}" ]; then
        # Tests pass their pid: the server goes when they do, even if they crash.
        python3 "$DETACH" bash -c 'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; kill "$2" 2>/dev/null' \
            zk-watchdog "$ZK_PARENT_PID" "$pid" >/dev/null 2>&1 </dev/null &
    fi
    echo "$pid"
}

# Waits until the server on PORT (pid PID, directory DIR) serves: srvr tells its mode once it
# does (ruok answers before); an ensemble's server does once a quorum elected a leader.
ready() { # PORT PID DIR
    local port="$1" pid="$2" dir="$3"
    for _ in $(seq 1 600); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "zookeeper exited during start-up; see $dir/zookeeper.log" >&2
            tail -n 20 "$dir/zookeeper.log" >&2 || true
            return 1
        fi
        if four_letter_word "$port" srvr 2>/dev/null | grep -q '^Mode:'; then
            echo "port=$port pid=$pid dir=$dir"
            return 0
        fi
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    echo "zookeeper did not answer on port $port within 60 s; see $dir/zookeeper.log" >&2
    return 1
}

# Settings every server shares. tickTime 500 ms: sessions between 1 s and 60 s are allowed.
common_cfg() { # DIR PORT
    printf '%s\n' tickTime=500 initLimit=20 syncLimit=4 minSessionTimeout=1000 maxSessionTimeout=60000 \
        "dataDir=$1/data" "clientPort=$2" clientPortAddress=127.0.0.1 maxClientCnxns=0 admin.enableServer=false \
        '4lw.commands.whitelist=*'
}

ensemble() {
    local count="${1:?usage: zookeeper.sh ensemble N DIR}" dir="${2:?ensemble DIR}" i hosts="" servers="" client peer election
    [ -f /usr/share/java/zookeeper.jar ] || { echo "ZooKeeper is not installed: apt-get install -y zookeeper" >&2; return 1; }
    mkdir -p "$dir"
    for i in $(seq 1 "$count"); do
        if [ ! -f "$dir/zk$i/ports" ]; then
            mkdir -p "$dir/zk$i/data"
            echo "$i" >"$dir/zk$i/data/myid"
            echo "$(free_port) $(free_port) $(free_port)" >"$dir/zk$i/ports"
        fi
    done
    for i in $(seq 1 "$count"); do
        read -r client peer election <"$dir/zk$i/ports"
        servers+="server.$i=127.0.0.1:$peer:$election"$'\n'
        hosts+="${hosts:+,}127.0.0.1:$client"
    done
    local pids=()
    for i in $(seq 1 "$count"); do
        read -r client _ _ <"$dir/zk$i/ports"
        if port_in_use "$client"; then echo "port $client is already in use" >&2; return 1; fi
        { common_cfg "$dir/zk$i" "$client"; printf '%s' "$servers"; } >"$dir/zk$i/zoo.cfg"
        pids+=("$(launch "$dir/zk$i")")
    done
    for i in $(seq 1 "$count"); do
        read -r client _ _ <"$dir/zk$i/ports"
        ready "$client" "${pids[$((i-1))]}" "$dir/zk$i" || {
            for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
            return 1
        }
    done
    echo "hosts=$hosts"
}

member() {
    local dir="${1:?usage: zookeeper.sh member DIR}" client pid
    client=$(sed -n 's/^clientPort=//p' "$dir/zoo.cfg")
    if port_in_use "$client"; then echo "port $client is already in use" >&2; return 1; fi
    pid=$(launch "$dir")
    ready "$client" "$pid" "$dir"
}

start() {
    local port="${1:-}" dir="${2:-}"
    [ -n "$port" ] || port="$(free_port)"
    [ -n "$dir" ] || dir="$(mktemp -d "${TMPDIR:-/tmp}/weevent-zk.XXXXXX")"
    mkdir -p "$dir/data"
    if [ ! -f /usr/share/java/zookeeper.jar ]; then
        echo "ZooKeeper is not installed: apt-get install -y zookeeper" >&2
        return 1
    fi
    if port_in_use "$port"; then
        echo "port $port is already in use" >&2
        return 1
    fi
    common_cfg "$dir" "$port" >"$dir/zoo.cfg"
    local pid
    pid=$(launch "$dir")
    ready "$port" "$pid" "$dir"
}

stop() {
    local pid="${1:?usage: zookeeper.sh stop PID}"
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
}

case "${1:-}" in
    start)
        shift
        if [ -n "${1:-}" ]; then
            start "$@"
        else
            # A port chosen here can still be taken before the server binds it: try another.
            for attempt in 1 2 3; do
                if start "" "${2:-}"; then exit 0; fi
                echo "zookeeper start attempt $attempt failed; trying another port" >&2
            done
            exit 1
        fi
        ;;
    stop) shift; stop "$@" ;;
    cmd) shift; four_letter_word "${1:?port}" "${2:?word}"; echo ;;
    ensemble) shift; ensemble "$@" ;;
    member) shift; member "$@" ;;
    *) echo "usage: $0 start [PORT] [DIR] | stop PID | cmd PORT WORD | ensemble N DIR | member DIR" >&2; exit 2 ;;
esac
