//! Test support: an in-process API server double that stores objects by path and enforces
//! `resourceVersion` preconditions on PUT like the real one (409 Conflict on a stale version), a
//! real `kube::Client` pointed at it, guard instances wired to it, and AdmissionReview fixtures.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use steady_guard::admission::{Admission, Config};
use steady_guard::index::{SharedIndex, entry_from_pub};
use steady_guard::metrics::Metrics;
use steady_guard::writer::Writer;

#[derive(Default)]
pub struct State {
    /// object path → object (with metadata.resourceVersion).
    objects: HashMap<String, Value>,
    next_rv: u64,
    /// Events posted.
    pub events: Vec<Value>,
}

#[derive(Default)]
pub struct Counters {
    pub requests: AtomicUsize,
    pub gets: AtomicUsize,
    pub puts_ok: AtomicUsize,
    pub conflicts: AtomicUsize,
    /// Every status PUT, answered or refused.
    pub status_puts: AtomicUsize,
}

#[derive(Clone)]
pub struct ApiDouble {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    pub counters: Arc<Counters>,
    /// Upper bound of a random delay added to each request, in microseconds (0: none).
    pub jitter_us: Arc<AtomicUsize>,
    /// When non-zero, every status PUT is refused with this HTTP code (403: RBAC removed).
    pub refuse_status_writes: Arc<AtomicUsize>,
}

pub fn pub_path(ns: &str, name: &str) -> String {
    format!("/apis/policy.steady.dev/v1alpha1/namespaces/{ns}/podunavailablebudgets/{name}")
}

pub fn pod_path(ns: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{ns}/pods/{name}")
}

fn status_json(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn reply(code: StatusCode, v: &Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = code;
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

impl ApiDouble {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let double = Self {
            addr,
            state: Arc::new(Mutex::new(State {
                next_rv: 100,
                ..Default::default()
            })),
            counters: Arc::default(),
            jitter_us: Arc::default(),
            refuse_status_writes: Arc::default(),
        };
        let d = double.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let d = d.clone();
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
        double
    }

    pub fn client(&self) -> kube::Client {
        let mut config = kube::Config::new(format!("http://{}", self.addr).parse().unwrap());
        config.default_namespace = "default".into();
        config.read_timeout = Some(Duration::from_secs(10));
        kube::Client::try_from(config).unwrap()
    }

    /// Stores an object at `path`, giving it a fresh resourceVersion.
    pub fn put_object(&self, path: &str, mut obj: Value) {
        let mut s = self.state.lock().unwrap();
        s.next_rv += 1;
        obj["metadata"]["resourceVersion"] = json!(s.next_rv.to_string());
        s.objects.insert(path.to_owned(), obj);
    }

    pub fn object(&self, path: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(path).cloned()
    }

    pub fn events(&self) -> Vec<Value> {
        self.state.lock().unwrap().events.clone()
    }

    pub fn requests(&self) -> usize {
        self.counters.requests.load(Ordering::SeqCst)
    }

    pub fn puts(&self) -> usize {
        self.counters.puts_ok.load(Ordering::SeqCst)
    }

    pub fn status_puts(&self) -> usize {
        self.counters.status_puts.load(Ordering::SeqCst)
    }

    pub fn conflicts(&self) -> usize {
        self.counters.conflicts.load(Ordering::SeqCst)
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        self.counters.requests.fetch_add(1, Ordering::SeqCst);
        let jitter = self.jitter_us.load(Ordering::Relaxed);
        if jitter > 0 {
            let us = rand::random_range(0..jitter as u64);
            tokio::time::sleep(Duration::from_micros(us)).await;
        }
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if method == Method::POST && path.ends_with("/events") {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            self.state.lock().unwrap().events.push(v.clone());
            return reply(StatusCode::CREATED, &v);
        }
        if method == Method::GET {
            self.counters.gets.fetch_add(1, Ordering::SeqCst);
            return match self.object(&path) {
                Some(o) => reply(StatusCode::OK, &o),
                None => reply(
                    StatusCode::NOT_FOUND,
                    &status_json(404, "NotFound", &format!("{path} not found")),
                ),
            };
        }
        if method == Method::PUT && path.ends_with("/status") {
            self.counters.status_puts.fetch_add(1, Ordering::SeqCst);
            let refused = self.refuse_status_writes.load(Ordering::SeqCst);
            if refused == 403 {
                return reply(
                    StatusCode::FORBIDDEN,
                    &status_json(
                        403,
                        "Forbidden",
                        &format!(
                            "podunavailablebudgets.policy.steady.dev is forbidden: User cannot update resource \"podunavailablebudgets/status\" ({path})"
                        ),
                    ),
                );
            }
            if refused != 0 {
                let code = StatusCode::from_u16(refused as u16).unwrap();
                return reply(code, &status_json(refused as u16, "Invalid", "refused"));
            }
            let obj_path = path.trim_end_matches("/status").to_owned();
            let Ok(new): Result<Value, _> = serde_json::from_slice(&body) else {
                return reply(
                    StatusCode::BAD_REQUEST,
                    &status_json(400, "BadRequest", "not JSON"),
                );
            };
            let mut s = self.state.lock().unwrap();
            let next_rv = s.next_rv + 1;
            let Some(cur) = s.objects.get_mut(&obj_path) else {
                return reply(StatusCode::NOT_FOUND, &status_json(404, "NotFound", "gone"));
            };
            let sent = new["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default();
            if sent
                != cur["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
            {
                self.counters.conflicts.fetch_add(1, Ordering::SeqCst);
                return reply(
                    StatusCode::CONFLICT,
                    &status_json(
                        409,
                        "Conflict",
                        "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again",
                    ),
                );
            }
            cur["status"] = new["status"].clone();
            cur["metadata"]["resourceVersion"] = json!(next_rv.to_string());
            let out = cur.clone();
            s.next_rv = next_rv;
            self.counters.puts_ok.fetch_add(1, Ordering::SeqCst);
            return reply(StatusCode::OK, &out);
        }
        reply(
            StatusCode::METHOD_NOT_ALLOWED,
            &status_json(405, "MethodNotAllowed", "not in the double"),
        )
    }
}

/// A PodUnavailableBudget selecting `app=<app>` with `maxUnavailable: <max>` and a status that
/// allows `allowed` disruptions.
pub fn mk_budget(
    ns: &str,
    name: &str,
    app: &str,
    max_unavailable: i32,
    allowed: i32,
    current: i32,
    desired: i32,
) -> Value {
    json!({
        "apiVersion": "policy.steady.dev/v1alpha1",
        "kind": "PodUnavailableBudget",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "generation": 1},
        "spec": {"selector": {"matchLabels": {"app": app}}, "maxUnavailable": max_unavailable},
        "status": {"observedGeneration": 1, "totalReplicas": current, "desiredAvailable": desired,
                   "currentAvailable": current, "unavailableAllowed": allowed}
    })
}

/// A Running, Ready pod.
pub fn mk_pod(ns: &str, name: &str, app: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "labels": {"app": app}},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    })
}

pub fn pod_facts(pod: &Value) -> steady_budget::PodFacts {
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(pod.clone()).unwrap();
    steady_budget::PodFacts::from_pod(&pod)
}

/// One guard instance (its own index) wired to the double.
pub struct Instance {
    pub admission: Admission,
    pub index: SharedIndex,
    pub metrics: Arc<Metrics>,
}

pub async fn instance(
    double: &ApiDouble,
    budgets: &[(&str, &str)],
    pods: &[Value],
    events: bool,
) -> Instance {
    let client = double.client();
    let index = SharedIndex::default();
    for (ns, name) in budgets {
        let obj = double
            .object(&pub_path(ns, name))
            .expect("budget in the double");
        let b: steady_api::PodUnavailableBudget = serde_json::from_value(obj).unwrap();
        index.write().apply_budget(entry_from_pub(&b));
    }
    for p in pods {
        index.write().apply_pod(pod_facts(p));
    }
    let metrics = Arc::new(Metrics::new());
    let ev = events.then(|| steady_guard::events::Events::new(client.clone(), Some("test".into())));
    let admission = Admission::new(
        index.clone(),
        Writer::new(client),
        ev,
        metrics.clone(),
        Config {
            deadline: Duration::from_secs(20),
            max_attempts: 10,
        },
    );
    Instance {
        admission,
        index,
        metrics,
    }
}

pub fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/admission")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// An eviction review for `pod`, shaped like the captured one.
pub fn eviction_review(ns: &str, pod: &str, uid: &str) -> Value {
    let mut r = fixture("pods-eviction-CREATE-drain.json");
    r["request"]["uid"] = json!(uid);
    r["request"]["namespace"] = json!(ns);
    r["request"]["name"] = json!(pod);
    r["request"]["object"]["metadata"]["name"] = json!(pod);
    r["request"]["object"]["metadata"]["namespace"] = json!(ns);
    r
}

/// A DELETE review for `pod` (the pod in oldObject, object null), shaped like the captured one.
pub fn delete_review(pod: &Value, uid: &str) -> Value {
    let mut r = fixture("pods-DELETE.json");
    r["request"]["uid"] = json!(uid);
    r["request"]["namespace"] = pod["metadata"]["namespace"].clone();
    r["request"]["name"] = pod["metadata"]["name"].clone();
    r["request"]["oldObject"] = pod.clone();
    r["request"]["object"] = Value::Null;
    r
}
