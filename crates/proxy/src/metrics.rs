//! Prometheus metrics served on the admin listener. Names carry the `steady_proxy_` prefix and the
//! glossary's words (drain, recycled).

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// Status class of the response sent to the client: 2xx, 3xx, 4xx, 5xx.
    pub class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

/// The `reason` labels of `closed_connections`: the deadlines' and the connection limit's.
const CLOSE_REASONS: [&str; 5] = [
    "header_timeout",
    "idle_timeout",
    "shed",
    "goaway_grace",
    "limit_full",
];

#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: Family<StatusLabels, Counter>,
    /// The `requests` counter of each status class, resolved on first use so counting a response
    /// neither hashes labels nor takes the family's lock.
    by_class: [OnceLock<Counter>; 5],
    pub upstream_errors: Family<ReasonLabels, Counter>,
    pub retries: Counter,
    pub active_connections: Gauge,
    pub recycled_connections: Family<ReasonLabels, Counter>,
    /// Client connections closed by their deadlines or the connection limit.
    pub closed_connections: Family<ReasonLabels, Counter>,
    pub drain_state: Gauge,
    pub upstream_healthy: Gauge,
}

impl Metrics {
    pub fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix("steady_proxy");
        r.register(
            "requests",
            "Requests answered to clients, by status class",
            self.requests.clone(),
        );
        r.register(
            "upstream_errors",
            "Requests the application could not answer, by reason",
            self.upstream_errors.clone(),
        );
        r.register(
            "retries",
            "Idempotent requests retried once after failing before any response byte",
            self.retries.clone(),
        );
        r.register(
            "active_connections",
            "Open client connections",
            self.active_connections.clone(),
        );
        r.register(
            "recycled_connections",
            "Client connections closed by recycling, by reason (requests, age)",
            self.recycled_connections.clone(),
        );
        // Every reason from the start, at 0, so rate() and alerts see the series before the
        // first close.
        for reason in CLOSE_REASONS {
            let _ = self
                .closed_connections
                .get_or_create(&ReasonLabels { reason });
        }
        r.register(
            "closed_connections",
            "Client connections closed by the proxy, by reason (header_timeout, idle_timeout, shed, goaway_grace, limit_full)",
            self.closed_connections.clone(),
        );
        r.register(
            "drain_state",
            "0 serving, 1 drain delay, 2 closing connections, 3 stopped",
            self.drain_state.clone(),
        );
        r.register(
            "upstream_healthy",
            "1 while the application's health check passes",
            self.upstream_healthy.clone(),
        );
        r
    }

    /// One client connection closed for `reason`.
    pub fn count_closed(&self, reason: &'static str) {
        self.closed_connections
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub fn count_response(&self, status: http::StatusCode) {
        const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
        let i = match status.as_u16() {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            _ => 4,
        };
        self.by_class[i]
            .get_or_init(|| {
                self.requests
                    .get_or_create(&StatusLabels { class: CLASSES[i] })
                    .clone()
            })
            .inc();
    }
}
