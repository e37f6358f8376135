//! The budgets' side of the world: statuses recomputed as the guard's controller does, and
//! disruptions decided as the webhook decides them, with steady-budget's own functions.

use steady_budget::{
    BudgetView, DEFAULT_EXPIRY, Decision, Denial, Operation, PodFacts, Request, StatusInput,
    compute_status, decide, finish_status, resolve,
};

use super::World;
use crate::clock::Clock;
use crate::model::{Owners, ts};

impl World {
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
            // A workload's pods without records are its newest (see `pending`): after its records.
            let pods: Vec<PodFacts> = budget
                .workloads
                .iter()
                .flat_map(|&w| {
                    self.m.workloads[w]
                        .pods
                        .iter()
                        .map(|&p| self.pods[p].facts.clone())
                        .chain(self.unbound_facts_of(w))
                })
                .collect();
            compute_status(&status_input(budget, &owners, &pods, now)).status
        };
        let unrecorded = |w: usize| Some(self.unbound_facts(&self.pending.first_run_of(w)?));
        let status = match self.tallies.budget(&self.m, &self.pods, &unrecorded, b) {
            Some(tally) => {
                let unbound = self.unbound_named(b);
                let named = |name: &str| {
                    let record = self.tallies.named(&self.m, &self.pods, b, name);
                    // A workload's pods in runs are newer than its records.
                    match (record, unbound.iter().find(|u| u.facts.name == name)) {
                        (Some((i, facts, min_ready)), Some(u)) if i > u.place => {
                            Some((facts, min_ready))
                        }
                        (_, Some(u)) => Some((&u.facts, u.min_ready)),
                        (record, None) => record.map(|(_, facts, min_ready)| (facts, min_ready)),
                    }
                };
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
    pub fn disrupt(
        &mut self,
        clock: &mut Clock,
        p: usize,
        op: Operation,
    ) -> Result<(), Box<Denial>> {
        self.ask(p, op)?;
        self.terminate(clock, p);
        Ok(())
    }

    /// The pods in runs that budget `b`'s status maps name. A unit is taken for a pod in a run
    /// only as it is deleted, so only a running pod that a scenario lists under a name of the
    /// simulator's own pattern (`{workload}-v{revision}-{n}`) can have its name in a map while a
    /// pod in a run carries it too; a recompute over every pod finds the newer one, the latter.
    fn unbound_named(&self, b: usize) -> Vec<UnboundNamed> {
        let budget = &self.m.budgets[b];
        let status = &budget.status;
        let mut found = Vec::new();
        if status.disrupted_pods.is_empty() && status.unavailable_pods.is_empty() {
            return found;
        }
        for (place, &w) in budget.workloads.iter().enumerate() {
            if self.pending.in_runs(w) == 0 {
                continue;
            }
            let wl = &self.m.workloads[w];
            for name in status
                .disrupted_pods
                .keys()
                .chain(status.unavailable_pods.keys())
            {
                if let Some(run) = self.pending.named(&wl.name, w, name) {
                    found.push(UnboundNamed {
                        place,
                        facts: self.unbound_facts(&run),
                        min_ready: wl.min_ready_seconds,
                    });
                }
            }
        }
        found
    }

    /// Asks the budgets whether the newest pod of workload `w`'s `revision` without a record may
    /// be disrupted by `op`, as `disrupt` asks for a record; allowed, it is gone at once, as an
    /// unscheduled pod goes. Its facts are made for the question: nothing keeps them.
    pub fn disrupt_unbound(
        &mut self,
        w: usize,
        revision: u32,
        op: Operation,
    ) -> Result<(), Box<Denial>> {
        let Some(run) = self.pending.newest(w, revision) else {
            return Ok(());
        };
        let facts = self.unbound_facts(&run);
        self.ask_for(w, Asked::Unbound(&facts), op)?;
        self.pending.take_newest(w, revision);
        let controller = facts.controller.map(|c| c.name).unwrap_or_default();
        self.tallies.left(w, revision, &controller, 1);
        self.sched_dirty = true;
        self.touch(w);
        Ok(())
    }

    /// Asks the budgets whether pod `p` may be disrupted by `op` and, allowed, writes the
    /// statuses the webhook would; what the disruption does to the pod is the caller's.
    pub fn ask(&mut self, p: usize, op: Operation) -> Result<(), Box<Denial>> {
        let w = self.pods[p].workload;
        self.ask_for(w, Asked::Record(p), op)
    }

    /// `ask` for a pod of workload `w`.
    fn ask_for(&mut self, w: usize, pod: Asked<'_>, op: Operation) -> Result<(), Box<Denial>> {
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
            let facts = match pod {
                Asked::Record(p) => &self.pods[p].facts,
                Asked::Unbound(facts) => facts,
            };
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
                self.changes += 1;
                // The webhook writes these statuses; here the write always succeeds because the
                // simulator is the only writer.
                for t in takes {
                    if let Some(b) = self.m.budgets.iter_mut().find(|b| b.id == t.budget) {
                        b.status = t.apply(&b.status);
                    }
                }
            }
        }
        Ok(())
    }
}

/// A pod in a run named in a budget's status maps, with the place of its workload among the
/// budget's.
struct UnboundNamed {
    place: usize,
    facts: PodFacts,
    min_ready: i32,
}

/// The pod a budget is asked about: a record, or the facts of a pod without one.
enum Asked<'a> {
    Record(usize),
    Unbound(&'a PodFacts),
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
