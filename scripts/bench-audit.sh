#!/usr/bin/env bash
# Part of `make bench` (issue 23): what the transparency log costs and gives, in this run on
# this box. Prints markdown tables:
#   1. tree proofs (rest/proof to the latest checkpoint) of ledgers of 10k, 100k and 1M events:
#      hashes, bytes, time to serve beside admin/health on the same server;
#   2. checkpoint latency: from a publish's SUCCESS to a signed checkpoint covering it, with
#      the broker idle between publishes and under a steady 1000 publishes/s, both stores;
#   3. publish throughput with checkpoints off (ledger.checkpoint.interval-ms=0) and on (the
#      default 1000), alternating, both stores (A/B of one build).
# Environment: DURATION (s per wrk run, default 10), PROOF_SIZES ("10000 100000 1000000"),
# PROOFS (requests per size, 2000), LATENCY_COUNT (publishes per latency row, 100), ROUNDS (2),
# PARTS (which tables, default "proofs latency ab"), AB_STORES (default "embedded postgresql").
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
PROOF_SIZES=${PROOF_SIZES:-"10000 100000 1000000"}
PROOFS=${PROOFS:-2000}
LATENCY_COUNT=${LATENCY_COUNT:-100}
PARTS=${PARTS:-proofs latency ab}
ROUNDS=${ROUNDS:-2}
swift build -c release --product weevent >&2
swift build -c release --package-path benchmarks --product TreeBench >&2
BIN=$(swift build -c release --show-bin-path)
BENCH_BIN=$(swift build -c release --package-path benchmarks --show-bin-path)
. scripts/bench-serve.sh

bench_cleanup_on_exit
stop_server() { kill -TERM "$pid"; wait "$pid" || true; pid=; }

start_bench_postgres
shared() { # SCHEMA -> configuration lines of the shared store
  printf 'ledger.store=postgresql\nledger.postgresql.url=%s\nledger.postgresql.schema=%s\nledger.postgresql.pool-size=16\n' "$url" "$1"
}

if [[ " $PARTS " == *" proofs "* ]]; then
echo
echo "| events in the group | proof hashes | rest/proof bytes (JSON) | proof bytes (hashes) | rest/proof p50 | rest/proof p99 | admin/health p50 | admin/health p99 | p99 / health p99 |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in $PROOF_SIZES; do
  mkdir -p "$work/tree-$n/data"
  "$BENCH_BIN/TreeBench" "$work/tree-$n/data" "$n"
  start_bench_server "$BIN" "$work/tree-$n" "ledger.block.max-events=1000"
  read -r hashes bytes raw p50 p99 hp50 hp99 < <(scripts/proof-latency.py 127.0.0.1 "$port" "$n" "$PROOFS")
  ratio=$(python3 -c "print(f'{$p99/$hp99:.1f}')")
  echo "| $n | $hashes | $bytes | $raw | $p50 ms | $p99 ms | $hp50 ms | $hp99 ms | $ratio |"
  stop_server
  rm -rf "$work/tree-$n"
done
fi

if [[ " $PARTS " == *" latency "* ]]; then
echo
echo "| checkpoint latency (interval 1000 ms), $LATENCY_COUNT publishes | store | p50 | p99 | max |"
echo "|---|---|---:|---:|---:|"
for store in embedded postgresql; do
  extra=""
  [ "$store" = postgresql ] && extra=$(shared latency)
  mkdir -p "$work/latency-$store"
  start_bench_server "$BIN" "$work/latency-$store" "$extra"
  curl -sf "http://127.0.0.1:$port/weevent/rest/open?topic=latency" >/dev/null
  read -r p50 p99 max < <(scripts/checkpoint-latency.py 127.0.0.1 "$port" "$LATENCY_COUNT" 1100 1500)
  echo "| a lone publish after 1.1-1.5 s without one | $store | $p50 ms | $p99 ms | $max ms |"
  scripts/paced-get.py 127.0.0.1 "$port" "/weevent/rest/publish?topic=latency&content=load-{i}" 1000 600 >/dev/null &
  load=$!
  sleep 1
  read -r p50 p99 max < <(scripts/checkpoint-latency.py 127.0.0.1 "$port" "$LATENCY_COUNT" 0 200)
  kill "$load" 2>/dev/null || true
  wait "$load" 2>/dev/null || true
  echo "| under 1000 publishes/s | $store | $p50 ms | $p99 ms | $max ms |"
  stop_server
done
fi

[[ " $PARTS " == *" ab "* ]] || exit 0
# run_wrk URL CONNECTIONS -> "req/s"
run_wrk() {
  local threads=2
  [ "$2" -lt 2 ] && threads=1
  wrk -t"$threads" -c"$2" -d"${DURATION}s" "$1" | awk '/Requests\/sec/ { printf "%d\n", $2 }'
}
content="hello-weevent-bench-100-bytes-of-content-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
echo
echo "| publish req/s, checkpoints off (A) and on (B) | store | round | A: 1 conn | B: 1 conn | A: 16 | B: 16 | A: 64 | B: 64 |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
results=$work/ab.txt
for store in ${AB_STORES:-embedded postgresql}; do
  for round in $(seq "$ROUNDS"); do
    row="| | $store | $round"
    declare -A rate=()
    for mode in off on; do
      interval=1000
      [ $mode = off ] && interval=0
      extra="ledger.checkpoint.interval-ms=$interval"
      [ "$store" = postgresql ] && extra="$extra
$(shared "ab_${mode}_$round")"
      mkdir -p "$work/ab-$store-$mode-$round"
      start_bench_server "$BIN" "$work/ab-$store-$mode-$round" "$extra"
      curl -sf "http://127.0.0.1:$port/weevent/rest/open?topic=bench" >/dev/null
      for c in 1 16 64; do
        rate[$mode-$c]=$(run_wrk "http://127.0.0.1:$port/weevent/rest/publish?topic=bench&content=$content" "$c")
        echo "$store $c $mode ${rate[$mode-$c]}" >> "$results"
      done
      stop_server
      rm -rf "$work/ab-$store-$mode-$round"
    done
    for c in 1 16 64; do row="$row | ${rate[off-$c]} | ${rate[on-$c]}"; done
    echo "$row |"
  done
done
echo
echo "| B / A (median of rounds) | 1 conn | 16 | 64 |"
echo "|---|---:|---:|---:|"
python3 - "$results" <<'PY'
import statistics, sys
rates = {}
for line in open(sys.argv[1]):
    store, c, mode, r = line.split()
    rates.setdefault((store, c, mode), []).append(int(r))
for store in sorted({key[0] for key in rates}):
    cells = []
    for c in ("1", "16", "64"):
        a, b = statistics.median(rates[(store, c, "off")]), statistics.median(rates[(store, c, "on")])
        cells.append(f"{b / a:.2f}")
    print(f"| {store} | " + " | ".join(cells) + " |")
PY
