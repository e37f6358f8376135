//! `steady plan` and what keeps a pod off a node: claims bound to volumes in one zone, node
//! taints against tolerations, and required node affinity. Fixed cluster states, the exact
//! blockers (or none when another node can take the pod).

use serde_json::{Value, json};
use steady_sim::plan::{ClusterState, Operation, PlanError, plan, report};
use steady_sim::scenario::Dur;

fn node(name: &str, zone: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone}},
        "status": {"allocatable": {"pods": "10"}, "conditions": [{"type": "Ready", "status": "True"}]}})
}

fn drain(nodes: &[&str]) -> Operation {
    Operation::Drain {
        nodes: nodes.iter().map(|s| (*s).to_owned()).collect(),
        parallel: 1,
    }
}

fn state(items: Vec<Value>) -> ClusterState {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    ClusterState::parse("state.json", &list.to_string()).expect("a valid state")
}

/// A claim `name` bound to volume `pv-<name>`, which lives in `zone` (said by its node affinity,
/// or by its zone label when `by_label`).
fn claim(ns: &str, name: &str, zone: &str, by_label: bool) -> Vec<Value> {
    let pv = format!("pv-{name}");
    let mut volume = json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
            "claimRef": {"namespace": ns, "name": name}}});
    if by_label {
        volume["metadata"]["labels"] = json!({"failure-domain.beta.kubernetes.io/zone": zone});
    } else {
        volume["spec"]["nodeAffinity"] = json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]}]}]}});
    }
    vec![
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": ns},
            "spec": {"accessModes": ["ReadWriteOnce"], "volumeName": pv,
                "resources": {"requests": {"storage": "1Gi"}}},
            "status": {"phase": "Bound"}}),
        volume,
    ]
}

/// StatefulSet shop/db with a `data` volumeClaimTemplate, pod db-i on `nodes[i]`, each
/// ordinal's claim data-db-i bound to a volume in its node's zone, under a PDB maxUnavailable 1.
fn db(nodes: &[(&str, &str)]) -> Vec<Value> {
    let labels = json!({"app": "db"});
    let mut items = vec![
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "shop"},
            "spec": {"replicas": nodes.len(), "serviceName": "db", "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "db", "image": "db:1"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}),
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "db", "namespace": "shop"},
            "spec": {"selector": {"matchLabels": labels}, "maxUnavailable": 1}}),
    ];
    for (i, (n, zone)) in nodes.iter().enumerate() {
        items.push(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("db-{i}"), "namespace": "shop", "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "s", "controller": true}]},
            "spec": {"nodeName": n, "containers": [{"name": "db", "image": "db:1"}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": format!("data-db-{i}")}}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}));
        items.extend(claim("shop", &format!("data-db-{i}"), zone, i == 2));
    }
    items
}

/// Three zones, one node each: db-0's volume is in zone-a, and draining zone-a's only node
/// leaves it nowhere to go.
#[test]
fn a_claim_bound_in_a_zone_with_no_other_node_blocks_the_drain() {
    let mut items = vec![
        node("node-a", "zone-a"),
        node("node-b", "zone-b"),
        node("node-c", "zone-c"),
    ];
    items.extend(db(&[
        ("node-a", "zone-a"),
        ("node-b", "zone-b"),
        ("node-c", "zone-c"),
    ]));
    let p = plan(&state(items), &drain(&["node-a"]), Some(Dur::secs(300))).unwrap();
    assert_eq!(
        report::human(&p.report),
        "\
plan: drain node-a
timeout: 5m00s

NODES
  node-a                                   drained in 5s (0:00 → 0:05)

AVAILABILITY (workloads that lose pods: lowest available, when)
  shop/db (StatefulSet)                    2 of 3 at 0:00 (from 3; PodDisruptionBudget shop/db)

BLOCKERS
  1. no schedulable node left in zone-a for pod shop/db-0 (PersistentVolumeClaim shop/data-db-0 is bound to a volume in zone-a)
     fix: uncordon a zone-a node or add capacity there before the drain: the volume cannot follow the pod to another zone

verdict: PASS — drain node-a completes in 5s and no workload falls to 0 available pods
"
    );
    let b = &p.report.blockers[0];
    assert_eq!(
        (b.kind.as_str(), b.object.as_str()),
        ("cannot-reschedule", "StatefulSet shop/db")
    );
    // The replacement stays Pending: zone-b and zone-c have room, but not its volume.
    let db0 = p
        .sim
        .pods()
        .iter()
        .find(|x| x.facts.name == "db-0" && !x.gone);
    assert!(db0.is_some_and(|x| x.node.is_none()));
}

/// Another zone-a node: db-0 moves there with its volume, no blocker.
#[test]
fn a_claim_bound_in_a_zone_with_another_node_moves_there() {
    let mut items = vec![
        node("node-a", "zone-a"),
        node("node-b", "zone-b"),
        node("node-c", "zone-c"),
        node("node-a2", "zone-a"),
    ];
    items.extend(db(&[
        ("node-a", "zone-a"),
        ("node-b", "zone-b"),
        ("node-c", "zone-c"),
    ]));
    let p = plan(&state(items), &drain(&["node-a"]), Some(Dur::secs(300))).unwrap();
    assert!(p.report.blockers.is_empty(), "{:?}", p.report.blockers);
    assert!(p.report.passed);
    let db0 = p
        .sim
        .pods()
        .iter()
        .find(|x| x.facts.name == "db-0" && !x.gone)
        .unwrap();
    // node-a2 is the state's fourth node; zone-b/c have fewer pods but not the volume.
    assert_eq!(db0.node, Some(3));
}

/// A Deployment mounting one claim: every replacement is pinned to its volume's zone (here by
/// the legacy zone label), and a cordoned zone-a node does not count.
#[test]
fn a_deployment_claim_pins_every_pod() {
    let labels = json!({"app": "cms"});
    let mut cordoned = node("node-a2", "zone-a");
    cordoned["spec"] = json!({"unschedulable": true});
    let mut items = vec![node("node-a", "zone-a"), node("node-b", "zone-b"), cordoned];
    items.push(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "cms", "namespace": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "strategy": {"type": "Recreate"},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "cms", "image": "cms:1"}],
                "volumes": [{"name": "files", "persistentVolumeClaim": {"claimName": "files"}}]}}}}));
    items.push(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "cms-1", "namespace": "web",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "cms", "uid": "u", "controller": true}]}}));
    items.push(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "cms-1-x", "namespace": "web", "labels": labels,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "cms-1", "uid": "r", "controller": true}]},
        "spec": {"nodeName": "node-a", "containers": [{"name": "cms", "image": "cms:1"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}));
    items.extend(claim("web", "files", "zone-a", true));
    let p = plan(&state(items), &drain(&["node-a"]), Some(Dur::secs(60))).unwrap();
    let reasons: Vec<&str> = p
        .report
        .blockers
        .iter()
        .map(|b| b.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "no schedulable node left in zone-a for pod web/cms-v1-2 (PersistentVolumeClaim web/files is bound to a volume in zone-a)",
            "Deployment web/cms has 0 of 1 pod(s) available at 0:00: no budget covers it, so nothing holds the disruption back",
        ]
    );
}

/// A volume usable from two zones (a regional disk) pins nothing; it is said in a note.
#[test]
fn a_volume_in_two_zones_is_a_note() {
    let mut items = vec![node("node-a", "zone-a"), node("node-b", "zone-b")];
    items.extend(db(&[("node-a", "zone-a")]));
    for i in &mut items {
        if i["kind"] == "PersistentVolume" {
            i["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
                ["values"] = json!(["zone-a", "zone-b"]);
        }
    }
    let p = plan(&state(items), &drain(&["node-a"]), Some(Dur::secs(300))).unwrap();
    // The single replica restarts (an outage), on node-b: not a zone pin.
    let kinds: Vec<&str> = p.report.blockers.iter().map(|b| b.kind.as_str()).collect();
    assert_eq!(kinds, ["outage"]);
    assert!(p.sim.pods().iter().any(|x| !x.gone && x.node == Some(1)));
    assert_eq!(
        p.report.notes,
        [
            "PersistentVolumeClaim shop/data-db-0 is bound to a volume usable from 2 zones (zone-a, zone-b): not modelled as a zone pin"
        ]
    );
}

/// A tainted node: pods that do not tolerate it cannot go there, pods that do can.
fn tainted(toleration: Option<Value>) -> ClusterState {
    let labels = json!({"app": "api"});
    let mut gpu = node("node-g", "zone-b");
    gpu["spec"] = json!({"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
        {"key": "spot", "effect": "PreferNoSchedule"}]});
    let mut items = vec![node("node-a", "zone-a"), gpu];
    let mut spec = json!({"containers": [{"name": "api", "image": "api:1"}]});
    if let Some(t) = toleration {
        spec["tolerations"] = json!([t]);
    }
    items.push(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "ops"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec}}}));
    items.push(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "api-1", "namespace": "ops",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "uid": "u", "controller": true}]}}));
    items.push(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "api-1-x", "namespace": "ops", "labels": labels,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-1", "uid": "r", "controller": true}]},
        "spec": {"nodeName": "node-a", "containers": [{"name": "api", "image": "api:1"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}));
    state(items)
}

#[test]
fn a_taint_the_pods_do_not_tolerate_blocks() {
    for toleration in [
        None,
        Some(json!({"key": "dedicated", "operator": "Equal", "value": "cpu"})),
        Some(json!({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"})),
        Some(json!({"operator": "Equal", "value": "gpu"})),
    ] {
        let p = plan(
            &tainted(toleration.clone()),
            &drain(&["node-a"]),
            Some(Dur::secs(60)),
        )
        .unwrap();
        let b = &p.report.blockers[0];
        assert_eq!(
            (b.kind.as_str(), b.reason.as_str(), b.fix.as_str()),
            (
                "cannot-reschedule",
                "1 pod(s) cannot be rescheduled: every schedulable node it may use has a taint its pods do not tolerate (node-g has dedicated=gpu:NoSchedule)",
                "add a matching toleration to the pod template, remove the taint from a node, or add an untainted node before the drain"
            ),
            "toleration {toleration:?}"
        );
    }
}

#[test]
fn a_tolerated_taint_lets_the_pod_move() {
    for toleration in [
        json!({"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}),
        json!({"key": "dedicated", "value": "gpu"}),
        json!({"key": "dedicated", "operator": "Exists"}),
        json!({"operator": "Exists"}),
        json!({"operator": "Exists", "effect": "NoSchedule"}),
    ] {
        let p = plan(
            &tainted(Some(toleration.clone())),
            &drain(&["node-a"]),
            Some(Dur::secs(60)),
        )
        .unwrap();
        // The single replica falls to 0 for its restart, but finds node-g.
        let kinds: Vec<&str> = p.report.blockers.iter().map(|b| b.kind.as_str()).collect();
        assert_eq!(kinds, ["outage"], "toleration {toleration}");
        assert!(p.sim.pods().iter().any(|x| !x.gone && x.node == Some(1)));
    }
}

/// Required node affinity: terms ORed, expressions ANDed, matchFields on the node's name.
fn affine(terms: Value) -> ClusterState {
    let labels = json!({"app": "batch"});
    let mut a = node("node-a", "zone-a");
    a["metadata"]["labels"]["tier"] = json!("2");
    let mut b = node("node-b", "zone-b");
    b["metadata"]["labels"]["tier"] = json!("3");
    b["metadata"]["labels"]["disk"] = json!("ssd");
    let mut items = vec![a, b, node("node-c", "zone-c")];
    let spec = json!({"containers": [{"name": "b", "image": "b:1"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}});
    items.push(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "batch", "namespace": "ops"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec}}}));
    items.push(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "batch-1", "namespace": "ops",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "batch", "uid": "u", "controller": true}]}}));
    items.push(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "batch-1-x", "namespace": "ops", "labels": labels,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "batch-1", "uid": "r", "controller": true}]},
        "spec": {"nodeName": "node-a", "containers": [{"name": "b", "image": "b:1"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}));
    state(items)
}

/// Where batch's replacement goes when node-a is drained (None: Pending), and the blocker.
fn affine_drain(terms: Value) -> (Option<String>, Vec<String>) {
    let p = plan(&affine(terms), &drain(&["node-a"]), Some(Dur::secs(60))).unwrap();
    let at = p
        .sim
        .pods()
        .iter()
        .find(|x| !x.gone)
        .and_then(|x| x.node)
        .map(|n| p.sim.model().nodes[n].name.clone());
    let blockers = p
        .report
        .blockers
        .iter()
        .filter(|b| b.kind == "cannot-reschedule")
        .map(|b| b.reason.clone())
        .collect();
    (at, blockers)
}

#[test]
fn required_node_affinity_operators() {
    let expr =
        |key: &str, op: &str, values: Value| json!({"key": key, "operator": op, "values": values});
    let cases = [
        (
            json!([{"matchExpressions": [expr("disk", "In", json!(["ssd", "nvme"]))]}]),
            Some("node-b"),
        ),
        (
            json!([{"matchExpressions": [expr("disk", "NotIn", json!(["ssd"]))]}]),
            Some("node-c"),
        ),
        (
            json!([{"matchExpressions": [{"key": "disk", "operator": "Exists"}]}]),
            Some("node-b"),
        ),
        (
            json!([{"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}]),
            Some("node-c"),
        ),
        (
            json!([{"matchExpressions": [expr("tier", "Gt", json!(["2"]))]}]),
            Some("node-b"),
        ),
        (
            json!([{"matchExpressions": [expr("tier", "Lt", json!(["3"]))]}]),
            None,
        ),
        (
            json!([{"matchFields": [expr("metadata.name", "In", json!(["node-c"]))]}]),
            Some("node-c"),
        ),
        // Expressions ANDed: zone-b and no ssd is no node.
        (
            json!([{"matchExpressions": [expr("topology.kubernetes.io/zone", "In", json!(["zone-b"])),
            expr("disk", "NotIn", json!(["ssd"]))]}]),
            None,
        ),
        // Terms ORed.
        (
            json!([{"matchExpressions": [expr("disk", "In", json!(["hdd"]))]},
            {"matchFields": [expr("metadata.name", "NotIn", json!(["node-a", "node-b"]))]}]),
            Some("node-c"),
        ),
        // An empty term matches no node.
        (json!([{}]), None),
    ];
    for (terms, want) in cases {
        let (got, blockers) = affine_drain(terms.clone());
        assert_eq!(got.as_deref(), want, "{terms}");
        assert_eq!(
            blockers.len(),
            usize::from(want.is_none()),
            "{terms}: {blockers:?}"
        );
    }
    let (_, blockers) = affine_drain(
        json!([{"matchExpressions": [expr("tier", "Lt", json!(["3"]))]},
        {"matchExpressions": [expr("disk", "In", json!(["hdd"]))]}]),
    );
    assert_eq!(
        blockers,
        [
            "1 pod(s) cannot be rescheduled: no schedulable node matches its required node affinity (tier Lt [3] or disk In [hdd])"
        ]
    );
}

#[test]
fn bad_placement_fields_name_the_object() {
    let err = |s: ClusterState| match plan(&s, &drain(&["node-a"]), None) {
        Err(e @ PlanError::Object { .. }) => e.to_string(),
        Err(e) => panic!("another error: {e}"),
        Ok(_) => panic!("planned"),
    };
    assert_eq!(
        err(affine(
            json!([{"matchExpressions": [{"key": "disk", "operator": "Near"}]}])
        )),
        "Deployment ops/batch: spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator \"Near\" is not In, NotIn, Exists, DoesNotExist, Gt or Lt"
    );
    assert_eq!(
        err(tainted(Some(
            json!({"key": "dedicated", "operator": "Like"})
        ))),
        "Deployment ops/api: spec.template.spec.tolerations[0].operator \"Like\" is not Equal or Exists"
    );
    let mut s = tainted(None);
    if let Some(t) = s.nodes[1].spec.as_mut().and_then(|x| x.taints.as_mut()) {
        t[0].effect = "Sometimes".into();
    }
    assert_eq!(
        err(s),
        "Node node-g: spec.taints[0].effect \"Sometimes\" is not NoSchedule, PreferNoSchedule or NoExecute"
    );
    // What the model checks itself: Gt takes one integer.
    let e = plan(
        &affine(
            json!([{"matchExpressions": [{"key": "tier", "operator": "Gt", "values": ["two"]}]}]),
        ),
        &drain(&["node-a"]),
        None,
    )
    .err()
    .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some(
            "Deployment ops/batch: nodeAffinity[0].matchExpressions[0].values: Gt takes exactly one integer value"
        )
    );
}

/// A state written before PersistentVolumeClaims were read (no such keys) still reads, and a
/// state without them writes no such keys.
#[test]
fn states_without_volumes_read_and_write_as_before() {
    let bare = json!({"nodes": [node("node-a", "zone-a")], "pods": []});
    let s = ClusterState::parse("old.json", &bare.to_string()).unwrap();
    let v = serde_json::to_value(&s).unwrap();
    assert!(v.get("persistentVolumeClaims").is_none() && v.get("persistentVolumes").is_none());
    let mut items = vec![node("node-a", "zone-a")];
    items.extend(claim("shop", "data", "zone-a", false));
    let s = state(items);
    let v = serde_json::to_value(&s).unwrap();
    let back = ClusterState::from_value("again", v).unwrap();
    assert_eq!(back.persistent_volume_claims.len(), 1);
    assert_eq!(back.persistent_volumes.len(), 1);
}

/// The only other node of the zone is tainted: the blocker says so, and the fix offers a
/// toleration.
#[test]
fn a_zone_node_that_refuses_the_pod_is_named() {
    let mut a2 = node("node-a2", "zone-a");
    a2["spec"] = json!({"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]});
    let mut items = vec![node("node-a", "zone-a"), node("node-b", "zone-b"), a2];
    items.extend(db(&[("node-a", "zone-a"), ("node-b", "zone-b")]));
    let p = plan(&state(items), &drain(&["node-a"]), Some(Dur::secs(300))).unwrap();
    let b: Vec<(&str, &str)> = p
        .report
        .blockers
        .iter()
        .map(|b| (b.reason.as_str(), b.fix.as_str()))
        .collect();
    assert_eq!(
        b,
        [(
            "no schedulable node left in zone-a for pod shop/db-0 (PersistentVolumeClaim shop/data-db-0 is bound to a volume in zone-a); the zone-a nodes with room do not admit it: node-a2 has taint dedicated=gpu:NoSchedule (not tolerated)",
            "let the pods onto one of those zone-a nodes (a toleration, a label), uncordon a zone-a node or add capacity there before the drain: the volume cannot follow the pod to another zone"
        )]
    );
}
