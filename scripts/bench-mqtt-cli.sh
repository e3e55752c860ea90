#!/usr/bin/env bash
# Start-up of `weevent mqtt pub|sub` and `weevent-mqtt pub|sub` (release builds) beside
# mosquitto_pub/mosquitto_sub on the same box, in the same run: time from exec to SUBSCRIBE
# (sub) and to PUBLISH (pub). Part of `make bench`; prints markdown tables.
#   scripts/bench-mqtt-cli.sh [RUNS]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
swift build -c release --product weevent >&2
swift build -c release --product weevent-mqtt >&2
BIN=$(swift build -c release --show-bin-path)
echo
scripts/mqtt-cli-startup.py "$runs" \
  "mosquitto_sub=mosquitto_sub -h 127.0.0.1 -p {port} -t bench/#" \
  "weevent mqtt sub=$BIN/weevent mqtt sub -h 127.0.0.1 -p {port} -t bench/#" \
  "weevent-mqtt sub=$BIN/weevent-mqtt sub -h 127.0.0.1 -p {port} -t bench/#"
echo
scripts/mqtt-cli-startup.py "$runs" \
  "mosquitto_pub=mosquitto_pub -h 127.0.0.1 -p {port} -t bench/t -m hello" \
  "weevent mqtt pub=$BIN/weevent mqtt pub -h 127.0.0.1 -p {port} -t bench/t -m hello" \
  "weevent-mqtt pub=$BIN/weevent-mqtt pub -h 127.0.0.1 -p {port} -t bench/t -m hello"
