//! `steady plan drain` against a real kube-apiserver (+ controller-manager, no scheduler, no
//! kubelet), run only when `STEADY_E2E_KUBECONFIG` names a kubeconfig. The test plays scheduler and
//! kubelet itself: it creates Node objects (allocatable pods, Ready) and renews their Leases,
//! binds the Deployments' pods with the pods/binding subresource, marks them Ready through the
//! status subresource, and creates budgets. Then `plan drain` predicts (a) a drain that completes,
//! (b) one blocked by a `minAvailable: 100%` budget, (c) an outage of an unbudgeted single
//! replica; for (a) and (b) the real `kubectl drain --timeout` runs and its outcome is checked
//! against the plan.
//!
//! Twice: with PodDisruptionBudgets (the API server's eviction subresource decides), and with
//! PodUnavailableBudgets, decided by a guard replica running in-process behind the CRD and the
//! ValidatingWebhookConfiguration `steady install` renders (only its clientConfig pointed at the
//! local guard and its namespaceSelector at the run's namespace). Creates cluster-scoped objects:
//! run under `flock /tmp/steady-cluster.lock`.

mod support;

use std::process::ExitCode;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use steady_api::PodUnavailableBudget;
use steady_testkit::{is_ready, kubectl, mark_ready};
use support::{client, eventually, kubeconfig};

const ZONES: [&str; 4] = ["zone-a", "zone-b", "zone-c", "zone-a"];

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

async fn create_nodes(client: &Client, names: &[String]) {
    let nodes: Api<Node> = Api::all(client.clone());
    for (i, n) in names.iter().enumerate() {
        let node = serde_json::from_value(json!({"metadata": {"name": n, "labels": {
            "kubernetes.io/hostname": n, "topology.kubernetes.io/zone": ZONES[i % 4]}}}))
        .unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
        let t = now();
        let status = json!({"status": {"allocatable": {"pods": "10", "cpu": "4", "memory": "8Gi"},
            "capacity": {"pods": "10", "cpu": "4", "memory": "8Gi"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "e2e",
                "lastHeartbeatTime": t, "lastTransitionTime": t}]}});
        nodes
            .patch_status(n, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
    }
}

/// Renews each node's Lease every 3 s, as a kubelet does, so the node lifecycle controller keeps
/// them Ready and untainted for the length of the test.
fn heartbeat(client: Client, names: Vec<String>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let leases: Api<Lease> = Api::namespaced(client, "kube-node-lease");
        loop {
            for n in &names {
                let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": n, "namespace": "kube-node-lease"},
                    "spec": {"holderIdentity": n, "leaseDurationSeconds": 40,
                        "renewTime": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()}});
                let _ = leases
                    .patch(
                        n,
                        &PatchParams::apply("plan-e2e").force(),
                        &Patch::Apply(&lease),
                    )
                    .await;
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    })
}

async fn deployment(client: &Client, ns: &str, name: &str, replicas: i32) {
    let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client.clone(), ns);
    let d = serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app",
            "image": "registry.example/app:1",
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "initialDelaySeconds": 5, "periodSeconds": 5}}]}}}}))
    .unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();
}

/// Which kind of budget a run creates, and who enforces it on `kubectl drain`'s evictions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Budgets {
    /// PodDisruptionBudget: the API server's eviction subresource.
    Pdb,
    /// PodUnavailableBudget: the guard's webhook.
    Pub,
}

impl Budgets {
    fn kind(self) -> &'static str {
        match self {
            Self::Pdb => "PodDisruptionBudget",
            Self::Pub => "PodUnavailableBudget",
        }
    }

    /// Creates the budget `name` over `app=name` with `policy` (`minAvailable` or
    /// `maxUnavailable`).
    async fn create(self, client: &Client, ns: &str, name: &str, policy: Value) {
        let mut spec = json!({"selector": {"matchLabels": {"app": name}}});
        if let (Value::Object(s), Value::Object(p)) = (&mut spec, policy) {
            s.extend(p);
        }
        let b = json!({"metadata": {"name": name}, "spec": spec});
        let pp = PostParams::default();
        let created = match self {
            Self::Pdb => Api::<PodDisruptionBudget>::namespaced(client.clone(), ns)
                .create(&pp, &serde_json::from_value(b).unwrap())
                .await
                .map(drop),
            Self::Pub => Api::<PodUnavailableBudget>::namespaced(client.clone(), ns)
                .create(&pp, &serde_json::from_value(b).unwrap())
                .await
                .map(drop),
        };
        created.unwrap_or_else(|e| panic!("creating {} {ns}/{name}: {e}", self.kind()));
    }

    /// How many pods the budget's controller (the disruption controller, or the guard's) counts
    /// available, and how many disruptions it allows.
    async fn counted(self, client: &Client, ns: &str, name: &str) -> Result<(i32, i32), String> {
        match self {
            Self::Pdb => {
                let b = Api::<PodDisruptionBudget>::namespaced(client.clone(), ns)
                    .get(name)
                    .await
                    .map_err(|e| e.to_string())?;
                let s = b.status.ok_or("no status yet")?;
                if s.observed_generation != b.metadata.generation {
                    return Err("status older than the spec".into());
                }
                Ok((s.current_healthy, s.disruptions_allowed))
            }
            Self::Pub => {
                let b = Api::<PodUnavailableBudget>::namespaced(client.clone(), ns)
                    .get(name)
                    .await
                    .map_err(|e| e.to_string())?;
                let s = b.status.ok_or("no status yet")?;
                if Some(s.observed_generation) != b.metadata.generation {
                    return Err("status older than the spec".into());
                }
                Ok((s.current_available, s.unavailable_allowed))
            }
        }
    }
}

async fn bind(pods: &Api<Pod>, pod: &str, node: &str) {
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
    let _: Value = pods
        .create_subresource("binding", pod, &PostParams::default(), &binding)
        .await
        .unwrap_or_else(|e| panic!("binding {pod} to {node}: {e}"));
    mark_ready(pods, pod).await.unwrap();
}

/// Binds the pods of `app` (once its ReplicaSet created them) to `nodes`, one each, Ready.
async fn place(client: &Client, ns: &str, app: &str, nodes: &[&str]) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let lp = kube::api::ListParams::default().labels(&format!("app={app}"));
    let mut names: Vec<String> = Vec::new();
    for _ in 0..150 {
        let list = pods.list(&lp).await.unwrap();
        names = list
            .items
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        if names.len() >= nodes.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        names.len() >= nodes.len(),
        "{app}: {} pods of {} after 30 s",
        names.len(),
        nodes.len()
    );
    names.sort();
    for (p, n) in names.iter().zip(nodes) {
        bind(&pods, p, n).await;
    }
}

/// Plays scheduler and kubelet for the namespace while a real drain runs: pods being deleted go
/// away (grace period 0), new pods are bound to the first open node not holding one of their
/// app's pods and marked Ready.
fn fake_kubelet(client: Client, ns: String, nodes: Vec<String>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let node_api: Api<Node> = Api::all(client.clone());
        loop {
            if let Ok(list) = pods.list(&Default::default()).await {
                for p in &list.items {
                    let name = p.metadata.name.clone().unwrap_or_default();
                    let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
                    if p.metadata.deletion_timestamp.is_some() {
                        let _ = pods
                            .delete(&name, &DeleteParams::default().grace_period(0))
                            .await;
                    } else if node.is_none() {
                        for n in &nodes {
                            let open = node_api.get(n).await.ok().is_some_and(|x| {
                                !x.spec.and_then(|s| s.unschedulable).unwrap_or(false)
                            });
                            if open {
                                bind(&pods, &name, n).await;
                                break;
                            }
                        }
                    } else if !is_ready(p) {
                        let _ = mark_ready(&pods, &name).await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
}

#[derive(clap::Parser)]
struct Cli {
    #[command(subcommand)]
    plan: Plan,
}

#[derive(clap::Subcommand)]
enum Plan {
    Plan(steady_ctl::plan::PlanArgs),
}

/// Runs `steady plan ARGS -o json` and returns its exit code and JSON output.
async fn plan(args: &[&str]) -> (String, Value) {
    let mut argv = vec!["steady", "plan"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["-o", "json"]);
    let Plan::Plan(a) = <Cli as clap::Parser>::try_parse_from(argv).unwrap().plan;
    let mut out = Vec::new();
    let code = steady_ctl::plan::run(&a, &mut out).await.unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!(
            "plan {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out)
        )
    });
    let code = if code == ExitCode::SUCCESS {
        "0"
    } else if code == ExitCode::from(1) {
        "1"
    } else {
        "2"
    };
    (code.into(), v["plan"].clone())
}

/// Runs `steady plan ARGS` (human output) and returns what it printed.
async fn human(args: &[&str]) -> String {
    let mut argv = vec!["steady", "plan"];
    argv.extend_from_slice(args);
    let Plan::Plan(a) = <Cli as clap::Parser>::try_parse_from(argv).unwrap().plan;
    let mut out = Vec::new();
    steady_ctl::plan::run(&a, &mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

async fn cleanup(client: &Client, ns: &str, nodes: &[String]) {
    let nsapi: Api<Namespace> = Api::all(client.clone());
    let _ = nsapi.delete(ns, &DeleteParams::default()).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    // Pods bound to a node stay Terminating without a kubelet: finish them.
    for _ in 0..100 {
        let Ok(list) = pods.list(&Default::default()).await else {
            break;
        };
        if list.items.is_empty() && nsapi.get(ns).await.is_err() {
            break;
        }
        for p in list.items {
            let _ = pods
                .delete(
                    p.metadata.name.as_deref().unwrap_or(""),
                    &DeleteParams::default().grace_period(0),
                )
                .await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let node_api: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    for n in nodes {
        let _ = node_api.delete(n, &DeleteParams::default()).await;
        let _ = leases.delete(n, &DeleteParams::default()).await;
    }
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let _ = pvs
        .delete(&format!("{ns}-pv"), &DeleteParams::default())
        .await;
}

fn blocker_kinds(p: &Value) -> Vec<String> {
    p["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            format!(
                "{} {}",
                b["kind"].as_str().unwrap(),
                b["object"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs STEADY_E2E_KUBECONFIG"]
async fn plan_drain_predicts_what_kubectl_drain_does() {
    drain_test("plan_drain_predicts_what_kubectl_drain_does", Budgets::Pdb).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs STEADY_E2E_KUBECONFIG"]
async fn plan_drain_predicts_what_kubectl_drain_does_through_the_guard() {
    drain_test(
        "plan_drain_predicts_what_kubectl_drain_does_through_the_guard",
        Budgets::Pub,
    )
    .await;
}

/// One run: a namespace and four Nodes of its own (the guard, for PodUnavailableBudgets, with the
/// shipped webhook configuration), the scenario, then cleanup whatever the scenario did.
async fn drain_test(test: &str, budgets: Budgets) {
    let path = kubeconfig(test);
    let client = client(&path).await;
    if budgets == Budgets::Pub {
        support::apply_crd(&client).await;
    }
    let prefix = match budgets {
        Budgets::Pdb => "plan-e2e",
        Budgets::Pub => "plan-pub-e2e",
    };
    let mut run = support::run(client.clone(), prefix);
    let ns = run.create("shop").await;
    let nodes: Vec<String> = (1..=4).map(|i| format!("{}-n{i}", run.id)).collect();
    create_nodes(&client, &nodes).await;
    let beat = heartbeat(client.clone(), nodes.clone());
    let dir = tempfile::tempdir().unwrap();
    let guard = match budgets {
        Budgets::Pdb => None,
        Budgets::Pub => Some(support::start_guard(&client, &ns, "plan-e2e", dir.path()).await),
    };
    let result = tokio::spawn({
        let (client, ns, nodes, path) = (client.clone(), ns.clone(), nodes.clone(), path.clone());
        let (id, front) = (
            run.id.clone(),
            guard.as_ref().map(|g| (g.listen, g.ca_pem.clone())),
        );
        async move {
            if let Some((listen, ca_pem)) = front {
                support::register_shipped_webhook(&client, &id, listen, &ca_pem).await;
            }
            scenario(&client, &ns, &nodes, &path, budgets).await
        }
    })
    .await;
    beat.abort();
    // The webhook first: with it gone, nothing refuses the namespace's deletion of its pods.
    let _ = Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .delete(&run.id, &DeleteParams::default())
        .await;
    if let Some(g) = &guard {
        g.stop();
    }
    cleanup(&client, &ns, &nodes).await;
    run.delete_all().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn scenario(client: &Client, ns: &str, nodes: &[String], path: &str, budgets: Budgets) {
    let n: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let kind = budgets.kind();
    // web: 3 pods on n1 n2 n3 under maxUnavailable 1; db: 2 pods on n1 n2 under minAvailable
    // 100%; solo: 1 unbudgeted pod alone on n4.
    deployment(client, ns, "web", 3).await;
    deployment(client, ns, "db", 2).await;
    deployment(client, ns, "solo", 1).await;
    budgets
        .create(client, ns, "web", json!({"maxUnavailable": 1}))
        .await;
    budgets
        .create(client, ns, "db", json!({"minAvailable": "100%"}))
        .await;
    place(client, ns, "web", &[n[0], n[1], n[2]]).await;
    place(client, ns, "db", &[n[0], n[1]]).await;
    place(client, ns, "solo", &[n[3]]).await;
    // The budgets' controller's view, which the real drain will be decided on.
    eventually("the budgets count every pod available", 60, || async move {
        for (name, want) in [("web", (3, 1)), ("db", (2, 0))] {
            let got = budgets.counted(client, ns, name).await?;
            if got != want {
                return Err(format!(
                    "{kind} {name}: (available, allowed) {got:?}, not {want:?}"
                ));
            }
        }
        Ok(())
    })
    .await;

    // A Node is created with the not-ready NoSchedule taint (TaintNodesByCondition) and keeps it
    // until the node lifecycle controller sees it Ready; on a loaded machine that takes seconds,
    // and the plan (like the scheduler) rightly places nothing on a tainted node.
    let node_api: Api<Node> = Api::all(client.clone());
    eventually("the nodes lose their not-ready taint", 60, || {
        let node_api = node_api.clone();
        async move {
            for name in nodes {
                let node = node_api.get(name).await.map_err(|e| e.to_string())?;
                let taints = node.spec.and_then(|s| s.taints).unwrap_or_default();
                if let Some(t) = taints.first() {
                    return Err(format!("{name}: taint {}:{}", t.key, t.effect));
                }
            }
            Ok(())
        }
    })
    .await;

    // The live reading takes PersistentVolumeClaims and PersistentVolumes too (zone pins): a
    // claim bound to a volume in zone-c.
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pv = format!("{ns}-pv");
    pvs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": pv},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": "/tmp/steady-e2e"}, "storageClassName": "",
                "claimRef": {"namespace": ns, "name": "data"},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["zone-c"]}]}]}}}}))
        .unwrap(),
    )
    .await
    .unwrap();
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    pvcs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "volumeName": pv, "storageClassName": "",
                "resources": {"requests": {"storage": "1Gi"}}}}))
        .unwrap(),
    )
    .await
    .unwrap();
    let state = steady_ctl::plan::read_state(client).await.unwrap();
    assert!(
        state.persistent_volume_claims.iter().any(|c| {
            c.metadata.namespace.as_deref() == Some(ns)
                && c.spec.as_ref().and_then(|s| s.volume_name.as_deref()) == Some(pv.as_str())
        }),
        "the state has the claim"
    );
    assert!(
        state
            .persistent_volumes
            .iter()
            .any(|v| v.metadata.name.as_deref() == Some(pv.as_str())),
        "the state has the volume"
    );

    // (a) n3 holds one web pod: its budget allows its eviction, the drain completes.
    let (code, a) = plan(&["drain", n[2], "--kubeconfig", path, "--timeout", "2m"]).await;
    assert_eq!(code, "0", "{a:#}");
    assert_eq!(a["outcome"], "completes", "{a:#}");
    assert_eq!(a["nodes"][0]["outcome"], "drained");
    assert_eq!(a["workloads"][0]["name"], format!("{ns}/web"));
    assert_eq!(a["workloads"][0]["minAvailable"], 2);
    assert_eq!(
        a["workloads"][0]["budgets"],
        json!([format!("{kind} {ns}/web")])
    );
    assert_eq!(a["blockers"], json!([]), "{a:#}");
    // (b) n2 holds a db pod: minAvailable 100% never allows it.
    let (code, b) = plan(&["drain", n[1], "--kubeconfig", path, "--timeout", "30s"]).await;
    assert_eq!(code, "1", "{b:#}");
    assert_eq!(b["outcome"], "timed out", "{b:#}");
    assert_eq!(b["refusals"][0]["budget"], format!("{kind} db"));
    assert_eq!(
        blocker_kinds(&b),
        [format!("budget-never-allows {kind} {ns}/db")]
    );
    let refusal = b["refusals"][0]["message"].as_str().unwrap().to_owned();
    // (c) n4 holds solo alone: the drain completes, with an outage.
    let (code, c) = plan(&["drain", n[3], "--kubeconfig", path]).await;
    assert_eq!(code, "1", "{c:#}");
    assert_eq!(c["outcome"], "completes with an outage", "{c:#}");
    assert_eq!(blocker_kinds(&c), [format!("outage Deployment {ns}/solo")]);
    println!(
        "plan (a): {}\nplan (b): {}\nplan (c): {}",
        a["verdict"], b["verdict"], c["verdict"]
    );
    if budgets == Budgets::Pub {
        for (node, timeout) in [(n[2], "2m"), (n[1], "30s")] {
            println!(
                "$ steady plan drain {node} --timeout {timeout}\n{}",
                human(&["drain", node, "--kubeconfig", path, "--timeout", timeout]).await
            );
        }
    }

    // The real drains, with this test as scheduler and kubelet.
    let kubelet = fake_kubelet(
        client.clone(),
        ns.to_owned(),
        vec![n[3].to_owned(), n[0].to_owned()],
    );
    let drain = |node: &str, timeout: &str| {
        std::process::Command::new(kubectl())
            .args([
                "--kubeconfig",
                path,
                "drain",
                node,
                "--ignore-daemonsets",
                "--timeout",
                timeout,
            ])
            .output()
            .expect("kubectl runs")
    };
    let real_a = tokio::task::block_in_place(|| drain(n[2], "60s"));
    let real_b = tokio::task::block_in_place(|| drain(n[1], "20s"));
    kubelet.abort();
    let (out_a, err_a) = (
        String::from_utf8_lossy(&real_a.stdout),
        String::from_utf8_lossy(&real_a.stderr),
    );
    println!(
        "$ kubectl drain {} --timeout 60s\n{out_a}{err_a}exit {:?}",
        n[2],
        real_a.status.code()
    );
    assert!(
        real_a.status.success(),
        "kubectl drain (a) failed, the plan said it completes:\n{out_a}\n{err_a}"
    );
    assert!(out_a.contains(&format!("node/{} drained", n[2])), "{out_a}");
    let (out_b, err_b) = (
        String::from_utf8_lossy(&real_b.stdout),
        String::from_utf8_lossy(&real_b.stderr),
    );
    println!(
        "$ kubectl drain {} --timeout 20s\n{out_b}{err_b}exit {:?}",
        n[1],
        real_b.status.code()
    );
    assert!(
        !real_b.status.success(),
        "kubectl drain (b) succeeded, the plan said it is blocked:\n{out_b}\n{err_b}"
    );
    // Refused by the budget the plan named: the API server's own words for a PDB; for a PUB the
    // guard's, which are the plan's (one engine), behind the API server's webhook prefix.
    let refused = match budgets {
        Budgets::Pdb => {
            "Cannot evict pod as it would violate the pod's disruption budget.".to_owned()
        }
        Budgets::Pub => {
            format!("admission webhook \"pods.guard.steady.dev\" denied the request: {refusal}")
        }
    };
    assert!(err_b.contains(&refused), "no {refused:?} in:\n{err_b}");
    assert!(err_b.contains("global timeout reached: 20s"), "{err_b}");
    // The drained node still holds its db pod, not terminating.
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let on_n2: Vec<String> = pods
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(n[1]))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert!(on_n2.iter().any(|p| p.starts_with("db-")), "{on_n2:?}");
    assert_eq!(budgets.counted(client, ns, "db").await, Ok((2, 0)));
    println!(
        "kubectl drain (a): exit 0; (b): exit {:?}, {}",
        real_b.status.code(),
        err_b.lines().find(|l| l.contains(&refused)).unwrap_or("")
    );
}
