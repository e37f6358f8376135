//! The real-kubelet tier: steady's image and the manifests `steady install` renders, run as real
//! pods on a real cluster with two kubelet nodes, a scheduler and kube-proxy.
//!
//! ```text
//! STEADY_E2E_KUBECONFIG=... STEADY_E2E_NODES=1 [STEADY_E2E_KUBECTL=kubectl] [STEADY_E2E_IMAGE=...] \
//!   cargo test -p steady --test nodes_e2e -- --ignored --test-threads=1
//! ```
//!
//! What the cluster needs (docs/real-node.md): two Ready nodes that can run the steady image (built
//! by images/build.sh and loaded on every node, so `imagePullPolicy: IfNotPresent` finds it) and
//! a busybox image (`STEADY_E2E_APP_IMAGE`, default `localhost/busybox:e2e`: any image with busybox's
//! `sh`, `mkdir`, `echo`, `sleep` and `httpd` in /bin) and an nginx image for the proxy's tests
//! (`STEADY_E2E_NGINX_IMAGE`, default `localhost/nginx:e2e`, see [`nginx_image`]); ClusterIPs reachable
//! from the machine running the tests (kube-proxy in iptables mode on it); nothing else may run a
//! steady guard. The tests install the guard with `steady install` (the default name and namespace)
//! and leave it installed, except the uninstall test; each test installs it first if it is missing.
//! They cordon and drain the nodes, and uncordon them again.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const NS: &str = "steady-system";
const GUARD: &str = "steady-guard";
const DENIED: &str = "admission webhook \"pods.guard.steady.dev\" denied the request";

struct Cluster {
    kubeconfig: String,
}

/// The cluster, or a failure saying what the test needs: these tests never pass without running.
fn cluster(test: &str) -> Cluster {
    if std::env::var("STEADY_E2E_NODES").as_deref() != Ok("1") {
        panic!(
            "{test} needs real nodes: a cluster with two Ready kubelet nodes, a scheduler and \
             kube-proxy, with the steady image loaded on every node (docs/real-node.md); set \
             STEADY_E2E_KUBECONFIG to its kubeconfig and STEADY_E2E_NODES=1"
        );
    }
    let kubeconfig = steady_testkit::kubeconfig(test);
    let c = Cluster { kubeconfig };
    let nodes = c.ready_nodes();
    assert!(
        nodes.len() >= 2,
        "{test} needs two Ready nodes, the cluster has {nodes:?}"
    );
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Cluster {
    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program} (STEADY_E2E_KUBECTL?): {e}"));
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        self.run(&steady_testkit::kubectl(), args, None)
    }

    fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn apply(&self, yaml: &str) {
        let out = self.run(
            &steady_testkit::kubectl(),
            &["apply", "-f", "-"],
            Some(yaml),
        );
        assert!(
            out.status.success(),
            "kubectl apply failed:\n{}{}\n{yaml}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(&all)).unwrap()
    }

    fn steady(&self, args: &[&str]) -> Output {
        self.run(env!("CARGO_BIN_EXE_steady"), args, None)
    }

    fn ready_nodes(&self) -> Vec<String> {
        self.json(&["get", "nodes"])["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| condition(n, "Ready"))
            .map(|n| n["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    }

    fn uncordon_all(&self) {
        for n in self.ready_nodes() {
            self.kubectl_ok(&["uncordon", &n]);
        }
    }

    fn pods(&self, ns: &str, selector: &str) -> Vec<Value> {
        self.json(&["get", "pods", "-n", ns, "-l", selector])["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Pods that are Running and Ready and not being deleted.
    fn available(&self, ns: &str, selector: &str) -> Vec<Value> {
        self.pods(ns, selector)
            .into_iter()
            .filter(|p| {
                p["metadata"]["deletionTimestamp"].is_null()
                    && p["status"]["phase"] == "Running"
                    && condition(p, "Ready")
            })
            .collect()
    }

    fn wait_available(&self, ns: &str, selector: &str, n: usize, secs: u64) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let pods = self.available(ns, selector);
            let total = self.pods(ns, selector).len();
            if pods.len() == n && total == n {
                return pods;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} pods {selector} available in {ns} ({total} pods) after {secs} s:\n{}",
                pods.len(),
                self.kubectl_ok(&["get", "pods", "-n", ns, "-o", "wide"])
            );
            thread::sleep(Duration::from_millis(500));
        }
    }

    fn budget_status(&self, ns: &str, name: &str) -> Value {
        self.json(&[
            "get",
            "podunavailablebudgets.policy.steady.dev",
            "-n",
            ns,
            name,
        ])["status"]
            .clone()
    }

    fn wait_allowed(&self, ns: &str, name: &str, allowed: i64, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.budget_status(ns, name);
            if s["unavailableAllowed"] == allowed {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "budget {ns}/{name} does not allow {allowed} after {secs} s: {s}"
            );
            thread::sleep(Duration::from_millis(500));
        }
    }

    /// `steady install` (with `STEADY_E2E_IMAGE` as `--image` when set), then the guard's rollout.
    fn install(&self) -> String {
        self.uncordon_all();
        let mut args = vec!["install"];
        let image = std::env::var("STEADY_E2E_IMAGE").unwrap_or_default();
        if !image.is_empty() {
            args.extend(["--image", &image]);
        }
        let out = self.steady(&args);
        assert!(
            out.status.success(),
            "steady install failed:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        self.kubectl_ok(&[
            "-n",
            NS,
            "rollout",
            "status",
            &format!("deployment/{GUARD}"),
            "--timeout=180s",
        ]);
        text(&out.stdout)
    }

    /// A new namespace, deleted when the returned guard drops: when the test ends or panics.
    fn namespace(&self, prefix: &str) -> Namespace {
        let ns = format!("{prefix}-{:06x}", rand::random::<u32>() & 0xff_ffff);
        self.kubectl_ok(&["create", "namespace", &ns]);
        Namespace {
            name: ns,
            kubeconfig: self.kubeconfig.clone(),
        }
    }
}

/// A test's namespace; dropping it deletes the namespace without waiting, so a failed test leaves
/// no pods behind to disturb the next one.
struct Namespace {
    name: String,
    kubeconfig: String,
}

impl std::ops::Deref for Namespace {
    type Target = String;
    fn deref(&self) -> &String {
        &self.name
    }
}

impl std::fmt::Display for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let c = Cluster {
            kubeconfig: self.kubeconfig.clone(),
        };
        let out = c.kubectl(&["delete", "namespace", &self.name, "--wait=false"]);
        if !out.status.success() {
            eprintln!(
                "could not delete namespace {}: {}",
                self.name,
                text(&out.stderr)
            );
        }
    }
}

fn condition(o: &Value, kind: &str) -> bool {
    o["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == kind && c["status"] == "True")
    })
}

/// A Deployment of busybox httpd pods with a readiness probe, a preStop pause (so kube-proxy drops
/// a terminating pod before it stops serving), spread over the nodes, a ClusterIP Service and a
/// PodUnavailableBudget.
fn web_app(ns: &str, name: &str, replicas: u32, max_unavailable: u32) -> String {
    let image = app_image();
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 15
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: DoNotSchedule
        nodeTaintsPolicy: Honor
        labelSelector: {{matchLabels: {{app: {name}}}}}
      containers:
      - name: web
        image: {image}
        imagePullPolicy: IfNotPresent
        command: ["/bin/sh", "-c", "mkdir -p /tmp/www && echo ok > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]
        ports: [{{containerPort: 8080}}]
        readinessProbe: {{httpGet: {{path: /, port: 8080}}, periodSeconds: 1}}
        lifecycle: {{preStop: {{exec: {{command: ["/bin/sleep", "5"]}}}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {ns}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: policy.steady.dev/v1alpha1
kind: PodUnavailableBudget
metadata: {{name: {name}, namespace: {ns}}}
spec:
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: {name}}}
  maxUnavailable: {max_unavailable}
"#
    )
}

/// The application's image: any busybox (`STEADY_E2E_APP_IMAGE`, e.g. `busybox:1.36` where nodes
/// can pull), by default `localhost/busybox:e2e`, loaded on the nodes beforehand.
fn app_image() -> String {
    std::env::var("STEADY_E2E_APP_IMAGE")
        .ok()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| "localhost/busybox:e2e".into())
}

fn name(p: &Value) -> String {
    p["metadata"]["name"].as_str().unwrap().to_owned()
}

fn node(p: &Value) -> String {
    p["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A server-side dry-run delete of a pod whose budget allows nothing: the guard must answer with
/// its refusal. Returns the refusal, or panics with what the API server said instead.
fn guard_refuses(c: &Cluster, ns: &str, pod: &str) -> String {
    let out = c.kubectl(&["delete", "pod", "-n", ns, pod, "--dry-run=server"]);
    let err = text(&out.stderr);
    assert!(
        !out.status.success() && err.contains(DENIED) && err.contains("TooManyRequests"),
        "the guard did not answer a dry-run delete of {ns}/{pod}: exit {:?}\n{}{err}",
        out.status.code(),
        text(&out.stdout)
    );
    err
}

/// HTTP GETs through a Service, a new connection each, and the fewest available pods seen.
struct Sampler {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    min_available: Arc<AtomicU64>,
    threads: Vec<thread::JoinHandle<()>>,
    errors: Arc<std::sync::Mutex<Vec<String>>>,
}

fn get(addr: SocketAddr) -> Result<(), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\nHost: web\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut body = String::new();
    s.read_to_string(&mut body).map_err(|e| e.to_string())?;
    if body.starts_with("HTTP/1.") && body.contains(" 200 ") && body.ends_with("ok\n") {
        Ok(())
    } else {
        Err(format!("answer {body:?}"))
    }
}

impl Sampler {
    fn start(c: &Cluster, ns: &str, app: &str) -> Self {
        Self::start_selector(c, ns, app, &format!("app={app}"))
    }

    /// Samples the Service `service` and the available pods matching `selector`.
    fn start_selector(c: &Cluster, ns: &str, service: &str, selector: &str) -> Self {
        let app = service;
        let ip = c.kubectl_ok(&[
            "get",
            "service",
            "-n",
            ns,
            app,
            "-o",
            "jsonpath={.spec.clusterIP}",
        ]);
        let addr: SocketAddr = format!("{ip}:80").parse().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let min_available = Arc::new(AtomicU64::new(u64::MAX));
        let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        {
            let (stop, ok, failed, errors) =
                (stop.clone(), ok.clone(), failed.clone(), errors.clone());
            threads.push(thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match get(addr) {
                        Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            errors.lock().unwrap().push(e);
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    thread::sleep(Duration::from_millis(20));
                }
            }));
        }
        {
            let (stop, min) = (stop.clone(), min_available.clone());
            let kubeconfig = c.kubeconfig.clone();
            let (ns, selector) = (ns.to_owned(), selector.to_owned());
            threads.push(thread::spawn(move || {
                let c = Cluster { kubeconfig };
                while !stop.load(Ordering::Relaxed) {
                    let n = c.available(&ns, &selector).len() as u64;
                    min.fetch_min(n, Ordering::Relaxed);
                    thread::sleep(Duration::from_millis(200));
                }
            }));
        }
        Sampler {
            stop,
            ok,
            failed,
            min_available,
            threads,
            errors,
        }
    }

    /// (requests answered, requests failed, fewest available pods seen)
    fn finish(self) -> (u64, u64, u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let errors = self.errors.lock().unwrap().clone();
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.min_available.load(Ordering::Relaxed),
            errors,
        )
    }
}

#[test]
#[ignore = "needs STEADY_E2E_KUBECONFIG"]
fn guard_runs_as_pods_on_the_nodes_and_keeps_answering_when_a_replica_goes() {
    let c = cluster("guard_runs_as_pods_on_the_nodes");
    let installed = c.install();
    println!("{installed}");

    // Two guard pods, Running and Ready, on two nodes, from the image asked for.
    let guards = c.available(NS, &format!("app.kubernetes.io/name={GUARD}"));
    assert_eq!(guards.len(), 2, "guard pods: {guards:#?}");
    assert_ne!(node(&guards[0]), node(&guards[1]), "one guard per node");
    let deployment = c.json(&["get", "deployment", "-n", NS, GUARD]);
    let image = deployment["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    for g in &guards {
        assert_eq!(g["spec"]["containers"][0]["image"], image);
        assert_eq!(g["status"]["containerStatuses"][0]["ready"], true);
    }

    // The certificate Secret the guard made, and its CA in the webhook configuration.
    let secret = c.json(&["get", "secret", "-n", NS, &format!("{GUARD}-tls")]);
    for key in ["tls.crt", "tls.key", "ca.crt"] {
        assert!(
            secret["data"][key].as_str().is_some_and(|v| !v.is_empty()),
            "Secret {GUARD}-tls has no {key}"
        );
    }
    let vwc = c.json(&["get", "validatingwebhookconfiguration", GUARD]);
    let bundle = vwc["webhooks"][0]["clientConfig"]["caBundle"]
        .as_str()
        .unwrap_or_default();
    assert!(!bundle.is_empty(), "no caBundle: {vwc}");
    assert_eq!(
        bundle, secret["data"]["ca.crt"],
        "the caBundle is the Secret's CA"
    );

    // A budget that allows nothing: every delete of its pod is the guard's to refuse.
    let ns = c.namespace("nodes-e2e-pinned");
    c.apply(&web_app(&ns, "pinned", 1, 0));
    let pod = name(&c.wait_available(&ns, "app=pinned", 1, 120)[0]);
    c.wait_allowed(&ns, "pinned", 0, 60);
    let status = c.steady(&["status", "-A"]);
    let listed = text(&status.stdout);
    println!("$ steady status -A\n{listed}");
    assert!(status.status.success(), "{}", text(&status.stderr));
    for (namespace, budget) in [(NS, GUARD), (ns.as_str(), "pinned")] {
        assert!(
            listed
                .lines()
                .any(|l| l.split_whitespace().take(2).eq([namespace, budget])),
            "steady status -A does not list {namespace}/{budget}:\n{listed}"
        );
    }
    println!("{}", guard_refuses(&c, &ns, &pod));

    // One guard pod goes: the other answers every request meanwhile, and a replacement turns Ready.
    let gone = name(&guards[0]);
    c.kubectl_ok(&["delete", "pod", "-n", NS, &gone, "--wait=false"]);
    let start = Instant::now();
    let mut answered = 0;
    while start.elapsed() < Duration::from_secs(45) {
        guard_refuses(&c, &ns, &pod);
        answered += 1;
        thread::sleep(Duration::from_millis(300));
    }
    c.kubectl_ok(&[
        "-n",
        NS,
        "rollout",
        "status",
        &format!("deployment/{GUARD}"),
        "--timeout=120s",
    ]);
    let after = c.wait_available(NS, &format!("app.kubernetes.io/name={GUARD}"), 2, 120);
    assert!(after.iter().all(|p| name(p) != gone));
    guard_refuses(&c, &ns, &pod);
    println!(
        "guard pod {gone} deleted: {answered} dry-run deletes in 45 s, every one refused by the guard"
    );
}

fn eviction(c: &Cluster, ns: &str, pod: &str) -> Output {
    let body = format!(
        r#"{{"apiVersion":"policy/v1","kind":"Eviction","metadata":{{"name":"{pod}","namespace":"{ns}"}}}}"#
    );
    c.run(
        &steady_testkit::kubectl(),
        &[
            "create",
            "--raw",
            &format!("/api/v1/namespaces/{ns}/pods/{pod}/eviction"),
            "-f",
            "-",
        ],
        Some(&body),
    )
}

fn assert_refused(out: &Output, what: &str, budget_message: &str) -> String {
    let err = text(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("TooManyRequests")
            && err.contains(DENIED)
            && err.contains(budget_message),
        "{what} was not refused with 429 and \"{budget_message}\": exit {:?}\n{}{err}",
        out.status.code(),
        text(&out.stdout)
    );
    err
}

/// `kubectl drain NODE` with the flags a drain needs here, as a child process.
fn drain(c: &Cluster, node: &str, extra: &[&str]) -> (Output, Duration) {
    let mut args = vec![
        "drain",
        node,
        "--ignore-daemonsets",
        "--delete-emptydir-data",
    ];
    args.extend(extra);
    let start = Instant::now();
    let out = c.kubectl(&args);
    (out, start.elapsed())
}

#[test]
#[ignore = "needs STEADY_E2E_KUBECONFIG"]
fn real_pods_under_a_budget_deletes_evictions_and_drains() {
    let c = cluster("real_pods_under_a_budget");
    c.install();
    let guard_selector = format!("app.kubernetes.io/name={GUARD}");
    let ns = c.namespace("nodes-e2e-web");
    // 4 replicas, at most 1 unavailable: at least 3 must be available at every moment.
    c.apply(&web_app(&ns, "web", 4, 1));
    let pods = c.wait_available(&ns, "app=web", 4, 180);
    c.wait_allowed(&ns, "web", 1, 60);
    let needs = "PodUnavailableBudget web needs 3 available pod(s)";

    // 1. Direct deletes and evictions beyond the budget: the first delete takes the one unit, the
    // next delete and an eviction are refused at once with 429 and the budget's message.
    let (a, b) = (name(&pods[0]), name(&pods[1]));
    c.kubectl_ok(&["delete", "pod", "-n", &ns, &a, "--wait=false"]);
    let refused_delete = assert_refused(
        &c.kubectl(&["delete", "pod", "-n", &ns, &b, "--wait=false"]),
        "a second delete",
        needs,
    );
    let refused_eviction = assert_refused(&eviction(&c, &ns, &b), "an eviction", needs);
    println!("$ kubectl delete pod {b}\n{refused_delete}\n$ evict {b}\n{refused_eviction}");
    c.wait_available(&ns, "app=web", 4, 120);
    c.wait_allowed(&ns, "web", 1, 60);

    // 2. A drain of the node holding web pods and a guard replica: it completes once replacements
    // turn Ready on the other node; availability through the Service never drops below 3 and no
    // request fails.
    let nodes = c.ready_nodes();
    let on = |n: &str| {
        c.available(&ns, "app=web")
            .iter()
            .filter(|p| node(p) == n)
            .count()
    };
    let (first, second) = (nodes[0].clone(), nodes[1].clone());
    assert!(
        on(&first) >= 1 && on(&second) >= 1,
        "web pods are spread over the nodes"
    );
    let sampler = Sampler::start(&c, &ns, "web");
    thread::sleep(Duration::from_secs(2));
    let (out, took) = drain(&c, &first, &["--timeout=300s"]);
    thread::sleep(Duration::from_secs(3));
    let (ok, failed, min, errors) = sampler.finish();
    let drained = format!("{}{}", text(&out.stdout), text(&out.stderr));
    println!(
        "$ kubectl drain {first}  ({:.1} s)\n{drained}",
        took.as_secs_f64()
    );
    println!("through the Service: {ok} answered, {failed} failed; fewest available pods: {min}");
    assert!(out.status.success(), "drain of {first} failed:\n{drained}");
    assert!(
        drained.contains(&format!("node/{first} drained")),
        "{drained}"
    );
    assert!(
        drained.contains("(will retry after 5s)") && drained.contains(needs),
        "the guard paces the drain: a second eviction from {first} is refused and retried:\n{drained}"
    );
    assert!(
        drained.contains("steady-system/steady-guard-"),
        "the guard's own replica on {first} is drained too:\n{drained}"
    );
    assert_eq!(failed, 0, "failed requests through the Service: {errors:?}");
    assert!(ok > 100, "only {ok} requests answered");
    assert!(min >= 3, "only {min} web pods available at one point");
    assert_eq!(on(&first), 0);
    c.wait_available(&ns, "app=web", 4, 60);
    // The guard answered throughout (the drain's evictions went through it); it still does.
    guard_answers(&c, &ns);

    // 3. A drain that must block: the other node is cordoned, so no replacement can start. One
    // eviction takes the unit, the rest are refused with the budget's message until --timeout.
    c.kubectl_ok(&["uncordon", &first]);
    c.kubectl_ok(&[
        "-n",
        NS,
        "rollout",
        "status",
        &format!("deployment/{GUARD}"),
        "--timeout=120s",
    ]);
    c.wait_allowed(&ns, "web", 1, 60);
    c.kubectl_ok(&["cordon", &first]);
    let sampler = Sampler::start(&c, &ns, "web");
    let (out, took) = drain(&c, &second, &["--timeout=40s"]);
    let (ok, failed, min, errors) = sampler.finish();
    let blocked = format!("{}{}", text(&out.stdout), text(&out.stderr));
    println!(
        "$ kubectl drain {second} --timeout=40s  (other node cordoned; {:.1} s, exit {:?})\n{blocked}",
        took.as_secs_f64(),
        out.status.code()
    );
    println!("through the Service: {ok} answered, {failed} failed; fewest available pods: {min}");
    assert!(
        !out.status.success(),
        "the drain must not complete:\n{blocked}"
    );
    assert!(blocked.contains(needs), "{blocked}");
    assert!(blocked.contains("global timeout reached: 40s"), "{blocked}");
    assert_eq!(failed, 0, "failed requests through the Service: {errors:?}");
    assert!(min >= 3, "only {min} web pods available at one point");
    assert_eq!(c.available(&ns, "app=web").len(), 3);
    // The guard still answers: its replica on the cordoned node kept serving.
    assert!(!c.available(NS, &guard_selector).is_empty());
    guard_answers(&c, &ns);
    c.uncordon_all();
    c.wait_available(&ns, "app=web", 4, 120);
    c.kubectl_ok(&[
        "-n",
        NS,
        "rollout",
        "status",
        &format!("deployment/{GUARD}"),
        "--timeout=120s",
    ]);
    c.wait_allowed(&ns, "web", 1, 60);

    // 4. `kubectl drain --dry-run=server` evicts nothing and takes no unit: the budget's status is
    // what it was, and the node stays schedulable.
    let before = c.budget_status(&ns, "web");
    let (out, _) = drain(&c, &second, &["--dry-run=server", "--timeout=60s"]);
    let dry = format!("{}{}", text(&out.stdout), text(&out.stderr));
    println!("$ kubectl drain {second} --dry-run=server\n{dry}");
    assert!(out.status.success(), "{dry}");
    assert!(dry.contains("(server dry run)"), "{dry}");
    thread::sleep(Duration::from_secs(3));
    let after = c.budget_status(&ns, "web");
    for field in [
        "unavailableAllowed",
        "currentAvailable",
        "desiredAvailable",
        "totalReplicas",
        "disruptedPods",
    ] {
        assert_eq!(
            before[field], after[field],
            "{field}: {before} then {after}"
        );
    }
    assert_eq!(after["unavailableAllowed"], 1, "{after}");
    let n = c.json(&["get", "node", &second]);
    assert!(n["spec"]["unschedulable"].is_null(), "{n}");
    assert_eq!(c.available(&ns, "app=web").len(), 4);
}

/// The guard answers: `steady why`'s verdict is a server-side dry-run eviction of a web pod, which
/// passes through the webhook (failurePolicy Fail: with no replica answering it would say "failed
/// calling webhook"). Allowed or refused by the budget, either way the guard decided.
fn guard_answers(c: &Cluster, ns: &str) {
    let pod = name(&c.available(ns, "app=web")[0]);
    let out = c.steady(&["why", "-n", ns, &pod]);
    let said = text(&out.stdout);
    let verdict = said
        .lines()
        .find(|l| l.starts_with("Evicting it now:"))
        .unwrap_or_default();
    assert!(
        out.status.success()
            && (verdict.starts_with("Evicting it now: allowed") || verdict.contains(DENIED)),
        "steady why {pod}:\n{said}{}",
        text(&out.stderr)
    );
}

#[test]
#[ignore = "needs STEADY_E2E_KUBECONFIG"]
fn uninstall_leaves_only_the_crd_and_the_budgets() {
    let c = cluster("uninstall_leaves_only_the_crd_and_the_budgets");
    c.install();
    let ns = c.namespace("nodes-e2e-kept");
    c.apply(&web_app(&ns, "kept", 1, 0));
    c.wait_available(&ns, "app=kept", 1, 120);

    let out = c.steady(&["uninstall"]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    println!("$ steady uninstall\n{said}");
    assert!(out.status.success(), "{said}");

    // Every object `steady install` renders is gone but the CRD (the namespace goes once its pods
    // have stopped: the guard's preStop pause and grace period).
    let printed = c.steady(&["install", "--print"]);
    assert!(printed.status.success());
    let rendered = text(&printed.stdout);
    let deadline = Instant::now() + Duration::from_secs(120);
    let left = loop {
        let out = c.run(
            &steady_testkit::kubectl(),
            &["get", "-f", "-", "--ignore-not-found", "-o", "name"],
            Some(&rendered),
        );
        let left: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
        if left.len() <= 1 || Instant::now() > deadline {
            break left;
        }
        thread::sleep(Duration::from_secs(1));
    };
    assert_eq!(
        left,
        ["customresourcedefinition.apiextensions.k8s.io/podunavailablebudgets.policy.steady.dev"],
        "left behind by steady uninstall"
    );
    // Nothing of the guard anywhere, by label either; the user's budget is still there.
    let labelled = c.kubectl_ok(&[
        "get",
        "clusterrole,clusterrolebinding,validatingwebhookconfiguration,namespace",
        "-l",
        "app.kubernetes.io/managed-by=steady",
        "-o",
        "name",
    ]);
    assert_eq!(labelled.trim(), "", "left behind: {labelled}");
    let kept = c.json(&["get", "podunavailablebudgets.policy.steady.dev", "-n", &ns]);
    assert_eq!(kept["items"].as_array().unwrap().len(), 1, "{kept}");
    // And the pod its budget allowed nothing for can go: no webhook is left to ask.
    let pod = name(&c.available(&ns, "app=kept")[0]);
    c.kubectl_ok(&["delete", "pod", "-n", &ns, &pod, "--dry-run=server"]);
}

/// Removes terminal colour sequences from a log.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(ch) = chars.next() {
        if ch == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(ch);
        }
    }
    out
}

/// The proxy as a native sidecar in real pods (examples/proxy/deployment.yaml, nginx behind it): a
/// rollout restart with no failed request through the Service, neither from clients that open a
/// connection per request nor from clients that keep theirs open (nginx keeps them: without the
/// proxy these lose requests when their pod stops, docs/proxy.md), and every old pod's preStop
/// hook, which the kubelet sends from the node, starts the proxy's drain. (On this bridge network
/// the hook came from the node's bridge address, not status.hostIP, and was refused: pods stopped
/// undrained.)
#[test]
#[ignore = "needs STEADY_E2E_KUBECONFIG"]
fn proxy_sidecar_drains_on_the_kubelets_prestop_hook() {
    let c = cluster("proxy_sidecar_drains_on_the_kubelets_prestop_hook");
    let ns = c.namespace("nodes-e2e-proxy");
    c.apply(&proxied_nginx(&ns, 3, None));
    let selector = "app.kubernetes.io/name=web";
    c.kubectl_ok(&[
        "-n",
        &ns,
        "rollout",
        "status",
        "deployment/web",
        "--timeout=180s",
    ]);
    let old = c.wait_available(&ns, selector, 3, 60);
    // Follow every old pod's proxy log until the pod is gone.
    let followers: Vec<_> = old
        .iter()
        .map(|p| {
            let mut cmd = Command::new(steady_testkit::kubectl());
            cmd.args(["logs", "-f", "-n", &ns, &name(p), "-c", "steady-proxy"])
                .env("KUBECONFIG", &c.kubeconfig)
                .stdout(Stdio::piped())
                .stderr(Stdio::null());
            cmd.spawn().unwrap()
        })
        .collect();
    let old_names: Vec<String> = old.iter().map(name).collect();
    let addr = routed_to(&c, &ns, "web", &old_names);
    let sampler = Sampler::start_selector(&c, &ns, "web", selector);
    let clients = KeepAliveClients::start(addr, 8);
    thread::sleep(Duration::from_secs(2));
    c.kubectl_ok(&["-n", &ns, "rollout", "restart", "deployment/web"]);
    c.kubectl_ok(&[
        "-n",
        &ns,
        "rollout",
        "status",
        "deployment/web",
        "--timeout=300s",
    ]);
    // Until the old pods are gone (drain delay 10 s).
    let deadline = Instant::now() + Duration::from_secs(120);
    while c.pods(&ns, selector).len() > 3 {
        assert!(Instant::now() < deadline, "old pods still there");
        thread::sleep(Duration::from_secs(1));
    }
    let (ok, failed, min, errors) = sampler.finish();
    let kept = clients.finish();
    println!(
        "rollout restart through the proxy: {ok} answered, {failed} failed; fewest available pods: {min}"
    );
    println!(
        "8 keep-alive clients: {} answered, {} failed, {} connections",
        kept.answers.len(),
        kept.failures.len(),
        kept.connections
    );
    for (p, f) in old.iter().zip(followers) {
        let out = f.wait_with_output().unwrap();
        let log = plain(&text(&out.stdout));
        assert!(
            !log.contains("refused a /drain request"),
            "{}: the kubelet's preStop /drain was refused:\n{log}",
            name(p)
        );
        assert!(
            log.contains("shutdown begun") && log.contains("trigger=DrainRequest"),
            "{}: the preStop hook did not start the drain:\n{log}",
            name(p)
        );
    }
    assert_eq!(failed, 0, "failed requests through the Service: {errors:?}");
    assert!(ok > 100, "only {ok} requests answered");
    assert!(min >= 2, "only {min} pods available at one point");
    assert!(
        kept.failures.is_empty(),
        "failed requests on keep-alive connections: {:?}",
        kept.failures
    );
    assert!(
        kept.answers.len() > 1000,
        "only {} keep-alive answers",
        kept.answers.len()
    );
    // Every old pod went, so every client was moved: by `Connection: close`, not by a failure.
    assert!(
        kept.connections > 8,
        "the keep-alive clients never reconnected: {} connections",
        kept.connections
    );
}

/// The nginx image of the keep-alive tests (`STEADY_E2E_NGINX_IMAGE`, default
/// `localhost/nginx:e2e`, loaded on the nodes beforehand): any nginx ≥ 1.19.5 with the binary at
/// /usr/sbin/nginx that runs as a non-root user with /tmp writable.
fn nginx_image() -> String {
    std::env::var("STEADY_E2E_NGINX_IMAGE")
        .ok()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| "localhost/nginx:e2e".into())
}

/// nginx's configuration, as a ConfigMap `nginx`: keep-alive connections nginx itself never ends
/// within a test (`keepalive_requests`, `keepalive_timeout`), so only the proxy or a failure
/// ends one, and the serving pod's name in an `X-Pod` header.
fn nginx_config(ns: &str, listen: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata: {{name: nginx, namespace: {ns}}}
data:
  nginx.conf: |
    daemon off;
    worker_processes 1;
    pid /tmp/nginx.pid;
    error_log stderr warn;
    events {{ worker_connections 1024; }}
    http {{
      access_log off;
      client_body_temp_path /tmp/body; proxy_temp_path /tmp/proxy; fastcgi_temp_path /tmp/fcgi;
      uwsgi_temp_path /tmp/uwsgi; scgi_temp_path /tmp/scgi;
      keepalive_timeout 300s;
      keepalive_requests 1000000;
      default_type text/plain;
      server {{
        listen {listen};
        location / {{ add_header X-Pod $hostname always; return 200 "ok\n"; }}
        location /health {{ return 200 "ok\n"; }}
      }}
    }}
"#
    )
}

const NGINX_COMMAND: &str =
    r#"command: ["/usr/sbin/nginx", "-e", "stderr", "-c", "/etc/steady-e2e/nginx.conf"]"#;

/// nginx alone: a Deployment `web` of `replicas` pods and its ClusterIP Service on port 80.
fn plain_nginx(ns: &str, replicas: u32) -> String {
    let image = nginx_image();
    let config = nginx_config(ns, "8080");
    format!(
        r#"{config}---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app.kubernetes.io/name: web}}}}
  template:
    metadata: {{labels: {{app.kubernetes.io/name: web}}}}
    spec:
      terminationGracePeriodSeconds: 5
      securityContext: {{runAsNonRoot: true, runAsUser: 65532}}
      volumes: [{{name: tmp, emptyDir: {{}}}}, {{name: conf, configMap: {{name: nginx}}}}]
      containers:
      - name: app
        image: {image}
        imagePullPolicy: IfNotPresent
        {NGINX_COMMAND}
        volumeMounts: [{{name: tmp, mountPath: /tmp}}, {{name: conf, mountPath: /etc/steady-e2e}}]
        ports: [{{name: http, containerPort: 8080}}]
        readinessProbe: {{httpGet: {{path: /health, port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  selector: {{app.kubernetes.io/name: web}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"#
    )
}

/// examples/proxy/deployment.yaml as written, but for the application (http-echo, which these
/// nodes cannot pull): nginx on 127.0.0.1:8080, `replicas` pods, the proxy's
/// `STEADY_PROXY_MAX_CONNECTION_AGE` set to `max_age` when given, and the steady image
/// `STEADY_E2E_IMAGE` when set.
fn proxied_nginx(ns: &str, replicas: u32, max_age: Option<&str>) -> String {
    let example = include_str!("../../../examples/proxy/deployment.yaml");
    let app = r#"          image: hashicorp/http-echo:1.0
          # Loopback only: every request reaches the application through the proxy.
          args: ["-listen=127.0.0.1:8080", "-text=hello"]"#;
    assert!(example.contains(app), "the example's application changed");
    let nginx = format!(
        r#"          image: {}
          imagePullPolicy: IfNotPresent
          {NGINX_COMMAND}
          volumeMounts: [{{name: tmp, mountPath: /tmp}}, {{name: conf, mountPath: /etc/steady-e2e}}]"#,
        nginx_image()
    );
    let age = "STEADY_PROXY_MAX_CONNECTION_AGE\n              value: \"5m\"";
    assert!(
        example.contains(age),
        "the example's connection age changed"
    );
    assert!(
        example.contains("  replicas: 3\n"),
        "the example's replicas changed"
    );
    let mut yaml = example
        .replace(app, &nginx)
        .replace("  replicas: 3\n", &format!("  replicas: {replicas}\n"))
        .replace(
            "      initContainers:",
            "      volumes: [{name: tmp, emptyDir: {}}, {name: conf, configMap: {name: nginx}}]\n      initContainers:",
        )
        .replace(
            "metadata:\n  name: web\n",
            &format!("metadata:\n  name: web\n  namespace: {ns}\n"),
        );
    if let Some(max_age) = max_age {
        yaml = yaml.replace(
            age,
            &format!("STEADY_PROXY_MAX_CONNECTION_AGE\n              value: \"{max_age}\""),
        );
    }
    let image = std::env::var("STEADY_E2E_IMAGE").unwrap_or_default();
    if !image.is_empty() {
        yaml = yaml.replace("ghcr.io/steady-dev/steady:0.1.0", &image);
    }
    format!("{}---\n{yaml}", nginx_config(ns, "127.0.0.1:8080"))
}

/// What keep-alive clients saw.
#[derive(Debug, Default)]
struct Seen {
    /// When each answer arrived and the pod that served it (nginx's `X-Pod`).
    answers: Vec<(Instant, String)>,
    /// Every request that did not get `200 ok`, as the client saw it: no retry hides one.
    failures: Vec<String>,
    /// Connections opened, all clients together.
    connections: u64,
}

impl Seen {
    fn answered_by(&self, pod: &str) -> usize {
        self.answers.iter().filter(|(_, p)| p == pod).count()
    }

    /// The first answer `pod` gave at or after `since`.
    fn first_from(&self, pod: &str, since: Instant) -> Option<Instant> {
        self.answers
            .iter()
            .find(|(t, p)| p == pod && *t >= since)
            .map(|(t, _)| *t)
    }
}

/// Clients that each keep ONE HTTP/1.1 keep-alive connection to a Service and send `GET /` on it
/// every 50 ms, opening a new one only after a response with `Connection: close` or a failure, as
/// a pooled HTTP client does.
struct KeepAliveClients {
    stop: Arc<AtomicBool>,
    seen: Arc<std::sync::Mutex<Seen>>,
    threads: Vec<thread::JoinHandle<()>>,
}

/// One request on `conn` (opened first when `None`); the serving pod and whether the response
/// closes the connection.
fn keep_alive_get(
    conn: &mut Option<std::io::BufReader<TcpStream>>,
    addr: SocketAddr,
) -> Result<(String, bool), String> {
    use std::io::BufRead as _;
    let r = match conn {
        Some(r) => r,
        None => {
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                .map_err(|e| format!("connect: {e}"))?;
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.set_nodelay(true).unwrap();
            conn.insert(std::io::BufReader::new(s))
        }
    };
    r.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n")
        .map_err(|e| format!("send: {e}"))?;
    let mut line = String::new();
    let mut head = Vec::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) => return Err(format!("closed after {} header lines", head.len())),
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push(line.trim_end().to_owned()),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    let status = head.first().cloned().unwrap_or_default();
    let header = |name: &str| {
        head.iter().skip(1).find_map(|h| {
            let (n, v) = h.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let len: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no Content-Length: {head:?}"))?;
    let mut body = vec![0; len];
    r.read_exact(&mut body).map_err(|e| format!("body: {e}"))?;
    if !status.starts_with("HTTP/1.1 200 ") || body != b"ok\n" {
        return Err(format!("answer {head:?} {:?}", text(&body)));
    }
    let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    Ok((header("x-pod").unwrap_or_default(), close))
}

/// The Service's ClusterIP address, once kube-proxy routes to every one of `pods`: Ready pods
/// reach the node's rules a moment after the API says so, and a client connecting before then is
/// refused or lands on the pods already routed to.
fn routed_to(c: &Cluster, ns: &str, service: &str, pods: &[String]) -> SocketAddr {
    let ip = c.kubectl_ok(&[
        "get",
        "service",
        "-n",
        ns,
        service,
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let addr: SocketAddr = format!("{ip}:80").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = std::collections::BTreeSet::new();
    while !pods.iter().all(|p| seen.contains(p)) {
        assert!(
            Instant::now() < deadline,
            "{ns}/{service} at {addr} did not reach all of {pods:?} in 60 s, only {seen:?}"
        );
        if let Ok((pod, _)) = keep_alive_get(&mut None, addr) {
            seen.insert(pod);
        }
        thread::sleep(Duration::from_millis(20));
    }
    addr
}

impl KeepAliveClients {
    /// Starts `clients` clients of `addr`.
    fn start(addr: SocketAddr, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
        let threads = (0..clients)
            .map(|_| {
                let (stop, seen) = (stop.clone(), seen.clone());
                thread::spawn(move || {
                    let mut conn = None;
                    while !stop.load(Ordering::Relaxed) {
                        let new = conn.is_none();
                        let got = keep_alive_get(&mut conn, addr);
                        let mut seen = seen.lock().unwrap();
                        seen.connections += u64::from(new);
                        match got {
                            Ok((pod, close)) => {
                                seen.answers.push((Instant::now(), pod));
                                if close {
                                    conn = None;
                                }
                            }
                            Err(e) => {
                                seen.failures.push(e);
                                conn = None;
                            }
                        }
                        drop(seen);
                        thread::sleep(Duration::from_millis(50));
                    }
                })
            })
            .collect();
        KeepAliveClients {
            stop,
            seen,
            threads,
        }
    }

    fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// Scales Deployment `web` in `ns` to `to` replicas and waits until the new pods are Ready;
/// returns each new pod's name and the moment it was first seen Ready (polled every 250 ms).
fn scale_out(c: &Cluster, ns: &str, selector: &str, to: usize) -> Vec<(String, Instant)> {
    let before: Vec<String> = c.pods(ns, selector).iter().map(name).collect();
    c.kubectl_ok(&[
        "-n",
        ns,
        "scale",
        "deployment/web",
        &format!("--replicas={to}"),
    ]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut ready: Vec<(String, Instant)> = Vec::new();
    while ready.len() + before.len() < to {
        for p in c.available(ns, selector) {
            let n = name(&p);
            if !before.contains(&n) && ready.iter().all(|(r, _)| *r != n) {
                ready.push((n, Instant::now()));
            }
        }
        assert!(
            Instant::now() < deadline,
            "scaled to {to}, new pods Ready after 120 s: {ready:?}\n{}",
            c.kubectl_ok(&["get", "pods", "-n", ns, "-o", "wide"])
        );
        thread::sleep(Duration::from_millis(250));
    }
    ready
}

/// Long-lived keep-alive clients and a scale-out from 2 to 4 replicas. Without the proxy the new
/// replicas get no request from the clients' connections, which kube-proxy balanced once when
/// they opened; with the proxy's `--max-connection-age` the clients' connections are recycled
/// (`Connection: close` on a response, no request lost) and the reconnects reach the new
/// replicas within the age.
#[test]
#[ignore = "needs STEADY_E2E_KUBECONFIG"]
fn proxy_recycling_brings_long_lived_clients_to_new_replicas_on_a_scale_out() {
    const CLIENTS: usize = 16;
    const AGE: Duration = Duration::from_secs(10);
    // The age's +10 % jitter, endpoints and kube-proxy catching up, and a reconnect landing on a
    // new replica (kube-proxy picks one of 4 at random): each client reconnects about twice in it.
    let within = AGE.mul_f64(1.1) + Duration::from_secs(10);
    let c = cluster("proxy_recycling_brings_long_lived_clients_to_new_replicas");
    let selector = "app.kubernetes.io/name=web";
    let mut report = Vec::new();
    for proxied in [false, true] {
        let ns = c.namespace("nodes-e2e-scaleout");
        c.apply(&if proxied {
            proxied_nginx(&ns, 2, Some("10s"))
        } else {
            plain_nginx(&ns, 2)
        });
        let first: Vec<String> = c
            .wait_available(&ns, selector, 2, 180)
            .iter()
            .map(name)
            .collect();
        let clients = KeepAliveClients::start(routed_to(&c, &ns, "web", &first), CLIENTS);
        thread::sleep(Duration::from_secs(3));
        let new = scale_out(&c, &ns, selector, 4);
        let last_ready = new.iter().map(|(_, t)| *t).max().unwrap();
        thread::sleep((last_ready + within).saturating_duration_since(Instant::now()));
        let seen = clients.finish();
        let what = if proxied {
            "with the proxy (--max-connection-age 10s)"
        } else {
            "without the proxy"
        };
        let firsts: Vec<String> = new
            .iter()
            .map(|(p, ready)| match seen.first_from(p, *ready) {
                Some(t) => format!(
                    "{p}: {} answered, first {:.1} s after Ready",
                    seen.answered_by(p),
                    (t - *ready).as_secs_f64()
                ),
                None => format!("{p}: {} answered", seen.answered_by(p)),
            })
            .collect();
        report.push(format!(
            "{what}: {} answered, {} failed, {} connections for {CLIENTS} clients; new replicas: {}",
            seen.answers.len(),
            seen.failures.len(),
            seen.connections,
            firsts.join("; ")
        ));
        println!("{}", report.last().unwrap());
        assert!(
            seen.failures.is_empty(),
            "{what}: failed requests: {:?}",
            seen.failures
        );
        assert!(seen.answers.len() > 1000, "{what}: too few answers");
        assert!(
            seen.answers.iter().all(|(_, p)| !p.is_empty()),
            "{what}: an answer without X-Pod"
        );
        if proxied {
            assert!(
                seen.connections > CLIENTS as u64,
                "{what}: no connection was recycled"
            );
            for (p, ready) in &new {
                let first = seen.first_from(p, *ready);
                assert!(
                    first.is_some_and(|t| t - *ready <= within),
                    "{what}: new replica {p} got no request within {within:?} of Ready: {report:#?}"
                );
            }
        } else {
            // The control: nothing else would bring the clients over, so the proxy did it.
            assert_eq!(
                seen.connections, CLIENTS as u64,
                "{what}: a client reconnected"
            );
            for (p, _) in &new {
                assert_eq!(
                    seen.answered_by(p),
                    0,
                    "{what}: new replica {p} got requests from long-lived connections: {report:#?}"
                );
            }
        }
    }
}
