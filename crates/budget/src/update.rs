//! Which pod changes restart a container, and so are disruptions: the pod `UPDATE` and
//! `pods/resize` cases of the webhook. Metadata and status never are; the API server only lets a
//! few spec fields change on a live pod, and each is judged here.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Why a change restarts a container (or ends the pod).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restart {
    ImageChanged {
        container: String,
        from: String,
        to: String,
    },
    ContainerSetChanged,
    ResizeRestarts {
        container: String,
        resource: String,
    },
    /// A shorter (or new) `activeDeadlineSeconds` can make the kubelet kill the pod.
    DeadlineShortened,
}

impl fmt::Display for Restart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ImageChanged {
                container,
                from,
                to,
            } => {
                write!(
                    f,
                    "container {container:?} image changes from {from} to {to}"
                )
            }
            Self::ContainerSetChanged => f.write_str("the set of containers changes"),
            Self::ResizeRestarts {
                container,
                resource,
            } => write!(
                f,
                "container {container:?} restarts to resize {resource} (its resizePolicy is RestartContainer)"
            ),
            Self::DeadlineShortened => f.write_str("activeDeadlineSeconds is set or shortened"),
        }
    }
}

/// A pod `UPDATE`: the first change that restarts a container, if any.
pub fn update_restart(old: &PodSpec, new: &PodSpec) -> Option<Restart> {
    for (old_cs, new_cs) in [
        (&old.containers, &new.containers),
        (
            &old.init_containers.clone().unwrap_or_default(),
            &new.init_containers.clone().unwrap_or_default(),
        ),
    ] {
        if let Some(r) = images_changed(old_cs, new_cs) {
            return Some(r);
        }
    }
    if let Some(new_deadline) = new.active_deadline_seconds
        && old.active_deadline_seconds.is_none_or(|d| new_deadline < d)
    {
        return Some(Restart::DeadlineShortened);
    }
    // Before Kubernetes 1.33 resources changed through the pod itself, not `pods/resize`.
    resize_restart(old, new)
}

/// A `pods/resize`: the first resource change whose container's `resizePolicy` restarts it.
pub fn resize_restart(old: &PodSpec, new: &PodSpec) -> Option<Restart> {
    let empty = Vec::new();
    let all = |s: &'_ PodSpec| -> Vec<Container> {
        s.containers
            .iter()
            .chain(s.init_containers.as_ref().unwrap_or(&empty))
            .cloned()
            .collect()
    };
    let old_cs = all(old);
    for new_c in all(new) {
        let Some(old_c) = old_cs.iter().find(|c| c.name == new_c.name) else {
            continue;
        };
        for resource in changed_resources(old_c, &new_c) {
            let restarts = new_c
                .resize_policy
                .iter()
                .flatten()
                .any(|p| p.resource_name == resource && p.restart_policy == "RestartContainer");
            if restarts {
                return Some(Restart::ResizeRestarts {
                    container: new_c.name.clone(),
                    resource,
                });
            }
        }
    }
    None
}

fn images_changed(old: &[Container], new: &[Container]) -> Option<Restart> {
    if old.len() != new.len() {
        return Some(Restart::ContainerSetChanged);
    }
    for n in new {
        let Some(o) = old.iter().find(|o| o.name == n.name) else {
            return Some(Restart::ContainerSetChanged);
        };
        if o.image != n.image {
            return Some(Restart::ImageChanged {
                container: n.name.clone(),
                from: o.image.clone().unwrap_or_default(),
                to: n.image.clone().unwrap_or_default(),
            });
        }
    }
    None
}

/// Names of the resources (cpu, memory, …) whose request or limit differs.
fn changed_resources(old: &Container, new: &Container) -> Vec<String> {
    let get = |c: &Container, limits: bool| -> BTreeMap<String, Quantity> {
        c.resources
            .as_ref()
            .and_then(|r| {
                if limits {
                    r.limits.clone()
                } else {
                    r.requests.clone()
                }
            })
            .unwrap_or_default()
    };
    let mut changed = Vec::new();
    for limits in [false, true] {
        let (o, n) = (get(old, limits), get(new, limits));
        for key in o.keys().chain(n.keys()) {
            if o.get(key) != n.get(key) && !changed.contains(key) {
                changed.push(key.clone());
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerResizePolicy, ResourceRequirements};

    fn container(name: &str, image: &str) -> Container {
        Container {
            name: name.into(),
            image: Some(image.into()),
            ..Default::default()
        }
    }

    fn spec(cs: Vec<Container>) -> PodSpec {
        PodSpec {
            containers: cs,
            ..Default::default()
        }
    }

    fn with_cpu(mut c: Container, cpu: &str, policy: Option<&str>) -> Container {
        c.resources = Some(ResourceRequirements {
            requests: Some([("cpu".to_owned(), Quantity(cpu.into()))].into()),
            ..Default::default()
        });
        c.resize_policy = policy.map(|p| {
            vec![ContainerResizePolicy {
                resource_name: "cpu".into(),
                restart_policy: p.into(),
            }]
        });
        c
    }

    #[test]
    fn image_changes_are_disruptive() {
        let old = spec(vec![
            container("app", "web:1"),
            container("side", "proxy:1"),
        ]);
        let new = spec(vec![
            container("app", "web:1"),
            container("side", "proxy:2"),
        ]);
        assert_eq!(
            update_restart(&old, &new),
            Some(Restart::ImageChanged {
                container: "side".into(),
                from: "proxy:1".into(),
                to: "proxy:2".into()
            })
        );
        let mut init_old = old.clone();
        init_old.init_containers = Some(vec![container("init", "a")]);
        let mut init_new = old.clone();
        init_new.init_containers = Some(vec![container("init", "b")]);
        assert!(matches!(
            update_restart(&init_old, &init_new),
            Some(Restart::ImageChanged { .. })
        ));
    }

    #[test]
    fn unchanged_and_harmless_changes_are_not() {
        let old = spec(vec![container("app", "web:1")]);
        assert_eq!(update_restart(&old, &old.clone()), None);
        let mut tolerations = old.clone();
        tolerations.tolerations = Some(vec![Default::default()]);
        assert_eq!(update_restart(&old, &tolerations), None);
        let mut longer = old.clone();
        longer.active_deadline_seconds = Some(100);
        let mut longer2 = old.clone();
        longer2.active_deadline_seconds = Some(200);
        assert_eq!(update_restart(&longer, &longer2), None);
        assert_eq!(
            update_restart(&longer2, &longer),
            Some(Restart::DeadlineShortened)
        );
        assert_eq!(
            update_restart(&old, &longer),
            Some(Restart::DeadlineShortened)
        );
    }

    #[test]
    fn resize_follows_resize_policy() {
        let old = spec(vec![with_cpu(
            container("app", "x"),
            "100m",
            Some("RestartContainer"),
        )]);
        let new = spec(vec![with_cpu(
            container("app", "x"),
            "200m",
            Some("RestartContainer"),
        )]);
        assert_eq!(
            resize_restart(&old, &new),
            Some(Restart::ResizeRestarts {
                container: "app".into(),
                resource: "cpu".into()
            })
        );
        let old = spec(vec![with_cpu(
            container("app", "x"),
            "100m",
            Some("NotRequired"),
        )]);
        let new = spec(vec![with_cpu(
            container("app", "x"),
            "200m",
            Some("NotRequired"),
        )]);
        assert_eq!(resize_restart(&old, &new), None);
        // The default policy is NotRequired.
        let old = spec(vec![with_cpu(container("app", "x"), "100m", None)]);
        let new = spec(vec![with_cpu(container("app", "x"), "200m", None)]);
        assert_eq!(resize_restart(&old, &new), None);
        // Unchanged resources never restart, whatever the policy.
        let same = spec(vec![with_cpu(
            container("app", "x"),
            "100m",
            Some("RestartContainer"),
        )]);
        assert_eq!(resize_restart(&same, &same.clone()), None);
    }

    #[test]
    fn captured_metadata_update_is_not_disruptive() {
        let review: serde_json::Value =
            serde_json::from_str(include_str!("../../../testdata/admission/pods-UPDATE.json"))
                .unwrap();
        let spec_of = |v: &serde_json::Value| -> PodSpec {
            serde_json::from_value(v["spec"].clone()).unwrap()
        };
        let old = spec_of(&review["request"]["oldObject"]);
        let new = spec_of(&review["request"]["object"]);
        assert_eq!(update_restart(&old, &new), None);
        let mut changed = new.clone();
        changed.containers[0].image = Some("other:2".into());
        assert!(update_restart(&old, &changed).is_some());
    }
}
