//! The admission handler: an AdmissionReview in, the engine's decision over the index, the units
//! taken with optimistic concurrency, an AdmissionReview out. No budget rule lives here: the
//! decision is `steady_budget::decide`; this module only translates and writes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use serde_json::value::RawValue;
use steady_budget::decision::{DENY_CODE, DENY_REASON, RETRY_AFTER_INSUFFICIENT};
use steady_budget::{
    BudgetId, BudgetView, Decision, Denial, Operation, PodFacts, Request, Restart, decide,
    resize_restart, update_restart,
};
use tokio::time::timeout_at;

use crate::events::Events;
use crate::index::{BudgetEntry, SharedIndex};
use crate::metrics::{Metrics, WriterLabels};
use crate::writer::{WriteError, Writer};

pub mod review;

pub use review::{Answer, BadReview, Refusal, Review, Subject};

#[cfg(test)]
mod tests;

#[derive(Debug, Clone)]
pub struct Config {
    /// Time to answer one review, inside the webhook's `timeoutSeconds`.
    pub deadline: Duration,
    /// Decisions (and so status writes) tried per request before refusing with 429.
    pub max_attempts: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(8),
            max_attempts: 10,
        }
    }
}

/// Everything a review needs; cheap to clone.
#[derive(Clone)]
pub struct Admission {
    inner: Arc<Inner>,
}

struct Inner {
    index: SharedIndex,
    writer: Writer,
    events: Option<Events>,
    metrics: Arc<Metrics>,
    config: Config,
    /// When set, disruptions are refused until every cache has synced: an empty index would
    /// otherwise allow everything.
    ready: Option<crate::admin::Readiness>,
}

/// How one review was answered, for metrics and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub answer: Answer,
    pub operation: &'static str,
    pub reason: &'static str,
}

impl Outcome {
    fn allow(operation: Option<Operation>, reason: &'static str) -> Self {
        Self {
            answer: Answer::allow(),
            operation: op_label(operation),
            reason,
        }
    }
}

fn op_label(op: Option<Operation>) -> &'static str {
    op.map(Operation::as_str).unwrap_or("None")
}

impl Admission {
    pub fn new(
        index: SharedIndex,
        writer: Writer,
        events: Option<Events>,
        metrics: Arc<Metrics>,
        config: Config,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                index,
                writer,
                events,
                metrics,
                config,
                ready: None,
            }),
        }
    }

    /// Refuse disruptions (429) until `ready` reports every cache synced.
    pub fn with_readiness(
        index: SharedIndex,
        writer: Writer,
        events: Option<Events>,
        metrics: Arc<Metrics>,
        config: Config,
        ready: crate::admin::Readiness,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                index,
                writer,
                events,
                metrics,
                config,
                ready: Some(ready),
            }),
        }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// Whether a review in `namespace` must be read whole: a budget may cover its pod, or the
    /// caches are not loaded yet (then disruptions are refused, which needs the operation only,
    /// but an empty index must not pass for "no budget").
    fn needs_pod(&self, namespace: &str) -> bool {
        self.inner.ready.as_ref().is_some_and(|r| !r.is_ready())
            || self.inner.index.read().has_budgets(namespace)
    }

    /// Answers one AdmissionReview body with the AdmissionReview to send back (JSON); `Err` means
    /// HTTP 400 with the reason.
    pub async fn review(&self, body: &[u8]) -> Result<Vec<u8>, BadReview> {
        let start = Instant::now();
        let m = &self.inner.metrics;
        let review = match review::parse_with(body, &|ns| self.needs_pod(ns)) {
            Ok(r) => r,
            Err(e) => {
                m.error(e.metric_label());
                return Err(e);
            }
        };
        let outcome = match self
            .judge(&review, start + self.inner.config.deadline)
            .await
        {
            Ok(o) => o,
            Err(e) => {
                m.error(e.metric_label());
                return Err(e);
            }
        };
        m.decided(
            outcome.operation,
            outcome.answer.refusal.is_none(),
            outcome.reason,
        );
        m.request_duration.observe(start.elapsed().as_secs_f64());
        if let Some(r) = &outcome.answer.refusal {
            tracing::info!(uid = %review.uid, user = %review.user, reason = outcome.reason, message = %r.message, "refused");
        } else {
            tracing::debug!(uid = %review.uid, operation = outcome.operation, reason = outcome.reason, "allowed");
        }
        Ok(review::response(&review.uid, &outcome.answer))
    }

    /// Decides one parsed review.
    pub async fn judge(&self, r: &Review<'_>, deadline: Instant) -> Result<Outcome, BadReview> {
        let op = match r.subject {
            Subject::Pass(why) => return Ok(Outcome::allow(None, why)),
            Subject::Delete { .. } => Operation::Delete,
            Subject::Evict => Operation::Evict,
            Subject::Update { .. } => Operation::Update,
            Subject::Resize { .. } => Operation::Resize,
            Subject::Unread(op) => op,
        };
        if let Some(ready) = &self.inner.ready
            && !ready.is_ready()
        {
            return Ok(self.failure(
                op,
                r,
                None,
                "the guard is still loading its caches".into(),
                "NotReady",
            ));
        }
        // The fast path: no budget in the namespace, no pod to parse, no API call. An unread pod
        // means the parser found no budget there a moment ago; the request is decided as of then.
        if matches!(r.subject, Subject::Unread(_))
            || !self.inner.index.read().has_budgets(&r.namespace)
        {
            return Ok(Outcome::allow(Some(op), "NoBudget"));
        }
        let (pod, restart) = match r.subject {
            Subject::Pass(why) => return Ok(Outcome::allow(Some(op), why)),
            Subject::Unread(_) => return Ok(Outcome::allow(Some(op), "NoBudget")),
            Subject::Delete { old: Some(raw) } => {
                (PodFacts::from_pod(&parse_pod(raw, "oldObject")?), None)
            }
            Subject::Delete { old: None } => {
                match self.inner.index.read().pod(&r.namespace, &r.name) {
                    Some(p) if !r.name.is_empty() => (p, None),
                    _ => {
                        return Err(BadReview::MissingField {
                            operation: "DELETE".into(),
                            resource: "pods".into(),
                            field: "oldObject",
                        });
                    }
                }
            }
            Subject::Evict => {
                let cached = self.inner.index.read().pod(&r.namespace, &r.name);
                match cached {
                    Some(p) => (p, None),
                    None => match self.fetch_pod(&r.namespace, &r.name, deadline).await {
                        Ok(Some(p)) => (p, None),
                        // The eviction itself will answer 404.
                        Ok(None) => return Ok(Outcome::allow(Some(op), "PodNotFound")),
                        Err(message) => {
                            return Ok(self.failure(op, r, None, message, "PodReadFailed"));
                        }
                    },
                }
            }
            Subject::Update { old, new } | Subject::Resize { old, new } => {
                let old = parse_pod(old, "oldObject")?;
                let new = parse_pod(new, "object")?;
                let (o, n) = (
                    old.spec.clone().unwrap_or_default(),
                    new.spec.clone().unwrap_or_default(),
                );
                let restart = if op == Operation::Resize {
                    resize_restart(&o, &n)
                } else {
                    update_restart(&o, &n)
                };
                match restart {
                    None => return Ok(Outcome::allow(Some(op), "NotDisruptive")),
                    Some(restart) => (PodFacts::from_pod(&old), Some(restart)),
                }
            }
        };
        Ok(self.take(op, &pod, r, restart.as_ref(), deadline).await)
    }

    async fn fetch_pod(
        &self,
        ns: &str,
        name: &str,
        deadline: Instant,
    ) -> Result<Option<PodFacts>, String> {
        let api: Api<Pod> = Api::namespaced(self.inner.writer.client().clone(), ns);
        match timeout_at(deadline.into(), api.get_opt(name)).await {
            Ok(Ok(p)) => Ok(p.as_ref().map(PodFacts::from_pod)),
            Ok(Err(e)) => Err(format!("cannot read the pod from the API server: {e}")),
            Err(_) => Err("timed out reading the pod from the API server".into()),
        }
    }

    /// Decides, and takes the units the decision asks for; on a conflict re-reads and decides again.
    async fn take(
        &self,
        op: Operation,
        pod: &PodFacts,
        r: &Review<'_>,
        restart: Option<&Restart>,
        deadline: Instant,
    ) -> Outcome {
        let inner = &self.inner;
        let mut taken: Vec<BudgetId> = Vec::new();
        for _ in 0..inner.config.max_attempts.max(1) {
            let (budgets, owners) = {
                let idx = inner.index.read();
                (idx.budgets_in(&pod.namespace), idx.resolve(pod))
            };
            let views: Vec<BudgetView<'_>> = budgets
                .iter()
                .filter_map(|b| {
                    let spec = b.spec.as_ref().ok()?;
                    Some(BudgetView {
                        id: &b.id,
                        generation: b.generation,
                        spec,
                        status: &b.status,
                    })
                })
                .collect();
            let req = Request {
                pod,
                operation: op,
                owners: &owners,
                now: Timestamp::now(),
            };
            match decide(&req, &views) {
                Decision::Allow(a) => {
                    let reason = if taken.is_empty() {
                        a.as_str()
                    } else {
                        "Taken"
                    };
                    return Outcome::allow(Some(op), reason);
                }
                Decision::Deny(d) => {
                    self.give_back(taken, pod);
                    let budget = budgets.iter().find(|b| b.id == d.budget).cloned();
                    return self.refuse(op, r, pod, budget, d, restart);
                }
                Decision::Take(takes) => {
                    if r.dry_run {
                        return Outcome::allow(Some(op), "DryRun");
                    }
                    let mut retry = false;
                    for t in takes {
                        let Some(entry) = budgets.iter().find(|b| b.id == t.budget) else {
                            continue;
                        };
                        match timeout_at(
                            deadline.into(),
                            inner.writer.write(entry, &t.apply(&entry.status)),
                        )
                        .await
                        {
                            Ok(Ok(stored)) => {
                                inner
                                    .metrics
                                    .status_writes
                                    .get_or_create(&WriterLabels { writer: "webhook" })
                                    .inc();
                                inner
                                    .metrics
                                    .budget_seen(&stored.id, stored.status.unavailable_allowed);
                                inner.index.write().apply_budget(stored);
                                taken.push(t.budget);
                            }
                            Ok(Err(WriteError::Conflict)) => {
                                inner
                                    .metrics
                                    .write_conflicts
                                    .get_or_create(&WriterLabels { writer: "webhook" })
                                    .inc();
                                if let Err(message) = self.reread(&t.budget, deadline).await {
                                    self.give_back(taken, pod);
                                    return self.failure(
                                        op,
                                        r,
                                        Some(&t.budget),
                                        message,
                                        "StatusReadFailed",
                                    );
                                }
                                retry = true;
                                break;
                            }
                            Ok(Err(WriteError::NotFound)) => {
                                inner.index.write().delete_budget(&t.budget);
                                retry = true;
                                break;
                            }
                            Ok(Err(e)) => {
                                inner.metrics.error(e.metric_label());
                                self.give_back(taken, pod);
                                return self.failure(
                                    op,
                                    r,
                                    Some(&t.budget),
                                    e.to_string(),
                                    "StatusWriteFailed",
                                );
                            }
                            Err(_) => {
                                self.give_back(taken, pod);
                                return self.failure(
                                    op,
                                    r,
                                    Some(&t.budget),
                                    "timed out writing the budget status".into(),
                                    "Timeout",
                                );
                            }
                        }
                    }
                    if !retry {
                        return Outcome::allow(Some(op), "Taken");
                    }
                }
            }
        }
        self.give_back(taken, pod);
        self.failure(
            op,
            r,
            None,
            format!(
                "the budget kept changing while {} attempts were made",
                inner.config.max_attempts
            ),
            "TooManyConflicts",
        )
    }

    /// Re-reads a budget after a conflict, into the index.
    async fn reread(&self, id: &BudgetId, deadline: Instant) -> Result<(), String> {
        match timeout_at(deadline.into(), self.inner.writer.read(id)).await {
            Ok(Ok(fresh)) => {
                self.inner
                    .metrics
                    .budget_seen(&fresh.id, fresh.status.unavailable_allowed);
                self.inner.index.write().apply_budget(fresh);
                Ok(())
            }
            Ok(Err(WriteError::NotFound)) => {
                self.inner.index.write().delete_budget(id);
                Ok(())
            }
            Ok(Err(e)) => Err(format!("cannot re-read the budget: {e}")),
            Err(_) => Err("timed out re-reading the budget".into()),
        }
    }

    /// Returns the units this request took when a later budget refused it (or the request failed).
    /// Runs on its own so the answer is not delayed; bounded by attempts.
    fn give_back(&self, taken: Vec<BudgetId>, pod: &PodFacts) {
        if taken.is_empty() {
            return;
        }
        let this = self.clone();
        let pod = pod.name.clone();
        tokio::spawn(async move {
            for id in taken {
                this.give_back_one(&id, &pod).await;
            }
        });
    }

    pub(crate) async fn give_back_one(&self, id: &BudgetId, pod: &str) {
        let inner = &self.inner;
        for _ in 0..inner.config.max_attempts.max(1) {
            let Some(entry) = inner.index.read().budget(id) else {
                return;
            };
            let status = entry
                .status
                .with_unit_given_back(pod, entry.generation, Timestamp::now());
            if status == entry.status {
                return;
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            match timeout_at(deadline.into(), inner.writer.write(&entry, &status)).await {
                Ok(Ok(stored)) => {
                    inner.index.write().apply_budget(stored);
                    return;
                }
                Ok(Err(WriteError::Conflict)) => {
                    inner
                        .metrics
                        .write_conflicts
                        .get_or_create(&WriterLabels { writer: "webhook" })
                        .inc();
                    if self.reread(id, deadline).await.is_err() {
                        break;
                    }
                }
                _ => break,
            }
        }
        tracing::warn!(budget = %id, pod, "could not give back a unit; it returns when the entry expires");
    }

    fn refuse(
        &self,
        op: Operation,
        r: &Review<'_>,
        pod: &PodFacts,
        budget: Option<Arc<BudgetEntry>>,
        d: Denial,
        restart: Option<&Restart>,
    ) -> Outcome {
        let mut message = d.message;
        if let Some(restart) = restart {
            message = format!("{message} (the change restarts a container: {restart})");
        }
        // An Event is a write: a dry run has none (the webhook declares `sideEffects: NoneOnDryRun`).
        if let (Some(events), Some(budget), false) = (&self.inner.events, budget, r.dry_run) {
            events.refused(&budget, pod, op, &r.user, &message);
        }
        Outcome {
            answer: Answer::deny(Refusal {
                code: d.code,
                reason: d.reason,
                message,
                cause: d.cause,
                retry_after_seconds: d.retry_after_seconds,
            }),
            operation: op.as_str(),
            reason: d.why.as_str(),
        }
    }

    /// The guard could not finish deciding: refuse with 429 so callers retry, and say why.
    fn failure(
        &self,
        op: Operation,
        r: &Review<'_>,
        budget: Option<&BudgetId>,
        why: String,
        reason: &'static str,
    ) -> Outcome {
        let target = budget
            .map(|b| format!(" in {}/{}", b.namespace, b.name))
            .unwrap_or_default();
        Outcome {
            answer: Answer::deny(Refusal {
                code: DENY_CODE,
                reason: DENY_REASON,
                message: format!(
                    "cannot {} pod {}/{} now: the disruption could not be recorded{target}: {why}; retry in a few seconds",
                    op.verb(),
                    r.namespace,
                    r.name
                ),
                cause: format!("The disruption budget could not be updated: {why}"),
                // No Retry-After, for the same reason as a refusal: the caller sees the message now.
                retry_after_seconds: RETRY_AFTER_INSUFFICIENT,
            }),
            operation: op.as_str(),
            reason,
        }
    }
}

fn parse_pod(raw: &RawValue, field: &'static str) -> Result<Pod, BadReview> {
    serde_json::from_str(raw.get()).map_err(|e| BadReview::NotAPod {
        field,
        error: e.to_string(),
    })
}
