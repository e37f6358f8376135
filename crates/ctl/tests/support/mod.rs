//! What the ctl end-to-end tests share beyond steady-testkit: their namespace label, bare pods
//! marked Ready, the objects `steady install` renders for a run (its CRD, its webhook
//! configuration pointed at a local guard) and a guard replica run in-process.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::json;
use steady_ctl::manifests::{InstallOptions, Manifests, NamespaceSelection, render};
pub use steady_testkit::{Namespaces, client, eventually, kubeconfig};
use steady_testkit::{free_port, until_ok};

pub const RUN_LABEL: &str = "steady-ctl-e2e";

/// What `steady install` renders for the run `run`: objects named after it, the webhook selecting
/// only the namespaces labelled [`RUN_LABEL`]`: run` (the install's opt-in form).
pub fn shipped(run: &str) -> Manifests {
    render(&InstallOptions {
        name: run.to_owned(),
        namespace_selection: NamespaceSelection::OptIn {
            key: RUN_LABEL.to_owned(),
            value: run.to_owned(),
        },
        ..InstallOptions::default()
    })
    .expect("the install renders")
}

/// Applies the PodUnavailableBudget CRD as `steady install` renders it; waits until Established.
pub async fn apply_crd(client: &Client) {
    let crd = shipped("steady")
        .objects
        .into_iter()
        .find(|m| m.kind == "CustomResourceDefinition")
        .expect("the install renders the CRD")
        .object;
    steady_testkit::apply_crd_object(client, "steady-e2e", &crd).await;
}

/// The run's namespaces, labelled [`RUN_LABEL`].
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

/// One guard replica (`steady serve`) running in-process on loopback with a self-signed
/// certificate; it stops on [`Guard::stop`] or with the test process.
pub struct Guard {
    /// The webhook's address (HTTPS).
    pub listen: SocketAddr,
    /// The admin server (/livez, /readyz, /metrics).
    pub admin: SocketAddr,
    /// The certificate the webhook serves, to trust as caBundle.
    pub ca_pem: Vec<u8>,
    stop: Arc<tokio::sync::Notify>,
}

impl Guard {
    pub fn stop(&self) {
        self.stop.notify_one();
    }
}

/// Starts one guard replica with its Lease in `lease_ns`, its certificate in `dir`, and waits
/// until it is ready. Registering it with the API server is the caller's part.
pub async fn start_guard(
    client: &Client,
    lease_ns: &str,
    identity: &str,
    dir: &std::path::Path,
) -> Guard {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    std::fs::write(dir.join("tls.key"), cert.signing_key.serialize_pem()).unwrap();
    std::fs::write(dir.join("tls.crt"), cert.cert.pem()).unwrap();
    let (listen, admin) = (free_port(), free_port());
    // Parsed like `steady serve`, so options added to the guard later keep their defaults.
    #[derive(clap::Parser)]
    struct Serve {
        #[command(flatten)]
        args: steady_guard::Args,
    }
    let (cert_file, key_file) = (dir.join("tls.crt"), dir.join("tls.key"));
    let (listen_s, admin_s) = (listen.to_string(), admin.to_string());
    let args = <Serve as clap::Parser>::try_parse_from([
        "serve",
        "--tls-cert-file",
        cert_file.to_str().unwrap(),
        "--tls-key-file",
        key_file.to_str().unwrap(),
        "--listen",
        &listen_s,
        "--admin-listen",
        &admin_s,
        "--resync-interval",
        "5s",
        "--lease-namespace",
        lease_ns,
        "--identity",
        identity,
    ])
    .expect("valid serve options")
    .args;
    let stop = Arc::new(tokio::sync::Notify::new());
    let (c, s) = (client.clone(), stop.clone());
    tokio::spawn(async move {
        if let Err(e) = steady_guard::serve(args, c, async move { s.notified().await }).await {
            eprintln!("guard stopped: {e}");
        }
    });
    until_ok("guard ready", admin, "/readyz", 60).await;
    Guard {
        listen,
        admin,
        ca_pem: cert.cert.pem().into_bytes(),
        stop,
    }
}

/// Registers the guard at `guard` (serving a certificate of `ca_pem`) with the ValidatingWebhookConfiguration `steady install` renders for `run`
/// (see [`shipped`]), only its clientConfig changed to reach the guard by URL
/// ([`steady_testkit::url_webhook`]); named `run`, delete it at the end.
pub async fn register_shipped_webhook(
    client: &Client,
    run: &str,
    guard: SocketAddr,
    ca_pem: &[u8],
) {
    let rendered = shipped(run)
        .find("ValidatingWebhookConfiguration", run)
        .expect("the install renders a ValidatingWebhookConfiguration")
        .object
        .clone();
    let whc = steady_testkit::url_webhook(rendered, RUN_LABEL, run, guard, ca_pem);
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &whc)
        .await
        .unwrap_or_else(|e| panic!("registering the webhook configuration {run}: {e}"));
}
