//! `steady sim --from`: manifests in, a scenario out, with the loader `steady check` uses.

use std::path::PathBuf;

use steady_sim::from::{self, Built, FromError, FromOptions};
use steady_sim::world::Unbound;
use steady_sim::{load, scenario_yaml, simulate};

fn repo(p: &str) -> PathBuf {
    PathBuf::from(format!("{}/../../{p}", env!("CARGO_MANIFEST_DIR")))
}

fn opts(paths: &[&str]) -> FromOptions {
    FromOptions {
        paths: paths.iter().map(|p| repo(p)).collect(),
        nodes: 6,
        zones: 3,
        node_capacity: None,
        drain_nodes: 1,
        parallel: None,
        rollout: Vec::new(),
    }
}

fn json(b: &Built, enforce: bool) -> serde_json::Value {
    serde_json::to_value(simulate(&b.scenario, 1, enforce).unwrap().1).unwrap()
}

#[test]
fn check_example_builds_a_deterministic_scenario() {
    let b = from::build(&opts(&["examples/check/fixed"])).unwrap();
    let s = &b.scenario;
    let w: Vec<(&str, u32)> = s
        .workloads
        .iter()
        .map(|w| (w.name.as_str(), w.replicas))
        .collect();
    // web has no spec.replicas: its HPA's minReplicas (3) counts, as in `steady check`.
    assert_eq!(w, [("web", 3), ("api", 2)]);
    let budgets: Vec<&str> = s.budgets.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(budgets, ["web", "api"]);
    let drain = s.timeline[0].drain.as_ref().unwrap();
    assert_eq!(drain.nodes, ["node-0"]);
    // Same input, same answer.
    let first = json(&b, true);
    let again = json(
        &from::build(&opts(&["examples/check/fixed"])).unwrap(),
        true,
    );
    assert_eq!(first, again);
    assert_eq!(first["workloads"][0]["minAvailable"], 2);
    assert!(
        first["operations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["outcome"] == "completed"),
        "{first}"
    );
}

#[test]
fn shop_manifests_drain_during_rollout_holds_with_budgets_only() {
    let mut o = opts(&["examples/scenarios/manifests"]);
    o.drain_nodes = 2;
    o.rollout = vec!["web".into()];
    let b = from::build(&o).unwrap();
    let s = &b.scenario;
    let web = &s.workloads[0];
    assert_eq!((web.name.as_str(), web.replicas), ("web", 3));
    // readinessProbe.initialDelaySeconds, preStop sleep, required anti-affinity, Parallel.
    assert_eq!(
        web.readiness.as_ref().unwrap().fixed,
        Some(steady_sim::scenario::Dur::secs(15))
    );
    assert_eq!(web.termination, Some(steady_sim::scenario::Dur::secs(10)));
    let raft = &s.workloads[1];
    assert_eq!(raft.replicas, 5);
    assert_eq!(raft.anti_affinity.as_ref().unwrap().required, ["hostname"]);
    assert_eq!(
        s.budgets[1].kind,
        steady_sim::scenario::BudgetKindSpec::PodUnavailableBudget
    );
    // The DaemonSet and the ConfigMap are each named once, not simulated, not fatal.
    assert_eq!(
        b.notes.iter().filter(|n| n.contains("1 DaemonSet")).count(),
        1,
        "{:?}",
        b.notes
    );
    assert!(b.notes.iter().any(|n| n.contains("1 ConfigMap")));
    let with = simulate(s, 1, true).unwrap().1;
    let without = simulate(s, 1, false).unwrap().1;
    assert!(with.passed(), "{}", with.verdict());
    assert!(!without.passed());
    let min = |r: &steady_sim::RunReport, w: &str| {
        r.workloads
            .iter()
            .find(|x| x.name == w)
            .unwrap()
            .min_available
    };
    assert_eq!(min(&with, "raft"), 4);
    assert!(min(&without, "raft") < 4);
    assert!(min(&with, "web") >= 2 && min(&without, "web") < 2);
}

#[test]
fn printed_scenario_runs_the_same() {
    let mut o = opts(&["examples/scenarios/manifests"]);
    o.drain_nodes = 2;
    o.parallel = Some(2);
    o.rollout = vec!["web".into(), "raft".into()];
    let b = from::build(&o).unwrap();
    let text = scenario_yaml(&b.scenario);
    let reread = load("printed.yaml", &text).unwrap();
    let a = serde_json::to_value(simulate(&b.scenario, 1, true).unwrap().1).unwrap();
    let c = serde_json::to_value(simulate(&reread, 1, true).unwrap().1).unwrap();
    assert_eq!(a, c, "{text}");
    assert!(
        text.contains("parallel: 2") && text.contains("fixed: 20s"),
        "{text}"
    );
}

#[test]
fn most_guarded_nodes_are_drained_first() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("m.yaml");
    // guarded has a budget; free has none and, placed first, fills node-0 and node-1.
    std::fs::write(
        &f,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: free}\nspec:\n  replicas: 4\n  selector: {matchLabels: {app: free}}\n  template:\n    metadata: {labels: {app: free}}\n    spec: {containers: [{name: c}]}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: guarded}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: guarded}}\n  template:\n    metadata: {labels: {app: guarded}}\n    spec: {containers: [{name: c}]}\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: guarded}\nspec:\n  maxUnavailable: 0\n  selector: {matchLabels: {app: guarded}}\n",
    )
    .unwrap();
    let mut o = opts(&[]);
    o.paths = vec![f];
    o.nodes = 3;
    let b = from::build(&o).unwrap();
    let sim = steady_sim::Sim::new(&b.scenario, 1, true).unwrap();
    let guarded_node = sim
        .pods()
        .iter()
        .find(|p| !p.gone && sim.model().workloads[p.workload].name == "guarded")
        .and_then(|p| p.node)
        .unwrap();
    let drained = &b.scenario.timeline[0].drain.as_ref().unwrap().nodes;
    assert_eq!(drained, &[sim.model().nodes[guarded_node].name.clone()]);
    // maxUnavailable: 0 — the drain must be reported blocked, naming the budget.
    let r = simulate(&b.scenario, 1, true).unwrap().1;
    assert_eq!(r.operations[0].outcome, "blocked");
    assert!(r.verdict().contains("PodDisruptionBudget guarded"));
}

#[test]
fn a_malformed_manifest_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("broken.yaml");
    std::fs::write(
        &f,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ok}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d\n",
    )
    .unwrap();
    let mut o = opts(&[]);
    o.paths = vec![f.clone()];
    let err = from::build(&o).unwrap_err();
    assert!(matches!(err, FromError::Input(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("{}:", f.display())), "{msg}");
    assert!(msg.contains("malformed YAML"), "{msg}");
    // Exit code 2, like every bad input.
    let code = steady_sim::Error::from(err).exit_code();
    assert_eq!(
        format!("{code:?}"),
        format!("{:?}", std::process::ExitCode::from(2))
    );
}

#[test]
fn a_missing_file_and_an_unknown_rollout_are_errors() {
    let mut o = opts(&["examples/check/fixed", "no/such/file.yaml"]);
    let err = from::build(&o).unwrap_err().to_string();
    assert!(err.contains("no/such/file.yaml"), "{err}");
    o.paths.pop();
    o.rollout = vec!["nope".into()];
    let err = from::build(&o).unwrap_err().to_string();
    assert!(
        err.contains("--rollout nope") && err.contains("web, api"),
        "{err}"
    );
}

#[test]
fn manifests_without_workloads_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("cm.yaml");
    std::fs::write(&f, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n").unwrap();
    let mut o = opts(&[]);
    o.paths = vec![f];
    assert!(matches!(
        from::build(&o).unwrap_err(),
        FromError::NoWorkloads(_)
    ));
}

#[test]
fn duplicate_names_across_files_are_left_out_with_a_note() {
    let b = from::build(&opts(&["examples/check/broken", "examples/check/fixed"])).unwrap();
    let names: Vec<&str> = b
        .scenario
        .workloads
        .iter()
        .map(|w| w.name.as_str())
        .collect();
    assert_eq!(names, ["web", "api"]);
    assert!(
        b.notes
            .iter()
            .any(|n| n.contains("Deployment/web left out")),
        "{:?}",
        b.notes
    );
    assert!(
        b.notes
            .iter()
            .any(|n| n.contains("PodDisruptionBudget/web"))
    );
    assert!(simulate(&b.scenario, 1, true).is_ok());
}

/// A shop with single-replica services and no budgets: draining the node of one of them takes it
/// to 0 available. That is an outage, and the verdict says so even though no budget was broken.
#[test]
fn unbudgeted_single_replica_falling_to_zero_fails_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["cart", "checkout", "front", "pay"] {
        std::fs::write(
            dir.path().join(format!("{name}.yaml")),
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: shop}}\n\
                 spec:\n  replicas: 1\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    \
                 metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers: [{{name: app, image: \"example/{name}:1\"}}]\n"
            ),
        )
        .unwrap();
    }
    let b = from::build(&FromOptions {
        paths: vec![dir.path().to_path_buf()],
        ..opts(&[])
    })
    .unwrap();
    let (_, r) = simulate(&b.scenario, 1, true).unwrap();
    let down: Vec<&str> = r.outages().map(|w| w.name.as_str()).collect();
    assert!(
        !down.is_empty(),
        "the drained node carried a single replica"
    );
    assert!(!r.passed());
    let v = r.verdict();
    assert!(v.starts_with("FAIL"), "{v}");
    for w in &down {
        assert!(
            v.contains(&format!("outage: Deployment {w} had 0 of 1 pods available")),
            "{v}"
        );
    }
    assert!(v.contains("no budget covers it"), "{v}");
}

/// What `--from` reads beyond the checker's rules comes from the loader's one model: a
/// Deployment's maxSurge, a PodUnavailableBudget's protectOperations (steady's, and the strings
/// of an OpenKruise one), the probe delay and preStop sleep, and the kinds left out.
#[test]
fn fields_beyond_the_rules_come_from_the_manifest_model() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.yaml"),
        "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxSurge: \"50%\", maxUnavailable: 0}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 20
      containers:
      - name: a
        readinessProbe: {httpGet: {port: 80}, initialDelaySeconds: 7}
        lifecycle: {preStop: {sleep: {seconds: 40}}}
---
apiVersion: policy.steady.dev/v1alpha1
kind: PodUnavailableBudget
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  maxUnavailable: 1
  protectOperations: [Evict, Update]
---
apiVersion: policy.kruise.io/v1alpha1
kind: PodUnavailableBudget
metadata: {name: kruise}
spec:
  selector: {matchLabels: {app: web}}
  maxUnavailable: 1
  protectOperations: [Delete, 3]
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: d}}
",
    )
    .unwrap();
    let b = from::build(&FromOptions {
        paths: vec![dir.path().to_path_buf()],
        ..opts(&[])
    })
    .unwrap();
    let web = &b.scenario.workloads[0];
    let strategy = web.strategy.as_ref().unwrap();
    assert_eq!(
        strategy.max_surge,
        Some(steady_sim::scenario::IntOrString::String("50%".into()))
    );
    assert_eq!(
        strategy.max_unavailable,
        Some(steady_sim::scenario::IntOrString::Int(0))
    );
    assert_eq!(
        web.readiness.as_ref().unwrap().fixed,
        Some(steady_sim::scenario::Dur::secs(7))
    );
    // The preStop sleep is capped by the grace period.
    assert_eq!(web.termination, Some(steady_sim::scenario::Dur::secs(20)));
    let ops: Vec<Option<Vec<String>>> = b
        .scenario
        .budgets
        .iter()
        .map(|b| b.protect_operations.clone())
        .collect();
    assert_eq!(
        ops,
        [
            Some(vec!["Evict".to_owned(), "Update".to_owned()]),
            Some(vec!["Delete".to_owned()])
        ]
    );
    assert!(
        b.notes
            .iter()
            .any(|n| n.contains("ignored kinds: 2 ConfigMap")),
        "{:?}",
        b.notes
    );
}

/// Required node affinity comes from the manifest: a term on the zone keeps the pods in that
/// zone of the generated cluster; a term on a label the generated nodes lack is a note (its pods
/// stay Pending); an operator Kubernetes does not know names the object, file and field.
#[test]
fn required_node_affinity_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let doc = |name: &str, expr: &str| {
        format!(
            "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 4
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: c, image: c:1}}]
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms: [{{matchExpressions: [{expr}]}}]
---
"
        )
    };
    let path = dir.path().join("w.yaml");
    std::fs::write(
        &path,
        doc(
            "zonal",
            "{key: topology.kubernetes.io/zone, operator: In, values: [zone-b]}",
        ) + &doc("gpu", "{key: gpu, operator: Exists}"),
    )
    .unwrap();
    let o = FromOptions {
        paths: vec![path.clone()],
        drain_nodes: 0,
        ..opts(&[])
    };
    let b = from::build(&o).unwrap();
    assert_eq!(
        b.notes,
        [
            "gpu: no generated node matches its required node affinity (they carry only hostname and zone labels): its pods stay Pending"
        ]
    );
    let (sim, _) = simulate(&b.scenario, 1, true).unwrap();
    let zones: Vec<(usize, Option<&str>)> = sim
        .pods()
        .iter()
        .map(|p| {
            (
                p.workload,
                p.node
                    .and_then(|n| {
                        sim.model().nodes[n]
                            .labels
                            .get("topology.kubernetes.io/zone")
                    })
                    .map(String::as_str),
            )
        })
        .collect();
    assert_eq!(
        zones,
        [
            (0, Some("zone-b")),
            (0, Some("zone-b")),
            (0, Some("zone-b")),
            (0, Some("zone-b")),
        ]
    );
    // The gpu pods never had a node: they wait without records.
    let waiting: Vec<(usize, u32)> = sim
        .pending()
        .iter()
        .map(|(_, u)| match u {
            Unbound::Run(r) => (r.workload, r.count),
            Unbound::Pod(p) => (sim.pods()[p].workload, 1),
        })
        .collect();
    assert_eq!(waiting, [(1, 4)]);
    std::fs::write(&path, doc("bad", "{key: gpu, operator: Near}")).unwrap();
    let e = from::build(&o)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        e,
        format!(
            "Deployment/bad in {}:1: spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator \"Near\" is not In, NotIn, Exists, DoesNotExist, Gt or Lt",
            path.display()
        )
    );
}

/// A ReplicationController is a workload the simulator does not model: one note names it, "not
/// simulated" with the reason, and it is not also listed as an ignored kind.
#[test]
fn a_replication_controller_is_named_once_as_not_simulated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.yaml"),
        "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: a}]}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  replicas: 2
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
    spec: {containers: [{name: a}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
",
    )
    .unwrap();
    let mut o = opts(&[]);
    o.paths = vec![dir.path().to_path_buf()];
    let b = from::build(&o).unwrap();
    let naming: Vec<&String> = b
        .notes
        .iter()
        .filter(|n| n.contains("ReplicationController"))
        .collect();
    assert_eq!(naming.len(), 1, "{:?}", b.notes);
    assert!(
        naming[0].starts_with("not simulated: 1 ReplicationController"),
        "{:?}",
        b.notes
    );
    assert!(
        b.notes
            .iter()
            .any(|n| n == "ignored kinds: 1 ConfigMap (no pods or budgets of their own)"),
        "{:?}",
        b.notes
    );
}
