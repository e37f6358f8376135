//! Simulated time: a queue of timed events over milliseconds, and when a run stops (the horizon,
//! or nothing but retries left once every operation has finished). Events at the same time run
//! in the order they were queued, so a run is deterministic.
//!
//! A refused request that its asker retries on a fixed period (a drain's eviction, an in-place
//! change, a controller's delete) is queued as a *repeat*, stamped with the state it was refused
//! in. While every queued repeat was refused in the state that still holds, and no other event
//! comes before a bound, each would be refused again on every try up to that bound: `skip`
//! moves each to its last try before the bound, carrying the tries it stands for as a weight,
//! instead of replaying them one by one. A drain blocked for a month retries ~518,000 times per
//! pod; replayed, `--big 16000 100` spent 57.9 s on 114M such refusals (bench/sim/README.md).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

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

/// A queued event: (time, queueing order, event, how many tries it stands for).
type Entry = Reverse<(u64, u64, Ev, u64)>;

/// A queued repeat: the entry, its period and the state stamp it was refused in.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Repeat {
    entry: Entry,
    period: u64,
    stamp: u64,
}

pub struct Clock {
    queue: BinaryHeap<Entry>,
    /// Retries of refused requests (see the module comment), apart so the first other event is
    /// at hand.
    repeats: BinaryHeap<Repeat>,
    /// The stamps of the queued repeats, with how many carry each.
    stamps: BTreeMap<u64, usize>,
    /// The state stamp a repeat queued now is refused in (see `set_stamp`).
    stamp: u64,
    seq: u64,
    horizon: u64,
    /// Queued events that are not retries, timeouts or back-offs (see `is_retry`).
    live_events: usize,
    /// Events handled so far, skipped tries included.
    events: u64,
    /// No skip before this time: the last skip reached it already.
    skipped_to: u64,
    /// Repeats handled with a weight that have not queued their next try yet: a skip assumed
    /// each would be refused again, so debug builds check that it was.
    #[cfg(debug_assertions)]
    owed: Vec<Ev>,
}

impl Clock {
    pub fn new(horizon: u64) -> Self {
        Self {
            queue: BinaryHeap::new(),
            repeats: BinaryHeap::new(),
            stamps: BTreeMap::new(),
            stamp: 0,
            seq: 0,
            horizon,
            live_events: 0,
            events: 0,
            skipped_to: 0,
            #[cfg(debug_assertions)]
            owed: Vec::new(),
        }
    }

    pub fn push(&mut self, at: u64, ev: Ev) {
        let entry = self.entry(at, ev, 1);
        self.queue.push(entry);
    }

    fn entry(&mut self, at: u64, ev: Ev, weight: u64) -> Entry {
        self.seq += 1;
        if !is_retry(&ev) {
            self.live_events += 1;
        }
        Reverse((at, self.seq, ev, weight))
    }

    /// The state any request asked from now on is decided in; the caller changes it whenever
    /// the world or an operation changed.
    pub fn set_stamp(&mut self, stamp: u64) {
        self.stamp = stamp;
    }

    /// Queues the retry of a request refused at `now`, `period` later and every `period` after
    /// while it is refused.
    pub fn push_repeat(&mut self, now: u64, period: u64, ev: Ev) {
        #[cfg(debug_assertions)]
        self.owed.retain(|e| *e != ev);
        let entry = self.entry(now + period, ev, 1);
        self.queue_repeat(entry, period, self.stamp);
    }

    fn queue_repeat(&mut self, entry: Entry, period: u64, stamp: u64) {
        *self.stamps.entry(stamp).or_default() += 1;
        self.repeats.push(Repeat {
            entry,
            period,
            stamp,
        });
    }

    /// Forgets every queued event (the bootstrap's, for pods that are Ready already).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.repeats.clear();
        self.stamps.clear();
        self.live_events = 0;
    }

    /// The next queued entry, repeats included.
    fn peek(&self) -> Option<&Entry> {
        match (self.queue.peek(), self.repeats.peek()) {
            (Some(a), Some(r)) => Some(if a > &r.entry { a } else { &r.entry }),
            (a, r) => a.or(r.map(|r| &r.entry)),
        }
    }

    /// The time of the next instant to run, or None when the run is over: past the horizon, or
    /// `ops_done` and only events left that cannot change anything (pending timeouts, retries
    /// of finished drains, controller back-offs).
    pub fn next_instant(&self, ops_done: bool) -> Option<u64> {
        let Reverse((t, _, _, _)) = self.peek()?;
        if *t > self.horizon || ops_done && self.live_events == 0 {
            return None;
        }
        Some(*t)
    }

    /// The next event queued for time `t`, in queueing order, with the tries it stands for.
    pub fn pop_at(&mut self, t: u64) -> Option<(Ev, u64)> {
        let Reverse((t2, _, _, _)) = *self.peek()?;
        if t2 != t {
            return None;
        }
        let from_queue = match (self.queue.peek(), self.repeats.peek()) {
            (Some(a), Some(r)) => a > &r.entry,
            (a, _) => a.is_some(),
        };
        let Reverse((_, _, ev, weight)) = if from_queue {
            self.queue.pop()?
        } else {
            let r = self.repeats.pop()?;
            self.forget_stamp(r.stamp);
            #[cfg(debug_assertions)]
            if r.entry.0.3 > 1 {
                self.owed.push(r.entry.0.2);
            }
            r.entry
        };
        if !is_retry(&ev) {
            self.live_events -= 1;
        }
        self.events += weight;
        Some((ev, weight))
    }

    fn forget_stamp(&mut self, stamp: u64) {
        if let Some(n) = self.stamps.get_mut(&stamp) {
            *n -= 1;
            if *n == 0 {
                self.stamps.remove(&stamp);
            }
        }
    }

    /// Skips the tries of queued repeats that cannot change anything: when every queued repeat
    /// was refused in the current state (`set_stamp`), the world changes by itself no sooner
    /// than `quiet_until` (a pod turning available), and no other event comes first, each
    /// repeat moves to its last try before the first of those bounds (or at the horizon), with
    /// a weight of the tries it stands for. The skipped tries are counted as handled.
    pub fn skip(&mut self, now: u64, quiet_until: Option<u64>) {
        if now < self.skipped_to
            || self.repeats.is_empty()
            || self.stamps.len() != 1
            || self.stamps.first_key_value().map(|(s, _)| *s) != Some(self.stamp)
        {
            return;
        }
        // Tries strictly before `bound` are skipped; the horizon's own instant still runs.
        let mut bound = self.horizon.saturating_add(1);
        if let Some(Reverse((t, _, _, _))) = self.queue.peek() {
            bound = bound.min(*t);
        }
        if let Some(t) = quiet_until {
            bound = bound.min(t);
        }
        self.skipped_to = bound;
        let mut moved: Vec<(u64, u64, u64, u64, Ev, u64, u64)> =
            Vec::with_capacity(self.repeats.len());
        for Repeat {
            entry: Reverse((at, seq, ev, weight)),
            period,
            stamp,
        } in std::mem::take(&mut self.repeats).into_vec()
        {
            let (last, weight) = if at < bound && period > 0 {
                let more = (bound - 1 - at) / period;
                (at + more * period, weight + more)
            } else {
                (at, weight)
            };
            // At `last`, tries run in the order they were queued, that is by the time of the
            // try before (`last - period`), then as they stand now.
            debug_assert_eq!(stamp, self.stamp);
            moved.push((
                last,
                last.saturating_sub(period),
                at,
                seq,
                ev,
                weight,
                period,
            ));
        }
        moved.sort_unstable();
        self.stamps.clear();
        for (last, _, _, _, ev, weight, period) in moved {
            self.seq += 1;
            self.queue_repeat(Reverse((last, self.seq, ev, weight)), period, self.stamp);
        }
    }

    /// Debug builds: every repeat handled with a weight was refused again and queued its next
    /// try, as the skip that gave it the weight assumed. Call at the end of an instant.
    pub fn check_owed(&mut self) {
        #[cfg(debug_assertions)]
        {
            let owed = std::mem::take(&mut self.owed);
            assert!(
                owed.is_empty(),
                "skipped retries were not refused again: {owed:?}"
            );
        }
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
