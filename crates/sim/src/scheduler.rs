//! The scheduler model: filters nodes (capacity, cordon, failure, and `Workload::admits`: node
//! selector, required node affinity, taints against tolerations, volumes pinned to a zone;
//! required pod anti-affinity, `DoNotSchedule` topology spread) and scores the rest (preferred anti-affinity,
//! `ScheduleAnyway` spread, fewest pods), lowest node index breaking ties so runs are
//! reproducible. A pod no node fits stays Pending, as in Kubernetes, and is tried again whenever
//! something frees up. Anti-affinity is among a workload's own pods (the usual `labelSelector`
//! on the app's labels).

use std::collections::BTreeSet;

use crate::clock::Clock;
use crate::model::{Node, Workload};
use crate::world::{Unbound, World, open};

/// Binds every pending pod some node fits, in the order they were created.
pub fn schedule_pending(world: &mut World, clock: &mut Clock) {
    // A workload whose pod found no node finds none for its other pods in this pass: binding
    // other workloads' pods only fills nodes, and its own per-domain counts did not change.
    let mut failed = BTreeSet::new();
    let mut next = 0;
    while let Some((key, unbound)) = world.pending().first_from(next) {
        if world.free().is_empty() {
            // Every node is full, cordoned or down: no pod of any workload fits.
            break;
        }
        // A run's pods are one workload's, with no ordinal: the first one stands for the rest.
        let (w, ordinal, pods) = match unbound {
            Unbound::Pod(p) => (world.pods()[p].workload, world.pods()[p].ordinal, 1),
            Unbound::Run(run) => (run.workload, None, u64::from(run.count)),
        };
        if failed.contains(&w) {
            next = key + pods;
            continue;
        }
        match pick_node(world, w, ordinal) {
            // The rest of a run, if any, waits at the next creation number.
            Some(n) => {
                world.bind_pending(clock, key, n);
                next = key + 1;
            }
            None => {
                failed.insert(w);
                next = key + pods;
            }
        }
    }
}

/// Whether node `node` passes the filters for pod `ordinal` of `w` that do not depend on where
/// the workload's other pods are (those are `pick_node_by_scan`'s).
pub fn eligible(w: &Workload, node: &Node, ordinal: Option<u32>) -> bool {
    open(node) && w.admits(node, ordinal)
}

/// Whether every open node is as good as another for a pod of `w` but for its pod count.
fn unconstrained(w: &Workload) -> bool {
    w.anti_required.is_empty()
        && w.anti_preferred.is_empty()
        && w.spread.is_empty()
        && !w.constrained
}

/// The node for a pod of workload `w` with `ordinal`, if any fits.
pub fn pick_node(world: &World, w: usize, ordinal: Option<u32>) -> Option<usize> {
    if let Some(free) = world.free_if_built()
        && unconstrained(&world.model().workloads[w])
    {
        // Unconstrained: the score is the node's pod count, ties to the lowest index.
        let pick = free.first().map(|&(_, n)| n);
        debug_assert_eq!(pick, pick_node_by_scan(world, w, ordinal));
        return pick;
    }
    pick_node_by_scan(world, w, ordinal)
}

/// `pick_node` over every node.
fn pick_node_by_scan(world: &World, w: usize, ordinal: Option<u32>) -> Option<usize> {
    let pods = world.pods();
    let w = &world.model().workloads[w];
    // The workload's pods per domain of a key: all of them for anti-affinity (a terminating
    // pod still occupies its domain), non-terminating ones for spreading (as the spread plugin
    // counts). Keys come from the workloads, so `domains` has every one of them.
    let per_domain = |key: &str, live_only: bool| -> (&[Option<usize>], Vec<u32>) {
        let Some(d) = world.domains().get(key) else {
            return (&[], Vec::new());
        };
        let mut per = vec![0u32; d.count];
        for &q in &w.pods {
            let pod = &pods[q];
            if live_only && pod.facts.terminating {
                continue;
            }
            if let Some(dom) = pod.node.and_then(|n| d.of_node[n]) {
                per[dom] += 1;
            }
        }
        (&d.of_node, per)
    };
    let required: Vec<_> = w
        .anti_required
        .iter()
        .map(|k| per_domain(k, false))
        .collect();
    let preferred: Vec<_> = w
        .anti_preferred
        .iter()
        .map(|k| per_domain(k, false))
        .collect();
    let spread: Vec<_> = w.spread.iter().map(|r| per_domain(&r.key, true)).collect();
    // Minimum per domain for each spread rule, over every domain of its key.
    let spread_min: Vec<u32> = spread
        .iter()
        .map(|(_, per)| per.iter().copied().min().unwrap_or(0))
        .collect();
    let domain = |of_node: &[Option<usize>], i: usize| of_node.get(i).copied().flatten();
    let mut best: Option<(u64, usize)> = None;
    'nodes: for (i, node) in world.model().nodes.iter().enumerate() {
        if !eligible(w, node, ordinal) {
            continue;
        }
        let mut score: u64 = node.pods.len() as u64;
        for (of_node, per) in &required {
            if domain(of_node, i).is_some_and(|d| per[d] > 0) {
                continue 'nodes;
            }
        }
        for (of_node, per) in &preferred {
            if let Some(d) = domain(of_node, i) {
                score += 10_000 * per[d] as u64;
            }
        }
        for ((r, min), (of_node, per)) in w.spread.iter().zip(&spread_min).zip(&spread) {
            let Some(d) = domain(of_node, i) else {
                if r.hard {
                    continue 'nodes;
                }
                continue;
            };
            let here = per[d];
            if r.hard {
                if here + 1 - min > r.max_skew {
                    continue 'nodes;
                }
            } else {
                score += 1000 * (here + 1 - min) as u64;
            }
        }
        if best.is_none_or(|(s, _)| score < s) {
            best = Some((score, i));
        }
    }
    best.map(|(_, i)| i)
}
