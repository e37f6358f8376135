//! Node drains, as `kubectl drain` does them: cordon, evict every pod of a node at once, retry
//! each refused eviction every 5 s, wait for the pods to be gone, then the next node(s).

use std::collections::BTreeMap;

use steady_budget::{Denial, Operation};

use crate::clock::{Clock, Ev};
use crate::denials::DRAIN_RETRY_MS;
use crate::world::World;

pub struct DrainOp {
    pub nodes: Vec<usize>,
    pub next: usize,
    pub active: Vec<usize>,
    pub parallel: usize,
    pub timeout: Option<u64>,
    pub uncordon: bool,
    pub downtime: u64,
    /// (node, started, finished) per drained node.
    pub drained: Vec<(usize, u64, u64)>,
    pub node_started: BTreeMap<usize, u64>,
}

impl DrainOp {
    /// Operation `i`, this drain, starts.
    pub fn start(&self, world: &mut World, clock: &mut Clock, i: usize) {
        let now = world.now();
        // Like `kubectl drain a b …`, all named nodes are cordoned first; a maintenance loop
        // that uncordons each node takes them one at a time instead.
        if !self.uncordon {
            for &n in &self.nodes {
                world.set_cordoned(n, true);
            }
        }
        if let Some(t) = self.timeout {
            clock.push(now + t, Ev::OpDeadline(i));
        }
        clock.push(now, Ev::DrainNext(i));
    }

    /// Takes the next nodes while fewer than `parallel` are draining. Returns the nodes taken,
    /// or None when every node is drained.
    pub fn next_nodes(&mut self, now: u64) -> Option<Vec<usize>> {
        let mut started = Vec::new();
        while self.active.len() < self.parallel && self.next < self.nodes.len() {
            let n = self.nodes[self.next];
            self.next += 1;
            self.active.push(n);
            self.node_started.insert(n, now);
            started.push(n);
        }
        if started.is_empty() && self.active.is_empty() {
            return None;
        }
        Some(started)
    }

    /// Node `n` was emptied: if this drain (operation `i`) waited on it, it moves on (and
    /// true is returned).
    pub fn node_emptied(&mut self, clock: &mut Clock, i: usize, n: usize, now: u64) -> bool {
        let Some(pos) = self.active.iter().position(|&x| x == n) else {
            return false;
        };
        self.active.remove(pos);
        let started = self.node_started.get(&n).copied().unwrap_or(now);
        self.drained.push((n, started, now));
        if self.uncordon {
            clock.push(now + self.downtime, Ev::Uncordon(n));
        }
        clock.push(now, Ev::DrainNext(i));
        true
    }
}

/// Drain operation `op` starts on node `n`: cordons it and asks to evict each of its pods.
pub fn start_node(world: &mut World, clock: &mut Clock, op: usize, n: usize) {
    world.set_cordoned(n, true);
    let now = world.now();
    for &p in &world.model().nodes[n].pods {
        clock.push(now, Ev::Evict { op, pod: p });
    }
}

/// Drain operation `op` evicts pod `p`; a refusal is retried in `DRAIN_RETRY_MS` and returned.
pub fn evict(world: &mut World, clock: &mut Clock, op: usize, p: usize) -> Result<(), Box<Denial>> {
    let pod = &world.pods()[p];
    if pod.gone || pod.facts.terminating {
        return Ok(());
    }
    world.disrupt(clock, p, Operation::Evict).inspect_err(|_| {
        clock.push_repeat(world.now(), DRAIN_RETRY_MS, Ev::Evict { op, pod: p });
    })
}
