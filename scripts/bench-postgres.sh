#!/usr/bin/env bash
# Part of `make bench`: durable publish on the shared ledger (PostgreSQL) beside the embedded one
# and beside pgbench's one-row-insert transactions on the same server, all in this run on this box;
# then cross-instance publish-to-stream latency. Prints markdown tables.
# Environment: DURATION (s per wrk run, default 10), STREAM_RATE (1000), STREAM_SECONDS (10),
# PACED_RATE (requests/s of the paced table, 1000).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
BIN=$(swift build -c release --show-bin-path)
BENCH_BIN=$(swift build -c release --package-path benchmarks --show-bin-path)
. scripts/bench-serve.sh

work=$(mktemp -d)
pids=()
pg_pid=
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [ -n "$pg_pid" ] && scripts/postgres.sh stop "$pg_pid" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

out=$(scripts/postgres.sh start)
pg_port=$(echo "$out" | sed -E 's/.*port=([0-9]+).*/\1/')
pg_pid=$(echo "$out" | sed -E 's/.*pid=([0-9]+).*/\1/')
url=$(scripts/postgres.sh url "$pg_port")

# run_wrk URL CONNECTIONS -> "req/s p50 p99"
run_wrk() {
  wrk -t2 -c"$2" -d"${DURATION}s" --latency "$1" | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = $2 }
    /^ +99%/ { p99 = $2 }
    END { printf "%d %s %s\n", rps, p50, p99 }'
}
content="hello-weevent-bench-100-bytes-of-content-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
serve() { # NAME EXTRA -> sets port_NAME
  mkdir -p "$work/$1"
  start_bench_server "$BIN" "$work/$1" "$2"
  pids+=("$pid")
  eval "port_$1=$port"
  curl -sf "http://127.0.0.1:$port/weevent/rest/open?topic=bench" >/dev/null
}
shared="ledger.store=postgresql
ledger.postgresql.url=$url
ledger.postgresql.schema=bench
ledger.postgresql.pool-size=16"

serve embedded ""
read -r e_rps e_p50 e_p99 < <(run_wrk "http://127.0.0.1:$port_embedded/weevent/rest/publish?topic=bench&content=$content" 64)
serve a "$shared"
read -r a_rps a_p50 a_p99 < <(run_wrk "http://127.0.0.1:$port_a/weevent/rest/publish?topic=bench&content=$content" 64)
serve b "$shared"
wrk_b=$(mktemp)
run_wrk "http://127.0.0.1:$port_b/weevent/rest/publish?topic=bench&content=$content" 32 >"$wrk_b" &
wrk_pid=$!
read -r ab_rps ab_p50 ab_p99 < <(run_wrk "http://127.0.0.1:$port_a/weevent/rest/publish?topic=bench&content=$content" 32)
wait "$wrk_pid"
read -r b_rps b_p50 b_p99 <"$wrk_b"

# pgbench: one row per transaction, 64 clients, the same server and the same durability.
psql -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE TABLE IF NOT EXISTS pgbench_rows(id bigserial PRIMARY KEY, payload text)"
echo "INSERT INTO pgbench_rows(payload) VALUES ('$content');" >"$work/insert.sql"
pg_tps=$(pgbench -n -h 127.0.0.1 -p "$pg_port" -U postgres -c 64 -j 2 -T "$DURATION" -f "$work/insert.sql" postgres 2>/dev/null \
  | awk '/^tps = / { printf "%d", $3 }')

ratio() { python3 -c "print(f'{$1/$2:.2f}' if $2 else 'n/a')"; }
echo
echo "| durable publish, 64 connections | req/s | p50 | p99 | / embedded | / pgbench one-row TPS |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| embedded SQLite, one instance | $e_rps | $e_p50 | $e_p99 | 1.00 | $(ratio "$e_rps" "$pg_tps") |"
echo "| PostgreSQL, one instance | $a_rps | $a_p50 | $a_p99 | $(ratio "$a_rps" "$e_rps") | $(ratio "$a_rps" "$pg_tps") |"
echo "| PostgreSQL, two instances (32 + 32) | $((ab_rps + b_rps)) | $ab_p50 / $b_p50 | $ab_p99 / $b_p99 | $(ratio $((ab_rps + b_rps)) "$e_rps") | $(ratio $((ab_rps + b_rps)) "$pg_tps") |"
echo "| pgbench, INSERT one row per transaction, 64 clients | $pg_tps | | | | 1.00 |"
echo
# The publish tail at a steady rate, which wrk's saturating load cannot show: the same durable
# publish paced at PACED_RATE/s on the embedded broker and on instance A (PostgreSQL), beside
# admin/health on A as the floor of the HTTP path and the client, in this run.
echo "| paced at ${PACED_RATE:-1000}/s, 8 keep-alive connections, ${DURATION} s | requests | p50 | p90 | p99 | max |"
echo "|---|---:|---:|---:|---:|---:|"
for row in "admin/health on A|$port_a|admin/health" \
  "rest/publish, embedded SQLite|$port_embedded|rest/publish?topic=bench&content=paced-{i}" \
  "rest/publish, PostgreSQL (A)|$port_a|rest/publish?topic=bench&content=paced-{i}"; do
  IFS='|' read -r name p what <<<"$row"
  read -r n p50 p90 p99 max < <(scripts/paced-get.py 127.0.0.1 "$p" "/weevent/$what" "${PACED_RATE:-1000}" "$DURATION")
  echo "| $name | $n | $p50 ms | $p90 ms | $p99 ms | $max ms |"
done
echo
LATENCY_ONLY=1 PUBLISH_BASE="http://127.0.0.1:$port_a/weevent" \
  "$BENCH_BIN/StreamBench" "http://127.0.0.1:$port_b/weevent" "${STREAM_RATE:-1000}" "${STREAM_SECONDS:-10}"
echo
chain=$(curl -s "http://127.0.0.1:$port_a/weevent/admin/blockchaininfo")
echo "shared chain after the run: $chain"
"$BIN/weevent" verify --config "$work/a/weevent.properties" --log-level warning
