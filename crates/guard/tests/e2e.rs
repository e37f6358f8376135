//! End-to-end tier against a real kube-apiserver (+ kube-controller-manager), run only when
//! `STEADY_E2E_KUBECONFIG` names a kubeconfig. It applies the CRD, starts `steady serve`
//! in-process (three replicas behind a round-robin TCP proxy), registers the webhook configuration
//! `steady install` renders with only its clientConfig pointed at the proxy (by URL) and its
//! namespaceSelector matching only this run's namespaces, and proves the guard's promises on the real API server. Without a kubelet, pods are marked Ready
//! through the status subresource.

mod support;

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt as _;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use steady_api::PodUnavailableBudget;
use steady_testkit::{
    Namespaces, api_code, client, eventually, free_port, http_get, kubeconfig, mark_all_ready,
};

const RUN_LABEL: &str = "steady-e2e";

async fn budget_status(client: &Client, ns: &str, name: &str) -> Value {
    let api: Api<PodUnavailableBudget> = Api::namespaced(client.clone(), ns);
    serde_json::to_value(api.get(name).await.unwrap().status.unwrap_or_default()).unwrap()
}

fn deployment(name: &str, replicas: i32) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]}}}})
}

/// The ValidatingWebhookConfiguration `steady install` renders (same rules, matchConditions,
/// sideEffects, failurePolicy, timeout), named after the run, with only what must differ here
/// changed: the clientConfig points at the local replicas by URL, and the namespaceSelector is the
/// install's opt-in form with the run's label, so only this run's namespaces are guarded.
fn shipped_webhook(
    run: &str,
    system: &str,
    front: SocketAddr,
    ca_pem: &[u8],
) -> ValidatingWebhookConfiguration {
    use steady_ctl::manifests::{InstallOptions, NamespaceSelection, render};
    let opts = InstallOptions {
        namespace: system.to_owned(),
        name: run.to_owned(),
        namespace_selection: NamespaceSelection::OptIn {
            key: RUN_LABEL.to_owned(),
            value: run.to_owned(),
        },
        ..InstallOptions::default()
    };
    let rendered = render(&opts).expect("the install renders");
    let whc = rendered
        .find("ValidatingWebhookConfiguration", run)
        .expect("the install renders a ValidatingWebhookConfiguration")
        .object
        .clone();
    steady_testkit::url_webhook(whc, RUN_LABEL, run, front, ca_pem)
}

struct Env {
    client: Client,
    run: String,
    namespaces: Namespaces,
    nodes: Vec<String>,
}

impl Env {
    async fn namespace(&mut self, suffix: &str) -> String {
        self.namespaces.create(suffix).await
    }

    async fn cleanup(&self) {
        let whc: Api<ValidatingWebhookConfiguration> = Api::all(self.client.clone());
        let _ = whc.delete(&self.run, &DeleteParams::default()).await;
        self.namespaces.delete_all().await;
        let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(self.client.clone());
        for n in &self.nodes {
            let _ = nodes.delete(n, &DeleteParams::default()).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs STEADY_E2E_KUBECONFIG"]
async fn guard_on_a_real_api_server() {
    let path = kubeconfig("guard e2e");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "steady_guard=info".into()),
        )
        .with_test_writer()
        .try_init();
    let client = client(&path).await;
    let namespaces = Namespaces::new(client.clone(), "steady-e2e", RUN_LABEL);
    let run = namespaces.id.clone();
    let mut env = Env {
        client: client.clone(),
        run: run.clone(),
        namespaces,
        nodes: vec![],
    };

    steady_testkit::apply_crd(&client, "steady-e2e").await;

    // Three guard replicas sharing one certificate, behind a round-robin proxy.
    let system = env.namespace("system").await;
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    std::fs::write(dir.path().join("tls.key"), cert.signing_key.serialize_pem()).unwrap();
    std::fs::write(dir.path().join("tls.crt"), cert.cert.pem()).unwrap();
    let mut backends = Vec::new();
    let mut admins = Vec::new();
    for i in 0..3 {
        let (listen, admin) = (free_port(), free_port());
        backends.push(listen);
        admins.push(admin);
        let args = steady_guard::Args {
            cert_mode: None,
            tls_cert_file: Some(dir.path().join("tls.crt")),
            tls_key_file: Some(dir.path().join("tls.key")),
            namespace: None,
            cert_secret: "steady-guard-tls".into(),
            webhook_configuration: "steady-guard".into(),
            service_name: "steady-guard".into(),
            ca_validity_days: 3650,
            serving_validity_days: 365,
            cert_check_interval: std::time::Duration::from_secs(30),
            listen,
            admin_listen: admin,
            guard_pdb_deletes: true,
            request_deadline: std::time::Duration::from_secs(8),
            max_attempts: 10,
            max_body_bytes: 8 << 20,
            header_read_timeout: std::time::Duration::from_secs(5),
            idle_timeout: Duration::from_secs(120),
            max_connections: None,
            max_header_bytes: 32 * 1024,
            cert_reload_interval: std::time::Duration::from_secs(2),
            expiry: std::time::Duration::from_secs(120),
            resync_interval: std::time::Duration::from_secs(5),
            lease_namespace: system.clone(),
            lease_name: "steady-guard".into(),
            identity: Some(format!("replica-{i}")),
        };
        let c = client.clone();
        tokio::spawn(async move {
            if let Err(e) = steady_guard::serve(args, c, std::future::pending()).await {
                eprintln!("replica {i} stopped: {e}");
            }
        });
    }
    for admin in &admins {
        let admin = *admin;
        steady_testkit::until_ok("replica ready", admin, "/readyz", 60).await;
    }
    let front = steady_testkit::round_robin_proxy(backends).await;
    let whc = shipped_webhook(&run, &system, front, cert.cert.pem().as_bytes());
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &whc)
        .await
        .unwrap();

    // A failed assertion must not leave this run's webhook and namespaces behind on a shared
    // cluster: catch the panic, clean up, then let it fail the test.
    let result = tokio::time::timeout(
        Duration::from_secs(300),
        AssertUnwindSafe(scenarios(&mut env, &admins)).catch_unwind(),
    )
    .await;
    env.cleanup().await;
    match result {
        Err(_) => panic!("e2e scenarios did not finish within 300 s"),
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Ok(Ok(())) => {}
    }
}

/// Sum of `steady_guard_status_writes_total{writer="webhook"}` over the replicas.
async fn webhook_writes(admins: &[SocketAddr]) -> u64 {
    metric_sum(
        admins,
        r#"steady_guard_status_writes_total{writer="webhook"}"#,
    )
    .await
}

/// Runs the real kubectl against the run's API server; its exit status, stdout+stderr, and how
/// long it took.
async fn kubectl(args: &[&str]) -> (std::process::ExitStatus, String, Duration) {
    let kubectl = steady_testkit::kubectl();
    let started = std::time::Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&kubectl)
            .args(args)
            .env("KUBECONFIG", kubeconfig("guard e2e"))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish within 120 s"))
    .unwrap_or_else(|e| panic!("cannot run {kubectl} (set STEADY_E2E_KUBECTL): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status, text, started.elapsed())
}

/// Sum of one metric series (or of every series starting so) over the replicas.
async fn metric_sum(admins: &[SocketAddr], series: &str) -> u64 {
    let mut total = 0;
    for a in admins {
        let m = http_get(*a, "/metrics").await;
        total += m
            .lines()
            .filter(|l| l.starts_with(series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>();
    }
    total
}

async fn scenarios(env: &mut Env, admins: &[SocketAddr]) {
    let client = env.client.clone();
    let pp = PostParams::default();

    // 1. A budget created before its pods converges once they exist and are Ready.
    let ns = env.namespace("web").await;
    let pubs: Api<PodUnavailableBudget> = Api::namespaced(client.clone(), &ns);
    pubs.create(&pp, &serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxUnavailable": 1}})).unwrap())
        .await
        .unwrap();
    pubs.create(
        &pp,
        &serde_json::from_value(json!({"metadata": {"name": "nothing"},
        "spec": {"selector": {"matchLabels": {"app": "nothing"}}, "maxUnavailable": 1}}))
        .unwrap(),
    )
    .await
    .unwrap();
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deploys
        .create(&pp, &serde_json::from_value(deployment("web", 3)).unwrap())
        .await
        .unwrap();
    eventually("3 pods Ready and the budget converged", 60, || {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            mark_all_ready(&client, &ns).await;
            let st = budget_status(&client, &ns, "web").await;
            if st["totalReplicas"] == 3
                && st["currentAvailable"] == 3
                && st["desiredAvailable"] == 2
                && st["unavailableAllowed"] == 1
            {
                Ok(())
            } else {
                Err(st.to_string())
            }
        }
    })
    .await;
    println!("e2e ok: a budget created before its pods converged (3/3 available, 1 allowed)");

    // 2. A budget that matches nothing shows zeros.
    let st = budget_status(&client, &ns, "nothing").await;
    assert_eq!(
        (
            st["totalReplicas"].clone(),
            st["currentAvailable"].clone(),
            st["unavailableAllowed"].clone()
        ),
        (json!(0), json!(0), json!(0)),
        "{st}"
    );
    println!("e2e ok: a budget matching nothing shows zeros");

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let names: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(names.len(), 3);

    // 3. Dry-run delete: decided, allowed, writes nothing.
    pods.delete(
        &names[0],
        &DeleteParams {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .expect("dry-run delete allowed");
    let st = budget_status(&client, &ns, "web").await;
    assert_eq!(st["unavailableAllowed"], 1, "dry run wrote nothing: {st}");
    assert!(st.get("disruptedPods").is_none(), "{st}");
    println!("e2e ok: dry-run delete allowed and wrote nothing");

    println!("e2e: label edit");
    // 4. Metadata edit allowed, and never even sent to the guard (the shipped matchConditions);
    //    image update refused once no unit is left.
    const UPDATES: &str = r#"steady_guard_decisions_total{operation="Update""#;
    let updates_before = metric_sum(admins, UPDATES).await;
    pods.patch(
        &names[1],
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"touched": "yes"}}})),
    )
    .await
    .expect("label edit allowed");
    assert_eq!(
        metric_sum(admins, UPDATES).await,
        updates_before,
        "a metadata-only UPDATE reached the webhook"
    );
    println!("e2e ok: metadata-only UPDATE allowed without a webhook call (matchConditions)");

    println!("e2e: evictions");
    // 5. One eviction takes the unit; the next is refused with 429.
    let writes_before = webhook_writes(admins).await;
    let t = std::time::Instant::now();
    pods.evict(&names[0], &EvictParams::default())
        .await
        .expect("first eviction allowed");
    let took = t.elapsed();
    let writes = webhook_writes(admins).await - writes_before;
    assert_eq!(writes, 1, "exactly one status write per allowed disruption");
    println!(
        "e2e ok: allowed eviction through the API server took {took:?} with exactly {writes} budget status write"
    );
    let e = pods
        .evict(&names[1], &EvictParams::default())
        .await
        .expect_err("second eviction refused");
    assert_eq!(api_code(&e), Some(429), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&names[1]) && msg.contains("PodUnavailableBudget web"),
        "{msg}"
    );
    println!("e2e ok: eviction refused with 429: {msg}");
    // The evicted pod (on no node, its name generated by the ReplicaSet) is gone at once and the
    // watch sees it deleted; its disruptedPods entry goes at the controller's next write, not
    // after the 2-minute expiry (issue 12 defect 8).
    let gone = names[0].clone();
    eventually("the gone pod leaves disruptedPods", 15, || {
        let (client, ns, gone) = (client.clone(), ns.clone(), gone.clone());
        async move {
            let st = budget_status(&client, &ns, "web").await;
            if st["disruptedPods"].get(&gone).is_none() {
                Ok(())
            } else {
                Err(st.to_string())
            }
        }
    })
    .await;
    println!("e2e ok: the evicted pod left disruptedPods once seen deleted");

    // 6. Direct delete refused; image update refused.
    let e = pods
        .delete(&names[1], &DeleteParams::default())
        .await
        .expect_err("direct delete refused");
    assert_eq!(api_code(&e), Some(429), "{e}");
    println!("e2e ok: direct delete refused with 429");
    // The real kubectl prints the refusal at once: with a Retry-After, client-go retried the 429
    // ten times silently first (about 50 s).
    let (status, out, took) =
        kubectl(&["delete", "pod", &names[1], "-n", &ns, "--wait=false"]).await;
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("TooManyRequests") && out.contains("PodUnavailableBudget web"),
        "{out}"
    );
    assert!(
        took < Duration::from_secs(10),
        "kubectl delete took {took:?}: {out}"
    );
    println!("e2e ok: kubectl delete printed the refusal after {took:?}");
    let e = pods
        .patch(&names[2], &PatchParams::default(), &Patch::Strategic(json!({"spec": {"containers": [{"name": "app", "image": "registry.example/app:2"}]}})))
        .await
        .expect_err("image update refused");
    assert_eq!(api_code(&e), Some(429), "{e}");
    println!("e2e ok: image update refused with 429; metadata edit allowed");

    // 7. Once the replacement is Ready, the budget allows one again, and the refused delete goes through.
    eventually("replacement Ready, one unit back", 60, || {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            mark_all_ready(&client, &ns).await;
            let st = budget_status(&client, &ns, "web").await;
            if st["unavailableAllowed"] == 1 && st["currentAvailable"] == 3 {
                Ok(())
            } else {
                Err(st.to_string())
            }
        }
    })
    .await;
    pods.delete(&names[1], &DeleteParams::default())
        .await
        .expect("delete allowed once pods are Ready again");
    println!("e2e ok: refused delete succeeds once the replacement is Ready");

    // 8. Scale to 0: desired 0, nothing left to protect.
    deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 0}})),
        )
        .await
        .unwrap();
    eventually("scaled to 0", 60, || {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            let st = budget_status(&client, &ns, "web").await;
            if st["totalReplicas"] == 0 && st["desiredAvailable"] == 0 {
                Ok(())
            } else {
                Err(st.to_string())
            }
        }
    })
    .await;
    println!("e2e ok: scale to 0 gives desired 0");

    // 9. Three replicas, 100 concurrent evictions on a maxUnavailable 2 budget: never over-admit.
    let ns = env.namespace("race").await;
    let pubs: Api<PodUnavailableBudget> = Api::namespaced(client.clone(), &ns);
    pubs.create(
        &pp,
        &serde_json::from_value(json!({"metadata": {"name": "race"},
        "spec": {"selector": {"matchLabels": {"app": "race"}}, "maxUnavailable": 2}}))
        .unwrap(),
    )
    .await
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), &ns)
        .create(
            &pp,
            &serde_json::from_value(deployment("race", 10)).unwrap(),
        )
        .await
        .unwrap();
    eventually("10 pods Ready, 2 allowed", 90, || {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            mark_all_ready(&client, &ns).await;
            let st = budget_status(&client, &ns, "race").await;
            if st["currentAvailable"] == 10 && st["unavailableAllowed"] == 2 {
                Ok(())
            } else {
                Err(st.to_string())
            }
        }
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let names: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (pods, name) = (pods.clone(), names[i % names.len()].clone());
        tasks.push(tokio::spawn(async move {
            (
                name.clone(),
                pods.evict(&name, &EvictParams::default()).await,
            )
        }));
    }
    let mut evicted = std::collections::BTreeSet::new();
    let mut refused = 0;
    for t in tasks {
        let (name, r) = t.await.unwrap();
        match r {
            Ok(_) => {
                evicted.insert(name);
            }
            Err(e) if api_code(&e) == Some(429) => refused += 1,
            // A second eviction of a pod already gone.
            Err(e) if api_code(&e) == Some(404) => {}
            Err(e) => panic!("unexpected eviction error: {e}"),
        }
    }
    assert_eq!(
        evicted.len(),
        2,
        "exactly 2 distinct pods evicted: {evicted:?} ({refused} refused)"
    );
    println!(
        "e2e ok: 100 concurrent evictions through 3 replicas evicted exactly {evicted:?}, {refused} refused with 429"
    );

    // 10. PDB mode: a native PodDisruptionBudget also guards direct deletes, with the unit taken
    //     in the PDB status as the eviction API does.
    let ns = env.namespace("pdb").await;
    let pdbs: Api<k8s_openapi::api::policy::v1::PodDisruptionBudget> =
        Api::namespaced(client.clone(), &ns);
    pdbs.create(
        &pp,
        &serde_json::from_value(json!({"metadata": {"name": "legacy"},
        "spec": {"selector": {"matchLabels": {"app": "legacy"}}, "maxUnavailable": 1}}))
        .unwrap(),
    )
    .await
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), &ns)
        .create(
            &pp,
            &serde_json::from_value(deployment("legacy", 3)).unwrap(),
        )
        .await
        .unwrap();
    eventually("3 pods Ready, PDB allows 1", 90, || {
        let (client, ns, pdbs) = (client.clone(), ns.clone(), pdbs.clone());
        async move {
            mark_all_ready(&client, &ns).await;
            let st = pdbs
                .get("legacy")
                .await
                .map_err(|e| e.to_string())?
                .status
                .unwrap_or_default();
            if st.current_healthy == 3 && st.disruptions_allowed == 1 {
                Ok(())
            } else {
                Err(format!("{st:?}"))
            }
        }
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let names: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    let writes_before = webhook_writes(admins).await;
    pods.delete(&names[0], &DeleteParams::default())
        .await
        .expect("first delete allowed by the PDB");
    // The unit is taken in the PDB's own status by the webhook (one write), not left to the
    // disruption controller's next resync.
    assert_eq!(
        webhook_writes(admins).await,
        writes_before + 1,
        "the allowed delete wrote the PDB status exactly once"
    );
    let e = pods
        .delete(&names[1], &DeleteParams::default())
        .await
        .expect_err("second delete refused by the PDB");
    assert_eq!(api_code(&e), Some(429), "{e}");
    assert!(e.to_string().contains("PodDisruptionBudget legacy"), "{e}");
    println!("e2e ok: PDB mode refuses the second direct delete with 429: {e}");

    // 11. kubectl drain: refused evictions are retried (429) and the drain completes once the
    //     replacements are Ready. A loop stands in for the kubelet (finishing terminating pods) and
    //     for readiness probes (marking new pods Ready).
    drain(env, admins).await;

    // 12. Two Deployments under one 25% budget roll out at once, each as fast as its strategy lets
    //     it (maxUnavailable 100%); new pods turn Ready 2 s after they appear. At most 3 of the 10
    //     pods may be unavailable at any moment, and both rollouts must still complete.
    rollouts(env, admins).await;

    // 13. pods/resize through the shipped rules: a resize that restarts a container (its
    //     resizePolicy says RestartContainer) takes a unit like any disruption and is refused
    //     when none is left; one that restarts nothing is allowed without a unit.
    resize(env).await;
}

async fn resize(env: &mut Env) {
    let client = env.client.clone();
    let ns = env.namespace("resize").await;
    let pp = PostParams::default();
    let pubs: Api<PodUnavailableBudget> = Api::namespaced(client.clone(), &ns);
    pubs.create(
        &pp,
        &serde_json::from_value(json!({"metadata": {"name": "sized"},
        "spec": {"selector": {"matchLabels": {"app": "sized"}}, "minAvailable": 2}}))
        .unwrap(),
    )
    .await
    .unwrap();
    let resources = json!({"requests": {"cpu": "100m", "memory": "64Mi"},
        "limits": {"cpu": "100m", "memory": "64Mi"}});
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sized"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "sized"}},
            "template": {"metadata": {"labels": {"app": "sized"}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1",
                    "resources": resources,
                    "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "RestartContainer"},
                        {"resourceName": "memory", "restartPolicy": "NotRequired"}]}]}}}});
    Api::<Deployment>::namespaced(client.clone(), &ns)
        .create(&pp, &serde_json::from_value(d).unwrap())
        .await
        .unwrap();
    eventually("2 sized pods Ready and the budget converged", 60, || {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            mark_all_ready(&client, &ns).await;
            let st = budget_status(&client, &ns, "sized").await;
            if st["currentAvailable"] == 2 && st["desiredAvailable"] == 2 {
                Ok(())
            } else {
                Err(st.to_string())
            }
        }
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let name = pods.list(&ListParams::default()).await.unwrap().items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    let resize = |cpu: &str, memory: &str| {
        json!({"spec": {"containers": [{"name": "app", "resources": {
            "requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}}]}})
    };
    let e = pods
        .patch_subresource(
            "resize",
            &name,
            &PatchParams::default(),
            &Patch::Strategic(resize("200m", "64Mi")),
        )
        .await
        .expect_err("a restarting resize is refused");
    assert_eq!(api_code(&e), Some(429), "{e}");
    assert!(e.to_string().contains("PodUnavailableBudget sized"), "{e}");
    println!("e2e ok: a resize that restarts a container refused with 429: {e}");
    pods.patch_subresource(
        "resize",
        &name,
        &PatchParams::default(),
        &Patch::Strategic(resize("100m", "128Mi")),
    )
    .await
    .expect("a resize that restarts nothing is allowed");
    let st = budget_status(&client, &ns, "sized").await;
    assert!(st["unavailablePods"].get(&name).is_none(), "{st}");
    println!("e2e ok: a resize that restarts nothing allowed without a unit");
}

async fn rollouts(env: &mut Env, admins: &[SocketAddr]) {
    const REFUSED: &str = r#"steady_guard_decisions_total{operation="Delete",result="denied",reason="InsufficientPods"}"#;
    let refused_before = metric_sum(admins, REFUSED).await;
    let client = env.client.clone();
    let pp = PostParams::default();
    let ns = env.namespace("rollout").await;
    Api::<PodUnavailableBudget>::namespaced(client.clone(), &ns)
        .create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": "shared"},
            "spec": {"selector": {"matchLabels": {"tier": "shared"}}, "maxUnavailable": "25%"}}))
            .unwrap(),
        )
        .await
        .unwrap();
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    for (name, replicas) in [("a", 6), ("b", 4)] {
        let mut d = deployment(name, replicas);
        d["spec"]["template"]["metadata"]["labels"]["tier"] = json!("shared");
        d["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "100%"}});
        deploys
            .create(&pp, &serde_json::from_value(d).unwrap())
            .await
            .unwrap();
    }
    eventually("10 pods Ready, 3 allowed", 90, || {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            mark_all_ready(&client, &ns).await;
            let st = budget_status(&client, &ns, "shared").await;
            if st["currentAvailable"] == 10
                && st["desiredAvailable"] == 7
                && st["unavailableAllowed"] == 3
            {
                Ok(())
            } else {
                Err(st.to_string())
            }
        }
    })
    .await;
    for name in ["a", "b"] {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "registry.example/app:2"}]}}}});
        deploys
            .patch(name, &PatchParams::default(), &Patch::Strategic(patch))
            .await
            .unwrap();
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let started = std::time::Instant::now();
    let mut min_available = usize::MAX;
    let mut samples = 0;
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "rollouts did not complete; min available {min_available}"
        );
        let list = pods.list(&ListParams::default()).await.unwrap().items;
        let is_ready = |p: &Pod| {
            p.metadata.deletion_timestamp.is_none()
                && p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        };
        let available = list.iter().filter(|p| is_ready(p)).count();
        min_available = min_available.min(available);
        samples += 1;
        assert!(
            available >= 7,
            "only {available} of 10 pods available during the rollouts (budget: 7)"
        );
        let done = list.len() == 10
            && list.iter().all(|p| {
                is_ready(p)
                    && p.spec.as_ref().is_some_and(|s| {
                        s.containers[0].image.as_deref() == Some("registry.example/app:2")
                    })
            });
        if done {
            break;
        }
        // Readiness after a 2 s start-up.
        for p in &list {
            let young = p.metadata.creation_timestamp.as_ref().is_none_or(|t| {
                jiff::Timestamp::now().duration_since(t.0) < jiff::SignedDuration::from_secs(2)
            });
            if is_ready(p) || young || p.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let patch = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": jiff::Timestamp::now().to_string()}]}});
            let _ = pods
                .patch_status(
                    p.metadata.name.as_deref().unwrap(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Without the guard, maxUnavailable 100% would have deleted all 10 old pods at once.
    let refused = metric_sum(admins, REFUSED).await - refused_before;
    assert!(
        refused >= 1,
        "no pod deletion was refused: the rollouts never tested the budget"
    );
    println!(
        "e2e ok: two Deployments rolled out under one 25% budget in {:?}; never fewer than {min_available} of 10 available ({samples} samples, {refused} deletions by the ReplicaSet controller refused with 429)",
        started.elapsed()
    );
}

async fn drain(env: &mut Env, admins: &[SocketAddr]) {
    const REFUSED: &str = r#"steady_guard_decisions_total{operation="Evict",result="denied",reason="InsufficientPods"}"#;
    let refused_before = metric_sum(admins, REFUSED).await;
    let client = env.client.clone();
    let pp = PostParams::default();
    let ns = env.namespace("drain").await;
    let node = format!("{}-node", env.run);
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    nodes
        .create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": node}})).unwrap(),
        )
        .await
        .unwrap();
    env.nodes.push(node.clone());
    Api::<PodUnavailableBudget>::namespaced(client.clone(), &ns)
        .create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": "drainme"},
            "spec": {"selector": {"matchLabels": {"app": "drainme"}}, "maxUnavailable": 1}}))
            .unwrap(),
        )
        .await
        .unwrap();
    Api::<Deployment>::namespaced(client.clone(), &ns)
        .create(
            &pp,
            &serde_json::from_value(deployment("drainme", 3)).unwrap(),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    eventually("3 pods created", 30, || {
        let pods = pods.clone();
        async move {
            let n = pods
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?
                .items
                .len();
            if n == 3 {
                Ok(())
            } else {
                Err(format!("{n} pods"))
            }
        }
    })
    .await;
    for p in pods.list(&ListParams::default()).await.unwrap() {
        let name = p.metadata.name.unwrap();
        let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
        pods.create_subresource::<Value, Value>("binding", &name, &pp, &binding)
            .await
            .unwrap();
    }
    eventually("3 bound pods Ready, 1 allowed", 60, || {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            mark_all_ready(&client, &ns).await;
            let st = budget_status(&client, &ns, "drainme").await;
            if st["currentAvailable"] == 3 && st["unavailableAllowed"] == 1 {
                Ok(())
            } else {
                Err(st.to_string())
            }
        }
    })
    .await;
    // A rehearsal first: `kubectl drain --dry-run=server` evicts with the dry run inside the
    // Eviction body (deleteOptions.dryRun). It must leave every budget untouched.
    let pubs: Api<PodUnavailableBudget> = Api::namespaced(client.clone(), &ns);
    let before = pubs.get("drainme").await.unwrap();
    let (status, out, took) = kubectl(&[
        "drain",
        &node,
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--dry-run=server",
        "--timeout=60s",
    ])
    .await;
    assert!(
        status.success(),
        "kubectl drain --dry-run=server failed: {out}"
    );
    let after = pubs.get("drainme").await.unwrap();
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "the dry-run drain changed the budget: {:?} -> {:?}",
        before.status, after.status
    );
    assert!(
        after
            .status
            .as_ref()
            .is_some_and(|s| s.disrupted_pods.is_empty() && s.unavailable_allowed == 1),
        "{:?}",
        after.status
    );
    let nodes_api: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    assert_ne!(
        nodes_api
            .get(&node)
            .await
            .unwrap()
            .spec
            .and_then(|s| s.unschedulable),
        Some(true),
        "the dry run cordoned the node"
    );
    println!("e2e ok: kubectl drain --dry-run=server in {took:?} left the budget untouched: {out}");

    let kubectl = steady_testkit::kubectl();
    let kubeconfig = std::env::var("STEADY_E2E_KUBECONFIG").unwrap();
    let started = std::time::Instant::now();
    let mut child = tokio::process::Command::new(&kubectl)
        .args([
            "drain",
            &node,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=120s",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {kubectl} (set STEADY_E2E_KUBECTL): {e}"));
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "kubectl drain did not finish"
        );
        // The kubelet's part: terminating pods go away; new pods become Ready.
        for p in pods.list(&ListParams::default()).await.unwrap() {
            if p.metadata.deletion_timestamp.is_some() {
                let _ = pods
                    .delete(
                        p.metadata.name.as_deref().unwrap(),
                        &DeleteParams {
                            grace_period_seconds: Some(0),
                            ..Default::default()
                        },
                    )
                    .await;
            }
        }
        mark_all_ready(&client, &ns).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    use tokio::io::AsyncReadExt;
    let (mut out, mut err) = (String::new(), String::new());
    let _ = out_pipe.read_to_string(&mut out).await;
    let _ = err_pipe.read_to_string(&mut err).await;
    let log = format!("{out}{err}");
    assert!(status.success(), "kubectl drain failed: {log}");
    assert!(log.contains("drained"), "{log}");
    // kubectl drain retries 429s every 5 s by itself and says so for each (no Retry-After: no
    // hidden client-go retries first); the guard counted them.
    assert!(log.contains("will retry after 5s"), "{log}");
    let refused = metric_sum(admins, REFUSED).await - refused_before;
    assert!(
        refused >= 1,
        "no eviction was refused, so the budget was not exercised: {log}"
    );
    println!(
        "e2e ok: kubectl drain had {refused} eviction(s) refused with 429, retried them and completed in {:?}",
        started.elapsed()
    );
}
