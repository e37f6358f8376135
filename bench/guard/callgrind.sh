#!/usr/bin/env bash
# Instructions per request, guard fast path vs the bare server, under callgrind (repeatable on a
# busy machine, unlike wall-clock figures). From the repository root: bench/guard/callgrind.sh
# Needs valgrind and curl. Knobs: N (requests counted, default 2000), BODY (as in run.sh).
#
# Each server runs under callgrind with collection off; one warm-up request opens the connection
# path, then collection is switched on, N requests are posted over ONE keep-alive HTTP/1.1 TLS
# connection (curl, like wrk, speaks HTTP/1.1 here), collection is dumped and the server stopped.
# The connection with its TLS handshake is measured separately (a run with 1 request) and
# subtracted, so the figure is the per-request cost: read + decrypt, route, handle, encrypt + write.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-2000}
export BODY=${BODY:-$PWD/testdata/admission/pods-DELETE.json}

# The profiling profile is the release code with debug info, so callgrind_annotate names functions
# and lines; the instruction counts are the release build's.
cargo build --profile profiling -p steady-guard --example guard_bench
BIN=$PWD/target/profiling/examples/guard_bench
WORK=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# Posts $2 requests to port $1 over one connection; prints nothing.
post() {
  local cfg=$WORK/curl.cfg
  : >"$cfg"
  for _ in $(seq "$2"); do
    printf 'url = "https://127.0.0.1:%s/validate/pods"\noutput = "/dev/null"\n' "$1" >>"$cfg"
  done
  curl -sk --http1.1 -X POST -H 'content-type: application/json' \
    --data-binary @"$BODY" -K "$cfg"
}

# Total instructions (Ir) callgrind counted while $2 requests ran on server $1.
measure() {
  local mode=$1 n=$2 port=18543
  (cd "$WORK" && exec valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$WORK/cg.$mode.$n.%p" "$BIN" "$mode" 127.0.0.1:$port) 2>"$WORK/vg.log" &
  PID=$!
  for _ in $(seq 100); do curl -sk -o /dev/null "https://127.0.0.1:$port/" && break; sleep 0.2; done
  post $port 1
  callgrind_control -i on "$PID" >/dev/null
  post $port "$n"
  callgrind_control -d "$PID" >/dev/null
  callgrind_control -i off "$PID" >/dev/null
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  awk '/^totals:/ {print $2}' "$WORK"/cg."$mode"."$n".*.1
  [ -z "${KEEP:-}" ] || cp "$WORK"/cg."$mode"."$n".* "$KEEP"/
  rm -f "$WORK"/cg."$mode"."$n".*
}

for mode in bare guard; do
  base=$(measure "$mode" 1)
  total=$(measure "$mode" $((N + 1)))
  echo "$mode: $(( (total - base) / N )) instructions per request ($N requests, body $(basename "$BODY"))"
done
