#!/usr/bin/env bash
# The retention soak (docs/performance.md "Retention"): a release broker takes publishes at a
# steady RATE for MINUTES with ledger.retention.max-age=RETENTION, on each store in STORES, and
# prints a row a minute (scripts/soak-publish.py): publishes, p50/p99/max, the store's size on
# disk, the broker's resident memory, events pruned. Then the same load for REF_MINUTES without
# retention, the reference for the publish tail. Part of `make bench` with short defaults
# (SOAK_MINUTES=4, REF_MINUTES=3 from bench.sh); the documented run is MINUTES=20.
# First, what incremental auto-vacuum (which ledger files get since retention exists, so their
# freed pages go back to the file system) costs a publish: wrk at 16 connections against a new
# file and against one made without it, alternating, AB_ROUNDS rounds of AB_SECONDS.
# Environment: STORES ("sqlite postgresql"), MINUTES (20), REF_MINUTES (5), RETENTION (2m),
# RATE (publishes/s, 500), CONTENT (bytes per event, 512), INTERVAL_MS (pruner interval, 10000),
# AB_ROUNDS (3, 0: none), AB_SECONDS (10).
set -euo pipefail
cd "$(dirname "$0")/.."
STORES=${STORES:-sqlite postgresql}
MINUTES=${MINUTES:-20}
REF_MINUTES=${REF_MINUTES:-5}
RETENTION=${RETENTION:-2m}
RATE=${RATE:-500}
CONTENT=${CONTENT:-512}
INTERVAL_MS=${INTERVAL_MS:-10000}
swift build -c release --product weevent >&2
BIN=$(swift build -c release --show-bin-path)
. scripts/bench-serve.sh

bench_cleanup_on_exit

# soak STORE MINUTES RETENTION(none|duration) NAME: one run, its table on stdout.
soak() {
  local store=$1 minutes=$2 retention=$3 name=$4 extra size
  mkdir -p "$work/$name"
  extra="ledger.retention.max-age=$retention
ledger.retention.interval-ms=$INTERVAL_MS"
  if [ "$store" = postgresql ]; then
    [ -n "$pg_pid" ] || start_bench_postgres
    extra="$extra
ledger.store=postgresql
ledger.postgresql.url=$url
ledger.postgresql.schema=$name"
    # Every table of the run's schema with its indexes and TOAST (the store's whole footprint).
    size="psql -X -At -h 127.0.0.1 -p $pg_port -U postgres -d postgres -c \"SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '$name' AND c.relkind = 'r'\""
  else
    size="du -sb $work/$name/data/group-1 | cut -f1"
  fi
  start_bench_server "$BIN" "$work/$name" "$extra"
  curl -sf "http://127.0.0.1:$port/weevent/rest/open?topic=soak" >/dev/null
  echo
  echo "$store, retention $retention, $RATE publishes/s of $CONTENT bytes, $minutes minutes ($(date -u +%Y-%m-%dT%H:%MZ)):"
  echo
  scripts/soak-publish.py 127.0.0.1 "$port" "$RATE" "$minutes" "$CONTENT" "$pid" "$size"
  kill -TERM "$pid"
  wait "$pid" || true
  pid=
  "$BIN/weevent" verify --config "$work/$name/weevent.properties" | sed 's/^/verify: /'
}

# ab_round NAME PRECREATE: one wrk run on a fresh embedded ledger; PRECREATE=1 makes the file
# first with a table in it, so the broker cannot turn incremental auto-vacuum on.
ab_round() {
  rm -rf "$work/ab"
  mkdir -p "$work/ab/data/group-1"
  [ "$2" = 1 ] && python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('CREATE TABLE pre_existing(x)'); c.commit()" "$work/ab/data/group-1/ledger.sqlite"
  start_bench_server "$BIN" "$work/ab"
  curl -sf "http://127.0.0.1:$port/weevent/rest/open?topic=ab" >/dev/null
  local vacuum rps
  vacuum=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA auto_vacuum').fetchone()[0])" "$work/ab/data/group-1/ledger.sqlite")
  rps=$(wrk -t2 -c16 -d"${AB_SECONDS:-10}s" "http://127.0.0.1:$port/weevent/rest/publish?topic=ab&content=$(head -c 200 /dev/zero | tr '\0' x)" | awk '/Requests\/sec/ { printf "%d", $2 }')
  kill -TERM "$pid"
  wait "$pid" || true
  pid=
  echo "$1 $vacuum $rps"
}
if [ "${AB_ROUNDS:-3}" -gt 0 ]; then
  echo
  echo "| round | file | auto_vacuum | publish req/s (16 connections) |"
  echo "|---:|---|---:|---:|"
  for round in $(seq "${AB_ROUNDS:-3}"); do
    for variant in "with 0" "without 1"; do
      set -- $variant
      read -r _ vacuum rps < <(ab_round "$1" "$2")
      echo "| $round | $1 incremental auto-vacuum | $vacuum | $rps |"
    done
  done
fi

for store in $STORES; do
  soak "$store" "$MINUTES" "$RETENTION" "soak_${store}_retention"
  soak "$store" "$REF_MINUTES" none "soak_${store}_reference"
done
