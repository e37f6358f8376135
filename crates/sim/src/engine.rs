//! The discrete-event engine: a queue of timed events over simulated milliseconds, the budget
//! bookkeeping (status recomputed with `compute_status`, disruptions decided with `decide`, units
//! taken as the webhook writes them), and the measurements the report is built from.
//! Deterministic: events at the same time run in the order they were queued, collections are
//! ordered, and randomness comes from one seeded generator.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use steady_budget::{
    BudgetView, DEFAULT_EXPIRY, Decision, Denial, Operation, PodPhase, Request, StatusInput,
    compute_status, decide, finish_status, resolve,
};

use crate::model::ReadinessDist as Readiness;
use crate::model::{Model, Owners};
use crate::ops::Op;
use crate::scenario::{Dur, Scenario};
use crate::tally::Tallies;

pub use crate::model::ts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ev {
    OpStart(usize),
    OpDeadline(usize),
    /// A drain's eviction of one pod (first try or a retry).
    Evict {
        op: usize,
        pod: usize,
    },
    /// A drain moves to the next node(s).
    DrainNext(usize),
    /// An in-place update or resize of one pod (first try or a retry).
    InPlace {
        op: usize,
        pod: usize,
    },
    HpaStep {
        op: usize,
        step: usize,
    },
    PodReady(usize),
    /// minReadySeconds have passed since the pod turned Ready.
    PodAvailable(usize),
    PodGone(usize),
    Reconcile(usize),
    Uncordon(usize),
    NodeRecover(usize),
}

/// splitmix64: small, fast, and the same sequence on every platform and dependency version.
pub struct Rng(u64);

impl Rng {
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One refusal pattern: the same budget refusing the same kind of request.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DenialStat {
    pub budget: String,
    pub count: u32,
    pub first_ms: u64,
    pub last_ms: u64,
    /// The webhook's message for the latest refusal.
    pub message: String,
    /// The `DisruptionBudget` cause, in the eviction API's words.
    pub cause: String,
    pub code: u16,
}

/// Per-workload measurements.
#[derive(Debug, Clone, Default)]
pub struct Track {
    /// (time, available pods) at every change.
    pub series: Vec<(u64, i32)>,
    pub min: i32,
    pub min_at: u64,
    /// Refusals of the workload's own controller (rollout or scale-in deletes).
    pub controller_denials: BTreeMap<String, DenialStat>,
}

/// Per-budget measurements.
#[derive(Debug, Clone, Default)]
pub struct BudgetTrack {
    /// (time, currentAvailable, desiredAvailable) at every change.
    pub series: Vec<(u64, i32, i32)>,
    pub below_ms: u64,
    pub below_since: Option<u64>,
    pub min_current: i32,
    pub min_at: u64,
}

pub struct Sim {
    pub m: Model,
    /// Whether budgets are enforced. Without, every disruption is decided against no budgets
    /// (still through `decide`), but statuses are computed so "below budget" can be measured.
    pub enforce: bool,
    pub now: u64,
    pub horizon: u64,
    queue: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    pub pods: Vec<crate::model::Pod>,
    pub pending: BTreeSet<usize>,
    pub sched_dirty: bool,
    pub dirty: BTreeSet<usize>,
    avail_dirty: BTreeSet<usize>,
    pub ops: Vec<Op>,
    pub rng: Rng,
    pub tracks: Vec<Track>,
    pub budget_tracks: Vec<BudgetTrack>,
    pub events: u64,
    pub domains: BTreeMap<String, crate::model::Domains>,
    /// Operations whose outcome is Running, in timeline order.
    pub running: BTreeSet<usize>,
    /// Operations not finished yet (not started ones included).
    pub unfinished: usize,
    /// For each operation, the later ones that start `after` it, in timeline order.
    pub dependents: Vec<Vec<usize>>,
    /// Queued events that are not retries, timeouts or back-offs (see `only_retries_left`).
    live_events: usize,
    /// Budgets whose `dirty` flag was set since `measure` last looked (a superset: `ask` may
    /// have refreshed some already).
    budgets_dirty: BTreeSet<usize>,
    /// Budgets below their desired availability (`below_since` set).
    below: BTreeSet<usize>,
    pub(crate) tallies: Tallies,
    /// Nodes a pod without placement constraints may go to, by (pods, index): see `scheduler`.
    pub(crate) free: BTreeSet<(usize, usize)>,
    /// Set until `free` is first built from the nodes; `set_cordoned`, `set_down` and
    /// `node_load_changed` keep it current after that.
    pub(crate) free_stale: bool,
}

/// Events that cannot change anything once every operation has finished: pending timeouts,
/// retries of finished drains and in-place changes, and controller back-offs.
fn is_retry(e: &Ev) -> bool {
    matches!(
        e,
        Ev::Reconcile(_)
            | Ev::OpDeadline(_)
            | Ev::Evict { .. }
            | Ev::DrainNext(_)
            | Ev::InPlace { .. }
    )
}

impl Sim {
    pub fn new(s: &Scenario, seed: u64, enforce: bool) -> Result<Self, crate::scenario::Invalid> {
        let m = Model::build(s)?;
        let ops = crate::ops::build(s, &m)?;
        let domains = crate::model::domains(&m.nodes, &m.workloads);
        let n_w = m.workloads.len();
        let n_b = m.budgets.len();
        let mut dependents = vec![Vec::new(); ops.len()];
        for (j, o) in ops.iter().enumerate() {
            if let Some(i) = o.after {
                dependents[i].push(j);
            }
        }
        let unfinished = ops.len();
        let tallies = Tallies::new(&m);
        let mut sim = Self {
            m,
            enforce,
            now: 0,
            horizon: s.horizon.unwrap_or(Dur::secs(1800)).0,
            queue: BinaryHeap::new(),
            seq: 0,
            pods: Vec::new(),
            pending: BTreeSet::new(),
            sched_dirty: false,
            dirty: BTreeSet::new(),
            avail_dirty: BTreeSet::new(),
            ops,
            rng: Rng(seed ^ 0x5EED_0F57_EAD1),
            tracks: vec![Track::default(); n_w],
            budget_tracks: vec![BudgetTrack::default(); n_b],
            events: 0,
            domains,
            running: BTreeSet::new(),
            unfinished,
            dependents,
            live_events: 0,
            budgets_dirty: BTreeSet::new(),
            below: BTreeSet::new(),
            tallies,
            free: BTreeSet::new(),
            free_stale: true,
        };
        sim.bootstrap();
        for i in 0..sim.ops.len() {
            if sim.ops[i].after.is_none() {
                let at = sim.ops[i].at;
                sim.push(at, Ev::OpStart(i));
            }
        }
        Ok(sim)
    }

    pub fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        if !is_retry(&ev) {
            self.live_events += 1;
        }
        self.queue.push(Reverse((at, self.seq, ev)));
    }

    /// The steady state before time 0: every workload at its replicas, every pod Ready long ago.
    fn bootstrap(&mut self) {
        self.place_running();
        for round in 0..1000 {
            self.dirty.extend(0..self.m.workloads.len());
            self.settle();
            let mut changed = false;
            for p in 0..self.pods.len() {
                let pod = &mut self.pods[p];
                if pod.node.is_some() && !pod.gone && !pod.facts.ready {
                    pod.facts.ready = true;
                    pod.facts.ready_changed = Some(ts(-86_400_000));
                    changed = true;
                    self.recount(p);
                }
            }
            // Drop the readiness events queued while binding: these pods are Ready already.
            self.queue.clear();
            self.live_events = 0;
            if !changed || round > 0 && self.pending.len() == self.pods.len() {
                break;
            }
        }
        self.unready_running();
        for b in 0..self.m.budgets.len() {
            self.m.budgets[b].dirty = true;
            self.budgets_dirty.insert(b);
        }
        self.avail_dirty.extend(0..self.m.workloads.len());
        self.measure();
    }

    pub fn run(&mut self) {
        while let Some(Reverse((t, _, _))) = self.queue.peek() {
            let t = *t;
            if t > self.horizon || self.all_ops_done() && self.only_retries_left() {
                break;
            }
            self.close_below(t);
            self.now = t;
            self.tallies.mature(&self.m, &self.pods, t);
            while let Some(Reverse((t2, _, ev))) = self.queue.peek().copied() {
                if t2 != t {
                    break;
                }
                self.queue.pop();
                if !is_retry(&ev) {
                    self.live_events -= 1;
                }
                self.events += 1;
                self.handle(ev);
            }
            self.settle();
            self.measure();
            self.check_ops();
        }
        let end = if self.all_ops_done() {
            self.now
        } else {
            self.horizon.max(self.now)
        };
        self.close_below(end);
        self.now = end;
        for b in &mut self.budget_tracks {
            b.below_since = None;
        }
        self.below.clear();
    }

    fn all_ops_done(&self) -> bool {
        self.unfinished == 0
    }

    /// Once every operation has finished, only pod lifecycle events can still change anything;
    /// pending timeouts, retries of finished drains and controller back-offs cannot.
    fn only_retries_left(&self) -> bool {
        self.live_events == 0
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::PodReady(p) => {
                let now = self.now;
                let pod = &mut self.pods[p];
                if pod.gone || pod.facts.terminating || pod.facts.ready {
                    return;
                }
                pod.facts.ready = true;
                pod.facts.ready_changed = Some(ts(now as i64));
                let w = pod.workload;
                self.recount(p);
                let min_ready = self.m.workloads[w].min_ready_seconds;
                if min_ready > 0 {
                    self.push(now + min_ready as u64 * 1000, Ev::PodAvailable(p));
                }
                self.touch(w);
            }
            Ev::PodAvailable(p) => {
                if !self.pods[p].gone {
                    self.touch(self.pods[p].workload);
                }
            }
            Ev::PodGone(p) => self.remove_pod(p),
            Ev::Reconcile(w) => {
                self.dirty.insert(w);
            }
            other => self.handle_op_event(other),
        }
    }

    /// Pod `p` changed: moves it in the availability counts (`touch` its workload as well).
    pub fn recount(&mut self, p: usize) {
        self.tallies.recount(&self.m, &self.pods, self.now, p);
    }

    /// A pod of workload `w` changed: its controller, its budgets and its measurement need a look.
    pub fn touch(&mut self, w: usize) {
        self.dirty.insert(w);
        self.avail_dirty.insert(w);
        for &b in &self.m.workloads[w].budgets {
            self.m.budgets[b].dirty = true;
            self.budgets_dirty.insert(b);
        }
    }

    /// Runs controllers and the scheduler until nothing more changes at this instant.
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            while let Some(w) = self.dirty.pop_first() {
                self.reconcile(w);
            }
            if self.sched_dirty {
                self.sched_dirty = false;
                self.schedule_pending();
            }
            if self.dirty.is_empty() && !self.sched_dirty {
                break;
            }
        }
    }

    /// Removes a pod for good (termination finished, or its node failed).
    pub fn remove_pod(&mut self, p: usize) {
        if self.pods[p].gone {
            return;
        }
        let pod = &mut self.pods[p];
        pod.gone = true;
        pod.facts.ready = false;
        let w = pod.workload;
        if let Some(n) = pod.node.take() {
            let before = self.m.nodes[n].pods.len();
            self.m.nodes[n].pods.retain(|&x| x != p);
            self.node_load_changed(n, before);
            self.node_emptied(n);
        }
        self.pending.remove(&p);
        self.recount(p);
        self.tallies.removed(&self.pods, p);
        self.m.workloads[w].pods.remove(&p);
        self.sched_dirty = true;
        self.touch(w);
    }

    /// Binds the pods a scenario says are running at time 0 (`workloads[].pods`) to their
    /// nodes, before any controller or the scheduler looks: a plan starts from the live cluster.
    fn place_running(&mut self) {
        for w in 0..self.m.workloads.len() {
            let placed = std::mem::take(&mut self.m.workloads[w].placed);
            for (name, node, _) in &placed {
                let ordinal = match self.m.workloads[w].kind {
                    crate::scenario::WorkloadKind::StatefulSet => name
                        .rsplit_once('-')
                        .and_then(|(_, o)| o.parse::<u32>().ok()),
                    crate::scenario::WorkloadKind::Deployment => None,
                };
                let p = self.create_pod_named(w, 1, ordinal, Some(name.clone()));
                self.bind(p, *node);
            }
            self.m.workloads[w].placed = placed;
        }
    }

    /// Running pods the scenario says are not Ready stay so (bootstrap made every bound pod Ready).
    fn unready_running(&mut self) {
        for w in 0..self.m.workloads.len() {
            let unready: std::collections::HashSet<&str> = self.m.workloads[w]
                .placed
                .iter()
                .filter(|(_, _, ready)| !ready)
                .map(|(n, _, _)| n.as_str())
                .collect();
            if unready.is_empty() {
                continue;
            }
            let pods: Vec<usize> = self.m.workloads[w]
                .pods
                .iter()
                .copied()
                .filter(|&p| unready.contains(self.pods[p].facts.name.as_str()))
                .collect();
            for p in pods {
                self.pods[p].facts.ready = false;
                self.pods[p].facts.ready_changed = None;
                self.recount(p);
            }
            self.touch(w);
        }
    }

    /// Creates a Pending pod for workload `w`.
    pub fn create_pod(&mut self, w: usize, revision: u32, ordinal: Option<u32>) {
        self.create_pod_named(w, revision, ordinal, None);
    }

    fn create_pod_named(
        &mut self,
        w: usize,
        revision: u32,
        ordinal: Option<u32>,
        given: Option<String>,
    ) -> usize {
        let wl = &mut self.m.workloads[w];
        let (name, controller) = match ordinal {
            Some(o) => (format!("{}-{o}", wl.name), wl.owner_ref()),
            None => {
                wl.next_seq += 1;
                (
                    format!("{}-v{revision}-{}", wl.name, wl.next_seq),
                    steady_budget::OwnerRef::new("apps/v1", "ReplicaSet", &wl.rs_name(revision)),
                )
            }
        };
        let facts = steady_budget::PodFacts {
            namespace: wl.namespace.clone(),
            name: given.unwrap_or(name),
            labels: wl.labels.clone(),
            controller: Some(controller),
            phase: PodPhase::Pending,
            ready: false,
            ready_changed: None,
            terminating: false,
            created: Some(ts(self.now as i64)),
        };
        let id = self.pods.len();
        self.pods.push(crate::model::Pod {
            facts,
            workload: w,
            revision,
            ordinal,
            node: None,
            gone: false,
        });
        wl.pods.insert(id);
        self.tallies.created(&self.pods, id);
        self.pending.insert(id);
        self.sched_dirty = true;
        self.touch(w);
        id
    }

    /// The time a freshly bound pod of `w` needs to turn Ready.
    pub fn readiness_delay(&mut self, w: usize) -> u64 {
        match self.m.workloads[w].readiness {
            Readiness::Fixed(d) => d.0,
            Readiness::Uniform { min, max } => {
                min.0 + ((max.0 - min.0) as f64 * self.rng.next_f64()) as u64
            }
            Readiness::Normal { mean, stddev } => {
                // Box–Muller; negative draws are clamped to 0.
                let u1 = self.rng.next_f64().max(1e-12);
                let u2 = self.rng.next_f64();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (mean.0 as f64 + z * stddev.0 as f64).max(0.0) as u64
            }
        }
    }

    /// Whether a pod counts as available now, by steady-budget's own definition.
    pub fn available(&self, p: usize) -> bool {
        crate::tally::available(&self.m, &self.pods[p], self.now)
    }

    /// Recomputes the status of a budget whose inputs changed, as the guard's controller does,
    /// from the counts kept as pods change (see `tally`): over every pod only where the counts
    /// cannot say, and in debug builds to check them.
    pub fn refresh_budget(&mut self, b: usize) {
        if !self.m.budgets[b].dirty {
            return;
        }
        let budget = &self.m.budgets[b];
        let owners = Owners {
            workloads: &self.m.workloads,
            index: &self.m.workload_index,
        };
        let now = ts(self.now as i64);
        let full = || {
            let pods: Vec<steady_budget::PodFacts> = budget
                .workloads
                .iter()
                .flat_map(|&w| self.m.workloads[w].pods.iter())
                .map(|&p| self.pods[p].facts.clone())
                .collect();
            compute_status(&status_input(budget, &owners, &pods, now)).status
        };
        let status = match self.tallies.budget(&self.m, &self.pods, b) {
            Some(tally) => {
                let named = |name: &str| self.tallies.named(&self.m, &self.pods, b, name);
                let status =
                    finish_status(&status_input(budget, &owners, &[], now), &tally, &named).status;
                debug_assert_eq!(status, full(), "budget {} counted apart", budget.label());
                status
            }
            None => full(),
        };
        let budget = &mut self.m.budgets[b];
        budget.status = status;
        budget.dirty = false;
    }

    /// Asks the budgets whether pod `p` may be disrupted by `op`, exactly as the webhook would,
    /// and on success starts its termination. Returns the refusal otherwise.
    pub fn disrupt(&mut self, p: usize, op: Operation) -> Result<(), Box<Denial>> {
        self.ask(p, op)?;
        self.terminate(p);
        Ok(())
    }

    /// Asks the budgets whether pod `p` may be disrupted by `op` and, allowed, writes the
    /// statuses the webhook would; what the disruption does to the pod is the caller's.
    pub fn ask(&mut self, p: usize, op: Operation) -> Result<(), Box<Denial>> {
        let w = self.pods[p].workload;
        let decision = {
            let covering: Vec<usize> = if self.enforce {
                self.m.workloads[w].budgets.clone()
            } else {
                Vec::new()
            };
            for &b in &covering {
                self.refresh_budget(b);
            }
            let owners = Owners {
                workloads: &self.m.workloads,
                index: &self.m.workload_index,
            };
            let facts = &self.pods[p].facts;
            let resolution = resolve(facts, &owners);
            let views: Vec<BudgetView<'_>> = covering
                .iter()
                .map(|&b| {
                    let b = &self.m.budgets[b];
                    BudgetView {
                        id: &b.id,
                        generation: b.generation,
                        spec: &b.spec,
                        status: &b.status,
                    }
                })
                .collect();
            decide(
                &Request {
                    pod: facts,
                    operation: op,
                    owners: &resolution,
                    now: ts(self.now as i64),
                },
                &views,
            )
        };
        match decision {
            Decision::Deny(d) => return Err(Box::new(d)),
            Decision::Allow(_) => {}
            Decision::Take(takes) => {
                // The webhook writes these statuses; here the write always succeeds because the
                // engine is the only writer.
                for t in takes {
                    if let Some(b) = self.m.budgets.iter_mut().find(|b| b.id == t.budget) {
                        b.status = t.apply(&b.status);
                    }
                }
            }
        }
        Ok(())
    }

    /// Marks a pod terminating; it is gone after its workload's termination time.
    fn terminate(&mut self, p: usize) {
        let pod = &mut self.pods[p];
        if pod.facts.terminating || pod.gone {
            return;
        }
        pod.facts.terminating = true;
        let w = pod.workload;
        let unscheduled = pod.node.is_none();
        self.recount(p);
        if unscheduled {
            // Never scheduled: nothing to stop.
            self.remove_pod(p);
            return;
        }
        let at = self.now + self.m.workloads[w].termination.0;
        self.push(at, Ev::PodGone(p));
        self.touch(w);
    }

    /// Refreshes measurements for whatever changed at this instant.
    fn measure(&mut self) {
        while let Some(w) = self.avail_dirty.pop_first() {
            let n = self.tallies.workload_available[w];
            debug_assert_eq!(
                n,
                self.m.workloads[w]
                    .pods
                    .iter()
                    .filter(|&&p| self.available(p))
                    .count() as i32,
                "workload {} counted apart",
                self.m.workloads[w].name
            );
            let now = self.now;
            let t = &mut self.tracks[w];
            if t.series.last().map(|x| x.1) != Some(n) {
                if t.series.is_empty() || n < t.min {
                    t.min = n;
                    t.min_at = now;
                }
                t.series.push((now, n));
            }
        }
        while let Some(b) = self.budgets_dirty.pop_first() {
            if !self.m.budgets[b].dirty {
                continue;
            }
            self.refresh_budget(b);
            let s = &self.m.budgets[b].status;
            let (cur, des) = (s.current_available, s.desired_available);
            let now = self.now;
            let t = &mut self.budget_tracks[b];
            if t.series.last().map(|x| (x.1, x.2)) != Some((cur, des)) {
                if t.series.is_empty() || cur < t.min_current {
                    t.min_current = cur;
                    t.min_at = now;
                }
                t.series.push((now, cur, des));
            }
            match (cur < des, t.below_since) {
                (true, None) => {
                    t.below_since = Some(now);
                    self.below.insert(b);
                }
                (false, Some(since)) => {
                    t.below_ms += now - since;
                    t.below_since = None;
                    self.below.remove(&b);
                }
                _ => {}
            }
        }
    }

    /// Accounts time below budget up to `t` for budgets still below.
    fn close_below(&mut self, t: u64) {
        for &b in &self.below {
            let b = &mut self.budget_tracks[b];
            if let Some(since) = b.below_since {
                b.below_ms += t.saturating_sub(since);
                b.below_since = Some(t);
            }
        }
    }
}

/// What a recompute of `budget` reads, as the guard's controller passes it.
fn status_input<'a>(
    budget: &'a crate::model::Budget,
    owners: &'a Owners<'a>,
    pods: &'a [steady_budget::PodFacts],
    now: jiff::Timestamp,
) -> StatusInput<'a> {
    StatusInput {
        spec: &budget.spec,
        generation: budget.generation,
        previous: &budget.status,
        pods,
        owners,
        now,
        expiry: DEFAULT_EXPIRY,
        // Entries of deleted pods expire as they did before the guard learnt to drop them:
        // the simulator's reports (and their golden files) count them to the expiry.
        gone: steady_budget::NONE_GONE,
    }
}

/// Adds one refusal to a tally keyed by budget.
pub fn tally(map: &mut BTreeMap<String, DenialStat>, budget: String, d: &Denial, now: u64) {
    let e = map.entry(budget.clone()).or_insert_with(|| DenialStat {
        budget,
        count: 0,
        first_ms: now,
        last_ms: now,
        message: String::new(),
        cause: String::new(),
        code: d.code,
    });
    e.count += 1;
    e.last_ms = now;
    e.message.clone_from(&d.message);
    e.cause.clone_from(&d.cause);
}
