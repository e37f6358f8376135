//! The HTTPS webhook server: TLS with reload, connection deadlines and the connection limit from
//! steady-runtime, a body size limit, and one route: `POST /validate/pods`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use steady_runtime::limit::Admission as Slot;
use steady_runtime::serve::{Ended, Http, serve_connection};
use steady_runtime::{Activity, ConnLimit};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::admission::Admission;

pub const WEBHOOK_PATH: &str = "/validate/pods";

pub use steady_runtime::tls::{CertResolver, TlsError, acceptor as tls_acceptor};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    /// Deadlines (the TLS handshake counts against the header deadline) and the head cap.
    pub http: Http,
    pub max_connections: usize,
}

type Body = Full<Bytes>;

fn text(status: StatusCode, msg: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(msg.into())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn handle(
    req: Request<Incoming>,
    admission: Admission,
    limits: Limits,
) -> Result<Response<Body>, Infallible> {
    if req.uri().path() != WEBHOOK_PATH {
        return Ok(text(
            StatusCode::NOT_FOUND,
            format!("no such path; the webhook is served at {WEBHOOK_PATH}\n"),
        ));
    }
    if req.method() != Method::POST {
        return Ok(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "the webhook accepts POST only\n",
        ));
    }
    let body = match Limited::new(req.into_body(), limits.max_body_bytes)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            admission.metrics().error("body_too_large");
            return Ok(text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the AdmissionReview is larger than {} bytes\n",
                    limits.max_body_bytes
                ),
            ));
        }
        Err(e) => {
            admission.metrics().error("body_read");
            return Ok(text(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}\n"),
            ));
        }
    };
    Ok(match admission.review(&body).await {
        Ok(json) => {
            let mut r = Response::new(Full::new(Bytes::from(json)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(e) => text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    })
}

/// Accepts connections until `shutdown` turns true, then asks every connection to close (GOAWAY,
/// or `Connection: close` after the request in flight) and waits up to `drain` for them.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    admission: Admission,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
    drain: Duration,
) {
    let conns = ConnLimit::new(limits.max_connections);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = crate::stopped(&mut shutdown) => break,
        };
        let activity = Arc::new(Activity::new(false));
        let permit = match conns.admit(&activity) {
            Slot::Admitted(p) => p,
            Slot::AdmittedByShedding(p) => {
                debug_peer(
                    peer,
                    "connection limit reached: closing the oldest idle connection",
                );
                p
            }
            Slot::Full => {
                tracing::warn!(%peer, max = conns.max(), "connection limit reached and every connection is busy: closing the new one");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let admission = admission.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let tls =
                match tokio::time::timeout(limits.http.deadlines.header, acceptor.accept(stream))
                    .await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => return debug_peer(peer, &format!("TLS handshake failed: {e}")),
                    Err(_) => return debug_peer(peer, "TLS handshake timed out"),
                };
            activity.set_http2(tls.get_ref().1.alpn_protocol() == Some(b"h2"));
            let svc = hyper::service::service_fn(move |req| handle(req, admission.clone(), limits));
            let stop = async move { crate::stopped(&mut stop).await };
            if let Ended::Cut(why) = serve_connection(&limits.http, tls, activity, svc, stop).await
            {
                debug_peer(peer, &format!("connection closed: {}", why.label()));
            }
        });
    }
    drop(listener);
    let all_closed = async {
        while conns.open() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(drain, all_closed).await.is_err() {
        tracing::warn!(
            open = conns.open(),
            "some webhook connections were still open after the drain time"
        );
    }
}

fn debug_peer(peer: SocketAddr, msg: &str) {
    tracing::debug!(%peer, "{msg}");
}
