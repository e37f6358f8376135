//! The scheduler model: filters nodes (capacity, cordon, failure, required pod anti-affinity,
//! `DoNotSchedule` topology spread) and scores the rest (preferred anti-affinity, `ScheduleAnyway`
//! spread, fewest pods), lowest node index breaking ties so runs are reproducible. A pod no node
//! fits stays Pending, as in Kubernetes, and is tried again whenever something frees up.
//! Anti-affinity is among a workload's own pods (the usual `labelSelector` on the app's labels).

use std::collections::HashMap;

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

    fn bind(&mut self, p: usize, n: usize) {
        self.pending.remove(&p);
        self.m.nodes[n].pods.push(p);
        let pod = &mut self.pods[p];
        pod.node = Some(n);
        pod.facts.phase = PodPhase::Running;
        let w = pod.workload;
        let delay = self.readiness_delay(w);
        self.push(self.now + delay, Ev::PodReady(p));
        self.touch(w);
    }

    /// The node for pod `p`, if any fits.
    pub fn pick_node(&self, p: usize) -> Option<usize> {
        let w = &self.m.workloads[self.pods[p].workload];
        // The workload's pods per node: all of them for anti-affinity (a terminating pod still
        // occupies its domain), non-terminating ones for spreading (as the spread plugin counts).
        let mut all: HashMap<usize, u32> = HashMap::new();
        let mut live: HashMap<usize, u32> = HashMap::new();
        for &q in &w.pods {
            if let Some(n) = self.pods[q].node {
                *all.entry(n).or_default() += 1;
                if !self.pods[q].facts.terminating {
                    *live.entry(n).or_default() += 1;
                }
            }
        }
        // Pods per topology domain, per key, computed once per pod so each node costs a lookup.
        let per_domain = |counts: &HashMap<usize, u32>, key: &str| -> HashMap<String, u32> {
            let mut per: HashMap<String, u32> = HashMap::new();
            for (n, c) in counts {
                if let Some(v) = self.m.nodes[*n].labels.get(key) {
                    *per.entry(v.clone()).or_default() += c;
                }
            }
            per
        };
        let required: Vec<(&String, HashMap<String, u32>)> = w
            .anti_required
            .iter()
            .map(|k| (k, per_domain(&all, k)))
            .collect();
        let preferred: Vec<(&String, HashMap<String, u32>)> = w
            .anti_preferred
            .iter()
            .map(|k| (k, per_domain(&all, k)))
            .collect();
        let spread: Vec<HashMap<String, u32>> =
            w.spread.iter().map(|r| per_domain(&live, &r.key)).collect();
        // Minimum per domain for each spread rule, over every domain of its key.
        let spread_min: Vec<u32> = w
            .spread
            .iter()
            .zip(&spread)
            .map(|(r, per)| {
                self.domains
                    .get(&r.key)
                    .into_iter()
                    .flatten()
                    .map(|d| per.get(d).copied().unwrap_or(0))
                    .min()
                    .unwrap_or(0)
            })
            .collect();
        let mut best: Option<(u64, usize)> = None;
        'nodes: for (i, node) in self.m.nodes.iter().enumerate() {
            if node.cordoned || node.down || node.pods.len() as u32 >= node.capacity {
                continue;
            }
            let mut score: u64 = node.pods.len() as u64;
            for (key, per) in &required {
                if let Some(v) = node.labels.get(*key)
                    && per.get(v).is_some_and(|c| *c > 0)
                {
                    continue 'nodes;
                }
            }
            for (key, per) in &preferred {
                if let Some(v) = node.labels.get(*key) {
                    score += 10_000 * per.get(v).copied().unwrap_or(0) as u64;
                }
            }
            for ((r, min), per) in w.spread.iter().zip(&spread_min).zip(&spread) {
                let Some(v) = node.labels.get(&r.key) else {
                    if r.hard {
                        continue 'nodes;
                    }
                    continue;
                };
                let here = per.get(v).copied().unwrap_or(0);
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
