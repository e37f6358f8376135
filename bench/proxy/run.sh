#!/usr/bin/env bash
# Side-by-side benchmark of `steady proxy` and nginx (reverse proxy with upstream keep-alive) in
# front of the same upstream, load from wrk on loopback. Run by hand (root, for nginx and the
# sysctl), never in CI:   apt-get install -y nginx wrk && bench/proxy/run.sh
# Results go to $OUT (default /tmp/steady-bench); the summary is printed at the end.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
. bench/proxy/nginx.sh

DURATION=${DURATION:-10s}
RESTART_DURATION=${RESTART_DURATION:-20s}
OUT=${OUT:-/tmp/steady-bench}
UP=127.0.0.1:8081
STEADY_PORT=8080
NGINX_PORT=8090
mkdir -p "$OUT"
ulimit -n 65536 || true

cargo build --release -p steady-proxy --examples
BIN=target/release/examples
# `steady proxy` itself when STEADY_BIN points at a release `steady` binary; otherwise the example
# binary that calls the same `steady_proxy::run` (it builds without the Kubernetes client).
if [ -n "${STEADY_BIN:-}" ]; then PROXY=("$STEADY_BIN" proxy); else PROXY=("$BIN/proxy"); fi

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$OUT/nginx.pid" ] && nginx -c "$OUT/nginx.conf" -s stop 2>/dev/null || true
}
trap cleanup EXIT

# When a listener in an SO_REUSEPORT group closes, move connections still in its accept queue to
# a sibling instead of resetting them (Linux ≥ 5.14). Part of the restart recipe; reported below.
MIGRATE_BEFORE=$(cat /proc/sys/net/ipv4/tcp_migrate_req 2>/dev/null || echo n/a)
if [ "${MIGRATE_REQ:-1}" = 1 ]; then sysctl -qw net.ipv4.tcp_migrate_req=1 || true; fi
echo "net.ipv4.tcp_migrate_req=$(cat /proc/sys/net/ipv4/tcp_migrate_req 2>/dev/null || echo n/a) (was $MIGRATE_BEFORE)" | tee "$OUT/sysctl.txt"

"$BIN/bench_upstream" "$UP" >/dev/null 2>"$OUT/upstream.log" & pids+=($!)

nginx_conf "$OUT/nginx.conf" "$OUT" "$UP" "127.0.0.1:$NGINX_PORT"
nginx -c "$OUT/nginx.conf"

steady_start() { # $1 = admin port; prints the pid
  STEADY_LOG=warn "${PROXY[@]}" --listen "127.0.0.1:$STEADY_PORT" --share-port --upstream "$UP" \
    --admin-listen "127.0.0.1:$1" --health-path /healthz --drain-delay 1s --drain-deadline 5s \
    >/dev/null 2>>"$OUT/steady.log" &
  local pid=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$1/ready" >/dev/null 2>&1 && break
    sleep 0.05
  done
  echo "$pid"
}

steady_pid=$(steady_start 9901); pids+=("$steady_pid")
sleep 1

for c in 64 1; do
  for target in steady nginx; do
    port=$([ $target = steady ] && echo $STEADY_PORT || echo $NGINX_PORT)
    echo "== $target c=$c"
    wrk -t1 -c$c -d"$DURATION" --latency "http://127.0.0.1:$port/" | tee "$OUT/wrk-$target-c$c.txt"
  done
done

echo "== steady: 4 restarts (new instance via SO_REUSEPORT, then SIGTERM to the old one)"
wrk -t1 -c64 -d"$RESTART_DURATION" --latency "http://127.0.0.1:$STEADY_PORT/" >"$OUT/wrk-steady-restart.txt" &
wrk_pid=$!
old=$steady_pid
for i in 1 2 3 4; do
  sleep 4
  new=$(steady_start $((9901 + i))); pids+=("$new")
  kill -TERM "$old"
  old=$new
done
wait $wrk_pid; cat "$OUT/wrk-steady-restart.txt"

echo "== nginx: 4 x nginx -s reload"
wrk -t1 -c64 -d"$RESTART_DURATION" --latency "http://127.0.0.1:$NGINX_PORT/" >"$OUT/wrk-nginx-restart.txt" &
wrk_pid=$!
for i in 1 2 3 4; do sleep 4; nginx -c "$OUT/nginx.conf" -s reload; done
wait $wrk_pid; cat "$OUT/wrk-nginx-restart.txt"

summary() { # $1 = file
  awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2}
    /^ +99%/ {p99=$2}
    /requests in/ {n=$1}
    /Socket errors/ {errs=$0; sub(/^ +Socket errors: +/, "", errs)}
    /Non-2xx/ {non2xx=$NF}
    END {printf "%10s req/s  p50 %8s  p99 %8s  requests %9s  non-2xx %s  socket errors: %s\n", rps, p50, p99, n, (non2xx==""?0:non2xx), (errs==""?"none":errs)}' "$1"
}
echo
echo "== summary ($(nproc) cores, $(uname -r))"
for f in steady-c64 nginx-c64 steady-c1 nginx-c1 steady-restart nginx-restart; do
  printf "%-16s " "$f"; summary "$OUT/wrk-$f.txt"
done | tee "$OUT/summary.txt"
if [ "${MIGRATE_REQ:-1}" = 1 ] && [ "$MIGRATE_BEFORE" != n/a ]; then sysctl -qw net.ipv4.tcp_migrate_req="$MIGRATE_BEFORE" || true; fi
