//! From a cluster state to a scenario: nodes as they are (cordons, taints, allocatable pods less
//! the pods the simulator does not model, zone and other labels), Deployments and StatefulSets
//! with their pods on the nodes they run on and what keeps them off other nodes (nodeSelector,
//! required node affinity, tolerations, claims bound to zonal volumes), budgets (PodDisruptionBudgets and
//! PodUnavailableBudgets, in their own namespaces), and the one operation planned.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use steady_budget::{BudgetKind, BudgetSpecInput, ValueInput};
use steady_manifest::model::{self as manifest, BudgetInfo, Object};

use super::state::ClusterState;
use super::{objects, placement};
use crate::scenario::{
    Budget, BudgetTarget, Cluster, Drain, Dur, MAX_NODE_CAPACITY, MAX_REPLICAS, NodeSpec,
    Readiness, Rollout, RunningPod, Scale, Scenario, Step, Workload, WorkloadKind,
};

/// Pods a node takes when its status does not say (the kubelet's default).
const DEFAULT_PODS: u64 = 110;
/// How long a plan runs when no `--timeout` is given.
pub const DEFAULT_HORIZON: Dur = Dur(30 * 60 * 1000);

/// The operation to plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `kubectl drain NODE…`, `parallel` nodes at a time.
    Drain { nodes: Vec<String>, parallel: u32 },
    /// A new pod template for each workload.
    Rollout { targets: Vec<Target> },
    /// A new replica count.
    Scale { target: Target, replicas: u32 },
}

/// `KIND/NAME` in a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
}

impl Target {
    /// Reads `deployment/web`, `deploy/web`, `sts/db`, `StatefulSet/db`.
    pub fn parse(s: &str, namespace: &str) -> Result<Self, PlanError> {
        let bad = || PlanError::Target(s.to_owned());
        let (kind, name) = s.split_once('/').ok_or_else(bad)?;
        let kind = match kind.to_ascii_lowercase().as_str() {
            "deployment" | "deployments" | "deploy" => WorkloadKind::Deployment,
            "statefulset" | "statefulsets" | "sts" => WorkloadKind::StatefulSet,
            _ => return Err(bad()),
        };
        if name.is_empty() || name.contains('/') {
            return Err(bad());
        }
        Ok(Self {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// What the planner reads from the state besides the scenario: who is who, for the report.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Per scenario workload: `namespace/name`.
    pub workloads: Vec<String>,
    /// Pods without a controller, per node: `kubectl drain` refuses them unless `--force`.
    pub bare_pods: BTreeMap<String, Vec<String>>,
    /// Per budget of the scenario: `namespace/name`.
    pub budgets: Vec<String>,
}

/// A scenario built from a state, and what was left out of it.
#[derive(Debug, Clone)]
pub struct Built {
    pub scenario: Scenario,
    pub facts: Facts,
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "{0:?} is not KIND/NAME: write deployment/NAME or statefulset/NAME (deploy/ and sts/ work too)"
    )]
    Target(String),
    #[error("{kind} {name} is not in the cluster state; check the name and the namespace (-n)")]
    NoSuchWorkload { kind: &'static str, name: String },
    #[error("node {0} is not in the cluster state; `kubectl get nodes` lists them")]
    NoSuchNode(String),
    #[error("the cluster state has no nodes: a plan needs the nodes the pods run on")]
    NoNodes,
    #[error("{object}: {message}")]
    Object { object: String, message: String },
    #[error("--{flag} must be at least 1")]
    Zero { flag: &'static str },
    #[error("{0}")]
    Invalid(String),
}

fn obj(kind: &str, meta: &ObjectMeta) -> String {
    match &meta.namespace {
        Some(ns) => format!("{kind} {ns}/{}", meta.name.as_deref().unwrap_or("?")),
        None => format!("{kind} {}", meta.name.as_deref().unwrap_or("?")),
    }
}

fn object_error(object: String, message: impl Into<String>) -> PlanError {
    PlanError::Object {
        object,
        message: message.into(),
    }
}

fn ns_of(meta: &ObjectMeta) -> String {
    meta.namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into())
}

fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
}

pub use crate::convert::probe_period_readiness as readiness;

/// Node pods: `status.allocatable.pods`, an integer.
fn allocatable_pods(node: &k8s_openapi::api::core::v1::Node, what: &str) -> Result<u64, PlanError> {
    let Some(q) = node
        .status
        .as_ref()
        .and_then(|s| s.allocatable.as_ref())
        .and_then(|a| a.get("pods"))
    else {
        return Ok(DEFAULT_PODS);
    };
    let n: u64 = q.0.trim().parse().map_err(|_| {
        object_error(
            what.to_owned(),
            format!(
                "status.allocatable.pods {:?} is not a whole number of pods",
                q.0
            ),
        )
    })?;
    if n > u64::from(MAX_NODE_CAPACITY) {
        return Err(object_error(
            what.to_owned(),
            format!(
                "status.allocatable.pods {n} is more than the simulator models (at most {MAX_NODE_CAPACITY})"
            ),
        ));
    }
    Ok(n)
}

/// Whether the scheduler may place no new pod on the node: cordoned or not Ready. Its taints
/// are the scenario's, weighed against each pod's tolerations.
fn closed(node: &k8s_openapi::api::core::v1::Node) -> bool {
    let spec = node.spec.as_ref();
    let unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
    let not_ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status != "True");
    unschedulable || not_ready
}

fn pod_ready(p: &Pod) -> bool {
    let Some(st) = &p.status else { return false };
    st.phase.as_deref() == Some("Running")
        && st
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// How long a Ready pod took from `status.startTime` to its Ready condition's
/// `lastTransitionTime`; None when it is not Ready or either time is missing or out of order.
fn ready_after_ms(p: &Pod) -> Option<u64> {
    if !pod_ready(p) {
        return None;
    }
    let st = p.status.as_ref()?;
    let start = st.start_time.as_ref()?.0;
    let ready = st
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready" && c.status == "True")?
        .last_transition_time
        .as_ref()?
        .0;
    let ms = ready.duration_since(start).as_millis();
    u64::try_from(ms).ok()
}

/// A workload without a readinessProbe gets no delay from its template (the 10 s default would
/// stand in); when its Ready pods say how long they took from start to Ready, the median of
/// those (the mean of the two middle ones for an even count), at most an hour, is its readiness.
fn observed_readiness(w: &manifest::Workload, observed: &mut [u64]) -> Option<Dur> {
    let probed = w
        .spec
        .containers
        .iter()
        .any(|c| c.readiness_probe.is_some());
    if probed || observed.is_empty() {
        return None;
    }
    observed.sort_unstable();
    let n = observed.len();
    let median = if n % 2 == 1 {
        observed[n / 2]
    } else {
        (observed[n / 2 - 1] + observed[n / 2]) / 2
    };
    Some(Dur(median.min(3_600_000)))
}

fn terminal(p: &Pod) -> bool {
    matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn replicas_of(r: Option<i32>, what: &str) -> Result<u32, PlanError> {
    let r = r.unwrap_or(1);
    if r < 0 {
        return Err(object_error(
            what.to_owned(),
            format!("spec.replicas {r} is negative"),
        ));
    }
    if r as u32 > MAX_REPLICAS {
        return Err(object_error(
            what.to_owned(),
            format!("spec.replicas {r} is more than the simulator models (at most {MAX_REPLICAS})"),
        ));
    }
    Ok(r as u32)
}

/// A Deployment or StatefulSet of the state, as the loader's model has it.
struct WorkloadIn<'a> {
    kind: WorkloadKind,
    object: &'a Object,
    workload: &'a manifest::Workload,
}

/// Builds the scenario for `op` from `state`. `timeout` bounds the whole plan (a drain gives up
/// then, as `kubectl drain --timeout`).
pub fn build(
    state: &ClusterState,
    op: &Operation,
    timeout: Option<Dur>,
) -> Result<Built, PlanError> {
    let mut notes = Vec::new();
    let mut facts = Facts::default();
    if state.nodes.is_empty() {
        return Err(PlanError::NoNodes);
    }
    let objects = objects::decode(state)?;
    notes.extend(objects.notes.iter().cloned());
    // Workloads, in a stable order: by namespace and name, Deployments first.
    let mut ins: Vec<WorkloadIn<'_>> = objects
        .workloads
        .iter()
        .filter_map(|o| {
            let w = o.workload()?;
            Some(WorkloadIn {
                kind: crate::convert::kind(w.kind)?,
                object: o,
                workload: w,
            })
        })
        .collect();
    ins.sort_by(|a, b| {
        (&a.object.namespace, &a.object.name, a.kind as u8).cmp(&(
            &b.object.namespace,
            &b.object.name,
            b.kind as u8,
        ))
    });

    // Nodes.
    let mut nodes = Vec::with_capacity(state.nodes.len());
    let mut node_at: HashMap<&str, usize> = HashMap::new();
    for n in &state.nodes {
        let what = obj("Node", &n.metadata);
        let Some(name) = n.metadata.name.as_deref().filter(|s| !s.is_empty()) else {
            return Err(object_error(what, "has no metadata.name"));
        };
        let labels = n.metadata.labels.clone().unwrap_or_default();
        let zone = labels
            .get(crate::model::ZONE)
            .or_else(|| labels.get("failure-domain.beta.kubernetes.io/zone"))
            .cloned();
        let capacity = allocatable_pods(n, &what)?;
        if node_at.insert(name, nodes.len()).is_some() {
            return Err(object_error(what, "is listed twice"));
        }
        nodes.push((
            NodeSpec {
                name: name.to_owned(),
                zone,
                capacity: Some(capacity as u32),
                labels,
                cordoned: closed(n),
                taints: placement::taints(n, &what)?,
            },
            capacity,
            0u64,
        ));
    }

    // Which workload each pod belongs to: Pod → ReplicaSet → Deployment, or Pod → StatefulSet.
    let mut workload_at: HashMap<(String, &'static str, &str), usize> = HashMap::new();
    for (i, w) in ins.iter().enumerate() {
        let kind = match w.kind {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
        };
        workload_at.insert((w.object.namespace.clone(), kind, &w.object.name), i);
    }
    let mut rs_owner: HashMap<(String, &str), Option<usize>> = HashMap::new();
    for rs in &objects.replica_sets {
        let dep = rs
            .workload()
            .and_then(|w| w.controller.as_deref())
            .filter(|(kind, _)| kind == "Deployment")
            .and_then(|(_, name)| {
                workload_at.get(&(rs.namespace.clone(), "Deployment", name.as_str()))
            })
            .copied();
        rs_owner.insert((rs.namespace.clone(), rs.name.as_str()), dep);
    }
    let mut running: Vec<Vec<RunningPod>> = vec![Vec::new(); ins.len()];
    // Per workload: how long its Ready pods took from start to Ready, in ms.
    let mut observed: Vec<Vec<u64>> = vec![Vec::new(); ins.len()];
    let (mut terminating, mut unscheduled_other) = (0usize, 0usize);
    for p in &state.pods {
        if terminal(p) {
            continue;
        }
        let ns = ns_of(&p.metadata);
        let name = p.metadata.name.clone().unwrap_or_default();
        let node = p.spec.as_ref().and_then(|s| s.node_name.as_deref());
        if p.metadata.deletion_timestamp.is_some() {
            // On its way out: it still holds its node's slot, but no budget counts it.
            terminating += 1;
            if let Some(&n) = node.and_then(|n| node_at.get(n)) {
                nodes[n].2 += 1;
            }
            continue;
        }
        let owner = controller_of(&p.metadata);
        let w = match owner.map(|o| o.kind.as_str()) {
            Some("ReplicaSet") => owner
                .and_then(|o| rs_owner.get(&(ns.clone(), o.name.as_str())))
                .copied()
                .flatten(),
            Some("StatefulSet") => owner
                .and_then(|o| workload_at.get(&(ns.clone(), "StatefulSet", o.name.as_str())))
                .copied(),
            _ => None,
        };
        let Some(&n) = node.and_then(|n| node_at.get(n)) else {
            // Pending (or on a node the state does not have): the workload's controller model
            // creates and schedules its missing pods itself.
            if w.is_none() {
                unscheduled_other += 1;
            }
            continue;
        };
        match w {
            Some(w) => {
                observed[w].extend(ready_after_ms(p));
                running[w].push(RunningPod {
                    name,
                    node: nodes[n].0.name.clone(),
                    ready: pod_ready(p),
                });
            }
            None => {
                // DaemonSet pods, Job pods, bare pods: they keep their slot (a drain leaves
                // DaemonSet pods; the others are not modelled).
                nodes[n].2 += 1;
                if owner.is_none() {
                    facts
                        .bare_pods
                        .entry(nodes[n].0.name.clone())
                        .or_default()
                        .push(format!("{ns}/{name}"));
                }
            }
        }
    }
    if terminating > 0 {
        notes.push(format!(
            "{terminating} terminating pod(s) hold their node's slot and count as unavailable"
        ));
    }
    let _ = unscheduled_other;

    let node_specs: Vec<NodeSpec> = nodes
        .into_iter()
        .map(|(mut spec, capacity, other)| {
            let free = capacity.saturating_sub(other);
            if free == 0 {
                // Full with pods the simulator does not move: nothing new fits here.
                spec.cordoned = true;
            }
            spec.capacity = Some(free.max(1) as u32);
            spec
        })
        .collect();

    // Workloads with their running pods.
    let claims = placement::Claims::new(state);
    let mut workloads = Vec::with_capacity(ins.len());
    let mut placement_skipped = 0usize;
    let mut not_running = Vec::new();
    for (i, w) in ins.iter().enumerate() {
        let kind = match w.kind {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
        };
        let what = format!("{kind} {}/{}", w.object.namespace, w.object.name);
        let replicas = replicas_of(w.workload.replicas, &what)?;
        let ns = w.object.namespace.clone();
        let name = w.object.name.clone();
        let mut skipped = false;
        let mut workload = crate::convert::workload(
            w.object,
            w.workload,
            w.kind,
            replicas,
            crate::convert::ReadinessRule::ProbePeriod,
            &mut skipped,
        )
        .map_err(|e| object_error(what.clone(), e.0))?;
        if skipped {
            placement_skipped += 1;
        }
        let mut pods = std::mem::take(&mut running[i]);
        if pods.is_empty() && replicas > 0 {
            // No pod on any node: the scheduler cannot place them now (or the state has not
            // the nodes they run on). Started Pending, the model would place them on the first
            // free slots and crowd out the replacements a drain needs; they have nothing to lose.
            not_running.push(format!("{ns}/{name}"));
            continue;
        }
        // Ready pods first, then by name: the ones kept when more run than wanted.
        pods.sort_by(|a, b| (!a.ready, &a.name).cmp(&(!b.ready, &b.name)));
        pods.truncate(replicas as usize);
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        let min_ready = w.workload.min_ready_seconds.unwrap_or(0);
        if min_ready < 0 {
            return Err(object_error(
                what,
                format!("spec.minReadySeconds {min_ready} is negative"),
            ));
        }
        workload.zonal_claims = claims.of_workload(
            &ns,
            &name,
            w.kind,
            &crate::convert::pod_spec(&w.workload.spec),
            w.workload.claim_templates.as_deref().unwrap_or_default(),
            &mut notes,
        );
        if let Some(d) = observed_readiness(w.workload, &mut observed[i]) {
            workload.readiness = Some(Readiness {
                fixed: Some(d),
                ..Readiness::default()
            });
        }
        workload.namespace = Some(ns.clone());
        workload.pods = pods;
        facts.workloads.push(format!("{ns}/{name}"));
        workloads.push(workload);
    }
    if !not_running.is_empty() {
        let shown: Vec<&str> = not_running.iter().take(5).map(String::as_str).collect();
        let more = if not_running.len() > 5 {
            format!(" and {} more", not_running.len() - 5)
        } else {
            String::new()
        };
        notes.push(format!(
            "{} workload(s) with no pod on a node of the state are left out: {}{more}",
            not_running.len(),
            shown.join(", ")
        ));
    }
    if placement_skipped > 0 {
        notes.push(format!(
            "{placement_skipped} workload(s) have anti-affinity or spread terms that select other pods: not modelled"
        ));
    }

    // Budgets.
    let mut budgets = Vec::new();
    let mut raw_budgets: Vec<RawBudget> = objects
        .budgets
        .iter()
        .filter_map(|o| Some(RawBudget::new(o, o.budget()?)))
        .collect();
    raw_budgets
        .sort_by(|a, b| (&a.namespace, &a.name, a.kind).cmp(&(&b.namespace, &b.name, b.kind)));
    for b in raw_budgets {
        if let Some(budget) = b.to_scenario(&workloads, &mut notes)? {
            facts.budgets.push(format!("{}/{}", b.namespace, b.name));
            budgets.push(budget);
        }
    }

    // The operation.
    let key_of = |t: &Target| -> Result<String, PlanError> {
        let found = workloads.iter().any(|w| {
            w.kind == t.kind && w.name == t.name && w.namespace.as_deref() == Some(&t.namespace)
        });
        if found {
            Ok(t.key())
        } else if not_running.contains(&t.key()) {
            Err(PlanError::Invalid(format!(
                "{} has no pod on any node, so nothing to plan; its pods are Pending",
                t.key()
            )))
        } else {
            Err(PlanError::NoSuchWorkload {
                kind: match t.kind {
                    WorkloadKind::Deployment => "Deployment",
                    WorkloadKind::StatefulSet => "StatefulSet",
                },
                name: t.key(),
            })
        }
    };
    let mut timeline = Vec::new();
    let name = match op {
        Operation::Drain { nodes, parallel } => {
            if *parallel == 0 {
                return Err(PlanError::Zero { flag: "parallel" });
            }
            for n in nodes {
                if !node_specs.iter().any(|x| &x.name == n) {
                    return Err(PlanError::NoSuchNode(n.clone()));
                }
            }
            let drain = Drain {
                nodes: nodes.clone(),
                zones: Vec::new(),
                parallel: Some(*parallel),
                timeout,
                uncordon: false,
                downtime: None,
            };
            timeline.push(Step {
                drain: Some(drain),
                ..Step::default()
            });
            format!("drain {}", nodes.join(" "))
        }
        Operation::Rollout { targets } => {
            for t in targets {
                let workload = key_of(t)?;
                timeline.push(Step {
                    rollout: Some(Rollout { workload }),
                    ..Step::default()
                });
            }
            format!(
                "rollout {}",
                targets
                    .iter()
                    .map(Target::key)
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
        Operation::Scale { target, replicas } => {
            let workload = key_of(target)?;
            if *replicas > MAX_REPLICAS {
                return Err(PlanError::Invalid(format!(
                    "--replicas {replicas} is more than the simulator models (at most {MAX_REPLICAS})"
                )));
            }
            for o in &objects.hpas {
                let Some(h) = o.hpa() else { continue };
                if o.namespace == target.namespace && h.target_name == target.name {
                    notes.push(format!(
                        "HorizontalPodAutoscaler {}/{} scales {} between {} and {} replicas: it may undo this scale",
                        o.namespace,
                        o.name,
                        target.key(),
                        h.min_replicas.unwrap_or(1),
                        h.max_replicas
                    ));
                }
            }
            timeline.push(Step {
                scale: Some(Scale {
                    workload,
                    replicas: *replicas,
                }),
                ..Step::default()
            });
            format!("scale {} to {replicas}", target.key())
        }
    };
    let scenario = Scenario {
        name: format!("plan {name}"),
        description: String::new(),
        // No real namespace is empty: every workload and budget is named `namespace/name`.
        namespace: String::new(),
        horizon: Some(timeout.unwrap_or(DEFAULT_HORIZON)),
        cluster: Cluster {
            nodes: node_specs,
            generate: None,
        },
        workloads,
        budgets,
        timeline,
    };
    Ok(Built {
        scenario,
        facts,
        notes,
    })
}

/// A PodDisruptionBudget or a PodUnavailableBudget, as the loader's model has it.
struct RawBudget {
    kind: BudgetKind,
    what: String,
    namespace: String,
    name: String,
    selector: Option<LabelSelector>,
    target: Option<(String, String)>,
    /// Kind, policy and options, from the conversion `--from` shares.
    base: Budget,
}

impl RawBudget {
    fn new(o: &Object, b: &BudgetInfo) -> Self {
        Self {
            kind: b.kind(),
            what: format!("{} {}/{}", o.kind, o.namespace, o.name),
            namespace: o.namespace.clone(),
            name: o.name.clone(),
            selector: b.selector.clone(),
            target: b
                .target_ref
                .as_ref()
                .map(|t| (t.kind.clone(), t.name.clone())),
            base: crate::convert::budget(o, b),
        }
    }

    /// The scenario's budget, or None (with a note) when it covers nothing the plan models or
    /// its selector cannot be said in the scenario format.
    fn to_scenario(
        &self,
        workloads: &[Workload],
        notes: &mut Vec<String>,
    ) -> Result<Option<Budget>, PlanError> {
        let mut budget = Budget {
            namespace: Some(self.namespace.clone()),
            ..self.base.clone()
        };
        if let Some((k, n)) = &self.target {
            let kind = match k.as_str() {
                "Deployment" => WorkloadKind::Deployment,
                "StatefulSet" => WorkloadKind::StatefulSet,
                other => {
                    notes.push(format!(
                        "{} left out: a targetRef to a {other} is not modelled",
                        self.what
                    ));
                    return Ok(None);
                }
            };
            if !workloads.iter().any(|w| {
                w.kind == kind && &w.name == n && w.namespace.as_ref() == Some(&self.namespace)
            }) {
                notes.push(format!(
                    "{} left out: its target {k} {n} is not in the state",
                    self.what
                ));
                return Ok(None);
            }
            budget.target_ref = Some(BudgetTarget {
                kind,
                name: n.clone(),
            });
            if self.selector.is_some() {
                return Err(object_error(
                    self.what.clone(),
                    "sets both selector and targetRef: set exactly one",
                ));
            }
            return Ok(Some(budget));
        }
        let Some(sel) = &self.selector else {
            notes.push(format!("{} left out: it has no selector", self.what));
            return Ok(None);
        };
        let expressions = sel
            .match_expressions
            .as_ref()
            .is_some_and(|e| !e.is_empty());
        let labels = sel.match_labels.clone().unwrap_or_default();
        if !expressions {
            if labels.is_empty() {
                notes.push(format!(
                    "{} left out: an empty selector (every pod of its namespace) is not modelled",
                    self.what
                ));
                return Ok(None);
            }
            budget.selector = Some(labels);
            return Ok(Some(budget));
        }
        // matchExpressions: the scenario format speaks matchLabels or a targetRef; a budget
        // over exactly one workload is said as a targetRef to it.
        let input = BudgetSpecInput {
            selector: Some(sel),
            min_available: Some(ValueInput::Int(0)),
            ..BudgetSpecInput::new(self.kind)
        };
        let spec = input
            .validate()
            .map_err(|e| object_error(self.what.clone(), format!("spec.selector: {e}")))?;
        let covered: Vec<&Workload> = workloads
            .iter()
            .filter(|w| w.namespace.as_ref() == Some(&self.namespace))
            .filter(|w| spec.selects(&crate::model::probe_pod(&self.namespace, &w.labels), &[]))
            .collect();
        match covered.as_slice() {
            [w] => {
                budget.target_ref = Some(BudgetTarget {
                    kind: w.kind,
                    name: w.name.clone(),
                });
                Ok(Some(budget))
            }
            [] => Ok(None),
            _ => {
                notes.push(format!(
                    "{} left out: its matchExpressions select {} workloads, which the model cannot say",
                    self.what,
                    covered.len()
                ));
                Ok(None)
            }
        }
    }
}
