//! Command-line and environment options of `steady proxy`, and the plain `Config` they resolve to.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Options of `steady proxy`. Every option is also read from a `STEADY_PROXY_*` variable.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address clients connect to (the port the Service targets). Port 15080, in the range
    /// sidecars use (Istio 15001/15006), so it never takes the application's own port.
    #[arg(long, env = "STEADY_PROXY_LISTEN", default_value = "0.0.0.0:15080")]
    pub listen: SocketAddr,

    /// Address of the application in the same pod: by default its usual port 8080 on loopback,
    /// so the application keeps its port and only the Service's targetPort changes.
    #[arg(long, env = "STEADY_PROXY_UPSTREAM", default_value = "127.0.0.1:8080")]
    pub upstream: SocketAddr,

    /// Address of the admin listener: GET/HEAD /live, /ready, /metrics; GET/POST /drain. On all
    /// interfaces because the kubelet's probes come from the node, not from loopback; /drain has
    /// its own check (see --node-ip).
    #[arg(
        long,
        env = "STEADY_PROXY_ADMIN_LISTEN",
        default_value = "0.0.0.0:9901"
    )]
    pub admin_listen: SocketAddr,

    /// The node's address(es), comma-separated (downward API `status.hostIP` or `status.hostIPs`).
    /// /drain is accepted from loopback, and from these addresses when the request carries the
    /// header `X-Steady-Drain: 1` (what the kubelet's preStop hook sends); anyone else gets 403.
    /// When set, the pod's default gateway is accepted too: on a bridge network the kubelet's
    /// requests come from the node's bridge address, which is that gateway.
    #[arg(long, env = "STEADY_PROXY_NODE_IP", value_delimiter = ',')]
    pub node_ip: Vec<IpAddr>,

    /// Path of the application's own health check; /ready is 200 only while it answers 2xx or 3xx.
    #[arg(long, env = "STEADY_PROXY_HEALTH_PATH", default_value = "/healthz")]
    pub health_path: String,

    /// How often the application's health check is called.
    #[arg(long, env = "STEADY_PROXY_HEALTH_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub health_interval: Duration,

    /// After shutdown begins, keep accepting and serving this long so endpoints can catch up.
    #[arg(long, env = "STEADY_PROXY_DRAIN_DELAY", default_value = "5s", value_parser = parse_duration)]
    pub drain_delay: Duration,

    /// After the drain delay, wait at most this long for connections to finish, then cut them.
    #[arg(long, env = "STEADY_PROXY_DRAIN_DEADLINE", default_value = "30s", value_parser = parse_duration)]
    pub drain_deadline: Duration,

    /// Close a client connection after this many requests (0 = never).
    #[arg(
        long,
        env = "STEADY_PROXY_MAX_REQUESTS_PER_CONNECTION",
        default_value_t = 1000
    )]
    pub max_requests_per_connection: u64,

    /// Close a client connection after this age, ±10% jitter (0s = never).
    #[arg(long, env = "STEADY_PROXY_MAX_CONNECTION_AGE", default_value = "5m", value_parser = parse_duration)]
    pub max_connection_age: Duration,

    /// Idle pooled connections to the application are dropped after this; keep it below the
    /// application's own keep-alive timeout.
    #[arg(long, env = "STEADY_PROXY_UPSTREAM_IDLE_TIMEOUT", default_value = "1s", value_parser = parse_duration)]
    pub upstream_idle_timeout: Duration,

    /// Time allowed for connecting to the application.
    #[arg(long, env = "STEADY_PROXY_CONNECT_TIMEOUT", default_value = "1s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Time the application has to start its response before the client gets 504.
    #[arg(long, env = "STEADY_PROXY_REQUEST_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Time a client has to send a request head once it began (an HTTP/2 header block included),
    /// and a new connection its first one. A client stalled mid-head is closed at once.
    #[arg(long, env = "STEADY_PROXY_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// How long a client keep-alive connection with no request in flight is kept, then closed
    /// gracefully (HTTP/2 GOAWAY; HTTP/1 between requests). Keep it above every client's own idle
    /// timeout so the client is the one that closes.
    #[arg(long, env = "STEADY_PROXY_IDLE_TIMEOUT", default_value = "75s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Most client connections served at once (all workers together). When full, the oldest idle
    /// connection is closed to make room; a newcomer is refused only when all are busy. The admin
    /// listener is not counted. Default: from the open-files limit, two descriptors per connection.
    #[arg(long, env = "STEADY_PROXY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Largest request head (request line or HTTP/2 pseudo-headers, and all headers), in bytes; a
    /// larger one gets 431.
    #[arg(long, env = "STEADY_PROXY_MAX_HEADER_BYTES", default_value_t = steady_runtime::serve::DEFAULT_MAX_HEADER_BYTES)]
    pub max_header_bytes: usize,

    /// Join the listeners already on --listen (SO_REUSEPORT) instead of failing: for an in-place
    /// restart, where the new proxy starts beside the old one and the old one then drains. Without
    /// it, a port another process listens on is an error, so a second process never silently takes
    /// part of another's traffic.
    #[arg(long, env = "STEADY_PROXY_SHARE_PORT")]
    pub share_port: bool,

    /// Threads serving client connections, each with its own listener (SO_REUSEPORT) and
    /// upstream pool, like nginx workers; 0 = one per CPU.
    #[arg(long, env = "STEADY_PROXY_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// PEM certificate chain; with --tls-key, clients connect with TLS (HTTP/1.1 and HTTP/2 by ALPN).
    #[arg(long, env = "STEADY_PROXY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "STEADY_PROXY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Durations as every steady flag takes them: `250ms`, `2s`, `1h 30m`, or bare seconds.
pub use steady_runtime::parse_duration;
