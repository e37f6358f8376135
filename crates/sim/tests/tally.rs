//! The counts the engine keeps as pods change (crates/sim/src/tally.rs) against a full recount:
//! in debug builds (as `cargo test` builds) every budget recompute, workload availability and
//! controller count is asserted equal to the scan over the pods, so a run that drifts panics.

use steady_sim::{load, simulate};

/// minReadySeconds with drawn readiness (pods turn available between events), a budget over two
/// workloads, a rollout, a scale, an in-place update, a StatefulSet, a node failure and a drain.
const MIXED: &str = "name: tally
horizon: 2h
cluster:
  generate: {count: 6, zones: 3, capacity: 20}
workloads:
  - {kind: Deployment, name: web, replicas: 8, minReadySeconds: 7, labels: {tier: front, app: web},
     readiness: {uniform: {min: 1s, max: 20s}}, termination: 3s}
  - {kind: Deployment, name: api, replicas: 6, labels: {tier: front, app: api},
     readiness: {normal: {mean: 8s, stddev: 4s}}}
  - {kind: StatefulSet, name: db, replicas: 3, minReadySeconds: 3, readiness: {fixed: 5s}}
budgets:
  - {kind: PodDisruptionBudget, name: front, selector: {tier: front}, maxUnavailable: 2}
  - {kind: PodUnavailableBudget, name: web, targetRef: {kind: Deployment, name: web}, minAvailable: 6}
  - {kind: PodUnavailableBudget, name: db, targetRef: {kind: StatefulSet, name: db}, maxUnavailable: 1}
timeline:
  - {at: 0s, rollout: {workload: web}}
  - {at: 5s, scale: {workload: api, replicas: 9}}
  - {at: 10s, update: {workload: api, parallel: 2}}
  - {at: 12s, rollout: {workload: db}}
  - {at: 20s, failNode: {node: node-2, recoverAfter: 1m}}
  - {at: 30s, drain: {nodes: [node-0, node-1], parallel: 2, uncordon: true}}
  - {at: 40s, scale: {workload: web, replicas: 4}}
";

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "the recount checks are debug assertions; run in a debug build"
)]
fn counts_agree_with_a_full_recount_after_every_event() {
    let s = load("tally.yaml", MIXED).unwrap_or_else(|e| panic!("{e}"));
    for seed in 1..=8 {
        for enforce in [true, false] {
            let (sim, report) = simulate(&s, seed, enforce).unwrap();
            assert!(
                sim.events() > 50,
                "seed {seed}: only {} events",
                sim.events()
            );
            let web = report.workloads.iter().find(|w| w.name == "web").unwrap();
            // Scaling web to 4 is refused below its budget's minAvailable 6 when enforced.
            let want = if enforce { 6 } else { 4 };
            assert_eq!(web.final_available, want, "seed {seed}, enforce {enforce}");
        }
    }
}
