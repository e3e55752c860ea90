#!/usr/bin/env bash
# The retention soak (docs/performance.md "Retention"): a release broker takes publishes at a
# steady RATE for MINUTES with ledger.retention.max-age=RETENTION, on each store in STORES, and
# prints a row a minute (scripts/soak-publish.py): publishes, p50/p99/max, the store's size on
# disk, the broker's resident memory, events pruned. Then the same load for REF_MINUTES without
# retention, the reference for the publish tail. Part of `make bench` with short defaults
# (SOAK_MINUTES=4, REF_MINUTES=3 from bench.sh); the documented run is MINUTES=20.
# Environment: STORES ("sqlite postgresql"), MINUTES (20), REF_MINUTES (5), RETENTION (2m),
# RATE (publishes/s, 500), CONTENT (bytes per event, 512), INTERVAL_MS (pruner interval, 10000).
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

work=$(mktemp -d)
pid=
pg_pid=
cleanup() {
  [ -n "$pid" ] && { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  [ -n "$pg_pid" ] && scripts/postgres.sh stop "$pg_pid" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

pg_url() {
  if [ -z "$pg_pid" ]; then
    local out
    out=$(scripts/postgres.sh start)
    pg_port=$(echo "$out" | sed -E 's/.*port=([0-9]+).*/\1/')
    pg_pid=$(echo "$out" | sed -E 's/.*pid=([0-9]+).*/\1/')
  fi
  scripts/postgres.sh url "$pg_port"
}

# soak STORE MINUTES RETENTION(none|duration) NAME: one run, its table on stdout.
soak() {
  local store=$1 minutes=$2 retention=$3 name=$4 extra size
  mkdir -p "$work/$name"
  extra="ledger.retention.max-age=$retention
ledger.retention.interval-ms=$INTERVAL_MS"
  if [ "$store" = postgresql ]; then
    extra="$extra
ledger.store=postgresql
ledger.postgresql.url=$(pg_url)
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

for store in $STORES; do
  soak "$store" "$MINUTES" "$RETENTION" "soak_${store}_retention"
  soak "$store" "$REF_MINUTES" none "soak_${store}_reference"
done
