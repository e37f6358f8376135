//! The scheduler model: filters nodes (capacity, cordon, failure, required pod anti-affinity,
//! `DoNotSchedule` topology spread) and scores the rest (preferred anti-affinity, `ScheduleAnyway`
//! spread, fewest pods), lowest node index breaking ties so runs are reproducible. A pod no node
//! fits stays Pending, as in Kubernetes, and is tried again whenever something frees up.
//! Anti-affinity is among a workload's own pods (the usual `labelSelector` on the app's labels).

use steady_budget::PodPhase;

use crate::engine::{Ev, Sim};

impl Sim {
    pub fn schedule_pending(&mut self) {
        // A workload whose pod found no node finds none for its other pods in this pass: binding
        // other workloads' pods only fills nodes, and its own per-domain counts did not change.
        let mut failed = std::collections::BTreeSet::new();
        let mut next = 0;
        while let Some(&p) = self.pending.range(next..).next() {
            next = p + 1;
            if self.free_stale {
                self.rebuild_free();
            }
            if self.free.is_empty() {
                // Every node is full, cordoned or down: no pod of any workload fits.
                break;
            }
            let w = self.pods[p].workload;
            if failed.contains(&w) {
                continue;
            }
            match self.pick_node(p) {
                Some(n) => self.bind(p, n),
                None => {
                    failed.insert(w);
                }
            }
        }
    }

    /// The nodes that pass the filters every pod shares: not cordoned, not down, not full.
    fn rebuild_free(&mut self) {
        self.free = self
            .m
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.cordoned && !n.down && (n.pods.len() as u32) < n.capacity)
            .map(|(i, n)| (n.pods.len(), i))
            .collect();
        self.free_stale = false;
    }

    /// Cordons or uncordons node `n`; the one place that does, so `free` follows it.
    pub(crate) fn set_cordoned(&mut self, n: usize, cordoned: bool) {
        let before = self.m.nodes[n].pods.len();
        self.m.nodes[n].cordoned = cordoned;
        self.node_load_changed(n, before);
    }

    /// Marks node `n` down or recovered; the one place that does, so `free` follows it.
    pub(crate) fn set_down(&mut self, n: usize, down: bool) {
        let before = self.m.nodes[n].pods.len();
        self.m.nodes[n].down = down;
        self.node_load_changed(n, before);
    }

    /// Node `n` had `before` pods, or changed state: moves it in `free`.
    pub(crate) fn node_load_changed(&mut self, n: usize, before: usize) {
        if self.free_stale {
            return;
        }
        let node = &self.m.nodes[n];
        self.free.remove(&(before, n));
        if !node.cordoned && !node.down && (node.pods.len() as u32) < node.capacity {
            self.free.insert((node.pods.len(), n));
        }
    }

    pub(crate) fn bind(&mut self, p: usize, n: usize) {
        self.pending.remove(&p);
        let before = self.m.nodes[n].pods.len();
        self.m.nodes[n].pods.push(p);
        self.node_load_changed(n, before);
        let pod = &mut self.pods[p];
        pod.node = Some(n);
        pod.facts.phase = PodPhase::Running;
        let w = pod.workload;
        self.recount(p);
        let delay = self.readiness_delay(w);
        self.push(self.now + delay, Ev::PodReady(p));
        self.touch(w);
    }

    /// The node for pod `p`, if any fits.
    pub fn pick_node(&self, p: usize) -> Option<usize> {
        let w = &self.m.workloads[self.pods[p].workload];
        if !self.free_stale
            && w.anti_required.is_empty()
            && w.anti_preferred.is_empty()
            && w.spread.is_empty()
            && !w.constrained
        {
            // Unconstrained: the score is the node's pod count, ties to the lowest index.
            let pick = self.free.first().map(|&(_, n)| n);
            debug_assert_eq!(pick, self.pick_node_by_scan(p));
            return pick;
        }
        self.pick_node_by_scan(p)
    }

    /// `pick_node` over every node.
    fn pick_node_by_scan(&self, p: usize) -> Option<usize> {
        let w = &self.m.workloads[self.pods[p].workload];
        // The workload's pods per domain of a key: all of them for anti-affinity (a terminating
        // pod still occupies its domain), non-terminating ones for spreading (as the spread plugin
        // counts). Keys come from the workloads, so `domains` has every one of them.
        let per_domain = |key: &str, live_only: bool| -> (&[Option<usize>], Vec<u32>) {
            let Some(d) = self.domains.get(key) else {
                return (&[], Vec::new());
            };
            let mut per = vec![0u32; d.count];
            for &q in &w.pods {
                let pod = &self.pods[q];
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
        'nodes: for (i, node) in self.m.nodes.iter().enumerate() {
            if node.cordoned || node.down || node.pods.len() as u32 >= node.capacity {
                continue;
            }
            if !w.admits(node, self.pods[p].ordinal) {
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
}
