//! No input panics the engine: arbitrary pods, statuses (including nonsense a hand-edited object
//! could carry) and specs go through `decide` and `compute_status`.

use jiff::Timestamp;
use proptest::prelude::*;
use steady_budget::{
    BudgetId, BudgetSpec, BudgetStatus, BudgetView, DEFAULT_EXPIRY, IntOrPercent, NoOwners,
    Operation, OperationSet, OwnerRef, PodFacts, PodPhase, Policy, Request, Resolution, Selector,
    StatusInput, Target, UnhealthyPodPolicy, compute_status, decide,
};

fn pod() -> impl Strategy<Value = PodFacts> {
    (
        "[a-c]{1,2}",
        prop::option::of("[a-c]"),
        prop_oneof![
            Just(PodPhase::Running),
            Just(PodPhase::Pending),
            Just(PodPhase::Failed),
            Just(PodPhase::Unknown)
        ],
        any::<bool>(),
        prop::option::of(-10_000_000_000i64..10_000_000_000),
        any::<bool>(),
        prop::option::of("[a-c]{1,2}"),
    )
        .prop_map(
            |(name, app, phase, ready, changed, terminating, owner)| PodFacts {
                namespace: "ns".into(),
                name,
                labels: app
                    .map(|a| [("app".to_owned(), a)].into())
                    .unwrap_or_default(),
                controller: owner.map(|o| OwnerRef::new("apps/v1", "ReplicaSet", &o)),
                phase,
                ready,
                ready_changed: changed.and_then(|s| Timestamp::from_second(s).ok()),
                terminating,
                created: changed.and_then(|s| Timestamp::from_second(s - 5).ok()),
            },
        )
}

fn status() -> impl Strategy<Value = BudgetStatus> {
    (
        any::<i64>(),
        any::<i32>(),
        any::<i32>(),
        any::<i32>(),
        any::<i32>(),
        prop::collection::btree_map("[a-c]{1,2}", 0i64..2_000_000_000, 0..4),
    )
        .prop_map(|(g, t, d, c, a, held)| BudgetStatus {
            observed_generation: g,
            total_replicas: t,
            desired_available: d,
            current_available: c,
            unavailable_allowed: a,
            disrupted_pods: held
                .into_iter()
                .map(|(k, v)| (k, Timestamp::from_second(v).unwrap()))
                .collect(),
            ..Default::default()
        })
}

fn spec() -> impl Strategy<Value = BudgetSpec> {
    (
        any::<bool>(),
        0u8..=100,
        0i32..1000,
        prop::option::of(any::<i32>()),
        any::<bool>(),
    )
        .prop_map(|(min, p, n, total, pct)| {
            let v = if pct {
                IntOrPercent::Percent(p)
            } else {
                IntOrPercent::Int(n)
            };
            BudgetSpec {
                target: Target::Selector(Selector::from_labels([("app", "a")])),
                policy: if min {
                    Policy::MinAvailable(v)
                } else {
                    Policy::MaxUnavailable(v)
                },
                protect: OperationSet::ALL,
                unhealthy_pod_policy: UnhealthyPodPolicy::IfHealthyBudget,
                total_replicas: total,
                ignored_pod_selector: None,
            }
        })
}

proptest! {
    #[test]
    fn decide_and_recompute_never_panic(
        pods in prop::collection::vec(pod(), 0..8),
        target in pod(),
        status in status(),
        spec in spec(),
        generation in any::<i64>(),
        now in 0i64..4_000_000_000,
    ) {
        let now = Timestamp::from_second(now).unwrap();
        let id = BudgetId::pub_("ns", "b");
        let view = BudgetView { id: &id, generation, spec: &spec, status: &status };
        for op in Operation::ALL {
            let _ = decide(&Request { pod: &target, operation: op, owners: &Resolution::default(), now }, &[view]);
        }
        let out = compute_status(&StatusInput { spec: &spec, generation, previous: &status, pods: &pods, owners: &NoOwners, now, expiry: DEFAULT_EXPIRY, gone: steady_budget::NONE_GONE });
        prop_assert!(out.status.unavailable_allowed >= 0);
        prop_assert!(out.status.desired_available >= 0);
    }
}
