#!/usr/bin/env bash
# Part of `make bench`: what availability costs and buys. Durable publish (release build, one
# instance) on one PostgreSQL without a standby (the reference), on Patroni with a synchronous
# standby and on Patroni with an asynchronous one, all in this run on this box: wrk at 64
# connections, then paced at PACED_RATE/s. Then the fault test (ChaosTests, against the release
# binary) CHAOS_RUNS times, and the median time from each kill to the next SUCCESS.
# Prints markdown tables. Environment: DURATION (s per wrk run, 10), PACED_RATE (500), CHAOS_RUNS (3),
# CHAOS_ONLY (set: the fault test's runs alone).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
PACED_RATE=${PACED_RATE:-500}
CHAOS_RUNS=${CHAOS_RUNS:-3}
swift build -c release --product weevent >&2
BIN=$(swift build -c release --show-bin-path)
. scripts/bench-serve.sh
bench_cleanup_on_exit
chmod 755 "$work"  # Patroni and PostgreSQL run as `postgres` when this runs as root

zk_pids=()
members=()   # patroni pids
cleanup_ha() {
  for m in "${members[@]}"; do scripts/patroni.sh stop "$m" >/dev/null 2>&1 || true; done
  for z in "${zk_pids[@]}"; do scripts/zookeeper.sh stop "$z" >/dev/null 2>&1 || true; done
  bench_cleanup
}
trap cleanup_ha EXIT

field() { echo "$1" | sed -E "s/.*$2=([^ ]+).*/\1/"; }
out=$(scripts/zookeeper.sh ensemble 3 "$work/zk")
while read -r line; do
  case "$line" in
    port=*) zk_pids+=("$(field "$line" pid)") ;;
    hosts=*) zk_hosts=${line#hosts=} ;;
  esac
done <<<"$out"

content="hello-weevent-bench-100-bytes-of-content-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
# measure NAME URL -> sets rps_NAME p50_NAME p99_NAME paced_NAME (paced p50/p99)
measure() {
  mkdir -p "$work/$1"
  start_bench_server "$BIN" "$work/$1" "ledger.store=postgresql
ledger.postgresql.url=$2
ledger.postgresql.schema=bench_$1
ledger.postgresql.pool-size=16"
  curl -sf "http://127.0.0.1:$port/weevent/rest/open?topic=bench" >/dev/null
  wrk -t2 -c16 -d3s "http://127.0.0.1:$port/weevent/rest/publish?topic=bench&content=$content" >/dev/null  # warm-up
  read -r r p50 p99 < <(wrk -t2 -c64 -d"${DURATION}s" --latency "http://127.0.0.1:$port/weevent/rest/publish?topic=bench&content=$content" | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = $2 }
    /^ +99%/ { p99 = $2 }
    END { printf "%d %s %s\n", rps, p50, p99 }')
  read -r _ pp50 _ pp99 _ < <(scripts/paced-get.py 127.0.0.1 "$port" "/weevent/rest/publish?topic=bench&content=paced-{i}" "$PACED_RATE" "$DURATION")
  eval "rps_$1=$r; p50_$1=$p50; p99_$1=$p99; paced_$1='$pp50 ms / $pp99 ms'"
  kill -TERM "$pid"; wait "$pid" || true; pid=
}

# patroni_pair MODE -> starts pg1 and pg2 of a cluster of its own (scope bench-MODE), sets pair_url
patroni_pair() {
  local hosts="" out
  for member in pg1 pg2; do
    out=$(HA_SCOPE="bench-$1" scripts/patroni.sh start "$member" "$work/$1-$member" "$zk_hosts" "$1")
    members+=("$(field "$out" pid)")
    hosts+="${hosts:+,}127.0.0.1:$(field "$out" port)"
    [ "$member" = pg1 ] && primary_port=$(field "$out" port)
  done
  local want=streaming state=""
  [ "$1" = sync ] && want="streaming sync"
  for _ in $(seq 600); do
    state=$(psql -X -Atq -h 127.0.0.1 -p "$primary_port" -U postgres -F ' ' -c "SELECT state, sync_state FROM pg_stat_replication" 2>/dev/null || true)
    case "$state" in "$want"*) break ;; esac
    sleep 0.1
  done
  case "$state" in "$want"*) ;; *) echo "$1: the standby is not '$want' after 60 s (it is '$state')" >&2; exit 1 ;; esac
  echo "$1: standby $(psql -X -Atq -h 127.0.0.1 -p "$primary_port" -U postgres -c "SELECT application_name || ' ' || state || ' ' || sync_state FROM pg_stat_replication")" >&2
  pair_url="postgres://postgres@$hosts/postgres?target_session_attrs=read-write"
}
stop_members() {
  for m in "${members[@]}"; do scripts/patroni.sh stop "$m" >/dev/null 2>&1 || true; done
  members=()
}

if [ -z "${CHAOS_ONLY:-}" ]; then
start_bench_postgres
measure none "$url"
scripts/postgres.sh stop "$pg_pid" >/dev/null 2>&1 || true
pg_pid=
patroni_pair sync
measure sync "$pair_url"
stop_members
patroni_pair async
measure async "$pair_url"
stop_members

ratio() { python3 -c "print(f'{$1/$2:.2f}' if $2 else 'n/a')"; }
echo
echo "| durable publish, one instance | req/s (wrk, 64 connections) | p50 | p99 | / no standby | paced at ${PACED_RATE}/s: p50 / p99 |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| one PostgreSQL, no standby | $rps_none | $p50_none | $p99_none | 1.00 | $paced_none |"
echo "| Patroni, synchronous standby (SUCCESS on two servers) | $rps_sync | $p50_sync | $p99_sync | $(ratio "$rps_sync" "$rps_none") | $paced_sync |"
echo "| Patroni, asynchronous standby | $rps_async | $p50_async | $p99_async | $(ratio "$rps_async" "$rps_none") | $paced_async |"
fi

# The fault test's recovery times: the tests' debug build drives the release broker.
swift build --build-tests >&2
runs=$work/chaos.txt
: >"$runs"
for i in $(seq "$CHAOS_RUNS"); do
  # Only runs that passed (nothing lost) count.
  if WEEVENT_BIN="$BIN/weevent" swift test --skip-build --filter ChaosTests >"$work/chaos-$i.txt" 2>&1; then
    grep '^CHAOS fault=' "$work/chaos-$i.txt" >>"$runs"
  else
    echo "chaos run $i failed; its times are left out:" >&2
    grep -E '^(✘|↳ after)' "$work/chaos-$i.txt" >&2 || true
  fi
done
echo
python3 - "$runs" "$CHAOS_RUNS" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = dict(re.findall(r"(\w+)=(\S+)", line))
    rows.setdefault(m["fault"], []).append(m)
def median(values):
    numbers = [float(v) for v in values if v != "none"]
    return f"{statistics.median(numbers):.2f} s" if numbers else "none"
print(f"| killed (SIGKILL), release broker, median of {sys.argv[2]} runs | kill to next SUCCESS | kill to device message stored | runs |")
print("|---|---:|---:|---:|")
for fault, ms in rows.items():
    print(f"| {fault} | {median(m['rest_recovery_s'] for m in ms)} | {median(m['device_recovery_s'] for m in ms)} | {len(ms)} |")
PY
