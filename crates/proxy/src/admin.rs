//! The admin listener: `/live`, `/ready`, `/metrics`, and `/drain` for a preStop hook to call
//! and block on. The listener is on every interface because the kubelet's probes come from the
//! node, so `/drain`, which stops the sidecar, checks who is asking (see [`drain_access`]).

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::drain::{Drain, Phase, Trigger};
use crate::health::Health;
use crate::metrics::Metrics;

/// The header a kubelet preStop hook sets with `httpHeaders`. A browser cannot send a custom
/// header to another origin without a CORS preflight, which this listener never grants, so a
/// page that makes the browser fetch `/drain` (an `<img>`, a form) cannot drain the proxy.
pub const DRAIN_HEADER: HeaderName = HeaderName::from_static("x-steady-drain");

const USAGE: &str = "use GET or HEAD /live, /ready, /metrics; GET or POST /drain";

/// Whether `peer` may start a drain: loopback (127.0.0.1, ::1) always, as only containers of
/// this pod share it; one of the node's addresses only with [`DRAIN_HEADER`]. The refusal says
/// what to change.
pub fn drain_access(peer: IpAddr, headers: &HeaderMap, node_ips: &[IpAddr]) -> Result<(), String> {
    let peer = peer.to_canonical();
    if peer == IpAddr::V4(Ipv4Addr::LOCALHOST) || peer == IpAddr::V6(Ipv6Addr::LOCALHOST) {
        return Ok(());
    }
    if node_ips.iter().any(|n| n.to_canonical() == peer) {
        if headers.contains_key(DRAIN_HEADER) {
            return Ok(());
        }
        return Err(format!(
            "forbidden: /drain from the node's address {peer} needs the header `X-Steady-Drain: 1`; \
             set it in the preStop hook (lifecycle.preStop.httpGet.httpHeaders)\n"
        ));
    }
    let nodes = if node_ips.is_empty() {
        "none is set: pass the node's address with --node-ip \
         (STEADY_PROXY_NODE_IP from the downward API status.hostIP)"
            .to_owned()
    } else {
        let list: Vec<String> = node_ips.iter().map(IpAddr::to_string).collect();
        format!("--node-ip is {}", list.join(", "))
    };
    Err(format!(
        "forbidden: /drain is accepted only from loopback, or from the node's address (--node-ip) \
         with the header `X-Steady-Drain: 1`; this request came from {peer}, and {nodes}\n"
    ))
}

/// The addresses `/drain` is accepted from (with [`DRAIN_HEADER`]): the node's addresses given
/// with `--node-ip`, and, when any is given, the pod's IPv4 default gateways read from
/// `route_table` (the text of `/proc/net/route`). The kubelet runs a preStop hook from the node,
/// but on a bridge network (the CNI bridge plugin; flannel, as k3s ships it) its request
/// leaves the node through the bridge and comes from the bridge's address, which is the pod's
/// default gateway, not `status.hostIP`. The gateway is an address of the node itself, so it is
/// trusted as much as the node's own.
pub fn drain_sources(node_ips: &[IpAddr], route_table: &str) -> Vec<IpAddr> {
    let mut sources = node_ips.to_vec();
    if node_ips.is_empty() {
        return sources;
    }
    for gateway in default_gateways(route_table) {
        if !sources.contains(&gateway) {
            sources.push(gateway);
        }
    }
    sources
}

/// The gateways of the default routes in `/proc/net/route` (columns Iface, Destination, Gateway,
/// Flags, …; addresses in hex, in the kernel's byte order).
pub fn default_gateways(route_table: &str) -> Vec<IpAddr> {
    let mut gateways = Vec::new();
    for line in route_table.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [_, destination, gateway, ..] = cols[..] else {
            continue;
        };
        if destination != "00000000" {
            continue;
        }
        let Ok(raw) = u32::from_str_radix(gateway, 16) else {
            continue;
        };
        let ip = IpAddr::V4(Ipv4Addr::from(raw.to_ne_bytes()));
        if raw != 0 && !gateways.contains(&ip) {
            gateways.push(ip);
        }
    }
    gateways
}

#[derive(Debug)]
pub struct Admin {
    pub drain: Drain,
    pub health: Health,
    pub metrics: Arc<Metrics>,
    pub registry: Registry,
    pub drain_access: DrainAccess,
}

/// Who may call `/drain`, and the log of the ones refused.
#[derive(Debug, Default)]
pub struct DrainAccess {
    /// The node's addresses, from which `/drain` is accepted with [`DRAIN_HEADER`].
    node_ips: Vec<IpAddr>,
    refusals: LogLimit,
}

impl DrainAccess {
    pub fn new(node_ips: Vec<IpAddr>) -> Self {
        DrainAccess {
            node_ips,
            refusals: LogLimit::default(),
        }
    }

    fn check(&self, peer: SocketAddr, headers: &HeaderMap) -> Result<(), String> {
        let checked = drain_access(peer.ip(), headers, &self.node_ips);
        if let Err(reason) = &checked
            && let Some(unlogged) = self.refusals.admit(Instant::now())
        {
            // A misconfigured preStop hook shows only here (the kubelet ignores the 403), so
            // it is a warning; limited, because anyone who reaches the port can repeat it.
            tracing::warn!(%peer, unlogged, "refused a /drain request: {}", reason.trim_end());
        }
        checked
    }
}

/// Lets a log line through at most once per [`LogLimit::EVERY`], counting the ones held back.
#[derive(Debug, Default)]
struct LogLimit {
    /// When a line was last let through, and how many were held back since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogLimit {
    const EVERY: Duration = Duration::from_secs(10);

    /// `Some(lines held back since the last one)` when this line may be logged.
    fn admit(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (last, held) = &mut *state;
        if last.is_some_and(|at| now.saturating_duration_since(at) < Self::EVERY) {
            *held += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(held))
    }
}

impl Admin {
    fn respond(&self, status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
        let mut r = Response::new(Full::new(body.into()));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    }

    async fn handle(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        // HEAD answers like GET; hyper leaves the body out.
        let read = matches!(*req.method(), Method::GET | Method::HEAD);
        Ok(match req.uri().path() {
            "/live" if read => self.respond(StatusCode::OK, "live\n"),
            "/ready" if read => {
                let phase = self.drain.phase();
                if phase != Phase::Serving {
                    self.respond(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not ready: shutting down\n",
                    )
                } else if !self.health.is_healthy() {
                    self.respond(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not ready: the application's health check does not pass\n",
                    )
                } else {
                    self.respond(StatusCode::OK, "ready\n")
                }
            }
            "/metrics" if read => self.metrics_response(),
            // GET too, because a kubelet `httpGet` preStop hook can only GET: that lets the
            // application's preStop drain the proxy without curl in the application's image.
            "/drain" if matches!(*req.method(), Method::GET | Method::POST) => {
                if let Err(reason) = self.drain_access.check(peer, req.headers()) {
                    return Ok(self.respond(StatusCode::FORBIDDEN, reason));
                }
                self.drain.begin(Trigger::DrainRequest);
                // Blocks until connections are drained, so a preStop hook holds the application's
                // SIGTERM back until no request can reach it any more.
                self.drain.finished().await;
                self.respond(StatusCode::OK, "drained\n")
            }
            path @ ("/live" | "/ready" | "/metrics" | "/drain") => {
                let allow = if path == "/drain" {
                    "GET, POST"
                } else {
                    "GET, HEAD"
                };
                let mut r = self.respond(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("method not allowed: {USAGE}\n"),
                );
                r.headers_mut()
                    .insert(header::ALLOW, header::HeaderValue::from_static(allow));
                r
            }
            _ => self.respond(StatusCode::NOT_FOUND, format!("not found: {USAGE}\n")),
        })
    }

    fn metrics_response(&self) -> Response<Full<Bytes>> {
        self.metrics.drain_state.set(self.drain.phase().as_metric());
        let mut text = String::new();
        match prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            Ok(()) => {
                let mut r = self.respond(StatusCode::OK, text);
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                r
            }
            Err(e) => self.respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("encoding metrics failed: {e}\n"),
            ),
        }
    }
}

/// Serves the admin API until the drain has finished, then lets in-flight answers (a blocked
/// `/drain`) go out for at most `flush`.
pub async fn serve(listener: TcpListener, admin: Arc<Admin>, flush: Duration) {
    let graceful = GracefulShutdown::new();
    let finished = admin.drain.clone();
    let finished = finished.finished();
    tokio::pin!(finished);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "admin accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let admin = admin.clone();
                let svc = service_fn(move |req| {
                    let admin = admin.clone();
                    async move { admin.handle(req, peer).await }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "admin connection ended with an error");
                    }
                });
            }
            () = &mut finished => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(flush, graceful.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    /// `/proc/net/route` in a pod on node 2 of a real two-node cluster (CNI bridge plugin,
    /// 10.244.1.0/24 on the node's bridge cni1 at 10.244.1.1).
    const POD_ROUTES: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        eth0\t00000000\t0101F40A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
        eth0\t0001F40A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

    #[test]
    fn the_pods_default_gateway_is_read_from_proc_net_route() {
        assert_eq!(default_gateways(POD_ROUTES), [ip("10.244.1.1")]);
        assert_eq!(default_gateways(""), Vec::<IpAddr>::new());
        assert_eq!(
            default_gateways("Iface\tDestination\tGateway\nbroken\nx\t00000000\tzz\n"),
            Vec::<IpAddr>::new()
        );
    }

    /// Seen on a real kubelet: the preStop hook's GET /drain came from the bridge's address
    /// 10.244.0.1 (the pod's gateway), not from status.hostIP 192.0.2.2, and was refused, so the
    /// pod stopped without draining.
    #[test]
    fn a_prestop_hook_from_the_nodes_bridge_address_may_drain() {
        let mut headers = HeaderMap::new();
        headers.insert(DRAIN_HEADER, "1".parse().unwrap());
        let sources = drain_sources(&[ip("192.0.2.2")], POD_ROUTES);
        assert_eq!(sources, [ip("192.0.2.2"), ip("10.244.1.1")]);
        assert_eq!(drain_access(ip("10.244.1.1"), &headers, &sources), Ok(()));
        assert_eq!(drain_access(ip("192.0.2.2"), &headers, &sources), Ok(()));
        // Still the header, and still nobody else.
        assert!(drain_access(ip("10.244.1.1"), &HeaderMap::new(), &sources).is_err());
        assert!(drain_access(ip("10.244.1.7"), &headers, &sources).is_err());
        // Without --node-ip nothing but loopback, as before.
        assert_eq!(drain_sources(&[], POD_ROUTES), Vec::<IpAddr>::new());
    }

    #[test]
    fn refusals_are_logged_at_most_every_ten_seconds_with_the_count_held_back() {
        let limit = LogLimit::default();
        let t0 = Instant::now();
        assert_eq!(limit.admit(t0), Some(0));
        assert_eq!(limit.admit(t0 + Duration::from_secs(1)), None);
        assert_eq!(limit.admit(t0 + Duration::from_secs(9)), None);
        assert_eq!(limit.admit(t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(limit.admit(t0 + Duration::from_secs(25)), Some(0));
    }

    #[test]
    fn drain_is_for_loopback_and_the_node_with_the_header() {
        let none = HeaderMap::new();
        let mut with = HeaderMap::new();
        with.insert(DRAIN_HEADER, header::HeaderValue::from_static("1"));
        let node = [ip("10.0.0.7")];
        assert!(drain_access(ip("127.0.0.1"), &none, &[]).is_ok());
        assert!(drain_access(ip("::1"), &none, &[]).is_ok());
        // Loopback seen through an IPv6 listener.
        assert!(drain_access(ip("::ffff:127.0.0.1"), &none, &[]).is_ok());
        assert!(drain_access(ip("10.0.0.7"), &with, &node).is_ok());
        let no_header = drain_access(ip("10.0.0.7"), &none, &node).unwrap_err();
        assert!(no_header.contains("X-Steady-Drain"), "{no_header}");
        // Another pod, even with the header; of 127/8 only 127.0.0.1 counts, the address a
        // process in the pod connects from when it calls localhost.
        for peer in ["10.0.0.8", "127.0.0.2"] {
            let refused = drain_access(ip(peer), &with, &node).unwrap_err();
            assert!(
                refused.contains(peer) && refused.contains("10.0.0.7"),
                "{refused}"
            );
        }
        let unset = drain_access(ip("10.0.0.7"), &with, &[]).unwrap_err();
        assert!(unset.contains("status.hostIP"), "{unset}");
    }
}
