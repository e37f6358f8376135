//! Workload controllers: a Deployment controller over ReplicaSet-like revisions (RollingUpdate with
//! maxSurge / maxUnavailable counted the way Kubernetes counts them, or Recreate) and a
//! StatefulSet controller (OrderedReady or Parallel, rolling from the highest ordinal). Their pod
//! deletions go through the budgets as `Delete` requests, as they would through steady's webhook:
//! a PodDisruptionBudget never sees them, a PodUnavailableBudget does.

use steady_budget::{Denial, Operation};

use crate::clock::{Clock, Ev};
use crate::model::{ReplicaSet, Strategy};
use crate::scenario::WorkloadKind;
use crate::world::World;

/// Syncs workload `w`'s controller once; `refused` hears of each delete a budget refused.
pub fn reconcile(world: &mut World, clock: &mut Clock, w: usize, refused: &mut dyn FnMut(&Denial)) {
    let mut c = Controllers {
        world,
        clock,
        refused,
    };
    match c.world.model().workloads[w].kind {
        WorkloadKind::Deployment => c.sync_deployment(w),
        WorkloadKind::StatefulSet => c.sync_statefulset(w),
    }
}

/// A pod a controller deletes: a record, or the newest pod of a revision without one.
#[derive(Clone, Copy)]
enum Doomed {
    Pod(usize),
    Unbound(u32),
}

struct Controllers<'a> {
    world: &'a mut World,
    clock: &'a mut Clock,
    refused: &'a mut dyn FnMut(&Denial),
}

impl Controllers<'_> {
    /// Available pods of `w` (of one revision), from the counts kept as pods change.
    fn available_of(&self, w: usize, revision: Option<u32>) -> i32 {
        let world = &*self.world;
        let n = match revision {
            None => world.tallies().workload_available[w],
            Some(r) => world.tallies().revision(w, r).available,
        };
        debug_assert_eq!(
            n,
            world.model().workloads[w]
                .pods
                .iter()
                .filter(|&&p| revision.is_none_or(|r| world.pods()[p].revision == r)
                    && world.available(p))
                .count() as i32
        );
        n
    }

    fn sync_deployment(&mut self, w: usize) {
        let wl = &self.world.model().workloads[w];
        let before: Vec<(u32, i32)> = wl
            .replica_sets
            .iter()
            .map(|r| (r.revision, r.replicas))
            .collect();
        let cur = wl.revision;
        let replicas = wl.replicas;
        let strategy = wl.strategy;
        let old_left =
            self.world.workload_pods(w) as i32 - self.world.tallies().revision(w, cur).pods;
        let sets = self.world.replica_sets_mut(w);
        if !sets.iter().any(|r| r.revision == cur) {
            sets.push(ReplicaSet {
                revision: cur,
                replicas: 0,
            });
        }
        let new_idx = sets.iter().position(|r| r.revision == cur).unwrap_or(0);
        let old_total: i32 = sets
            .iter()
            .filter(|r| r.revision != cur)
            .map(|r| r.replicas)
            .sum();
        match strategy {
            Strategy::Recreate => {
                for rs in sets.iter_mut().filter(|r| r.revision != cur) {
                    rs.replicas = 0;
                }
                // The new revision starts only once every old pod is gone.
                sets[new_idx].replicas = if old_left == 0 { replicas } else { 0 };
            }
            Strategy::Rolling(rolling) => {
                if old_total == 0 {
                    sets[new_idx].replicas = replicas;
                } else {
                    let surge = rolling.surge(replicas);
                    let unavail = rolling.unavailable(replicas);
                    // Scale up the new revision within replicas + maxSurge.
                    let new_rs = &mut sets[new_idx];
                    let all = old_total + new_rs.replicas;
                    if all < replicas + surge {
                        new_rs.replicas = (new_rs.replicas + replicas + surge - all).min(replicas);
                    }
                    new_rs.replicas = new_rs.replicas.min(replicas);
                    let new_replicas = new_rs.replicas;
                    let olds: Vec<(usize, u32)> = sets
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.revision != cur)
                        .map(|(i, r)| (i, r.revision))
                        .collect();
                    // Scale down old revisions while availability stays ≥ replicas − maxUnavailable.
                    let all = old_total + new_replicas;
                    let min_available = replicas - unavail;
                    let available = self.available_of(w, None);
                    let new_unavailable = (new_replicas - self.available_of(w, Some(cur))).max(0);
                    let mut budget = all - min_available - new_unavailable;
                    if budget > 0 {
                        // First drop old pods that are not available anyway.
                        for &(i, rev) in &olds {
                            let avail = self.available_of(w, Some(rev));
                            let rs = &mut self.world.replica_sets_mut(w)[i];
                            let unhealthy = (rs.replicas - avail).max(0).min(budget);
                            rs.replicas -= unhealthy;
                            budget -= unhealthy;
                        }
                        let mut down = (available - min_available).max(0).min(budget.max(0));
                        for &(i, _) in &olds {
                            let rs = &mut self.world.replica_sets_mut(w)[i];
                            let d = rs.replicas.min(down);
                            rs.replicas -= d;
                            down -= d;
                        }
                    }
                }
            }
        }
        // An old ReplicaSet scaled to 0 whose pods are all gone can do nothing more (only the
        // current revision ever grows): forgotten, so a long timeline's rollouts do not make
        // every later sync and owner lookup walk them all.
        let tallies = self.world.tallies();
        let spent: Vec<u32> = self.world.model().workloads[w]
            .replica_sets
            .iter()
            .filter(|r| r.revision != cur && r.replicas == 0)
            .filter(|r| tallies.revision(w, r.revision).pods == 0)
            .map(|r| r.revision)
            .collect();
        if !spent.is_empty() {
            self.world
                .replica_sets_mut(w)
                .retain(|r| !spent.contains(&r.revision));
        }
        let sets: Vec<(u32, i32)> = self.world.model().workloads[w]
            .replica_sets
            .iter()
            .map(|r| (r.revision, r.replicas))
            .collect();
        if sets != before {
            self.world.replica_sets_changed();
        }
        for (rev, target) in sets {
            self.sync_replica_set(w, rev, target);
        }
    }

    /// The ReplicaSet controller for one revision: create or delete pods to match `target`.
    fn sync_replica_set(&mut self, w: usize, rev: u32, target: i32) {
        let n = self.world.tallies().revision(w, rev).active;
        // Records only: the pods without one (see `world::pending`) are all active.
        let active = |world: &World| -> Vec<usize> {
            world.model().workloads[w]
                .pods
                .iter()
                .copied()
                .filter(|&p| world.pods()[p].revision == rev && !world.pods()[p].facts.terminating)
                .collect()
        };
        let unbound = self.world.pending().in_runs_of(w, rev);
        debug_assert_eq!(n, (active(self.world).len() + unbound) as i32);
        if n < target {
            self.world.create_pending(w, rev, (target - n) as u32);
        } else if n > target {
            let world = &*self.world;
            // Like the ReplicaSet controller: unscheduled, then not ready, then newest first. The
            // pods without records are unscheduled and the revision's newest: they go first.
            let k = (n - target) as usize;
            let records: Vec<usize> = world
                .tallies()
                .deletion_order(w, rev)
                .take(k.saturating_sub(unbound))
                .collect();
            debug_assert_eq!(records, {
                let mut active = active(world);
                active.sort_by_key(|&p| {
                    let pod = &world.pods()[p];
                    (
                        pod.node.is_some(),
                        pod.facts.ready,
                        world.available(p),
                        std::cmp::Reverse(p),
                    )
                });
                active.truncate(k.saturating_sub(unbound));
                active
            });
            let doomed = std::iter::repeat_n(Doomed::Unbound(rev), k.min(unbound))
                .chain(records.into_iter().map(Doomed::Pod));
            for d in doomed {
                if !self.controller_delete(w, d) {
                    break;
                }
            }
        }
    }

    /// A controller deletes a pod through the budgets. On refusal it backs off for the retry
    /// time the webhook asked for, as controllers do on 429, and the refusal is reported.
    fn controller_delete(&mut self, w: usize, doomed: Doomed) -> bool {
        let now = self.world.now();
        if now < self.world.model().workloads[w].next_delete_at {
            return false;
        }
        let asked = match doomed {
            Doomed::Pod(p) => self.world.disrupt(self.clock, p, Operation::Delete),
            Doomed::Unbound(rev) => self.world.disrupt_unbound(w, rev, Operation::Delete),
        };
        match asked {
            Ok(()) => true,
            Err(d) => {
                let period = u64::from(d.retry_after_seconds.max(1)) * 1000;
                self.world.hold_deletes(w, now + period);
                self.clock.push_repeat(now, period, Ev::Reconcile(w));
                (self.refused)(&d);
                false
            }
        }
    }

    fn sts_ready(&self, p: usize) -> bool {
        let pod = &self.world.pods()[p];
        pod.facts.ready && !pod.facts.terminating && pod.node.is_some()
    }

    fn sync_statefulset(&mut self, w: usize) {
        let pods = self.world.pods();
        let wl = &self.world.model().workloads[w];
        let replicas = wl.replicas.max(0) as u32;
        let cur = wl.revision;
        let ordered = wl.ordered;
        let mut by_ord: Vec<Option<usize>> = vec![None; replicas as usize];
        let mut surplus: Vec<(u32, usize)> = Vec::new();
        for &p in &wl.pods {
            let o = pods[p].ordinal.unwrap_or(0);
            if o < replicas {
                by_ord[o as usize] = Some(p);
            } else {
                surplus.push((o, p));
            }
        }
        let any_terminating = wl.pods.iter().any(|&p| pods[p].facts.terminating);
        // Create missing ordinals: in order and one at a time for OrderedReady.
        let mut to_create = Vec::new();
        for (o, slot) in by_ord.iter().enumerate() {
            match slot {
                None => {
                    to_create.push(o as u32);
                    if ordered {
                        break;
                    }
                }
                Some(p) if ordered && !self.sts_ready(*p) => break,
                Some(_) => {}
            }
        }
        if ordered && any_terminating {
            to_create.clear();
        }
        let created = !to_create.is_empty();
        for o in to_create {
            self.world.create_pod(w, cur, Some(o));
        }
        if created {
            return;
        }
        // Scale down from the highest ordinal.
        surplus.sort_by_key(|&(o, _)| std::cmp::Reverse(o));
        let live_surplus: Vec<usize> = surplus
            .iter()
            .map(|&(_, p)| p)
            .filter(|&p| !self.world.pods()[p].facts.terminating)
            .collect();
        if !live_surplus.is_empty() {
            let all_ready = by_ord.iter().all(|s| s.is_some_and(|p| self.sts_ready(p)));
            if ordered {
                if all_ready && !any_terminating {
                    self.controller_delete(w, Doomed::Pod(live_surplus[0]));
                }
            } else {
                for p in live_surplus {
                    if !self.controller_delete(w, Doomed::Pod(p)) {
                        break;
                    }
                }
            }
            return;
        }
        // Rolling update: one pod at a time, highest ordinal first, once all are Ready.
        let all_ready = by_ord.iter().all(|s| s.is_some_and(|p| self.sts_ready(p)));
        if all_ready
            && !any_terminating
            && let Some(p) = by_ord
                .iter()
                .rev()
                .flatten()
                .copied()
                .find(|&p| self.world.pods()[p].revision != cur)
        {
            self.controller_delete(w, Doomed::Pod(p));
        }
    }
}
