use super::*;
use crate::intstr::IntOrPercent::Int;
use crate::owner::Resolution;
use crate::pod::tests::{ready_pod, ts};
use crate::selector::Selector;
use crate::spec::{OperationSet, Policy, Target, TargetRef};
use crate::{OwnerRef, PodPhase};

struct Fixture {
    id: BudgetId,
    generation: i64,
    spec: BudgetSpec,
    status: BudgetStatus,
}

impl Fixture {
    fn new(name: &str, allowed: i32) -> Self {
        Self {
            id: BudgetId::pub_("ns", name),
            generation: 1,
            spec: BudgetSpec {
                target: Target::Selector(Selector::from_labels([("app", "web")])),
                policy: Policy::MaxUnavailable(Int(1)),
                protect: OperationSet::ALL,
                unhealthy_pod_policy: UnhealthyPodPolicy::IfHealthyBudget,
                total_replicas: None,
                ignored_pod_selector: None,
            },
            status: BudgetStatus {
                observed_generation: 1,
                total_replicas: 3,
                desired_available: 2,
                current_available: 2 + allowed,
                unavailable_allowed: allowed,
                ..Default::default()
            },
        }
    }

    fn view(&self) -> BudgetView<'_> {
        BudgetView {
            id: &self.id,
            generation: self.generation,
            spec: &self.spec,
            status: &self.status,
        }
    }
}

fn run(pod: &PodFacts, op: Operation, budgets: &[&Fixture]) -> Decision {
    let owners = Resolution::default();
    let views: Vec<_> = budgets.iter().map(|f| f.view()).collect();
    decide(
        &Request {
            pod,
            operation: op,
            owners: &owners,
            now: ts(1000),
        },
        &views,
    )
}

fn web() -> PodFacts {
    ready_pod("web-0", &[("app", "web")], 0)
}

#[test]
fn takes_a_unit_when_one_is_left() {
    let b = Fixture::new("web", 1);
    let Decision::Take(takes) = run(&web(), Operation::Evict, &[&b]) else {
        panic!("expected a take")
    };
    assert_eq!(takes.len(), 1);
    assert_eq!(takes[0].budget, b.id);
    let written = takes[0].apply(&b.status);
    assert_eq!(written.unavailable_allowed, 0);
    assert_eq!(written.disrupted_pods.get("web-0"), Some(&ts(1000)));
}

#[test]
fn refuses_with_429_when_none_is_left() {
    let b = Fixture::new("web", 0);
    let Decision::Deny(d) = run(&web(), Operation::Delete, &[&b]) else {
        panic!("expected a denial")
    };
    assert_eq!(
        (d.code, d.reason, d.why),
        (429, "TooManyRequests", DenyReason::InsufficientPods)
    );
    // As Kubernetes' eviction API: no Retry-After, or client-go retries silently 10 times.
    assert_eq!(d.retry_after_seconds, 0);
    assert!(
        d.message.contains("retry once more pods are available"),
        "{}",
        d.message
    );
    for part in [
        "delete",
        "ns/web-0",
        "PodUnavailableBudget web",
        "needs 2",
        "has 2",
    ] {
        assert!(
            d.message.contains(part),
            "{part:?} missing from {:?}",
            d.message
        );
    }
    assert_eq!(
        d.cause,
        "The disruption budget web needs 2 healthy pods and has 2 currently"
    );
}

#[test]
fn refusal_mentions_disruptions_in_progress() {
    let mut b = Fixture::new("web", 0);
    b.status.current_available = 4;
    b.status.disrupted_pods.insert("web-7".into(), ts(990));
    b.status.disrupted_pods.insert("web-8".into(), ts(990));
    let Decision::Deny(d) = run(&web(), Operation::Evict, &[&b]) else {
        panic!("expected a denial")
    };
    assert!(
        d.message
            .contains("needs 2 available pod(s) and has 4 with 2 disruptions already in progress"),
        "{}",
        d.message
    );
}

#[test]
fn step_one_terminal_terminating_unprotected_ignored() {
    let b = Fixture::new("web", 0);
    let terminal = PodFacts {
        phase: PodPhase::Failed,
        ..web()
    };
    assert_eq!(
        run(&terminal, Operation::Delete, &[&b]),
        Decision::Allow(Allow::PodTerminal)
    );
    let terminating = PodFacts {
        terminating: true,
        ..web()
    };
    assert_eq!(
        run(&terminating, Operation::Delete, &[&b]),
        Decision::Allow(Allow::PodTerminating)
    );
    let mut evict_only = Fixture::new("web", 0);
    evict_only.spec.protect = [Operation::Evict].into_iter().collect();
    assert_eq!(
        run(&web(), Operation::Delete, &[&evict_only]),
        Decision::Allow(Allow::NotProtected)
    );
    assert!(matches!(
        run(&web(), Operation::Evict, &[&evict_only]),
        Decision::Deny(_)
    ));
    let mut ignoring = Fixture::new("web", 0);
    ignoring.spec.ignored_pod_selector = Some(Selector::from_labels([("app", "web")]));
    assert_eq!(
        run(&web(), Operation::Evict, &[&ignoring]),
        Decision::Allow(Allow::NotProtected)
    );
}

#[test]
fn step_two_no_budget_or_other_namespace() {
    let b = Fixture::new("web", 0);
    let api = ready_pod("api-0", &[("app", "api")], 0);
    assert_eq!(
        run(&api, Operation::Evict, &[&b]),
        Decision::Allow(Allow::NoBudget)
    );
    let elsewhere = PodFacts {
        namespace: "other".into(),
        ..web()
    };
    assert_eq!(
        run(&elsewhere, Operation::Evict, &[&b]),
        Decision::Allow(Allow::NoBudget)
    );
    assert_eq!(
        run(&web(), Operation::Evict, &[]),
        Decision::Allow(Allow::NoBudget)
    );
}

#[test]
fn target_ref_matches_through_the_owner_chain() {
    let mut b = Fixture::new("web", 0);
    b.spec.target = Target::Ref(TargetRef {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: "web".into(),
    });
    let pod = ready_pod("x", &[], 0);
    let owners = Resolution {
        chain: vec![
            OwnerRef::new("apps/v1", "ReplicaSet", "web-1"),
            OwnerRef::new("apps/v1", "Deployment", "web"),
        ],
        ..Default::default()
    };
    let d = decide(
        &Request {
            pod: &pod,
            operation: Operation::Evict,
            owners: &owners,
            now: ts(1),
        },
        &[b.view()],
    );
    assert!(matches!(d, Decision::Deny(_)));
    // Labels alone do not put a pod under a targetRef budget.
    assert_eq!(
        run(&web(), Operation::Evict, &[&b]),
        Decision::Allow(Allow::NoBudget)
    );
}

#[test]
fn step_three_a_retry_takes_no_second_unit() {
    let mut b = Fixture::new("web", 0);
    b.status.disrupted_pods.insert("web-0".into(), ts(990));
    assert_eq!(
        run(&web(), Operation::Evict, &[&b]),
        Decision::Allow(Allow::NoUnitNeeded)
    );
}

#[test]
fn step_three_exempts_only_pending_removals_of_this_very_pod() {
    // An in-place update recorded earlier is no pass for a deletion: the pod may be back.
    let mut updated = Fixture::new("web", 0);
    updated
        .status
        .unavailable_pods
        .insert("web-0".into(), ts(990));
    assert!(matches!(
        run(&web(), Operation::Delete, &[&updated]),
        Decision::Deny(_)
    ));
    assert!(matches!(
        run(&web(), Operation::Update, &[&updated]),
        Decision::Deny(_)
    ));
    // A new pod that reuses the name of one deleted earlier holds nothing.
    let mut deleted = Fixture::new("web", 0);
    deleted
        .status
        .disrupted_pods
        .insert("web-0".into(), ts(990));
    let successor = PodFacts {
        created: Some(ts(995)),
        ..web()
    };
    assert!(matches!(
        run(&successor, Operation::Delete, &[&deleted]),
        Decision::Deny(_)
    ));
    let same_second = PodFacts {
        created: Some(ts(990)),
        ..web()
    };
    assert!(matches!(
        run(&same_second, Operation::Delete, &[&deleted]),
        Decision::Deny(_)
    ));
}

#[test]
fn step_four_unavailable_pods() {
    let not_ready = PodFacts {
        ready: false,
        ..web()
    };
    // Budget met (current 2 ≥ desired 2): the unready pod may go without a unit.
    let met = Fixture::new("web", 0);
    assert_eq!(
        run(&not_ready, Operation::Delete, &[&met]),
        Decision::Allow(Allow::NoUnitNeeded)
    );
    // Budget not met: IfHealthyBudget falls through to the unit check; AlwaysAllow lets it go.
    let mut short = Fixture::new("web", 0);
    short.status.current_available = 1;
    assert!(matches!(
        run(&not_ready, Operation::Delete, &[&short]),
        Decision::Deny(_)
    ));
    short.spec.unhealthy_pod_policy = UnhealthyPodPolicy::AlwaysAllow;
    assert_eq!(
        run(&not_ready, Operation::Delete, &[&short]),
        Decision::Allow(Allow::NoUnitNeeded)
    );
}

#[test]
fn step_five_a_stale_status_refuses_even_with_units() {
    let mut b = Fixture::new("web", 3);
    b.generation = 2;
    let Decision::Deny(d) = run(&web(), Operation::Evict, &[&b]) else {
        panic!("expected a denial")
    };
    assert_eq!(d.why, DenyReason::StillProcessing);
    assert_eq!(d.retry_after_seconds, RETRY_AFTER_PROCESSING);
    assert_eq!(
        d.cause,
        "The disruption budget web is still being processed by the server."
    );
}

#[test]
fn every_covering_budget_must_agree() {
    let a = Fixture::new("a", 1);
    let b = Fixture::new("b", 0);
    let Decision::Deny(d) = run(&web(), Operation::Evict, &[&a, &b]) else {
        panic!("expected a denial")
    };
    assert_eq!(d.budget.name, "b");
    let c = Fixture::new("c", 2);
    let Decision::Take(takes) = run(&web(), Operation::Resize, &[&a, &c]) else {
        panic!("expected takes")
    };
    assert_eq!(
        takes
            .iter()
            .map(|t| t.budget.name.as_str())
            .collect::<Vec<_>>(),
        ["a", "c"]
    );
    assert!(
        takes
            .iter()
            .all(|t| t.operation == Operation::Resize && t.pod == "web-0")
    );
    assert!(
        takes[1]
            .apply(&c.status)
            .unavailable_pods
            .contains_key("web-0")
    );
}

#[test]
fn too_many_held_pods_refuse() {
    let mut b = Fixture::new("web", 5);
    for i in 0..MAX_HELD_PODS {
        b.status.disrupted_pods.insert(format!("old-{i}"), ts(1));
    }
    let Decision::Deny(d) = run(&web(), Operation::Evict, &[&b]) else {
        panic!("expected a denial")
    };
    assert_eq!(d.why, DenyReason::TooManyHeld);
    assert_eq!(d.code, 429);
}
