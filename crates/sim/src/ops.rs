//! Timeline operations: drains (as `kubectl drain`: cordon, evict every pod of a node at once,
//! retry each refused eviction every 5 s, wait for the pods to be gone, optional timeout), cordon,
//! uncordon, rollouts, scaling, HPA-like steps and node failures. Each records when it started and
//! finished, and every refusal it met, by budget.

use std::collections::{BTreeMap, VecDeque};

use k8s_openapi::api::core::v1::{Container, ContainerResizePolicy, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use steady_budget::{Denial, Operation, Restart, resize_restart, update_restart};

use crate::engine::{DenialStat, Ev, Sim, tally};
use crate::model::{Model, nodes_of_zone};
use crate::scenario::{Invalid, Scenario, Step};

/// `kubectl drain` retries a refused eviction after this long, whatever the server suggests.
pub const DRAIN_RETRY_MS: u64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Outcome {
    NotStarted,
    Running,
    Done,
    TimedOut,
}

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

/// An in-place change of every pod of a workload, `parallel` pods at a time.
pub struct InPlaceOp {
    pub workload: usize,
    /// `Update` or `Resize`: what the webhook is asked.
    pub operation: Operation,
    /// Why the change restarts a container, as steady-budget's `update_restart` /
    /// `resize_restart` judge it; None: not a disruption, applied without asking.
    pub restart: Option<Restart>,
    pub parallel: usize,
    pub queue: VecDeque<usize>,
    /// (pod, restarted yet)
    pub active: Vec<(usize, bool)>,
    pub changed: usize,
}

pub enum OpKind {
    Drain(DrainOp),
    InPlace(InPlaceOp),
    Cordon(Vec<usize>),
    Uncordon(Vec<usize>),
    Rollout(usize),
    Scale(usize, i32),
    Hpa {
        workload: usize,
        steps: Vec<i32>,
        every: u64,
        applied: usize,
    },
    Fail {
        node: usize,
        recover: Option<u64>,
    },
}

pub struct Op {
    pub name: Option<String>,
    pub label: String,
    pub at: u64,
    pub after: Option<usize>,
    pub kind: OpKind,
    pub started: Option<u64>,
    pub finished: Option<u64>,
    pub outcome: Outcome,
    pub denials: BTreeMap<String, DenialStat>,
}

fn invalid(field: String, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

pub fn build(s: &Scenario, m: &Model) -> Result<Vec<Op>, Invalid> {
    let names: Vec<Option<&str>> = s.timeline.iter().map(|t| t.name.as_deref()).collect();
    let mut ops = Vec::new();
    for (i, step) in s.timeline.iter().enumerate() {
        let f = format!("timeline[{i}]");
        let after = match &step.after {
            None => None,
            Some(a) => {
                let j = names
                    .iter()
                    .position(|n| *n == Some(a.as_str()))
                    .ok_or_else(|| {
                        invalid(
                            format!("{f}.after"),
                            format!("no step is named {a:?}; give that step `name: {a}`"),
                        )
                    })?;
                if j >= i {
                    return Err(invalid(
                        format!("{f}.after"),
                        format!("step {a:?} must come earlier in the timeline"),
                    ));
                }
                Some(j)
            }
        };
        let (label, kind) = op_kind(step, &f, m)?;
        ops.push(Op {
            name: step.name.clone(),
            label,
            at: step.at.map(|d| d.0).unwrap_or(0),
            after,
            kind,
            started: None,
            finished: None,
            outcome: Outcome::NotStarted,
            denials: BTreeMap::new(),
        });
    }
    Ok(ops)
}

fn node(m: &Model, name: &str, field: &str) -> Result<usize, Invalid> {
    m.node_index.get(name).copied().ok_or_else(|| {
        invalid(
            field.to_owned(),
            format!("node {name:?} is not in the cluster; check cluster.nodes"),
        )
    })
}

fn workload(m: &Model, name: &str, field: &str) -> Result<usize, Invalid> {
    m.workload_index.get(name).copied().ok_or_else(|| {
        invalid(
            field.to_owned(),
            format!("workload {name:?} is not in workloads"),
        )
    })
}

fn op_kind(step: &Step, f: &str, m: &Model) -> Result<(String, OpKind), Invalid> {
    let set = [
        step.drain.is_some(),
        step.cordon.is_some(),
        step.uncordon.is_some(),
        step.rollout.is_some(),
        step.scale.is_some(),
        step.hpa.is_some(),
        step.fail_node.is_some(),
        step.update.is_some(),
        step.resize.is_some(),
    ];
    if set.iter().filter(|x| **x).count() != 1 {
        return Err(invalid(
            f.to_owned(),
            "each step needs exactly one of drain, cordon, uncordon, rollout, scale, hpa, failNode, update, resize",
        ));
    }
    if let Some(u) = &step.update {
        let w = workload(m, &u.workload, &format!("{f}.update.workload"))?;
        let parallel = parallel_of(u.parallel, &format!("{f}.update.parallel"))?;
        let (old, new) = image_change();
        return Ok((
            format!("in-place update {}", u.workload),
            in_place(w, Operation::Update, update_restart(&old, &new), parallel),
        ));
    }
    if let Some(r) = &step.resize {
        let w = workload(m, &r.workload, &format!("{f}.resize.workload"))?;
        let parallel = parallel_of(r.parallel, &format!("{f}.resize.parallel"))?;
        let resource = r.resource.as_deref().unwrap_or("cpu");
        let policy = r.restart_policy.as_deref().unwrap_or("NotRequired");
        if !matches!(resource, "cpu" | "memory") {
            return Err(invalid(
                format!("{f}.resize.resource"),
                format!("{resource:?} is not cpu or memory"),
            ));
        }
        if !matches!(policy, "NotRequired" | "RestartContainer") {
            return Err(invalid(
                format!("{f}.resize.restartPolicy"),
                format!("{policy:?} is not NotRequired or RestartContainer"),
            ));
        }
        let (old, new) = resource_change(resource, policy);
        return Ok((
            format!("resize {} {resource}", r.workload),
            in_place(w, Operation::Resize, resize_restart(&old, &new), parallel),
        ));
    }
    if let Some(d) = &step.drain {
        let mut nodes = Vec::new();
        for n in &d.nodes {
            nodes.push(node(m, n, &format!("{f}.drain.nodes"))?);
        }
        for z in &d.zones {
            let zn = nodes_of_zone(&m.nodes, z);
            if zn.is_empty() {
                return Err(invalid(
                    format!("{f}.drain.zones"),
                    format!("no node is in zone {z:?}"),
                ));
            }
            nodes.extend(zn);
        }
        if nodes.is_empty() {
            return Err(invalid(
                format!("{f}.drain"),
                "name nodes or zones to drain",
            ));
        }
        let parallel = d.parallel.unwrap_or(1);
        if parallel == 0 {
            return Err(invalid(format!("{f}.drain.parallel"), "must be at least 1"));
        }
        let what = if !d.zones.is_empty() {
            d.zones.join(", ")
        } else if nodes.len() > 3 {
            format!("{} nodes", nodes.len())
        } else {
            d.nodes.join(", ")
        };
        let label = if parallel > 1 {
            format!("drain {what} ({parallel} at a time)")
        } else {
            format!("drain {what}")
        };
        return Ok((
            label,
            OpKind::Drain(DrainOp {
                nodes,
                next: 0,
                active: Vec::new(),
                parallel: parallel as usize,
                timeout: d.timeout.map(|t| t.0),
                uncordon: d.uncordon,
                downtime: d.downtime.map(|t| t.0).unwrap_or(0),
                drained: Vec::new(),
                node_started: BTreeMap::new(),
            }),
        ));
    }
    if let Some(c) = step.cordon.as_ref().or(step.uncordon.as_ref()) {
        let nodes = c
            .nodes
            .iter()
            .map(|n| node(m, n, &format!("{f}.nodes")))
            .collect::<Result<Vec<_>, _>>()?;
        let verb = if step.cordon.is_some() {
            "cordon"
        } else {
            "uncordon"
        };
        let label = format!("{verb} {}", c.nodes.join(", "));
        let kind = if step.cordon.is_some() {
            OpKind::Cordon(nodes)
        } else {
            OpKind::Uncordon(nodes)
        };
        return Ok((label, kind));
    }
    if let Some(r) = &step.rollout {
        let w = workload(m, &r.workload, &format!("{f}.rollout.workload"))?;
        return Ok((format!("rollout {}", r.workload), OpKind::Rollout(w)));
    }
    if let Some(s) = &step.scale {
        let w = workload(m, &s.workload, &format!("{f}.scale.workload"))?;
        return Ok((
            format!("scale {} to {}", s.workload, s.replicas),
            OpKind::Scale(w, s.replicas as i32),
        ));
    }
    if let Some(h) = &step.hpa {
        let w = workload(m, &h.workload, &format!("{f}.hpa.workload"))?;
        if h.replicas.is_empty() {
            return Err(invalid(
                format!("{f}.hpa.replicas"),
                "list at least one replica count",
            ));
        }
        let steps: Vec<String> = h.replicas.iter().map(u32::to_string).collect();
        return Ok((
            format!("hpa {} {}", h.workload, steps.join("→")),
            OpKind::Hpa {
                workload: w,
                steps: h.replicas.iter().map(|r| *r as i32).collect(),
                every: h.every.map(|d| d.0).unwrap_or(30_000),
                applied: 0,
            },
        ));
    }
    let fnode = step
        .fail_node
        .as_ref()
        .ok_or_else(|| invalid(f.to_owned(), "empty step"))?;
    let n = node(m, &fnode.node, &format!("{f}.failNode.node"))?;
    Ok((
        format!("node {} fails", fnode.node),
        OpKind::Fail {
            node: n,
            recover: fnode.recover_after.map(|d| d.0),
        },
    ))
}

fn parallel_of(p: Option<u32>, field: &str) -> Result<usize, Invalid> {
    match p.unwrap_or(1) {
        0 => Err(invalid(field.to_owned(), "must be at least 1")),
        n => Ok(n as usize),
    }
}

fn in_place(w: usize, operation: Operation, restart: Option<Restart>, parallel: usize) -> OpKind {
    OpKind::InPlace(InPlaceOp {
        workload: w,
        operation,
        restart,
        parallel,
        queue: VecDeque::new(),
        active: Vec::new(),
        changed: 0,
    })
}

fn container(image: &str) -> Container {
    Container {
        name: "app".into(),
        image: Some(image.into()),
        ..Container::default()
    }
}

/// The pod spec before and after an in-place update: a new image, as a controller that updates
/// pods in place writes it.
fn image_change() -> (PodSpec, PodSpec) {
    let spec = |image| PodSpec {
        containers: vec![container(image)],
        ..PodSpec::default()
    };
    (spec("app:1"), spec("app:2"))
}

/// The pod spec before and after a resize that doubles `resource`, with `policy` as the
/// container's resizePolicy for it.
fn resource_change(resource: &str, policy: &str) -> (PodSpec, PodSpec) {
    let spec = |amount: &str| {
        let mut c = container("app:1");
        c.resources = Some(ResourceRequirements {
            requests: Some([(resource.to_owned(), Quantity(amount.into()))].into()),
            ..ResourceRequirements::default()
        });
        c.resize_policy = Some(vec![ContainerResizePolicy {
            resource_name: resource.to_owned(),
            restart_policy: policy.to_owned(),
        }]);
        PodSpec {
            containers: vec![c],
            ..PodSpec::default()
        }
    };
    let (old, new) = if resource == "cpu" {
        ("500m", "1")
    } else {
        ("256Mi", "512Mi")
    };
    (spec(old), spec(new))
}

impl Sim {
    pub fn handle_op_event(&mut self, ev: Ev) {
        match ev {
            Ev::OpStart(i) => self.start_op(i),
            Ev::OpDeadline(i) if self.ops[i].finished.is_none() => {
                self.finish_op(i, Outcome::TimedOut);
            }
            Ev::DrainNext(i) => self.drain_next(i),
            Ev::Evict { op, pod } => self.evict(op, pod),
            Ev::InPlace { op, pod } => self.change_in_place(op, pod),
            Ev::HpaStep { op, step } => {
                if let OpKind::Hpa {
                    workload,
                    ref steps,
                    every,
                    ref mut applied,
                } = self.ops[op].kind
                {
                    self.m.workloads[workload].replicas = steps[step];
                    *applied = step + 1;
                    if step + 1 < steps.len() {
                        self.push(self.now + every, Ev::HpaStep { op, step: step + 1 });
                    }
                    self.touch(workload);
                }
            }
            Ev::Uncordon(n) => {
                self.set_cordoned(n, false);
                self.sched_dirty = true;
            }
            Ev::NodeRecover(n) => {
                self.set_down(n, false);
                self.sched_dirty = true;
            }
            _ => {}
        }
    }

    fn start_op(&mut self, i: usize) {
        let now = self.now;
        self.ops[i].started = Some(now);
        self.ops[i].outcome = Outcome::Running;
        self.running.insert(i);
        match &self.ops[i].kind {
            OpKind::Drain(d) => {
                // Like `kubectl drain a b …`, all named nodes are cordoned first; a maintenance
                // loop that uncordons each node takes them one at a time instead.
                let cordon_now = if d.uncordon {
                    Vec::new()
                } else {
                    d.nodes.clone()
                };
                let timeout = d.timeout;
                for n in cordon_now {
                    self.set_cordoned(n, true);
                }
                if let Some(t) = timeout {
                    self.push(now + t, Ev::OpDeadline(i));
                }
                self.push(now, Ev::DrainNext(i));
            }
            OpKind::Cordon(nodes) | OpKind::Uncordon(nodes) => {
                let cordon = matches!(self.ops[i].kind, OpKind::Cordon(_));
                for n in nodes.clone() {
                    self.set_cordoned(n, cordon);
                }
                self.sched_dirty = true;
                self.finish_op(i, Outcome::Done);
            }
            OpKind::Rollout(w) => {
                let w = *w;
                self.m.workloads[w].revision += 1;
                self.touch(w);
            }
            OpKind::Scale(w, r) => {
                let (w, r) = (*w, *r);
                self.m.workloads[w].replicas = r;
                self.touch(w);
            }
            OpKind::Hpa { .. } => self.push(now, Ev::HpaStep { op: i, step: 0 }),
            OpKind::InPlace(c) => {
                let w = c.workload;
                let pods: VecDeque<usize> = self.m.workloads[w]
                    .pods
                    .iter()
                    .copied()
                    .filter(|&p| !self.pods[p].gone && !self.pods[p].facts.terminating)
                    .collect();
                if let OpKind::InPlace(c) = &mut self.ops[i].kind {
                    if c.restart.is_none() {
                        // No container restarts: not a disruption, so the webhook allows it
                        // without asking a budget, and every pod keeps serving.
                        c.changed = pods.len();
                        self.finish_op(i, Outcome::Done);
                        return;
                    }
                    c.queue = pods;
                }
                // check_ops starts the first `parallel` pods at this instant.
            }
            OpKind::Fail { node, recover } => {
                let (n, recover) = (*node, *recover);
                self.set_down(n, true);
                // Involuntary: the pods vanish and no budget is asked.
                for p in self.m.nodes[n].pods.clone() {
                    self.remove_pod(p);
                }
                if let Some(r) = recover {
                    self.push(now + r, Ev::NodeRecover(n));
                }
                self.finish_op(i, Outcome::Done);
            }
        }
    }

    fn finish_op(&mut self, i: usize, outcome: Outcome) {
        if self.ops[i].finished.is_none() {
            self.unfinished -= 1;
        }
        self.ops[i].finished = Some(self.now);
        self.ops[i].outcome = outcome;
        self.running.remove(&i);
        for k in 0..self.dependents[i].len() {
            let j = self.dependents[i][k];
            let at = self.now + self.ops[j].at;
            self.push(at, Ev::OpStart(j));
        }
    }

    fn drain_next(&mut self, i: usize) {
        if self.ops[i].finished.is_some() {
            return;
        }
        let now = self.now;
        let mut started = Vec::new();
        if let OpKind::Drain(d) = &mut self.ops[i].kind {
            while d.active.len() < d.parallel && d.next < d.nodes.len() {
                let n = d.nodes[d.next];
                d.next += 1;
                d.active.push(n);
                d.node_started.insert(n, now);
                started.push(n);
            }
            if started.is_empty() && d.active.is_empty() {
                self.finish_op(i, Outcome::Done);
                return;
            }
        }
        for n in started {
            self.set_cordoned(n, true);
            let pods: Vec<usize> = self.m.nodes[n].pods.clone();
            for p in pods {
                self.push(now, Ev::Evict { op: i, pod: p });
            }
            self.node_emptied(n);
        }
    }

    fn evict(&mut self, op: usize, p: usize) {
        if self.ops[op].finished.is_some() || self.pods[p].gone || self.pods[p].facts.terminating {
            return;
        }
        if let Err(d) = self.disrupt(p, Operation::Evict) {
            self.note_op_denial(op, &d);
            self.push(self.now + DRAIN_RETRY_MS, Ev::Evict { op, pod: p });
        }
    }

    /// Asks for one pod's in-place change; allowed, its container restarts: not Ready until the
    /// workload's readiness delay has passed, still on its node. Refused: retried in 5 s.
    fn change_in_place(&mut self, op: usize, p: usize) {
        let operation = match &self.ops[op].kind {
            OpKind::InPlace(c) if self.ops[op].finished.is_none() => {
                if !c.active.contains(&(p, false)) {
                    return;
                }
                c.operation
            }
            _ => return,
        };
        if self.pods[p].gone || self.pods[p].facts.terminating {
            return;
        }
        match self.ask(p, operation) {
            Ok(()) => {
                if let OpKind::InPlace(c) = &mut self.ops[op].kind
                    && let Some(a) = c.active.iter_mut().find(|a| a.0 == p)
                {
                    a.1 = true;
                    c.changed += 1;
                }
                let now = self.now;
                let pod = &mut self.pods[p];
                pod.facts.ready = false;
                pod.facts.ready_changed = Some(crate::engine::ts(now as i64));
                let w = pod.workload;
                self.recount(p);
                let delay = self.readiness_delay(w);
                self.push(now + delay, Ev::PodReady(p));
                self.touch(w);
            }
            Err(d) => {
                self.note_op_denial(op, &d);
                self.push(self.now + DRAIN_RETRY_MS, Ev::InPlace { op, pod: p });
            }
        }
    }

    /// Moves in-place changes on: pods whose restart is over (available again, or gone) leave
    /// the active set, the next ones are asked for, and the operation is done with the last.
    fn advance_in_place(&mut self, i: usize) {
        let now = self.now;
        let mut ask = Vec::new();
        let mut done = false;
        // Taken out rather than cloned: it holds every pod of the workload still to change.
        let mut queue = match &mut self.ops[i].kind {
            OpKind::InPlace(c) => std::mem::take(&mut c.queue),
            _ => return,
        };
        if let OpKind::InPlace(c) = &self.ops[i].kind {
            let pods = &self.pods;
            let keep: Vec<(usize, bool)> = c
                .active
                .iter()
                .copied()
                .filter(|&(p, restarted)| {
                    let pod = &pods[p];
                    if pod.gone || pod.facts.terminating {
                        return false;
                    }
                    !(restarted && self.available(p))
                })
                .collect();
            let mut active = keep;
            while active.len() < c.parallel
                && let Some(p) = queue.pop_front()
            {
                if !pods[p].gone && !pods[p].facts.terminating {
                    active.push((p, false));
                    ask.push(p);
                }
            }
            done = active.is_empty() && queue.is_empty();
            if let OpKind::InPlace(c) = &mut self.ops[i].kind {
                c.active = active;
                c.queue = queue;
            }
        }
        for p in ask {
            self.push(now, Ev::InPlace { op: i, pod: p });
        }
        if done {
            self.finish_op(i, Outcome::Done);
        }
    }

    fn note_op_denial(&mut self, op: usize, d: &Denial) {
        let label = format!("{} {}", d.budget.kind.as_str(), d.budget.name);
        let now = self.now;
        tally(&mut self.ops[op].denials, label, d, now);
    }

    /// A workload controller's delete was refused: charge it to the running operation that
    /// asked for the change (a rollout, scale or HPA step), if any.
    pub fn note_controller_denial(&mut self, w: usize, _label: String, d: &Denial) {
        let running = self.running.iter().rev().copied().find(|&i| {
            let o = &self.ops[i];
            match o.kind {
                OpKind::Rollout(x) | OpKind::Scale(x, _) => x == w,
                OpKind::Hpa { workload, .. } => workload == w,
                _ => false,
            }
        });
        if let Some(i) = running {
            self.note_op_denial(i, d);
        }
    }

    /// Called when a node lost a pod: a drain waiting on that node may be done with it.
    pub fn node_emptied(&mut self, n: usize) {
        if !self.m.nodes[n].pods.is_empty() {
            return;
        }
        let now = self.now;
        let running: Vec<usize> = self.running.iter().copied().collect();
        for i in running {
            if self.ops[i].outcome != Outcome::Running {
                continue;
            }
            let mut next = None;
            if let OpKind::Drain(d) = &mut self.ops[i].kind
                && let Some(pos) = d.active.iter().position(|&x| x == n)
            {
                d.active.remove(pos);
                let started = d.node_started.get(&n).copied().unwrap_or(now);
                d.drained.push((n, started, now));
                next = Some((d.uncordon, d.downtime));
            }
            if let Some((uncordon, downtime)) = next {
                if uncordon {
                    self.push(now + downtime, Ev::Uncordon(n));
                }
                self.push(now, Ev::DrainNext(i));
            }
        }
    }

    /// Finishes rollouts and scale operations whose workload has converged.
    pub fn check_ops(&mut self) {
        let running: Vec<usize> = self.running.iter().copied().collect();
        for i in running {
            if self.ops[i].outcome != Outcome::Running {
                continue;
            }
            if matches!(self.ops[i].kind, OpKind::InPlace(_)) {
                self.advance_in_place(i);
                continue;
            }
            let w = match self.ops[i].kind {
                OpKind::Rollout(w) | OpKind::Scale(w, _) => w,
                OpKind::Hpa {
                    workload,
                    ref steps,
                    applied,
                    ..
                } if applied == steps.len() => workload,
                _ => continue,
            };
            if self.converged(w) {
                self.finish_op(i, Outcome::Done);
            }
        }
    }

    /// Every pod of the current template, as many as wanted, all available, none terminating.
    pub fn converged(&self, w: usize) -> bool {
        let wl = &self.m.workloads[w];
        let n = wl.pods.len() as i32;
        let converged = n == wl.replicas && self.tallies.revision(w, wl.revision).available == n;
        debug_assert_eq!(
            converged,
            n == wl.replicas
                && wl
                    .pods
                    .iter()
                    .all(|&p| self.pods[p].revision == wl.revision && self.available(p))
        );
        converged
    }
}
