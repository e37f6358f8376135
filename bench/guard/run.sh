#!/usr/bin/env bash
# Guard benchmarks, run by hand (never in CI). From the repository root: bench/guard/run.sh
# Needs wrk (apt-get install -y wrk). Prints the figures recorded in bench/guard/README.md.
# Knobs: DURATION (15s), CONNS (64; several allowed: CONNS="64 8 1"), THREADS (1), ROUNDS (1: guard
# and bare alternate this many times per CONNS value), BODY (the AdmissionReview posted), MEMORY
# (1: also measure memory per cached pod; 0 skips it), BIN (a guard_bench binary to use instead of
# building one).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-15s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-1}
MEMORY=${MEMORY:-1}
export BODY=${BODY:-$PWD/testdata/admission/pods-DELETE.json}

if [ -z "${BIN:-}" ]; then
  cargo build --release -p steady-guard --example guard_bench
  BIN=$PWD/target/release/examples/guard_bench
fi
WORK=$(mktemp -d)
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"; }
PIDS=()
trap cleanup EXIT

(cd "$WORK" && exec "$BIN" guard 127.0.0.1:18443) 2>/dev/null &
PIDS+=($!)
(cd "$WORK" && exec "$BIN" bare 127.0.0.1:18444) 2>/dev/null &
PIDS+=($!)
sleep 1

# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

SUMMARY=$WORK/summary
for conns in $CONNS; do
  for round in $(seq "$ROUNDS"); do
    for target in "guard 18443" "bare 18444"; do
      set -- $target
      echo "== $1 (fast path: pod in a namespace no budget covers), c=$conns, t=$THREADS, $DURATION, round $round"
      curl -sk -o /dev/null -w "warm-up: HTTP %{http_code}\n" -X POST -H 'content-type: application/json' \
        --data-binary @"$BODY" "https://127.0.0.1:$2/validate/pods" || true
      load=$(cut -d' ' -f1 /proc/loadavg)
      pid=${PIDS[0]}; [ "$1" = guard ] || pid=${PIDS[1]}
      before=$(cpu_ticks "$pid")
      /usr/bin/time -f "wrk cpu: %U %S" -o "$WORK/wrk-time" \
        wrk -t"$THREADS" -c"$conns" -d"$DURATION" --latency -s bench/guard/post.lua \
        "https://127.0.0.1:$2/validate/pods" | tee "$WORK/out"
      ticks=$(( $(cpu_ticks "$pid") - before ))
      cat "$WORK/wrk-time" >>"$WORK/out"
      # CPU time per request (user + system, µs) of the server and of wrk: less sensitive to
      # other load than wall-clock figures. With both CPU-bound on the 2 cores, throughput is
      # about 2 cores / (server + wrk CPU per request).
      awk -v who="$1" -v c="$conns" -v r="$round" -v load="$load" -v ticks="$ticks" -v hz="$(getconf CLK_TCK)" '
        /^ +50%/ {p50 = $2} /^ +99%/ {p99 = $2} /^Requests\/sec/ {rps = $2}
        / requests in / {n = $1} /^wrk cpu:/ {wrk = $3 + $4}
        END {printf "%-5s c=%-3s round %s: %10s req/s  p50 %-8s p99 %-8s server CPU %5.1f us/req  wrk CPU %5.1f us/req  (load average %s before)\n",
             who, c, r, rps, p50, p99, ticks / hz / n * 1e6, wrk / n * 1e6, load}
      ' "$WORK/out" >>"$SUMMARY"
    done
  done
done
echo "== summary"
cat "$SUMMARY"

if [ "$MEMORY" = 1 ]; then
  echo "== memory per cached pod"
  "$BIN" memory 50000
fi
