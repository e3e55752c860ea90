#!/usr/bin/env bash
# Part of `make bench` (issue 24): what identities cost, in this run on this box. Prints two
# markdown tables:
#   1. publish throughput of the open broker (A) against one with access configured (B): a
#      master token, access.anonymous=none, 100 identities of 5 rights each, every request
#      carrying one of their tokens in turn (wrk, a Lua script; A gets the same requests, whose
#      tokens an open broker ignores), so each publish resolves its token, checks its rights and
#      stores its publisher; alternating A and B, embedded store, ROUNDS rounds;
#   2. signed publishes (one identity that must sign: an Ed25519 verification per event)
#      beside the same identity's unsigned publishes, at 16 connections: req/s, p50, p99.
# Environment: DURATION (s per wrk run, default 10), ROUNDS (default 2), IDENTITIES (100).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
IDENTITIES=${IDENTITIES:-100}
swift build -c release --product weevent >&2
BIN=$(swift build -c release --show-bin-path)
. scripts/bench-serve.sh

work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
stop_server() { kill -TERM "$pid"; wait "$pid" || true; pid=; }

content="hello-weevent-bench-100-bytes-of-content-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
path="/weevent/rest/publish?topic=bench&content=$content"

# wrk_run CONNECTIONS [SCRIPT]: sets rps, p50 and p99; stops the bench when any answer was not a
# success (a refused token or signature would otherwise be counted as fast publishes).
wrk_run() {
  local threads=2 script=() out
  [ "$1" -lt 2 ] && threads=1
  [ -n "${2:-}" ] && script=(-s "$2")
  out=$(wrk -t"$threads" -c"$1" -d"${DURATION}s" --latency "${script[@]}" "http://127.0.0.1:$port$path")
  if echo "$out" | grep -q "Non-2xx"; then
    echo "bench-identities: answers that were not a success:" >&2
    echo "$out" >&2
    exit 1
  fi
  read -r rps p50 p99 < <(echo "$out" | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = $2 }
    /^ +99%/ { p99 = $2 }
    END { printf "%d %s %s\n", rps, p50, p99 }')
}

# tokens_script FILE TOKENS...: a wrk script sending the publish with each token in turn.
tokens_script() {
  local file=$1
  shift
  {
    echo "local tokens = {"
    for t in "$@"; do echo "  \"$t\","; done
    echo "}"
    echo "local n = 0"
    echo "request = function()"
    echo "  n = n + 1"
    echo "  return wrk.format(\"GET\", \"$path\", { [\"Authorization\"] = \"Bearer \" .. tokens[(n % #tokens) + 1] })"
    echo "end"
  } > "$file"
}

admin() { curl -sf -H "Authorization: Bearer bench-master" "http://127.0.0.1:$port/weevent/$1"; }

# serve NAME CLOSED: a fresh server with topic "bench" open; CLOSED=1 configures access and
# makes IDENTITIES identities, writing their tokens to $work/NAME.lua.
serve() {
  mkdir -p "$work/$1"
  if [ "$2" = 1 ]; then
    start_bench_server "$BIN" "$work/$1" "master.access-token=bench-master
access.anonymous=none"
    local tokens=()
    for i in $(seq "$IDENTITIES"); do
      # Five rights each, the one that allows the publish last.
      rights="read:app/$i/%23+request@1:cmd/$i/%2B+manage:app/$i/%23+publish@2:bench+publish:app/$i/%23,bench"
      tokens+=("$(admin "admin/addIdentity?name=app-$i&rights=$rights" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')")
    done
    tokens_script "$work/$1.lua" "${tokens[@]}"
    admin "rest/open?topic=bench" >/dev/null
  else
    start_bench_server "$BIN" "$work/$1" ""
    curl -sf "http://127.0.0.1:$port/weevent/rest/open?topic=bench" >/dev/null
    # The same requests (an open broker ignores tokens), so wrk's own work is the same in A and B.
    tokens_script "$work/$1.lua" $(for i in $(seq "$IDENTITIES"); do printf 'wev_open%03d ' "$i"; done)
  fi
}

echo
echo "| round | access | 1 conn | 16 | 64 | p99 at 16 |"
echo "|---:|---|---:|---:|---:|---:|"
declare -A sums
for round in $(seq "$ROUNDS"); do
  for build in A B; do
    closed=0
    [ "$build" = B ] && closed=1
    script="$work/$round-$build.lua"
    serve "$round-$build" "$closed"
    wrk_run 1 "$script"; r1=$rps
    wrk_run 16 "$script"; r16=$rps; p99_16=$p99
    wrk_run 64 "$script"; r64=$rps
    stop_server
    label="open (A)"
    [ "$build" = B ] && label="$IDENTITIES identities (B)"
    echo "| $round | $label | $r1 | $r16 | $r64 | $p99_16 |"
    for c in 1 16 64; do
      v="r$c"
      sums[$build$c]=$(( ${sums[$build$c]:-0} + ${!v} ))
    done
  done
done
ratios=""
for c in 1 16 64; do
  ratios="$ratios $(python3 -c "print(f'{${sums[B$c]}/${sums[A$c]}:.2f}' if ${sums[A$c]} else 'n/a')") |"
done
echo "| all | B / A |$ratios |"

# Signed against unsigned, the same identity, the same server.
serve signed 1
made=$(admin "admin/addIdentity?name=signer&rights=publish:bench")
token=$(echo "$made" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
public=$("$BIN/weevent" identity keygen --key "$work/signer.key" 2>/dev/null)
signature=$("$BIN/weevent" identity sign --key "$work/signer.key" --publisher signer --topic bench --content "$content")
encoded=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$signature")
tokens_script "$work/signer.lua" "$token"
wrk_run 16 "$work/signer.lua"; u16=$rps up50=$p50 up99=$p99
admin "admin/setIdentityKey?name=signer&publicKey=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$public")&signaturesRequired=true" >/dev/null
path="$path&weevent-signature=$encoded"
tokens_script "$work/signer.lua" "$token"
wrk_run 16 "$work/signer.lua"; s16=$rps sp50=$p50 sp99=$p99
stored=$(admin "admin/blockchaininfo" | python3 -c 'import json,sys; print(json.load(sys.stdin)["eventCount"])')
stop_server
echo
echo "| one identity, 16 connections | req/s | p50 | p99 |"
echo "|---|---:|---:|---:|"
echo "| unsigned publishes | $u16 | $up50 | $up99 |"
echo "| signed (Ed25519 verified per event) | $s16 | $sp50 | $sp99 |"
echo "| signed / unsigned | $(python3 -c "print(f'{$s16/$u16:.2f}' if $u16 else 'n/a')") | | |"
echo
echo "events stored in the signed run: $stored"
