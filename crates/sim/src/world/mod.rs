//! The simulated cluster's state and the rules that keep it consistent: a pod is created,
//! bound, made Ready, terminated and removed only here, so the counts kept as pods change
//! (`tally`), the nodes a plain pod may go to (`free`) and the budgets' statuses follow every
//! change. Budgets are asked exactly as the webhook asks them, through steady-budget's
//! `decide`. Actors change the world through these methods; they never reach into its fields.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use steady_budget::{OwnerRef, PodFacts, PodPhase};

use crate::clock::{Clock, Ev};
use crate::model::ReadinessDist as Readiness;
use crate::model::{Domains, Model, Pod, ReplicaSet, ts};
use crate::scenario::WorkloadKind;
use crate::tally::Tallies;

mod budgets;
mod pending;

pub use pending::{Pending, Run, Unbound};

/// splitmix64: small, fast, and the same sequence on every platform and dependency version.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub struct World {
    m: Model,
    /// Records of the pods bound to a node once, or held by id before (see `pending`).
    pods: Vec<Pod>,
    pending: Pending,
    now: u64,
    /// Whether budgets are enforced. Without, every disruption is decided against no budgets
    /// (still through `decide`), but statuses are computed so "below budget" can be measured.
    enforce: bool,
    rng: Rng,
    domains: BTreeMap<String, Domains>,
    tallies: Tallies,
    /// Nodes a pod without placement constraints may go to, by (pods, index): see `scheduler`.
    free: BTreeSet<(usize, usize)>,
    /// Set until `free` is first built from the nodes; `set_cordoned`, `set_down` and
    /// `node_load_changed` keep it current after that.
    free_stale: bool,
    /// Something may let a pending pod fit: the scheduler needs a pass.
    sched_dirty: bool,
    /// Workloads whose controller needs a look.
    dirty: BTreeSet<usize>,
    /// Workloads whose availability the measurements have not seen yet.
    avail_dirty: BTreeSet<usize>,
    /// Budgets whose `dirty` flag was set since the measurements last looked (a superset: `ask`
    /// may have refreshed some already).
    budgets_dirty: BTreeSet<usize>,
    /// Bumped on every change a request's answer may depend on (see `changes`).
    changes: u64,
}

/// A node any pod may go to, placement constraints aside: up, not cordoned, not full.
pub fn open(node: &crate::model::Node) -> bool {
    !node.cordoned && !node.down && (node.pods.len() as u32) < node.capacity
}

impl World {
    pub fn new(m: Model, seed: u64, enforce: bool) -> Self {
        let domains = crate::model::domains(&m.nodes, &m.workloads);
        let tallies = Tallies::new(&m);
        let pending = Pending::new(m.workloads.len());
        Self {
            m,
            pods: Vec::new(),
            pending,
            now: 0,
            enforce,
            rng: Rng(seed ^ 0x5EED_0F57_EAD1),
            domains,
            tallies,
            free: BTreeSet::new(),
            free_stale: true,
            sched_dirty: false,
            dirty: BTreeSet::new(),
            avail_dirty: BTreeSet::new(),
            budgets_dirty: BTreeSet::new(),
            changes: 0,
        }
    }

    pub fn model(&self) -> &Model {
        &self.m
    }

    pub fn pods(&self) -> &[Pod] {
        &self.pods
    }

    /// Pods not bound to a node yet.
    pub fn pending(&self) -> &Pending {
        &self.pending
    }

    /// Workload `w`'s pods, with records or not.
    pub fn workload_pods(&self, w: usize) -> usize {
        self.m.workloads[w].pods.len() + self.pending.in_runs(w)
    }

    /// The facts of the first pod of `run`, as its record would have them.
    pub fn unbound_facts(&self, run: &Run) -> PodFacts {
        let wl = &self.m.workloads[run.workload];
        PodFacts {
            namespace: wl.namespace.clone(),
            name: run.name(&wl.name, 0),
            labels: wl.labels.clone(),
            controller: Some(replica_set_ref(wl, run.revision)),
            phase: PodPhase::Pending,
            ready: false,
            ready_changed: None,
            terminating: false,
            created: Some(ts(run.created as i64)),
        }
    }

    /// Every pod of workload `w` without a record, as `unbound_facts`, in creation order.
    pub fn unbound_facts_of(&self, w: usize) -> Vec<PodFacts> {
        let mut v = Vec::new();
        for (_, run) in self.pending.runs_of(w) {
            for k in 0..run.count {
                v.push(self.unbound_facts(&run.nth(k)));
            }
        }
        v
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn enforce(&self) -> bool {
        self.enforce
    }

    /// The counts kept as pods change.
    pub fn tallies(&self) -> &Tallies {
        &self.tallies
    }

    /// Nodes by topology domain, per key the workloads spread or repel over.
    pub fn domains(&self) -> &BTreeMap<String, Domains> {
        &self.domains
    }

    /// A count that grows with every change of a pod, a node, a workload's replicas, revision or
    /// ReplicaSets, or a budget's status: a request refused while it stands still is refused
    /// again (the clock skips such retries). A controller's back-off is not a change.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// When the world next changes with no event: a Ready pod's `minReadySeconds` passing.
    pub fn changes_by_itself_at(&self) -> Option<u64> {
        self.tallies.next_maturing()
    }

    /// Time moves to `t`: pods whose `minReadySeconds` passed are counted available.
    pub fn advance(&mut self, t: u64) {
        self.now = t;
        self.tallies.mature(&self.m, &self.pods, t);
    }

    /// The end of a run.
    pub fn stop_at(&mut self, t: u64) {
        self.now = t;
    }

    /// Whether a pod counts as available now, by steady-budget's own definition.
    pub fn available(&self, p: usize) -> bool {
        crate::tally::available(&self.m, &self.pods[p], self.now)
    }

    // Change notes: what the controllers, the scheduler and the measurements must look at.

    /// A pod of workload `w` changed: its controller, its budgets and its measurement need a look.
    pub fn touch(&mut self, w: usize) {
        self.changes += 1;
        self.dirty.insert(w);
        self.avail_dirty.insert(w);
        for &b in &self.m.workloads[w].budgets {
            self.m.budgets[b].dirty = true;
            self.budgets_dirty.insert(b);
        }
    }

    /// Every controller needs a look.
    pub fn touch_controllers(&mut self) {
        self.dirty.extend(0..self.m.workloads.len());
    }

    /// Every workload and budget needs measuring.
    pub fn touch_measurements(&mut self) {
        for b in 0..self.m.budgets.len() {
            self.m.budgets[b].dirty = true;
            self.budgets_dirty.insert(b);
        }
        self.avail_dirty.extend(0..self.m.workloads.len());
    }

    /// Workload `w`'s controller needs a look (its back-off is over).
    pub fn wake_controller(&mut self, w: usize) {
        self.dirty.insert(w);
    }

    /// The next workload whose controller needs a look.
    pub fn take_dirty_workload(&mut self) -> Option<usize> {
        self.dirty.pop_first()
    }

    pub fn controllers_settled(&self) -> bool {
        self.dirty.is_empty()
    }

    /// Room may have been made: pending pods get another scheduling pass.
    pub fn reschedule(&mut self) {
        self.sched_dirty = true;
    }

    /// Whether a scheduling pass is due; clears the note.
    pub fn take_reschedule(&mut self) -> bool {
        std::mem::take(&mut self.sched_dirty)
    }

    pub fn reschedule_due(&self) -> bool {
        self.sched_dirty
    }

    pub fn take_availability_change(&mut self) -> Option<usize> {
        self.avail_dirty.pop_first()
    }

    pub fn take_budget_change(&mut self) -> Option<usize> {
        self.budgets_dirty.pop_first()
    }

    // Workloads.

    /// Sets the replicas workload `w` wants (a scale, an HPA step).
    pub fn set_replicas(&mut self, w: usize, replicas: i32) {
        self.m.workloads[w].replicas = replicas;
        self.touch(w);
    }

    /// Workload `w` gets a new pod template (a rollout).
    pub fn new_revision(&mut self, w: usize) {
        self.m.workloads[w].revision += 1;
        self.touch(w);
    }

    /// The Deployment controller's own record of its ReplicaSets.
    pub fn replica_sets_mut(&mut self, w: usize) -> &mut Vec<ReplicaSet> {
        &mut self.m.workloads[w].replica_sets
    }

    /// The Deployment controller changed a workload's ReplicaSets (see `changes`).
    pub fn replica_sets_changed(&mut self) {
        self.changes += 1;
    }

    /// Workload `w`'s controller deletes no pod before `at` (a back-off after a refusal).
    pub fn hold_deletes(&mut self, w: usize, at: u64) {
        self.m.workloads[w].next_delete_at = at;
    }

    // Nodes.

    /// Cordons or uncordons node `n`; the one place that does, so `free` follows it.
    pub fn set_cordoned(&mut self, n: usize, cordoned: bool) {
        let before = self.m.nodes[n].pods.len();
        self.m.nodes[n].cordoned = cordoned;
        self.node_load_changed(n, before);
    }

    /// Marks node `n` down or recovered; the one place that does, so `free` follows it.
    pub fn set_down(&mut self, n: usize, down: bool) {
        let before = self.m.nodes[n].pods.len();
        self.m.nodes[n].down = down;
        self.node_load_changed(n, before);
    }

    /// Node `n` had `before` pods, or changed state: moves it in `free`.
    fn node_load_changed(&mut self, n: usize, before: usize) {
        self.changes += 1;
        if self.free_stale {
            return;
        }
        let node = &self.m.nodes[n];
        self.free.remove(&(before, n));
        if open(node) {
            self.free.insert((node.pods.len(), n));
        }
    }

    /// The open nodes by (pods, index), built from the nodes the first time it is asked for.
    pub fn free(&mut self) -> &BTreeSet<(usize, usize)> {
        if self.free_stale {
            self.free = self
                .m
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| open(n))
                .map(|(i, n)| (n.pods.len(), i))
                .collect();
            self.free_stale = false;
        }
        &self.free
    }

    /// The open nodes by (pods, index), if they were built already.
    pub fn free_if_built(&self) -> Option<&BTreeSet<(usize, usize)>> {
        (!self.free_stale).then_some(&self.free)
    }

    // Pods.

    /// Pod `p` changed: moves it in the availability counts (`touch` its workload as well).
    fn recount(&mut self, p: usize) {
        self.tallies.recount(&self.m, &self.pods, self.now, p);
    }

    /// Creates a Pending pod for workload `w`, with its record.
    pub fn create_pod(&mut self, w: usize, revision: u32, ordinal: Option<u32>) {
        self.create_pod_named(w, revision, ordinal, None);
    }

    /// Creates `count` Pending pods of workload `w`'s ReplicaSet `revision` at once: one run, no
    /// records until they are bound (see `pending`). Named and counted as `create_pod` would.
    pub fn create_pending(&mut self, w: usize, revision: u32, count: u32) {
        if count == 0 {
            return;
        }
        let wl = &mut self.m.workloads[w];
        let seq = wl.next_seq;
        wl.next_seq += count;
        let controller = replica_set_ref(wl, revision);
        self.tallies.joined(w, revision, &controller, count as i32);
        self.pending.add_run(Run {
            workload: w,
            revision,
            count,
            created: self.now,
            seq,
        });
        self.sched_dirty = true;
        self.touch(w);
    }

    /// Pushes a record for a pod counted already; returns its id.
    fn record(&mut self, facts: PodFacts, w: usize, revision: u32, ordinal: Option<u32>) -> usize {
        let id = self.pods.len();
        self.pods.push(Pod {
            facts,
            workload: w,
            revision,
            ordinal,
            node: None,
            gone: false,
        });
        self.m.workloads[w].pods.insert(id);
        self.tallies.recorded(&self.pods, id);
        id
    }

    /// Gives the first pod of `run` its record; returns its id.
    fn record_unbound(&mut self, run: &Run) -> usize {
        let facts = self.unbound_facts(run);
        self.record(facts, run.workload, run.revision, None)
    }

    /// Gives every pod of workload `w` without a record one, still waiting for a node: an
    /// in-place change holds the workload's pods by id, the unbound ones too.
    pub fn record_unbound_of(&mut self, w: usize) {
        for (key, run) in self.pending.take_runs_of(w) {
            for k in 0..run.count {
                let p = self.record_unbound(&run.nth(k));
                self.pending.add_record_at(key + u64::from(k), p);
            }
        }
    }

    /// Binds the pending pod (or the first pod of the run) at creation number `key` to node `n`.
    pub fn bind_pending(&mut self, clock: &mut Clock, key: u64, n: usize) {
        let p = match self.pending.first_from(key) {
            Some((k, Unbound::Pod(p))) if k == key => p,
            Some((k, Unbound::Run(_))) if k == key => {
                let head = self.pending.take_head(key);
                self.record_unbound(&head)
            }
            _ => panic!("nothing pending at creation number {key}"),
        };
        self.bind(clock, p, n);
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
                    pending::pod_name(&wl.name, revision, wl.next_seq),
                    replica_set_ref(wl, revision),
                )
            }
        };
        let facts = PodFacts {
            namespace: wl.namespace.clone(),
            name: given.unwrap_or(name),
            labels: wl.labels.clone(),
            controller: Some(controller.clone()),
            phase: PodPhase::Pending,
            ready: false,
            ready_changed: None,
            terminating: false,
            created: Some(ts(self.now as i64)),
        };
        self.tallies.joined(w, revision, &controller, 1);
        let id = self.record(facts, w, revision, ordinal);
        self.pending.add_record(id);
        self.sched_dirty = true;
        self.touch(w);
        id
    }

    /// Binds pending pod `p` to node `n`; it turns Ready after its workload's readiness delay.
    fn bind(&mut self, clock: &mut Clock, p: usize, n: usize) {
        self.pending.remove_record(p);
        let before = self.m.nodes[n].pods.len();
        self.m.nodes[n].pods.push(p);
        self.node_load_changed(n, before);
        let pod = &mut self.pods[p];
        pod.node = Some(n);
        pod.facts.phase = PodPhase::Running;
        let w = pod.workload;
        self.recount(p);
        let delay = self.readiness_delay(w);
        clock.push(self.now + delay, Ev::PodReady(p));
        self.touch(w);
    }

    /// The readiness delay of pod `p` has passed.
    pub fn pod_ready(&mut self, clock: &mut Clock, p: usize) {
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
            clock.push(now + min_ready as u64 * 1000, Ev::PodAvailable(p));
        }
        self.touch(w);
    }

    /// Pod `p`'s `minReadySeconds` have passed.
    pub fn pod_available(&mut self, p: usize) {
        if !self.pods[p].gone {
            self.touch(self.pods[p].workload);
        }
    }

    /// Pod `p`'s container restarts in place: not Ready until its workload's readiness delay
    /// has passed, still on its node.
    pub fn restart(&mut self, clock: &mut Clock, p: usize) {
        let now = self.now;
        let pod = &mut self.pods[p];
        pod.facts.ready = false;
        pod.facts.ready_changed = Some(ts(now as i64));
        let w = pod.workload;
        self.recount(p);
        let delay = self.readiness_delay(w);
        clock.push(now + delay, Ev::PodReady(p));
        self.touch(w);
    }

    /// The time a freshly bound pod of `w` needs to turn Ready.
    fn readiness_delay(&mut self, w: usize) -> u64 {
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

    /// Removes a pod for good (termination finished, or its node failed). Returns its node if
    /// that is empty now: a drain waiting on it may be done.
    #[must_use]
    pub fn remove_pod(&mut self, p: usize) -> Option<usize> {
        if self.pods[p].gone {
            return None;
        }
        let pod = &mut self.pods[p];
        pod.gone = true;
        pod.facts.ready = false;
        let w = pod.workload;
        let mut emptied = None;
        if let Some(n) = pod.node.take() {
            let before = self.m.nodes[n].pods.len();
            self.m.nodes[n].pods.retain(|&x| x != p);
            self.node_load_changed(n, before);
            if self.m.nodes[n].pods.is_empty() {
                emptied = Some(n);
            }
        }
        self.pending.remove_record(p);
        self.recount(p);
        self.tallies.removed(&self.pods, p);
        self.m.workloads[w].pods.remove(&p);
        self.sched_dirty = true;
        self.touch(w);
        emptied
    }

    /// Marks a pod terminating; it is gone after its workload's termination time.
    fn terminate(&mut self, clock: &mut Clock, p: usize) {
        let pod = &mut self.pods[p];
        if pod.facts.terminating || pod.gone {
            return;
        }
        pod.facts.terminating = true;
        let w = pod.workload;
        let unscheduled = pod.node.is_none();
        self.recount(p);
        if unscheduled {
            // Never scheduled: nothing to stop, and no node is emptied.
            let _ = self.remove_pod(p);
            return;
        }
        let at = self.now + self.m.workloads[w].termination.0;
        clock.push(at, Ev::PodGone(p));
        self.touch(w);
    }

    // The bootstrap: the steady state before time 0.

    /// Binds the pods a scenario says are running at time 0 (`workloads[].pods`) to their
    /// nodes, before any controller or the scheduler looks: a plan starts from the live cluster.
    pub fn place_running(&mut self, clock: &mut Clock) {
        for w in 0..self.m.workloads.len() {
            let placed = std::mem::take(&mut self.m.workloads[w].placed);
            for (name, node, _) in &placed {
                let ordinal = match self.m.workloads[w].kind {
                    WorkloadKind::StatefulSet => name
                        .rsplit_once('-')
                        .and_then(|(_, o)| o.parse::<u32>().ok()),
                    WorkloadKind::Deployment => None,
                };
                let p = self.create_pod_named(w, 1, ordinal, Some(name.clone()));
                self.bind(clock, p, *node);
            }
            self.m.workloads[w].placed = placed;
        }
    }

    /// Makes every bound pod Ready long ago; returns whether any was not.
    pub fn ready_long_ago(&mut self) -> bool {
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
        changed
    }

    /// Running pods the scenario says are not Ready stay so (bootstrap made every bound pod Ready).
    pub fn unready_running(&mut self) {
        for w in 0..self.m.workloads.len() {
            let unready: HashSet<&str> = self.m.workloads[w]
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
}

/// The owner reference of workload `wl`'s ReplicaSet for `revision`, as its pods carry it.
fn replica_set_ref(wl: &crate::model::Workload, revision: u32) -> OwnerRef {
    OwnerRef::new("apps/v1", "ReplicaSet", &wl.rs_name(revision))
}
