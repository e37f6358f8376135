//! The modelled cluster: nodes, workloads, pods and budgets as the engine mutates them, and their
//! construction (with validation) from a scenario. Budgets are translated into steady-budget's
//! `BudgetSpec`, so every later decision is the webhook's own.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use steady_budget::{
    BudgetId, BudgetKind, BudgetSpec, BudgetSpecError, BudgetSpecInput, BudgetStatus, IntOrPercent,
    Labels, Operation, OperationSet, OwnerInfo, OwnerLookup, OwnerRef, PodFacts, RollingUpdate,
    TargetRef, ValueInput,
};

use crate::scenario::{
    self, Dur, IntOrString, Invalid, MAX_NODES, MAX_REPLICAS, PodManagementPolicy, Readiness,
    Scenario, StrategyType, WhenUnsatisfiable, WorkloadKind,
};

pub const HOSTNAME: &str = "kubernetes.io/hostname";
pub const ZONE: &str = "topology.kubernetes.io/zone";
const DEFAULT_CAPACITY: u32 = 110;

/// Simulated time 0 is this instant (2026-01-01T00:00:00Z), so pods Ready "since long ago"
/// still have a positive timestamp.
const EPOCH_MS: i64 = 1_767_225_600_000;

pub fn ts(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(EPOCH_MS + ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

pub struct Node {
    pub name: String,
    pub labels: Labels,
    pub capacity: u32,
    pub cordoned: bool,
    /// Failed (involuntary): not schedulable, no pods.
    pub down: bool,
    /// `NoSchedule` and `NoExecute` taints (`PreferNoSchedule` filters nothing).
    pub taints: Vec<scenario::Taint>,
    /// Pods bound here and not gone (terminating ones included: they still hold the slot).
    pub pods: Vec<usize>,
}

/// A `maxSurge` / `maxUnavailable` value from a scenario, within what the simulator models.
fn rolling_value(v: &IntOrString, field: &str) -> Result<IntOrPercent, Invalid> {
    match v {
        IntOrString::Int(n) if *n < 0 => Err(invalid(field, format!("{n} must be ≥ 0"))),
        IntOrString::Int(n) => u32::try_from(*n)
            .ok()
            .filter(|n| *n <= MAX_REPLICAS)
            .map(|n| IntOrPercent::Int(n as i32))
            .ok_or_else(|| {
                invalid(
                    field,
                    format!("{n} is more pods than the simulator models (at most {MAX_REPLICAS})"),
                )
            }),
        IntOrString::String(s) => {
            let Some(p) = s.strip_suffix('%').and_then(|p| p.parse::<u64>().ok()) else {
                return Err(invalid(
                    field,
                    format!("{s:?} is not an integer or a percentage like \"25%\""),
                ));
            };
            if p > 100 {
                return Err(invalid(
                    field,
                    format!("{s:?} is over 100%: write a percentage from 0% to 100%"),
                ));
            }
            Ok(IntOrPercent::Percent(p as u8))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Rolling(RollingUpdate),
    Recreate,
}

/// When a bound pod turns Ready.
#[derive(Debug, Clone, Copy)]
pub enum ReadinessDist {
    Fixed(Dur),
    Uniform { min: Dur, max: Dur },
    Normal { mean: Dur, stddev: Dur },
}

pub struct ReplicaSet {
    pub revision: u32,
    pub replicas: i32,
}

pub struct SpreadRule {
    pub key: String,
    pub max_skew: u32,
    pub hard: bool,
}

pub struct Workload {
    pub kind: WorkloadKind,
    pub name: String,
    pub namespace: String,
    /// How the scenario names it: `name` in the scenario's namespace, else `namespace/name`.
    pub key: String,
    pub replicas: i32,
    pub initial_replicas: i32,
    pub labels: Labels,
    pub strategy: Strategy,
    pub ordered: bool,
    pub min_ready_seconds: i32,
    pub readiness: ReadinessDist,
    pub termination: Dur,
    pub anti_required: Vec<String>,
    pub anti_preferred: Vec<String>,
    pub spread: Vec<SpreadRule>,
    pub node_selector: Labels,
    /// Required node affinity terms (ORed); empty: none.
    pub node_affinity: Vec<scenario::NodeSelectorTerm>,
    pub tolerations: Vec<scenario::Toleration>,
    pub zonal_claims: Vec<scenario::ZonalClaim>,
    /// Some node is closed to some pod of this workload by [`Workload::admits`]: the scheduler
    /// asks it node by node instead of taking the least loaded free node.
    pub constrained: bool,
    /// Pods running at time 0 (name, node, Ready), from the scenario's `pods`.
    pub placed: Vec<(String, usize, bool)>,
    /// The current pod template.
    pub revision: u32,
    /// Deployments only: one per template revision, oldest first.
    pub replica_sets: Vec<ReplicaSet>,
    /// Pods not gone yet, oldest (lowest id) first.
    pub pods: BTreeSet<usize>,
    pub next_seq: u32,
    /// The controller backs off after a refused delete, as controllers do on 429.
    pub next_delete_at: u64,
    /// Budgets that cover this workload's pods.
    pub budgets: Vec<usize>,
}

/// Why a node does not take a workload's pod (`Workload::refusal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal<'n> {
    NodeSelector,
    NodeAffinity,
    Taint(&'n scenario::Taint),
    ClaimZone,
}

impl Workload {
    /// Whether `node` may take this workload's pod `ordinal` (None for a Deployment's pods), as
    /// far as the pod's own node constraints go (see `refusal`). Capacity, cordons and pod
    /// (anti-)affinity are the scheduler's.
    pub fn admits(&self, node: &Node, ordinal: Option<u32>) -> bool {
        self.refusal(node, ordinal).is_none()
    }

    /// The first of the pod's own node constraints that `node` fails, in this order: its
    /// `nodeSelector`, its required node affinity, the node's `NoSchedule`/`NoExecute` taints
    /// against its tolerations, the zone of the volumes its claims are bound to. One filter for
    /// the scheduler and for the plan's explanations.
    pub fn refusal<'n>(&self, node: &'n Node, ordinal: Option<u32>) -> Option<Refusal<'n>> {
        if !self
            .node_selector
            .iter()
            .all(|(k, v)| node.labels.get(k) == Some(v))
        {
            return Some(Refusal::NodeSelector);
        }
        if !self.node_affinity.is_empty()
            && !self.node_affinity.iter().any(|t| term_matches(t, node))
        {
            return Some(Refusal::NodeAffinity);
        }
        if let Some(t) = node.taints.iter().find(|t| !self.tolerates(t)) {
            return Some(Refusal::Taint(t));
        }
        if !self
            .claims_of(ordinal)
            .all(|c| node.labels.get(ZONE) == Some(&c.zone))
        {
            return Some(Refusal::ClaimZone);
        }
        None
    }

    /// The zonal claims pod `ordinal` mounts: the ones every pod mounts and its ordinal's own.
    pub fn claims_of(&self, ordinal: Option<u32>) -> impl Iterator<Item = &scenario::ZonalClaim> {
        self.zonal_claims
            .iter()
            .filter(move |c| c.ordinal.is_none() || c.ordinal == ordinal)
    }

    /// Whether a toleration of the workload tolerates `taint`.
    pub fn tolerates(&self, taint: &scenario::Taint) -> bool {
        self.tolerations.iter().any(|t| tolerates(t, taint))
    }

    pub fn rs_name(&self, revision: u32) -> String {
        format!("{}-v{revision}", self.name)
    }

    pub fn kind_str(&self) -> &'static str {
        match self.kind {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
        }
    }

    pub fn owner_ref(&self) -> OwnerRef {
        OwnerRef::new("apps/v1", self.kind_str(), &self.name)
    }
}

pub struct Pod {
    pub facts: PodFacts,
    pub workload: usize,
    pub revision: u32,
    pub ordinal: Option<u32>,
    pub node: Option<usize>,
    pub gone: bool,
}

pub struct Budget {
    pub id: BudgetId,
    pub spec: BudgetSpec,
    pub generation: i64,
    pub status: BudgetStatus,
    pub workloads: Vec<usize>,
    pub dirty: bool,
}

impl Budget {
    pub fn label(&self) -> String {
        format!("{} {}", self.id.kind.as_str(), self.id.name)
    }
}

/// The cluster's objects, built from a scenario.
pub struct Model {
    pub namespace: String,
    pub nodes: Vec<Node>,
    pub workloads: Vec<Workload>,
    pub budgets: Vec<Budget>,
    pub node_index: HashMap<String, usize>,
    pub workload_index: HashMap<String, usize>,
}

/// Answers owner questions from the modelled workloads: Pod → ReplicaSet → Deployment, or
/// Pod → StatefulSet, with replicas and minReadySeconds as their scale subresource would.
pub struct Owners<'a> {
    pub workloads: &'a [Workload],
    pub index: &'a HashMap<String, usize>,
}

impl OwnerLookup for Owners<'_> {
    fn owner(&self, namespace: &str, owner: &OwnerRef) -> Option<OwnerInfo> {
        match owner.kind.as_str() {
            "ReplicaSet" => {
                let (name, rev) = owner.name.rsplit_once("-v")?;
                let w = self.find(namespace, name)?;
                let rev: u32 = rev.parse().ok()?;
                let rs = w.replica_sets.iter().find(|r| r.revision == rev)?;
                Some(OwnerInfo {
                    controller: Some(w.owner_ref()),
                    replicas: Some(rs.replicas),
                    min_ready_seconds: Some(w.min_ready_seconds),
                })
            }
            kind => {
                let w = self.find(namespace, &owner.name)?;
                (w.kind_str() == kind).then_some(OwnerInfo {
                    controller: None,
                    replicas: Some(w.replicas),
                    min_ready_seconds: Some(w.min_ready_seconds),
                })
            }
        }
    }
}

impl Owners<'_> {
    /// The workload `name` of `namespace`: keyed by its name in the scenario's namespace, by
    /// `namespace/name` in another.
    fn find(&self, namespace: &str, name: &str) -> Option<&Workload> {
        let w = self.index.get(name).map(|&i| &self.workloads[i]);
        match w {
            Some(w) if w.namespace == namespace => Some(w),
            _ => self
                .index
                .get(&format!("{namespace}/{name}"))
                .map(|&i| &self.workloads[i])
                .filter(|w| w.namespace == namespace),
        }
    }
}

/// How a scenario names an object of `namespace`: bare in its own namespace, else qualified.
pub fn qualified(scenario_ns: &str, namespace: &str, name: &str) -> String {
    if namespace == scenario_ns {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    }
}

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

pub fn topology_key(k: &str) -> String {
    match k {
        "hostname" => HOSTNAME.into(),
        "zone" => ZONE.into(),
        other => other.into(),
    }
}

impl Model {
    pub fn build(s: &Scenario) -> Result<Self, Invalid> {
        let mut nodes = Vec::new();
        for (i, n) in s.cluster.nodes.iter().enumerate() {
            let mut labels = n.labels.clone();
            labels.insert(HOSTNAME.into(), n.name.clone());
            if let Some(z) = &n.zone {
                labels.insert(ZONE.into(), z.clone());
            }
            let capacity = n.capacity.unwrap_or(DEFAULT_CAPACITY);
            if capacity == 0 {
                return Err(invalid(
                    &format!("cluster.nodes[{i}].capacity"),
                    "must be at least 1",
                ));
            }
            nodes.push(Node {
                name: n.name.clone(),
                labels,
                capacity,
                cordoned: n.cordoned,
                down: false,
                taints: n
                    .taints
                    .iter()
                    .filter(|t| t.effect != scenario::TaintEffect::PreferNoSchedule)
                    .cloned()
                    .collect(),
                pods: Vec::new(),
            });
        }
        if let Some(g) = &s.cluster.generate {
            if g.zones == 0 {
                return Err(invalid("cluster.generate.zones", "must be at least 1"));
            }
            for i in 0..g.count {
                let name = format!("{}-{i}", g.prefix);
                let zone = zone_name(i % g.zones);
                let labels: Labels =
                    [(HOSTNAME.to_owned(), name.clone()), (ZONE.to_owned(), zone)].into();
                nodes.push(Node {
                    name,
                    labels,
                    capacity: g.capacity.unwrap_or(DEFAULT_CAPACITY).max(1),
                    cordoned: false,
                    down: false,
                    taints: Vec::new(),
                    pods: Vec::new(),
                });
            }
        }
        if nodes.is_empty() {
            return Err(invalid(
                "cluster",
                "no nodes: list cluster.nodes or use cluster.generate",
            ));
        }
        if nodes.len() > MAX_NODES as usize {
            return Err(invalid(
                "cluster",
                format!(
                    "{} nodes is more than the simulator models (at most {MAX_NODES})",
                    nodes.len()
                ),
            ));
        }
        let mut node_index = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            if node_index.insert(n.name.clone(), i).is_some() {
                return Err(invalid(
                    "cluster.nodes",
                    format!("node {} is listed twice", n.name),
                ));
            }
        }

        let mut workloads = Vec::new();
        let mut workload_index = HashMap::new();
        for (i, w) in s.workloads.iter().enumerate() {
            let f = format!("workloads[{i}]");
            let namespace = w.namespace.clone().unwrap_or_else(|| s.namespace.clone());
            let key = qualified(&s.namespace, &namespace, &w.name);
            if w.name.is_empty() || workload_index.insert(key.clone(), i).is_some() {
                return Err(invalid(
                    &format!("{f}.name"),
                    format!("workload name {key:?} is empty or used twice"),
                ));
            }
            if w.pods.len() > w.replicas as usize {
                return Err(invalid(
                    &format!("{f}.pods"),
                    format!(
                        "{} running pods for {} replicas: list at most replicas",
                        w.pods.len(),
                        w.replicas
                    ),
                ));
            }
            let mut placed = Vec::with_capacity(w.pods.len());
            for (j, p) in w.pods.iter().enumerate() {
                let Some(&n) = node_index.get(&p.node) else {
                    return Err(invalid(
                        &format!("{f}.pods[{j}].node"),
                        format!(
                            "node {:?} is not in the cluster; check cluster.nodes",
                            p.node
                        ),
                    ));
                };
                placed.push((p.name.clone(), n, p.ready));
            }
            if w.replicas > MAX_REPLICAS {
                return Err(invalid(
                    &format!("{f}.replicas"),
                    format!(
                        "{} is more than the simulator models (at most {MAX_REPLICAS} per workload)",
                        w.replicas
                    ),
                ));
            }
            let labels = if w.labels.is_empty() {
                [("app".to_owned(), w.name.clone())].into()
            } else {
                w.labels.clone()
            };
            if w.kind == WorkloadKind::StatefulSet && w.strategy.is_some() {
                return Err(invalid(
                    &format!("{f}.strategy"),
                    "StatefulSets roll one pod at a time; remove strategy",
                ));
            }
            if w.kind == WorkloadKind::Deployment && w.pod_management_policy.is_some() {
                return Err(invalid(
                    &format!("{f}.podManagementPolicy"),
                    "only StatefulSets have a pod management policy",
                ));
            }
            let strategy = match &w.strategy {
                Some(st) if st.type_ == StrategyType::Recreate => {
                    if st.max_surge.is_some() || st.max_unavailable.is_some() {
                        return Err(invalid(
                            &format!("{f}.strategy"),
                            "Recreate takes no maxSurge/maxUnavailable",
                        ));
                    }
                    Strategy::Recreate
                }
                st => {
                    let pick = |v: Option<&IntOrString>, name: &str| {
                        v.map(|v| rolling_value(v, &format!("{f}.strategy.{name}")))
                            .transpose()
                    };
                    let rolling = RollingUpdate::deployment(
                        pick(st.as_ref().and_then(|s| s.max_surge.as_ref()), "maxSurge")?,
                        pick(
                            st.as_ref().and_then(|s| s.max_unavailable.as_ref()),
                            "maxUnavailable",
                        )?,
                    );
                    // As the API server's validation: such a Deployment could never roll.
                    if !rolling.can_progress() {
                        return Err(invalid(
                            &format!("{f}.strategy.maxUnavailable"),
                            "may not be 0 when maxSurge is 0 (the rollout could never start; \
                             Kubernetes rejects it too): raise one of them",
                        ));
                    }
                    Strategy::Rolling(rolling)
                }
            };
            let readiness = match &w.readiness {
                None => ReadinessDist::Fixed(Dur::secs(10)),
                Some(Readiness {
                    fixed: Some(d),
                    uniform: None,
                    normal: None,
                }) => ReadinessDist::Fixed(*d),
                Some(Readiness {
                    fixed: None,
                    uniform: Some(u),
                    normal: None,
                }) => {
                    if u.min > u.max {
                        return Err(invalid(
                            &format!("{f}.readiness.uniform"),
                            "min is greater than max",
                        ));
                    }
                    ReadinessDist::Uniform {
                        min: u.min,
                        max: u.max,
                    }
                }
                Some(Readiness {
                    fixed: None,
                    uniform: None,
                    normal: Some(n),
                }) => ReadinessDist::Normal {
                    mean: n.mean,
                    stddev: n.stddev,
                },
                Some(_) => {
                    return Err(invalid(
                        &format!("{f}.readiness"),
                        "set exactly one of fixed, uniform and normal",
                    ));
                }
            };
            let spread = w
                .topology_spread
                .iter()
                .enumerate()
                .map(|(j, t)| {
                    if t.max_skew == 0 {
                        return Err(invalid(
                            &format!("{f}.topologySpread[{j}].maxSkew"),
                            "must be at least 1",
                        ));
                    }
                    Ok(SpreadRule {
                        key: topology_key(&t.topology_key),
                        max_skew: t.max_skew,
                        hard: t.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            for (j, t) in w.node_affinity.iter().enumerate() {
                check_term(t, &format!("{f}.nodeAffinity[{j}]"))?;
            }
            for (j, c) in w.zonal_claims.iter().enumerate() {
                if c.claim.is_empty() || c.zone.is_empty() {
                    return Err(invalid(
                        &format!("{f}.zonalClaims[{j}]"),
                        "name the claim and its volume's zone",
                    ));
                }
                if c.ordinal.is_some() && w.kind != WorkloadKind::StatefulSet {
                    return Err(invalid(
                        &format!("{f}.zonalClaims[{j}].ordinal"),
                        "only a StatefulSet's pods have ordinals; remove it to pin every pod",
                    ));
                }
            }
            let node_selector: Labels = w.node_selector.clone();
            let anti = w.anti_affinity.as_ref();
            workloads.push(Workload {
                kind: w.kind,
                name: w.name.clone(),
                namespace,
                key,
                replicas: w.replicas as i32,
                initial_replicas: w.replicas as i32,
                labels,
                strategy,
                ordered: w.pod_management_policy != Some(PodManagementPolicy::Parallel),
                min_ready_seconds: w.min_ready_seconds as i32,
                readiness,
                termination: w.termination.unwrap_or(Dur::secs(5)),
                anti_required: anti
                    .map(|a| a.required.iter().map(|k| topology_key(k)).collect())
                    .unwrap_or_default(),
                anti_preferred: anti
                    .map(|a| a.preferred.iter().map(|k| topology_key(k)).collect())
                    .unwrap_or_default(),
                spread,
                constrained: !node_selector.is_empty()
                    || !w.node_affinity.is_empty()
                    || !w.zonal_claims.is_empty()
                    || nodes.iter().any(|n| !n.taints.is_empty()),
                node_selector,
                node_affinity: w.node_affinity.clone(),
                tolerations: w.tolerations.clone(),
                zonal_claims: w.zonal_claims.clone(),
                placed,
                revision: 1,
                replica_sets: Vec::new(),
                pods: BTreeSet::new(),
                next_seq: 0,
                next_delete_at: 0,
                budgets: Vec::new(),
            });
        }

        let mut budgets: Vec<Budget> = Vec::new();
        // One probe pod per workload, as the workload would create it, so each budget below is
        // asked with the engine's own selector and targetRef semantics (built once: with 1,000
        // workloads and 1,000 budgets, building it per pair dominated the whole simulation).
        let probes: Vec<(PodFacts, OwnerRef)> = workloads
            .iter()
            .map(|w| (probe_pod(&w.namespace, &w.labels), w.owner_ref()))
            .collect();
        for (i, b) in s.budgets.iter().enumerate() {
            let f = format!("budgets[{i}]");
            let namespace = b.namespace.clone().unwrap_or_else(|| s.namespace.clone());
            if budgets
                .iter()
                .any(|x| x.id.name == b.name && x.id.namespace == namespace)
            {
                return Err(invalid(
                    &format!("{f}.name"),
                    format!("budget {} is defined twice", b.name),
                ));
            }
            let target_key = b
                .target_ref
                .as_ref()
                .map(|t| qualified(&s.namespace, &namespace, &t.name));
            let spec = budget_spec(b, &f, target_key.as_deref(), &workload_index)?;
            let kind = b.kind.budget_kind();
            let covered: Vec<usize> = probes
                .iter()
                .enumerate()
                .filter(|(_, (probe, owner))| {
                    probe.namespace == namespace && spec.selects(probe, std::slice::from_ref(owner))
                })
                .map(|(j, _)| j)
                .collect();
            for &w in &covered {
                workloads[w].budgets.push(budgets.len());
            }
            let id = BudgetId {
                kind,
                namespace,
                name: b.name.clone(),
            };
            budgets.push(Budget {
                id,
                spec,
                generation: 1,
                status: BudgetStatus::default(),
                workloads: covered,
                dirty: true,
            });
        }
        Ok(Self {
            namespace: s.namespace.clone(),
            nodes,
            workloads,
            budgets,
            node_index,
            workload_index,
        })
    }
}

/// A pod as a workload with these labels would create it, Running and Ready: what a budget's
/// selector is asked about to know whether it covers the workload.
pub fn probe_pod(namespace: &str, labels: &Labels) -> PodFacts {
    PodFacts {
        namespace: namespace.to_owned(),
        name: String::new(),
        labels: labels.clone(),
        controller: None,
        phase: steady_budget::PodPhase::Running,
        ready: true,
        ready_changed: None,
        terminating: false,
        created: None,
    }
}

/// Kubernetes' `Toleration.ToleratesTaint`: the effect matches (an empty one matches all), and
/// either the key is empty with `Exists` (every taint), or the key matches and the operator is
/// `Exists` or `Equal` (the default) with the same value.
pub fn tolerates(t: &scenario::Toleration, taint: &scenario::Taint) -> bool {
    if t.effect.is_some_and(|e| e != taint.effect) {
        return false;
    }
    let exists = t.operator == Some(scenario::TolerationOperator::Exists);
    if t.key.is_empty() {
        return exists;
    }
    t.key == taint.key && (exists || t.value == taint.value)
}

/// A required node affinity term on `node`: every expression on its labels and every field
/// requirement on its name hold; a term with neither matches nothing (as in Kubernetes).
pub fn term_matches(t: &scenario::NodeSelectorTerm, node: &Node) -> bool {
    if t.match_expressions.is_empty() && t.match_fields.is_empty() {
        return false;
    }
    t.match_expressions
        .iter()
        .all(|r| requirement_matches(r, node.labels.get(&topology_key(&r.key))))
        && t.match_fields
            .iter()
            .all(|r| requirement_matches(r, Some(&node.name)))
}

/// One `NodeSelectorRequirement` against the value the node has for its key (None: no such
/// label). `Gt`/`Lt` compare integers; a value that is not one matches neither.
pub fn requirement_matches(r: &scenario::NodeSelectorRequirement, value: Option<&String>) -> bool {
    use scenario::NodeSelectorOperator as Op;
    let int = |s: &str| s.trim().parse::<i64>().ok();
    match r.operator {
        Op::In => value.is_some_and(|v| r.values.contains(v)),
        Op::NotIn => value.is_none_or(|v| !r.values.contains(v)),
        Op::Exists => value.is_some(),
        Op::DoesNotExist => value.is_none(),
        Op::Gt | Op::Lt => {
            let (Some(have), Some(bound)) = (
                value.and_then(|v| int(v)),
                r.values.first().and_then(|b| int(b)),
            ) else {
                return false;
            };
            if r.operator == Op::Gt {
                have > bound
            } else {
                have < bound
            }
        }
    }
}

/// A node affinity term the API server would reject, said for the scenario field `f`.
fn check_term(t: &scenario::NodeSelectorTerm, f: &str) -> Result<(), Invalid> {
    use scenario::NodeSelectorOperator as Op;
    for (list, what) in [
        (&t.match_expressions, "matchExpressions"),
        (&t.match_fields, "matchFields"),
    ] {
        for (k, r) in list.iter().enumerate() {
            let at = format!("{f}.{what}[{k}]");
            let n = r.values.len();
            let ok = match r.operator {
                Op::In | Op::NotIn => n > 0,
                Op::Exists | Op::DoesNotExist => n == 0,
                Op::Gt | Op::Lt => n == 1 && r.values[0].trim().parse::<i64>().is_ok(),
            };
            if !ok {
                return Err(invalid(
                    &format!("{at}.values"),
                    format!(
                        "{:?} takes {}",
                        r.operator,
                        match r.operator {
                            Op::In | Op::NotIn => "one or more values",
                            Op::Exists | Op::DoesNotExist => "no values",
                            Op::Gt | Op::Lt => "exactly one integer value",
                        }
                    ),
                ));
            }
            if what == "matchFields"
                && (r.key != "metadata.name" || !matches!(r.operator, Op::In | Op::NotIn))
            {
                return Err(invalid(
                    &at,
                    "matchFields takes key metadata.name with In or NotIn only (as Kubernetes)",
                ));
            }
        }
    }
    Ok(())
}

pub fn zone_name(i: u32) -> String {
    let letters = b"abcdefghijklmnopqrstuvwxyz";
    if (i as usize) < letters.len() {
        format!("zone-{}", letters[i as usize] as char)
    } else {
        format!("zone-{i}")
    }
}

fn budget_spec(
    b: &scenario::Budget,
    f: &str,
    target_key: Option<&str>,
    workloads: &HashMap<String, usize>,
) -> Result<BudgetSpec, Invalid> {
    // What only a scenario can get wrong comes first, as it did when the simulator validated
    // budgets itself; the rest is the engine's validation, worded for the scenario's fields.
    match (&b.selector, &b.target_ref) {
        (Some(sel), None) if sel.is_empty() => {
            return Err(invalid(
                &format!("{f}.selector"),
                "an empty selector would cover every pod; name the labels",
            ));
        }
        (None, Some(t)) if !target_key.is_some_and(|k| workloads.contains_key(k)) => {
            return Err(invalid(
                &format!("{f}.targetRef.name"),
                format!("no workload named {}", t.name),
            ));
        }
        _ => {}
    }
    let kind = b.kind.budget_kind();
    let protect = match (kind, &b.protect_operations) {
        (_, None) => Ok(None),
        (BudgetKind::PodDisruptionBudget, Some(_)) => Err(invalid(
            &format!("{f}.protectOperations"),
            "PodDisruptionBudgets always guard evictions only; use a PodUnavailableBudget",
        )),
        (_, Some(ops)) => ops
            .iter()
            .map(|o| {
                Operation::parse(o).ok_or_else(|| {
                    invalid(
                        &format!("{f}.protectOperations"),
                        format!("{o:?} is not one of Delete, Evict, Update, Resize"),
                    )
                })
            })
            .collect::<Result<OperationSet, _>>()
            .map(Some),
    };
    let selector = b.selector.as_ref().map(|labels| LabelSelector {
        match_labels: Some(labels.clone()),
        match_expressions: None,
    });
    fn value(v: &IntOrString) -> ValueInput<'_> {
        match v {
            IntOrString::Int(n) => ValueInput::Int(*n),
            IntOrString::String(s) => ValueInput::String(s),
        }
    }
    let input = BudgetSpecInput {
        selector: selector.as_ref(),
        target_ref: b.target_ref.as_ref().map(|t| TargetRef {
            api_version: "apps/v1".into(),
            kind: match t.kind {
                WorkloadKind::Deployment => "Deployment",
                WorkloadKind::StatefulSet => "StatefulSet",
            }
            .into(),
            name: t.name.clone(),
        }),
        min_available: b.min_available.as_ref().map(value),
        max_unavailable: b.max_unavailable.as_ref().map(value),
        protect: protect.as_ref().ok().copied().flatten(),
        unhealthy_pod_policy: b.unhealthy_pod_policy.as_deref(),
        ..BudgetSpecInput::new(kind)
    };
    let scenario_error = |e: BudgetSpecError| match e {
        BudgetSpecError::Target(_) | BudgetSpecError::NoSelector => {
            invalid(f, "set exactly one of selector and targetRef")
        }
        BudgetSpecError::Policy(_) => {
            invalid(f, "set exactly one of minAvailable and maxUnavailable")
        }
        BudgetSpecError::Value { field, source } => {
            invalid(&format!("{f}.{field}"), source.to_string())
        }
        BudgetSpecError::UnhealthyPodPolicy { value, .. } => invalid(
            &format!("{f}.unhealthyPodPolicy"),
            format!("{value:?} is not IfHealthyBudget or AlwaysAllow"),
        ),
        // Not reachable from a scenario (matchLabels only, no totalReplicas), but worded anyway.
        e => invalid(f, e.to_string()),
    };
    // protectOperations is checked after the policy and before unhealthyPodPolicy.
    match (input.validate(), protect) {
        (Err(e), _) if !matches!(e, BudgetSpecError::UnhealthyPodPolicy { .. }) => {
            Err(scenario_error(e))
        }
        (_, Err(e)) => Err(e),
        (Err(e), _) => Err(scenario_error(e)),
        (Ok(spec), Ok(_)) => Ok(spec),
    }
}

/// Nodes of a zone in declaration order.
pub fn nodes_of_zone(nodes: &[Node], zone: &str) -> Vec<usize> {
    nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.labels.get(ZONE).map(String::as_str) == Some(zone))
        .map(|(i, _)| i)
        .collect()
}

/// The topology domains of one key: which domain each node is in (`None`: the node lacks the
/// label) and how many distinct domains there are.
pub struct Domains {
    pub of_node: Vec<Option<usize>>,
    pub count: usize,
}

/// Domains of every topology key any workload uses (anti-affinity and spread), numbered once so the
/// scheduler counts pods per domain in arrays instead of hashing label values per node and pod.
pub fn domains(nodes: &[Node], workloads: &[Workload]) -> BTreeMap<String, Domains> {
    let mut out: BTreeMap<String, Domains> = BTreeMap::new();
    let keys = workloads.iter().flat_map(|w| {
        w.anti_required
            .iter()
            .chain(&w.anti_preferred)
            .chain(w.spread.iter().map(|r| &r.key))
    });
    for key in keys {
        if out.contains_key(key) {
            continue;
        }
        let mut values: Vec<&String> = nodes.iter().filter_map(|n| n.labels.get(key)).collect();
        values.sort();
        values.dedup();
        let of_node = nodes
            .iter()
            .map(|n| {
                n.labels
                    .get(key)
                    .and_then(|v| values.binary_search(&v).ok())
            })
            .collect();
        out.insert(
            key.clone(),
            Domains {
                of_node,
                count: values.len(),
            },
        );
    }
    out
}
