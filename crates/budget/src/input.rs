//! A budget's spec as written — a PodUnavailableBudget's, a PodDisruptionBudget's or a simulator
//! scenario's — and the one validation that turns it into a [`BudgetSpec`]. The webhook, the
//! controller, the checker and the simulator all go through it, so a spec one of them refuses is
//! refused by all, with the same words.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::intstr::{IntOrPercent, IntOrPercentError};
use crate::selector::{Selector, SelectorError};
use crate::spec::{
    BudgetKind, BudgetSpec, OperationSet, Policy, Target, TargetRef, UnhealthyPodPolicy,
};

/// A `minAvailable` / `maxUnavailable` value as written: Kubernetes objects carry an
/// `IntOrString`, scenarios a 64-bit integer or a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueInput<'a> {
    Int(i64),
    String(&'a str),
}

impl<'a> From<&'a IntOrString> for ValueInput<'a> {
    fn from(v: &'a IntOrString) -> Self {
        match v {
            IntOrString::Int(n) => Self::Int(i64::from(*n)),
            IntOrString::String(s) => Self::String(s),
        }
    }
}

impl ValueInput<'_> {
    pub fn parse(self) -> Result<IntOrPercent, IntOrPercentError> {
        match self {
            Self::Int(n) => IntOrPercent::from_int(n),
            Self::String(s) => IntOrPercent::parse(s),
        }
    }
}

/// Why a budget's spec cannot be used. The text names the field as it is spelled in the object's
/// `spec`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetSpecError {
    /// A PodUnavailableBudget sets "both" or "neither" of `selector` and `targetRef`.
    #[error("set exactly one of spec.selector and spec.targetRef (found {0})")]
    Target(&'static str),
    /// A PodDisruptionBudget without a selector: policy/v1 accepts it, and it selects no pods.
    #[error("the PodDisruptionBudget has no selector, so it selects no pods")]
    NoSelector,
    /// "both" or "neither" of `minAvailable` and `maxUnavailable`.
    #[error("set exactly one of spec.minAvailable and spec.maxUnavailable (found {0})")]
    Policy(&'static str),
    #[error("spec.{field}: {source}")]
    Value {
        field: &'static str,
        source: IntOrPercentError,
    },
    #[error("spec.{field}: {source}")]
    Selector {
        field: &'static str,
        source: SelectorError,
    },
    #[error("spec.{field}: {value:?} is not IfHealthyBudget or AlwaysAllow")]
    UnhealthyPodPolicy { field: &'static str, value: String },
    #[error("spec.totalReplicas is {0}: it must be 0 or more")]
    TotalReplicas(i32),
}

/// A budget's spec as written. Fields a kind does not have stay `None`.
#[derive(Debug, Clone)]
pub struct BudgetSpecInput<'a> {
    pub kind: BudgetKind,
    pub selector: Option<&'a LabelSelector>,
    /// A PodUnavailableBudget's `targetRef`. Kubernetes PDBs have none; a simulator scenario
    /// may give one to a budget of either kind.
    pub target_ref: Option<TargetRef>,
    pub min_available: Option<ValueInput<'a>>,
    pub max_unavailable: Option<ValueInput<'a>>,
    /// `None`: the kind's default — all four operations for a PodUnavailableBudget, evictions
    /// only (what Kubernetes asks a PDB about) for a PodDisruptionBudget.
    pub protect: Option<OperationSet>,
    /// `unhealthyPodPolicy` (PUB) / `unhealthyPodEvictionPolicy` (PDB); unset is IfHealthyBudget.
    pub unhealthy_pod_policy: Option<&'a str>,
    pub total_replicas: Option<i32>,
    pub ignored_pod_selector: Option<&'a LabelSelector>,
}

impl<'a> BudgetSpecInput<'a> {
    /// An input with every field unset.
    pub fn new(kind: BudgetKind) -> Self {
        Self {
            kind,
            selector: None,
            target_ref: None,
            min_available: None,
            max_unavailable: None,
            protect: None,
            unhealthy_pod_policy: None,
            total_replicas: None,
            ignored_pod_selector: None,
        }
    }

    /// Every reason the spec is invalid, in the order of its fields (what the checker lists).
    pub fn errors(&self) -> Vec<BudgetSpecError> {
        let mut errors = Vec::new();
        self.build(&mut errors);
        errors
    }

    /// The engine's view of the spec, or the first reason it is invalid.
    pub fn validate(&self) -> Result<BudgetSpec, BudgetSpecError> {
        let mut errors = Vec::new();
        match self.build(&mut errors) {
            Some(spec) => Ok(spec),
            None => Err(errors.swap_remove(0)),
        }
    }

    /// The spec when `errors` stays empty.
    fn build(&self, errors: &mut Vec<BudgetSpecError>) -> Option<BudgetSpec> {
        use BudgetSpecError as E;
        let is_pub = self.kind == BudgetKind::PodUnavailableBudget;

        let count = match (self.selector.is_some(), self.target_ref.is_some()) {
            (true, true) => Some(E::Target("both")),
            (false, false) if is_pub => Some(E::Target("neither")),
            (false, false) => Some(E::NoSelector),
            _ => None,
        };
        let target_ok = count.is_none();
        errors.extend(count);
        let selector = match self.selector.map(Selector::from_k8s).transpose() {
            Ok(s) => s,
            Err(source) => {
                errors.push(E::Selector {
                    field: "selector",
                    source,
                });
                None
            }
        };
        let target = match (selector, &self.target_ref) {
            (Some(s), _) => Some(Target::Selector(s)),
            (None, Some(t)) if target_ok => Some(Target::Ref(t.clone())),
            _ => None,
        };

        match (&self.min_available, &self.max_unavailable) {
            (Some(_), Some(_)) => errors.push(E::Policy("both")),
            (None, None) => errors.push(E::Policy("neither")),
            _ => {}
        }
        let mut value = |field, v: Option<ValueInput<'_>>| {
            v?.parse()
                .map_err(|source| errors.push(E::Value { field, source }))
                .ok()
        };
        let min = value("minAvailable", self.min_available);
        let max = value("maxUnavailable", self.max_unavailable);
        let policy = match (min, max) {
            (Some(v), None) => Some(Policy::MinAvailable(v)),
            (None, Some(v)) => Some(Policy::MaxUnavailable(v)),
            _ => None,
        };

        let unhealthy_pod_policy = match self.unhealthy_pod_policy {
            None | Some("IfHealthyBudget") => UnhealthyPodPolicy::IfHealthyBudget,
            Some("AlwaysAllow") => UnhealthyPodPolicy::AlwaysAllow,
            Some(other) => {
                errors.push(E::UnhealthyPodPolicy {
                    field: if is_pub {
                        "unhealthyPodPolicy"
                    } else {
                        "unhealthyPodEvictionPolicy"
                    },
                    value: other.to_owned(),
                });
                UnhealthyPodPolicy::default()
            }
        };
        if let Some(n) = self.total_replicas
            && n < 0
        {
            errors.push(E::TotalReplicas(n));
        }
        let ignored_pod_selector = self
            .ignored_pod_selector
            .map(Selector::from_k8s)
            .transpose()
            .map_err(|source| {
                errors.push(E::Selector {
                    field: "ignoredPodSelector",
                    source,
                })
            })
            .ok()
            .flatten();

        if !errors.is_empty() {
            return None;
        }
        Some(BudgetSpec {
            target: target?,
            policy: policy?,
            protect: self.protect.unwrap_or(if is_pub {
                OperationSet::ALL
            } else {
                OperationSet::PDB_NATIVE
            }),
            unhealthy_pod_policy,
            total_replicas: self.total_replicas,
            ignored_pod_selector,
        })
    }
}

impl TryFrom<BudgetSpecInput<'_>> for BudgetSpec {
    type Error = BudgetSpecError;

    fn try_from(input: BudgetSpecInput<'_>) -> Result<Self, Self::Error> {
        input.validate()
    }
}

impl TryFrom<&BudgetSpecInput<'_>> for BudgetSpec {
    type Error = BudgetSpecError;

    fn try_from(input: &BudgetSpecInput<'_>) -> Result<Self, Self::Error> {
        input.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Operation;
    use BudgetKind::{PodDisruptionBudget as Pdb, PodUnavailableBudget as Pub};

    fn web() -> LabelSelector {
        LabelSelector {
            match_labels: Some([("app".to_owned(), "web".to_owned())].into()),
            match_expressions: None,
        }
    }

    fn has_operator() -> LabelSelector {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
        LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "app".into(),
                operator: "Has".into(),
                values: None,
            }]),
        }
    }

    fn deployment() -> TargetRef {
        TargetRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "web".into(),
        }
    }

    fn messages(input: &BudgetSpecInput<'_>) -> Vec<String> {
        input.errors().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_valid_pub_gets_its_defaults() {
        let sel = web();
        let input = BudgetSpecInput {
            selector: Some(&sel),
            max_unavailable: Some(ValueInput::String("25%")),
            ..BudgetSpecInput::new(Pub)
        };
        let spec = BudgetSpec::try_from(&input).unwrap();
        assert!(matches!(spec.target, Target::Selector(ref s) if s.to_string() == "app=web"));
        assert_eq!(
            spec.policy,
            Policy::MaxUnavailable(IntOrPercent::Percent(25))
        );
        assert_eq!(spec.protect, OperationSet::ALL);
        assert_eq!(
            spec.unhealthy_pod_policy,
            UnhealthyPodPolicy::IfHealthyBudget
        );
        assert_eq!(spec.total_replicas, None);
        assert!(input.errors().is_empty());
    }

    #[test]
    fn a_valid_pub_by_target_ref_keeps_what_it_sets() {
        let ignored = web();
        let input = BudgetSpecInput {
            target_ref: Some(deployment()),
            min_available: Some(ValueInput::Int(2)),
            protect: Some([Operation::Evict].into_iter().collect()),
            unhealthy_pod_policy: Some("AlwaysAllow"),
            total_replicas: Some(0),
            ignored_pod_selector: Some(&ignored),
            ..BudgetSpecInput::new(Pub)
        };
        let spec = input.validate().unwrap();
        assert_eq!(spec.target, Target::Ref(deployment()));
        assert_eq!(spec.policy, Policy::MinAvailable(IntOrPercent::Int(2)));
        assert!(spec.protect.contains(Operation::Evict));
        assert!(!spec.protect.contains(Operation::Delete));
        assert_eq!(spec.unhealthy_pod_policy, UnhealthyPodPolicy::AlwaysAllow);
        assert_eq!(spec.total_replicas, Some(0));
        assert!(spec.ignored_pod_selector.is_some());
    }

    #[test]
    fn a_pdb_defaults_to_evictions_only() {
        let sel = web();
        let input = BudgetSpecInput {
            selector: Some(&sel),
            min_available: Some(ValueInput::Int(1)),
            ..BudgetSpecInput::new(Pdb)
        };
        assert_eq!(input.validate().unwrap().protect, OperationSet::PDB_NATIVE);
    }

    #[test]
    fn a_scenario_pdb_may_name_its_workload() {
        let input = BudgetSpecInput {
            target_ref: Some(deployment()),
            max_unavailable: Some(ValueInput::Int(1)),
            ..BudgetSpecInput::new(Pdb)
        };
        assert_eq!(input.validate().unwrap().target, Target::Ref(deployment()));
        let sel = web();
        let both = BudgetSpecInput {
            selector: Some(&sel),
            ..input
        };
        assert_eq!(both.validate(), Err(BudgetSpecError::Target("both")));
    }

    #[test]
    fn target_errors_say_which_and_come_first() {
        let sel = web();
        let both = BudgetSpecInput {
            selector: Some(&sel),
            target_ref: Some(deployment()),
            min_available: Some(ValueInput::Int(1)),
            max_unavailable: Some(ValueInput::Int(1)),
            ..BudgetSpecInput::new(Pub)
        };
        assert_eq!(both.validate(), Err(BudgetSpecError::Target("both")));
        assert_eq!(
            messages(&both),
            [
                "set exactly one of spec.selector and spec.targetRef (found both)",
                "set exactly one of spec.minAvailable and spec.maxUnavailable (found both)",
            ]
        );
        let neither = BudgetSpecInput::new(Pub);
        assert_eq!(
            messages(&neither),
            [
                "set exactly one of spec.selector and spec.targetRef (found neither)",
                "set exactly one of spec.minAvailable and spec.maxUnavailable (found neither)",
            ]
        );
        assert_eq!(
            BudgetSpecInput::new(Pdb).validate(),
            Err(BudgetSpecError::NoSelector)
        );
        assert_eq!(
            BudgetSpecInput::new(Pdb)
                .validate()
                .unwrap_err()
                .to_string(),
            "the PodDisruptionBudget has no selector, so it selects no pods"
        );
    }

    #[test]
    fn every_bad_field_is_listed_with_its_name() {
        let sel = has_operator();
        let ignored = has_operator();
        let input = BudgetSpecInput {
            selector: Some(&sel),
            min_available: Some(ValueInput::String("-5%")),
            unhealthy_pod_policy: Some("Sometimes"),
            total_replicas: Some(-1),
            ignored_pod_selector: Some(&ignored),
            ..BudgetSpecInput::new(Pub)
        };
        let has = "label selector operator \"Has\" on key \"app\" is unknown: use In, NotIn, Exists or DoesNotExist";
        assert_eq!(
            messages(&input),
            [
                format!("spec.selector: {has}"),
                "spec.minAvailable: \"-5%\" is negative: use a number of pods ≥ 0 or a percentage such as \"25%\"".to_owned(),
                "spec.unhealthyPodPolicy: \"Sometimes\" is not IfHealthyBudget or AlwaysAllow".to_owned(),
                "spec.totalReplicas is -1: it must be 0 or more".to_owned(),
                format!("spec.ignoredPodSelector: {has}"),
            ]
        );
        // The first is what a single-error consumer (the webhook's SyncFailed) reports.
        assert_eq!(
            input.validate().unwrap_err().to_string(),
            format!("spec.selector: {has}")
        );
    }

    #[test]
    fn values_are_checked_as_ints_and_strings() {
        let sel = web();
        let with = |v| BudgetSpecInput {
            selector: Some(&sel),
            max_unavailable: Some(v),
            ..BudgetSpecInput::new(Pdb)
        };
        assert_eq!(
            with(ValueInput::Int(-1))
                .validate()
                .unwrap_err()
                .to_string(),
            "spec.maxUnavailable: \"-1\" is negative: use a number of pods ≥ 0 or a percentage such as \"25%\""
        );
        assert_eq!(
            with(ValueInput::String("150%"))
                .validate()
                .unwrap_err()
                .to_string(),
            "spec.maxUnavailable: \"150%\" is above 100%: a percentage must be between \"0%\" and \"100%\""
        );
        assert!(matches!(
            with(ValueInput::Int(i64::from(i32::MAX) + 1)).validate(),
            Err(BudgetSpecError::Value {
                field: "maxUnavailable",
                source: IntOrPercentError::Malformed { .. }
            })
        ));
        assert_eq!(
            with(ValueInput::String("100%")).validate().unwrap().policy,
            Policy::MaxUnavailable(IntOrPercent::Percent(100))
        );
        assert_eq!(
            with(ValueInput::from(&IntOrString::Int(0)))
                .validate()
                .unwrap()
                .policy,
            Policy::MaxUnavailable(IntOrPercent::Int(0))
        );
    }

    #[test]
    fn a_pdb_names_its_own_unhealthy_policy_field() {
        let sel = web();
        let input = BudgetSpecInput {
            selector: Some(&sel),
            min_available: Some(ValueInput::Int(1)),
            unhealthy_pod_policy: Some("Never"),
            ..BudgetSpecInput::new(Pdb)
        };
        assert_eq!(
            input.validate().unwrap_err().to_string(),
            "spec.unhealthyPodEvictionPolicy: \"Never\" is not IfHealthyBudget or AlwaysAllow"
        );
    }
}
