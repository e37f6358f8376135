//! What the ctl end-to-end tests share beyond steady-testkit: their namespace label and bare pods
//! marked Ready.
#![allow(dead_code)]

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::json;
pub use steady_testkit::{Namespaces, client, eventually, kubeconfig};

pub const RUN_LABEL: &str = "steady-ctl-e2e";

pub async fn apply_crd(client: &Client) {
    steady_testkit::apply_crd(client, "steady-e2e").await;
}

/// The namespaces of one run, labelled [`RUN_LABEL`].
pub fn run(client: Client, prefix: &str) -> Namespaces {
    Namespaces::new(client, prefix, RUN_LABEL)
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
        steady_testkit::mark_ready(&pods, &name).await.unwrap();
    }
}
