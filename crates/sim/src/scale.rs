//! Rollouts, scaling and HPA-like steps: each changes what a workload wants (a new pod template,
//! a replica count) and leaves the pods to its controller; the operation is over once the
//! workload has converged.

use crate::clock::{Clock, Ev};
use crate::world::World;

/// HPA step `step` of operation `op`: workload `w` wants `steps[step]` replicas, and the next
/// step follows `every` later. Returns how many steps are applied.
pub fn hpa_step(
    world: &mut World,
    clock: &mut Clock,
    op: usize,
    w: usize,
    steps: &[i32],
    step: usize,
    every: u64,
) -> usize {
    if step + 1 < steps.len() {
        clock.push(world.now() + every, Ev::HpaStep { op, step: step + 1 });
    }
    world.set_replicas(w, steps[step]);
    step + 1
}

/// Every pod of the current template, as many as wanted, all available, none terminating.
pub fn converged(world: &World, w: usize) -> bool {
    let wl = &world.model().workloads[w];
    let n = world.workload_pods(w) as i32;
    let converged = n == wl.replicas && world.tallies().revision(w, wl.revision).available == n;
    debug_assert_eq!(
        converged,
        n == wl.replicas
            && world.pending().in_runs(w) == 0
            && wl
                .pods
                .iter()
                .all(|&p| world.pods()[p].revision == wl.revision && world.available(p))
    );
    converged
}
