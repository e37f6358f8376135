//! Prometheus metrics. Names follow the glossary: `unavailable_allowed` in the API is
//! `steady_budget_unavailable_allowed` here.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use steady_budget::BudgetId;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// Delete, Evict, Update, Resize, or None for requests that are no disruption.
    pub operation: &'static str,
    /// allowed or denied.
    pub result: &'static str,
    /// Why: NoBudget, Taken, InsufficientPods, …
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BudgetLabels {
    pub kind: &'static str,
    pub namespace: String,
    pub budget: String,
}

impl BudgetLabels {
    pub fn of(id: &BudgetId) -> Self {
        Self {
            kind: id.kind.as_str(),
            namespace: id.namespace.clone(),
            budget: id.name.clone(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriterLabels {
    /// webhook or controller.
    pub writer: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusWriteErrorLabels {
    pub namespace: String,
    pub budget: String,
    /// The API server's reason (`Forbidden`, `Invalid`, …) or `Unreachable`.
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub error: &'static str,
}

pub struct Metrics {
    pub decisions: Family<DecisionLabels, Counter>,
    pub unavailable_allowed: Family<BudgetLabels, Gauge>,
    pub write_conflicts: Family<WriterLabels, Counter>,
    pub status_writes: Family<WriterLabels, Counter>,
    pub status_write_errors: Family<StatusWriteErrorLabels, Counter>,
    pub request_duration: Histogram,
    pub errors: Family<ErrorLabels, Counter>,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let decisions = Family::<DecisionLabels, Counter>::default();
        let unavailable_allowed = Family::<BudgetLabels, Gauge>::default();
        let write_conflicts = Family::<WriterLabels, Counter>::default();
        let status_writes = Family::<WriterLabels, Counter>::default();
        let status_write_errors = Family::<StatusWriteErrorLabels, Counter>::default();
        // 100 µs … ~3.3 s.
        let request_duration = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let errors = Family::<ErrorLabels, Counter>::default();
        let mut registry = Registry::default();
        registry.register(
            "steady_guard_decisions",
            "Admission decisions by operation, result and reason",
            decisions.clone(),
        );
        registry.register(
            "steady_budget_unavailable_allowed",
            "Disruptions each budget allows now (its headroom), as last seen",
            unavailable_allowed.clone(),
        );
        registry.register(
            "steady_guard_status_write_conflicts",
            "Budget status writes refused because the budget changed since it was read (HTTP 409)",
            write_conflicts.clone(),
        );
        registry.register(
            "steady_guard_status_writes",
            "Budget status writes that succeeded",
            status_writes.clone(),
        );
        registry.register(
            "steady_guard_status_write_errors",
            "Controller status writes that failed (other than conflicts), by budget and the API server's reason",
            status_write_errors.clone(),
        );
        registry.register(
            "steady_guard_request_duration_seconds",
            "Time to answer one admission review",
            request_duration.clone(),
        );
        registry.register("steady_guard_errors", "Errors by kind", errors.clone());
        Self {
            decisions,
            unavailable_allowed,
            write_conflicts,
            status_writes,
            status_write_errors,
            request_duration,
            errors,
            registry,
        }
    }

    pub fn budget_seen(&self, id: &BudgetId, unavailable_allowed: i32) {
        self.unavailable_allowed
            .get_or_create(&BudgetLabels::of(id))
            .set(i64::from(unavailable_allowed));
    }

    /// Counts one failed status write of the controller.
    pub fn status_write_failed(&self, id: &BudgetId, reason: &str) {
        self.status_write_errors
            .get_or_create(&StatusWriteErrorLabels {
                namespace: id.namespace.clone(),
                budget: id.name.clone(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn budget_gone(&self, id: &BudgetId) {
        self.unavailable_allowed.remove(&BudgetLabels::of(id));
    }

    /// Counts one admission decision.
    pub fn decided(&self, operation: &'static str, allowed: bool, reason: &'static str) {
        let result = if allowed { "allowed" } else { "denied" };
        self.decisions
            .get_or_create(&DecisionLabels {
                operation,
                result,
                reason,
            })
            .inc();
    }

    pub fn error(&self, label: &'static str) {
        self.errors
            .get_or_create(&ErrorLabels { error: label })
            .inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
