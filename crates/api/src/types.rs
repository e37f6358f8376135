//! The CRD's Rust types. Field names follow DESIGN.md's glossary; the status is the engine's own
//! [`steady_budget::BudgetStatus`], so what the webhook writes is what the engine computed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use steady_budget::{
    BudgetKind, BudgetSpec, BudgetSpecInput, BudgetStatus, Operation, TargetRef, ValueInput,
};

/// Int ≥ 0, or a whole percentage from "0%" to "100%". Written once, used on both fields.
/// `string(self)` reads an int and a string alike, so the rule needs no type switch (and runs in
/// kube's client-side CEL too, which has no `type()`); at most 9 digits keeps ints in int32.
const INT_OR_PERCENT_RULE: &str = "string(self).matches('^([0-9]{1,9}|(100|[1-9]?[0-9])%)$')";

/// How many of an application's pods may be made unavailable on purpose at once — by deletion,
/// eviction, in-place update or resize — enforced by steady's admission webhook.
// Each printcolumn repeats `type_ = "integer"`, which clippy mistakes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "policy.steady.dev",
    version = "v1alpha1",
    kind = "PodUnavailableBudget",
    plural = "podunavailablebudgets",
    shortname = "pub",
    category = "steady",
    namespaced,
    doc = "How many of an application's pods may be made unavailable on purpose at once (deleted, evicted, updated in place or resized), enforced by steady's admission webhook.",
    status = "BudgetStatus",
    printcolumn(
        name = "Allowed",
        type_ = "integer",
        json_path = ".status.unavailableAllowed",
        description = "Disruptions allowed now"
    ),
    printcolumn(
        name = "Current",
        type_ = "integer",
        json_path = ".status.currentAvailable",
        description = "Pods available now"
    ),
    printcolumn(
        name = "Desired",
        type_ = "integer",
        json_path = ".status.desiredAvailable",
        description = "Pods that must stay available"
    ),
    printcolumn(
        name = "Total",
        type_ = "integer",
        json_path = ".status.totalReplicas",
        description = "Expected pods"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(
    validation = Rule::new("has(self.selector) != has(self.targetRef)").message("set exactly one of spec.selector and spec.targetRef"),
    validation = Rule::new("has(self.minAvailable) != has(self.maxUnavailable)").message("set exactly one of spec.minAvailable and spec.maxUnavailable"),
)]
#[serde(rename_all = "camelCase")]
pub struct PodUnavailableBudgetSpec {
    /// The pods the budget covers, by label, in the budget's namespace. Exactly one of `selector`
    /// and `targetRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,

    /// The workload whose pods the budget covers (a Deployment, StatefulSet, Argo Rollout, CloneSet
    /// or any kind with a scale subresource), in the budget's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetReference>,

    /// Pods that must stay available: a number ≥ 0 or a percentage of the expected pods ("60%",
    /// rounded up). Exactly one of `minAvailable` and `maxUnavailable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(INT_OR_PERCENT_RULE).message("minAvailable must be an integer >= 0 or a percentage between \"0%\" and \"100%\""))]
    pub min_available: Option<IntOrString>,

    /// Pods that may be unavailable at once: a number ≥ 0 or a percentage of the expected pods
    /// ("25%", rounded up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(INT_OR_PERCENT_RULE).message("maxUnavailable must be an integer >= 0 or a percentage between \"0%\" and \"100%\""))]
    pub max_unavailable: Option<IntOrString>,

    /// The operations the budget guards. Default: all four.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub protect_operations: Option<Vec<ProtectOperation>>,

    /// Whether pods that are Running but not available may be disrupted when the budget is not
    /// met. Default: IfHealthyBudget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_pod_policy: Option<UnhealthyPodPolicy>,

    /// Overrides the expected pod count, for pods whose owners have no scale subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub total_replicas: Option<i32>,

    /// Pods matching this selector are never guarded nor counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored_pod_selector: Option<LabelSelector>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetReference {
    /// e.g. `apps/v1`.
    #[schemars(length(min = 1))]
    pub api_version: String,
    /// e.g. `Deployment`.
    #[schemars(length(min = 1))]
    pub kind: String,
    #[schemars(length(min = 1))]
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum ProtectOperation {
    Delete,
    Evict,
    Update,
    Resize,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum UnhealthyPodPolicy {
    IfHealthyBudget,
    AlwaysAllow,
}

/// Why a stored spec cannot be turned into a budget: the engine's own error, so the condition
/// the controller writes and the finding `steady check` reports say the same. The CRD schema
/// refuses all of these at admission; they remain for objects written before a schema change, or
/// read from files.
pub use steady_budget::BudgetSpecError as SpecError;

impl PodUnavailableBudgetSpec {
    /// The engine's view of this spec.
    pub fn to_budget_spec(&self) -> Result<BudgetSpec, SpecError> {
        self.to_input().validate()
    }

    /// This spec as the engine's validation reads it.
    pub fn to_input(&self) -> BudgetSpecInput<'_> {
        BudgetSpecInput {
            selector: self.selector.as_ref(),
            target_ref: self.target_ref.as_ref().map(|t| TargetRef {
                api_version: t.api_version.clone(),
                kind: t.kind.clone(),
                name: t.name.clone(),
            }),
            min_available: self.min_available.as_ref().map(ValueInput::from),
            max_unavailable: self.max_unavailable.as_ref().map(ValueInput::from),
            protect: self
                .protect_operations
                .as_ref()
                .map(|ops| ops.iter().map(|op| op.operation()).collect()),
            unhealthy_pod_policy: self.unhealthy_pod_policy.map(UnhealthyPodPolicy::as_str),
            total_replicas: self.total_replicas,
            ignored_pod_selector: self.ignored_pod_selector.as_ref(),
            ..BudgetSpecInput::new(BudgetKind::PodUnavailableBudget)
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

impl ProtectOperation {
    pub fn operation(self) -> Operation {
        match self {
            Self::Delete => Operation::Delete,
            Self::Evict => Operation::Evict,
            Self::Update => Operation::Update,
            Self::Resize => Operation::Resize,
        }
    }
}
