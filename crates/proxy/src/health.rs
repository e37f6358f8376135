//! Polls the application's own health check so `/ready` never says ready before the application is.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::metrics::Metrics;

/// Latest health-check verdict, shared with the admin listener.
#[derive(Debug, Clone, Default)]
pub struct Health {
    healthy: Arc<AtomicBool>,
}

impl Health {
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    fn set(&self, healthy: bool, metrics: &Metrics) {
        let was = self.healthy.swap(healthy, Ordering::Relaxed);
        metrics.upstream_healthy.set(i64::from(healthy));
        if was != healthy {
            tracing::info!(healthy, "application health changed");
        }
    }
}

/// Checks `path` on `addr` every `interval` until the task is dropped. Each check is bounded by
/// `interval`, so `/ready` follows the application within one period even when it hangs.
pub async fn check_loop(
    health: Health,
    addr: SocketAddr,
    path: String,
    interval: Duration,
    metrics: Arc<Metrics>,
) {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(interval));
    // A fresh connection per check: it also proves the application still accepts connections.
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector);
    let uri: Option<Uri> = format!("http://{addr}{path}").parse().ok();
    let Some(uri) = uri else {
        tracing::error!(%path, "health path is not a valid URI path; the proxy will stay unready");
        return;
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let req = Request::get(uri.clone()).body(Empty::new());
        let ok = match req {
            Ok(req) => match tokio::time::timeout(interval, client.request(req)).await {
                Ok(Ok(resp)) => {
                    let s = resp.status();
                    if !(s.is_success() || s.is_redirection()) {
                        tracing::debug!(status = %s, "health check failed");
                    }
                    s.is_success() || s.is_redirection()
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "health check failed");
                    false
                }
                Err(_) => false,
            },
            Err(_) => false,
        };
        health.set(ok, &metrics);
    }
}
