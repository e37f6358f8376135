//! Helpers shared by the end-to-end tests of steady-guard and steady-ctl: the kubeconfig of the
//! tier (`STEADY_E2E_KUBECONFIG`; the tests are `#[ignore]`d without it), a client that shows refusals as they are, namespaces of one run
//! that are deleted at the end, pods marked Ready through the status subresource (the test cluster
//! has no kubelet), the CRD, polling, and the guard's front: a round-robin TCP proxy and the
//! shipped webhook configuration pointed at it by URL.
//!
//! Only the test plumbing lives here; what a test proves stays in the test. [`h2stall`] also
//! serves the in-process connection tests of both servers.

pub mod h2stall;

use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// The variable that switches the end-to-end tier on: a kubeconfig of a real kube-apiserver.
pub const KUBECONFIG_ENV: &str = "STEADY_E2E_KUBECONFIG";
/// The kubectl the tier runs where it needs one (`kubectl` on PATH when unset).
pub const KUBECTL_ENV: &str = "STEADY_E2E_KUBECTL";

/// The kubeconfig path. The tier's tests are `#[ignore = "needs STEADY_E2E_KUBECONFIG"]`, so a
/// plain `cargo test` reports them as ignored rather than passed; run them with
/// `STEADY_E2E_KUBECONFIG=… cargo test -- --ignored`. Asked for without the variable, this panics
/// with what to set: an e2e test that did nothing must never count as passed.
pub fn kubeconfig(test: &str) -> String {
    match std::env::var(KUBECONFIG_ENV) {
        Ok(p) if !p.is_empty() => p,
        _ => panic!(
            "{test} needs a real kube-apiserver: set {KUBECONFIG_ENV} to its kubeconfig and run with --ignored"
        ),
    }
}

/// The kubectl binary to run: `STEADY_E2E_KUBECTL`, else `kubectl` from PATH.
pub fn kubectl() -> String {
    std::env::var(KUBECTL_ENV)
        .ok()
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| "kubectl".into())
}

/// A client for the kubeconfig at `path`. kube's client retries 429 by itself; the tests must see
/// the guard's refusals, so retries are off.
pub async fn client(path: &str) -> Client {
    let kc = kube::config::Kubeconfig::read_from(path)
        .unwrap_or_else(|e| panic!("{KUBECONFIG_ENV}={path} is not a readable kubeconfig: {e}"));
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("{KUBECONFIG_ENV}={path} is not usable: {e}"));
    config.default_retry = false;
    Client::try_from(config).expect("a client from a usable kubeconfig")
}

/// Calls `f` every 200 ms until it returns `Ok`, and panics with its last error after `secs`.
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

/// A loopback address with a port that was free a moment ago.
pub fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    l.local_addr().expect("the bound address")
}

/// `GET path` over HTTP/1.0; the whole answer (head and body), or "" when nothing listens.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return String::new();
    };
    let _ = s
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    out
}

/// Waits until `GET path` on `addr` answers 200 (a replica's `/readyz`, say); panics after `secs`.
pub async fn until_ok(what: &str, addr: SocketAddr, path: &str, secs: u64) {
    eventually(what, secs, || async move {
        let r = http_get(addr, path).await;
        if r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200") {
            Ok(())
        } else {
            Err(r)
        }
    })
    .await;
}

/// Applies steady's CRD (server-side, as `field_manager`) and waits until it is Established.
pub async fn apply_crd(client: &Client, field_manager: &str) {
    let crd = serde_json::to_value(steady_api::crd()).expect("the CRD as JSON");
    apply_crd_object(client, field_manager, &crd).await;
}

/// Applies `crd`, a rendering of steady's CRD (`steady install`'s, say), server-side as
/// `field_manager`, and waits until it is Established.
pub async fn apply_crd_object(client: &Client, field_manager: &str, crd: &Value) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = "podunavailablebudgets.policy.steady.dev";
    assert_eq!(crd["metadata"]["name"], name, "not steady's CRD");
    crds.patch(
        name,
        &PatchParams::apply(field_manager).force(),
        &Patch::Apply(crd),
    )
    .await
    .unwrap_or_else(|e| panic!("applying the CRD {name}: {e}"));
    eventually("CRD established", 30, || {
        let crds = crds.clone();
        async move {
            let c = crds.get(name).await.map_err(|e| e.to_string())?;
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

/// Marks pod `name` Running and Ready through the status subresource, as a kubelet would.
pub async fn mark_ready(pods: &Api<Pod>, name: &str) -> kube::Result<Pod> {
    let patch = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True",
        "lastTransitionTime": jiff::Timestamp::now().to_string()}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
}

/// The namespaces of one test run, named `<id>-<suffix>` and labelled `<label>: <id>` so that a
/// webhook configuration of the run can select them and nothing else; deleted by
/// [`Namespaces::delete_all`].
pub struct Namespaces {
    pub client: Client,
    /// `<prefix>-<pid>`: unique among concurrent runs on one API server.
    pub id: String,
    pub label: String,
    pub names: Vec<String>,
}

impl Namespaces {
    pub fn new(client: Client, prefix: &str, label: &str) -> Self {
        Self {
            client,
            id: format!("{prefix}-{}", std::process::id()),
            label: label.to_owned(),
            names: vec![],
        }
    }

    /// Creates `<id>-<suffix>` carrying the run label.
    pub async fn create(&mut self, suffix: &str) -> String {
        let name = format!("{}-{suffix}", self.id);
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns = serde_json::from_value(
            json!({"metadata": {"name": name, "labels": {self.label.as_str(): self.id}}}),
        )
        .expect("a namespace object");
        api.create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        self.names.push(name.clone());
        name
    }

    /// Deletes every namespace of the run; errors are ignored (cleanup runs after failures too).
    pub async fn delete_all(&self) {
        let api: Api<Namespace> = Api::all(self.client.clone());
        for n in &self.names {
            let _ = api.delete(n, &DeleteParams::default()).await;
        }
    }
}

/// The HTTP status code of an API error (`None` for a transport or client error).
pub fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Whether the pod has condition Ready=True.
pub fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Marks every pod of `ns` that is not Ready yet (and not being deleted) Ready; returns how many.
pub async fn mark_all_ready(client: &Client, ns: &str) -> usize {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let Ok(list) = pods.list(&Default::default()).await else {
        return 0;
    };
    let mut n = 0;
    for p in list {
        if is_ready(&p) || p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(name) = p.metadata.name.as_deref() else {
            continue;
        };
        if mark_ready(&pods, name).await.is_ok() {
            n += 1;
        }
    }
    n
}

/// A round-robin TCP proxy standing in for the guard's Service: each connection goes to the next
/// backend; a backend that refuses the connection (a replica killed or restarting) is skipped for
/// the next one, as a Service stops routing to an endpoint that is gone. A connection is dropped
/// only when no backend accepts it.
pub async fn round_robin_proxy(backends: Vec<SocketAddr>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port for the proxy");
    let addr = listener.local_addr().expect("the proxy's address");
    tokio::spawn(async move {
        let mut n = 0usize;
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                continue;
            };
            let first = n;
            n += 1;
            let backends = backends.clone();
            tokio::spawn(async move {
                for k in 0..backends.len() {
                    let backend = backends[(first + k) % backends.len()];
                    if let Ok(mut out) = tokio::net::TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// The ValidatingWebhookConfiguration `steady install` renders (`rendered`: its object, rendered
/// with the opt-in namespace selection `label: run`), with only what must differ in a test changed:
/// the clientConfig points at `front` by URL with `ca_pem` as its caBundle. The rules,
/// matchConditions, sideEffects, failurePolicy and timeout stay as shipped; the namespaceSelector
/// is checked to select only the run's namespaces.
///
/// Taking the rendered object rather than rendering it here keeps steady-testkit free of
/// steady-ctl, whose own tests depend on steady-testkit.
pub fn url_webhook(
    mut rendered: Value,
    label: &str,
    run: &str,
    front: SocketAddr,
    ca_pem: &[u8],
) -> ValidatingWebhookConfiguration {
    let webhooks = rendered["webhooks"]
        .as_array_mut()
        .expect("the rendered configuration has webhooks");
    assert_eq!(
        webhooks.len(),
        1,
        "one webhook in the shipped configuration"
    );
    let hook = &mut webhooks[0];
    assert_eq!(
        hook["failurePolicy"], "Fail",
        "the default install fails closed"
    );
    assert!(hook["matchConditions"].is_array(), "{hook}");
    hook["clientConfig"] = json!({
        "url": format!("https://{front}/validate/pods"),
        "caBundle": k8s_openapi::ByteString(ca_pem.to_vec()),
    });
    assert_eq!(
        hook["namespaceSelector"]["matchLabels"][label], run,
        "{hook}"
    );
    serde_json::from_value(rendered).expect("a ValidatingWebhookConfiguration")
}
