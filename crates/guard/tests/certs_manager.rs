//! The self-signed certificate manager against an in-process API double that keeps Secrets and one
//! ValidatingWebhookConfiguration and enforces what the real API server does for them: create
//! answers 409 AlreadyExists, an update or patch with a stale resourceVersion answers 409 Conflict.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use jiff::Timestamp;
use serde_json::{Value, json};
use steady_guard::admin::Readiness;
use steady_guard::certs::manager::{Config, Published, READINESS};
use steady_guard::certs::{self, CertManager, Validity};
use steady_guard::server::{CertResolver, tls_acceptor};

const NS: &str = "steady-system";
const SECRET: &str = "steady-guard-tls";
const WHC: &str = "steady-guard";
const SECRETS: &str = "/api/v1/namespaces/steady-system/secrets";
const WHC_PATH: &str =
    "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/steady-guard";

#[derive(Default)]
struct State {
    objects: HashMap<String, Value>,
    rv: u64,
}

#[derive(Clone, Default)]
struct Double {
    state: Arc<Mutex<State>>,
    /// Secrets answer 403 while set (RBAC not there yet).
    forbidden: Arc<AtomicBool>,
    creates: Arc<AtomicUsize>,
    updates: Arc<AtomicUsize>,
    patches: Arc<AtomicUsize>,
}

fn status(code: u16, reason: &str) -> (StatusCode, Value) {
    (
        StatusCode::from_u16(code).unwrap(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": reason, "reason": reason, "code": code}),
    )
}

impl Double {
    async fn start() -> (Self, kube::Client) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let d = Self::default();
        let d2 = d.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let d = d2.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let d = d.clone();
                        async move { Ok::<_, Infallible>(d.handle(req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        let mut config = kube::Config::new(format!("http://{addr}").parse().unwrap());
        config.default_namespace = NS.into();
        (d, kube::Client::try_from(config).unwrap())
    }

    fn put(&self, path: &str, mut obj: Value) {
        let mut s = self.state.lock().unwrap();
        s.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(s.rv.to_string());
        s.objects.insert(path.to_owned(), obj);
    }

    fn get(&self, path: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(path).cloned()
    }

    fn secret(&self) -> Option<Value> {
        self.get(&format!("{SECRETS}/{SECRET}"))
    }

    fn secret_key(&self, key: &str) -> Option<String> {
        self.secret()?["data"][key].as_str().map(str::to_owned)
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let (code, v) = self.route(&method, &path, body);
        let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
        *r.status_mut() = code;
        r.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        r
    }

    fn route(&self, method: &Method, path: &str, body: Value) -> (StatusCode, Value) {
        if path.starts_with(SECRETS) && self.forbidden.load(Ordering::SeqCst) {
            return status(403, "Forbidden");
        }
        let mut s = self.state.lock().unwrap();
        let next_rv = (s.rv + 1).to_string();
        match *method {
            Method::GET => match s.objects.get(path) {
                Some(o) => (StatusCode::OK, o.clone()),
                None => status(404, "NotFound"),
            },
            Method::POST if path == SECRETS => {
                let name = body["metadata"]["name"].as_str().unwrap_or_default();
                let key = format!("{SECRETS}/{name}");
                if s.objects.contains_key(&key) {
                    return status(409, "AlreadyExists");
                }
                let mut obj = body.clone();
                obj["metadata"]["resourceVersion"] = json!(next_rv);
                s.rv += 1;
                s.objects.insert(key, obj.clone());
                self.creates.fetch_add(1, Ordering::SeqCst);
                (StatusCode::CREATED, obj)
            }
            Method::PUT | Method::PATCH => {
                let Some(cur) = s.objects.get_mut(path) else {
                    return status(404, "NotFound");
                };
                let sent = body["metadata"]["resourceVersion"].as_str();
                if sent.is_some_and(|rv| Some(rv) != cur["metadata"]["resourceVersion"].as_str()) {
                    return status(409, "Conflict");
                }
                if *method == Method::PUT {
                    if cur["type"] != body["type"] {
                        return status(422, "Invalid"); // a Secret's type is immutable
                    }
                    *cur = body.clone();
                    self.updates.fetch_add(1, Ordering::SeqCst);
                } else {
                    // Strategic merge of webhooks by name: only clientConfig.caBundle is patched.
                    for w in body["webhooks"].as_array().into_iter().flatten() {
                        for c in cur["webhooks"].as_array_mut().into_iter().flatten() {
                            if c["name"] == w["name"] {
                                c["clientConfig"]["caBundle"] =
                                    w["clientConfig"]["caBundle"].clone();
                            }
                        }
                    }
                    self.patches.fetch_add(1, Ordering::SeqCst);
                }
                cur["metadata"]["resourceVersion"] = json!(next_rv);
                let out = cur.clone();
                s.rv += 1;
                (StatusCode::OK, out)
            }
            _ => status(405, "MethodNotAllowed"),
        }
    }
}

fn config() -> Config {
    Config {
        namespace: NS.into(),
        secret: SECRET.into(),
        webhook_configuration: WHC.into(),
        service: "steady-guard".into(),
        validity: Validity::default(),
    }
}

fn webhook_configuration() -> Value {
    let w = |name: &str| {
        json!({"name": name, "clientConfig": {"service": {"namespace": NS, "name": "steady-guard"}},
               "sideEffects": "None", "admissionReviewVersions": ["v1"]})
    };
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
           "metadata": {"name": WHC}, "webhooks": [w("a.steady.dev"), w("b.steady.dev")]})
}

fn bundles(d: &Double) -> Vec<Option<String>> {
    d.get(WHC_PATH).unwrap()["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["clientConfig"]["caBundle"].as_str().map(str::to_owned))
        .collect()
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..100 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not reached within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_replicas_agree_on_one_ca() {
    let (d, client) = Double::start().await;
    let now = Timestamp::now();
    let managers: Vec<_> = (0..8)
        .map(|_| CertManager::new(client.clone(), config()))
        .collect();
    let got: Vec<_> = futures::future::join_all(managers.iter().map(|m| m.reconcile(now)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(d.creates.load(Ordering::SeqCst), 1);
    for m in &got {
        assert_eq!(m.cas, got[0].cas);
        assert_eq!(m.serving, got[0].serving);
    }
    // A later round changes nothing.
    assert_eq!(managers[3].reconcile(now).await.unwrap(), got[0]);
    assert_eq!(d.updates.load(Ordering::SeqCst), 0);

    // Eight replicas rotating at the same moment write once.
    let later = now + jiff::SignedDuration::from_hours(24 * 300);
    let rotated: Vec<_> = futures::future::join_all(managers.iter().map(|m| m.reconcile(later)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(d.updates.load(Ordering::SeqCst), 1);
    assert_ne!(rotated[0].serving, got[0].serving);
    assert!(rotated.iter().all(|m| m.serving == rotated[0].serving));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_placeholder_secret_is_filled_and_a_corrupt_one_is_named() {
    let (d, client) = Double::start().await;
    let m = CertManager::new(client, config());
    d.put(
        &format!("{SECRETS}/{SECRET}"),
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
               "metadata": {"name": SECRET, "namespace": NS, "labels": {"from": "helm"}}}),
    );
    let filled = m.reconcile(Timestamp::now()).await.unwrap();
    assert_eq!(d.updates.load(Ordering::SeqCst), 1);
    let stored = d.secret().unwrap();
    assert_eq!(stored["metadata"]["labels"]["from"], "helm", "labels kept");
    assert_eq!(stored["type"], "Opaque", "type kept");
    assert!(stored["data"]["ca.crt"].is_string());
    assert_eq!(filled.cas.len(), 1);

    let mut broken = stored.clone();
    broken["data"]["ca.key"] = json!("bm90IGEga2V5"); // "not a key"
    d.put(&format!("{SECRETS}/{SECRET}"), broken);
    let e = m.reconcile(Timestamp::now()).await.unwrap_err().to_string();
    assert!(e.contains("Secret steady-system/steady-guard-tls"), "{e}");
    assert!(e.contains("ca.key"), "{e}");
    assert!(
        e.contains("kubectl delete secret -n steady-system steady-guard-tls"),
        "{e}"
    );
}

/// Completes a TLS handshake with `addr` for `name` trusting only the PEM `bundle`.
async fn handshake(addr: SocketAddr, name: &str, bundle: &[u8]) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut &bundle[..]) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap(),
            tcp,
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn b64(s: &str) -> Vec<u8> {
    let v: Value = json!(s);
    serde_json::from_value::<k8s_openapi::ByteString>(v)
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_loop_serves_publishes_and_follows_the_secret() {
    let (d, client) = Double::start().await;
    d.forbidden.store(true, Ordering::SeqCst);
    let resolver = CertResolver::empty();
    let ready = Readiness::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let manager = CertManager::new(client.clone(), config());
    tokio::spawn(manager.clone().run(
        resolver.clone(),
        ready.clone(),
        Duration::from_millis(200),
        stop_rx,
    ));

    // A TLS listener on the resolver: handshakes only succeed once a certificate is loaded.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls_acceptor(resolver.clone()).unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let a = acceptor.clone();
            tokio::spawn(async move {
                let _ = a.accept(s).await;
            });
        }
    });

    // Secrets forbidden: not ready, no certificate, nothing to shake hands with.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ready.pending(), Some(vec![READINESS.to_owned()]));
    assert!(!resolver.is_loaded());
    let name = "steady-guard.steady-system.svc";
    let stranger = certs::generate(Timestamp::now(), Validity::default(), &[name.into()]).unwrap();
    assert!(handshake(addr, name, &stranger.ca_bundle()).await.is_err());

    // Allowed, but the webhook configuration is missing: served and ready all the same.
    d.forbidden.store(false, Ordering::SeqCst);
    eventually("ready", || ready.is_ready()).await;
    assert!(resolver.is_loaded());
    let ca = b64(&d.secret_key("ca.crt").unwrap());
    handshake(addr, name, &ca).await.unwrap();
    assert_eq!(manager.publish(&ca).await.unwrap(), Published::Missing);

    // The configuration appears: both webhooks get the Secret's CA.
    d.put(WHC_PATH, webhook_configuration());
    let want = d.secret_key("ca.crt");
    eventually("caBundle published", || {
        bundles(&d).iter().all(|b| b.is_some() && *b == want)
    })
    .await;

    // Another replica rotates the Secret (here: replaced by a new CA): this one follows, serving
    // the new certificate and publishing the new bundle.
    let next = certs::generate(
        Timestamp::now(),
        Validity::default(),
        &certs::dns_names("steady-guard", NS),
    )
    .unwrap();
    let mut secret = d.secret().unwrap();
    for (k, v) in next.to_secret_data() {
        secret["data"][k] = serde_json::to_value(k8s_openapi::ByteString(v)).unwrap();
    }
    d.put(&format!("{SECRETS}/{SECRET}"), secret);
    let want = d.secret_key("ca.crt");
    eventually("new caBundle published", || {
        bundles(&d).iter().all(|b| *b == want)
    })
    .await;
    handshake(addr, name, &next.ca_bundle()).await.unwrap();
    assert!(
        handshake(addr, name, &ca).await.is_err(),
        "old certificate still served"
    );
    let _ = stop_tx.send(true);
}
