//! Forwarding to the application: a pooled keep-alive client whose idle timeout stays below the
//! application's, one retry for idempotent requests that got no response byte, and a 502/504 with
//! a reason instead of a hang.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{Either, Empty, Full};
use hyper::body::{Body as _, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::metrics::{Metrics, ReasonLabels};

/// Body of a response to the client: streamed from the application, or our own error text.
pub type ProxyBody = Either<Incoming, Full<Bytes>>;
/// Body of a request to the application: streamed from the client, or empty on a retry.
type UpstreamBody = Either<Incoming, Empty<Bytes>>;

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub addr: SocketAddr,
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Upstream {
    client: Client<HttpConnector, UpstreamBody>,
    authority: http::uri::Authority,
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

impl Upstream {
    pub fn new(config: UpstreamConfig, metrics: Arc<Metrics>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.connect_timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(config.idle_timeout)
            .build(connector);
        let authority = config
            .addr
            .to_string()
            .parse()
            .unwrap_or_else(|_| http::uri::Authority::from_static("127.0.0.1"));
        Upstream {
            client,
            authority,
            config,
            metrics,
        }
    }

    /// Forwards one client request; never fails, errors become 502/504 responses.
    pub async fn forward(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        tls: bool,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let (mut parts, body) = req.into_parts();
        let client_authority = parts.uri.authority().cloned();
        strip_hop_by_hop(&mut parts.headers);
        if !parts.headers.contains_key(header::HOST) {
            // HTTP/2 carries the host in :authority; the application expects a Host header.
            if let Some(a) = client_authority
                .as_ref()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            {
                parts.headers.insert(header::HOST, a);
            }
        }
        append_forwarded(&mut parts.headers, peer, tls);
        parts.uri = self.upstream_uri(&parts.uri);
        parts.version = Version::HTTP_11;

        // A request we can send again unchanged: idempotent and without a body to replay.
        let replay = (is_idempotent(&parts.method) && body.is_end_stream()).then(|| {
            let mut r = Request::new(Either::Right(Empty::new()));
            *r.method_mut() = parts.method.clone();
            *r.uri_mut() = parts.uri.clone();
            *r.headers_mut() = parts.headers.clone();
            r
        });

        let first = self
            .send(Request::from_parts(parts, Either::Left(body)))
            .await;
        let result = match (first, replay) {
            (Err(Failure::Failed(e)), Some(again)) => {
                tracing::debug!(error = %e, "idempotent request failed before any response byte; retrying once");
                self.metrics.retries.inc();
                self.send(again).await
            }
            (other, _) => other,
        };
        Ok(match result {
            Ok(resp) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, Either::Left(body))
            }
            Err(f) => self.error_response(f),
        })
    }

    async fn send(&self, req: Request<UpstreamBody>) -> Result<Response<Incoming>, Failure> {
        match tokio::time::timeout(self.config.request_timeout, self.client.request(req)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(Failure::Failed(e)),
            Err(_) => Err(Failure::Timeout),
        }
    }

    fn upstream_uri(&self, uri: &Uri) -> Uri {
        let mut p = http::uri::Parts::default();
        p.scheme = Some(http::uri::Scheme::HTTP);
        p.authority = Some(self.authority.clone());
        p.path_and_query = uri
            .path_and_query()
            .cloned()
            .or_else(|| Some(http::uri::PathAndQuery::from_static("/")));
        Uri::from_parts(p).unwrap_or_else(|_| uri.clone())
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
            Failure::Failed(e) if e.is_connect() => {
                (StatusCode::BAD_GATEWAY, "connect", error_chain(e))
            }
            Failure::Failed(e) => (StatusCode::BAD_GATEWAY, "request", error_chain(e)),
        };
        self.metrics
            .upstream_errors
            .get_or_create(&ReasonLabels { reason })
            .inc();
        tracing::warn!(upstream = %self.config.addr, reason, error = %detail, "application did not answer");
        let body = format!(
            "steady proxy: the application at {} did not answer ({reason}): {detail}\n",
            self.config.addr
        );
        let mut resp = Response::new(Either::Right(Full::new(Bytes::from(body))));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        resp
    }
}

enum Failure {
    Failed(hyper_util::client::legacy::Error),
    Timeout,
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

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers listed in Connection are hop-by-hop too.
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in listed.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

fn append_forwarded(headers: &mut HeaderMap, peer: SocketAddr, tls: bool) {
    let ip = peer.ip().to_string();
    let value = match headers
        .get(HeaderName::from_static("x-forwarded-for"))
        .and_then(|v| v.to_str().ok())
    {
        Some(prev) => format!("{prev}, {ip}"),
        None => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), v);
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(if tls { "https" } else { "http" }),
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
