//! Pods no node was found for yet. A ReplicaSet's pods created together and still unbound are one
//! run, a count: 100,000 replicas on nodes that hold 100 made a pod record for each of the 99,900
//! that never ran (issue 16). A pod gets its record (`World::pods`) when it is bound, or when
//! something must hold it by id while it is still unbound (a StatefulSet's pod, an in-place
//! change): those wait here as records, in the same order.
//!
//! Every pod created gets the next creation number; the scheduler tries pending pods in that order,
//! the order of their ids when every pod got a record at creation. Within a workload pods are bound
//! in that order (the scheduler tries no pod of a workload after one of its pods found no node), so
//! records made at binding keep a workload's ids in creation order, which is all that reads ids:
//! the ReplicaSet's deletion order (newest first), an in-place change's queue, a budget's lookup by
//! name. A workload's unbound pods in runs are its newest: a scale-down takes them first.
//!
//! A budget finds a pod named in its status maps among the records only (`Tallies::named`): a pod
//! in a run is never named there, since a unit is taken for it only when it is deleted, and then
//! it is gone at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Pods of one ReplicaSet created at one instant and not bound yet: the `count` pods created
/// after sequence number `seq` (the first is named `{workload}-v{revision}-{seq + 1}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub workload: usize,
    pub revision: u32,
    pub count: u32,
    /// Creation time, ms.
    pub created: u64,
    pub seq: u32,
}

/// The name of pod `seq` of a workload's `revision`, as the simulator names a ReplicaSet's pods.
pub fn pod_name(workload: &str, revision: u32, seq: u32) -> String {
    format!("{workload}-v{revision}-{seq}")
}

impl Run {
    /// The name of its `k`-th pod, from 0.
    pub fn name(&self, workload: &str, k: u32) -> String {
        pod_name(workload, self.revision, self.seq + k + 1)
    }

    /// Its `k`-th pod, from 0, as a run of one.
    pub fn nth(self, k: u32) -> Run {
        Run {
            count: 1,
            seq: self.seq + k,
            ..self
        }
    }

    /// The run without its first pod.
    fn behind_head(self) -> Option<Run> {
        (self.count > 1).then_some(Run {
            count: self.count - 1,
            seq: self.seq + 1,
            ..self
        })
    }
}

/// What waits for a node at one creation number: a run from there on, or one pod's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unbound {
    Run(Run),
    Pod(usize),
}

/// The runs of one workload's revision.
#[derive(Default)]
struct RunsOf {
    /// Their creation numbers.
    keys: BTreeSet<u64>,
    /// Their pods.
    pods: usize,
}

#[derive(Default)]
pub struct Pending {
    /// By creation number (a run's is its first pod's).
    by_creation: BTreeMap<u64, Unbound>,
    /// Each workload's runs, per revision.
    runs: BTreeMap<(usize, u32), RunsOf>,
    /// Records waiting here, with their creation numbers.
    records: HashMap<usize, u64>,
    /// Pods in runs, per workload.
    in_runs: Vec<usize>,
    /// Pods waiting, in runs or as records.
    count: usize,
    /// Pods created so far: the next one's creation number.
    created: u64,
}

impl Pending {
    pub fn new(workloads: usize) -> Self {
        Self {
            in_runs: vec![0; workloads],
            ..Self::default()
        }
    }

    /// Pods waiting for a node.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Pods created so far, bound, gone or waiting.
    pub fn created(&self) -> u64 {
        self.created
    }

    /// Workload `w`'s pods that have no record yet.
    pub fn in_runs(&self, w: usize) -> usize {
        self.in_runs[w]
    }

    /// A pod was created with a record: it waits for a node.
    pub fn add_record(&mut self, p: usize) {
        self.by_creation.insert(self.created, Unbound::Pod(p));
        self.records.insert(p, self.created);
        self.created += 1;
        self.count += 1;
    }

    /// `run.count` pods were created without records.
    pub fn add_run(&mut self, run: Run) {
        let key = self.created;
        self.insert_run(key, run);
        self.created += u64::from(run.count);
    }

    fn insert_run(&mut self, key: u64, run: Run) {
        self.by_creation.insert(key, Unbound::Run(run));
        let of = self.runs.entry((run.workload, run.revision)).or_default();
        of.keys.insert(key);
        of.pods += run.count as usize;
        self.in_runs[run.workload] += run.count as usize;
        self.count += run.count as usize;
    }

    fn remove_run(&mut self, key: u64, run: Run) {
        self.by_creation.remove(&key);
        let k = (run.workload, run.revision);
        if let Some(of) = self.runs.get_mut(&k) {
            of.keys.remove(&key);
            of.pods -= run.count as usize;
            if of.keys.is_empty() {
                self.runs.remove(&k);
            }
        }
        self.in_runs[run.workload] -= run.count as usize;
        self.count -= run.count as usize;
    }

    /// Record `p` is no longer waiting (bound or gone); nothing if it was not.
    pub fn remove_record(&mut self, p: usize) {
        if let Some(key) = self.records.remove(&p) {
            self.by_creation.remove(&key);
            self.count -= 1;
        }
    }

    /// The first waiting entry from creation number `from` on, with its creation number.
    pub fn first_from(&self, from: u64) -> Option<(u64, Unbound)> {
        self.by_creation.range(from..).next().map(|(&k, &u)| (k, u))
    }

    /// Every waiting entry, in creation order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Unbound)> + '_ {
        self.by_creation.iter().map(|(&k, &u)| (k, u))
    }

    /// Takes the first pod of the run at `key` out of it (it is getting a record).
    pub fn take_head(&mut self, key: u64) -> Run {
        let Some(&Unbound::Run(run)) = self.by_creation.get(&key) else {
            panic!("no run at creation number {key}");
        };
        self.remove_run(key, run);
        if let Some(rest) = run.behind_head() {
            self.insert_run(key + 1, rest);
        }
        run.nth(0)
    }

    /// The newest pod of workload `w`'s `revision` that has no record, as a run of one (its own
    /// sequence number in `seq + 1`).
    pub fn newest(&self, w: usize, revision: u32) -> Option<Run> {
        let &key = self.runs.get(&(w, revision))?.keys.last()?;
        let Some(&Unbound::Run(run)) = self.by_creation.get(&key) else {
            return None;
        };
        Some(run.nth(run.count - 1))
    }

    /// Takes the newest pod of workload `w`'s `revision` that has no record (it is deleted).
    pub fn take_newest(&mut self, w: usize, revision: u32) {
        let Some(&key) = self.runs.get(&(w, revision)).and_then(|of| of.keys.last()) else {
            return;
        };
        let Some(&Unbound::Run(run)) = self.by_creation.get(&key) else {
            return;
        };
        self.remove_run(key, run);
        if run.count > 1 {
            self.insert_run(
                key,
                Run {
                    count: run.count - 1,
                    ..run
                },
            );
        }
    }

    /// Workload `w`'s pods of `revision` that have no record.
    pub fn in_runs_of(&self, w: usize, revision: u32) -> usize {
        self.runs.get(&(w, revision)).map_or(0, |of| of.pods)
    }

    /// The pod of workload `w` (named `workload`) in a run that is named `name`, as a run of one.
    pub fn named(&self, workload: &str, w: usize, name: &str) -> Option<Run> {
        let (revision, seq) = name
            .strip_prefix(workload)?
            .strip_prefix("-v")?
            .split_once('-')?;
        let (revision, seq) = (revision.parse().ok()?, seq.parse().ok()?);
        if pod_name(workload, revision, seq) != name {
            return None;
        }
        self.runs
            .get(&(w, revision))?
            .keys
            .iter()
            .find_map(|k| match self.by_creation.get(k) {
                Some(&Unbound::Run(r)) if r.seq < seq && seq <= r.seq + r.count => {
                    Some(r.nth(seq - r.seq - 1))
                }
                _ => None,
            })
    }

    /// Workload `w`'s oldest run, if it has one.
    pub fn first_run_of(&self, w: usize) -> Option<Run> {
        self.runs
            .range((w, 0)..=(w, u32::MAX))
            .filter_map(|(_, of)| of.keys.first())
            .min()
            .and_then(|k| match self.by_creation.get(k) {
                Some(&Unbound::Run(r)) => Some(r),
                _ => None,
            })
    }

    /// Workload `w`'s runs, in creation order, with the creation numbers of their first pods.
    pub fn runs_of(&self, w: usize) -> Vec<(u64, Run)> {
        let mut v: Vec<(u64, Run)> = self
            .runs
            .range((w, 0)..=(w, u32::MAX))
            .flat_map(|(_, of)| of.keys.iter())
            .filter_map(|&k| match self.by_creation.get(&k) {
                Some(&Unbound::Run(r)) => Some((k, r)),
                _ => None,
            })
            .collect();
        v.sort_by_key(|&(k, _)| k);
        v
    }

    /// Takes every run of workload `w` out, in creation order (its pods are getting records).
    pub fn take_runs_of(&mut self, w: usize) -> Vec<(u64, Run)> {
        let runs = self.runs_of(w);
        for &(k, r) in &runs {
            self.remove_run(k, r);
        }
        runs
    }

    /// A record made for a pod of a run that still waits, at its creation number.
    pub fn add_record_at(&mut self, key: u64, p: usize) {
        self.by_creation.insert(key, Unbound::Pod(p));
        self.records.insert(p, key);
        self.count += 1;
    }
}
