#!/usr/bin/env bash
# Guard benchmarks, run by hand (never in CI). From the repository root: bench/guard/run.sh
# Needs wrk (apt-get install -y wrk). Prints the figures recorded in bench/guard/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-15s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
export BODY=${BODY:-$PWD/../shared/samples/admission/pods-DELETE.json}

cargo build --release -p steady-guard --example guard_bench
BIN=$PWD/target/release/examples/guard_bench
WORK=$(mktemp -d)
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"; }
PIDS=()
trap cleanup EXIT

(cd "$WORK" && exec "$BIN" guard 127.0.0.1:18443) 2>/dev/null &
PIDS+=($!)
(cd "$WORK" && exec "$BIN" bare 127.0.0.1:18444) 2>/dev/null &
PIDS+=($!)
sleep 1

for target in "guard 18443" "bare 18444"; do
  set -- $target
  echo "== $1 (fast path: pod in a namespace no budget covers), c=$CONNS, t=$THREADS, $DURATION"
  curl -sk -o /dev/null -w "warm-up: HTTP %{http_code}\n" -X POST -H 'content-type: application/json' \
    --data-binary @"$BODY" "https://127.0.0.1:$2/validate/pods" || true
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s bench/guard/post.lua "https://127.0.0.1:$2/validate/pods"
done

echo "== memory per cached pod"
"$BIN" memory 50000
