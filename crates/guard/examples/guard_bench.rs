//! Benchmark helper for bench/guard (run by hand, never in CI).
//!
//! `guard_bench guard ADDR`  — the real webhook server (TLS, routing, body limit, review parsing,
//!                             index lookup) over an index with no budget in the request's
//!                             namespace: the fast path. Its API client points at a closed port and
//!                             is never used on this path.
//! `guard_bench bare ADDR`   — the limit: hyper + rustls answering a constant "allowed" review.
//! `guard_bench memory N`    — RSS growth of the index per cached pod, for N realistic pods.
//!
//! Both servers write their certificate to ./bench-cert.pem (wrk does not verify it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use steady_guard::admin::Readiness;
use steady_guard::admission::{Admission, Config};
use steady_guard::index::SharedIndex;
use steady_guard::metrics::Metrics;
use steady_guard::server::{CertResolver, Limits, serve, tls_acceptor};
use steady_guard::writer::Writer;

fn certs(dir: &std::path::Path) -> Arc<CertResolver> {
    let c =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    std::fs::write(dir.join("tls.key"), c.signing_key.serialize_pem()).unwrap();
    std::fs::write(dir.join("tls.crt"), c.cert.pem()).unwrap();
    std::fs::write("bench-cert.pem", c.cert.pem()).unwrap();
    CertResolver::new(&dir.join("tls.crt"), &dir.join("tls.key")).unwrap()
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match mode {
        "guard" | "bare" => {
            let addr: SocketAddr = args
                .get(2)
                .map(String::as_str)
                .unwrap_or("127.0.0.1:8443")
                .parse()
                .unwrap();
            rt.block_on(async move {
                let dir = tempfile::tempdir().unwrap();
                let acceptor = tls_acceptor(certs(dir.path())).unwrap();
                let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
                eprintln!("{mode} server on https://{addr}/validate/pods");
                if mode == "guard" {
                    let client = kube::Client::try_from(kube::Config::new(
                        "http://127.0.0.1:1".parse().unwrap(),
                    ))
                    .unwrap();
                    // As `steady serve` builds it: with readiness (every cache synced).
                    let ready = Readiness::default();
                    ready.register("pods");
                    ready.synced("pods");
                    let admission = Admission::with_readiness(
                        SharedIndex::default(),
                        Writer::new(client),
                        None,
                        Arc::new(Metrics::new()),
                        Config::default(),
                        ready,
                    );
                    let limits = Limits {
                        max_body_bytes: 8 << 20,
                        http: steady_runtime::serve::Http {
                            deadlines: steady_runtime::Deadlines {
                                header: Duration::from_secs(5),
                                idle: Duration::from_secs(120),
                                goaway_grace: steady_runtime::deadline::DEFAULT_GOAWAY_GRACE,
                            },
                            max_header_bytes: steady_runtime::serve::DEFAULT_MAX_HEADER_BYTES,
                        },
                        max_connections: 100_000,
                    };
                    let (_tx, rx) = tokio::sync::watch::channel(false);
                    serve(
                        listener,
                        acceptor,
                        admission,
                        limits,
                        rx,
                        Duration::from_secs(1),
                    )
                    .await;
                } else {
                    bare(listener, acceptor).await;
                }
            });
        }
        "memory" => {
            let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50_000);
            memory(n);
        }
        _ => eprintln!("usage: guard_bench guard ADDR | bare ADDR | memory N"),
    }
}

async fn bare(listener: tokio::net::TcpListener, acceptor: tokio_rustls::TlsAcceptor) {
    const ALLOWED: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"x","allowed":true}}"#;
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let svc = hyper::service::service_fn(
                |req: http::Request<hyper::body::Incoming>| async move {
                    let _ = req.into_body().collect().await;
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                        Bytes::from_static(ALLOWED.as_bytes()),
                    )))
                },
            );
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        });
    }
}

fn memory(n: usize) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/admission/pods-DELETE.json");
    let review: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let template = review["request"]["oldObject"].clone();
    // Build the pods first (their transient full form is not what the index keeps).
    let mut facts = Vec::with_capacity(n);
    for i in 0..n {
        let mut p = template.clone();
        let (ns, app) = (format!("team-{}", i % 100), format!("app-{}", i % 500));
        p["metadata"]["namespace"] = serde_json::json!(ns);
        p["metadata"]["name"] = serde_json::json!(format!("{app}-64dffbfcf5-{i:05x}"));
        p["metadata"]["labels"] =
            serde_json::json!({"app": app, "pod-template-hash": "64dffbfcf5", "tier": "backend"});
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(p).unwrap();
        facts.push(steady_budget::PodFacts::from_pod(&pod));
    }
    let index = SharedIndex::default();
    let before = rss_kib();
    {
        let mut idx = index.write();
        for f in facts.iter().cloned() {
            idx.apply_pod(f);
        }
    }
    let after = rss_kib();
    drop(facts);
    let per_pod = (after.saturating_sub(before) * 1024) as f64 / n as f64;
    println!("pods cached: {}", index.read().pod_count());
    println!(
        "RSS before: {before} KiB, after: {after} KiB, growth: {} KiB",
        after.saturating_sub(before)
    );
    println!("bytes per cached pod (RSS growth / pods): {per_pod:.0}");
    println!(
        "size_of::<PodFacts>() = {} bytes (inline part)",
        std::mem::size_of::<steady_budget::PodFacts>()
    );
}
