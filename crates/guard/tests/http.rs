//! HTTP tier: real HTTPS requests (rcgen certificates) to the webhook server, carrying the
//! AdmissionReview bodies a real kube-apiserver v1.36 sent (testdata/admission), with the
//! guard's writes going to the API double.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use steady_guard::server::{CertResolver, Limits, serve, tls_acceptor};
use support::*;
use tokio::sync::watch;

struct Webhook {
    addr: std::net::SocketAddr,
    ca: CertificateDer<'static>,
    double: ApiDouble,
    guard: Instance,
    _dir: tempfile::TempDir,
    _stop: watch::Sender<bool>,
}

fn write_cert(dir: &std::path::Path) -> CertificateDer<'static> {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    // Write the key first and the certificate last: the reloader swaps only a parseable pair.
    std::fs::write(dir.join("tls.key"), c.signing_key.serialize_pem()).unwrap();
    std::fs::write(dir.join("tls.crt"), c.cert.pem()).unwrap();
    c.cert.der().clone()
}

/// Starts the webhook with a budget `web` in `webhook-demo` (selecting the captured pods' label
/// `app=app`) allowing `allowed` disruptions, and one in `webhook-demo2` for pod `solo`.
async fn start(allowed: i32) -> Webhook {
    let double = ApiDouble::start().await;
    double.put_object(
        &pub_path("webhook-demo", "web"),
        mk_budget(
            "webhook-demo",
            "web",
            "app",
            1,
            allowed,
            3,
            2 + (1 - allowed).max(0),
        ),
    );
    let mut solo = mk_budget("webhook-demo2", "solo", "unused", 1, 1, 1, 0);
    solo["spec"]["selector"] = json!({"matchLabels": {"run": "solo"}});
    double.put_object(&pub_path("webhook-demo2", "solo"), solo);
    let guard = instance(
        &double,
        &[("webhook-demo", "web"), ("webhook-demo2", "solo")],
        &[],
        true,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_cert(dir.path());
    let resolver =
        CertResolver::new(&dir.path().join("tls.crt"), &dir.path().join("tls.key")).unwrap();
    resolver.spawn_reloader(Duration::from_millis(50));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = watch::channel(false);
    let limits = Limits {
        max_body_bytes: 256 * 1024,
        http: steady_runtime::serve::Http {
            deadlines: steady_runtime::Deadlines {
                header: Duration::from_secs(2),
                idle: Duration::from_secs(120),
                goaway_grace: Duration::from_secs(10),
            },
            max_header_bytes: 32 * 1024,
        },
        max_connections: 1000,
    };
    tokio::spawn(serve(
        listener,
        tls_acceptor(resolver).unwrap(),
        guard.admission.clone(),
        limits,
        rx,
        Duration::from_secs(1),
    ));
    Webhook {
        addr,
        ca,
        double,
        guard,
        _dir: dir,
        _stop: stop,
    }
}

impl Webhook {
    /// One HTTPS request on a new connection; returns (status, body, the certificate served).
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> (u16, Vec<u8>, CertificateDer<'static>) {
        send_to(self.addr, &self.ca, method, path, body).await
    }

    async fn review(&self, review: &Value) -> Value {
        let (status, body, _) = self
            .send(
                "POST",
                "/validate/pods",
                serde_json::to_vec(review).unwrap(),
            )
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let out: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(out["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(out["kind"], "AdmissionReview");
        assert_eq!(
            out["response"]["uid"], review["request"]["uid"],
            "the uid is echoed"
        );
        out["response"].clone()
    }

    fn status(&self, ns: &str, name: &str) -> Value {
        self.double.object(&pub_path(ns, name)).unwrap()["status"].clone()
    }
}

async fn send_to(
    addr: std::net::SocketAddr,
    ca: &CertificateDer<'static>,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (u16, Vec<u8>, CertificateDer<'static>) {
    try_send_to(addr, ca, method, path, body)
        .await
        .expect("TLS handshake with the served certificate")
}

async fn try_send_to(
    addr: std::net::SocketAddr,
    ca: &CertificateDer<'static>,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, Vec<u8>, CertificateDer<'static>), std::io::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    let served = tls.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Ok((status, body, served))
}

fn assert_refused(resp: &Value, retry_after: u64) {
    assert_eq!(resp["allowed"], false, "{resp}");
    let st = &resp["status"];
    assert_eq!(st["code"], 429, "{resp}");
    assert_eq!(st["reason"], "TooManyRequests");
    assert_eq!(st["details"]["causes"][0]["type"], "DisruptionBudget");
    assert_eq!(st["details"]["retryAfterSeconds"], retry_after);
}

#[tokio::test]
async fn namespace_without_budget_is_allowed_without_touching_the_api() {
    let w = start(0).await;
    let mut review = fixture("pods-DELETE-allowed-1of2.json"); // namespace webhook-demo3: no budget
    let resp = w.review(&review).await;
    assert_eq!(resp["allowed"], true);
    assert!(resp.get("status").is_none());
    review = fixture("pods-eviction-CREATE-allowed-no-deleteOptions.json");
    assert_eq!(w.review(&review).await["allowed"], true);
    assert_eq!(w.double.requests(), 0, "the fast path makes no API call");
}

#[tokio::test]
async fn delete_refused_with_429_and_a_message_a_person_understands() {
    let w = start(0).await;
    let resp = w.review(&fixture("pods-DELETE.json")).await;
    assert_refused(&resp, 0);
    let msg = resp["status"]["message"].as_str().unwrap();
    for part in [
        "delete",
        "webhook-demo/app-64dffbfcf5-9ctsl",
        "PodUnavailableBudget web",
        "needs 3",
        "has 3",
    ] {
        assert!(msg.contains(part), "{part:?} missing from {msg:?}");
    }
    assert!(
        resp["status"]["details"]["causes"][0]["message"]
            .as_str()
            .unwrap()
            .contains("web")
    );
    assert_eq!(w.double.puts(), 0);
    // Events on the budget and on the pod, naming the user.
    for _ in 0..100 {
        if w.double.events().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let events = w.double.events();
    assert_eq!(events.len(), 2, "{events:?}");
    let kinds: Vec<_> = events
        .iter()
        .map(|e| e["regarding"]["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        kinds.contains(&"PodUnavailableBudget".to_owned()) && kinds.contains(&"Pod".to_owned()),
        "{kinds:?}"
    );
    assert!(
        events
            .iter()
            .all(|e| e["note"].as_str().unwrap().starts_with("admin was refused")),
        "{events:?}"
    );
}

#[tokio::test]
async fn delete_takes_one_unit_then_the_second_delete_of_the_same_pod_is_free() {
    let w = start(1).await;
    let resp = w.review(&fixture("pods-DELETE.json")).await;
    assert_eq!(resp["allowed"], true, "{resp}");
    let st = w.status("webhook-demo", "web");
    assert_eq!(st["unavailableAllowed"], 0);
    assert!(
        st["disruptedPods"]["app-64dffbfcf5-9ctsl"].is_string(),
        "{st}"
    );
    assert_eq!(
        w.double.puts(),
        1,
        "exactly one status write per allowed disruption"
    );
    // The API server sends the same DELETE again (retry): no second unit.
    let mut again = fixture("pods-DELETE.json");
    again["request"]["uid"] = json!("retry-uid");
    assert_eq!(w.review(&again).await["allowed"], true);
    assert_eq!(w.double.puts(), 1);
    // Another pod now finds no unit left.
    let other = fixture("pods-DELETE-unscheduled-pod.json");
    assert_refused(&w.review(&other).await, 0);
    // The metrics saw it all.
    let metrics = w.guard.metrics.encode();
    assert!(
        metrics.contains(
            r#"steady_guard_decisions_total{operation="Delete",result="allowed",reason="Taken"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(r#"steady_guard_decisions_total{operation="Delete",result="denied",reason="InsufficientPods"} 1"#), "{metrics}");
}

#[tokio::test]
async fn a_delete_of_a_terminating_pod_is_allowed_without_a_unit() {
    let w = start(0).await;
    let mut review = fixture("pods-DELETE-allowed-2of2.json");
    review["request"]["namespace"] = json!("webhook-demo");
    review["request"]["oldObject"]["metadata"]["labels"] = json!({"app": "app"});
    let resp = w.review(&review).await;
    assert_eq!(resp["allowed"], true);
    assert_eq!(w.double.requests(), 0);
}

#[tokio::test]
async fn deletecollection_reviews_carry_an_empty_name() {
    let w = start(0).await;
    let mut review = fixture("pods-DELETE.json");
    review["request"]["name"] = json!("");
    assert_refused(&w.review(&review).await, 0);
}

#[tokio::test]
async fn dry_run_decides_but_writes_nothing() {
    let w = start(1).await;
    let resp = w.review(&fixture("pods-DELETE-dryrun.json")).await; // pod solo, budget solo allows 1
    assert_eq!(resp["allowed"], true, "{resp}");
    assert_eq!(w.double.puts(), 0);
    assert_eq!(w.status("webhook-demo2", "solo")["unavailableAllowed"], 1);
}

/// `kubectl drain --dry-run=server`: the dry run is inside the Eviction (`deleteOptions.dryRun`),
/// the AdmissionRequest's `dryRun` is false. Decided, answered, and nothing written.
fn body_dry_run_eviction() -> Value {
    let mut review = fixture("pods-eviction-CREATE-drain.json");
    assert_eq!(review["request"]["dryRun"], false, "as captured");
    review["request"]["object"]["deleteOptions"] = json!({"dryRun": ["All"]});
    review
}

#[tokio::test]
async fn a_dry_run_eviction_takes_no_unit() {
    let w = start(1).await;
    let pod = fixture("pods-DELETE-unscheduled-pod.json")["request"]["oldObject"].clone();
    w.guard.index.write().apply_pod(pod_facts(&pod));
    let before = w.double.object(&pub_path("webhook-demo", "web")).unwrap();
    let resp = w.review(&body_dry_run_eviction()).await;
    assert_eq!(resp["allowed"], true, "{resp}");
    assert_eq!(w.double.puts(), 0, "a dry run writes no status");
    let after = w.double.object(&pub_path("webhook-demo", "web")).unwrap();
    assert_eq!(after, before, "the budget is untouched");
    // The real eviction afterwards still finds its unit.
    assert_eq!(
        w.review(&fixture("pods-eviction-CREATE-drain.json")).await["allowed"],
        true
    );
    assert_eq!(w.double.puts(), 1);
}

#[tokio::test]
async fn a_refused_dry_run_publishes_no_event() {
    let w = start(0).await;
    let pod = fixture("pods-DELETE-unscheduled-pod.json")["request"]["oldObject"].clone();
    w.guard.index.write().apply_pod(pod_facts(&pod));
    assert_refused(&w.review(&body_dry_run_eviction()).await, 0);
    // A real refusal publishes two Events; wait for them, then look for the dry run's.
    assert_refused(
        &w.review(&fixture("pods-eviction-CREATE-drain.json")).await,
        0,
    );
    for _ in 0..250 {
        if w.double.events().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(w.double.events().len(), 2, "{:?}", w.double.events());
    assert_eq!(w.double.puts(), 0);
}

#[tokio::test]
async fn eviction_reads_the_pod_from_the_api_only_when_the_index_lacks_it() {
    let w = start(0).await;
    let review = fixture("pods-eviction-CREATE-raw.json");
    // Not in the index, not in the API: the eviction itself will answer 404.
    assert_eq!(w.review(&review).await["allowed"], true);
    assert_eq!(
        w.double
            .counters
            .gets
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    // In the API server: read, then refused.
    let pod = fixture("pods-DELETE-unscheduled-pod.json")["request"]["oldObject"].clone();
    w.double.put_object(
        &pod_path("webhook-demo", "app-64dffbfcf5-7s2lg"),
        pod.clone(),
    );
    assert_refused(&w.review(&review).await, 0);
    assert_eq!(
        w.double
            .counters
            .gets
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    // In the index: no API read at all.
    w.guard.index.write().apply_pod(pod_facts(&pod));
    let drain = fixture("pods-eviction-CREATE-drain.json");
    let resp = w.review(&drain).await;
    assert_refused(&resp, 0);
    assert!(
        resp["status"]["message"]
            .as_str()
            .unwrap()
            .contains("evict pod webhook-demo/app-64dffbfcf5-7s2lg")
    );
    assert_eq!(
        w.double
            .counters
            .gets
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}

#[tokio::test]
async fn eviction_takes_a_unit() {
    let w = start(1).await;
    let pod = fixture("pods-DELETE-unscheduled-pod.json")["request"]["oldObject"].clone();
    w.guard.index.write().apply_pod(pod_facts(&pod));
    assert_eq!(
        w.review(&fixture("pods-eviction-CREATE-drain.json")).await["allowed"],
        true
    );
    assert!(w.status("webhook-demo", "web")["disruptedPods"]["app-64dffbfcf5-7s2lg"].is_string());
}

/// The captured UPDATE, with the pod Running and Ready (it was still Pending when captured).
fn ready_update() -> Value {
    let mut r = fixture("pods-UPDATE.json");
    for obj in ["oldObject", "object"] {
        r["request"][obj]["status"] =
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
    }
    r
}

#[tokio::test]
async fn updates_cost_a_unit_only_when_they_restart_a_container() {
    let w = start(0).await;
    // The captured label edit: allowed although no unit is left.
    assert_eq!(w.review(&ready_update()).await["allowed"], true);
    // An image change: refused, and the message says why it is a disruption.
    let mut image = ready_update();
    image["request"]["object"]["spec"]["containers"][0]["image"] = json!("nginx:1.28");
    let resp = w.review(&image).await;
    assert_refused(&resp, 0);
    let msg = resp["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("update in place") && msg.contains("nginx:1.28"),
        "{msg}"
    );
    // Status updates and pod creations are never disruptions.
    assert_eq!(
        w.review(&fixture("pods-status-UPDATE.json")).await["allowed"],
        true
    );
    assert_eq!(
        w.review(&fixture("pods-CREATE.json")).await["allowed"],
        true
    );
    assert_eq!(w.double.puts(), 0);
}

#[tokio::test]
async fn resize_follows_the_resize_policy() {
    let w = start(0).await;
    let mut resize = ready_update();
    resize["request"]["subResource"] = json!("resize");
    resize["request"]["requestSubResource"] = json!("resize");
    for (obj, cpu) in [("oldObject", "100m"), ("object", "200m")] {
        let c = &mut resize["request"][obj]["spec"]["containers"][0];
        c["resources"] = json!({"requests": {"cpu": cpu}});
        c["resizePolicy"] = json!([{"resourceName": "cpu", "restartPolicy": "RestartContainer"}]);
    }
    let resp = w.review(&resize).await;
    assert_refused(&resp, 0);
    assert!(
        resp["status"]["message"]
            .as_str()
            .unwrap()
            .contains("resize")
    );
    for obj in ["oldObject", "object"] {
        resize["request"][obj]["spec"]["containers"][0]["resizePolicy"][0]["restartPolicy"] =
            json!("NotRequired");
    }
    assert_eq!(w.review(&resize).await["allowed"], true);
}

#[tokio::test]
async fn a_budget_whose_status_is_behind_its_spec_refuses_with_retry_after_10() {
    let w = start(1).await;
    let mut b = w.double.object(&pub_path("webhook-demo", "web")).unwrap();
    b["metadata"]["generation"] = json!(2);
    let b: steady_api::PodUnavailableBudget = serde_json::from_value(b).unwrap();
    w.guard
        .index
        .write()
        .apply_budget(steady_guard::index::entry_from_pub(&b));
    let resp = w.review(&fixture("pods-DELETE.json")).await;
    assert_refused(&resp, 10);
    assert!(
        resp["status"]["message"]
            .as_str()
            .unwrap()
            .contains("still being computed")
    );
}

#[tokio::test]
async fn malformed_requests_get_400_with_a_reason() {
    let w = start(0).await;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "not valid JSON"),
        (b"".to_vec(), "not valid JSON"),
        (serde_json::to_vec(&json!({"kind": "Pod", "apiVersion": "v1"})).unwrap(), "expected kind AdmissionReview"),
        (serde_json::to_vec(&json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1beta1", "request": {}})).unwrap(), "admission.k8s.io/v1"),
        (serde_json::to_vec(&json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"})).unwrap(), "no request"),
        ({
            let mut r = fixture("pods-DELETE.json");
            r["request"].as_object_mut().unwrap().remove("uid");
            serde_json::to_vec(&r).unwrap()
        }, "no uid"),
        ({
            let mut r = fixture("pods-DELETE.json");
            r["request"]["oldObject"] = json!({"spec": {"containers": "oops"}});
            serde_json::to_vec(&r).unwrap()
        }, "not a pod"),
        ({
            let mut r = fixture("pods-UPDATE.json");
            r["request"]["object"] = Value::Null;
            serde_json::to_vec(&r).unwrap()
        }, "carries no object"),
        (b"[1, 2, 3]".to_vec(), "not valid JSON"),
    ];
    for (body, reason) in cases {
        let (status, out, _) = w.send("POST", "/validate/pods", body.clone()).await;
        let text = String::from_utf8_lossy(&out);
        assert_eq!(status, 400, "{} -> {text}", String::from_utf8_lossy(&body));
        assert!(text.contains(reason), "{reason:?} not in {text:?}");
    }
    let (status, out, _) = w
        .send("POST", "/validate/pods", vec![b' '; 300 * 1024])
        .await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&out));
    assert_eq!(w.send("GET", "/validate/pods", vec![]).await.0, 405);
    assert_eq!(w.send("POST", "/other", vec![]).await.0, 404);
    // The server is still answering.
    assert_eq!(
        w.review(&fixture("pods-CREATE.json")).await["allowed"],
        true
    );
}

#[tokio::test]
async fn certificate_rotation_needs_no_restart() {
    let w = start(0).await;
    let (_, _, served) = w
        .send(
            "POST",
            "/validate/pods",
            serde_json::to_vec(&fixture("pods-CREATE.json")).unwrap(),
        )
        .await;
    assert_eq!(served, w.ca);
    let new_ca = write_cert(w._dir.path());
    let mut seen = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Until the swap, the old certificate fails verification against the new one.
        let Ok((status, _, served)) = try_send_to(
            w.addr,
            &new_ca,
            "POST",
            "/validate/pods",
            serde_json::to_vec(&fixture("pods-CREATE.json")).unwrap(),
        )
        .await
        else {
            continue;
        };
        if served == new_ca {
            seen = Some(status);
            break;
        }
    }
    assert_eq!(seen, Some(200), "the new certificate was never served");
    // A broken pair keeps the current one in service.
    std::fs::write(w._dir.path().join("tls.crt"), "garbage").unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _, served) = send_to(
        w.addr,
        &new_ca,
        "POST",
        "/validate/pods",
        serde_json::to_vec(&fixture("pods-CREATE.json")).unwrap(),
    )
    .await;
    assert_eq!((status, served), (200, new_ca));
}

/// A TLS connection to the webhook trusting its CA, for tests that write raw bytes.
async fn tls_connect(w: &Webhook) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(w.ca.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(w.addr).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

#[tokio::test]
async fn silent_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let w = start(0).await;
    // No TLS handshake at all: closed after the header-read timeout (2 s here).
    let mut tcp = tokio::net::TcpStream::connect(w.addr).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    // A handshake but only half a request head: also closed.
    let mut tls = tls_connect(&w).await;
    tls.write_all(b"POST /validate/pods HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut out)).await;
    assert!(r.is_ok(), "the half-sent request was not cut off");
}

/// A client that asks to close (`Connection: close`) and reads to the end gets the whole answer
/// and a TLS close_notify, not a bare TCP close: rustls reports a close without close_notify as
/// an unexpected EOF, and a reader that stops at that error loses the answer (the certificate
/// end-to-end test did, against a real API server).
#[tokio::test]
async fn a_connection_the_client_closes_ends_with_close_notify() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let w = start(0).await;
    let mut tls = tls_connect(&w).await;
    tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tls.read_to_string(&mut out))
        .await
        .expect("the connection is closed after the answer");
    assert!(read.is_ok(), "{read:?} after {out:?}");
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
}
