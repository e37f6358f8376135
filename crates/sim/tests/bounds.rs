//! The simulator bounds itself: counts and spans beyond what it models are refused with the field
//! (and, from a file, the line) instead of aborting on allocation or printing a report that
//! contradicts itself.

use steady_sim::from::{self, FromError, FromOptions};
use steady_sim::load;

/// A scenario with one workload, where `{w}` adds fields to the workload and `{t}` is the
/// timeline's first step.
fn scenario(workload: &str, step: &str) -> String {
    format!(
        "name: bounds\ncluster:\n  generate: {{count: 3, zones: 1}}\nworkloads:\n  - kind: Deployment\n    name: web\n{workload}\ntimeline:\n  - {step}\n"
    )
}

fn err(workload: &str, step: &str) -> String {
    match load("s.yaml", &scenario(workload, step)) {
        Ok(_) => panic!("accepted:\n{}", scenario(workload, step)),
        Err(e) => e.to_string(),
    }
}

const ROLL: &str = "at: 1s\n    rollout: {workload: web}";

#[test]
fn a_billion_replicas_is_refused_with_its_line() {
    let e = err("    replicas: 1000000000", ROLL);
    assert!(
        e.contains("replicas 1000000000 is more than the simulator models (at most 100000)"),
        "{e}"
    );
    // The value's own line and column (the workload's `- kind:` is line 5).
    assert!(
        e.contains("workloads[0].replicas") && e.contains("line 7 column 15"),
        "{e}"
    );
}

#[test]
fn huge_and_negative_durations_say_what_is_wrong() {
    let e = err("    replicas: 3", "at: 1e308\n    rollout: {workload: web}");
    assert!(e.contains("longer than 30 days"), "{e}");
    let e = err(
        "    replicas: 3\n    termination: '18446744073709551616s'",
        ROLL,
    );
    assert!(e.contains("longer than"), "{e}");
    let e = err("    replicas: 3\n    termination: -5s", ROLL);
    assert!(e.contains("\"-5s\" is negative"), "{e}");
    let e = err("    replicas: 3\n    termination: -5", ROLL);
    assert!(e.contains("negative"), "{e}");
    // Parts that each fit may not add up past the bound either.
    let e = err("    replicas: 3\n    termination: 719h 120m", ROLL);
    assert!(e.contains("longer than"), "{e}");
    // A unit given twice is no duration (jiff's friendly format wants units in descending order).
    let e = err("    replicas: 3\n    termination: 700h700h", ROLL);
    assert!(e.contains("\"700h700h\" is not a duration"), "{e}");
}

#[test]
fn surge_and_unavailable_both_zero_is_refused_as_kubernetes_does() {
    for (surge, unavailable) in [("0", "0"), ("'0%'", "0"), ("0", "'0%'")] {
        let e = err(
            &format!(
                "    replicas: 3\n    strategy: {{maxSurge: {surge}, maxUnavailable: {unavailable}}}"
            ),
            ROLL,
        );
        assert!(
            e.contains("strategy.maxUnavailable: may not be 0 when maxSurge is 0"),
            "{e}"
        );
    }
    // One of them non-zero is fine.
    load(
        "s.yaml",
        &scenario(
            "    replicas: 3\n    strategy: {maxSurge: 1, maxUnavailable: 0}",
            ROLL,
        ),
    )
    .unwrap();
}

#[test]
fn percentages_over_100_and_out_of_range_integers_are_named() {
    let e = err(
        "    replicas: 3\n    strategy: {maxUnavailable: '150%'}",
        ROLL,
    );
    assert!(e.contains("\"150%\" is over 100%"), "{e}");
    let e = err(
        "    replicas: 3\n    strategy: {maxSurge: 5000000000}",
        ROLL,
    );
    assert!(
        e.contains("5000000000 is more pods than the simulator models"),
        "{e}"
    );
    let e = err("    replicas: 3\n    strategy: {maxSurge: -1}", ROLL);
    assert!(e.contains("-1 must be ≥ 0"), "{e}");
}

#[test]
fn from_manifests_with_more_replicas_than_modelled_names_the_object() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("big.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: big, namespace: shop}\nspec:\n  \
         replicas: 2147483647\n  selector: {matchLabels: {app: big}}\n  template:\n    metadata: \
         {labels: {app: big}}\n    spec:\n      containers: [{name: app, image: app}]\n",
    )
    .unwrap();
    let Err(e) = from::build(&FromOptions {
        paths: vec![dir.path().to_path_buf()],
        nodes: 6,
        zones: 3,
        node_capacity: None,
        drain_nodes: 1,
        parallel: None,
        rollout: Vec::new(),
    }) else {
        panic!("2147483647 replicas accepted");
    };
    assert!(matches!(e, FromError::TooManyReplicas { .. }), "{e}");
    let e = e.to_string();
    assert!(
        e.contains("Deployment shop/big") && e.contains("2147483647 replicas is more than"),
        "{e}"
    );
}
