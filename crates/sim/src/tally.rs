//! Counts kept as pods change, so that a budget's status and a workload's availability cost the
//! same whatever their pod count: recomputing them over every pod on every change made a run
//! quadratic in a workload's replicas (issue 16). The world reports each change of a pod with
//! `recount`; debug builds check every recompute against the full one (`World::refresh_budget`).
//! Reads the model and the pods, never the world: no module cycle.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use steady_budget::{OwnerRef, PodFacts, StatusTally, resolve_from};

use crate::model::{Model, Owners, Pod};

/// One revision's pods of a workload, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RevisionCount {
    pub pods: i32,
    pub active: i32,
    pub available: i32,
}

/// A pod's state at its last recount.
#[derive(Debug, Clone, Copy, Default)]
struct Counted {
    available: bool,
    /// Not terminating, not gone.
    active: bool,
    bound: bool,
    ready: bool,
}

/// Where a pod stands in its ReplicaSet's deletion order: unscheduled, then not Ready, then not
/// available, then newest first, as the ReplicaSet controller picks pods to delete.
type DeletionKey = (bool, bool, bool, Reverse<usize>);

impl Counted {
    fn deletion_key(self, p: usize) -> DeletionKey {
        (self.bound, self.ready, self.available, Reverse(p))
    }
}

#[derive(Default)]
pub struct Tallies {
    counted: Vec<Counted>,
    /// Per workload and revision: its pods, active ones (not terminating), available ones.
    revisions: Vec<BTreeMap<u32, RevisionCount>>,
    /// Per workload and revision, its active pods in deletion order: a scale-down takes the
    /// first ones instead of sorting the revision's pods each time.
    deletion: Vec<BTreeMap<u32, BTreeSet<DeletionKey>>>,
    /// Available pods per workload.
    pub workload_available: Vec<i32>,
    /// Available pods per budget (over the pods of its workloads).
    budget_available: Vec<i32>,
    /// Per workload, its pods' controllers by name, with how many pods each has.
    controllers: Vec<BTreeMap<String, (OwnerRef, u32)>>,
    /// Pods by name (a StatefulSet's name may be reused while its predecessor still exists).
    by_name: HashMap<String, Vec<usize>>,
    /// Ready pods waiting for `minReadySeconds`, by the time they turn available.
    maturing: BinaryHeap<Reverse<(u64, usize)>>,
}

impl Tallies {
    pub fn new(m: &Model) -> Self {
        Self {
            workload_available: vec![0; m.workloads.len()],
            budget_available: vec![0; m.budgets.len()],
            controllers: vec![BTreeMap::new(); m.workloads.len()],
            revisions: vec![BTreeMap::new(); m.workloads.len()],
            deletion: vec![BTreeMap::new(); m.workloads.len()],
            ..Self::default()
        }
    }

    /// `n` pods of workload `w`'s `revision`, controlled by `controller`, were created: counted
    /// whether they have records or not (see `world::pending`).
    pub fn joined(&mut self, w: usize, revision: u32, controller: &OwnerRef, n: i32) {
        let r = self.revisions[w].entry(revision).or_default();
        r.pods += n;
        r.active += n;
        self.controllers[w]
            .entry(controller.name.clone())
            .or_insert_with(|| (controller.clone(), 0))
            .1 += n as u32;
    }

    /// `n` pods without records left workload `w`'s `revision` (deleted while unbound).
    pub fn left(&mut self, w: usize, revision: u32, controller: &str, n: i32) {
        if let Some(r) = self.revisions[w].get_mut(&revision) {
            r.pods -= n;
            r.active -= n;
        }
        let map = &mut self.controllers[w];
        if let Some(e) = map.get_mut(controller) {
            e.1 -= n as u32;
            if e.1 == 0 {
                map.remove(controller);
            }
        }
    }

    /// Pod `p`, counted by `joined`, got its record: it is followed by id from now on.
    pub fn recorded(&mut self, pods: &[Pod], p: usize) {
        let pod = &pods[p];
        self.counted.resize(pods.len(), Counted::default());
        self.counted[p].active = true;
        self.deletion[pod.workload]
            .entry(pod.revision)
            .or_default()
            .insert(self.counted[p].deletion_key(p));
        self.by_name
            .entry(pod.facts.name.clone())
            .or_default()
            .push(p);
    }

    /// A pod left its workload's pods for good (after `recount` saw it gone).
    pub fn removed(&mut self, pods: &[Pod], p: usize) {
        let pod = &pods[p];
        if let Some(r) = self.revisions[pod.workload].get_mut(&pod.revision) {
            r.pods -= 1;
        }
        if let Some(c) = &pod.facts.controller {
            let map = &mut self.controllers[pod.workload];
            if let Some(e) = map.get_mut(&c.name) {
                e.1 -= 1;
                if e.1 == 0 {
                    map.remove(&c.name);
                }
            }
        }
        if let Some(v) = self.by_name.get_mut(&pod.facts.name) {
            v.retain(|&x| x != p);
            if v.is_empty() {
                self.by_name.remove(&pod.facts.name);
            }
        }
    }

    /// Pod `p` may have changed (readiness, termination, gone): moves its count. A Ready pod that
    /// must still wait `minReadySeconds` is remembered until then (see `mature`).
    pub fn recount(&mut self, m: &Model, pods: &[Pod], now: u64, p: usize) {
        let pod = &pods[p];
        let w = pod.workload;
        let min_ready = m.workloads[w].min_ready_seconds;
        let avail = available(m, pod, now);
        if !avail
            && min_ready > 0
            && !pod.gone
            && pod.facts.ready
            && !pod.facts.terminating
            && let Some(since) = pod.facts.ready_changed
        {
            let at = since.as_millisecond() - crate::model::ts(0).as_millisecond()
                + i64::from(min_ready) * 1000;
            if at > now as i64 {
                self.maturing.push(Reverse((at as u64, p)));
            }
        }
        let was = self.counted[p];
        let now_counted = Counted {
            available: avail,
            active: !pod.gone && !pod.facts.terminating,
            bound: pod.node.is_some(),
            ready: pod.facts.ready,
        };
        self.counted[p] = now_counted;
        let (was_avail, was_active, active) = (was.available, was.active, now_counted.active);
        let order = self.deletion[w].entry(pod.revision).or_default();
        if was_active {
            order.remove(&was.deletion_key(p));
        }
        if active {
            order.insert(now_counted.deletion_key(p));
        }
        let r = self.revisions[w].entry(pod.revision).or_default();
        if active != was_active {
            r.active += if active { 1 } else { -1 };
        }
        if avail == was_avail {
            return;
        }
        let d = if avail { 1 } else { -1 };
        r.available += d;
        self.workload_available[w] += d;
        for &b in &m.workloads[w].budgets {
            self.budget_available[b] += d;
        }
    }

    /// Workload `w`'s pods of `revision`, by state.
    pub fn revision(&self, w: usize, revision: u32) -> RevisionCount {
        self.revisions[w]
            .get(&revision)
            .copied()
            .unwrap_or_default()
    }

    /// Workload `w`'s active pods of `revision`, in the order its ReplicaSet deletes them.
    pub fn deletion_order(&self, w: usize, revision: u32) -> impl Iterator<Item = usize> + '_ {
        self.deletion[w]
            .get(&revision)
            .into_iter()
            .flatten()
            .map(|&(_, _, _, Reverse(p))| p)
    }

    /// Recounts the pods whose `minReadySeconds` have passed by `now`; call as time advances.
    pub fn mature(&mut self, m: &Model, pods: &[Pod], now: u64) {
        while let Some(&Reverse((at, p))) = self.maturing.peek() {
            if at > now {
                break;
            }
            self.maturing.pop();
            self.recount(m, pods, now, p);
        }
    }

    /// When the next Ready pod's `minReadySeconds` pass, if one is waiting.
    pub fn next_maturing(&self) -> Option<u64> {
        self.maturing.peek().map(|&Reverse((at, _))| at)
    }

    /// Budget `b`'s covered pods tallied from the counts, or None where the counts cannot say
    /// (an unknown owner, a budget that ignores or does not select a workload's pods): the caller
    /// then recomputes over the pods. `unrecorded` gives the facts of one of a workload's pods
    /// without a record, if it has one (see `world::pending`).
    pub fn budget(
        &self,
        m: &Model,
        pods: &[Pod],
        unrecorded: &dyn Fn(usize) -> Option<PodFacts>,
        b: usize,
    ) -> Option<StatusTally<'static>> {
        let budget = &m.budgets[b];
        let owners = Owners {
            workloads: &m.workloads,
            index: &m.workload_index,
        };
        let mut tally = StatusTally {
            available: self.budget_available[b],
            ..StatusTally::default()
        };
        for &w in &budget.workloads {
            let wl = &m.workloads[w];
            // Every pod of a workload has its labels, which is all `ignores` and `selects` read
            // of a pod: one without a record stands for them as well as a record.
            let without_record;
            let facts = match wl.pods.first() {
                Some(&any) => &pods[any].facts,
                None => match unrecorded(w) {
                    Some(f) => {
                        without_record = f;
                        &without_record
                    }
                    None => continue,
                },
            };
            if budget.spec.ignores(facts) {
                return None;
            }
            for (c, _) in self.controllers[w].values() {
                let res = resolve_from(&wl.namespace, Some(c), &owners);
                if res.missing.is_some() || !budget.spec.selects(facts, &res.chain) {
                    return None;
                }
                if let Some((owner, replicas)) = res.scaled
                    && !tally
                        .scaled_owners
                        .iter()
                        .any(|(o, _)| o.same_object(&owner))
                {
                    tally.scaled_owners.push((owner, replicas));
                }
            }
        }
        Some(tally)
    }

    /// The pod record of budget `b` named `name`, as a recompute over the budget's pods in order
    /// would find it (the last one), with its `minReadySeconds` and the place of its workload
    /// among the budget's.
    pub fn named<'p>(
        &self,
        m: &Model,
        pods: &'p [Pod],
        b: usize,
        name: &str,
    ) -> Option<(usize, &'p PodFacts, i32)> {
        let ws = &m.budgets[b].workloads;
        self.by_name
            .get(name)?
            .iter()
            .filter_map(|&p| {
                let w = pods[p].workload;
                ws.iter().position(|&x| x == w).map(|i| (i, p))
            })
            .max()
            .map(|(i, p)| {
                let pod = &pods[p];
                (i, &pod.facts, m.workloads[pod.workload].min_ready_seconds)
            })
    }
}

/// Whether a pod counts as available at `now`, by steady-budget's own definition.
pub fn available(m: &Model, pod: &Pod, now: u64) -> bool {
    !pod.gone
        && pod.facts.is_available(
            m.workloads[pod.workload].min_ready_seconds,
            crate::model::ts(now as i64),
        )
}
