//! What keeps a pod off a node, read from the cluster state into the scenario's terms: node
//! taints, the pod template's tolerations and required node affinity, and the zone of the
//! volumes its PersistentVolumeClaims are bound to (a zonal disk cannot follow its pod to
//! another zone).

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PodSpec};

use super::build::PlanError;
use super::state::ClusterState;
use crate::scenario::{
    NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm, Taint, TaintEffect,
    Toleration, TolerationOperator, WorkloadKind, ZonalClaim,
};

/// The taint the node lifecycle controller puts on a cordoned node; the model says cordoned.
const CORDON_TAINT: &str = "node.kubernetes.io/unschedulable";
/// The zone label, and its name before Kubernetes 1.17 (still on older volumes and nodes).
const ZONE_KEYS: [&str; 2] = [crate::model::ZONE, "failure-domain.beta.kubernetes.io/zone"];

fn bad(object: &str, message: String) -> PlanError {
    PlanError::Object {
        object: object.to_owned(),
        message,
    }
}

fn effect(s: &str, object: &str, field: &str) -> Result<TaintEffect, PlanError> {
    match s {
        "NoSchedule" => Ok(TaintEffect::NoSchedule),
        "PreferNoSchedule" => Ok(TaintEffect::PreferNoSchedule),
        "NoExecute" => Ok(TaintEffect::NoExecute),
        other => Err(bad(
            object,
            format!("{field} {other:?} is not NoSchedule, PreferNoSchedule or NoExecute"),
        )),
    }
}

/// The node's taints but the cordon one (`spec.unschedulable` says that).
pub fn taints(node: &Node, object: &str) -> Result<Vec<Taint>, PlanError> {
    let list = node.spec.as_ref().and_then(|s| s.taints.as_ref());
    list.into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, t)| t.key != CORDON_TAINT)
        .map(|(i, t)| {
            Ok(Taint {
                key: t.key.clone(),
                value: t.value.clone().unwrap_or_default(),
                effect: effect(&t.effect, object, &format!("spec.taints[{i}].effect"))?,
            })
        })
        .collect()
}

/// The pod template's tolerations.
pub fn tolerations(spec: &PodSpec, object: &str) -> Result<Vec<Toleration>, PlanError> {
    let field = |i: usize, f: &str| format!("spec.template.spec.tolerations[{i}].{f}");
    spec.tolerations
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, t)| {
            let operator = match t.operator.as_deref() {
                None | Some("") => None,
                Some("Equal") => Some(TolerationOperator::Equal),
                Some("Exists") => Some(TolerationOperator::Exists),
                Some(other) => {
                    return Err(bad(
                        object,
                        format!("{} {other:?} is not Equal or Exists", field(i, "operator")),
                    ));
                }
            };
            let effect = match t.effect.as_deref() {
                None | Some("") => None,
                Some(e) => Some(effect(e, object, &field(i, "effect"))?),
            };
            Ok(Toleration {
                key: t.key.clone().unwrap_or_default(),
                operator,
                value: t.value.clone().unwrap_or_default(),
                effect,
            })
        })
        .collect()
}

/// The terms of the template's `requiredDuringSchedulingIgnoredDuringExecution` node affinity.
pub fn node_affinity(spec: &PodSpec, object: &str) -> Result<Vec<NodeSelectorTerm>, PlanError> {
    let Some(required) = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
    else {
        return Ok(Vec::new());
    };
    let at =
        "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution";
    if required.node_selector_terms.is_empty() {
        // The API server rejects it; a pod with it would fit no node.
        return Err(bad(
            object,
            format!("{at}.nodeSelectorTerms is empty: no node could take its pods"),
        ));
    }
    let requirements = |list: &Option<Vec<k8s_openapi::api::core::v1::NodeSelectorRequirement>>,
                        field: String|
     -> Result<Vec<NodeSelectorRequirement>, PlanError> {
        list.iter()
            .flatten()
            .enumerate()
            .map(|(k, r)| {
                let operator = match r.operator.as_str() {
                    "In" => NodeSelectorOperator::In,
                    "NotIn" => NodeSelectorOperator::NotIn,
                    "Exists" => NodeSelectorOperator::Exists,
                    "DoesNotExist" => NodeSelectorOperator::DoesNotExist,
                    "Gt" => NodeSelectorOperator::Gt,
                    "Lt" => NodeSelectorOperator::Lt,
                    other => {
                        return Err(bad(
                            object,
                            format!(
                                "{field}[{k}].operator {other:?} is not In, NotIn, Exists, DoesNotExist, Gt or Lt"
                            ),
                        ));
                    }
                };
                Ok(NodeSelectorRequirement {
                    key: r.key.clone(),
                    operator,
                    values: r.values.clone().unwrap_or_default(),
                })
            })
            .collect()
    };
    required
        .node_selector_terms
        .iter()
        .enumerate()
        .map(|(j, t)| {
            let term = format!("{at}.nodeSelectorTerms[{j}]");
            Ok(NodeSelectorTerm {
                match_expressions: requirements(
                    &t.match_expressions,
                    format!("{term}.matchExpressions"),
                )?,
                match_fields: requirements(&t.match_fields, format!("{term}.matchFields"))?,
            })
        })
        .collect()
}

/// The zones a volume may be used from: the values of its required node affinity on the zone
/// key (every term that names one), else its zone label (`a__b` for several). Empty: not zonal
/// (or pinned by something else, such as a local volume's hostname, which the model leaves out).
fn volume_zones(pv: &PersistentVolume) -> BTreeSet<String> {
    let mut zones = BTreeSet::new();
    let terms = pv
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
        .map(|r| r.node_selector_terms.as_slice())
        .unwrap_or_default();
    for t in terms {
        for r in t.match_expressions.iter().flatten() {
            if ZONE_KEYS.contains(&r.key.as_str()) && r.operator == "In" {
                zones.extend(r.values.iter().flatten().cloned());
            }
        }
    }
    if zones.is_empty() {
        let labels = pv.metadata.labels.as_ref();
        if let Some(z) = ZONE_KEYS
            .iter()
            .find_map(|k| labels.and_then(|l| l.get(*k)))
        {
            zones.extend(z.split("__").filter(|z| !z.is_empty()).map(str::to_owned));
        }
    }
    zones
}

/// Bound claims and their volumes' zones, by `(namespace, claim)`.
pub struct Claims {
    zone_of: HashMap<(String, String), BTreeSet<String>>,
}

impl Claims {
    pub fn new(state: &ClusterState) -> Self {
        let volumes: HashMap<&str, &PersistentVolume> = state
            .persistent_volumes
            .iter()
            .filter_map(|pv| Some((pv.metadata.name.as_deref()?, pv)))
            .collect();
        let mut zone_of = HashMap::new();
        for c in &state.persistent_volume_claims {
            let (Some(name), Some(volume)) = (
                c.metadata.name.as_deref(),
                c.spec.as_ref().and_then(|s| s.volume_name.as_deref()),
            ) else {
                continue;
            };
            let Some(pv) = volumes.get(volume) else {
                continue;
            };
            let zones = volume_zones(pv);
            if !zones.is_empty() {
                let ns = c
                    .metadata
                    .namespace
                    .clone()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "default".into());
                zone_of.insert((ns, name.to_owned()), zones);
            }
        }
        Self { zone_of }
    }

    /// The zonal claims of a workload's pods: the template's `persistentVolumeClaim` volumes
    /// (every pod mounts them) and, for a StatefulSet, each ordinal's claim
    /// `<template>-<name>-<ordinal>` from `volumeClaimTemplates`. A claim whose volume spans
    /// several zones is left out with a note.
    pub fn of_workload(
        &self,
        namespace: &str,
        name: &str,
        kind: WorkloadKind,
        spec: &PodSpec,
        claim_templates: &[String],
        notes: &mut Vec<String>,
    ) -> Vec<ZonalClaim> {
        let mut out = Vec::new();
        let mut push = |claim: &str, ordinal: Option<u32>, zones: &BTreeSet<String>| {
            if zones.len() == 1 {
                out.push(ZonalClaim {
                    claim: claim.to_owned(),
                    zone: zones.iter().next().cloned().unwrap_or_default(),
                    ordinal,
                });
            } else {
                notes.push(format!(
                    "PersistentVolumeClaim {namespace}/{claim} is bound to a volume usable from {} zones ({}): not modelled as a zone pin",
                    zones.len(),
                    zones.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        };
        for v in spec.volumes.iter().flatten() {
            let Some(c) = &v.persistent_volume_claim else {
                continue;
            };
            if let Some(zones) = self
                .zone_of
                .get(&(namespace.to_owned(), c.claim_name.clone()))
            {
                push(&c.claim_name, None, zones);
            }
        }
        if kind == WorkloadKind::StatefulSet && !claim_templates.is_empty() {
            let mut own: Vec<(u32, &String, &BTreeSet<String>)> = self
                .zone_of
                .iter()
                .filter(|((ns, _), _)| ns == namespace)
                .filter_map(|((_, claim), zones)| {
                    let ordinal = claim_templates.iter().find_map(|t| {
                        claim
                            .strip_prefix(&format!("{t}-{name}-"))?
                            .parse::<u32>()
                            .ok()
                    })?;
                    Some((ordinal, claim, zones))
                })
                .collect();
            own.sort();
            for (ordinal, claim, zones) in own {
                push(claim, Some(ordinal), zones);
            }
        }
        out
    }
}
