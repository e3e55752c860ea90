#!/usr/bin/env bash
# `make bench`: durable REST publish vs a trivial endpoint of the same server (wrk,
# same box), and in-process ledger appends. Prints markdown tables.
# Environment: DURATION (s per wrk run, default 10), EVENTS (ledger bench, default 200000),
# STREAM_RATE (events/s, 1000), STREAM_SECONDS (10), STREAMS (100), STREAM_BURST (20000),
# PACED_RATE (requests/s of the paced table, 1000), SOAK_MINUTES (retention soak, 4), SOAK_REF_MINUTES (2).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
EVENTS=${EVENTS:-200000}

swift build -c release --product weevent >&2
# The benchmarks are a package of their own (benchmarks/Package.swift), on top of this one.
swift build -c release --package-path benchmarks --product LedgerBench >&2
swift build -c release --package-path benchmarks --product StreamBench >&2
BIN=$(swift build -c release --show-bin-path)
BENCH_BIN=$(swift build -c release --package-path benchmarks --show-bin-path)

work=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
. scripts/bench-serve.sh
start_bench_server "$BIN" "$work"
curl -sf "http://127.0.0.1:$port/weevent/rest/open?topic=bench" >/dev/null

# run_wrk URL CONNECTIONS -> "req/s p50 p99"
run_wrk() {
  local threads=2
  [ "$2" -lt 2 ] && threads=1
  wrk -t"$threads" -c"$2" -d"${DURATION}s" --latency "$1" | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = $2 }
    /^ +99%/ { p99 = $2 }
    END { printf "%d %s %s\n", rps, p50, p99 }'
}

publish="http://127.0.0.1:$port/weevent/rest/publish?topic=bench&content=hello-weevent-bench-100-bytes-of-content-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
trivial="http://127.0.0.1:$port/weevent/admin/health"
run_wrk "$trivial" 16 >/dev/null  # warm-up

echo
echo "| connections | publish req/s | publish p50 | publish p99 | trivial req/s | trivial p50 | trivial p99 | publish / trivial |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
for c in 1 16 64; do
  read -r prps pp50 pp99 < <(run_wrk "$publish" "$c")
  read -r trps tp50 tp99 < <(run_wrk "$trivial" "$c")
  ratio=$(python3 -c "print(f'{$prps/$trps:.2f}' if $trps else 'n/a')")
  echo "| $c | $prps | $pp50 | $pp99 | $trps | $tp50 | $tp99 | $ratio |"
done
# The tail at a steady rate (wrk above sends as fast as it can): durable publish paced at
# PACED_RATE/s beside admin/health paced the same, in this run.
echo
echo "| paced at ${PACED_RATE:-1000}/s, 8 keep-alive connections, ${DURATION} s | requests | p50 | p90 | p99 | max |"
echo "|---|---:|---:|---:|---:|---:|"
for what in "admin/health" "rest/publish?topic=bench&content=paced-{i}"; do
  read -r n p50 p90 p99 max < <(scripts/paced-get.py 127.0.0.1 "$port" "/weevent/$what" "${PACED_RATE:-1000}" "$DURATION")
  echo "| ${what%%\?*} | $n | $p50 ms | $p90 ms | $p99 ms | $max ms |"
done
# The same paced publish while 20 streams each follow a filter of rest.filter.max-items (100)
# patterns that match nothing published (issue 21: filters are matched once per topic, outside
# the locks, not per event on the writer's path).
filter=$(python3 -c 'print(",".join(f"idle/{i}/+/#" for i in range(100)))')
streams=()
for _ in $(seq 20); do
  curl -sN -o /dev/null "http://127.0.0.1:$port/weevent/rest/stream?topic=$filter" & streams+=($!)
done
sleep 1
read -r n p50 p90 p99 max < <(scripts/paced-get.py 127.0.0.1 "$port" "/weevent/rest/publish?topic=bench&content=filtered-{i}" "${PACED_RATE:-1000}" "$DURATION")
echo "| rest/publish, 20 streams of 100 patterns open | $n | $p50 ms | $p90 ms | $p99 ms | $max ms |"
kill "${streams[@]}" 2>/dev/null || true
wait "${streams[@]}" 2>/dev/null || true
# Streams (issue 5): publish-to-stream latency at a steady rate, fan-out to many streams.
echo
"$BENCH_BIN/StreamBench" "http://127.0.0.1:$port/weevent" "${STREAM_RATE:-1000}" "${STREAM_SECONDS:-10}" "${STREAMS:-100}" "${STREAM_BURST:-20000}"
blocks=$(curl -s "http://127.0.0.1:$port/weevent/admin/blockchaininfo")
echo
echo "chain after the run: $blocks"
kill -TERM $pid; wait $pid || true
"$BIN/weevent" verify --config "$work/weevent.properties" --log-level warning
echo
"$BENCH_BIN/LedgerBench" "$EVENTS" "$work/ledger-bench"
scripts/bench-bridge.sh
scripts/bench-postgres.sh
scripts/bench-audit.sh
scripts/bench-identities.sh
scripts/bench-callback.sh
# The retention soak, short (docs/performance.md has the 20-minute run: MINUTES=20 scripts/soak-retention.sh).
MINUTES=${SOAK_MINUTES:-4} REF_MINUTES=${SOAK_REF_MINUTES:-2} scripts/soak-retention.sh
scripts/bench-mqtt-cli.sh
scripts/bench-ha.sh
