//! Issue 7's acceptance test on a real API server (STEADY_E2E_KUBECONFIG): `steady install`, then
//! `kubectl steady status -A` shows the guard's own budget, and `kubectl steady why` on one of the
//! guard's pods finds both of its budgets — the PodUnavailableBudget through the owner chain
//! (Pod → ReplicaSet → Deployment, the budget's targetRef) and the PodDisruptionBudget by selector.
//!
//! There is no kubelet: the Deployment's pods are created by kube-controller-manager and marked
//! Ready here through the status subresource. The install uses an opt-in namespace selector with a
//! label no namespace carries, so its webhook (failurePolicy Fail, pointing at pods that never run)
//! reaches nothing; everything is uninstalled at the end, even when an assertion fails.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams};
use steady_ctl::install::{InstallOptions, NamespaceSelection, UninstallOptions};
use steady_ctl::status::{Scope, status};
use steady_ctl::why::{Eviction, GuardCoverage, why};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs STEADY_E2E_KUBECONFIG"]
async fn install_then_status_shows_the_guards_own_budget() {
    let path = kubeconfig("install + status e2e");
    let client = client(&path).await;
    let id = format!("steady-ctl-st-{}", std::process::id());
    let opts = InstallOptions {
        namespace: id.clone(),
        name: id.clone(),
        namespace_selection: NamespaceSelection::OptIn {
            key: format!("e2e.steady.dev/{id}"),
            value: "on".into(),
        },
        ..InstallOptions::default()
    };
    let result = tokio::time::timeout(
        Duration::from_secs(180),
        tokio::spawn(scenario(client.clone(), opts.clone())),
    )
    .await;
    let un = UninstallOptions {
        namespace: opts.namespace.clone(),
        name: opts.name.clone(),
        delete_crd: false,
    };
    let removed = steady_ctl::install::uninstall(&client, &un, |_| {}).await;
    // The namespace is the install's; uninstall keeps namespaces, so it goes here.
    let _ = Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .delete(&opts.namespace, &Default::default())
        .await;
    match result {
        Err(_) => panic!("scenario did not finish within 180 s"),
        Ok(Err(e)) => std::panic::resume_unwind(e.into_panic()),
        Ok(Ok(())) => {}
    }
    removed.expect("uninstall");
}

async fn scenario(client: Client, opts: InstallOptions) {
    steady_ctl::install::install(&client, &opts, |_| {})
        .await
        .expect("steady install");
    let ns = opts.namespace.clone();

    // `status -A` lists the guard's own budget (no guard runs here, so it has no status yet) and
    // its PodDisruptionBudget.
    let report = status(&client, &Scope::All).await.unwrap();
    let own = report
        .pod_unavailable_budgets
        .iter()
        .find(|r| r.namespace == ns && r.name == opts.name)
        .unwrap_or_else(|| panic!("the guard's own budget is listed: {report:?}"));
    assert_eq!(own.reason, None, "nothing computed its status: {own:?}");
    assert!(
        report
            .pod_disruption_budgets
            .iter()
            .any(|r| r.namespace == ns && r.name == opts.name),
        "the guard's PDB is listed"
    );
    let text = steady_ctl::status::render(&report, &Scope::All, jiff::Timestamp::now());
    eprintln!("{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{ns} ")))
        .expect("a table line in the guard's namespace");
    assert!(line.contains(&opts.name), "{line}");

    // The Deployment's pods exist (kube-controller-manager) but never run: mark them Ready.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let mut names: Vec<String> = Vec::new();
    for _ in 0..300 {
        let list = pods.list(&ListParams::default()).await.unwrap();
        names = list
            .items
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        if names.len() == opts.replicas as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        names.len(),
        opts.replicas as usize,
        "kube-controller-manager created the guard's pods within 60 s"
    );
    for name in &names {
        steady_testkit::mark_ready(&pods, name).await.unwrap();
    }
    let scope = Scope::Namespace(ns.clone());
    eventually("the guard's PDB counts its Ready pods", 60, || {
        let scope = scope.clone();
        let client = client.clone();
        let name = opts.name.clone();
        async move {
            let r = status(&client, &scope).await.map_err(|e| e.to_string())?;
            let row = r
                .pod_disruption_budgets
                .iter()
                .find(|b| b.name == name)
                .ok_or("PDB not listed")?;
            if (row.allowed, row.current) == (1, 2) {
                Ok(())
            } else {
                Err(format!("{row:?}"))
            }
        }
    })
    .await;

    let r = why(&client, &ns, &names[0]).await.unwrap();
    eprintln!("{}", steady_ctl::why::render(&r));
    assert_eq!(
        r.owners,
        vec![r.owners[0].clone(), format!("Deployment {}", opts.name)],
        "the chain reaches the Deployment"
    );
    assert!(r.owners[0].starts_with("ReplicaSet "), "{:?}", r.owners);
    let kinds: Vec<(&str, &str)> = r
        .budgets
        .iter()
        .map(|b| (b.kind.as_str(), b.name.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("PodUnavailableBudget", opts.name.as_str()),
            ("PodDisruptionBudget", opts.name.as_str())
        ]
    );
    // The guard's namespace is outside its own webhook, and `why` says so.
    match &r.guard_webhook {
        GuardCoverage::Checked {
            covering,
            excluding,
        } => {
            assert!(excluding.contains(&opts.name), "{excluding:?}");
            assert!(!covering.contains(&opts.name), "{covering:?}");
        }
        other => panic!("coverage could not be checked: {other:?}"),
    }
    // Unless some other install's webhook (another test's) happens to cover this namespace.
    if matches!(&r.guard_webhook, GuardCoverage::Checked { covering, .. } if covering.is_empty()) {
        let text = steady_ctl::why::render(&r);
        let note = text
            .lines()
            .find(|l| l.starts_with("Note: steady's webhook ("))
            .unwrap_or_else(|| {
                panic!("render says nothing enforces the guard's own budget: {text}")
            });
        assert!(
            note.contains(&opts.name) && note.contains(&format!("leaves namespace {ns} out")),
            "{note}"
        );
    }
    // The PDB allows one of two.
    assert_eq!(r.eviction, Eviction::Allowed);
}
