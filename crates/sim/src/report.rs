//! What a run found, as data (`-o json`) and as text for a person: per workload the minimum
//! available pods and when, time below budget, each operation's duration and outcome, every
//! refusal with the webhook's own message, and a verdict.

use std::fmt::Write as _;

use serde::Serialize;

use crate::denials::DenialStat;
use crate::engine::Sim;
use crate::ops::{OpKind, Outcome};
use crate::scenario::Dur;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub budgets_enforced: bool,
    /// Simulated seconds at which the run ended.
    pub end_seconds: f64,
    pub events: u64,
    pub workloads: Vec<WorkloadReport>,
    pub budgets: Vec<BudgetReport>,
    pub operations: Vec<OpReport>,
    /// Pods no node could take when the run ended.
    pub pending_pods: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadReport {
    pub name: String,
    pub kind: String,
    pub replicas: i32,
    pub min_available: i32,
    pub min_available_at_seconds: f64,
    pub final_available: i32,
    /// (seconds, available pods) at every change.
    pub series: Vec<(f64, i32)>,
    /// Names of the budgets covering the workload.
    pub budgets: Vec<String>,
    /// Refusals met by the workload's own controller (rollout / scale-in deletes).
    pub controller_denials: Vec<DenialStat>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetReport {
    pub name: String,
    pub kind: String,
    pub policy: String,
    /// `desiredAvailable` at the start.
    pub desired_available: i32,
    pub min_current_available: i32,
    pub min_at_seconds: f64,
    /// Time with `currentAvailable < desiredAvailable`.
    pub below_seconds: f64,
    /// (seconds, currentAvailable, desiredAvailable) at every change.
    pub series: Vec<(f64, i32, i32)>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpReport {
    pub label: String,
    /// completed, blocked, timed out, unfinished, not started
    pub outcome: String,
    pub started_seconds: Option<f64>,
    pub finished_seconds: Option<f64>,
    pub took_seconds: Option<f64>,
    pub denials: Vec<DenialStat>,
    /// Drains: nodes emptied out of nodes named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes_drained: Option<(usize, usize)>,
}

impl OpReport {
    pub fn ok(&self) -> bool {
        self.outcome == "completed"
    }
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

pub fn build(sim: &Sim) -> RunReport {
    let workloads = sim
        .model()
        .workloads
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let t = &sim.tracks()[i];
            WorkloadReport {
                name: w.key.clone(),
                kind: w.kind_str().into(),
                replicas: w.initial_replicas,
                min_available: t.min,
                min_available_at_seconds: secs(t.min_at),
                final_available: t.series.last().map(|x| x.1).unwrap_or(0),
                series: t.series.iter().map(|&(a, b)| (secs(a), b)).collect(),
                budgets: w
                    .budgets
                    .iter()
                    .map(|&b| sim.model().budgets[b].id.name.clone())
                    .collect(),
                controller_denials: t.controller_denials.values().cloned().collect(),
            }
        })
        .collect();
    let budgets = sim
        .model()
        .budgets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let t = &sim.budget_tracks()[i];
            BudgetReport {
                name: b.id.name.clone(),
                kind: b.id.kind.as_str().into(),
                policy: b.spec.policy.to_string(),
                desired_available: t.series.first().map(|x| x.2).unwrap_or(0),
                min_current_available: t.min_current,
                min_at_seconds: secs(t.min_at),
                below_seconds: secs(t.below_ms),
                series: t.series.iter().map(|&(a, c, d)| (secs(a), c, d)).collect(),
            }
        })
        .collect();
    let operations = sim
        .ops()
        .iter()
        .map(|o| {
            let outcome = match o.outcome {
                Outcome::Done => "completed",
                Outcome::TimedOut => "timed out",
                Outcome::NotStarted => "not started",
                Outcome::Running if !o.denials.is_empty() => "blocked",
                Outcome::Running => "unfinished",
            };
            OpReport {
                label: o.label.clone(),
                outcome: outcome.into(),
                started_seconds: o.started.map(secs),
                finished_seconds: o.finished.map(secs),
                took_seconds: o.started.map(|s| secs(o.finished.unwrap_or(sim.now()) - s)),
                denials: o.denials.values().cloned().collect(),
                nodes_drained: match &o.kind {
                    OpKind::Drain(d) => Some((d.drained.len(), d.nodes.len())),
                    _ => None,
                },
            }
        })
        .collect();
    RunReport {
        budgets_enforced: sim.enforce(),
        end_seconds: secs(sim.now()),
        events: sim.events(),
        workloads,
        budgets,
        operations,
        pending_pods: sim.pending().count(),
    }
}

/// `m:ss` since the start of the run.
pub fn at(s: f64) -> String {
    let s = s.round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

pub fn span(s: f64) -> String {
    Dur((s * 1000.0).round() as u64).to_string()
}

impl RunReport {
    /// Budgets that spent time below their desired availability.
    pub fn below(&self) -> impl Iterator<Item = &BudgetReport> {
        self.budgets.iter().filter(|b| b.below_seconds > 0.0)
    }

    /// Workloads that had no available pod at some moment: an outage, whatever the budgets say.
    pub fn outages(&self) -> impl Iterator<Item = &WorkloadReport> {
        self.workloads
            .iter()
            .filter(|w| w.replicas > 0 && w.min_available <= 0)
    }

    pub fn passed(&self) -> bool {
        self.below().next().is_none()
            && self.outages().next().is_none()
            && self.operations.iter().all(OpReport::ok)
    }

    /// One line: pass or the first reason it fails.
    pub fn verdict(&self) -> String {
        let failed: Vec<&OpReport> = self.operations.iter().filter(|o| !o.ok()).collect();
        let mut reasons = Vec::new();
        for o in &failed {
            let by = o
                .denials
                .iter()
                .max_by_key(|d| d.count)
                .map(|d| {
                    format!(
                        ": {} refused it {} time(s) — {}",
                        d.budget, d.count, d.cause
                    )
                })
                .unwrap_or_default();
            reasons.push(format!("{} {}{by}", o.label, o.outcome));
        }
        for w in self.outages() {
            let unguarded = if w.budgets.is_empty() {
                "; no budget covers it"
            } else {
                ""
            };
            reasons.push(format!(
                "outage: {} {} had 0 of {} pods available at {}{unguarded}",
                w.kind,
                w.name,
                w.replicas,
                at(w.min_available_at_seconds)
            ));
        }
        for b in self.below() {
            reasons.push(format!(
                "{} {} was below its budget for {} (down to {} available, needs {})",
                b.kind,
                b.name,
                span(b.below_seconds),
                b.min_current_available,
                b.desired_available
            ));
        }
        if reasons.is_empty() {
            let last = self
                .operations
                .iter()
                .filter_map(|o| o.finished_seconds)
                .fold(0.0, f64::max);
            format!(
                "PASS — all {} operation(s) completed by {}; no budget was ever below its desired availability and no workload fell to 0 available pods",
                self.operations.len(),
                at(last)
            )
        } else {
            format!("FAIL — {}", reasons.join("; "))
        }
    }
}

fn op_cell(o: &OpReport) -> String {
    let took = o.took_seconds.map(span).unwrap_or_default();
    let drained = o
        .nodes_drained
        .filter(|(d, n)| d < n)
        .map(|(d, n)| format!("{d}/{n} nodes"))
        .unwrap_or_default();
    let refused: u64 = o.denials.iter().map(|d| d.count).sum();
    let refused_note = if refused > 0 {
        format!(", {refused} refused")
    } else {
        String::new()
    };
    match o.outcome.as_str() {
        "completed" => format!("completed in {took}{refused_note}"),
        "not started" => "never started".into(),
        other => {
            let notes: Vec<String> = [drained, format!("{refused} refused")]
                .into_iter()
                .filter(|s| !s.is_empty() && s != "0 refused")
                .collect();
            format!(
                "{} after {took} ({})",
                other.to_uppercase(),
                notes.join(", ")
            )
        }
    }
}

fn wl_cell(w: &WorkloadReport) -> String {
    format!(
        "{} of {} at {}",
        w.min_available,
        w.replicas,
        at(w.min_available_at_seconds)
    )
}

fn budget_cell(b: &BudgetReport) -> String {
    if b.below_seconds > 0.0 {
        format!("BELOW for {}", span(b.below_seconds))
    } else {
        "never below".into()
    }
}

/// Text for a person. `without` is the same scenario run with budgets not enforced.
pub fn human(
    name: &str,
    description: &str,
    seed: u64,
    with: &RunReport,
    without: Option<&RunReport>,
) -> String {
    let mut o = String::new();
    let cols = without.is_some();
    let _ = writeln!(
        o,
        "scenario {name} (seed {seed}): simulated {} in {} events",
        at(with.end_seconds),
        with.events
    );
    if !description.is_empty() {
        let _ = writeln!(o, "  {}", description.trim());
    }
    let row = |o: &mut String, a: &str, b: String, c: Option<String>| {
        let _ = match c {
            Some(c) => writeln!(o, "  {a:<42} {b:<36} {c}"),
            None => writeln!(o, "  {a:<42} {b}"),
        };
    };
    let _ = writeln!(o);
    let head = |o: &mut String, title: &str| {
        if cols {
            let _ = writeln!(o, "{title:<44} {:<36} WITHOUT BUDGETS", "WITH BUDGETS");
        } else {
            let _ = writeln!(o, "{title}");
        }
    };
    head(&mut o, "MINIMUM AVAILABLE (of replicas, when)");
    for (i, w) in with.workloads.iter().enumerate() {
        row(
            &mut o,
            &format!("{} ({})", w.name, w.kind),
            wl_cell(w),
            without.map(|r| wl_cell(&r.workloads[i])),
        );
    }
    if !with.budgets.is_empty() {
        let _ = writeln!(o);
        head(&mut o, "TIME BELOW BUDGET");
        for (i, b) in with.budgets.iter().enumerate() {
            row(
                &mut o,
                &format!("{} {} (needs {})", b.kind, b.name, b.desired_available),
                budget_cell(b),
                without.map(|r| budget_cell(&r.budgets[i])),
            );
        }
    }
    if !with.operations.is_empty() {
        let _ = writeln!(o);
        head(&mut o, "OPERATIONS");
        for (i, op) in with.operations.iter().enumerate() {
            let label = match op.started_seconds {
                Some(s) => format!("{} {}", at(s), op.label),
                None => op.label.clone(),
            };
            row(
                &mut o,
                &label,
                op_cell(op),
                without.map(|r| op_cell(&r.operations[i])),
            );
        }
    }
    let blocked: Vec<(&str, &DenialStat)> = with
        .operations
        .iter()
        .flat_map(|op| op.denials.iter().map(move |d| (op.label.as_str(), d)))
        .collect();
    if !blocked.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "REFUSED WITH BUDGETS (HTTP 429, as the webhook answers; drains and controllers retry)"
        );
        for (label, d) in blocked {
            let _ = writeln!(
                o,
                "  {label}: {} refused {} request(s) between {} and {}",
                d.budget,
                d.count,
                at(d.first_ms as f64 / 1000.0),
                at(d.last_ms as f64 / 1000.0)
            );
            let _ = writeln!(o, "    \"{}\"", d.message);
        }
    }
    if with.pending_pods > 0 {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{} pod(s) still Pending at the end: no node fits them (capacity, cordon, anti-affinity or spread).",
            with.pending_pods
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "verdict: {}", with.verdict());
    if let Some(r) = without {
        let worst: Vec<String> = r
            .workloads
            .iter()
            .zip(&with.workloads)
            .filter(|(a, b)| a.min_available < b.min_available)
            .map(|(a, b)| {
                format!(
                    "{} fell to {} of {} at {} (with budgets: {})",
                    a.name,
                    a.min_available,
                    a.replicas,
                    at(a.min_available_at_seconds),
                    b.min_available
                )
            })
            .collect();
        let mut worst = worst;
        for (a, b) in r.budgets.iter().zip(&with.budgets) {
            if a.below_seconds > b.below_seconds {
                worst.push(format!(
                    "{} {} was below its budget for {} (down to {} available, needs {})",
                    a.kind,
                    a.name,
                    span(a.below_seconds),
                    a.min_current_available,
                    a.desired_available
                ));
            }
        }
        if worst.is_empty() {
            let why = if with.budgets.is_empty() {
                "; the scenario has no budgets"
            } else if with.passed() {
                "; the budgets were never needed here"
            } else {
                ""
            };
            let _ = writeln!(o, "without budgets: the same outcome{why}");
        } else {
            let _ = writeln!(o, "without budgets: {}", worst.join("; "));
        }
    }
    o
}
