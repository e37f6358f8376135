//! The guard's invariant, driven by proptest: for any interleaving of disruption requests from
//! several webhook replicas (each deciding from its own, possibly stale, copy of the budget status),
//! controller recomputes from a possibly stale view of the pods, and the world catching up, the
//! pods made unavailable on purpose never exceed what the budget allows. As in the API server,
//! every status write is a compare-and-swap on a resourceVersion.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use proptest::prelude::*;
use steady_budget::{
    BudgetId, BudgetSpec, BudgetStatus, BudgetView, DEFAULT_EXPIRY, Decision, IntOrPercent,
    Operation, OperationSet, OwnerInfo, OwnerLookup, OwnerRef, PodFacts, PodPhase, Policy, Request,
    Selector, StatusInput, Target, UnhealthyPodPolicy, compute_status, decide, resolve,
};

#[derive(Debug, Clone)]
enum Action {
    /// A webhook replica decides a request for the pod at this index (modulo the pod count).
    Request {
        replica: usize,
        pod: usize,
        op: Operation,
    },
    /// A webhook replica's informer delivers the latest budget status.
    RefreshReplica { replica: usize },
    /// The controller's pod informer catches up with the world.
    ControllerSeesPods,
    /// The controller (leader) recomputes and writes the status.
    Recompute,
    /// The world moves one pod on: terminating → gone and replaced by a new unready pod; restart
    /// pending → unready; unready → Ready.
    Progress { pod: usize },
    /// Time passes (seconds), always staying inside the expiry over a whole run.
    Tick { secs: i64 },
}

fn action(replicas: usize) -> impl Strategy<Value = Action> {
    let op = prop_oneof![
        Just(Operation::Delete),
        Just(Operation::Evict),
        Just(Operation::Update),
        Just(Operation::Resize)
    ];
    prop_oneof![
        6 => (0..replicas, 0usize..64, op).prop_map(|(replica, pod, op)| Action::Request { replica, pod, op }),
        2 => (0..replicas).prop_map(|replica| Action::RefreshReplica { replica }),
        1 => Just(Action::ControllerSeesPods),
        2 => Just(Action::Recompute),
        3 => (0usize..64).prop_map(|pod| Action::Progress { pod }),
        1 => (0i64..2).prop_map(|secs| Action::Tick { secs }),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    let value = prop_oneof![
        (0i32..6).prop_map(IntOrPercent::Int),
        (0u8..=100).prop_map(IntOrPercent::Percent)
    ];
    prop_oneof![
        value.clone().prop_map(Policy::MinAvailable),
        value.prop_map(Policy::MaxUnavailable)
    ]
}

#[derive(Clone)]
struct ModelPod {
    facts: PodFacts,
    /// An admitted update or resize that has not restarted the container yet: the pod still
    /// serves, but it is about to stop, so the invariant counts it as made unavailable.
    restart_pending: bool,
}

struct Deployment {
    replicas: i32,
}

impl OwnerLookup for Deployment {
    fn owner(&self, _: &str, o: &OwnerRef) -> Option<OwnerInfo> {
        (o.kind == "Deployment").then_some(OwnerInfo {
            controller: None,
            replicas: Some(self.replicas),
            min_ready_seconds: Some(0),
        })
    }
}

struct Model {
    now: Timestamp,
    pods: Vec<ModelPod>,
    next_name: usize,
    store: (BudgetStatus, u64),
    replicas: Vec<(BudgetStatus, u64)>,
    controller_pods: Vec<PodFacts>,
    spec: BudgetSpec,
    id: BudgetId,
    owners: Deployment,
    reuse_names: bool,
    /// Names the controller's view saw go (a snapshot without a pod the previous one had), when
    /// names are never reused: the guard's tombstones of pods with generated names.
    gone: HashSet<String>,
}

const CAS_RETRIES: usize = 3;

impl Model {
    fn new(n: usize, replicas: usize, policy: Policy, reuse_names: bool) -> Self {
        let owner = OwnerRef::new("apps/v1", "Deployment", "web");
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let pods: Vec<ModelPod> = (0..n)
            .map(|i| ModelPod {
                facts: PodFacts {
                    namespace: "ns".into(),
                    name: format!("web-{i}"),
                    labels: [("app".to_owned(), "web".to_owned())].into(),
                    controller: Some(owner.clone()),
                    phase: PodPhase::Running,
                    ready: true,
                    ready_changed: Some(now),
                    terminating: false,
                    created: Some(now),
                },
                restart_pending: false,
            })
            .collect();
        let spec = BudgetSpec {
            target: Target::Selector(Selector::from_labels([("app", "web")])),
            policy,
            protect: OperationSet::ALL,
            unhealthy_pod_policy: UnhealthyPodPolicy::IfHealthyBudget,
            total_replicas: None,
            ignored_pod_selector: None,
        };
        let mut m = Self {
            now,
            controller_pods: pods.iter().map(|p| p.facts.clone()).collect(),
            pods,
            next_name: n,
            store: (BudgetStatus::default(), 1),
            replicas: Vec::new(),
            spec,
            id: BudgetId::pub_("ns", "web"),
            owners: Deployment { replicas: n as i32 },
            reuse_names,
            gone: HashSet::new(),
        };
        m.recompute();
        m.replicas = vec![m.store.clone(); replicas];
        m
    }

    fn recompute(&mut self) {
        let out = compute_status(&StatusInput {
            spec: &self.spec,
            generation: 1,
            previous: &self.store.0,
            pods: &self.controller_pods,
            owners: &self.owners,
            now: self.now,
            expiry: DEFAULT_EXPIRY,
            gone: &|name| self.gone.contains(name),
        });
        // The leader reads the latest status before writing, so its CAS succeeds here.
        self.store = (out.status, self.store.1 + 1);
    }

    /// The controller's pod informer catches up with the world; a pod it had and no longer sees
    /// was deleted, and with generated names (a ReplicaSet's) its name never comes back.
    fn controller_sees_pods(&mut self) {
        let next: Vec<PodFacts> = self.pods.iter().map(|p| p.facts.clone()).collect();
        if !self.reuse_names {
            for old in &self.controller_pods {
                if !next.iter().any(|p| p.name == old.name) {
                    self.gone.insert(old.name.clone());
                }
            }
        }
        self.controller_pods = next;
    }

    fn request(&mut self, replica: usize, pod: usize, op: Operation) {
        if self.pods.is_empty() {
            return;
        }
        let idx = pod % self.pods.len();
        let facts = self.pods[idx].facts.clone();
        let owners = resolve(&facts, &self.owners);
        for _ in 0..CAS_RETRIES {
            let (status, rv) = self.replicas[replica].clone();
            let view = BudgetView {
                id: &self.id,
                generation: 1,
                spec: &self.spec,
                status: &status,
            };
            let decision = decide(
                &Request {
                    pod: &facts,
                    operation: op,
                    owners: &owners,
                    now: self.now,
                },
                &[view],
            );
            match decision {
                Decision::Deny(_) => return,
                Decision::Allow(_) => return self.disrupt(idx, op),
                Decision::Take(takes) => {
                    if rv == self.store.1 {
                        let new = takes
                            .into_iter()
                            .next()
                            .expect("one budget, one take")
                            .apply(&status);
                        self.store = (new, rv + 1);
                        self.replicas[replica] = self.store.clone();
                        return self.disrupt(idx, op);
                    }
                    // 409 Conflict: re-read and decide again.
                    self.replicas[replica] = self.store.clone();
                }
            }
        }
    }

    fn disrupt(&mut self, idx: usize, op: Operation) {
        let p = &mut self.pods[idx];
        if op.removes_pod() {
            p.facts.terminating = true;
        } else if p.facts.ready && !p.facts.terminating {
            p.restart_pending = true;
        }
    }

    fn progress(&mut self, pod: usize) {
        if self.pods.is_empty() {
            return;
        }
        let idx = pod % self.pods.len();
        let now = self.now;
        let p = &mut self.pods[idx];
        if p.facts.terminating {
            let mut replacement = p.facts.clone();
            // A StatefulSet brings the pod back under the same name; a ReplicaSet under a new one.
            if !self.reuse_names {
                replacement.name = format!("web-{}", self.next_name);
            }
            replacement.created = Some(now);
            replacement.terminating = false;
            replacement.ready = false;
            replacement.ready_changed = Some(now);
            self.next_name += 1;
            self.pods[idx] = ModelPod {
                facts: replacement,
                restart_pending: false,
            };
        } else if p.restart_pending {
            p.restart_pending = false;
            p.facts.ready = false;
            p.facts.ready_changed = Some(now);
        } else if !p.facts.ready {
            p.facts.ready = true;
            p.facts.ready_changed = Some(now);
        }
    }

    fn really_available(&self) -> i32 {
        self.pods
            .iter()
            .filter(|p| !p.restart_pending && p.facts.is_available(0, self.now))
            .count() as i32
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn never_more_unavailable_than_the_budget_allows(
        n in 1usize..10,
        replicas in 1usize..4,
        policy in policy(),
        reuse_names in any::<bool>(),
        actions in prop::collection::vec(action(3), 1..100),
    ) {
        let mut m = Model::new(n, replicas, policy, reuse_names);
        let desired = policy.desired(n as i32);
        // What the world allows: all pods start available, so it may lose down to `desired`.
        let floor = desired.min(n as i32);
        for a in actions {
            match a {
                Action::Request { replica, pod, op } => m.request(replica % replicas, pod, op),
                Action::RefreshReplica { replica } => m.replicas[replica % replicas] = m.store.clone(),
                Action::ControllerSeesPods => m.controller_sees_pods(),
                Action::Recompute => m.recompute(),
                Action::Progress { pod } => m.progress(pod),
                Action::Tick { secs } => m.now = m.now.checked_add(jiff::SignedDuration::from_secs(secs)).unwrap(),
            }
            let available = m.really_available();
            prop_assert!(
                available >= floor,
                "{available} pods available, the budget ({policy}) of {n} pods needs {desired}"
            );
        }
    }
}

/// The same model with the budget's protection switched off shows the invariant is not vacuous:
/// some run drops below the budget.
#[test]
fn without_the_guard_the_model_does_drop_below_the_budget() {
    let mut m = Model::new(3, 1, Policy::MaxUnavailable(IntOrPercent::Int(1)), false);
    m.spec.protect = OperationSet::NONE;
    for pod in 0..3 {
        m.request(0, pod, Operation::Evict);
    }
    assert_eq!(m.really_available(), 0);
}

#[test]
fn units_are_given_to_exactly_the_allowed_number_across_replicas() {
    // Two units; eight replicas all decide from the same fresh status at once.
    let mut m = Model::new(6, 8, Policy::MaxUnavailable(IntOrPercent::Int(2)), false);
    let mut admitted: HashMap<usize, bool> = HashMap::new();
    for (replica, pod) in (0..8).zip(0..6) {
        let before = m.store.1;
        m.request(replica, pod, Operation::Delete);
        admitted.insert(pod, m.store.1 != before);
    }
    assert_eq!(admitted.values().filter(|a| **a).count(), 2);
    assert_eq!(m.really_available(), 4);
}

/// 1024 cases in CI (a few seconds); `PROPTEST_CASES=100000` for a deep run by hand.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}
