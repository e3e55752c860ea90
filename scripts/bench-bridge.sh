#!/usr/bin/env bash
# MQTT bridge (issue 4): a release `weevent serve` with its bridge connected to a throw-away
# mosquitto (scripts/mosquitto.sh), all on this machine; benchmarks/BridgeBench prints the tables.
#   scripts/bench-bridge.sh [COUNT]        (messages per throughput run, default 20000)
# Environment: BRIDGE_RATE (latency run, msg/s, 1000), BRIDGE_SECONDS (10), BRIDGE_REPEATS (3,
# alternated QoS 1 ceiling/inbound pairs), BRIDGE_ONLY=requests (only the rest/request round trips),
# MQTT_INFLIGHT (mosquitto max_inflight_messages for the whole run, ceiling and bridge alike;
# default: scripts/mosquitto.sh's 20, mosquitto's own default).
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-${BRIDGE_COUNT:-20000}}

swift build -c release --product weevent >&2
swift build -c release --product MQTTPeer >&2
swift build -c release --package-path benchmarks --product BridgeBench >&2
swift build -c release --package-path benchmarks --product MQTTBench >&2
BIN=$(swift build -c release --show-bin-path)
BENCH_BIN=$(swift build -c release --package-path benchmarks --show-bin-path)

work=$(mktemp -d)
mkdir -p "$work/mosquitto"
if [ -n "${MQTT_INFLIGHT:-}" ]; then
  printf 'allow_anonymous true\nmax_inflight_messages %s\n' "$MQTT_INFLIGHT" > "$work/mosquitto/extra.conf"
fi
read -r mport mpid _ < <(scripts/mosquitto.sh start "$work/mosquitto")
pid=
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; scripts/mosquitto.sh stop "$mpid"; rm -rf "$work"' EXIT
. scripts/bench-serve.sh
start_bench_server "$BIN" "$work" "mqtt.broker.url=tcp://127.0.0.1:$mport
mqtt.broker.client-id=weevent-bench-bridge"
echo
echo "MQTT bridge: $(mosquitto -h 2>/dev/null | head -1 | sed 's/ (build.*//'), max_inflight_messages ${MQTT_INFLIGHT:-20}; broker, bridge and clients on the same machine ($(nproc) CPUs)."
MQTT_PEER="$BIN/MQTTPeer" "$BENCH_BIN/BridgeBench" "$mport" "http://127.0.0.1:$port/weevent" "$count" "${BRIDGE_RATE:-1000}" "${BRIDGE_SECONDS:-10}" "${BRIDGE_REPEATS:-3}"
