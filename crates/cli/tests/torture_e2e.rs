//! Torture harness of the budget guard (issue 12): the reliability figure.
//!
//! Seeded random trials against a real kube-apiserver (+ kube-controller-manager, no kubelet),
//! run only with `STEADY_E2E_KUBECONFIG`. Three real `steady serve` processes share one self-signed
//! certificate behind a round-robin TCP proxy, registered with the webhook configuration
//! `steady install` renders (only its clientConfig URL and its namespaceSelector changed).
//!
//! Each trial, in a namespace of its own: a Deployment of 3–20 pods (marked Ready through the
//! status subresource) under a PodUnavailableBudget with a random policy (minAvailable or
//! maxUnavailable, int or percent, by selector or targetRef); once the budget's status has caught
//! up, 10–100 concurrent evictions, deletes and image updates of random pods of the trial (repeats
//! included). In half the trials one guard replica is SIGKILLed while the requests are in flight,
//! and restarted. Checked every trial:
//! 1. the pods disrupted by allowed requests (admission allowed and the operation done) never
//!    exceed the budget's unavailableAllowed at the start, which must equal the same figure
//!    computed here from the policy and the replica count; also counted from the pods themselves
//!    (gone, or running another image). Pods, not requests: a repeat on a pod already disrupted
//!    makes nothing more unavailable (see `allowed_pods`);
//! 2. every allowed request's pod is accounted for right after the requests: a deleted or evicted
//!    pod is gone, an updated pod still there is in status.unavailablePods;
//! 3. no unit stays lost: within expiry + resync + slack (+ the Lease takeover after a kill),
//!    status.unavailableAllowed equals max(0, available − desired) recomputed from the live pods.
//!
//! Knobs: `STEADY_TORTURE_SEED` (printed; reproduces every trial's choices, not the timing),
//! `STEADY_TORTURE_TRIALS` (20), `STEADY_TORTURE_PARALLEL` (4 trials at once),
//! `STEADY_TORTURE_ONLY` (run only the trial with this index of the seeded run).
//! `bench/guard/torture.sh` runs the 1,000-trial figure.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{FutureExt as _, StreamExt as _};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Client;
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use steady_api::PodUnavailableBudget;
use steady_testkit::{Namespaces, api_code, client, free_port, http_get, kubeconfig};

const RUN_LABEL: &str = "steady-torture";
/// The guards' `--expiry` and `--resync-interval`.
const EXPIRY: Duration = Duration::from_secs(10);
const RESYNC: Duration = Duration::from_secs(2);
/// A killed Lease holder keeps the Lease for its duration plus grace (15 s + 5 s,
/// crates/guard/src/lease.rs); nobody recomputes status until another replica takes it.
const LEASE_TAKEOVER: Duration = Duration::from_secs(20);
/// Time for the recompute to reach the API server and for this harness to poll it.
const SLACK: Duration = Duration::from_secs(8);
/// Setting up one trial (pods created, marked Ready, the budget's status caught up).
const SETUP_LIMIT: Duration = Duration::from_secs(180);
const REPLICAS: usize = 3;

// ---------------------------------------------------------------------------------------------
// Configuration and seeded plans

struct Config {
    seed: u64,
    trials: usize,
    parallel: usize,
    only: Option<usize>,
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    let v = std::env::var(name).ok().filter(|v| !v.is_empty())?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
    )
}

impl Config {
    fn from_env() -> Self {
        let cfg = Self {
            seed: env_number("STEADY_TORTURE_SEED").unwrap_or_else(rand::random),
            trials: env_number("STEADY_TORTURE_TRIALS").unwrap_or(20),
            parallel: env_number("STEADY_TORTURE_PARALLEL").unwrap_or(4),
            only: env_number("STEADY_TORTURE_ONLY"),
        };
        assert!(
            cfg.trials > 0 && cfg.parallel > 0,
            "trials and parallel must be ≥ 1"
        );
        cfg
    }
}

#[derive(Debug, Clone, Copy)]
enum Amount {
    Int(i32),
    Percent(i32),
}

impl Amount {
    fn json(self) -> Value {
        match self {
            Self::Int(n) => json!(n),
            Self::Percent(p) => json!(format!("{p}%")),
        }
    }

    /// The amount of `total` pods; percentages round up, as Kubernetes' disruption controller.
    fn of(self, total: i32) -> i32 {
        match self {
            Self::Int(n) => n,
            Self::Percent(p) => (p * total + 99) / 100,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Policy {
    MinAvailable(Amount),
    MaxUnavailable(Amount),
}

impl Policy {
    fn field(self) -> (&'static str, Value) {
        match self {
            Self::MinAvailable(a) => ("minAvailable", a.json()),
            Self::MaxUnavailable(a) => ("maxUnavailable", a.json()),
        }
    }

    /// Pods that must stay available out of `expected`: computed here, apart from the engine.
    fn desired(self, expected: i32) -> i32 {
        match self {
            Self::MinAvailable(a) => a.of(expected),
            Self::MaxUnavailable(a) => (expected - a.of(expected)).max(0),
        }
    }

    fn describe(self) -> String {
        let (k, v) = self.field();
        format!(
            "{k}={}",
            v.as_str().map_or_else(|| v.to_string(), str::to_owned)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Evict,
    Delete,
    Update,
}

impl Op {
    fn removes_pod(self) -> bool {
        self != Self::Update
    }
}

#[derive(Debug, Clone, Copy)]
struct PlannedRequest {
    op: Op,
    /// Index into the trial's pods sorted by name.
    pod: usize,
    /// Sent this long after the burst starts, so the requests interleave with a kill.
    delay: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Kill {
    after: Duration,
    down: Duration,
    /// The replica tried first (the next one up if it is already down).
    replica: usize,
}

#[derive(Debug, Clone)]
struct Plan {
    index: usize,
    replicas: i32,
    policy: Policy,
    by_target_ref: bool,
    requests: Vec<PlannedRequest>,
    kill: Option<Kill>,
}

fn trial_seed(seed: u64, index: usize) -> u64 {
    // splitmix64 of the pair: neighbouring trials get unrelated streams.
    let mut z = seed
        ^ (index as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn plan(seed: u64, index: usize) -> Plan {
    let mut rng = StdRng::seed_from_u64(trial_seed(seed, index));
    let replicas: i32 = rng.random_range(3..=20);
    let amount = if rng.random_bool(0.5) {
        Amount::Int(rng.random_range(0..=replicas))
    } else {
        Amount::Percent(rng.random_range(0..=100))
    };
    let policy = if rng.random_bool(0.5) {
        Policy::MinAvailable(amount)
    } else {
        Policy::MaxUnavailable(amount)
    };
    let by_target_ref = rng.random_bool(0.5);
    let n: usize = rng.random_range(10..=100);
    let requests = (0..n)
        .map(|_| PlannedRequest {
            op: match rng.random_range(0..3) {
                0 => Op::Evict,
                1 => Op::Delete,
                _ => Op::Update,
            },
            pod: rng.random_range(0..replicas as usize),
            delay: Duration::from_millis(rng.random_range(0..=400)),
        })
        .collect();
    let kill = rng.random_bool(0.5).then(|| Kill {
        after: Duration::from_millis(rng.random_range(0..=300)),
        down: Duration::from_millis(rng.random_range(0..=1000)),
        replica: rng.random_range(0..REPLICAS),
    });
    Plan {
        index,
        replicas,
        policy,
        by_target_ref,
        requests,
        kill,
    }
}

// ---------------------------------------------------------------------------------------------
// Guard replicas: real processes, so that SIGKILL is real

struct Replica {
    listen: SocketAddr,
    admin: SocketAddr,
    child: Option<tokio::process::Child>,
    down: bool,
}

struct Guards {
    bin: PathBuf,
    dir: PathBuf,
    kubeconfig: String,
    lease_namespace: String,
    replicas: Vec<tokio::sync::Mutex<Replica>>,
    /// At most two replicas down at once: one always answers.
    permits: tokio::sync::Semaphore,
    kills: AtomicUsize,
    /// Exits nobody asked for (found when a replica is about to be killed, or between trials).
    unexpected_exits: AtomicUsize,
    last_kill: Mutex<Option<Instant>>,
}

impl Guards {
    fn spawn(&self, i: usize, r: &Replica) -> tokio::process::Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("replica-{i}.log")))
            .expect("a log file for the replica");
        tokio::process::Command::new(&self.bin)
            .arg("serve")
            .arg("--tls-cert-file")
            .arg(self.dir.join("tls.crt"))
            .arg("--tls-key-file")
            .arg(self.dir.join("tls.key"))
            .args(["--listen", &r.listen.to_string()])
            .args(["--admin-listen", &r.admin.to_string()])
            .args(["--lease-namespace", &self.lease_namespace])
            .args(["--identity", &format!("replica-{i}")])
            .args(["--expiry", "10s", "--resync-interval", "2s"])
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()))
    }

    async fn start(
        bin: PathBuf,
        dir: PathBuf,
        kubeconfig: String,
        lease_namespace: String,
    ) -> Self {
        let mut guards = Self {
            bin,
            dir,
            kubeconfig,
            lease_namespace,
            replicas: Vec::new(),
            permits: tokio::sync::Semaphore::new(REPLICAS - 1),
            kills: AtomicUsize::new(0),
            unexpected_exits: AtomicUsize::new(0),
            last_kill: Mutex::new(None),
        };
        for i in 0..REPLICAS {
            let mut r = Replica {
                listen: free_port(),
                admin: free_port(),
                child: None,
                down: false,
            };
            r.child = Some(guards.spawn(i, &r));
            guards.replicas.push(tokio::sync::Mutex::new(r));
        }
        for r in &guards.replicas {
            let admin = r.lock().await.admin;
            steady_testkit::until_ok("guard replica ready", admin, "/readyz", 120).await;
        }
        guards
    }

    async fn backends(&self) -> Vec<SocketAddr> {
        let mut out = Vec::new();
        for r in &self.replicas {
            out.push(r.lock().await.listen);
        }
        out
    }

    /// Restarts replicas that exited by themselves; says so.
    async fn reap(&self) {
        for (i, r) in self.replicas.iter().enumerate() {
            let mut r = r.lock().await;
            if r.down {
                continue;
            }
            let exited = match r.child.as_mut() {
                Some(c) => c.try_wait().ok().flatten(),
                None => None,
            };
            if let Some(status) = exited {
                self.unexpected_exits.fetch_add(1, Ordering::SeqCst);
                eprintln!(
                    "torture: GUARD EXIT replica-{i} exited by itself ({status}); see {}",
                    self.dir.join(format!("replica-{i}.log")).display()
                );
                let child = self.spawn(i, &r);
                r.child = Some(child);
            }
        }
    }

    /// SIGKILLs one replica that is up (`prefer` first), keeps it down for `down`, restarts it on
    /// the same ports and waits until it is ready again. The replica's index.
    async fn kill_and_restart(&self, prefer: usize, down: Duration) -> Result<usize, String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        for k in 0..REPLICAS {
            let i = (prefer + k) % REPLICAS;
            let mut r = self.replicas[i].lock().await;
            if r.down {
                continue;
            }
            r.down = true;
            let mut child = r.child.take().expect("a replica that is up has a process");
            if let Ok(Some(status)) = child.try_wait() {
                self.unexpected_exits.fetch_add(1, Ordering::SeqCst);
                eprintln!("torture: GUARD EXIT replica-{i} had exited by itself ({status})");
            }
            // tokio's kill is SIGKILL on Unix: no drain, no goodbye.
            let _ = child.kill().await;
            self.kills.fetch_add(1, Ordering::SeqCst);
            *self.last_kill.lock().unwrap() = Some(Instant::now());
            let admin = r.admin;
            drop(r);
            tokio::time::sleep(down).await;
            let mut r = self.replicas[i].lock().await;
            let child = self.spawn(i, &r);
            r.child = Some(child);
            drop(r);
            let started = Instant::now();
            let ready = loop {
                let answer = http_get(admin, "/readyz").await;
                if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200") {
                    break Ok(i);
                }
                if started.elapsed() > Duration::from_secs(120) {
                    break Err(format!("replica-{i} not ready 120 s after its restart"));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            self.replicas[i].lock().await.down = false;
            return ready;
        }
        unreachable!("with at most {} replicas down, one is up", REPLICAS - 1)
    }

    fn last_kill(&self) -> Option<Instant> {
        *self.last_kill.lock().unwrap()
    }

    async fn stop(&self) {
        for r in &self.replicas {
            if let Some(mut c) = r.lock().await.child.take() {
                let _ = c.kill().await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One trial

#[derive(Debug, Clone)]
enum Outcome {
    Allowed,
    Refused,
    /// 404: the pod was already gone (a repeat on a deleted pod).
    Gone,
    Error(String),
}

struct Done {
    req: PlannedRequest,
    pod: String,
    outcome: Outcome,
    /// When the answer came, from the start of the burst.
    at: Duration,
}

#[derive(Default, Debug, Clone)]
struct Totals {
    trials: usize,
    aborted: usize,
    requests: usize,
    allowed: usize,
    /// Distinct pods those allowed requests disrupted.
    disrupted: usize,
    refused: usize,
    gone: usize,
    errors: usize,
    violations: usize,
    /// Trials whose allowed requests spanned more than the expiry, so a unit may lawfully have
    /// come back mid-trial: invariant 1 is not decided for them.
    undecided: usize,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.trials += o.trials;
        self.aborted += o.aborted;
        self.requests += o.requests;
        self.allowed += o.allowed;
        self.disrupted += o.disrupted;
        self.refused += o.refused;
        self.gone += o.gone;
        self.errors += o.errors;
        self.violations += o.violations;
        self.undecided += o.undecided;
    }
}

struct Run<'a> {
    client: Client,
    run: String,
    seed: u64,
    guards: &'a Guards,
}

fn pod_available(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        && steady_testkit::is_ready(p)
}

fn image_of(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

async fn send(pods: Api<Pod>, req: PlannedRequest, pod: String, tag: String) -> Outcome {
    let r = match req.op {
        Op::Evict => pods.evict(&pod, &EvictParams::default()).await.map(|_| ()),
        Op::Delete => pods
            .delete(&pod, &DeleteParams::default())
            .await
            .map(|_| ()),
        Op::Update => {
            // A new image each time, so that every update is a disruptive one.
            let patch = json!({"spec": {"containers": [{"name": "app", "image": format!("registry.example/app:{tag}")}]}});
            pods.patch(&pod, &PatchParams::default(), &Patch::Strategic(patch))
                .await
                .map(|_| ())
        }
    };
    match r {
        Ok(()) => Outcome::Allowed,
        Err(e) => match api_code(&e) {
            Some(429) => Outcome::Refused,
            Some(404) => Outcome::Gone,
            _ => Outcome::Error(match &e {
                kube::Error::Api(s) => format!("{} {}", s.code, s.message),
                other => other.to_string(),
            }),
        },
    }
}

/// Every version of the trial's budget seen from a watch, with when it was seen: printed with a
/// violation, to tell which write changed what.
struct History {
    seen: std::sync::Arc<Mutex<Vec<(Instant, PodUnavailableBudget)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl History {
    fn start(pubs: Api<PodUnavailableBudget>) -> Self {
        use kube::runtime::watcher;
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let out = seen.clone();
        let task = tokio::spawn(async move {
            let cfg = watcher::Config::default().fields("metadata.name=budget");
            let mut events = std::pin::pin!(watcher::watcher(pubs, cfg));
            while let Some(ev) = events.next().await {
                if let Ok(watcher::Event::Apply(b) | watcher::Event::InitApply(b)) = ev {
                    out.lock().unwrap().push((Instant::now(), b));
                }
            }
        });
        Self { seen, task }
    }

    /// One line per version, times from `origin`.
    fn lines(&self, origin: Instant) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(at, b)| {
                let st = b.status.clone().unwrap_or_default();
                let at = at.saturating_duration_since(origin);
                format!(
                    "{at:?} rv={} observedGeneration={} current={} desired={} allowed={} disruptedPods={:?} unavailablePods={:?}",
                    b.metadata.resource_version.as_deref().unwrap_or_default(),
                    st.observed_generation,
                    st.current_available,
                    st.desired_available,
                    st.unavailable_allowed,
                    st.disrupted_pods,
                    st.unavailable_pods
                )
            })
            .collect()
    }
}

impl Drop for History {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The namespace's Events (the guard's NotDeleted and SyncFailed among them), one line each.
async fn event_lines(client: &Client, ns: &str) -> Vec<String> {
    let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), ns);
    match api.list(&ListParams::default()).await {
        Ok(list) => list
            .items
            .iter()
            .map(|e| {
                format!(
                    "{} {} {:?} by {:?}/{:?} ({:?}): {}",
                    e.type_.as_deref().unwrap_or_default(),
                    e.reason.as_deref().unwrap_or_default(),
                    e.involved_object.name,
                    e.reporting_component,
                    e.reporting_instance,
                    e.event_time
                        .as_ref()
                        .map(|t| t.0.to_string())
                        .or_else(|| e.last_timestamp.as_ref().map(|t| t.0.to_string())),
                    e.message.as_deref().unwrap_or_default()
                )
            })
            .collect(),
        Err(e) => vec![format!("cannot list events: {e}")],
    }
}

impl Run<'_> {
    /// Runs trial `plan` and cleans its namespace up; its totals. Violations are printed here.
    async fn trial(&self, plan: Plan) -> Totals {
        self.guards.reap().await;
        let ns = format!("{}-t{}", self.run, plan.index);
        let started = Instant::now();
        let r = AssertUnwindSafe(self.trial_in(&plan, &ns))
            .catch_unwind()
            .await;
        // The budget first, so the namespace controller's pod deletions are not held up by it.
        let _ = Api::<PodUnavailableBudget>::namespaced(self.client.clone(), &ns)
            .delete("budget", &DeleteParams::default())
            .await;
        let _ = Api::<Namespace>::all(self.client.clone())
            .delete(&ns, &DeleteParams::default())
            .await;
        let took = started.elapsed();
        match r {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                println!(
                    "torture: trial {} ABORTED after {took:.1?} (seed {}): {e}",
                    plan.index, self.seed
                );
                Totals {
                    trials: 1,
                    aborted: 1,
                    ..Totals::default()
                }
            }
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                println!(
                    "torture: trial {} ABORTED by a panic after {took:.1?} (seed {}): {msg}",
                    plan.index, self.seed
                );
                Totals {
                    trials: 1,
                    aborted: 1,
                    ..Totals::default()
                }
            }
        }
    }

    async fn trial_in(&self, plan: &Plan, ns: &str) -> Result<Totals, String> {
        let client = &self.client;
        let pp = PostParams::default();
        let n = plan.replicas;
        let ns_obj = serde_json::from_value(
            json!({"metadata": {"name": ns, "labels": {RUN_LABEL: self.run}}}),
        )
        .unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&pp, &ns_obj)
            .await
            .map_err(|e| format!("creating namespace {ns}: {e}"))?;

        let (key, value) = plan.policy.field();
        let mut spec = json!({key: value});
        if plan.by_target_ref {
            spec["targetRef"] =
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"});
        } else {
            spec["selector"] = json!({"matchLabels": {"app": "app"}});
        }
        let pubs: Api<PodUnavailableBudget> = Api::namespaced(client.clone(), ns);
        pubs.create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": "budget"}, "spec": spec})).unwrap(),
        )
        .await
        .map_err(|e| format!("creating the budget: {e}"))?;
        let deployment = json!({"metadata": {"name": "app"},
            "spec": {"replicas": n, "selector": {"matchLabels": {"app": "app"}},
                "template": {"metadata": {"labels": {"app": "app"}},
                    "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]}}}});
        Api::<Deployment>::namespaced(client.clone(), ns)
            .create(&pp, &serde_json::from_value(deployment).unwrap())
            .await
            .map_err(|e| format!("creating the Deployment: {e}"))?;

        // Every pod Ready and the budget's status caught up with them and with its spec.
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        let setup = Instant::now();
        let (originals, start) = loop {
            steady_testkit::mark_all_ready(client, ns).await;
            let list = pods
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?
                .items;
            let b = pubs.get("budget").await.map_err(|e| e.to_string())?;
            let st = b.status.clone().unwrap_or_default();
            let ready = list.iter().filter(|p| pod_available(p)).count();
            if list.len() == n as usize
                && ready == n as usize
                && Some(st.observed_generation) == b.metadata.generation
                && st.current_available == n
                && st.total_replicas == n
            {
                break (list, st);
            }
            if setup.elapsed() > SETUP_LIMIT {
                return Err(format!(
                    "setup: {} pods, {ready} Ready, budget status {st:?} (generation {:?}) after {SETUP_LIMIT:?}",
                    list.len(),
                    b.metadata.generation
                ));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        let mut originals: Vec<(String, String, String)> = originals
            .iter()
            .map(|p| {
                (
                    p.metadata.name.clone().unwrap_or_default(),
                    p.metadata.uid.clone().unwrap_or_default(),
                    image_of(p),
                )
            })
            .collect();
        originals.sort();

        let mut violations: Vec<String> = Vec::new();
        let desired = plan.policy.desired(n);
        let computed_allowed = (n - desired).max(0);
        // (1, agreement) the status and an independent computation agree on the units.
        if start.unavailable_allowed != computed_allowed || start.desired_available != desired {
            violations.push(format!(
                "inv1-agree: status says desiredAvailable {} unavailableAllowed {}, computed here desired {desired} allowed {computed_allowed}",
                start.desired_available, start.unavailable_allowed
            ));
        }

        let history = History::start(pubs.clone());
        // The burst: every request at once (each after its small delay), and maybe a kill.
        let burst = Instant::now();
        let kill_task = plan.kill.map(|k| {
            let guards: &Guards = self.guards;
            async move {
                tokio::time::sleep(k.after).await;
                guards.kill_and_restart(k.replica, k.down).await
            }
        });
        let requests = plan.requests.iter().enumerate().map(|(j, req)| {
            let pods = pods.clone();
            let pod = originals[req.pod].0.clone();
            let req = *req;
            let tag = format!("t{}-r{j}", plan.index);
            async move {
                let handle = tokio::spawn(async move {
                    tokio::time::sleep(req.delay).await;
                    let outcome = send(pods, req, pod.clone(), tag).await;
                    Done {
                        req,
                        pod,
                        outcome,
                        at: burst.elapsed(),
                    }
                });
                handle.await.expect("a request task does not panic")
            }
        });
        let (done, killed) = match kill_task {
            Some(k) => {
                let (d, r) = futures::join!(futures::future::join_all(requests), k);
                (d, Some(r))
            }
            None => (futures::future::join_all(requests).await, None),
        };
        let requests_end = Instant::now();

        // Right after the burst: the pods and the status as they stand.
        let after = pods
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?
            .items;
        let st = pubs
            .get("budget")
            .await
            .map_err(|e| e.to_string())?
            .status
            .unwrap_or_default();
        let read_at = burst.elapsed();
        let live: BTreeMap<String, &Pod> = after
            .iter()
            .filter_map(|p| Some((p.metadata.name.clone()?, p)))
            .collect();
        let original_live = |name: &str, uid: &str| -> Option<&Pod> {
            live.get(name)
                .copied()
                .filter(|p| p.metadata.uid.as_deref() == Some(uid))
        };

        let mut totals = Totals {
            trials: 1,
            requests: done.len(),
            ..Totals::default()
        };
        // Error message → how many requests got it.
        let mut errors: BTreeMap<&str, usize> = BTreeMap::new();
        for d in &done {
            match &d.outcome {
                Outcome::Allowed => totals.allowed += 1,
                Outcome::Refused => totals.refused += 1,
                Outcome::Gone => totals.gone += 1,
                Outcome::Error(e) => {
                    totals.errors += 1;
                    *errors.entry(e.as_str()).or_default() += 1;
                }
            }
        }
        let allowed: Vec<&Done> = done
            .iter()
            .filter(|d| matches!(d.outcome, Outcome::Allowed))
            .collect();

        // (1) allowed disruptions ≤ the units at the start. Units come back during a trial only
        // when an update's entry expires (the pod is still Ready), no sooner than the expiry
        // after the burst began: if the last allowed request came later, this is left undecided.
        let last_allowed = allowed.iter().map(|d| d.at).max().unwrap_or_default();
        let undecided = last_allowed + Duration::from_millis(500) >= EXPIRY;
        // A pod is disrupted once: a repeat on a pod already deleted, evicted or updated makes no
        // further pod unavailable (a second delete of a pod on its way out is a retry, and two
        // can both succeed at the API server; a second update of a pod already held is charged
        // again by the webhook, and the controller's recompute, which counts a held pod once,
        // gives that back). So what is bounded is the pods, not the requests.
        let allowed_pods: BTreeSet<&str> = allowed.iter().map(|d| d.pod.as_str()).collect();
        totals.disrupted = allowed_pods.len();
        let mut disrupted = BTreeSet::new();
        for (name, uid, image) in &originals {
            match original_live(name, uid) {
                None => {
                    disrupted.insert(name.clone());
                }
                Some(p) if image_of(p) != *image => {
                    disrupted.insert(name.clone());
                }
                Some(_) => {}
            }
        }
        if undecided {
            totals.undecided += 1;
        } else {
            if allowed_pods.len() as i32 > start.unavailable_allowed {
                violations.push(format!(
                    "inv1: {} pods disrupted by allowed requests, the budget allowed {} at the start: {:?}",
                    allowed_pods.len(),
                    start.unavailable_allowed,
                    allowed
                        .iter()
                        .map(|d| format!("{:?} {} at {:?}", d.req.op, d.pod, d.at))
                        .collect::<Vec<_>>()
                ));
            }
            if disrupted.len() as i32 > start.unavailable_allowed {
                violations.push(format!(
                    "inv1-pods: {} of the trial's pods are gone or run another image, the budget allowed {} at the start: {disrupted:?}",
                    disrupted.len(),
                    start.unavailable_allowed
                ));
            }
        }
        // Disruptions with no allowed request behind them (a request whose answer was lost).
        let unaccounted: Vec<&String> = disrupted
            .iter()
            .filter(|name| !allowed.iter().any(|d| &d.pod == *name))
            .collect();

        // (2) every allowed request's pod is accounted for. An updated pod is normally held in
        // unavailablePods; it may instead be held in disruptedPods, when a deletion or eviction
        // of it took a unit first and then failed (its replica was killed before the API server
        // had the answer): the guard then lets the update through as a retry of a disruption
        // already counted (DESIGN.md, decision step 3). Either map keeps it from counting as
        // available; the unit lost with the failed deletion is invariant 3's business. That a
        // deletion or eviction of the pod did fail is checked, from the answers seen here.
        let mut held_by_removal = BTreeSet::new();
        for d in &allowed {
            let (_, uid, _) = originals
                .iter()
                .find(|(name, _, _)| *name == d.pod)
                .expect("requests name the trial's pods");
            let still = original_live(&d.pod, uid).is_some();
            if d.req.op.removes_pod() {
                if still {
                    violations.push(format!(
                        "inv2: {:?} of {} allowed at {:?} but the pod is still there (disruptedPods has it: {})",
                        d.req.op,
                        d.pod,
                        d.at,
                        st.disrupted_pods.contains_key(&d.pod)
                    ));
                }
            } else if still && !st.unavailable_pods.contains_key(&d.pod) {
                let removal_failed = done.iter().any(|x| {
                    x.pod == d.pod
                        && x.req.op.removes_pod()
                        && matches!(x.outcome, Outcome::Error(_))
                });
                if st.disrupted_pods.contains_key(&d.pod) && removal_failed {
                    held_by_removal.insert(d.pod.as_str());
                } else if st.disrupted_pods.contains_key(&d.pod) {
                    violations.push(format!(
                        "inv2: update of {} allowed at {:?} is held only in disruptedPods, yet no deletion or eviction of it failed: {:?}",
                        d.pod, d.at, st.disrupted_pods
                    ));
                } else if read_at < d.at + EXPIRY {
                    violations.push(format!(
                        "inv2: update of {} allowed at {:?}, the pod is still there, but neither map holds it (read at {read_at:?}): unavailablePods {:?} disruptedPods {:?} unavailableAllowed {}",
                        d.pod, d.at, st.unavailable_pods, st.disrupted_pods, st.unavailable_allowed
                    ));
                }
            }
        }

        // (3) no unit stays lost: the status comes back to what the live pods allow.
        let kill_result = match killed {
            Some(Ok(i)) => format!(" kill=replica-{i}"),
            Some(Err(e)) => format!(" kill-failed=({e})"),
            None => String::new(),
        };
        let mut last_seen = String::new();
        let converged = loop {
            let list = pods
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?
                .items;
            let b = pubs.get("budget").await.map_err(|e| e.to_string())?;
            let st = b.status.unwrap_or_default();
            let available = list.iter().filter(|p| pod_available(p)).count() as i32;
            let expected = (available - desired).max(0);
            if st.unavailable_allowed == expected {
                break true;
            }
            last_seen = format!(
                "live available {available}, desired {desired}, so {expected} allowed; status: currentAvailable {} desiredAvailable {} unavailableAllowed {} disruptedPods {:?} unavailablePods {:?}",
                st.current_available,
                st.desired_available,
                st.unavailable_allowed,
                st.disrupted_pods,
                st.unavailable_pods
            );
            let mut deadline = requests_end + EXPIRY;
            if let Some(k) = self.guards.last_kill() {
                deadline = deadline.max(k + LEASE_TAKEOVER);
            }
            if Instant::now() > deadline + RESYNC + SLACK {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        if !converged {
            violations.push(format!(
                "inv3: unavailableAllowed did not come back within expiry + resync + slack after the burst ({:.1?} after it): {last_seen}",
                requests_end.elapsed()
            ));
        }

        let ops = |op: Op| plan.requests.iter().filter(|r| r.op == op).count();
        println!(
            "torture: trial {} n={n} {} by {} start-allowed={} requests={} (evict {} delete {} update {}) allowed={} (pods {}) refused={} gone={} errors={}{kill_result}{}{}{} burst {:.1?} trial {:.1?}{}",
            plan.index,
            plan.policy.describe(),
            if plan.by_target_ref {
                "targetRef"
            } else {
                "selector"
            },
            start.unavailable_allowed,
            done.len(),
            ops(Op::Evict),
            ops(Op::Delete),
            ops(Op::Update),
            totals.allowed,
            totals.disrupted,
            totals.refused,
            totals.gone,
            totals.errors,
            if undecided { " inv1-undecided" } else { "" },
            if unaccounted.is_empty() {
                String::new()
            } else {
                format!(" unaccounted={unaccounted:?}")
            },
            if held_by_removal.is_empty() {
                String::new()
            } else {
                format!(" updated-while-removal-pending={held_by_removal:?}")
            },
            requests_end - burst,
            burst.elapsed(),
            if violations.is_empty() {
                " ok"
            } else {
                " VIOLATED"
            },
        );
        if !errors.is_empty() {
            println!(
                "torture: trial {} errors: {}",
                plan.index,
                errors
                    .iter()
                    .map(|(e, n)| format!("{n}× {e}"))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
        }
        if !violations.is_empty() {
            // Everything that tells a guard bug from a harness mistake.
            let mut lines = vec![format!(
                "allowed requests: {:?}",
                allowed
                    .iter()
                    .map(|d| format!("{:?} {} at {:?}", d.req.op, d.pod, d.at))
                    .collect::<Vec<_>>()
            )];
            lines.push(format!(
                "kill: {:?}, last kill {:?} before the burst ended",
                plan.kill,
                self.guards
                    .last_kill()
                    .map(|k| requests_end.saturating_duration_since(k))
            ));
            lines.extend(
                history
                    .lines(burst)
                    .into_iter()
                    .map(|l| format!("budget seen at {l}")),
            );
            lines.extend(
                event_lines(client, ns)
                    .await
                    .into_iter()
                    .map(|l| format!("event {l}")),
            );
            for l in lines {
                println!(
                    "torture: trial {} detail (seed {}): {l}",
                    plan.index, self.seed
                );
            }
        }
        for v in &violations {
            println!(
                "torture: VIOLATION seed={} trial={} ({} n={n} {}): {v}",
                self.seed,
                plan.index,
                ns,
                plan.policy.describe()
            );
        }
        totals.violations = violations.len();
        Ok(totals)
    }
}

// ---------------------------------------------------------------------------------------------

/// The webhook configuration `steady install` renders for this run (opt-in namespaces labelled
/// `steady-torture: <run>`), pointed at `front`.
fn webhook(
    run: &str,
    system: &str,
    front: SocketAddr,
    ca_pem: &[u8],
) -> ValidatingWebhookConfiguration {
    use steady_ctl::manifests::{InstallOptions, NamespaceSelection, render};
    let opts = InstallOptions {
        namespace: system.to_owned(),
        name: run.to_owned(),
        namespace_selection: NamespaceSelection::OptIn {
            key: RUN_LABEL.to_owned(),
            value: run.to_owned(),
        },
        ..InstallOptions::default()
    };
    let rendered = render(&opts).expect("the install renders");
    let whc = rendered
        .find("ValidatingWebhookConfiguration", run)
        .expect("the install renders a ValidatingWebhookConfiguration")
        .object
        .clone();
    steady_testkit::url_webhook(whc, RUN_LABEL, run, front, ca_pem)
}

async fn delete_run_namespaces(client: &Client, run: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let lp = ListParams::default().labels(&format!("{RUN_LABEL}={run}"));
    if let Ok(list) = api.list(&lp).await {
        for ns in list {
            if let Some(name) = ns.metadata.name {
                let _ = api.delete(&name, &DeleteParams::default()).await;
            }
        }
    }
}

fn write_cert(dir: &Path) -> Vec<u8> {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("a self-signed certificate");
    std::fs::write(dir.join("tls.key"), cert.signing_key.serialize_pem()).unwrap();
    std::fs::write(dir.join("tls.crt"), cert.cert.pem()).unwrap();
    cert.cert.pem().into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs STEADY_E2E_KUBECONFIG"]
async fn torture_budget_guard() {
    let path = kubeconfig("torture e2e");
    let cfg = Config::from_env();
    let client = client(&path).await;
    let mut namespaces = Namespaces::new(client.clone(), "steady-torture", RUN_LABEL);
    let run = namespaces.id.clone();
    let dir = std::env::temp_dir().join(&run);
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "torture: seed {} (STEADY_TORTURE_SEED={} reproduces the trials' choices), {} trials, {} at once, run {run}, guard logs in {}",
        cfg.seed,
        cfg.seed,
        cfg.trials,
        cfg.parallel,
        dir.display()
    );

    steady_testkit::apply_crd(&client, "steady-torture").await;
    let system = namespaces.create("system").await;
    let ca = write_cert(&dir);
    let guards = Guards::start(
        PathBuf::from(env!("CARGO_BIN_EXE_steady")),
        dir.clone(),
        path.clone(),
        system.clone(),
    )
    .await;
    let front = steady_testkit::round_robin_proxy(guards.backends().await).await;
    let whcs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    whcs.create(&PostParams::default(), &webhook(&run, &system, front, &ca))
        .await
        .expect("registering the run's webhook configuration");

    let started = Instant::now();
    let r = Run {
        client: client.clone(),
        run: run.clone(),
        seed: cfg.seed,
        guards: &guards,
    };
    let indices: Vec<usize> = match cfg.only {
        Some(i) => vec![i],
        None => (0..cfg.trials).collect(),
    };
    let result = AssertUnwindSafe(async {
        let mut totals = Totals::default();
        let mut results = futures::stream::iter(indices)
            .map(|i| r.trial(plan(cfg.seed, i)))
            .buffer_unordered(cfg.parallel);
        while let Some(t) = results.next().await {
            totals.add(&t);
        }
        totals
    })
    .catch_unwind()
    .await;
    let took = started.elapsed();

    // Cleanup, after a failure too: the webhook first, so nothing is held up by it.
    let _ = whcs.delete(&run, &DeleteParams::default()).await;
    guards.stop().await;
    delete_run_namespaces(&client, &run).await;
    namespaces.delete_all().await;

    let totals = match result {
        Ok(t) => t,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    let kills = guards.kills.load(Ordering::SeqCst);
    let exits = guards.unexpected_exits.load(Ordering::SeqCst);
    println!(
        "torture summary: seed {} trials {} kills {} requests {} allowed {} (pods disrupted {}) refused {} gone {} errors {} violations {} aborted {} inv1-undecided {} unexpected-exits {} duration {:.0?}",
        cfg.seed,
        totals.trials,
        kills,
        totals.requests,
        totals.allowed,
        totals.disrupted,
        totals.refused,
        totals.gone,
        totals.errors,
        totals.violations,
        totals.aborted,
        totals.undecided,
        exits,
        took,
    );
    assert_eq!(
        totals.violations,
        0,
        "invariant violations (seed {}): see the VIOLATION lines; guard logs kept in {}",
        cfg.seed,
        dir.display()
    );
    assert_eq!(
        totals.aborted, 0,
        "trials could not run (seed {}): see the ABORTED lines",
        cfg.seed
    );
    assert_eq!(
        exits,
        0,
        "guard replicas exited by themselves; logs in {}",
        dir.display()
    );
    assert!(
        totals.allowed > 0 && totals.refused > 0,
        "the trials never both allowed and refused: they tested nothing"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
