# Sourced by the proxy benchmarks: the one nginx configuration steady is compared against
# (reverse proxy with upstream keep-alive, access log off), so every script measures the same
# anchor.
#   nginx_conf FILE DIR UPSTREAM LISTEN [TOP_LINES]
# writes FILE with pid and error log in DIR; TOP_LINES (e.g. "master_process off;") go first,
# default "worker_processes auto;".
nginx_conf() {
  local file=$1 dir=$2 upstream=$3 listen=$4 top=${5:-"worker_processes auto;"}
  cat >"$file" <<CONF
$top
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream app { server $upstream; keepalive 64; }
  server {
    listen $listen;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
}
