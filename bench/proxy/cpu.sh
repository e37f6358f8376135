#!/usr/bin/env bash
# CPU time per request of `steady proxy`, nginx, the upstream and wrk, side by side at c=64
# (rounds alternate steady and nginx). CPU time per request moves much less than requests/s when
# other work shares the machine. Needs root (nginx), nginx, wrk, and perf (task-clock of wrk).
#   bench/proxy/cpu.sh                      # ROUNDS=3 D=5s C=64
#   PROXY=/path/to/other/proxy bench/proxy/cpu.sh   # compare another build
#   FLOOR=1 bench/proxy/cpu.sh              # also examples/floor.rs: the least any proxy on tokio
#                                           # can do per request, i.e. how far above nginx one can get
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
names="steady nginx"
fl=
if [ "${FLOOR:-0}" = 1 ]; then
  "$BIN/floor" 127.0.0.1:28070 127.0.0.1:28081 2>/dev/null & fl=$!
  names="$names floor"
fi
trap 'kill $st $up $fl 2>/dev/null; nginx -c "$OUT/nginx.conf" -s stop 2>/dev/null' EXIT
sleep 1
# user and system clock ticks of the processes, summed: "USER SYS"
cpu() { local u=0 s=0; for p in "$@"; do read -r pu ps < <(awk '{print $14, $15}' "/proc/$p/stat"); u=$((u + pu)); s=$((s + ps)); done; echo "$u $s"; }
tick=$(getconf CLK_TCK)
for _ in $(seq "${ROUNDS:-3}"); do
  for name in $names; do
    case $name in
      steady) port=28080; pids=$st ;;
      floor) port=28070; pids=$fl ;;
      nginx) port=28090; pids="$(cat "$OUT/nginx.pid") $(pgrep -P "$(cat "$OUT/nginx.pid")" | tr '\n' ' ')" ;;
    esac
    read -r cu0 cs0 < <(cpu $pids); read -r uu0 us0 < <(cpu $up)
    out=$(perf stat -x, -e task-clock -o "$OUT/wrk.perf" wrk -t1 -c"${C:-64}" -d"${D:-5s}" --latency "http://127.0.0.1:$port/")
    read -r cu1 cs1 < <(cpu $pids); read -r uu1 us1 < <(cpu $up)
    wrkms=$(awk -F, '/task-clock/{print $1}' "$OUT/wrk.perf")
    echo "$out" | awk -v n=$name -v user=$((cu1 - cu0)) -v sys=$((cs1 - cs0)) -v ucpu=$((uu1 - uu0 + us1 - us0)) -v wrkms="$wrkms" -v tick="$tick" \
      -v load="$(cut -d' ' -f1 /proc/loadavg)" '/requests in/{req=$1} /Requests\/sec/{r=$2} /^ +99%/{p=$2}
      END{printf "%-6s load %5s %9s req/s  p99 %8s  CPU us/request: proxy %.2f (user %.2f, system %.2f)  upstream %.2f  wrk %.2f\n",
          n, load, r, p, (user+sys)/tick*1e6/req, user/tick*1e6/req, sys/tick*1e6/req, ucpu/tick*1e6/req, wrkms*1e3/req}'
  done
done | tee "$OUT/summary.txt"
