//! The state's Deployments, StatefulSets, ReplicaSets, budgets and HPAs as steady-manifest
//! `Object`s, the model `steady check` and `steady sim --from` read, decoded by the loader's own
//! `decode`: the plan converts them to a scenario with the conversion `--from` uses
//! (`crate::convert`), not a third reading of the Kubernetes types.

use serde::Serialize;
use serde_json::Value;
use steady_manifest::model::{self, Object, Source};

use super::build::PlanError;
use super::state::ClusterState;

/// The objects, by role, each in the state's order.
#[derive(Default)]
pub struct Objects {
    /// Deployments and StatefulSets.
    pub workloads: Vec<Object>,
    pub replica_sets: Vec<Object>,
    /// PodDisruptionBudgets, then PodUnavailableBudgets.
    pub budgets: Vec<Object>,
    pub hpas: Vec<Object>,
    /// PodUnavailableBudgets of an API group the model does not read.
    pub notes: Vec<String>,
}

/// `Kind namespace/name` of a JSON object, for an error.
fn describe(kind: &str, v: &Value) -> String {
    let name = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    match v.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

fn one(kind: &str, mut v: Value, i: usize) -> Result<Option<Object>, PlanError> {
    if let Value::Object(m) = &mut v {
        // k8s-openapi writes both; a PodUnavailableBudget from a hand-written state may lack
        // them: steady's own group is the one `kubectl get podunavailablebudgets` lists.
        m.entry("kind").or_insert_with(|| kind.into());
        if kind == "PodUnavailableBudget" {
            m.entry("apiVersion")
                .or_insert_with(|| "policy.steady.dev/v1alpha1".into());
        }
    }
    let what = describe(kind, &v);
    let source = Source {
        file: "cluster".into(),
        line: 0,
        doc: i,
    };
    model::decode(v.clone(), source.clone(), "default").map_err(|_| {
        // The explained decode names the field.
        let e = model::decode_explained(v, source, "default")
            .map(|e| e.to_string())
            .unwrap_or_else(|| "does not match the Kubernetes schema".into());
        PlanError::Object {
            object: what,
            message: e,
        }
    })
}

fn all<T: Serialize>(
    kind: &str,
    items: &[T],
    out: &mut Vec<Object>,
    notes: &mut Vec<String>,
) -> Result<(), PlanError> {
    for (i, item) in items.iter().enumerate() {
        let v = serde_json::to_value(item).map_err(|e| PlanError::Invalid(e.to_string()))?;
        let api_version = v
            .get("apiVersion")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let what = describe(kind, &v);
        match one(kind, v, i)? {
            Some(o) => out.push(o),
            None => notes.push(format!(
                "{what} left out: apiVersion {} is not one steady reads",
                api_version.unwrap_or_default()
            )),
        }
    }
    Ok(())
}

/// Decodes the state's objects. An object the loader refuses is an error naming it.
pub fn decode(state: &ClusterState) -> Result<Objects, PlanError> {
    let mut o = Objects::default();
    let notes = &mut o.notes;
    all("Deployment", &state.deployments, &mut o.workloads, notes)?;
    all("StatefulSet", &state.stateful_sets, &mut o.workloads, notes)?;
    all(
        "ReplicaSet",
        &state.replica_sets,
        &mut o.replica_sets,
        notes,
    )?;
    all(
        "PodDisruptionBudget",
        &state.pod_disruption_budgets,
        &mut o.budgets,
        notes,
    )?;
    all(
        "PodUnavailableBudget",
        &state.pod_unavailable_budgets,
        &mut o.budgets,
        notes,
    )?;
    all(
        "HorizontalPodAutoscaler",
        &state.horizontal_pod_autoscalers,
        &mut o.hpas,
        notes,
    )?;
    Ok(o)
}
