//! `steady plan`: the simulator run on a live cluster's state. The state (read by steady-ctl from
//! the API server, or from a file) becomes a scenario with the pods where they run; the drain,
//! rollout or scale-in runs through the same engine and budget decisions as `steady sim`, and the
//! report says how long each node takes, every refusal with the budget's own message, how low
//! each workload goes, and the **blockers**, each with its reason and a fix.

pub mod build;
mod objects;
pub(crate) mod placement;
pub mod report;
pub mod state;

pub use build::{Built, Facts, Operation, PlanError, Target};
pub use report::{Blocker, PlanReport};
pub use state::{ClusterState, StateError};

use crate::engine::Sim;
use crate::report::RunReport;
use crate::scenario::{Dur, Invalid};

/// A plan: the scenario built from the state, the run, and the report on it.
pub struct Plan {
    pub built: Built,
    pub sim: Sim,
    pub run: RunReport,
    pub report: PlanReport,
}

/// Plans `op` on `state`. Pure: the same state and operation give the same plan.
pub fn plan(state: &ClusterState, op: &Operation, timeout: Option<Dur>) -> Result<Plan, PlanError> {
    if let Some(t) = timeout
        && t.0 == 0
    {
        return Err(PlanError::Invalid(
            "--timeout 0s would give up before the first eviction: give a duration such as 10m"
                .into(),
        ));
    }
    let built = build::build(state, op, timeout)?;
    let mut sim = Sim::new(&built.scenario, 1, true).map_err(|i| named(&built, i))?;
    sim.run();
    let run = crate::report::build(&sim);
    let report = report::build(&built, &sim, &run, op, timeout);
    Ok(Plan {
        built,
        sim,
        run,
        report,
    })
}

/// A scenario error worded for the object it came from: `workloads[3].strategy.maxSurge` is
/// `Deployment shop/web: strategy.maxSurge`.
fn named(built: &Built, i: Invalid) -> PlanError {
    let s = &built.scenario;
    let pick = |prefix: &str, len: usize| -> Option<(usize, String)> {
        let rest = i.field.strip_prefix(prefix)?;
        let (n, tail) = rest.split_once(']')?;
        let n: usize = n.parse().ok().filter(|n| *n < len)?;
        Some((n, tail.trim_start_matches('.').to_owned()))
    };
    let (object, field) = if let Some((n, tail)) = pick("workloads[", s.workloads.len()) {
        let w = &s.workloads[n];
        let kind = match w.kind {
            crate::scenario::WorkloadKind::Deployment => "Deployment",
            crate::scenario::WorkloadKind::StatefulSet => "StatefulSet",
        };
        (format!("{kind} {}", built.facts.workloads[n]), tail)
    } else if let Some((n, tail)) = pick("budgets[", s.budgets.len()) {
        let b = &s.budgets[n];
        let kind = match b.kind {
            crate::scenario::BudgetKindSpec::PodDisruptionBudget => "PodDisruptionBudget",
            crate::scenario::BudgetKindSpec::PodUnavailableBudget => "PodUnavailableBudget",
        };
        (format!("{kind} {}", built.facts.budgets[n]), tail)
    } else {
        (i.field.clone(), String::new())
    };
    let message = if field.is_empty() {
        i.message
    } else {
        format!("{field}: {}", i.message)
    };
    PlanError::Object { object, message }
}
