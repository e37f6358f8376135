//! Runs the timeline's operations: starts each at its time or after the one it follows, hands
//! its events to its actor (drain, in-place change, rollout / scale / HPA), finishes it when the
//! actor is done, its workload converged or its timeout passed, and charges each refusal to the
//! operation that met it.

use std::collections::BTreeSet;

use steady_budget::Denial;

use crate::clock::{Clock, Ev};
use crate::denials::{label, tally};
use crate::drain;
use crate::ops::{Op, OpKind, Outcome};
use crate::scale;
use crate::world::World;

pub struct Timeline {
    ops: Vec<Op>,
    /// Operations whose outcome is Running, in timeline order.
    running: BTreeSet<usize>,
    /// Operations not finished yet (not started ones included).
    unfinished: usize,
    /// For each operation, the later ones that start `after` it, in timeline order.
    dependents: Vec<Vec<usize>>,
    /// Bumped whenever an operation starts, moves on or finishes (see `changes`).
    changes: u64,
}

impl Timeline {
    pub fn new(ops: Vec<Op>) -> Self {
        let mut dependents = vec![Vec::new(); ops.len()];
        for (j, o) in ops.iter().enumerate() {
            if let Some(i) = o.after {
                dependents[i].push(j);
            }
        }
        Self {
            unfinished: ops.len(),
            ops,
            running: BTreeSet::new(),
            dependents,
            changes: 0,
        }
    }

    /// A count that grows whenever an operation started, moved on or finished: a retry refused
    /// while it stands still is refused again (see `clock`).
    pub fn changes(&self) -> u64 {
        self.changes
    }

    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    pub fn all_done(&self) -> bool {
        self.unfinished == 0
    }

    /// Queues the start of every operation that follows no other.
    pub fn schedule(&self, clock: &mut Clock) {
        for (i, o) in self.ops.iter().enumerate() {
            if o.after.is_none() {
                clock.push(o.at, Ev::OpStart(i));
            }
        }
    }

    /// Hands `ev` to its operation's actor; a refused request stands for `tries` refusals.
    pub fn handle(&mut self, world: &mut World, clock: &mut Clock, ev: Ev, tries: u64) {
        match ev {
            Ev::OpStart(i) => self.start(world, clock, i),
            Ev::OpDeadline(i) if self.ops[i].finished.is_none() => {
                self.finish(world, clock, i, Outcome::TimedOut);
            }
            Ev::DrainNext(i) => self.drain_next(world, clock, i),
            Ev::Evict { op, pod } => {
                if self.ops[op].finished.is_some() {
                    return;
                }
                if let Err(d) = drain::evict(world, clock, op, pod) {
                    self.note_denial(op, &d, world.now(), tries);
                }
            }
            Ev::InPlace { op, pod } => {
                let o = &mut self.ops[op];
                let OpKind::InPlace(c) = &mut o.kind else {
                    return;
                };
                if o.finished.is_some() {
                    return;
                }
                if let Err(d) = c.change(world, clock, op, pod) {
                    self.note_denial(op, &d, world.now(), tries);
                }
            }
            Ev::HpaStep { op, step } => {
                if let OpKind::Hpa {
                    workload,
                    ref steps,
                    every,
                    ref mut applied,
                } = self.ops[op].kind
                {
                    *applied = scale::hpa_step(world, clock, op, workload, steps, step, every);
                    self.changes += 1;
                }
            }
            _ => {}
        }
    }

    fn start(&mut self, world: &mut World, clock: &mut Clock, i: usize) {
        self.changes += 1;
        let now = world.now();
        self.ops[i].started = Some(now);
        self.ops[i].outcome = Outcome::Running;
        self.running.insert(i);
        let cordon = matches!(self.ops[i].kind, OpKind::Cordon(_));
        match &mut self.ops[i].kind {
            OpKind::Drain(d) => d.start(world, clock, i),
            OpKind::Cordon(nodes) | OpKind::Uncordon(nodes) => {
                for &n in nodes.iter() {
                    world.set_cordoned(n, cordon);
                }
                world.reschedule();
                self.finish(world, clock, i, Outcome::Done);
            }
            OpKind::Rollout(w) => world.new_revision(*w),
            OpKind::Scale(w, r) => world.set_replicas(*w, *r),
            OpKind::Hpa { .. } => clock.push(now, Ev::HpaStep { op: i, step: 0 }),
            OpKind::InPlace(c) => {
                // Otherwise `check` starts the first `parallel` pods at this instant.
                if c.start(world) {
                    self.finish(world, clock, i, Outcome::Done);
                }
            }
            OpKind::Fail { node, recover } => {
                let (n, recover) = (*node, *recover);
                world.set_down(n, true);
                // Involuntary: the pods vanish and no budget is asked.
                for p in world.model().nodes[n].pods.clone() {
                    if let Some(emptied) = world.remove_pod(p) {
                        self.node_emptied(world, clock, emptied);
                    }
                }
                if let Some(r) = recover {
                    clock.push(now + r, Ev::NodeRecover(n));
                }
                self.finish(world, clock, i, Outcome::Done);
            }
        }
    }

    fn finish(&mut self, world: &World, clock: &mut Clock, i: usize, outcome: Outcome) {
        self.changes += 1;
        let now = world.now();
        if self.ops[i].finished.is_none() {
            self.unfinished -= 1;
        }
        self.ops[i].finished = Some(now);
        self.ops[i].outcome = outcome;
        self.running.remove(&i);
        for &j in &self.dependents[i] {
            clock.push(now + self.ops[j].at, Ev::OpStart(j));
        }
    }

    fn drain_next(&mut self, world: &mut World, clock: &mut Clock, i: usize) {
        if self.ops[i].finished.is_some() {
            return;
        }
        let OpKind::Drain(d) = &mut self.ops[i].kind else {
            return;
        };
        self.changes += 1;
        let Some(started) = d.next_nodes(world.now()) else {
            self.finish(world, clock, i, Outcome::Done);
            return;
        };
        for n in started {
            drain::start_node(world, clock, i, n);
            self.node_emptied(world, clock, n);
        }
    }

    /// Called when node `n` lost a pod: a drain waiting on it may be done with it.
    pub fn node_emptied(&mut self, world: &World, clock: &mut Clock, n: usize) {
        if !world.model().nodes[n].pods.is_empty() {
            return;
        }
        let now = world.now();
        for &i in &self.running {
            let o = &mut self.ops[i];
            if o.outcome != Outcome::Running {
                continue;
            }
            if let OpKind::Drain(d) = &mut o.kind
                && d.node_emptied(clock, i, n, now)
            {
                self.changes += 1;
            }
        }
    }

    /// Moves in-place changes on, and finishes rollouts and scale operations whose workload has
    /// converged.
    pub fn check(&mut self, world: &World, clock: &mut Clock) {
        let running: Vec<usize> = self.running.iter().copied().collect();
        for i in running {
            if self.ops[i].outcome != Outcome::Running {
                continue;
            }
            let w = match &mut self.ops[i].kind {
                OpKind::InPlace(c) => {
                    let before = (c.active.len(), c.queue.len());
                    let done = c.advance(world, clock, i);
                    if (c.active.len(), c.queue.len()) != before {
                        self.changes += 1;
                    }
                    if done {
                        self.finish(world, clock, i, Outcome::Done);
                    }
                    continue;
                }
                OpKind::Rollout(w) | OpKind::Scale(w, _) => *w,
                OpKind::Hpa {
                    workload,
                    steps,
                    applied,
                    ..
                } if *applied == steps.len() => *workload,
                _ => continue,
            };
            if scale::converged(world, w) {
                self.finish(world, clock, i, Outcome::Done);
            }
        }
    }

    fn note_denial(&mut self, op: usize, d: &Denial, now: u64, tries: u64) {
        tally(&mut self.ops[op].denials, label(d), d, now, tries);
    }

    /// A workload controller's delete was refused: charge it to the running operation that
    /// asked for the change (a rollout, scale or HPA step), if any.
    pub fn note_controller_denial(&mut self, w: usize, d: &Denial, now: u64, tries: u64) {
        let running = self.running.iter().rev().copied().find(|&i| {
            let o = &self.ops[i];
            match o.kind {
                OpKind::Rollout(x) | OpKind::Scale(x, _) => x == w,
                OpKind::Hpa { workload, .. } => workload == w,
                _ => false,
            }
        });
        if let Some(i) = running {
            self.note_denial(i, d, now, tries);
        }
    }
}
