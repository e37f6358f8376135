//! `steady plan` on fixed cluster states: the exact report (human and JSON) of a drain that
//! completes, one blocked by a budget that can never allow a disruption with an unbudgeted single
//! replica falling to 0, pods that cannot be rescheduled, rollouts and scale-in, and hostile states.

use serde_json::{Value, json};
use steady_sim::plan::{ClusterState, Operation, PlanError, Target, plan, report};
use steady_sim::scenario::{Dur, WorkloadKind};

fn node(name: &str, zone: &str, pods: u32) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone}},
        "status": {"allocatable": {"pods": pods.to_string()}, "conditions": [{"type": "Ready", "status": "True"}]}})
}

/// A Deployment, its ReplicaSet and its pods `<name>-rs-<i>` on `nodes[i]`, Ready.
fn deployment(ns: &str, name: &str, nodes: &[&str], extra_spec: Value) -> Vec<Value> {
    let labels = json!({"app": name});
    let mut pod_spec = json!({"containers": [{"name": "app", "image": "registry.example/app:1",
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "initialDelaySeconds": 10, "periodSeconds": 5}}]});
    if let (Value::Object(s), Value::Object(e)) = (&mut pod_spec, extra_spec) {
        s.extend(e);
    }
    let rs = format!("{name}-rs");
    let mut out = vec![
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": nodes.len(), "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": pod_spec}}}),
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": rs, "namespace": ns,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": "u", "controller": true}]}}),
    ];
    for (i, n) in nodes.iter().enumerate() {
        out.push(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{rs}-{i}"), "namespace": ns, "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": "r", "controller": true}]},
            "spec": {"nodeName": n, "containers": [{"name": "app", "image": "registry.example/app:1"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}));
    }
    out
}

fn pdb(ns: &str, name: &str, policy: Value) -> Value {
    let mut spec = json!({"selector": {"matchLabels": {"app": name}}});
    if let (Value::Object(s), Value::Object(p)) = (&mut spec, policy) {
        s.extend(p);
    }
    json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

/// Three nodes; shop/web 3 replicas under maxUnavailable 1, shop/db 2 under minAvailable 100%,
/// shop/solo a single unbudgeted replica, a bare pod and a DaemonSet pod on node-a.
fn shop() -> ClusterState {
    let mut items = vec![
        node("node-a", "zone-a", 10),
        node("node-b", "zone-b", 10),
        node("node-c", "zone-c", 10),
    ];
    items.extend(deployment(
        "shop",
        "web",
        &["node-a", "node-b", "node-c"],
        json!({}),
    ));
    items.extend(deployment("shop", "db", &["node-a", "node-b"], json!({})));
    items.extend(deployment("shop", "solo", &["node-a"], json!({})));
    items.push(pdb("shop", "web", json!({"maxUnavailable": 1})));
    items.push(pdb("shop", "db", json!({"minAvailable": "100%"})));
    items.push(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug", "namespace": "shop"},
        "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Running"}}));
    items.push(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "logs-x", "namespace": "kube-system",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "logs", "uid": "d", "controller": true}]},
        "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "fluent"}]},
        "status": {"phase": "Running"}}));
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    ClusterState::parse("shop.json", &list.to_string()).expect("a valid state")
}

fn drain(nodes: &[&str]) -> Operation {
    Operation::Drain {
        nodes: nodes.iter().map(|s| (*s).to_owned()).collect(),
        parallel: 1,
    }
}

#[test]
fn drain_that_completes_exact_human_report() {
    let p = plan(&shop(), &drain(&["node-c"]), Some(Dur::secs(600))).unwrap();
    assert!(p.report.passed);
    assert_eq!(
        report::human(&p.report),
        "\
plan: drain node-c
timeout: 10m00s

NODES
  node-c                                   drained in 5s (0:00 → 0:05)

AVAILABILITY (workloads that lose pods: lowest available, when)
  shop/web (Deployment)                    2 of 3 at 0:00 (from 3; PodDisruptionBudget shop/web)
  (2 other workload(s) keep every available pod)

verdict: PASS — drain node-c completes in 5s and no workload falls to 0 available pods
"
    );
}

#[test]
fn drain_that_completes_exact_json_report() {
    let p = plan(&shop(), &drain(&["node-c"]), None).unwrap();
    let v = serde_json::to_value(&p.report).unwrap();
    assert_eq!(
        v,
        json!({
            "operation": "drain node-c",
            "outcome": "completes",
            "passed": true,
            "verdict": "PASS — drain node-c completes in 5s and no workload falls to 0 available pods",
            "tookSeconds": 5.0,
            "timeoutSeconds": null,
            "nodes": [{"name": "node-c", "outcome": "drained", "startedSeconds": 0.0,
                "drainedSeconds": 5.0, "tookSeconds": 5.0, "podsLeft": 0}],
            "refusals": [],
            "workloads": [{"name": "shop/web", "kind": "Deployment", "replicas": 3, "availableAtStart": 3,
                "minAvailable": 2, "minAvailableAtSeconds": 0.0, "budgets": ["PodDisruptionBudget shop/web"]}],
            "untouchedWorkloads": 2,
            "blockers": [],
            "notes": []
        })
    );
}

#[test]
fn drain_blocked_by_a_budget_that_never_allows_and_an_unbudgeted_outage() {
    let p = plan(&shop(), &drain(&["node-a"]), Some(Dur::secs(300))).unwrap();
    assert!(!p.report.passed);
    assert_eq!(
        report::human(&p.report),
        "\
plan: drain node-a
timeout: 5m00s

NODES
  node-a                                   NOT DRAINED (1 pod(s) left)

AVAILABILITY (workloads that lose pods: lowest available, when)
  shop/solo (Deployment)                   0 of 1 at 0:00 (from 1; no budget)
  shop/web (Deployment)                    2 of 3 at 0:00 (from 3; PodDisruptionBudget shop/web)
  (1 other workload(s) keep every available pod)

REFUSALS (HTTP 429, as the API server answers; kubectl drain retries every 5s)
  PodDisruptionBudget db: 60 refused request(s) between 0:00 and 4:55
    \"cannot evict pod shop/db-rs-0: PodDisruptionBudget db needs 2 available pod(s) and has 2, so no disruption is allowed now; retry once more pods are available (kubectl drain retries by itself), or change the budget\"

BLOCKERS
  1. PodDisruptionBudget shop/db can never allow a disruption: minAvailable 100% needs 2 of its 2 pod(s) available at all times
     fix: allow at least one disruption: maxUnavailable: 1, or minAvailable: 1 (or scale shop/db above 2 first)
  2. Deployment shop/solo has 0 of 1 pod(s) available at 0:00: no budget covers it, so nothing holds the disruption back
     fix: run at least 2 replicas on different nodes and add a PodDisruptionBudget with maxUnavailable: 1
  3. Pod shop/debug on node-a has no controller: kubectl drain refuses it without --force, and nothing recreates it
     fix: run it under a Deployment or StatefulSet, or delete it before the drain (kubectl drain --force deletes it for good)

verdict: FAIL — drain node-a: timed out after 5m00s; outage of Deployment shop/solo
"
    );
    let kinds: Vec<&str> = p.report.blockers.iter().map(|b| b.kind.as_str()).collect();
    assert_eq!(kinds, ["budget-never-allows", "outage", "unmanaged-pod"]);
}

#[test]
fn pods_start_where_they_run() {
    // node-c holds only web's third pod: draining it touches web alone, which a scheduler
    // placing pods itself (fewest pods first) would not guarantee.
    let p = plan(&shop(), &drain(&["node-c"]), None).unwrap();
    let touched: Vec<&str> = p.report.workloads.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(touched, ["shop/web"]);
    let n = p.sim.model().node_index["node-a"];
    // web, db, solo (the bare pod and the DaemonSet pod take capacity but are not modelled).
    assert_eq!(p.sim.model().nodes[n].pods.len(), 3);
    assert_eq!(p.sim.model().nodes[n].capacity, 8);
}

#[test]
fn workloads_with_no_pod_on_a_node_are_left_out() {
    let mut state = shop();
    let mut extra = deployment("other", "pending", &["node-x", "node-y"], json!({}));
    extra.truncate(2);
    let list = json!({"kind": "List", "items": extra});
    let more = ClusterState::parse("more.json", &list.to_string()).unwrap();
    state.deployments.extend(more.deployments);
    state.replica_sets.extend(more.replica_sets);
    let p = plan(&state, &drain(&["node-c"]), None).unwrap();
    assert_eq!(
        p.report.notes,
        ["1 workload(s) with no pod on a node of the state are left out: other/pending"]
    );
    // As without it: the drain of node-c completes, capacity is not taken by 2 pods started
    // Pending.
    assert!(p.report.passed);
    assert_eq!(p.sim.model().workloads.len(), 3);
    let e = plan(
        &state,
        &Operation::Rollout {
            targets: vec![Target::parse("deploy/pending", "other").unwrap()],
        },
        None,
    )
    .err()
    .unwrap()
    .to_string();
    assert_eq!(
        e,
        "other/pending has no pod on any node, so nothing to plan; its pods are Pending"
    );
}

#[test]
fn an_unknown_pdb_unhealthy_policy_reads_as_if_healthy_budget() {
    let mut state = shop();
    let spec = state.pod_disruption_budgets[0].spec.as_mut().unwrap();
    spec.unhealthy_pod_eviction_policy = Some("Sometimes".into());
    let p = plan(&state, &drain(&["node-c"]), None).unwrap();
    assert!(p.report.passed, "{}", report::human(&p.report));
}

#[test]
fn a_pod_not_ready_stays_so() {
    let mut state = shop();
    let p = state
        .pods
        .iter_mut()
        .find(|p| p.metadata.name.as_deref() == Some("web-rs-0"))
        .unwrap();
    p.status.as_mut().unwrap().conditions = Some(vec![]);
    // web starts with 2 of 3 available: its budget (maxUnavailable 1) has no unit left, so the
    // drain of node-c, which completed above, is refused until the timeout.
    let r = plan(&state, &drain(&["node-c"]), Some(Dur::secs(60)))
        .unwrap()
        .report;
    assert!(!r.passed);
    assert_eq!(r.outcome, "timed out");
    assert_eq!(r.workloads.len(), 0, "web never loses an available pod");
    assert_eq!(r.refusals[0].budget, "PodDisruptionBudget web");
    assert!(
        r.refusals[0]
            .message
            .contains("needs 2 available pod(s) and has 2"),
        "{}",
        r.refusals[0].message
    );
    assert_eq!(r.blockers[0].kind, "refused");
}

#[test]
fn single_replica_under_a_budget_and_cannot_reschedule() {
    // One schedulable node besides the drained one, and a workload pinned by nodeSelector to
    // nodes labelled disk=ssd, of which only the drained one is.
    let mut a = node("node-a", "zone-a", 10);
    a["metadata"]["labels"]["disk"] = json!("ssd");
    let mut items = vec![a, node("node-b", "zone-b", 10)];
    items.extend(deployment(
        "ops",
        "cache",
        &["node-a"],
        json!({"nodeSelector": {"disk": "ssd"}}),
    ));
    items.extend(deployment("ops", "api", &["node-a"], json!({})));
    items.push(pdb("ops", "api", json!({"minAvailable": 1})));
    let list = json!({"kind": "List", "items": items});
    let state = ClusterState::parse("x", &list.to_string()).unwrap();
    let p = plan(&state, &drain(&["node-a"]), Some(Dur::secs(120))).unwrap();
    assert!(!p.report.passed);
    let got: Vec<(&str, &str)> = p
        .report
        .blockers
        .iter()
        .map(|b| (b.kind.as_str(), b.object.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("budget-never-allows", "PodDisruptionBudget ops/api"),
            ("cannot-reschedule", "Deployment ops/cache"),
            ("outage", "Deployment ops/cache"),
        ]
    );
    assert!(
        p.report.blockers[0].reason.contains("single replica"),
        "{}",
        p.report.blockers[0].reason
    );
    assert!(
        p.report.blockers[1]
            .reason
            .contains("nodeSelector disk=ssd"),
        "{}",
        p.report.blockers[1].reason
    );
}

#[test]
fn anti_affinity_with_too_few_nodes() {
    let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "zk"}}}]}}});
    let mut items = vec![
        node("n1", "zone-a", 10),
        node("n2", "zone-b", 10),
        node("n3", "zone-c", 10),
    ];
    items.extend(deployment("data", "zk", &["n1", "n2", "n3"], anti));
    items.push(pdb("data", "zk", json!({"maxUnavailable": 1})));
    let list = json!({"kind": "List", "items": items});
    let state = ClusterState::parse("x", &list.to_string()).unwrap();
    let p = plan(&state, &drain(&["n1"]), Some(Dur::secs(120))).unwrap();
    // The eviction is allowed (one unit), the node empties, but the replacement has nowhere to go.
    assert_eq!(p.report.nodes[0].outcome, "drained");
    let b = &p.report.blockers;
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(b[0].kind, "cannot-reschedule");
    assert!(
        b[0].reason
            .contains("required anti-affinity on kubernetes.io/hostname needs 3 domains and 2"),
        "{}",
        b[0].reason
    );
    // The drain itself completes: the plan passes (no outage), the blocker says what is left.
    assert!(p.report.passed);
}

#[test]
fn rollout_and_scale() {
    let web = Target::parse("deploy/web", "shop").unwrap();
    let p = plan(
        &shop(),
        &Operation::Rollout {
            targets: vec![web.clone()],
        },
        None,
    )
    .unwrap();
    assert!(p.report.passed, "{}", report::human(&p.report));
    assert_eq!(p.report.operation, "rollout shop/web");
    // 3 pods, 25% maxUnavailable rounds down to 0: never below 3; one surge pod at a time, each
    // Ready after its probe's 10 s + 5 s, then an old one deleted (gone 5 s later): 3 × 15 + 5.
    assert!(p.report.workloads.is_empty());
    assert_eq!(p.report.took_seconds, Some(50.0));
    let solo = Target::parse("deployment/solo", "shop").unwrap();
    let p = plan(
        &shop(),
        &Operation::Scale {
            target: solo,
            replicas: 0,
        },
        None,
    )
    .unwrap();
    // Scaling to 0 is what was asked: the workload's own replicas are 0 then, not an outage.
    assert_eq!(p.report.workloads[0].min_available, 0);
    assert!(p.report.passed, "{}", report::human(&p.report));
    assert!(p.report.blockers.is_empty());
    assert_eq!(
        Target::parse("sts/db", "x").unwrap().kind,
        WorkloadKind::StatefulSet
    );
    assert!(matches!(
        Target::parse("pod/db", "x"),
        Err(PlanError::Target(_))
    ));
    let missing = plan(
        &shop(),
        &Operation::Rollout {
            targets: vec![Target::parse("deploy/nope", "shop").unwrap()],
        },
        None,
    )
    .err()
    .unwrap()
    .to_string();
    assert_eq!(
        missing,
        "Deployment shop/nope is not in the cluster state; check the name and the namespace (-n)"
    );
}

#[test]
fn json_state_round_trips() {
    let state = shop();
    let out = json!({"plan": {}, "state": state});
    let again = ClusterState::parse("saved.json", &out.to_string()).unwrap();
    let a = plan(&state, &drain(&["node-a"]), None).unwrap();
    let b = plan(&again, &drain(&["node-a"]), None).unwrap();
    assert_eq!(
        serde_json::to_value(&a.report).unwrap(),
        serde_json::to_value(&b.report).unwrap()
    );
    // A bare state reads too.
    let bare = serde_json::to_string(&state).unwrap();
    assert_eq!(
        ClusterState::parse("s.json", &bare).unwrap().pods.len(),
        state.pods.len()
    );
}

fn err(items: Vec<Value>) -> String {
    let list = json!({"kind": "List", "items": items});
    match ClusterState::parse("bad.json", &list.to_string()) {
        Err(e) => e.to_string(),
        Ok(s) => plan(&s, &drain(&["node-a"]), None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "no error".into()),
    }
}

#[test]
fn hostile_states_get_a_clear_error_naming_the_object() {
    let mut huge = deployment("x", "big", &["node-a"], json!({}));
    huge[0]["spec"]["replicas"] = json!(2_147_483_647);
    let mut items = vec![node("node-a", "zone-a", 10)];
    items.extend(huge);
    assert_eq!(
        err(items),
        "Deployment x/big: spec.replicas 2147483647 is more than the simulator models (at most 100000)"
    );

    let mut neg = deployment("x", "neg", &["node-a"], json!({}));
    neg[0]["spec"]["replicas"] = json!(-3);
    let mut items = vec![node("node-a", "zone-a", 10)];
    items.extend(neg);
    assert_eq!(err(items), "Deployment x/neg: spec.replicas -3 is negative");

    let mut overflow = deployment("x", "o", &["node-a"], json!({}));
    overflow[0]["spec"]["replicas"] = json!(1e30);
    let mut items = vec![node("node-a", "zone-a", 10)];
    items.extend(overflow);
    let e = err(items);
    assert!(
        e.starts_with("cluster state bad.json: items[1] (Deployment x/o) is not a valid Deployment: spec.replicas:"),
        "{e}"
    );

    let mut n = node("node-a", "zone-a", 10);
    n["status"]["allocatable"]["pods"] = json!("1e9");
    assert_eq!(
        err(vec![n]),
        "Node node-a: status.allocatable.pods \"1e9\" is not a whole number of pods"
    );
    let mut n = node("node-a", "zone-a", 10);
    n["status"]["allocatable"]["pods"] = json!("99999999999");
    assert_eq!(
        err(vec![n]),
        "Node node-a: status.allocatable.pods 99999999999 is more than the simulator models (at most 10000)"
    );

    let mut bad = deployment("x", "both0", &["node-a"], json!({}));
    bad[0]["spec"]["strategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}});
    let mut items = vec![node("node-a", "zone-a", 10)];
    items.extend(bad);
    let e = err(items);
    assert!(
        e.starts_with(
            "Deployment x/both0: strategy.maxUnavailable: may not be 0 when maxSurge is 0"
        ),
        "{e}"
    );

    let mut items = vec![node("node-a", "zone-a", 10)];
    items.extend(deployment("x", "w", &["node-a"], json!({})));
    items.push(pdb("x", "w", json!({"minAvailable": "250%"})));
    let e = err(items);
    assert!(
        e.starts_with("PodDisruptionBudget x/w: minAvailable"),
        "{e}"
    );

    assert_eq!(
        err(vec![json!({"kind": "Pod", "metadata": {"name": 5}})]),
        "cluster state bad.json: items[0] (Pod ?) is not a valid Pod: metadata.name: invalid type: integer `5`, expected a string"
    );
    assert_eq!(
        err(vec![]),
        "the cluster state has no nodes: a plan needs the nodes the pods run on"
    );
    assert_eq!(
        err(vec![node("node-b", "zone-a", 10)]),
        "node node-a is not in the cluster state; `kubectl get nodes` lists them"
    );
    let e = ClusterState::parse("x.json", "[1, 2]")
        .unwrap_err()
        .to_string();
    assert!(e.contains("neither a List"), "{e}");
    let e = ClusterState::parse("x.json", "{nope")
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not JSON or YAML"), "{e}");
    // A YAML state is read as a whole into a JSON value: an alias bomb (387 million strings if
    // expanded) is refused at once.
    let mut bomb = String::from("kind: List\nitems:\n  - &l0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let refs = vec![format!("*l{}", i - 1); 9].join(", ");
        bomb.push_str(&format!("  - &l{i} [{refs}]\n"));
    }
    let start = std::time::Instant::now();
    let e = ClusterState::parse("x.yaml", &bomb)
        .unwrap_err()
        .to_string();
    assert!(e.contains("too large or too complex"), "{e}");
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    let e = ClusterState::parse("x.yaml", "kind: List\nkind: List\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("duplicate") && e.contains("line 2"), "{e}");
    let t = plan(&shop(), &drain(&["node-c"]), Some(Dur(0)))
        .err()
        .unwrap()
        .to_string();
    assert!(t.contains("--timeout 0s"), "{t}");
}

#[test]
fn statefulset_under_a_pod_unavailable_budget() {
    let labels = json!({"app": "zk"});
    let mut items = vec![
        node("n1", "zone-a", 10),
        node("n2", "zone-b", 10),
        node("n3", "zone-c", 10),
    ];
    items.push(json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "zk", "namespace": "data"},
        "spec": {"replicas": 3, "serviceName": "zk", "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "zk", "image": "zk:3",
                "readinessProbe": {"exec": {"command": ["ok"]}, "initialDelaySeconds": 20}}]}}}}));
    for (i, n) in ["n1", "n2", "n3"].iter().enumerate() {
        items.push(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("zk-{i}"), "namespace": "data", "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "zk", "uid": "s", "controller": true}]},
            "spec": {"nodeName": n, "containers": [{"name": "zk", "image": "zk:3"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}));
    }
    items.push(json!({"apiVersion": "policy.steady.dev/v1alpha1", "kind": "PodUnavailableBudget",
        "metadata": {"name": "zk", "namespace": "data"},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "zk"}, "maxUnavailable": 1}}));
    let list = json!({"kind": "List", "items": items});
    let state = ClusterState::parse("x", &list.to_string()).unwrap();
    let p = plan(&state, &drain(&["n1", "n2"]), None).unwrap();
    let r = &p.report;
    assert!(r.passed, "{}", report::human(r));
    // zk-0 leaves n1 (gone at 0:05) and comes back under its own name, Ready 20 + 10 s later
    // (0:35); only then may zk-1 on n2 go (gone at 0:40): the budget refuses it meanwhile.
    let took: Vec<Option<f64>> = r.nodes.iter().map(|n| n.took_seconds).collect();
    assert_eq!(took, [Some(5.0), Some(35.0)]);
    assert_eq!(r.nodes[1].drained_seconds, Some(40.0));
    assert_eq!(r.refusals[0].budget, "PodUnavailableBudget zk");
    assert_eq!(r.workloads[0].name, "data/zk");
    assert_eq!(r.workloads[0].min_available, 2);
}

#[test]
fn html_and_svg_of_a_plan() {
    let p = plan(&shop(), &drain(&["node-a"]), Some(Dur::secs(120))).unwrap();
    let findings: Vec<String> = p.report.blockers.iter().map(|b| b.reason.clone()).collect();
    let page = steady_sim::html::report(&p.built.scenario, 1, &p.sim, &p.run, None, &findings);
    assert!(
        page.contains("shop/solo"),
        "the page names workloads by namespace/name"
    );
    assert!(page.contains("can never allow a disruption"));
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("plan.svg");
    steady_sim::plot::write_svg(&svg, &p.built.scenario.name, &p.sim, &p.run, None).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg") && text.contains("shop/web"),
        "{}",
        &text[..200.min(text.len())]
    );
}

/// Workloads and budgets are read through steady-manifest's model: a PodUnavailableBudget of a
/// group steady does not read is a note, one the model refuses is an error naming it, and a
/// PodUnavailableBudget without apiVersion (a hand-written state) is steady's own.
#[test]
fn budgets_go_through_the_manifest_model() {
    let pub_ = |api: Option<&str>, ops: Value| {
        let mut v = json!({"kind": "PodUnavailableBudget",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "maxUnavailable": 0,
                "protectOperations": ops}});
        if let Some(a) = api {
            v["apiVersion"] = json!(a);
        }
        v
    };
    let with = |b: Value| {
        let mut items = vec![node("node-a", "zone-a", 10), node("node-b", "zone-b", 10)];
        items.extend(deployment("shop", "web", &["node-a", "node-b"], json!({})));
        items.push(b);
        ClusterState::parse(
            "s.json",
            &json!({"kind": "List", "items": items}).to_string(),
        )
        .unwrap()
    };
    let p = plan(
        &with(pub_(Some("example.com/v1"), json!(["Evict"]))),
        &drain(&["node-a"]),
        None,
    )
    .unwrap();
    assert_eq!(
        p.report.notes,
        [
            "PodUnavailableBudget shop/web left out: apiVersion example.com/v1 is not one steady reads"
        ]
    );
    assert!(p.report.passed);
    let e = plan(
        &with(pub_(None, json!(["Explode"]))),
        &drain(&["node-a"]),
        None,
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        e.starts_with("PodUnavailableBudget shop/web: PodUnavailableBudget does not match the Kubernetes schema at spec.protectOperations[0]: unknown variant `Explode`"),
        "{e}"
    );
    let p = plan(
        &with(pub_(None, json!(["Evict"]))),
        &drain(&["node-a"]),
        Some(Dur::secs(60)),
    )
    .unwrap();
    assert_eq!(p.report.blockers[0].kind, "budget-never-allows");
    assert_eq!(p.report.blockers[0].object, "PodUnavailableBudget shop/web");
}

/// A workload without a readinessProbe takes its readiness from how long its Ready pods took
/// from start to Ready (the median); with a probe, or without observed times, the template says.
#[test]
fn readiness_from_observed_ready_times() {
    let state = |probe: bool, times: &[(i64, i64)]| {
        let mut items = vec![
            node("node-a", "zone-a", 10),
            node("node-b", "zone-b", 10),
            node("node-c", "zone-c", 10),
        ];
        let extra = if probe {
            json!({})
        } else {
            json!({"containers": [{"name": "app", "image": "registry.example/app:1"}]})
        };
        let mut d = deployment("shop", "web", &["node-a", "node-b", "node-c"], extra);
        for (pod, (start, ready)) in d[2..].iter_mut().zip(times) {
            let at = |s: i64| format!("2026-01-01T00:{:02}:{:02}Z", s / 60, s % 60);
            pod["status"]["startTime"] = json!(at(*start));
            pod["status"]["conditions"][0]["lastTransitionTime"] = json!(at(*ready));
        }
        items.extend(d);
        items.push(pdb("shop", "web", json!({"maxUnavailable": 1})));
        ClusterState::parse(
            "s.json",
            &json!({"kind": "List", "items": items}).to_string(),
        )
        .unwrap()
    };
    // Draining two nodes: node-b starts when node-a is empty (0:05) and its eviction waits for
    // node-a's replacement, created at 0:00, to be Ready; then its pod takes 5 s to go. So
    // node-b takes the readiness delay.
    let second = |s: &ClusterState| {
        let p = plan(s, &drain(&["node-a", "node-b"]), None).unwrap();
        p.report.nodes[1].took_seconds
    };
    // 20 s, 30 s and 90 s from start to Ready: the median is 30 s.
    let observed = [(0, 20), (0, 30), (60, 150)];
    assert_eq!(second(&state(false, &observed)), Some(30.0));
    // An even count: the mean of the middle two (30 s and 40 s).
    assert_eq!(second(&state(false, &[(0, 30), (0, 40)])), Some(35.0));
    // No times observed: the 10 s default.
    assert_eq!(second(&state(false, &[])), Some(10.0));
    // A readinessProbe (initialDelaySeconds 10 + periodSeconds 5) wins over observed times.
    assert_eq!(second(&state(true, &observed)), Some(15.0));
}
