//! The scheduler model: filters nodes (capacity, cordon, failure, required pod anti-affinity,
//! `DoNotSchedule` topology spread) and scores the rest (preferred anti-affinity, `ScheduleAnyway`
//! spread, fewest pods), lowest node index breaking ties so runs are reproducible. A pod no node
//! fits stays Pending, as in Kubernetes, and is tried again whenever something frees up.
//! Anti-affinity is among a workload's own pods (the usual `labelSelector` on the app's labels).

use steady_budget::PodPhase;

use crate::engine::{Ev, Sim};

impl Sim {
    pub fn schedule_pending(&mut self) {
        let pending: Vec<usize> = self.pending.iter().copied().collect();
        for p in pending {
            if let Some(n) = self.pick_node(p) {
                self.bind(p, n);
            }
        }
    }

    pub(crate) fn bind(&mut self, p: usize, n: usize) {
        self.pending.remove(&p);
        self.m.nodes[n].pods.push(p);
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
            if !w
                .node_selector
                .iter()
                .all(|(k, v)| node.labels.get(k) == Some(v))
            {
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
