//! Rules on PodDisruptionBudgets and PodUnavailableBudgets and the workloads they guard.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use steady_budget::{BudgetSpec, BudgetSpecError, IntOrPercent, RollingUpdate};

use super::{Ctx, Fix, Rule, Severity};
use crate::model::{BudgetInfo, WorkloadKind};

fn budgets<'a>(ctx: &'a Ctx<'a>) -> impl Iterator<Item = (usize, &'a BudgetInfo)> + 'a {
    ctx.index
        .budgets
        .iter()
        .filter_map(|&i| ctx.obj(i).budget().map(|b| (i, b)))
}

/// Why a budget's spec is invalid, if it is: the engine's own reasons, all of them. A budget
/// without a policy and a PodDisruptionBudget without a selector are left to
/// budget-no-policy and budget-selects-nothing, which say more about them.
fn invalid(b: &BudgetInfo) -> Vec<String> {
    b.spec_input()
        .errors()
        .into_iter()
        .filter(|e| {
            !matches!(
                e,
                BudgetSpecError::Policy("neither") | BudgetSpecError::NoSelector
            )
        })
        .map(|e| e.to_string())
        .collect()
}

/// (expected pods, disruptions allowed when every pod is healthy) for a valid budget that selects
/// at least one workload. Workloads under an HPA count with the HPA's minReplicas.
pub fn allowance(ctx: &Ctx<'_>, i: usize, b: &BudgetInfo) -> Option<(i32, i32)> {
    let spec = BudgetSpec::try_from(b.spec_input()).ok()?;
    let ws = ctx.index.selected_by_budget.get(&i)?;
    if ws.is_empty() {
        return None;
    }
    let expected = spec
        .total_replicas
        .unwrap_or_else(|| ws.iter().map(|&w| ctx.min_replicas(w)).sum());
    Some((expected, spec.policy.allowed(expected, expected)))
}

pub const BUDGET_MISSING: Rule = Rule {
    id: "budget-missing",
    severity: Severity::Warning,
    summary: "A replicated workload has no disruption budget",
    explanation: "Without a PodDisruptionBudget or PodUnavailableBudget, `kubectl drain`, cluster \
autoscaler scale-down and node upgrades may evict every replica at once. Budgets are matched with \
full label-selector semantics (matchLabels and matchExpressions) in the same namespace, or by a \
PodUnavailableBudget's targetRef. Workloads running fewer than `thresholds.minReplicas` replicas \
(HPA: minReplicas) are not reported.\n\nFix: add a PodUnavailableBudget (guards deletes, \
evictions and in-place updates) or a PodDisruptionBudget (evictions only) with `maxUnavailable: 1` \
selecting the pods. `steady fix` writes one beside the manifest (`--pdb` for a PDB).",
    fix: Some(Fix::AddBudget),
    check: |ctx, out| {
        for &i in &ctx.index.workloads {
            if !ctx.is_replicated(i) || ctx.min_replicas(i) < ctx.t.min_replicas.max(2) {
                continue;
            }
            if ctx.index.budgets_of.get(&i).is_none_or(Vec::is_empty) {
                out.push(ctx.hit(
                    i,
                    None,
                    format!(
                        "no PodDisruptionBudget or PodUnavailableBudget selects its {} replicas: a drain may evict them all at once",
                        ctx.min_replicas(i)
                    ),
                ));
            }
        }
    },
};

pub const BUDGET_INVALID: Rule = Rule {
    id: "budget-invalid",
    severity: Severity::Error,
    summary: "A budget's spec is invalid",
    explanation: "The API server rejects the budget, or it cannot work: both or neither of \
selector / targetRef (PodUnavailableBudget), both minAvailable and maxUnavailable, a negative or \
malformed value or a percentage above 100%, an unknown selector operator, an unknown unhealthy \
pod policy.\n\nFix: correct the fields named in the message.",
    fix: None,
    check: |ctx, out| {
        for (i, b) in budgets(ctx) {
            let why = invalid(b);
            if !why.is_empty() {
                out.push(ctx.hit(i, None, why.join("; ")));
            }
        }
    },
};

pub const BUDGET_NO_POLICY: Rule = Rule {
    id: "budget-no-policy",
    severity: Severity::Warning,
    summary: "A budget sets neither minAvailable nor maxUnavailable",
    explanation: "A budget without a policy does not say how many pods it protects, so its \
effect depends on API defaults that differ between versions.\n\nFix: set `maxUnavailable: 1` \
(or a percentage) or `minAvailable`.",
    fix: None,
    check: |ctx, out| {
        for (i, b) in budgets(ctx) {
            if b.min_available.is_none() && b.max_unavailable.is_none() {
                out.push(ctx.hit(
                    i,
                    None,
                    "neither minAvailable nor maxUnavailable is set".to_owned(),
                ));
            }
        }
    },
};

pub const BUDGET_SELECTS_NOTHING: Rule = Rule {
    id: "budget-selects-nothing",
    severity: Severity::Warning,
    summary: "A budget selects no workload",
    explanation: "A budget whose selector (or targetRef) matches no pod template in its \
namespace protects nothing — often a typo in a label or the wrong namespace. A \
PodDisruptionBudget without a selector selects nothing in policy/v1.\n\nFix: make the selector \
match the pod template labels of the workload to protect.",
    fix: None,
    check: |ctx, out| {
        for (i, b) in budgets(ctx) {
            if !invalid(b).is_empty() {
                continue;
            }
            if ctx
                .index
                .selected_by_budget
                .get(&i)
                .is_none_or(Vec::is_empty)
            {
                let what = match (&b.selector, &b.target_ref) {
                    (None, None) => "has no selector, so it selects nothing".to_owned(),
                    (_, Some(t)) => format!(
                        "targetRef {}/{} names no workload in namespace {}",
                        t.kind,
                        t.name,
                        ctx.obj(i).namespace
                    ),
                    (Some(_), None) => format!(
                        "selector matches no pod template in namespace {}",
                        ctx.obj(i).namespace
                    ),
                };
                out.push(ctx.hit(i, None, what));
            }
        }
    },
};

pub const BUDGET_OVERLAP: Rule = Rule {
    id: "budget-overlap",
    severity: Severity::Error,
    summary: "Two budgets of the same kind select the same pods",
    explanation: "When more than one PodDisruptionBudget matches a pod, every eviction of it \
fails with HTTP 500 \"more than one PodDisruptionBudget\" and drains stop. Overlapping \
PodUnavailableBudgets must all allow a disruption, which is rarely what was meant.\n\nFix: make \
the selectors disjoint so each pod has one budget of each kind.",
    fix: None,
    check: |ctx, out| {
        let mut seen = BTreeSet::new();
        let mut ws: Vec<_> = ctx.index.budgets_of.iter().collect();
        ws.sort_unstable_by_key(|(w, _)| **w);
        for (&w, bs) in ws {
            for (n, &a) in bs.iter().enumerate() {
                for &b in &bs[n + 1..] {
                    let (Some(ba), Some(bb)) = (ctx.obj(a).budget(), ctx.obj(b).budget()) else {
                        continue;
                    };
                    if ba.is_pub != bb.is_pub || !seen.insert((a.min(b), a.max(b))) {
                        continue;
                    }
                    out.push(ctx.hit(
                        a.max(b),
                        None,
                        format!(
                            "{} {} and {} both select the pods of {}",
                            ba.kind().as_str(),
                            ctx.obj(a.min(b)).name,
                            ctx.obj(a.max(b)).name,
                            ctx.obj(w).display()
                        ),
                    ));
                }
            }
        }
    },
};

pub const BUDGET_BLOCKS_DRAIN: Rule = Rule {
    id: "budget-blocks-drain",
    severity: Severity::Error,
    summary: "A budget can never allow a disruption, so it blocks every drain",
    explanation: "`maxUnavailable: 0`, `minAvailable: 100%`, or `minAvailable` at least the \
number of replicas (for an HPA target: its minReplicas) leaves zero disruptions allowed even when \
every pod is healthy: `kubectl drain` retries forever and node upgrades hang (kubernetes#66811). \
If the workload must truly never be touched without its owner (a PodUnavailableBudget with \
`maxUnavailable: 0` on purpose), opt out with `steady.dev/ignore: budget-blocks-drain`.\n\nFix: \
use `maxUnavailable: 1` (or a percentage), or run more replicas than minAvailable.",
    fix: None,
    check: |ctx, out| {
        for (i, b) in budgets(ctx) {
            let Some((expected, allowed)) = allowance(ctx, i, b) else {
                continue;
            };
            if allowed == 0 && expected > 0 {
                let how = match (&b.max_unavailable, &b.min_available) {
                    (Some(m), _) => format!("maxUnavailable {}", show(m)),
                    (None, Some(m)) => format!("minAvailable {}", show(m)),
                    _ => String::new(),
                };
                out.push(ctx.hit(
                    i,
                    None,
                    format!(
                        "{how} of {expected} expected pods allows 0 disruptions: every drain of their nodes is blocked"
                    ),
                ));
            }
        }
    },
};

fn show(v: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString) -> String {
    match v {
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n) => n.to_string(),
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
    }
}

pub const BUDGET_UNHEALTHY_POLICY_UNSET: Rule = Rule {
    id: "budget-unhealthy-policy-unset",
    severity: Severity::Info,
    summary: "A budget leaves the unhealthy pod policy at its default",
    explanation: "With the default `IfHealthyBudget`, a pod that is Running but not Ready can only \
be evicted while the budget is met, so one crash-looping pod can block a node drain.\n\nFix: set \
`unhealthyPodEvictionPolicy: AlwaysAllow` (PodDisruptionBudget) or `unhealthyPodPolicy: \
AlwaysAllow` (PodUnavailableBudget), or `IfHealthyBudget` explicitly if that is what you want.",
    fix: None,
    check: |ctx, out| {
        for (i, b) in budgets(ctx) {
            if b.unhealthy_policy.is_none() {
                let field = if b.is_pub {
                    "unhealthyPodPolicy"
                } else {
                    "unhealthyPodEvictionPolicy"
                };
                out.push(ctx.hit(
                    i,
                    None,
                    format!("{field} is unset: unready pods cannot be evicted while the budget is short, which can block drains"),
                ));
            }
        }
    },
};

pub const ROLLING_UPDATE_EXCEEDS_BUDGET: Rule = Rule {
    id: "rolling-update-exceeds-budget",
    severity: Severity::Warning,
    summary: "The rolling update takes down more pods than the budget allows",
    explanation: "Deployment and StatefulSet rollouts ignore PodDisruptionBudgets: a \
rolling-update maxUnavailable (Deployment default 25%, rounded down) larger than the budget's \
allowed disruptions takes the application below what the budget promises on every rollout. A \
PodUnavailableBudget guards those deletes, so there the rollout stalls at the budget instead.\n\n\
Fix: set `strategy.rollingUpdate.maxUnavailable` no larger than the budget allows (e.g. 0 with \
maxSurge ≥ 1), or loosen the budget.",
    fix: None,
    check: |ctx, out| {
        for &w in &ctx.index.workloads {
            let Some(wl) = ctx.obj(w).workload() else {
                continue;
            };
            let replicas = ctx.min_replicas(w);
            // A value the API server would refuse leaves the rollout unknown: no finding.
            let value = |v: &Option<IntOrString>| match v {
                None => Some(None),
                Some(v) => IntOrPercent::from_int_or_string(v).ok().map(Some),
            };
            let rolling = match wl.kind {
                WorkloadKind::Deployment if wl.strategy.as_deref() != Some("Recreate") => {
                    value(&wl.max_unavailable).map(|unavailable| {
                        // An unreadable maxSurge is taken at its default: only maxUnavailable is
                        // compared with the budget.
                        RollingUpdate::deployment(value(&wl.max_surge).flatten(), unavailable)
                    })
                }
                WorkloadKind::StatefulSet if wl.strategy.as_deref() != Some("OnDelete") => {
                    value(&wl.max_unavailable).map(RollingUpdate::stateful_set)
                }
                _ => None,
            };
            let Some(rolling) = rolling else { continue };
            let down = rolling.unavailable(replicas);
            for &b in ctx.index.budgets_of.get(&w).into_iter().flatten() {
                let Some(info) = ctx.obj(b).budget() else {
                    continue;
                };
                let Some((_, allowed)) = allowance(ctx, b, info) else {
                    continue;
                };
                if allowed > 0 && down > allowed {
                    out.push(ctx.hit(
                        w,
                        None,
                        format!(
                            "rolling update may take {down} of {replicas} pods down at once, but {} {} allows {allowed}",
                            info.kind().as_str(),
                            ctx.obj(b).name
                        ),
                    ));
                }
            }
        }
    },
};
