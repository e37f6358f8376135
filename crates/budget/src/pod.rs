//! The facts about a pod that budget decisions depend on, and nothing more. The guard caches pods in
//! this trimmed form, so memory per pod stays small and every decision reads the same fields.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};

use crate::selector::Labels;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

/// A reference to a pod's (or an owner's) controlling owner.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OwnerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

impl OwnerRef {
    pub fn new(api_version: &str, kind: &str, name: &str) -> Self {
        Self {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The API group: `apps` for `apps/v1`, empty for the core group's `v1`.
    pub fn group(&self) -> &str {
        group_of(&self.api_version)
    }

    /// Whether two references name the same object. Versions are ignored: `apps/v1` and
    /// `apps/v1beta2` Deployments are one object.
    pub fn same_object(&self, other: &OwnerRef) -> bool {
        self.name == other.name && self.kind == other.kind && self.group() == other.group()
    }
}

pub(crate) fn group_of(api_version: &str) -> &str {
    api_version
        .rsplit_once('/')
        .map(|(g, _)| g)
        .unwrap_or_default()
}

impl std::fmt::Display for OwnerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// A pod, trimmed to what the engine needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodFacts {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    /// The owner reference with `controller: true`, if any.
    pub controller: Option<OwnerRef>,
    pub phase: PodPhase,
    /// The Ready condition is True.
    pub ready: bool,
    /// When the Ready condition last changed (its `lastTransitionTime`).
    pub ready_changed: Option<Timestamp>,
    /// `metadata.deletionTimestamp` is set.
    pub terminating: bool,
    /// `metadata.creationTimestamp`: tells a new pod from an old one of the same name
    /// (StatefulSets reuse names).
    pub created: Option<Timestamp>,
}

impl PodFacts {
    /// Translates a full pod. Missing fields read as their Kubernetes defaults (a pod with no
    /// status is Pending and not Ready).
    pub fn from_pod(pod: &Pod) -> Self {
        let meta = &pod.metadata;
        let status = pod.status.as_ref();
        let phase = match status.and_then(|s| s.phase.as_deref()) {
            Some("Running") => PodPhase::Running,
            Some("Succeeded") => PodPhase::Succeeded,
            Some("Failed") => PodPhase::Failed,
            Some("Unknown") => PodPhase::Unknown,
            _ => PodPhase::Pending,
        };
        let ready_condition = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
        let controller = meta
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| OwnerRef::new(&o.api_version, &o.kind, &o.name));
        Self {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            labels: meta.labels.clone().unwrap_or_default(),
            controller,
            phase,
            ready: ready_condition.is_some_and(|c| c.status == "True"),
            ready_changed: ready_condition
                .and_then(|c| c.last_transition_time.as_ref())
                .map(|t| t.0),
            terminating: meta.deletion_timestamp.is_some(),
            created: meta.creation_timestamp.as_ref().map(|t| t.0),
        }
    }

    /// Succeeded or Failed: the pod will never run again, so disrupting it costs nothing.
    pub fn is_terminal(&self) -> bool {
        matches!(self.phase, PodPhase::Succeeded | PodPhase::Failed)
    }

    /// Running, Ready, not terminating, and Ready for at least `min_ready_seconds`. Whether the pod
    /// is recorded in a budget's status maps is the budget's concern, not the pod's.
    pub fn is_available(&self, min_ready_seconds: i32, now: Timestamp) -> bool {
        if self.phase != PodPhase::Running || !self.ready || self.terminating {
            return false;
        }
        if min_ready_seconds <= 0 {
            return true;
        }
        match self.ready_changed {
            // Like Kubernetes' IsPodAvailable: without a transition time the pod cannot prove
            // it has been Ready long enough.
            None => false,
            Some(since) => {
                since
                    .saturating_add(SignedDuration::from_secs(i64::from(min_ready_seconds)))
                    .unwrap_or(Timestamp::MAX)
                    <= now
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    pub fn ready_pod(name: &str, labels: &[(&str, &str)], ready_at: i64) -> PodFacts {
        PodFacts {
            namespace: "ns".into(),
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            controller: None,
            phase: PodPhase::Running,
            ready: true,
            ready_changed: Some(ts(ready_at)),
            terminating: false,
            created: Some(ts(ready_at.min(0))),
        }
    }

    #[test]
    fn availability_follows_kubernetes() {
        let p = ready_pod("a", &[], 100);
        assert!(p.is_available(0, ts(100)));
        assert!(!p.is_available(10, ts(109)));
        assert!(p.is_available(10, ts(110)));
        assert!(
            !PodFacts {
                ready: false,
                ..p.clone()
            }
            .is_available(0, ts(200))
        );
        assert!(
            !PodFacts {
                terminating: true,
                ..p.clone()
            }
            .is_available(0, ts(200))
        );
        assert!(
            !PodFacts {
                phase: PodPhase::Pending,
                ..p.clone()
            }
            .is_available(0, ts(200))
        );
        assert!(
            !PodFacts {
                ready_changed: None,
                ..p.clone()
            }
            .is_available(5, ts(200))
        );
        assert!(
            PodFacts {
                ready_changed: None,
                ..p
            }
            .is_available(0, ts(200))
        );
    }

    #[test]
    fn translates_a_captured_pod() {
        let review: serde_json::Value =
            serde_json::from_str(include_str!("../../../testdata/admission/pods-DELETE.json"))
                .unwrap();
        let pod: Pod = serde_json::from_value(review["request"]["oldObject"].clone()).unwrap();
        let facts = PodFacts::from_pod(&pod);
        assert_eq!(facts.name, pod.metadata.name.clone().unwrap());
        assert!(!facts.name.is_empty());
        let owner = facts
            .controller
            .expect("a ReplicaSet owns the captured pod");
        assert_eq!(owner.kind, "ReplicaSet");
        assert_eq!(owner.group(), "apps");
        assert!(!facts.terminating);
        assert_eq!(facts.phase, PodPhase::Running);
        assert_eq!(facts.labels.get("app").map(String::as_str), Some("app"));
    }

    #[test]
    fn same_object_ignores_the_version() {
        let a = OwnerRef::new("apps/v1", "Deployment", "web");
        assert!(a.same_object(&OwnerRef::new("apps/v1beta2", "Deployment", "web")));
        assert!(!a.same_object(&OwnerRef::new("apps/v1", "StatefulSet", "web")));
        assert!(!a.same_object(&OwnerRef::new("v1", "Deployment", "web")));
        assert_eq!(OwnerRef::new("v1", "Pod", "x").group(), "");
    }
}
