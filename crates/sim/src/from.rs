//! `steady sim --from PATH…`: a scenario built from manifests, read with the loader `steady check`
//! uses (`steady-manifest`: files, directories, `-` for stdin), on a generated cluster, with a
//! timeline that drains the nodes carrying the most budget-guarded pods and optionally rolls
//! workloads out at the same time. Everything comes from the loader's model, read once.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{
    self as core, Lifecycle, LifecycleHandler, PodSpec, Probe, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString as K8sIntOrString;
use steady_manifest::load::{self, InputError};
use steady_manifest::model::{self as manifest, Body, Object, WorkloadKind as CheckKind};

use crate::scenario::{
    AntiAffinity, Budget, BudgetKindSpec, BudgetTarget, Cluster, Drain, Dur, Generate, IntOrString,
    MAX_REPLICAS, PodManagementPolicy, Readiness, Rollout, Scenario, Step, Strategy, StrategyType,
    TopologySpread, WhenUnsatisfiable, Workload, WorkloadKind,
};

/// Readiness delay of a pod template without a readinessProbe: the scenario format's own default,
/// standing in for image pull and container start.
pub const DEFAULT_READINESS_SECONDS: u64 = 10;

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

/// The k8s-openapi pod spec holding what the loader kept of a workload's pod template, for the
/// readiness, termination and placement readings this module shares with `steady plan` (which
/// reads full pod specs from a cluster).
fn pod_spec(m: &manifest::PodSpec) -> PodSpec {
    PodSpec {
        containers: m
            .containers
            .iter()
            .map(|c| core::Container {
                name: c.name.clone(),
                readiness_probe: c.readiness_probe.as_ref().map(|p| Probe {
                    initial_delay_seconds: p.initial_delay_seconds(),
                    ..Probe::default()
                }),
                lifecycle: c.lifecycle.as_ref().map(|l| Lifecycle {
                    pre_stop: l.pre_stop.as_ref().map(|h| LifecycleHandler {
                        sleep: h.sleep.clone(),
                        ..LifecycleHandler::default()
                    }),
                    ..Lifecycle::default()
                }),
                ..core::Container::default()
            })
            .collect(),
        termination_grace_period_seconds: m.termination_grace_period_seconds,
        affinity: m.affinity.as_deref().cloned(),
        topology_spread_constraints: m.topology_spread_constraints.as_ref().map(|v| {
            v.iter()
                .map(|t| TopologySpreadConstraint {
                    label_selector: t.label_selector.as_ref().map(|s| s.to_k8s()),
                    max_skew: t.max_skew,
                    min_domains: t.min_domains,
                    topology_key: t.topology_key.clone(),
                    when_unsatisfiable: t.when_unsatisfiable.clone(),
                    ..TopologySpreadConstraint::default()
                })
                .collect()
        }),
        ..PodSpec::default()
    }
}

pub(crate) fn int_or_string(v: &K8sIntOrString) -> IntOrString {
    match v {
        K8sIntOrString::Int(n) => IntOrString::Int(i64::from(*n)),
        K8sIntOrString::String(s) => IntOrString::String(s.clone()),
    }
}

const HOSTNAME: &str = "kubernetes.io/hostname";
const ZONE: &str = "topology.kubernetes.io/zone";

/// The scenario format's short names for the two well-known keys.
fn short_key(key: &str) -> String {
    match key {
        HOSTNAME => "hostname".into(),
        ZONE => "zone".into(),
        other => other.into(),
    }
}

/// Whether a term's selector picks the workload's own pods: the only anti-affinity and spread the
/// model knows (the scenario format says "among a workload's own pods").
fn selects_own(sel: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    let Some(sel) = sel else { return false };
    if sel
        .match_expressions
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        return false;
    }
    let ml = sel.match_labels.clone().unwrap_or_default();
    !ml.is_empty() && ml.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Readiness: the slowest container's readinessProbe `initialDelaySeconds` (the first probe runs
/// then, and one success makes the pod Ready); when no container says (no probe, or no delay),
/// [`DEFAULT_READINESS_SECONDS`], which stands in for image pull and start.
pub(crate) fn readiness(spec: &PodSpec) -> Dur {
    let delay = spec
        .containers
        .iter()
        .filter_map(|c| c.readiness_probe.as_ref()?.initial_delay_seconds)
        .max()
        .unwrap_or(0);
    if delay > 0 {
        Dur::secs(delay as u64)
    } else {
        Dur::secs(DEFAULT_READINESS_SECONDS)
    }
}

/// Termination: a `preStop` sleep keeps the pod terminating that long (capped by the grace
/// period); otherwise the scenario format's default.
pub(crate) fn termination(spec: &PodSpec) -> Option<Dur> {
    let sleep = spec
        .containers
        .iter()
        .filter_map(|c| c.lifecycle.as_ref()?.pre_stop.as_ref()?.sleep.as_ref())
        .map(|s| s.seconds.max(0))
        .max()?;
    let grace = spec.termination_grace_period_seconds.unwrap_or(30).max(0);
    Some(Dur::secs(sleep.min(grace) as u64))
}

/// Anti-affinity and topology spread among the workload's own pods; anything else is a note.
pub(crate) fn placement(
    spec: &PodSpec,
    labels: &BTreeMap<String, String>,
    skipped: &mut bool,
) -> (Option<AntiAffinity>, Vec<TopologySpread>) {
    let mut anti = AntiAffinity {
        required: Vec::new(),
        preferred: Vec::new(),
    };
    if let Some(a) = spec
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
    {
        for t in a
            .required_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
        {
            if selects_own(t.label_selector.as_ref(), labels) {
                anti.required.push(short_key(&t.topology_key));
            } else {
                *skipped = true;
            }
        }
        for w in a
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
        {
            let t = &w.pod_affinity_term;
            if selects_own(t.label_selector.as_ref(), labels) {
                anti.preferred.push(short_key(&t.topology_key));
            } else {
                *skipped = true;
            }
        }
    }
    let mut spread = Vec::new();
    for c in spec.topology_spread_constraints.iter().flatten() {
        if selects_own(c.label_selector.as_ref(), labels) {
            spread.push(TopologySpread {
                topology_key: short_key(&c.topology_key),
                max_skew: c.max_skew.max(1) as u32,
                when_unsatisfiable: if c.when_unsatisfiable == "ScheduleAnyway" {
                    WhenUnsatisfiable::ScheduleAnyway
                } else {
                    WhenUnsatisfiable::DoNotSchedule
                },
            });
        } else {
            *skipped = true;
        }
    }
    let anti = (!anti.required.is_empty() || !anti.preferred.is_empty()).then_some(anti);
    (anti, spread)
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
                let strategy = match kind {
                    WorkloadKind::StatefulSet => None,
                    WorkloadKind::Deployment if w.strategy.as_deref() == Some("Recreate") => {
                        Some(Strategy {
                            type_: StrategyType::Recreate,
                            max_surge: None,
                            max_unavailable: None,
                        })
                    }
                    WorkloadKind::Deployment => {
                        let surge = w.max_surge.as_ref().map(int_or_string);
                        let unavailable = w.max_unavailable.as_ref().map(int_or_string);
                        (surge.is_some() || unavailable.is_some()).then_some(Strategy {
                            type_: StrategyType::RollingUpdate,
                            max_surge: surge,
                            max_unavailable: unavailable,
                        })
                    }
                };
                let pod_spec = pod_spec(&w.spec);
                let mut skipped = false;
                let (anti_affinity, topology_spread) =
                    placement(&pod_spec, &w.labels.to_map(), &mut skipped);
                if skipped {
                    placement_skipped.push(o.name.clone());
                }
                workloads.push(Workload {
                    kind,
                    name: o.name.clone(),
                    namespace: None,
                    replicas,
                    labels: w.labels.to_map(),
                    strategy,
                    pod_management_policy: match (kind, w.pod_management_policy.as_deref()) {
                        (WorkloadKind::StatefulSet, Some("Parallel")) => {
                            Some(PodManagementPolicy::Parallel)
                        }
                        _ => None,
                    },
                    min_ready_seconds: w.min_ready_seconds.unwrap_or(0).max(0) as u32,
                    readiness: Some(Readiness {
                        fixed: Some(readiness(&pod_spec)),
                        ..Readiness::default()
                    }),
                    termination: termination(&pod_spec),
                    anti_affinity,
                    topology_spread,
                    node_selector: BTreeMap::new(),
                    pods: Vec::new(),
                });
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
                let kind = if b.is_pub {
                    BudgetKindSpec::PodUnavailableBudget
                } else {
                    BudgetKindSpec::PodDisruptionBudget
                };
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
                let protect_operations = b.protect_operations.clone();
                budgets.push(Budget {
                    kind,
                    name: o.name.clone(),
                    namespace: None,
                    selector,
                    target_ref,
                    min_available: b.min_available.as_ref().map(int_or_string),
                    max_unavailable: b.max_unavailable.as_ref().map(int_or_string),
                    protect_operations,
                    unhealthy_pod_policy: b.unhealthy_policy.clone(),
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
    let sim = crate::Sim::new(s, 1, true).map_err(FromError::Invalid)?;
    let mut counts: Vec<(usize, usize)> = sim
        .m
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let guarded = n
                .pods
                .iter()
                .filter(|&&p| {
                    let pod = &sim.pods[p];
                    !pod.gone && !sim.m.workloads[pod.workload].budgets.is_empty()
                })
                .count();
            (i, guarded)
        })
        .collect();
    counts.sort_by_key(|&(i, n)| (std::cmp::Reverse(n), i));
    Ok(counts
        .into_iter()
        .take(k)
        .map(|(i, _)| sim.m.nodes[i].name.clone())
        .collect())
}
