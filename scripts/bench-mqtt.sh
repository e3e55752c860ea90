#!/usr/bin/env bash
# Builds MQTTBench in release mode, starts a local mosquitto, prints the markdown table.
#   scripts/bench-mqtt.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-50000}
swift build -c release --package-path benchmarks --product MQTTBench >&2
read -r port pid dir < <(scripts/mosquitto.sh start)
trap 'scripts/mosquitto.sh stop "$pid"; rm -rf "$dir"' EXIT
"$(swift build -c release --package-path benchmarks --show-bin-path)/MQTTBench" "$port" "$pid" "$count"
