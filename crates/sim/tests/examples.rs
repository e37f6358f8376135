//! Each example scenario in examples/scenarios/ must show the outcome the issue promises.

use steady_sim::{RunReport, load, simulate};

fn run(file: &str, enforce: bool) -> RunReport {
    let path = format!(
        "{}/../../examples/scenarios/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let s = load(&path, &text).unwrap();
    simulate(&s, 1, enforce).unwrap().1
}

fn min_available(r: &RunReport, w: &str) -> i32 {
    r.workloads
        .iter()
        .find(|x| x.name == w)
        .unwrap()
        .min_available
}

#[test]
fn rollout_drain() {
    let with = run("rollout-drain.yaml", true);
    let without = run("rollout-drain.yaml", false);
    println!(
        "{}",
        steady_sim::report::human("rollout-drain", "", 1, &with, Some(&without))
    );
    assert_eq!(min_available(&without, "web"), 0);
    assert!(min_available(&with, "web") >= 2);
    assert!(min_available(&with, "api") >= 2);
    assert!(
        with.operations.iter().all(|o| o.ok()),
        "{:?}",
        with.operations
    );
    assert!(with.passed());
}
