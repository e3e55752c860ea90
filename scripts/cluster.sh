#!/usr/bin/env bash
# `make cluster`: the highly available layout on loopback. A ZooKeeper ensemble of three; Patroni
# with two PostgreSQL servers (primary and synchronous standby) keeping its state in that
# ensemble; mosquitto with persistence; three broker instances on 8080-8082 that share them (one
# ledger, one set of bindings, one elected bridge leader), each given both PostgreSQL servers.
# Everything runs under ./data/cluster and is stopped by pid on Ctrl-C or SIGTERM.
#   scripts/cluster.sh BINARY
# CLUSTER_MODE=async makes the standby asynchronous (commits wait for the primary alone).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?binary}
state=$PWD/data/cluster
mkdir -p "$state"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 8080 8081 8082; do
  if listening "$port"; then echo "port $port is in use: stop what listens there first" >&2; exit 1; fi
done

started=()   # kind:pid, stopped in reverse order
brokers=()
cleanup() {
  for pid in "${brokers[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${brokers[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ((i=${#started[@]}-1; i>=0; i--)); do
    kind=${started[$i]%%:*}; pid=${started[$i]#*:}
    echo "stopping $kind (pid $pid)" >&2
    scripts/$kind.sh stop "$pid" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

field() { echo "$1" | sed -E "s/.*$2=([^ ]+).*/\1/"; }

out=$(scripts/zookeeper.sh ensemble 3 "$state/zookeeper")
while read -r line; do
  case "$line" in
    port=*) started+=("zookeeper:$(field "$line" pid)") ;;
    hosts=*) zk_hosts=${line#hosts=} ;;
  esac
done <<<"$out"
echo "ZooKeeper ensemble on $zk_hosts" >&2

pg_hosts=""
for member in pg1 pg2; do
  out=$(scripts/patroni.sh start "$member" "$state/$member" "$zk_hosts" "${CLUSTER_MODE:-sync}")
  started+=("patroni:$(field "$out" pid)")
  pg_hosts+="${pg_hosts:+,}127.0.0.1:$(field "$out" port)"
  echo "Patroni member $member: PostgreSQL on 127.0.0.1:$(field "$out" port), REST API on 127.0.0.1:$(field "$out" api)" >&2
done

read -r mqtt_port mqtt_pid _ < <(scripts/mosquitto.sh start "$state/mosquitto")
started+=("mosquitto:$mqtt_pid")
echo "mosquitto on 127.0.0.1:$mqtt_port" >&2

for i in 0 1 2; do
  dir=$state/instance-$i
  mkdir -p "$dir"
  cat conf/weevent.properties - >"$dir/weevent.properties" <<PROPS

# make cluster: instance $i of 3
server.port=808$i
ledger.path=$dir/data
ledger.store=postgresql
ledger.postgresql.url=postgres://postgres@$pg_hosts/postgres?target_session_attrs=read-write
# One checkpoint signing key for the whole cluster (made by the first instance to start).
ledger.signing-key=$state/signing.key
mqtt.broker.url=tcp://127.0.0.1:$mqtt_port
broker.zookeeper.ip=$zk_hosts
PROPS
  "$bin" serve --config "$dir/weevent.properties" >"$dir/broker.log" 2>&1 &
  brokers+=($!)
done
for i in 0 1 2; do
  for _ in $(seq 1 200); do
    if curl -sf "http://127.0.0.1:808$i/weevent/admin/health" >/dev/null 2>&1; then break; fi
    if ! kill -0 "${brokers[$i]}" 2>/dev/null; then echo "instance $i exited; see $state/instance-$i/broker.log" >&2; exit 1; fi
    sleep 0.1
  done
done

cat <<TEXT

Three instances share one ledger (PostgreSQL primary and standby under Patroni), bindings and
leadership (a ZooKeeper ensemble of three) and one MQTT broker (mosquitto on port $mqtt_port).
Any instance accepts any call:

  curl "http://localhost:8080/weevent/rest/open?topic=com.weevent.iot.event"
  curl "http://localhost:8081/weevent/master/mqtt_add_inbound_topic?topic=com.weevent.iot.event"
  mosquitto_pub -p $mqtt_port -t com.weevent.iot.event -m '{"key":"temperature","value":10.0}'
  curl -N "http://localhost:8082/weevent/rest/stream?topic=com.weevent.iot.event&offset=OFFSET_FIRST"
  curl "http://localhost:8080/weevent/master/mqtt_list_topic"     # which instance leads the bridge
  curl "http://localhost:8080/weevent/admin/status"              # store primary, standby and lag, ensemble
  patronictl -c $state/pg1/patroni.yml list                      # the PostgreSQL cluster as Patroni sees it

Kill anything (docs/operations.md says what each costs):
  scripts/patroni.sh kill $state/pg1                             # then: scripts/patroni.sh start pg1 $state/pg1 $zk_hosts
  kill -9 PID                                                    # pids: ${started[*]} brokers:${brokers[*]}

Logs: $state/instance-{0,1,2}/broker.log, $state/pg{1,2}/patroni.log. Ctrl-C stops everything.
TEXT
wait "${brokers[@]}" || true
