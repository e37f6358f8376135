//! Each example scenario in examples/scenarios/ must show the outcome issue 6 promises.

use steady_sim::{RunReport, load, simulate};

fn scenario(file: &str) -> steady_sim::Scenario {
    let path = format!(
        "{}/../../examples/scenarios/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    load(&path, &text).unwrap()
}

fn run(file: &str, enforce: bool) -> RunReport {
    simulate(&scenario(file), 1, enforce).unwrap().1
}

fn min_available(r: &RunReport, w: &str) -> i32 {
    r.workloads
        .iter()
        .find(|x| x.name == w)
        .unwrap()
        .min_available
}

fn below(r: &RunReport, b: &str) -> f64 {
    r.budgets
        .iter()
        .find(|x| x.name == b)
        .unwrap()
        .below_seconds
}

#[test]
fn rollout_drain_never_below_two_with_budgets_and_zero_without() {
    let with = run("rollout-drain.yaml", true);
    let without = run("rollout-drain.yaml", false);
    assert_eq!(min_available(&without, "web"), 0);
    assert_eq!(min_available(&with, "web"), 2);
    assert!(min_available(&with, "api") >= 2);
    assert!(below(&without, "web") > 0.0 && below(&with, "web") == 0.0);
    assert!(
        with.operations.iter().all(|o| o.ok()),
        "{:?}",
        with.operations
    );
    assert!(with.passed(), "{}", with.verdict());
    assert!(!without.passed());
    // The drain met 429s from the PDB; the api rollout's deletes met the PUB (a PDB never
    // sees deletes, the PUB does).
    let drain = with
        .operations
        .iter()
        .find(|o| o.label.starts_with("drain"))
        .unwrap();
    assert!(
        drain
            .denials
            .iter()
            .any(|d| d.budget == "PodDisruptionBudget web" && d.code == 429)
    );
    let api = with
        .operations
        .iter()
        .find(|o| o.label == "rollout api")
        .unwrap();
    assert!(
        api.denials
            .iter()
            .any(|d| d.budget == "PodUnavailableBudget api")
    );
    let web = with
        .operations
        .iter()
        .find(|o| o.label == "rollout web")
        .unwrap();
    assert!(
        web.denials.is_empty(),
        "a PDB must not refuse a rollout's deletes"
    );
}

#[test]
fn raft_keeps_quorum_through_a_rolling_zone_drain() {
    let with = run("raft-zone-drain.yaml", true);
    let without = run("raft-zone-drain.yaml", false);
    assert!(
        min_available(&with, "raft") >= 3,
        "quorum lost: {:?}",
        with.workloads
    );
    assert_eq!(min_available(&with, "raft"), 4);
    assert!(min_available(&without, "raft") < 3);
    assert_eq!(with.operations.len(), 3);
    assert!(
        with.operations.iter().all(|o| o.ok()),
        "{:?}",
        with.operations
    );
    // Zones go one after the other.
    let starts: Vec<f64> = with
        .operations
        .iter()
        .map(|o| o.started_seconds.unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn single_instance_drain_is_blocked_and_names_the_budget() {
    let with = run("single-instance.yaml", true);
    let drain = &with.operations[0];
    assert_eq!(drain.outcome, "blocked");
    assert_ne!(drain.outcome, "completed");
    assert_eq!(drain.nodes_drained, Some((0, 1)));
    assert!(drain.denials[0].budget.contains("solo"));
    assert!(drain.denials[0].count > 100, "kubectl retries every 5 s");
    assert!(!with.passed());
    let v = with.verdict();
    assert!(
        v.starts_with("FAIL") && v.contains("PodDisruptionBudget solo"),
        "{v}"
    );
    assert_eq!(min_available(&with, "solo"), 1);
    // Without the budget the drain goes through and the app is down until its replacement is up.
    let without = run("single-instance.yaml", false);
    assert!(without.operations[0].ok());
    assert_eq!(min_available(&without, "solo"), 0);
}

#[test]
fn hpa_scale_in_during_a_drain_shares_the_budget() {
    let with = run("hpa-drain.yaml", true);
    let without = run("hpa-drain.yaml", false);
    assert!(
        with.operations.iter().all(|o| o.ok()),
        "{:?}",
        with.operations
    );
    assert_eq!(below(&with, "worker"), 0.0);
    assert!(below(&without, "worker") > 0.0);
    let w = &with.workloads[0];
    assert_eq!(w.final_available, 4, "scaled in to 4");
    assert!(with.passed(), "{}", with.verdict());
}

#[test]
fn runs_are_deterministic_per_seed() {
    let s = scenario("hpa-drain.yaml");
    let a = simulate(&s, 7, true).unwrap().1;
    let b = simulate(&s, 7, true).unwrap().1;
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    // Readiness is drawn from a distribution, so another seed gives another history.
    let c = simulate(&s, 8, true).unwrap().1;
    assert_ne!(a.workloads[0].series, c.workloads[0].series);
}

#[test]
fn default_scenario_is_the_rollout_drain_example() {
    let s = load("embedded", steady_sim::DEFAULT_SCENARIO).unwrap();
    assert_eq!(s.name, "rollout-drain");
}

#[test]
fn in_place_changes_are_guarded_by_a_pub_and_never_by_a_pdb() {
    let with = run("in-place.yaml", true);
    let without = run("in-place.yaml", false);
    // A PDB guards evictions only: the in-place update of all three web pods goes through.
    assert_eq!(min_available(&with, "web"), 0);
    assert!(below(&with, "web") > 0.0);
    // The PUB guards Update and Resize: api never goes below 2; without it, to 0.
    assert_eq!(min_available(&with, "api"), 2);
    assert_eq!(min_available(&without, "api"), 0);
    assert_eq!(below(&with, "api"), 0.0);
    let op = |r: &RunReport, label: &str| {
        r.operations
            .iter()
            .find(|o| o.label == label)
            .unwrap_or_else(|| panic!("{label} missing: {:?}", r.operations))
            .clone()
    };
    for label in ["in-place update api", "resize api memory"] {
        let o = op(&with, label);
        assert!(o.ok(), "{o:?}");
        assert!(
            o.denials
                .iter()
                .any(|d| d.budget == "PodUnavailableBudget api" && d.code == 429),
            "{o:?}"
        );
        // One pod at a time: three restarts of 20 s each.
        assert!(o.took_seconds.unwrap() >= 60.0, "{o:?}");
        assert!(op(&without, label).took_seconds.unwrap() < 30.0);
    }
    // resizePolicy NotRequired: no restart, no budget asked, done at once.
    let cpu = op(&with, "resize api cpu");
    assert!(
        cpu.ok() && cpu.denials.is_empty() && cpu.took_seconds == Some(0.0),
        "{cpu:?}"
    );
    assert!(op(&with, "in-place update web").denials.is_empty());
}

#[test]
fn in_place_steps_are_validated_and_can_be_blocked() {
    let path = format!(
        "{}/../../examples/scenarios/in-place.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let bad = text.replace("resource: memory", "resource: gpu");
    let err = load("x.yaml", &bad).unwrap_err().to_string();
    assert!(
        err.contains("resize.resource") && err.contains("gpu"),
        "{err}"
    );
    let bad = text.replace(
        "restartPolicy: RestartContainer",
        "restartPolicy: Sometimes",
    );
    let err = load("x.yaml", &bad).unwrap_err().to_string();
    assert!(err.contains("resize.restartPolicy"), "{err}");
    // maxUnavailable 0 on api: the update is refused for good and reported blocked.
    let frozen = text.replacen(
        "targetRef: {kind: Deployment, name: api}\n    maxUnavailable: 1",
        "targetRef: {kind: Deployment, name: api}\n    maxUnavailable: 0",
        1,
    );
    assert_ne!(frozen, text);
    let r = simulate(&load("x.yaml", &frozen).unwrap(), 1, true)
        .unwrap()
        .1;
    let o = r
        .operations
        .iter()
        .find(|o| o.label == "in-place update api")
        .unwrap();
    assert_eq!(o.outcome, "blocked", "{o:?}");
    assert!(r.verdict().contains("PodUnavailableBudget api"));
}
