#!/usr/bin/env bash
# Part of `make bench`: callback delivery (rest/subscribe). A subscription's events are POSTed
# one at a time, in order, each after the receiver answered the one before, so its rate is bound
# by the receiver's round trip. Prints a markdown table with a row per receiver:
#   - "one write": answers each POST in one write (scripts/callback-receiver.py does);
#   - "two writes, Nagle on": writes headers and body apart with Nagle's algorithm on, as
#     Python's http.server does unless told otherwise (many small HTTP servers do the same);
# and for each: the POSTs/s a client sending one at a time over one keep-alive connection gets
# from that receiver in this run (the reference), the rate the broker delivers a backlog of
# EVENTS (SLOW_EVENTS for the second receiver) published before the subscription (which starts
# from the first, OFFSET_FIRST), their ratio, and the time
# from publish to POST (p50, p99) at PACED_RATE events/s (SLOW_RATE for the second receiver,
# below what it can take) for PACED_SECONDS.
# Environment: EVENTS (default 5000), SLOW_EVENTS (200), PACED_RATE (100), SLOW_RATE (10),
# PACED_SECONDS (10).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-5000}
SLOW_EVENTS=${SLOW_EVENTS:-200}
PACED_RATE=${PACED_RATE:-100}
SLOW_RATE=${SLOW_RATE:-10}
PACED_SECONDS=${PACED_SECONDS:-10}
swift build -c release --product weevent >&2
BIN=$(swift build -c release --show-bin-path)
. scripts/bench-serve.sh
bench_cleanup_on_exit
receiver_pid=
trap 'kill $receiver_pid 2>/dev/null || true; bench_cleanup' EXIT

start_bench_server "$BIN" "$work" "subscription.callback.allowed-ranges=127.0.0.0/8"
api="http://127.0.0.1:$port/weevent"

# The receiver: MODE one|split; appends "<arrival time> <content>" per POST to OUT.
cat > "$work/receiver.py" <<'PY'
import base64, json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

mode = sys.argv[3]

class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = mode == "one"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        now = time.time()
        try:
            content = base64.b64decode(json.loads(body)["event"]["content"]).decode()
        except Exception:
            content = "-"
        with open(self.server.outfile, "a") as f:
            f.write(f"{now:.6f} {content}\n")
        if mode == "one":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
        else:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver)
server.outfile = sys.argv[2]
print("listening", flush=True)
server.serve_forever()
PY

# POSTs to the receiver one at a time over one connection for 3 s: POSTs/s.
reference() {
  python3 - "$1" <<'PY'
import http.client, json, sys, time
connection = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
body = json.dumps({"event": {"content": "cmVm", "eventId": "x"}, "subscriptionId": "ref"})
n, start = 0, time.time()
while time.time() - start < 3:
    connection.request("POST", "/hook", body, {"Content-Type": "application/json"})
    connection.getresponse().read()
    n += 1
print(int(n / (time.time() - start)))
PY
}

# Publishes COUNT events named PREFIX-i on TOPIC (16 connections), then subscribes the receiver
# at RECEIVER_PORT to TOPIC from its first event and waits until OUT has them all: prints the
# deliveries/s from the subscribe to the last POST, and the subscription's id.
backlog() {
  local topic=$1 prefix=$2 count=$3 rport=$4 out=$5
  python3 - "$api" "$topic" "$prefix" "$count" "$rport" "$out" <<'PY'
import concurrent.futures, sys, time, urllib.parse, urllib.request
api, topic, prefix, count, rport, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
def publish(i):
    urllib.request.urlopen(f"{api}/rest/publish?topic={topic}&content={prefix}-{i}").read()
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    list(pool.map(publish, range(count)))
hook = urllib.parse.quote(f"http://127.0.0.1:{rport}/hook", safe="")
start = time.time()
subscription = urllib.request.urlopen(f"{api}/rest/subscribe?topic={topic}&url={hook}&offset=OFFSET_FIRST").read().decode()
last = start
while True:
    with open(out) as f:
        arrivals = [float(line.split(" ", 1)[0]) for line in f if line.rstrip("\n").split(" ", 1)[1].startswith(prefix + "-")]
    if len(arrivals) >= count:
        last = max(arrivals)
        break
    if time.time() - start > 600:
        sys.exit("deliveries stalled")
    time.sleep(0.05)
print(int(count / (last - start)), subscription)
PY
}

# Publishes on TOPIC at RATE/s for PACED_SECONDS (one connection), then waits for the POSTs:
# publish-to-POST p50 and p99 in ms.
paced() {
  local topic=$1 prefix=$2 rate=$3 out=$4
  python3 - "$api" "$topic" "$prefix" "$rate" "$PACED_SECONDS" "$out" <<'PY'
import sys, time, urllib.request
api, topic, prefix, rate, seconds, out = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
sent = {}
start = time.time()
i = 0
while i < rate * seconds:
    due = start + i / rate
    now = time.time()
    if due > now:
        time.sleep(due - now)
    content = f"{prefix}-{i}"
    sent[content] = time.time()
    urllib.request.urlopen(f"{api}/rest/publish?topic={topic}&content={content}").read()
    i += 1
arrived = {}
deadline = time.time() + 600
while len(arrived) < len(sent) and time.time() < deadline:
    with open(out) as f:
        for line in f:
            at, content = line.rstrip("\n").split(" ", 1)
            if content in sent:
                arrived[content] = float(at)
    time.sleep(0.1)
lat = sorted((arrived[c] - sent[c]) * 1000 for c in arrived)
if len(lat) < len(sent):
    sys.exit(f"only {len(lat)} of {len(sent)} paced events were delivered")
print(f"{lat[len(lat) // 2]:.1f} {lat[min(len(lat) - 1, int(len(lat) * 0.99))]:.1f}")
PY
}

echo
echo "| callback receiver | one-at-a-time POSTs/s to it (reference) | broker delivery/s (backlog) | delivery / reference | paced at | publish to POST p50 | p99 |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for mode in one split; do
  rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  out="$work/received-$mode.txt"
  : > "$out"
  python3 "$work/receiver.py" "$rport" "$out" "$mode" > /dev/null &
  receiver_pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$rport/" && break; sleep 0.1; done
  ref=$(reference "$rport")
  : > "$out"
  topic="cb-$mode"
  curl -sf "$api/rest/open?topic=$topic" >/dev/null
  count=$EVENTS pace=$PACED_RATE
  [ "$mode" = split ] && { count=$SLOW_EVENTS; pace=$SLOW_RATE; }
  read -r rate subscription < <(backlog "$topic" "backlog-$mode" "$count" "$rport" "$out")
  read -r p50 p99 < <(paced "$topic" "paced-$mode" "$pace" "$out")
  curl -sf "$api/rest/unSubscribe?subscriptionId=$subscription" >/dev/null
  kill "$receiver_pid"
  wait "$receiver_pid" 2>/dev/null || true
  receiver_pid=
  ratio=$(python3 -c "print(f'{$rate/$ref:.2f}' if $ref else 'n/a')")
  label="one write"
  [ "$mode" = split ] && label="two writes, Nagle on"
  echo "| $label | $ref | $rate | $ratio | $pace/s | $p50 ms | $p99 ms |"
done
