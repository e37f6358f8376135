//! The budgets' side of the world: statuses recomputed as the guard's controller does, and
//! disruptions decided as the webhook decides them, with steady-budget's own functions.

use steady_budget::{
    BudgetView, DEFAULT_EXPIRY, Decision, Denial, Operation, Request, StatusInput, compute_status,
    decide, finish_status, resolve,
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
