#!/usr/bin/env bash
# CPU instructions per proxied request, for `steady proxy` and nginx, counted by callgrind instead
# of measured in wall time, so the figure holds on a machine busy with other work.
#
#   apt-get install -y valgrind nginx wrk && bench/proxy/callgrind.sh
#
# Each proxy runs under `valgrind --tool=callgrind` (one worker: steady `--workers 1`, nginx
# `master_process off`) and serves a fixed number of requests from `wrk -t1 -c$CONNS`; it runs
# twice, with $SMALL and $LARGE requests, and the difference of the two totals divided by
# ($LARGE - $SMALL) is the cost of one request with start-up and shutdown cancelled out. Only user
# space is counted; `SYSCALLS=1` also counts system calls per request with `strace -f -c`.
# `WHO=steady` skips nginx. Results go to $OUT (default /tmp/steady-callgrind).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
. bench/proxy/nginx.sh

SMALL=${SMALL:-5000}
LARGE=${LARGE:-25000}
CONNS=${CONNS:-8}
OUT=${OUT:-/tmp/steady-callgrind}
UP=127.0.0.1:18081
STEADY=127.0.0.1:18080
ADMIN=127.0.0.1:19901
NGINX=127.0.0.1:18090
mkdir -p "$OUT"
rm -f "$OUT"/cg.* "$OUT"/done

# The profiling profile is the release code with debug info, so callgrind_annotate names functions
# and lines; the instruction counts are the release build's.
cargo build --profile profiling -p steady-proxy --examples
BIN=target/profiling/examples
PROXY=${PROXY:-$BIN/proxy}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
"$BIN/bench_upstream" "$UP" >/dev/null 2>"$OUT/upstream.log" & pids+=($!)

# wrk has no request-count option: this script stops its thread after $REQUESTS responses and
# touches $DONE so we can end wrk at once instead of waiting out -d.
cat >"$OUT/count.lua" <<'EOF'
local n = 0
local max = tonumber(os.getenv("REQUESTS"))
local done = os.getenv("DONE")
function response(status, headers, body)
  n = n + 1
  if n == max then
    local f = io.open(done, "w"); f:close()
    wrk.thread:stop()
  end
end
EOF

nginx_conf "$OUT/nginx.conf" "$OUT" "$UP" "$NGINX" "daemon off;
master_process off;
worker_processes 1;"

load() { # $1 = requests, $2 = address; prints wrk's summary lines
  rm -f "$OUT/done"
  REQUESTS=$1 DONE="$OUT/done" wrk -t1 -c"$CONNS" -d600s -s "$OUT/count.lua" "http://$2/" >"$OUT/wrk.txt" &
  local w=$!
  while [ ! -f "$OUT/done" ] && kill -0 "$w" 2>/dev/null; do sleep 0.1; done
  sleep 0.3
  kill -INT "$w" 2>/dev/null || true
  wait "$w" || true
  grep -E 'requests in|Socket errors|Non-2xx' "$OUT/wrk.txt" | sed 's/^/    /'
}

wait_http() { # $1 = url
  for _ in $(seq 600); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "no answer from $1" >&2
  return 1
}

# $1 = steady|nginx, $2 = requests, $3 = wrapper (valgrind ... or strace ...) words
run() {
  local who=$1 n=$2
  shift 2
  if [ "$who" = steady ]; then
    STEADY_LOG=warn "$@" "$PROXY" --listen "$STEADY" --upstream "$UP" --admin-listen "$ADMIN" \
      --drain-delay 0s --drain-deadline 5s --workers 1 >/dev/null 2>>"$OUT/$who.log" &
    local pid=$!
    wait_http "http://$ADMIN/ready"
    load "$n" "$STEADY"
    # valgrind runs the proxy in its own process; strace runs it as a child.
    local target=$pid child
    child=$(pgrep -P "$pid" || true)
    [ -n "$child" ] && target=$child
    kill -TERM "$target"
  else
    "$@" nginx -c "$OUT/nginx.conf" >/dev/null 2>>"$OUT/$who.log" &
    local pid=$!
    wait_http "http://$NGINX/"
    load "$n" "$NGINX"
    kill -QUIT "$(cat "$OUT/nginx.pid")"
  fi
  wait "$pid" || true
}

total() { # $1 = callgrind output file
  awk '/^summary:/ {print $2}' "$1"
}

for who in ${WHO:-steady nginx}; do
  for n in "$SMALL" "$LARGE"; do
    echo "== $who under callgrind, $n requests, c=$CONNS"
    run "$who" "$n" valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$who.$n" -q
  done
  small=$(total "$OUT/cg.$who.$SMALL")
  large=$(total "$OUT/cg.$who.$LARGE")
  echo "$who: $(( (large - small) / (LARGE - SMALL) )) instructions per request ($small for $SMALL, $large for $LARGE)" |
    tee -a "$OUT/summary.txt"
  if [ "${SYSCALLS:-0}" = 1 ]; then
    echo "== $who under strace, $LARGE requests"
    run "$who" "$LARGE" strace -f -c -o "$OUT/strace.$who.txt"
    awk -v n="$LARGE" -v who="$who" '$NF ~ /^[a-z_0-9]+$/ && $NF != "total" && $4 ~ /^[0-9]+$/ {c+=$4; if ($4 > n/100) s = s sprintf(" %s %.2f", $NF, $4/n)}
      END {printf "%s: %.2f system calls per request:%s\n", who, c/n, s}' "$OUT/strace.$who.txt" | tee -a "$OUT/summary.txt"
  fi
done
echo "profiles: callgrind_annotate $OUT/cg.steady.$LARGE | head -60"
