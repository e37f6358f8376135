//! The budget controller: recomputes the status of every PodUnavailableBudget whose pods, owners or
//! spec changed (and all of them on a timer, for time-based changes such as expiries and
//! minReadySeconds), and writes it only when it changed, only while this replica holds the Lease,
//! always with the resourceVersion precondition. PodDisruptionBudgets are left to Kubernetes'
//! disruption controller.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use steady_budget::{BudgetEvent, BudgetKind, StatusInput, StatusOutcome, compute_status};
use tokio::sync::watch;

use crate::events::Events;
use crate::index::SharedIndex;
use crate::metrics::{Metrics, WriterLabels};
use crate::watches::Dirty;
use crate::writer::{WriteError, Writer};

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
}

/// What one recompute pass did, for tests and logs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub written: usize,
    pub unchanged: usize,
    pub conflicts: usize,
    pub failed: usize,
}

impl Controller {
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.resync);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
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
                _ = crate::stopped(&mut shutdown) => return,
            }
            // Let a burst of changes (a rollout, a re-list) settle into one pass.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if !*self.leader.borrow() {
                self.dirty.take();
                continue;
            }
            let namespaces = self.dirty.take();
            for ns in namespaces {
                let pass = self.recompute(&ns).await;
                if pass.conflicts + pass.failed > 0 {
                    // Try again on the next pass, with what the watch has delivered meanwhile.
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
                pass.unchanged += 1;
                continue;
            }
            // Checked before every write: a replica that lost the Lease stops writing at once.
            if !*self.leader.borrow() {
                return pass;
            }
            match self.writer.write(b, &outcome.status).await {
                Ok(stored) => {
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
                    self.index.write().delete_budget(&b.id);
                }
                Err(e) => {
                    pass.failed += 1;
                    self.metrics.error(e.metric_label());
                    tracing::warn!(budget = %b.id, error = %e, "cannot write the budget status");
                }
            }
        }
        pass
    }
}
