use super::*;
use steady_budget::{IntOrPercent, OperationSet, Policy, Target, UnhealthyPodPolicy};

/// A Running, Ready pod, built through `PodFacts::from_pod` like the watches do.
pub fn mk_pod(ns: &str, name: &str, labels: &[(&str, &str)], rs: Option<&str>) -> PodFacts {
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::json!(v)))
        .collect();
    let owners: Vec<serde_json::Value> = rs
        .map(|rs| serde_json::json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": "u", "controller": true}))
        .into_iter()
        .collect();
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": ns, "labels": labels, "ownerReferences": owners},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    }))
    .unwrap();
    let facts = PodFacts::from_pod(&pod);
    assert_eq!(facts.phase, PodPhase::Running);
    facts
}

pub fn mk_spec(app: &str, max_unavailable: i32) -> BudgetSpec {
    BudgetSpec {
        target: Target::Selector(steady_budget::Selector::from_labels([("app", app)])),
        policy: Policy::MaxUnavailable(IntOrPercent::Int(max_unavailable)),
        protect: OperationSet::ALL,
        unhealthy_pod_policy: UnhealthyPodPolicy::IfHealthyBudget,
        total_replicas: None,
        ignored_pod_selector: None,
    }
}

pub fn mk_budget(ns: &str, name: &str, app: &str, allowed: i32, rv: &str) -> BudgetEntry {
    BudgetEntry {
        id: BudgetId::pub_(ns, name),
        uid: Some(format!("uid-{name}")),
        generation: 1,
        resource_version: rv.into(),
        spec: Ok(mk_spec(app, 1)),
        raw: RawBudget::Pub(Default::default()),
        status: BudgetStatus {
            observed_generation: 1,
            unavailable_allowed: allowed,
            ..Default::default()
        },
    }
}

fn mk_owner(
    ns: &str,
    kind: &str,
    name: &str,
    replicas: i32,
    parent: Option<OwnerRef>,
) -> (OwnerKey, OwnerInfo) {
    (
        OwnerKey::new(ns, &OwnerRef::new("apps/v1", kind, name)),
        OwnerInfo {
            controller: parent,
            replicas: Some(replicas),
            min_ready_seconds: None,
        },
    )
}

#[test]
fn pods_apply_delete_reset() {
    let mut idx = Index::default();
    assert!(idx.apply_pod(mk_pod("a", "p1", &[("app", "web")], None)));
    assert!(
        !idx.apply_pod(mk_pod("a", "p1", &[("app", "web")], None)),
        "unchanged pod is not a change"
    );
    assert!(idx.apply_pod(mk_pod("a", "p1", &[("app", "api")], None)));
    assert_eq!(idx.pod("a", "p1").unwrap().labels["app"], "api");
    assert!(idx.apply_pod(mk_pod("b", "p1", &[], None)));
    assert_eq!(idx.pod_count(), 2);
    assert!(idx.delete_pod("a", "p1"));
    assert!(!idx.delete_pod("a", "p1"));
    assert!(idx.pod("a", "p1").is_none());
    assert!(idx.pod("b", "p1").is_some());
    // What comes out is what went in.
    let p = mk_pod(
        "a",
        "round",
        &[("app", "web"), ("tier", "x")],
        Some("web-1"),
    );
    idx.apply_pod(p.clone());
    assert_eq!(idx.pod("a", "round"), Some(p));

    let changed = idx.reset_pods(vec![
        mk_pod("b", "p1", &[], None),
        mk_pod("c", "x", &[], None),
    ]);
    // "a" lost its pod "round"; "b" is unchanged; "c" is new.
    assert_eq!(
        changed.into_iter().collect::<Vec<_>>(),
        vec!["a".to_owned(), "c".to_owned()]
    );
    let changed = idx.reset_pods(vec![mk_pod("c", "x", &[], None)]);
    assert_eq!(
        changed.into_iter().collect::<Vec<_>>(),
        vec!["b".to_owned()]
    );
    assert_eq!(idx.namespace_pods("c").len(), 1);
    assert!(idx.namespace_pods("b").is_empty());
}

#[test]
fn pods_seen_deleted_under_generated_names_are_gone_until_a_pod_takes_the_name() {
    use std::time::{Duration, Instant};
    let mut idx = Index::default();
    let t0 = Instant::now();
    assert!(!idx.is_gone("a", "web-x1"));
    idx.note_gone("a", "web-x1", t0);
    assert!(idx.is_gone("a", "web-x1"));
    assert!(!idx.is_gone("b", "web-x1"), "per namespace");
    idx.apply_pod(mk_pod("a", "web-x1", &[], None));
    assert!(!idx.is_gone("a", "web-x1"), "a pod holds the name again");
    // Past the cap the oldest tombstones go first; the newest stay.
    for i in 0..MAX_GONE {
        idx.note_gone("a", &format!("p{i}"), t0 + Duration::from_millis(i as u64));
    }
    idx.note_gone("a", "newest", t0 + Duration::from_secs(1000));
    assert!(idx.is_gone("a", "newest"));
    assert!(idx.is_gone("a", &format!("p{}", MAX_GONE - 1)));
    assert!(!idx.is_gone("a", "p0"));
    assert!(idx.gone_count <= MAX_GONE / 2 + 2, "{}", idx.gone_count);
    // An hour on, the old ones are forgotten at the next overflow.
    idx.forget_gone(t0 + GONE_KEEP + Duration::from_secs(1001));
    assert!(!idx.is_gone("a", "newest"));
    assert_eq!(idx.gone_count, 0);
}

#[test]
fn owners_resolve_through_the_index() {
    let mut idx = Index::default();
    let (k, v) = mk_owner("a", "Deployment", "web", 4, None);
    assert!(idx.apply_owner(k.clone(), v.clone()));
    assert!(!idx.apply_owner(k, v));
    let (k, v) = mk_owner(
        "a",
        "ReplicaSet",
        "web-1",
        4,
        Some(OwnerRef::new("apps/v1", "Deployment", "web")),
    );
    idx.apply_owner(k, v);
    let res = idx.resolve(&mk_pod("a", "p", &[], Some("web-1")));
    assert_eq!(
        res.scaled.map(|(o, r)| (o.name, r)),
        Some(("web".into(), 4))
    );
    assert!(res.missing.is_none());
    // Another namespace does not see these owners.
    let res = idx.resolve(&mk_pod("b", "p", &[], Some("web-1")));
    assert_eq!(res.missing.map(|o| o.name), Some("web-1".into()));
    // A re-list of Deployments drops the one that is gone but keeps ReplicaSets.
    let changed = idx.reset_owners("apps", "Deployment", vec![]);
    assert!(changed.contains("a"));
    let res = idx.resolve(&mk_pod("a", "p", &[], Some("web-1")));
    assert_eq!(res.missing.map(|o| o.kind), Some("Deployment".into()));
    assert_eq!(res.chain.len(), 2);
    assert!(idx.delete_owner(&OwnerKey::new(
        "a",
        &OwnerRef::new("apps/v1", "ReplicaSet", "web-1")
    )));
}

#[test]
fn budgets_apply_delete_reset_and_fast_path() {
    let mut idx = Index::default();
    assert!(!idx.has_budgets("a"));
    assert!(idx.apply_budget(mk_budget("a", "b1", "web", 1, "1")));
    assert!(!idx.apply_budget(mk_budget("a", "b1", "web", 1, "1")));
    assert!(idx.apply_budget(mk_budget("a", "b1", "web", 0, "2")));
    assert_eq!(
        idx.budget(&BudgetId::pub_("a", "b1"))
            .unwrap()
            .resource_version,
        "2"
    );
    idx.apply_budget(mk_budget("a", "b0", "web", 1, "1"));
    assert!(idx.has_budgets("a"));
    let names: Vec<_> = idx
        .budgets_in("a")
        .iter()
        .map(|b| b.id.name.clone())
        .collect();
    assert_eq!(names, vec!["b0", "b1"], "budgets come in a stable order");
    assert!(idx.delete_budget(&BudgetId::pub_("a", "b0")));
    assert!(idx.delete_budget(&BudgetId::pub_("a", "b1")));
    assert!(
        !idx.has_budgets("a"),
        "an emptied namespace leaves the fast path on"
    );

    idx.apply_budget(mk_budget("a", "b1", "web", 1, "1"));
    let mut pdb = mk_budget("a", "pdb", "web", 1, "1");
    pdb.id.kind = BudgetKind::PodDisruptionBudget;
    idx.apply_budget(pdb);
    let changed = idx.reset_budgets(
        BudgetKind::PodUnavailableBudget,
        vec![mk_budget("c", "b9", "x", 1, "1")],
    );
    assert_eq!(
        changed.into_iter().collect::<Vec<_>>(),
        vec!["a".to_owned(), "c".to_owned()]
    );
    assert_eq!(
        idx.budgets_in("a").len(),
        1,
        "the PDB survives a PUB re-list"
    );
    assert_eq!(idx.all_budgets().len(), 2);
}

#[test]
fn pdb_translation_guards_everything_but_eviction() {
    use k8s_openapi::api::policy::v1::{
        PodDisruptionBudget, PodDisruptionBudgetSpec, PodDisruptionBudgetStatus,
    };
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let pdb = PodDisruptionBudget {
        metadata: kube::api::ObjectMeta {
            name: Some("web".into()),
            namespace: Some("a".into()),
            generation: Some(3),
            resource_version: Some("77".into()),
            ..Default::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(Default::default()),
            max_unavailable: Some(IntOrString::String("25%".into())),
            ..Default::default()
        }),
        status: Some(PodDisruptionBudgetStatus {
            observed_generation: Some(3),
            disruptions_allowed: 2,
            current_healthy: 9,
            desired_healthy: 7,
            expected_pods: 10,
            ..Default::default()
        }),
    };
    let e = entry_from_pdb(&pdb);
    assert_eq!(e.id.kind, BudgetKind::PodDisruptionBudget);
    assert_eq!((e.generation, e.resource_version.as_str()), (3, "77"));
    let spec = e.spec.clone().unwrap();
    assert!(!spec.protect.contains(steady_budget::Operation::Evict));
    assert!(spec.protect.contains(steady_budget::Operation::Delete));
    assert_eq!(e.status.unavailable_allowed, 2);
    let taken = e.status.with_unit_taken(
        "p",
        steady_budget::Operation::Update,
        3,
        jiff::Timestamp::from_second(5).unwrap(),
    );
    let back = convert::status_to_pdb(&taken);
    assert_eq!(back.disruptions_allowed, 1);
    assert!(
        back.disrupted_pods.unwrap().contains_key("p"),
        "updates are recorded in the PDB's one map"
    );
    let mut no_selector = pdb.clone();
    no_selector.spec.as_mut().unwrap().selector = None;
    assert!(entry_from_pdb(&no_selector).spec.is_err());
}

#[test]
fn owners_from_dynamic_objects() {
    let o: DynamicObjectAlias = serde_json::from_value(serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "canary", "namespace": "a"},
        "spec": {"replicas": 5, "minReadySeconds": 10}
    }))
    .unwrap();
    let (k, info) = owner_from_dynamic(&o, "argoproj.io", "Rollout").unwrap();
    assert_eq!(
        (k.group.as_str(), k.name.as_str()),
        ("argoproj.io", "canary")
    );
    assert_eq!((info.replicas, info.min_ready_seconds), (Some(5), Some(10)));
    let rs: DynamicObjectAlias = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-1", "namespace": "a", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u", "controller": true}]},
        "spec": {}
    }))
    .unwrap();
    let (_, info) = owner_from_dynamic(&rs, "apps", "ReplicaSet").unwrap();
    assert_eq!(info.controller.map(|c| c.name), Some("web".into()));
    assert_eq!(info.replicas, Some(0));
}

type DynamicObjectAlias = kube::api::DynamicObject;
