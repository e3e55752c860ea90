#!/usr/bin/env bash
# A/B of the durable publish rows between two builds, alternated in one run on this box (its
# speed drifts between runs, so only figures taken side by side compare):
#   scripts/bench-ab.sh BIN_A BIN_B
# BIN_A and BIN_B are directories holding a release `weevent` (for example a clone of an older
# commit built with `swift build -c release --product weevent`, and this tree's). Each round
# runs A then B, each on a fresh ledger: wrk publish at 1, 16 and 64 connections on the embedded
# store, and at 16 connections on a PostgreSQL store started once for the run.
# Environment: DURATION (s per wrk run, default 10), ROUNDS (default 2), PG (1: include the
# PostgreSQL column, the default; 0: skip it).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 BIN_A BIN_B" >&2; exit 2; }
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
PG=${PG:-1}
. scripts/bench-serve.sh

bench_cleanup_on_exit

if [ "$PG" = 1 ]; then
  start_bench_postgres
fi

content="hello-weevent-bench-100-bytes-of-content-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
# publish_rps CONNECTIONS -> req/s of a wrk run against the running server
publish_rps() {
  local threads=2
  [ "$1" -lt 2 ] && threads=1
  wrk -t"$threads" -c"$1" -d"${DURATION}s" "http://127.0.0.1:$port/weevent/rest/publish?topic=bench&content=$content" |
    awk '/Requests\/sec/ { printf "%d\n", $2 }'
}
# serve BIN NAME EXTRA: a fresh server with topic "bench" open
serve() {
  mkdir -p "$work/$2"
  start_bench_server "$1" "$work/$2" "$3"
  curl -sf "http://127.0.0.1:$port/weevent/rest/open?topic=bench" >/dev/null
}
stop() {
  kill -TERM "$pid"; wait "$pid" || true
  pid=
}

header="| round | build | embedded, 1 conn | embedded, 16 | embedded, 64 |"
rule="|---:|---|---:|---:|---:|"
if [ "$PG" = 1 ]; then header="$header PostgreSQL, 16 |"; rule="$rule---:|"; fi
echo "$header"
echo "$rule"
for round in $(seq "$ROUNDS"); do
  for build in A B; do
    bin=$1
    [ "$build" = B ] && bin=$2
    serve "$bin" "$round-$build-embedded" ""
    row="| $round | $build | $(publish_rps 1) | $(publish_rps 16) | $(publish_rps 64) |"
    stop
    if [ "$PG" = 1 ]; then
      schema="ab_${round}_${build,,}"
      serve "$bin" "$round-$build-pg" "ledger.store=postgresql
ledger.postgresql.url=$url
ledger.postgresql.schema=$schema"
      row="$row $(publish_rps 16) |"
      stop
    fi
    echo "$row"
  done
done
