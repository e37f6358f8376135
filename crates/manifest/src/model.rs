//! The objects read: a few normalised shapes (workload, Service, HPA, budget) built from the
//! Kubernetes types, each with the file and line it came from. They keep every field a consumer
//! reads (`steady check`'s rules, `steady sim --from`) and no other, so nothing parses a manifest
//! twice and 100,000 objects stay small.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::{v1 as hpa1, v2 as hpa2};
use k8s_openapi::api::core::v1::{
    self as core, Affinity, ExecAction, Pod, ReplicationController, ResourceRequirements, Service,
    SleepAction,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use steady_budget::selector::Selector;
use steady_budget::{BudgetKind, BudgetSpecInput, ValueInput};

/// A pod's labels, sorted by key. A pair list, not a map: a `BTreeMap`'s smallest allocation is
/// one 544-byte node, which for 25,000 workloads with two labels each is 13 MB of a 200 MB
/// budget for 100,000 objects; the pairs take 48 bytes each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(Box<[(String, String)]>);

impl Labels {
    pub fn get(&self, key: &str) -> Option<&String> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The labels in key order, as a map's iterator gives them.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
    /// The map form `steady_budget` and `steady sim` take.
    pub fn to_map(&self) -> steady_budget::Labels {
        self.0.iter().cloned().collect()
    }
    /// `steady_budget::Selector::matches` on these labels, without building a map for every
    /// candidate.
    pub fn selected_by(&self, sel: &Selector) -> bool {
        sel.matches_with(|key| self.get(key).map(String::as_str))
    }
}

impl From<steady_budget::Labels> for Labels {
    fn from(m: steady_budget::Labels) -> Self {
        // A map iterates in key order, so the pairs come out sorted.
        Self(m.into_iter().collect())
    }
}

/// A workload's `spec.selector`: `matchLabels` as a pair list (see [`Labels`]), the expressions
/// as written. Kept compact for the same reason as the labels it selects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkloadSelector {
    pub match_labels: Labels,
    pub match_expressions: Option<Vec<LabelSelectorRequirement>>,
}

impl WorkloadSelector {
    /// Whether pods carrying `labels` are selected, as `steady_budget::Selector` judges it (an
    /// invalid expression selects nothing), without building a map per workload.
    pub fn selects(&self, labels: &Labels) -> bool {
        let by_labels = self
            .match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v));
        by_labels
            && match self.match_expressions.as_deref() {
                None | Some([]) => true,
                Some(e) => Selector::from_k8s(&LabelSelector {
                    match_labels: None,
                    match_expressions: Some(e.to_vec()),
                })
                .is_ok_and(|s| labels.selected_by(&s)),
            }
    }
    /// The k8s-openapi form, for `steady_budget::Selector::from_k8s` to validate.
    pub fn to_k8s(&self) -> LabelSelector {
        LabelSelector {
            match_labels: Some(self.match_labels.to_map()),
            match_expressions: self.match_expressions.clone(),
        }
    }
}

impl From<LabelSelector> for WorkloadSelector {
    fn from(s: LabelSelector) -> Self {
        Self {
            match_labels: s.match_labels.unwrap_or_default().into(),
            match_expressions: s.match_expressions,
        }
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a String, &'a String),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

/// Where an object came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The path as given on the command line (or `-`, or `cluster`).
    pub file: Arc<str>,
    /// 1-based line of the object's first key; 0 when unknown (cluster objects).
    pub line: usize,
    /// 0-based index of the document in its file.
    pub doc: usize,
}

#[derive(Debug, Clone)]
pub struct Object {
    pub source: Source,
    pub api_version: String,
    /// One of the kinds the checker reads (see [`decode`]): static, so 100,000 objects keep no
    /// copy of it.
    pub kind: &'static str,
    pub name: String,
    /// Namespace, `default` when the manifest does not say.
    pub namespace: String,
    pub annotations: BTreeMap<String, String>,
    pub body: Body,
}

#[derive(Debug, Clone)]
pub enum Body {
    Workload(Box<Workload>),
    Service(ServiceInfo),
    // Boxed, like the workload: every object carries a Body, and the largest variant sets its
    // size for all 100,000 of them.
    Hpa(Box<HpaInfo>),
    Budget(Box<BudgetInfo>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    ReplicationController,
    Pod,
}

#[derive(Debug, Clone)]
pub struct Workload {
    pub kind: WorkloadKind,
    /// `spec.replicas` as written (None: unset, Kubernetes defaults it to 1).
    pub replicas: Option<i32>,
    pub selector: Option<WorkloadSelector>,
    pub labels: Labels,
    /// None when the pod template has no annotations (the common case: a map here kept 16 bytes
    /// more in every workload).
    pub template_annotations: Option<Box<BTreeMap<String, String>>>,
    pub spec: PodSpec,
    pub min_ready_seconds: Option<i32>,
    pub progress_deadline_seconds: Option<i32>,
    /// `strategy.type` / `updateStrategy.type`.
    pub strategy: Option<Box<str>>,
    /// Rolling-update `maxUnavailable` as written.
    pub max_unavailable: Option<IntOrString>,
    /// A Deployment's rolling-update `maxSurge` as written.
    pub max_surge: Option<IntOrString>,
    // `Box<str>`, not `String`: with the two fields above, a `Workload` is a 320-byte allocation
    // instead of 384 (40,000 Deployments on the issue-13 corpus: 2.5 MB).
    pub pod_management_policy: Option<Box<str>>,
    pub service_name: Option<Box<str>>,
    /// Has a controller owner (a ReplicaSet of a Deployment, a Pod of a ReplicaSet): judged
    /// through its owner, not on its own.
    pub owned: bool,
    /// A ReplicaSet's controller owner, `(kind, name)`: `steady plan` finds a pod's Deployment
    /// through it.
    pub controller: Option<Box<(String, String)>>,
    /// A StatefulSet's `volumeClaimTemplates` names (each ordinal's claim is
    /// `<template>-<name>-<ordinal>`).
    pub claim_templates: Option<Box<[String]>>,
}

/// The part of a pod spec that the rules (and `steady sim --from`) read, with k8s-openapi's field
/// names and types; every other field is skipped while decoding. k8s-openapi's own `PodSpec` is
/// 1.4 KB and each of its `Container`s 2.1 KB before any heap allocation: kept for 25,000
/// workloads that alone is 90 MB of a 200 MB budget for 100,000 objects.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default, deserialize_with = "null_as_default")]
    pub containers: Vec<Container>,
    pub termination_grace_period_seconds: Option<i64>,
    pub affinity: Option<Box<Affinity>>,
    #[serde(default, deserialize_with = "spread_constraints")]
    pub topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,
    pub priority_class_name: Option<String>,
    /// Read for `steady plan` (which nodes take the pods); no rule reads them. Decoded leniently,
    /// as before they were read: a malformed value is None, never a load error.
    #[serde(default, deserialize_with = "lenient")]
    pub node_selector: Option<Box<BTreeMap<String, String>>>,
    #[serde(default, deserialize_with = "lenient")]
    pub tolerations: Option<Box<[core::Toleration]>>,
    /// The claim names of the `persistentVolumeClaim` volumes (leniently, as above).
    #[serde(default, rename = "volumes", deserialize_with = "claim_names")]
    pub claim_names: Option<Box<[String]>>,
}

/// A field the loader did not read before `steady plan` needed it: a value that does not fit
/// the type is None rather than an error, so loading manifests fails for no more documents.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.and_then(|v| serde_json::from_value(v).ok()))
}

fn claim_names<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<[String]>>, D::Error> {
    let volumes: Option<Vec<core::Volume>> = lenient(d)?;
    Ok(volumes.map(|v| {
        v.into_iter()
            .filter_map(|v| v.persistent_volume_claim.map(|c| c.claim_name))
            .collect()
    }))
}

/// The part of a container the rules read; see [`PodSpec`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "container_ports")]
    pub ports: Option<Vec<ContainerPort>>,
    #[serde(default, deserialize_with = "probe")]
    pub readiness_probe: Option<Box<Probe>>,
    #[serde(default, deserialize_with = "probe")]
    pub liveness_probe: Option<Box<Probe>>,
    #[serde(default, deserialize_with = "probe")]
    pub startup_probe: Option<Box<Probe>>,
    #[serde(default, deserialize_with = "lifecycle")]
    pub lifecycle: Option<Box<Lifecycle>>,
    #[serde(default, deserialize_with = "requested_resources")]
    pub resources: Option<Resources>,
}

// The compact forms below are what the rules read of k8s-openapi's types. Each field is still
// decoded with the k8s-openapi type (so the schema and its errors are the same), then cut down.
// On the issue-13 corpus (100,000 objects, 40,000 Deployments) the k8s-openapi forms cost a
// Deployment with two probes, a preStop hook and a spread constraint about 2 KB: `Probe` is a
// 320-byte allocation, `Lifecycle` 448, `TopologySpreadConstraint` 224 plus a 640-byte B-tree
// node for its two-string `matchLabels`, `ContainerPort` 96.

/// A container port as the rules read it: its name and hostPort.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub host_port: Option<i32>,
}

fn container_ports<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<ContainerPort>>, D::Error> {
    Ok(
        Option::<Vec<core::ContainerPort>>::deserialize(d)?.map(|ports| {
            ports
                .into_iter()
                .map(|p| ContainerPort {
                    name: p.name,
                    host_port: p.host_port,
                })
                .collect()
        }),
    )
}

/// A probe as the rules read it: the port its httpGet or tcpSocket action calls, and the whole
/// probe in a canonical form (k8s-openapi's JSON serialisation, which writes every set field in
/// a fixed order), so two probes are equal exactly when their k8s-openapi values are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    port: Option<IntOrString>,
    /// `steady sim --from` starts a pod's readiness after the slowest probe's delay.
    initial_delay_seconds: Option<i32>,
    /// `steady plan` adds one period to it.
    period_seconds: Option<i32>,
    canonical: Box<str>,
}

impl Probe {
    /// The port of the probe's httpGet action, else of its tcpSocket action.
    pub fn port(&self) -> Option<&IntOrString> {
        self.port.as_ref()
    }
    /// `initialDelaySeconds` as written.
    pub fn initial_delay_seconds(&self) -> Option<i32> {
        self.initial_delay_seconds
    }
    /// `periodSeconds` as written.
    pub fn period_seconds(&self) -> Option<i32> {
        self.period_seconds
    }
}

impl From<core::Probe> for Probe {
    fn from(p: core::Probe) -> Self {
        let canonical = serde_json::to_string(&p).unwrap_or_default().into();
        let port = match (p.http_get, p.tcp_socket) {
            (Some(h), _) => Some(h.port),
            (None, Some(t)) => Some(t.port),
            (None, None) => None,
        };
        Self {
            port,
            initial_delay_seconds: p.initial_delay_seconds,
            period_seconds: p.period_seconds,
            canonical,
        }
    }
}

fn probe<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<Probe>>, D::Error> {
    Ok(Option::<core::Probe>::deserialize(d)?.map(|p| Box::new(p.into())))
}

/// A container's `lifecycle` as the rules read it: the preStop hook's sleep and exec actions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lifecycle {
    pub pre_stop: Option<LifecycleHandler>,
}

/// The parts of a lifecycle handler the rules read (how long a preStop hook sleeps).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LifecycleHandler {
    pub exec: Option<ExecAction>,
    pub sleep: Option<SleepAction>,
}

fn lifecycle<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<Lifecycle>>, D::Error> {
    Ok(Option::<core::Lifecycle>::deserialize(d)?.map(|l| {
        Box::new(Lifecycle {
            pre_stop: l.pre_stop.map(|h| LifecycleHandler {
                exec: h.exec,
                sleep: h.sleep,
            }),
        })
    }))
}

/// A topologySpreadConstraint as the rules read it; the label selector in the compact form of
/// [`WorkloadSelector`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopologySpreadConstraint {
    pub label_selector: Option<WorkloadSelector>,
    pub max_skew: i32,
    pub min_domains: Option<i32>,
    pub topology_key: String,
    pub when_unsatisfiable: String,
}

fn spread_constraints<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<TopologySpreadConstraint>>, D::Error> {
    Ok(
        Option::<Vec<core::TopologySpreadConstraint>>::deserialize(d)?.map(|v| {
            v.into_iter()
                .map(|t| TopologySpreadConstraint {
                    label_selector: t.label_selector.map(WorkloadSelector::from),
                    max_skew: t.max_skew,
                    min_domains: t.min_domains,
                    topology_key: t.topology_key,
                    when_unsatisfiable: t.when_unsatisfiable,
                })
                .collect()
        }),
    )
}

/// A container's `resources` as the rules read them: which resources it requests. Limits and
/// quantities are checked against the schema while decoding, then dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// Names of the requested resources (`cpu`, `memory`, …), sorted; None when `requests` is
    /// not set.
    pub requests: Option<Vec<String>>,
}

fn requested_resources<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Resources>, D::Error> {
    Ok(
        Option::<ResourceRequirements>::deserialize(d)?.map(|r| Resources {
            requests: r.requests.map(|m| m.into_keys().collect()),
        }),
    )
}

/// Required fields read as k8s-openapi reads them: absent or `null` is the default.
fn null_as_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone)]
pub struct ServiceInfo {
    /// None: a Service without a selector (endpoints managed by hand).
    pub selector: Option<Labels>,
    pub headless: bool,
}

#[derive(Debug, Clone)]
pub struct HpaInfo {
    pub target_kind: String,
    pub target_name: String,
    pub min_replicas: Option<i32>,
    pub max_replicas: i32,
    /// Resources with a Utilization target: (resource, Some(container) for ContainerResource).
    pub utilization: Vec<(String, Option<String>)>,
}

#[derive(Debug, Clone)]
pub struct BudgetInfo {
    /// true for a PodUnavailableBudget, false for a PodDisruptionBudget.
    pub is_pub: bool,
    pub selector: Option<LabelSelector>,
    pub target_ref: Option<TargetRef>,
    pub min_available: Option<IntOrString>,
    pub max_unavailable: Option<IntOrString>,
    pub unhealthy_policy: Option<String>,
    pub total_replicas: Option<i32>,
    /// A PodUnavailableBudget's `protectOperations` as written (`steady sim --from` guards these
    /// operations); None when unset, and for a PodDisruptionBudget.
    pub protect_operations: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TargetRef {
    #[serde(default)]
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

impl BudgetInfo {
    pub fn kind(&self) -> BudgetKind {
        if self.is_pub {
            BudgetKind::PodUnavailableBudget
        } else {
            BudgetKind::PodDisruptionBudget
        }
    }

    /// The spec as the engine's validation reads it: what the webhook would make of this budget.
    pub fn spec_input(&self) -> BudgetSpecInput<'_> {
        BudgetSpecInput {
            selector: self.selector.as_ref(),
            target_ref: self.target_ref.as_ref().map(|t| steady_budget::TargetRef {
                api_version: t.api_version.clone(),
                kind: t.kind.clone(),
                name: t.name.clone(),
            }),
            min_available: self.min_available.as_ref().map(ValueInput::from),
            max_unavailable: self.max_unavailable.as_ref().map(ValueInput::from),
            unhealthy_pod_policy: self.unhealthy_policy.as_deref(),
            total_replicas: self.total_replicas,
            ..BudgetSpecInput::new(self.kind())
        }
    }
}

impl Object {
    pub fn workload(&self) -> Option<&Workload> {
        match &self.body {
            Body::Workload(w) => Some(w),
            _ => None,
        }
    }
    pub fn budget(&self) -> Option<&BudgetInfo> {
        match &self.body {
            Body::Budget(b) => Some(b.as_ref()),
            _ => None,
        }
    }
    pub fn hpa(&self) -> Option<&HpaInfo> {
        match &self.body {
            Body::Hpa(h) => Some(h.as_ref()),
            _ => None,
        }
    }
    pub fn service(&self) -> Option<&ServiceInfo> {
        match &self.body {
            Body::Service(s) => Some(s),
            _ => None,
        }
    }
    /// `Deployment/web` (with the namespace when it is not `default`).
    pub fn display(&self) -> String {
        if self.namespace == "default" {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.namespace, self.kind, self.name)
        }
    }
}

/// Minimal view of OpenKruise's `policy.kruise.io` PodUnavailableBudget; steady's own is read
/// with `steady_api::PodUnavailableBudget`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PubObject {
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: PubSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PubSpec {
    selector: Option<LabelSelector>,
    target_ref: Option<TargetRef>,
    min_available: Option<IntOrString>,
    max_unavailable: Option<IntOrString>,
    unhealthy_pod_policy: Option<String>,
    total_replicas: Option<i32>,
    /// Not in OpenKruise's schema: any value is accepted, and the strings in a list are kept
    /// (what `steady sim --from` read of it before it used this model).
    protect_operations: Option<Value>,
}

/// The strings of a JSON list; None for anything else.
fn strings(v: Value) -> Option<Vec<String>> {
    match v {
        Value::Array(a) => Some(
            a.into_iter()
                .filter_map(|x| match x {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

/// steady's own PodUnavailableBudget, as `steady_api` declares it, mirrored here so that loading
/// manifests does not bring in kube (through the CRD derive). The type names are the same as
/// `steady_api`'s because serde writes them into its errors ("expected struct TargetReference");
/// a test decodes the same documents with both and compares.
mod steady_pub {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct PodUnavailableBudget {
        pub metadata: ObjectMeta,
        pub spec: PodUnavailableBudgetSpec,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct PodUnavailableBudgetSpec {
        #[serde(default)]
        pub selector: Option<LabelSelector>,
        #[serde(default)]
        pub target_ref: Option<TargetReference>,
        #[serde(default)]
        pub min_available: Option<IntOrString>,
        #[serde(default)]
        pub max_unavailable: Option<IntOrString>,
        #[serde(default)]
        pub protect_operations: Option<Vec<ProtectOperation>>,
        #[serde(default)]
        pub unhealthy_pod_policy: Option<UnhealthyPodPolicy>,
        #[serde(default)]
        pub total_replicas: Option<i32>,
        #[serde(default)]
        #[allow(dead_code, reason = "decoded for its schema only")]
        pub ignored_pod_selector: Option<LabelSelector>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct TargetReference {
        pub api_version: String,
        pub kind: String,
        pub name: String,
    }

    #[derive(Debug, Clone, Copy, Deserialize)]
    pub enum ProtectOperation {
        Delete,
        Evict,
        Update,
        Resize,
    }

    #[derive(Debug, Clone, Copy, Deserialize)]
    pub enum UnhealthyPodPolicy {
        IfHealthyBudget,
        AlwaysAllow,
    }

    impl ProtectOperation {
        /// The engine's operation, whose name the model keeps (as `steady_api`'s does).
        pub fn operation(self) -> steady_budget::Operation {
            match self {
                Self::Delete => steady_budget::Operation::Delete,
                Self::Evict => steady_budget::Operation::Evict,
                Self::Update => steady_budget::Operation::Update,
                Self::Resize => steady_budget::Operation::Resize,
            }
        }
    }

    impl UnhealthyPodPolicy {
        pub fn as_str(self) -> &'static str {
            match self {
                Self::IfHealthyBudget => "IfHealthyBudget",
                Self::AlwaysAllow => "AlwaysAllow",
            }
        }
    }
}

/// Why a document is not a usable object.
#[derive(Debug, thiserror::Error)]
#[error("{kind} does not match the Kubernetes schema{}: {source}", at(path))]
pub struct DecodeError {
    pub kind: String,
    /// The field the error is about, from the object's root; empty when not known (see
    /// [`decode_explained`]).
    pub path: Vec<PathSegment>,
    #[source]
    pub source: serde_json::Error,
}

/// One step of a field path: `spec`, `containers`, `[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

/// `spec.template.spec.containers[0].name`, as `kubectl explain` and the API server's errors
/// write a field.
pub fn field_path(path: &[PathSegment]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSegment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn at(path: &[PathSegment]) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" at {}", field_path(path))
    }
}

/// An API version Kubernetes no longer serves for a kind: the release that removed it and the
/// version to use instead, whose fields are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemovedApi {
    pub removed_in: &'static str,
    pub replacement: &'static str,
    /// The removed version defaulted an absent `spec.selector` to the template's labels; the
    /// replacement requires it.
    pub selector_from_template: bool,
}

/// The removed API versions the checker still reads (with the replacement's type), from the
/// Kubernetes deprecated API migration guide. `autoscaling/v2beta1` is not here: its metric
/// fields differ from `autoscaling/v2`.
pub fn removed_api(api_version: &str, kind: &str) -> Option<RemovedApi> {
    let workload = matches!(
        kind,
        "Deployment" | "DaemonSet" | "StatefulSet" | "ReplicaSet"
    );
    let r = |removed_in, replacement, selector_from_template| RemovedApi {
        removed_in,
        replacement,
        selector_from_template,
    };
    match api_version {
        "extensions/v1beta1" | "apps/v1beta1" if workload => Some(r("1.16", "apps/v1", true)),
        "apps/v1beta2" if workload => Some(r("1.16", "apps/v1", false)),
        "policy/v1beta1" if kind == "PodDisruptionBudget" => Some(r("1.25", "policy/v1", false)),
        "autoscaling/v2beta2" if kind == "HorizontalPodAutoscaler" => {
            Some(r("1.26", "autoscaling/v2", false))
        }
        _ => None,
    }
}

/// The kinds [`decode`] makes objects of.
pub const KINDS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Pod",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "PodUnavailableBudget",
];

/// How the typed decode runs: fast, or keeping the path of the field an error is about (only
/// after a fast decode failed: the path costs an allocation per key).
#[derive(Clone, Copy)]
enum Mode {
    Fast,
    Explained,
}

fn typed<T: DeserializeOwned>(
    v: Value,
    mode: Mode,
    prefix: &[&str],
) -> Result<T, (Vec<PathSegment>, serde_json::Error)> {
    match mode {
        Mode::Fast => serde_json::from_value(v).map_err(|e| (Vec::new(), e)),
        Mode::Explained => serde_path_to_error::deserialize(v).map_err(|e| {
            let mut path: Vec<PathSegment> = prefix
                .iter()
                .map(|k| PathSegment::Key((*k).to_owned()))
                .collect();
            for seg in e.path().iter() {
                match seg {
                    serde_path_to_error::Segment::Seq { index } => {
                        path.push(PathSegment::Index(*index))
                    }
                    serde_path_to_error::Segment::Map { key } => {
                        path.push(PathSegment::Key(key.clone()))
                    }
                    serde_path_to_error::Segment::Enum { variant } => {
                        path.push(PathSegment::Key(variant.clone()))
                    }
                    serde_path_to_error::Segment::Unknown => {}
                }
            }
            (path, e.into_inner())
        }),
    }
}

/// Builds an object from one decoded document. `Ok(None)` for kinds the checker does not read.
pub fn decode(
    value: Value,
    source: Source,
    default_namespace: &str,
) -> Result<Option<Object>, DecodeError> {
    decode_in(value, source, default_namespace, Mode::Fast)
}

/// The error [`decode`] gives for `value`, with the path of the field it is about. Slower; for a
/// document that failed.
pub fn decode_explained(
    value: Value,
    source: Source,
    default_namespace: &str,
) -> Option<DecodeError> {
    decode_in(value, source, default_namespace, Mode::Explained).err()
}

fn decode_in(
    mut value: Value,
    source: Source,
    default_namespace: &str,
    mode: Mode,
) -> Result<Option<Object>, DecodeError> {
    prune(&mut value);
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some(removed) = removed_api(&api_version, &kind)
        && let Some(obj) = value.as_object_mut()
    {
        // Read with the replacement's type; `api-removed` reports the version as written.
        obj.insert("apiVersion".into(), removed.replacement.into());
        if removed.selector_from_template {
            default_selector(obj);
        }
    }
    let err = |(path, e)| DecodeError {
        kind: kind.clone(),
        path,
        source: e,
    };
    // The pod spec is taken out and decoded into the checker's compact [`PodSpec`]; the rest of
    // the object still goes through the k8s-openapi type, which checks its schema.
    let Some(static_kind) = KINDS.iter().copied().find(|k| *k == kind) else {
        return Ok(None);
    };
    let pod_value = match kind.as_str() {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "ReplicationController" => {
            value
                .get_mut("spec")
                .and_then(|s| s.get_mut("template"))
                .and_then(|t| t.get_mut("spec"))
                .map(Value::take)
        }
        "Pod" => value.get_mut("spec").map(Value::take),
        _ => None,
    };
    let pod_prefix: &[&str] = if kind == "Pod" {
        &["spec"]
    } else {
        &["spec", "template", "spec"]
    };
    let pod_spec = || -> Result<PodSpec, DecodeError> {
        match pod_value {
            None | Some(Value::Null) => Ok(PodSpec::default()),
            Some(v) => typed(v, mode, pod_prefix).map_err(err),
        }
    };
    let (meta, body) = match kind.as_str() {
        "Deployment" => {
            let d: Deployment = typed(value, mode, &[]).map_err(err)?;
            let s = d.spec.unwrap_or_default();
            let (labels, ann) = template(s.template);
            let spec = pod_spec()?;
            let w = Workload {
                kind: WorkloadKind::Deployment,
                replicas: s.replicas,
                selector: Some(s.selector.into()),
                labels,
                template_annotations: ann,
                spec,
                min_ready_seconds: s.min_ready_seconds,
                progress_deadline_seconds: s.progress_deadline_seconds,
                strategy: s
                    .strategy
                    .as_ref()
                    .and_then(|x| x.type_.clone())
                    .map(Into::into),
                max_unavailable: s
                    .strategy
                    .as_ref()
                    .and_then(|x| x.rolling_update.as_ref())
                    .and_then(|r| r.max_unavailable.clone()),
                max_surge: s
                    .strategy
                    .and_then(|x| x.rolling_update)
                    .and_then(|r| r.max_surge),
                pod_management_policy: None,
                service_name: None,
                owned: false,
                controller: None,
                claim_templates: None,
            };
            (d.metadata, Body::Workload(Box::new(w)))
        }
        "StatefulSet" => {
            let d: StatefulSet = typed(value, mode, &[]).map_err(err)?;
            let s = d.spec.unwrap_or_default();
            let (labels, ann) = template(s.template);
            let spec = pod_spec()?;
            let w = Workload {
                kind: WorkloadKind::StatefulSet,
                replicas: s.replicas,
                selector: Some(s.selector.into()),
                labels,
                template_annotations: ann,
                spec,
                min_ready_seconds: s.min_ready_seconds,
                progress_deadline_seconds: None,
                strategy: s
                    .update_strategy
                    .as_ref()
                    .and_then(|x| x.type_.clone())
                    .map(Into::into),
                max_unavailable: s
                    .update_strategy
                    .and_then(|x| x.rolling_update)
                    .and_then(|r| r.max_unavailable),
                max_surge: None,
                pod_management_policy: s.pod_management_policy.map(Into::into),
                service_name: s.service_name.filter(|n| !n.is_empty()).map(Into::into),
                owned: false,
                controller: None,
                claim_templates: s
                    .volume_claim_templates
                    .map(|t| t.into_iter().filter_map(|c| c.metadata.name).collect()),
            };
            (d.metadata, Body::Workload(Box::new(w)))
        }
        "DaemonSet" => {
            let d: DaemonSet = typed(value, mode, &[]).map_err(err)?;
            let s = d.spec.unwrap_or_default();
            let (labels, ann) = template(s.template);
            let spec = pod_spec()?;
            let w = Workload {
                kind: WorkloadKind::DaemonSet,
                replicas: None,
                selector: Some(s.selector.into()),
                labels,
                template_annotations: ann,
                spec,
                min_ready_seconds: s.min_ready_seconds,
                progress_deadline_seconds: None,
                strategy: s
                    .update_strategy
                    .as_ref()
                    .and_then(|x| x.type_.clone())
                    .map(Into::into),
                max_unavailable: s
                    .update_strategy
                    .and_then(|x| x.rolling_update)
                    .and_then(|r| r.max_unavailable),
                max_surge: None,
                pod_management_policy: None,
                service_name: None,
                owned: false,
                controller: None,
                claim_templates: None,
            };
            (d.metadata, Body::Workload(Box::new(w)))
        }
        "ReplicaSet" => {
            let d: ReplicaSet = typed(value, mode, &[]).map_err(err)?;
            let s = d.spec.unwrap_or_default();
            let (labels, ann) = template(s.template.unwrap_or_default());
            let spec = pod_spec()?;
            let owned = has_controller(&d.metadata);
            let controller = d
                .metadata
                .owner_references
                .iter()
                .flatten()
                .find(|o| o.controller == Some(true))
                .map(|o| Box::new((o.kind.clone(), o.name.clone())));
            let w = Workload {
                kind: WorkloadKind::ReplicaSet,
                replicas: s.replicas,
                selector: Some(s.selector.into()),
                labels,
                template_annotations: ann,
                spec,
                min_ready_seconds: s.min_ready_seconds,
                progress_deadline_seconds: None,
                strategy: None,
                max_unavailable: None,
                max_surge: None,
                pod_management_policy: None,
                service_name: None,
                owned,
                controller,
                claim_templates: None,
            };
            (d.metadata, Body::Workload(Box::new(w)))
        }
        "ReplicationController" => {
            let d: ReplicationController = typed(value, mode, &[]).map_err(err)?;
            let s = d.spec.unwrap_or_default();
            let (labels, ann) = template(s.template.unwrap_or_default());
            let spec = pod_spec()?;
            // The API defaults an absent selector to the template's labels.
            let selector = match s.selector.filter(|m| !m.is_empty()) {
                Some(m) => WorkloadSelector {
                    match_labels: m.into(),
                    match_expressions: None,
                },
                None => WorkloadSelector {
                    match_labels: labels.clone(),
                    match_expressions: None,
                },
            };
            let w = Workload {
                kind: WorkloadKind::ReplicationController,
                replicas: s.replicas,
                selector: Some(selector),
                labels,
                template_annotations: ann,
                spec,
                min_ready_seconds: s.min_ready_seconds,
                progress_deadline_seconds: None,
                strategy: None,
                max_unavailable: None,
                max_surge: None,
                pod_management_policy: None,
                service_name: None,
                owned: false,
                controller: None,
                claim_templates: None,
            };
            (d.metadata, Body::Workload(Box::new(w)))
        }
        "Pod" => {
            let d: Pod = typed(value, mode, &[]).map_err(err)?;
            let owned = has_controller(&d.metadata);
            let w = Workload {
                kind: WorkloadKind::Pod,
                replicas: Some(1),
                selector: None,
                labels: d.metadata.labels.clone().unwrap_or_default().into(),
                template_annotations: None,
                spec: pod_spec()?,
                min_ready_seconds: None,
                progress_deadline_seconds: None,
                strategy: None,
                max_unavailable: None,
                max_surge: None,
                pod_management_policy: None,
                service_name: None,
                owned,
                controller: None,
                claim_templates: None,
            };
            (d.metadata, Body::Workload(Box::new(w)))
        }
        "Service" => {
            let d: Service = typed(value, mode, &[]).map_err(err)?;
            let s = d.spec.unwrap_or_default();
            let info = ServiceInfo {
                selector: s.selector.filter(|m| !m.is_empty()).map(Labels::from),
                headless: s.cluster_ip.as_deref() == Some("None"),
            };
            (d.metadata, Body::Service(info))
        }
        "HorizontalPodAutoscaler" if api_version == "autoscaling/v1" => {
            let d: hpa1::HorizontalPodAutoscaler = typed(value, mode, &[]).map_err(err)?;
            let s = d.spec.unwrap_or_default();
            let info = HpaInfo {
                target_kind: s.scale_target_ref.kind,
                target_name: s.scale_target_ref.name,
                min_replicas: s.min_replicas,
                max_replicas: s.max_replicas,
                utilization: if s.target_cpu_utilization_percentage.is_some() {
                    vec![("cpu".to_owned(), None)]
                } else {
                    Vec::new()
                },
            };
            (d.metadata, Body::Hpa(Box::new(info)))
        }
        "HorizontalPodAutoscaler" => {
            let d: hpa2::HorizontalPodAutoscaler = typed(value, mode, &[]).map_err(err)?;
            let s = d.spec.unwrap_or_default();
            let mut utilization = Vec::new();
            for m in s.metrics.iter().flatten() {
                if let Some(r) = &m.resource
                    && r.target.type_ == "Utilization"
                {
                    utilization.push((r.name.clone(), None));
                }
                if let Some(r) = &m.container_resource
                    && r.target.type_ == "Utilization"
                {
                    utilization.push((r.name.clone(), Some(r.container.clone())));
                }
            }
            // autoscaling/v2 with no metrics defaults to 80% CPU utilization.
            if s.metrics.as_ref().is_none_or(Vec::is_empty) {
                utilization.push(("cpu".to_owned(), None));
            }
            let info = HpaInfo {
                target_kind: s.scale_target_ref.kind,
                target_name: s.scale_target_ref.name,
                min_replicas: s.min_replicas,
                max_replicas: s.max_replicas,
                utilization,
            };
            (d.metadata, Body::Hpa(Box::new(info)))
        }
        "PodDisruptionBudget" => {
            let d: PodDisruptionBudget = typed(value, mode, &[]).map_err(err)?;
            let s = d.spec.unwrap_or_default();
            let info = BudgetInfo {
                is_pub: false,
                selector: s.selector,
                target_ref: None,
                min_available: s.min_available,
                max_unavailable: s.max_unavailable,
                unhealthy_policy: s.unhealthy_pod_eviction_policy,
                total_replicas: None,
                protect_operations: None,
            };
            (d.metadata, Body::Budget(Box::new(info)))
        }
        "PodUnavailableBudget" if api_version.starts_with("policy.steady.dev/") => {
            let d: steady_pub::PodUnavailableBudget = typed(value, mode, &[]).map_err(err)?;
            let s = d.spec;
            let info = BudgetInfo {
                is_pub: true,
                selector: s.selector,
                target_ref: s.target_ref.map(|t| TargetRef {
                    api_version: t.api_version,
                    kind: t.kind,
                    name: t.name,
                }),
                min_available: s.min_available,
                max_unavailable: s.max_unavailable,
                unhealthy_policy: s.unhealthy_pod_policy.map(|p| p.as_str().to_owned()),
                total_replicas: s.total_replicas,
                protect_operations: s.protect_operations.map(|ops| {
                    ops.iter()
                        .map(|op| op.operation().as_str().to_owned())
                        .collect()
                }),
            };
            (d.metadata, Body::Budget(Box::new(info)))
        }
        // OpenKruise's PodUnavailableBudget uses the same spec field names.
        "PodUnavailableBudget" if api_version.starts_with("policy.kruise.io/") => {
            let d: PubObject = typed(value, mode, &[]).map_err(err)?;
            let s = d.spec;
            let info = BudgetInfo {
                is_pub: true,
                selector: s.selector,
                target_ref: s.target_ref,
                min_available: s.min_available,
                max_unavailable: s.max_unavailable,
                unhealthy_policy: s.unhealthy_pod_policy,
                total_replicas: s.total_replicas,
                protect_operations: s.protect_operations.and_then(strings),
            };
            (d.metadata, Body::Budget(Box::new(info)))
        }
        _ => return Ok(None),
    };
    Ok(Some(Object {
        source,
        api_version,
        kind: static_kind,
        name: meta.name.unwrap_or_default(),
        namespace: meta
            .namespace
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| default_namespace.to_owned()),
        annotations: meta.annotations.unwrap_or_default(),
        body,
    }))
}

/// Drops the fields no rule reads before the typed decode: less to decode, and much less kept
/// in memory for 100,000 objects (environment, volumes, managedFields, status, …).
fn prune(v: &mut Value) {
    let Some(obj) = v.as_object_mut() else { return };
    obj.remove("status");
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    let Some(spec) = obj.get_mut("spec") else {
        return;
    };
    let pod = match spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
        Some(p) => p,
        None => spec,
    };
    let Some(pod) = pod.as_object_mut() else {
        return;
    };
    // Of the volumes, only the claims are read (`steady plan`'s zone pins).
    if let Some(Value::Array(vs)) = pod.get_mut("volumes") {
        vs.retain(|v| v.get("persistentVolumeClaim").is_some());
        for v in vs.iter_mut().filter_map(Value::as_object_mut) {
            v.retain(|k, _| k == "name" || k == "persistentVolumeClaim");
        }
    }
    for k in [
        "initContainers",
        "ephemeralContainers",
        "imagePullSecrets",
        "securityContext",
        "dnsConfig",
        "hostAliases",
    ] {
        pod.remove(k);
    }
    if let Some(Value::Array(cs)) = pod.get_mut("containers") {
        for c in cs.iter_mut().filter_map(Value::as_object_mut) {
            for k in [
                "env",
                "envFrom",
                "volumeMounts",
                "volumeDevices",
                "args",
                "command",
                "securityContext",
                "image",
                "workingDir",
            ] {
                c.remove(k);
            }
        }
    }
}

/// `spec.selector` of a removed workload version that left it out: the template's labels, as
/// that version's defaulting set it.
fn default_selector(obj: &mut serde_json::Map<String, Value>) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec.get("selector").is_some_and(|s| !s.is_null()) {
        return;
    }
    let labels = spec
        .get("template")
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .cloned();
    if let Some(labels) = labels {
        spec.insert(
            "selector".into(),
            serde_json::json!({ "matchLabels": labels }),
        );
    }
}

type Annotations = Option<Box<BTreeMap<String, String>>>;

fn template(t: k8s_openapi::api::core::v1::PodTemplateSpec) -> (Labels, Annotations) {
    let meta = t.metadata.unwrap_or_default();
    (
        meta.labels.unwrap_or_default().into(),
        meta.annotations.filter(|a| !a.is_empty()).map(Box::new),
    )
}

fn has_controller(meta: &ObjectMeta) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_json(v: Value) -> Result<Option<Object>, DecodeError> {
        let source = Source {
            file: Arc::from("t.yaml"),
            line: 1,
            doc: 0,
        };
        decode(v, source, "default")
    }

    /// What `steady plan` reads beyond the rules: nodeSelector, tolerations, claim volumes,
    /// probe period, a ReplicaSet's controller and a StatefulSet's claim templates; a malformed
    /// value of the new pod fields is None, not a load error (they were not read before).
    #[test]
    fn plan_fields_are_read_and_malformed_ones_are_not_errors() {
        let pod = serde_json::json!({"containers": [{"name": "c",
                "readinessProbe": {"exec": {"command": ["ok"]}, "initialDelaySeconds": 3, "periodSeconds": 7}}],
            "nodeSelector": {"disk": "ssd"},
            "tolerations": [{"key": "dedicated", "operator": "Exists"}],
            "volumes": [{"name": "cfg", "configMap": {"name": "x"}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "data-0"}}]});
        let sts = serde_json::json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": {"selector": {"matchLabels": {"app": "db"}}, "serviceName": "db",
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": pod},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}}]}});
        let o = decode_json(sts).unwrap().unwrap();
        let w = o.workload().unwrap();
        assert_eq!(
            w.spec.node_selector.as_deref(),
            Some(&BTreeMap::from([("disk".to_owned(), "ssd".to_owned())]))
        );
        assert_eq!(w.spec.tolerations.as_ref().map(|t| t.len()), Some(1));
        assert_eq!(
            w.spec.claim_names.as_deref(),
            Some(&["data-0".to_owned()][..])
        );
        let probe = w.spec.containers[0].readiness_probe.as_ref().unwrap();
        assert_eq!(
            (probe.initial_delay_seconds(), probe.period_seconds()),
            (Some(3), Some(7))
        );
        assert_eq!(w.claim_templates.as_deref(), Some(&["data".to_owned()][..]));

        let rs = serde_json::json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-1", "ownerReferences": [{"apiVersion": "apps/v1",
                "kind": "Deployment", "name": "web", "uid": "u", "controller": true}]},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c"}], "tolerations": "all of them",
                        "nodeSelector": ["x"], "volumes": 5}}}});
        let o = decode_json(rs).unwrap().unwrap();
        let w = o.workload().unwrap();
        assert_eq!(
            w.controller.as_deref(),
            Some(&("Deployment".to_owned(), "web".to_owned()))
        );
        assert!(w.owned);
        assert_eq!(
            (
                &w.spec.node_selector,
                &w.spec.tolerations,
                &w.spec.claim_names
            ),
            (&None, &None, &None)
        );
    }

    /// The pair list answers lookups and selectors exactly as the map it replaces does, for
    /// every operator, present and absent keys.
    #[test]
    fn labels_match_like_the_map() {
        let map: steady_budget::Labels = [("app", "web"), ("tier", "front"), ("a", "1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let labels = Labels::from(map.clone());
        assert_eq!(labels.len(), 3);
        assert_eq!(labels.get("tier").map(String::as_str), Some("front"));
        assert_eq!(labels.get("zzz"), None);
        assert!(labels.iter().eq(map.iter()));
        assert_eq!(labels.to_map(), map);
        let mut checked = 0;
        for key in ["app", "tier", "a", "missing"] {
            for op in ["In", "NotIn", "Exists", "DoesNotExist"] {
                for values in [vec!["web"], vec!["front", "1"], vec![]] {
                    let e = serde_json::json!({"key": key, "operator": op, "values": values});
                    let sel: LabelSelector =
                        serde_json::from_value(serde_json::json!({"matchExpressions": [e]}))
                            .unwrap();
                    let Ok(sel) = Selector::from_k8s(&sel) else {
                        continue;
                    };
                    assert_eq!(labels.selected_by(&sel), sel.matches(&map), "{key} {op}");
                    checked += 1;
                }
            }
        }
        // In and NotIn need values, Exists and DoesNotExist refuse them: six valid per key.
        assert_eq!(checked, 4 * 6);
        assert!(Labels::default().selected_by(&Selector::default()));
    }

    /// The compact workload selector gives back the selector it was built from, expressions
    /// included, so `selector-template-mismatch` judges the same selector.
    #[test]
    fn workload_selector_round_trip() {
        let k: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"tier": "front", "app": "web"},
            "matchExpressions": [{"key": "track", "operator": "NotIn", "values": ["canary"]}]
        }))
        .unwrap();
        let compact = WorkloadSelector::from(k.clone());
        assert_eq!(
            compact.match_labels.get("app").map(String::as_str),
            Some("web")
        );
        assert_eq!(compact.to_k8s(), k);
        assert_eq!(
            Selector::from_k8s(&compact.to_k8s()).unwrap(),
            Selector::from_k8s(&k).unwrap()
        );
        let on = |pairs: &[(&str, &str)]| -> Labels {
            let m: steady_budget::Labels = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            m.into()
        };
        for pod in [
            on(&[("app", "web"), ("tier", "front")]),
            on(&[("app", "web"), ("tier", "front"), ("track", "canary")]),
            on(&[("app", "web")]),
        ] {
            let want = Selector::from_k8s(&k).unwrap().matches(&pod.to_map());
            assert_eq!(compact.selects(&pod), want, "{pod:?}");
        }
        assert!(compact.selects(&on(&[("app", "web"), ("tier", "front")])));
        let bad: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchExpressions": [{"key": "app", "operator": "Near", "values": ["web"]}]
        }))
        .unwrap();
        assert!(!WorkloadSelector::from(bad).selects(&on(&[("app", "web")])));
        let empty = WorkloadSelector::from(LabelSelector::default());
        assert!(Selector::from_k8s(&empty.to_k8s()).unwrap().is_empty());
    }

    /// The mirror of steady's PodUnavailableBudget decodes what `steady_api`'s type decodes and
    /// refuses what it refuses, with the same message.
    #[test]
    fn steady_pub_mirror_matches_steady_api() {
        let specs = [
            serde_json::json!({"selector": {"matchLabels": {"app": "web"}}, "maxUnavailable": 1,
                "protectOperations": ["Evict", "Delete"], "unhealthyPodPolicy": "AlwaysAllow",
                "totalReplicas": 3, "ignoredPodSelector": {"matchLabels": {"x": "y"}}}),
            serde_json::json!({"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minAvailable": "50%"}),
            serde_json::json!({"targetRef": {"kind": "Deployment", "name": "web"}}),
            serde_json::json!({"targetRef": "web"}),
            serde_json::json!({"protectOperations": ["Drain"]}),
            serde_json::json!({"protectOperations": "Evict"}),
            serde_json::json!({"protectOperations": [1]}),
            serde_json::json!({"unhealthyPodPolicy": "Sometimes"}),
            serde_json::json!({"totalReplicas": "three"}),
            serde_json::json!({"minAvailable": [1]}),
            serde_json::json!({"ignoredPodSelector": 3}),
            serde_json::json!(7),
            serde_json::json!(null),
        ];
        let mut docs: Vec<Value> = specs
            .iter()
            .map(|spec| serde_json::json!({"metadata": {"name": "b"}, "spec": spec}))
            .collect();
        docs.push(serde_json::json!({"metadata": {"name": "b"}}));
        docs.push(serde_json::json!({"spec": {}}));
        docs.push(serde_json::json!({"metadata": 1, "spec": {}}));
        for doc in docs {
            let ours = serde_json::from_value::<steady_pub::PodUnavailableBudget>(doc.clone());
            let theirs = serde_json::from_value::<steady_api::PodUnavailableBudget>(doc.clone());
            match (ours, theirs) {
                (Ok(o), Ok(t)) => {
                    let ops = |v: Option<Vec<String>>| v.unwrap_or_default().join(",");
                    assert_eq!(
                        ops(o.spec.protect_operations.map(|v| v
                            .iter()
                            .map(|x| x.operation().as_str().to_owned())
                            .collect())),
                        ops(t
                            .spec
                            .protect_operations
                            .map(|v| v.iter().map(|x| format!("{x:?}")).collect())),
                        "{doc}"
                    );
                    assert_eq!(
                        o.spec.unhealthy_pod_policy.map(|p| p.as_str()),
                        t.spec.unhealthy_pod_policy.map(|p| p.as_str()),
                        "{doc}"
                    );
                    assert_eq!(o.spec.total_replicas, t.spec.total_replicas, "{doc}");
                }
                (Err(o), Err(t)) => assert_eq!(o.to_string(), t.to_string(), "{doc}"),
                (o, t) => panic!("{doc}: ours {o:?}, steady_api {t:?}"),
            }
        }
    }

    /// The compact pod spec keeps what the rules read, reads required fields as k8s-openapi does
    /// (null is the default), and still refuses what the schema refuses.
    #[test]
    fn compact_pod_spec() {
        let d = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {
                "terminationGracePeriodSeconds": 45,
                "containers": [{"name": "a", "image": "x",
                    "resources": {"requests": {"memory": "1Gi", "cpu": "1"}, "limits": {"memory": "2Gi"}},
                    "readinessProbe": {"httpGet": {"port": "http"}}}]}}}
        });
        let o = decode_json(d).unwrap().unwrap();
        let w = o.workload().unwrap();
        assert_eq!(w.spec.termination_grace_period_seconds, Some(45));
        let c = &w.spec.containers[0];
        assert_eq!(c.name, "a");
        assert!(c.readiness_probe.is_some() && c.liveness_probe.is_none());
        assert_eq!(
            c.resources.as_ref().unwrap().requests.as_deref(),
            Some(&["cpu".to_owned(), "memory".to_owned()][..])
        );

        let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": null}});
        let o = decode_json(pod).unwrap().unwrap();
        assert!(o.workload().unwrap().spec.containers.is_empty());

        let bad = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": [1]}}}]}});
        let e = decode_json(bad).unwrap_err();
        assert_eq!(e.kind, "Pod");
    }
}
