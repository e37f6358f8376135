//! The live cluster as the planner sees it: the objects `kubectl get
//! nodes,pods,deploy,sts,rs,hpa,pdb,podunavailablebudgets,pvc,pv -A -o json` prints, in
//! k8s-openapi's own types (PodUnavailableBudgets as their JSON: this crate does not depend on the API crate
//! and its kube derive). Pure and serializable: `steady plan -o json` writes it back as `state`,
//! and `--from-state FILE` reads that, a bare state, or a `kubectl get -o json` List.
//!
//! The state is kept as read, in the wire types, because `-o json` writes it back and
//! `--from-state` must read every state written before. The planner does not read the
//! Deployments, StatefulSets, ReplicaSets, budgets and HPAs from these types: `build` decodes
//! them into steady-manifest `Object`s (the model `steady check` and `sim --from` read) and
//! converts those with `sim --from`'s conversion (`crate::convert`). Nodes, Pods,
//! PersistentVolumeClaims and PersistentVolumes are live-only objects that manifests never
//! carry: the planner reads them as the k8s-openapi types they are here. PVCs and PVs say which
//! zone a pod's volume pins it to; a state written before they were read has neither list and
//! reads as a cluster without zonal volumes.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every object the planner reads, by kind.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterState {
    #[serde(default)]
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub pods: Vec<Pod>,
    #[serde(default)]
    pub deployments: Vec<Deployment>,
    #[serde(default)]
    pub stateful_sets: Vec<StatefulSet>,
    #[serde(default)]
    pub replica_sets: Vec<ReplicaSet>,
    #[serde(default)]
    pub horizontal_pod_autoscalers: Vec<HorizontalPodAutoscaler>,
    #[serde(default)]
    pub pod_disruption_budgets: Vec<PodDisruptionBudget>,
    /// `policy.steady.dev` (or OpenKruise's `policy.kruise.io`) PodUnavailableBudgets.
    #[serde(default)]
    pub pod_unavailable_budgets: Vec<Value>,
    /// Written only when there are some, so the state of a cluster without volumes reads and
    /// writes as before they were read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub persistent_volume_claims: Vec<PersistentVolumeClaim>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub persistent_volumes: Vec<PersistentVolume>,
}

/// Why a state could not be read; each names the file and, where there is one, the object.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read cluster state {path}: {source}; check the path")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "cluster state {path} is not JSON or YAML: {message}; write `kubectl get nodes,pods,deploy,sts,rs,hpa,pdb,podunavailablebudgets,pvc,pv -A -o json` or a `steady plan -o json` output"
    )]
    Syntax { path: String, message: String },
    #[error("cluster state {path}: {what} is not a valid {kind}: {message}")]
    Object {
        path: String,
        what: String,
        kind: String,
        message: String,
    },
    #[error(
        "cluster state {path} is neither a List of objects, a `steady plan -o json` output (with `state`) nor a state (nodes, pods, …)"
    )]
    Shape { path: String },
}

impl ClusterState {
    /// Reads a state from text: a `kubectl get -o json|yaml` List, the `state` of a
    /// `steady plan -o json` output, or a bare state. `path` names the source in errors.
    pub fn parse(path: &str, text: &str) -> Result<Self, StateError> {
        let syntax = |message: String| StateError::Syntax {
            path: path.to_owned(),
            message,
        };
        let v: Value = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| syntax(e.to_string()))?
        } else {
            steady_manifest::codec::from_str(text).map_err(|e| syntax(e.to_string()))?
        };
        Self::from_value(path, v)
    }

    pub fn from_value(path: &str, v: Value) -> Result<Self, StateError> {
        let shape = || StateError::Shape {
            path: path.to_owned(),
        };
        let Value::Object(mut map) = v else {
            return Err(shape());
        };
        if let Some(state) = map.remove("state") {
            return Self::from_value(path, state);
        }
        match map.get("kind").and_then(Value::as_str) {
            Some(k) if k.ends_with("List") => {
                let Some(Value::Array(items)) = map.remove("items") else {
                    return Err(shape());
                };
                let mut s = Self::default();
                s.add_items(path, items)?;
                Ok(s)
            }
            Some(_) => Err(shape()),
            None => {
                // A bare state: each kind's list read one object at a time, so an error names it.
                let mut s = Self::default();
                for (key, items) in map {
                    let Value::Array(items) = items else {
                        return Err(shape());
                    };
                    let kind = match key.as_str() {
                        "nodes" => "Node",
                        "pods" => "Pod",
                        "deployments" => "Deployment",
                        "statefulSets" => "StatefulSet",
                        "replicaSets" => "ReplicaSet",
                        "horizontalPodAutoscalers" => "HorizontalPodAutoscaler",
                        "podDisruptionBudgets" => "PodDisruptionBudget",
                        "podUnavailableBudgets" => "PodUnavailableBudget",
                        "persistentVolumeClaims" => "PersistentVolumeClaim",
                        "persistentVolumes" => "PersistentVolume",
                        _ => return Err(shape()),
                    };
                    let items = items
                        .into_iter()
                        .map(|mut i| {
                            if let Value::Object(m) = &mut i {
                                m.entry("kind").or_insert_with(|| kind.into());
                            }
                            i
                        })
                        .collect();
                    s.add_items(path, items)?;
                }
                Ok(s)
            }
        }
    }

    fn add_items(&mut self, path: &str, items: Vec<Value>) -> Result<(), StateError> {
        for (i, item) in items.into_iter().enumerate() {
            let kind = item
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let what = describe(i, &item);
            let bad = |message: String| StateError::Object {
                path: path.to_owned(),
                what: what.clone(),
                kind: kind.clone(),
                message,
            };
            fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
                serde_path_to_error::deserialize(v).map_err(|e| {
                    let at = e.path().to_string();
                    if at == "." {
                        e.inner().to_string()
                    } else {
                        format!("{at}: {}", e.inner())
                    }
                })
            }
            match kind.as_str() {
                "Node" => self.nodes.push(typed(item).map_err(bad)?),
                "Pod" => self.pods.push(typed(item).map_err(bad)?),
                "Deployment" => self.deployments.push(typed(item).map_err(bad)?),
                "StatefulSet" => self.stateful_sets.push(typed(item).map_err(bad)?),
                "ReplicaSet" => self.replica_sets.push(typed(item).map_err(bad)?),
                "HorizontalPodAutoscaler" => self
                    .horizontal_pod_autoscalers
                    .push(typed(item).map_err(bad)?),
                "PodDisruptionBudget" => {
                    self.pod_disruption_budgets.push(typed(item).map_err(bad)?)
                }
                "PodUnavailableBudget" => self.pod_unavailable_budgets.push(item),
                "PersistentVolumeClaim" => self
                    .persistent_volume_claims
                    .push(typed(item).map_err(bad)?),
                "PersistentVolume" => self.persistent_volumes.push(typed(item).map_err(bad)?),
                // Other kinds (ConfigMaps, Services, …) say nothing about a drain.
                _ => {}
            }
        }
        Ok(())
    }
}

/// `items[3] (Pod shop/web-1)`
fn describe(i: usize, item: &Value) -> String {
    let kind = item.get("kind").and_then(Value::as_str).unwrap_or("object");
    let name = item
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    match item.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) => format!("items[{i}] ({kind} {ns}/{name})"),
        None => format!("items[{i}] ({kind} {name})"),
    }
}
