//! Owner-chain resolution: from a pod up through its controllers to the top-most owner with a scale
//! subresource (Pod → ReplicaSet → Deployment; → Argo Rollout; → CloneSet; → StatefulSet …).
//! The lookup is passed in, so the guard answers from its index and the simulator from its model.

use crate::pod::{OwnerRef, PodFacts};

/// What the engine needs to know about one owner object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerInfo {
    /// The owner's own controlling owner, if any.
    pub controller: Option<OwnerRef>,
    /// `spec.replicas` as its scale subresource reports it; `None` when the kind has no scale
    /// subresource (Job, DaemonSet …).
    pub replicas: Option<i32>,
    /// `spec.minReadySeconds`, when the kind has one.
    pub min_ready_seconds: Option<i32>,
}

/// Answers "what is this owner?" for a namespace. `None` means the owner is not known (deleted,
/// or not in the cache yet).
pub trait OwnerLookup {
    fn owner(&self, namespace: &str, owner: &OwnerRef) -> Option<OwnerInfo>;
}

/// No owners known; for bare pods and tests.
pub struct NoOwners;

impl OwnerLookup for NoOwners {
    fn owner(&self, _: &str, _: &OwnerRef) -> Option<OwnerInfo> {
        None
    }
}

/// The result of walking a pod's owner chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// The controllers from the pod's own upward, as far as they could be found.
    pub chain: Vec<OwnerRef>,
    /// The top-most owner with a scale subresource and its replicas: the workload whose size the
    /// budget's expected count uses. `None` for unmanaged pods.
    pub scaled: Option<(OwnerRef, i32)>,
    /// The `minReadySeconds` of the nearest owner that declares one, else 0.
    pub min_ready_seconds: i32,
    /// An owner named in the chain that the lookup did not know.
    pub missing: Option<OwnerRef>,
}

/// Owner chains deeper than this are cut; real ones have at most three links, and a cycle
/// (which a malformed object could create) must not loop forever.
const MAX_DEPTH: usize = 8;

pub fn resolve(pod: &PodFacts, lookup: &dyn OwnerLookup) -> Resolution {
    resolve_from(&pod.namespace, pod.controller.as_ref(), lookup)
}

/// Walks the chain starting at a pod's controller reference.
pub fn resolve_from(
    namespace: &str,
    controller: Option<&OwnerRef>,
    lookup: &dyn OwnerLookup,
) -> Resolution {
    let mut res = Resolution::default();
    let mut min_ready: Option<i32> = None;
    let mut next = controller.cloned();
    while let Some(current) = next.take() {
        if res.chain.len() >= MAX_DEPTH || res.chain.iter().any(|c| c.same_object(&current)) {
            break;
        }
        res.chain.push(current.clone());
        let Some(info) = lookup.owner(namespace, &current) else {
            res.missing = Some(current);
            break;
        };
        if min_ready.is_none() {
            min_ready = info.min_ready_seconds;
        }
        if let Some(replicas) = info.replicas {
            res.scaled = Some((current, replicas));
        }
        next = info.controller;
    }
    res.min_ready_seconds = min_ready.unwrap_or(0).max(0);
    res
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// An owner lookup over a map, for tests.
    #[derive(Default)]
    pub struct Owners(pub HashMap<(String, String), OwnerInfo>);

    impl Owners {
        pub fn add(&mut self, kind: &str, name: &str, info: OwnerInfo) -> &mut Self {
            self.0.insert((kind.into(), name.into()), info);
            self
        }
    }

    impl OwnerLookup for Owners {
        fn owner(&self, _: &str, o: &OwnerRef) -> Option<OwnerInfo> {
            self.0.get(&(o.kind.clone(), o.name.clone())).cloned()
        }
    }

    pub fn deployment(owners: &mut Owners, name: &str, replicas: i32, min_ready: i32) -> OwnerRef {
        owners.add(
            "Deployment",
            name,
            OwnerInfo {
                controller: None,
                replicas: Some(replicas),
                min_ready_seconds: Some(min_ready),
            },
        );
        let rs = format!("{name}-rs");
        owners.add(
            "ReplicaSet",
            &rs,
            OwnerInfo {
                controller: Some(OwnerRef::new("apps/v1", "Deployment", name)),
                replicas: Some(replicas),
                min_ready_seconds: Some(min_ready),
            },
        );
        OwnerRef::new("apps/v1", "ReplicaSet", &rs)
    }

    #[test]
    fn walks_to_the_top_most_scalable_owner() {
        let mut owners = Owners::default();
        let rs = deployment(&mut owners, "web", 5, 7);
        let res = resolve_from("ns", Some(&rs), &owners);
        assert_eq!(res.chain.len(), 2);
        let (top, replicas) = res.scaled.unwrap();
        assert_eq!(
            (top.kind.as_str(), top.name.as_str(), replicas),
            ("Deployment", "web", 5)
        );
        assert_eq!(res.min_ready_seconds, 7);
        assert!(res.missing.is_none());
    }

    #[test]
    fn argo_rollouts_and_unscalable_owners() {
        let mut owners = Owners::default();
        owners
            .add(
                "Rollout",
                "canary",
                OwnerInfo {
                    controller: None,
                    replicas: Some(4),
                    min_ready_seconds: None,
                },
            )
            .add(
                "ReplicaSet",
                "canary-abc",
                OwnerInfo {
                    controller: Some(OwnerRef::new("argoproj.io/v1alpha1", "Rollout", "canary")),
                    replicas: Some(2),
                    min_ready_seconds: None,
                },
            )
            .add(
                "Job",
                "once",
                OwnerInfo {
                    controller: None,
                    replicas: None,
                    min_ready_seconds: None,
                },
            );
        let res = resolve_from(
            "ns",
            Some(&OwnerRef::new("apps/v1", "ReplicaSet", "canary-abc")),
            &owners,
        );
        assert_eq!(
            res.scaled.map(|(o, r)| (o.kind, r)),
            Some(("Rollout".into(), 4))
        );
        let res = resolve_from(
            "ns",
            Some(&OwnerRef::new("batch/v1", "Job", "once")),
            &owners,
        );
        assert_eq!(res.scaled, None);
        assert_eq!(res.chain.len(), 1);
    }

    #[test]
    fn missing_owner_and_cycles_end_the_walk() {
        let mut owners = Owners::default();
        owners.add(
            "ReplicaSet",
            "loop",
            OwnerInfo {
                controller: Some(OwnerRef::new("apps/v1", "ReplicaSet", "loop")),
                replicas: Some(1),
                min_ready_seconds: None,
            },
        );
        let res = resolve_from(
            "ns",
            Some(&OwnerRef::new("apps/v1", "ReplicaSet", "loop")),
            &owners,
        );
        assert_eq!(res.chain.len(), 1);
        let res = resolve_from(
            "ns",
            Some(&OwnerRef::new("apps/v1", "ReplicaSet", "gone")),
            &owners,
        );
        assert_eq!(res.missing.map(|o| o.name), Some("gone".into()));
        assert_eq!(res.scaled, None);
    }
}
