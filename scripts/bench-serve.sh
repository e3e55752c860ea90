# Sourced by the bench scripts: start_bench_server BIN WORKDIR [EXTRA CONFIG LINES]
# starts `BIN/weevent serve` on a free loopback port with its ledger under WORKDIR (and the
# extra lines in its configuration), waits until it answers, and sets `port` and `pid`.
# The caller stops it (its EXIT trap).
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
