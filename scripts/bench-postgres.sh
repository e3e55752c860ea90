#!/usr/bin/env bash
# Part of `make bench`: durable publish on the shared ledger (PostgreSQL) beside the embedded one
# and beside pgbench's one-row-insert transactions on the same server, all in this run on this box;
# then cross-instance publish-to-stream latency. Prints markdown tables.
# Environment: DURATION (s per wrk run, default 10), STREAM_RATE (1000), STREAM_SECONDS (10).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
BIN=$(swift build -c release --show-bin-path)
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
LATENCY_ONLY=1 PUBLISH_BASE="http://127.0.0.1:$port_a/weevent" \
  "$BIN/StreamBench" "http://127.0.0.1:$port_b/weevent" "${STREAM_RATE:-1000}" "${STREAM_SECONDS:-10}"
echo
chain=$(curl -s "http://127.0.0.1:$port_a/weevent/admin/blockchaininfo")
echo "shared chain after the run: $chain"
"$BIN/weevent" verify --config "$work/a/weevent.properties" --log-level warning
