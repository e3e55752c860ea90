#!/usr/bin/env bash
# Start or stop a throw-away mosquitto on a free loopback port.
#
#   scripts/mosquitto.sh start [DIR] [PORT]
#       Writes DIR/mosquitto.conf (DIR defaults to a new temp dir), appending DIR/extra.conf if it
#       exists (lines for the listener: password_file, certfile, ...), starts mosquitto in the
#       background with persistence in DIR, waits until it accepts connections and prints
#       "PORT PID DIR". Give PORT to restart on the same port.
#   scripts/mosquitto.sh stop PID
#       SIGTERM (mosquitto saves its persistence file), then waits for it to exit.
# MOSQUITTO_DEBUG_LOG=1 adds "log_type all" (every packet in DIR/mosquitto.log) for diagnosis.
# With MOSQUITTO_PARENT_PID set, the broker is stopped when that process ends (a test run that
# exits or is killed before it stops its brokers leaves none behind).
set -euo pipefail

# start_once DIR PORT: writes DIR/mosquitto.conf, starts mosquitto, prints "PORT PID DIR" once it
# listens; non-zero when it exits at start (port taken, bad configuration) or never listens.
start_once() {
    local dir=$1 port=$2 pid
    {
        echo "user root"
        echo "persistence true"
        echo "persistence_location $dir/"
        echo "autosave_interval 1"
        echo "log_dest file $dir/mosquitto.log"
        echo "log_type error"
        echo "log_type warning"
        echo "log_type notice"
        if [ -n "${MOSQUITTO_DEBUG_LOG:-}" ]; then echo "log_type all"; fi
        echo "max_queued_messages 0"
        echo "max_inflight_messages 20"
        echo "listener $port 127.0.0.1"
        if [ -f "$dir/extra.conf" ]; then cat "$dir/extra.conf"; else echo "allow_anonymous true"; fi
    } > "$dir/mosquitto.conf"
    # detach.py: own session, default signals, no descriptor inherited from the caller (a test
    # process's pipes would otherwise stay open as long as mosquitto runs).
    python3 "$(dirname "$0")/detach.py" mosquitto -c "$dir/mosquitto.conf" >"$dir/stdout.log" 2>&1 </dev/null &
    pid=$!
    if [ -n "${MOSQUITTO_PARENT_PID:-}" ]; then
        python3 "$(dirname "$0")/detach.py" bash -c 'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; kill -TERM "$2" 2>/dev/null' \
            mosquitto-watchdog "$MOSQUITTO_PARENT_PID" "$pid" >/dev/null 2>&1 </dev/null &
    fi
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "mosquitto exited at start; see $dir/stdout.log and $dir/mosquitto.log" >&2
            cat "$dir/stdout.log" "$dir/mosquitto.log" >&2 2>/dev/null || true
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            # Something listens; make sure it is this mosquitto, not whoever took the port.
            sleep 0.1
            if ! kill -0 "$pid" 2>/dev/null; then
                echo "mosquitto exited at start (port $port taken?); see $dir/mosquitto.log" >&2
                return 1
            fi
            echo "$port $pid $dir"
            return 0
        fi
        sleep 0.05
    done
    echo "mosquitto did not listen on $port within 5 s" >&2
    kill "$pid" 2>/dev/null || true
    return 1
}

cmd=${1:-}
case "$cmd" in
start)
    command -v mosquitto >/dev/null || { echo "mosquitto not installed" >&2; exit 3; }
    dir=${2:-}
    [ -n "$dir" ] || dir=$(mktemp -d /tmp/weevent-mosquitto.XXXXXX)
    mkdir -p "$dir"
    if [ -n "${3:-}" ]; then
        start_once "$dir" "$3"
        exit $?
    fi
    # A port chosen free here can be taken before mosquitto binds it: try another.
    for attempt in 1 2 3; do
        port=$(python3 "$(dirname "${BASH_SOURCE[0]}")/free-port.py")
        if start_once "$dir" "$port"; then exit 0; fi
        echo "mosquitto start attempt $attempt failed; trying another port" >&2
    done
    exit 1
    ;;
stop)
    pid=${2:?usage: mosquitto.sh stop PID}
    kill "$pid" 2>/dev/null || exit 0
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || exit 0
        sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
    ;;
*)
    echo "usage: $0 start [DIR] [PORT] | stop PID" >&2
    exit 2
    ;;
esac
