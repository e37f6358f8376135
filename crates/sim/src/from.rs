//! `steady sim --from PATH…`: a scenario built from manifests, read with the loader `steady check`
//! uses (`steady-manifest`: files, directories, `-` for stdin), on a generated cluster, with a
//! timeline that drains the nodes carrying the most budget-guarded pods and optionally rolls
//! workloads out at the same time. Everything comes from the loader's model, read once.

use std::collections::BTreeMap;
use std::path::PathBuf;

use steady_manifest::load::{self, InputError};
use steady_manifest::model::{Body, Object, WorkloadKind as CheckKind};

use crate::scenario::{
    Budget, BudgetTarget, Cluster, Drain, Dur, Generate, MAX_REPLICAS, Rollout, Scenario, Step,
    Workload, WorkloadKind,
};

pub use crate::convert::DEFAULT_READINESS_SECONDS;

/// What to build around the manifests.
#[derive(Debug, Clone)]
pub struct FromOptions {
    pub paths: Vec<PathBuf>,
    pub nodes: u32,
    pub zones: u32,
    /// Pods per node; None: the kubelet's 110.
    pub node_capacity: Option<u32>,
    pub drain_nodes: u32,
    /// Nodes drained at the same time (default 1).
    pub parallel: Option<u32>,
    /// Workloads rolled out (new pod template) when the drain starts.
    pub rollout: Vec<String>,
}

/// A scenario built from manifests, and what was left out of it.
#[derive(Debug, Clone)]
pub struct Built {
    pub scenario: Scenario,
    /// Each said once: unsupported kinds, other namespaces, selectors the format cannot express.
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FromError {
    /// The checker's loader errors, each `file:line: message`.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n       "))]
    Input(Vec<InputError>),
    #[error("no Deployment or StatefulSet in {0}: --from needs at least one workload to simulate")]
    NoWorkloads(String),
    #[error(
        "--rollout {name}: no Deployment or StatefulSet of that name in the manifests (found: {found})"
    )]
    UnknownRollout { name: String, found: String },
    #[error("--{flag} must be at least 1")]
    Zero { flag: &'static str },
    #[error(
        "{kind} {namespace}/{name} in {file}: {replicas} replicas is more than the simulator models (at most {max}); simulate a smaller copy of it"
    )]
    TooManyReplicas {
        kind: &'static str,
        namespace: String,
        name: String,
        file: String,
        replicas: i64,
        max: u32,
    },
    #[error("{object} in {file}: {message}")]
    Object {
        object: String,
        file: String,
        message: String,
    },
    #[error(
        "the scenario built from the manifests is not valid: {0}; run with --print-scenario to see it"
    )]
    Invalid(crate::scenario::Invalid),
}

/// Reads the inputs as `steady check` does: the objects, the kinds the model skips (with
/// counts), and the errors.
fn read(paths: &[PathBuf]) -> (Vec<Object>, BTreeMap<String, usize>, Vec<InputError>) {
    let mut errors = Vec::new();
    let inputs = load::expand(paths, &mut errors);
    let loaded = load::load(&inputs, "default", load::DEFAULT_MAX_INPUT, &|_| {});
    errors.extend(loaded.errors);
    (loaded.objects, loaded.skipped_kinds, errors)
}

fn kind_word(k: CheckKind) -> &'static str {
    match k {
        CheckKind::Deployment => "Deployment",
        CheckKind::StatefulSet => "StatefulSet",
        CheckKind::DaemonSet => "DaemonSet",
        CheckKind::ReplicaSet => "ReplicaSet",
        CheckKind::ReplicationController => "ReplicationController",
        CheckKind::Pod => "Pod",
    }
}

/// `2 DaemonSet, 1 Pod`
fn counted(m: &BTreeMap<String, usize>) -> String {
    m.iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Builds the scenario. Loader errors (a malformed manifest, a file that does not exist) are
/// returned, never skipped: a simulation of half the manifests would answer the wrong question.
pub fn build(opts: &FromOptions) -> Result<Built, FromError> {
    if opts.nodes == 0 {
        return Err(FromError::Zero { flag: "nodes" });
    }
    if opts.zones == 0 {
        return Err(FromError::Zero { flag: "zones" });
    }
    if opts.node_capacity == Some(0) {
        return Err(FromError::Zero {
            flag: "node-capacity",
        });
    }
    if opts.parallel == Some(0) {
        return Err(FromError::Zero { flag: "parallel" });
    }
    let (objects, skipped_kinds, errors) = read(&opts.paths);
    if !errors.is_empty() {
        return Err(FromError::Input(errors));
    }
    let from = opts
        .paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let mut notes = Vec::new();

    // One namespace per scenario: the first workload's.
    let namespace = objects
        .iter()
        .find(|o| {
            o.workload()
                .is_some_and(|w| matches!(w.kind, CheckKind::Deployment | CheckKind::StatefulSet))
        })
        .map(|o| o.namespace.clone())
        .ok_or_else(|| FromError::NoWorkloads(from.clone()))?;
    let mut other_ns: BTreeMap<String, usize> = BTreeMap::new();
    let mut unsupported: BTreeMap<String, usize> = BTreeMap::new();
    let mut workloads: Vec<Workload> = Vec::new();
    let mut budgets: Vec<Budget> = Vec::new();
    let mut placement_skipped = Vec::new();
    let mut skipped_budgets = Vec::new();
    let hpas: Vec<&Object> = objects
        .iter()
        .filter(|o| o.namespace == namespace && o.hpa().is_some())
        .collect();

    for o in &objects {
        if o.namespace != namespace {
            *other_ns.entry(o.namespace.clone()).or_default() += 1;
            continue;
        }
        match &o.body {
            Body::Workload(w) => {
                let kind = match w.kind {
                    CheckKind::Deployment => WorkloadKind::Deployment,
                    CheckKind::StatefulSet => WorkloadKind::StatefulSet,
                    // Owned ReplicaSets and Pods are simulated through their owner.
                    _ if w.owned => continue,
                    other => {
                        *unsupported.entry(kind_word(other).to_owned()).or_default() += 1;
                        continue;
                    }
                };
                if workloads.iter().any(|x| x.name == o.name) {
                    notes.push(format!(
                        "{} left out: the scenario needs unique workload names and {} is taken",
                        o.display(),
                        o.name
                    ));
                    continue;
                }
                // The HPA's minReplicas, as `steady check` counts it: the scale at low load.
                let hpa = hpas
                    .iter()
                    .filter_map(|h| h.hpa())
                    .find(|h| h.target_name == o.name && h.target_kind == kind_word(w.kind));
                let replicas = match hpa {
                    Some(h) => h.min_replicas.unwrap_or(1),
                    None => w.replicas.unwrap_or(1),
                }
                .max(0) as u32;
                if replicas > MAX_REPLICAS {
                    return Err(FromError::TooManyReplicas {
                        kind: kind_word(w.kind),
                        namespace: o.namespace.clone(),
                        name: o.name.clone(),
                        file: format!("{}:{}", o.source.file, o.source.line),
                        replicas: replicas.into(),
                        max: MAX_REPLICAS,
                    });
                }
                let mut skipped = false;
                let mut workload = crate::convert::workload(
                    o,
                    w,
                    kind,
                    replicas,
                    crate::convert::ReadinessRule::FirstProbe,
                    &mut skipped,
                )
                .map_err(|e| FromError::Object {
                    object: o.display(),
                    file: format!("{}:{}", o.source.file, o.source.line),
                    message: e.0,
                })?;
                // The generated nodes carry only hostname and zone labels: a nodeSelector would
                // strand every pod, so it is left out (required node affinity is kept, with a
                // note when no generated node matches).
                workload.node_selector.clear();
                if skipped {
                    placement_skipped.push(o.name.clone());
                }
                workloads.push(workload);
            }
            Body::Budget(b) => {
                if budgets.iter().any(|x| x.name == o.name) {
                    skipped_budgets.push(format!(
                        "{} (the scenario needs unique budget names and {} is taken)",
                        o.display(),
                        o.name
                    ));
                    continue;
                }
                let target_ref = match &b.target_ref {
                    Some(t) => match t.kind.as_str() {
                        "Deployment" => Some(BudgetTarget {
                            kind: WorkloadKind::Deployment,
                            name: t.name.clone(),
                        }),
                        "StatefulSet" => Some(BudgetTarget {
                            kind: WorkloadKind::StatefulSet,
                            name: t.name.clone(),
                        }),
                        other => {
                            skipped_budgets.push(format!(
                                "{} (targetRef kind {other} is not simulated)",
                                o.display()
                            ));
                            continue;
                        }
                    },
                    None => None,
                };
                let selector = if target_ref.is_some() {
                    None
                } else {
                    match &b.selector {
                        Some(s) if s.match_expressions.as_ref().is_some_and(|e| !e.is_empty()) => {
                            skipped_budgets.push(format!(
                                "{} (matchExpressions: the scenario format takes matchLabels only)",
                                o.display()
                            ));
                            continue;
                        }
                        Some(s) if s.match_labels.as_ref().is_some_and(|m| !m.is_empty()) => {
                            s.match_labels.clone()
                        }
                        _ => {
                            skipped_budgets.push(format!(
                                "{} (an empty selector: it would cover every pod)",
                                o.display()
                            ));
                            continue;
                        }
                    }
                };
                budgets.push(Budget {
                    selector,
                    target_ref,
                    ..crate::convert::budget(o, b)
                });
            }
            Body::Hpa(_) | Body::Service(_) => {}
        }
    }
    // The kinds the loader skips. A ReplicationController is a workload the simulator does not
    // model: it is named once, under "not simulated" (or with the other namespaces), not here.
    let other_kinds = skipped_kinds;
    if !unsupported.is_empty() {
        notes.push(format!(
            "not simulated: {} (only Deployments and StatefulSets are; a real drain would evict \
             bare pods for good and leave DaemonSet pods)",
            counted(&unsupported)
        ));
    }
    if !other_kinds.is_empty() {
        notes.push(format!(
            "ignored kinds: {} (no pods or budgets of their own)",
            counted(&other_kinds)
        ));
    }
    if !other_ns.is_empty() {
        let list: Vec<String> = other_ns
            .iter()
            .map(|(ns, n)| format!("{n} in {ns}"))
            .collect();
        notes.push(format!(
            "one namespace per scenario: simulating {namespace}, leaving out {}",
            list.join(", ")
        ));
    }
    if !placement_skipped.is_empty() {
        notes.push(format!(
            "anti-affinity or spread terms that select other pods (or use matchExpressions) are \
             not modelled: {}",
            placement_skipped.join(", ")
        ));
    }
    if !skipped_budgets.is_empty() {
        notes.push(format!("budgets left out: {}", skipped_budgets.join("; ")));
    }
    for r in &opts.rollout {
        if !workloads.iter().any(|w| &w.name == r) {
            return Err(FromError::UnknownRollout {
                name: r.clone(),
                found: workloads
                    .iter()
                    .map(|w| w.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }

    let mut scenario = Scenario {
        name: "from-manifests".into(),
        description: String::new(),
        namespace: namespace.clone(),
        horizon: None,
        cluster: Cluster {
            nodes: Vec::new(),
            generate: Some(Generate {
                count: opts.nodes,
                zones: opts.zones,
                capacity: opts.node_capacity,
                prefix: "node".into(),
            }),
        },
        workloads,
        budgets,
        timeline: Vec::new(),
    };
    // Required node affinity is kept; the generated nodes carry only hostname and zone labels,
    // so a term on another label leaves the workload's pods Pending: said once per workload.
    let m = crate::model::Model::build(&scenario).map_err(FromError::Invalid)?;
    for w in m.workloads.iter().filter(|w| !w.node_affinity.is_empty()) {
        if !m.nodes.iter().any(|n| w.admits(n, None)) {
            notes.push(format!(
                "{}: no generated node matches its required node affinity (they carry only hostname and zone labels): its pods stay Pending",
                w.name
            ));
        }
    }
    let drain = if opts.drain_nodes == 0 {
        Vec::new()
    } else {
        most_guarded(&scenario, opts.drain_nodes as usize)?
    };
    if opts.drain_nodes as usize > drain.len() {
        notes.push(format!(
            "--drain-nodes {}: the cluster has {} node(s); draining them all",
            opts.drain_nodes,
            drain.len()
        ));
    }
    for r in &opts.rollout {
        scenario.timeline.push(Step {
            at: Some(Dur(0)),
            rollout: Some(Rollout {
                workload: r.clone(),
            }),
            ..Step::default()
        });
    }
    if !drain.is_empty() {
        scenario.timeline.push(Step {
            name: Some("drain".into()),
            at: Some(Dur(0)),
            drain: Some(Drain {
                nodes: drain.clone(),
                zones: Vec::new(),
                parallel: opts.parallel,
                timeout: None,
                uncordon: false,
                downtime: None,
            }),
            ..Step::default()
        });
    }
    let rollouts = if opts.rollout.is_empty() {
        String::new()
    } else {
        format!(" while rolling out {}", opts.rollout.join(", "))
    };
    scenario.description = format!(
        "Built by `steady sim --from {from}`: {} workload(s) and {} budget(s) of namespace {namespace} \
         on {} nodes in {} zones; drain {} (the nodes carrying the most budget-guarded pods){rollouts}.",
        scenario.workloads.len(),
        scenario.budgets.len(),
        opts.nodes,
        opts.zones,
        if drain.is_empty() {
            "nothing".to_owned()
        } else {
            drain.join(", ")
        },
    );
    Ok(Built { scenario, notes })
}

/// The `k` nodes with the most pods covered by a budget once the workloads are placed (the
/// engine's own scheduler, so this is where the pods really are at time 0); ties go to the
/// lower-numbered node. These are the drains a budget has something to say about.
fn most_guarded(s: &Scenario, k: usize) -> Result<Vec<String>, FromError> {
    let sim = crate::engine::Sim::new(s, 1, true).map_err(FromError::Invalid)?;
    let mut counts: Vec<(usize, usize)> = sim
        .model()
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let guarded = n
                .pods
                .iter()
                .filter(|&&p| {
                    let pod = &sim.pods()[p];
                    !pod.gone && !sim.model().workloads[pod.workload].budgets.is_empty()
                })
                .count();
            (i, guarded)
        })
        .collect();
    counts.sort_by_key(|&(i, n)| (std::cmp::Reverse(n), i));
    Ok(counts
        .into_iter()
        .take(k)
        .map(|(i, _)| sim.model().nodes[i].name.clone())
        .collect())
}
