#!/usr/bin/env bash
# CPU time per request of `steady proxy`, nginx, the upstream and wrk, side by side at c=64
# (rounds alternate steady and nginx). CPU time per request moves much less than requests/s when
# other work shares the machine. Needs root (nginx), nginx, wrk, and perf (task-clock of wrk).
#   bench/proxy/cpu.sh                      # ROUNDS=3 D=5s C=64
#   PROXY=/path/to/other/proxy bench/proxy/cpu.sh   # compare another build
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
. bench/proxy/nginx.sh
OUT=${OUT:-/tmp/steady-cpu}
mkdir -p "$OUT"
cargo build --release -p steady-proxy --examples
BIN=target/release/examples
PROXY=${PROXY:-$BIN/proxy}
nginx_conf "$OUT/nginx.conf" "$OUT" 127.0.0.1:28081 127.0.0.1:28090
"$BIN/bench_upstream" 127.0.0.1:28081 2>/dev/null & up=$!
nginx -c "$OUT/nginx.conf"
STEADY_LOG=warn "$PROXY" --listen 127.0.0.1:28080 --upstream 127.0.0.1:28081 \
  --admin-listen 127.0.0.1:29901 --drain-delay 0s 2>/dev/null & st=$!
trap 'kill $st $up 2>/dev/null; nginx -c "$OUT/nginx.conf" -s stop 2>/dev/null' EXIT
sleep 1
cpu() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
tick=$(getconf CLK_TCK)
for _ in $(seq "${ROUNDS:-3}"); do
  for name in steady nginx; do
    if [ $name = steady ]; then port=28080; pids=$st; else
      port=28090; pids="$(cat "$OUT/nginx.pid") $(pgrep -P "$(cat "$OUT/nginx.pid")" | tr '\n' ' ')"; fi
    c0=$(cpu $pids); u0=$(cpu $up)
    out=$(perf stat -x, -e task-clock -o "$OUT/wrk.perf" wrk -t1 -c"${C:-64}" -d"${D:-5s}" --latency "http://127.0.0.1:$port/")
    c1=$(cpu $pids); u1=$(cpu $up)
    wrkms=$(awk -F, '/task-clock/{print $1}' "$OUT/wrk.perf")
    echo "$out" | awk -v n=$name -v cpu=$((c1 - c0)) -v ucpu=$((u1 - u0)) -v wrkms="$wrkms" -v tick="$tick" \
      -v load="$(cut -d' ' -f1 /proc/loadavg)" '/requests in/{req=$1} /Requests\/sec/{r=$2} /^ +99%/{p=$2}
      END{printf "%-6s load %5s %9s req/s  p99 %8s  CPU us/request: proxy %.2f  upstream %.2f  wrk %.2f\n",
          n, load, r, p, cpu/tick*1e6/req, ucpu/tick*1e6/req, wrkms*1e3/req}'
  done
done | tee "$OUT/summary.txt"
