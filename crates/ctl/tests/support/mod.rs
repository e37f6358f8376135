//! Shared helpers of the end-to-end tests: a client for STEADY_E2E_KUBECONFIG, namespaces that are
//! deleted at the end, bare pods marked Ready through the status subresource (there is no kubelet),
//! and polling.
#![allow(dead_code)]

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

pub const RUN_LABEL: &str = "steady-ctl-e2e";

pub fn kubeconfig(test: &str) -> Option<String> {
    match std::env::var("STEADY_E2E_KUBECONFIG") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            // Straight to stderr, past the test harness's capture, so the skip shows in CI logs.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "{test} skipped: STEADY_E2E_KUBECONFIG is not set (point it at a kubeconfig of a real kube-apiserver to run it)"
            );
            None
        }
    }
}

pub async fn client(path: &str) -> Client {
    let kc = kube::config::Kubeconfig::read_from(path).expect("readable kubeconfig");
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("usable kubeconfig");
    config.default_retry = false;
    Client::try_from(config).unwrap()
}

pub async fn eventually<F, Fut>(what: &str, secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut last = String::new();
    for _ in 0..secs * 5 {
        match f().await {
            Ok(()) => return,
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what}: not reached within {secs}s; last: {last}");
}

pub async fn apply_crd(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "podunavailablebudgets.policy.steady.dev",
        &PatchParams::apply("steady-e2e").force(),
        &Patch::Apply(steady_api::crd()),
    )
    .await
    .unwrap();
    eventually("CRD established", 30, || {
        let crds = crds.clone();
        async move {
            let c = crds
                .get("podunavailablebudgets.policy.steady.dev")
                .await
                .map_err(|e| e.to_string())?;
            let ok = c.status.and_then(|s| s.conditions).is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
            if ok {
                Ok(())
            } else {
                Err("not established".into())
            }
        }
    })
    .await;
}

/// Namespaces of one run, deleted by [`Run::cleanup`].
pub struct Run {
    pub client: Client,
    pub id: String,
    pub namespaces: Vec<String>,
}

impl Run {
    pub fn new(client: Client, prefix: &str) -> Self {
        Self {
            client,
            id: format!("{prefix}-{}", std::process::id()),
            namespaces: vec![],
        }
    }

    /// A namespace `<id>-<suffix>` carrying the run label (so a webhook can select it).
    pub async fn namespace(&mut self, suffix: &str) -> String {
        let name = format!("{}-{suffix}", self.id);
        let api: Api<Namespace> = Api::all(self.client.clone());
        api.create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": name, "labels": {RUN_LABEL: self.id}}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
        self.namespaces.push(name.clone());
        name
    }

    pub async fn cleanup(&self) {
        let ns: Api<Namespace> = Api::all(self.client.clone());
        for n in &self.namespaces {
            let _ = ns.delete(n, &DeleteParams::default()).await;
        }
    }
}

/// Creates bare pods `<app>-0 … <app>-(n-1)` labelled `app: <app>` and marks them Running and
/// Ready through the status subresource.
pub async fn ready_pods(client: &Client, ns: &str, app: &str, n: usize) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    for i in 0..n {
        let name = format!("{app}-{i}");
        pods.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": app}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]}}))
            .unwrap(),
        )
        .await
        .unwrap();
        let patch = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True",
            "lastTransitionTime": jiff::Timestamp::now().to_string()}]}});
        pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }
}
