//! Status convergence on a real API server: how long from a pod's Ready condition changing to the
//! budget's status showing it. Run by hand (bench/guard/README.md), never in CI:
//!
//! ```sh
//! STEADY_E2E_KUBECONFIG=/path/to/kubeconfig cargo run --release -p steady-guard --example convergence
//! ```
//!
//! One guard (`steady_guard::serve`, in-process, certificate from files) keeps the status of a
//! PodUnavailableBudget over a 10-replica Deployment whose pods this program marks Ready and
//! not Ready through the status subresource, as a kubelet would. Each transition is timed from
//! just before the status patch is sent to the moment a watch of the budget delivers a status whose
//! `currentAvailable` counts it; transitions run one at a time. `TRANSITIONS` (default 200) is the
//! number of pods turning Ready; as many turn not Ready in between, timed apart.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use steady_api::PodUnavailableBudget;
use steady_testkit::{Namespaces, client, eventually, free_port, kubeconfig};
use tokio::sync::watch;

const REPLICAS: usize = 10;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let transitions: usize = std::env::var("TRANSITIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let path = kubeconfig("convergence bench");
    let client = client(&path).await;
    steady_testkit::apply_crd(&client, "steady-convergence").await;
    let mut namespaces = Namespaces::new(client.clone(), "steady-conv", "steady-conv");
    let ns = namespaces.create("app").await;
    let result = tokio::time::timeout(
        Duration::from_secs(600),
        run(client.clone(), &ns, transitions),
    )
    .await;
    namespaces.delete_all().await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("convergence bench failed: {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("convergence bench did not finish within 600 s");
            std::process::exit(1);
        }
    }
}

async fn run(client: kube::Client, ns: &str, transitions: usize) -> Result<(), String> {
    // The guard, as `steady serve` runs it, with its Lease in the bench's namespace.
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("tls.key"), cert.signing_key.serialize_pem())
        .map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("tls.crt"), cert.cert.pem()).map_err(|e| e.to_string())?;
    let admin = free_port();
    let args = guard_args(dir.path(), admin, ns);
    let c = client.clone();
    tokio::spawn(async move {
        if let Err(e) = steady_guard::serve(args, c, std::future::pending()).await {
            eprintln!("guard stopped: {e}");
        }
    });
    steady_testkit::until_ok("guard ready", admin, "/readyz", 60).await;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let d = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]}}}}))
    .map_err(|e| e.to_string())?;
    deployments
        .create(&PostParams::default(), &d)
        .await
        .map_err(|e| e.to_string())?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    eventually("the Deployment's pods exist", 60, || {
        let pods = pods.clone();
        async move {
            let n = pods
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?
                .items
                .len();
            if n == REPLICAS {
                Ok(())
            } else {
                Err(format!("{n} pods"))
            }
        }
    })
    .await;
    let names: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    for n in &names {
        set_ready(&pods, n, true).await?;
    }

    let budgets: Api<PodUnavailableBudget> = Api::namespaced(client.clone(), ns);
    let b = serde_json::from_value(json!({"apiVersion": "policy.steady.dev/v1alpha1",
        "kind": "PodUnavailableBudget", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "minAvailable": 1}}))
    .map_err(|e| e.to_string())?;
    budgets
        .create(&PostParams::default(), &b)
        .await
        .map_err(|e| e.to_string())?;

    // The latest currentAvailable a watch of the budget delivered.
    let (seen_tx, mut seen) = watch::channel(-1i32);
    let stream = watcher::watcher(budgets.clone(), watcher::Config::default());
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            let objs = match ev {
                Ok(watcher::Event::Apply(b) | watcher::Event::InitApply(b)) => vec![b],
                _ => continue,
            };
            for b in objs {
                if let Some(s) = b.status {
                    let _ = seen_tx.send(s.current_available);
                }
            }
        }
    });
    let mut available = REPLICAS as i32;
    wait_for(&mut seen, available, Duration::from_secs(30)).await?;

    let (mut up, mut down) = (Vec::new(), Vec::new());
    for i in 0..transitions {
        let pod = &names[i % names.len()];
        for ready in [false, true] {
            available += if ready { 1 } else { -1 };
            let t0 = Instant::now();
            set_ready(&pods, pod, ready).await?;
            wait_for(&mut seen, available, Duration::from_secs(10)).await?;
            let took = t0.elapsed();
            if ready { &mut up } else { &mut down }.push(took);
        }
    }
    report("Ready turning true", &mut up);
    report("Ready turning false", &mut down);
    Ok(())
}

fn guard_args(dir: &std::path::Path, admin: std::net::SocketAddr, ns: &str) -> steady_guard::Args {
    use clap::Parser as _;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: steady_guard::Args,
    }
    let listen = free_port().to_string();
    let admin = admin.to_string();
    let cert = dir.join("tls.crt");
    let key = dir.join("tls.key");
    Cli::parse_from([
        "serve",
        "--tls-cert-file",
        cert.to_str().unwrap_or_default(),
        "--tls-key-file",
        key.to_str().unwrap_or_default(),
        "--listen",
        &listen,
        "--admin-listen",
        &admin,
        "--lease-namespace",
        ns,
        "--identity",
        "convergence",
    ])
    .args
}

async fn set_ready(pods: &Api<Pod>, name: &str, ready: bool) -> Result<(), String> {
    let status = if ready { "True" } else { "False" };
    let patch = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready",
        "status": status, "lastTransitionTime": jiff::Timestamp::now().to_string()}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(|e| format!("marking {name} ready={ready}: {e}"))
}

async fn wait_for(
    seen: &mut watch::Receiver<i32>,
    want: i32,
    limit: Duration,
) -> Result<(), String> {
    tokio::time::timeout(limit, seen.wait_for(|v| *v == want))
        .await
        .map_err(|_| format!("the budget did not show {want} available within {limit:?}"))?
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    let at = |q: f64| {
        let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
        times[i].as_secs_f64() * 1000.0
    };
    println!(
        "{what}: {} transitions, p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        times.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
}
