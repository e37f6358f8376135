//! What a run measures as it goes: available pods per workload and each budget's current and
//! desired availability at every change, their lows, and the time each budget spent below its
//! desired availability. Reads the world, never changes it (beyond refreshing a budget's
//! status, which a read needs).

use std::collections::{BTreeMap, BTreeSet};

use crate::denials::DenialStat;
use crate::world::World;

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

pub struct Measurements {
    pub tracks: Vec<Track>,
    pub budget_tracks: Vec<BudgetTrack>,
    /// Budgets below their desired availability (`below_since` set).
    below: BTreeSet<usize>,
}

impl Measurements {
    pub fn new(workloads: usize, budgets: usize) -> Self {
        Self {
            tracks: vec![Track::default(); workloads],
            budget_tracks: vec![BudgetTrack::default(); budgets],
            below: BTreeSet::new(),
        }
    }

    /// Refreshes measurements for whatever changed at this instant.
    pub fn measure(&mut self, world: &mut World) {
        let now = world.now();
        while let Some(w) = world.take_availability_change() {
            let n = world.tallies().workload_available[w];
            debug_assert_eq!(
                n,
                world.model().workloads[w]
                    .pods
                    .iter()
                    .filter(|&&p| world.available(p))
                    .count() as i32,
                "workload {} counted apart",
                world.model().workloads[w].name
            );
            let t = &mut self.tracks[w];
            if t.series.last().map(|x| x.1) != Some(n) {
                if t.series.is_empty() || n < t.min {
                    t.min = n;
                    t.min_at = now;
                }
                t.series.push((now, n));
            }
        }
        while let Some(b) = world.take_budget_change() {
            if !world.model().budgets[b].dirty {
                continue;
            }
            world.refresh_budget(b);
            let s = &world.model().budgets[b].status;
            let (cur, des) = (s.current_available, s.desired_available);
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
    pub fn close_below(&mut self, t: u64) {
        for &b in &self.below {
            let b = &mut self.budget_tracks[b];
            if let Some(since) = b.below_since {
                b.below_ms += t.saturating_sub(since);
                b.below_since = Some(t);
            }
        }
    }

    /// The run ended at `t`: time below budget is accounted up to it, and nothing is below since.
    pub fn close(&mut self, t: u64) {
        self.close_below(t);
        for b in &mut self.budget_tracks {
            b.below_since = None;
        }
        self.below.clear();
    }
}
