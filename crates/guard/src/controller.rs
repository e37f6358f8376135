//! The budget controller: recomputes the status of every PodUnavailableBudget whose pods, owners or
//! spec changed (and all of them on a timer, for time-based changes such as expiries and
//! minReadySeconds), and writes it only when it changed, only while this replica holds the Lease,
//! always with the resourceVersion precondition. PodDisruptionBudgets are left to Kubernetes'
//! disruption controller. A budget whose status cannot be written (RBAC removed, a schema the
//! status no longer fits) is retried with its own exponential backoff, not on every pass.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::ExponentialBackoff;
use steady_budget::{
    BudgetEvent, BudgetId, BudgetKind, StatusInput, StatusOutcome, compute_status,
};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::admin::Readiness;
use crate::events::Events;
use crate::index::SharedIndex;
use crate::metrics::{Metrics, WriterLabels};
use crate::watches::Dirty;
use crate::writer::{WriteError, Writer};

/// The per-budget retry schedule of failed status writes: exponential from `min` (doubling, with
/// up to as much again of jitter so replicas and budgets do not retry in step), capped at `max`,
/// reset by the next write that succeeds or is no longer needed. A lasting 403 costs one write
/// per `max` or so instead of twenty a second.
pub struct Backoffs {
    min: Duration,
    max: Duration,
    failing: Mutex<HashMap<BudgetId, Failing>>,
}

struct Failing {
    backoff: ExponentialBackoff,
    next: Instant,
}

impl Default for Backoffs {
    fn default() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(60))
    }
}

impl Backoffs {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            failing: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BudgetId, Failing>> {
        self.failing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the budget may be written now.
    fn due(&self, id: &BudgetId, now: Instant) -> bool {
        self.lock().get(id).is_none_or(|f| f.next <= now)
    }

    /// Records a failed write; returns the time until the next attempt.
    fn failed(&self, id: &BudgetId, now: Instant) -> Duration {
        let mut failing = self.lock();
        let f = failing.entry(id.clone()).or_insert_with(|| Failing {
            backoff: backon::ExponentialBuilder::default()
                .with_min_delay(self.min)
                .with_max_delay(self.max)
                .with_factor(2.0)
                .with_jitter()
                .without_max_times()
                .into(),
            next: now,
        });
        let delay = f.backoff.next().unwrap_or(self.max);
        f.next = now + delay;
        delay
    }

    fn succeeded(&self, id: &BudgetId) {
        let mut failing = self.lock();
        if let Some(mut f) = failing.remove(id) {
            f.backoff.reset();
        }
    }

    /// When the earliest waiting budget is due.
    fn next_due(&self) -> Option<Instant> {
        self.lock().values().map(|f| f.next).min()
    }

    /// Namespaces holding a budget whose retry time has come.
    fn due_namespaces(&self, now: Instant) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, f)| f.next <= now)
            .map(|(id, _)| id.namespace.clone())
            .collect()
    }
}

async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

pub struct Controller {
    pub index: SharedIndex,
    pub writer: Writer,
    pub events: Option<Events>,
    pub metrics: Arc<Metrics>,
    pub dirty: Arc<Dirty>,
    /// True while this replica holds the Lease.
    pub leader: watch::Receiver<bool>,
    pub expiry: SignedDuration,
    pub resync: Duration,
    /// Retries of budgets whose status write failed.
    pub backoff: Backoffs,
    /// When set, nothing is computed until every cache has synced: a status computed from a
    /// partial view of the pods would drop the entries of pods it has not seen yet.
    pub ready: Option<Readiness>,
}

/// What one recompute pass did, for tests and logs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub written: usize,
    pub unchanged: usize,
    pub conflicts: usize,
    pub failed: usize,
    /// Budgets skipped because their last write failed and their retry time has not come.
    pub deferred: usize,
}

/// The least time between two passes of the controller.
const SETTLE: Duration = Duration::from_millis(50);

impl Controller {
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.resync);
        let mut last_pass = tokio::time::Instant::now() - SETTLE;
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let retry_at = self.backoff.next_due();
            tokio::select! {
                _ = self.dirty.wait() => {}
                _ = tick.tick() => self.dirty.mark(self.index.read().budget_namespaces()),
                r = self.leader.changed() => {
                    if r.is_err() { return; }
                    // A new leader starts from a full recompute.
                    if *self.leader.borrow() {
                        self.dirty.mark(self.index.read().budget_namespaces());
                    }
                }
                _ = until(retry_at) => self.dirty.mark(self.backoff.due_namespaces(Instant::now())),
                _ = crate::stopped(&mut shutdown) => return,
            }
            // A burst of changes (a rollout, a re-list) goes into one pass: passes start at most
            // one SETTLE apart. The first change after a quiet spell is not delayed (a fixed
            // 50 ms sleep on every wake-up was most of a status update's latency: p50 53 ms on a
            // real API server, bench/guard/README.md).
            tokio::time::sleep_until(last_pass + SETTLE).await;
            last_pass = tokio::time::Instant::now();
            if !*self.leader.borrow() {
                self.dirty.take();
                continue;
            }
            // The namespaces stay marked; the resync tick comes back to them.
            if self.ready.as_ref().is_some_and(|r| !r.is_ready()) {
                continue;
            }
            let namespaces = self.dirty.take();
            for ns in namespaces {
                let pass = self.recompute(&ns).await;
                if pass.conflicts > 0 {
                    // Try again at once, with the budget just re-read. Failed writes come back
                    // when their backoff says so.
                    self.dirty.mark([ns]);
                }
            }
        }
    }

    /// Recomputes every PodUnavailableBudget of a namespace and writes those that changed.
    pub async fn recompute(&self, ns: &str) -> Pass {
        let mut pass = Pass::default();
        let (budgets, pods) = {
            let idx = self.index.read();
            (idx.budgets_in(ns), idx.namespace_pods(ns))
        };
        for b in budgets
            .iter()
            .filter(|b| b.id.kind == BudgetKind::PodUnavailableBudget)
        {
            if !self.backoff.due(&b.id, Instant::now()) {
                pass.deferred += 1;
                continue;
            }
            let now = Timestamp::now();
            let outcome = match &b.spec {
                Ok(spec) => {
                    let idx = self.index.read();
                    compute_status(&StatusInput {
                        spec,
                        generation: b.generation,
                        previous: &b.status,
                        pods: &pods,
                        owners: &*idx,
                        now,
                        expiry: self.expiry,
                        gone: &|name| idx.is_gone(ns, name),
                    })
                }
                // The CRD's schema refuses such specs; an object stored before a schema change
                // gets the reason on its own status, where the user looks, and allows nothing.
                Err(e) => {
                    let message = format!("the budget's spec is not usable: {e}; fix the spec");
                    StatusOutcome {
                        status: b.status.sync_failed(message.clone(), b.generation, now),
                        events: vec![BudgetEvent::SyncFailed { message }],
                    }
                }
            };
            if outcome.status == b.status {
                self.backoff.succeeded(&b.id);
                pass.unchanged += 1;
                continue;
            }
            // Checked before every write: a replica that lost the Lease stops writing at once.
            if !*self.leader.borrow() {
                return pass;
            }
            match self.writer.write(b, &outcome.status).await {
                Ok(stored) => {
                    self.backoff.succeeded(&b.id);
                    pass.written += 1;
                    self.metrics
                        .status_writes
                        .get_or_create(&WriterLabels {
                            writer: "controller",
                        })
                        .inc();
                    self.metrics
                        .budget_seen(&stored.id, stored.status.unavailable_allowed);
                    if let Some(events) = &self.events {
                        for ev in &outcome.events {
                            events.budget_event(&stored, ev);
                        }
                    }
                    self.index.write().apply_budget(stored);
                }
                Err(WriteError::Conflict) => {
                    pass.conflicts += 1;
                    self.metrics
                        .write_conflicts
                        .get_or_create(&WriterLabels {
                            writer: "controller",
                        })
                        .inc();
                    if let Ok(fresh) = self.writer.read(&b.id).await {
                        self.index.write().apply_budget(fresh);
                    }
                }
                Err(WriteError::NotFound) => {
                    self.backoff.succeeded(&b.id);
                    self.index.write().delete_budget(&b.id);
                }
                Err(e) => {
                    pass.failed += 1;
                    let retry_in = self.backoff.failed(&b.id, Instant::now());
                    self.metrics.error(e.metric_label());
                    self.metrics.status_write_failed(&b.id, e.reason());
                    tracing::warn!(budget = %b.id, reason = e.reason(), error = %e, retry_in = ?retry_in, "cannot write the budget status");
                    if let Some(events) = &self.events {
                        events.status_write_failed(b, e.reason(), &e.detail(), retry_in);
                    }
                }
            }
        }
        pass
    }
}
