//! The decision engine with arbitrary budgets, statuses (including nonsense a hand-edited object
//! could carry), pods and owner chains: `decide` for every operation and `compute_status` for every
//! budget. Never a panic, and the answers keep their promises:
//! - a unit is taken only from a budget that has one, and taking it leaves a count ≥ 0;
//! - a refusal is a 429 that names the pod;
//! - a recomputed status allows nothing it cannot (≥ 0, at most current − desired) and is a fixed
//!   point (recomputing it again changes nothing);
//! - it holds no name the previous status did not (with the same time), and the entry of a pod absent
//!   from the view stays exactly while it is not expired and not `gone` (absence alone is no proof);
//! - `gone` only drops entries: the result with it is the result with `NONE_GONE` less some entries
//!   of `gone` names, with the same counts.
#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use jiff::{SignedDuration, Timestamp};
use libfuzzer_sys::fuzz_target;
use steady_budget::{
    BudgetId, BudgetSpec, BudgetStatus, BudgetView, Decision, IntOrPercent, NONE_GONE, Operation,
    OperationSet, OwnerInfo, OwnerLookup, OwnerRef, PodFacts, PodPhase, Policy, Request, Selector,
    StatusInput, Target, TargetRef, UnhealthyPodPolicy, compute_status, decide, resolve,
};

const NS: &str = "ns";

#[derive(Arbitrary, Debug)]
struct Input {
    pods: Vec<PodIn>,
    target: PodIn,
    budgets: Vec<BudgetIn>,
    owners: Vec<OwnerIn>,
    now: u32,
    expiry: u16,
    /// Bit `i` set: the name `p{i}` is gone for good (`gone` of `StatusInput`). Every name a pod or
    /// a status map can carry is one of `p0`…`p11`.
    gone: u16,
}

#[derive(Arbitrary, Debug)]
struct PodIn {
    name: u8,
    app: Option<u8>,
    /// Index of the ReplicaSet owning it.
    owner: Option<u8>,
    phase: u8,
    ready: bool,
    ready_changed: Option<u32>,
    terminating: bool,
    created: Option<u32>,
}

#[derive(Arbitrary, Debug)]
struct OwnerIn {
    /// `rs-N`, owned by `deploy-M` when set.
    rs: u8,
    deployment: Option<u8>,
    replicas: Option<i32>,
    min_ready: Option<i32>,
}

#[derive(Arbitrary, Debug)]
struct BudgetIn {
    /// Selector on `app`, or a targetRef to a Deployment.
    app: Result<u8, u8>,
    min: bool,
    percent: bool,
    value: i32,
    protect: u8,
    always_allow: bool,
    total: Option<i32>,
    ignore_app: Option<u8>,
    generation: i64,
    status: StatusIn,
}

#[derive(Arbitrary, Debug)]
struct StatusIn {
    observed_generation: i64,
    total: i32,
    desired: i32,
    current: i32,
    allowed: i32,
    disrupted: Vec<(u8, u32)>,
    unavailable: Vec<(u8, u32)>,
}

fn ts(s: u32) -> Timestamp {
    Timestamp::from_second(i64::from(s)).expect("u32 seconds are a valid time")
}

fn pod_name(n: u8) -> String {
    format!("p{}", n % 12)
}

fn rs(n: u8) -> OwnerRef {
    OwnerRef::new("apps/v1", "ReplicaSet", &format!("rs-{}", n % 4))
}

fn deployment(n: u8) -> OwnerRef {
    OwnerRef::new("apps/v1", "Deployment", &format!("deploy-{}", n % 3))
}

fn pod(p: &PodIn) -> PodFacts {
    PodFacts {
        namespace: NS.into(),
        name: pod_name(p.name),
        labels: p
            .app
            .map(|a| [("app".to_owned(), format!("a{}", a % 3))].into())
            .unwrap_or_default(),
        controller: p.owner.map(rs),
        phase: match p.phase % 5 {
            0 => PodPhase::Pending,
            1 => PodPhase::Succeeded,
            2 => PodPhase::Failed,
            3 => PodPhase::Unknown,
            _ => PodPhase::Running,
        },
        ready: p.ready,
        ready_changed: p.ready_changed.map(ts),
        terminating: p.terminating,
        created: p.created.map(ts),
    }
}

struct Owners(HashMap<(String, String), OwnerInfo>);

impl OwnerLookup for Owners {
    fn owner(&self, _: &str, o: &OwnerRef) -> Option<OwnerInfo> {
        self.0.get(&(o.kind.clone(), o.name.clone())).cloned()
    }
}

fn owners(input: &[OwnerIn]) -> Owners {
    let mut map = HashMap::new();
    for o in input {
        let rs = rs(o.rs);
        map.insert(
            (rs.kind.clone(), rs.name.clone()),
            OwnerInfo {
                controller: o.deployment.map(deployment),
                replicas: o.replicas,
                min_ready_seconds: o.min_ready,
            },
        );
        if let Some(d) = o.deployment {
            let d = deployment(d);
            map.entry((d.kind.clone(), d.name.clone()))
                .or_insert(OwnerInfo {
                    controller: None,
                    replicas: o.replicas,
                    min_ready_seconds: o.min_ready,
                });
        }
    }
    Owners(map)
}

/// The inverse of `pod_name`: `p{i}` → `i`.
fn name_index(name: &str) -> u32 {
    name[1..].parse().expect("a pod_name")
}

fn held(entries: &[(u8, u32)]) -> std::collections::BTreeMap<String, Timestamp> {
    entries
        .iter()
        .map(|(n, t)| (pod_name(*n), ts(*t)))
        .collect()
}

fn budget(b: &BudgetIn) -> (BudgetSpec, BudgetStatus) {
    let value = if b.percent {
        IntOrPercent::Percent((b.value.rem_euclid(101)) as u8)
    } else {
        IntOrPercent::Int(b.value.rem_euclid(50))
    };
    let spec = BudgetSpec {
        target: match b.app {
            Ok(a) => Target::Selector(Selector::from_labels([(
                "app",
                format!("a{}", a % 3).as_str(),
            )])),
            Err(d) => {
                let d = deployment(d);
                Target::Ref(TargetRef {
                    api_version: d.api_version,
                    kind: d.kind,
                    name: d.name,
                })
            }
        },
        policy: if b.min {
            Policy::MinAvailable(value)
        } else {
            Policy::MaxUnavailable(value)
        },
        protect: [
            Operation::Delete,
            Operation::Evict,
            Operation::Update,
            Operation::Resize,
        ]
        .into_iter()
        .enumerate()
        .filter(|(i, _)| b.protect & (1 << i) != 0)
        .map(|(_, op)| op)
        .collect::<OperationSet>(),
        unhealthy_pod_policy: if b.always_allow {
            UnhealthyPodPolicy::AlwaysAllow
        } else {
            UnhealthyPodPolicy::IfHealthyBudget
        },
        total_replicas: b.total,
        ignored_pod_selector: b
            .ignore_app
            .map(|a| Selector::from_labels([("app", format!("a{}", a % 3).as_str())])),
    };
    let s = &b.status;
    let status = BudgetStatus {
        observed_generation: s.observed_generation,
        total_replicas: s.total,
        desired_available: s.desired,
        current_available: s.current,
        unavailable_allowed: s.allowed,
        disrupted_pods: held(&s.disrupted),
        unavailable_pods: held(&s.unavailable),
        conditions: Vec::new(),
    };
    (spec, status)
}

fuzz_target!(|input: Input| {
    if input.pods.len() > 24 || input.budgets.len() > 4 || input.owners.len() > 8 {
        return;
    }
    let now = ts(input.now);
    let expiry = SignedDuration::from_secs(i64::from(input.expiry));
    let owners = owners(&input.owners);
    let pods: Vec<PodFacts> = input.pods.iter().map(pod).collect();
    let target = pod(&input.target);
    let ids: Vec<BudgetId> = (0..input.budgets.len())
        .map(|i| BudgetId::pub_(NS, &format!("b{i}")))
        .collect();
    let budgets: Vec<(BudgetSpec, BudgetStatus, i64)> = input
        .budgets
        .iter()
        .map(|b| {
            let (spec, status) = budget(b);
            (spec, status, b.generation)
        })
        .collect();
    let views: Vec<BudgetView<'_>> = budgets
        .iter()
        .zip(&ids)
        .map(|((spec, status, generation), id)| BudgetView {
            id,
            generation: *generation,
            spec,
            status,
        })
        .collect();
    let gone_bits = input.gone;
    let gone = move |name: &str| gone_bits & (1 << name_index(name)) != 0;
    let absent = |name: &str| !pods.iter().any(|p| p.name == name);
    let expired = |since: &Timestamp| now.duration_since(*since) > expiry;
    let resolution = resolve(&target, &owners);
    for op in Operation::ALL {
        let req = Request {
            pod: &target,
            operation: op,
            owners: &resolution,
            now,
        };
        match decide(&req, &views) {
            Decision::Take(takes) => {
                assert!(!takes.is_empty());
                for t in &takes {
                    let view = views
                        .iter()
                        .find(|v| *v.id == t.budget)
                        .expect("a known budget");
                    assert!(
                        view.status.unavailable_allowed > 0,
                        "a unit taken from nothing: {t:?}"
                    );
                    let next = t.apply(view.status);
                    assert_eq!(
                        next.unavailable_allowed,
                        view.status.unavailable_allowed - 1
                    );
                    assert!(next.holds(&target.name));
                }
            }
            Decision::Deny(d) => {
                assert_eq!(d.code, 429);
                assert!(d.message.contains(&target.name), "{}", d.message);
            }
            Decision::Allow(_) => {}
        }
    }
    for ((spec, status, generation), _) in budgets.iter().zip(&ids) {
        let si = StatusInput {
            spec,
            generation: *generation,
            previous: status,
            pods: &pods,
            owners: &owners,
            now,
            expiry,
            gone: &gone,
        };
        let out = compute_status(&si).status;
        assert!(
            out.unavailable_allowed >= 0 && out.desired_available >= 0,
            "{out:?}"
        );
        assert!(
            out.unavailable_allowed <= (out.current_available - out.desired_available).max(0),
            "{out:?}"
        );
        for (now_held, before) in [
            (&out.disrupted_pods, &status.disrupted_pods),
            (&out.unavailable_pods, &status.unavailable_pods),
        ] {
            for (name, since) in now_held {
                assert_eq!(
                    before.get(name),
                    Some(since),
                    "{name} held but not by the previous status: {out:?}"
                );
            }
            // A pod absent from the view is no proof of anything: its entry stays until the expiry
            // unless its name is gone for good.
            for (name, since) in before.iter().filter(|(name, _)| absent(name)) {
                assert_eq!(
                    now_held.contains_key(name),
                    !expired(since) && !gone(name),
                    "absent {name} since {since}, gone {}: {out:?}",
                    gone(name)
                );
            }
        }
        let again = compute_status(&StatusInput {
            previous: &out,
            ..si
        })
        .status;
        assert_eq!(again, out, "a recompute of a recomputed status changed it");
        // `gone` drops entries and nothing else: no count moves (an absent pod is not available).
        let none_gone = compute_status(&StatusInput {
            gone: NONE_GONE,
            ..si
        })
        .status;
        let mut expected = none_gone.clone();
        expected
            .disrupted_pods
            .retain(|name, _| out.disrupted_pods.contains_key(name));
        expected
            .unavailable_pods
            .retain(|name, _| out.unavailable_pods.contains_key(name));
        assert_eq!(
            expected, out,
            "gone changed more than entries: {none_gone:?}"
        );
        for name in none_gone
            .disrupted_pods
            .keys()
            .filter(|n| !out.disrupted_pods.contains_key(*n))
            .chain(
                none_gone
                    .unavailable_pods
                    .keys()
                    .filter(|n| !out.unavailable_pods.contains_key(*n)),
            )
        {
            assert!(gone(name), "{name} dropped but not gone: {out:?}");
        }
    }
});
