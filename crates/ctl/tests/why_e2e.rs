//! `kubectl steady status` and `kubectl steady why` against a real kube-apiserver (+ its
//! disruption controller), run only when `STEADY_E2E_KUBECONFIG` names a kubeconfig.
//!
//! PodDisruptionBudgets need no webhook: the API server itself refuses a dry-run eviction with 429
//! when the PDB allows no disruption. For PodUnavailableBudgets the guard runs in-process behind a
//! URL webhook whose namespaceSelector matches only this run's labelled namespace and whose
//! failurePolicy is Ignore; the configuration is deleted at the end.

mod support;

use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use steady_api::PodUnavailableBudget;
use steady_ctl::plugin::PluginError;
use steady_ctl::status::{Scope, status};
use steady_ctl::why::{Eviction, GuardCoverage, why};
use support::*;

/// Starts one guard replica in-process and registers a webhook for the run's namespaces only,
/// failing open (this test asks the guard by dry run; it never needs a refusal enforced).
async fn start_guard(client: &Client, run: &str, lease_ns: &str, dir: &std::path::Path) {
    let guard = support::start_guard(client, lease_ns, "ctl-e2e", dir).await;
    let whc: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": run},
        "webhooks": [{
            "name": "pods.guard.steady.dev",
            "clientConfig": {"url": format!("https://{}/validate/pods", guard.listen),
                "caBundle": k8s_openapi::ByteString(guard.ca_pem.clone())},
            "rules": [
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["DELETE", "UPDATE"], "resources": ["pods"], "scope": "Namespaced"},
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods/eviction"], "scope": "Namespaced"}
            ],
            // Only this run's namespaces, and never in anyone's way if the test dies.
            "namespaceSelector": {"matchLabels": {RUN_LABEL: run}},
            "sideEffects": "NoneOnDryRun", "failurePolicy": "Ignore", "timeoutSeconds": 10,
            "admissionReviewVersions": ["v1"]
        }]
    }))
    .unwrap();
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &whc)
        .await
        .unwrap();
}

async fn create_pdb(client: &Client, ns: &str, app: &str, min_available: i32) {
    let api: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), ns);
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": app},
            "spec": {"selector": {"matchLabels": {"app": app}}, "minAvailable": min_available}}))
        .unwrap(),
    )
    .await
    .unwrap();
}

async fn create_pub(client: &Client, ns: &str, app: &str, min_available: i32) {
    let api: Api<PodUnavailableBudget> = Api::namespaced(client.clone(), ns);
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": app},
            "spec": {"selector": {"matchLabels": {"app": app}}, "minAvailable": min_available}}))
        .unwrap(),
    )
    .await
    .unwrap();
}

/// Waits until `status` shows the budget with these counts (allowed, current, desired, total).
async fn wait_row(client: &Client, ns: &str, name: &str, pdb: bool, want: (i32, i32, i32, i32)) {
    let scope = Scope::Namespace(ns.to_owned());
    eventually(&format!("budget {ns}/{name} counted"), 90, || {
        let scope = scope.clone();
        async move {
            let r = status(client, &scope).await.map_err(|e| e.to_string())?;
            let rows = if pdb {
                r.pod_disruption_budgets
            } else {
                r.pod_unavailable_budgets
            };
            let row = rows.iter().find(|b| b.name == name).ok_or("not listed")?;
            let got = (row.allowed, row.current, row.desired, row.total);
            if got == want {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs STEADY_E2E_KUBECONFIG"]
async fn status_and_why_on_a_real_api_server() {
    let path = kubeconfig("status/why e2e");
    let client = client(&path).await;
    apply_crd(&client).await;
    let mut run = run(client.clone(), "steady-ctl-why");
    let dir = tempfile::tempdir().unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::spawn(scenarios(
            client.clone(),
            run.id.clone(),
            dir.path().to_owned(),
        )),
    )
    .await;
    // The namespaces were created inside the scenario; their names are predictable.
    for suffix in ["pdb", "pub"] {
        run.names.push(format!("{}-{suffix}", run.id));
    }
    let _ = Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .delete(&run.id, &DeleteParams::default())
        .await;
    run.delete_all().await;
    match result {
        Err(_) => panic!("scenarios did not finish within 240 s"),
        Ok(Err(e)) => std::panic::resume_unwind(e.into_panic()),
        Ok(Ok(())) => {}
    }
}

async fn scenarios(client: Client, id: String, dir: std::path::PathBuf) {
    let mut run = Namespaces {
        client: client.clone(),
        id: id.clone(),
        label: RUN_LABEL.into(),
        names: vec![],
    };

    // Native PDBs: no webhook involved, the API server decides.
    let ns_pdb = run.create("pdb").await;
    ready_pods(&client, &ns_pdb, "tight", 2).await;
    ready_pods(&client, &ns_pdb, "loose", 2).await;
    ready_pods(&client, &ns_pdb, "lonely", 1).await;
    create_pdb(&client, &ns_pdb, "tight", 2).await;
    create_pdb(&client, &ns_pdb, "loose", 1).await;
    wait_row(&client, &ns_pdb, "tight", true, (0, 2, 2, 2)).await;
    wait_row(&client, &ns_pdb, "loose", true, (1, 2, 1, 2)).await;

    let r = why(&client, &ns_pdb, "tight-0").await.unwrap();
    eprintln!("{}", steady_ctl::why::render(&r));
    assert_eq!(r.budgets.len(), 1, "{r:?}");
    assert_eq!(r.budgets[0].kind, "PodDisruptionBudget");
    assert_eq!(r.budgets[0].name, "tight");
    assert_eq!(r.budgets[0].protects, vec!["Evict"]);
    match &r.eviction {
        Eviction::Refused { code, message } => {
            assert_eq!(*code, 429);
            assert!(
                message.contains("tight"),
                "the refusal names the PDB: {message}"
            );
        }
        other => panic!("eviction of tight-0 must be refused, got {other:?}"),
    }

    let r = why(&client, &ns_pdb, "loose-0").await.unwrap();
    eprintln!("{}", steady_ctl::why::render(&r));
    assert_eq!(r.budgets.len(), 1, "{r:?}");
    assert_eq!(r.budgets[0].name, "loose");
    assert_eq!(r.eviction, Eviction::Allowed);
    // A dry run writes nothing: the PDB still allows one.
    wait_row(&client, &ns_pdb, "loose", true, (1, 2, 1, 2)).await;

    let r = why(&client, &ns_pdb, "lonely-0").await.unwrap();
    let text = steady_ctl::why::render(&r);
    assert!(r.budgets.is_empty(), "{r:?}");
    assert!(text.contains("No budget guards this pod"), "{text}");
    assert_eq!(r.eviction, Eviction::Allowed);

    match why(&client, &ns_pdb, "no-such-pod").await {
        Err(e @ PluginError::PodNotFound { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(&format!("{ns_pdb}/no-such-pod")), "{msg}");
        }
        other => panic!("a missing pod is an error naming it, got {other:?}"),
    }

    // PodUnavailableBudgets: the guard's webhook decides.
    let ns_pub = run.create("pub").await;
    start_guard(&client, &id, &ns_pub, &dir).await;
    ready_pods(&client, &ns_pub, "api", 3).await;
    ready_pods(&client, &ns_pub, "batch", 2).await;
    create_pub(&client, &ns_pub, "api", 3).await;
    create_pub(&client, &ns_pub, "batch", 1).await;
    wait_row(&client, &ns_pub, "api", false, (0, 3, 3, 3)).await;
    wait_row(&client, &ns_pub, "batch", false, (1, 2, 1, 2)).await;

    let r = why(&client, &ns_pub, "api-1").await.unwrap();
    eprintln!("{}", steady_ctl::why::render(&r));
    assert_eq!(r.budgets.len(), 1, "{r:?}");
    assert_eq!(r.budgets[0].kind, "PodUnavailableBudget");
    assert_eq!(r.budgets[0].name, "api");
    assert_eq!(
        r.budgets[0].protects,
        vec!["Delete", "Evict", "Update", "Resize"]
    );
    match &r.eviction {
        Eviction::Refused { code, message } => {
            assert_eq!(*code, 429);
            assert!(
                message.contains("PodUnavailableBudget api") && message.contains("3"),
                "the refusal names the budget and its counts: {message}"
            );
        }
        other => panic!("eviction of api-1 must be refused, got {other:?}"),
    }

    match &r.guard_webhook {
        GuardCoverage::Checked { covering, .. } => assert!(
            covering.contains(&id),
            "the run's webhook covers its namespace: {covering:?}"
        ),
        other => panic!("coverage could not be checked: {other:?}"),
    }

    let r = why(&client, &ns_pub, "batch-0").await.unwrap();
    eprintln!("{}", steady_ctl::why::render(&r));
    assert_eq!(r.budgets.len(), 1, "{r:?}");
    assert_eq!(r.budgets[0].name, "batch");
    assert_eq!(r.eviction, Eviction::Allowed);
    // The guard decided the dry run but took no unit.
    wait_row(&client, &ns_pub, "batch", false, (1, 2, 1, 2)).await;

    // `status -A` lists both kinds, with the counts the controllers wrote.
    let report = status(&client, &Scope::All).await.unwrap();
    let text = steady_ctl::status::render(&report, &Scope::All, jiff::Timestamp::now());
    eprintln!("{text}");
    let find = |rows: &[steady_ctl::status::BudgetRow], ns: &str, name: &str| {
        rows.iter()
            .find(|r| r.namespace == ns && r.name == name)
            .map(|r| (r.allowed, r.current, r.desired, r.total, r.reason.clone()))
    };
    assert_eq!(
        find(&report.pod_unavailable_budgets, &ns_pub, "api"),
        Some((0, 3, 3, 3, Some("InsufficientPods".into())))
    );
    assert_eq!(
        find(&report.pod_unavailable_budgets, &ns_pub, "batch"),
        Some((1, 2, 1, 2, Some("SufficientPods".into())))
    );
    assert_eq!(
        find(&report.pod_disruption_budgets, &ns_pdb, "tight"),
        Some((0, 2, 2, 2, Some("InsufficientPods".into())))
    );
    let sorted = report
        .pod_unavailable_budgets
        .windows(2)
        .all(|w| (&w[0].namespace, &w[0].name) <= (&w[1].namespace, &w[1].name));
    assert!(sorted, "rows are sorted by namespace and name");
    let line = text
        .lines()
        .find(|l| l.starts_with(&ns_pub) && l.contains(" api "))
        .expect("a table line for the api budget");
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        &cells[..7],
        [ns_pub.as_str(), "api", "0", "3", "3", "3", "0"]
    );
    assert_eq!(cells.last(), Some(&"InsufficientPods"));
}
