//! Simulated time: a queue of timed events over milliseconds, and when a run stops (the horizon,
//! or nothing but retries left once every operation has finished). Events at the same time run
//! in the order they were queued, so a run is deterministic.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

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

pub struct Clock {
    queue: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    horizon: u64,
    /// Queued events that are not retries, timeouts or back-offs (see `is_retry`).
    live_events: usize,
    /// Events handled so far.
    events: u64,
}

impl Clock {
    pub fn new(horizon: u64) -> Self {
        Self {
            queue: BinaryHeap::new(),
            seq: 0,
            horizon,
            live_events: 0,
            events: 0,
        }
    }

    pub fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        if !is_retry(&ev) {
            self.live_events += 1;
        }
        self.queue.push(Reverse((at, self.seq, ev)));
    }

    /// Forgets every queued event (the bootstrap's, for pods that are Ready already).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.live_events = 0;
    }

    /// The time of the next instant to run, or None when the run is over: past the horizon, or
    /// `ops_done` and only events left that cannot change anything (pending timeouts, retries
    /// of finished drains, controller back-offs).
    pub fn next_instant(&self, ops_done: bool) -> Option<u64> {
        let Reverse((t, _, _)) = self.queue.peek()?;
        if *t > self.horizon || ops_done && self.live_events == 0 {
            return None;
        }
        Some(*t)
    }

    /// The next event queued for time `t`, in queueing order.
    pub fn pop_at(&mut self, t: u64) -> Option<Ev> {
        let Reverse((t2, _, ev)) = self.queue.peek().copied()?;
        if t2 != t {
            return None;
        }
        self.queue.pop();
        if !is_retry(&ev) {
            self.live_events -= 1;
        }
        self.events += 1;
        Some(ev)
    }

    /// When a run that stopped at `now` ends: then if every operation finished, else at the
    /// horizon.
    pub fn end(&self, now: u64, ops_done: bool) -> u64 {
        if ops_done { now } else { self.horizon.max(now) }
    }

    pub fn events(&self) -> u64 {
        self.events
    }
}
