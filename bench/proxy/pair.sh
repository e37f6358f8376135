#!/usr/bin/env bash
# One contestant of the side-by-side with nginx, as one process tree: starts the upstream and the
# proxy (steady or nginx, WORKERS workers each), sends exactly N requests over C keep-alive
# HTTP/1.1 connections with h2load (wrk has no request count: its Lua stop() idles to -d), stops everything and waits for it. Timed from outside by anything that reads the
# finished tree's rusage (`/usr/bin/time -v`, or a harness that runs A and B in turn), the run's
# user + system time is proxy + upstream + wrk for N requests; upstream and wrk are the same for
# both contestants, so the difference is the proxies' CPU per request, and with N fixed the wall
# time ratio is the inverse of the requests/s ratio. Needs root (nginx), nginx and h2load
# (Debian nghttp2-client).
#   bench/proxy/pair.sh steady|nginx WORKERS C N
# e.g. /usr/bin/time -v bench/proxy/pair.sh steady 1 64 300000
# Build first: cargo build --release -p steady-proxy --examples
set -euo pipefail
who=$1 workers=$2 conns=$3 n=$4
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
. bench/proxy/nginx.sh
BIN=${BIN:-target/release/examples}
OUT=${OUT:-/tmp/steady-pair}
mkdir -p "$OUT"
up=127.0.0.1:38081 listen=127.0.0.1:38080
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return; sleep 0.02; done; echo "nothing listens on $1" >&2; exit 2; }
"$BIN/bench_upstream" "$up" 2>/dev/null &
upstream=$!
case $who in
  steady)
    STEADY_LOG=warn "$BIN/proxy" --listen "$listen" --upstream "$up" --workers "$workers" \
      --admin-listen 127.0.0.1:38901 --drain-delay 0s 2>"$OUT/steady.log" &
    ;;
  nginx)
    nginx_conf "$OUT/nginx.conf" "$OUT" "$up" "$listen" "daemon off; worker_processes $workers;"
    nginx -c "$OUT/nginx.conf" &
    ;;
  *) echo "usage: $0 steady|nginx WORKERS C N" >&2; exit 2 ;;
esac
proxy=$!
wait_port "$up"
wait_port "$listen"
h2load --h1 -t1 -c"$conns" -n"$n" "http://$listen/" | tee "$OUT/$who-w$workers-c$conns.txt"
kill -TERM "$proxy" "$upstream"
wait
