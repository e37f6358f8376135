//! The simulator: a world (`world`), the clock that orders its events (`clock`), and the actors
//! that change the world as events come due — the timeline's operations (`timeline`), the
//! workload controllers (`controllers`) and the scheduler (`scheduler`) — with the measurements
//! the report is built from (`measure`). This module only wires them: which actor hears which
//! event, and the order of the steps in each instant.
//! Deterministic: events at the same time run in the order they were queued, collections are
//! ordered, and randomness comes from one seeded generator.

use std::collections::HashMap;

use crate::clock::{Clock, Ev};
use crate::controllers;
use crate::denials::{label, tally};
use crate::measure::{BudgetTrack, Measurements, Track};
use crate::model::{Model, Pod};
use crate::ops::Op;
use crate::scenario::{Dur, Scenario};
use crate::scheduler;
use crate::timeline::Timeline;
use crate::world::{Pending, World};

pub use crate::denials::DenialStat;
pub use crate::model::ts;

pub struct Sim {
    world: World,
    clock: Clock,
    timeline: Timeline,
    measurements: Measurements,
    /// Tries a woken controller's next refusal stands for (a skipped back-off: see `clock`).
    controller_tries: HashMap<usize, u64>,
}

impl Sim {
    pub fn new(s: &Scenario, seed: u64, enforce: bool) -> Result<Self, crate::scenario::Invalid> {
        let m = Model::build(s)?;
        let ops = crate::ops::build(s, &m)?;
        let measurements = Measurements::new(m.workloads.len(), m.budgets.len());
        let mut sim = Self {
            world: World::new(m, seed, enforce),
            clock: Clock::new(s.horizon.unwrap_or(Dur::secs(1800)).0),
            timeline: Timeline::new(ops),
            measurements,
            controller_tries: HashMap::new(),
        };
        sim.bootstrap();
        sim.timeline.schedule(&mut sim.clock);
        Ok(sim)
    }

    /// The steady state before time 0: every workload at its replicas, every pod Ready long ago.
    fn bootstrap(&mut self) {
        self.world.place_running(&mut self.clock);
        for round in 0..1000 {
            self.world.touch_controllers();
            self.settle();
            let changed = self.world.ready_long_ago();
            // Drop the readiness events queued while binding: these pods are Ready already.
            self.clock.clear();
            // Every pod created is still waiting: no room for any, more rounds change nothing.
            let waiting = self.world.pending();
            if !changed || round > 0 && waiting.count() as u64 == waiting.created() {
                break;
            }
        }
        self.world.unready_running();
        self.world.touch_measurements();
        self.measurements.measure(&mut self.world);
    }

    pub fn run(&mut self) {
        loop {
            self.clock.set_stamp(self.stamp());
            self.clock
                .skip(self.world.now(), self.world.changes_by_itself_at());
            let Some(t) = self.clock.next_instant(self.timeline.all_done()) else {
                break;
            };
            self.measurements.close_below(t);
            self.world.advance(t);
            while let Some((ev, tries)) = self.clock.pop_at(t) {
                self.clock.set_stamp(self.stamp());
                self.handle(ev, tries);
            }
            self.settle();
            self.measurements.measure(&mut self.world);
            self.timeline.check(&self.world, &mut self.clock);
            self.clock.check_owed();
        }
        let end = self.clock.end(self.world.now(), self.timeline.all_done());
        self.measurements.close(end);
        self.world.stop_at(end);
    }

    /// The state a refused request was decided in: it changes with the world or the timeline,
    /// so a retry queued in the current one will be refused again (see `clock`).
    fn stamp(&self) -> u64 {
        self.world.changes() + self.timeline.changes()
    }

    fn handle(&mut self, ev: Ev, tries: u64) {
        let (world, clock) = (&mut self.world, &mut self.clock);
        match ev {
            Ev::PodReady(p) => world.pod_ready(clock, p),
            Ev::PodAvailable(p) => world.pod_available(p),
            Ev::PodGone(p) => {
                if let Some(n) = world.remove_pod(p) {
                    self.timeline.node_emptied(world, clock, n);
                }
            }
            Ev::Reconcile(w) => {
                if tries > 1 {
                    self.controller_tries.insert(w, tries);
                }
                world.wake_controller(w);
            }
            Ev::Uncordon(n) => {
                world.set_cordoned(n, false);
                world.reschedule();
            }
            Ev::NodeRecover(n) => {
                world.set_down(n, false);
                world.reschedule();
            }
            Ev::OpStart(_)
            | Ev::OpDeadline(_)
            | Ev::Evict { .. }
            | Ev::DrainNext(_)
            | Ev::InPlace { .. }
            | Ev::HpaStep { .. } => self.timeline.handle(world, clock, ev, tries),
        }
    }

    /// Runs controllers and the scheduler until nothing more changes at this instant.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            while let Some(w) = self.world.take_dirty_workload() {
                self.clock.set_stamp(self.stamp());
                let (tracks, timeline) = (&mut self.measurements.tracks, &mut self.timeline);
                let now = self.world.now();
                let tries = self.controller_tries.remove(&w).unwrap_or(1);
                controllers::reconcile(&mut self.world, &mut self.clock, w, &mut |d| {
                    tally(&mut tracks[w].controller_denials, label(d), d, now, tries);
                    timeline.note_controller_denial(w, d, now, tries);
                });
            }
            if self.world.take_reschedule() {
                scheduler::schedule_pending(&mut self.world, &mut self.clock);
            }
            if self.world.controllers_settled() && !self.world.reschedule_due() {
                break;
            }
        }
    }

    /// The cluster model (nodes, workloads, budgets) as it stands.
    pub fn model(&self) -> &Model {
        self.world.model()
    }

    /// Every pod record the run made, gone ones included, by id: each pod that was bound to a
    /// node, and the unbound ones something held by id (see `world::pending`, and `pending`).
    pub fn pods(&self) -> &[Pod] {
        self.world.pods()
    }

    /// Pods no node was found for.
    pub fn pending(&self) -> &Pending {
        self.world.pending()
    }

    /// Simulated milliseconds: the end of the run once `run` returned.
    pub fn now(&self) -> u64 {
        self.world.now()
    }

    /// Whether budgets were enforced.
    pub fn enforce(&self) -> bool {
        self.world.enforce()
    }

    /// Events handled.
    pub fn events(&self) -> u64 {
        self.clock.events()
    }

    /// The timeline's operations, with what each did.
    pub fn ops(&self) -> &[Op] {
        self.timeline.ops()
    }

    /// Per-workload measurements, by workload index.
    pub fn tracks(&self) -> &[Track] {
        &self.measurements.tracks
    }

    /// Per-budget measurements, by budget index.
    pub fn budget_tracks(&self) -> &[BudgetTrack] {
        &self.measurements.budget_tracks
    }
}
