//! Translating API objects into index entries: budgets (PodUnavailableBudgets and, in PDB mode,
//! PodDisruptionBudgets) and scalable owners. The engine's types are the target; no rule is decided
//! here.

use k8s_openapi::api::policy::v1::{
    PodDisruptionBudget, PodDisruptionBudgetSpec, PodDisruptionBudgetStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition as K8sCondition, Time};
use kube::api::DynamicObject;
use steady_api::{PodUnavailableBudget, PodUnavailableBudgetSpec};
use steady_budget::{
    BudgetId, BudgetKind, BudgetSpec, BudgetStatus, Condition, OperationSet, OwnerInfo, OwnerRef,
};

use super::{BudgetEntry, OwnerKey};

/// The stored spec of a budget, kept so that a status write can send the whole object back.
#[derive(Debug, Clone, PartialEq)]
pub enum RawBudget {
    Pub(PodUnavailableBudgetSpec),
    Pdb(PodDisruptionBudgetSpec),
}

pub fn entry_from_pub(b: &PodUnavailableBudget) -> BudgetEntry {
    let meta = &b.metadata;
    BudgetEntry {
        id: BudgetId::pub_(
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
        ),
        uid: meta.uid.clone(),
        generation: meta.generation.unwrap_or(0),
        resource_version: meta.resource_version.clone().unwrap_or_default(),
        spec: b.spec.to_budget_spec().map_err(|e| e.to_string()),
        raw: RawBudget::Pub(b.spec.clone()),
        status: b.status.clone().unwrap_or_default(),
    }
}

/// PDB mode: a PodDisruptionBudget guards pod DELETE and disruptive UPDATE / resize. Evictions are
/// left to the API server's own eviction handler, which already takes a unit from the PDB (taking
/// one here too would count every eviction twice).
pub fn entry_from_pdb(b: &PodDisruptionBudget) -> BudgetEntry {
    let meta = &b.metadata;
    let spec = b.spec.clone().unwrap_or_default();
    BudgetEntry {
        id: BudgetId {
            kind: BudgetKind::PodDisruptionBudget,
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
        },
        uid: meta.uid.clone(),
        generation: meta.generation.unwrap_or(0),
        resource_version: meta.resource_version.clone().unwrap_or_default(),
        spec: BudgetSpec::from_pdb(&spec, OperationSet::PDB_MODE).map_err(|e| e.to_string()),
        status: b.status.as_ref().map(status_from_pdb).unwrap_or_default(),
        raw: RawBudget::Pdb(spec),
    }
}

pub fn status_from_pdb(s: &PodDisruptionBudgetStatus) -> BudgetStatus {
    BudgetStatus {
        observed_generation: s.observed_generation.unwrap_or(0),
        total_replicas: s.expected_pods,
        desired_available: s.desired_healthy,
        current_available: s.current_healthy,
        unavailable_allowed: s.disruptions_allowed,
        disrupted_pods: s
            .disrupted_pods
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0))
            .collect(),
        unavailable_pods: Default::default(),
        conditions: s
            .conditions
            .iter()
            .flatten()
            .map(|c| Condition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_transition_time: c.last_transition_time.0,
                observed_generation: c.observed_generation.unwrap_or(0),
            })
            .collect(),
    }
}

/// The PDB status to write. A PDB has one map for every disruption, so in-place updates are
/// recorded in `disruptedPods` too (the disruption controller expires them like evictions).
pub fn status_to_pdb(s: &BudgetStatus) -> PodDisruptionBudgetStatus {
    let disrupted: std::collections::BTreeMap<String, Time> = s
        .disrupted_pods
        .iter()
        .chain(&s.unavailable_pods)
        .map(|(k, v)| (k.clone(), Time(*v)))
        .collect();
    PodDisruptionBudgetStatus {
        observed_generation: Some(s.observed_generation),
        expected_pods: s.total_replicas,
        desired_healthy: s.desired_available,
        current_healthy: s.current_available,
        disruptions_allowed: s.unavailable_allowed,
        disrupted_pods: (!disrupted.is_empty()).then_some(disrupted),
        conditions: (!s.conditions.is_empty()).then(|| {
            s.conditions
                .iter()
                .map(|c| K8sCondition {
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                    last_transition_time: Time(c.last_transition_time),
                    observed_generation: Some(c.observed_generation),
                })
                .collect()
        }),
    }
}

/// A scalable owner (anything with a scale subresource) as the engine sees it. `spec.replicas` is
/// read where the built-in kinds and nearly every CRD keep it; absent means 0, as its scale would say.
pub fn owner_from_dynamic(
    o: &DynamicObject,
    group: &str,
    kind: &str,
) -> Option<(OwnerKey, OwnerInfo)> {
    let meta = &o.metadata;
    let controller = meta
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| OwnerRef::new(&r.api_version, &r.kind, &r.name));
    let spec = o.data.get("spec");
    let int = |field: &str| {
        spec.and_then(|s| s.get(field))
            .and_then(serde_json::Value::as_i64)
            .map(|v| i32::try_from(v).unwrap_or(if v < 0 { 0 } else { i32::MAX }))
    };
    let key = OwnerKey {
        namespace: meta.namespace.clone()?,
        group: group.to_owned(),
        kind: kind.to_owned(),
        name: meta.name.clone()?,
    };
    Some((
        key,
        OwnerInfo {
            controller,
            replicas: Some(int("replicas").unwrap_or(0)),
            min_ready_seconds: int("minReadySeconds"),
        },
    ))
}
