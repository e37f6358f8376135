//! The scenario file: a modelled cluster, its workloads and budgets, and a timeline of operations.
//! Every struct denies unknown fields, so a misspelt key is an error naming it instead of a
//! silently ignored line. Durations are written as every duration of steady is (jiff's friendly format:
//! `90s`, `5m`, `1h30m`, `1h 30m`, `500ms`) or as a number of seconds.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};

/// A span of simulated time, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub u64);

impl Dur {
    pub fn secs(s: u64) -> Self {
        Self(s * 1000)
    }

    /// Parses a span written as every duration of steady is written: jiff's friendly format
    /// (`90s`, `1h30m`, `1h 30m`, `500ms`, `1.5s`, `5 minutes`), or a bare number of seconds.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty duration".into());
        }
        if s.starts_with('-') {
            return Err(negative(s));
        }
        if let Ok(n) = s.parse::<f64>() {
            return secs_to_ms(n).map(Self).map_err(|e| e.say(s));
        }
        let span: jiff::SignedDuration = s.parse().map_err(|e: jiff::Error| {
            // jiff names a number past 64 bits as such; the user asked for too long a span.
            if e.to_string().contains("too big") {
                OutOfRange::TooLong.say(s)
            } else {
                format!(
                    "duration {s:?} is not a duration: write e.g. 500ms, 30s, 5m, 1h30m or a number of seconds"
                )
            }
        })?;
        if span.is_negative() {
            return Err(negative(s));
        }
        let ms = span.as_millis();
        if ms > i128::from(MAX_SPAN.0) {
            return Err(OutOfRange::TooLong.say(s));
        }
        // A sub-millisecond part rounds to the nearest millisecond, as bare seconds do.
        let rounded = (span.as_nanos() + 500_000) / 1_000_000;
        Ok(Self(
            u64::try_from(rounded).unwrap_or(MAX_SPAN.0).min(MAX_SPAN.0),
        ))
    }
}

/// The longest span of simulated time a scenario may name (an `at`, a timeout, a horizon): past
/// it, millisecond arithmetic would lose meaning long before the report could say anything useful.
pub const MAX_SPAN: Dur = Dur(MAX_SPAN_DAYS * 24 * 3600 * 1000);
const MAX_SPAN_DAYS: u64 = 30;
/// The most pods one workload may ask for (replicas, a scale or HPA step, a surge). The simulator
/// materialises every pod; this keeps a run within memory and seconds on a laptop.
pub const MAX_REPLICAS: u32 = 100_000;
/// The most nodes a scenario may generate or list.
pub const MAX_NODES: u32 = 10_000;
/// The most pods one node may hold (the kubelet's default is 110).
pub const MAX_NODE_CAPACITY: u32 = 10_000;

enum OutOfRange {
    Negative,
    TooLong,
}

impl OutOfRange {
    fn say(self, s: &str) -> String {
        match self {
            Self::Negative => negative(s),
            Self::TooLong => format!(
                "duration {s:?} is longer than {MAX_SPAN_DAYS} days, the longest span the simulator models"
            ),
        }
    }
}

fn negative(s: &str) -> String {
    format!("duration {s:?} is negative: write 0 or more, such as 5s")
}

fn secs_to_ms(s: f64) -> Result<u64, OutOfRange> {
    // NaN is neither negative nor too long; call it negative (not a span at all) rather than pass.
    if s.is_nan() || s < 0.0 {
        return Err(OutOfRange::Negative);
    }
    let ms = (s * 1000.0).round();
    if !ms.is_finite() || ms > MAX_SPAN.0 as f64 {
        return Err(OutOfRange::TooLong);
    }
    Ok(ms as u64)
}

/// A count bounded by `max`, named `what` in the error (serde adds the line and column).
fn bounded<E: serde::de::Error>(n: u64, max: u32, what: &str) -> Result<u32, E> {
    if n > u64::from(max) {
        return Err(E::custom(format!(
            "{what} {n} is more than the simulator models (at most {max})"
        )));
    }
    Ok(n as u32)
}

fn replicas<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    bounded(u64::deserialize(d)?, MAX_REPLICAS, "replicas")
}

fn replica_steps<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
    Vec::<u64>::deserialize(d)?
        .into_iter()
        .map(|n| bounded(n, MAX_REPLICAS, "replicas"))
        .collect()
}

fn node_count<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    bounded(u64::deserialize(d)?, MAX_NODES, "node count")
}

fn capacity<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Option::<u64>::deserialize(d)?
        .map(|n| bounded(n, MAX_NODE_CAPACITY, "node capacity"))
        .transpose()
}

/// Formats simulated time as `1m05s`, `45s` or `2h03m`.
impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        let s = ms / 1000;
        if s >= 3600 {
            write!(f, "{}h{:02}m{:02}s", s / 3600, (s % 3600) / 60, s % 60)
        } else if s >= 60 {
            write!(f, "{}m{:02}s", s / 60, s % 60)
        } else if ms.is_multiple_of(1000) || s >= 10 {
            write!(f, "{s}s")
        } else {
            write!(f, "{:.1}s", ms as f64 / 1000.0)
        }
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => secs_to_ms(n)
                .map(Dur)
                .map_err(|e| serde::de::Error::custom(e.say(&n.to_string()))),
            Raw::Text(s) => Dur::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

/// Written back as `30s` or `500ms`: what a person would type, and exact.
impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(1000) {
            s.serialize_str(&format!("{}s", self.0 / 1000))
        } else {
            s.serialize_str(&format!("{}ms", self.0))
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl JsonSchema for Dur {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: a number of seconds, or a string such as \"500ms\", \"30s\", \"5m\", \"1h30m\".",
            "oneOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": "^([0-9.]+(ms|s|m|h))+$"}
            ]
        })
    }
}

/// A whole scenario.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scenario {
    /// Short name shown in reports.
    pub name: String,
    /// One or two sentences: what question the scenario answers.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Namespace of every workload and budget (default `default`).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Simulated time after which the run stops even if operations are still waiting (default 30m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon: Option<Dur>,
    pub cluster: Cluster,
    pub workloads: Vec<Workload>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<Budget>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Step>,
}

fn default_namespace() -> String {
    "default".into()
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Cluster {
    /// Nodes listed one by one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeSpec>,
    /// Nodes generated as `{prefix}-{i}` spread round-robin over zones `zone-a`, `zone-b`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<Generate>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeSpec {
    /// Also the node's `kubernetes.io/hostname` label.
    pub name: String,
    /// The node's `topology.kubernetes.io/zone` label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Maximum number of pods (default 110, as the kubelet).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "capacity"
    )]
    pub capacity: Option<u32>,
    /// Extra node labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Cordoned (or otherwise closed to new pods) from the start; default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cordoned: bool,
    /// Taints: a `NoSchedule` or `NoExecute` taint keeps every pod that does not tolerate it
    /// (`workloads[].tolerations`) off the node; `PreferNoSchedule` is only a preference and
    /// changes nothing here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
}

/// A node taint, as in the Node's `spec.taints`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    pub effect: TaintEffect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

/// A pod toleration, with Kubernetes' matching rules: `operator` `Equal` (default) matches the
/// key and value, `Exists` the key alone; an empty key with `Exists` tolerates every taint; an
/// empty `effect` matches every effect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Toleration {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<TolerationOperator>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<TaintEffect>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum TolerationOperator {
    Equal,
    Exists,
}

/// One `nodeSelectorTerms` entry of a required node affinity: every expression and field
/// requirement must hold (an empty term matches no node, as in Kubernetes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeSelectorTerm {
    /// On node labels (`hostname` and `zone` are the node's name and zone labels as elsewhere).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<NodeSelectorRequirement>,
    /// On node fields: `metadata.name` with `In` or `NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_fields: Vec<NodeSelectorRequirement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeSelectorRequirement {
    pub key: String,
    pub operator: NodeSelectorOperator,
    /// `In`/`NotIn`: one or more; `Exists`/`DoesNotExist`: none; `Gt`/`Lt`: one integer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum NodeSelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

/// A PersistentVolumeClaim bound to a volume that lives in one zone: a pod using it runs only on
/// a node of that zone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ZonalClaim {
    /// The claim's name (shown in reports).
    pub claim: String,
    pub zone: String,
    /// StatefulSets: the ordinal whose own claim (from `volumeClaimTemplates`) this is; its
    /// replacement keeps it. Absent: every pod of the workload mounts the claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordinal: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Generate {
    #[serde(deserialize_with = "node_count")]
    pub count: u32,
    #[serde(default = "one")]
    pub zones: u32,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "capacity"
    )]
    pub capacity: Option<u32>,
    #[serde(default = "default_prefix")]
    pub prefix: String,
}

fn one() -> u32 {
    1
}

fn default_prefix() -> String {
    "node".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Workload {
    pub kind: WorkloadKind,
    pub name: String,
    /// The workload's namespace when it is not the scenario's (a plan of a live cluster spans
    /// several); elsewhere in the scenario it is named `namespace/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(deserialize_with = "replicas")]
    pub replicas: u32,
    /// Pod template labels (default `app: <name>`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Deployments: `RollingUpdate` (default, with maxSurge / maxUnavailable, default 25% each) or
    /// `Recreate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// StatefulSets: `OrderedReady` (default) or `Parallel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_management_policy: Option<PodManagementPolicy>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_ready_seconds: u32,
    /// Time from a pod being bound to a node until it is Ready (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Readiness>,
    /// Time a pod takes to terminate after deletion or eviction (default 5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_affinity: Option<AntiAffinity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread: Vec<TopologySpread>,
    /// The pod template's `nodeSelector`: only nodes with all these labels take its pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Required node affinity (`requiredDuringSchedulingIgnoredDuringExecution`): a node must
    /// match at least one term.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_affinity: Vec<NodeSelectorTerm>,
    /// Taints its pods tolerate (see `cluster.nodes[].taints`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Claims bound to volumes in one zone, which pin the pods using them to that zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zonal_claims: Vec<ZonalClaim>,
    /// Pods already running at time 0 and where (a plan of a live cluster): they start on these
    /// nodes instead of being placed by the scheduler. At most `replicas` of them; missing
    /// ones are created and scheduled as usual.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<RunningPod>,
}

/// A pod running at time 0.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RunningPod {
    pub name: String,
    pub node: String,
    /// Not Ready pods stay so until replaced (the simulator cannot know when they would
    /// recover); default true.
    #[serde(default = "yes", skip_serializing_if = "Clone::clone")]
    pub ready: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Strategy {
    #[serde(rename = "type", default)]
    pub type_: StrategyType,
    /// An integer or a percentage such as "25%".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum StrategyType {
    #[default]
    RollingUpdate,
    Recreate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum PodManagementPolicy {
    OrderedReady,
    Parallel,
}

/// An integer or a string such as "25%".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

/// How long a pod takes to become Ready once bound: exactly one of `fixed`, `uniform` or
/// `normal`; distributions are drawn from with the run's seed.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Readiness {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uniform: Option<Uniform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normal: Option<Normal>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Uniform {
    pub min: Dur,
    pub max: Dur,
}

/// Draws below 0 are taken as 0.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Normal {
    pub mean: Dur,
    pub stddev: Dur,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AntiAffinity {
    /// Topology keys where two pods of the workload must never share a domain
    /// (`hostname`, `zone` or a full node label key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
    /// Topology keys where the scheduler prefers to keep them apart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferred: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TopologySpread {
    /// `hostname`, `zone` or a full node label key.
    pub topology_key: String,
    #[serde(default = "one")]
    pub max_skew: u32,
    #[serde(default)]
    pub when_unsatisfiable: WhenUnsatisfiable,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum WhenUnsatisfiable {
    #[default]
    DoNotSchedule,
    ScheduleAnyway,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum BudgetKindSpec {
    /// Guards evictions only, like Kubernetes' PodDisruptionBudget.
    PodDisruptionBudget,
    /// steady's budget: guards Delete, Evict, Update and Resize (or `protectOperations`).
    PodUnavailableBudget,
}

impl BudgetKindSpec {
    pub fn budget_kind(self) -> steady_budget::BudgetKind {
        match self {
            Self::PodDisruptionBudget => steady_budget::BudgetKind::PodDisruptionBudget,
            Self::PodUnavailableBudget => steady_budget::BudgetKind::PodUnavailableBudget,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Budget {
    pub kind: BudgetKindSpec,
    pub name: String,
    /// The budget's namespace when it is not the scenario's; it covers workloads of its own
    /// namespace only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `matchLabels`; exactly one of selector and targetRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<BudgetTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// PodUnavailableBudget only: subset of Delete, Evict, Update, Resize.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect_operations: Option<Vec<String>>,
    /// `IfHealthyBudget` (default) or `AlwaysAllow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_pod_policy: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BudgetTarget {
    pub kind: WorkloadKind,
    pub name: String,
}

/// One timeline entry: when it starts and exactly one operation.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Step {
    /// A name other steps can wait for with `after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Start time; with `after`, the delay after that step finished (default 0s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Dur>,
    /// Start once the named step has finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<Drain>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cordon: Option<NodeSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncordon: Option<NodeSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<Scale>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpa: Option<Hpa>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_node: Option<FailNode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<InPlaceUpdate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<Resize>,
}

/// An in-place pod `UPDATE` of every pod of a workload (a new container image on the live pod,
/// as OpenKruise's in-place update does): the container restarts, so the pod is not Ready again
/// until its readiness delay has passed. A PodDisruptionBudget never sees it; a
/// PodUnavailableBudget guarding Update does. Refused changes are retried every 5 s.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InPlaceUpdate {
    pub workload: String,
    /// Pods changed at the same time (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<u32>,
}

/// A `pods/resize` of every pod of a workload (as an in-place vertical autoscaler does). It
/// restarts the container only when the container's `resizePolicy` for the resource says
/// `RestartContainer`; otherwise it is no disruption and no budget is asked.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resize {
    pub workload: String,
    /// `cpu` (default) or `memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The container's resizePolicy for the resource: `NotRequired` (default, as in Kubernetes)
    /// or `RestartContainer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    /// Pods changed at the same time (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<u32>,
}

/// Like `kubectl drain`: cordon the nodes, evict every pod of a node at once, retry each refused
/// eviction every 5 s, and wait until the pods are gone.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Drain {
    /// Nodes in the order they are drained.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// Or every node of these zones, zone by zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    /// Nodes drained at the same time (default 1: one by one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<u32>,
    /// Give up (as `kubectl drain --timeout`) after this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Dur>,
    /// Uncordon each node once drained plus `downtime` (a maintenance reboot); default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uncordon: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime: Option<Dur>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeSet {
    pub nodes: Vec<String>,
}

/// A new pod template: every pod is replaced by the workload's own strategy.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rollout {
    pub workload: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scale {
    pub workload: String,
    #[serde(deserialize_with = "replicas")]
    pub replicas: u32,
}

/// Autoscaler-like replica changes, each applied `every` after the previous one.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Hpa {
    pub workload: String,
    #[serde(deserialize_with = "replica_steps")]
    pub replicas: Vec<u32>,
    /// Default 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Dur>,
}

/// Involuntary: the node's pods vanish at once and no budget is asked.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FailNode {
    pub node: String,
    /// The node comes back (empty, schedulable) after this long; default never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recover_after: Option<Dur>,
}

/// A problem in a scenario, with the field it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Parses a scenario from YAML text. Errors carry the field path, line and column.
pub fn parse(text: &str) -> Result<Scenario, String> {
    steady_manifest::codec::from_str(text).map_err(|e| e.to_string())
}

/// The JSON schema of the scenario format.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Scenario)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(Dur::parse("90s"), Ok(Dur(90_000)));
        assert_eq!(Dur::parse("1h30m"), Ok(Dur(5_400_000)));
        assert_eq!(Dur::parse("500ms"), Ok(Dur(500)));
        assert_eq!(Dur::parse("2.5"), Ok(Dur(2500)));
        assert_eq!(Dur::parse("1h 30m"), Ok(Dur(5_400_000)));
        assert_eq!(Dur::parse("5 minutes"), Ok(Dur(300_000)));
        assert_eq!(Dur::parse("1.5s"), Ok(Dur(1500)));
        assert_eq!(Dur::parse("0.0004s"), Ok(Dur(0)));
        let e = Dur::parse("5 weeks").unwrap_err();
        assert!(e.contains("is not a duration"), "{e}");
        let e = Dur::parse("5x").unwrap_err();
        assert!(e.contains("is not a duration"), "{e}");
        let e = Dur::parse("18446744073709551616s").unwrap_err();
        assert!(e.contains("longer than"), "{e}");
        let e = Dur::parse("31d").unwrap_err();
        assert!(e.contains("is not a duration"), "{e}");
        let e = Dur::parse("721h").unwrap_err();
        assert!(e.contains("longer than"), "{e}");
        assert!(Dur::parse("10").is_ok());
        assert!(Dur::parse("-3").is_err());
        assert_eq!(Dur(65_000).to_string(), "1m05s");
        assert_eq!(Dur(2500).to_string(), "2.5s");
    }

    #[test]
    fn unknown_fields_are_named() {
        let err = parse("name: x\ncluster: {nodes: []}\nworkloads: []\nbudgets: []\nfoo: 1\n")
            .unwrap_err();
        assert!(err.contains("unknown field `foo`"), "{err}");
        let err = parse(
            "name: x\ncluster: {nodes: []}\nworkloads:\n  - kind: Deployment\n    name: a\n    replicas: 1\n    replica: 2\n",
        )
        .unwrap_err();
        assert!(err.contains("replica") && err.contains("line"), "{err}");
        assert!(
            err.starts_with("workloads[0]: unknown field `replica`")
                && err.ends_with("at line 7 column 5"),
            "{err}"
        );
    }

    #[test]
    fn a_duplicate_key_is_refused_by_name() {
        let err = parse("name: x\ncluster: {nodes: []}\nworkloads: []\nname: y\n").unwrap_err();
        assert!(
            err.contains("duplicate") && err.contains("`name`") && err.contains("line 4"),
            "{err}"
        );
    }

    /// A duration is read through an untagged enum, which buffers whatever value it is given:
    /// there an alias bomb (nine levels of nine-fold aliases, 387 million strings) would be
    /// expanded in memory if nothing bounded it.
    #[test]
    fn an_alias_bomb_in_a_buffered_value_is_refused_quickly() {
        let mut text = String::from("name: x\nhorizon:\n  - &l0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let refs = vec![format!("*l{}", i - 1); 9].join(", ");
            text.push_str(&format!("  - &l{i} [{refs}]\n"));
        }
        text.push_str("cluster: {nodes: []}\nworkloads: []\n");
        let start = std::time::Instant::now();
        let err = parse(&text).unwrap_err();
        assert!(err.contains("too large or too complex"), "{err}");
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn schema_names_the_top_level_fields() {
        let s = schema();
        let props = &s["properties"];
        for f in ["cluster", "workloads", "budgets", "timeline"] {
            assert!(props.get(f).is_some(), "{f} missing from schema");
        }
    }
}
