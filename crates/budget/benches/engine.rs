//! One admission decision, and one status recompute of a budget over 10,000 pods.
//! Run: `cargo bench -p steady-budget --bench engine`; figures in bench/budget/README.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::Timestamp;
use steady_budget::{
    BudgetId, BudgetSpec, BudgetStatus, BudgetView, DEFAULT_EXPIRY, IntOrPercent, Operation,
    OperationSet, OwnerInfo, OwnerLookup, OwnerRef, PodFacts, PodPhase, Policy, Request, Selector,
    StatusInput, Target, UnhealthyPodPolicy, compute_status, decide, resolve,
};

const PODS: usize = 10_000;
/// Ten Deployments of 1,000 pods each, one ReplicaSet each.
const WORKLOADS: usize = 10;

struct Owners;

impl OwnerLookup for Owners {
    fn owner(&self, _: &str, o: &OwnerRef) -> Option<OwnerInfo> {
        let replicas = Some((PODS / WORKLOADS) as i32);
        Some(match o.kind.as_str() {
            "ReplicaSet" => OwnerInfo {
                controller: Some(OwnerRef::new(
                    "apps/v1",
                    "Deployment",
                    o.name.trim_end_matches("-rs"),
                )),
                replicas,
                min_ready_seconds: Some(10),
            },
            _ => OwnerInfo {
                controller: None,
                replicas,
                min_ready_seconds: Some(10),
            },
        })
    }
}

fn pods(now: Timestamp) -> Vec<PodFacts> {
    (0..PODS)
        .map(|i| PodFacts {
            namespace: "shop".into(),
            name: format!("web-{i}"),
            labels: [
                ("app".to_owned(), "web".to_owned()),
                ("shard".to_owned(), (i % WORKLOADS).to_string()),
            ]
            .into(),
            controller: Some(OwnerRef::new(
                "apps/v1",
                "ReplicaSet",
                &format!("web{}-rs", i % WORKLOADS),
            )),
            phase: PodPhase::Running,
            ready: i % 50 != 0,
            ready_changed: Some(
                now.checked_sub(jiff::SignedDuration::from_secs(60))
                    .unwrap(),
            ),
            terminating: false,
            created: Some(
                now.checked_sub(jiff::SignedDuration::from_secs(600))
                    .unwrap(),
            ),
        })
        .collect()
}

fn engine(c: &mut Criterion) {
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let pods = pods(now);
    let spec = BudgetSpec {
        target: Target::Selector(Selector::from_labels([("app", "web")])),
        policy: Policy::MaxUnavailable(IntOrPercent::Percent(10)),
        protect: OperationSet::ALL,
        unhealthy_pod_policy: UnhealthyPodPolicy::IfHealthyBudget,
        total_replicas: None,
        ignored_pod_selector: None,
    };
    // A status with 100 pods in disruption, as in the middle of a drain.
    let previous = BudgetStatus {
        disrupted_pods: (0..100)
            .map(|i| (format!("web-{}", i * 7 + 1), now))
            .collect(),
        ..Default::default()
    };
    let input = StatusInput {
        spec: &spec,
        generation: 1,
        previous: &previous,
        pods: &pods,
        owners: &Owners,
        now,
        expiry: DEFAULT_EXPIRY,
        gone: steady_budget::NONE_GONE,
    };
    let status = compute_status(&input).status;
    assert!(
        status.unavailable_allowed > 0,
        "the benchmark should decide a Take: {status:?}"
    );

    c.bench_function("compute_status/10000 pods", |b| {
        b.iter(|| compute_status(black_box(&input)))
    });

    let id = BudgetId::pub_("shop", "web");
    let pod = &pods[5];
    let owners = resolve(pod, &Owners);
    let req = Request {
        pod,
        operation: Operation::Evict,
        owners: &owners,
        now,
    };
    // The status as the recompute leaves it in steady state: nobody in disruption.
    let calm = compute_status(&StatusInput {
        previous: &BudgetStatus::default(),
        ..input
    })
    .status;
    let blocked = BudgetStatus {
        unavailable_allowed: 0,
        ..calm.clone()
    };
    for (name, status) in [
        ("decide/take, none in disruption", &calm),
        ("decide/take, 100 pods in disruption", &status),
        ("decide/deny", &blocked),
    ] {
        let view = BudgetView {
            id: &id,
            generation: 1,
            spec: &spec,
            status,
        };
        c.bench_function(name, |b| {
            b.iter(|| decide(black_box(&req), black_box(&[view])))
        });
    }
}

criterion_group!(benches, engine);
criterion_main!(benches);
