//! The admin listener (plain HTTP): `/livez`, `/readyz` (true only once every watch has delivered
//! its initial list), `/metrics`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::metrics::Metrics;

/// Which caches have synced.
#[derive(Debug, Default, Clone)]
pub struct Readiness(Arc<Mutex<BTreeMap<String, bool>>>);

impl Readiness {
    pub fn register(&self, cache: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(cache.to_owned())
            .or_insert(false);
    }

    pub fn synced(&self, cache: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(cache.to_owned(), true);
    }

    /// The caches not synced yet; ready when empty (and at least one is registered).
    pub fn pending(&self) -> Option<Vec<String>> {
        let m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if m.is_empty() {
            return Some(vec!["(no cache registered yet)".into()]);
        }
        let pending: Vec<String> = m
            .iter()
            .filter(|(_, s)| !**s)
            .map(|(k, _)| k.clone())
            .collect();
        (!pending.is_empty()).then_some(pending)
    }

    /// Asked by every admission request: no allocation.
    pub fn is_ready(&self) -> bool {
        let m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        !m.is_empty() && m.values().all(|synced| *synced)
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

async fn handle(
    req: Request<Incoming>,
    ready: Readiness,
    metrics: Arc<Metrics>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    const TEXT: &str = "text/plain; charset=utf-8";
    Ok(match req.uri().path() {
        "/livez" => reply(StatusCode::OK, TEXT, "ok\n".into()),
        "/readyz" => match ready.pending() {
            None => reply(StatusCode::OK, TEXT, "ready\n".into()),
            Some(p) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                format!("waiting for caches: {}\n", p.join(", ")),
            ),
        },
        "/metrics" => reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            TEXT,
            "admin paths: /livez /readyz /metrics\n".into(),
        ),
    })
}

pub async fn serve(
    listener: TcpListener,
    ready: Readiness,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r { Ok(c) => c, Err(_) => continue },
            _ = crate::stopped(&mut shutdown) => return,
        };
        let (ready, metrics, builder) = (ready.clone(), metrics.clone(), builder.clone());
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |req| handle(req, ready.clone(), metrics.clone()));
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}
