//! Forwarding to the application: a pooled keep-alive connection whose idle timeout stays below
//! the application's, one retry for idempotent requests that got no response byte, and a 502/504
//! with a reason instead of a hang.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, Entry, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{Either, Empty, Full};
use hyper::body::{Body as _, Incoming};
use hyper::upgrade::Upgraded;

use crate::metrics::{Metrics, ReasonLabels};
use crate::pool::{ConnectError, Pool, PooledBody, UpstreamBody};

/// Body of a response to the client: streamed from the application, or our own error text.
pub type ProxyBody = Either<PooledBody, Full<Bytes>>;

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub addr: SocketAddr,
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Upstream {
    pool: Arc<Pool>,
    /// `Host` for requests that carry none (HTTP/1.0 clients).
    host: HeaderValue,
    config: UpstreamConfig,
    metrics: Arc<Metrics>,
}

/// Headers that describe one hop and must not be forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// What the proxy knows about the client connection a request came on, computed once per
/// connection rather than per request.
#[derive(Debug, Clone)]
pub struct Client {
    /// The client's IP address as a header value, for `X-Forwarded-For`.
    pub ip: HeaderValue,
    pub tls: bool,
}

impl Client {
    pub fn new(peer: SocketAddr, tls: bool) -> Self {
        Client {
            ip: HeaderValue::from_maybe_shared(Bytes::from(peer.ip().to_string()))
                .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
            tls,
        }
    }
}

impl Upstream {
    pub fn new(config: UpstreamConfig, metrics: Arc<Metrics>) -> Self {
        let pool = Pool::new(config.addr, config.connect_timeout, config.idle_timeout);
        let host = HeaderValue::from_maybe_shared(Bytes::from(config.addr.to_string()))
            .unwrap_or_else(|_| HeaderValue::from_static("localhost"));
        Upstream {
            pool,
            host,
            config,
            metrics,
        }
    }

    /// The pool's eviction loop, for the worker to run next to its connections.
    pub fn evict_loop(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.pool.clone().evict_loop()
    }

    /// Forwards one client request; never fails, errors become 502/504 responses.
    /// `tunnel` receives the application's side of an HTTP/1 upgrade the application accepted.
    pub async fn forward(
        &self,
        req: Request<Incoming>,
        client: &Client,
        tunnel: Option<&Mutex<Option<Upgraded>>>,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let (mut parts, body) = req.into_parts();
        let http1 = parts.version < Version::HTTP_2;
        let upgrade = match tunnel {
            Some(slot) if parts.version == Version::HTTP_11 => {
                upgrade_protocol(&parts.headers).map(|p| (p, slot))
            }
            _ => None,
        };
        strip_hop_by_hop(&mut parts.headers);
        let absolute_form = parts.uri.authority().filter(|_| http1);
        if let Some(authority) = absolute_form {
            // RFC 9112 §3.2.2: the target's authority wins over any Host the client sent, and
            // the application sees only the Host header once the target is in origin form.
            if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
                parts.headers.insert(header::HOST, host);
            }
        } else if !parts.headers.contains_key(header::HOST) {
            // HTTP/2 carries the host in :authority; the application expects a Host header.
            let host = parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
                .unwrap_or_else(|| self.host.clone());
            parts.headers.insert(header::HOST, host);
        }
        append_forwarded(&mut parts.headers, client);
        if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
            // HTTP/2 requests arrive in absolute form; HTTP/1 servers expect the origin form.
            parts.uri = origin_form(&parts.uri);
        }
        parts.version = Version::HTTP_11;
        if let Some((protocol, slot)) = upgrade {
            // Upgrade and Connection are hop-by-hop, but an upgrade only works if this hop asks
            // for it again.
            parts.headers.insert(header::UPGRADE, protocol);
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            let req = Request::from_parts(parts, Either::Left(body));
            return Ok(self.forward_upgrade(req, slot).await);
        }

        // A request we can send again unchanged: idempotent and without a body to replay.
        let replay = (is_idempotent(&parts.method) && body.is_end_stream()).then(|| {
            let mut r = Request::new(Either::Right(Empty::new()));
            *r.method_mut() = parts.method.clone();
            *r.uri_mut() = parts.uri.clone();
            *r.headers_mut() = parts.headers.clone();
            r
        });

        let result = match self
            .send(Request::from_parts(parts, Either::Left(body)))
            .await
        {
            Ok(resp) => Ok(resp),
            Err((Failure::Timeout, _)) => Err(Failure::Timeout),
            // A request that never reached the application (no connection, or the pooled one
            // closed before it was written) goes again whatever its method; an idempotent one
            // also goes again after failing with no response byte.
            Err((f, unsent)) => match unsent.map(|r| *r).or(replay) {
                Some(again) => {
                    tracing::debug!(error = %f, "request failed before any response byte; sending it once more");
                    self.metrics.retries.inc();
                    // Boxed so the common path's future does not carry room for a second send.
                    Box::pin(self.send(again)).await.map_err(|(f, _)| f)
                }
                None => Err(f),
            },
        };
        Ok(match result {
            Ok(resp) => resp,
            Err(Failure::Failed(e)) if client_body_failed(&e) => client_body_response(&e, http1),
            Err(f) => self.error_response(f),
        })
    }

    async fn send(
        &self,
        req: Request<UpstreamBody>,
    ) -> Result<Response<ProxyBody>, (Failure, Option<Box<Request<UpstreamBody>>>)> {
        match tokio::time::timeout(self.config.request_timeout, self.send_on_pool(req)).await {
            Ok(r) => r,
            Err(_) => Err((Failure::Timeout, None)),
        }
    }

    /// Sends on a pooled or new connection; a failed request comes back when it was never written.
    async fn send_on_pool(
        &self,
        req: Request<UpstreamBody>,
    ) -> Result<Response<ProxyBody>, (Failure, Option<Box<Request<UpstreamBody>>>)> {
        let mut sender = match self.pool.checkout().await {
            Ok(s) => s,
            Err(e) => return Err((Failure::Connect(e), Some(Box::new(req)))),
        };
        match sender.try_send_request(req).await {
            Ok(resp) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                let body = PooledBody::new(body, sender, self.pool.clone());
                Ok(Response::from_parts(parts, Either::Left(body)))
            }
            Err(mut e) => {
                let unsent = e.take_message().map(Box::new);
                Err((Failure::Failed(e.into_error()), unsent))
            }
        }
    }

    /// An upgrade request goes on a connection of its own; when the application switches
    /// protocols, its side of the connection goes into `slot` and the 101 goes to the client.
    async fn forward_upgrade(
        &self,
        req: Request<UpstreamBody>,
        slot: &Mutex<Option<Upgraded>>,
    ) -> Response<ProxyBody> {
        let sent = tokio::time::timeout(self.config.request_timeout, async {
            let mut sender = self
                .pool
                .connect_for_upgrade()
                .await
                .map_err(Failure::Connect)?;
            let mut resp = sender.send_request(req).await.map_err(Failure::Failed)?;
            let protocol = resp.headers().get(header::UPGRADE).cloned();
            if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                let upgraded = hyper::upgrade::on(&mut resp)
                    .await
                    .map_err(Failure::Failed)?;
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(upgraded);
            }
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            if parts.status == StatusCode::SWITCHING_PROTOCOLS {
                if let Some(p) = protocol {
                    parts.headers.insert(header::UPGRADE, p);
                }
                parts
                    .headers
                    .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            }
            Ok::<_, Failure>(Response::from_parts(
                parts,
                Either::Left(PooledBody::unpooled(body)),
            ))
        })
        .await;
        match sent {
            Ok(Ok(resp)) => resp,
            Ok(Err(f)) => self.error_response(f),
            Err(_) => self.error_response(Failure::Timeout),
        }
    }

    fn error_response(&self, f: Failure) -> Response<ProxyBody> {
        let (status, reason, detail) = match &f {
            Failure::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                format!(
                    "no response within the request timeout of {:?}",
                    self.config.request_timeout
                ),
            ),
            Failure::Connect(e) => (StatusCode::BAD_GATEWAY, "connect", error_chain(e)),
            Failure::Failed(e) => (StatusCode::BAD_GATEWAY, "request", error_chain(e)),
        };
        self.metrics
            .upstream_errors
            .get_or_create(&ReasonLabels { reason })
            .inc();
        tracing::warn!(upstream = %self.config.addr, reason, error = %detail, "application did not answer");
        // The reason, not the details: the application's address and its errors are for the log,
        // not for whoever sent the request.
        let body = format!("steady proxy: the application did not answer ({reason})\n");
        let mut resp = Response::new(Either::Right(Full::new(Bytes::from(body))));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        resp
    }
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Connect(ConnectError),
    #[error("{0}")]
    Failed(hyper::Error),
    #[error("timeout")]
    Timeout,
}

/// Whether sending failed because the client's own request body could not be read (a malformed
/// chunk, a body cut short, an HTTP/2 stream the client reset): hyper reports an error of the
/// body we gave it as a user error whose source is that body's (hyper) error.
fn client_body_failed(e: &hyper::Error) -> bool {
    e.is_user()
        && std::error::Error::source(e).is_some_and(|s| s.downcast_ref::<hyper::Error>().is_some())
}

/// The client's fault, so a 400 counted as such, and no warning: any client can send a broken
/// body, and that must not look like the application failing.
fn client_body_response(e: &hyper::Error, http1: bool) -> Response<ProxyBody> {
    tracing::debug!(error = %error_chain(e), "the client's request body could not be read");
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from_static(
        b"steady proxy: the request body is malformed or incomplete\n",
    ))));
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if http1 {
        // Where the body ends is unknown: nothing more can be read on this connection. (HTTP/2
        // frames each stream on its own and forbids the header.)
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(pq) => Uri::from(pq.clone()),
        None => Uri::from_static("/"),
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// The `Upgrade` value of a request that asks for one (`Connection: upgrade`).
fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let protocol = headers.get(header::UPGRADE)?;
    let asks = connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"));
    asks.then(|| protocol.clone())
}

/// The comma-separated tokens of every `Connection` header, trimmed.
fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name) || *name == KEEP_ALIVE || *name == PROXY_CONNECTION
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the names instead of eight removals.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    // Headers listed in Connection are hop-by-hop too.
    let listed: Vec<HeaderName> = connection_tokens(headers)
        .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
        .collect();
    for name in listed.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    headers.remove(KEEP_ALIVE);
    headers.remove(PROXY_CONNECTION);
}

fn append_forwarded(headers: &mut HeaderMap, client: &Client) {
    match headers.entry(X_FORWARDED_FOR) {
        Entry::Vacant(v) => {
            v.insert(client.ip.clone());
        }
        Entry::Occupied(mut o) => {
            let combined = o.get().to_str().ok().and_then(|prev| {
                let ip = client.ip.to_str().ok()?;
                HeaderValue::from_str(&format!("{prev}, {ip}")).ok()
            });
            o.insert(combined.unwrap_or_else(|| client.ip.clone()));
        }
    }
    headers.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(if client.tls { "https" } else { "http" }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key(header::ACCEPT));
    }

    #[test]
    fn only_safe_methods_are_replayed() {
        assert!(is_idempotent(&Method::GET));
        assert!(is_idempotent(&Method::PUT));
        assert!(!is_idempotent(&Method::POST));
        assert!(!is_idempotent(&Method::PATCH));
    }
}
