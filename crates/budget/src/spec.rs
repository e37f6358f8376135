//! What a budget asks for, in plain data: which pods it covers, how many must stay available, and
//! which operations it guards. Both PodUnavailableBudgets and (in PDB mode) PodDisruptionBudgets are
//! translated into this one shape.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::input::{BudgetSpecError, BudgetSpecInput, ValueInput};
use crate::intstr::IntOrPercent;
use crate::pod::{OwnerRef, PodFacts, group_of};
use crate::selector::Selector;

/// A disruption: the four ways a request can make a pod unavailable on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Operation {
    Delete,
    Evict,
    Update,
    Resize,
}

impl Operation {
    pub const ALL: [Operation; 4] = [Self::Delete, Self::Evict, Self::Update, Self::Resize];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delete => "Delete",
            Self::Evict => "Evict",
            Self::Update => "Update",
            Self::Resize => "Resize",
        }
    }

    /// The verb for messages: "evict pod ns/web-1".
    pub fn verb(self) -> &'static str {
        match self {
            Self::Delete => "delete",
            Self::Evict => "evict",
            Self::Update => "update in place",
            Self::Resize => "resize",
        }
    }

    /// Deletions and evictions end the pod; updates and resizes restart containers in it. The
    /// status records them in different maps because they end differently.
    pub fn removes_pod(self) -> bool {
        matches!(self, Self::Delete | Self::Evict)
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == s)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of operations (`protectOperations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OperationSet(u8);

impl OperationSet {
    pub const ALL: Self = Self(0b1111);
    pub const NONE: Self = Self(0);
    /// What Kubernetes itself asks a PodDisruptionBudget about: evictions only. Deletes, rollouts
    /// and in-place updates never consult it — the gap PodUnavailableBudgets close.
    pub const PDB_NATIVE: Self = Self(1 << (Operation::Evict as u8));
    /// What steady guards for a PodDisruptionBudget in PDB mode: everything but evictions, which
    /// the API server's eviction handler already charges to the PDB (charging them here too would
    /// count every eviction twice).
    pub const PDB_MODE: Self = Self(Self::ALL.0 & !Self::PDB_NATIVE.0);

    pub fn contains(self, op: Operation) -> bool {
        self.0 & Self::bit(op) != 0
    }

    pub fn with(self, op: Operation) -> Self {
        Self(self.0 | Self::bit(op))
    }

    pub fn without(self, op: Operation) -> Self {
        Self(self.0 & !Self::bit(op))
    }

    fn bit(op: Operation) -> u8 {
        1 << (op as u8)
    }
}

impl FromIterator<Operation> for OperationSet {
    fn from_iter<I: IntoIterator<Item = Operation>>(iter: I) -> Self {
        iter.into_iter().fold(Self::NONE, Self::with)
    }
}

/// What to do with pods that are Running but not available (`unhealthyPodPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum UnhealthyPodPolicy {
    /// Disrupt unavailable pods freely only while the budget is met.
    #[default]
    IfHealthyBudget,
    /// Always allow disrupting unavailable pods.
    AlwaysAllow,
}

/// `minAvailable` or `maxUnavailable`: exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Policy {
    MinAvailable(IntOrPercent),
    MaxUnavailable(IntOrPercent),
}

impl Policy {
    pub fn is_percent(self) -> bool {
        match self {
            Self::MinAvailable(v) | Self::MaxUnavailable(v) => v.is_percent(),
        }
    }

    /// Pods that must stay available out of `expected`, floored at 0.
    pub fn desired(self, expected: i32) -> i32 {
        match self {
            Self::MinAvailable(v) => v.scaled(expected),
            Self::MaxUnavailable(v) => expected.saturating_sub(v.scaled(expected)).max(0),
        }
    }

    /// Disruptions allowed with `healthy` of `expected` pods available: the healthy pods above
    /// [`Policy::desired`], floored at 0. A percentage of no expected pods allows none, as in
    /// Kubernetes, so a budget whose workloads are not counted yet cannot be drained through.
    pub fn allowed(self, expected: i32, healthy: i32) -> i32 {
        if expected == 0 && self.is_percent() {
            0
        } else {
            healthy.saturating_sub(self.desired(expected)).max(0)
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MinAvailable(v) => write!(f, "minAvailable {v}"),
            Self::MaxUnavailable(v) => write!(f, "maxUnavailable {v}"),
        }
    }
}

/// The workload a budget targets (`targetRef`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TargetRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

impl TargetRef {
    fn names(&self, owner: &OwnerRef) -> bool {
        owner.name == self.name
            && owner.kind == self.kind
            && owner.group() == group_of(&self.api_version)
    }
}

/// `selector` or `targetRef`: exactly one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    Selector(Selector),
    Ref(TargetRef),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BudgetSpec {
    pub target: Target,
    pub policy: Policy,
    pub protect: OperationSet,
    pub unhealthy_pod_policy: UnhealthyPodPolicy,
    /// Overrides the expected pod count (`totalReplicas`).
    pub total_replicas: Option<i32>,
    pub ignored_pod_selector: Option<Selector>,
}

impl BudgetSpec {
    /// A PodDisruptionBudget as a budget guarding `protect` (usually [`OperationSet::PDB_NATIVE`]
    /// or [`OperationSet::PDB_MODE`]).
    pub fn from_pdb(
        spec: &k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec,
        protect: OperationSet,
    ) -> Result<Self, BudgetSpecError> {
        // A live PDB's policy value this version does not know (a newer Kubernetes') is read as
        // Kubernetes' eviction handler reads it, IfHealthyBudget: refusing the spec would make the
        // guard skip the budget and allow everything it covers. (The checker, on manifests, reports it.)
        let unhealthy_pod_policy = spec
            .unhealthy_pod_eviction_policy
            .as_deref()
            .filter(|p| *p == "AlwaysAllow");
        BudgetSpecInput {
            selector: spec.selector.as_ref(),
            min_available: spec.min_available.as_ref().map(ValueInput::from),
            max_unavailable: spec.max_unavailable.as_ref().map(ValueInput::from),
            protect: Some(protect),
            unhealthy_pod_policy,
            ..BudgetSpecInput::new(BudgetKind::PodDisruptionBudget)
        }
        .validate()
    }

    /// Whether the budget covers the pod, given the pod's owner chain (see [`crate::owner`]). Only
    /// the guard's own view of the pod counts: no annotation on the pod can opt it in or out.
    pub fn selects(&self, pod: &PodFacts, chain: &[OwnerRef]) -> bool {
        match &self.target {
            Target::Selector(s) => s.matches(&pod.labels),
            Target::Ref(t) => chain.iter().any(|o| t.names(o)),
        }
    }

    pub fn ignores(&self, pod: &PodFacts) -> bool {
        self.ignored_pod_selector
            .as_ref()
            .is_some_and(|s| s.matches(&pod.labels))
    }
}

/// Which kind of object a budget is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BudgetKind {
    PodUnavailableBudget,
    PodDisruptionBudget,
}

impl BudgetKind {
    /// The Kubernetes kind, as messages, Events, metrics labels and reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PodUnavailableBudget => "PodUnavailableBudget",
            Self::PodDisruptionBudget => "PodDisruptionBudget",
        }
    }
}

impl fmt::Display for BudgetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Names one budget object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BudgetId {
    pub kind: BudgetKind,
    pub namespace: String,
    pub name: String,
}

impl BudgetId {
    pub fn pub_(namespace: &str, name: &str) -> Self {
        Self {
            kind: BudgetKind::PodUnavailableBudget,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for BudgetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::tests::ready_pod;

    #[test]
    fn operation_sets() {
        let s: OperationSet = [Operation::Delete, Operation::Resize].into_iter().collect();
        assert!(s.contains(Operation::Delete) && s.contains(Operation::Resize));
        assert!(!s.contains(Operation::Evict) && !s.contains(Operation::Update));
        assert!(
            Operation::ALL
                .iter()
                .all(|op| OperationSet::ALL.contains(*op))
        );
        assert!(
            !OperationSet::ALL
                .without(Operation::Evict)
                .contains(Operation::Evict)
        );
        assert_eq!(Operation::parse("Evict"), Some(Operation::Evict));
        assert_eq!(Operation::parse("evict"), None);
    }

    #[test]
    fn pdb_operation_sets_split_the_four_operations() {
        assert!(OperationSet::PDB_NATIVE.contains(Operation::Evict));
        assert!(!OperationSet::PDB_MODE.contains(Operation::Evict));
        for op in [Operation::Delete, Operation::Update, Operation::Resize] {
            assert!(OperationSet::PDB_MODE.contains(op) && !OperationSet::PDB_NATIVE.contains(op));
        }
    }

    #[test]
    fn pdbs_translate_with_their_policy_and_unhealthy_policy() {
        use k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
        use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
        let pdb = PodDisruptionBudgetSpec {
            selector: Some(LabelSelector {
                match_labels: Some([("app".to_owned(), "web".to_owned())].into()),
                match_expressions: None,
            }),
            max_unavailable: Some(IntOrString::String("25%".into())),
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            ..Default::default()
        };
        let b = BudgetSpec::from_pdb(&pdb, OperationSet::PDB_MODE).unwrap();
        // An unknown policy (a newer Kubernetes') is read as Kubernetes reads it, not refused.
        let newer = PodDisruptionBudgetSpec {
            unhealthy_pod_eviction_policy: Some("SomethingNew".into()),
            ..pdb.clone()
        };
        assert_eq!(
            BudgetSpec::from_pdb(&newer, OperationSet::PDB_MODE)
                .unwrap()
                .unhealthy_pod_policy,
            crate::UnhealthyPodPolicy::IfHealthyBudget
        );
        assert_eq!(b.policy, Policy::MaxUnavailable(IntOrPercent::Percent(25)));
        assert_eq!(b.unhealthy_pod_policy, UnhealthyPodPolicy::AlwaysAllow);
        assert_eq!(b.protect, OperationSet::PDB_MODE);
        let none = PodDisruptionBudgetSpec {
            selector: None,
            ..pdb.clone()
        };
        assert_eq!(
            BudgetSpec::from_pdb(&none, OperationSet::PDB_MODE),
            Err(BudgetSpecError::NoSelector)
        );
        let both = PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            ..pdb
        };
        assert_eq!(
            BudgetSpec::from_pdb(&both, OperationSet::PDB_MODE),
            Err(BudgetSpecError::Policy("both"))
        );
    }

    #[test]
    fn budget_kinds_are_spelled_as_kubernetes_kinds() {
        assert_eq!(
            BudgetKind::PodUnavailableBudget.as_str(),
            "PodUnavailableBudget"
        );
        assert_eq!(
            BudgetKind::PodDisruptionBudget.as_str(),
            "PodDisruptionBudget"
        );
        assert_eq!(
            BudgetId::pub_("ns", "web").to_string(),
            "PodUnavailableBudget ns/web"
        );
    }

    #[test]
    fn desired_counts() {
        use IntOrPercent::*;
        assert_eq!(Policy::MinAvailable(Int(2)).desired(5), 2);
        assert_eq!(Policy::MinAvailable(Percent(60)).desired(5), 3);
        assert_eq!(Policy::MaxUnavailable(Int(1)).desired(5), 4);
        assert_eq!(Policy::MaxUnavailable(Percent(25)).desired(10), 7);
        assert_eq!(Policy::MaxUnavailable(Int(8)).desired(5), 0);
        assert_eq!(Policy::MaxUnavailable(Percent(100)).desired(0), 0);
    }

    #[test]
    fn allowed_counts() {
        use IntOrPercent::*;
        // Every pod healthy.
        assert_eq!(Policy::MaxUnavailable(Int(1)).allowed(5, 5), 1);
        assert_eq!(Policy::MaxUnavailable(Percent(25)).allowed(10, 10), 3);
        assert_eq!(Policy::MaxUnavailable(Percent(10)).allowed(5, 5), 1);
        assert_eq!(Policy::MaxUnavailable(Int(0)).allowed(5, 5), 0);
        assert_eq!(Policy::MaxUnavailable(Int(8)).allowed(5, 5), 5);
        assert_eq!(Policy::MinAvailable(Int(2)).allowed(5, 5), 3);
        assert_eq!(Policy::MinAvailable(Percent(60)).allowed(5, 5), 2);
        assert_eq!(Policy::MinAvailable(Percent(100)).allowed(3, 3), 0);
        assert_eq!(Policy::MinAvailable(Int(7)).allowed(5, 5), 0);
        // Some pods already down use up the allowance.
        assert_eq!(Policy::MaxUnavailable(Int(2)).allowed(5, 4), 1);
        assert_eq!(Policy::MinAvailable(Int(4)).allowed(5, 3), 0);
        // Nothing expected: a percentage allows nothing, an integer counts what is there.
        assert_eq!(Policy::MaxUnavailable(Percent(100)).allowed(0, 2), 0);
        assert_eq!(Policy::MinAvailable(Percent(0)).allowed(0, 2), 0);
        assert_eq!(Policy::MinAvailable(Int(0)).allowed(0, 2), 2);
        assert_eq!(Policy::MaxUnavailable(Int(1)).allowed(0, 0), 0);
    }

    #[test]
    fn selection_by_selector_target_and_ignore() {
        let spec = BudgetSpec {
            target: Target::Ref(TargetRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: "web".into(),
            }),
            policy: Policy::MaxUnavailable(IntOrPercent::Int(1)),
            protect: OperationSet::ALL,
            unhealthy_pod_policy: UnhealthyPodPolicy::default(),
            total_replicas: None,
            ignored_pod_selector: Some(Selector::from_labels([("skip", "yes")])),
        };
        let pod = ready_pod("a", &[("app", "web")], 0);
        let chain = [
            OwnerRef::new("apps/v1", "ReplicaSet", "web-1"),
            OwnerRef::new("apps/v1", "Deployment", "web"),
        ];
        assert!(spec.selects(&pod, &chain));
        assert!(!spec.selects(&pod, &chain[..1]));
        assert!(!spec.ignores(&pod));
        assert!(spec.ignores(&ready_pod("b", &[("skip", "yes")], 0)));
        let by_labels = BudgetSpec {
            target: Target::Selector(Selector::from_labels([("app", "web")])),
            ..spec
        };
        assert!(by_labels.selects(&pod, &[]));
        assert!(!by_labels.selects(&ready_pod("c", &[("app", "api")], 0), &[]));
    }
}
