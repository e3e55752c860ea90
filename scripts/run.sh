#!/usr/bin/env bash
# `make run`: serve with conf/weevent.properties, starting a local mosquitto (1883) and
# ZooKeeper (2181) on loopback first when the configuration points at them and nothing
# listens there yet. What this script started it stops again when the broker exits.
#   scripts/run.sh BINARY CONFIG
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?binary}
config=${2:-conf/weevent.properties}

value() { # KEY: the key's value in the configuration (last one wins), without surrounding blanks
  { grep -E "^[[:space:]]*$1[[:space:]]*[=:]" "$config" || true; } | tail -n 1 | sed -E "s/^[^=:]*[=:][[:space:]]*//; s/[[:space:]]+$//"
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

started=()
cleanup() {
  for entry in "${started[@]}"; do
    kind=${entry%%:*}; pid=${entry#*:}
    echo "stopping local $kind (pid $pid)" >&2
    scripts/$kind.sh stop "$pid" || true
  done
}
trap cleanup EXIT

mqtt=$(value mqtt.broker.url)
zk=$(value broker.zookeeper.ip)
state=./data/local
mkdir -p "$state"
if [ "$mqtt" = "tcp://127.0.0.1:1883" ] || [ "$mqtt" = "tcp://localhost:1883" ]; then
  if listening 1883; then
    echo "an MQTT broker already listens on 1883: using it" >&2
  else
    read -r _ pid _ < <(scripts/mosquitto.sh start "$state/mosquitto" 1883)
    started+=("mosquitto:$pid")
    echo "started a local mosquitto on 127.0.0.1:1883 (pid $pid)" >&2
  fi
fi
if [ "$zk" = "127.0.0.1:2181" ] || [ "$zk" = "localhost:2181" ]; then
  if listening 2181; then
    echo "something already listens on 2181: using it as ZooKeeper" >&2
  else
    out=$(scripts/zookeeper.sh start 2181 "$state/zookeeper")
    pid=$(echo "$out" | sed -E 's/.*pid=([0-9]+).*/\1/')
    started+=("zookeeper:$pid")
    echo "started a local ZooKeeper on 127.0.0.1:2181 (pid $pid)" >&2
  fi
fi
# Not exec: the trap stops what was started when the broker exits (Ctrl-C, SIGTERM).
"$bin" serve --config "$config" &
broker=$!
trap 'kill -TERM $broker 2>/dev/null' INT TERM
wait $broker || true
wait $broker 2>/dev/null || true
