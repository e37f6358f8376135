//! The admin listener (plain HTTP, steady-runtime's admin server): `/livez`, `/readyz` (true only
//! once every watch has delivered its initial list), `/metrics`; `/live` and `/ready` as aliases.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

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

impl steady_runtime::admin::Probes for Probes {
    fn ready(&self) -> Result<(), String> {
        match self.ready.pending() {
            None => Ok(()),
            Some(p) => Err(format!("waiting for caches: {}", p.join(", "))),
        }
    }

    fn metrics(&self) -> String {
        self.metrics.encode()
    }
}

struct Probes {
    ready: Readiness,
    metrics: Arc<Metrics>,
}

/// Serves the admin paths (steady-runtime's admin server) until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    ready: Readiness,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let probes = Arc::new(Probes { ready, metrics });
    steady_runtime::admin::serve(listener, probes, async move {
        crate::stopped(&mut shutdown).await;
    })
    .await;
}
