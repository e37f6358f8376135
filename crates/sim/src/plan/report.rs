//! The plan's report: per node the time to drain, every refusal with the budget's own message,
//! the lowest availability of each workload the operation touches, and the blockers, each with
//! its reason and a fix. Built from the run as data (`-o json`), then worded for a person.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use steady_budget::{IntOrPercent, Policy};

use super::build::{Built, Operation};
use crate::engine::Sim;
use crate::ops::OpKind;
use crate::report::{RunReport, at, span};
use crate::scenario::Dur;
use crate::world::Unbound;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    /// `drain node-1 node-2`, `rollout shop/web`, `scale shop/web to 2`.
    pub operation: String,
    /// `completes`, `blocked`, `timed out`, `unfinished`, with `outage` when a workload falls to 0.
    pub outcome: String,
    /// Whether the operation completes within the timeout with no workload at 0 available.
    pub passed: bool,
    pub verdict: String,
    pub took_seconds: Option<f64>,
    pub timeout_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodePlan>,
    pub refusals: Vec<Refusal>,
    /// Workloads that lose available pods during the operation.
    pub workloads: Vec<WorkloadPlan>,
    /// Workloads the operation leaves fully available throughout.
    pub untouched_workloads: usize,
    pub blockers: Vec<Blocker>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePlan {
    pub name: String,
    /// `drained`, or `not drained` with the pods still on it.
    pub outcome: String,
    pub started_seconds: Option<f64>,
    pub drained_seconds: Option<f64>,
    pub took_seconds: Option<f64>,
    pub pods_left: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refusal {
    /// `PodDisruptionBudget web`
    pub budget: String,
    pub count: u64,
    pub first_seconds: f64,
    pub last_seconds: f64,
    /// The webhook's own message for the latest refusal.
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadPlan {
    /// `namespace/name`
    pub name: String,
    pub kind: String,
    pub replicas: i32,
    pub available_at_start: i32,
    pub min_available: i32,
    pub min_available_at_seconds: f64,
    pub budgets: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blocker {
    /// `budget-never-allows`, `cannot-reschedule`, `outage`, `unmanaged-pod`, `refused`.
    pub kind: String,
    /// The object to look at: `PodDisruptionBudget shop/db`, `Deployment shop/web`, `Pod …`.
    pub object: String,
    pub reason: String,
    pub fix: String,
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn budget_label(sim: &Sim, built: &Built, b: usize) -> String {
    format!(
        "{} {}",
        sim.model().budgets[b].id.kind.as_str(),
        built.facts.budgets[b]
    )
}

pub fn build(
    built: &Built,
    sim: &Sim,
    run: &RunReport,
    op: &Operation,
    timeout: Option<Dur>,
) -> PlanReport {
    let mut blockers = Vec::new();
    // Per node of a drain.
    let mut nodes = Vec::new();
    for o in sim.ops() {
        if let OpKind::Drain(d) = &o.kind {
            for &n in &d.nodes {
                let done = d.drained.iter().find(|x| x.0 == n);
                let started = d.node_started.get(&n).copied();
                nodes.push(NodePlan {
                    name: sim.model().nodes[n].name.clone(),
                    outcome: if done.is_some() {
                        "drained"
                    } else {
                        "not drained"
                    }
                    .into(),
                    started_seconds: started.map(secs),
                    drained_seconds: done.map(|x| secs(x.2)),
                    took_seconds: done.map(|x| secs(x.2 - x.1)),
                    pods_left: if done.is_some() {
                        0
                    } else {
                        sim.model().nodes[n].pods.len()
                    },
                });
            }
        }
    }
    // Refusals, merged over the operation's steps.
    let mut refusals: BTreeMap<String, Refusal> = BTreeMap::new();
    for o in sim.ops() {
        for d in o.denials.values() {
            let r = refusals.entry(d.budget.clone()).or_insert_with(|| Refusal {
                budget: d.budget.clone(),
                count: 0,
                first_seconds: secs(d.first_ms),
                last_seconds: secs(d.last_ms),
                message: d.message.clone(),
            });
            r.count += d.count;
            r.first_seconds = r.first_seconds.min(secs(d.first_ms));
            if secs(d.last_ms) >= r.last_seconds {
                r.last_seconds = secs(d.last_ms);
                r.message.clone_from(&d.message);
            }
        }
    }
    let refusals: Vec<Refusal> = refusals.into_values().collect();

    // Workloads that lose pods.
    let mut workloads = Vec::new();
    let mut untouched = 0;
    let mut outages = Vec::new();
    for (i, w) in run.workloads.iter().enumerate() {
        let start = w.series.first().map(|x| x.1).unwrap_or(0);
        if w.min_available >= start {
            untouched += 1;
            continue;
        }
        let budgets: Vec<String> = sim.model().workloads[i]
            .budgets
            .iter()
            .map(|&b| budget_label(sim, built, b))
            .collect();
        // Scaled to 0 on purpose is what was asked, not an outage.
        if w.min_available <= 0 && start > 0 && sim.model().workloads[i].replicas > 0 {
            outages.push(i);
        }
        workloads.push(WorkloadPlan {
            name: built.facts.workloads[i].clone(),
            kind: w.kind.clone(),
            replicas: w.replicas,
            available_at_start: start,
            min_available: w.min_available,
            min_available_at_seconds: w.min_available_at_seconds,
            budgets,
        });
    }

    // Blockers 1: budgets that refused and can never allow a disruption.
    for (b, budget) in sim.model().budgets.iter().enumerate() {
        let label = format!("{} {}", budget.id.kind.as_str(), budget.id.name);
        if !refusals.iter().any(|r| r.budget == label) {
            continue;
        }
        let expected = budget.status.total_replicas;
        let desired = budget.status.desired_available;
        let object = budget_label(sim, built, b);
        let covered: Vec<&str> = budget
            .workloads
            .iter()
            .map(|&w| built.facts.workloads[w].as_str())
            .collect();
        let policy = budget.spec.policy;
        let never = expected > 0 && desired >= expected;
        if never {
            let reason = match policy {
                Policy::MaxUnavailable(IntOrPercent::Int(0) | IntOrPercent::Percent(0)) => {
                    format!("{object} can never allow a disruption: maxUnavailable is {policy}")
                }
                _ if expected == 1 => format!(
                    "{object} can never allow a disruption: it guards a single replica ({}) with {policy}",
                    covered.join(", ")
                ),
                _ => format!(
                    "{object} can never allow a disruption: {policy} needs {desired} of its {expected} pod(s) available at all times"
                ),
            };
            let fix = if expected == 1 {
                format!(
                    "run at least 2 replicas of {} and allow one disruption (maxUnavailable: 1), or accept the downtime and delete the budget for the maintenance",
                    covered.join(", ")
                )
            } else {
                format!(
                    "allow at least one disruption: maxUnavailable: 1, or minAvailable: {} (or scale {} above {expected} first)",
                    expected - 1,
                    covered.join(", ")
                )
            };
            blockers.push(Blocker {
                kind: "budget-never-allows".into(),
                object,
                reason,
                fix,
            });
        }
    }

    // Blockers 2: pods no node can take. First those whose claim pins them to a zone with no
    // room left, one blocker per claim; then the rest, per workload.
    let mut pending: BTreeMap<usize, usize> = BTreeMap::new();
    let mut pinned: BTreeMap<(usize, String), (String, Vec<String>)> = BTreeMap::new();
    for (_, unbound) in sim.pending().iter() {
        let (w, ordinal, count) = match unbound {
            Unbound::Pod(p) => (sim.pods()[p].workload, sim.pods()[p].ordinal, 1),
            Unbound::Run(run) => (run.workload, None, run.count),
        };
        match stranded_claim(sim, w, ordinal) {
            Some(c) => {
                let entry = pinned
                    .entry((w, c.claim.clone()))
                    .or_insert_with(|| (c.zone.clone(), Vec::new()));
                match unbound {
                    Unbound::Pod(p) => entry.1.push(sim.pods()[p].facts.name.clone()),
                    Unbound::Run(run) => {
                        let name = &sim.model().workloads[w].name;
                        entry.1.extend((0..count).map(|k| run.name(name, k)));
                    }
                }
            }
            None => *pending.entry(w).or_default() += count as usize,
        }
    }
    for (&(w, ref claim), (zone, pods)) in &pinned {
        let wl = &sim.model().workloads[w];
        let ns = &wl.namespace;
        let names: Vec<String> = pods.iter().map(|p| format!("{ns}/{p}")).collect();
        // Nodes of the zone with room that the pods' other constraints keep them off.
        let refused: Vec<String> = sim
            .model()
            .nodes
            .iter()
            .filter(|node| {
                node.labels.get(crate::model::ZONE) == Some(zone)
                    && !node.cordoned
                    && !node.down
                    && (node.pods.len() as u32) < node.capacity
            })
            .filter_map(|node| refusal(wl, node).map(|why| format!("{} {why}", node.name)))
            .collect();
        let (also, fix) = if refused.is_empty() {
            (
                String::new(),
                format!(
                    "uncordon a {zone} node or add capacity there before the drain: the volume cannot follow the pod to another zone"
                ),
            )
        } else {
            (
                format!(
                    "; the {zone} nodes with room do not admit it: {}",
                    refused.join(", ")
                ),
                format!(
                    "let the pods onto one of those {zone} nodes (a toleration, a label), uncordon a {zone} node or add capacity there before the drain: the volume cannot follow the pod to another zone"
                ),
            )
        };
        blockers.push(Blocker {
            kind: "cannot-reschedule".into(),
            object: format!("{} {}", wl.kind_str(), built.facts.workloads[w]),
            reason: format!(
                "no schedulable node left in {zone} for pod{} {} (PersistentVolumeClaim {ns}/{claim} is bound to a volume in {zone}){also}",
                if names.len() == 1 { "" } else { "s" },
                names.join(", ")
            ),
            fix,
        });
    }
    for (&w, &n) in &pending {
        let wl = &sim.model().workloads[w];
        let open: Vec<&crate::model::Node> = sim
            .model()
            .nodes
            .iter()
            .filter(|node| !node.cordoned && !node.down)
            .collect();
        let by_selector: Vec<&crate::model::Node> = open
            .iter()
            .copied()
            .filter(|node| {
                wl.node_selector
                    .iter()
                    .all(|(k, v)| node.labels.get(k) == Some(v))
            })
            .collect();
        let by_affinity: Vec<&crate::model::Node> = by_selector
            .iter()
            .copied()
            .filter(|node| {
                wl.node_affinity.is_empty()
                    || wl
                        .node_affinity
                        .iter()
                        .any(|t| crate::model::term_matches(t, node))
            })
            .collect();
        let selected: Vec<&crate::model::Node> = by_affinity
            .iter()
            .copied()
            .filter(|node| node.taints.iter().all(|t| wl.tolerates(t)))
            .collect();
        let object = format!("{} {}", wl.kind_str(), built.facts.workloads[w]);
        let (reason, fix) = if open.is_empty() {
            (
                format!(
                    "{n} pod(s) cannot be rescheduled: no node takes new pods (every one is cordoned, tainted NoSchedule/NoExecute, not Ready or full)"
                ),
                "uncordon or add a node before the drain (a node that lost its kubelet is tainted unreachable)".to_owned(),
            )
        } else if by_selector.is_empty() && !wl.node_selector.is_empty() {
            let sel: Vec<String> = wl
                .node_selector
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            (
                format!(
                    "{n} pod(s) cannot be rescheduled: no schedulable node matches its nodeSelector {}",
                    sel.join(",")
                ),
                "label another schedulable node to match, or drain these nodes one at a time with a replacement ready".to_owned(),
            )
        } else if by_affinity.is_empty() {
            (
                format!(
                    "{n} pod(s) cannot be rescheduled: no schedulable node matches its required node affinity ({})",
                    wl.node_affinity
                        .iter()
                        .map(term_text)
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
                "label a schedulable node to match (or uncordon one that does), or relax the affinity before the drain".to_owned(),
            )
        } else if selected.is_empty() {
            let mut taints: Vec<String> = Vec::new();
            for node in &by_affinity {
                if let Some(t) = node.taints.iter().find(|t| !wl.tolerates(t)) {
                    taints.push(format!("{} has {}", node.name, taint_text(t)));
                }
            }
            let more = taints.len().saturating_sub(3);
            taints.truncate(3);
            if more > 0 {
                taints.push(format!("{more} more"));
            }
            (
                format!(
                    "{n} pod(s) cannot be rescheduled: every schedulable node it may use has a taint its pods do not tolerate ({})",
                    taints.join(", ")
                ),
                "add a matching toleration to the pod template, remove the taint from a node, or add an untainted node before the drain".to_owned(),
            )
        } else if let Some(key) = wl.anti_required.first().filter(|key| {
            let domains: std::collections::BTreeSet<&String> = selected
                .iter()
                .filter_map(|node| node.labels.get(*key))
                .collect();
            (domains.len() as i32) < wl.replicas
        }) {
            let domains: std::collections::BTreeSet<&String> = selected
                .iter()
                .filter_map(|node| node.labels.get(key))
                .collect();
            (
                format!(
                    "{n} pod(s) cannot be rescheduled: required anti-affinity on {key} needs {} domains and {} schedulable one(s) remain",
                    wl.replicas,
                    domains.len()
                ),
                "add a node (or uncordon one) before the drain, or make the anti-affinity preferred".to_owned(),
            )
        } else {
            let free: u64 = selected
                .iter()
                .map(|node| u64::from(node.capacity).saturating_sub(node.pods.len() as u64))
                .sum();
            (
                format!(
                    "{n} pod(s) cannot be rescheduled: no capacity (schedulable nodes have {free} free pod slot(s) the workload may use)"
                ),
                "add capacity (a node, or raise the node pool) before the drain".to_owned(),
            )
        };
        blockers.push(Blocker {
            kind: "cannot-reschedule".into(),
            object,
            reason,
            fix,
        });
    }

    // Blockers 3: outages.
    for &i in &outages {
        let w = &run.workloads[i];
        let object = format!("{} {}", w.kind, built.facts.workloads[i]);
        let unguarded = sim.model().workloads[i].budgets.is_empty();
        let reason = format!(
            "{object} has 0 of {} pod(s) available at {}{}",
            w.replicas,
            at(w.min_available_at_seconds),
            if unguarded {
                ": no budget covers it, so nothing holds the disruption back"
            } else {
                ""
            }
        );
        let fix = if w.replicas < 2 {
            "run at least 2 replicas on different nodes and add a PodDisruptionBudget with maxUnavailable: 1"
                .to_owned()
        } else if unguarded {
            "add a PodDisruptionBudget (maxUnavailable: 1) or a PodUnavailableBudget over it"
                .to_owned()
        } else {
            "tighten its budget (maxUnavailable: 1) and spread its pods over nodes".to_owned()
        };
        blockers.push(Blocker {
            kind: "outage".into(),
            object,
            reason,
            fix,
        });
    }

    // Blockers 4: pods kubectl drain refuses without --force.
    if let Operation::Drain { nodes: names, .. } = op {
        for n in names {
            for p in built.facts.bare_pods.get(n).into_iter().flatten() {
                blockers.push(Blocker {
                    kind: "unmanaged-pod".into(),
                    object: format!("Pod {p}"),
                    reason: format!(
                        "Pod {p} on {n} has no controller: kubectl drain refuses it without --force, and nothing recreates it"
                    ),
                    fix: "run it under a Deployment or StatefulSet, or delete it before the drain (kubectl drain --force deletes it for good)".into(),
                });
            }
        }
    }

    // The outcome.
    let ops_ok = run.operations.iter().all(|o| o.ok());
    let worst = run
        .operations
        .iter()
        .find(|o| !o.ok())
        .map(|o| o.outcome.clone());
    let took = if ops_ok {
        run.operations
            .iter()
            .filter_map(|o| o.finished_seconds)
            .fold(0.0, f64::max)
    } else {
        run.end_seconds
    };
    let outcome = match (&worst, outages.is_empty()) {
        (None, true) => "completes".to_owned(),
        (None, false) => "completes with an outage".to_owned(),
        (Some(w), true) => w.clone(),
        (Some(w), false) => format!("{w} with an outage"),
    };
    // Refusals that held the operation back without a budget that can never allow: say which.
    if !ops_ok
        && !blockers
            .iter()
            .any(|b| b.kind == "budget-never-allows" || b.kind == "cannot-reschedule")
        && let Some(r) = refusals.iter().max_by_key(|r| r.count)
    {
        blockers.push(Blocker {
            kind: "refused".into(),
            object: r.budget.clone(),
            reason: format!(
                "{} refused {} request(s) until {}: its pods did not become available again in time",
                r.budget,
                r.count,
                at(r.last_seconds)
            ),
            fix: "give the operation a longer --timeout, or make the replacements Ready sooner (readiness probe, image pull)".into(),
        });
    }
    let passed = ops_ok && outages.is_empty();
    let verdict = if passed {
        format!(
            "PASS — {} completes in {} and no workload falls to 0 available pods",
            built.scenario.timeline_label(),
            span(took)
        )
    } else {
        let mut why: Vec<String> = Vec::new();
        if let Some(w) = &worst {
            why.push(format!(
                "{}: {w} after {}",
                built.scenario.timeline_label(),
                span(took)
            ));
        }
        for &i in &outages {
            why.push(format!(
                "outage of {} {}",
                run.workloads[i].kind, built.facts.workloads[i]
            ));
        }
        format!("FAIL — {}", why.join("; "))
    };
    PlanReport {
        operation: built.scenario.timeline_label(),
        outcome,
        passed,
        verdict,
        took_seconds: Some(took),
        timeout_seconds: timeout.map(|t| secs(t.0)),
        nodes,
        refusals,
        workloads,
        untouched_workloads: untouched,
        blockers,
        notes: built.notes.clone(),
    }
}

/// The first zonal claim of workload `w`'s pod `ordinal` whose zone has no node that is open,
/// has a free slot and admits the pod (its selector, affinity and tolerations): the pod waits
/// for its volume's zone, whatever room other zones have.
fn stranded_claim(
    sim: &Sim,
    w: usize,
    ordinal: Option<u32>,
) -> Option<&crate::scenario::ZonalClaim> {
    let wl = &sim.model().workloads[w];
    wl.claims_of(ordinal).find(|c| {
        !sim.model().nodes.iter().any(|node| {
            node.labels.get(crate::model::ZONE) == Some(&c.zone)
                && !node.cordoned
                && !node.down
                && (node.pods.len() as u32) < node.capacity
                && wl.admits(node, ordinal)
        })
    })
}

/// Why `node` refuses the workload's pods by their own constraints, if it does: `has taint
/// dedicated=gpu:NoSchedule`, `does not match the nodeSelector`, …. Only the constraints a pinned
/// pod could be let past: the nodes asked about are already in the claim's zone.
fn refusal(wl: &crate::model::Workload, node: &crate::model::Node) -> Option<String> {
    use crate::model::Refusal;
    match wl.refusal(node, None)? {
        Refusal::NodeSelector => Some("does not match the nodeSelector".into()),
        Refusal::NodeAffinity => Some("does not match the required node affinity".into()),
        Refusal::Taint(t) => Some(format!("has taint {} (not tolerated)", taint_text(t))),
        Refusal::ClaimZone => None,
    }
}

/// `dedicated=db:NoSchedule`, as `kubectl describe node` writes a taint.
fn taint_text(t: &crate::scenario::Taint) -> String {
    let effect = match t.effect {
        crate::scenario::TaintEffect::NoSchedule => "NoSchedule",
        crate::scenario::TaintEffect::PreferNoSchedule => "PreferNoSchedule",
        crate::scenario::TaintEffect::NoExecute => "NoExecute",
    };
    if t.value.is_empty() {
        format!("{}:{effect}", t.key)
    } else {
        format!("{}={}:{effect}", t.key, t.value)
    }
}

/// `disk In [ssd, nvme], metadata.name NotIn [node-a]`
fn term_text(t: &crate::scenario::NodeSelectorTerm) -> String {
    let parts: Vec<String> = t
        .match_expressions
        .iter()
        .chain(&t.match_fields)
        .map(|r| {
            if r.values.is_empty() {
                format!("{} {:?}", r.key, r.operator)
            } else {
                format!("{} {:?} [{}]", r.key, r.operator, r.values.join(", "))
            }
        })
        .collect();
    if parts.is_empty() {
        "an empty term".to_owned()
    } else {
        parts.join(", ")
    }
}

impl crate::scenario::Scenario {
    /// The plan's operation, from its scenario name (`plan drain node-1` → `drain node-1`).
    fn timeline_label(&self) -> String {
        self.name
            .strip_prefix("plan ")
            .unwrap_or(&self.name)
            .to_owned()
    }
}

/// The report for a person.
pub fn human(r: &PlanReport) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "plan: {}", r.operation);
    if let Some(t) = r.timeout_seconds {
        let _ = writeln!(o, "timeout: {}", span(t));
    }
    if !r.nodes.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "NODES");
        for n in &r.nodes {
            let cell = match (n.took_seconds, n.started_seconds, n.drained_seconds) {
                (Some(t), Some(s), Some(d)) => {
                    format!("drained in {} ({} → {})", span(t), at(s), at(d))
                }
                _ if n.started_seconds.is_none() => "NOT DRAINED (never started)".to_owned(),
                _ => format!("NOT DRAINED ({} pod(s) left)", n.pods_left),
            };
            let _ = writeln!(o, "  {:<40} {cell}", n.name);
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "AVAILABILITY (workloads that lose pods: lowest available, when)"
    );
    for w in &r.workloads {
        let budgets = if w.budgets.is_empty() {
            "no budget".to_owned()
        } else {
            w.budgets.join(", ")
        };
        let _ = writeln!(
            o,
            "  {:<40} {} of {} at {} (from {}; {budgets})",
            format!("{} ({})", w.name, w.kind),
            w.min_available,
            w.replicas,
            at(w.min_available_at_seconds),
            w.available_at_start,
        );
    }
    if r.workloads.is_empty() {
        let _ = writeln!(o, "  no workload loses an available pod");
    }
    if r.untouched_workloads > 0 && !r.workloads.is_empty() {
        let _ = writeln!(
            o,
            "  ({} other workload(s) keep every available pod)",
            r.untouched_workloads
        );
    }
    if !r.refusals.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "REFUSALS (HTTP 429, as the API server answers; kubectl drain retries every 5s)"
        );
        for f in &r.refusals {
            let _ = writeln!(
                o,
                "  {}: {} refused request(s) between {} and {}",
                f.budget,
                f.count,
                at(f.first_seconds),
                at(f.last_seconds)
            );
            let _ = writeln!(o, "    \"{}\"", f.message);
        }
    }
    if !r.blockers.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "BLOCKERS");
        for (i, b) in r.blockers.iter().enumerate() {
            let _ = writeln!(o, "  {}. {}", i + 1, b.reason);
            let _ = writeln!(o, "     fix: {}", b.fix);
        }
    }
    if !r.notes.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "NOTES");
        for n in &r.notes {
            let _ = writeln!(o, "  {n}");
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "verdict: {}", r.verdict);
    o
}
