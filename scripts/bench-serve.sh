# Sourced by the bench scripts:
# - start_bench_server BIN WORKDIR [EXTRA CONFIG LINES] starts `BIN/weevent serve` on a free
#   loopback port with its ledger under WORKDIR (and the extra lines in its configuration),
#   waits until it answers, and sets `port` and `pid`;
# - start_bench_postgres starts a throw-away PostgreSQL (scripts/postgres.sh) and sets
#   `pg_port`, `pg_pid` and `url` (its ledger.postgresql.url);
# - bench_cleanup_on_exit makes `work` (a temporary directory) and stops the server in `pid`
#   and the PostgreSQL in `pg_pid`, and removes `work`, when the script exits.
start_bench_server() {
  local bin=$1 work=$2 extra=${3:-}
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$work/weevent.properties" <<CONF
server.host=127.0.0.1
server.port=$port
ledger.path=$work/data
mqtt.broker.url=
broker.zookeeper.ip=
$extra
CONF
  "$bin/weevent" serve --config "$work/weevent.properties" --log-level warning &
  pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/weevent/admin/health" >/dev/null && return 0
    sleep 0.1
  done
  echo "weevent did not answer on port $port within 10 s" >&2
  return 1
}

start_bench_postgres() {
  local out
  out=$(scripts/postgres.sh start)
  pg_port=$(echo "$out" | sed -E 's/.*port=([0-9]+).*/\1/')
  pg_pid=$(echo "$out" | sed -E 's/.*pid=([0-9]+).*/\1/')
  url=$(scripts/postgres.sh url "$pg_port")
}

bench_cleanup() {
  [ -n "${pid:-}" ] && { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  [ -n "${pg_pid:-}" ] && scripts/postgres.sh stop "$pg_pid" >/dev/null 2>&1 || true
  rm -rf "$work"
}

bench_cleanup_on_exit() {
  work=$(mktemp -d)
  pid=
  pg_pid=
  trap bench_cleanup EXIT
}
