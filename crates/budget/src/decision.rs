//! The admission decision for one disruption request, in the order of DESIGN.md "Decision for one
//! request". Pure: the caller supplies the pod, its owner chain, the budgets of its namespace with
//! their current status, and the time; it gets back Allow, Deny or the units to take.

use jiff::Timestamp;

use crate::owner::Resolution;
use crate::pod::PodFacts;
use crate::spec::{BudgetId, BudgetSpec, Operation, UnhealthyPodPolicy};
use crate::status::BudgetStatus;

/// Refusals carry HTTP 429 so `kubectl drain` and controllers retry instead of failing.
pub const DENY_CODE: u16 = 429;
pub const DENY_REASON: &str = "TooManyRequests";
pub const DENY_CAUSE: &str = "DisruptionBudget";
/// Retry hint when no disruption is allowed: none, as Kubernetes' eviction API answers
/// "insufficient pods". The API server turns a non-zero hint into a `Retry-After` header, and
/// client-go then retries the 429 by itself up to 10 times without a word: `kubectl delete` hung
/// 50 s before printing the refusal, and `kubectl drain` (which retries every 5 s on its own and
/// says so) printed nothing for minutes. The message says when to retry instead.
pub const RETRY_AFTER_INSUFFICIENT: u32 = 0;
/// Retry hint while a budget's status catches up with its spec (as Kubernetes' eviction API).
pub const RETRY_AFTER_PROCESSING: u32 = 10;
/// Beyond this many held pods the controller is behind; refuse rather than grow the status without
/// bound (Kubernetes' eviction API uses the same limit).
pub const MAX_HELD_PODS: usize = 2000;

/// One budget as the decision sees it.
#[derive(Debug, Clone, Copy)]
pub struct BudgetView<'a> {
    pub id: &'a BudgetId,
    /// `metadata.generation`.
    pub generation: i64,
    pub spec: &'a BudgetSpec,
    pub status: &'a BudgetStatus,
}

/// One disruption request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub pod: &'a PodFacts,
    pub operation: Operation,
    /// The pod's owner chain, from [`crate::owner::resolve`].
    pub owners: &'a Resolution,
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(Allow),
    Deny(Denial),
    /// Allowed if every listed budget's new status is written with optimistic concurrency; on a
    /// conflict the caller re-reads and decides again.
    Take(Vec<Take>),
}

/// Why a request was allowed without taking a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allow {
    PodTerminal,
    PodTerminating,
    NoBudget,
    /// Budgets cover the pod but none protects this operation or all ignore the pod.
    NotProtected,
    /// Every covering budget already has this pod's removal pending (a retry), or lets an
    /// unavailable pod go.
    NoUnitNeeded,
}

impl Allow {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::PodTerminal => "PodTerminal",
            Self::PodTerminating => "PodTerminating",
            Self::NoBudget => "NoBudget",
            Self::NotProtected => "NotProtected",
            Self::NoUnitNeeded => "NoUnitNeeded",
        }
    }
}

/// One unit to take from one budget. The decision says what to take; [`Take::apply`] makes the
/// status to write from the status the caller holds, so deciding never copies a status (whose
/// maps can hold thousands of pods during a large drain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Take {
    pub budget: BudgetId,
    pub pod: String,
    pub operation: Operation,
    /// The budget generation the decision saw.
    pub generation: i64,
    pub at: Timestamp,
}

impl Take {
    /// The status to write with optimistic concurrency: `current` with one unit fewer and the
    /// pod recorded. `current` is the status the decision was made from.
    pub fn apply(&self, current: &BudgetStatus) -> BudgetStatus {
        current.with_unit_taken(&self.pod, self.operation, self.generation, self.at)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub budget: BudgetId,
    pub why: DenyReason,
    /// HTTP status code: always [`DENY_CODE`].
    pub code: u16,
    /// Always [`DENY_REASON`].
    pub reason: &'static str,
    /// For a person: which pod, which operation, which budget, the counts and what to do.
    pub message: String,
    /// The `DisruptionBudget` cause's message, in the Kubernetes eviction API's words.
    pub cause: String,
    pub retry_after_seconds: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// `observedGeneration < generation`.
    StillProcessing,
    /// `unavailableAllowed ≤ 0`.
    InsufficientPods,
    /// More than [`MAX_HELD_PODS`] held pods.
    TooManyHeld,
}

impl DenyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StillProcessing => "StillProcessing",
            Self::InsufficientPods => "InsufficientPods",
            Self::TooManyHeld => "TooManyHeld",
        }
    }
}

/// Decides one request against the budgets of the pod's namespace. `budgets` may include budgets
/// that do not cover the pod; they are skipped.
pub fn decide(req: &Request<'_>, budgets: &[BudgetView<'_>]) -> Decision {
    let pod = req.pod;
    // 1. Terminal or terminating pods cost nothing (this also lets the kubelet's final DELETE of
    //    an already allowed deletion through).
    if pod.is_terminal() {
        return Decision::Allow(Allow::PodTerminal);
    }
    if pod.terminating {
        return Decision::Allow(Allow::PodTerminating);
    }
    let mut covered = false;
    let mut protected = false;
    let mut takes = Vec::new();
    for b in budgets {
        // 2. Coverage comes from the guard's view of labels and owners only.
        if b.id.namespace != pod.namespace || !b.spec.selects(pod, &req.owners.chain) {
            continue;
        }
        covered = true;
        // 1. (per budget) operation not protected, or pod ignored.
        if !b.spec.protect.contains(req.operation) || b.spec.ignores(pod) {
            continue;
        }
        protected = true;
        // 3. A retry is not a second disruption.
        if b.status.removal_pending(pod) {
            continue;
        }
        // 4. Unavailable pods may go when the policy says so or the budget is met anyway.
        if !pod.is_available(req.owners.min_ready_seconds, req.now)
            && (b.spec.unhealthy_pod_policy == UnhealthyPodPolicy::AlwaysAllow || b.status.is_met())
        {
            continue;
        }
        // 5. A status older than its spec may allow what the new spec forbids.
        if b.status.observed_generation < b.generation {
            return Decision::Deny(denial(req, b, DenyReason::StillProcessing));
        }
        // 6. No unit left.
        if b.status.unavailable_allowed <= 0 {
            return Decision::Deny(denial(req, b, DenyReason::InsufficientPods));
        }
        if b.status.disrupted_pods.len() + b.status.unavailable_pods.len() >= MAX_HELD_PODS {
            return Decision::Deny(denial(req, b, DenyReason::TooManyHeld));
        }
        // 7. Take one unit from this budget; every covering budget must agree.
        takes.push(Take {
            budget: b.id.clone(),
            pod: pod.name.clone(),
            operation: req.operation,
            generation: b.generation,
            at: req.now,
        });
    }
    if !covered {
        return Decision::Allow(Allow::NoBudget);
    }
    if !protected {
        return Decision::Allow(Allow::NotProtected);
    }
    if takes.is_empty() {
        return Decision::Allow(Allow::NoUnitNeeded);
    }
    Decision::Take(takes)
}

/// Units taken since the last count are disruptions on their way; without saying so, "has 10,
/// needs 8, nothing allowed" reads as a bug.
fn in_progress(s: &BudgetStatus) -> String {
    let held = s.disrupted_pods.len()
        + s.unavailable_pods
            .keys()
            .filter(|name| !s.disrupted_pods.contains_key(*name))
            .count();
    match held {
        0 => String::new(),
        1 => " with 1 disruption already in progress".to_owned(),
        n => format!(" with {n} disruptions already in progress"),
    }
}

fn denial(req: &Request<'_>, b: &BudgetView<'_>, why: DenyReason) -> Denial {
    let pod = req.pod;
    let s = b.status;
    let kind = b.id.kind.as_str();
    let (message, cause, retry_after_seconds) = match why {
        DenyReason::StillProcessing => (
            format!(
                "cannot {} pod {}/{}: {kind} {} was changed and its status is still being computed (generation {}, status of {}); retry in a few seconds",
                req.operation.verb(),
                pod.namespace,
                pod.name,
                b.id.name,
                b.generation,
                s.observed_generation
            ),
            format!(
                "The disruption budget {} is still being processed by the server.",
                b.id.name
            ),
            RETRY_AFTER_PROCESSING,
        ),
        DenyReason::InsufficientPods => (
            format!(
                "cannot {} pod {}/{}: {kind} {} needs {} available pod(s) and has {}{}, so no disruption is allowed now; retry once more pods are available (kubectl drain retries by itself), or change the budget",
                req.operation.verb(),
                pod.namespace,
                pod.name,
                b.id.name,
                s.desired_available,
                s.current_available,
                in_progress(s),
            ),
            format!(
                "The disruption budget {} needs {} healthy pods and has {} currently",
                b.id.name, s.desired_available, s.current_available
            ),
            RETRY_AFTER_INSUFFICIENT,
        ),
        DenyReason::TooManyHeld => (
            format!(
                "cannot {} pod {}/{}: {kind} {} holds {} pods in disruption, more than the controller can track; retry once the controller catches up",
                req.operation.verb(),
                pod.namespace,
                pod.name,
                b.id.name,
                s.disrupted_pods.len() + s.unavailable_pods.len()
            ),
            format!(
                "The disruption budget {} has too many pods in disruption.",
                b.id.name
            ),
            RETRY_AFTER_PROCESSING,
        ),
    };
    Denial {
        budget: b.id.clone(),
        why,
        code: DENY_CODE,
        reason: DENY_REASON,
        message,
        cause,
        retry_after_seconds,
    }
}

#[cfg(test)]
mod tests;
